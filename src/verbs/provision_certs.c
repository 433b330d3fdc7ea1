/*
 * provision_certs.c - the certificate decisions of provision, one after the
 * other, each on what the cert dir holds now:
 *
 *   the CA      reused when ca.crt and ca.key are there, match, and the CA
 *               is valid; made new on --force or when there is none; else
 *               refused (the error says --force)
 *   the leaf    new whenever the CA is, or on --rotate-leaf, or when there
 *               is none; else reused when its key matches, the CA signed it
 *               and its names are --ip / --dns; else refused (the error says
 *               --rotate-leaf or --force)
 *   the bundle  ca-bundle.crt: the CA, plus the previous CA (the one the
 *               last --force replaced) while inside its overlap window
 *
 * Nothing is written here: the PEM texts go into the plan as files.
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "czpg/buf.h"
#include "czpg/fsutil.h"
#include "czpg/pki.h"
#include "provision_internal.h"

/* The certificate set being decided, and its PEM texts. */
struct certs {
	time_t now;
	X509 *ca, *leaf, *prev;
	EVP_PKEY *ca_key, *leaf_key;
	struct czpg_wbuf ca_pem, ca_key_pem, leaf_pem, leaf_key_pem, prev_pem, bundle;
	const char *ca_story, *leaf_story; /* "reused", "new (--force)", ... */
};

static void certs_init(struct certs *c, time_t now)
{
	memset(c, 0, sizeof(*c));
	c->now = now;
	czpg_wbuf_init(&c->ca_pem, 0);
	czpg_wbuf_init(&c->ca_key_pem, 0);
	czpg_wbuf_init(&c->leaf_pem, 0);
	czpg_wbuf_init(&c->leaf_key_pem, 0);
	czpg_wbuf_init(&c->prev_pem, 0);
	czpg_wbuf_init(&c->bundle, 0);
	c->ca_story = c->leaf_story = "reused";
}

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

/*
 * Loads one existing file of the set (a certificate, or a key when key) and
 * appends its PEM to pem: 0 parsed, 1 missing, -1 unreadable or not PEM (err set).
 */
static int load_existing(const char *dir, const char *name, bool key, X509 **cert, EVP_PKEY **pkey,
			 struct czpg_wbuf *pem, char *err, size_t errlen)
{
	char *path = czpg_provision_path_join(dir, name), e[400];
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

/* The PEM texts of a certificate and its key, both made just now. */
static enum czpg_result to_pem(X509 *cert, EVP_PKEY *key, struct czpg_wbuf *cert_pem,
			       struct czpg_wbuf *key_pem, char *err, size_t errlen)
{
	char e[600];

