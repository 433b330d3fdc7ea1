/*
 * certinfo.c - the one description of an X.509 certificate (RFC 5280
 * fields: subject, issuer, subjectAltName, validity, serial, key) that
 * verify, probe, provision and status show (see czpg/certinfo.h).
 */
#include "czpg/certinfo.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "czpg/errf.h"

void czpg_certinfo_printable(char *buf, size_t cap, const unsigned char *s, size_t n)
{
	size_t i;

	if (cap == 0)
		return;
	if (n > cap - 1)
		n = cap - 1;
	for (i = 0; i < n; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	buf[n] = '\0';
}

/* Appends s to buf (NUL-terminated, capacity cap); marks a cut with "...". */
static void append(char *buf, size_t cap, const char *s)
{
	size_t used = strlen(buf);
	size_t n = strlen(s);

	if (used + n + 1 <= cap) {
		memcpy(buf + used, s, n + 1);
		return;
	}
	if (cap >= 4)
		memcpy(buf + cap - 4, "...", 4);
}

void czpg_certinfo_cn(const X509_NAME *name, char *out, size_t outlen)
{
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int n;

	out[0] = '\0';
	if (idx < 0)
		return;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (n >= 0 && utf8 != NULL)
		czpg_certinfo_printable(out, outlen, utf8, (size_t)n);
	OPENSSL_free(utf8);
}

static void name_rfc2253(const X509_NAME *name, char *buf, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n > 0 && p != NULL)
			czpg_certinfo_printable(buf, cap, (const unsigned char *)p, (size_t)n);
	}
	BIO_free(b);
}

/* "YYYY-MM-DD HH:MM:SS UTC" and the time_t of an ASN1_TIME; -1 when unreadable. */
static int read_time(const ASN1_TIME *at, char *buf, size_t len, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	*out = 0;
	if (at == NULL || ASN1_TIME_to_tm(at, &tm) != 1) {
		snprintf(buf, len, "?");
		return -1;
	}
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	*out = timegm(&tm);
	return 0;
}

/* The SANs both as one display line and, for DNS and IP, one by one. */
static void read_sans(X509 *cert, struct czpg_cert_info *info)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char item[300], txt[256], ip[CZPG_IP_TEXT_MAX];
		const ASN1_STRING *s = NULL;
		const char *kind = NULL;
		bool kept = false;

		item[0] = '\0';
		switch (g->type) {
		case GEN_DNS:
			kind = "DNS";
			s = g->d.dNSName;
			break;
		case GEN_EMAIL:
			kind = "email";
			s = g->d.rfc822Name;
			break;
		case GEN_URI:
			kind = "URI";
			s = g->d.uniformResourceIdentifier;
			break;
		case GEN_IPADD:
			if (czpg_parse_ip_text(ASN1_STRING_get0_data(g->d.iPAddress),
					       (size_t)ASN1_STRING_length(g->d.iPAddress), ip,
					       sizeof(ip)) == 0) {
				snprintf(item, sizeof(item), "IP:%s", ip);
				if (info->n_ip < CZPG_CERTINFO_MAX_SANS) {
					memcpy(info->ip_sans[info->n_ip++], ip, sizeof(ip));
					kept = true;
				}
			} else {
				snprintf(item, sizeof(item), "IP:<%d bytes>",
					 ASN1_STRING_length(g->d.iPAddress));
			}
			break;
		default:
			snprintf(item, sizeof(item), "othername");
			break;
		}
		if (s != NULL) {
			czpg_certinfo_printable(txt, sizeof(txt), ASN1_STRING_get0_data(s),
						(size_t)ASN1_STRING_length(s));
			snprintf(item, sizeof(item), "%s:%s", kind, txt);
			if (g->type == GEN_DNS && info->n_dns < CZPG_CERTINFO_MAX_SANS) {
				czpg_certinfo_printable(
				    info->dns_sans[info->n_dns++], sizeof(info->dns_sans[0]),
				    ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
				kept = true;
			}
		}
		if (!kept)
			info->n_other_sans++;
		if (info->sans[0] != '\0')
			append(info->sans, sizeof(info->sans), ", ");
		append(info->sans, sizeof(info->sans), item);
	}
	GENERAL_NAMES_free(gens);
}

