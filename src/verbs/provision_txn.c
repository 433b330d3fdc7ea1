/*
 * provision_txn.c - the transaction of a provision apply (see
 * provision_internal.h and docs/provision.md, "Commit order"): its steps
 * carried out and undone one at a time through fsutil, the reload and its
 * confirmation, and the signals that must not cut it in half.
 *
 * Each step is idempotent and knows from the disk whether it is done
 * (czpg_txn_op_state), so the same code carries out a fresh plan and the
 * rest of an interrupted one read back from its journal.
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "czpg/fsutil.h"
#include "czpg/pgconf.h"
#include "czpg/reload.h"
#include "czpg/served_cert.h"
#include "provision_internal.h"

/* How long the server gets to finish a reload, and to serve the new certificate. */
#define RELOAD_WAIT_MS 10000
#define SERVED_CERT_TIMEOUT_MS 5000
/* Largest file a step reads back to compare it. */
#define TXN_MAX_FILE ((size_t)16 << 20)

/* ------------------------------------------------------------ signals */

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
	/* The first one counts; a second one must not abandon a half-restored box. */
	if (caught == 0)
		caught = sig;
}

void czpg_provision_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	/*
	 * The three block each other while one is handled, so that the first
	 * to arrive is the one remembered even when others are pending with it.
	 */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGHUP);
	/* Restart system calls: the wait loops check the flag themselves. */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int czpg_txn_signal(void)
{
	return (int)caught;
}

/* ------------------------------------------------------------ the ops */

void czpg_txn_clear(struct czpg_txn *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		struct czpg_txn_op *op = &t->ops[i];

		if (op->data != NULL && op->secret)
			OPENSSL_cleanse(op->data, op->len);
		free(op->data);
		free(op->old);
		free(op->path);
	}
	memset(t, 0, sizeof(*t));
}

size_t czpg_txn_count(const struct czpg_txn *t, enum czpg_txn_kind k)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++)
		if (t->ops[i].kind == k)
			n++;
	return n;
}

/* Content hash, mode and owner of path: 0, 1 when missing, -1 when unreadable. */
static int file_facts(const char *path, uint8_t sha[32], struct czpg_fs_info *info)
{
	if (czpg_fs_file_info(path, info, NULL, 0) < 0)
		return -1;
	if (!info->exists)
		return 1;
	if (!info->is_regular)
		return -1;
	return czpg_fs_sha256_file(path, sha, NULL, 0) == 0 ? 0 : -1;
}

static bool perms_are(const struct czpg_fs_info *info, mode_t mode, long uid, long gid)
{
	return info->mode == (mode & 07777) && (uid < 0 || (long)info->uid == uid) &&
	       (gid < 0 || (long)info->gid == gid);
}

/* The target of the symbolic link path, or "" when it is not one. */
static void link_target(const char *path, char *out, size_t outlen)
{
	ssize_t n = readlink(path, out, outlen - 1);

	out[n > 0 ? n : 0] = '\0';
}

/* A file or link replaced in place (COMMIT, TRUST): new, old, or neither. */
static enum czpg_txn_state switch_state(const struct czpg_txn_op *op)
{
	struct czpg_fs_info info;
	struct stat st;
	uint8_t sha[32];
	char target[PATH_MAX];
	bool is_link, present = lstat(op->path, &st) == 0;
	int f;

	is_link = present && S_ISLNK(st.st_mode);
	if (is_link)
		link_target(op->path, target, sizeof(target));
	if (op->link && is_link && op->data != NULL && strcmp(target, (const char *)op->data) == 0)
		return CZPG_TXN_NEW;
	f = !present                                ? 1
	    : is_link && (op->link || op->old_link) ? -1
						    : file_facts(op->path, sha, &info);
	if (!op->link && f == 0 && memcmp(sha, op->sha, 32) == 0 &&
	    perms_are(&info, op->mode, op->uid, op->gid))
		return CZPG_TXN_NEW;
	if (!op->old_exists)
		return !present ? CZPG_TXN_OLD : CZPG_TXN_OTHER;
	if (op->old_link)
		return is_link && op->old != NULL && strcmp(target, (const char *)op->old) == 0
			   ? CZPG_TXN_OLD
			   : CZPG_TXN_OTHER;
	if (f == 0 && memcmp(sha, op->old_sha, 32) == 0 &&
	    (op->link || perms_are(&info, op->old_mode, op->old_uid, op->old_gid)))
		return CZPG_TXN_OLD;
	return CZPG_TXN_OTHER;
}

