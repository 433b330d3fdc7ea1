/*
 * test_provision_container.c - the --container path.  There is no container
 * engine on test machines, so a stand-in `docker` (tests/tools/
 * fake_docker.sh) goes first on PATH: it forwards `docker kill -s HUP
 * <container>` and `docker exec <container> psql ...` to the sandbox server
 * and records its arguments, which this test checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[400], export_ca[512], hba[512], confd[512], pgconf[512], port[16];
static char pwenv[256], pathenv[4200], logenv[600], logpath[512], uid[24], gid[24];
static const char *env[] = {pwenv, pathenv, logenv, "CZ_FAKE_DOCKER_CONTAINER=cz-audit-pg", NULL};

static void provision_with(const char *container, const char *mode, bool apply, bool own_uid,
			   const char *const *extra, struct pt_run *r)
{
	const char *args[48];
	int n = pt_container_args(args, &sb, container, hba, pgconf, tls_dir, port);

	args[n++] = "--export-ca";
	args[n++] = export_ca;
	args[n++] = "--mode";
	args[n++] = mode;
	if (own_uid) {
		args[n++] = "--db-uid";
		args[n++] = uid;
		args[n++] = "--db-gid";
		args[n++] = gid;
	}
	if (apply)
		args[n++] = "--apply";
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	pt_czctl(args, env, -1, -1, NULL, NULL, r);
	pt_show(mode, r);
}

static void provision(const char *container, const char *mode, bool apply, bool own_uid,
		      struct pt_run *r)
{
	provision_with(container, mode, apply, own_uid, NULL, r);
}

static void snapshot(struct pt_snap *s)
{
	pt_snap_box(s, tls_dir, confd, hba, NULL, export_ca);
}

static void test_dry_run_defaults_to_image_uid(void **state)
{
	struct pt_run r;
	char *log;

	(void)state;
	provision("cz-audit-pg", "transition", false, false, &r);
	assert_int_equal(r.rc, 0);
	/* The official postgres image runs the server as uid/gid 999. */
	assert_non_null(strstr(r.out, ".key (mode 0600, owner 999:999): server private key"));
	assert_non_null(strstr(r.out, "run: docker kill -s HUP cz-audit-pg"));
	assert_non_null(strstr(r.out, "docker exec -u postgres cz-audit-pg psql"));
	pt_run_free(&r);
	log = pt_slurp(logpath);
	assert_string_equal(log, ""); /* a dry run does not touch the container */
	free(log);
}

static void test_apply_through_docker(void **state)
{
	struct pt_run r;
	char *log;
	PGconn *c;

	(void)state;
	provision("cz-audit-pg", "transition", true, true, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "[PASS] reload: docker kill -s HUP cz-audit-pg"));
	assert_non_null(strstr(r.out, "[PASS] self-verify"));
	pt_run_free(&r);
	log = pt_slurp(logpath);
	printf("--- stand-in docker saw:\n%s", log);
	assert_non_null(strstr(log, "kill -s HUP cz-audit-pg\n"));
	assert_non_null(strstr(log, "exec -u postgres cz-audit-pg psql -X -A -t -q -w"));
	assert_non_null(strstr(log, "pg_conf_load_time()"));
	assert_non_null(strstr(log, "pg_hba_file_rules"));
	assert_non_null(strstr(log, "pg_file_settings"));
	assert_int_equal(pt_count(log, "kill -s HUP"), 1);
	free(log);

	provision("cz-audit-pg", "harden", true, true, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "plaintext refused"));
	pt_run_free(&r);
	c = pt_connect(&sb, "localhost", "verify-full", export_ca);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQfinish(c);
}

static void test_unknown_container_changes_nothing(void **state)
{
	static struct pt_snap before, after;
	struct pt_run r;

	(void)state;
	snapshot(&before);
	provision("cz-other-pg", "transition", true, true, &r);
	/* The server is asked its version before anything is planned, let alone written. */
	assert_int_equal(r.rc, 3);
	assert_non_null(strstr(r.err, "No such container: cz-other-pg"));
	assert_non_null(strstr(r.err, "nothing was written"));
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
}

/*
 * The operator gives the wrong --db-uid, so the new server key belongs to a
 * user that is neither the server's nor root (in a container provision
 * cannot see who the server runs as): PostgreSQL refuses to load the key
 * ("SSL configuration was not reloaded") and keeps serving the old
 * certificate.  No view shows this; the served-certificate check does, and
 * every file is put back.
 */
static void test_unloadable_key_is_rolled_back(void **state)
{
	static struct pt_snap before, after;
	static const char *const wrong_uid[] = {"--rotate-leaf", "--db-uid", "65534",
						"--db-gid",      "65534",    NULL};
	char leaf[600], *leaf_before, *leaf_after, v[16];
	struct pt_run r;
	PGconn *tls;

	(void)state;
	tls = pt_connect(&sb, "localhost", "verify-full", export_ca);
	assert_int_equal(PQstatus(tls), CONNECTION_OK);
	snprintf(leaf, sizeof(leaf), "%s/server.crt", tls_dir);
	leaf_before = pt_slurp(leaf);
	snapshot(&before);
	provision_with("cz-audit-pg", "harden", true, false, wrong_uid, &r);
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.out, "[PASS] certificates"));
	assert_non_null(strstr(r.out, "[FAIL] reload: "));
	assert_non_null(strstr(r.out, "did not load the new certificate"));
	assert_non_null(strstr(r.out, "uid 65534"));
	/* The server's own words, from docker logs: the key is refused for its owner. */
	assert_non_null(strstr(r.out, "its log: \""));
	assert_non_null(strstr(r.out, "must be owned by the database user or root"));
	assert_non_null(strstr(r.out, "the server refuses the key"));
	assert_non_null(strstr(r.out, "rollback: restored 1 changed file to its previous content"));
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	leaf_after = pt_slurp(leaf);
	assert_string_equal(leaf_before, leaf_after);
	/* Still serving the previous leaf: old and new verify-full connections work. */
	assert_true(pt_query(tls, "SELECT 1", v, sizeof(v)));
	PQfinish(tls);
	tls = pt_connect(&sb, "localhost", "verify-full", export_ca);
	assert_int_equal(PQstatus(tls), CONNECTION_OK);
	PQfinish(tls);
	free(leaf_before);
	free(leaf_after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dry_run_defaults_to_image_uid),
	    cmocka_unit_test(test_apply_through_docker),
	    cmocka_unit_test(test_unloadable_key_is_rolled_back),
	    cmocka_unit_test(test_unknown_container_changes_nothing),
	};
	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(export_ca, sizeof(export_ca), "%s/app/ca.crt", sb.dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", sb.data);
	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	/*
	 * The server's own uid/gid stand for the image's 999 on this box (the
	 * chroot's postgres for 17 and 18, which need not be the host's).
	 */
	snprintf(uid, sizeof(uid), "%ld", sb.owner_uid >= 0 ? sb.owner_uid : (long)getuid());
	snprintf(gid, sizeof(gid), "%ld", sb.owner_gid >= 0 ? sb.owner_gid : (long)getgid());
	if (!pt_fake_docker(&sb, pathenv, sizeof(pathenv), logenv, sizeof(logenv)))
		return 1;
	snprintf(logpath, sizeof(logpath), "%s/docker.log", sb.dir);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
