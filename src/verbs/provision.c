/*
 * provision.c - `czctl postgres tls provision`: the plan object and its
 * entry point (see czpg/provision.h), the planning of the configuration
 * files (postgresql.conf's include_dir, <conf.d>/cz-tls.conf, pg_hba.conf's
 * managed block, the exported CA), and the transaction built from the plan.
 *
 * The plan holds the complete new content of every file before anything is
 * written, so the dry run can print exactly that, the journal can hold it,
 * and --apply can restore every previous file byte for byte when the server
 * rejects what was written.  The other pieces: provision_inputs.c (options,
 * paths, the server), provision_certs.c (certificates and their names),
 * provision_txn.c and provision_journal.c (the transaction, the journal, the
 * lock, recovery), provision_apply.c (the apply as the report prints it);
 * the printers are in src/report/provision_report.c.
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "czpg/buf.h"
#include "czpg/fsutil.h"
#include "czpg/pgconf.h"
#include "czpg/pki.h"
#include "provision_internal.h"

/* Largest current file read into the plan. */
#define PLAN_MAX_FILE_BYTES ((size_t)16 << 20)

/* Where each role's file is written, when, and whether its content may be printed. */
static const struct {
	enum czpg_provision_step step;
	enum czpg_provision_phase phase;
	bool secret; /* a private key */
	bool cert;   /* a certificate: the dry run summarises it */
} role_info[CZPG_PROVISION_NROLES] = {
    [CZPG_PROVISION_ROLE_CA_KEY] = {CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_PHASE_CREATE, true,
				    false},
    [CZPG_PROVISION_ROLE_CA_CERT] = {CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_PHASE_CREATE, false,
				     true},
    [CZPG_PROVISION_ROLE_PREV_CA] = {CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_PHASE_CREATE, false,
				     true},
    [CZPG_PROVISION_ROLE_LEAF_KEY] = {CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_PHASE_CREATE, true,
				      false},
    [CZPG_PROVISION_ROLE_LEAF_CERT] = {CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_PHASE_CREATE,
				       false, true},
    [CZPG_PROVISION_ROLE_BUNDLE] = {CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_PHASE_CREATE, false,
				    false},
    [CZPG_PROVISION_ROLE_CONF_DIR] = {CZPG_PROVISION_STEP_CONF, CZPG_PROVISION_PHASE_CREATE, false,
				      false},
    [CZPG_PROVISION_ROLE_PGCONF] = {CZPG_PROVISION_STEP_CONF, CZPG_PROVISION_PHASE_COMMIT, false,
				    false},
    [CZPG_PROVISION_ROLE_TLS_CONF] = {CZPG_PROVISION_STEP_CONF, CZPG_PROVISION_PHASE_COMMIT, false,
				      false},
    [CZPG_PROVISION_ROLE_HBA] = {CZPG_PROVISION_STEP_HBA, CZPG_PROVISION_PHASE_COMMIT, false,
				 false},
    [CZPG_PROVISION_ROLE_LINK_CA_KEY] = {CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PHASE_AFTER,
					 false, false},
    [CZPG_PROVISION_ROLE_LINK_CA_CERT] = {CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PHASE_AFTER,
					  false, false},
    [CZPG_PROVISION_ROLE_LINK_PREV_CA] = {CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PHASE_AFTER,
					  false, false},
    [CZPG_PROVISION_ROLE_LINK_LEAF_KEY] = {CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PHASE_AFTER,
					   false, false},
    [CZPG_PROVISION_ROLE_LINK_LEAF_CERT] = {CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PHASE_AFTER,
					    false, false},
    [CZPG_PROVISION_ROLE_LINK_BUNDLE] = {CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PHASE_TRUST,
					 false, false},
    [CZPG_PROVISION_ROLE_EXPORT] = {CZPG_PROVISION_STEP_EXPORT, CZPG_PROVISION_PHASE_TRUST, false,
				    false},
    [CZPG_PROVISION_ROLE_RETIRE] = {CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PHASE_AFTER, false,
				    false},
};

