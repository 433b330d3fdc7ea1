/*
 * test_provision_badinput.c - every bad input is one clear error line on
 * stderr naming the bad value, exit 2, nothing on stdout, and no file
 * changed (content, mode, owner), even with --apply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[400], export_ca[512], hba[512], confd[512], pgconf[512], pwenv[256];
static char nopg[512], nobody_dir[400], nobody_hba[512], nobody_conf[512], nobody_tls[512];

static void snapshot(struct pt_snap *s)
{
	memset(s, 0, sizeof(*s));
	pt_snap_dir(s, tls_dir);
	pt_snap_dir(s, confd);
	pt_snap_file(s, hba);
	pt_snap_file(s, export_ca);
	pt_snap_file(s, pgconf);
	pt_snap_dir(s, nobody_dir);
	pt_snap_dir(s, nobody_tls);
}

/* The valid base command with one flag's value replaced (or one flag added). */
static void run(const char *flag, const char *value, const char *const *env, long uid,
		struct pt_run *r)
{
	const char *base[][2] = {
	    {"--ip", "127.0.0.1"},
	    {"--dns", "localhost"},
	    {"--allow-cidr", "127.0.0.1/32"},
	    {"--role", "cz_test"},
	    {"--pgdata", sb.data},
	    {"--cert-dir", tls_dir},
	    {"--export-ca", export_ca},
	    {"--verify-dbname", sb.db},
	};
	const char *args[40];
	int n = 0;
	size_t i;
	bool replaced = false;

	args[n++] = "provision";
	for (i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		args[n++] = base[i][0];
		if (flag != NULL && strcmp(flag, base[i][0]) == 0) {
			args[n++] = value;
			replaced = true;
		} else {
			args[n++] = base[i][1];
		}
	}
	if (flag != NULL && !replaced) {
		args[n++] = flag;
		if (value != NULL)
			args[n++] = value;
	}
	args[n++] = "--apply";
	args[n] = NULL;
	pt_czctl(args, env, uid, uid, NULL, NULL, r);
}

static void expect_usage(const char *flag, const char *value, const char *needle,
			 const char *const *env)
{
	static struct pt_snap before, after;
	const char *def_env[] = {pwenv, NULL};
	struct pt_run r;

	snapshot(&before);
	run(flag, value, env != NULL ? env : def_env, -1, &r);
	printf("%s %s -> exit %d: %s", flag != NULL ? flag : "", value != NULL ? value : "", r.rc,
	       r.err);
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.out, "");
	assert_true(strncmp(r.err, "czctl postgres tls provision: ", 30) == 0);
	assert_int_equal(pt_count(r.err, "\n"), 1); /* one line */
	if (strstr(r.err, needle) == NULL)
		printf("expected '%s' in the error\n", needle);
	assert_non_null(strstr(r.err, needle));
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_usage("--ip", "10.20.1.300", "--ip '10.20.1.300'", NULL);
	expect_usage("--ip", "audit-pg.internal", "--ip 'audit-pg.internal'", NULL);
	expect_usage("--dns", "audit_pg.internal", "--dns 'audit_pg.internal'", NULL);
	expect_usage("--dns", "audit-pg.internal.", "--dns 'audit-pg.internal.'", NULL);
	expect_usage("--allow-cidr", "10.20.1.2/24", "--allow-cidr '10.20.1.2/24'", NULL);
	expect_usage("--allow-cidr", "10.20.1.2", "--allow-cidr '10.20.1.2'", NULL);
	expect_usage("--role", "cz audit", "--role 'cz audit'", NULL);
	expect_usage("--role", "writer,reader", "--role 'writer,reader'", NULL);
	expect_usage("--role", "\"quoted\"", "--role '\"quoted\"'", NULL);
	expect_usage("--mode", "soft", "--mode 'soft'", NULL);
	expect_usage("--verify-port", "70000", "--verify-port '70000'", NULL);
	expect_usage("--db-uid", "postgres", "--db-uid 'postgres'", NULL);
	expect_usage("--container", "bad name!", "--container 'bad name!' is not a container name",
		     NULL);
	expect_usage("--force", "--rotate-leaf", "--force and --rotate-leaf", NULL);
}

static void test_bad_paths(void **state)
{
	(void)state;
	expect_usage("--pgdata", "/nonexistent/pgdata", "--pgdata '/nonexistent/pgdata'", NULL);
	expect_usage("--hba-path", "/nonexistent/pg_hba.conf", "/nonexistent/pg_hba.conf", NULL);
	expect_usage("--cert-dir", "/etc/passwd/cz-tls", "--cert-dir", NULL);
	expect_usage("--export-ca", "/etc/passwd/ca.crt", "--export-ca", NULL);
	expect_usage("--postgresql-conf", "/nonexistent/postgresql.conf",
		     "/nonexistent/postgresql.conf", NULL);
	/* A postgresql.conf that does not include conf.d: the exact line to add. */
	expect_usage("--postgresql-conf", nopg, "include_dir = 'conf.d'", NULL);
}

