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

static void provision(const char *container, const char *mode, bool apply, bool own_uid,
		      struct pt_run *r)
{
	const char *args[40] = {"provision",
				"--ip",
				"127.0.0.1",
				"--dns",
				"localhost",
				"--allow-cidr",
				"127.0.0.1/32",
				"--role",
				"cz_test",
				"--container",
				container,
				"--hba-path",
				hba,
				"--postgresql-conf",
				pgconf,
				"--cert-dir",
				tls_dir,
				"--export-ca",
				export_ca,
				"--verify-port",
				port,
				"--verify-dbname",
				sb.db,
				"--mode",
				mode};
	int n = 25;

	if (own_uid) {
		args[n++] = "--db-uid";
		args[n++] = uid;
		args[n++] = "--db-gid";
		args[n++] = gid;
	}
	if (apply)
		args[n++] = "--apply";
	args[n] = NULL;
	pt_czctl(args, env, -1, -1, NULL, NULL, r);
	pt_show(mode, r);
}

static void snapshot(struct pt_snap *s)
{
	memset(s, 0, sizeof(*s));
	pt_snap_dir(s, tls_dir);
	pt_snap_dir(s, confd);
	pt_snap_file(s, hba);
	pt_snap_file(s, export_ca);
}

static void test_dry_run_defaults_to_image_uid(void **state)
{
	struct pt_run r;
	char *log;

	(void)state;
	provision("cz-audit-pg", "transition", false, false, &r);
	assert_int_equal(r.rc, 0);
	/* The official postgres image runs the server as uid/gid 999. */
	assert_non_null(strstr(r.out, "/server.key (mode 0600, owner 999:999)"));
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
	assert_int_equal(r.rc, 3);
	assert_non_null(strstr(r.out, "[FAIL] reload: "));
	assert_non_null(strstr(r.out, "No such container: cz-other-pg"));
	assert_non_null(strstr(r.out, "nothing was written"));
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dry_run_defaults_to_image_uid),
	    cmocka_unit_test(test_apply_through_docker),
	    cmocka_unit_test(test_unknown_container_changes_nothing),
	};
	const char *src = getenv("CZ_SOURCE_DIR");
	char bindir[512], target[600], link[600];

	if (!czpg_sandbox_from_env(&sb) || src == NULL)
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
	snprintf(bindir, sizeof(bindir), "%s/fakebin", sb.dir);
	snprintf(target, sizeof(target), "%s/tests/tools/fake_docker.sh", src);
	snprintf(link, sizeof(link), "%s/docker", bindir);
	if (mkdir(bindir, 0755) < 0 || symlink(target, link) < 0)
		return 1;
	snprintf(pathenv, sizeof(pathenv), "PATH=%s:%s", bindir,
		 getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
	snprintf(logpath, sizeof(logpath), "%s/docker.log", sb.dir);
	snprintf(logenv, sizeof(logenv), "CZ_FAKE_DOCKER_LOG=%s", logpath);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
