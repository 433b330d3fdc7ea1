/*
 * test_provision_cutover.c - the runbook's non-breaking 9-step cutover
 * against a real PostgreSQL (15, 17 or 18), as one test: an application connection on
 * plaintext SCRAM keeps running queries from before `provision --mode
 * transition --apply` until after `--mode harden --apply` and a re-run, and
 * never breaks; plaintext still connects after transition and is refused
 * after harden; verify-full passes (native client and libpq); the re-run
 * changes no byte of any file and keeps the CA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[512], export_ca[512], hba[512], confd[512], pgconf[512], port[16];
static char pwenv[256];

struct load {
	PGconn *c;
	long queries;
	long failures;
};

/* The application's query, run every ~20 ms while czctl works. */
static void app_query(void *arg)
{
	struct load *l = arg;
	char v[16];

	if (pt_query(l->c, "SELECT 1", v, sizeof(v)) && strcmp(v, "1") == 0)
		l->queries++;
	else
		l->failures++;
}

static void provision(const char *mode, struct load *l, struct pt_run *r)
{
	const char *args[] = {
	    PT_BOX_ARGS, "--pgdata",    sb.data,   "--hba-path",    hba,         "--cert-dir",
	    tls_dir,     "--export-ca", export_ca, "--verify-host", "127.0.0.1", "--verify-dbname",
	    sb.db,       "--mode",      mode,      "--apply",       NULL};
	const char *env[] = {pwenv, NULL};
	long before = l->queries;

	pt_czctl(args, env, -1, -1, app_query, l, r);
	pt_show(mode, r);
	printf("(application: %ld queries during the run, %ld failures so far)\n",
	       l->queries - before, l->failures);
}

/*
 * The seven step lines, in order, all PASS -- except the reload of a run
 * with nothing to change, which is not sent.
 */
static void assert_all_pass(const char *out, bool nothing_to_change)
{
	const char *const steps[] = {
	    "[PASS] certificates: ",
	    "[PASS] postgresql.conf TLS block: ",
	    "[PASS] pg_hba.conf managed block: ",
	    nothing_to_change ? "[SKIP] reload: nothing to change: no file written, no reload sent"
			      : "[PASS] reload: ",
	    "[PASS] stable names: ",
	    "[PASS] CA export: ",
	    "[PASS] self-verify: ",
	};
	const char *p = out;
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		p = strstr(p, steps[i]);
		if (p == NULL)
			printf("missing, or out of order: %s\n", steps[i]);
		assert_non_null(p);
	}
	assert_null(strstr(out, "[FAIL]"));
	assert_non_null(strstr(out, "summary: PASS"));
}

static int verify(const char *host, const char *client, bool plaintext_refused)
{
	const char *args[] = {"verify",  "--host",
			      host,      "--port",
			      port,      "--user",
			      sb.user,   "--dbname",
			      sb.db,     "--ca",
			      export_ca, "--client",
			      client,    plaintext_refused ? "--expect-plaintext-refused" : NULL,
			      NULL};
	const char *env[] = {pwenv, NULL};
	struct pt_run r;
	int rc;

	pt_czctl(args, env, -1, -1, NULL, NULL, &r);
	pt_show("czctl verify", &r);
	rc = r.rc;
	if (rc == 0)
		assert_non_null(strstr(r.out, "[PASS] TLS proven"));
	pt_run_free(&r);
	return rc;
}

static void snapshot(struct pt_snap *s)
{
	pt_snap_box(s, tls_dir, confd, hba, pgconf, export_ca);
}

