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
 *                           the exported CA).  A dry run writes nothing and
 *                           contacts nothing.  With opts.apply it first takes
 *                           the run's lock and finishes or rolls back what an
 *                           interrupted run left (its journal), then asks the
 *                           server its version.  Any bad input is found here.
 *
 *   czpg_provision_apply()  carries the plan out as a transaction whose every
 *                           intermediate state is one PostgreSQL accepts on
 *                           restart (docs/provision.md, "Commit order"):
 *
 *     1. journal   <cert dir>/.cz-provision.journal: every step below, the
 *                  old and new content of each file it replaces
 *     2. create    new keys and certificates under new names
 *                  (ca-<serial>.key/.crt, server-<serial>.key/.crt,
 *                  ca-bundle-<sha256>.crt), each fsynced; conf.d when missing;
 *                  then what clients trust (ca-bundle.crt, --export-ca): the
 *                  new bundle, which holds the CA of the leaf served now too
 *     3. commit    postgresql.conf (--add-include-dir), cz-tls.conf naming the
 *                  new files, then pg_hba.conf: each one atomic rename; the
 *                  first of them is the commit point
 *     4. reload    SIGHUP (never a restart); pg_conf_load_time() moves, the
 *                  server's pg_hba_file_rules and pg_file_settings show no
 *                  error, it serves the new certificate -- else step 3 is
 *                  undone, the server reloaded again and step 2 removed
 *     5. names     the other stable names in the cert dir (ca.crt, ca.key,
 *                  ca-previous.crt, server.crt, server.key: symbolic links)
 *                  switched to the new files, old files no longer named
 *                  retired
 *     6. verify    the journal removed; self-verify (czpg_verify_run)
 *
 *   Nothing the live configuration names is ever overwritten.  A run that
 *   would change nothing writes nothing and sends no reload.
 *
 * Certificate files in the cert dir (new names; the stable names link to them):
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
/* How long a run waits for another run's lock before it gives up. */
#define CZPG_PROVISION_LOCK_WAIT_MS 5000
/* In the cert dir: the lock every applying run holds, and the journal of the run in progress. */
#define CZPG_PROVISION_LOCK_FILE ".cz-provision.lock"
#define CZPG_PROVISION_JOURNAL_FILE ".cz-provision.journal"
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

	/* where things are (paths on this host, except server_cert_dir) */
	const char *cert_dir;
	const char *server_cert_dir; /* the cert dir as the server sees it; NULL = derived */
	/*
	 * Where the server's filesystem root is on this host (a chroot, or a
	 * container's root such as /proc/<pid>/root); NULL = the server sees
	 * this host's paths.  Paths the server names (socket directory) are
	 * found under it; paths written for the server (ssl_*_file) drop it.
	 */
	const char *server_root;
	const char *hba_path;        /* NULL = <pgdata>/pg_hba.conf (required with container) */
	const char *export_ca;       /* NULL = no export */
	const char *pgdata;          /* local server: its data directory */
	const char *container;       /* or: the server runs in this container */
	const char *conf_dir;        /* NULL = <dir of postgresql.conf>/conf.d */
	const char *postgresql_conf; /* NULL = <pgdata>/postgresql.conf, or next to hba_path */
	long db_uid, db_gid;         /* -1 = default (999 with container, else pgdata owner) */

	/* what to do */
	bool apply;
	bool add_include_dir; /* postgresql.conf lacks the include_dir: create conf.d, add it */
	bool force;           /* new CA and leaf; the old CA stays in the bundle */
	bool rotate_leaf;     /* new leaf from the existing CA */
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

#define CZPG_PROVISION_MAX_FILES 32
#define CZPG_PROVISION_MAX_WARNINGS 16

