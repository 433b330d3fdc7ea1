/*
 * test_provision_dryrun.c - without --apply, provision writes nothing:
 * every file under the cert dir, conf.d, pg_hba.conf and the export path
 * stays byte-identical (content, mode, owner), on a fresh box and on a
 * provisioned one (even for --force and --mode harden, which would change
 * everything); the server is not reloaded; private keys are never printed;
 * and the plan shows what --apply would write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[400], export_ca[512], hba[512], confd[512], pgconf[512], pwenv[256];

static void snapshot(struct pt_snap *s)
{
	pt_snap_box(s, tls_dir, confd, hba, pgconf, export_ca);
}

static void run(const char *mode, const char *extra, bool apply, struct pt_run *r)
{
	const char *args[32] = {PT_BOX_ARGS, "--role",          "audit_ro", "--pgdata",
				sb.data,     "--cert-dir",      tls_dir,    "--export-ca",
				export_ca,   "--verify-dbname", sb.db,      "--mode",
				mode};
	const char *env[] = {pwenv, NULL};
	int n = 21;

	if (extra != NULL)
		args[n++] = extra;
	if (apply)
		args[n++] = "--apply";
	args[n] = NULL;
	pt_czctl(args, env, -1, -1, NULL, NULL, r);
}

static void load_time(char *out, size_t len)
{
	assert_int_equal(czpg_sandbox_query_value(&sb, "SELECT pg_conf_load_time()", out, len), 0);
}

static void assert_no_key_material(const char *out)
{
	assert_null(strstr(out, "PRIVATE KEY"));
	assert_null(strstr(out, "BEGIN EC"));
}

static void test_dry_run_on_fresh_box(void **state)
{
	static struct pt_snap before, after;
	char t0[64], t1[64];
	struct pt_run r;

	(void)state;
	snapshot(&before);
	load_time(t0, sizeof(t0));
	run("transition", NULL, false, &r);
	pt_show("dry run, fresh box", &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "DRY RUN"));
	/* Every file with path, mode and owner; keys never shown. */
	assert_non_null(strstr(r.out, "create "));
	assert_non_null(strstr(r.out, "/cz-tls/ca-"));
	assert_non_null(strstr(r.out, ".key (mode 0600, owner 0:0): CA private key"));
	assert_non_null(strstr(r.out, ".crt (mode 0644, owner 0:0): server certificate"));
	assert_non_null(strstr(r.out, "/cz-tls/server.crt -> server-"));
	assert_int_equal(pt_count(r.out, "<new private key, not shown>"), 2);
	assert_no_key_material(r.out);
	assert_non_null(strstr(r.out, "ssl_min_protocol_version = 'TLSv1.3'"));
	assert_non_null(strstr(r.out, "+hostssl"));
	assert_non_null(strstr(r.out, "cz_test,audit_ro"));
	assert_non_null(strstr(r.out, "pg_ctl reload -D"));
	assert_non_null(strstr(r.out, "czctl postgres tls verify --host 127.0.0.1"));
	assert_non_null(strstr(r.out, "-----BEGIN CERTIFICATE-----"));
	pt_run_free(&r);

	/* The JSON plan says the same and carries no key either. */
	run("transition", "--json", false, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "\"result\":\"PLAN\""));
	assert_non_null(strstr(r.out, "\"applied\":false"));
	assert_no_key_material(r.out);
	pt_run_free(&r);

	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	assert_int_not_equal(access(tls_dir, F_OK), 0); /* not even the directory */
	load_time(t1, sizeof(t1));
	assert_string_equal(t0, t1); /* no reload */
}

static void test_dry_run_on_provisioned_box(void **state)
{
	static struct pt_snap before, after;
	const char *variants[][2] = {
	    {"transition", NULL},
	    {"harden", NULL},
	    {"harden", "--force"},
	    {"transition", "--rotate-leaf"},
	    {"harden", "--allow-tls12-fallback"},
	};
	char t0[64], t1[64];
	struct pt_run r;
	size_t i;

	(void)state;
	run("transition", NULL, true, &r);
	pt_show("apply", &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	snapshot(&before);
	assert_true(before.n >= 9);
	load_time(t0, sizeof(t0));
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		run(variants[i][0], variants[i][1], false, &r);
		printf("dry run --mode %s %s: exit %d\n", variants[i][0],
		       variants[i][1] != NULL ? variants[i][1] : "", r.rc);
		assert_int_equal(r.rc, 0);
		assert_no_key_material(r.out);
		if (variants[i][1] == NULL && strcmp(variants[i][0], "transition") == 0)
			assert_non_null(strstr(r.out, "summary: nothing to change"));
		if (variants[i][1] != NULL && strcmp(variants[i][1], "--force") == 0) {
			/* Diffs against the current files, keys still hidden. */
			assert_non_null(strstr(r.out, "replace "));
			assert_non_null(strstr(r.out, "@@ "));
			assert_non_null(strstr(r.out, "--force replaces the CA"));
		}
		if (strcmp(variants[i][0], "harden") == 0)
			assert_non_null(strstr(r.out, "+hostnossl"));
		pt_run_free(&r);
	}
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	load_time(t1, sizeof(t1));
	assert_string_equal(t0, t1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dry_run_on_fresh_box),
	    cmocka_unit_test(test_dry_run_on_provisioned_box),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(export_ca, sizeof(export_ca), "%s/app/ca.crt", sb.dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", sb.data);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
