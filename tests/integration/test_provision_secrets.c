/*
 * test_provision_secrets.c - what a running provision shows of its secrets,
 * and the hints it gives from evidence.
 *
 *   argv      --password PW (and --password=PW) is gone from
 *             /proc/<pid>/cmdline while the run is in the middle of its
 *             work (stopped there by the fault hook), not only at its end;
 *   children  pg_ctl and psql (wrappers in --pg-bin that record their
 *             environment) and docker (the stand-in, which does the same)
 *             get no variable holding "PASSWORD", though czctl got two;
 *   hints     a socket directory that is not the server's names
 *             --socket-dir; a certificate path the server cannot open is
 *             named as the server sees it, with the server's own log line;
 *             server binaries this host cannot run (a chroot's) are noticed
 *             and this host's client tools used instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "czpg/fsutil.h"
#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[400], hba[512], confd[512], pgconf[512], port[16], pwenv[256];

/* argv for a local transition apply, then extra (NULL-terminated), into args. */
static void local_args(const char **args, const char *const *extra)
{
	const char *a[] = {PT_BOX_ARGS,       "--pgdata", sb.data,  "--cert-dir", tls_dir,
			   "--verify-dbname", sb.db,      "--mode", "transition", "--apply"};
	size_t i, n = 0;

	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		args[n++] = a[i];
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
}

static void plaintext_box(void)
{
	pt_sh("rm -rf '%s' '%s/cz-tls.conf' && mkdir -p '%s'", tls_dir, confd, tls_dir);
	assert_int_equal(czpg_sandbox_set_hba(&sb, PT_BASE_HBA), 0);
}

/* /proc/<pid>/cmdline with its NULs as spaces. */
static void cmdline_of(pid_t pid, char *out, size_t outlen)
{
	char path[64];
	int fd;
	ssize_t n, i;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, out, outlen - 1);
	close(fd);
	assert_true(n > 0);
	for (i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = ' ';
	out[n] = '\0';
}

static void password_hidden(const char *const *flag)
{
	const char *args[48];
	char stop[64], cmd[8192];
	const char *env[] = {stop, NULL};
	struct pt_proc p;
	struct pt_run r;

	plaintext_box();
	local_args(args, flag);
	snprintf(stop, sizeof(stop), "%s=1:stop", CZPG_FS_FAULT_ENV);
	assert_true(pt_czctl_start(args, env, sb.dir, &p));
	/* Stopped at its first change: the lock taken, the box read, the plan made. */
	assert_true(pt_czctl_wait_stopped(&p, 60));
	cmdline_of(p.pid, cmd, sizeof(cmd));
	printf("/proc/%ld/cmdline in the middle of the run: %s\n", (long)p.pid, cmd);
	assert_non_null(strstr(cmd, "provision"));
	assert_non_null(strstr(cmd, "--pa"));
	assert_null(strstr(cmd, sb.password));
	assert_int_equal(kill(p.pid, SIGCONT), 0);
	pt_czctl_finish(&p, &r);
	pt_show("provision --password", &r);
	/* The password reached self-verify all the same. */
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "[PASS] self-verify"));
	pt_run_free(&r);
}

static void test_password_not_in_cmdline(void **state)
{
	const char *separate[] = {"--password", sb.password, NULL};
	char joined[128], abbreviated[128];
	const char *one[] = {joined, NULL}, *abbr[] = {abbreviated, NULL};

	(void)state;
	snprintf(joined, sizeof(joined), "--password=%s", sb.password);
	snprintf(abbreviated, sizeof(abbreviated), "--passw=%s", sb.password);
	password_hidden(separate);
	password_hidden(one);
	password_hidden(abbr);
}

/* Wrappers of the host's pg_ctl and psql that record their environment's password names. */
static void make_wrappers(const char *dir, const char *log)
{
	static const char *const tools[] = {"pg_ctl", "psql"};
	size_t i;

	pt_sh("rm -rf '%s' && mkdir -p '%s' && : > '%s' && chmod 0666 '%s'", dir, dir, log, log);
	for (i = 0; i < 2; i++) {
		char path[700];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, tools[i]);
		f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f,
			"#!/bin/sh\n"
			"{ echo \"--- %s\"; env | sed -n "
			"'s/^\\([A-Za-z_0-9]*PASSWORD[A-Za-z_0-9]*\\)=.*/\\1/p'; } >> '%s'\n"
			"exec '%s/%s' \"$@\"\n",
			tools[i], log, sb.pgbin, tools[i]);
		fclose(f);
		assert_int_equal(chmod(path, 0755), 0);
	}
}

/* The names recorded in log other than the "--- tool" lines; asserts a tool ran at all. */
static void assert_no_password_vars(const char *log, const char *tool)
{
	char *text = pt_slurp(log), *line, *save = NULL, want[64];

	printf("--- what the children saw (password variable names):\n%s", text);
	snprintf(want, sizeof(want), "--- %s", tool);
	assert_non_null(strstr(text, want));
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "--- ", 4) != 0)
			fail_msg("a child got %s", line);
	free(text);
}

