/*
 * reload.h - talking to the PostgreSQL server that provision reconfigures:
 * send the reload signal (never a restart), run the superuser's read-only
 * checks (pg_conf_load_time, pg_hba_file_rules, pg_file_settings) through
 * psql, and see which certificate the server now serves.
 *
 * Two kinds of server:
 *   local      a data directory on this box.  Reload is `pg_ctl reload -D
 *              <pgdata>` run as the data directory's owner (pg_ctl refuses
 *              root; as root we fork, drop to the owner's uid/gid, then
 *              exec); when no pg_ctl is found, SIGHUP goes straight to the
 *              postmaster pid from postmaster.pid.  Queries run `psql` over
 *              the Unix socket as the same owner (so `peer` works too).
 *   container  a server in a container.  Reload is `docker kill -s HUP
 *              <container>` (SIGHUP to PID 1, the postmaster in the
 *              official image); queries are `docker exec -u postgres
 *              <container> psql ...` over the container's own socket.
 *
 * psql runs with -X -A -t -w and unit/record separators 0x1f/0x1e, so any
 * text a view returns (an error message with '|' or a newline) stays one
 * cell.  Every child (pg_ctl, psql, docker) runs in its own process group,
 * so a terminal's Ctrl-C reaches czctl alone, and without any environment
 * variable whose name holds "PASSWORD".  Every function that can fail takes
 * `char *err, size_t errlen`.
 */
#ifndef CZPG_RELOAD_H
#define CZPG_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CZPG_RELOAD_FS "\x1f"
#define CZPG_RELOAD_RS "\x1e"
/* Most output accepted from one psql run. */
#define CZPG_RELOAD_MAX_OUTPUT ((size_t)1 << 20)
/* Most rows parsed from one result. */
#define CZPG_RELOAD_MAX_ROWS 10000

enum czpg_server_kind {
	CZPG_SERVER_LOCAL = 0,
	CZPG_SERVER_CONTAINER,
};

/* Where the server is and how to reach it.  Strings are borrowed. */
struct czpg_server {
	enum czpg_server_kind kind;
	/* local */
	const char *pgdata;
	const char *pg_bin; /* directory with pg_ctl and psql; NULL = none found */
	uid_t owner_uid;    /* the data directory's owner: pg_ctl and psql run as it */
	gid_t owner_gid;
	const char *socket_dir; /* Unix socket directory */
	unsigned port;          /* the server's port (names the socket file) */
	/* container */
	const char *docker;    /* "docker" (looked up on PATH) or a path */
	const char *container; /* container name or id */
	/* both */
	const char *admin_user; /* database superuser, "postgres" */
	unsigned timeout_ms;    /* per command; 0 = 30000 */
};

/*
 * Finds the directory holding pg_ctl and psql for a data directory:
 * given (when not NULL, must hold pg_ctl or psql), else
 * /usr/lib/postgresql/<PG_VERSION>/bin (PG_VERSION read from pgdata), else
 * the directory of a pg_ctl found on PATH (symlinks resolved).
 * Returns 0 with the directory in out, or -1 (none found; err says where it
 * looked).
 */
int czpg_reload_find_pg_bin(const char *pgdata, const char *given, char *out, size_t outlen,
			    char *err, size_t errlen);

/*
 * From postgresql.conf and postgresql.auto.conf text (either may be NULL),
 * the first directory of the last unix_socket_directories setting (the
 * auto file wins, as it is read last) into sockdir (left alone when none is
 * set), and the last `port` into *port (left alone when none).  Pure text.
 * Returns 0, or -1 when a text does not parse (err names the line).
 */
int czpg_reload_conf_socket(const char *conf, size_t conf_len, const char *auto_conf,
			    size_t auto_len, char *sockdir, size_t sockdir_len, unsigned *port,
			    char *err, size_t errlen);

/* The reload command as a human reads it, e.g. "pg_ctl reload -D /data (as uid 101)". */
void czpg_reload_describe(const struct czpg_server *s, char *out, size_t outlen);
/* The query command prefix, e.g. "docker exec -u postgres c psql -U postgres -d postgres". */
void czpg_reload_describe_query(const struct czpg_server *s, char *out, size_t outlen);

/*
 * Sends the reload.  Returns 0 and what was done in how (e.g. "pg_ctl
 * reload -D /data as uid 101: server signaled" or "SIGHUP to postmaster pid
 * 1234 (no pg_ctl found)"), or -1 with err (the command's own output).
 */
