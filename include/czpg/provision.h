/*
 * provision.h - `czctl postgres tls provision`: the one-command, non-breaking
 * TLS cutover of a self-managed PostgreSQL box.
 *
 * Two phases:
 *
 *   czpg_provision_plan()   validates every input, reads the current files,
 *                           decides which certificates to keep or make, and
 *                           computes the full new content of every file
 *                           (cert dir, <conf.d>/cz-tls.conf, pg_hba.conf,
 *                           the exported CA).  It writes nothing and does not
 *                           contact the server.  Any bad input is found here.
 *
 *   czpg_provision_apply()  carries the plan out, one step at a time:
 *                           certificates, postgresql.conf TLS block, pg_hba
 *                           managed block, reload (SIGHUP, never a restart,
 *                           then the server's own pg_hba_file_rules and
 *                           pg_file_settings must show no error for what was
 *                           written, and the server must serve the new
 *                           certificate -- otherwise every file is restored
 *                           and the server reloaded again), CA export,
 *                           self-verify (czpg_verify_run).
 *
 * Certificate files in the cert dir:
 *   ca.crt           current CA (0644, owner: the invoking user)
 *   ca.key           its key (0600, owner: the invoking user; never the
 *                    database user)
 *   ca-previous.crt  the CA replaced by the last --force (0644)
 *   ca-bundle.crt    ca.crt, plus ca-previous.crt while inside its overlap
 *                    window: what ssl_ca_file and --export-ca get (0644)
 *   server.crt       the 90-day leaf (0644)
 *   server.key       its key (0600, owner: the database uid/gid)
 */
#ifndef CZPG_PROVISION_H
#define CZPG_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "czpg/result.h"
#include "czpg/hba.h"

/* Days a replaced CA stays in ca-bundle.crt after a --force rotation. */
#define CZPG_PROVISION_CA_OVERLAP_DAYS 90
/* A leaf with fewer days left than this is reported with a warning. */
#define CZPG_PROVISION_LEAF_WARN_DAYS 30
/* The default database uid/gid with --container (official postgres image). */
#define CZPG_PROVISION_CONTAINER_UID 999
/* Most --role values. */
#define CZPG_PROVISION_MAX_ROLES CZPG_HBA_MAX_ROLES

/* Everything the command line can say.  Strings are borrowed. */
struct czpg_provision_opts {
	/* the leaf's SANs, the application's CIDR, the roles */
	const char *ip;
	const char *dns;
	const char *allow_cidr;
	const char *const *roles;
	size_t n_roles;
	enum czpg_hba_mode mode; /* TRANSITION or HARDEN */

	/* where things are */
	const char *cert_dir;
	const char *server_cert_dir; /* the cert dir as the server sees it; NULL = cert_dir */
	const char *hba_path;        /* NULL = <pgdata>/pg_hba.conf (required with container) */
	const char *export_ca;       /* NULL = no export */
	const char *pgdata;          /* local server: its data directory */
	const char *container;       /* or: the server runs in this container */
	const char *conf_dir;        /* NULL = <dir of postgresql.conf>/conf.d */
	const char *postgresql_conf; /* NULL = <pgdata>/postgresql.conf, or next to hba_path */
	long db_uid, db_gid;         /* -1 = default (999 with container, else pgdata owner) */

	/* what to do */
	bool apply;
	bool force;       /* new CA and leaf; the old CA stays in the bundle */
	bool rotate_leaf; /* new leaf from the existing CA */
	bool allow_tls12_fallback;

	/* reaching the server */
	const char *pg_bin;     /* NULL = found from PG_VERSION or PATH */
	const char *socket_dir; /* NULL = from postgresql[.auto].conf, else /var/run/postgresql */
	const char *admin_user; /* NULL = "postgres" */
	const char *docker;     /* NULL = "docker" on PATH */

	/* self-verify */
	bool skip_verify;
	const char *verify_host;   /* NULL = ip */
	unsigned verify_port;      /* 0 = the server's port setting (local) or 5432 */
	const char *verify_user;   /* NULL = roles[0] */
	const char *verify_dbname; /* NULL = "postgres" */
	const char *password;      /* borrowed; the caller wipes it */
	unsigned timeout_ms;       /* per phase; 0 = 10000 */

	time_t now; /* 0 = time(NULL); tests pass a fixed clock */
};

struct czpg_provision_plan; /* opaque */

/*
 * Validates opts, reads the current state and computes every file's new
 * content.  Writes nothing.  Returns CZPG_RESULT_OK (0) with *out (free with
 * czpg_provision_plan_free), or another enum czpg_result with one
 * sentence in err naming the bad value and what to do:
 *   CZPG_RESULT_BAD_INPUT  bad input, a path missing or unwritable, chown not
 *                    permitted, postgresql.conf not including conf.d (err
 *                    gives the include_dir line to add), an existing leaf
 *                    whose names differ (err says: --rotate-leaf or --force)
 *   CZPG_RESULT_ERROR  could not read a file or make a key
 */
enum czpg_result czpg_provision_plan(const struct czpg_provision_opts *opts, struct czpg_provision_plan **out,
			char *err, size_t errlen);
void czpg_provision_plan_free(struct czpg_provision_plan *p); /* NULL-safe */

/* Sets the self-verify password after planning (borrowed; the caller wipes it). */
void czpg_provision_set_password(struct czpg_provision_plan *p, const char *password);

/* Number of files the plan would create or change (0 on a re-run). */
size_t czpg_provision_plan_changes(const struct czpg_provision_plan *p);

/*
 * Prints the dry run: every file with path, mode, owner and full new content
 * (private keys as "<new private key, not shown>") or a unified diff against
 * the current file, the pg_hba explanation, the reload command, the checks
 * and the verification that --apply would run.
 */
void czpg_provision_print_plan(const struct czpg_provision_plan *p, FILE *out);

/*
 * Carries out the plan (see the file comment).  Prints one "[PASS]" /
 * "[FAIL]" / "[SKIP]" line per step and a summary to out (NULL = silent).
 * Returns an enum czpg_result: OK when every step passed, FAIL when the
 * reload checks failed (everything restored) or self-verify failed, ERROR
 * when it could not finish (I/O, server unreachable; files restored).
 */
enum czpg_result czpg_provision_apply(struct czpg_provision_plan *p, FILE *out);

/* The plan (dry run) or the result (after apply) as one JSON object. */
void czpg_provision_print_json(const struct czpg_provision_plan *p, FILE *out);

#endif
