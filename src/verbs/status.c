/*
 * status.c - the local, offline report behind `czctl postgres tls status`
 * (see czpg/status.h): certificate inspection (RFC 5280 validity, SANs,
 * signature), PostgreSQL's ssl_key_file ownership rule, the managed
 * pg_hba block, and the verdict.  Its three renderings (text, JSON, and
 * the Prometheus text exposition format) are in report/status_report.c.
 */
#include "czpg/status.h"

#include "czpg/parse.h"
#include "czpg/result.h"
#include "czpg/fsutil.h"
#include "czpg/status_report.h"

#include <inttypes.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void set_msg(char *dst, size_t dstlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *dst, size_t dstlen, const char *fmt, ...)
{
	va_list ap;

	if (dst == NULL || dstlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(dst, dstlen, fmt, ap);
	va_end(ap);
}

static void set_check(struct czpg_status_report *r, enum czpg_status_check_id id,
		      enum czpg_status_result res, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_check(struct czpg_status_report *r, enum czpg_status_check_id id,
		      enum czpg_status_result res, const char *fmt, ...)
{
	va_list ap;

	r->checks[id].result = res;
	va_start(ap, fmt);
	vsnprintf(r->checks[id].detail, sizeof(r->checks[id].detail), fmt, ap);
	va_end(ap);
}

/* The subject in RFC 2253 form, printable ASCII only. */
static void subject_line(X509 *cert, char *out, size_t outlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	size_t i, k = 0;

	out[0] = '\0';
	if (bio == NULL)
		goto out;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
			       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	for (i = 0; p != NULL && n > 0 && i < (size_t)n && k + 1 < outlen; i++)
		out[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	out[k] = '\0';
out:
	BIO_free(bio);
	ERR_clear_error();
}

/* Fills sc from cert (inspection); cert stays the caller's. */
static void fill_cert(struct czpg_status_cert *sc, X509 *cert, time_t now)
{
	char why[256];

	if (czpg_certinfo_read(cert, now, &sc->info, why, sizeof(why)) != 0) {
		sc->state = CZPG_STATUS_FILE_UNREADABLE;
		set_msg(sc->error, sizeof(sc->error), "%s", why);
		return;
	}
	subject_line(cert, sc->subject, sizeof(sc->subject));
	sc->state = CZPG_STATUS_FILE_OK;
}

/* Loads and inspects one certificate file; *cert is kept for the checks. */
static void load_cert(const char *path, struct czpg_status_cert *sc, X509 **cert, time_t now)
{
	int rc = czpg_pki_load_cert_file(path, cert, sc->error, sizeof(sc->error));

	if (rc == 1) {
		sc->state = CZPG_STATUS_FILE_ABSENT;
		sc->error[0] = '\0';
	} else if (rc < 0) {
		sc->state = CZPG_STATUS_FILE_UNREADABLE;
	} else {
		fill_cert(sc, *cert, now);
	}
}

static int join(char *out, size_t outlen, const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	bool slash = dl > 0 && dir[dl - 1] == '/';
	int n = snprintf(out, outlen, "%s%s%s", dir, slash ? "" : "/", name);

	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* ERROR detail for a required certificate that is absent or unreadable. */
static bool cert_missing(struct czpg_status_report *r, enum czpg_status_check_id id,
			 const struct czpg_status_cert *sc, const char *name)
{
	if (sc->state == CZPG_STATUS_FILE_OK)
		return false;
	if (sc->state == CZPG_STATUS_FILE_ABSENT)
		set_check(r, id, CZPG_STATUS_ERROR,
			  "%s is missing from %s; run `czctl postgres tls provision` to create it",
			  name, r->cert_dir);
	else
		set_check(r, id, CZPG_STATUS_ERROR, "cannot check: %s", sc->error);
	return true;
}

static void check_expiry(struct czpg_status_report *r, enum czpg_status_check_id id,
			 const struct czpg_status_cert *sc, const char *name, const char *fix)
{
	const struct czpg_cert_info *in = &sc->info;
	char when[32];
	long long left;

	if (cert_missing(r, id, sc, name))
		return;
	left = (long long)in->not_after_t - (long long)r->now;
	czpg_status_format_time(in->not_after_t, when, sizeof(when));
	if (in->not_before_t > r->now) {
		czpg_status_format_time(in->not_before_t, when, sizeof(when));
		set_check(r, id, CZPG_STATUS_FAIL,
			  "%s is not valid before %s; check this machine's clock, or %s", name,
			  when, fix);
	} else if (left <= 0) {
		set_check(r, id, CZPG_STATUS_FAIL, "%s expired on %s (%ld days ago); %s", name,
			  when, -in->days_left, fix);
	} else if (left < (long long)r->warn_days * 86400) {
		set_check(r, id, CZPG_STATUS_WARN,
			  "%s expires on %s, in %ld days (warning at %ld days); %s", name, when,
			  in->days_left, r->warn_days, fix);
	} else {
		set_check(r, id, CZPG_STATUS_PASS, "%s is valid until %s (%ld days left)", name,
			  when, in->days_left);
	}
}

static void check_signed(struct czpg_status_report *r, X509 *leaf, X509 *ca, X509 *previous,
			 STACK_OF(X509) *bundle)
{
	char why[384];
	int rc, i;

	if (cert_missing(r, CZPG_STATUS_LEAF_SIGNED, &r->leaf, CZPG_CERTDIR_LEAF_CERT) ||
	    cert_missing(r, CZPG_STATUS_LEAF_SIGNED, &r->ca, CZPG_CERTDIR_CA_CERT))
		return;
	rc = czpg_pki_check_signed_by(leaf, ca, why, sizeof(why));
	if (rc == 0) {
		set_check(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_PASS,
			  "%s is signed by the current CA (%s)", CZPG_CERTDIR_LEAF_CERT,
			  r->ca.subject);
		return;
	}
	if (rc < 0) {
		set_check(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_ERROR, "cannot check: %s", why);
		return;
	}
	/* Not the current CA: say which known CA did sign it, if any. */
	if (previous != NULL && czpg_pki_check_signed_by(leaf, previous, NULL, 0) == 0) {
		set_check(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_FAIL,
			  "%s is signed by the previous CA (%s), not by %s; re-issue the leaf "
			  "with `czctl postgres tls provision --force --apply`",
			  CZPG_CERTDIR_LEAF_CERT, CZPG_CERTDIR_CA_PREVIOUS, CZPG_CERTDIR_CA_CERT);
		return;
	}
	for (i = 0; bundle != NULL && i < sk_X509_num(bundle); i++) {
		if (czpg_pki_check_signed_by(leaf, sk_X509_value(bundle, i), NULL, 0) == 0) {
			set_check(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_FAIL,
				  "%s is signed by CA #%d of %s, not by %s; re-issue the leaf "
				  "with `czctl postgres tls provision --force --apply`",
				  CZPG_CERTDIR_LEAF_CERT, i, CZPG_CERTDIR_CA_BUNDLE,
				  CZPG_CERTDIR_CA_CERT);
			return;
		}
	}
	set_check(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_FAIL,
		  "%s is not signed by %s (%s); clients verifying with this CA will refuse the "
		  "server; re-issue with `czctl postgres tls provision --force --apply`",
		  CZPG_CERTDIR_LEAF_CERT, CZPG_CERTDIR_CA_CERT, why);
}

/*
 * Loads the private key at path (wiped on free) and compares it with cert.
 * absent_result is what a missing key file means for this check.
 */
static void check_key_match(struct czpg_status_report *r, enum czpg_status_check_id id,
			    const char *dir, const char *key_name, X509 *cert,
			    const struct czpg_status_cert *sc, const char *cert_name,
			    enum czpg_status_result absent_result)
{
	EVP_PKEY *key = NULL;
	char path[PATH_MAX], why[512];
	int rc;

	if (join(path, sizeof(path), dir, key_name) < 0) {
		set_check(r, id, CZPG_STATUS_ERROR, "the path of %s is too long", key_name);
		goto out;
	}
	rc = czpg_pki_load_key_file(path, &key, why, sizeof(why));
	if (rc == 1) {
		if (absent_result == CZPG_STATUS_SKIP)
			set_check(r, id, CZPG_STATUS_SKIP,
				  "%s is not in the directory (kept offline), nothing to compare",
				  key_name);
		else
			set_check(r, id, absent_result,
				  "%s is missing from %s; run `czctl postgres tls provision`",
				  key_name, dir);
		goto out;
	}
	if (rc < 0) {
		set_check(r, id, CZPG_STATUS_ERROR, "cannot check: %s", why);
		goto out;
	}
	if (cert_missing(r, id, sc, cert_name))
		goto out;
	rc = czpg_pki_check_key_match(cert, key, why, sizeof(why));
	if (rc == 0)
		set_check(r, id, CZPG_STATUS_PASS, "%s is the private key of %s", key_name,
			  cert_name);
	else if (rc == 1)
		set_check(r, id, CZPG_STATUS_FAIL,
			  "%s does not belong to %s (%s); restore the matching pair or re-run "
			  "`czctl postgres tls provision --force --apply`",
			  key_name, cert_name, why);
	else
		set_check(r, id, CZPG_STATUS_ERROR, "cannot check: %s", why);
out:
	EVP_PKEY_free(key);
}

/* Decides the database user (uid, gid) from the options and server.key. */
static void pick_db_user(struct czpg_status_report *r, const struct czpg_status_opts *o,
			 const struct czpg_fs_info *key)
{
	r->db_uid = (uid_t)-1;
	r->db_gid = (gid_t)-1;
	if (o->db_uid != CZPG_STATUS_ID_UNSET) {
		r->db_uid = (uid_t)o->db_uid;
	} else if (key->exists) {
		r->db_uid = key->uid;
		r->db_uid_from_key = true;
	}
	if (o->db_gid != CZPG_STATUS_ID_UNSET) {
		r->db_gid = (gid_t)o->db_gid;
	} else if (key->exists) {
		r->db_gid = key->gid;
		r->db_gid_from_key = true;
	}
}

static void check_server_key_mode(struct czpg_status_report *r, const char *path,
				  const struct czpg_fs_info *fi)
{
	char why[PATH_MAX + 512];
	int rc;

	if (!fi->exists) {
		set_check(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_ERROR,
			  "%s is missing from %s; run `czctl postgres tls provision`",
			  CZPG_CERTDIR_LEAF_KEY, r->cert_dir);
		return;
	}
	/*
	 * With the user taken from the key's owner, the group comparison is
	 * not PostgreSQL's to make: pass (gid_t)-1 unless --db-gid was given.
	 */
	rc = czpg_pki_check_key_file(path, r->db_uid, r->db_gid_from_key ? (gid_t)-1 : r->db_gid,
				     why, sizeof(why));
	if (rc == 0)
		set_check(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_PASS,
			  "%s has mode %04o, owner uid %u, group gid %u: PostgreSQL accepts it "
			  "for database user uid %u%s",
			  CZPG_CERTDIR_LEAF_KEY, (unsigned)fi->mode, (unsigned)fi->uid,
			  (unsigned)fi->gid, (unsigned)r->db_uid,
			  r->db_uid_from_key ? " (the key's owner; pass --db-uid to name another)"
					     : "");
	else if (rc == 1)
		set_check(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_FAIL,
			  "%s; PostgreSQL refuses to start with it", why);
	else
		set_check(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_ERROR, "cannot check: %s",
			  why);
}

/*
 * The CA key must not be readable by the database user: a server
 * compromise must not hand out the power to mint certificates.
 */
static void check_ca_key_private(struct czpg_status_report *r, const struct czpg_fs_info *fi)
{
	const char *why = NULL;
	unsigned mode = (unsigned)fi->mode;

	if (!fi->exists) {
		set_check(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_SKIP,
			  "%s is not in the directory (kept offline): nothing to expose",
			  CZPG_CERTDIR_CA_KEY);
		return;
	}
	if (!fi->is_regular)
		why = "it is not a regular file";
	else if ((fi->mode & S_IROTH) != 0)
		why = "every user can read it";
	else if (r->db_uid != (uid_t)-1 && r->db_uid != 0 && fi->uid == r->db_uid &&
		 (fi->mode & S_IRUSR) != 0)
		why = "it is owned by the database user";
	else if ((fi->mode & S_IRGRP) != 0 && r->db_gid == (gid_t)-1)
		why = "it is group-readable and the database user's group is unknown";
	else if ((fi->mode & S_IRGRP) != 0 && fi->gid == r->db_gid)
		why = "it is readable by the database user's group";
	if (why != NULL) {
		set_check(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_FAIL,
			  "%s (mode %04o, uid %u, gid %u) may be read by the database user "
			  "(uid %u): %s; make it root-owned with mode 0600 (`chown root:root; "
			  "chmod 0600`) or move it off the box",
			  CZPG_CERTDIR_CA_KEY, mode, (unsigned)fi->uid, (unsigned)fi->gid,
			  (unsigned)r->db_uid, why);
		return;
	}
	set_check(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_PASS,
		  "%s (mode %04o, uid %u, gid %u) is not readable by the database user (uid %u)%s",
		  CZPG_CERTDIR_CA_KEY, mode, (unsigned)fi->uid, (unsigned)fi->gid,
		  (unsigned)r->db_uid,
		  r->db_uid == 0 ? "; the database user was taken as root from server.key's "
				   "owner: pass --db-uid for a sharper check"
				 : "");
}

static void check_bundle(struct czpg_status_report *r)
{
	size_t i;

	if (r->bundle_state == CZPG_STATUS_FILE_ABSENT) {
		set_check(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_SKIP, "%s is not present",
			  CZPG_CERTDIR_CA_BUNDLE);
		return;
	}
	if (r->bundle_state == CZPG_STATUS_FILE_UNREADABLE) {
		set_check(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_ERROR, "cannot check: %s",
			  r->bundle_error);
		return;
	}
	if (cert_missing(r, CZPG_STATUS_BUNDLE_HAS_CA, &r->ca, CZPG_CERTDIR_CA_CERT))
		return;
	for (i = 0; i < r->n_bundle; i++) {
		if (r->bundle[i].state == CZPG_STATUS_FILE_UNREADABLE) {
			set_check(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_ERROR,
				  "cannot check: certificate #%zu of %s: %s", i,
				  CZPG_CERTDIR_CA_BUNDLE, r->bundle[i].error);
			return;
		}
	}
	if (r->bundle_current < 0) {
		set_check(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_FAIL,
			  "%s (%zu certificates) does not contain %s, so whoever trusts the bundle "
			  "does not trust the current CA; re-run `czctl postgres tls provision "
			  "--apply` to rewrite it",
			  CZPG_CERTDIR_CA_BUNDLE, r->n_bundle, CZPG_CERTDIR_CA_CERT);
		return;
	}
	set_check(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_PASS,
		  "%s holds %zu CA certificate%s, %s as #%ld", CZPG_CERTDIR_CA_BUNDLE, r->n_bundle,
		  r->n_bundle == 1 ? "" : "s", CZPG_CERTDIR_CA_CERT, r->bundle_current);
}

static void check_hba(struct czpg_status_report *r, const struct czpg_status_opts *o)
{
	enum czpg_hba_mode want = CZPG_HBA_MODE_NONE;
	uint8_t *text = NULL;
	size_t len = 0;
	char why[512];
	int rc;

	if (o->hba_path == NULL) {
		set_check(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_SKIP, "no --hba-path given");
		goto out;
	}
	r->hba_checked = true;
	set_msg(r->hba_path, sizeof(r->hba_path), "%s", o->hba_path);
	rc = czpg_fs_read_file(o->hba_path, CZPG_HBA_MAX_BYTES, &text, &len, why, sizeof(why));
	if (rc == 1) {
		set_check(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_ERROR,
			  "%s does not exist; give the pg_hba.conf PostgreSQL uses (SHOW "
			  "hba_file)",
			  o->hba_path);
		goto out;
	}
	if (rc < 0) {
		set_check(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_ERROR, "cannot check: %s", why);
		goto out;
	}
	if (czpg_hba_block_mode((const char *)text, len, &r->hba_mode, why, sizeof(why)) < 0) {
		set_check(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_FAIL,
			  "%s: %s; fix the markers by hand, then re-run `czctl postgres tls "
			  "provision`",
			  o->hba_path, why);
		goto out;
	}
	r->hba_known = true;
	if (r->hba_mode == CZPG_HBA_MODE_UNKNOWN) {
		set_check(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_FAIL,
			  "the managed block in %s matches neither transition nor harden mode (it "
			  "was edited by hand); re-run `czctl postgres tls provision --mode ... "
			  "--apply` to rewrite it",
			  o->hba_path);
		goto out;
	}
	if (o->expect_hba_mode != NULL && strcmp(o->expect_hba_mode, "none") != 0)
		(void)czpg_hba_mode_parse(o->expect_hba_mode, &want);
	if (o->expect_hba_mode != NULL && want != r->hba_mode) {
		set_check(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_FAIL,
			  "the managed block in %s is in %s mode, expected %s", o->hba_path,
			  czpg_hba_mode_name(r->hba_mode), czpg_hba_mode_name(want));
		goto out;
	}
	if (r->hba_mode == CZPG_HBA_MODE_NONE)
		set_check(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_PASS,
			  "%s has no managed block (provision has not written it)", o->hba_path);
	else
		set_check(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_PASS,
			  "the managed block in %s is in %s mode%s", o->hba_path,
			  czpg_hba_mode_name(r->hba_mode),
			  r->hba_mode == CZPG_HBA_MODE_TRANSITION
			      ? " (plaintext still admitted; harden once clients use TLS)"
			      : " (hostssl only)");
out:
	free(text);
}

static int load_bundle(struct czpg_status_report *r, const char *path, STACK_OF(X509) **sk,
		       X509 *ca, X509 *previous)
{
	int rc = czpg_pki_load_certs_file(path, sk, r->bundle_error, sizeof(r->bundle_error));
	size_t i, n;

	r->bundle_current = -1;
	r->bundle_previous = -1;
	if (rc == 1) {
		r->bundle_state = CZPG_STATUS_FILE_ABSENT;
		r->bundle_error[0] = '\0';
		return 0;
	}
	if (rc < 0) {
		r->bundle_state = CZPG_STATUS_FILE_UNREADABLE;
		return 0;
	}
	r->bundle_state = CZPG_STATUS_FILE_OK;
	n = (size_t)sk_X509_num(*sk);
	r->bundle = calloc(n, sizeof(*r->bundle));
	if (r->bundle == NULL)
		return -1;
	r->n_bundle = n;
	for (i = 0; i < n; i++) {
		X509 *x = sk_X509_value(*sk, (int)i);

		fill_cert(&r->bundle[i], x, r->now);
		if (r->bundle_current < 0 && ca != NULL && X509_cmp(x, ca) == 0)
			r->bundle_current = (long)i;
		if (r->bundle_previous < 0 && previous != NULL && X509_cmp(x, previous) == 0)
			r->bundle_previous = (long)i;
	}
	return 0;
}

/*
 * The major version PG_VERSION in pgdata names (initdb writes it: "15\n";
 * "9.6" before 10), or why it is not known.
 */
static void read_server_version(struct czpg_status_report *r, const char *pgdata)
{
	char path[PATH_MAX], why[PATH_MAX + 64];
	uint8_t *text = NULL;
	size_t len = 0, n;
	int rc;

	r->server_version[0] = '\0';
	if (pgdata == NULL) {
		set_msg(r->server_version_detail, sizeof(r->server_version_detail),
			"not known: no --pgdata given");
		return;
	}
	if (join(path, sizeof(path), pgdata, "PG_VERSION") < 0) {
		set_msg(r->server_version_detail, sizeof(r->server_version_detail),
			"not known: the --pgdata path is too long");
		return;
	}
	rc = czpg_fs_read_file(path, 64, &text, &len, why, sizeof(why));
	if (rc > 0)
		set_msg(r->server_version_detail, sizeof(r->server_version_detail),
			"not known: %s does not exist (is --pgdata a data directory?)", path);
	else if (rc < 0)
		set_msg(r->server_version_detail, sizeof(r->server_version_detail), "not known: %s",
			why);
	if (rc != 0)
		goto out;
	n = strspn((const char *)text, "0123456789.");
	if (n == 0 || n >= sizeof(r->server_version) ||
	    (text[n] != '\0' && text[n] != '\n' && text[n] != '\r')) {
		set_msg(r->server_version_detail, sizeof(r->server_version_detail),
			"not known: %s does not hold a version number", path);
		goto out;
	}
	memcpy(r->server_version, text, n);
	r->server_version[n] = '\0';
	set_msg(r->server_version_detail, sizeof(r->server_version_detail), "PG_VERSION in %s",
		pgdata);
out:
	free(text);
}

int czpg_status_collect(const struct czpg_status_opts *o, struct czpg_status_report **out,
			char *err, size_t errlen)
{
	struct czpg_status_report *r = NULL;
	X509 *ca = NULL, *leaf = NULL, *previous = NULL;
	STACK_OF(X509) *bundle = NULL;
	struct czpg_fs_info dir, key, cakey;
	enum czpg_hba_mode dummy;
	char path[PATH_MAX], keypath[PATH_MAX], why[PATH_MAX + 128];
	int rc = -1;

	*out = NULL;
	if (o == NULL || o->cert_dir == NULL || o->cert_dir[0] == '\0') {
		set_msg(err, errlen, "a certificate directory is required");
		goto out;
	}
	if (o->warn_days < 0 || o->warn_days > CZPG_STATUS_MAX_WARN_DAYS) {
		set_msg(err, errlen, "warn days %ld is outside 0-%d", o->warn_days,
			CZPG_STATUS_MAX_WARN_DAYS);
		goto out;
	}
	if (o->expect_hba_mode != NULL && strcmp(o->expect_hba_mode, "none") != 0 &&
	    czpg_hba_mode_parse(o->expect_hba_mode, &dummy) < 0) {
		set_msg(err, errlen, "expected hba mode '%s' is not none, transition or harden",
			o->expect_hba_mode);
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		set_msg(err, errlen, "out of memory");
		goto out;
	}
	r->now = o->now != 0 ? o->now : time(NULL);
	r->warn_days = o->warn_days;
	r->bundle_current = r->bundle_previous = -1;
	r->db_uid = (uid_t)-1;
	r->db_gid = (gid_t)-1;
	set_msg(r->cert_dir, sizeof(r->cert_dir), "%s", o->cert_dir);
	read_server_version(r, o->pgdata);
	rc = 0;

	if (strlen(o->cert_dir) + 32 >= sizeof(path)) {
		set_msg(r->dir_error, sizeof(r->dir_error),
			"the certificate directory path is "
			"too long");
		goto out;
	}
	if (czpg_fs_file_info(o->cert_dir, &dir, why, sizeof(why)) < 0) {
		set_msg(r->dir_error, sizeof(r->dir_error), "%s", why);
		goto out;
	}
	if (!dir.exists || !dir.is_dir) {
		set_msg(r->dir_error, sizeof(r->dir_error),
			"certificate directory %s %s; give the --cert-dir that `czctl postgres tls "
			"provision` wrote",
			o->cert_dir, dir.exists ? "is not a directory" : "does not exist");
		goto out;
	}

	join(path, sizeof(path), o->cert_dir, CZPG_CERTDIR_CA_CERT);
	load_cert(path, &r->ca, &ca, r->now);
	join(path, sizeof(path), o->cert_dir, CZPG_CERTDIR_LEAF_CERT);
	load_cert(path, &r->leaf, &leaf, r->now);
	join(path, sizeof(path), o->cert_dir, CZPG_CERTDIR_CA_PREVIOUS);
	load_cert(path, &r->previous, &previous, r->now);
	join(path, sizeof(path), o->cert_dir, CZPG_CERTDIR_CA_BUNDLE);
	if (load_bundle(r, path, &bundle, ca, previous) < 0) {
		set_msg(err, errlen, "out of memory");
		rc = -1;
		goto out;
	}

	check_expiry(r, CZPG_STATUS_LEAF_EXPIRY, &r->leaf, CZPG_CERTDIR_LEAF_CERT,
		     "rotate it with `czctl postgres tls provision --force --apply`");
	check_expiry(r, CZPG_STATUS_CA_EXPIRY, &r->ca, CZPG_CERTDIR_CA_CERT,
		     "rotate the CA, keeping the old one in the bundle during the overlap");
	check_signed(r, leaf, ca, previous, bundle);

	join(keypath, sizeof(keypath), o->cert_dir, CZPG_CERTDIR_LEAF_KEY);
	if (czpg_fs_file_info(keypath, &key, why, sizeof(why)) < 0) {
		set_check(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_ERROR, "cannot check: %s",
			  why);
		memset(&key, 0, sizeof(key));
		pick_db_user(r, o, &key);
	} else {
		pick_db_user(r, o, &key);
		check_server_key_mode(r, keypath, &key);
	}
	check_key_match(r, CZPG_STATUS_LEAF_KEY_MATCH, o->cert_dir, CZPG_CERTDIR_LEAF_KEY, leaf,
			&r->leaf, CZPG_CERTDIR_LEAF_CERT, CZPG_STATUS_ERROR);

	join(keypath, sizeof(keypath), o->cert_dir, CZPG_CERTDIR_CA_KEY);
	if (czpg_fs_file_info(keypath, &cakey, why, sizeof(why)) < 0)
		set_check(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_ERROR, "cannot check: %s",
			  why);
	else
		check_ca_key_private(r, &cakey);
	check_key_match(r, CZPG_STATUS_CA_KEY_MATCH, o->cert_dir, CZPG_CERTDIR_CA_KEY, ca, &r->ca,
			CZPG_CERTDIR_CA_CERT, CZPG_STATUS_SKIP);
	check_bundle(r);
	check_hba(r, o);
out:
	X509_free(ca);
	X509_free(leaf);
	X509_free(previous);
	sk_X509_pop_free(bundle, X509_free);
	if (rc == 0) {
		*out = r;
	} else {
		czpg_status_report_free(r);
	}
	return rc;
}

void czpg_status_report_free(struct czpg_status_report *r)
{
	if (r == NULL)
		return;
	free(r->bundle);
	free(r);
}

enum czpg_result czpg_status_outcome(const struct czpg_status_report *r)
{
	bool error = false, fail = false;
	size_t i;

	if (r->dir_error[0] != '\0')
		return CZPG_RESULT_ERROR;
	for (i = 0; i < CZPG_STATUS_NCHECKS; i++) {
		if (r->checks[i].result == CZPG_STATUS_WARN ||
		    r->checks[i].result == CZPG_STATUS_FAIL)
			fail = true;
		else if (r->checks[i].result == CZPG_STATUS_ERROR)
			error = true;
	}
	if (fail)
		return CZPG_RESULT_FAIL;
	return error ? CZPG_RESULT_ERROR : CZPG_RESULT_OK;
}

/* ---- output: report/status_report.c shows the verdict decided here ---------- */

void czpg_status_print_text(FILE *f, const struct czpg_status_report *r)
{
	czpg_status_render_text(f, r, czpg_status_outcome(r));
}

void czpg_status_print_json(FILE *f, const struct czpg_status_report *r)
{
	czpg_status_render_json(f, r, czpg_status_outcome(r));
}

int czpg_status_prometheus(const struct czpg_status_report *r, struct czpg_wbuf *w)
{
	return czpg_status_render_prometheus(r, czpg_status_outcome(r), w);
}
