/*
 * provision_journal.c - the journal of a provision run, its lock, and the
 * recovery of a run that was interrupted (killed, the machine lost power).
 *
 * The journal (<cert dir>/.cz-provision.journal, 0600) is written once,
 * atomically, before the first change, and removed after the last.  It
 * holds the plan as the transaction's steps (provision_internal.h), with
 * the old and new content of every file the server reads; never a private
 * key (a new key is recorded by its hash, which is all undoing it needs).
 * How far the run got is read from the files themselves (each step's state
 * on disk), so the journal cannot disagree with them.  The next run, holding
 * the lock, either rolls the interrupted run back (it had not reached its
 * commit point: only new names exist, nothing names them) or finishes it
 * (the server's files had started to change: complete them, reload, confirm,
 * switch the names), and says which.
 *
 * Format: text lines, "czpg-provision-journal 1", then "key value" lines and
 * one "op" line per step of key=value fields; every string is hex so that
 * any path or content fits on one line.  "end" closes it.
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "czpg/buf.h"
#include "czpg/fsutil.h"
#include "czpg/pgconf.h"
#include "provision_internal.h"

#define JOURNAL_MAGIC "czpg-provision-journal 1"
#define JOURNAL_MAX_BYTES ((size_t)64 << 20)

static const char *const kind_name[CZPG_TXN_NKINDS] = {
    [CZPG_TXN_MKDIR] = "mkdir",   [CZPG_TXN_CREATE] = "create", [CZPG_TXN_TRUST] = "trust",
    [CZPG_TXN_COMMIT] = "commit", [CZPG_TXN_LINK] = "link",     [CZPG_TXN_AFTER] = "after",
    [CZPG_TXN_RETIRE] = "retire",
};

static char *journal_path(const struct czpg_provision_plan *p)
{
	return czpg_provision_path_join(p->rec.cert_dir, CZPG_PROVISION_JOURNAL_FILE);
}

/* ------------------------------------------------------------ writing */

static void put_hex(struct czpg_wbuf *w, const uint8_t *d, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (n == 0) {
		czpg_wbuf_u8(w, '-');
		return;
	}
	for (i = 0; i < n; i++) {
		czpg_wbuf_u8(w, (uint8_t)hex[d[i] >> 4]);
		czpg_wbuf_u8(w, (uint8_t)hex[d[i] & 15]);
	}
}

static void put_field(struct czpg_wbuf *w, const char *key, const uint8_t *d, size_t n)
{
	czpg_wbuf_u8(w, ' ');
	czpg_wbuf_bytes(w, key, strlen(key));
	czpg_wbuf_u8(w, '=');
	put_hex(w, d, n);
}

static void put_num(struct czpg_wbuf *w, const char *key, long long v)
{
	char tmp[64];
	int n = snprintf(tmp, sizeof(tmp), " %s=%lld", key, v);

	czpg_wbuf_bytes(w, tmp, (size_t)n);
}

