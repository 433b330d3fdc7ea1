/*
 * test_pki.c - the generated CA and leaf carry exactly the RFC 5280 profile
 * czpg promises, verify with OpenSSL's own chain and name checks and in a
 * real TLS handshake over memory; PEM coding, bundles, inspection, the
 * mismatch checks, input validation and PostgreSQL's key-file rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "czpg/fsutil.h"
#include "czpg/pki.h"

#define DNS "audit-pg.internal"
#define IP "10.20.1.1"

struct fx {
	X509 *ca;
	EVP_PKEY *ca_key;
	X509 *leaf;
	EVP_PKEY *leaf_key;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if (czpg_pki_make_ca("czpg internal CA " DNS, NULL, &f->ca, &f->ca_key, f->err,
			     sizeof(f->err)) != 0 ||
	    czpg_pki_make_leaf(DNS, IP, NULL, f->ca, f->ca_key, &f->leaf, &f->leaf_key, f->err,
			       sizeof(f->err)) != 0) {
		fprintf(stderr, "setup: %s\n", f->err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	X509_free(f->ca);
	EVP_PKEY_free(f->ca_key);
	X509_free(f->leaf);
	EVP_PKEY_free(f->leaf_key);
	free(f);
	return 0;
}

/* The extension with nid, asserting it is there with the given criticality. */
static X509_EXTENSION *ext_of(X509 *x, int nid, int critical)
{
	int idx = X509_get_ext_by_NID(x, nid, -1);
	X509_EXTENSION *e;

	assert_true(idx >= 0);
	/* exactly one of each */
	assert_int_equal(X509_get_ext_by_NID(x, nid, idx), -1);
	e = X509_get_ext(x, idx);
	assert_int_equal(X509_EXTENSION_get_critical(e), critical);
	return e;
}

static void cn_of(const X509_NAME *n, char *out, size_t len)
{
	assert_true(X509_NAME_get_text_by_NID(n, NID_commonName, out, (int)len) >= 0);
}

static time_t t_of(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return timegm(&tm);
}

static void check_serial(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);

	assert_non_null(bn);
	assert_false(BN_is_negative(bn));
	/* at least 128 random bits, at most RFC 5280's 20 octets */
	assert_true(BN_num_bits(bn) >= 128);
	assert_true(BN_num_bytes(bn) <= 20);
	assert_true(BN_num_bits(bn) <= 159);
	BN_free(bn);
}

static void check_p256(EVP_PKEY *k)
{
	char group[64] = "";

	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
							sizeof(group), NULL),
			 1);
	assert_string_equal(group, "prime256v1");
	assert_int_equal(EVP_PKEY_get_bits(k), 256);
}

static void check_validity(X509 *x, long days, time_t now)
{
	time_t nb = t_of(X509_get0_notBefore(x)), na = t_of(X509_get0_notAfter(x));

	/* notBefore five minutes in the past (a few seconds of test slack) */
	assert_true(nb <= now - CZPG_PKI_BACKDATE_SECS + 2);
	assert_true(nb >= now - CZPG_PKI_BACKDATE_SECS - 10);
	assert_int_equal(na - nb, days * 86400 + CZPG_PKI_BACKDATE_SECS);
}

static void test_ca_profile(void **state)
{
	struct fx *f = *state;
	X509 *ca = f->ca;
	BASIC_CONSTRAINTS *bc;
	const ASN1_OCTET_STRING *ski, *akid;
	char cn[256];

	assert_int_equal(X509_get_version(ca), X509_VERSION_3);
	cn_of(X509_get_subject_name(ca), cn, sizeof(cn));
	assert_string_equal(cn, "czpg internal CA " DNS);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(ca)), 0);
	assert_int_equal(X509_get_ext_count(ca), 4);

	ext_of(ca, NID_basic_constraints, 1);
	bc = X509_get_ext_d2i(ca, NID_basic_constraints, NULL, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_non_null(bc->pathlen);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);

	ext_of(ca, NID_key_usage, 1);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);

	ext_of(ca, NID_subject_key_identifier, 0);
	ext_of(ca, NID_authority_key_identifier, 0);
	ski = X509_get0_subject_key_id(ca);
	akid = X509_get0_authority_key_id(ca);
	assert_non_null(ski);
	assert_non_null(akid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(ski, akid), 0);
	assert_int_equal(ASN1_STRING_length(ski), 20); /* SHA-1 of the public key (RFC 5280) */

	assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_verify(ca, f->ca_key), 1);
	check_serial(ca);
	check_p256(X509_get0_pubkey(ca));
	check_p256(f->ca_key);
	check_validity(ca, CZPG_PKI_CA_DAYS, time(NULL));
	assert_int_equal(X509_check_ca(ca), 1);
}

