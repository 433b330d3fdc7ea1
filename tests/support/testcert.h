/*
 * testcert.h - test certificates made with the OpenSSL API (no openssl CLI).
 *
 * A CA (self-signed, basicConstraints CA:TRUE) and leaves signed by it, with
 * the key type, signature digest, SANs and validity a test asks for, kept in
 * memory and written as PEM files when a test needs paths:
 *
 *   struct czpg_testcert ca = {0}, leaf = {0};
 *   struct czpg_testcert_opts o = { .cn = "db", .sans = "DNS:db.example,IP:127.0.0.1" };
 *   czpg_testcert_make_ca(&ca, NULL);                  // EC P-256, SHA-256
 *   czpg_testcert_make_leaf(&leaf, &ca, &o);
 *   czpg_testcert_write(&ca, dir, "ca");               // dir/ca.crt, dir/ca.key (0600)
 *   ...
 *   czpg_testcert_free(&leaf); czpg_testcert_free(&ca);
 *
 * Every function returns 0, or -1 after printing why on stderr.
 */
#ifndef CZPG_TEST_TESTCERT_H
#define CZPG_TEST_TESTCERT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

enum czpg_testcert_key {
	CZPG_TESTCERT_EC_P256 = 0, /* the default */
	CZPG_TESTCERT_EC_P384,
	CZPG_TESTCERT_RSA2048,
	CZPG_TESTCERT_ED25519,
};

/* Digest the ISSUER signs with; ignored when the issuer key is Ed25519. */
enum czpg_testcert_digest {
	CZPG_TESTCERT_SHA256 = 0, /* the default */
	CZPG_TESTCERT_SHA384,
	CZPG_TESTCERT_SHA1,
};

/* A zero-initialised struct gives the defaults noted on each field. */
struct czpg_testcert_opts {
	enum czpg_testcert_key key;       /* the new certificate's own key; EC P-256 */
	enum czpg_testcert_digest digest; /* the issuer's signature digest; SHA-256 */
	const char *cn;                   /* subject CN; "czpg test CA" / "czpg test server" */
	/* subjectAltName in OpenSSL config syntax, "DNS:db.example,IP:::1"; NULL = none */
	const char *sans;
	/*
	 * Validity as seconds from now.  not_before 0 means one hour ago;
	 * not_after 0 means 30 days ahead.  Expired: not_before = -2 days,
	 * not_after = -1 day.  Not yet valid: not_before = +1 day.
	 */
	long not_before;
	long not_after;
};

struct czpg_testcert {
	EVP_PKEY *key;
	X509 *cert;
};

/* A self-signed CA certificate and its key into *ca (opts may be NULL). */
int czpg_testcert_make_ca(struct czpg_testcert *ca, const struct czpg_testcert_opts *opts);

/* A server leaf (serverAuth, CA:FALSE) signed by issuer (opts may be NULL). */
int czpg_testcert_make_leaf(struct czpg_testcert *leaf, const struct czpg_testcert *issuer,
			    const struct czpg_testcert_opts *opts);

/*
 * Writes <dir>/<name>.crt (PEM certificate, 0644) and <dir>/<name>.key
 * (unencrypted PKCS#8 PEM, 0600).  The paths written can be built by the
 * caller as dir + "/" + name + ".crt" / ".key".
 */
int czpg_testcert_write(const struct czpg_testcert *c, const char *dir, const char *name);

/* Writes n certificates, in order, into one PEM file at path (a CA bundle). */
int czpg_testcert_write_bundle(const char *path, X509 *const *certs, size_t n);

/* Frees key and certificate, leaves *c zeroed.  NULL-safe. */
void czpg_testcert_free(struct czpg_testcert *c);

/* Makes a fresh private directory ($TMPDIR or /tmp)/czpg-test-XXXXXX into out. */
int czpg_testcert_tmpdir(char *out, size_t cap);

/* Removes the regular files directly inside dir, then dir itself (not recursive). */
void czpg_testcert_rmdir(const char *dir);

/*
 * An in-memory TLS server context for tests: serves leaf (plus extra chain
 * certificates, may be NULL/0) with versions min..max (0 = OpenSSL's limit),
 * at security level 0 so that even a SHA-1 certificate is served: what a
 * test observes are the client's checks.
 * Free with SSL_CTX_free().  NULL on failure.
 */
SSL_CTX *czpg_testcert_server_ctx(const struct czpg_testcert *leaf, X509 *const *chain,
				  size_t nchain, int min_version, int max_version);

/*
 * A server of ctx over two memory BIOs: the client's ciphertext goes in with
 * BIO_write(*in), the server's comes out with BIO_read(*out); both read
 * "retry" when empty.  SSL_free frees the BIOs too.  NULL on failure.
 */
SSL *czpg_testcert_mem_server(SSL_CTX *ctx, BIO **in, BIO **out);

/*
 * Makes ctx select ALPN "postgresql" when a client offers it and refuse a
 * client that offers ALPN without it, as PostgreSQL 17 does (RFC 7301).
 */
void czpg_testcert_select_alpn_postgresql(SSL_CTX *ctx);

/* A CA and a server leaf signed by it, as files in a fresh directory. */
struct czpg_testcert_files {
	char dir[256]; /* czpg_testcert_tmpdir; remove with czpg_testcert_rmdir */
	char ca[512];  /* dir/ca.crt */
	char crt[512]; /* dir/server.crt */
	char key[512]; /* dir/server.key (0600) */
};

/* Makes f: a new CA (defaults) and a leaf with leaf_opts (may be NULL), written as PEM. */
int czpg_testcert_server_files(struct czpg_testcert_files *f,
			       const struct czpg_testcert_opts *leaf_opts);

#endif
