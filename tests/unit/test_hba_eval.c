/*
 * test_hba_eval.c - the first-match evaluator: keywords, groups,
 * replication, addresses, and quoted roles read back as literal roles.
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

static void test_first_match_rules(void **state)
{
	const char *in = "hostssl all all 10.0.0.0/8 cert\n"
			 "host sameuser all 10.0.0.0/8 md5\n"
			 "host replication all 10.0.0.0/8 trust\n"
			 "host app +grp 10.0.0.0/8 md5\n"
			 "hostnossl all all 10.0.0.0/8 reject\n";
	struct czpg_hba_file *f = NULL;
	struct czpg_hba_conn c = {true, false, "app", "bob", "10.1.2.3"};
	char err[256];
	bool unc;

	(void)state;
	assert_int_equal(czpg_hba_parse(in, strlen(in), &f, err, sizeof(err)), 0);
	assert_int_equal(czpg_hba_first_match(f, &c, &unc), 0);
	c.ssl = false;
	assert_int_equal(czpg_hba_first_match(f, &c, &unc), 3); /* +grp: maybe */
	assert_true(unc);
	c.database = "bob";
	assert_int_equal(czpg_hba_first_match(f, &c, &unc), 1);
	assert_false(unc);
	c.replication = true;
	assert_int_equal(czpg_hba_first_match(f, &c, &unc), 2);
	c.replication = false;
	c.database = "other";
	assert_int_equal(czpg_hba_first_match(f, &c, &unc), 4);
	c.addr = "192.168.1.1";
	assert_int_equal(czpg_hba_first_match(f, &c, &unc), -1);
	c.addr = "::1";
	assert_int_equal(czpg_hba_first_match(f, &c, &unc), -1);
	czpg_hba_file_free(f);
}

/* A quoted role in the written block reads back as that literal role. */
static void test_quoted_roles_round_trip(void **state)
{
	const char *roles[] = {"Writer", "all", "+grp"};
	struct czpg_hba_params pa = {CZPG_HBA_MODE_HARDEN, "10.20.1.2/32", roles, 3, NULL};
	struct czpg_hba_plan *p = NULL;
	struct czpg_hba_file *f = NULL;
	const struct czpg_hba_line *l;
	struct czpg_hba_conn conn = {true, false, "db", "Writer", "10.20.1.2"};
	char err[256];
	size_t n;
	const char *o;
	long m;
	bool unc;

	(void)state;
	assert_int_equal(czpg_hba_plan("", 0, &pa, &p, err, sizeof(err)), 0);
	o = czpg_hba_plan_output(p, &n);
	assert_non_null(strstr(o, "\"Writer\",\"all\",\"+grp\""));
	assert_int_equal(czpg_hba_parse(o, n, &f, err, sizeof(err)), 0);
	m = czpg_hba_first_match(f, &conn, &unc);
	assert_true(m >= 0);
	l = czpg_hba_file_line(f, (size_t)m);
	assert_int_equal(l->type, CZPG_HBA_HOSTSSL);
	assert_false(unc);
	assert_int_equal(l->n_user, 3);
	assert_true(l->user[1].quoted);
	assert_string_equal(l->user[1].text, "all");
	/* "all" quoted is a literal role: another user is not matched by it */
	conn.user = "someone_else";
	m = czpg_hba_first_match(f, &conn, &unc);
	assert_int_equal(m, -1);
	/* "writer" (lower case) is a different role */
	conn.user = "writer";
	assert_int_equal(czpg_hba_first_match(f, &conn, &unc), -1);
	czpg_hba_file_free(f);
	czpg_hba_plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_match_rules),
	    cmocka_unit_test(test_quoted_roles_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