static void test_leaf_profile(void **state)
{
	struct fx *f = *state;
	X509 *leaf = f->leaf;
	BASIC_CONSTRAINTS *bc;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	unsigned char want_ip[4];
	char cn[256];

	assert_int_equal(X509_get_version(leaf), X509_VERSION_3);
	cn_of(X509_get_subject_name(leaf), cn, sizeof(cn));
	assert_string_equal(cn, DNS);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(f->ca)),
			 0);
	assert_int_equal(X509_get_ext_count(leaf), 6);

	ext_of(leaf, NID_basic_constraints, 1);
	bc = X509_get_ext_d2i(leaf, NID_basic_constraints, NULL, NULL);
	assert_non_null(bc);
	assert_false(bc->ca);
	assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);

	ext_of(leaf, NID_key_usage, 1);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	ext_of(leaf, NID_ext_key_usage, 0);
	assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);

	ext_of(leaf, NID_subject_key_identifier, 0);
	ext_of(leaf, NID_authority_key_identifier, 0);
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
					       X509_get0_subject_key_id(f->ca)),
			 0);
	assert_int_not_equal(
	    ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(leaf), X509_get0_subject_key_id(f->ca)),
	    0);

	ext_of(leaf, NID_subject_alt_name, 0);
	gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
	g = sk_GENERAL_NAME_value(gens, 0);
	assert_int_equal(g->type, GEN_DNS);
	assert_int_equal(ASN1_STRING_length(g->d.dNSName), strlen(DNS));
	assert_memory_equal(ASN1_STRING_get0_data(g->d.dNSName), DNS, strlen(DNS));
	g = sk_GENERAL_NAME_value(gens, 1);
	assert_int_equal(g->type, GEN_IPADD);
	assert_int_equal(inet_pton(AF_INET, IP, want_ip), 1);
	assert_int_equal(ASN1_STRING_length(g->d.iPAddress), 4);
	assert_memory_equal(ASN1_STRING_get0_data(g->d.iPAddress), want_ip, 4);
	GENERAL_NAMES_free(gens);

	assert_int_equal(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
	check_serial(leaf);
	check_p256(X509_get0_pubkey(leaf));
	check_validity(leaf, CZPG_PKI_LEAF_DAYS, time(NULL));
	assert_int_equal(X509_check_ca(leaf), 0);
	assert_int_equal(X509_check_private_key(leaf, f->leaf_key), 1);
}

/* Chain verification as a verify-full client does it; returns the X509_V_ code. */
static int store_verify(X509 *ca, X509 *leaf, const char *host, const char *ip)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	int code;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	vp = X509_STORE_CTX_get0_param(ctx);
	assert_int_equal(X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_SERVER), 1);
	if (host != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_host(vp, host, 0), 1);
	if (ip != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(vp, ip), 1);
	code = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return code;
}