int czpg_reload_signal(const struct czpg_server *s, char *how, size_t howlen, char *err,
		       size_t errlen);

/* Query result: nrows x nfields cells (NUL-terminated), cells[r * nfields + f]. */
struct czpg_reload_rows {
	size_t nrows;
	size_t nfields;
	char **cells;
	char *buf; /* storage of the cells */
};

/*
 * Splits psql -A -t output (fields separated by CZPG_RELOAD_FS, records by
 * CZPG_RELOAD_RS, a final newline ignored) into rows of exactly nfields
 * cells.  Pure text.  Returns 0 (free with czpg_reload_rows_free), or -1
 * when a row has another number of fields or there are more than
 * CZPG_RELOAD_MAX_ROWS rows.
 */
int czpg_reload_rows_parse(const char *text, size_t len, size_t nfields,
			   struct czpg_reload_rows *out, char *err, size_t errlen);
void czpg_reload_rows_free(struct czpg_reload_rows *r); /* NULL-safe */

/*
 * Runs one SQL statement through psql as the superuser and parses nfields
 * per row.  Returns 0, or -1 with err (psql's own message when it failed).
 */
int czpg_reload_query(const struct czpg_server *s, const char *sql, size_t nfields,
		      struct czpg_reload_rows *out, char *err, size_t errlen);

/* SELECT pg_conf_load_time() into out (text).  0 or -1. */
int czpg_reload_load_time(const struct czpg_server *s, char *out, size_t outlen, char *err,
			  size_t errlen);

/*
 * Polls pg_conf_load_time() from new sessions until it differs from before
 * (the postmaster has re-read its files: new sessions fork after the whole
 * reload, pg_hba and TLS included) or timeout_ms passes.  Returns 0 (after
 * holds the new time), 1 on timeout (PostgreSQL leaves the time unchanged
 * when a configuration file has a syntax error), -1 when it cannot query.
 */
int czpg_reload_wait(const struct czpg_server *s, const char *before, unsigned timeout_ms,
		     char *after, size_t afterlen, char *err, size_t errlen);

/*
 * Reads the server's own view of the files on disk:
 *   pg_hba_file_rules rows with an error (any such error means PostgreSQL
 *   kept its previous pg_hba.conf), and
 *   pg_file_settings rows with an error whose file name ends in
 *   "/<conf_basename>" (the file we wrote); errors in other files are
 *   appended to other_errors as notes.
 * Appends one line per error ("pg_hba.conf line 7: invalid connection type
 * \"include_dir\"") to errors.  Returns the number of errors found (0 = the
 * server accepted both), or -1 when the views cannot be read.
 */
int czpg_reload_check_views(const struct czpg_server *s, const char *conf_basename, char *errors,
			    size_t errors_len, char *other_errors, size_t other_len, char *err,
			    size_t errlen);

/*
 * Whether <dir>/<tool> (pg_ctl, psql) runs on this host: `tool --version`
 * must print "<tool> (PostgreSQL) <version>".  Binaries built for another
 * system (a container's or chroot's, needing another C library) fail
 * here.  Returns 0 with the version text in version, or -1 with err
 * quoting what went wrong (the loader's own message).
 */
int czpg_reload_tool_runs(const char *dir, const char *tool, char *version, size_t versionlen,
			  char *err, size_t errlen);

/*
 * The server's own version (server_version_num, e.g. 170012) and its
 * pg_conf_load_time() in one query.  0, or -1 with err (psql's message).
 */
int czpg_reload_server_version(const struct czpg_server *s, unsigned *version_num, char *load_time,
			       size_t load_time_len, char *err, size_t errlen);

/*
 * Where the server's log ends now (*off), so that what it writes after a
 * reload can be quoted: the local postmaster's stderr (/proc/<pid>/fd/2)
 * when that is a regular file, as with `pg_ctl -l` or a Debian cluster (a
 * byte offset); for a container the time, for `docker logs --since`; -1
 * when there is none this process can read (the logging collector).
 */
void czpg_reload_log_offset(const struct czpg_server *s, long long *off);

/*
 * The lines the server logged after off that say what went wrong (errors,
 * "could not ...", "... not reloaded"; its routine reload notices left
 * out), each from its severity on, quoted and separated by "; " (at most
 * four).  "" when there are none or the log cannot be read.
 */
void czpg_reload_log_since(const struct czpg_server *s, long long off, char *out, size_t outlen);

#endif