static void test_no_password_in_children(void **state)
{
	char wrap[600], log[700], pathenv[4200], logenv[800], dlogenv[800];
	const char *extra[] = {"--pg-bin", wrap, NULL};
	const char *env[] = {pwenv, "PGPASSWORD=not-for-children", NULL};
	const char *args[48];
	struct pt_run r;

	(void)state;
	/* A server on this box: pg_ctl and psql. */
	plaintext_box();
	snprintf(wrap, sizeof(wrap), "%s/wrapbin", sb.dir);
	snprintf(log, sizeof(log), "%s/children.env", sb.dir);
	make_wrappers(wrap, log);
	local_args(args, extra);
	pt_czctl(args, env, -1, -1, NULL, NULL, &r);
	pt_show("provision through wrapped pg_ctl and psql", &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	assert_no_password_vars(log, "pg_ctl");
	assert_no_password_vars(log, "psql");

	/* A server in a container: docker. */
	plaintext_box();
	assert_true(pt_fake_docker(&sb, pathenv, sizeof(pathenv), logenv, sizeof(logenv)));
	pt_sh(": > '%s'", log);
	snprintf(dlogenv, sizeof(dlogenv), "CZ_FAKE_DOCKER_ENV_LOG=%s", log);
	{
		char uid[24], gid[24];
		const char *cargs[40];
		int n = pt_container_args(cargs, &sb, "cz-audit-pg", hba, pgconf, tls_dir, port);
		const char *cenv[] = {
		    pwenv,   "PGPASSWORD=not-for-children",          pathenv, logenv,
		    dlogenv, "CZ_FAKE_DOCKER_CONTAINER=cz-audit-pg", NULL};

		snprintf(uid, sizeof(uid), "%ld", sb.owner_uid);
		snprintf(gid, sizeof(gid), "%ld", sb.owner_gid);
		cargs[n++] = "--db-uid";
		cargs[n++] = uid;
		cargs[n++] = "--db-gid";
		cargs[n++] = gid;
		cargs[n++] = "--apply";
		cargs[n] = NULL;
		pt_czctl(cargs, cenv, -1, -1, NULL, NULL, &r);
		pt_show("provision through docker", &r);
		assert_int_equal(r.rc, 0);
		pt_run_free(&r);
	}
	assert_no_password_vars(log, "docker kill");
	assert_no_password_vars(log, "docker exec");
}

/* A local transition apply on a plaintext box, with extra flags. */
static void run_local(const char *const *extra, const char *title, struct pt_run *r)
{
	const char *env[] = {pwenv, NULL};
	const char *args[48];

	plaintext_box();
	local_args(args, extra);
	pt_czctl(args, env, -1, -1, NULL, NULL, r);
	pt_show(title, r);
}

static void test_socket_dir_hint(void **state)
{
	const char *extra[] = {"--socket-dir", "/nonexistent/sock", NULL};
	struct pt_run r;

	(void)state;
	run_local(extra, "provision --socket-dir /nonexistent/sock", &r);
	assert_int_equal(r.rc, 3);
	assert_non_null(strstr(r.err, "the server's socket is not in /nonexistent/sock: pass "
				      "--socket-dir"));
	assert_non_null(strstr(r.err, "nothing was written"));
	pt_run_free(&r);
}

static void test_unopenable_certificate_hint(void **state)
{
	const char *extra[] = {"--server-cert-dir", "/nonexistent/cz-tls", NULL};
	struct pt_run r;

	(void)state;
	run_local(extra, "provision --server-cert-dir /nonexistent/cz-tls", &r);
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.out, "[FAIL] reload: "));
	/* The path as the server sees it, and the server's own words -- not the key's owner. */
	assert_non_null(strstr(r.out, "the server cannot open a file at the path cz-tls.conf gives "
				      "it (/nonexistent/cz-tls/server-"));
	assert_non_null(strstr(r.out, "its log: \""));
	assert_non_null(strstr(r.out, "could not load server certificate file"));
	assert_null(strstr(r.out, "owned by the database user"));
	assert_non_null(strstr(r.out, "rollback: "));
	pt_run_free(&r);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
}

static void test_server_binaries_this_host_cannot_run(void **state)
{
	const char *server_bin = getenv("CZ_PG_SERVER_BIN");
	char bin[700];
	const char *extra[] = {"--pg-bin", bin, NULL};
	struct pt_run r;

	(void)state;
	if (sb.server_root[0] == '\0' || server_bin == NULL) {
		printf("the server's own binaries run on this host (PostgreSQL %d): nothing to "
		       "notice\n",
		       sb.version);
		skip();
	}
	snprintf(bin, sizeof(bin), "%s%s", sb.server_root, server_bin);
	run_local(extra, "provision --pg-bin <the chroot's binaries>", &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "/pg_ctl does not run on this host: "));
	assert_non_null(strstr(r.out, "using this host's client tools in "));
	pt_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_password_not_in_cmdline),
	    cmocka_unit_test(test_no_password_in_children),
	    cmocka_unit_test(test_socket_dir_hint),
	    cmocka_unit_test(test_unopenable_certificate_hint),
	    cmocka_unit_test(test_server_binaries_this_host_cannot_run),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", sb.data);
	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
