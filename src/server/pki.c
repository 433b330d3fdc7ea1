/*
 * pki.c - internal CA and server leaf generation, PEM coding, inspection
 * and checks (see czpg/pki.h).
 *
 * Profile: RFC 5280 (X.509 v3; sections 4.1.2.2 serial number of at most
 * 20 octets, 4.2.1.1/4.2.1.2 key identifiers, 4.2.1.3 keyUsage, 4.2.1.6
 * subjectAltName, 4.2.1.9 basicConstraints, 4.2.1.12 extendedKeyUsage).
 * Host names follow RFC 1123 section 2.1.  The key-file rule mirrors
 * PostgreSQL's check_ssl_key_file_permissions (be-secure-common.c).
 */
#include "czpg/pki.h"
#include "czpg/errf.h"

#include "czpg/fsutil.h"

#include "czpg/parse.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CN_MAX 64       /* RFC 5280 ub-common-name */
#define SERIAL_BYTES 20 /* 159 random bits: top bit cleared keeps it positive */
#define DNS_MAX 253
#define LABEL_MAX 63

/* Like set_err, then ": <OpenSSL's reason>" when the error queue has one; clears the queue. */
static void set_ossl_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_ossl_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	unsigned long e = ERR_peek_last_error();
	size_t n;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		n = strlen(err);
		if (e != 0 && n + 3 < errlen) {
			const char *reason = ERR_reason_error_string(e);

			snprintf(err + n, errlen - n, ": %s",
				 reason != NULL ? reason : "unknown OpenSSL error");
		}
	}
	ERR_clear_error();
}

/* --- input validation ------------------------------------------------ */

int czpg_pki_valid_ip(const char *s, char *err, size_t errlen)
{

	if (s == NULL || s[0] == '\0') {
		czpg_errf(err, errlen, "an IP address is required");
		return -1;
	}
	if (czpg_parse_is_ip(s))
		return 0;
	czpg_errf(err, errlen, "'%.80s' is not an IPv4 address or an IPv6 literal", s);
	return -1;
}

int czpg_pki_valid_dns(const char *s, char *err, size_t errlen)
{
	size_t len, i, label_start = 0;
	bool all_digits = true;

	if (s == NULL || s[0] == '\0') {
		czpg_errf(err, errlen, "a DNS name is required");
		return -1;
	}
	len = strlen(s);
	if (len > DNS_MAX) {
		czpg_errf(err, errlen, "DNS name '%.40s...' is %zu characters, more than %d", s,
			  len, DNS_MAX);
		return -1;
	}
	if (s[len - 1] == '.') {
		czpg_errf(err, errlen, "DNS name '%s' ends with a dot; give it without the dot", s);
		return -1;
	}
	for (i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			size_t ll = i - label_start;

			if (ll == 0) {
				czpg_errf(err, errlen, "DNS name '%s' has an empty label", s);
				return -1;
			}
			if (ll > LABEL_MAX) {
				czpg_errf(
				    err, errlen,
				    "DNS name '%s' has a label of %zu characters, more than %d", s,
				    ll, LABEL_MAX);
				return -1;
			}
			if (s[label_start] == '-' || s[i - 1] == '-') {
				czpg_errf(
				    err, errlen,
				    "DNS name '%s' has a label that starts or ends with a hyphen",
				    s);
				return -1;
			}
			if (c == '\0' && all_digits) {
				czpg_errf(err, errlen,
					  "DNS name '%s' ends in an all-numeric label; an address "
					  "belongs "
					  "in the IP value",
					  s);
				return -1;
			}
			label_start = i + 1;
			all_digits = true;
			continue;
		}
		if (!(isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '-'))) {
			czpg_errf(
			    err, errlen,
			    "DNS name '%.80s' contains '%c'; only letters, digits, hyphens and "
			    "dots "
			    "are allowed",
			    s, isprint((unsigned char)c) ? c : '?');
			return -1;
		}
		if (!isdigit((unsigned char)c))
			all_digits = false;
	}
	return 0;
}

/* --- generation ------------------------------------------------------ */

