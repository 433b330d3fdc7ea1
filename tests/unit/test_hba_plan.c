/*
 * test_hba_plan.c - pg_hba.conf managed block: placement, byte preservation,
 * idempotence, the mode cycle, the dry-run notes and the first-match
 * guarantee of harden mode.
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

/* Plans mode over text with the runbook's values; returns the output (caller frees). */
static char *apply_mode(const char *text, size_t len, enum czpg_hba_mode mode, size_t *out_len)
{
	struct czpg_hba_params pa = {mode, "10.20.1.2/32", two_roles, 2, NULL};
	struct czpg_hba_plan *p = NULL;
	char err[512] = "";
	size_t n;
	const char *o;
	char *copy;

	if (czpg_hba_plan(text, len, &pa, &p, err, sizeof(err)) < 0)
		fail_msg("plan failed: %s", err);
	o = czpg_hba_plan_output(p, &n);
	copy = malloc(n + 1);
	assert_non_null(copy);
	memcpy(copy, o, n + 1);
	if (out_len != NULL)
		*out_len = n;
	czpg_hba_plan_free(p);
	return copy;
}

static char *apply(const char *text, enum czpg_hba_mode mode)
{
	return apply_mode(text, strlen(text), mode, NULL);
}

/* Index of the BEGIN marker in s, or NULL. */
static const char *find_block(const char *s)
{
	return strstr(s, CZPG_HBA_BEGIN);
}

/* Text outside the block: what comes before BEGIN + what follows END's line end. */
static char *outside(const char *s)
{
	const char *b = find_block(s), *e;
	char *o;
	size_t n;

	assert_non_null(b);
	e = strstr(b, CZPG_HBA_END);
	assert_non_null(e);
	e = strchr(e, '\n') != NULL ? strchr(e, '\n') + 1 : e + strlen(e);
	n = (size_t)(b - s) + strlen(e);
	o = malloc(n + 1);
	assert_non_null(o);
	memcpy(o, s, (size_t)(b - s));
	memcpy(o + (b - s), e, strlen(e) + 1);
	return o;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static const char *messy =
    "# PostgreSQL Client Authentication Configuration File\r\n"
    "\r\n"
    "local   all             postgres                                peer\r\n"
    "local\tall\tall\tpeer   # tabs and a comment\r\n"
    "host    all             all             127.0.0.1/32            scram-sha-256\r\n"
    "include_if_exists extra.conf\r\n"
    "host    \"App DB\"        +writers        10.20.1.0/24            md5\r\n"
    "hostssl all all ::1/128 scram-sha-256";

static void test_insert_transition_appends(void **state)
{
	const char *in = "local all all peer\nhost all all 10.20.1.0/24 md5\n";
	char *out = apply(in, CZPG_HBA_MODE_TRANSITION);
	const char *b = find_block(out);

	(void)state;
	assert_non_null(b);
	/* everything before the block is the old file, untouched */
	assert_int_equal(b - out, strlen(in));
	assert_memory_equal(out, in, strlen(in));
	assert_non_null(strstr(b, "\nhostssl    all              cz_audit_writer,audit_ro "
				  "10.20.1.2/32 scram-sha-256\n"));
	assert_non_null(strstr(b, "\nhost       all              cz_audit_writer,audit_ro "
				  "10.20.1.2/32 scram-sha-256\n"));
	assert_null(strstr(b, "reject"));
	assert_int_equal(count(out, "\n# END czctl postgres tls\n"), 1);
	free(out);
}

static void test_idempotent(void **state)
{
	enum czpg_hba_mode modes[] = {CZPG_HBA_MODE_TRANSITION, CZPG_HBA_MODE_HARDEN};
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		size_t n1, n2;
		char *a = apply_mode(messy, strlen(messy), modes[i], &n1);
		char *b = apply_mode(a, n1, modes[i], &n2);
		struct czpg_hba_params pa = {modes[i], "10.20.1.2/32", two_roles, 2, NULL};
		struct czpg_hba_plan *p = NULL;
		char err[256];

		assert_int_equal(n1, n2);
		assert_memory_equal(a, b, n1);
		assert_int_equal(count(a, CZPG_HBA_BEGIN_PREFIX), 1);
		assert_int_equal(czpg_hba_plan(a, n1, &pa, &p, err, sizeof(err)), 0);
		assert_false(czpg_hba_plan_changed(p));
		assert_int_equal(czpg_hba_plan_previous_mode(p), modes[i]);
		czpg_hba_plan_free(p);
		free(a);
		free(b);
	}
}

