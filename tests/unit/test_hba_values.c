/*
 * test_hba_values.c - the values of the managed block: CIDR parsing and
 * formatting, role and database name checks and quoting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "czpg/hba.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void test_cidr_validation(void **state)
{
	struct czpg_hba_cidr c;
	char err[512], buf[64];

	(void)state;
	assert_int_equal(czpg_hba_cidr_parse("10.20.1.2/32", &c, err, sizeof(err)), 0);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(czpg_hba_cidr_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.20.1.2/32");
	assert_int_equal(czpg_hba_cidr_parse("::1/128", &c, err, sizeof(err)), 0);
	assert_int_equal(czpg_hba_cidr_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "::1/128");
	assert_int_equal(czpg_hba_cidr_parse("fd00:0:0::/48", &c, err, sizeof(err)), 0);
	assert_int_equal(czpg_hba_cidr_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fd00::/48");
	assert_int_equal(czpg_hba_cidr_parse("10.20.1.0/24", &c, err, sizeof(err)), 0);

	assert_int_equal(czpg_hba_cidr_parse("10.20.1.2/33", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "33"));
	assert_int_equal(czpg_hba_cidr_parse("10.20.1.2/24", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "host bits"));
	assert_non_null(strstr(err, "10.20.1.0/24"));
	assert_non_null(strstr(err, "10.20.1.2/32"));
	assert_int_equal(czpg_hba_cidr_parse("fd00::1/64", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fd00::/64"));
	assert_int_equal(czpg_hba_cidr_parse("10.20.1.2", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "10.20.1.2/32"));
	assert_int_equal(czpg_hba_cidr_parse("10.20.1.2/", &c, err, sizeof(err)), -1);
	assert_int_equal(czpg_hba_cidr_parse("10.20.1.2/3x", &c, err, sizeof(err)), -1);
	assert_int_equal(czpg_hba_cidr_parse("10.20.1/24", &c, err, sizeof(err)), -1);
	assert_int_equal(czpg_hba_cidr_parse("::1/129", &c, err, sizeof(err)), -1);
	assert_int_equal(czpg_hba_cidr_parse("host.example/32", &c, err, sizeof(err)), -1);
	assert_int_equal(czpg_hba_cidr_parse("", &c, err, sizeof(err)), -1);
}

static void test_role_validation(void **state)
{
	const char *bad[] = {
	    "a b",  "a,b",
	    "a\"b", "a\nb",
	    "a\rb", "a\tb",
	    "",     "x123456789012345678901234567890123456789012345678901234567890123"};
	struct {
		const char *in, *want;
	} good[] = {
	    {"cz_audit_writer", "cz_audit_writer"},
	    {"Writer", "\"Writer\""},
	    {"all", "\"all\""},
	    {"+grp", "\"+grp\""},
	    {"@file", "\"@file\""},
	    {"replication", "\"replication\""},
	    {"sameuser", "\"sameuser\""},
	    {"app-user", "\"app-user\""},
	    {"a#b", "\"a#b\""},
	    {"u$1", "u$1"},
	    {"x12345678901234567890123456789012345678901234567890123456789012",
	     "x12345678901234567890123456789012345678901234567890123456789012"},
	};
	char err[256], q[CZPG_HBA_NAME_MAX + 3];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *roles[] = {bad[i]};
		struct czpg_hba_params pa = {CZPG_HBA_MODE_TRANSITION, "10.20.1.2/32", roles, 1,
					     NULL};
		struct czpg_hba_plan *p = NULL;

		err[0] = '\0';
		assert_int_equal(czpg_hba_name_check(bad[i], err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
		assert_int_equal(czpg_hba_quote_name(bad[i], q, sizeof(q)), -1);
		assert_int_equal(czpg_hba_plan("", 0, &pa, &p, err, sizeof(err)), -1);
		assert_null(p);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(czpg_hba_name_check(good[i].in, err, sizeof(err)), 0);
		assert_int_equal(czpg_hba_quote_name(good[i].in, q, sizeof(q)),
				 (int)strlen(good[i].want));
		assert_string_equal(q, good[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cidr_validation),
	    cmocka_unit_test(test_role_validation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