static EVP_PKEY *gen_key(enum czpg_pki_key_type type)
{
	switch (type) {
	case CZPG_PKI_KEY_EC_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case CZPG_PKI_KEY_RSA_2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	}
	return NULL;
}

static int set_random_serial(X509 *cert)
{
	unsigned char raw[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int rc = -1;

	do {
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			goto out;
		raw[0] &= 0x7f;
	} while (raw[0] == 0); /* keep it at a full 20 octets, never zero */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		goto out;
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

static int set_cn(X509_NAME *name, const char *cn)
{
	size_t n = strlen(cn);

	return X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
					  (const unsigned char *)cn, (int)(n > CN_MAX ? CN_MAX : n),
					  -1, 0) == 1
		   ? 0
		   : -1;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int rc = -1;

	if (ext != NULL && X509_add_ext(cert, ext, -1) == 1)
		rc = 0;
	X509_EXTENSION_free(ext);
	return rc;
}

/* subjectAltName = DNS:dns, IP:ip, built from the binary address. */
static int add_san(X509 *cert, const char *dns, const char *ip)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_OCTET_STRING *oct = NULL;
	unsigned char addr[16];
	int alen, rc = -1;

	if (gens == NULL)
		goto out;
	switch (czpg_parse_ip(ip, addr)) {
	case 4:
		alen = 4;
		break;
	case 6:
		alen = 16;
		break;
	default:
		goto out;
	}

	ia5 = ASN1_IA5STRING_new();
	g = GENERAL_NAME_new();
	if (ia5 == NULL || g == NULL || ASN1_STRING_set(ia5, dns, (int)strlen(dns)) != 1)
		goto out;
	GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
	ia5 = NULL;
	if (sk_GENERAL_NAME_push(gens, g) <= 0)
		goto out;
	g = NULL;

	oct = ASN1_OCTET_STRING_new();
	g = GENERAL_NAME_new();
	if (oct == NULL || g == NULL || ASN1_OCTET_STRING_set(oct, addr, alen) != 1)
		goto out;
	GENERAL_NAME_set0_value(g, GEN_IPADD, oct);
	oct = NULL;
	if (sk_GENERAL_NAME_push(gens, g) <= 0)
		goto out;
	g = NULL;

	if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) != 1)
		goto out;
	rc = 0;
out:
	ASN1_IA5STRING_free(ia5);
	ASN1_OCTET_STRING_free(oct);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return rc;
}

/*
 * The common body: new key, v3 certificate with serial, validity, subject
 * CN and public key; issuer is ca_cert's subject (or its own for a CA).
 */
static X509 *new_cert(const char *cn, const struct czpg_pki_opts *opts, int default_days,
		      X509 *ca_cert, EVP_PKEY **key_out)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	X509_NAME *name = NULL;
	enum czpg_pki_key_type type = opts != NULL ? opts->key_type : CZPG_PKI_KEY_EC_P256;
	int days = opts != NULL && opts->days > 0 ? opts->days : default_days;
	time_t nb = opts != NULL && opts->not_before != 0 ? opts->not_before
							  : time(NULL) - CZPG_PKI_BACKDATE_SECS;
	bool ok = false;

	key = gen_key(type);
	cert = X509_new();
	name = X509_NAME_new();
	if (key == NULL || cert == NULL || name == NULL)
		goto out;
	if (X509_set_version(cert, X509_VERSION_3) != 1 || set_random_serial(cert) < 0)
		goto out;
	if (ASN1_TIME_set(X509_getm_notBefore(cert), nb) == NULL ||
	    ASN1_TIME_adj(X509_getm_notAfter(cert), nb, days, CZPG_PKI_BACKDATE_SECS) == NULL)
		goto out;
	if (set_cn(name, cn) < 0 || X509_set_subject_name(cert, name) != 1)
		goto out;
	if (X509_set_issuer_name(cert, ca_cert != NULL ? X509_get_subject_name(ca_cert) : name) !=
	    1)
		goto out;
	if (X509_set_pubkey(cert, key) != 1)
		goto out;
	ok = true;
out:
	X509_NAME_free(name);
	if (!ok) {
		X509_free(cert);
		EVP_PKEY_free(key);
		cert = NULL;
		key = NULL;
	}
	*key_out = key;
	return cert;
}

