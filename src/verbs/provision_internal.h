/*
 * provision_internal.h - what the pieces of provision share and nobody else
 * sees: the plan object and the functions each piece gives the others.
 *
 *   provision.c         the plan object, the entry point, postgresql.conf,
 *                       pg_hba.conf and CA export planning, the transaction
 *                       built from the plan
 *   provision_inputs.c  input validation, path resolution, permission checks,
 *                       how to reach the server (and its version)
 *   provision_certs.c   the certificate decisions: CA, leaf, CA bundle, the
 *                       new names, the stable names and what they retire
 *   provision_txn.c     the transaction: its steps, carried out, undone,
 *                       reload and confirm; signals
 *   provision_journal.c the journal on disk, the lock, and the recovery of
 *                       an interrupted run
 *   provision_apply.c   the apply: the transaction's steps as the report
 *                       prints them, export, self-verify
 *
 * What is printed lives in src/report/provision_report.c and reads only
 * p->rec.
 */
#ifndef CZPG_PROVISION_INTERNAL_H
#define CZPG_PROVISION_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "czpg/hba_plan.h"
#include "czpg/provision.h"
#include "czpg/reload.h"
#include "czpg/result.h"

/* ------------------------------------------------------------ the transaction */

/* One step of the transaction, as the journal records it. */
enum czpg_txn_kind {
	CZPG_TXN_MKDIR = 0, /* a directory that was missing (removed again by a rollback) */
	CZPG_TXN_CREATE,    /* a file under a new name (its content hash in the journal) */
	CZPG_TXN_TRUST,     /* what clients trust, switched before the commit (undone like it) */
	CZPG_TXN_COMMIT,    /* a file the server reads, replaced (old and new in the journal) */
	CZPG_TXN_LINK,      /* a stable name switched after the confirm */
	CZPG_TXN_AFTER,     /* a file written after the confirm (the export) */
	CZPG_TXN_RETIRE,    /* a file removed after the confirm */
	CZPG_TXN_NKINDS
};

struct czpg_txn_op {
	enum czpg_txn_kind kind;
	enum czpg_provision_role role;
	enum czpg_provision_step step; /* the report line it belongs to */
	char *path;    /* where: a link's own path, else the file (links followed) */
	uint8_t *data; /* the new content (a link: its target); NULL for a CREATE read back */
	size_t len;
	uint8_t sha[32]; /* SHA-256 of the new content */
	mode_t mode;
	long uid, gid;
	bool link;         /* a symbolic link: data is its target */
	bool secret;       /* a private key: never in the journal */
	bool same_content; /* a COMMIT of mode and owner only: the content is the one on disk */
	/* a COMMIT or TRUST: what was there before */
	bool old_exists;
	bool old_link; /* a symbolic link: old is its target */
	uint8_t *old;
	size_t old_len;
	uint8_t old_sha[32];
	mode_t old_mode;
	long old_uid, old_gid;
};

/* Where an op stands on disk: not done yet, done, or neither (changed by someone else). */
enum czpg_txn_state { CZPG_TXN_OLD = 0, CZPG_TXN_NEW, CZPG_TXN_OTHER };
enum czpg_txn_state czpg_txn_op_state(const struct czpg_txn_op *op);

struct czpg_txn {
	struct czpg_txn_op ops[CZPG_PROVISION_MAX_FILES];
	size_t n;
	long pid;          /* the run that wrote the journal */
	long long started; /* when (Unix time) */
	char what[256];    /* what it was doing, e.g. "transition, --rotate-leaf" */
	bool have_leaf;    /* leaf_sha: the certificate the server must serve after the commit */
	uint8_t leaf_sha[32];
	char leaf_serial[96];
};

/* Frees what the ops own and empties t.  NULL-safe. */
void czpg_txn_clear(struct czpg_txn *t);
/* How many ops of kind k. */
size_t czpg_txn_count(const struct czpg_txn *t, enum czpg_txn_kind k);

struct czpg_provision_plan {
	struct czpg_provision_record rec; /* what the report reads */
	struct czpg_provision_opts o;     /* as given (strings borrowed) */

