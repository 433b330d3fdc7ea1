/*
 * test_parse.c - unit tests for the parsers of user text (czpg/parse.h):
 * whole numbers and decimals in a range (bounds, signs, spaces, suffixes,
 * overflow) and IP literals (IPv4, IPv6, zones, brackets, CIDR, names,
 * empty, NULL) with their text form.
 */
#include <float.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "czpg/parse.h"

/* Sentinel: a failed parse must leave *out as it was. */
#define UNTOUCHED 777ul

static void expect_uint(const char *s, unsigned long min, unsigned long max, unsigned long want)
{
	unsigned long v = UNTOUCHED;

	assert_int_equal(czpg_parse_uint(s, min, max, &v), 0);
	assert_int_equal(v, want);
}

static void expect_uint_bad(const char *s, unsigned long min, unsigned long max)
{
	unsigned long v = UNTOUCHED;

	assert_int_equal(czpg_parse_uint(s, min, max, &v), -1);
	assert_int_equal(v, UNTOUCHED);
}

static void test_uint_bounds(void **state)
{
	(void)state;
	expect_uint("1", 1, 65535, 1);
	expect_uint("65535", 1, 65535, 65535);
	expect_uint_bad("0", 1, 65535);
	expect_uint_bad("65536", 1, 65535);
	expect_uint("0", 0, 0, 0);
	expect_uint_bad("1", 0, 0);
	expect_uint("007", 0, 10, 7); /* leading zeros are still decimal, not octal */
	expect_uint("010", 0, 100, 10);
	expect_uint("18446744073709551615", 0, ULONG_MAX, ULONG_MAX);
}

static void test_uint_signs_spaces_suffixes(void **state)
{
	(void)state;
	expect_uint_bad("-1", 0, ULONG_MAX); /* strtoul would wrap this to ULONG_MAX */
	expect_uint_bad("-0", 0, 10);
	expect_uint_bad("+1", 0, 10);
	expect_uint_bad(" 1", 0, 10);
	expect_uint_bad("1 ", 0, 10);
	expect_uint_bad("\t1", 0, 10);
	expect_uint_bad("1\n", 0, 10);
	expect_uint_bad("1k", 0, 10000);
	expect_uint_bad("10s", 0, 100);
	expect_uint_bad("1.0", 0, 10);
	expect_uint_bad("1e3", 0, 10000);
	expect_uint_bad("0x10", 0, 100);
	expect_uint_bad("", 0, 10);
	expect_uint_bad(NULL, 0, 10);
	expect_uint_bad("five", 0, 10);
}

static void test_uint_overflow(void **state)
{
	(void)state;
	expect_uint_bad("18446744073709551616", 0, ULONG_MAX); /* ULONG_MAX + 1 */
	expect_uint_bad("99999999999999999999999999", 0, ULONG_MAX);
	expect_uint_bad("4294967296", 0, 4294967295ul);
}

static void expect_double(const char *s, double min, double max, double want)
{
	double v = 777.0;

	assert_int_equal(czpg_parse_double(s, min, max, &v), 0);
	assert_true(v == want);
}

static void expect_double_bad(const char *s, double min, double max)
{
	double v = 777.0;

	assert_int_equal(czpg_parse_double(s, min, max, &v), -1);
	assert_true(v == 777.0);
}

static void test_double_bounds_and_signs(void **state)
{
	(void)state;
	expect_double("0.1", 0.1, 86400, 0.1);
	expect_double("86400", 0.1, 86400, 86400);
	expect_double_bad("0.09", 0.1, 86400);
	expect_double_bad("86400.001", 0.1, 86400);
	expect_double("-99", -99, 100000, -99);
	expect_double_bad("-99.5", -99, 100000);
	expect_double("+5", 0, 10, 5);
	expect_double("-0", 0, 10, 0);
	expect_double(".5", 0, 1, 0.5);
	expect_double("5.", 0, 10, 5);
	expect_double("1e3", 0, 10000, 1000);
	expect_double("2.5E-1", 0, 1, 0.25);
	expect_double("10000000", 1, 10e6, 10e6);
}

static void test_double_spaces_suffixes_words(void **state)
{
	(void)state;
	expect_double_bad(" 1", 0, 10);
	expect_double_bad("\t1", 0, 10);
	expect_double_bad("1 ", 0, 10);
	expect_double_bad("1ms", 0, 10);
	expect_double_bad("5%", 0, 10);
	expect_double_bad("1,5", 0, 10);
	expect_double_bad("", 0, 10);
	expect_double_bad(NULL, 0, 10);
	expect_double_bad("-", 0, 10);
	expect_double_bad(".", 0, 10);
	expect_double_bad("e3", 0, 10000);
	/* Not finite, or not decimal: strtod would take all of these. */
	expect_double_bad("inf", -DBL_MAX, DBL_MAX);
	expect_double_bad("-infinity", -DBL_MAX, DBL_MAX);
	expect_double_bad("nan", -DBL_MAX, DBL_MAX);
	expect_double_bad("0x10", 0, 100);
	expect_double_bad("0X1p3", 0, 100);
}

static void test_double_overflow(void **state)
{
	(void)state;
	expect_double_bad("1e999", -DBL_MAX, DBL_MAX);
	expect_double_bad("-1e999", -DBL_MAX, DBL_MAX);
	expect_double_bad("1e-999", 0, 1); /* underflow reports ERANGE too */
}

