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

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "czpg/hba_values.h"
#include "czpg/hba_plan.h"
#include "czpg/pki.h"
#include "czpg/result.h"
#include "czpg/verify.h"

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

/* ------------------------------------------------------------ the record */

#define CZPG_PROVISION_MAX_FILES 12
#define CZPG_PROVISION_MAX_WARNINGS 16

/* What a planned file is for.  The plan and its readers find files by role. */
enum czpg_provision_role {
	CZPG_PROVISION_ROLE_CA_KEY = 0, /* <cert dir>/ca.key */
	CZPG_PROVISION_ROLE_CA_CERT,    /* <cert dir>/ca.crt */
	CZPG_PROVISION_ROLE_PREV_CA,    /* <cert dir>/ca-previous.crt */
	CZPG_PROVISION_ROLE_LEAF_KEY,   /* <cert dir>/server.key */
	CZPG_PROVISION_ROLE_LEAF_CERT,  /* <cert dir>/server.crt */
	CZPG_PROVISION_ROLE_BUNDLE,     /* <cert dir>/ca-bundle.crt */
	CZPG_PROVISION_ROLE_TLS_CONF,   /* <conf dir>/cz-tls.conf */
	CZPG_PROVISION_ROLE_HBA,        /* pg_hba.conf */
	CZPG_PROVISION_ROLE_EXPORT,     /* --export-ca */
	CZPG_PROVISION_NROLES
};

/* The steps of an apply, in order. */
enum czpg_provision_step {
	CZPG_PROVISION_STEP_CERTS = 0,
	CZPG_PROVISION_STEP_CONF,
	CZPG_PROVISION_STEP_HBA,
	CZPG_PROVISION_STEP_RELOAD,
	CZPG_PROVISION_STEP_EXPORT,
	CZPG_PROVISION_STEP_VERIFY,
	CZPG_PROVISION_NSTEPS
};

enum czpg_provision_state {
	CZPG_PROVISION_NOT_RUN = 0,
	CZPG_PROVISION_PASS,
	CZPG_PROVISION_FAIL,
	CZPG_PROVISION_SKIP,
};

/* What the plan does to a file. */
enum czpg_provision_action {
	CZPG_PROVISION_UNCHANGED = 0,
	CZPG_PROVISION_CREATE,
	CZPG_PROVISION_REPLACE,
	CZPG_PROVISION_FIX_PERMS, /* same content, other mode or owner */
};

/* One file of the plan: its new content and what is there now. */
struct czpg_provision_file {
	enum czpg_provision_role role;
	enum czpg_provision_step step; /* the step that writes it */
	bool secret;                   /* a private key: its content is never printed */
	char *path;
	uint8_t *data; /* the new content, NUL-terminated */
	size_t len;
	mode_t mode;
	long uid, gid;
	/* what is there now */
	bool old_exists;
	uint8_t *old;
	size_t old_len;
	mode_t old_mode;
	uid_t old_uid;
	gid_t old_gid;
	enum czpg_provision_action action;
	/* for the dry run */
	char *diff; /* REPLACE of a file that is not secret: unified diff, NUL-terminated;
		       NULL when too large to show */
	size_t diff_len;
	struct czpg_cert_info *cert; /* certificate files: what the new one holds (days left
				       from the real clock); else NULL */
	/* apply */
	bool written; /* written and not restored */
};

struct czpg_provision_step_result {
	enum czpg_provision_state state;
	char detail[2048];
};

/*
 * Everything the printers need, as data: the plan's decisions, then (once
 * applied) the outcome.  Strings are owned by the plan, except ip, dns and
 * the verify names, which may be borrowed from the options.
 */
struct czpg_provision_record {
	/* what was asked */
	const char *ip, *dns;
	enum czpg_hba_mode mode;
	const char *mode_name; /* "transition" / "harden" */
	bool container;        /* the server runs in a container (else on this box) */
	bool force, skip_verify;

	/* where things are */
	char *cert_dir, *conf_dir, *pgconf_path, *conf_path, *hba_path, *export_ca, *bundle_path;

	/* the files, in write order */
	struct czpg_provision_file files[CZPG_PROVISION_MAX_FILES];
	size_t nfiles;

	/* certificates */
	bool gen_ca, gen_leaf, have_prev, prev_in_bundle;
	struct czpg_cert_info ca_info, leaf_info;
	char cert_story[512]; /* one line: what was reused or made, serials, days left */

	/* postgresql.conf: the line of the include_dir that reads conf_dir */
	unsigned include_line;

	/* pg_hba.conf: czpg_hba_plan_explain() of the planned block */
	const char *hba_explain;

	/* the server */
	char reload_desc[PATH_MAX + 200];
	char query_desc[PATH_MAX + 200];
	const char *verify_host, *verify_user, *verify_dbname;
	unsigned verify_port;
	char verify_command[2048]; /* the `czctl postgres tls verify` that proves the result */

	char warnings[CZPG_PROVISION_MAX_WARNINGS][700];
	size_t nwarn;

	/* after czpg_provision_apply */
	bool applied;
	enum czpg_result result;
	struct czpg_provision_step_result steps[CZPG_PROVISION_NSTEPS];
	bool verified; /* self-verify ran: vres holds its result */
	struct czpg_verify_result vres;
	bool rolled_back;
	char rollback_note[1024];
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
enum czpg_result czpg_provision_plan(const struct czpg_provision_opts *opts,
				     struct czpg_provision_plan **out, char *err, size_t errlen);
void czpg_provision_plan_free(struct czpg_provision_plan *p); /* NULL-safe */

/* Sets the self-verify password after planning (borrowed; the caller wipes it). */
void czpg_provision_set_password(struct czpg_provision_plan *p, const char *password);

/* Number of files the plan would create or change (0 on a re-run). */
size_t czpg_provision_plan_changes(const struct czpg_provision_plan *p);

/*
 * Carries out the plan (see the file comment).  Prints one "[PASS]" /
 * "[FAIL]" / "[SKIP]" line per step and a summary to out (NULL = silent),
 * through czpg/provision_report.h.  Returns an enum czpg_result: OK when
 * every step passed, FAIL when the reload checks failed (everything
 * restored) or self-verify failed, ERROR when it could not finish (I/O,
 * server unreachable; files restored).
 */
enum czpg_result czpg_provision_apply(struct czpg_provision_plan *p, FILE *out);

/*
 * What the plan decided and, after czpg_provision_apply, what happened: the
 * record the printers in czpg/provision_report.h read.  Lives as long as p.
 */
const struct czpg_provision_record *czpg_provision_plan_record(const struct czpg_provision_plan *p);

#endif
