/*
 * provision.c - `czctl postgres tls provision`: plan, then apply (see
 * czpg/provision.h).
 *
 * The plan holds the complete new content of every file before anything is
 * written, so the dry run can print exactly that, and --apply can restore
 * every previous file byte for byte when the server rejects what was
 * written.
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "czpg/buf.h"
#include "czpg/parse.h"
#include "czpg/report.h"
#include "czpg/result.h"
#include "czpg/fsutil.h"
#include "czpg/json.h"
#include "czpg/pgconf.h"
#include "czpg/pki.h"
#include "czpg/reload.h"
#include "czpg/served_cert.h"
#include "czpg/verify.h"

enum step_id { ST_CERTS = 0, ST_CONF, ST_HBA, ST_RELOAD, ST_EXPORT, ST_VERIFY, ST_N };

static const char *const step_name[ST_N] = {
    "certificates", "postgresql.conf TLS block", "pg_hba.conf managed block", "reload", "CA export",
    "self-verify",
};

enum step_state { S_NOT_RUN = 0, S_PASS, S_FAIL, S_SKIP };

enum file_action { FA_UNCHANGED = 0, FA_CREATE, FA_REPLACE, FA_PERMS };

static const char *const action_name[] = {"unchanged", "create", "replace", "fix mode/owner"};

struct pfile {
	enum step_id step;
	char *path;
	const char *what; /* "CA certificate", ... */
	bool secret;
	bool is_cert; /* print a certificate summary */
	uint8_t *data;
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
	enum file_action action;
	bool written;
};

#define MAX_FILES 12
#define MAX_WARN 16

struct step_result {
	enum step_state state;
	char detail[2048];
};

struct czpg_provision_plan {
	struct czpg_provision_opts o;
	char *cert_dir, *server_cert_dir, *conf_dir, *pgconf_path, *hba_path, *conf_path;
	char *export_ca, *pgdata, *bundle_path;
	long db_uid, db_gid;
	uid_t me_uid;
	gid_t me_gid;
	struct pfile files[MAX_FILES];
	size_t nfiles;

	/* certificates */
	bool gen_ca, gen_leaf, prev_in_bundle, have_prev;
	struct czpg_pki_info ca_info, leaf_info, prev_info;
	char cert_story[512];

	/* postgresql.conf */
	unsigned include_line;

	/* pg_hba.conf */
	struct czpg_hba_plan *hba;

	/* server */
	struct czpg_server srv;
	char pg_bin[PATH_MAX];
	char socket_dir[PATH_MAX];
	char reload_desc[PATH_MAX + 200];
	char query_desc[PATH_MAX + 200];
	const char *verify_host, *verify_user, *verify_dbname;
	unsigned verify_port;

	char warnings[MAX_WARN][700];
	size_t nwarn;

	/* results */
	bool applied;
	enum czpg_result result;
	struct step_result steps[ST_N];
	bool verified;
	struct czpg_verify_result vres;
	bool rolled_back;
	char rollback_note[1024];
};

