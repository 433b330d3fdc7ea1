/*
 * sandbox.h - what integration tests know about the throwaway PostgreSQL
 * started for them by tests/sandbox/with_sandbox.sh (CZ_PG_* variables): its
 * version and what to expect of it (pgversion.h), where its files are for
 * the host and for the server, and small helpers to reconfigure it.
 */
#ifndef CZPG_TEST_SANDBOX_H
#define CZPG_TEST_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "pgversion.h"

struct czpg_sandbox {
	/* Host paths: what the tests and czctl (which run on the host) use. */
	const char *dir;  /* sandbox root (owned by the postgres user when root) */
	const char *data; /* PGDATA */
	const char *host; /* 127.0.0.1 */
	int port;
	const char *sockdir;  /* Unix socket directory (superuser `postgres`, trust) */
	const char *user;     /* SCRAM role */
	const char *password; /* its password */
	const char *db;
	const char *trust_user; /* trusted from 127.0.0.1/32 */
	const char *pgbin;      /* client tools the host can run (its PostgreSQL 15) */
	const char *script;     /* pg_sandbox.sh */
	/* The server: its major version, what to expect of it, and its view. */
	int version;
	const struct czpg_pgversion *pg;
	const char *server_root; /* "" when the server sees the host's paths, else its chroot */
	const char *server_data; /* PGDATA as the server sees it */
	long owner_uid;          /* the server's user (the chroot's postgres for 17 and 18) */
	long owner_gid;
};

/*
 * Fills sb from the environment; returns false (and says why) if absent or
 * of a version pgversion.c does not know.
 */
bool czpg_sandbox_from_env(struct czpg_sandbox *sb);

/*
 * The path the server sees for host_path, a path inside the sandbox: the
 * same path for the host's own server, the part under the chroot for 17 and
 * 18.  0, or -1 (message on stderr) when the server cannot see host_path.
 */
int czpg_sandbox_server_path(const struct czpg_sandbox *sb, const char *host_path, char *out,
			     size_t outlen);

/* Runs SQL as the superuser over the Unix socket; 0 or -1 (message on stderr). */
int czpg_sandbox_exec(const struct czpg_sandbox *sb, const char *sql);
/* Runs a query returning one value into out (empty string for NULL). */
int czpg_sandbox_query_value(const struct czpg_sandbox *sb, const char *sql, char *out,
			     size_t outlen);

/*
 * pg_ctl reload / restart through pg_sandbox.sh; 0 or -1.  Reload returns
 * once the postmaster has processed the SIGHUP, so the next new connection
 * sees the new settings, pg_hba.conf and TLS files; a postgresql.conf the
 * server rejects (it keeps its settings) returns 0 too.
 */
int czpg_sandbox_reload(const struct czpg_sandbox *sb);
int czpg_sandbox_restart(const struct czpg_sandbox *sb);

/*
 * Writes content to <data>/<relpath> owned by the server's user with mode
 * (a key file needs 0600); 0 or -1.
 */
int czpg_sandbox_write_file(const struct czpg_sandbox *sb, const char *relpath, const char *content,
			    size_t len, int mode);
/* Copies a file into <data>/<relpath> the same way. */
int czpg_sandbox_copy_file(const struct czpg_sandbox *sb, const char *src, const char *relpath,
			   int mode);

/* Replaces pg_hba.conf with the given text (and reloads); 0 or -1. */
int czpg_sandbox_set_hba(const struct czpg_sandbox *sb, const char *hba_text);

/*
 * Turns TLS on: copies the server cert, key and CA (paths on disk) into the
 * data directory, writes conf.d/cz-test-tls.conf with min_version (e.g.
 * "TLSv1.3") and max_version (NULL = unset), and reloads.  0 or -1.
 */
int czpg_sandbox_enable_tls(const struct czpg_sandbox *sb, const char *cert, const char *key,
			    const char *ca, const char *min_version, const char *max_version);

#endif