static void test_leaf_verifies_against_ca(void **state)
{
	struct fx *f = *state;
	X509 *other = NULL;
	EVP_PKEY *other_key = NULL;

	assert_int_equal(store_verify(f->ca, f->leaf, DNS, NULL), X509_V_OK);
	assert_int_equal(store_verify(f->ca, f->leaf, NULL, IP), X509_V_OK);
	assert_int_equal(store_verify(f->ca, f->leaf, "other.internal", NULL),
			 X509_V_ERR_HOSTNAME_MISMATCH);
	assert_int_equal(store_verify(f->ca, f->leaf, NULL, "10.20.1.2"),
			 X509_V_ERR_IP_ADDRESS_MISMATCH);
	assert_int_equal(X509_check_host(f->leaf, DNS, 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(f->leaf, "AUDIT-PG.Internal", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(f->leaf, "x." DNS, 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(f->leaf, IP, 0), 1);
	assert_int_equal(X509_check_ip_asc(f->leaf, "10.20.1.10", 0), 0);
	/* the CA certificate itself is not a server certificate */
	assert_int_not_equal(store_verify(f->ca, f->ca, NULL, NULL), X509_V_OK);

	/* a different CA with the same name does not vouch for this leaf */
	assert_int_equal(czpg_pki_make_ca("czpg internal CA " DNS, NULL, &other, &other_key, f->err,
					  sizeof(f->err)),
			 0);
	assert_int_not_equal(store_verify(other, f->leaf, DNS, NULL), X509_V_OK);
	X509_free(other);
	EVP_PKEY_free(other_key);
}

static void test_ipv6_leaf(void **state)
{
	struct fx *f = *state;
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	struct czpg_cert_info info;

	assert_int_equal(czpg_pki_make_leaf("db6.example", "fd00::10", NULL, f->ca, f->ca_key,
					    &leaf, &key, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(X509_check_ip_asc(leaf, "fd00:0:0:0:0:0:0:10", 0), 1);
	assert_int_equal(store_verify(f->ca, leaf, NULL, "fd00::10"), X509_V_OK);
	assert_int_equal(czpg_certinfo_read(leaf, time(NULL), &info, f->err, sizeof(f->err)), 0);
	assert_int_equal(info.n_ip, 1);
	assert_string_equal(info.ip_sans[0], "fd00::10");
	assert_int_equal(
	    czpg_pki_check_leaf_names(leaf, "fd00:0::10", "db6.example", f->err, sizeof(f->err)),
	    0);
	X509_free(leaf);
	EVP_PKEY_free(key);
}

static void test_serials_differ(void **state)
{
	struct fx *f = *state;
	X509 *ca2 = NULL, *leaf2 = NULL;
	EVP_PKEY *k1 = NULL, *k2 = NULL;

	assert_int_equal(czpg_pki_make_ca("x", NULL, &ca2, &k1, f->err, sizeof(f->err)), 0);
	assert_int_equal(czpg_pki_make_leaf(DNS, IP, NULL, f->ca, f->ca_key, &leaf2, &k2, f->err,
					    sizeof(f->err)),
			 0);
	assert_int_not_equal(
	    ASN1_INTEGER_cmp(X509_get0_serialNumber(f->ca), X509_get0_serialNumber(ca2)), 0);
	assert_int_not_equal(
	    ASN1_INTEGER_cmp(X509_get0_serialNumber(f->leaf), X509_get0_serialNumber(leaf2)), 0);
	/* and a re-issued leaf has a fresh key */
	assert_int_not_equal(EVP_PKEY_eq(f->leaf_key, k2), 1);
	X509_free(ca2);
	X509_free(leaf2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void test_rsa_variant_and_options(void **state)
{
	struct fx *f = *state;
	struct czpg_pki_opts o = {.key_type = CZPG_PKI_KEY_RSA_2048};
	X509 *leaf = NULL, *rca = NULL;
	EVP_PKEY *key = NULL, *rkey = NULL;
	time_t now = time(NULL);

	/* RSA leaf under the P-256 CA */
	assert_int_equal(
	    czpg_pki_make_leaf(DNS, IP, &o, f->ca, f->ca_key, &leaf, &key, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(leaf)), 2048);
	assert_int_equal(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
	assert_int_equal(store_verify(f->ca, leaf, DNS, NULL), X509_V_OK);
	X509_free(leaf);
	EVP_PKEY_free(key);

	/* an RSA CA signs with sha256WithRSAEncryption; custom validity */
	o.days = 30;
	assert_int_equal(czpg_pki_make_ca("rsa ca", &o, &rca, &rkey, f->err, sizeof(f->err)), 0);
	assert_int_equal(X509_get_signature_nid(rca), NID_sha256WithRSAEncryption);
	check_validity(rca, 30, now);
	o.key_type = CZPG_PKI_KEY_EC_P256;
	o.days = 0;
	o.not_before = now - 100 * 86400;
	assert_int_equal(
	    czpg_pki_make_leaf(DNS, IP, &o, rca, rkey, &leaf, &key, f->err, sizeof(f->err)), 0);
	assert_int_equal(X509_get_signature_nid(leaf), NID_sha256WithRSAEncryption);
	assert_int_equal(t_of(X509_get0_notBefore(leaf)), now - 100 * 86400);
	/* 100 days ago + 90 days: expired, and chain verification says so */
	assert_int_equal(store_verify(rca, leaf, DNS, NULL), X509_V_ERR_CERT_HAS_EXPIRED);
	X509_free(leaf);
	EVP_PKEY_free(key);
	X509_free(rca);
	EVP_PKEY_free(rkey);
}

static void test_generation_errors(void **state)
{
	struct fx *f = *state;
	X509 *leaf = (X509 *)1;
	EVP_PKEY *key = (EVP_PKEY *)1;
	X509 *ca2 = NULL;
	EVP_PKEY *k2 = NULL;

	assert_int_equal(czpg_pki_make_leaf("bad_name", IP, NULL, f->ca, f->ca_key, &leaf, &key,
					    f->err, sizeof(f->err)),
			 -1);
	assert_null(leaf);
	assert_null(key);
	assert_non_null(strstr(f->err, "bad_name"));
	assert_int_equal(czpg_pki_make_leaf(DNS, "10.20.1", NULL, f->ca, f->ca_key, &leaf, &key,
					    f->err, sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "10.20.1"));
	assert_int_equal(
	    czpg_pki_make_leaf(DNS, IP, NULL, NULL, NULL, &leaf, &key, f->err, sizeof(f->err)), -1);
	/* a CA key that is not the CA certificate's */
	assert_int_equal(czpg_pki_make_ca("other", NULL, &ca2, &k2, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    czpg_pki_make_leaf(DNS, IP, NULL, f->ca, k2, &leaf, &key, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "does not belong"));
	assert_int_equal(czpg_pki_make_ca("", NULL, &leaf, &key, f->err, sizeof(f->err)), -1);
	assert_null(leaf);
	assert_int_equal(ERR_peek_error(), 0); /* the error queue is left clean */
	X509_free(ca2);
	EVP_PKEY_free(k2);
}

static void test_long_name_cn_cut(void **state)
{
	struct fx *f = *state;
	char name[254];
	X509 *leaf = NULL, *ca = NULL;
	EVP_PKEY *key = NULL, *cakey = NULL;
	struct czpg_cert_info info;
	int i;

	/* 4 labels of 62 + 3 dots = 251 characters */
	memset(name, 'a', sizeof(name));
	for (i = 62; i < 251; i += 63)
		name[i] = '.';
	name[251] = '\0';
	assert_int_equal(czpg_pki_valid_dns(name, f->err, sizeof(f->err)), 0);
	assert_int_equal(czpg_pki_make_leaf(name, IP, NULL, f->ca, f->ca_key, &leaf, &key, f->err,
					    sizeof(f->err)),
			 0);
	assert_int_equal(czpg_certinfo_read(leaf, time(NULL), &info, f->err, sizeof(f->err)), 0);
	assert_int_equal(strlen(info.subject_cn), 64);
	assert_memory_equal(info.subject_cn, name, 64);
	assert_string_equal(info.dns_sans[0], name);
	assert_int_equal(X509_check_host(leaf, name, 0, 0, NULL), 1);

	assert_int_equal(czpg_pki_make_ca(name, NULL, &ca, &cakey, f->err, sizeof(f->err)), 0);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	X509_free(leaf);
	EVP_PKEY_free(key);
}

/* --- TLS over memory ------------------------------------------------- */

/* Moves bytes between two SSL objects joined by a BIO pair until both finish. */
static int handshake(SSL *client, SSL *server)
{
	int i, cdone = 0, sdone = 0;

	for (i = 0; i < 100 && !(cdone && sdone); i++) {
		int r;

		if (!cdone) {
			r = SSL_do_handshake(client);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(client, r) != SSL_ERROR_WANT_READ)
				return -1;
		}
		if (!sdone) {
			r = SSL_do_handshake(server);
			if (r == 1)
				sdone = 1;
			else if (SSL_get_error(server, r) != SSL_ERROR_WANT_READ)
				return -1;
		}
	}
	return cdone && sdone ? 0 : -1;
}

/* verify-full TLS 1.3 handshake against the generated pair; returns the verify result. */
static long tls_with(X509 *ca, X509 *leaf, EVP_PKEY *key, const char *host, const char *ip)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *s, *c;
	BIO *bc = NULL, *bs = NULL;
	long v;
	int hs;

	assert_non_null(sctx);
	assert_non_null(cctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION), 1);
	assert_int_equal(SSL_CTX_use_certificate(sctx, leaf), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
	assert_int_equal(SSL_CTX_check_private_key(sctx), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	assert_non_null(s);
	assert_non_null(c);
	if (host != NULL)
		assert_int_equal(SSL_set1_host(c, host), 1);
	if (ip != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c), ip), 1);
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	hs = handshake(c, s);
	v = SSL_get_verify_result(c);
	if (hs == 0) {
		assert_int_equal(v, X509_V_OK);
		assert_int_equal(SSL_version(c), TLS1_3_VERSION);
	} else if (v == X509_V_OK) {
		v = -1;
	}
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ERR_clear_error();
	return v;
}

static void test_tls_handshake(void **state)
{
	struct fx *f = *state;
	struct czpg_pki_opts rsa = {.key_type = CZPG_PKI_KEY_RSA_2048};
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;

	assert_int_equal(tls_with(f->ca, f->leaf, f->leaf_key, DNS, NULL), X509_V_OK);
	assert_int_equal(tls_with(f->ca, f->leaf, f->leaf_key, NULL, IP), X509_V_OK);
	assert_int_equal(tls_with(f->ca, f->leaf, f->leaf_key, "wrong.internal", NULL),
			 X509_V_ERR_HOSTNAME_MISMATCH);
	assert_int_equal(czpg_pki_make_leaf(DNS, IP, &rsa, f->ca, f->ca_key, &leaf, &key, f->err,
					    sizeof(f->err)),
			 0);
	assert_int_equal(tls_with(f->ca, leaf, key, DNS, NULL), X509_V_OK);
	X509_free(leaf);
	EVP_PKEY_free(key);
}

/* --- PEM ------------------------------------------------------------- */

static char *wbuf_str(struct czpg_wbuf *w)
{
	char *s = calloc(1, w->len + 1);

	assert_non_null(s);
	memcpy(s, w->data, w->len);
	return s;
}

static void test_pem_roundtrip(void **state)
{
	struct fx *f = *state;
	struct czpg_wbuf w;
	X509 *c = NULL;
	EVP_PKEY *k = NULL;
	char *s;

	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pki_cert_to_pem(f->leaf, &w, f->err, sizeof(f->err)), 0);
	s = wbuf_str(&w);
	assert_true(strncmp(s, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
	assert_non_null(strstr(s, "-----END CERTIFICATE-----\n"));
	assert_int_equal(czpg_pki_cert_from_pem(w.data, w.len, &c, f->err, sizeof(f->err)), 0);
	assert_int_equal(X509_cmp(c, f->leaf), 0);
	free(s);
	czpg_wbuf_free(&w);

	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pki_key_to_pem(f->leaf_key, &w, f->err, sizeof(f->err)), 0);
	s = wbuf_str(&w);
	assert_true(strncmp(s, "-----BEGIN PRIVATE KEY-----\n", 28) == 0); /* PKCS#8 */
	assert_int_equal(czpg_pki_key_from_pem(w.data, w.len, &k, f->err, sizeof(f->err)), 0);
	assert_int_equal(EVP_PKEY_eq(k, f->leaf_key), 1);
	assert_int_equal(czpg_pki_check_key_match(c, k, f->err, sizeof(f->err)), 0);
	OPENSSL_cleanse(s, w.len);
	free(s);
	czpg_wbuf_free_secure(&w);
	X509_free(c);
	EVP_PKEY_free(k);

	/* a capped output buffer reports the overflow */
	czpg_wbuf_init(&w, 64);
	assert_int_equal(czpg_pki_cert_to_pem(f->leaf, &w, f->err, sizeof(f->err)), -1);
	czpg_wbuf_free(&w);
}

static void test_pem_errors(void **state)
{
	struct fx *f = *state;
	X509 *c = NULL;
	EVP_PKEY *k = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64!!\n"
				   "-----END CERTIFICATE-----\n";

	assert_int_equal(czpg_pki_cert_from_pem("", 0, &c, f->err, sizeof(f->err)), -1);
	assert_int_equal(czpg_pki_cert_from_pem("hello", 5, &c, f->err, sizeof(f->err)), -1);
	assert_int_equal(czpg_pki_cert_from_pem(junk, strlen(junk), &c, f->err, sizeof(f->err)),
			 -1);
	assert_null(c);
	assert_int_equal(czpg_pki_key_from_pem(junk, strlen(junk), &k, f->err, sizeof(f->err)), -1);

	/* an encrypted key is refused, never prompted for */
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, f->leaf_key, EVP_aes_256_cbc(),
						  (unsigned char *)"pw", 2, NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &p);
	assert_true(n > 0);
	assert_non_null(strstr(p, "ENCRYPTED"));
	assert_int_equal(czpg_pki_key_from_pem(p, (size_t)n, &k, f->err, sizeof(f->err)), -1);
	assert_null(k);
	BIO_free(bio);
	assert_int_equal(ERR_peek_error(), 0);
}

static void append_pem(struct czpg_wbuf *w, X509 *x)
{
	char err[256];

	assert_int_equal(czpg_pki_cert_to_pem(x, w, err, sizeof(err)), 0);
}

static void test_bundle(void **state)
{
	struct fx *f = *state;
	struct czpg_wbuf w;
	STACK_OF(X509) *sk = NULL;
	X509 *ca2 = NULL;
	EVP_PKEY *k2 = NULL;
	int i;

	assert_int_equal(czpg_pki_make_ca("new CA", NULL, &ca2, &k2, f->err, sizeof(f->err)), 0);
	czpg_wbuf_init(&w, 0);
	czpg_wbuf_bytes(&w, "# old CA\n", 9);
	append_pem(&w, f->ca);
	czpg_wbuf_bytes(&w, "\n# new CA\n", 10);
	append_pem(&w, ca2);
	assert_int_equal(czpg_pki_certs_from_pem(w.data, w.len, &sk, f->err, sizeof(f->err)), 0);
	assert_int_equal(sk_X509_num(sk), 2);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 0), f->ca), 0);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 1), ca2), 0);
	sk_X509_pop_free(sk, X509_free);
	sk = NULL;

	/* a damaged third block is an error, not a silent two */
	czpg_wbuf_bytes(&w, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 59);
	assert_int_equal(czpg_pki_certs_from_pem(w.data, w.len, &sk, f->err, sizeof(f->err)), -1);
	assert_null(sk);
	assert_non_null(strstr(f->err, "certificate 3"));
	czpg_wbuf_free(&w);

	assert_int_equal(czpg_pki_certs_from_pem("no pem here\n", 12, &sk, f->err, sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "no PEM certificate"));

	/* the count is bounded */
	czpg_wbuf_init(&w, 0);
	for (i = 0; i < CZPG_PKI_MAX_BUNDLE; i++)
		append_pem(&w, f->ca);
	assert_int_equal(czpg_pki_certs_from_pem(w.data, w.len, &sk, f->err, sizeof(f->err)), 0);
	assert_int_equal(sk_X509_num(sk), CZPG_PKI_MAX_BUNDLE);
	sk_X509_pop_free(sk, X509_free);
	sk = NULL;
	append_pem(&w, f->ca);
	assert_int_equal(czpg_pki_certs_from_pem(w.data, w.len, &sk, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "more than"));
	czpg_wbuf_free(&w);
	X509_free(ca2);
	EVP_PKEY_free(k2);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_file_loaders(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/czpg-pki-XXXXXX", path[128], kpath[128], bpath[128];
	struct czpg_wbuf w;
	X509 *c = NULL;
	EVP_PKEY *k = NULL;
	STACK_OF(X509) *sk = NULL;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/server.crt", dir);
	snprintf(kpath, sizeof(kpath), "%s/server.key", dir);
	snprintf(bpath, sizeof(bpath), "%s/missing.crt", dir);

	czpg_wbuf_init(&w, 0);
	append_pem(&w, f->leaf);
	append_pem(&w, f->ca); /* a chain file: the first certificate is the leaf */
	assert_int_equal(czpg_fs_write_atomic(path, w.data, w.len, 0644, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, f->err, sizeof(f->err)),
			 0);
	czpg_wbuf_free(&w);
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pki_key_to_pem(f->leaf_key, &w, f->err, sizeof(f->err)), 0);
	assert_int_equal(czpg_fs_write_atomic(kpath, w.data, w.len, 0600, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, f->err, sizeof(f->err)),
			 0);
	czpg_wbuf_free_secure(&w);

	assert_int_equal(czpg_pki_load_cert_file(path, &c, f->err, sizeof(f->err)), 0);
	assert_int_equal(X509_cmp(c, f->leaf), 0);
	assert_int_equal(czpg_pki_load_certs_file(path, &sk, f->err, sizeof(f->err)), 0);
	assert_int_equal(sk_X509_num(sk), 2);
	assert_int_equal(czpg_pki_load_key_file(kpath, &k, f->err, sizeof(f->err)), 0);
	assert_int_equal(czpg_pki_check_key_match(c, k, f->err, sizeof(f->err)), 0);
	X509_free(c);
	c = NULL;

	assert_int_equal(czpg_pki_load_cert_file(bpath, &c, f->err, sizeof(f->err)), 1);
	assert_null(c);
	/* a key file is not a certificate: the error names the file */
	assert_int_equal(czpg_pki_load_cert_file(kpath, &c, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, kpath));

	sk_X509_pop_free(sk, X509_free);
	EVP_PKEY_free(k);
	unlink(path);
	unlink(kpath);
	rmdir(dir);
}