void czpg_provision_warn(struct czpg_provision_plan *p, const char *fmt, ...)
{
	struct czpg_provision_record *r = &p->rec;
	va_list ap;

	if (r->nwarn >= CZPG_PROVISION_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(r->warnings[r->nwarn++], sizeof(r->warnings[0]), fmt, ap);
	va_end(ap);
}

void czpg_provision_note(struct czpg_provision_plan *p, const char *fmt, ...)
{
	struct czpg_provision_record *r = &p->rec;
	va_list ap;

	if (r->nnotes >= sizeof(r->notes) / sizeof(r->notes[0]))
		return;
	va_start(ap, fmt);
	vsnprintf(r->notes[r->nnotes++], sizeof(r->notes[0]), fmt, ap);
	va_end(ap);
}

void czpg_provision_note_dir_link(struct czpg_provision_plan *p, const char *what, const char *dir)
{
	char target[PATH_MAX];

	if (czpg_fs_resolve_link(dir, target, sizeof(target), NULL, 0) == 1)
		czpg_provision_note(p,
				    "the %s %s is a symbolic link to %s: the files are written "
				    "there, the link is kept",
				    what, dir, target);
}

char *czpg_provision_path_join(const char *dir, const char *name)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name) < 0)
		return NULL;
	return s;
}

char *czpg_provision_path_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static void file_clear(struct czpg_provision_file *f)
{
	if (f->data != NULL && f->secret)
		OPENSSL_cleanse(f->data, f->len);
	if (f->old != NULL && f->secret)
		OPENSSL_cleanse(f->old, f->old_len);
	free(f->data);
	free(f->old);
	free(f->path);
	free(f->write_path);
	free(f->diff);
	free(f->cert);
	memset(f, 0, sizeof(*f));
}

/* Does dir hold nothing but the lock file? */
static bool only_the_lock(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool only = d != NULL;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, CZPG_PROVISION_LOCK_FILE) != 0)
			only = false;
	if (d != NULL)
		closedir(d);
	return only;
}

/*
 * The lock goes at the end.  A run that made the cert dir for its lock and
 * leaves nothing in it (bad input, a rollback) removes both: it changed
 * nothing.
 */
static void release_lock(struct czpg_provision_plan *p)
{
	char *lock;

	if (p->lock_fd < 0)
		return;
	if (p->made_cert_dir && only_the_lock(p->rec.cert_dir) &&
	    (lock = czpg_provision_path_join(p->rec.cert_dir, CZPG_PROVISION_LOCK_FILE)) != NULL) {
		czpg_fs_lock_discard(lock, p->lock_fd);
		rmdir(p->rec.cert_dir);
		free(lock);
	} else {
		czpg_fs_lock_release(p->lock_fd);
	}
	p->lock_fd = -1;
}

void czpg_provision_plan_free(struct czpg_provision_plan *p)
{
	struct czpg_provision_record *r;
	size_t i;

	if (p == NULL)
		return;
	r = &p->rec;
	for (i = 0; i < r->nfiles; i++)
		file_clear(&r->files[i]);
	czpg_txn_clear(&p->txn);
	release_lock(p);
	czpg_hba_plan_free(p->hba);
	free(r->cert_dir);
	free(r->server_cert_dir);
	free(r->ssl_cert_file);
	free(r->ssl_key_file);
	free(r->ssl_ca_file);
	free(r->conf_dir);
	free(r->pgconf_path);
	free(r->hba_path);
	free(r->conf_path);
	free(r->export_ca);
	free(p->pgdata);
	free(r->bundle_path);
	OPENSSL_cleanse(&r->vres, sizeof(r->vres));
	free(p);
}

/* Reads what is at path now into f: 0 read, 1 missing, -1 error (err set). */
static int read_current(const char *path, size_t max, struct czpg_provision_file *f, char *err,
			size_t errlen)
{
	struct czpg_fs_info info;
	int rc;

	if (czpg_fs_file_info(path, &info, err, errlen) < 0)
		return -1;
	if (!info.exists)
		return 1;
	if (!info.is_regular) {
		czpg_errf(err, errlen, "%s exists and is not a regular file", path);
		return -1;
	}
	rc = czpg_fs_read_file(path, max, &f->old, &f->old_len, err, errlen);
	if (rc != 0)
		return rc < 0 ? -1 : 1;
	f->old_exists = true;
	f->old_mode = info.mode;
	f->old_uid = info.uid;
	f->old_gid = info.gid;
	return 0;
}

/*
 * What the dry run shows of f, computed here so that the printers only read
 * data: the diff against the current file, and what a certificate holds.
 */