/*
 * A file with no line end at all takes the style its last line will have
 * once one is added: a second run changes nothing (found by fuzz_hba_plan).
 */
static void test_idempotent_without_line_ends(void **state)
{
	const char *texts[] = {
	    "hostssl all all ::1/128 scram-sha-256\r",
	    "host all all 0.0.0.0/0 trust\r=hostssl all all ::1/128 scram-sha-256\r",
	    "host all all 10.0.0.0/8 md5",
	    "host all all 10.0.0.0/8 md5\rlocal all all peer",
	};
	enum czpg_hba_mode modes[] = {CZPG_HBA_MODE_TRANSITION, CZPG_HBA_MODE_HARDEN};
	size_t i, m;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		for (m = 0; m < 2; m++) {
			size_t n1, n2;
			char *a = apply_mode(texts[i], strlen(texts[i]), modes[m], &n1);
			char *b = apply_mode(a, n1, modes[m], &n2);

			if (n1 != n2 || memcmp(a, b, n1) != 0)
				fail_msg("text %zu, mode %zu: a second run changed the file", i, m);
			/* the block has the line ends the first line now has */
			assert_int_equal(strstr(a, "\n") > a && strstr(a, "\n")[-1] == '\r',
					 strstr(a, CZPG_HBA_BEGIN "\r\n") != NULL);
			free(a);
			free(b);
		}
	}
}

/* Every byte outside the block is the original (CRLF, tabs, no final newline). */
static void test_preserves_outside_bytes(void **state)
{
	size_t n;
	char *h, *o, *rm = NULL, err[256];
	char *t = apply_mode(messy, strlen(messy), CZPG_HBA_MODE_TRANSITION, &n);

	(void)state;
	/* appended after a last line without a line end: exactly one CRLF added */
	o = outside(t);
	assert_int_equal(strlen(o), strlen(messy) + 2);
	assert_memory_equal(o, messy, strlen(messy));
	assert_string_equal(o + strlen(messy), "\r\n");
	/* the block uses the file's CRLF style */
	assert_non_null(strstr(t, CZPG_HBA_BEGIN "\r\n"));
	assert_non_null(strstr(t, CZPG_HBA_END "\r\n"));
	free(o);

	/* harden inserts in the middle: outside bytes are exactly the original */
	h = apply_mode(messy, strlen(messy), CZPG_HBA_MODE_HARDEN, &n);
	o = outside(h);
	assert_string_equal(o, messy);
	free(o);

	/* remove_block gives the original back */
	assert_int_equal(czpg_hba_remove_block(h, n, &rm, NULL, err, sizeof(err)), 0);
	assert_string_equal(rm, messy);
	free(rm);
	free(h);
	free(t);
}

static void test_mode_cycle(void **state)
{
	const char *in = "local all all peer\n"
			 "host all all 10.20.1.2/32 md5\n"
			 "host all all 192.168.0.0/16 md5\n";
	char *t1 = apply(in, CZPG_HBA_MODE_TRANSITION);
	char *h = apply(t1, CZPG_HBA_MODE_HARDEN);
	char *t2 = apply(h, CZPG_HBA_MODE_TRANSITION);
	enum czpg_hba_mode m;
	char err[256];

	(void)state;
	assert_string_equal(t1, t2);
	assert_int_equal(czpg_hba_block_mode(t1, strlen(t1), &m, err, sizeof(err)), 0);
	assert_int_equal(m, CZPG_HBA_MODE_TRANSITION);
	assert_int_equal(czpg_hba_block_mode(h, strlen(h), &m, err, sizeof(err)), 0);
	assert_int_equal(m, CZPG_HBA_MODE_HARDEN);
	assert_int_equal(czpg_hba_block_mode(in, strlen(in), &m, err, sizeof(err)), 0);
	assert_int_equal(m, CZPG_HBA_MODE_NONE);
	/* harden sits before the app's plaintext line, transition after it */
	assert_true(find_block(h) < strstr(h, "host all all 10.20.1.2/32 md5"));
	assert_true(find_block(t2) > strstr(t2, "host all all 10.20.1.2/32 md5"));
	assert_int_equal(count(h, CZPG_HBA_BEGIN_PREFIX), 1);
	free(t1);
	free(h);
	free(t2);
}