/* What a planned file is for.  The plan and its readers find files by role. */
enum czpg_provision_role {
	CZPG_PROVISION_ROLE_CA_KEY = 0,     /* <cert dir>/ca-<serial>.key */
	CZPG_PROVISION_ROLE_CA_CERT,        /* <cert dir>/ca-<serial>.crt */
	CZPG_PROVISION_ROLE_PREV_CA,        /* <cert dir>/ca-<previous serial>.crt */
	CZPG_PROVISION_ROLE_LEAF_KEY,       /* <cert dir>/server-<serial>.key */
	CZPG_PROVISION_ROLE_LEAF_CERT,      /* <cert dir>/server-<serial>.crt */
	CZPG_PROVISION_ROLE_BUNDLE,         /* <cert dir>/ca-bundle-<sha256>.crt */
	CZPG_PROVISION_ROLE_CONF_DIR,       /* the conf.d directory, when it is missing */
	CZPG_PROVISION_ROLE_PGCONF,         /* postgresql.conf, with --add-include-dir */
	CZPG_PROVISION_ROLE_TLS_CONF,       /* <conf dir>/cz-tls.conf */
	CZPG_PROVISION_ROLE_HBA,            /* pg_hba.conf */
	CZPG_PROVISION_ROLE_LINK_CA_KEY,    /* <cert dir>/ca.key -> ca-<serial>.key */
	CZPG_PROVISION_ROLE_LINK_CA_CERT,   /* <cert dir>/ca.crt */
	CZPG_PROVISION_ROLE_LINK_PREV_CA,   /* <cert dir>/ca-previous.crt */
	CZPG_PROVISION_ROLE_LINK_LEAF_KEY,  /* <cert dir>/server.key */
	CZPG_PROVISION_ROLE_LINK_LEAF_CERT, /* <cert dir>/server.crt */
	CZPG_PROVISION_ROLE_LINK_BUNDLE,    /* <cert dir>/ca-bundle.crt */
	CZPG_PROVISION_ROLE_EXPORT,         /* --export-ca */
	CZPG_PROVISION_ROLE_RETIRE,         /* an old file no name points at any more */
	CZPG_PROVISION_NROLES
};

/* The steps of an apply, in order. */
enum czpg_provision_step {
	CZPG_PROVISION_STEP_CERTS = 0, /* the new keys and certificates */
	CZPG_PROVISION_STEP_CONF,      /* postgresql.conf include_dir, cz-tls.conf */
	CZPG_PROVISION_STEP_HBA,
	CZPG_PROVISION_STEP_RELOAD,
	CZPG_PROVISION_STEP_NAMES, /* the stable names switched, old files retired */
	CZPG_PROVISION_STEP_EXPORT,
	CZPG_PROVISION_STEP_VERIFY,
	CZPG_PROVISION_NSTEPS
};

/* When in the transaction a file is written (see the file comment). */
enum czpg_provision_phase {
	CZPG_PROVISION_PHASE_CREATE = 0, /* a new name, before the commit point */
	/*
	 * What clients trust (ca-bundle.crt, --export-ca), before the commit
	 * point: the new bundle holds the CA the server serves now as well, so
	 * a client that reads it while the server switches trusts either leaf
	 */
	CZPG_PROVISION_PHASE_TRUST,
	CZPG_PROVISION_PHASE_COMMIT, /* a file the server reads, replaced by rename */
	CZPG_PROVISION_PHASE_AFTER,  /* after the reload was confirmed */
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
	CZPG_PROVISION_REMOVE,    /* retired */
};

/* One file of the plan: its new content and what is there now. */
struct czpg_provision_file {
	enum czpg_provision_role role;
	enum czpg_provision_step step;   /* the step that writes it */
	enum czpg_provision_phase phase; /* when in the transaction */
	bool secret;                     /* a private key: its content is never printed */
	bool is_link;                    /* a stable name: data is the link's target */
	bool is_dir;                     /* a directory to create (data empty) */
	char *path;                      /* as the operator names it */
	char *write_path;                /* where it is written: path, or its link's target */
	uint8_t *data;                   /* the new content, NUL-terminated */
	size_t len;
	mode_t mode;
	long uid, gid;
	/* what is there now */
	bool old_exists;
	bool old_link; /* what is there now is a symbolic link: old is its target */
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
	const char *server_root; /* NULL: the server sees this host's paths */
	char *server_cert_dir;   /* the cert dir as the server sees it */
	char *ssl_cert_file;     /* what cz-tls.conf names, as the server sees it */
	char *ssl_key_file;
	char *ssl_ca_file;
	char notes[8][PATH_MAX + 200]; /* symbolic links written through, and the like */
	size_t nnotes;

