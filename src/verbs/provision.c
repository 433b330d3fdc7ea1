/*
 * provision.c - `czctl postgres tls provision`: the plan object and its
 * entry point (see czpg/provision.h), and the planning of the three
 * configuration files: <conf.d>/cz-tls.conf, pg_hba.conf's managed block and
 * the exported CA.
 *
 * The plan holds the complete new content of every file before anything is
 * written, so the dry run can print exactly that, and --apply can restore
 * every previous file byte for byte when the server rejects what was
 * written.  The other pieces: provision_inputs.c (options and paths),
 * provision_certs.c (certificates), provision_apply.c (writes, reload,
 * rollback); the printers are in src/report/provision_report.c.
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "czpg/buf.h"
#include "czpg/fsutil.h"
#include "czpg/pgconf.h"
#include "czpg/pki.h"
#include "provision_internal.h"

/* Largest current file read into the plan. */
#define PLAN_MAX_FILE_BYTES ((size_t)16 << 20)

/* Where each role's file is written and whether its content may be printed. */
static const struct {
	enum czpg_provision_step step;
	bool secret; /* a private key */
	bool cert;   /* a certificate: the dry run summarises it */
} role_info[CZPG_PROVISION_NROLES] = {
    [CZPG_PROVISION_ROLE_CA_KEY] = {CZPG_PROVISION_STEP_CERTS, true, false},
    [CZPG_PROVISION_ROLE_CA_CERT] = {CZPG_PROVISION_STEP_CERTS, false, true},
    [CZPG_PROVISION_ROLE_PREV_CA] = {CZPG_PROVISION_STEP_CERTS, false, true},
    [CZPG_PROVISION_ROLE_LEAF_KEY] = {CZPG_PROVISION_STEP_CERTS, true, false},
    [CZPG_PROVISION_ROLE_LEAF_CERT] = {CZPG_PROVISION_STEP_CERTS, false, true},
    [CZPG_PROVISION_ROLE_BUNDLE] = {CZPG_PROVISION_STEP_CERTS, false, false},
    [CZPG_PROVISION_ROLE_TLS_CONF] = {CZPG_PROVISION_STEP_CONF, false, false},
    [CZPG_PROVISION_ROLE_HBA] = {CZPG_PROVISION_STEP_HBA, false, false},
    [CZPG_PROVISION_ROLE_EXPORT] = {CZPG_PROVISION_STEP_EXPORT, false, false},
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
	free(f->diff);
	free(f->cert);
	memset(f, 0, sizeof(*f));
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
	czpg_hba_plan_free(p->hba);
	free(r->cert_dir);
	free(p->server_cert_dir);
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

enum czpg_result czpg_provision_add_file(struct czpg_provision_plan *p,
					 enum czpg_provision_role role, const char *path,
					 const void *data, size_t len, mode_t mode, long uid,
					 long gid, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_provision_file *f;

	if (r->nfiles >= CZPG_PROVISION_MAX_FILES) {
		czpg_errf(err, errlen, "too many files in the plan");
		return CZPG_RESULT_ERROR;
	}
	f = &r->files[r->nfiles++];
	f->role = role;
	f->step = role_info[role].step;
	f->secret = role_info[role].secret;
	f->path = strdup(path);
	f->data = malloc(len + 1);
	if (f->path == NULL || f->data == NULL) {
		czpg_errf(err, errlen, "out of memory");
		return CZPG_RESULT_ERROR;
	}
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	f->mode = mode;
	f->uid = uid;
	f->gid = gid;
	if (read_current(path, PLAN_MAX_FILE_BYTES, f, err, errlen) < 0)
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

/* cz-tls.conf, after checking that postgresql.conf reads the conf dir at all. */
static enum czpg_result plan_conf(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_pgconf_tls tls = {0};
	struct czpg_pgconf_check chk = {0};
	struct czpg_fs_info info;
	uint8_t *text = NULL;
	size_t len = 0, i;
	char *cert = NULL, *key = NULL, *ca = NULL, *rendered = NULL, *confdir = NULL, e[600];
	size_t rlen = 0;
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
	confdir = czpg_provision_path_dir(r->pgconf_path);
	if (confdir == NULL || czpg_pgconf_check_include((const char *)text, len, confdir,
							 r->conf_dir, &chk, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s: %s", r->pgconf_path, e);
		goto out;
	}
	if (!chk.included) {
		czpg_errf(err, errlen,
			  "%s does not include %s, so PostgreSQL would never read cz-tls.conf: add "
			  "this line at its end, then run again:  %s",
			  r->pgconf_path, r->conf_dir, chk.line_to_add);
		goto out;
	}
	r->include_line = chk.include_line;
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
	cert = czpg_provision_path_join(p->server_cert_dir, "server.crt");
	key = czpg_provision_path_join(p->server_cert_dir, "server.key");
	ca = czpg_provision_path_join(p->server_cert_dir, "ca-bundle.crt");
	tls.cert_file = cert;
	tls.key_file = key;
	tls.ca_file = ca;
	tls.allow_tls12_fallback = p->o.allow_tls12_fallback;
	if (cert == NULL || key == NULL || ca == NULL ||
	    czpg_pgconf_render_tls(&tls, &rendered, &rlen, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "--cert-dir: %s", e);
		goto out;
	}
	if (czpg_fs_file_info(r->pgconf_path, &info, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s", e);
		goto out;
	}
	rc = czpg_provision_add_file(p, CZPG_PROVISION_ROLE_TLS_CONF, r->conf_path, rendered, rlen,
				     0644, (long)info.uid, (long)info.gid, err, errlen);
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
	p->o = *opts;
	r = &p->rec;
	r->ip = opts->ip;
	r->dns = opts->dns;
	r->mode = opts->mode;
	r->mode_name = czpg_hba_mode_name(opts->mode);
	r->container = opts->container != NULL;
	r->force = opts->force;
	r->skip_verify = opts->skip_verify;
	if ((rc = czpg_provision_inputs(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = czpg_provision_plan_certs(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_conf(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_hba(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = plan_export(p, err, errlen)) != CZPG_RESULT_OK)
		goto out;
	verify_command(r, opts);
	*out = p;
	p = NULL;
out:
	czpg_provision_plan_free(p);
	return rc;
}
