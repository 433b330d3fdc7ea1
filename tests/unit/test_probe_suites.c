/*
 * test_probe_suites.c - what a probe offers (probe_suites.c): the tables,
 * which suites are worth a connection for a given certificate, group names,
 * and the shared TLS configurations (made once, NULL for what this OpenSSL
 * cannot offer).  No server: configurations are only built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "czpg/probe.h"
#include "probe_suites.h"

static void test_tables(void **state)
{
	static const char *const names[CZPG_PROBE_NVERSIONS] = {"TLSv1.3", "TLSv1.2", "TLSv1.1",
								"TLSv1"};
	static const int versions[CZPG_PROBE_NVERSIONS] = {TLS1_3_VERSION, TLS1_2_VERSION,
							   TLS1_1_VERSION, TLS1_VERSION};
	size_t i, j, n;
	int vi;

	(void)state;
	for (vi = 0; vi < CZPG_PROBE_NVERSIONS; vi++) {
		assert_string_equal(czpg_probe_suites_version_name(vi), names[vi]);
		assert_int_equal(czpg_probe_suites_version(vi), versions[vi]);
		n = czpg_probe_suites_count(vi);
		/* A result holds every suite of a table; names are unique (order lookups). */
		assert_true(n > 0 && n <= CZPG_PROBE_MAX_SUITES);
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				assert_string_not_equal(czpg_probe_suites_name(vi, i),
							czpg_probe_suites_name(vi, j));
	}
	assert_int_equal(czpg_probe_suites_count(0), 5);
	assert_string_equal(czpg_probe_suites_name(0, 0), "TLS_AES_256_GCM_SHA384");
	assert_string_equal(czpg_probe_suites_name(1, 0), czpg_probe_suites_name(3, 0));
	/* Groups fit in a mask, and in a result. */
	n = czpg_probe_suites_ngroups();
	assert_true(n > 0 && n < 16 && n <= CZPG_PROBE_MAX_GROUPS);
	assert_string_equal(czpg_probe_suites_group_name(1), "P-256");
	assert_true(czpg_probe_suites_group_ec(1));
	assert_true(czpg_probe_suites_group_is(1, "secp256r1"));
	assert_true(czpg_probe_suites_group_is(1, "p-256"));
	assert_false(czpg_probe_suites_group_is(1, "x25519"));
	assert_false(czpg_probe_suites_group_is(1, NULL));
	for (i = 0; i < n; i++)
		if (strncmp(czpg_probe_suites_group_name(i), "ffdhe", 5) == 0)
			assert_false(czpg_probe_suites_group_ec(i)); /* TLS 1.3 only */
}

/* Index of a suite name in version vi's table (it must be there). */
static size_t index_of(int vi, const char *name)
{
	size_t i, n = czpg_probe_suites_count(vi);

	for (i = 0; i < n; i++)
		if (strcmp(czpg_probe_suites_name(vi, i), name) == 0)
			return i;
	fail_msg("%s is not in the table of version %d", name, vi);
	return 0;
}

static void test_worth_trying(void **state)
{
	size_t ecdsa = index_of(1, "ECDHE-ECDSA-AES256-GCM-SHA384");
	size_t rsa = index_of(1, "ECDHE-RSA-AES256-GCM-SHA384");
	size_t plain_rsa = index_of(1, "AES256-GCM-SHA384");
	size_t legacy_ecdsa = index_of(3, "ECDHE-ECDSA-AES128-SHA");

	(void)state;
	/* TLS 1.3 suites do not depend on the certificate. */
	assert_true(czpg_probe_suites_worth_trying(0, 0, "RSA 2048"));
	assert_true(czpg_probe_suites_worth_trying(0, 0, "EC P-256"));
	/* An EC (or EdDSA) certificate serves ECDSA suites only, RSA the others. */
	assert_true(czpg_probe_suites_worth_trying(1, ecdsa, "EC P-256"));
	assert_true(czpg_probe_suites_worth_trying(1, ecdsa, "Ed25519"));
	assert_false(czpg_probe_suites_worth_trying(1, rsa, "EC P-256"));
	assert_false(czpg_probe_suites_worth_trying(1, plain_rsa, "EC P-384"));
	assert_true(czpg_probe_suites_worth_trying(1, rsa, "RSA 2048"));
	assert_true(czpg_probe_suites_worth_trying(1, plain_rsa, "RSA 3072"));
	assert_false(czpg_probe_suites_worth_trying(1, ecdsa, "RSA 2048"));
	/* Unknown key: try everything. */
	assert_true(czpg_probe_suites_worth_trying(1, rsa, ""));
	assert_true(czpg_probe_suites_worth_trying(1, ecdsa, NULL));
	/* TLS 1.0/1.1 take only the legacy (CBC-SHA) suites. */
	assert_false(czpg_probe_suites_worth_trying(2, ecdsa, "EC P-256"));
	assert_false(czpg_probe_suites_worth_trying(3, ecdsa, ""));
	assert_true(czpg_probe_suites_worth_trying(3, legacy_ecdsa, "EC P-256"));
	assert_false(czpg_probe_suites_worth_trying(3, legacy_ecdsa, "RSA 2048"));
}

