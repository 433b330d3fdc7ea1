/*
 * testcert.c - test CA and server certificates via the OpenSSL API (see testcert.h).
 *
 * Certificates are X.509 v3 (RFC 5280): CAs carry basicConstraints CA:TRUE
 * and keyUsage keyCertSign; leaves carry CA:FALSE, digitalSignature and
 * extendedKeyUsage serverAuth, plus the requested subjectAltName.
 */
#include "testcert.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static int fail(const char *what)
{
	unsigned long e = ERR_get_error();

	fprintf(stderr, "testcert: %s failed: %s\n", what,
		e != 0 ? ERR_reason_error_string(e) : "no OpenSSL detail");
	ERR_clear_error();
	return -1;
}

static EVP_PKEY *make_key(enum czpg_testcert_key k)
{
	switch (k) {
	case CZPG_TESTCERT_EC_P256:
		return EVP_EC_gen("P-256");
	case CZPG_TESTCERT_EC_P384:
		return EVP_EC_gen("P-384");
	case CZPG_TESTCERT_RSA2048:
		return EVP_RSA_gen(2048);
	case CZPG_TESTCERT_ED25519:
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	}
	return NULL;
}

static const EVP_MD *signing_md(const EVP_PKEY *issuer_key, enum czpg_testcert_digest d)
{
	if (EVP_PKEY_get_base_id(issuer_key) == EVP_PKEY_ED25519)
		return NULL; /* pure EdDSA: no separate digest */
	switch (d) {
	case CZPG_TESTCERT_SHA384:
		return EVP_sha384();
	case CZPG_TESTCERT_SHA1:
		return EVP_sha1();
	case CZPG_TESTCERT_SHA256:
		break;
	}
	return EVP_sha256();
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return fail(value);
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : fail("X509_add_ext");
}

/* A random positive 63-bit serial. */
static int set_serial(X509 *cert)
{
	unsigned char b[8];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return fail("RAND_bytes");
	b[0] &= 0x7f;
	b[0] |= 0x01; /* never zero, never a leading zero byte */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc == 0 ? 0 : fail("serial");
}

/*
 * Builds and signs one certificate.  issuer == NULL makes it self-signed (a CA);
 * otherwise a leaf.
 */
static int make_cert(struct czpg_testcert *out, const struct czpg_testcert *issuer,
		     const struct czpg_testcert_opts *o)
{
	static const struct czpg_testcert_opts defaults = {0};
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	X509_NAME *name = NULL;
	const char *cn;
	long nb, na;
	EVP_PKEY *sign_key;
	int rc = -1;

	if (o == NULL)
		o = &defaults;
	memset(out, 0, sizeof(*out));
	cn = o->cn != NULL ? o->cn : (issuer == NULL ? "czpg test CA" : "czpg test server");
	nb = o->not_before != 0 ? o->not_before : -3600;
	na = o->not_after != 0 ? o->not_after : 30L * 86400;

	key = make_key(o->key);
	cert = X509_new();
	name = X509_NAME_new();
	if (key == NULL || cert == NULL || name == NULL) {
		fail("key generation");
		goto out;
	}
	if (X509_set_version(cert, X509_VERSION_3) != 1 || set_serial(cert) != 0)
		goto out;
	if (X509_gmtime_adj(X509_getm_notBefore(cert), nb) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), na) == NULL) {
		fail("validity");
		goto out;
	}
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"czpg tests",
				       -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				       0) != 1 ||
	    X509_set_subject_name(cert, name) != 1 ||
	    X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer->cert)
						      : name) != 1 ||
	    X509_set_pubkey(cert, key) != 1) {
		fail("names");
		goto out;
	}
	if (issuer == NULL) {
		if (add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
		    add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
		    add_ext(cert, cert, NID_subject_key_identifier, "hash") != 0)
			goto out;
	} else {
		if (add_ext(cert, issuer->cert, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
		    add_ext(cert, issuer->cert, NID_key_usage,
			    "critical,digitalSignature,keyEncipherment") != 0 ||
		    add_ext(cert, issuer->cert, NID_ext_key_usage, "serverAuth") != 0 ||
		    add_ext(cert, issuer->cert, NID_subject_key_identifier, "hash") != 0 ||
		    add_ext(cert, issuer->cert, NID_authority_key_identifier, "keyid:always") != 0)
			goto out;
	}
	if (o->sans != NULL &&
	    add_ext(cert, issuer != NULL ? issuer->cert : cert, NID_subject_alt_name, o->sans) != 0)
		goto out;
	sign_key = issuer != NULL ? issuer->key : key;
	if (X509_sign(cert, sign_key, signing_md(sign_key, o->digest)) <= 0) {
		fail("X509_sign");
		goto out;
	}
	out->key = key;
	out->cert = cert;
	key = NULL;
	cert = NULL;
	rc = 0;
out:
	X509_NAME_free(name);
	X509_free(cert);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

int czpg_testcert_make_ca(struct czpg_testcert *ca, const struct czpg_testcert_opts *opts)
{
	return make_cert(ca, NULL, opts);
}

int czpg_testcert_make_leaf(struct czpg_testcert *leaf, const struct czpg_testcert *issuer,
			    const struct czpg_testcert_opts *opts)
{
	if (issuer == NULL || issuer->cert == NULL || issuer->key == NULL) {
		fprintf(stderr, "testcert: a leaf needs an issuer\n");
		return -1;
	}
	return make_cert(leaf, issuer, opts);
}

/* Opens path for writing with mode (applied even when the file already exists). */
static FILE *open_mode(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f;

	if (fd < 0) {
		perror(path);
		return NULL;
	}
	if (fchmod(fd, mode) != 0 || (f = fdopen(fd, "w")) == NULL) {
		perror(path);
		close(fd);
		return NULL;
	}
	return f;
}

int czpg_testcert_write(const struct czpg_testcert *c, const char *dir, const char *name)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
	f = open_mode(path, 0644);
	if (f == NULL)
		return -1;
	ok = PEM_write_X509(f, c->cert);
	if (fclose(f) != 0 || ok != 1)
		return fail(path);

	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	f = open_mode(path, 0600);
	if (f == NULL)
		return -1;
	ok = PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0 || ok != 1)
		return fail(path);
	return 0;
}