static void describe_file(struct czpg_provision_file *f)
{
	struct czpg_wbuf diff;
	X509 *x = NULL;

	if (f->action == CZPG_PROVISION_REPLACE && !f->secret) {
		czpg_wbuf_init(&diff, 0);
		if (czpg_fs_unified_diff(f->old, f->old_len, f->data, f->len, f->path, f->path,
					 &diff) > 0 &&
		    czpg_wbuf_u8(&diff, 0) == 0) {
			f->diff = (char *)diff.data;
			f->diff_len = diff.len - 1;
			diff.data = NULL;
		}
		czpg_wbuf_free(&diff);
	}
	if (role_info[f->role].cert) {
		f->cert = malloc(sizeof(*f->cert));
		if (f->cert != NULL && (czpg_pki_cert_from_pem(f->data, f->len, &x, NULL, 0) < 0 ||
					czpg_certinfo_read(x, time(NULL), f->cert, NULL, 0) < 0)) {
			free(f->cert);
			f->cert = NULL;
		}
		X509_free(x);
	}
}

/* The next free file of the plan, with its role's facts and path; NULL (err set) when full. */
static struct czpg_provision_file *new_file(struct czpg_provision_plan *p,
					    enum czpg_provision_role role, const char *path,
					    char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_provision_file *f;

	if (r->nfiles >= CZPG_PROVISION_MAX_FILES) {
		czpg_errf(err, errlen, "too many files in the plan");
		return NULL;
	}
	f = &r->files[r->nfiles++];
	f->role = role;
	f->step = role_info[role].step;
	f->phase = role_info[role].phase;
	f->secret = role_info[role].secret;
	f->path = strdup(path);
	f->write_path = strdup(path);
	if (f->path == NULL || f->write_path == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return NULL;
	}
	return f;
}

enum czpg_result czpg_provision_add_file(struct czpg_provision_plan *p,
					 enum czpg_provision_role role, const char *path,
					 const void *data, size_t len, mode_t mode, long uid,
					 long gid, char *err, size_t errlen)
{
	struct czpg_provision_file *f = new_file(p, role, path, err, errlen);
	char target[PATH_MAX];
	int link;

	if (f == NULL)
		return CZPG_RESULT_ERROR;
	f->data = malloc(len + 1);
	if (f->data == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return CZPG_RESULT_ERROR;
	}
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	f->mode = mode;
	f->uid = uid;
	f->gid = gid;
	/* A symbolic link is written through: the file it names changes, the link stays. */
	link = czpg_fs_resolve_link(path, target, sizeof(target), err, errlen);
	if (link < 0)
		return CZPG_RESULT_BAD_INPUT;
	if (link == 1) {
		free(f->write_path);
		f->write_path = strdup(target);
		if (f->write_path == NULL) {
			czpg_errf(err, errlen, "out of memory");
			return CZPG_RESULT_ERROR;
		}
		czpg_provision_note(p,
				    "%s is a symbolic link to %s: the file it names is rewritten, "
				    "the link is kept",
				    path, target);
	}
	if (read_current(f->write_path, PLAN_MAX_FILE_BYTES, f, err, errlen) < 0)
		return CZPG_RESULT_ERROR;
	if (!f->old_exists)
		f->action = CZPG_PROVISION_CREATE;
	else if (f->old_len != len || memcmp(f->old, data, len) != 0)
		f->action = CZPG_PROVISION_REPLACE;
	else if (f->old_mode != mode || (long)f->old_uid != uid || (long)f->old_gid != gid)
		f->action = CZPG_PROVISION_FIX_PERMS;
	else
		f->action = CZPG_PROVISION_UNCHANGED;
	describe_file(f);
	return CZPG_RESULT_OK;
}

enum czpg_result czpg_provision_add_link(struct czpg_provision_plan *p,
					 enum czpg_provision_role role, const char *path,
					 const char *target, char *err, size_t errlen)
{
	struct czpg_provision_file *f = new_file(p, role, path, err, errlen);
	char cur[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (f == NULL)
		return CZPG_RESULT_ERROR;
	f->is_link = target != NULL;
	f->data = (uint8_t *)strdup(target != NULL ? target : "");
	if (f->data == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return CZPG_RESULT_ERROR;
	}
	f->len = strlen((const char *)f->data);
	f->mode = 0777;
	f->uid = f->gid = -1;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR) {
			czpg_errf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
			return CZPG_RESULT_ERROR;
		}
		f->action = target != NULL ? CZPG_PROVISION_CREATE : CZPG_PROVISION_UNCHANGED;
		return CZPG_RESULT_OK;
	}
	f->old_exists = true;
	f->old_mode = st.st_mode & 07777;
	f->old_uid = st.st_uid;
	f->old_gid = st.st_gid;
	if (target == NULL) {
		f->action = CZPG_PROVISION_REMOVE;
		return CZPG_RESULT_OK;
	}
	if (S_ISLNK(st.st_mode) && (n = readlink(path, cur, sizeof(cur) - 1)) >= 0) {
		cur[n] = '\0';
		f->old = (uint8_t *)strdup(cur);
		f->old_len = (size_t)n;
		f->old_link = true;
		f->action =
		    strcmp(cur, target) == 0 ? CZPG_PROVISION_UNCHANGED : CZPG_PROVISION_REPLACE;
		return CZPG_RESULT_OK;
	}
	if (!S_ISREG(st.st_mode)) {
		czpg_errf(err, errlen, "%s exists and is neither a file nor a symbolic link", path);
		return CZPG_RESULT_BAD_INPUT;
	}
	f->action = CZPG_PROVISION_REPLACE; /* a file of an earlier czctl becomes a link */
	/* A link switched before the commit point can be undone: keep what it replaces. */
	if (f->phase == CZPG_PROVISION_PHASE_TRUST &&
	    czpg_fs_read_file(path, PLAN_MAX_FILE_BYTES, &f->old, &f->old_len, err, errlen) != 0)
		return CZPG_RESULT_ERROR;
	return CZPG_RESULT_OK;
}