static void test_nine_step_cutover(void **state)
{
	static struct pt_snap before, after;
	struct load app = {0};
	struct pt_run r;
	PGconn *plain, *tls;
	char v[64], t0[64], t1[64];
	int app_pid;

	(void)state;
	/* The application's path before TLS: a plain host line with SCRAM. */
	assert_int_equal(
	    czpg_sandbox_set_hba(&sb, "# pg_hba.conf before TLS\n"
				      "local   all   all                    trust\n"
				      "host    all   cz_test   127.0.0.1/32  scram-sha-256\n"),
	    0);
	app.c = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(app.c), CONNECTION_OK);
	assert_int_equal(PQsslInUse(app.c), 0);
	app_pid = PQbackendPID(app.c);

	/* Steps 1-3: transition; the reload happens inside; [PASS] per step. */
	provision("transition", &app, &r);
	assert_int_equal(r.rc, 0);
	assert_all_pass(r.out, false);
	assert_non_null(strstr(r.out, "CA new"));
	pt_run_free(&r);
	/*
	 * The server's own version decided the settings: the key-exchange
	 * groups under the name this version has (ssl_groups from 18), and no
	 * other name for them.
	 */
	{
		char conf[600], want[128], sql[128], *text;

		snprintf(conf, sizeof(conf), "%s/cz-tls.conf", confd);
		text = pt_slurp(conf);
		snprintf(want, sizeof(want), "\n%s = 'prime256v1'\n", sb.pg->groups_setting);
		assert_non_null(strstr(text, want));
		assert_null(strstr(text, strcmp(sb.pg->groups_setting, "ssl_groups") == 0
					     ? "ssl_ecdh_curve ="
					     : "ssl_groups ="));
		free(text);
		snprintf(sql, sizeof(sql), "SELECT setting FROM pg_settings WHERE name = '%s'",
			 sb.pg->groups_setting);
		assert_int_equal(czpg_sandbox_query_value(&sb, sql, v, sizeof(v)), 0);
		assert_string_equal(v, "prime256v1");
	}
	assert_int_equal(app.failures, 0);
	assert_true(app.queries > 0);
	/* Step 2: the application, still on sslmode=disable, keeps working. */
	assert_true(pt_query(
	    app.c, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()", v, sizeof(v)));
	assert_string_equal(v, "false");
	plain = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(plain), CONNECTION_OK);
	PQfinish(plain);

	/* Steps 4-6: with the exported CA, verify-full works by IP and by name. */
	assert_int_equal(verify("127.0.0.1", "native", false), 0);
	assert_int_equal(verify("localhost", "native", false), 0);
	assert_int_equal(verify("127.0.0.1", "libpq", false), 0);
	tls = pt_connect(&sb, "localhost", "verify-full", export_ca);
	assert_int_equal(PQstatus(tls), CONNECTION_OK);
	assert_int_equal(PQsslInUse(tls), 1);
	assert_string_equal(PQsslAttribute(tls, "protocol"), "TLSv1.3");

	/* Steps 7-8: harden. */
	provision("harden", &app, &r);
	assert_int_equal(r.rc, 0);
	assert_all_pass(r.out, false);
	assert_non_null(strstr(r.out, "plaintext refused"));
	pt_run_free(&r);
	assert_int_equal(app.failures, 0);

	/* Step 9: plaintext from the allowed CIDR is refused; verify-full still passes. */
	plain = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(plain), CONNECTION_BAD);
	printf("plaintext after harden: %s", PQerrorMessage(plain));
	assert_non_null(strstr(PQerrorMessage(plain), "no encryption"));
	PQfinish(plain);
	assert_int_equal(verify("127.0.0.1", "native", true), 0);
	assert_int_equal(verify("localhost", "libpq", false), 0);
	assert_true(pt_query(tls, "SELECT 1", v, sizeof(v)));

	/*
	 * Idempotent: a re-run changes no byte, no mode, no owner, keeps the CA,
	 * and sends no reload: the server's configuration load time stays.
	 */
	snapshot(&before);
	assert_int_equal(
	    czpg_sandbox_query_value(&sb, "SELECT pg_conf_load_time()", t0, sizeof(t0)), 0);
	provision("harden", &app, &r);
	assert_int_equal(r.rc, 0);
	assert_all_pass(r.out, true);
	assert_non_null(strstr(r.out, "CA reused"));
	assert_non_null(strstr(r.out, "leaf reused"));
	assert_non_null(strstr(r.out, "summary: PASS, nothing to change"));
	pt_run_free(&r);
	snapshot(&after);
	assert_true(before.n >= 9);
	assert_true(pt_snap_equal(&before, &after));
	assert_int_equal(
	    czpg_sandbox_query_value(&sb, "SELECT pg_conf_load_time()", t1, sizeof(t1)), 0);
	printf("pg_conf_load_time before the re-run %s, after %s\n", t0, t1);
	assert_string_equal(t0, t1);

	/* The application's connection survived it all: same backend, still plaintext. */
	assert_true(pt_query(app.c, "SELECT 1", v, sizeof(v)));
	assert_int_equal(PQbackendPID(app.c), app_pid);
	assert_int_equal(PQstatus(app.c), CONNECTION_OK);
	assert_int_equal(app.failures, 0);
	printf("application connection: %ld queries, %ld failures, backend pid %d throughout\n",
	       app.queries, app.failures, app_pid);
	PQfinish(tls);
	PQfinish(app.c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nine_step_cutover),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(export_ca, sizeof(export_ca), "%s/app/certs/ca.crt", sb.dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", sb.data);
	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
