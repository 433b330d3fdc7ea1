/*
 * pki.h - the internal CA and server leaf that `czctl postgres tls
 * provision` writes, and the inspection `status`/`verify` need.  OpenSSL 3
 * EVP/X509 APIs only (RFC 5280 profile), never the openssl command.
 *
 * Certificates and keys are plain OpenSSL objects (X509 *, EVP_PKEY *): the
 * caller owns what a function hands back and frees it with X509_free /
 * EVP_PKEY_free / sk_X509_pop_free(sk, X509_free).
 *
 * Functions return 0 on success and -1 on error with one sentence in
 * err[errlen] (err may be NULL).  "check" functions return 0 (good),
 * 1 (checked, and the answer is no; the reason is in err) or -1 (could not
 * check).
 */
#ifndef CZPG_PKI_H
#define CZPG_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "czpg/buf.h"
#include "czpg/certinfo.h"

#define CZPG_PKI_CA_DAYS 3650
#define CZPG_PKI_LEAF_DAYS 90
/* notBefore is set this far in the past to tolerate clock skew. */
#define CZPG_PKI_BACKDATE_SECS 300
/* Most certificates czpg_pki_certs_from_pem accepts in one bundle. */
#define CZPG_PKI_MAX_BUNDLE 64
/* Largest PEM file the *_file loaders read. */
#define CZPG_PKI_MAX_PEM_FILE (1u << 20)

enum czpg_pki_key_type {
	CZPG_PKI_KEY_EC_P256 = 0, /* the default: ECDSA on prime256v1 */
	CZPG_PKI_KEY_RSA_2048,    /* for handshake-cost comparison only */
};

/* Options shared by CA and leaf generation; zero-initialised = defaults. */
struct czpg_pki_opts {
	enum czpg_pki_key_type key_type;
	int days;          /* validity; 0 = CZPG_PKI_CA_DAYS / CZPG_PKI_LEAF_DAYS */
	time_t not_before; /* 0 = now - CZPG_PKI_BACKDATE_SECS (tests set a past date) */
};
/*
 * notAfter = notBefore + CZPG_PKI_BACKDATE_SECS + days * 86400, i.e. `days`
 * from now.  A CN longer than 64 characters (RFC 5280's ub-common-name) is
 * cut to 64; the leaf's full name is always in its subjectAltName.
 */

/*
 * New self-signed CA: fresh key, subject CN=cn, basicConstraints critical
 * CA:TRUE pathlen:0, keyUsage critical keyCertSign+cRLSign, SKI and AKI,
 * SHA-256 signature, random positive 159-bit serial.  opts may be NULL.
 * On success *cert and *key are new objects owned by the caller.
 */
int czpg_pki_make_ca(const char *cn, const struct czpg_pki_opts *opts, X509 **cert, EVP_PKEY **key,
		     char *err, size_t errlen);

/*
 * New server leaf signed by ca_cert/ca_key: fresh key, CN=dns,
 * subjectAltName = DNS:dns, IP:ip (exactly those two), basicConstraints
 * critical CA:FALSE, keyUsage critical digitalSignature, extendedKeyUsage
 * serverAuth, SKI, AKI (the CA's key id), SHA-256, random serial.
 * dns and ip are validated first (czpg_pki_valid_dns / _ip).
 */
int czpg_pki_make_leaf(const char *dns, const char *ip, const struct czpg_pki_opts *opts,
		       X509 *ca_cert, EVP_PKEY *ca_key, X509 **cert, EVP_PKEY **key, char *err,
		       size_t errlen);

/* --- PEM ------------------------------------------------------------- */

/* Appends the certificate as PEM ("BEGIN CERTIFICATE") to out. */
int czpg_pki_cert_to_pem(X509 *cert, struct czpg_wbuf *out, char *err, size_t errlen);
/*
 * Appends the private key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY").
 * out then holds a secret: release it with czpg_wbuf_free_secure.
 */
int czpg_pki_key_to_pem(EVP_PKEY *key, struct czpg_wbuf *out, char *err, size_t errlen);
/* Parses the first certificate in pem[0..len). */
int czpg_pki_cert_from_pem(const void *pem, size_t len, X509 **cert, char *err, size_t errlen);
/* Parses a private key (PKCS#8 or traditional, unencrypted). */
int czpg_pki_key_from_pem(const void *pem, size_t len, EVP_PKEY **key, char *err, size_t errlen);
/*
 * Parses every certificate in a bundle (e.g. old+new CA during rotation).
 * At least one and at most CZPG_PKI_MAX_BUNDLE; anything else between the
 * PEM blocks is ignored.  *certs is a new stack owned by the caller.
 */
int czpg_pki_certs_from_pem(const void *pem, size_t len, STACK_OF(X509) **certs, char *err,
			    size_t errlen);

/* File versions: 0, 1 when path does not exist, -1 on error. */
int czpg_pki_load_cert_file(const char *path, X509 **cert, char *err, size_t errlen);
int czpg_pki_load_key_file(const char *path, EVP_PKEY **key, char *err, size_t errlen);
int czpg_pki_load_certs_file(const char *path, STACK_OF(X509) **certs, char *err, size_t errlen);

/* --- inspection ------------------------------------------------------ */

/* A certificate's description is czpg_certinfo_read (czpg/certinfo.h). */

/*
 * Check: does the leaf's subjectAltName carry exactly IP:ip and DNS:dns
 * (DNS compared case-insensitively, IPs as binary addresses) and nothing
 * else?  0 yes, 1 no (err says what differs), -1 on a bad argument.
 */
int czpg_pki_check_leaf_names(X509 *leaf, const char *ip, const char *dns, char *err,
			      size_t errlen);

/* Check: is cert's signature made by ca's key and its issuer ca's subject? */
int czpg_pki_check_signed_by(X509 *cert, X509 *ca, char *err, size_t errlen);

/* Check: is key the private half of cert's public key? */
int czpg_pki_check_key_match(X509 *cert, EVP_PKEY *key, char *err, size_t errlen);

/*
 * Check PostgreSQL's rule for ssl_key_file (be-secure-common.c): a regular
 * file owned by the database user with no group/other bits (0600 or less),
 * or owned by root with at most u=rw,g=r (0640 or less).  Beyond what the
 * server checks, the key must also be readable by the database user
 * (owner bit u+r, or root-owned with g+r and group db_gid; pass
 * db_gid = (gid_t)-1 to skip the group comparison).
 * czpg_pki_check_key_mode judges given facts; _file stats path first
 * (-1 when it cannot be stat'ed or is missing).
 */
int czpg_pki_check_key_mode(mode_t mode, uid_t owner, gid_t group, uid_t db_uid, gid_t db_gid,
			    char *err, size_t errlen);
int czpg_pki_check_key_file(const char *path, uid_t db_uid, gid_t db_gid, char *err, size_t errlen);

/* --- input validation ------------------------------------------------ */

/* 0 when s is an IPv4 dotted quad or an IPv6 literal (inet_pton), else -1. */
int czpg_pki_valid_ip(const char *s, char *err, size_t errlen);

/*
 * 0 when s is a host name per RFC 1123: labels of 1-63 letters, digits and
 * hyphens, not starting or ending with a hyphen, total at most 253
 * characters.  Rejected: a trailing dot (give the name without it),
 * wildcards, underscores, and names whose last label is all digits (they
 * read as IP addresses).  Single-label names ("localhost") are accepted.
 */
int czpg_pki_valid_dns(const char *s, char *err, size_t errlen);

#endif