/* A directory the apply creates (before anything is written into it). */
static enum czpg_result add_dir(struct czpg_provision_plan *p, enum czpg_provision_role role,
				const char *path, mode_t mode, long uid, long gid, char *err,
				size_t errlen)
{
	struct czpg_provision_file *f = new_file(p, role, path, err, errlen);

	if (f == NULL)
		return CZPG_RESULT_ERROR;
	f->is_dir = true;
	f->data = (uint8_t *)strdup("");
	if (f->data == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return CZPG_RESULT_ERROR;
	}
	f->mode = mode;
	f->uid = uid;
	f->gid = gid;
	f->action = CZPG_PROVISION_CREATE;
	return CZPG_RESULT_OK;
}

struct czpg_provision_file *czpg_provision_file_of(struct czpg_provision_plan *p,
						   enum czpg_provision_role role)
{
	size_t i;

	for (i = 0; i < p->rec.nfiles; i++)
		if (p->rec.files[i].role == role)
			return &p->rec.files[i];
	return NULL;
}

void czpg_provision_set_password(struct czpg_provision_plan *p, const char *password)
{
	p->o.password = password;
}

size_t czpg_provision_plan_changes(const struct czpg_provision_plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->rec.nfiles; i++)
		if (p->rec.files[i].action != CZPG_PROVISION_UNCHANGED)
			n++;
	return n;
}

const struct czpg_provision_record *czpg_provision_plan_record(const struct czpg_provision_plan *p)
{
	return &p->rec;
}

/* ------------------------------------------------------------ config files */

/* Are a and b the same directory once every symbolic link is followed? */
static bool same_dir_real(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	return realpath(a, ra) != NULL && realpath(b, rb) != NULL && strcmp(ra, rb) == 0;
}

static void put_line(struct czpg_wbuf *w, const char *line)
{
	czpg_wbuf_bytes(w, line, strlen(line));
	czpg_wbuf_u8(w, '\n');
}

/* The 1-based number of the line after the last one of text (what an appended line gets). */
static unsigned next_line_number(const uint8_t *text, size_t len)
{
	unsigned n = 1;
	size_t i;

	for (i = 0; i < len; i++)
		if (text[i] == '\n')
			n++;
	return len > 0 && text[len - 1] != '\n' ? n + 1 : n;
}

/*
 * postgresql.conf must read the conf dir.  It does, or --add-include-dir
 * adds the line -- after the directory exists: PostgreSQL refuses a
 * configuration whose include_dir names a missing directory, on reload and
 * on restart alike.
 */