/* --- inspection and checks ------------------------------------------ */

static void test_inspect(void **state)
{
	struct fx *f = *state;
	struct czpg_cert_info info;
	const ASN1_INTEGER *serial = X509_get0_serialNumber(f->leaf);
	const unsigned char *sp = ASN1_STRING_get0_data(serial);
	unsigned char *der = NULL, md[32];
	char hex[96] = "", fp[8];
	int i, n;

	assert_int_equal(czpg_certinfo_read(f->leaf, time(NULL), &info, f->err, sizeof(f->err)), 0);
	assert_string_equal(info.subject_cn, DNS);
	assert_string_equal(info.issuer_cn, "czpg internal CA " DNS);
	for (i = 0; i < ASN1_STRING_length(serial); i++)
		snprintf(hex + 2 * i, sizeof(hex) - 2 * (size_t)i, "%02X", sp[i]);
	assert_string_equal(info.serial, hex);
	assert_int_equal(info.n_dns, 1);
	assert_string_equal(info.dns_sans[0], DNS);
	assert_int_equal(info.n_ip, 1);
	assert_string_equal(info.ip_sans[0], IP);
	assert_int_equal(info.n_other_sans, 0);
	assert_int_equal(info.not_before_t, t_of(X509_get0_notBefore(f->leaf)));
	assert_int_equal(info.not_after_t, t_of(X509_get0_notAfter(f->leaf)));
	/* Issued 5 minutes back-dated, valid 90 days from issue: exactly 90 days left at issue. */
	assert_int_equal(
	    czpg_certinfo_read(f->leaf, info.not_before_t + 300, &info, f->err, sizeof(f->err)), 0);
	assert_int_equal(info.days_left, 90);
	assert_false(info.is_ca);
	assert_false(info.self_signed);
	assert_string_equal(info.key_type, "EC");
	assert_string_equal(info.curve, "prime256v1");
	assert_int_equal(info.key_bits, 256);

	n = i2d_X509(f->leaf, &der);
	assert_true(n > 0);
	assert_int_equal(EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
	assert_memory_equal(info.sha256, md, 32);
	assert_int_equal(strlen(info.fingerprint), 95);
	for (i = 0; i < 32; i++) {
		snprintf(fp, sizeof(fp), "%02X", md[i]);
		assert_memory_equal(info.fingerprint + 3 * i, fp, 2);
		if (i < 31)
			assert_int_equal(info.fingerprint[3 * i + 2], ':');
	}

	/* days_left at chosen instants: whole days, negative once expired */
	assert_int_equal(czpg_certinfo_read(f->leaf, info.not_after_t - 5 * 86400 - 1, &info,
					    f->err, sizeof(f->err)),
			 0);
	assert_int_equal(info.days_left, 5);
	assert_int_equal(
	    czpg_certinfo_read(f->leaf, info.not_after_t - 1, &info, f->err, sizeof(f->err)), 0);
	assert_int_equal(info.days_left, 0);
	assert_int_equal(
	    czpg_certinfo_read(f->leaf, info.not_after_t + 1, &info, f->err, sizeof(f->err)), 0);
	assert_int_equal(info.days_left, -1);

	assert_int_equal(czpg_certinfo_read(f->ca, time(NULL), &info, f->err, sizeof(f->err)), 0);
	assert_true(info.is_ca);
	assert_true(info.self_signed);
	assert_int_equal(info.n_dns + info.n_ip, 0);
	/* Ten years of 365 days from issue. */
	assert_int_equal(
	    czpg_certinfo_read(f->ca, info.not_before_t + 300, &info, f->err, sizeof(f->err)), 0);
	assert_int_equal(info.days_left, 3650);
	assert_int_equal(czpg_certinfo_read(NULL, time(NULL), &info, f->err, sizeof(f->err)), -1);
}

static void test_inspect_rsa(void **state)
{
	struct fx *f = *state;
	struct czpg_pki_opts o = {.key_type = CZPG_PKI_KEY_RSA_2048};
	struct czpg_cert_info info;
	X509 *c = NULL;
	EVP_PKEY *k = NULL;

	assert_int_equal(czpg_pki_make_ca("r", &o, &c, &k, f->err, sizeof(f->err)), 0);
	assert_int_equal(czpg_certinfo_read(c, time(NULL), &info, f->err, sizeof(f->err)), 0);
	assert_string_equal(info.key_type, "RSA");
	assert_string_equal(info.curve, "");
	assert_int_equal(info.key_bits, 2048);
	X509_free(c);
	EVP_PKEY_free(k);
}

static void test_mismatch_checks(void **state)
{
	struct fx *f = *state;
	X509 *ca2 = NULL;
	EVP_PKEY *k2 = NULL;
	char err[512];

	assert_int_equal(czpg_pki_check_leaf_names(f->leaf, IP, DNS, err, sizeof(err)), 0);
	assert_int_equal(
	    czpg_pki_check_leaf_names(f->leaf, IP, "Audit-PG.INTERNAL", err, sizeof(err)), 0);
	assert_int_equal(czpg_pki_check_leaf_names(f->leaf, "10.20.1.9", DNS, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "IP:10.20.1.1"));
	assert_non_null(strstr(err, "10.20.1.9"));
	assert_int_equal(czpg_pki_check_leaf_names(f->leaf, IP, "other.internal", err, sizeof(err)),
			 1);
	assert_non_null(strstr(err, "DNS:" DNS));
	assert_int_equal(czpg_pki_check_leaf_names(f->leaf, "::1", DNS, err, sizeof(err)), 1);
	assert_int_equal(czpg_pki_check_leaf_names(f->ca, IP, DNS, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "nothing"));
	assert_int_equal(czpg_pki_check_leaf_names(f->leaf, "nope", DNS, err, sizeof(err)), -1);

	assert_int_equal(czpg_pki_check_signed_by(f->leaf, f->ca, err, sizeof(err)), 0);
	assert_int_equal(czpg_pki_check_signed_by(f->ca, f->ca, err, sizeof(err)), 0);
	/* same subject name, different key */
	assert_int_equal(
	    czpg_pki_make_ca("czpg internal CA " DNS, NULL, &ca2, &k2, err, sizeof(err)), 0);
	assert_int_equal(czpg_pki_check_signed_by(f->leaf, ca2, err, sizeof(err)), 1);
	assert_non_null(strstr(err, DNS));
	assert_int_equal(czpg_pki_check_signed_by(f->leaf, f->leaf, err, sizeof(err)), 1);

	assert_int_equal(czpg_pki_check_key_match(f->leaf, f->leaf_key, err, sizeof(err)), 0);
	assert_int_equal(czpg_pki_check_key_match(f->leaf, f->ca_key, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "does not belong"));
	assert_int_equal(czpg_pki_check_key_match(f->ca, k2, err, sizeof(err)), 1);
	assert_int_equal(czpg_pki_check_key_match(NULL, k2, err, sizeof(err)), -1);
	assert_int_equal(ERR_peek_error(), 0);
	X509_free(ca2);
	EVP_PKEY_free(k2);
}

/* --- validation ------------------------------------------------------ */

static void test_valid_ip(void **state)
{
	static const char *good[] = {"10.20.1.1",
				     "127.0.0.1",
				     "0.0.0.0",
				     "255.255.255.255",
				     "::1",
				     "fd00::10",
				     "2001:db8:0:0:0:0:0:1",
				     "::ffff:10.0.0.1"};
	static const char *bad[] = {"",           "10.20.1",    "10.20.1.256",  "10.20.1.1/32",
				    " 10.20.1.1", "10.20.1.1 ", "fe80::1%eth0", "[::1]",
				    "localhost",  "1.2.3.4.5",  ":::1",         "0x0a.1.1.1"};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(czpg_pki_valid_ip(good[i], err, sizeof(err)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(czpg_pki_valid_ip(bad[i], err, sizeof(err)), -1);
		if (bad[i][0] != '\0')
			assert_non_null(strstr(err, bad[i]));
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(czpg_pki_valid_ip(NULL, err, sizeof(err)), -1);
}

static void test_valid_dns(void **state)
{
	static const char *good[] = {
	    "audit-pg.internal",     "localhost",  "a",     "A1-b2.example.COM",
	    "xn--bcher-kva.example", "1a.example", "db.10a"};
	static const char *bad[] = {
	    "",       "audit-pg.internal.", "-a.example", "a-.example", "a..b",
	    ".a",     "a_b.example",        "*.example",  "a b",        "10.20.1.1",
	    "db.123", "bücher.example"};
	char err[256], label64[80], long254[260];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(czpg_pki_valid_dns(good[i], err, sizeof(err)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(czpg_pki_valid_dns(bad[i], err, sizeof(err)), -1);
		if (bad[i][0] != '\0')
			assert_non_null(strstr(err, bad[i]));
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(czpg_pki_valid_dns(NULL, err, sizeof(err)), -1);

	/* label length 63 is fine, 64 is not */
	memset(label64, 'a', 63);
	strcpy(label64 + 63, ".x");
	assert_int_equal(czpg_pki_valid_dns(label64, err, sizeof(err)), 0);
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".x");
	assert_int_equal(czpg_pki_valid_dns(label64, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "64"));

	/* total 253 is fine, 254 is not */
	memset(long254, 'a', sizeof(long254));
	for (i = 63; i < 254; i += 64)
		long254[i] = '.';
	long254[253] = '\0';
	assert_int_equal(czpg_pki_valid_dns(long254, err, sizeof(err)), 0);
	long254[253] = 'b';
	long254[254] = '\0';
	assert_int_equal(czpg_pki_valid_dns(long254, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "254"));
}

/* --- key file mode --------------------------------------------------- */

static void test_key_mode_rule(void **state)
{
	const uid_t db = 999;
	const gid_t dbg = 999;
	char err[256];

	(void)state;
	/* owned by the database user: 0600 or less, and readable */
	assert_int_equal(czpg_pki_check_key_mode(0600, db, 0, db, dbg, err, sizeof(err)), 0);
	assert_int_equal(czpg_pki_check_key_mode(0400, db, dbg, db, dbg, err, sizeof(err)), 0);
	assert_int_equal(czpg_pki_check_key_mode(0640, db, dbg, db, dbg, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "0640"));
	assert_non_null(strstr(err, "0600"));
	assert_int_equal(czpg_pki_check_key_mode(0604, db, dbg, db, dbg, err, sizeof(err)), 1);
	assert_int_equal(czpg_pki_check_key_mode(0644, db, dbg, db, dbg, err, sizeof(err)), 1);
	assert_int_equal(czpg_pki_check_key_mode(0200, db, dbg, db, dbg, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "cannot read"));

	/* owned by root: 0640 or less, group must be the database user's */
	assert_int_equal(czpg_pki_check_key_mode(0640, 0, dbg, db, dbg, err, sizeof(err)), 0);
	assert_int_equal(czpg_pki_check_key_mode(0440, 0, dbg, db, dbg, err, sizeof(err)), 0);
	assert_int_equal(czpg_pki_check_key_mode(0660, 0, dbg, db, dbg, err, sizeof(err)), 1);
	assert_int_equal(czpg_pki_check_key_mode(0644, 0, dbg, db, dbg, err, sizeof(err)), 1);
	assert_int_equal(czpg_pki_check_key_mode(0650, 0, dbg, db, dbg, err, sizeof(err)), 1);
	assert_int_equal(czpg_pki_check_key_mode(0600, 0, 0, db, dbg, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "cannot read"));
	assert_int_equal(czpg_pki_check_key_mode(0640, 0, 0, db, dbg, err, sizeof(err)), 1);
	assert_int_equal(czpg_pki_check_key_mode(0640, 0, 0, db, (gid_t)-1, err, sizeof(err)), 0);

	/* anyone else */
	assert_int_equal(czpg_pki_check_key_mode(0600, 1000, dbg, db, dbg, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "1000"));
}

static void test_key_file_rule(void **state)
{
	struct fx *f = *state;
	const struct passwd *pw = getpwnam("postgres");
	char dir[] = "/tmp/czpg-pkikey-XXXXXX", path[128];

	if (geteuid() != 0 || pw == NULL)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/server.key", dir);
	assert_int_equal(
	    czpg_pki_check_key_file(path, pw->pw_uid, pw->pw_gid, f->err, sizeof(f->err)), -1);
	assert_int_equal(czpg_fs_write_atomic(path, "k", 1, 0600, (long)pw->pw_uid,
					      (long)pw->pw_gid, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(
	    czpg_pki_check_key_file(path, pw->pw_uid, pw->pw_gid, f->err, sizeof(f->err)), 0);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(
	    czpg_pki_check_key_file(path, pw->pw_uid, pw->pw_gid, f->err, sizeof(f->err)), 1);
	assert_non_null(strstr(f->err, path));
	assert_int_equal(chown(path, 0, pw->pw_gid), 0);
	assert_int_equal(
	    czpg_pki_check_key_file(path, pw->pw_uid, pw->pw_gid, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    czpg_pki_check_key_file(dir, pw->pw_uid, pw->pw_gid, f->err, sizeof(f->err)), 1);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ca_profile),
	    cmocka_unit_test(test_leaf_profile),
	    cmocka_unit_test(test_leaf_verifies_against_ca),
	    cmocka_unit_test(test_ipv6_leaf),
	    cmocka_unit_test(test_serials_differ),
	    cmocka_unit_test(test_rsa_variant_and_options),
	    cmocka_unit_test(test_generation_errors),
	    cmocka_unit_test(test_long_name_cn_cut),
	    cmocka_unit_test(test_tls_handshake),
	    cmocka_unit_test(test_pem_roundtrip),
	    cmocka_unit_test(test_pem_errors),
	    cmocka_unit_test(test_bundle),
	    cmocka_unit_test(test_file_loaders),
	    cmocka_unit_test(test_inspect),
	    cmocka_unit_test(test_inspect_rsa),
	    cmocka_unit_test(test_mismatch_checks),
	    cmocka_unit_test(test_valid_ip),
	    cmocka_unit_test(test_valid_dns),
	    cmocka_unit_test(test_key_mode_rule),
	    cmocka_unit_test(test_key_file_rule),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