int czpg_pki_make_ca(const char *cn, const struct czpg_pki_opts *opts, X509 **cert_out,
		     EVP_PKEY **key_out, char *err, size_t errlen)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	X509V3_CTX ctx;
	int rc = -1;

	*cert_out = NULL;
	*key_out = NULL;
	ERR_clear_error();
	if (cn == NULL || cn[0] == '\0') {
		czpg_errf(err, errlen, "the CA needs a common name");
		goto out;
	}
	cert = new_cert(cn, opts, CZPG_PKI_CA_DAYS, NULL, &key);
	if (cert == NULL) {
		set_ossl_err(err, errlen, "cannot create the CA certificate '%s'", cn);
		goto out;
	}
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	/* SKI first: the self-signed AKI takes its key id from it. */
	if (add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(cert, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") < 0) {
		set_ossl_err(err, errlen, "cannot add extensions to the CA certificate '%s'", cn);
		goto out;
	}
	if (X509_sign(cert, key, EVP_sha256()) <= 0) {
		set_ossl_err(err, errlen, "cannot sign the CA certificate '%s'", cn);
		goto out;
	}
	*cert_out = cert;
	*key_out = key;
	cert = NULL;
	key = NULL;
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

int czpg_pki_make_leaf(const char *dns, const char *ip, const struct czpg_pki_opts *opts,
		       X509 *ca_cert, EVP_PKEY *ca_key, X509 **cert_out, EVP_PKEY **key_out,
		       char *err, size_t errlen)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	X509V3_CTX ctx;
	int rc = -1;

	*cert_out = NULL;
	*key_out = NULL;
	ERR_clear_error();
	if (czpg_pki_valid_dns(dns, err, errlen) < 0 || czpg_pki_valid_ip(ip, err, errlen) < 0)
		goto out;
	if (ca_cert == NULL || ca_key == NULL) {
		czpg_errf(err, errlen, "a leaf certificate needs the CA certificate and its key");
		goto out;
	}
	if (X509_check_private_key(ca_cert, ca_key) != 1) {
		set_ossl_err(err, errlen, "the CA key does not belong to the CA certificate");
		goto out;
	}
	cert = new_cert(dns, opts, CZPG_PKI_LEAF_DAYS, ca_cert, &key);
	if (cert == NULL) {
		set_ossl_err(err, errlen, "cannot create the certificate for %s", dns);
		goto out;
	}
	X509V3_set_ctx(&ctx, ca_cert, cert, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	if (add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(cert, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") < 0 ||
	    add_san(cert, dns, ip) < 0) {
		set_ossl_err(err, errlen,
			     "cannot add extensions to the certificate for %s (the CA certificate "
			     "needs a subject key identifier)",
			     dns);
		goto out;
	}
	if (X509_sign(cert, ca_key, EVP_sha256()) <= 0) {
		set_ossl_err(err, errlen, "cannot sign the certificate for %s", dns);
		goto out;
	}
	*cert_out = cert;
	*key_out = key;
	cert = NULL;
	key = NULL;
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

/* --- PEM ------------------------------------------------------------- */

/* Moves everything written to a memory BIO into out. */
static int bio_to_wbuf(BIO *bio, struct czpg_wbuf *out)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);

	if (n <= 0 || p == NULL)
		return -1;
	return czpg_wbuf_bytes(out, p, (size_t)n);
}

int czpg_pki_cert_to_pem(X509 *cert, struct czpg_wbuf *out, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;

	ERR_clear_error();
	if (bio == NULL || cert == NULL || PEM_write_bio_X509(bio, cert) != 1) {
		set_ossl_err(err, errlen, "cannot encode the certificate as PEM");
		goto out;
	}
	if (bio_to_wbuf(bio, out) < 0) {
		czpg_errf(err, errlen, "cannot encode the certificate as PEM: output buffer full");
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio); /* memory BIOs wipe their storage when freed */
	return rc;
}

int czpg_pki_key_to_pem(EVP_PKEY *key, struct czpg_wbuf *out, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;

	ERR_clear_error();
	/* PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"). */
	if (bio == NULL || key == NULL ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
		set_ossl_err(err, errlen, "cannot encode the private key as PEM");
		goto out;
	}
	if (bio_to_wbuf(bio, out) < 0) {
		czpg_errf(err, errlen, "cannot encode the private key as PEM: output buffer full");
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	return rc;
}

/* Never prompt for a pass phrase: an encrypted key is an error here. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static BIO *mem_bio(const void *pem, size_t len)
{
	if (pem == NULL || len == 0 || len > INT_MAX)
		return NULL;
	return BIO_new_mem_buf(pem, (int)len);
}

int czpg_pki_cert_from_pem(const void *pem, size_t len, X509 **cert, char *err, size_t errlen)
{
	BIO *bio;
	int rc = -1;

	ERR_clear_error();
	*cert = NULL;
	bio = mem_bio(pem, len);
	if (bio == NULL) {
		czpg_errf(err, errlen, "no certificate: the PEM input is empty or too large");
		goto out;
	}
	*cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	if (*cert == NULL) {
		set_ossl_err(err, errlen, "no readable PEM certificate in the input");
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

int czpg_pki_key_from_pem(const void *pem, size_t len, EVP_PKEY **key, char *err, size_t errlen)
{
	BIO *bio;
	int rc = -1;

	ERR_clear_error();
	*key = NULL;
	bio = mem_bio(pem, len);
	if (bio == NULL) {
		czpg_errf(err, errlen, "no private key: the PEM input is empty or too large");
		goto out;
	}
	*key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (*key == NULL) {
		set_ossl_err(err, errlen, "no readable unencrypted PEM private key in the input");
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

int czpg_pki_certs_from_pem(const void *pem, size_t len, STACK_OF(X509) **certs, char *err,
			    size_t errlen)
{
	BIO *bio;
	STACK_OF(X509) *sk = NULL;
	X509 *x = NULL;
	unsigned long e;
	int rc = -1;

	ERR_clear_error();
	*certs = NULL;
	bio = mem_bio(pem, len);
	sk = sk_X509_new_null();
	if (bio == NULL || sk == NULL) {
		czpg_errf(err, errlen, "no certificates: the PEM input is empty or too large");
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (sk_X509_num(sk) >= CZPG_PKI_MAX_BUNDLE) {
			czpg_errf(err, errlen, "the bundle has more than %d certificates",
				  CZPG_PKI_MAX_BUNDLE);
			goto out;
		}
		if (sk_X509_push(sk, x) <= 0) {
			czpg_errf(err, errlen, "cannot load the bundle: out of memory");
			goto out;
		}
		x = NULL;
	}
	/* The loop ends at the first failure; only "no more PEM blocks" is normal. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		set_ossl_err(err, errlen, "certificate %d of the bundle is not readable",
			     sk_X509_num(sk) + 1);
		goto out;
	}
	if (sk_X509_num(sk) == 0) {
		czpg_errf(err, errlen, "no PEM certificate in the bundle");
		goto out;
	}
	*certs = sk;
	sk = NULL;
	rc = 0;
out:
	X509_free(x);
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

/* Reads path, then runs parse on it; adds the path to parse errors. */
static int load_file(const char *path, bool secret,
		     int (*parse)(const void *, size_t, void *, char *, size_t), void *out,
		     char *err, size_t errlen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	char why[256];
	int rc;

	rc = czpg_fs_read_file(path, CZPG_PKI_MAX_PEM_FILE, &data, &len, err, errlen);
	if (rc != 0)
		goto out;
	if (parse(data, len, out, why, sizeof(why)) < 0) {
		czpg_errf(err, errlen, "%s: %s", path, why);
		rc = -1;
	}
out:
	if (data != NULL && secret)
		OPENSSL_cleanse(data, len);
	free(data);
	return rc;
}

static int parse_cert(const void *p, size_t n, void *out, char *err, size_t errlen)
{
	return czpg_pki_cert_from_pem(p, n, out, err, errlen);
}

static int parse_key(const void *p, size_t n, void *out, char *err, size_t errlen)
{
	return czpg_pki_key_from_pem(p, n, out, err, errlen);
}

static int parse_certs(const void *p, size_t n, void *out, char *err, size_t errlen)
{
	return czpg_pki_certs_from_pem(p, n, out, err, errlen);
}

int czpg_pki_load_cert_file(const char *path, X509 **cert, char *err, size_t errlen)
{
	*cert = NULL;
	return load_file(path, false, parse_cert, cert, err, errlen);
}

int czpg_pki_load_key_file(const char *path, EVP_PKEY **key, char *err, size_t errlen)
{
	*key = NULL;
	return load_file(path, true, parse_key, key, err, errlen);
}

int czpg_pki_load_certs_file(const char *path, STACK_OF(X509) **certs, char *err, size_t errlen)
{
	*certs = NULL;
	return load_file(path, false, parse_certs, certs, err, errlen);
}

/* --- inspection ------------------------------------------------------ */

/* Textual form of an IP SAN (4 or 16 octets), or -1. */
static int ip_text(const ASN1_OCTET_STRING *oct, char *out, size_t outlen)
{
	return czpg_parse_ip_text(ASN1_STRING_get0_data(oct), (size_t)ASN1_STRING_length(oct), out,
				  outlen);
}

/* --- checks ---------------------------------------------------------- */

int czpg_pki_check_leaf_names(X509 *leaf, const char *ip, const char *dns, char *err, size_t errlen)
{
	GENERAL_NAMES *gens = NULL;
	unsigned char want_ip[16];
	int want_iplen, i, rc = -1;
	bool dns_ok = false, ip_ok = false, extra = false;
	char found[512] = "";
	size_t used = 0;

	ERR_clear_error();
	if (leaf == NULL || czpg_pki_valid_ip(ip, err, errlen) < 0 ||
	    czpg_pki_valid_dns(dns, err, errlen) < 0) {
		if (leaf == NULL)
			czpg_errf(err, errlen, "no certificate to check");
		goto out;
	}
	switch (czpg_parse_ip(ip, want_ip)) {
	case 4:
		want_iplen = 4;
		break;
	case 6:
		want_iplen = 16;
		break;
	default:
		goto out;
	}

	gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char text[300];

		if (g->type == GEN_DNS) {
			const unsigned char *p = ASN1_STRING_get0_data(g->d.dNSName);
			size_t n = (size_t)ASN1_STRING_length(g->d.dNSName);
			bool match = n == strlen(dns) && memchr(p, 0, n) == NULL &&
				     strncasecmp((const char *)p, dns, n) == 0;

			if (match && !dns_ok)
				dns_ok = true;
			else
				extra = true;
			czpg_certinfo_printable(text + 4, sizeof(text) - 4, p, n);
			memcpy(text, "DNS:", 4);
		} else if (g->type == GEN_IPADD) {
			const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);
			int n = ASN1_STRING_length(g->d.iPAddress);
			bool match = n == want_iplen && memcmp(p, want_ip, (size_t)n) == 0;

			if (match && !ip_ok)
				ip_ok = true;
			else
				extra = true;
			memcpy(text, "IP:", 3);
			if (ip_text(g->d.iPAddress, text + 3, sizeof(text) - 3) < 0)
				snprintf(text + 3, sizeof(text) - 3, "(%d bytes)", n);
		} else {
			extra = true;
			snprintf(text, sizeof(text), "(other name type %d)", g->type);
		}
		if (used < sizeof(found))
			used += (size_t)snprintf(found + used, sizeof(found) - used, "%s%s",
						 used > 0 ? ", " : "", text);
	}
	if (dns_ok && ip_ok && !extra) {
		rc = 0;
		goto out;
	}
	czpg_errf(err, errlen, "the certificate names %s but DNS:%s, IP:%s was requested",
		  used > 0 ? found : "nothing in subjectAltName", dns, ip);
	rc = 1;
out:
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	return rc;
}

