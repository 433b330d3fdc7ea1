/*
 * test_probe_targets.c - the target parser of the probe (probe_targets.c):
 * one target in every form, a fleet file with comments and blank lines, and
 * each error with its line number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/probe_targets.h"

static void test_parse_target_forms(void **state)
{
	const struct {
		const char *in;
		const char *host;
		unsigned port;
		const char *label;
	} ok[] = {
	    {"db.example", "db.example", 5432, "db.example:5432"},
	    {"db.example:6543", "db.example", 6543, "db.example:6543"},
	    {"10.0.0.5:1", "10.0.0.5", 1, "10.0.0.5:1"},
	    {"[::1]:5433", "::1", 5433, "[::1]:5433"},
	    {"[fe80::1]", "fe80::1", 5432, "[fe80::1]:5432"},
	    {"::1", "::1", 5432, "[::1]:5432"},
	    {"2001:db8::7", "2001:db8::7", 5432, "[2001:db8::7]:5432"},
	    {"127.0.0.1:65535", "127.0.0.1", 65535, "127.0.0.1:65535"},
	};
	const struct {
		const char *in;
		const char *why;
	} bad[] = {
	    {"", "empty target"},
	    {"[::1", "without ']'"},
	    {"[::1]x", "not :port"},
	    {"[::1]:", "not a number"},
	    {"db:0", "not a number 1-65535"},
	    {"db:65536", "not a number 1-65535"},
	    {"db:54x", "not a number"},
	    {":5432", "no host"},
	    {"[]:5432", "no host"},
	    {"[db.example]:5432", "not a valid IPv6"},
	    {"db example", "characters a host name cannot have"},
	    {"1:2:zz", "not a valid IPv6"},
	};
	struct czpg_probe_target t;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(czpg_probe_parse_target(ok[i].in, 5432, &t, err, sizeof(err)), 0);
		assert_string_equal(t.host, ok[i].host);
		assert_int_equal(t.port, ok[i].port);
		assert_string_equal(t.label, ok[i].label);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(czpg_probe_parse_target(bad[i].in, 5432, &t, err, sizeof(err)),
				 -1);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].in, err, bad[i].why);
	}
	/* No default port and none given. */
	assert_int_equal(czpg_probe_parse_target("db", 0, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no default port"));
}

static void test_parse_targets_file(void **state)
{
	const char text[] = "# fleet\n"
			    "\n"
			    "10.0.0.1\n"
			    "  10.0.0.2:6432   # a comment after a target\r\n"
			    "\t[::1]:5433\n"
			    "   \n"
			    "# 10.0.0.9 commented out\n"
			    "db.example"; /* no final newline */
	struct czpg_probe_target *list = NULL;
	size_t n = 0;
	char err[256];

	(void)state;
	assert_int_equal(
	    czpg_probe_parse_targets(text, strlen(text), 5432, &list, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(list[0].label, "10.0.0.1:5432");
	assert_string_equal(list[1].label, "10.0.0.2:6432");
	assert_string_equal(list[2].label, "[::1]:5433");
	assert_string_equal(list[3].label, "db.example:5432");
	free(list);
}

static void test_parse_targets_errors(void **state)
{
	const char bad_port[] = "10.0.0.1\n# x\n10.0.0.2:99999\n";
	const char nul[] = "10.0.0.1\n10.0\0.0.2\n";
	const char empty[] = "# only comments\n\n   \n";
	struct czpg_probe_target *list = (struct czpg_probe_target *)1;
	char *big, err[256];
	size_t n = 7, i;

	(void)state;
	assert_int_equal(
	    czpg_probe_parse_targets(bad_port, strlen(bad_port), 5432, &list, &n, err, sizeof(err)),
	    -1);
	assert_null(list);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "line 3: "));
	assert_non_null(strstr(err, "99999"));

	assert_int_equal(
	    czpg_probe_parse_targets(nul, sizeof(nul) - 1, 5432, &list, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 2: contains a NUL byte"));

	assert_int_equal(
	    czpg_probe_parse_targets(empty, strlen(empty), 5432, &list, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no targets"));

	/* A line longer than the limit. */
	big = malloc(3000);
	assert_non_null(big);
	memset(big, 'a', 2999);
	big[2999] = '\0';
	assert_int_equal(czpg_probe_parse_targets(big, 2999, 5432, &list, &n, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "line 1: longer than"));
	free(big);

	/* More targets than the cap: its own error, with the line. */
	big = malloc((size_t)(CZPG_PROBE_MAX_TARGETS + 1) * 4);
	assert_non_null(big);
	for (i = 0; i < (size_t)CZPG_PROBE_MAX_TARGETS + 1; i++)
		memcpy(big + i * 4, "h:1\n", 4);
	assert_int_equal(czpg_probe_parse_targets(big, (size_t)(CZPG_PROBE_MAX_TARGETS + 1) * 4,
						  5432, &list, &n, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "more than"));
	assert_null(list);
	free(big);
}

/* A targets file comes from elsewhere: its control bytes never reach the terminal. */
static void test_errors_escape_control_bytes(void **state)
{
	const char text[] = "db1.example\n\x1b[31mred\x1b[0m.example\n";
	struct czpg_probe_target *list = NULL, t;
	size_t n = 0, i;
	char err[512];

	(void)state;
	assert_int_equal(
	    czpg_probe_parse_targets(text, strlen(text), 5432, &list, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 2: "));
	assert_non_null(strstr(err, "\\x1b[31mred\\x1b[0m.example"));
	for (i = 0; err[i] != '\0'; i++)
		assert_true((unsigned char)err[i] >= 0x20 && (unsigned char)err[i] != 0x7f);

	assert_int_equal(czpg_probe_parse_target("db:5\x07", 5432, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "port \"5\\x07\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_target_forms),
	    cmocka_unit_test(test_parse_targets_file),
	    cmocka_unit_test(test_parse_targets_errors),
	    cmocka_unit_test(test_errors_escape_control_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
