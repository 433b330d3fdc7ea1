/*
 * test_provision_rollback.c - when the server rejects what provision wrote,
 * every file is restored byte for byte, the server is reloaded again, the
 * command fails naming the error, and the server keeps accepting the
 * connections it accepted before.
 *
 * Two realistic ways a reload goes wrong:
 *   1. pg_hba.conf already holds a line this PostgreSQL does not understand
 *      (syntax of a later release pasted in and never reloaded: 16's
 *      `include_if_exists` on 15, 18's oauth method on 17; pgversion.h has
 *      the line and the error): pg_hba_file_rules reports it and the server
 *      keeps its previous pg_hba.conf.
 *   2. the operator gives the wrong --db-uid for a server on this box, whose
 *      user provision can see (the data directory's owner): refused before
 *      anything is written, since PostgreSQL would not load a key owned by
 *      another user (test_provision_container.c rolls the same mistake back
 *      where the server's user cannot be seen).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[400], hba[512], confd[512], pgconf[512], port[16], pwenv[256], bundle[512];

static void snapshot(struct pt_snap *s)
{
	pt_snap_box(s, tls_dir, confd, hba, pgconf, NULL);
}

static void provision(const char *extra1, const char *extra2, const char *extra3, struct pt_run *r)
{
	const char *args[] = {
	    PT_BOX_ARGS, "--pgdata", sb.data, "--cert-dir", tls_dir, "--verify-dbname",
	    sb.db,       "--apply",  extra1,  extra2,       extra3,  NULL};
	const char *env[] = {pwenv, NULL};

	pt_czctl(args, env, -1, -1, NULL, NULL, r);
	pt_show("provision", r);
}

static void test_rejected_hba_is_rolled_back(void **state)
{
	static struct pt_snap before, after;
	char bad[512], error[256], v[64];
	struct pt_run r;
	PGconn *app, *again;

	(void)state;
	snprintf(bad, sizeof(bad), "%s%s\n", PT_BASE_HBA, sb.pg->hba_rejected_line);
	snprintf(error, sizeof(error), "pg_hba.conf line 4: %s", sb.pg->hba_rejected_error);
	assert_int_equal(czpg_sandbox_set_hba(&sb, PT_BASE_HBA), 0);
	app = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(app), CONNECTION_OK);
	/* Pasted, never reloaded: the server still runs on PT_BASE_HBA. */
	assert_int_equal(czpg_sandbox_write_file(&sb, "pg_hba.conf", bad, strlen(bad), 0600), 0);
	snapshot(&before);

	provision("--mode", "transition", NULL, &r);
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.out, "[PASS] pg_hba.conf managed block"));
	assert_non_null(strstr(r.out, "[FAIL] reload: "));
	assert_non_null(strstr(r.out, error));
	assert_non_null(strstr(r.out, "rollback: restored"));
	assert_null(strstr(r.out, "self-verify"));
	assert_non_null(strstr(r.out, "summary: FAIL (exit 1)"));
	pt_run_free(&r);

	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	assert_int_equal(czpg_sandbox_query_value(&sb, "SHOW ssl", v, sizeof(v)), 0);
	assert_string_equal(v, "off"); /* cz-tls.conf gone, and reloaded again */

	/* The previous connections still work, old and new. */
	assert_true(pt_query(app, "SELECT 1", v, sizeof(v)));
	again = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(again), CONNECTION_OK);
	PQfinish(again);
	PQfinish(app);
}

static void test_wrong_db_uid_is_refused(void **state)
{
	static struct pt_snap before, after;
	const char *vargs[] = {"verify", "--host",   "localhost", "--port", port,   "--user",
			       sb.user,  "--dbname", sb.db,       "--ca",   bundle, NULL};
	const char *env[] = {pwenv, NULL};
	char want[256], t0[64], t1[64];
	struct pt_run r;

	(void)state;
	assert_int_equal(czpg_sandbox_set_hba(&sb, PT_BASE_HBA), 0);
	provision("--mode", "transition", NULL, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	snapshot(&before);
	assert_int_equal(
	    czpg_sandbox_query_value(&sb, "SELECT pg_conf_load_time()", t0, sizeof(t0)), 0);

	/* nobody's uid: PostgreSQL will not use a key owned by another user. */
	provision("--rotate-leaf", "--db-uid", "65534", &r);
	assert_int_equal(r.rc, 2);
	snprintf(want, sizeof(want), "--db-uid 65534: the server runs as uid %ld", sb.owner_uid);
	assert_non_null(strstr(r.err, want));
	assert_string_equal(r.out, "");
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	assert_int_equal(
	    czpg_sandbox_query_value(&sb, "SELECT pg_conf_load_time()", t1, sizeof(t1)), 0);
	assert_string_equal(t0, t1);
	pt_czctl(vargs, env, -1, -1, NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rejected_hba_is_rolled_back),
	    cmocka_unit_test(test_wrong_db_uid_is_refused),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(bundle, sizeof(bundle), "%s/ca-bundle.crt", tls_dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", sb.data);
	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