enum czpg_txn_state czpg_txn_op_state(const struct czpg_txn_op *op)
{
	struct czpg_fs_info info;
	uint8_t sha[32];
	char target[PATH_MAX];
	int f;

	switch (op->kind) {
	case CZPG_TXN_MKDIR:
		if (czpg_fs_file_info(op->path, &info, NULL, 0) < 0 || !info.exists)
			return CZPG_TXN_OLD;
		return info.is_dir ? CZPG_TXN_NEW : CZPG_TXN_OTHER;
	case CZPG_TXN_CREATE:
		f = file_facts(op->path, sha, &info);
		if (f == 1)
			return CZPG_TXN_OLD;
		return f == 0 && memcmp(sha, op->sha, 32) == 0 ? CZPG_TXN_NEW : CZPG_TXN_OTHER;
	case CZPG_TXN_COMMIT:
	case CZPG_TXN_TRUST:
		return switch_state(op);
	case CZPG_TXN_LINK:
		link_target(op->path, target, sizeof(target));
		return op->data != NULL && strcmp(target, (const char *)op->data) == 0
			   ? CZPG_TXN_NEW
			   : CZPG_TXN_OLD;
	case CZPG_TXN_AFTER:
		f = file_facts(op->path, sha, &info);
		return f == 0 && memcmp(sha, op->sha, 32) == 0 &&
			       perms_are(&info, op->mode, op->uid, op->gid)
			   ? CZPG_TXN_NEW
			   : CZPG_TXN_OLD;
	case CZPG_TXN_RETIRE: {
		struct stat st;

		return lstat(op->path, &st) < 0 ? CZPG_TXN_NEW : CZPG_TXN_OLD;
	}
	case CZPG_TXN_NKINDS:
		break;
	}
	return CZPG_TXN_OTHER;
}

/*
 * Writes content with the given mode and owner where op says; when
 * same_content, the content is the one on disk (a change of mode or owner
 * only).  0 or -1 with err.
 */
static int write_content(const struct czpg_txn_op *op, const uint8_t *data, size_t len,
			 bool same_content, mode_t mode, long uid, long gid, char *err,
			 size_t errlen)
{
	uint8_t *disk = NULL;
	size_t dlen = 0;
	int rc;

	if (same_content) {
		if (czpg_fs_read_file(op->path, TXN_MAX_FILE, &disk, &dlen, err, errlen) != 0)
			return -1;
		data = disk;
		len = dlen;
	}
	if (data == NULL && len > 0) {
		czpg_errf(err, errlen, "internal error: no content for %s", op->path);
		return -1;
	}
	/* Where a link is switched, a file put back replaces the link itself. */
	rc = (op->link ? czpg_fs_replace_atomic : czpg_fs_write_atomic)(
	    op->path, data != NULL ? data : (const uint8_t *)"", len, mode, uid, gid, err, errlen);
	if (disk != NULL) {
		OPENSSL_cleanse(disk, dlen);
		free(disk);
	}
	return rc;
}

/* Carries out one op unless it is done already.  *changed: it did something.  0 or -1. */
static int do_op(const struct czpg_txn_op *op, bool *changed, char *err, size_t errlen)
{
	enum czpg_txn_state st = czpg_txn_op_state(op);

	*changed = false;
	if (st == CZPG_TXN_NEW)
		return 0;
	switch (op->kind) {
	case CZPG_TXN_MKDIR:
		if (czpg_fs_mkdir_owned(op->path, op->mode, op->uid, op->gid, err, errlen) < 0)
			return -1;
		break;
	case CZPG_TXN_CREATE:
		if (st == CZPG_TXN_OTHER) {
			czpg_errf(err, errlen,
				  "%s appeared with other content while provision ran: look at it "
				  "and remove it, then run again",
				  op->path);
			return -1;
		}
		/* FALLTHROUGH */
	case CZPG_TXN_TRUST:
	case CZPG_TXN_COMMIT:
	case CZPG_TXN_AFTER:
		if (op->link) {
			if (czpg_fs_symlink_atomic((const char *)op->data, op->path, err, errlen) <
			    0)
				return -1;
			break;
		}
		/* The export may go to a directory that is not there yet. */
		if (op->kind != CZPG_TXN_COMMIT) {
			char *dir = czpg_provision_path_dir(op->path);
			int m = dir != NULL ? czpg_fs_mkdir_p(dir, 0755, err, errlen) : -1;

			free(dir);
			if (m < 0)
				return -1;
		}
		if (write_content(op, op->data, op->len, op->same_content, op->mode, op->uid,
				  op->gid, err, errlen) < 0)
			return -1;
		break;
	case CZPG_TXN_LINK:
		if (czpg_fs_symlink_atomic((const char *)op->data, op->path, err, errlen) < 0)
			return -1;
		break;
	case CZPG_TXN_RETIRE:
		if (czpg_fs_remove(op->path, err, errlen) < 0)
			return -1;
		break;
	case CZPG_TXN_NKINDS:
		return -1;
	}
	*changed = true;
	return 0;
}