static void test_configurations(void **state)
{
	struct czpg_probe_suites *s = calloc(1, sizeof(*s));
	struct czpg_tls_config *c, *other, *leak;
	bool owned;
	size_t i;
	int vi;

	(void)state;
	assert_non_null(s);
	assert_int_equal(czpg_probe_suites_init(s, NULL), 0);
	assert_non_null(s->main);
	assert_non_null(s->direct);
	assert_null(s->verify); /* no CA file: nothing verifies */
	for (vi = 0; vi < CZPG_PROBE_NVERSIONS; vi++) {
		c = czpg_probe_suites_for_version(s, vi);
		assert_non_null(c);
		/* Made once, shared by every target. */
		assert_ptr_equal(czpg_probe_suites_for_version(s, vi), c);
	}
	for (i = 0; i < czpg_probe_suites_count(0); i++) {
		c = czpg_probe_suites_for_suite(s, 0, i);
		assert_non_null(c);
		assert_ptr_equal(czpg_probe_suites_for_suite(s, 0, i), c);
	}
	c = czpg_probe_suites_for_groups(s, 0, 3);
	assert_non_null(c);
	assert_ptr_equal(czpg_probe_suites_for_groups(s, 0, 3), c);
	/* The same mask over TLS 1.2 is another configuration. */
	assert_ptr_not_equal(czpg_probe_suites_for_groups(s, 1, 3), c);

	/* A list in one order is kept for the run; the other order is another offer. */
	c = czpg_probe_suites_for_list(s, 0, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
				       &owned);
	assert_non_null(c);
	assert_false(owned);
	assert_ptr_equal(czpg_probe_suites_for_list(
			     s, 0, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", &owned),
			 c);
	assert_false(owned);
	other = czpg_probe_suites_for_list(
	    s, 0, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384", &owned);
	assert_non_null(other);
	assert_ptr_not_equal(other, c);
	/* The same text over another version is another configuration. */
	other = czpg_probe_suites_for_list(
	    s, 1, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384", &owned);
	assert_non_null(other);
	assert_ptr_not_equal(
	    other,
	    czpg_probe_suites_for_list(
		s, 1, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256", &owned));
	assert_int_equal(s->nlists, 4);
	/* Nothing OpenSSL can offer: no configuration. */
	assert_null(czpg_probe_suites_for_list(s, 1, "NOT-A-SUITE", &owned));
	/* Past the cap the caller owns what it gets, and the run keeps no more. */
	s->nlists = CZPG_PROBE_SUITES_MAX_LISTS / 4 * 3;
	c = czpg_probe_suites_for_list(s, 0, "TLS_AES_128_GCM_SHA256", &owned);
	assert_non_null(c);
	assert_true(owned);
	leak = czpg_probe_suites_for_list(s, 0, "TLS_AES_128_GCM_SHA256", &owned);
	assert_ptr_not_equal(leak, c);
	assert_true(owned);
	czpg_tls_config_free(c);
	czpg_tls_config_free(leak);
	/* The kept ones are still found. */
	assert_non_null(czpg_probe_suites_for_list(
	    s, 0, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384", &owned));
	assert_false(owned);
	czpg_probe_suites_free(s);
	assert_null(s->main);
	czpg_probe_suites_free(s); /* twice is harmless */
	czpg_probe_suites_free(NULL);

	/* A CA file that is not there: the reason names it. */
	assert_int_equal(czpg_probe_suites_init(s, "no-such-dir/ca.crt"), -1);
	assert_non_null(strstr(s->err, "no-such-dir/ca.crt"));
	czpg_probe_suites_free(s);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tables),
	    cmocka_unit_test(test_worth_trying),
	    cmocka_unit_test(test_configurations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
