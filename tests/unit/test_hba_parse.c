/*
 * test_hba_parse.c - the pg_hba.conf parser: the tokenizer, corrupted
 * markers and the hard limits.
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

static const char *const two_roles[] = {"cz_audit_writer", "audit_ro"};

static void test_tokenizer(void **state)
{
	const char *in = "host \"my db\",other  a, \"b\"\"c\" 10.0.0.0/8 md5 # x\n"
			 "host all all 10.0.0.1 255.0.0.0 trust\n"
			 "   # only a comment\n"
			 "local all all peer\n"
			 "host all all fe80::/10 md5\n";
	struct czpg_hba_file *f = NULL;
	const struct czpg_hba_line *l;
	char err[256];

	(void)state;
	assert_int_equal(czpg_hba_parse(in, strlen(in), &f, err, sizeof(err)), 0);
	assert_int_equal(czpg_hba_file_nlines(f), 5);
	l = czpg_hba_file_line(f, 0);
	assert_int_equal(l->type, CZPG_HBA_HOST);
	assert_int_equal(l->n_db, 2);
	assert_string_equal(l->db[0].text, "my db");
	assert_true(l->db[0].quoted);
	assert_int_equal(l->n_user, 2);
	assert_string_equal(l->user[1].text, "b\"c");
	assert_int_equal(l->addr_kind, CZPG_HBA_ADDR_NET);
	assert_string_equal(l->method, "md5");
	l = czpg_hba_file_line(f, 1);
	assert_int_equal(l->addr_kind, CZPG_HBA_ADDR_NET);
	assert_int_equal(l->mask[0], 0xff);
	assert_int_equal(l->mask[1], 0);
	assert_string_equal(l->method, "trust");
	assert_int_equal(czpg_hba_file_line(f, 2)->type, CZPG_HBA_BLANK);
	assert_int_equal(czpg_hba_file_line(f, 3)->type, CZPG_HBA_LOCAL);
	assert_int_equal(czpg_hba_file_line(f, 4)->family, AF_INET6);
	assert_null(czpg_hba_file_line(f, 5));
	czpg_hba_file_free(f);
}

static void test_corrupt_markers(void **state)
{
	const char *cases[] = {
	    /* two BEGIN markers */
	    "local all all peer\n" CZPG_HBA_BEGIN "\n" CZPG_HBA_BEGIN "\n" CZPG_HBA_END "\n",
	    /* two whole blocks */
	    CZPG_HBA_BEGIN "\n" CZPG_HBA_END "\n" CZPG_HBA_BEGIN "\n" CZPG_HBA_END "\n",
	    /* END without BEGIN */
	    "local all all peer\n" CZPG_HBA_END "\n",
	    /* BEGIN without END */
	    "local all all peer\n\n" CZPG_HBA_BEGIN "\nhost all all 10.0.0.0/8 md5\n",
	};
	const char *want[] = {"line 3", "line 3", "line 2", "line 3"};
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		struct czpg_hba_params pa = {CZPG_HBA_MODE_HARDEN, "10.20.1.2/32", two_roles, 2,
					     NULL};
		struct czpg_hba_plan *p = NULL;
		enum czpg_hba_mode m;
		char err[512] = "";

		assert_int_equal(
		    czpg_hba_plan(cases[i], strlen(cases[i]), &pa, &p, err, sizeof(err)), -1);
		assert_null(p);
		if (strstr(err, want[i]) == NULL)
			fail_msg("case %zu: \"%s\" does not name %s", i, err, want[i]);
		assert_non_null(strstr(err, "corrupted"));
		assert_int_equal(
		    czpg_hba_block_mode(cases[i], strlen(cases[i]), &m, err, sizeof(err)), -1);
	}
}

static void test_limits(void **state)
{
	struct czpg_hba_file *f = NULL;
	char err[256];
	char *big;
	size_t i, n = CZPG_HBA_MAX_TOKENS + 10;

	(void)state;
	assert_int_equal(czpg_hba_parse("a\0b\n", 4, &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	big = malloc(n * 2 + 1);
	assert_non_null(big);
	for (i = 0; i < n; i++) {
		big[2 * i] = 'x';
		big[2 * i + 1] = ' ';
	}
	big[2 * n] = '\0';
	assert_int_equal(czpg_hba_parse(big, 2 * n, &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tokens"));
	free(big);
	assert_int_equal(czpg_hba_parse("x", CZPG_HBA_MAX_BYTES + 1, &f, err, sizeof(err)), -1);
	assert_null(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tokenizer),
	    cmocka_unit_test(test_corrupt_markers),
	    cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
