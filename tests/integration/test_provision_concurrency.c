/*
 * test_provision_concurrency.c - two applies at once on the same box: the
 * first takes the lock in the cert dir, the second waits for it (a few
 * seconds), then exits 3 saying which pid holds the lock, having changed
 * nothing; the first then finishes, and the box is in its state.
 *
 * To make "at once" certain rather than likely, the first run is stopped by
 * the fault hook (CZPG_TEST_FS_FAULT=1:stop) at its first change, when it
 * holds the lock and has read the box; the second runs in full meanwhile;
 * then the first is continued.  Two pairs: identical transitions, and a
 * transition against a harden.
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
static char tls_dir[400], hba[512], confd[512], pwenv[256], stopenv[64];

static void args_for(const char *mode, const char **args)
{
	const char *a[] = {PT_BOX_ARGS, "--pgdata",        sb.data, "--cert-dir",
			   tls_dir,     "--verify-dbname", sb.db,   "--mode",
			   mode,        "--apply",         NULL};
	size_t i;

	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		args[i] = a[i];
}

static void snapshot(struct pt_snap *s)
{
	pt_snap_box(s, tls_dir, confd, hba, NULL, NULL);
}

/* A plaintext box with an empty cert dir (the first change is then the journal). */
static void plaintext_box(void)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s/cz-tls.conf' && mkdir -p '%s'", tls_dir, confd,
		 tls_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(czpg_sandbox_set_hba(&sb, PT_BASE_HBA), 0);
}

static void race(const char *first_mode, const char *second_mode)
{
	static struct pt_snap before, after;
	const char *a1[24], *a2[24];
	const char *env1[] = {pwenv, stopenv, NULL}, *env2[] = {pwenv, NULL};
	struct pt_proc first;
	struct pt_run r1, r2;
	char want[128], *text, t0[64], t1[64];

	plaintext_box();
	args_for(first_mode, a1);
	args_for(second_mode, a2);
	assert_true(pt_czctl_start(a1, env1, sb.dir, &first));
	assert_true(pt_czctl_wait_stopped(&first, 60));
	snapshot(&before);
	assert_int_equal(
	    czpg_sandbox_query_value(&sb, "SELECT pg_conf_load_time()", t0, sizeof(t0)), 0);

	/* The second run: waits for the lock, gives up, changes nothing. */
	pt_czctl(a2, env2, -1, -1, NULL, NULL, &r2);
	pt_show(second_mode, &r2);
	assert_int_equal(r2.rc, 3);
	snprintf(want, sizeof(want), "another provision run (pid %ld) holds the lock on ",
		 (long)first.pid);
	assert_non_null(strstr(r2.err, want));
	assert_non_null(strstr(r2.err, "/.cz-provision.lock; waited 5 s; nothing was changed"));
	assert_true(r2.secs >= 4.5);
	assert_string_equal(r2.out, "");
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	assert_int_equal(
	    czpg_sandbox_query_value(&sb, "SELECT pg_conf_load_time()", t1, sizeof(t1)), 0);
	assert_string_equal(t0, t1);
	pt_run_free(&r2);

	/* The first goes on and wins. */
	assert_int_equal(kill(first.pid, SIGCONT), 0);
	pt_czctl_finish(&first, &r1);
	pt_show(first_mode, &r1);
	assert_int_equal(r1.rc, 0);
	assert_non_null(strstr(r1.out, "summary: PASS"));
	pt_run_free(&r1);
	text = pt_slurp(hba);
	snprintf(want, sizeof(want), "# mode: %s;", first_mode);
	assert_non_null(strstr(text, want));
	free(text);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
}

static void test_identical_applies(void **state)
{
	(void)state;
	race("transition", "transition");
}

static void test_transition_against_harden(void **state)
{
	(void)state;
	race("transition", "harden");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identical_applies),
	    cmocka_unit_test(test_transition_against_harden),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	snprintf(stopenv, sizeof(stopenv), "%s=1:stop", CZPG_FS_FAULT_ENV);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
