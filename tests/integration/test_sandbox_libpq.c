/*
 * test_sandbox_libpq.c - the sandbox is what tests rely on: a real
 * PostgreSQL of the version asked for (15, 17 or 18) reachable on loopback
 * with a SCRAM-SHA-256 role, a trusted role, include_dir = 'conf.d', a
 * working reload, and its files where the sandbox says the server sees them.
 * libpq (the reference client) must reach it with a SCRAM password and be
 * refused with a wrong one.
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
#include <sys/stat.h>

#include "sandbox.h"

static struct czpg_sandbox sb;

static PGconn *connect_as(const char *user, const char *password)
{
	char conninfo[512];

	snprintf(conninfo, sizeof(conninfo),
		 "host=%s port=%d user=%s password=%s dbname=%s sslmode=disable connect_timeout=10",
		 sb.host, sb.port, user, password, sb.db);
	return PQconnectdb(conninfo);
}

static void test_libpq_scram_password(void **state)
{
	PGconn *c = connect_as(sb.user, sb.password);
	PGresult *r;

	(void)state;
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "SELECT 1 + 1");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "2");
	PQclear(r);
	PQfinish(c);
}

static void test_stored_verifier_is_scram(void **state)
{
	char v[256];

	(void)state;
	assert_int_equal(
	    czpg_sandbox_query_value(
		&sb, "SELECT substr(rolpassword, 1, 14) FROM pg_authid WHERE rolname = 'cz_test'",
		v, sizeof(v)),
	    0);
	assert_string_equal(v, "SCRAM-SHA-256$");
}

static void test_wrong_password_refused(void **state)
{
	PGconn *c = connect_as(sb.user, "not-the-password");

	(void)state;
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(c), "password authentication failed"));
	PQfinish(c);
}

static void test_include_dir_and_reload(void **state)
{
	static const char conf[] = "application_name = 'cz-reload-probe'\n";
	char v[128];

	(void)state;
	assert_int_equal(
	    czpg_sandbox_write_file(&sb, "conf.d/cz-probe.conf", conf, sizeof(conf) - 1, 0644), 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	/* The reload read the new file from conf.d without an error. */
	assert_int_equal(
	    czpg_sandbox_query_value(&sb,
				     "SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE "
				     "'%/conf.d/cz-probe.conf' AND error IS NULL",
				     v, sizeof(v)),
	    0);
	assert_string_equal(v, "1");
}

/* The version asked for, seeing its data directory where the sandbox says. */
static void test_version_and_server_view(void **state)
{
	char v[512], mapped[512];
	struct stat st;

	(void)state;
	assert_int_equal(
	    czpg_sandbox_query_value(
		&sb, "SELECT current_setting('server_version_num')::int / 10000", v, sizeof(v)),
	    0);
	assert_int_equal(atoi(v), sb.version);
	assert_int_equal(czpg_sandbox_query_value(&sb, "SHOW data_directory", v, sizeof(v)), 0);
	assert_string_equal(v, sb.server_data);
	assert_int_equal(czpg_sandbox_server_path(&sb, sb.data, mapped, sizeof(mapped)), 0);
	assert_string_equal(mapped, sb.server_data);
	/* The server runs as the owner of its data directory. */
	assert_int_equal(stat(sb.data, &st), 0);
	assert_int_equal((long)st.st_uid, sb.owner_uid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_libpq_scram_password),
	    cmocka_unit_test(test_stored_verifier_is_scram),
	    cmocka_unit_test(test_wrong_password_refused),
	    cmocka_unit_test(test_include_dir_and_reload),
	    cmocka_unit_test(test_version_and_server_view),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