int czpg_journal_write(const struct czpg_provision_plan *p, const struct czpg_txn *t, char *err,
		       size_t errlen)
{
	struct czpg_wbuf w;
	char head[512], *path = journal_path(p);
	size_t i;
	int rc = -1;

	czpg_wbuf_init(&w, 0);
	if (path == NULL) {
		czpg_errf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(head, sizeof(head), JOURNAL_MAGIC "\npid %ld\nstarted %lld\n", t->pid, t->started);
	czpg_wbuf_bytes(&w, head, strlen(head));
	czpg_wbuf_bytes(&w, "what", 4);
	put_field(&w, "text", (const uint8_t *)t->what, strlen(t->what));
	czpg_wbuf_u8(&w, '\n');
	if (t->have_leaf) {
		czpg_wbuf_bytes(&w, "leaf", 4);
		put_field(&w, "sha", t->leaf_sha, 32);
		put_field(&w, "serial", (const uint8_t *)t->leaf_serial, strlen(t->leaf_serial));
		czpg_wbuf_u8(&w, '\n');
	}
	for (i = 0; i < t->n; i++) {
		const struct czpg_txn_op *op = &t->ops[i];
		/* A key's content never goes into the journal; undoing it needs only its hash. */
		bool with_data = op->kind != CZPG_TXN_CREATE && !op->secret && !op->same_content;

		czpg_wbuf_bytes(&w, "op kind=", 8);
		czpg_wbuf_bytes(&w, kind_name[op->kind], strlen(kind_name[op->kind]));
		put_num(&w, "role", op->role);
		put_num(&w, "step", op->step);
		put_field(&w, "path", (const uint8_t *)op->path, strlen(op->path));
		put_num(&w, "mode", op->mode);
		put_num(&w, "uid", op->uid);
		put_num(&w, "gid", op->gid);
		put_field(&w, "sha", op->sha, 32);
		put_num(&w, "secret", op->secret);
		put_num(&w, "link", op->link);
		put_num(&w, "same", op->same_content);
		put_field(&w, "data", with_data ? op->data : NULL, with_data ? op->len : 0);
		put_num(&w, "len", (long long)op->len);
		if (op->kind == CZPG_TXN_COMMIT || op->kind == CZPG_TXN_TRUST) {
			put_num(&w, "old", op->old_exists);
			put_num(&w, "olink", op->old_link);
			put_num(&w, "omode", op->old_mode);
			put_num(&w, "ouid", op->old_uid);
			put_num(&w, "ogid", op->old_gid);
			put_field(&w, "osha", op->old_sha, 32);
			put_field(&w, "odata", with_data ? op->old : NULL,
				  with_data ? op->old_len : 0);
		}
		czpg_wbuf_u8(&w, '\n');
	}
	czpg_wbuf_bytes(&w, "end\n", 4);
	if (w.err) {
		czpg_errf(err, errlen, "out of memory writing the journal");
		goto out;
	}
	if (czpg_fs_write_atomic(path, w.data, w.len, 0600, p->me_uid, p->me_gid, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	czpg_wbuf_free(&w);
	free(path);
	return rc;
}

int czpg_journal_remove(const struct czpg_provision_plan *p, char *err, size_t errlen)
{
	char *path = journal_path(p);
	int rc;

	if (path == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return -1;
	}
	rc = czpg_fs_remove(path, err, errlen);
	free(path);
	return rc;
}

/* ------------------------------------------------------------ reading */

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes hex (or "-" for empty) into a fresh NUL-terminated buffer.  0 or -1. */
static int get_hex(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	size_t i;
	uint8_t *b;

	*out = NULL;
	*outlen = 0;
	if (n == 1 && s[0] == '-')
		n = 0;
	if (n % 2 != 0)
		return -1;
	b = malloc(n / 2 + 1);
	if (b == NULL)
		return -1;
	for (i = 0; i < n / 2; i++) {
		int hi = unhex((unsigned char)s[2 * i]), lo = unhex((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(b);
			return -1;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	b[n / 2] = '\0';
	*out = b;
	*outlen = n / 2;
	return 0;
}

/* The value of key in a line of " key=value" fields: pointer and length, or NULL. */
static const char *field(const char *line, const char *key, size_t *n)
{
	size_t kl = strlen(key);
	const char *p = line;

	while ((p = strchr(p, ' ')) != NULL) {
		p++;
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			*n = strcspn(p + kl + 1, " \n");
			return p + kl + 1;
		}
	}
	return NULL;
}

static bool get_num(const char *line, const char *key, long long *v)
{
	size_t n;
	const char *s = field(line, key, &n);
	char *end;

	if (s == NULL)
		return false;
	*v = strtoll(s, &end, 10);
	return end == s + n && n > 0;
}

static bool get_sha(const char *line, const char *key, uint8_t sha[32])
{
	size_t n, len;
	const char *s = field(line, key, &n);
	uint8_t *b = NULL;
	bool ok;

	if (s == NULL || get_hex(s, n, &b, &len) < 0)
		return false;
	ok = len == 32;
	if (ok)
		memcpy(sha, b, 32);
	free(b);
	return ok;
}

static bool get_bytes(const char *line, const char *key, uint8_t **out, size_t *len)
{
	size_t n;
	const char *s = field(line, key, &n);

	return s != NULL && get_hex(s, n, out, len) == 0;
}

static int parse_op(const char *line, struct czpg_txn_op *op)
{
	long long v;
	size_t n, k;
	const char *kind = field(line, "kind", &n);

	memset(op, 0, sizeof(*op));
	if (kind == NULL)
		return -1;
	for (k = 0; k < CZPG_TXN_NKINDS; k++)
		if (strlen(kind_name[k]) == n && strncmp(kind, kind_name[k], n) == 0)
			break;
	if (k == CZPG_TXN_NKINDS)
		return -1;
	op->kind = (enum czpg_txn_kind)k;
	if (!get_num(line, "role", &v) || v < 0 || v >= CZPG_PROVISION_NROLES)
		return -1;
	op->role = (enum czpg_provision_role)v;
	if (!get_num(line, "step", &v) || v < 0 || v >= CZPG_PROVISION_NSTEPS)
		return -1;
	op->step = (enum czpg_provision_step)v;
	if (!get_bytes(line, "path", (uint8_t **)&op->path, &n) || n == 0 ||
	    memchr(op->path, '\0', n) != NULL || op->path[0] != '/')
		return -1;
	if (!get_num(line, "mode", &v))
		return -1;
	op->mode = (mode_t)v;
	if (!get_num(line, "uid", &v))
		return -1;
	op->uid = (long)v;
	if (!get_num(line, "gid", &v))
		return -1;
	op->gid = (long)v;
	if (!get_sha(line, "sha", op->sha) || !get_num(line, "secret", &v))
		return -1;
	op->secret = v != 0;
	if (!get_num(line, "link", &v))
		return -1;
	op->link = v != 0;
	if (!get_num(line, "same", &v))
		return -1;
	op->same_content = v != 0;
	if (!get_bytes(line, "data", &op->data, &op->len) || !get_num(line, "len", &v))
		return -1;
	if (op->len == 0 && v > 0) {
		/* content not journaled (a key, a new file): only its hash */
		free(op->data);
		op->data = NULL;
	}
	op->len = (size_t)v;
	if (op->kind == CZPG_TXN_COMMIT || op->kind == CZPG_TXN_TRUST) {
		if (!get_num(line, "old", &v))
			return -1;
		op->old_exists = v != 0;
		if (!get_num(line, "olink", &v))
			return -1;
		op->old_link = v != 0;
		if (!get_num(line, "omode", &v))
			return -1;
		op->old_mode = (mode_t)v;
		if (!get_num(line, "ouid", &v))
			return -1;
		op->old_uid = (long)v;
		if (!get_num(line, "ogid", &v))
			return -1;
		op->old_gid = (long)v;
		if (!get_sha(line, "osha", op->old_sha) ||
		    !get_bytes(line, "odata", &op->old, &op->old_len))
			return -1;
		/* a COMMIT must be able to go both ways */
		if (!op->same_content && (op->data == NULL || (op->old_exists && op->old == NULL)))
			return -1;
	}
	if ((op->kind == CZPG_TXN_LINK || op->kind == CZPG_TXN_AFTER ||
	     op->kind == CZPG_TXN_TRUST) &&
	    op->data == NULL)
		return -1;
	return 0;
}

int czpg_journal_read(const char *path, struct czpg_txn *t, char *err, size_t errlen)
{
	uint8_t *text = NULL;
	size_t len = 0;
	char *line, *save = NULL, e[600];
	unsigned lineno = 0;
	bool ended = false;
	int rc, r;

	memset(t, 0, sizeof(*t));
	r = czpg_fs_read_file(path, JOURNAL_MAX_BYTES, &text, &len, e, sizeof(e));
	if (r == 1)
		return 1;
	if (r < 0) {
		czpg_errf(err, errlen, "%s", e);
		return -1;
	}
	rc = -1;
	for (line = strtok_r((char *)text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (ended)
			goto bad;
		if (lineno == 1) {
			if (strcmp(line, JOURNAL_MAGIC) != 0)
				goto bad;
		} else if (strncmp(line, "pid ", 4) == 0) {
			t->pid = strtol(line + 4, NULL, 10);
		} else if (strncmp(line, "started ", 8) == 0) {
			t->started = strtoll(line + 8, NULL, 10);
		} else if (strncmp(line, "what ", 5) == 0) {
			uint8_t *w = NULL;
			size_t n;

			if (!get_bytes(line, "text", &w, &n))
				goto bad;
			snprintf(t->what, sizeof(t->what), "%s", (const char *)w);
			free(w);
		} else if (strncmp(line, "leaf ", 5) == 0) {
			uint8_t *s = NULL;
			size_t n;

			if (!get_sha(line, "sha", t->leaf_sha) ||
			    !get_bytes(line, "serial", &s, &n))
				goto bad;
			snprintf(t->leaf_serial, sizeof(t->leaf_serial), "%s", (const char *)s);
			free(s);
			t->have_leaf = true;
		} else if (strncmp(line, "op ", 3) == 0) {
			if (t->n >= CZPG_PROVISION_MAX_FILES)
				goto bad;
			if (parse_op(line, &t->ops[t->n]) < 0) {
				/* count it so that its strings are freed */
				t->n++;
				goto bad;
			}
			t->n++;
		} else if (strcmp(line, "end") == 0) {
			ended = true;
		} else {
			goto bad;
		}
	}
	if (!ended)
		goto bad;
	rc = 0;
	goto out;
bad:
	czpg_errf(err, errlen, "%s line %u cannot be read: the journal is damaged", path,
		  lineno == 0 ? 1 : lineno);
	czpg_txn_clear(t);
out:
	free(text);
	return rc;
}

int czpg_provision_journal_info(const char *cert_dir, long *pid, long long *started, char *what,
				size_t whatlen, char *err, size_t errlen)
{
	char *path = czpg_provision_path_join(cert_dir, CZPG_PROVISION_JOURNAL_FILE);
	struct czpg_txn t;
	int rc;

	if (path == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return -1;
	}
	rc = czpg_journal_read(path, &t, err, errlen);
	free(path);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	*pid = t.pid;
	*started = t.started;
	snprintf(what, whatlen, "%s", t.what);
	czpg_txn_clear(&t);
	return 1;
}

/* ------------------------------------------------------------ recovery */

static void append(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, cap - used, fmt, ap);
	va_end(ap);
}

/* Which temporary names may be removed in a directory provision writes in. */
struct managed_names {
	const char *names[4];
	size_t n;
};

static bool is_managed(const char *name, void *arg)
{
	const struct managed_names *m = arg;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(name, m->names[i]) == 0)
			return true;
	return false;
}

/* Every ".<name>.tmp-XXXXXX" an interrupted run can have left, in the places it writes. */
static int remove_stale(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	const char *files[] = {r->conf_path, r->hba_path, r->pgconf_path, r->export_ca};
	char found[1024] = "", one[1024], target[PATH_MAX];
	size_t i;
	int total = 0, n;

	/* The cert dir holds nothing but provision's files: any temporary name there. */
	n = czpg_fs_remove_stale_temps(r->cert_dir, NULL, NULL, one, sizeof(one), err, errlen);
	if (n < 0)
		return -1;
	total += n;
	snprintf(found, sizeof(found), "%s", one);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct managed_names m = {{NULL}, 1};
		char *dir;
		const char *base;

		if (files[i] == NULL)
			continue;
		if (czpg_fs_resolve_link(files[i], target, sizeof(target), NULL, 0) < 0)
			snprintf(target, sizeof(target), "%s", files[i]);
		base = strrchr(target, '/');
		m.names[0] = base != NULL ? base + 1 : target;
		dir = czpg_provision_path_dir(target);
		if (dir == NULL)
			continue;
		n = czpg_fs_remove_stale_temps(dir, is_managed, &m, one, sizeof(one), err, errlen);
		free(dir);
		if (n < 0)
			return -1;
		if (n > 0)
			append(found, sizeof(found), "%s%s", found[0] != '\0' ? ", " : "", one);
		total += n;
	}
	if (total > 0)
		czpg_errf(r->stale_note, sizeof(r->stale_note),
			  "removed %d temporary file%s an interrupted run left: %s", total,
			  total == 1 ? "" : "s", found);
	return 0;
}

/* "the run of pid N (transition mode, started 2026-...)" */
static void describe_run(const struct czpg_txn *t, const char *journal, char *out, size_t outlen)
{
	char when[64] = "an unknown time";
	time_t s = (time_t)t->started;
	struct tm tm;

	if (t->started > 0 && gmtime_r(&s, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(out, outlen, "the provision run of pid %ld (%s, started %s; journal %s)", t->pid,
		 t->what, when, journal);
}

/*
 * Carries the interrupted transaction t to its end: roll back before the
 * commit point, finish after it.  Says which in rec.recovery_note.
 */
static enum czpg_result recover_txn(struct czpg_provision_plan *p, struct czpg_txn *t,
				    const char *journal, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	char who[PATH_MAX + 400], note[1024], e[2048], detail[2048], before[128];
	bool committed = false, after = false;
	unsigned version;
	size_t i;
	int done = 0;
	enum czpg_result rc;

	describe_run(t, journal, who, sizeof(who));
	for (i = 0; i < t->n; i++) {
		enum czpg_txn_state st = czpg_txn_op_state(&t->ops[i]);

		if ((t->ops[i].kind == CZPG_TXN_COMMIT || t->ops[i].kind == CZPG_TXN_TRUST) &&
		    st == CZPG_TXN_OTHER) {
			czpg_errf(
			    err, errlen,
			    "%s was interrupted, and %s has changed since (it is neither what "
			    "the run found nor what it wrote): nothing was changed; restore "
			    "the file, or remove %s if the change is wanted, then run again",
			    who, t->ops[i].path, journal);
			return CZPG_RESULT_ERROR;
		}
		if (t->ops[i].kind == CZPG_TXN_COMMIT && st == CZPG_TXN_NEW)
			committed = true;
		if ((t->ops[i].kind == CZPG_TXN_LINK || t->ops[i].kind == CZPG_TXN_AFTER ||
		     t->ops[i].kind == CZPG_TXN_RETIRE) &&
		    st == CZPG_TXN_NEW)
			after = true;
	}
	if (!committed && !after) {
		/* Only new names exist, and nothing names them: remove them. */
		if (czpg_txn_undo(t, note, sizeof(note)) > 0) {
			czpg_errf(err, errlen,
				  "%s was interrupted before its commit point; rolling "
				  "it back failed: %s",
				  who, note);
			return CZPG_RESULT_ERROR;
		}
		if (czpg_journal_remove(p, e, sizeof(e)) < 0) {
			czpg_errf(err, errlen, "%s", e);
			return CZPG_RESULT_ERROR;
		}
		czpg_errf(r->recovery_note, sizeof(r->recovery_note),
			  "rolled back %s: it was interrupted before its commit point, so the "
			  "server's files were untouched; %s",
			  who, note);
		return CZPG_RESULT_OK;
	}
	if (!after) {
		/* The server's files had started to change: complete them, reload, confirm. */
		if (czpg_txn_commits(t, &done, e, sizeof(e)) < 0) {
			czpg_errf(err, errlen,
				  "%s was interrupted after its commit point; finishing "
				  "it failed: %s; run again",
				  who, e);
			return CZPG_RESULT_ERROR;
		}
		if (czpg_reload_server_version(&p->srv, &version, before, sizeof(before), e,
					       sizeof(e)) < 0) {
			czpg_errf(
			    err, errlen,
			    "%s was interrupted after its commit point; finishing it needs the "
			    "server: %s; nothing else was changed, run again when it answers",
			    who, e);
			return CZPG_RESULT_ERROR;
		}
		rc = czpg_txn_reload(p, t, before, detail, sizeof(detail));
		if (rc == CZPG_RESULT_ERROR) {
			czpg_errf(err, errlen,
				  "%s was interrupted after its commit point; finishing "
				  "it: %s; run again",
				  who, detail);
			return CZPG_RESULT_ERROR;
		}
		if (rc == CZPG_RESULT_FAIL) {
			czpg_txn_undo_and_reload(p, t, note, sizeof(note));
			czpg_journal_remove(p, NULL, 0);
			czpg_errf(
			    err, errlen,
			    "%s was interrupted after its commit point; finishing it, %s; so it "
			    "was rolled back: %s",
			    who, detail, note);
			return CZPG_RESULT_FAIL;
		}
	}
	if (czpg_txn_after(t, &done, e, sizeof(e)) < 0 ||
	    czpg_journal_remove(p, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen,
			  "%s was interrupted after its commit point; finishing it: %s; "
			  "run again",
			  who, e);
		return CZPG_RESULT_ERROR;
	}
	czpg_errf(r->recovery_note, sizeof(r->recovery_note),
		  "finished %s: it was interrupted after its commit point, so its change was "
		  "completed%s%s",
		  who, after ? " (the server had already taken it)" : ": ", after ? "" : detail);
	return CZPG_RESULT_OK;
}

enum czpg_result czpg_journal_recover(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_txn t;
	char *lock = NULL, *journal = NULL, e[1200];
	long holder = 0;
	enum czpg_result rc = CZPG_RESULT_ERROR;
	int lr;

	{
		struct czpg_fs_info info;

		p->made_cert_dir =
		    czpg_fs_file_info(r->cert_dir, &info, NULL, 0) == 0 && !info.exists;
	}
	if (czpg_fs_mkdir_p(r->cert_dir, 0755, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "--cert-dir: %s", e);
		return CZPG_RESULT_ERROR;
	}
	lock = czpg_provision_path_join(r->cert_dir, CZPG_PROVISION_LOCK_FILE);
	journal = czpg_provision_path_join(r->cert_dir, CZPG_PROVISION_JOURNAL_FILE);
	if (lock == NULL || journal == NULL) {
		czpg_errf(err, errlen, "out of memory");
		goto out;
	}
	lr = czpg_fs_lock_acquire(lock, CZPG_PROVISION_LOCK_WAIT_MS, &p->lock_fd, &holder, e,
				  sizeof(e));
	if (lr < 0) {
		czpg_errf(err, errlen, "%s", e);
		goto out;
	}
	if (lr == 1) {
		char pid[32] = "";

		if (holder > 0)
			snprintf(pid, sizeof(pid), " (pid %ld)", holder);
		czpg_errf(err, errlen,
			  "another provision run%s holds the lock on %s; waited %d s; nothing was "
			  "changed: run again when it has finished",
			  pid, lock, CZPG_PROVISION_LOCK_WAIT_MS / 1000);
		goto out;
	}
	if (remove_stale(p, err, errlen) < 0)
		goto out;
	switch (czpg_journal_read(journal, &t, e, sizeof(e))) {
	case 1:
		rc = CZPG_RESULT_OK;
		goto out;
	case -1:
		czpg_errf(
		    err, errlen,
		    "an interrupted provision run left %s, which cannot be read (%s): nothing "
		    "was changed; look at it and remove it, then run again",
		    journal, e);
		goto out;
	default:
		break;
	}
	rc = recover_txn(p, &t, journal, err, errlen);
	czpg_txn_clear(&t);
out:
	free(lock);
	free(journal);
	return rc;
}