/* snprintf that may cut: for messages built from other messages. */
static void fmt_to(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt_to(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

static void warn(struct czpg_provision_plan *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warn(struct czpg_provision_plan *p, const char *fmt, ...)
{
	va_list ap;

	if (p->nwarn >= MAX_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(p->warnings[p->nwarn++], sizeof(p->warnings[0]), fmt, ap);
	va_end(ap);
}

static void step_set(struct czpg_provision_plan *p, enum step_id s, enum step_state st,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void step_set(struct czpg_provision_plan *p, enum step_id s, enum step_state st,
		     const char *fmt, ...)
{
	va_list ap;

	p->steps[s].state = st;
	va_start(ap, fmt);
	vsnprintf(p->steps[s].detail, sizeof(p->steps[s].detail), fmt, ap);
	va_end(ap);
}

static char *join(const char *dir, const char *name)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name) < 0)
		return NULL;
	return s;
}

/* An absolute, lexically normalised copy of path (relative to the cwd). */
static char *abs_path(const char *path)
{
	char cwd[PATH_MAX], *tmp = NULL, *out = NULL;

	if (path == NULL || path[0] == '\0')
		return NULL;
	if (path[0] == '/') {
		czpg_pgconf_normalize_path(path, &out);
		return out;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL || asprintf(&tmp, "%s/%s", cwd, path) < 0)
		return NULL;
	czpg_pgconf_normalize_path(tmp, &out);
	free(tmp);
	return out;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static void pfile_clear(struct pfile *f)
{
	if (f->data != NULL && f->secret)
		OPENSSL_cleanse(f->data, f->len);
	if (f->old != NULL && f->secret)
		OPENSSL_cleanse(f->old, f->old_len);
	free(f->data);
	free(f->old);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

void czpg_provision_plan_free(struct czpg_provision_plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nfiles; i++)
		pfile_clear(&p->files[i]);
	czpg_hba_plan_free(p->hba);
	free(p->cert_dir);
	free(p->server_cert_dir);
	free(p->conf_dir);
	free(p->pgconf_path);
	free(p->hba_path);
	free(p->conf_path);
	free(p->export_ca);
	free(p->pgdata);
	free(p->bundle_path);
	OPENSSL_cleanse(&p->vres, sizeof(p->vres));
	free(p);
}

/* Reads a file for the plan: 0 read, 1 missing, -1 error (err set). */
static int read_current(const char *path, size_t max, bool secret, struct pfile *f, char *err,
			size_t errlen)
{
	struct czpg_fs_info info;
	int rc;

	(void)secret;
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
 * Adds a file to the plan with its new content (copied; data may equal the
 * current content).  Reads what is there now to decide the action.
 */
static int add_file(struct czpg_provision_plan *p, enum step_id step, const char *path,
		    const char *what, bool secret, bool is_cert, const void *data, size_t len,
		    mode_t mode, long uid, long gid, char *err, size_t errlen)
{
	struct pfile *f;

	if (p->nfiles >= MAX_FILES) {
		czpg_errf(err, errlen, "too many files in the plan");
		return -1;
	}
	f = &p->files[p->nfiles++];
	f->step = step;
	f->what = what;
	f->secret = secret;
	f->is_cert = is_cert;
	f->path = strdup(path);
	f->data = malloc(len + 1);
	if (f->path == NULL || f->data == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	f->mode = mode;
	f->uid = uid;
	f->gid = gid;
	if (read_current(path, 16u << 20, secret, f, err, errlen) < 0)
		return -1;
	if (!f->old_exists)
		f->action = FA_CREATE;
	else if (f->old_len != len || memcmp(f->old, data, len) != 0)
		f->action = FA_REPLACE;
	else if (f->old_mode != mode || (long)f->old_uid != uid || (long)f->old_gid != gid)
		f->action = FA_PERMS;
	else
		f->action = FA_UNCHANGED;
	return 0;
}

static struct pfile *find_file(struct czpg_provision_plan *p, const char *path)
{
	size_t i;

	for (i = 0; i < p->nfiles; i++)
		if (strcmp(p->files[i].path, path) == 0)
			return &p->files[i];
	return NULL;
}

void czpg_provision_set_password(struct czpg_provision_plan *p, const char *password)
{
	p->o.password = password;
}

size_t czpg_provision_plan_changes(const struct czpg_provision_plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->nfiles; i++)
		if (p->files[i].action != FA_UNCHANGED)
			n++;
	return n;
}

/* ------------------------------------------------------------ validation */

static bool valid_container_name(const char *s)
{
	size_t i;

	if (s[0] == '\0' || strlen(s) > 128 ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 1; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int validate_inputs(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	struct czpg_hba_cidr cidr;
	char e[512];
	size_t i, j;

	if (o->ip == NULL)
		return czpg_errf(err, errlen,
			       "--ip is required: the address clients connect to (it "
			       "goes into the certificate)"),
		       -1;
	if (czpg_pki_valid_ip(o->ip, e, sizeof(e)) < 0)
		return czpg_errf(err, errlen, "--ip '%s': %s", o->ip, e), -1;
	if (o->dns == NULL)
		return czpg_errf(err, errlen,
			       "--dns is required: the DNS name clients connect to (it "
			       "goes into the certificate)"),
		       -1;
	if (czpg_pki_valid_dns(o->dns, e, sizeof(e)) < 0)
		return czpg_errf(err, errlen, "--dns '%s': %s", o->dns, e), -1;
	if (o->allow_cidr == NULL)
		return czpg_errf(err, errlen,
			       "--allow-cidr is required: the application box's "
			       "network, e.g. 10.20.1.2/32"),
		       -1;
	if (czpg_hba_cidr_parse(o->allow_cidr, &cidr, e, sizeof(e)) < 0)
		return czpg_errf(err, errlen, "--allow-cidr '%s': %s", o->allow_cidr, e), -1;
	if (o->n_roles == 0)
		return czpg_errf(err, errlen,
			       "--role is required (once per role the application "
			       "logs in as)"),
		       -1;
	if (o->n_roles > CZPG_PROVISION_MAX_ROLES)
		return czpg_errf(err, errlen, "at most %d --role values", CZPG_PROVISION_MAX_ROLES),
		       -1;
	for (i = 0; i < o->n_roles; i++) {
		if (czpg_hba_name_check(o->roles[i], e, sizeof(e)) < 0)
			return czpg_errf(err, errlen, "--role '%s': %s", o->roles[i], e), -1;
		for (j = 0; j < i; j++)
			if (strcmp(o->roles[i], o->roles[j]) == 0)
				return czpg_errf(err, errlen, "--role '%s' is given twice",
					       o->roles[i]),
				       -1;
	}
	if (o->mode != CZPG_HBA_MODE_TRANSITION && o->mode != CZPG_HBA_MODE_HARDEN)
		return czpg_errf(err, errlen, "--mode must be transition or harden"), -1;
	if (o->force && o->rotate_leaf)
		return czpg_errf(err, errlen,
			       "--force and --rotate-leaf exclude each other: --force "
			       "makes a new CA and leaf, --rotate-leaf a new leaf only"),
		       -1;
	if (o->container != NULL && !valid_container_name(o->container))
		return czpg_errf(err, errlen, "--container '%s' is not a container name or id",
			       o->container),
		       -1;
	if (o->pgdata == NULL && o->container == NULL)
		return czpg_errf(err, errlen,
			       "say where PostgreSQL runs: --pgdata DIR (a server on "
			       "this box) or --container NAME"),
		       -1;
	if (o->pgdata != NULL && o->container != NULL)
		return czpg_errf(err, errlen,
			       "--pgdata and --container exclude each other: give "
			       "--pgdata for a server on this box, --container for one "
			       "in a container"),
		       -1;
	if (o->cert_dir == NULL || o->cert_dir[0] == '\0')
		return czpg_errf(err, errlen,
			       "--cert-dir is required: where the certificates and "
			       "keys are written, e.g. /etc/cz-tls"),
		       -1;
	if (o->server_cert_dir != NULL && o->server_cert_dir[0] != '/')
		return czpg_errf(err, errlen, "--server-cert-dir '%s' must be an absolute path",
			       o->server_cert_dir),
		       -1;
	if (o->db_uid < -1 || o->db_uid > 0x7fffffffL || o->db_gid < -1 || o->db_gid > 0x7fffffffL)
		return czpg_errf(err, errlen, "--db-uid/--db-gid out of range"), -1;
	if (o->verify_user != NULL && czpg_hba_name_check(o->verify_user, e, sizeof(e)) < 0)
		return czpg_errf(err, errlen, "--verify-user '%s': %s", o->verify_user, e), -1;
	return 0;
}

/* Can uid/gid enter every directory from dir up to / (local) or dir alone? */
static int check_reachable(const char *dir, bool ancestors, long uid, long gid, char *err,
			   size_t errlen)
{
	char *cur = strdup(dir), *next;
	struct stat st;
	int rc = 0;

	while (cur != NULL) {
		if (stat(cur, &st) == 0) {
			mode_t need = (long)st.st_uid == uid   ? S_IXUSR
				      : (long)st.st_gid == gid ? S_IXGRP
							       : S_IXOTH;

			if (uid != 0 && (st.st_mode & need) == 0) {
				czpg_errf(
				    err, errlen,
				    "the database user (uid %ld) cannot enter %s (mode %04o, owner "
				    "%ld:%ld), so PostgreSQL could not read its key there: make it "
				    "searchable (chmod o+x %s) or choose another --cert-dir",
				    uid, cur, (unsigned)(st.st_mode & 07777), (long)st.st_uid,
				    (long)st.st_gid, cur);
				rc = -1;
				break;
			}
			if (!ancestors)
				break;
		}
		if (strcmp(cur, "/") == 0)
			break;
		next = dir_of(cur);
		free(cur);
		cur = next;
	}
	free(cur);
	return rc;
}

static bool in_my_groups(gid_t g)
{
	gid_t groups[256];
	int n, i;

	if (g == getegid())
		return true;
	n = getgroups(256, groups);
	for (i = 0; i < n; i++)
		if (groups[i] == g)
			return true;
	return false;
}

/* Could this process give a file to uid/gid? */
static bool may_chown(long uid, long gid)
{
	if (geteuid() == 0)
		return true;
	return (uid == -1 || (uid_t)uid == geteuid()) && (gid == -1 || in_my_groups((gid_t)gid));
}

static int resolve_paths(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	struct czpg_fs_info info;
	char e[512], *d = NULL;
	int rc = -1;

	p->me_uid = geteuid();
	p->me_gid = getegid();
	if (o->pgdata != NULL) {
		p->pgdata = abs_path(o->pgdata);
		if (p->pgdata == NULL || czpg_fs_file_info(p->pgdata, &info, e, sizeof(e)) < 0 ||
		    !info.exists || !info.is_dir) {
			czpg_errf(err, errlen, "--pgdata '%s' is not a directory", o->pgdata);
			goto out;
		}
		p->db_uid = o->db_uid >= 0 ? o->db_uid : (long)info.uid;
		p->db_gid = o->db_gid >= 0 ? o->db_gid : (long)info.gid;
		p->srv.owner_uid = info.uid;
		p->srv.owner_gid = info.gid;
	} else {
		p->db_uid = o->db_uid >= 0 ? o->db_uid : CZPG_PROVISION_CONTAINER_UID;
		p->db_gid = o->db_gid >= 0   ? o->db_gid
			    : o->db_uid >= 0 ? o->db_uid
					     : CZPG_PROVISION_CONTAINER_UID;
	}
	if (o->hba_path != NULL)
		p->hba_path = abs_path(o->hba_path);
	else if (p->pgdata != NULL)
		p->hba_path = join(p->pgdata, "pg_hba.conf");
	else {
		czpg_errf(err, errlen,
			"--hba-path is required with --container: the pg_hba.conf the "
			"container's server reads, as a path on this box");
		goto out;
	}
	if (o->postgresql_conf != NULL)
		p->pgconf_path = abs_path(o->postgresql_conf);
	else if (p->pgdata != NULL)
		p->pgconf_path = join(p->pgdata, "postgresql.conf");
	else if (p->hba_path != NULL && (d = dir_of(p->hba_path)) != NULL)
		p->pgconf_path = join(d, "postgresql.conf");
	if (o->conf_dir != NULL) {
		p->conf_dir = abs_path(o->conf_dir);
	} else if (p->pgconf_path != NULL) {
		free(d);
		d = dir_of(p->pgconf_path);
		p->conf_dir = d != NULL ? join(d, "conf.d") : NULL;
	}
	p->cert_dir = abs_path(o->cert_dir);
	p->server_cert_dir =
	    o->server_cert_dir != NULL ? abs_path(o->server_cert_dir) : abs_path(o->cert_dir);
	if (o->export_ca != NULL)
		p->export_ca = abs_path(o->export_ca);
	if (p->hba_path == NULL || p->pgconf_path == NULL || p->conf_dir == NULL ||
	    p->cert_dir == NULL || p->server_cert_dir == NULL ||
	    (o->export_ca != NULL && p->export_ca == NULL)) {
		czpg_errf(err, errlen, "out of memory (or an empty path)");
		goto out;
	}
	p->conf_path = join(p->conf_dir, CZPG_PGCONF_TLS_FILE);
	p->bundle_path = join(p->cert_dir, "ca-bundle.crt");
	if (p->conf_path == NULL || p->bundle_path == NULL) {
		czpg_errf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(d);
	return rc;
}

static int check_dir_writable(const char *flag, const char *dir, char *err, size_t errlen)
{
	char e[512];

	if (czpg_fs_check_writable_dir(dir, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s: %s", flag, e);
		return -1;
	}
	return 0;
}

static int check_paths(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	struct czpg_fs_info info;
	char e[600], *d = NULL;
	int rc = -1;

	if (czpg_fs_file_info(p->hba_path, &info, e, sizeof(e)) < 0 || !info.exists ||
	    !info.is_regular) {
		czpg_errf(err, errlen, "--hba-path '%s' is not an existing file%s", p->hba_path,
			o->hba_path == NULL ? " (default <pgdata>/pg_hba.conf; pass --hba-path)"
					    : "");
		goto out;
	}
	d = dir_of(p->hba_path);
	if (d == NULL || check_dir_writable("--hba-path", d, err, errlen) < 0)
		goto out;
	if (!may_chown((long)info.uid, (long)info.gid)) {
		czpg_errf(
		    err, errlen,
		    "not permitted to rewrite %s keeping its owner uid %ld gid %ld: run as root",
		    p->hba_path, (long)info.uid, (long)info.gid);
		goto out;
	}
	if (czpg_fs_check_writable_dir(p->conf_dir, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "--conf-dir: %s", e);
		goto out;
	}
	if (check_dir_writable("--cert-dir", p->cert_dir, err, errlen) < 0)
		goto out;
	if (p->o.container == NULL || p->o.server_cert_dir == NULL) {
		if (check_reachable(p->cert_dir, p->o.container == NULL, p->db_uid, p->db_gid, err,
				    errlen) < 0)
			goto out;
	}
	if (!may_chown(p->db_uid, p->db_gid)) {
		czpg_errf(err, errlen,
			"not permitted to give server.key to the database user (uid %ld gid %ld): "
			"chown needs root; run as root, or pass --db-uid/--db-gid",
			p->db_uid, p->db_gid);
		goto out;
	}
	if (p->export_ca != NULL) {
		if (czpg_fs_file_info(p->export_ca, &info, e, sizeof(e)) == 0 && info.exists &&
		    !info.is_regular) {
			czpg_errf(err, errlen, "--export-ca '%s' exists and is not a regular file",
				p->export_ca);
			goto out;
		}
		free(d);
		d = dir_of(p->export_ca);
		if (d == NULL || check_dir_writable("--export-ca", d, err, errlen) < 0)
			goto out;
	}
	if (p->o.apply && p->o.pgdata != NULL && geteuid() != 0 && geteuid() != p->srv.owner_uid) {
		czpg_errf(err, errlen,
			"reloading the server needs root or the data directory's owner (uid %ld); "
			"this is uid %ld",
			(long)p->srv.owner_uid, (long)geteuid());
		goto out;
	}
	rc = 0;
out:
	free(d);
	return rc;
}

/* ------------------------------------------------------------ certificates */

struct certs {
	X509 *ca, *leaf, *prev;
	EVP_PKEY *ca_key, *leaf_key;
	struct czpg_wbuf ca_pem, ca_key_pem, leaf_pem, leaf_key_pem, prev_pem, bundle;
};

static void certs_free(struct certs *c)
{
	X509_free(c->ca);
	X509_free(c->leaf);
	X509_free(c->prev);
	EVP_PKEY_free(c->ca_key);
	EVP_PKEY_free(c->leaf_key);
	czpg_wbuf_free(&c->ca_pem);
	czpg_wbuf_free_secure(&c->ca_key_pem);
	czpg_wbuf_free(&c->leaf_pem);
	czpg_wbuf_free_secure(&c->leaf_key_pem);
	czpg_wbuf_free(&c->prev_pem);
	czpg_wbuf_free(&c->bundle);
}

/* Loads one existing file of the set: 0 parsed, 1 missing, -1 unreadable/unparsable. */
static int load_existing(const char *dir, const char *name, bool key, X509 **cert, EVP_PKEY **pkey,
			 struct czpg_wbuf *pem, char *err, size_t errlen)
{
	char *path = join(dir, name), e[400];
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = -1, r;

	if (path == NULL)
		return -1;
	r = czpg_fs_read_file(path, CZPG_PKI_MAX_PEM_FILE, &data, &len, e, sizeof(e));
	if (r == 1) {
		rc = 1;
		goto out;
	}
	if (r < 0) {
		czpg_errf(err, errlen, "%s", e);
		goto out;
	}
	if (key)
		r = czpg_pki_key_from_pem(data, len, pkey, e, sizeof(e));
	else
		r = czpg_pki_cert_from_pem(data, len, cert, e, sizeof(e));
	if (r < 0) {
		czpg_errf(err, errlen, "%s exists but is not a PEM %s: %s", path,
			key ? "private key" : "certificate", e);
		goto out;
	}
	if (pem != NULL)
		czpg_wbuf_bytes(pem, data, len);
	rc = 0;
out:
	if (data != NULL) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	free(path);
	return rc;
}

static int plan_certs(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	struct certs c;
	X509 *old_ca = NULL;
	EVP_PKEY *old_leaf_key = NULL;
	struct czpg_wbuf old_ca_pem;
	char e[600], cn[128];
	time_t now = o->now != 0 ? o->now : time(NULL);
	int r_ca, r_cakey, r_leaf, r_leafkey, r_prev, rc = CZPG_RESULT_BAD_INPUT;
	const char *leaf_story = "reused", *ca_story = "reused";

	memset(&c, 0, sizeof(c));
	czpg_wbuf_init(&c.ca_pem, 0);
	czpg_wbuf_init(&c.ca_key_pem, 0);
	czpg_wbuf_init(&c.leaf_pem, 0);
	czpg_wbuf_init(&c.leaf_key_pem, 0);
	czpg_wbuf_init(&c.prev_pem, 0);
	czpg_wbuf_init(&c.bundle, 0);
	czpg_wbuf_init(&old_ca_pem, 0);

	r_ca =
	    load_existing(p->cert_dir, "ca.crt", false, &old_ca, NULL, &old_ca_pem, e, sizeof(e));
	if (r_ca < 0 && !o->force) {
		czpg_errf(err, errlen, "%s; fix or remove it, or run with --force to make a new CA",
			e);
		goto out;
	}
	if (o->force) {
		p->gen_ca = p->gen_leaf = true;
		ca_story = "new (--force)";
		leaf_story = "new (--force)";
		if (r_ca == 0) {
			c.prev = old_ca;
			old_ca = NULL;
			czpg_wbuf_bytes(&c.prev_pem, old_ca_pem.data, old_ca_pem.len);
		}
	} else if (r_ca == 1) {
		char *k = join(p->cert_dir, "ca.key"), *l = join(p->cert_dir, "server.crt");
		bool stray =
		    (k != NULL && access(k, F_OK) == 0) || (l != NULL && access(l, F_OK) == 0);

		free(k);
		free(l);
		if (stray) {
			czpg_errf(
			    err, errlen,
			    "%s has ca.key or server.crt but no ca.crt: run with --force to start "
			    "a new certificate set",
			    p->cert_dir);
			goto out;
		}
		p->gen_ca = p->gen_leaf = true;
		ca_story = "new";
		leaf_story = "new";
	} else {
		c.ca = old_ca;
		old_ca = NULL;
		czpg_wbuf_bytes(&c.ca_pem, old_ca_pem.data, old_ca_pem.len);
		r_cakey = load_existing(p->cert_dir, "ca.key", true, NULL, &c.ca_key, &c.ca_key_pem,
					e, sizeof(e));
		if (r_cakey != 0) {
			czpg_errf(err, errlen, "%s: run with --force to make a new CA",
				r_cakey == 1 ? "ca.crt exists but ca.key is missing" : e);
			goto out;
		}
		if (czpg_pki_check_key_match(c.ca, c.ca_key, e, sizeof(e)) != 0) {
			czpg_errf(err, errlen,
				"ca.key does not belong to ca.crt in %s (%s): run with "
				"--force to make a new CA",
				p->cert_dir, e);
			goto out;
		}
		if (czpg_pki_inspect(c.ca, now, &p->ca_info, e, sizeof(e)) < 0) {
			czpg_errf(err, errlen, "cannot inspect ca.crt: %s", e);
			goto out;
		}
		if (!p->ca_info.is_ca || p->ca_info.days_left < 0) {
			czpg_errf(
			    err, errlen, "ca.crt in %s is %s: run with --force to make a new CA",
			    p->cert_dir, !p->ca_info.is_ca ? "not a CA certificate" : "expired");
			goto out;
		}
		if (o->rotate_leaf) {
			p->gen_leaf = true;
			leaf_story = "new (--rotate-leaf)";
		} else {
			r_leaf = load_existing(p->cert_dir, "server.crt", false, &c.leaf, NULL,
					       &c.leaf_pem, e, sizeof(e));
			r_leafkey = load_existing(p->cert_dir, "server.key", true, NULL,
						  &c.leaf_key, &c.leaf_key_pem, e, sizeof(e));
			if (r_leaf < 0 || r_leafkey < 0) {
				czpg_errf(err, errlen,
					"%s; run with --rotate-leaf to make a new leaf", e);
				goto out;
			}
			if (r_leaf == 1 || r_leafkey == 1) {
				p->gen_leaf = true;
				leaf_story = "new (none was there)";
			} else if (czpg_pki_check_key_match(c.leaf, c.leaf_key, e, sizeof(e)) !=
				   0) {
				czpg_errf(
				    err, errlen,
				    "server.key does not belong to server.crt in %s (%s): run with "
				    "--rotate-leaf",
				    p->cert_dir, e);
				goto out;
			} else if (czpg_pki_check_signed_by(c.leaf, c.ca, e, sizeof(e)) != 0) {
				czpg_errf(err, errlen,
					"server.crt in %s is not signed by ca.crt (%s): run with "
					"--rotate-leaf to sign a new leaf with this CA",
					p->cert_dir, e);
				goto out;
			} else if (czpg_pki_check_leaf_names(c.leaf, o->ip, o->dns, e, sizeof(e)) !=
				   0) {
				czpg_errf(
				    err, errlen,
				    "the existing leaf %s/server.crt does not match --ip %s --dns "
				    "%s (%s): serving it would fail verify-full; run again with "
				    "--rotate-leaf (a new leaf from the same CA; no client breaks) "
				    "or --force (a new CA too). Nothing was changed",
				    p->cert_dir, o->ip, o->dns, e);
				goto out;
			}
		}
		/* The previous CA, if any, and whether it is still in its window. */
		r_prev = load_existing(p->cert_dir, "ca-previous.crt", false, &c.prev, NULL,
				       &c.prev_pem, e, sizeof(e));
		if (r_prev < 0) {
			czpg_errf(err, errlen, "%s", e);
			goto out;
		}
	}

	if (p->gen_ca) {
		snprintf(cn, sizeof(cn), "czctl postgres tls CA %s", o->dns);
		if (czpg_pki_make_ca(cn, NULL, &c.ca, &c.ca_key, e, sizeof(e)) < 0) {
			czpg_errf(err, errlen, "cannot make the CA: %s", e);
			rc = CZPG_RESULT_ERROR;
			goto out;
		}
		czpg_wbuf_reset(&c.ca_pem);
		czpg_wbuf_free_secure(&c.ca_key_pem);
		czpg_wbuf_init(&c.ca_key_pem, 0);
		if (czpg_pki_cert_to_pem(c.ca, &c.ca_pem, e, sizeof(e)) < 0 ||
		    czpg_pki_key_to_pem(c.ca_key, &c.ca_key_pem, e, sizeof(e)) < 0) {
			czpg_errf(err, errlen, "%s", e);
			rc = CZPG_RESULT_ERROR;
			goto out;
		}
	}
	if (p->gen_leaf) {
		X509_free(c.leaf);
		c.leaf = NULL;
		old_leaf_key = c.leaf_key;
		c.leaf_key = NULL;
		if (czpg_pki_make_leaf(o->dns, o->ip, NULL, c.ca, c.ca_key, &c.leaf, &c.leaf_key, e,
				       sizeof(e)) < 0) {
			czpg_errf(err, errlen, "cannot make the server certificate: %s", e);
			rc = CZPG_RESULT_ERROR;
			goto out;
		}
		czpg_wbuf_reset(&c.leaf_pem);
		czpg_wbuf_free_secure(&c.leaf_key_pem);
		czpg_wbuf_init(&c.leaf_key_pem, 0);
		if (czpg_pki_cert_to_pem(c.leaf, &c.leaf_pem, e, sizeof(e)) < 0 ||
		    czpg_pki_key_to_pem(c.leaf_key, &c.leaf_key_pem, e, sizeof(e)) < 0) {
			czpg_errf(err, errlen, "%s", e);
			rc = CZPG_RESULT_ERROR;
			goto out;
		}
	}
	if (czpg_pki_inspect(c.ca, now, &p->ca_info, e, sizeof(e)) < 0 ||
	    czpg_pki_inspect(c.leaf, now, &p->leaf_info, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "cannot inspect the certificates: %s", e);
		rc = CZPG_RESULT_ERROR;
		goto out;
	}
	if (!p->gen_leaf && p->leaf_info.days_left < 0) {
		char when[64] = "";
		struct tm tm;

		if (gmtime_r(&p->leaf_info.not_after, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		czpg_errf(err, errlen,
			"server.crt in %s expired on %s: run with --rotate-leaf to make a new leaf",
			p->cert_dir, when);
		p->cert_story[0] = '\0';
		goto out;
	}
	if (p->leaf_info.days_left < CZPG_PROVISION_LEAF_WARN_DAYS)
		warn(p, "the server certificate expires in %ld days: rotate it with --rotate-leaf",
		     p->leaf_info.days_left);
	if (c.prev != NULL) {
		p->have_prev = true;
		czpg_pki_inspect(c.prev, now, &p->prev_info, e, sizeof(e));
		p->prev_in_bundle = p->prev_info.days_left >= 0 &&
				    now < p->ca_info.not_before + CZPG_PKI_BACKDATE_SECS +
					      (time_t)CZPG_PROVISION_CA_OVERLAP_DAYS * 86400;
	}
	czpg_wbuf_bytes(&c.bundle, c.ca_pem.data, c.ca_pem.len);
	if (p->prev_in_bundle)
		czpg_wbuf_bytes(&c.bundle, c.prev_pem.data, c.prev_pem.len);
	if (c.ca_pem.err || c.ca_key_pem.err || c.leaf_pem.err || c.leaf_key_pem.err ||
	    c.prev_pem.err || c.bundle.err) {
		czpg_errf(err, errlen, "out of memory");
		rc = CZPG_RESULT_ERROR;
		goto out;
	}
	snprintf(p->cert_story, sizeof(p->cert_story),
		 "CA %s (serial %.16s..., %ld days left); leaf %s (serial %.16s..., %ld days left, "
		 "SANs IP:%s DNS:%s)%s",
		 ca_story, p->ca_info.serial_hex, p->ca_info.days_left, leaf_story,
		 p->leaf_info.serial_hex, p->leaf_info.days_left, o->ip, o->dns,
		 p->prev_in_bundle ? "; previous CA kept in the bundle (overlap window)" : "");

	{
		char *path;
		struct {
			const char *name, *what;
			struct czpg_wbuf *b;
			bool secret, cert;
			mode_t mode;
			long uid, gid;
		} set[] = {
		    {"ca.key", "CA private key", &c.ca_key_pem, true, false, 0600, p->me_uid,
		     p->me_gid},
		    {"ca.crt", "CA certificate", &c.ca_pem, false, true, 0644, p->me_uid,
		     p->me_gid},
		    {"ca-previous.crt", "previous CA certificate", &c.prev_pem, false, true, 0644,
		     p->me_uid, p->me_gid},
		    {"server.key", "server private key", &c.leaf_key_pem, true, false, 0600,
		     p->db_uid, p->db_gid},
		    {"server.crt", "server certificate", &c.leaf_pem, false, true, 0644, p->me_uid,
		     p->me_gid},
		    {"ca-bundle.crt", "CA bundle (ssl_ca_file; what clients trust)", &c.bundle,
		     false, false, 0644, p->me_uid, p->me_gid},
		};
		size_t i;

		for (i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
			if (set[i].b->len == 0)
				continue; /* no previous CA */
			path = join(p->cert_dir, set[i].name);
			if (path == NULL ||
			    add_file(p, ST_CERTS, path, set[i].what, set[i].secret, set[i].cert,
				     set[i].b->data, set[i].b->len, set[i].mode, set[i].uid,
				     set[i].gid, err, errlen) < 0) {
				free(path);
				rc = CZPG_RESULT_ERROR;
				goto out;
			}
			free(path);
		}
	}
	rc = CZPG_RESULT_OK;
out:
	X509_free(old_ca);
	EVP_PKEY_free(old_leaf_key);
	czpg_wbuf_free(&old_ca_pem);
	certs_free(&c);
	return rc;
}

/* ------------------------------------------------------------ config files */

static int plan_conf(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_pgconf_tls tls = {0};
	struct czpg_pgconf_check chk = {0};
	struct czpg_fs_info info;
	uint8_t *text = NULL;
	size_t len = 0, i;
	char *cert = NULL, *key = NULL, *ca = NULL, *rendered = NULL, *confdir = NULL, e[600];
	size_t rlen = 0;
	int r, rc = CZPG_RESULT_BAD_INPUT;

	r = czpg_fs_read_file(p->pgconf_path, CZPG_PGCONF_MAX_BYTES, &text, &len, e, sizeof(e));
	if (r != 0) {
		czpg_errf(err, errlen, "%s%s", r == 1 ? "postgresql.conf not found at " : "",
			r == 1 ? p->pgconf_path : e);
		if (r == 1)
			snprintf(err + strlen(err), errlen - strlen(err),
				 ": pass --postgresql-conf FILE");
		goto out;
	}
	confdir = dir_of(p->pgconf_path);
	if (confdir == NULL || czpg_pgconf_check_include((const char *)text, len, confdir,
							 p->conf_dir, &chk, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s: %s", p->pgconf_path, e);
		goto out;
	}
	if (!chk.included) {
		czpg_errf(err, errlen,
			"%s does not include %s, so PostgreSQL would never read cz-tls.conf: add "
			"this line at its end, then run again:  %s",
			p->pgconf_path, p->conf_dir, chk.line_to_add);
		goto out;
	}
	p->include_line = chk.include_line;
	for (i = 0; i < chk.n_overrides; i++)
		warn(p,
		     "%s line %u sets %s again after the include_dir on line %u: it overrides "
		     "cz-tls.conf; remove it",
		     p->pgconf_path, chk.overrides[i].line, chk.overrides[i].name,
		     chk.include_line);
	for (i = 0; i < chk.n_later_includes; i++)
		warn(p,
		     "%s line %u includes more configuration after conf.d: check that it sets no "
		     "ssl parameter",
		     p->pgconf_path, chk.later_includes[i]);
	cert = join(p->server_cert_dir, "server.crt");
	key = join(p->server_cert_dir, "server.key");
	ca = join(p->server_cert_dir, "ca-bundle.crt");
	tls.cert_file = cert;
	tls.key_file = key;
	tls.ca_file = ca;
	tls.allow_tls12_fallback = p->o.allow_tls12_fallback;
	if (cert == NULL || key == NULL || ca == NULL ||
	    czpg_pgconf_render_tls(&tls, &rendered, &rlen, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "--cert-dir: %s", e);
		goto out;
	}
	if (czpg_fs_file_info(p->pgconf_path, &info, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s", e);
		goto out;
	}
	if (add_file(p, ST_CONF, p->conf_path, "postgresql.conf TLS block", false, false, rendered,
		     rlen, 0644, (long)info.uid, (long)info.gid, err, errlen) < 0) {
		rc = CZPG_RESULT_ERROR;
		goto out;
	}
	rc = CZPG_RESULT_OK;
out:
	czpg_pgconf_check_free(&chk);
	free(text);
	free(confdir);
	free(cert);
	free(key);
	free(ca);
	free(rendered);
	return rc;
}

static int plan_hba(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_hba_params hp = {0};
	struct pfile cur = {0};
	const char *newtext;
	size_t newlen, i;
	char e[1024];
	int rc = CZPG_RESULT_BAD_INPUT;

	if (read_current(p->hba_path, CZPG_HBA_MAX_BYTES, false, &cur, e, sizeof(e)) != 0) {
		czpg_errf(err, errlen, "--hba-path: %s", e);
		goto out;
	}
	hp.mode = p->o.mode;
	hp.cidr = p->o.allow_cidr;
	hp.roles = p->o.roles;
	hp.n_roles = p->o.n_roles;
	hp.database = NULL;
	if (czpg_hba_plan((const char *)cur.old, cur.old_len, &hp, &p->hba, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s: %s", p->hba_path, e);
		goto out;
	}
	newtext = czpg_hba_plan_output(p->hba, &newlen);
	if (add_file(p, ST_HBA, p->hba_path, "pg_hba.conf", false, false, newtext, newlen,
		     cur.old_mode, (long)cur.old_uid, (long)cur.old_gid, err, errlen) < 0) {
		rc = CZPG_RESULT_ERROR;
		goto out;
	}
	for (i = 0; i < czpg_hba_plan_nwarnings(p->hba); i++)
		warn(p, "pg_hba.conf: %s", czpg_hba_plan_warning(p->hba, i));
	rc = CZPG_RESULT_OK;
out:
	free(cur.old);
	return rc;
}

static int plan_export(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct pfile *b = find_file(p, p->bundle_path);

	if (p->export_ca == NULL)
		return CZPG_RESULT_OK;
	if (b == NULL) {
		czpg_errf(err, errlen, "internal error: no CA bundle planned");
		return CZPG_RESULT_ERROR;
	}
	if (strcmp(p->export_ca, p->bundle_path) == 0)
		return CZPG_RESULT_OK; /* exporting the bundle itself */
	if (add_file(p, ST_EXPORT, p->export_ca, "exported CA bundle (give it to clients)", false,
		     false, b->data, b->len, 0644, p->me_uid, p->me_gid, err, errlen) < 0)
		return CZPG_RESULT_ERROR;
	return CZPG_RESULT_OK;
}

static int plan_server(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	unsigned conf_port = 0;
	char e[600];

	p->srv.admin_user = o->admin_user != NULL ? o->admin_user : "postgres";
	p->srv.timeout_ms = 30000;
	if (czpg_hba_name_check(p->srv.admin_user, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "--admin-user '%s': %s", p->srv.admin_user, e);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (o->container != NULL) {
		p->srv.kind = CZPG_SERVER_CONTAINER;
		p->srv.docker = o->docker != NULL ? o->docker : "docker";
		p->srv.container = o->container;
		p->verify_port = o->verify_port != 0 ? o->verify_port : 5432;
		p->srv.port = p->verify_port;
	} else {
		uint8_t *conf = NULL, *autoconf = NULL;
		size_t clen = 0, alen = 0;
		char *autopath = join(p->pgdata, "postgresql.auto.conf");

		p->srv.kind = CZPG_SERVER_LOCAL;
		p->srv.pgdata = p->pgdata;
		if (czpg_reload_find_pg_bin(p->pgdata, o->pg_bin, p->pg_bin, sizeof(p->pg_bin), e,
					    sizeof(e)) == 0) {
			p->srv.pg_bin = p->pg_bin;
		} else if (o->pg_bin != NULL) {
			czpg_errf(err, errlen, "%s", e);
			free(autopath);
			return CZPG_RESULT_BAD_INPUT;
		} else {
			warn(p, "%s; the reload will signal the postmaster directly", e);
		}
		snprintf(p->socket_dir, sizeof(p->socket_dir), "/var/run/postgresql");
		czpg_fs_read_file(p->pgconf_path, CZPG_PGCONF_MAX_BYTES, &conf, &clen, NULL, 0);
		if (autopath != NULL)
			czpg_fs_read_file(autopath, CZPG_PGCONF_MAX_BYTES, &autoconf, &alen, NULL,
					  0);
		czpg_reload_conf_socket((const char *)conf, clen, (const char *)autoconf, alen,
					p->socket_dir, sizeof(p->socket_dir), &conf_port, NULL, 0);
		free(conf);
		free(autoconf);
		free(autopath);
		if (o->socket_dir != NULL)
			snprintf(p->socket_dir, sizeof(p->socket_dir), "%s", o->socket_dir);
		p->srv.socket_dir = p->socket_dir;
		p->verify_port = o->verify_port != 0 ? o->verify_port
				 : conf_port != 0    ? conf_port
						     : 5432;
		p->srv.port = conf_port != 0 ? conf_port : p->verify_port;
	}
	p->verify_host = o->verify_host != NULL ? o->verify_host : o->ip;
	p->verify_user = o->verify_user != NULL ? o->verify_user : o->roles[0];
	p->verify_dbname = o->verify_dbname != NULL ? o->verify_dbname : "postgres";
	czpg_reload_describe(&p->srv, p->reload_desc, sizeof(p->reload_desc));
	czpg_reload_describe_query(&p->srv, p->query_desc, sizeof(p->query_desc));
	return CZPG_RESULT_OK;
}

enum czpg_result czpg_provision_plan(const struct czpg_provision_opts *opts, struct czpg_provision_plan **out,
			char *err, size_t errlen)
{
	struct czpg_provision_plan *p = calloc(1, sizeof(*p));
	int rc = CZPG_RESULT_BAD_INPUT;

	*out = NULL;
	if (p == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return CZPG_RESULT_ERROR;
	}
	p->o = *opts;
	if (validate_inputs(p, err, errlen) < 0 || resolve_paths(p, err, errlen) < 0 ||
	    check_paths(p, err, errlen) < 0)
		goto out;
	if ((rc = plan_server(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_certs(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_conf(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_hba(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_export(p, err, errlen)) != CZPG_RESULT_OK)
		goto out;
	rc = CZPG_RESULT_OK;
	*out = p;
	p = NULL;
out:
	czpg_provision_plan_free(p);
	return rc;
}

/* ------------------------------------------------------------ dry run */

static void print_indented(FILE *out, const char *prefix, const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && text[j] != '\n')
			j++;
		fprintf(out, "%s%.*s\n", prefix, (int)(j - i), text + i);
		i = j + 1;
	}
}

static void print_cert_summary(FILE *out, const struct pfile *f)
{
	X509 *x = NULL;
	struct czpg_pki_info info;
	size_t i;

	if (czpg_pki_cert_from_pem(f->data, f->len, &x, NULL, 0) < 0 ||
	    czpg_pki_inspect(x, 0, &info, NULL, 0) < 0) {
		X509_free(x);
		return;
	}
	fprintf(out, "      subject CN=%s, issuer CN=%s, %s %s, serial %s, %ld days left\n",
		info.subject_cn, info.issuer_cn, info.key_type, info.curve, info.serial_hex,
		info.days_left);
	if (info.n_ip + info.n_dns > 0) {
		fprintf(out, "      SANs:");
		for (i = 0; i < info.n_ip; i++)
			fprintf(out, " IP:%s", info.ip_sans[i]);
		for (i = 0; i < info.n_dns; i++)
			fprintf(out, " DNS:%s", info.dns_sans[i]);
		fprintf(out, "\n");
	}
	X509_free(x);
}

static void print_file(FILE *out, const struct pfile *f)
{
	struct czpg_wbuf diff;

	if (f->action == FA_UNCHANGED) {
		fprintf(out, "  unchanged %s (mode %04o, owner %ld:%ld): %s\n", f->path,
			(unsigned)f->mode, f->uid, f->gid, f->what);
		return;
	}
	fprintf(out, "  %s %s (mode %04o, owner %ld:%ld): %s\n", action_name[f->action], f->path,
		(unsigned)f->mode, f->uid, f->gid, f->what);
	if (f->action == FA_PERMS) {
		fprintf(out, "      content unchanged; now mode %04o, owner %ld:%ld\n",
			(unsigned)f->old_mode, (long)f->old_uid, (long)f->old_gid);
		return;
	}
	if (f->old_exists &&
	    (f->old_mode != f->mode || (long)f->old_uid != f->uid || (long)f->old_gid != f->gid))
		fprintf(out, "      (now mode %04o, owner %ld:%ld)\n", (unsigned)f->old_mode,
			(long)f->old_uid, (long)f->old_gid);
	if (f->secret) {
		fprintf(out, "      <new private key, not shown>\n");
		return;
	}
	if (f->is_cert)
		print_cert_summary(out, f);
	if (f->action == FA_CREATE) {
		print_indented(out, "    | ", (const char *)f->data, f->len);
		return;
	}
	czpg_wbuf_init(&diff, 0);
	if (czpg_fs_unified_diff(f->old, f->old_len, f->data, f->len, f->path, f->path, &diff) > 0)
		print_indented(out, "    ", (const char *)diff.data, diff.len);
	else
		fprintf(out, "      (diff too large to show)\n");
	czpg_wbuf_free(&diff);
}

static void print_step_files(FILE *out, const struct czpg_provision_plan *p, enum step_id s)
{
	size_t i;

	for (i = 0; i < p->nfiles; i++)
		if (p->files[i].step == s)
			print_file(out, &p->files[i]);
}

static void verify_command(const struct czpg_provision_plan *p, char *buf, size_t len)
{
	snprintf(buf, len,
		 "czctl postgres tls verify --host %s --port %u --user %s --dbname %s --ca %s%s%s",
		 p->verify_host, p->verify_port, p->verify_user, p->verify_dbname, p->bundle_path,
		 p->o.mode == CZPG_HBA_MODE_HARDEN ? " --expect-plaintext-refused" : "",
		 p->o.allow_tls12_fallback ? " --min-tls 1.2" : "");
}

void czpg_provision_print_plan(const struct czpg_provision_plan *p, FILE *out)
{
	char cmd[2048];
	size_t i, changes = czpg_provision_plan_changes(p);
	const struct pfile *cert_leaf = NULL;
	char sha[80] = "";

	for (i = 0; i < p->nfiles; i++)
		if (strcmp(p->files[i].what, "server certificate") == 0)
			cert_leaf = &p->files[i];
	if (cert_leaf != NULL)
		snprintf(sha, sizeof(sha), "%.23s...", p->leaf_info.fingerprint);
	fprintf(out, "DRY RUN: nothing is written and the server is not contacted. Add --apply to "
		     "do the following.\n\n");
	fprintf(out, "1. certificates in %s\n   %s\n", p->cert_dir, p->cert_story);
	if (p->gen_ca || p->gen_leaf)
		fprintf(out, "   (keys and serials shown are this run's; --apply generates its "
			     "own)\n");
	if (p->o.force && p->have_prev)
		fprintf(
		    out,
		    "   NOTE: --force replaces the CA. Clients that trust only the old CA fail "
		    "verify-full until they get the new ca-bundle.crt (it holds both CAs for %d "
		    "days).\n",
		    CZPG_PROVISION_CA_OVERLAP_DAYS);
	print_step_files(out, p, ST_CERTS);
	fprintf(out, "\n2. postgresql.conf TLS block\n   %s includes %s (line %u)\n",
		p->pgconf_path, p->conf_dir, p->include_line);
	print_step_files(out, p, ST_CONF);
	fprintf(out, "\n3. pg_hba.conf managed block (%s mode)\n", czpg_hba_mode_name(p->o.mode));
	print_indented(out, "   ", czpg_hba_plan_explain(p->hba),
		       strlen(czpg_hba_plan_explain(p->hba)));
	print_step_files(out, p, ST_HBA);
	fprintf(out, "\n4. reload (never a restart)\n   run: %s\n", p->reload_desc);
	fprintf(out,
		"   then wait for pg_conf_load_time() to change, and read pg_hba_file_rules and "
		"pg_file_settings for errors through:\n     %s\n",
		p->query_desc);
	fprintf(out, "   then check that %s:%u serves the new server certificate (SHA-256 %s)\n",
		p->verify_host, p->verify_port, sha);
	fprintf(out, "   on any error every file above is restored and the server reloaded "
		     "again\n");
	fprintf(out, "\n5. CA export\n");
	if (p->export_ca == NULL)
		fprintf(out, "  skipped: no --export-ca (clients need %s)\n", p->bundle_path);
	else if (find_file((struct czpg_provision_plan *)p, p->export_ca) == NULL)
		fprintf(out, "  %s is the bundle itself\n", p->export_ca);
	print_step_files(out, p, ST_EXPORT);
	fprintf(out, "\n6. self-verify\n");
	verify_command(p, cmd, sizeof(cmd));
	if (p->o.skip_verify)
		fprintf(out,
			"  SKIPPED (--skip-verify): TLS would NOT be proven; run later:\n  %s\n",
			cmd);
	else
		fprintf(out, "  run: %s\n", cmd);
	for (i = 0; i < p->nwarn; i++)
		fprintf(out, "\nWARNING: %s", p->warnings[i]);
	fprintf(out,
		"%s\nsummary: %zu file%s to create or change, %zu unchanged; dry run, nothing "
		"written\n",
		p->nwarn > 0 ? "\n" : "", changes, changes == 1 ? "" : "s", p->nfiles - changes);
	fflush(out);
}

/* ------------------------------------------------------------ apply */

static int write_file(struct pfile *f, char *err, size_t errlen)
{
	if (f->action == FA_UNCHANGED)
		return 0;
	if (czpg_fs_write_atomic(f->path, f->data, f->len, f->mode, f->uid, f->gid, err, errlen) <
	    0)
		return -1;
	f->written = true;
	return 0;
}

/* Puts back every file written so far; returns the number that could not be restored. */
static int restore_files(struct czpg_provision_plan *p, char *note, size_t notelen)
{
	size_t i;
	int failed = 0, restored = 0, removed = 0;
	char e[600];

	note[0] = '\0';
	for (i = p->nfiles; i-- > 0;) {
		struct pfile *f = &p->files[i];

		if (!f->written)
			continue;
		if (f->old_exists) {
			if (czpg_fs_write_atomic(f->path, f->old, f->old_len, f->old_mode,
						 (long)f->old_uid, (long)f->old_gid, e,
						 sizeof(e)) < 0) {
				failed++;
				snprintf(note + strlen(note), notelen - strlen(note),
					 "could not restore %s: %s; ", f->path, e);
				continue;
			}
			restored++;
		} else if (unlink(f->path) < 0 && errno != ENOENT) {
			failed++;
			snprintf(note + strlen(note), notelen - strlen(note),
				 "could not remove %s: %s; ", f->path, strerror(errno));
			continue;
		} else {
			removed++;
		}
		f->written = false;
	}
	snprintf(note + strlen(note), notelen - strlen(note),
		 "restored %d changed file%s to %s previous content", restored,
		 restored == 1 ? "" : "s", restored == 1 ? "its" : "their");
	if (removed > 0)
		snprintf(note + strlen(note), notelen - strlen(note), " and removed %d new file%s",
			 removed, removed == 1 ? "" : "s");
	p->rolled_back = true;
	return failed;
}

static int write_step(struct czpg_provision_plan *p, enum step_id s, int *nwritten, char *err,
		      size_t errlen)
{
	size_t i;

	*nwritten = 0;
	for (i = 0; i < p->nfiles; i++) {
		if (p->files[i].step != s)
			continue;
		if (write_file(&p->files[i], err, errlen) < 0)
			return -1;
		if (p->files[i].action != FA_UNCHANGED)
			(*nwritten)++;
	}
	return 0;
}

static void print_step(FILE *out, const struct czpg_provision_plan *p, enum step_id s)
{
	static const char *const tag[] = {"----", "PASS", "FAIL", "SKIP"};

	if (out == NULL || p->steps[s].state == S_NOT_RUN)
		return;
	czpg_report_line(out, tag[p->steps[s].state], "%s: %s", step_name[s], p->steps[s].detail);
}

static int wait_and_check(struct czpg_provision_plan *p, const char *before, char *detail,
			  size_t detlen, char *how, size_t howlen)
{
	char after[128], e[1200], errors[2048], others[2048];
	const struct pfile *leaf = NULL;
	uint8_t want[32], got[32];
	unsigned int mdlen = 0;
	int w, n, attempt, r = -1;
	size_t i;
	X509 *x = NULL;

	for (i = 0; i < p->nfiles; i++)
		if (strcmp(p->files[i].what, "server certificate") == 0)
			leaf = &p->files[i];
	if (leaf == NULL || czpg_pki_cert_from_pem(leaf->data, leaf->len, &x, NULL, 0) < 0 ||
	    X509_digest(x, EVP_sha256(), want, &mdlen) != 1) {
		X509_free(x);
		snprintf(detail, detlen, "cannot hash the planned server certificate");
		return -1;
	}
	X509_free(x);
	w = czpg_reload_wait(&p->srv, before, 10000, after, sizeof(after), e, sizeof(e));
	if (w < 0) {
		fmt_to(detail, detlen, "after %s: %s", how, e);
		return -1;
	}
	n = czpg_reload_check_views(&p->srv, CZPG_PGCONF_TLS_FILE, errors, sizeof(errors), others,
				    sizeof(others), e, sizeof(e));
	if (n < 0) {
		fmt_to(detail, detlen, "after %s: %s", how, e);
		return -1;
	}
	if (others[0] != '\0')
		warn(p, "the server reports errors in files provision did not write: %s", others);
	if (n > 0) {
		fmt_to(detail, detlen,
		       "the server rejects the files as written (PostgreSQL keeps its previous "
		       "settings when a file has errors): %s",
		       errors);
		return 1;
	}
	/* After a confirmed reload the answer is final; allow a few tries anyway. */
	for (attempt = 0; attempt < (w == 0 ? 4 : 20); attempt++) {
		r = czpg_served_cert_sha256(p->verify_host, p->verify_port, 5000, got, e,
					    sizeof(e));
		if (r == 0 && memcmp(got, want, 32) == 0)
			break;
		usleep(250 * 1000);
	}
	if (r != 0 || memcmp(got, want, 32) != 0) {
		snprintf(
		    detail, detlen,
		    "%s:%u %s after the reload: PostgreSQL did not load the new certificate "
		    "and key (its log says \"SSL configuration was not reloaded\"); check that "
		    "server.key is owned by the database user (uid %ld) with mode 0600 and "
		    "that the server can read %s",
		    p->verify_host, p->verify_port,
		    r == 1   ? "still does not offer TLS"
		    : r == 0 ? "still serves a different certificate"
			     : "could not be reached over TLS",
		    p->db_uid, p->server_cert_dir);
		if (r < 0)
			snprintf(detail + strlen(detail), detlen - strlen(detail), " (%s)", e);
		return 1;
	}
	snprintf(detail, detlen,
		 "%s; configuration reloaded at %s%s; pg_hba_file_rules and pg_file_settings "
		 "show no error; %s:%u serves the leaf with serial %s",
		 how, after, w == 1 ? " (load time unchanged)" : "", p->verify_host, p->verify_port,
		 p->leaf_info.serial_hex);
	return 0;
}

static void apply_verify(struct czpg_provision_plan *p)
{
	struct czpg_verify_options vo = {0};
	int r;

	vo.host = p->verify_host;
	vo.port = p->verify_port;
	vo.user = p->verify_user;
	vo.dbname = p->verify_dbname;
	vo.ca_file = p->bundle_path;
	vo.password = p->o.password;
	vo.channel_binding = CZPG_CB_PREFER;
	vo.expect_plaintext_refused = p->o.mode == CZPG_HBA_MODE_HARDEN;
	vo.min_tls = p->o.allow_tls12_fallback ? TLS1_2_VERSION : TLS1_3_VERSION;
	vo.timeout_ms = p->o.timeout_ms != 0 ? p->o.timeout_ms : 10000;
	vo.client = CZPG_VERIFY_NATIVE;
	r = czpg_verify_run(&vo, &p->vres);
	p->verified = true;
	if (r < 0) {
		step_set(p, ST_VERIFY, S_FAIL, "could not run: %s", p->vres.failure);
		p->result = CZPG_RESULT_ERROR;
	} else if (!p->vres.pass) {
		step_set(p, ST_VERIFY, S_FAIL, "%s%s%s", p->vres.failure,
			 p->vres.hint[0] != '\0' ? "; hint: " : "", p->vres.hint);
		p->result = CZPG_RESULT_FAIL;
	} else {
		step_set(p, ST_VERIFY, S_PASS,
			 "verify-full as %s to %s:%u: client %s / %s, pg_stat_ssl ssl=true %s / "
			 "%s%s",
			 p->verify_user, p->verify_host, p->verify_port, p->vres.client_version,
			 p->vres.client_cipher, p->vres.server_version, p->vres.server_cipher,
			 p->vres.plaintext_checked ? "; plaintext refused" : "");
	}
}

enum czpg_result czpg_provision_apply(struct czpg_provision_plan *p, FILE *out)
{
	char e[1200], before[128], how[1200], detail[2048], note[1024];
	int n, i, r;
	enum step_id s;

	p->applied = true;
	p->result = CZPG_RESULT_OK;
	/* The checks after the reload need the server: make sure it answers first. */
	if (czpg_reload_load_time(&p->srv, before, sizeof(before), e, sizeof(e)) < 0) {
		step_set(p, ST_RELOAD, S_FAIL, "%s; nothing was written", e);
		print_step(out, p, ST_RELOAD);
		p->result = CZPG_RESULT_ERROR;
		goto out;
	}
	for (s = ST_CERTS; s <= ST_HBA; s++) {
		if (s == ST_CERTS && czpg_fs_mkdir_p(p->cert_dir, 0755, e, sizeof(e)) < 0)
			goto write_failed;
		if (s == ST_CONF && czpg_fs_mkdir_p(p->conf_dir, 0755, e, sizeof(e)) < 0)
			goto write_failed;
		if (write_step(p, s, &n, e, sizeof(e)) < 0)
			goto write_failed;
		if (s == ST_CERTS)
			step_set(p, s, S_PASS, "%s; %d file%s written in %s", p->cert_story, n,
				 n == 1 ? "" : "s", p->cert_dir);
		else if (s == ST_CONF)
			step_set(p, s, S_PASS, "%s %s (included by %s line %u)", p->conf_path,
				 n > 0 ? "written" : "unchanged", p->pgconf_path, p->include_line);
		else
			step_set(p, s, S_PASS, "%s block %s at line %u of %s",
				 czpg_hba_mode_name(p->o.mode), n > 0 ? "written" : "unchanged",
				 czpg_hba_plan_block_line(p->hba), p->hba_path);
		print_step(out, p, s);
		continue;
	write_failed:
		step_set(p, s, S_FAIL, "%s", e);
		print_step(out, p, s);
		r = restore_files(p, note, sizeof(note));
		fmt_to(p->rollback_note, sizeof(p->rollback_note), "%s (no reload was sent)%s",
		       note, r > 0 ? "; RESTORE INCOMPLETE" : "");
		if (out != NULL)
			czpg_report_line(out, r > 0 ? "FAIL" : "INFO", "rollback: %s",
					p->rollback_note);
		p->result = CZPG_RESULT_ERROR;
		goto out;
	}

	if (czpg_reload_signal(&p->srv, how, sizeof(how), e, sizeof(e)) < 0) {
		snprintf(detail, sizeof(detail), "%s", e);
		r = -1;
	} else {
		r = wait_and_check(p, before, detail, sizeof(detail), how, sizeof(how));
	}
	if (r != 0) {
		char how2[1200], e2[600], after[128];
		int failed;

		step_set(p, ST_RELOAD, S_FAIL, "%s", detail);
		print_step(out, p, ST_RELOAD);
		failed = restore_files(p, note, sizeof(note));
		if (czpg_reload_load_time(&p->srv, before, sizeof(before), e2, sizeof(e2)) < 0)
			before[0] = '\0';
		if (czpg_reload_signal(&p->srv, how2, sizeof(how2), e2, sizeof(e2)) < 0)
			fmt_to(p->rollback_note, sizeof(p->rollback_note),
			       "%s; the second reload failed: %s", note, e2);
		else {
			int w = czpg_reload_wait(&p->srv, before, 10000, after, sizeof(after), e2,
						 sizeof(e2));

			fmt_to(p->rollback_note, sizeof(p->rollback_note),
			       "%s; reloaded again (%s)%s", note, how2,
			       w == 0 ? "" : ": reload not confirmed");
		}
		if (out != NULL)
			czpg_report_line(out, failed > 0 ? "FAIL" : "INFO", "rollback: %s",
					p->rollback_note);
		p->result = r > 0 ? CZPG_RESULT_FAIL : CZPG_RESULT_ERROR;
		goto out;
	}
	step_set(p, ST_RELOAD, S_PASS, "%s", detail);
	print_step(out, p, ST_RELOAD);

	if (p->export_ca == NULL) {
		step_set(p, ST_EXPORT, S_SKIP, "no --export-ca: give clients %s", p->bundle_path);
	} else {
		char *d = dir_of(p->export_ca);

		r = d != NULL ? czpg_fs_mkdir_p(d, 0755, e, sizeof(e)) : -1;
		free(d);
		n = 0;
		if (r == 0)
			r = write_step(p, ST_EXPORT, &n, e, sizeof(e));
		if (r < 0) {
			step_set(p, ST_EXPORT, S_FAIL, "%s", e);
			p->result = CZPG_RESULT_ERROR;
		} else {
			step_set(p, ST_EXPORT, S_PASS, "%s %s (%d CA certificate%s, mode 0644)",
				 p->export_ca, n > 0 ? "written" : "unchanged",
				 p->prev_in_bundle ? 2 : 1, p->prev_in_bundle ? "s" : "");
		}
	}
	print_step(out, p, ST_EXPORT);

	if (p->o.skip_verify) {
		char cmd[2048];

		verify_command(p, cmd, sizeof(cmd));
		step_set(p, ST_VERIFY, S_SKIP, "--skip-verify: TLS is NOT proven until you run: %s",
			 cmd);
		print_step(out, p, ST_VERIFY);
	} else {
		apply_verify(p);
		print_step(out, p, ST_VERIFY);
		if (out != NULL) {
			struct czpg_verify_options vo = {
			    .host = p->verify_host, .port = p->verify_port, .user = p->verify_user};

			czpg_verify_print(out, &vo, &p->vres);
		}
	}
out:
	if (out != NULL) {
		for (i = 0; i < (int)p->nwarn; i++)
			czpg_report_line(out, "WARN", "%s", p->warnings[i]);
		if (p->result == CZPG_RESULT_OK)
			fprintf(out, "summary: PASS, %s mode in force on %s:%u. %s\n",
				czpg_hba_mode_name(p->o.mode), p->verify_host, p->verify_port,
				p->o.mode == CZPG_HBA_MODE_TRANSITION
				    ? "Next: give the application the exported CA, switch it "
				      "to sslmode=verify-full, then run again with --mode "
				      "harden --apply."
				    : "Plaintext from the allowed network is refused.");
		else
			fprintf(out, "summary: FAIL (exit %d)%s%s\n", czpg_report_exit_code(p->result),
				p->rolled_back ? "; " : "", p->rolled_back ? p->rollback_note : "");
		fflush(out);
	}
	return p->result;
}

/* ------------------------------------------------------------ JSON */

void czpg_provision_print_json(const struct czpg_provision_plan *p, FILE *out)
{
	static const char *const state[] = {"NOT_RUN", "PASS", "FAIL", "SKIP"};
	struct czpg_json j;
	struct czpg_wbuf diff;
	char cmd[2048];
	size_t i;
	int s;

	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "result",
			    !p->applied                    ? "PLAN"
			    : p->result == CZPG_RESULT_OK ? "PASS"
							   : "FAIL");
	czpg_json_kv_int(&j, "exit_code", p->applied ? czpg_report_exit_code(p->result) : 0);
	czpg_json_kv_bool(&j, "applied", p->applied);
	czpg_json_kv_string(&j, "mode", czpg_hba_mode_name(p->o.mode));
	czpg_json_kv_string(&j, "server",
			    p->srv.kind == CZPG_SERVER_CONTAINER ? "container" : "local");
	czpg_json_key(&j, "steps");
	czpg_json_array_begin(&j);
	for (s = 0; s < ST_N; s++) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "step", step_name[s]);
		czpg_json_kv_string(&j, "result", state[p->steps[s].state]);
		czpg_json_kv_string(&j, "detail", p->steps[s].detail);
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);
	czpg_json_key(&j, "ca");
	czpg_json_object_begin(&j);
	czpg_json_kv_bool(&j, "new", p->gen_ca);
	czpg_json_kv_string(&j, "serial", p->ca_info.serial_hex);
	czpg_json_kv_string(&j, "fingerprint_sha256", p->ca_info.fingerprint);
	czpg_json_kv_int(&j, "days_left", p->ca_info.days_left);
	czpg_json_kv_bool(&j, "previous_in_bundle", p->prev_in_bundle);
	czpg_json_object_end(&j);
	czpg_json_key(&j, "leaf");
	czpg_json_object_begin(&j);
	czpg_json_kv_bool(&j, "new", p->gen_leaf);
	czpg_json_kv_string(&j, "serial", p->leaf_info.serial_hex);
	czpg_json_kv_string(&j, "fingerprint_sha256", p->leaf_info.fingerprint);
	czpg_json_kv_int(&j, "days_left", p->leaf_info.days_left);
	czpg_json_kv_string(&j, "ip", p->o.ip);
	czpg_json_kv_string(&j, "dns", p->o.dns);
	czpg_json_object_end(&j);
	czpg_json_key(&j, "files");
	czpg_json_array_begin(&j);
	for (i = 0; i < p->nfiles; i++) {
		const struct pfile *f = &p->files[i];

		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "path", f->path);
		czpg_json_kv_string(&j, "step", step_name[f->step]);
		czpg_json_kv_string(&j, "what", f->what);
		czpg_json_kv_string(&j, "action", action_name[f->action]);
		czpg_json_kv_uint(&j, "mode", (uint64_t)f->mode);
		czpg_json_kv_int(&j, "uid", f->uid);
		czpg_json_kv_int(&j, "gid", f->gid);
		czpg_json_kv_bool(&j, "secret", f->secret);
		if (!p->applied && f->action != FA_UNCHANGED && !f->secret) {
			if (f->action == FA_REPLACE) {
				czpg_wbuf_init(&diff, 0);
				czpg_wbuf_u8(&diff, 0);
				diff.len = 0;
				if (czpg_fs_unified_diff(f->old, f->old_len, f->data, f->len,
							 f->path, f->path, &diff) > 0 &&
				    czpg_wbuf_u8(&diff, 0) == 0)
					czpg_json_kv_string(&j, "diff", (const char *)diff.data);
				czpg_wbuf_free(&diff);
			} else {
				czpg_json_kv_string(&j, "content", (const char *)f->data);
			}
		}
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);
	czpg_json_kv_string(&j, "hba_explanation", czpg_hba_plan_explain(p->hba));
	czpg_json_kv_string(&j, "reload_command", p->reload_desc);
	czpg_json_kv_string(&j, "query_command", p->query_desc);
	verify_command(p, cmd, sizeof(cmd));
	czpg_json_kv_string(&j, "verify_command", cmd);
	czpg_json_key(&j, "verify");
	if (p->verified) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "result", p->vres.pass ? "PASS" : "FAIL");
		czpg_json_kv_string(&j, "failure", p->vres.pass ? NULL : p->vres.failure);
		czpg_json_kv_string(&j, "client_version", p->vres.client_version);
		czpg_json_kv_string(&j, "client_cipher", p->vres.client_cipher);
		czpg_json_kv_bool(&j, "pg_stat_ssl_ssl", p->vres.server_ssl);
		czpg_json_kv_string(&j, "pg_stat_ssl_version", p->vres.server_version);
		czpg_json_kv_string(&j, "pg_stat_ssl_cipher", p->vres.server_cipher);
		czpg_json_kv_string(&j, "certificate_serial", p->vres.cert.serial);
		czpg_json_kv_bool(&j, "plaintext_checked", p->vres.plaintext_checked);
		czpg_json_kv_bool(&j, "plaintext_refused", p->vres.plaintext_refused);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}
	czpg_json_kv_string(&j, "rollback", p->rolled_back ? p->rollback_note : NULL);
	czpg_json_key(&j, "warnings");
	czpg_json_array_begin(&j);
	for (i = 0; i < p->nwarn; i++)
		czpg_json_string(&j, p->warnings[i]);
	czpg_json_array_end(&j);
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}