/* key ("EC P-256"), key_type, curve and key_bits; -1 when there is no public key. */
static int read_key(X509 *cert, struct czpg_cert_info *info)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	const char *nist = NULL, *tn;
	int id;

	if (pk == NULL) {
		snprintf(info->key, sizeof(info->key), "unknown");
		return -1;
	}
	info->key_bits = EVP_PKEY_get_bits(pk);
	id = EVP_PKEY_get_base_id(pk);
	switch (id) {
	case EVP_PKEY_EC:
		snprintf(info->key_type, sizeof(info->key_type), "EC");
		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, info->curve,
						   sizeof(info->curve), NULL) != 1) {
			info->curve[0] = '\0';
			snprintf(info->key, sizeof(info->key), "EC");
			break;
		}
		nist = EC_curve_nid2nist(OBJ_sn2nid(info->curve));
		snprintf(info->key, sizeof(info->key), "EC %s", nist != NULL ? nist : info->curve);
		break;
	case EVP_PKEY_RSA:
		snprintf(info->key_type, sizeof(info->key_type), "RSA");
		snprintf(info->key, sizeof(info->key), "RSA %d", info->key_bits);
		break;
	case EVP_PKEY_RSA_PSS:
		snprintf(info->key_type, sizeof(info->key_type), "RSA-PSS");
		snprintf(info->key, sizeof(info->key), "RSA-PSS %d", info->key_bits);
		break;
	case EVP_PKEY_ED25519:
		snprintf(info->key_type, sizeof(info->key_type), "ED25519");
		snprintf(info->key, sizeof(info->key), "Ed25519");
		break;
	case EVP_PKEY_ED448:
		snprintf(info->key_type, sizeof(info->key_type), "ED448");
		snprintf(info->key, sizeof(info->key), "Ed448");
		break;
	default:
		tn = EVP_PKEY_get0_type_name(pk);
		snprintf(info->key_type, sizeof(info->key_type), "%s", tn != NULL ? tn : "unknown");
		snprintf(info->key, sizeof(info->key), "%s %d", OBJ_nid2sn(id), info->key_bits);
		break;
	}
	return 0;
}

int czpg_certinfo_read(X509 *cert, time_t now, struct czpg_cert_info *info, char *err,
		       size_t errlen)
{
	BIGNUM *bn = NULL;
	char *hex = NULL;
	unsigned int mdlen = 0;
	time_t left;
	int i, rc = -1;

	ERR_clear_error();
	memset(info, 0, sizeof(*info));
	if (cert == NULL) {
		czpg_errf(err, errlen, "no certificate to describe");
		goto out;
	}
	czpg_certinfo_cn(X509_get_subject_name(cert), info->subject_cn, sizeof(info->subject_cn));
	czpg_certinfo_cn(X509_get_issuer_name(cert), info->issuer_cn, sizeof(info->issuer_cn));
	name_rfc2253(X509_get_subject_name(cert), info->subject, sizeof(info->subject));
	name_rfc2253(X509_get_issuer_name(cert), info->issuer, sizeof(info->issuer));
	read_sans(cert, info);
	snprintf(info->sig_alg, sizeof(info->sig_alg), "%s",
		 OBJ_nid2ln(X509_get_signature_nid(cert)));
	info->is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
	info->self_signed = X509_self_signed(cert, 1) == 1;

	if (read_key(cert, info) < 0) {
		czpg_errf(err, errlen, "the certificate's public key is not readable");
		goto out;
	}
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	if (hex == NULL) {
		czpg_errf(err, errlen, "the certificate's serial number is not readable");
		goto out;
	}
	czpg_certinfo_printable(info->serial, sizeof(info->serial), (const unsigned char *)hex,
				strlen(hex));
	if (read_time(X509_get0_notBefore(cert), info->not_before, sizeof(info->not_before),
		      &info->not_before_t) < 0 ||
	    read_time(X509_get0_notAfter(cert), info->not_after, sizeof(info->not_after),
		      &info->not_after_t) < 0) {
		czpg_errf(err, errlen, "the certificate's validity dates are not readable");
		goto out;
	}
	left = info->not_after_t - now;
	/* Floor division, so an expired certificate never shows 0 days. */
	info->days_left = (long)(left >= 0 ? left / 86400 : -((-left + 86399) / 86400));
	if (X509_digest(cert, EVP_sha256(), info->sha256, &mdlen) != 1 || mdlen != 32) {
		czpg_errf(err, errlen, "the certificate cannot be hashed");
		goto out;
	}
	for (i = 0; i < 32; i++)
		snprintf(info->fingerprint + i * 3, sizeof(info->fingerprint) - (size_t)i * 3,
			 i < 31 ? "%02X:" : "%02X", info->sha256[i]);
	rc = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return rc;
}