/* The parse result, the bytes, and the text form back. */
static void expect_ip(const char *s, int family, const uint8_t *bytes, const char *text)
{
	uint8_t addr[16];
	char out[CZPG_IP_TEXT_MAX];
	size_t n = family == 4 ? 4 : 16, i;

	memset(addr, 0xaa, sizeof(addr));
	assert_int_equal(czpg_parse_ip(s, addr), family);
	assert_memory_equal(addr, bytes, n);
	for (i = n; i < 16; i++)
		assert_int_equal(addr[i], 0); /* the rest zeroed */
	assert_true(czpg_parse_is_ip(s));
	assert_int_equal(czpg_parse_ip_text(addr, n, out, sizeof(out)), 0);
	assert_string_equal(out, text);
}

static void expect_not_ip(const char *s)
{
	uint8_t addr[16];
	size_t i;

	memset(addr, 0xaa, sizeof(addr));
	assert_int_equal(czpg_parse_ip(s, addr), 0);
	for (i = 0; i < 16; i++)
		assert_int_equal(addr[i], 0);
	assert_false(czpg_parse_is_ip(s));
	assert_int_equal(czpg_parse_ip(s, NULL), 0); /* addr may be NULL */
}

static void test_ipv4(void **state)
{
	static const uint8_t lo[4] = {127, 0, 0, 1};
	static const uint8_t any[4] = {0, 0, 0, 0};
	static const uint8_t bcast[4] = {255, 255, 255, 255};
	static const uint8_t net[4] = {10, 20, 1, 2};

	(void)state;
	expect_ip("127.0.0.1", 4, lo, "127.0.0.1");
	expect_ip("0.0.0.0", 4, any, "0.0.0.0");
	expect_ip("255.255.255.255", 4, bcast, "255.255.255.255");
	expect_ip("10.20.1.2", 4, net, "10.20.1.2");
	assert_int_equal(czpg_parse_ip("127.0.0.1", NULL), 4);
	/* What inet_aton would take but a dotted quad is not. */
	expect_not_ip("127.1");
	expect_not_ip("0x7f.0.0.1");
	expect_not_ip("0127.0.0.1");
	expect_not_ip("256.0.0.1");
	expect_not_ip("1.2.3.4.5");
	expect_not_ip("1.2.3.");
	expect_not_ip(" 127.0.0.1");
	expect_not_ip("127.0.0.1 ");
	expect_not_ip("127.0.0.1:5432");
}

static void test_ipv6(void **state)
{
	static const uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t any[16] = {0};
	static const uint8_t doc[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					0,    0,    0,    0,    0, 0, 0, 0x42};
	static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 5};

	(void)state;
	expect_ip("::1", 6, lo, "::1");
	expect_ip("::", 6, any, "::");
	expect_ip("0:0:0:0:0:0:0:1", 6, lo, "::1"); /* the canonical text (RFC 5952) */
	expect_ip("2001:DB8::42", 6, doc, "2001:db8::42");
	expect_ip("2001:0db8:0000:0000:0000:0000:0000:0042", 6, doc, "2001:db8::42");
	expect_ip("::ffff:10.0.0.5", 6, mapped, "::ffff:10.0.0.5");
	expect_not_ip("2001:db8::42::1");
	expect_not_ip("2001:db8:::42");
	expect_not_ip("12345::1");
	expect_not_ip("1:2:3:4:5:6:7:8:9");
	expect_not_ip(":1");
}

static void test_not_literals(void **state)
{
	(void)state;
	/* Brackets, zones, prefixes and ports are for the caller to strip. */
	expect_not_ip("[::1]");
	expect_not_ip("[::1]:5432");
	expect_not_ip("fe80::1%eth0");
	expect_not_ip("fe80::1%1");
	expect_not_ip("10.0.0.0/8");
	expect_not_ip("::1/128");
	/* Names, even ones that look numeric or resolve to loopback. */
	expect_not_ip("localhost");
	expect_not_ip("db.example");
	expect_not_ip("1.2.3.4.example");
	expect_not_ip("1e100");
	expect_not_ip("");
	expect_not_ip(NULL);
}

static void test_format_ip_errors(void **state)
{
	static const uint8_t v4[4] = {192, 168, 0, 1};
	static const uint8_t v6[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	char out[CZPG_IP_TEXT_MAX];
	char small[8];

	(void)state;
	assert_int_equal(czpg_parse_ip_text(v6, 16, out, sizeof(out)), 0);
	assert_string_equal(out, "fe80::1");
	/* Lengths other than 4 and 16. */
	strcpy(out, "stale");
	assert_int_equal(czpg_parse_ip_text(v4, 5, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(czpg_parse_ip_text(v4, 0, out, sizeof(out)), -1);
	/* A buffer too small: an empty string, never a cut address. */
	assert_int_equal(czpg_parse_ip_text(v4, 4, small, sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(czpg_parse_ip_text(v4, 4, out, strlen("192.168.0.1") + 1), 0);
	assert_string_equal(out, "192.168.0.1");
	/* NULLs. */
	assert_int_equal(czpg_parse_ip_text(NULL, 4, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(czpg_parse_ip_text(v4, 4, NULL, 16), -1);
	/* The longest text form fits CZPG_IP_TEXT_MAX. */
	{
		static const uint8_t m[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

		assert_int_equal(czpg_parse_ip_text(m, 16, out, sizeof(out)), 0);
		assert_string_equal(out, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uint_bounds),
	    cmocka_unit_test(test_uint_signs_spaces_suffixes),
	    cmocka_unit_test(test_uint_overflow),
	    cmocka_unit_test(test_double_bounds_and_signs),
	    cmocka_unit_test(test_double_spaces_suffixes_words),
	    cmocka_unit_test(test_double_overflow),
	    cmocka_unit_test(test_ipv4),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_not_literals),
	    cmocka_unit_test(test_format_ip_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
