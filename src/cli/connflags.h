/*
 * connflags.h - the connection flags verify, probe and bench share (private
 * to src/cli): --host --port --user --dbname --ca --password
 * --channel-binding --min-tls --timeout --sslnegotiation.
 *
 * One place for their names, value rules and error sentences.  A verb binds
 * the flags it takes to its own option fields (struct czpg_connflags), builds
 * its getopt_long table with czpg_connflags_options(), hands every answer of
 * getopt_long to czpg_connflags_take() before its own switch, and calls
 * czpg_connflags_check() once the flags are read.  Sentences go to err; the
 * verb prints them as its usage error (czpg_cli_usage_error).
 */
#ifndef CZPG_CLI_CONNFLAGS_H
#define CZPG_CLI_CONNFLAGS_H

#include <getopt.h>
#include <limits.h>
#include <stddef.h>

#include "czpg/conn.h"
#include "czpg/engine.h"

/* getopt_long codes of the shared flags: above every verb's own codes. */
enum czpg_connflag {
	CZPG_CONNFLAG_HOST = 0x1000,
	CZPG_CONNFLAG_PORT,
	CZPG_CONNFLAG_USER,
	CZPG_CONNFLAG_DBNAME,
	CZPG_CONNFLAG_CA,
	CZPG_CONNFLAG_PASSWORD,
	CZPG_CONNFLAG_CHANNEL_BINDING,
	CZPG_CONNFLAG_MIN_TLS,
	CZPG_CONNFLAG_TIMEOUT,
	CZPG_CONNFLAG_SSLNEGOTIATION,
};

/* How many shared flags there are (entries czpg_connflags_options may add). */
#define CZPG_CONNFLAGS_COUNT 10

/*
 * Where each flag's value goes.  NULL: the verb does not take that flag; it
 * is then left out of the option table, so getopt_long reports it as
 * unknown.  Fields a flag does not set keep the verb's defaults.
 */
struct czpg_connflags {
	const char **host; /* --host HOST or a list "a,b", as given */
	unsigned *port;    /* --port 1-65535 */
	/*
	 * --port as libpq's port= beside a --host list: with ports bound,
	 * --port may also be a list "5432,5433", one port per --host name
	 * (czpg_connflags_check matches the counts).  ports (room for
	 * CZPG_ENGINE_MAX_HOSTS) gets them, *nports their count, and *port,
	 * when bound, the first.  NULL: --port is one port.
	 */
	unsigned *ports;
	size_t *nports;
	const char **user;                    /* --user USER, as given */
	const char **dbname;                  /* --dbname DB, as given */
	const char **ca_file;                 /* --ca FILE, as given */
	char **password;                      /* --password: the argv string itself, so
						 czpg_cli_password can wipe it */
	enum czpg_cb_policy *channel_binding; /* --channel-binding disable|prefer|require */
	int *min_tls;                         /* --min-tls 1.2|1.3: TLS1_2/1_3_VERSION */
	unsigned *timeout_ms;                 /* --timeout SECONDS (1-3600), in ms */
	/* --sslnegotiation postgres|direct (libpq's name and values): how TLS starts */
	enum czpg_conn_opening *sslnegotiation; /* CZPG_OPEN_DEFAULT / CZPG_OPEN_DIRECT_TLS */
};

/*
 * An err buffer of this size holds every sentence whole when the values in
 * it are at most PATH_MAX bytes; a longer one ends in "..." (czpg_errf).
 */
#define CZPG_CONNFLAGS_ERR_MAX (PATH_MAX + 128)

/*
 * The binding of all ten flags (verify, bench): to the fields of the
 * verb's options struct opt that carry the same names (host, port, user,
 * dbname, ca_file, channel_binding, min_tls, timeout_ms, sslnegotiation),
 * and --password to the char * pw.
 */
#define CZPG_CONNFLAGS_ALL(opt, pw)                                                                \
	{                                                                                          \
		.host = &(opt).host, .port = &(opt).port, .user = &(opt).user,                     \
		.dbname = &(opt).dbname, .ca_file = &(opt).ca_file, .password = &(pw),             \
		.channel_binding = &(opt).channel_binding, .min_tls = &(opt).min_tls,              \
		.timeout_ms = &(opt).timeout_ms, .sslnegotiation = &(opt).sslnegotiation,          \
	}

/* What czpg_connflags_check requires (bits). */
#define CZPG_CONNFLAGS_NEED_HOST 0x1u /* --host given and not empty */
#define CZPG_CONNFLAGS_NEED_USER 0x2u /* --user given and not empty */
#define CZPG_CONNFLAGS_NEED_CA 0x4u   /* --ca given */

/*
 * Builds the getopt_long table into out[0..cap): the entries of own (which
 * ends with an all-zero entry), then one per flag cf binds, then the
 * all-zero terminator.  A table of (entries of own, terminator included) +
 * CZPG_CONNFLAGS_COUNT always suffices.  Returns 0, or -1 when cap is too
 * small (out is then not usable).
 */
int czpg_connflags_options(const struct czpg_connflags *cf, const struct option *own,
			   struct option *out, size_t cap);

/*
 * Takes one answer of getopt_long: ch and its argument arg.  Returns 1 when
 * ch is not a flag cf binds (the verb's own switch handles it), 0 when the
 * value was valid and is stored, -1 with one sentence in err ("--port 'x'
 * is not a port (1-65535)") when it was not; nothing is stored then.
 */
int czpg_connflags_take(const struct czpg_connflags *cf, int ch, char *arg, char *err,
			size_t errlen);

/*
 * After the flags are read: each flag in need (CZPG_CONNFLAGS_NEED_*) was
 * given ("--host is required"; for --ca the sentence goes on with ca_why:
 * "--ca is required: <ca_why>"), a --port list has one port per name of
 * the --host list (libpq: one port for every host, or one each), and a
 * --ca that was given names a readable file.  Checked in that order.
 * Returns 0, or -1 with one sentence in err.
 */
int czpg_connflags_check(const struct czpg_connflags *cf, unsigned need, const char *ca_why,
			 char *err, size_t errlen);

/*
 * The port of the i-th name of the --host list: its own from a --port list,
 * else the one --port (or the verb's default in *port; 0 when port is not
 * bound either).  After czpg_connflags_check.
 */
unsigned czpg_connflags_port_of(const struct czpg_connflags *cf, size_t i);

#endif