	/* the server */
	unsigned server_major;                   /* 0 = not known (dry run without PG_VERSION) */
	char server_version_from[PATH_MAX + 64]; /* where it came from */

	/* the files, in write order */
	struct czpg_provision_file files[CZPG_PROVISION_MAX_FILES];
	size_t nfiles;

	/* certificates */
	bool gen_ca, gen_leaf, have_prev, prev_in_bundle;
	struct czpg_cert_info ca_info, leaf_info;
	char cert_story[512]; /* one line: what was reused or made, serials, days left */

	/* postgresql.conf: the line of the include_dir that reads conf_dir */
	unsigned include_line;
	bool add_include; /* --add-include-dir appends it (include_line is then the new line) */

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

	/* with --apply, before planning: what an earlier run left and what was done about it */
	char stale_note[1024];    /* temporary files removed; "" = none */
	char recovery_note[2048]; /* an interrupted run finished or rolled back; "" = none */

	/* after czpg_provision_apply */
	bool applied;
	bool nothing_to_change; /* no byte to write: nothing written, no reload sent */
	enum czpg_result result;
	struct czpg_provision_step_result steps[CZPG_PROVISION_NSTEPS];
	bool verified; /* self-verify ran: vres holds its result */
	struct czpg_verify_result vres;
	bool rolled_back;
	char rollback_note[1024];
	/* SIGINT/SIGTERM/SIGHUP during the apply (0 = none), and what it did about it */
	int interrupted;
	char interrupt_note[512];
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
 *   CZPG_RESULT_ERROR  could not read a file or make a key; with
 *                    opts.apply also: another run holds the lock (err:
 *                    "another provision run (pid N) holds the lock on ..."),
 *                    the server cannot be reached, or an interrupted run
 *                    could not be finished or rolled back
 *   CZPG_RESULT_FAIL   with opts.apply: an interrupted run's change was
 *                    finished but the server rejected it, so it was rolled
 *                    back (err says what the server said)
 * With opts.apply the plan holds the lock until czpg_provision_plan_free.
 */
enum czpg_result czpg_provision_plan(const struct czpg_provision_opts *opts,
				     struct czpg_provision_plan **out, char *err, size_t errlen);
void czpg_provision_plan_free(struct czpg_provision_plan *p); /* NULL-safe */

/*
 * Catches SIGINT, SIGTERM and SIGHUP for the rest of the process: the first
 * is remembered (a second one changes nothing), so that an apply in
 * progress is never abandoned half way.  Before the commit point the apply
 * rolls back, after it the apply finishes the transaction; either way it
 * then stops, names the signal in the record (interrupted) and returns
 * CZPG_RESULT_ERROR.  Call before czpg_provision_plan with opts.apply.
 */
void czpg_provision_catch_signals(void);

/*
 * What the journal in cert_dir says about an unfinished run, for `status`:
 * 1 with the run's pid, start time (Unix) and what it was doing (e.g.
 * "transition mode, --rotate-leaf") when there is one; 0 when there is
 * none; -1 when it cannot be read (err).  Reads only.
 */
int czpg_provision_journal_info(const char *cert_dir, long *pid, long long *started, char *what,
				size_t whatlen, char *err, size_t errlen);

/* Sets the self-verify password after planning (borrowed; the caller wipes it). */
void czpg_provision_set_password(struct czpg_provision_plan *p, const char *password);

/* Number of files the plan would create, change or remove (0 on a re-run). */
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
