/*
 * certinfo.h - one record describing an X.509 certificate, for every verb
 * that shows or checks one: the certificate a server presented (verify,
 * probe) and the files on a box (provision, status).
 *
 * Everything is copied out of the certificate as printable text (control
 * and non-ASCII bytes become '?': a certificate is peer input and ends up
 * on a terminal), so the record outlives the X509 it came from.
 */
#ifndef CZPG_CERTINFO_H
#define CZPG_CERTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "czpg/parse.h"

/* DNS and IP SANs kept one by one; more of either count as n_other_sans. */
#define CZPG_CERTINFO_MAX_SANS 8

struct czpg_cert_info {
	/* Names. */
	char subject_cn[256]; /* "" when the subject has no CN */
	char subject[512];    /* the whole subject on one line, RFC 2253 */
	char issuer_cn[256];
	char issuer[512];
	char sans[1024]; /* "DNS:db.example, IP:10.0.0.1" ("" if none); "..." when cut */
	char dns_sans[CZPG_CERTINFO_MAX_SANS][256];
	size_t n_dns;
	char ip_sans[CZPG_CERTINFO_MAX_SANS][CZPG_IP_TEXT_MAX]; /* inet_ntop form */
	size_t n_ip;
	size_t n_other_sans; /* SANs of other kinds, or beyond the limit */

	/* Key and signature. */
	char key[48];      /* "EC P-256", "RSA 2048", "Ed25519" */
	char key_type[16]; /* "EC", "RSA", or OpenSSL's name of the type */
	char curve[32];    /* "prime256v1" for P-256; "" for a key that is not EC */
	int key_bits;
	char sig_alg[64]; /* "ecdsa-with-SHA256", "sha256WithRSAEncryption", "ED25519" */

	/* Validity, as read against the `now` the caller passed. */
	char not_before[32]; /* "2025-01-31 12:00:00 UTC" */
	char not_after[32];
	time_t not_before_t;
	time_t not_after_t;
	long days_left; /* whole days from now to notAfter, rounded down: negative once expired */

	/* Identity. */
	bool is_ca; /* basicConstraints CA:TRUE */
	bool self_signed;
	char serial[96];      /* upper-case hex, no separators */
	uint8_t sha256[32];   /* SHA-256 of the DER certificate */
	char fingerprint[96]; /* "AB:CD:..." form of sha256 */
};

/*
 * Fills *info from cert, with days_left counted from now (tests pass a
 * fixed clock; callers that mean "now" pass time(NULL)).  Fields a
 * certificate does not have are "" / 0.  Returns 0, or -1 with err set
 * when cert is NULL or its serial, dates, key or hash cannot be read (info
 * then holds what could be read).
 */
int czpg_certinfo_read(X509 *cert, time_t now, struct czpg_cert_info *info, char *err,
		       size_t errlen);

/*
 * Copies n bytes of certificate text into buf (capacity cap, always
 * NUL-terminated, cut to fit), each control or non-ASCII byte as '?'.
 */
void czpg_certinfo_printable(char *buf, size_t cap, const unsigned char *s, size_t n);

/* The first CN of name as printable text ("" when there is none). */
void czpg_certinfo_cn(const X509_NAME *name, char *out, size_t outlen);

#endif