/* The ops of the kinds in mask, in order; with check_signal, 1 as soon as one came. */
static int run_kinds(struct czpg_txn *t, unsigned mask, bool check_signal, int *done, char *err,
		     size_t errlen)
{
	size_t i;
	bool changed;

	if (done != NULL)
		*done = 0;
	for (i = 0; i < t->n; i++) {
		if ((mask & (1u << t->ops[i].kind)) == 0)
			continue;
		if (check_signal && caught != 0)
			return 1;
		if (do_op(&t->ops[i], &changed, err, errlen) < 0)
			return -1;
		if (changed && done != NULL)
			(*done)++;
	}
	return check_signal && caught != 0 ? 1 : 0;
}

int czpg_txn_creates(struct czpg_txn *t, int *done, char *err, size_t errlen)
{
	return run_kinds(t,
			 (1u << CZPG_TXN_MKDIR) | (1u << CZPG_TXN_CREATE) | (1u << CZPG_TXN_TRUST),
			 true, done, err, errlen);
}

int czpg_txn_commits(struct czpg_txn *t, int *done, char *err, size_t errlen)
{
	return run_kinds(t, 1u << CZPG_TXN_COMMIT, false, done, err, errlen);
}

int czpg_txn_after(struct czpg_txn *t, int *done, char *err, size_t errlen)
{
	return run_kinds(t,
			 (1u << CZPG_TXN_LINK) | (1u << CZPG_TXN_AFTER) | (1u << CZPG_TXN_RETIRE),
			 false, done, err, errlen);
}