static void test_missing_password(void **state)
{
	const char *no_pw[] = {"CZ_PG_VERIFY_PASSWORD=", NULL};

	(void)state;
	expect_usage(NULL, NULL, "self-verify needs the password of 'cz_test'", no_pw);
}

static void test_leaf_name_mismatch(void **state)
{
	const char *env[] = {pwenv, NULL};
	struct pt_run r;

	(void)state;
	run(NULL, NULL, env, -1, &r);
	pt_show("apply", &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	/* The leaf says localhost / 127.0.0.1: another name must not be served silently. */
	expect_usage("--dns", "audit-pg.internal", "--rotate-leaf", NULL);
	expect_usage("--ip", "127.0.0.2", "does not match --ip 127.0.0.2", NULL);
}

static void test_chown_not_permitted(void **state)
{
	static struct pt_snap before, after;
	const char *args[] = {PT_BOX_ARGS, "--container", "cz-audit-pg", "--hba-path",
			      nobody_hba,  "--cert-dir",  nobody_tls,    "--skip-verify",
			      "--apply",   NULL};
	struct pt_run r;

	char dir[] = "/tmp/czpg-czctl-XXXXXX", copy[64], cmd[4200];
	const char *orig = getenv("CZCTL");

	(void)state;
	/*
	 * The build tree may sit where `nobody` cannot enter (a checkout under
	 * /root): run a copy of czctl from a world-readable directory.
	 */
	assert_non_null(orig);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(copy, sizeof(copy), "%s/czctl", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0755 '%s'", orig, copy, copy);
	assert_int_equal(system(cmd), 0);
	snapshot(&before);
	setenv("CZCTL", copy, 1);
	pt_czctl(args, NULL, 65534, 65534, NULL, NULL, &r);
	setenv("CZCTL", orig, 1);
	unlink(copy);
	rmdir(dir);
	printf("as nobody -> exit %d: %s", r.rc, r.err);
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "not permitted to give server.key to the database user "
				      "(uid 999 gid 999)"));
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
}

static int setup(void **state)
{
	static const char conf[] = "port = 5432\n";
	static const char inc[] = "include_dir = 'conf.d'\n";
	char d[600];
	FILE *f;

	(void)state;
	f = fopen(nopg, "w");
	if (f == NULL || fwrite(conf, 1, sizeof(conf) - 1, f) != sizeof(conf) - 1)
		return -1;
	fclose(f);
	/* A directory the unprivileged user owns, with its own config files. */
	if (mkdir(nobody_dir, 0755) < 0 || chown(nobody_dir, 65534, 65534) < 0)
		return -1;
	snprintf(d, sizeof(d), "%s/conf.d", nobody_dir);
	if (mkdir(d, 0755) < 0 || chown(d, 65534, 65534) < 0)
		return -1;
	f = fopen(nobody_conf, "w");
	if (f == NULL || fwrite(inc, 1, sizeof(inc) - 1, f) != sizeof(inc) - 1)
		return -1;
	fclose(f);
	f = fopen(nobody_hba, "w");
	if (f == NULL || fputs("local all all trust\n", f) < 0)
		return -1;
	fclose(f);
	if (chown(nobody_conf, 65534, 65534) < 0 || chown(nobody_hba, 65534, 65534) < 0)
		return -1;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_values),          cmocka_unit_test(test_bad_paths),
	    cmocka_unit_test(test_missing_password),    cmocka_unit_test(test_leaf_name_mismatch),
	    cmocka_unit_test(test_chown_not_permitted),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(export_ca, sizeof(export_ca), "%s/app/ca.crt", sb.dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", sb.data);
	snprintf(nopg, sizeof(nopg), "%s/no-include.conf", sb.dir);
	snprintf(nobody_dir, sizeof(nobody_dir), "%s/unprivileged", sb.dir);
	snprintf(nobody_hba, sizeof(nobody_hba), "%s/pg_hba.conf", nobody_dir);
	snprintf(nobody_conf, sizeof(nobody_conf), "%s/postgresql.conf", nobody_dir);
	snprintf(nobody_tls, sizeof(nobody_tls), "%s/tls", nobody_dir);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	return cmocka_run_group_tests(tests, setup, NULL);
}