static enum czpg_result plan_include(struct czpg_provision_plan *p, const uint8_t *text, size_t len,
				     char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_pgconf_check chk = {0};
	struct czpg_fs_info info, dinfo;
	struct czpg_wbuf w;
	char *confdir = NULL, e[1200];
	size_t i;
	enum czpg_result rc = CZPG_RESULT_BAD_INPUT;

	czpg_wbuf_init(&w, 0);
	/* PostgreSQL resolves a relative include_dir against the file's directory as named. */
	confdir = czpg_provision_path_dir(r->pgconf_path);
	if (confdir == NULL) {
		czpg_errf(err, errlen, "out of memory");
		goto out;
	}
	if (czpg_pgconf_check_include((const char *)text, len, confdir, r->conf_dir, same_dir_real,
				      &chk, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s: %s", r->pgconf_path, e);
		goto out;
	}
	if (czpg_fs_file_info(r->conf_dir, &dinfo, e, sizeof(e)) < 0 ||
	    czpg_fs_file_info(r->pgconf_path, &info, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s", e);
		goto out;
	}
	if (dinfo.exists && !dinfo.is_dir) {
		czpg_errf(err, errlen, "the conf dir %s exists and is not a directory",
			  r->conf_dir);
		goto out;
	}
	if (!chk.included && !p->o.add_include_dir) {
		if (dinfo.exists)
			czpg_errf(err, errlen,
				  "%s does not include %s, so PostgreSQL would never read "
				  "cz-tls.conf: add this line at its end, then run again:  %s  (or "
				  "run again with --add-include-dir, which adds it)",
				  r->pgconf_path, r->conf_dir, chk.line_to_add);
		else
			czpg_errf(
			    err, errlen,
			    "%s does not include %s, so PostgreSQL would never read "
			    "cz-tls.conf, and %s does not exist: run again with "
			    "--add-include-dir (it creates the directory, then adds the line), "
			    "or do it yourself in this order, since PostgreSQL refuses an "
			    "include_dir whose directory is missing (a reload is rejected, a "
			    "restart fails):  install -d -m 0700 -o %ld -g %ld %s  then add "
			    "this line at the end of %s:  %s  then run again",
			    r->pgconf_path, r->conf_dir, r->conf_dir, p->db_uid, p->db_gid,
			    r->conf_dir, r->pgconf_path, chk.line_to_add);
		goto out;
	}
	if (!dinfo.exists) {
		char *parent = czpg_provision_path_dir(r->conf_dir);
		struct czpg_fs_info pi;
		bool ok = parent != NULL && czpg_fs_file_info(parent, &pi, NULL, 0) == 0 &&
			  pi.exists && pi.is_dir;

		free(parent);
		if (!ok) {
			czpg_errf(err, errlen,
				  "the parent directory of the conf dir %s does not "
				  "exist: create it or pass --conf-dir",
				  r->conf_dir);
			goto out;
		}
		if (chk.included)
			czpg_provision_warn(
			    p,
			    "%s line %u includes %s, which does not exist: PostgreSQL refuses this "
			    "configuration now (a reload is rejected, a restart fails); the apply "
			    "creates it first",
			    r->pgconf_path, chk.include_line, r->conf_dir);
		/* Owned by the database user, like the data directory it usually sits in. */
		if ((rc = add_dir(p, CZPG_PROVISION_ROLE_CONF_DIR, r->conf_dir, 0700, p->db_uid,
				  p->db_gid, err, errlen)) != CZPG_RESULT_OK)
			goto out;
		rc = CZPG_RESULT_BAD_INPUT;
	} else {
		czpg_provision_note_dir_link(p, "conf dir", r->conf_dir);
	}
	if (chk.included) {
		r->include_line = chk.include_line;
	} else {
		/* --add-include-dir: the line goes at the end, after everything it may override. */
		czpg_wbuf_bytes(&w, text, len);
		if (len > 0 && text[len - 1] != '\n')
			czpg_wbuf_u8(&w, '\n');
		r->include_line = next_line_number(text, len) + 1;
		put_line(&w, "# added by czctl postgres tls provision --add-include-dir");
		put_line(&w, chk.line_to_add);
		if (w.err) {
			czpg_errf(err, errlen, "out of memory");
			rc = CZPG_RESULT_ERROR;
			goto out;
		}
		r->add_include = true;
		if ((rc = czpg_provision_add_file(p, CZPG_PROVISION_ROLE_PGCONF, r->pgconf_path,
						  w.data, w.len, info.mode, (long)info.uid,
						  (long)info.gid, err, errlen)) != CZPG_RESULT_OK)
			goto out;
	}
	for (i = 0; i < chk.n_overrides; i++)
		czpg_provision_warn(p,
				    "%s line %u sets %s again after the include_dir on line %u: "
				    "it overrides cz-tls.conf; remove it",
				    r->pgconf_path, chk.overrides[i].line, chk.overrides[i].name,
				    chk.include_line);
	for (i = 0; i < chk.n_later_includes; i++)
		czpg_provision_warn(p,
				    "%s line %u includes more configuration after conf.d: check "
				    "that it sets no ssl parameter",
				    r->pgconf_path, chk.later_includes[i]);
	rc = CZPG_RESULT_OK;
out:
	czpg_wbuf_free(&w);
	czpg_pgconf_check_free(&chk);
	free(confdir);
	return rc;
}

/* The server's path of the planned file of role (its name in the server's cert dir). */
static char *server_path_of(struct czpg_provision_plan *p, enum czpg_provision_role role)
{
	const struct czpg_provision_file *f = czpg_provision_file_of(p, role);
	const char *base;

	if (f == NULL)
		return NULL;
	base = strrchr(f->path, '/');
	return czpg_provision_path_join(p->rec.server_cert_dir, base != NULL ? base + 1 : f->path);
}

/* The include_dir, then cz-tls.conf naming the new files as the server sees them. */
static enum czpg_result plan_conf(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_pgconf_tls tls = {0};
	struct czpg_fs_info info;
	uint8_t *text = NULL;
	size_t len = 0, rlen = 0;
	char *rendered = NULL, e[600], target[PATH_MAX];
	enum czpg_result rc = CZPG_RESULT_BAD_INPUT;
	int rd;

	rd = czpg_fs_read_file(r->pgconf_path, CZPG_PGCONF_MAX_BYTES, &text, &len, e, sizeof(e));
	if (rd != 0) {
		if (rd == 1)
			czpg_errf(err, errlen,
				  "postgresql.conf not found at %s: pass --postgresql-conf FILE",
				  r->pgconf_path);
		else
			czpg_errf(err, errlen, "%s", e);
		goto out;
	}
	if ((rc = plan_include(p, text, len, err, errlen)) != CZPG_RESULT_OK)
		goto out;
	rc = CZPG_RESULT_BAD_INPUT;
	r->ssl_cert_file = server_path_of(p, CZPG_PROVISION_ROLE_LEAF_CERT);
	r->ssl_key_file = server_path_of(p, CZPG_PROVISION_ROLE_LEAF_KEY);
	r->ssl_ca_file = server_path_of(p, CZPG_PROVISION_ROLE_BUNDLE);
	tls.cert_file = r->ssl_cert_file;
	tls.key_file = r->ssl_key_file;
	tls.ca_file = r->ssl_ca_file;
	tls.allow_tls12_fallback = p->o.allow_tls12_fallback;
	tls.server_major = r->server_major;
	if (tls.cert_file == NULL || tls.key_file == NULL || tls.ca_file == NULL ||
	    czpg_pgconf_render_tls(&tls, &rendered, &rlen, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "--cert-dir: %s", e);
		goto out;
	}
	/* Owned like postgresql.conf (the file a link names, when it is one). */
	if (czpg_fs_resolve_link(r->pgconf_path, target, sizeof(target), e, sizeof(e)) < 0 ||
	    czpg_fs_file_info(target, &info, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s", e);
		goto out;
	}
	rc = czpg_provision_add_file(p, CZPG_PROVISION_ROLE_TLS_CONF, r->conf_path, rendered, rlen,
				     0644, (long)info.uid, (long)info.gid, err, errlen);
out:
	free(text);
	free(rendered);
	return rc;
}

/* pg_hba.conf with the managed block, keeping the file's mode and owner. */
static enum czpg_result plan_hba(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_hba_params hp = {0};
	struct czpg_provision_file cur = {0};
	const char *newtext;
	size_t newlen, i;
	char e[1024];
	enum czpg_result rc = CZPG_RESULT_BAD_INPUT;

	if (read_current(r->hba_path, CZPG_HBA_MAX_BYTES, &cur, e, sizeof(e)) != 0) {
		czpg_errf(err, errlen, "--hba-path: %s", e);
		goto out;
	}
	hp.mode = p->o.mode;
	hp.cidr = p->o.allow_cidr;
	hp.roles = p->o.roles;
	hp.n_roles = p->o.n_roles;
	hp.database = NULL;
	if (czpg_hba_plan((const char *)cur.old, cur.old_len, &hp, &p->hba, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s: %s", r->hba_path, e);
		goto out;
	}
	r->hba_explain = czpg_hba_plan_explain(p->hba);
	newtext = czpg_hba_plan_output(p->hba, &newlen);
	rc = czpg_provision_add_file(p, CZPG_PROVISION_ROLE_HBA, r->hba_path, newtext, newlen,
				     cur.old_mode, (long)cur.old_uid, (long)cur.old_gid, err,
				     errlen);
	if (rc != CZPG_RESULT_OK)
		goto out;
	for (i = 0; i < czpg_hba_plan_nwarnings(p->hba); i++)
		czpg_provision_warn(p, "pg_hba.conf: %s", czpg_hba_plan_warning(p->hba, i));
out:
	free(cur.old);
	return rc;
}

/* A copy of ca-bundle.crt for the clients, unless --export-ca names the bundle itself. */
static enum czpg_result plan_export(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	const struct czpg_provision_file *b = czpg_provision_file_of(p, CZPG_PROVISION_ROLE_BUNDLE);

	if (r->export_ca == NULL)
		return CZPG_RESULT_OK;
	if (b == NULL) {
		czpg_errf(err, errlen, "internal error: no CA bundle planned");
		return CZPG_RESULT_ERROR;
	}
	if (strcmp(r->export_ca, r->bundle_path) == 0)
		return CZPG_RESULT_OK; /* exporting the bundle itself */
	return czpg_provision_add_file(p, CZPG_PROVISION_ROLE_EXPORT, r->export_ca, b->data, b->len,
				       0644, p->me_uid, p->me_gid, err, errlen);
}

/* The verify command that proves the result (printed, and run by apply). */
static void verify_command(struct czpg_provision_record *r, const struct czpg_provision_opts *o)
{
	snprintf(r->verify_command, sizeof(r->verify_command),
		 "czctl postgres tls verify --host %s --port %u --user %s --dbname %s --ca %s%s%s",
		 r->verify_host, r->verify_port, r->verify_user, r->verify_dbname, r->bundle_path,
		 o->mode == CZPG_HBA_MODE_HARDEN ? " --expect-plaintext-refused" : "",
		 o->allow_tls12_fallback ? " --min-tls 1.2" : "");
}

/* ------------------------------------------------------------ the transaction */

static void sha256_of(const void *d, size_t n, uint8_t out[32])
{
	unsigned int outlen = 0;

	EVP_Digest(d, n, out, &outlen, EVP_sha256(), NULL);
}

/* One op for file f, or 0 when f needs none. */
static enum czpg_result add_op(struct czpg_txn *t, const struct czpg_provision_file *f,
			       enum czpg_txn_kind kind, char *err, size_t errlen)
{
	struct czpg_txn_op *op;

	if (t->n >= CZPG_PROVISION_MAX_FILES) {
		czpg_errf(err, errlen, "too many steps in the transaction");
		return CZPG_RESULT_ERROR;
	}
	op = &t->ops[t->n++];
	op->kind = kind;
	op->role = f->role;
	op->step = f->step;
	op->link = f->is_link;
	op->path = strdup(f->is_link || kind == CZPG_TXN_RETIRE ? f->path : f->write_path);
	op->data = malloc(f->len + 1);
	if (op->path == NULL || op->data == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return CZPG_RESULT_ERROR;
	}
	memcpy(op->data, f->data, f->len);
	op->data[f->len] = '\0';
	op->len = f->len;
	sha256_of(f->data, f->len, op->sha);
	op->mode = f->mode;
	op->uid = f->uid;
	op->gid = f->gid;
	op->secret = f->secret;
	if (kind == CZPG_TXN_COMMIT || kind == CZPG_TXN_TRUST) {
		op->same_content = f->action == CZPG_PROVISION_FIX_PERMS;
		op->old_exists = f->old_exists;
		op->old_link = f->old_link;
		op->old_mode = f->old_mode;
		op->old_uid = (long)f->old_uid;
		op->old_gid = (long)f->old_gid;
		if (f->old_exists) {
			op->old = malloc(f->old_len + 1);
			if (op->old == NULL) {
				czpg_errf(err, errlen, "out of memory");
				return CZPG_RESULT_ERROR;
			}
			memcpy(op->old, f->old, f->old_len);
			op->old[f->old_len] = '\0';
			op->old_len = f->old_len;
			sha256_of(f->old, f->old_len, op->old_sha);
		}
	}
	return CZPG_RESULT_OK;
}

/*
 * The transaction, in its order: directories, new names, what clients
 * trust (the bundle's stable name, the export), the files the server reads (a key's mode or owner,
 * cz-tls.conf, postgresql.conf's include_dir -- after cz-tls.conf, so that the line is what makes
 * it read -- and pg_hba.conf), then the stable names, the export and the retired files.
 */
static enum czpg_result build_txn(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	static const enum czpg_provision_role commits[] = {
	    CZPG_PROVISION_ROLE_TLS_CONF, CZPG_PROVISION_ROLE_PGCONF, CZPG_PROVISION_ROLE_HBA};
	struct czpg_provision_record *r = &p->rec;
	struct czpg_txn *t = &p->txn;
	enum czpg_result rc = CZPG_RESULT_OK;
	size_t i, k;

	t->pid = (long)getpid();
	t->started = (long long)time(NULL);
	snprintf(t->what, sizeof(t->what), "%s mode%s%s%s", r->mode_name,
		 p->o.force ? ", --force" : "", p->o.rotate_leaf ? ", --rotate-leaf" : "",
		 p->o.add_include_dir ? ", --add-include-dir" : "");
	t->have_leaf = true;
	memcpy(t->leaf_sha, r->leaf_info.sha256, 32);
	snprintf(t->leaf_serial, sizeof(t->leaf_serial), "%s", r->leaf_info.serial);
	for (i = 0; i < r->nfiles && rc == CZPG_RESULT_OK; i++) {
		const struct czpg_provision_file *f = &r->files[i];

		if (f->action == CZPG_PROVISION_UNCHANGED ||
		    f->phase != CZPG_PROVISION_PHASE_CREATE)
			continue;
		if (f->is_dir)
			rc = add_op(t, f, CZPG_TXN_MKDIR, err, errlen);
		else if (f->action == CZPG_PROVISION_CREATE)
			rc = add_op(t, f, CZPG_TXN_CREATE, err, errlen);
		else /* a file the server may read now: its mode or owner, by rename */
			rc = add_op(t, f, CZPG_TXN_COMMIT, err, errlen);
	}
	/* What clients trust, before the server changes: the new bundle holds both CAs. */
	for (i = 0; i < r->nfiles && rc == CZPG_RESULT_OK; i++) {
		const struct czpg_provision_file *f = &r->files[i];

		if (f->action != CZPG_PROVISION_UNCHANGED && f->phase == CZPG_PROVISION_PHASE_TRUST)
			rc = add_op(t, f, CZPG_TXN_TRUST, err, errlen);
	}
	for (k = 0; k < sizeof(commits) / sizeof(commits[0]) && rc == CZPG_RESULT_OK; k++) {
		const struct czpg_provision_file *f = czpg_provision_file_of(p, commits[k]);

		if (f != NULL && f->action != CZPG_PROVISION_UNCHANGED)
			rc = add_op(t, f, CZPG_TXN_COMMIT, err, errlen);
	}
	for (i = 0; i < r->nfiles && rc == CZPG_RESULT_OK; i++) {
		const struct czpg_provision_file *f = &r->files[i];

		if (f->action == CZPG_PROVISION_UNCHANGED || f->phase != CZPG_PROVISION_PHASE_AFTER)
			continue;
		rc = add_op(t, f,
			    f->role == CZPG_PROVISION_ROLE_RETIRE ? CZPG_TXN_RETIRE
			    : f->is_link                          ? CZPG_TXN_LINK
								  : CZPG_TXN_AFTER,
			    err, errlen);
	}
	/* Only the commit makes the server serve another certificate; nothing to confirm else. */
	if (rc == CZPG_RESULT_OK && czpg_txn_count(t, CZPG_TXN_COMMIT) == 0)
		t->have_leaf = false;
	if (rc == CZPG_RESULT_OK && t->n == 0)
		czpg_txn_clear(t);
	return rc;
}

enum czpg_result czpg_provision_plan(const struct czpg_provision_opts *opts,
				     struct czpg_provision_plan **out, char *err, size_t errlen)
{
	struct czpg_provision_plan *p = calloc(1, sizeof(*p));
	struct czpg_provision_record *r;
	enum czpg_result rc;

	*out = NULL;
	if (p == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return CZPG_RESULT_ERROR;
	}
	p->lock_fd = -1;
	p->o = *opts;
	r = &p->rec;
	r->ip = opts->ip;
	r->dns = opts->dns;
	r->mode = opts->mode;
	r->mode_name = czpg_hba_mode_name(opts->mode);
	r->container = opts->container != NULL;
	r->force = opts->force;
	r->skip_verify = opts->skip_verify;
	if ((rc = czpg_provision_inputs(p, err, errlen)) != CZPG_RESULT_OK)
		goto out;
	/*
	 * An apply holds the lock from before it reads anything until it ends,
	 * and first brings what an interrupted run left to an end.
	 */
	if (opts->apply && (rc = czpg_journal_recover(p, err, errlen)) != CZPG_RESULT_OK)
		goto out;
	if ((rc = czpg_provision_server_version(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = czpg_provision_plan_certs(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_conf(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_hba(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_export(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = build_txn(p, err, errlen)) != CZPG_RESULT_OK)
		goto out;
	verify_command(r, opts);
	*out = p;
	p = NULL;
out:
	czpg_provision_plan_free(p);
	return rc;
}