	/* resolved by provision_inputs.c */
	char *pgdata;
	long db_uid, db_gid; /* who gets server.key */
	uid_t me_uid;        /* who owns everything else */
	gid_t me_gid;
	struct czpg_server srv;
	char pg_bin[PATH_MAX];
	char socket_dir[PATH_MAX];
	char server_root[PATH_MAX]; /* "" = the server sees this host's paths */

	/* with --apply: the lock, and the server's load time before anything is written */
	int lock_fd;
	bool made_cert_dir; /* this run made the cert dir (to take the lock in it) */
	char before[128];

	/* pg_hba.conf */
	struct czpg_hba_plan *hba;

	/* the stable names' current targets (basenames), read before planning */
	char cur_target[CZPG_PROVISION_NROLES][256];
	bool had_plain_names; /* a stable name is a regular file (an earlier czctl's layout) */

	/* what apply carries out */
	struct czpg_txn txn;
};

/* ------------------------------------------------------------ provision.c */

/* Adds a warning to the record (at most CZPG_PROVISION_MAX_WARNINGS; more are dropped). */
void czpg_provision_warn(struct czpg_provision_plan *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "<dir>/<name>" (malloc'd; NULL when out of memory). */
char *czpg_provision_path_join(const char *dir, const char *name);
/* The directory part of path: "." without a slash, "/" for "/x" (malloc'd; NULL when out of
 * memory). */
char *czpg_provision_path_dir(const char *path);

/*
 * Adds a file of the given role to the plan with its new content (copied;
 * data may equal the current content) and reads what is there now to decide
 * the action.  Returns CZPG_RESULT_OK, or CZPG_RESULT_ERROR with err set
 * (plan full, out of memory, the path unreadable or not a regular file).
 */
enum czpg_result czpg_provision_add_file(struct czpg_provision_plan *p,
					 enum czpg_provision_role role, const char *path,
					 const void *data, size_t len, mode_t mode, long uid,
					 long gid, char *err, size_t errlen);

/* The planned file of that role, or NULL. */
struct czpg_provision_file *czpg_provision_file_of(struct czpg_provision_plan *p,
						   enum czpg_provision_role role);

/*
 * Adds a stable name (a symbolic link in the cert dir) pointing at target
 * (a basename), or a file to retire (target NULL).  Same returns as
 * czpg_provision_add_file.
 */
enum czpg_result czpg_provision_add_link(struct czpg_provision_plan *p,
					 enum czpg_provision_role role, const char *path,
					 const char *target, char *err, size_t errlen);

/* Notes that dir (the "conf dir", the "cert dir") is a symbolic link, when it is one. */
void czpg_provision_note_dir_link(struct czpg_provision_plan *p, const char *what, const char *dir);

/* Adds a note for the dry run and the apply (symbolic links followed, ...). */
void czpg_provision_note(struct czpg_provision_plan *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ provision_inputs.c */

/*
 * Checks every option, resolves every path (p->rec's paths, p->pgdata,
 * p->server_cert_dir, the database uid/gid), checks that each can be written
 * as it must be, and works out how to reach the server (p->srv, the verify
 * target, the reload and query descriptions).  Returns CZPG_RESULT_OK, or
 * CZPG_RESULT_BAD_INPUT with one sentence in err naming the value and what
 * to do.
 */
enum czpg_result czpg_provision_inputs(struct czpg_provision_plan *p, char *err, size_t errlen);

/*
 * The server's major version for the plan: with opts.apply asked of the
 * server (SELECT current_setting('server_version_num'), which also takes
 * p->before, its load time), else read from PG_VERSION in the data
 * directory (or next to postgresql.conf).  Sets rec.server_major and where
 * it came from; 0 when neither says.  Returns CZPG_RESULT_OK, or
 * CZPG_RESULT_ERROR when the server cannot be asked (err says why and, for
 * a socket that is not there, names --socket-dir).
 */
enum czpg_result czpg_provision_server_version(struct czpg_provision_plan *p, char *err,
					       size_t errlen);

/* ------------------------------------------------------------ provision_certs.c */

/*
 * Decides the CA (reuse, make, or refuse), then the leaf, then what goes
 * into ca-bundle.crt, and adds the certificate files to the plan.  Returns
 * CZPG_RESULT_OK; CZPG_RESULT_BAD_INPUT when the files on disk cannot be
 * used as they are (err says: --rotate-leaf or --force); CZPG_RESULT_ERROR
 * when a key or certificate cannot be made.
 */
enum czpg_result czpg_provision_plan_certs(struct czpg_provision_plan *p, char *err, size_t errlen);

/* ------------------------------------------------------------ provision_txn.c */

/* The signal czpg_provision_catch_signals caught (0 = none yet). */
int czpg_txn_signal(void);

/*
 * Each carries out the ops of its kinds in order, and returns 0, or -1 with
 * err (the ops done so far stay done; the caller undoes them).
 *   creates  MKDIR, CREATE and TRUST, checking for a signal after each
 *            (returns 1 when one came: nothing of the commit is done)
 *   commits  COMMIT
 *   after    LINK, AFTER and RETIRE
 * done counts the ops that changed something (NULL: not counted).
 */
int czpg_txn_creates(struct czpg_txn *t, int *done, char *err, size_t errlen);
int czpg_txn_commits(struct czpg_txn *t, int *done, char *err, size_t errlen);
int czpg_txn_after(struct czpg_txn *t, int *done, char *err, size_t errlen);

/*
 * Undoes the COMMITs and TRUSTs (newest first: the old content, mode and
 * owner, the old link, or no file), then removes the CREATEs and MKDIRs
 * that exist.  Says what it did
 * in note.  Returns the number of steps that could not be undone.
 */
int czpg_txn_undo(struct czpg_txn *t, char *note, size_t notelen);

/*
 * Reloads the server and confirms that it took the committed files:
 * pg_conf_load_time() moves past before, pg_hba_file_rules and
 * pg_file_settings show no error for them, and (t->have_leaf) verify_host:
 * verify_port serves the leaf t->leaf_sha.  Returns CZPG_RESULT_OK with what
 * was seen in detail, CZPG_RESULT_FAIL when the server rejected the files
 * (detail quotes what it said, its log line when it can be read),
 * CZPG_RESULT_ERROR when it could not be asked.
 */
enum czpg_result czpg_txn_reload(struct czpg_provision_plan *p, const struct czpg_txn *t,
				 const char *before, char *detail, size_t detlen);

/* Undo, then reload again so the server drops what it may have read; note says what was done. */
int czpg_txn_undo_and_reload(struct czpg_provision_plan *p, struct czpg_txn *t, char *note,
			     size_t notelen);

/* ------------------------------------------------------------ provision_journal.c */

/* Writes t as the journal of this run (atomically, fsynced).  0 or -1 with err. */
int czpg_journal_write(const struct czpg_provision_plan *p, const struct czpg_txn *t, char *err,
		       size_t errlen);
/* Removes the journal (durably).  0 or -1 with err. */
int czpg_journal_remove(const struct czpg_provision_plan *p, char *err, size_t errlen);

/*
 * Reads a journal file: 0 with *t filled (czpg_txn_clear it), 1 when there
 * is none, -1 when it cannot be read or parsed (err says which line).
 */
int czpg_journal_read(const char *path, struct czpg_txn *t, char *err, size_t errlen);

/*
 * With --apply, before planning: takes the lock (waiting up to
 * CZPG_PROVISION_LOCK_WAIT_MS), removes the temporary files an interrupted
 * run left, and finishes or rolls back the run whose journal is there.
 * Fills rec.stale_note and rec.recovery_note.  Returns CZPG_RESULT_OK;
 * CZPG_RESULT_ERROR when the lock is held by another run ("another provision
 * run (pid N) holds the lock on ..."), or the journal cannot be read or
 * carried out; CZPG_RESULT_FAIL when the interrupted run's change was
 * finished, rejected by the server and rolled back.
 */
enum czpg_result czpg_journal_recover(struct czpg_provision_plan *p, char *err, size_t errlen);

#endif