int czpg_pki_check_signed_by(X509 *cert, X509 *ca, char *err, size_t errlen)
{
	EVP_PKEY *pub;
	int rc = -1, v;
	char sub[256], iss[256];

	ERR_clear_error();
	if (cert == NULL || ca == NULL) {
		czpg_errf(err, errlen, "no certificate or no CA to check against");
		goto out;
	}
	czpg_certinfo_cn(X509_get_subject_name(cert), sub, sizeof(sub));
	czpg_certinfo_cn(X509_get_subject_name(ca), iss, sizeof(iss));
	pub = X509_get0_pubkey(ca);
	if (pub == NULL) {
		set_ossl_err(err, errlen, "the CA certificate '%s' has no readable public key",
			     iss);
		goto out;
	}
	v = X509_check_issued(ca, cert);
	if (v != X509_V_OK) {
		czpg_errf(err, errlen, "certificate '%s' was not issued by CA '%s': %s", sub, iss,
			  X509_verify_cert_error_string(v));
		rc = 1;
		goto out;
	}
	if (X509_verify(cert, pub) != 1) {
		czpg_errf(err, errlen,
			  "certificate '%s' does not carry a valid signature of CA '%s'", sub, iss);
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	return rc;
}

int czpg_pki_check_key_match(X509 *cert, EVP_PKEY *key, char *err, size_t errlen)
{
	char cn[256];
	int rc = -1;

	ERR_clear_error();
	if (cert == NULL || key == NULL) {
		czpg_errf(err, errlen, "no certificate or no key to compare");
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		czpg_certinfo_cn(X509_get_subject_name(cert), cn, sizeof(cn));
		czpg_errf(err, errlen, "the private key does not belong to certificate '%s'", cn);
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	return rc;
}

int czpg_pki_check_key_mode(mode_t mode, uid_t owner, gid_t group, uid_t db_uid, gid_t db_gid,
			    char *err, size_t errlen)
{
	unsigned m = (unsigned)(mode & 07777);

	if (owner != db_uid && owner != 0) {
		czpg_errf(err, errlen,
			  "the key is owned by uid %u; it must be owned by the database user (uid "
			  "%u) or root",
			  (unsigned)owner, (unsigned)db_uid);
		return 1;
	}
	/* The server's own test, in its order (be-secure-common.c). */
	if ((owner == db_uid && (mode & (S_IRWXG | S_IRWXO)) != 0) ||
	    (owner == 0 && (mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0)) {
		czpg_errf(err, errlen,
			  "the key has mode %04o; it must be 0600 or less when owned by the "
			  "database user, or 0640 or less when owned by root",
			  m);
		return 1;
	}
	if (owner == db_uid) {
		if ((mode & S_IRUSR) == 0) {
			czpg_errf(
			    err, errlen,
			    "the key has mode %04o, which its owner (the database user) cannot "
			    "read; use 0600",
			    m);
			return 1;
		}
		return 0;
	}
	if ((mode & S_IRGRP) == 0) {
		czpg_errf(err, errlen,
			  "the key is owned by root with mode %04o, which the database user cannot "
			  "read; use mode 0640 with the database user's group, or give it to the "
			  "database user with mode 0600",
			  m);
		return 1;
	}
	if (db_gid != (gid_t)-1 && group != db_gid) {
		czpg_errf(err, errlen,
			  "the key is owned by root with group %u, so the database user (gid %u) "
			  "cannot read it; use group %u and mode 0640, or give it to the database "
			  "user with mode 0600",
			  (unsigned)group, (unsigned)db_gid, (unsigned)db_gid);
		return 1;
	}
	return 0;
}

int czpg_pki_check_key_file(const char *path, uid_t db_uid, gid_t db_gid, char *err, size_t errlen)
{
	struct czpg_fs_info fi;
	char why[384];
	int rc;

	if (czpg_fs_file_info(path, &fi, err, errlen) < 0)
		return -1;
	if (!fi.exists) {
		czpg_errf(err, errlen, "key file %s does not exist", path);
		return -1;
	}
	if (!fi.is_regular) {
		czpg_errf(err, errlen, "key file %s is not a regular file", path);
		return 1;
	}
	rc = czpg_pki_check_key_mode(fi.mode, fi.uid, fi.gid, db_uid, db_gid, why, sizeof(why));
	if (rc != 0)
		czpg_errf(err, errlen, "%s: %s", path, why);
	return rc;
}
