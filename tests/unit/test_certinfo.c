/*
 * test_certinfo.c - the one certificate description (czpg/certinfo.h):
 * names, SANs, key, signature, validity against a given clock, serial and
 * fingerprint, for EC, RSA and Ed25519 certificates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "czpg/certinfo.h"
#include "testcert.h"

static void test_describe_cert(void **state)
{
	struct czpg_testcert ca;
	struct czpg_testcert leaf, rsa, ed, p384;
	struct czpg_testcert_opts o = {.cn = "db.example", .sans = "DNS:db.example,IP:10.0.0.1"};
	struct czpg_testcert_opts ro = {.key = CZPG_TESTCERT_RSA2048};
	struct czpg_testcert_opts eo = {.key = CZPG_TESTCERT_ED25519};
	struct czpg_testcert_opts po = {.key = CZPG_TESTCERT_EC_P384,
					.digest = CZPG_TESTCERT_SHA384};
	struct czpg_cert_info info;
	BIGNUM *bn;
	char *hex;
	char err[256];

	(void)state;
	assert_int_equal(czpg_testcert_make_ca(&ca, NULL), 0);
	assert_int_equal(czpg_testcert_make_leaf(&leaf, &ca, &o), 0);
	assert_int_equal(czpg_certinfo_read(leaf.cert, time(NULL), &info, NULL, 0), 0);
	assert_string_equal(info.subject_cn, "db.example");
	assert_string_equal(info.subject, "CN=db.example,O=czpg tests");
	assert_string_equal(info.issuer, "CN=czpg test CA,O=czpg tests");
	assert_string_equal(info.sans, "DNS:db.example, IP:10.0.0.1");
	assert_string_equal(info.key, "EC P-256");
	assert_string_equal(info.sig_alg, "ecdsa-with-SHA256");
	/* Default validity: from an hour back to 30 days ahead of issue. */
	assert_true(info.not_after_t - info.not_before_t == 30L * 86400 + 3600);
	assert_int_equal(czpg_certinfo_read(leaf.cert, info.not_before_t + 3600, &info, NULL, 0),
			 0);
	assert_int_equal(info.days_left, 30);
	assert_int_equal(czpg_certinfo_read(leaf.cert, info.not_before_t + 3601, &info, NULL, 0),
			 0);
	assert_int_equal(info.days_left, 29);
	assert_int_equal(strlen(info.not_after), strlen("2025-01-31 12:00:00 UTC"));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf.cert), NULL);
	hex = BN_bn2hex(bn);
	assert_string_equal(info.serial, hex);
	OPENSSL_free(hex);
	BN_free(bn);

	assert_int_equal(czpg_testcert_make_ca(&rsa, &ro), 0);
	assert_int_equal(czpg_certinfo_read(rsa.cert, time(NULL), &info, NULL, 0), 0);
	assert_string_equal(info.key, "RSA 2048");
	assert_string_equal(info.sig_alg, "sha256WithRSAEncryption");
	assert_string_equal(info.sans, "");

	assert_int_equal(czpg_testcert_make_ca(&ed, &eo), 0);
	assert_int_equal(czpg_certinfo_read(ed.cert, time(NULL), &info, NULL, 0), 0);
	assert_string_equal(info.key, "Ed25519");
	assert_string_equal(info.sig_alg, "ED25519");

	assert_int_equal(czpg_testcert_make_ca(&p384, &po), 0);
	assert_int_equal(czpg_certinfo_read(p384.cert, time(NULL), &info, NULL, 0), 0);
	assert_string_equal(info.key, "EC P-384");
	assert_string_equal(info.sig_alg, "ecdsa-with-SHA384");

	assert_int_equal(czpg_certinfo_read(NULL, time(NULL), &info, err, sizeof(err)), -1);
	assert_string_equal(err, "no certificate to describe");
	assert_int_equal(ERR_peek_error(), 0);
	czpg_testcert_free(&ca);
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&rsa);
	czpg_testcert_free(&ed);
	czpg_testcert_free(&p384);
}

/* Expiry is counted from the clock the caller gives, rounded down to whole days. */
static void test_days_left_clock(void **state)
{
	struct czpg_testcert ca, leaf;
	struct czpg_testcert_opts o = {.cn = "db.example", .sans = "DNS:db.example"};
	struct czpg_cert_info info;
	time_t na;

	(void)state;
	assert_int_equal(czpg_testcert_make_ca(&ca, NULL), 0);
	assert_int_equal(czpg_testcert_make_leaf(&leaf, &ca, &o), 0);
	assert_int_equal(czpg_certinfo_read(leaf.cert, time(NULL), &info, NULL, 0), 0);
	na = info.not_after_t;
	assert_int_equal(czpg_certinfo_read(leaf.cert, na - 5 * 86400 - 1, &info, NULL, 0), 0);
	assert_int_equal(info.days_left, 5);
	assert_int_equal(czpg_certinfo_read(leaf.cert, na - 1, &info, NULL, 0), 0);
	assert_int_equal(info.days_left, 0);
	assert_int_equal(czpg_certinfo_read(leaf.cert, na, &info, NULL, 0), 0);
	assert_int_equal(info.days_left, 0);
	assert_int_equal(czpg_certinfo_read(leaf.cert, na + 1, &info, NULL, 0), 0);
	assert_int_equal(info.days_left, -1);
	assert_int_equal(czpg_certinfo_read(leaf.cert, na + 86400, &info, NULL, 0), 0);
	assert_int_equal(info.days_left, -1);
	assert_int_equal(czpg_certinfo_read(leaf.cert, na + 86401, &info, NULL, 0), 0);
	assert_int_equal(info.days_left, -2);
	assert_int_equal(info.n_dns, 1);
	assert_string_equal(info.dns_sans[0], "db.example");
	assert_int_equal(info.n_ip, 0);
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_describe_cert),
	    cmocka_unit_test(test_days_left_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