/* The harden guarantee: from the CIDR, a non-TLS connection meets the reject first. */
static void check_guarantee(const char *in, const char *cidr_addr)
{
	const char *users[] = {"cz_audit_writer", "audit_ro", "postgres", "intruder"};
	const char *dbs[] = {"postgres", "app", "cz_audit_writer"};
	char *h = apply(in, CZPG_HBA_MODE_HARDEN);
	struct czpg_hba_file *f = NULL;
	char err[256];
	size_t u, d, r;

	assert_int_equal(czpg_hba_parse(h, strlen(h), &f, err, sizeof(err)), 0);
	for (u = 0; u < 4; u++) {
		for (d = 0; d < 3; d++) {
			for (r = 0; r < 2; r++) {
				struct czpg_hba_conn c = {false, r == 1, dbs[d], users[u],
							  cidr_addr};
				bool unc = true;
				long m = czpg_hba_first_match(f, &c, &unc);
				const struct czpg_hba_line *l;

				assert_true(m >= 0);
				l = czpg_hba_file_line(f, (size_t)m);
				if (!l->in_block || l->type != CZPG_HBA_HOSTNOSSL ||
				    strcmp(l->method, "reject") != 0)
					fail_msg("user %s db %s: plaintext decided by line %u",
						 users[u], dbs[d], l->lineno);
				assert_false(unc);
			}
		}
	}
	/* and TLS for the block's role meets its hostssl scram line */
	{
		struct czpg_hba_conn c = {true, false, "app", "cz_audit_writer", cidr_addr};
		long m = czpg_hba_first_match(f, &c, NULL);
		const struct czpg_hba_line *l = czpg_hba_file_line(f, (size_t)m);

		assert_true(m >= 0);
		assert_true(l->in_block);
		assert_int_equal(l->type, CZPG_HBA_HOSTSSL);
		assert_string_equal(l->method, "scram-sha-256");
	}
	czpg_hba_file_free(f);
	free(h);
}

static void test_harden_guarantee(void **state)
{
	(void)state;
	check_guarantee("host all all 0.0.0.0/0 trust\n", "10.20.1.2");
	check_guarantee("# header\nlocal all all trust\nhost all all 0.0.0.0/0 trust\n"
			"host replication all 10.0.0.0/8 trust\n",
			"10.20.1.2");
	check_guarantee("hostnossl all all 10.20.1.0 255.255.255.0 trust\n", "10.20.1.2");
	check_guarantee("host all all all trust\n", "10.20.1.2");
	check_guarantee("host all all .example.com trust\n", "10.20.1.2");
	check_guarantee("host all all samenet trust\nhost all all 0.0.0.0/0 md5\n", "10.20.1.2");
	check_guarantee("hostnogssenc all all 10.20.0.0/16 trust\n", "10.20.1.2");
	check_guarantee("include_dir hba.d\nhost all all 0.0.0.0/0 trust\n", "10.20.1.2");
	check_guarantee("frobnicate all all 0.0.0.0/0 trust\n", "10.20.1.2");
	check_guarantee("", "10.20.1.2");
	check_guarantee("host all all \\\n  0.0.0.0/0 trust\n", "10.20.1.2");
}