static void note_add(char *note, size_t notelen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note_add(char *note, size_t notelen, const char *fmt, ...)
{
	size_t used = strlen(note);
	va_list ap;

	if (used + 1 >= notelen)
		return;
	va_start(ap, fmt);
	vsnprintf(note + used, notelen - used, fmt, ap);
	va_end(ap);
}

static const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

int czpg_txn_undo(struct czpg_txn *t, char *note, size_t notelen)
{
	size_t i;
	int failed = 0, restored = 0, removed = 0;
	char e[600], rlist[1024] = "", xlist[1024] = "", problems[1024] = "";

	/* The files the server reads first, newest first: back to what it had. */
	for (i = t->n; i-- > 0;) {
		struct czpg_txn_op *op = &t->ops[i];
		int rc;

		if ((op->kind != CZPG_TXN_COMMIT && op->kind != CZPG_TXN_TRUST) ||
		    czpg_txn_op_state(op) == CZPG_TXN_OLD)
			continue;
		if (op->old_link)
			rc = czpg_fs_symlink_atomic((const char *)op->old, op->path, e, sizeof(e));
		else if (op->old_exists)
			rc = write_content(op, op->old, op->old_len, op->same_content, op->old_mode,
					   op->old_uid, op->old_gid, e, sizeof(e));
		else
			rc = czpg_fs_remove(op->path, e, sizeof(e));
		if (rc < 0) {
			failed++;
			note_add(problems, sizeof(problems), "; could not restore %s: %s", op->path,
				 e);
		} else if (op->old_exists) {
			restored++;
			note_add(rlist, sizeof(rlist), "%s%s", restored > 1 ? ", " : "", op->path);
		} else {
			removed++;
			note_add(xlist, sizeof(xlist), "%s%s", removed > 1 ? ", " : "", op->path);
		}
	}
	/* Then the new names, which nothing names any more, and the directories made. */
	for (i = t->n; i-- > 0;) {
		struct czpg_txn_op *op = &t->ops[i];
		enum czpg_txn_state st;

		if (op->kind != CZPG_TXN_CREATE && op->kind != CZPG_TXN_MKDIR)
			continue;
		st = czpg_txn_op_state(op);
		if (st == CZPG_TXN_OLD)
			continue;
		if (op->kind == CZPG_TXN_CREATE && st == CZPG_TXN_OTHER) {
			note_add(problems, sizeof(problems),
				 "; left %s alone (its content is not this run's)", op->path);
			continue;
		}
		if ((op->kind == CZPG_TXN_CREATE ? czpg_fs_remove(op->path, e, sizeof(e))
						 : czpg_fs_rmdir(op->path, e, sizeof(e))) < 0) {
			failed++;
			note_add(problems, sizeof(problems), "; could not remove %s: %s", op->path,
				 e);
			continue;
		}
		removed++;
		note_add(xlist, sizeof(xlist), "%s%s", removed > 1 ? ", " : "", base_of(op->path));
	}
	note[0] = '\0';
	if (restored > 0)
		note_add(note, notelen, "restored %d changed file%s to %s previous content (%s)",
			 restored, restored == 1 ? "" : "s", restored == 1 ? "its" : "their",
			 rlist);
	if (removed > 0)
		note_add(note, notelen, "%sremoved %d new file%s (%s)", restored > 0 ? " and " : "",
			 removed, removed == 1 ? "" : "s", xlist);
	if (restored + removed == 0)
		note_add(note, notelen, "nothing had been written yet");
	note_add(note, notelen, "%s", problems);
	return failed;
}

/* ------------------------------------------------------------ reload and confirm */

/* s, or the setting's name when the plan has not resolved it (a recovery before planning). */
static const char *or_name(const char *s, const char *name)
{
	return s != NULL ? s : name;
}

/* What to check when the server keeps its old certificate and no log line says why. */
static void leaf_hint(const struct czpg_provision_plan *p, char *out, size_t outlen)
{
	const struct czpg_provision_record *r = &p->rec;

	snprintf(out, outlen,
		 "the server opens %s and %s (the paths as it sees them: --server-cert-dir%s); "
		 "check that it can reach them there and that the key is owned by the database "
		 "user (uid %ld) with mode 0600",
		 or_name(r->ssl_cert_file, "ssl_cert_file"),
		 or_name(r->ssl_key_file, "ssl_key_file"),
		 r->server_root != NULL ? ", --server-root" : "", p->db_uid);
}

/*
 * Why the server did not take the new certificate, from its own log line
 * when there is one: a path it cannot open is not a key owner problem.
 */
static void cert_not_loaded(const struct czpg_provision_plan *p, int sc, const char *conn_err,
			    const char *log, char *detail, size_t detlen)
{
	const struct czpg_provision_record *r = &p->rec;
	char hint[PATH_MAX * 2 + 300];
	const char *what = sc == 1   ? "still does not offer TLS"
			   : sc == 0 ? "still serves a different certificate"
				     : "could not be reached over TLS";

	if (log[0] != '\0' && (strstr(log, "could not load server certificate file") != NULL ||
			       strstr(log, "could not load root certificate file") != NULL ||
			       strstr(log, "No such file or directory") != NULL))
		snprintf(hint, sizeof(hint),
			 "the server cannot open a file at the path cz-tls.conf gives it (%s, %s, "
			 "%s as the server sees them): say where it sees --cert-dir with "
			 "--server-cert-dir or --server-root",
			 or_name(r->ssl_cert_file, "ssl_cert_file"),
			 or_name(r->ssl_key_file, "ssl_key_file"),
			 or_name(r->ssl_ca_file, "ssl_ca_file"));
	else if (log[0] != '\0' && strstr(log, "private key file") != NULL)
		snprintf(hint, sizeof(hint),
			 "the server refuses the key %s: it must be owned by the database user "
			 "(uid %ld; --db-uid) with mode 0600, or by root with mode 0640",
			 or_name(r->ssl_key_file, "ssl_key_file"), p->db_uid);
	else
		leaf_hint(p, hint, sizeof(hint));
	czpg_errf(detail, detlen,
		  "%s:%u %s after the reload: PostgreSQL did not load the new "
		  "certificate and key (%s%s%s); %s%s%s%s",
		  r->verify_host, r->verify_port, what, log[0] != '\0' ? "its log: " : "",
		  log[0] != '\0' ? log
				 : "no log line could be read; its log says \"SSL "
				   "configuration was not reloaded\"",
		  "", hint, sc < 0 ? " (" : "", sc < 0 ? conn_err : "", sc < 0 ? ")" : "");
}

enum czpg_result czpg_txn_reload(struct czpg_provision_plan *p, const struct czpg_txn *t,
				 const char *before, char *detail, size_t detlen)
{
	struct czpg_provision_record *r = &p->rec;
	char how[1200], after[128], e[1200], errors[2048], others[2048], log[1024] = "";
	uint8_t got[32];
	long long log_off = -1;
	int w, n, attempt, sc = -1;

	czpg_reload_log_offset(&p->srv, &log_off);
	if (czpg_reload_signal(&p->srv, how, sizeof(how), e, sizeof(e)) < 0) {
		czpg_errf(detail, detlen, "%s", e);
		return CZPG_RESULT_ERROR;
	}
	w = czpg_reload_wait(&p->srv, before, RELOAD_WAIT_MS, after, sizeof(after), e, sizeof(e));
	if (w < 0) {
		czpg_errf(detail, detlen, "after %s: %s", how, e);
		return CZPG_RESULT_ERROR;
	}
	n = czpg_reload_check_views(&p->srv, CZPG_PGCONF_TLS_FILE, errors, sizeof(errors), others,
				    sizeof(others), e, sizeof(e));
	if (n < 0) {
		czpg_errf(detail, detlen, "after %s: %s", how, e);
		return CZPG_RESULT_ERROR;
	}
	if (others[0] != '\0')
		czpg_provision_warn(
		    p, "the server reports errors in files provision did not write: %s", others);
	if (n > 0) {
		czpg_reload_log_since(&p->srv, log_off, log, sizeof(log));
		czpg_errf(detail, detlen,
			  "the server rejects the files as written (PostgreSQL keeps its previous "
			  "settings when a file has errors): %s%s%s",
			  errors, log[0] != '\0' ? "; its log: " : "", log);
		return CZPG_RESULT_FAIL;
	}
	if (!t->have_leaf) {
		czpg_errf(detail, detlen,
			  "%s; configuration reloaded at %s%s; pg_hba_file_rules and "
			  "pg_file_settings show no error",
			  how, after, w == 1 ? " (load time unchanged)" : "");
		return CZPG_RESULT_OK;
	}
	/* After a confirmed reload the answer is final; allow a few tries anyway. */
	for (attempt = 0; attempt < (w == 0 ? 4 : 20); attempt++) {
		sc = czpg_served_cert_sha256(r->verify_host, r->verify_port, SERVED_CERT_TIMEOUT_MS,
					     got, e, sizeof(e));
		if (sc == 0 && memcmp(got, t->leaf_sha, 32) == 0)
			break;
		usleep(250 * 1000);
	}
	if (sc != 0 || memcmp(got, t->leaf_sha, 32) != 0) {
		czpg_reload_log_since(&p->srv, log_off, log, sizeof(log));
		cert_not_loaded(p, sc, e, log, detail, detlen);
		return CZPG_RESULT_FAIL;
	}
	czpg_errf(detail, detlen,
		  "%s; configuration reloaded at %s%s; pg_hba_file_rules and pg_file_settings "
		  "show no error; %s:%u serves the leaf with serial %s",
		  how, after, w == 1 ? " (load time unchanged)" : "", r->verify_host,
		  r->verify_port, t->leaf_serial);
	return CZPG_RESULT_OK;
}

int czpg_txn_undo_and_reload(struct czpg_provision_plan *p, struct czpg_txn *t, char *note,
			     size_t notelen)
{
	char undo[1024], before[128], how[1200], e[600], after[128];
	int failed, w;

	failed = czpg_txn_undo(t, undo, sizeof(undo));
	if (czpg_reload_load_time(&p->srv, before, sizeof(before), e, sizeof(e)) < 0)
		before[0] = '\0';
	if (czpg_reload_signal(&p->srv, how, sizeof(how), e, sizeof(e)) < 0) {
		czpg_errf(note, notelen, "%s; the second reload failed: %s", undo, e);
	} else {
		w = czpg_reload_wait(&p->srv, before, RELOAD_WAIT_MS, after, sizeof(after), e,
				     sizeof(e));
		czpg_errf(note, notelen, "%s; reloaded again (%s)%s", undo, how,
			  w == 0 ? "" : ": reload not confirmed");
	}
	return failed;
}