	if (czpg_pki_cert_to_pem(cert, cert_pem, e, sizeof(e)) < 0 ||
	    czpg_pki_key_to_pem(key, key_pem, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s", e);
		return CZPG_RESULT_ERROR;
	}
	return CZPG_RESULT_OK;
}

/* ------------------------------------------------------------ the CA */

/* A cert dir without ca.crt but with ca.key or server.crt is a half-made set. */
static bool has_stray_files(const char *cert_dir)
{
	char *k = czpg_provision_path_join(cert_dir, "ca.key");
	char *l = czpg_provision_path_join(cert_dir, "server.crt");
	bool stray = (k != NULL && access(k, F_OK) == 0) || (l != NULL && access(l, F_OK) == 0);

	free(k);
	free(l);
	return stray;
}

/* The existing CA, kept: ca.key must be there, belong to it, and the CA be valid. */
static enum czpg_result check_ca(struct czpg_provision_plan *p, struct certs *c, char *err,
				 size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	char e[600];
	int rk;

	rk = load_existing(r->cert_dir, "ca.key", true, NULL, &c->ca_key, &c->ca_key_pem, e,
			   sizeof(e));
	if (rk != 0) {
		czpg_errf(err, errlen, "%s: run with --force to make a new CA",
			  rk == 1 ? "ca.crt exists but ca.key is missing" : e);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (czpg_pki_check_key_match(c->ca, c->ca_key, e, sizeof(e)) != 0) {
		czpg_errf(err, errlen,
			  "ca.key does not belong to ca.crt in %s (%s): run with --force to make "
			  "a new CA",
			  r->cert_dir, e);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (czpg_certinfo_read(c->ca, c->now, &r->ca_info, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "cannot inspect ca.crt: %s", e);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (!r->ca_info.is_ca || r->ca_info.days_left < 0) {
		czpg_errf(err, errlen, "ca.crt in %s is %s: run with --force to make a new CA",
			  r->cert_dir, !r->ca_info.is_ca ? "not a CA certificate" : "expired");
		return CZPG_RESULT_BAD_INPUT;
	}
	return CZPG_RESULT_OK;
}

/* A new CA (and its key) named after --dns. */
static enum czpg_result make_ca(struct czpg_provision_plan *p, struct certs *c, char *err,
				size_t errlen)
{
	char e[600], cn[128];

	snprintf(cn, sizeof(cn), "czctl postgres tls CA %s", p->o.dns);
	if (czpg_pki_make_ca(cn, NULL, &c->ca, &c->ca_key, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "cannot make the CA: %s", e);
		return CZPG_RESULT_ERROR;
	}
	return to_pem(c->ca, c->ca_key, &c->ca_pem, &c->ca_key_pem, err, errlen);
}

/*
 * Reuse, make or refuse the CA.  On --force the CA being replaced becomes
 * c->prev, so that the bundle keeps it.
 */
static enum czpg_result decide_ca(struct czpg_provision_plan *p, struct certs *c, char *err,
				  size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	X509 *old = NULL;
	struct czpg_wbuf old_pem;
	char e[600];
	enum czpg_result rc = CZPG_RESULT_BAD_INPUT;
	int rca;

	czpg_wbuf_init(&old_pem, 0);
	rca = load_existing(r->cert_dir, "ca.crt", false, &old, NULL, &old_pem, e, sizeof(e));
	if (rca < 0 && !p->o.force) {
		czpg_errf(err, errlen, "%s; fix or remove it, or run with --force to make a new CA",
			  e);
		goto out;
	}
	if (p->o.force) {
		r->gen_ca = true;
		c->ca_story = "new (--force)";
		if (rca == 0) {
			c->prev = old;
			old = NULL;
			czpg_wbuf_bytes(&c->prev_pem, old_pem.data, old_pem.len);
		}
	} else if (rca == 1) {
		if (has_stray_files(r->cert_dir)) {
			czpg_errf(err, errlen,
				  "%s has ca.key or server.crt but no ca.crt: run with --force to "
				  "start a new certificate set",
				  r->cert_dir);
			goto out;
		}
		r->gen_ca = true;
		c->ca_story = "new";
	} else {
		c->ca = old;
		old = NULL;
		czpg_wbuf_bytes(&c->ca_pem, old_pem.data, old_pem.len);
		if ((rc = check_ca(p, c, err, errlen)) != CZPG_RESULT_OK)
			goto out;
	}
	rc = r->gen_ca ? make_ca(p, c, err, errlen) : CZPG_RESULT_OK;
out:
	X509_free(old);
	czpg_wbuf_free(&old_pem);
	return rc;
}

/* ------------------------------------------------------------ the leaf */

/*
 * The existing leaf and its key, loaded into c: reused when they match each
 * other, the CA and the names asked for; *missing when either file is absent.
 */
static enum czpg_result check_leaf(struct czpg_provision_plan *p, struct certs *c, bool *missing,
				   char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	const char *dir = p->rec.cert_dir;
	char e[600];
	int rl, rk;

	*missing = false;
	rl = load_existing(dir, "server.crt", false, &c->leaf, NULL, &c->leaf_pem, e, sizeof(e));
	rk = load_existing(dir, "server.key", true, NULL, &c->leaf_key, &c->leaf_key_pem, e,
			   sizeof(e));
	if (rl < 0 || rk < 0) {
		czpg_errf(err, errlen, "%s; run with --rotate-leaf to make a new leaf", e);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (rl == 1 || rk == 1) {
		*missing = true;
		return CZPG_RESULT_OK;
	}
	if (czpg_pki_check_key_match(c->leaf, c->leaf_key, e, sizeof(e)) != 0) {
		czpg_errf(err, errlen,
			  "server.key does not belong to server.crt in %s (%s): run with "
			  "--rotate-leaf",
			  dir, e);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (czpg_pki_check_signed_by(c->leaf, c->ca, e, sizeof(e)) != 0) {
		czpg_errf(err, errlen,
			  "server.crt in %s is not signed by ca.crt (%s): run with --rotate-leaf "
			  "to sign a new leaf with this CA",
			  dir, e);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (czpg_pki_check_leaf_names(c->leaf, o->ip, o->dns, e, sizeof(e)) != 0) {
		czpg_errf(err, errlen,
			  "the existing leaf %s/server.crt does not match --ip %s --dns %s (%s): "
			  "serving it would fail verify-full; run again with --rotate-leaf (a new "
			  "leaf from the same CA; no client breaks) or --force (a new CA too). "
			  "Nothing was changed",
			  dir, o->ip, o->dns, e);
		return CZPG_RESULT_BAD_INPUT;
	}
	return CZPG_RESULT_OK;
}

/* A new leaf for --ip / --dns signed by c->ca, replacing whatever was loaded. */
static enum czpg_result make_leaf(struct czpg_provision_plan *p, struct certs *c, char *err,
				  size_t errlen)
{
	char e[600];

	X509_free(c->leaf);
	EVP_PKEY_free(c->leaf_key);
	c->leaf = NULL;
	c->leaf_key = NULL;
	czpg_wbuf_reset(&c->leaf_pem);
	czpg_wbuf_free_secure(&c->leaf_key_pem);
	czpg_wbuf_init(&c->leaf_key_pem, 0);
	if (czpg_pki_make_leaf(p->o.dns, p->o.ip, NULL, c->ca, c->ca_key, &c->leaf, &c->leaf_key, e,
			       sizeof(e)) < 0) {
		czpg_errf(err, errlen, "cannot make the server certificate: %s", e);
		return CZPG_RESULT_ERROR;
	}
	return to_pem(c->leaf, c->leaf_key, &c->leaf_pem, &c->leaf_key_pem, err, errlen);
}

/* Reuse, make or refuse the leaf; then its expiry. */
static enum czpg_result decide_leaf(struct czpg_provision_plan *p, struct certs *c, char *err,
				    size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	enum czpg_result rc;
	bool missing = false;
	char e[600];

	if (r->gen_ca) {
		/* A new CA did not sign the old leaf. */
		r->gen_leaf = true;
		c->leaf_story = c->ca_story;
	} else if (p->o.rotate_leaf) {
		r->gen_leaf = true;
		c->leaf_story = "new (--rotate-leaf)";
	} else {
		if ((rc = check_leaf(p, c, &missing, err, errlen)) != CZPG_RESULT_OK)
			return rc;
		if (missing) {
			r->gen_leaf = true;
			c->leaf_story = "new (none was there)";
		}
	}
	if (r->gen_leaf && (rc = make_leaf(p, c, err, errlen)) != CZPG_RESULT_OK)
		return rc;
	if (czpg_certinfo_read(c->ca, c->now, &r->ca_info, e, sizeof(e)) < 0 ||
	    czpg_certinfo_read(c->leaf, c->now, &r->leaf_info, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "cannot inspect the certificates: %s", e);
		return CZPG_RESULT_ERROR;
	}
	if (!r->gen_leaf && r->leaf_info.days_left < 0) {
		char when[64] = "";
		struct tm tm;

		if (gmtime_r(&r->leaf_info.not_after_t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		czpg_errf(err, errlen,
			  "server.crt in %s expired on %s: run with --rotate-leaf to make a new "
			  "leaf",
			  r->cert_dir, when);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (r->leaf_info.days_left < CZPG_PROVISION_LEAF_WARN_DAYS)
		czpg_provision_warn(
		    p, "the server certificate expires in %ld days: rotate it with --rotate-leaf",
		    r->leaf_info.days_left);
	return CZPG_RESULT_OK;
}

/* ------------------------------------------------------------ the bundle */

/*
 * What clients trust: the CA, and the previous CA while it is valid and the
 * current CA is younger than the overlap window.  The previous CA is the one
 * --force is replacing now, or ca-previous.crt when the CA is kept.
 */
static enum czpg_result decide_bundle(struct czpg_provision_plan *p, struct certs *c, char *err,
				      size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_cert_info prev_info;
	char e[600];

	if (!r->gen_ca && load_existing(r->cert_dir, "ca-previous.crt", false, &c->prev, NULL,
					&c->prev_pem, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s", e);
		return CZPG_RESULT_BAD_INPUT;
	}
	if (c->prev != NULL) {
		r->have_prev = true;
		memset(&prev_info, 0, sizeof(prev_info));
		czpg_certinfo_read(c->prev, c->now, &prev_info, e, sizeof(e));
		r->prev_in_bundle = prev_info.days_left >= 0 &&
				    c->now < r->ca_info.not_before_t + CZPG_PKI_BACKDATE_SECS +
						 (time_t)CZPG_PROVISION_CA_OVERLAP_DAYS * 86400;
	}
	czpg_wbuf_bytes(&c->bundle, c->ca_pem.data, c->ca_pem.len);
	if (r->prev_in_bundle)
		czpg_wbuf_bytes(&c->bundle, c->prev_pem.data, c->prev_pem.len);
	return CZPG_RESULT_OK;
}

/* ------------------------------------------------------------ the files */

static enum czpg_result add_cert_files(struct czpg_provision_plan *p, struct certs *c, char *err,
				       size_t errlen)
{
	const struct {
		enum czpg_provision_role role;
		const char *name;
		const struct czpg_wbuf *b;
		mode_t mode;
		long uid, gid;
	} set[] = {
	    {CZPG_PROVISION_ROLE_CA_KEY, "ca.key", &c->ca_key_pem, 0600, p->me_uid, p->me_gid},
	    {CZPG_PROVISION_ROLE_CA_CERT, "ca.crt", &c->ca_pem, 0644, p->me_uid, p->me_gid},
	    {CZPG_PROVISION_ROLE_PREV_CA, "ca-previous.crt", &c->prev_pem, 0644, p->me_uid,
	     p->me_gid},
	    {CZPG_PROVISION_ROLE_LEAF_KEY, "server.key", &c->leaf_key_pem, 0600, p->db_uid,
	     p->db_gid},
	    {CZPG_PROVISION_ROLE_LEAF_CERT, "server.crt", &c->leaf_pem, 0644, p->me_uid, p->me_gid},
	    {CZPG_PROVISION_ROLE_BUNDLE, "ca-bundle.crt", &c->bundle, 0644, p->me_uid, p->me_gid},
	};
	enum czpg_result rc = CZPG_RESULT_OK;
	size_t i;

	if (c->ca_pem.err || c->ca_key_pem.err || c->leaf_pem.err || c->leaf_key_pem.err ||
	    c->prev_pem.err || c->bundle.err) {
		czpg_errf(err, errlen, "out of memory");
		return CZPG_RESULT_ERROR;
	}
	for (i = 0; i < sizeof(set) / sizeof(set[0]) && rc == CZPG_RESULT_OK; i++) {
		char *path;

		if (set[i].b->len == 0)
			continue; /* no previous CA */
		path = czpg_provision_path_join(p->rec.cert_dir, set[i].name);
		if (path == NULL) {
			czpg_errf(err, errlen, "out of memory");
			return CZPG_RESULT_ERROR;
		}
		rc = czpg_provision_add_file(p, set[i].role, path, set[i].b->data, set[i].b->len,
					     set[i].mode, set[i].uid, set[i].gid, err, errlen);
		free(path);
	}
	return rc;
}

enum czpg_result czpg_provision_plan_certs(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	struct certs c;
	enum czpg_result rc;

	certs_init(&c, p->o.now != 0 ? p->o.now : time(NULL));
	if ((rc = decide_ca(p, &c, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = decide_leaf(p, &c, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = decide_bundle(p, &c, err, errlen)) != CZPG_RESULT_OK)
		goto out;
	snprintf(r->cert_story, sizeof(r->cert_story),
		 "CA %s (serial %.16s..., %ld days left); leaf %s (serial %.16s..., %ld days left, "
		 "SANs IP:%s DNS:%s)%s",
		 c.ca_story, r->ca_info.serial, r->ca_info.days_left, c.leaf_story,
		 r->leaf_info.serial, r->leaf_info.days_left, p->o.ip, p->o.dns,
		 r->prev_in_bundle ? "; previous CA kept in the bundle (overlap window)" : "");
	rc = add_cert_files(p, &c, err, errlen);
out:
	certs_free(&c);
	return rc;
}
