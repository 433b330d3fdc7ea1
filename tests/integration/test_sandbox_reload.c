/*
 * test_sandbox_reload.c - the sandbox's reload (pg_sandbox.sh reload, through
 * czpg_sandbox_reload) returns only once the postmaster has processed the
 * SIGHUP, which every integration test relies on: the very next connection
 * sees the new setting and the new pg_hba.conf, with no sleep in between.  A
 * postgresql.conf the server rejects still ends the wait well within its
 * 10 s limit, and leaves the server running with its old settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define PROBE_CONF "conf.d/cz-reload-wait.conf"
#define BROKEN_CONF "conf.d/cz-reload-broken.conf"
#define PROBE_QUERY "SELECT current_setting('czpg.reload_probe', true)"

static struct czpg_sandbox sb;
static char initial_hba[8192];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_probe(const char *value)
{
	char conf[256];
	int n = snprintf(conf, sizeof(conf), "czpg.reload_probe = '%s'\n", value);

	assert_int_equal(czpg_sandbox_write_file(&sb, PROBE_CONF, conf, (size_t)n, 0644), 0);
}

static void assert_probe(const char *want)
{
	char v[256];

	assert_int_equal(czpg_sandbox_query_value(&sb, PROBE_QUERY, v, sizeof(v)), 0);
	assert_string_equal(v, want);
}

/* A custom setting written to conf.d is what the next connection reads. */
static void test_setting_seen_right_after_reload(void **state)
{
	char value[64];
	int round;

	(void)state;
	for (round = 1; round <= 8; round++) {
		snprintf(value, sizeof(value), "round-%d-%d", round, (int)getpid());
		write_probe(value);
		assert_int_equal(czpg_sandbox_reload(&sb), 0);
		assert_probe(value);
	}
}

/* Logs in over TCP as the trusted role; the error text, or "" once in. */
static void trust_login(char *err, size_t errlen)
{
	char conninfo[512];
	PGconn *c;

	snprintf(conninfo, sizeof(conninfo),
		 "host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", sb.host,
		 sb.port, sb.trust_user, sb.db);
	c = PQconnectdb(conninfo);
	snprintf(err, errlen, "%s", PQstatus(c) == CONNECTION_OK ? "" : PQerrorMessage(c));
	PQfinish(c);
}

/* A new pg_hba.conf decides the next login, both ways. */
static void test_hba_seen_right_after_reload(void **state)
{
	char hba[sizeof(initial_hba) + 128], err[512];
	int round;

	(void)state;
	snprintf(hba, sizeof(hba), "host all %s 127.0.0.1/32 reject\n%s", sb.trust_user,
		 initial_hba);
	for (round = 0; round < 3; round++) {
		assert_int_equal(czpg_sandbox_set_hba(&sb, hba), 0);
		trust_login(err, sizeof(err));
		assert_non_null(strstr(err, "pg_hba.conf rejects connection"));
		assert_int_equal(czpg_sandbox_set_hba(&sb, initial_hba), 0);
		trust_login(err, sizeof(err));
		assert_string_equal(err, "");
	}
}

/*
 * A syntax error anywhere makes the postmaster apply nothing (its
 * pg_conf_load_time() stays): the wait still ends, the server keeps serving
 * its old settings, and once the file is fixed the pending change applies.
 */
static void test_rejected_config_ends_wait(void **state)
{
	static const char broken[] = "this line is not a setting\n";
	char v[256];
	double t0, took;

	(void)state;
	write_probe("before-broken");
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	assert_probe("before-broken");

	write_probe("pending");
	assert_int_equal(
	    czpg_sandbox_write_file(&sb, BROKEN_CONF, broken, sizeof(broken) - 1, 0644), 0);
	t0 = now_s();
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	took = now_s() - t0;
	assert_true(took < 10.0);
	/* Running, with nothing of the rejected files applied. */
	assert_probe("before-broken");
	assert_int_equal(
	    czpg_sandbox_query_value(&sb,
				     "SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE "
				     "'%/" BROKEN_CONF "' AND error IS NOT NULL",
				     v, sizeof(v)),
	    0);
	assert_string_equal(v, "1");

	snprintf(v, sizeof(v), "%s/%s", sb.data, BROKEN_CONF);
	assert_int_equal(unlink(v), 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	assert_probe("pending");
}

/* A failed test must not leave a broken file behind for the next one. */
static int remove_broken(void **state)
{
	char path[4096];

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", sb.data, BROKEN_CONF);
	unlink(path);
	return 0;
}

static int read_initial_hba(void)
{
	char path[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/pg_hba.conf", sb.data);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(initial_hba, 1, sizeof(initial_hba) - 1, f);
	initial_hba[n] = '\0';
	fclose(f);
	return n > 0 && n < sizeof(initial_hba) - 1 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setting_seen_right_after_reload),
	    cmocka_unit_test(test_hba_seen_right_after_reload),
	    cmocka_unit_test_teardown(test_rejected_config_ends_wait, remove_broken),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	if (read_initial_hba() < 0) {
		fprintf(stderr, "cannot read the sandbox's pg_hba.conf\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
