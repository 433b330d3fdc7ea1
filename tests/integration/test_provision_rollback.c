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
 *   2. the operator gives the wrong --db-uid, so server.key belongs to a
 *      user that is neither the server's nor root: PostgreSQL refuses to load
 *      the key ("SSL configuration was not reloaded") and keeps serving the
 *      old certificate; no view shows this, the served-certificate check does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[400], hba[512], confd[512], pgconf[512], port[16], pwenv[256], bundle[512];

static const char base_hba[] = "# pg_hba.conf before TLS\n"
			       "local   all   all                    trust\n"
			       "host    all   cz_test   127.0.0.1/32  scram-sha-256\n";

static void snapshot(struct pt_snap *s)
{
	memset(s, 0, sizeof(*s));
	pt_snap_dir(s, tls_dir);
	pt_snap_dir(s, confd);
	pt_snap_file(s, hba);
	pt_snap_file(s, pgconf);
}

static void provision(const char *extra1, const char *extra2, const char *extra3, struct pt_run *r)
{
	const char *args[] = {"provision",    "--ip",
			      "127.0.0.1",    "--dns",
			      "localhost",    "--allow-cidr",
			      "127.0.0.1/32", "--role",
			      "cz_test",      "--pgdata",
			      sb.data,        "--cert-dir",
			      tls_dir,        "--verify-dbname",
			      sb.db,          "--apply",
			      extra1,         extra2,
			      extra3,         NULL};
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
	snprintf(bad, sizeof(bad), "%s%s\n", base_hba, sb.pg->hba_rejected_line);
	snprintf(error, sizeof(error), "pg_hba.conf line 4: %s", sb.pg->hba_rejected_error);
	assert_int_equal(czpg_sandbox_set_hba(&sb, base_hba), 0);
	app = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(app), CONNECTION_OK);
	/* Pasted, never reloaded: the server still runs on base_hba. */
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

static void test_unloadable_key_is_rolled_back(void **state)
{
	static struct pt_snap before, after;
	const char *vargs[] = {"verify", "--host",   "localhost", "--port", port,   "--user",
			       sb.user,  "--dbname", sb.db,       "--ca",   bundle, NULL};
	const char *env[] = {pwenv, NULL};
	char *leaf_before, *leaf_after;
	char leaf[600], v[16];
	struct pt_run r;
	PGconn *tls, *plain;

	(void)state;
	assert_int_equal(czpg_sandbox_set_hba(&sb, base_hba), 0);
	provision("--mode", "transition", NULL, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	tls = pt_connect(&sb, "localhost", "verify-full", bundle);
	assert_int_equal(PQstatus(tls), CONNECTION_OK);
	snprintf(leaf, sizeof(leaf), "%s/server.crt", tls_dir);
	leaf_before = pt_slurp(leaf);
	snapshot(&before);

	/* nobody's uid: PostgreSQL will not use a key owned by another user. */
	provision("--rotate-leaf", "--db-uid", "65534", &r);
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.out, "[PASS] certificates"));
	assert_non_null(strstr(r.out, "[FAIL] reload: "));
	assert_non_null(strstr(r.out, "did not load the new certificate"));
	assert_non_null(strstr(r.out, "uid 65534"));
	assert_non_null(
	    strstr(r.out, "rollback: restored 2 changed files to their previous content"));
	pt_run_free(&r);

	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	leaf_after = pt_slurp(leaf);
	assert_string_equal(leaf_before, leaf_after);

	/* Still serving the previous leaf: verify-full passes, connections work. */
	pt_czctl(vargs, env, -1, -1, NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	assert_true(pt_query(tls, "SELECT 1", v, sizeof(v)));
	plain = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(plain), CONNECTION_OK);
	PQfinish(plain);
	PQfinish(tls);
	free(leaf_before);
	free(leaf_after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rejected_hba_is_rolled_back),
	    cmocka_unit_test(test_unloadable_key_is_rolled_back),
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