/* Records that cannot match the CIDR stay above the block; the first that can is below. */
static void test_harden_placement(void **state)
{
	const char *in = "# comment\n"
			 "local all all peer\n"
			 "host all all 127.0.0.1/32 scram-sha-256\n"
			 "host all all ::1/128 scram-sha-256\n"
			 "host all all 10.30.0.0/16 md5\n"
			 "hostssl all all 10.20.0.0/16 md5\n"
			 "host all all 0.0.0.0/0 md5\n";
	struct czpg_hba_params pa = {CZPG_HBA_MODE_HARDEN, "10.20.1.2/32", two_roles, 2, NULL};
	struct czpg_hba_plan *p = NULL;
	char err[256];
	const char *o, *ex;

	(void)state;
	assert_int_equal(czpg_hba_plan(in, strlen(in), &pa, &p, err, sizeof(err)), 0);
	o = czpg_hba_plan_output(p, NULL);
	assert_true(strstr(o, "10.30.0.0/16 md5\n" CZPG_HBA_BEGIN) != NULL);
	assert_int_equal(czpg_hba_plan_block_line(p), 6);
	ex = czpg_hba_plan_explain(p);
	assert_non_null(strstr(ex, "placed before line 6 (hostssl all all 10.20.0.0/16 md5)"));
	assert_non_null(strstr(ex, "line 7 (host all all 0.0.0.0/0 md5) no longer admits"));
	assert_true(czpg_hba_plan_changed(p));
	czpg_hba_plan_free(p);

	/* nothing can match the CIDR: appended at the end */
	in = "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n";
	assert_int_equal(czpg_hba_plan(in, strlen(in), &pa, &p, err, sizeof(err)), 0);
	o = czpg_hba_plan_output(p, NULL);
	assert_memory_equal(o, in, strlen(in));
	assert_ptr_equal(find_block(o), o + strlen(in));
	assert_non_null(strstr(czpg_hba_plan_explain(p), "placed at the end"));
	czpg_hba_plan_free(p);
}

static void test_transition_notes(void **state)
{
	const char *in = "host all all 0.0.0.0/0 trust\n";
	struct czpg_hba_params pa = {CZPG_HBA_MODE_TRANSITION, "10.20.1.2/32", two_roles, 2, NULL};
	struct czpg_hba_plan *p = NULL;
	char err[256];

	(void)state;
	assert_int_equal(czpg_hba_plan(in, strlen(in), &pa, &p, err, sizeof(err)), 0);
	assert_int_equal(czpg_hba_plan_nwarnings(p), 1);
	assert_non_null(strstr(czpg_hba_plan_warning(p, 0), "line 1"));
	assert_non_null(strstr(czpg_hba_plan_warning(p, 0), "trust"));
	assert_non_null(strstr(czpg_hba_plan_explain(p), "decides first"));
	assert_non_null(strstr(czpg_hba_plan_explain(p), "placed at the end"));
	czpg_hba_plan_free(p);
}

static void test_ipv6_block_and_database(void **state)
{
	const char *roles[] = {"app"};
	struct czpg_hba_params pa = {CZPG_HBA_MODE_HARDEN, "::1/128", roles, 1, "Audit"};
	struct czpg_hba_plan *p = NULL;
	const char *in = "host all all 10.0.0.0/8 md5\nhost all all ::/0 trust\n";
	const char *o;
	char err[256];

	(void)state;
	assert_int_equal(czpg_hba_plan(in, strlen(in), &pa, &p, err, sizeof(err)), 0);
	o = czpg_hba_plan_output(p, NULL);
	/* the IPv4 record cannot match ::1 and stays above the block */
	assert_non_null(strstr(o, "10.0.0.0/8 md5\n" CZPG_HBA_BEGIN));
	assert_non_null(strstr(o, "hostssl    \"Audit\"          app ::1/128 scram-sha-256"));
	czpg_hba_plan_free(p);

	pa.database = "bad db";
	assert_int_equal(czpg_hba_plan(in, strlen(in), &pa, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "database"));
	pa.database = NULL;
	pa.cidr = "10.20.1.2/24";
	assert_int_equal(czpg_hba_plan(in, strlen(in), &pa, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "10.20.1.0/24"));
	pa.cidr = "::1/128";
	pa.mode = CZPG_HBA_MODE_NONE;
	assert_int_equal(czpg_hba_plan(in, strlen(in), &pa, &p, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_insert_transition_appends),
	    cmocka_unit_test(test_idempotent),
	    cmocka_unit_test(test_idempotent_without_line_ends),
	    cmocka_unit_test(test_preserves_outside_bytes),
	    cmocka_unit_test(test_mode_cycle),
	    cmocka_unit_test(test_harden_guarantee),
	    cmocka_unit_test(test_harden_placement),
	    cmocka_unit_test(test_transition_notes),
	    cmocka_unit_test(test_ipv6_block_and_database),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