int czpg_testcert_write_bundle(const char *path, X509 *const *certs, size_t n)
{
	FILE *f = open_mode(path, 0644);
	size_t i;
	int ok = 1;

	if (f == NULL)
		return -1;
	for (i = 0; i < n && ok == 1; i++)
		ok = PEM_write_X509(f, certs[i]);
	if (fclose(f) != 0 || ok != 1)
		return fail(path);
	return 0;
}

void czpg_testcert_free(struct czpg_testcert *c)
{
	if (c == NULL)
		return;
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	c->cert = NULL;
	c->key = NULL;
}

int czpg_testcert_tmpdir(char *out, size_t cap)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t)snprintf(out, cap, "%s/czpg-test-XXXXXX", base) >= cap) {
		fprintf(stderr, "testcert: temporary directory path too long\n");
		return -1;
	}
	if (mkdtemp(out) == NULL) {
		perror(out);
		return -1;
	}
	return 0;
}

void czpg_testcert_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

SSL_CTX *czpg_testcert_server_ctx(const struct czpg_testcert *leaf, X509 *const *chain,
				  size_t nchain, int min_version, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	size_t i;

	if (ctx == NULL)
		goto fail;
	/* Serve whatever the test made (SHA-1 too): the client's checks are under test. */
	SSL_CTX_set_security_level(ctx, 0);
	if (SSL_CTX_use_certificate(ctx, leaf->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, leaf->key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	for (i = 0; i < nchain; i++)
		if (SSL_CTX_add1_chain_cert(ctx, chain[i]) != 1)
			goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, max_version) != 1)
		goto fail;
	ERR_clear_error();
	return ctx;
fail:
	fail("server context");
	SSL_CTX_free(ctx);
	return NULL;
}

SSL *czpg_testcert_mem_server(SSL_CTX *ctx, BIO **in, BIO **out)
{
	SSL *ssl = SSL_new(ctx);

	*in = BIO_new(BIO_s_mem());
	*out = BIO_new(BIO_s_mem());
	if (ssl == NULL || *in == NULL || *out == NULL) {
		fail("memory server");
		SSL_free(ssl);
		BIO_free(*in);
		BIO_free(*out);
		return NULL;
	}
	BIO_set_mem_eof_return(*in, -1);
	BIO_set_mem_eof_return(*out, -1);
	SSL_set_bio(ssl, *in, *out);
	SSL_set_accept_state(ssl);
	return ssl;
}

static int select_postgresql(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			     const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char pg[] = "\x0apostgresql";

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, pg, sizeof(pg) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

void czpg_testcert_select_alpn_postgresql(SSL_CTX *ctx)
{
	SSL_CTX_set_alpn_select_cb(ctx, select_postgresql, NULL);
}

int czpg_testcert_server_files(struct czpg_testcert_files *f,
			       const struct czpg_testcert_opts *leaf_opts)
{
	struct czpg_testcert ca = {0}, leaf = {0};
	int rc = -1;

	memset(f, 0, sizeof(*f));
	if (czpg_testcert_tmpdir(f->dir, sizeof(f->dir)) < 0)
		return -1;
	if (czpg_testcert_make_ca(&ca, NULL) < 0 ||
	    czpg_testcert_make_leaf(&leaf, &ca, leaf_opts) < 0 ||
	    czpg_testcert_write(&ca, f->dir, "ca") < 0 ||
	    czpg_testcert_write(&leaf, f->dir, "server") < 0)
		goto out;
	snprintf(f->ca, sizeof(f->ca), "%s/ca.crt", f->dir);
	snprintf(f->crt, sizeof(f->crt), "%s/server.crt", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/server.key", f->dir);
	rc = 0;
out:
	czpg_testcert_free(&ca);
	czpg_testcert_free(&leaf);
	return rc;
}
