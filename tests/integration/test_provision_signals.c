/*
 * test_provision_signals.c - SIGINT, SIGTERM and SIGHUP during an apply.
 *
 * An apply the server rejects is stopped by the fault hook
 * (CZPG_TEST_FS_FAULT=N:stop) at several points -- while it makes the new
 * certificates, just before the commit point, after it, and in the middle of
 * its rollback -- and sent a signal, then a second one, then continued.
 * Before the commit point it rolls back; after it, it finishes (the reload is
 * rejected, so that means rolling back too); either way it exits 128 + the
 * first signal, and the box is exactly as before: same files, pg_ctl restart
 * succeeds, nothing left behind.
 *
 * The rejection is the one the issue saw end in a box that no longer
 * restarts: a server key the server cannot read (the operator's wrong
 * --db-uid).  The server runs "in a container" -- the stand-in docker of
 * tests/tools/fake_docker.sh -- since for a server on this box provision
 * refuses such a --db-uid before writing anything.
 *
 * Then an apply the server accepts, interrupted after its commit point: it
 * finishes first (the server serves the new certificate) and says so.
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
static char tls_dir[400], hba[512], confd[512], pgconf[512], port[16], pwenv[256], trace[512];
static char pathenv[4200], logenv[600], uid[24], gid[24];
static const char *bad_uid = "65534"; /* nobody: not the server's user, not root */

/* A transition through the stand-in docker, its server key for db_uid. */
static void provision_args(const char **args, const char *db_uid)
{
	int n = pt_container_args(args, &sb, "cz-audit-pg", hba, pgconf, tls_dir, port);

	args[n++] = "--db-uid";
	args[n++] = db_uid;
	args[n++] = "--db-gid";
	args[n++] = db_uid == bad_uid ? bad_uid : gid;
	args[n++] = "--mode";
	args[n++] = "transition";
	args[n++] = "--apply";
	args[n] = NULL;
}

static void snapshot(struct pt_snap *s)
{
	pt_snap_box(s, tls_dir, confd, hba, NULL, NULL);
}

/* A plaintext box, its cert dir and lock file there already (the snapshots compare the rest). */
static void plaintext_box(void)
{
	char cmd[2048];

	/* The cert dir and its lock file exist already: the snapshots compare what changes. */
	snprintf(cmd, sizeof(cmd),
		 "rm -rf '%s' '%s/cz-tls.conf' && mkdir -p '%s' && install -m 0600 /dev/null "
		 "'%s/.cz-provision.lock'",
		 tls_dir, confd, tls_dir, tls_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(czpg_sandbox_set_hba(&sb, PT_BASE_HBA), 0);
}

/* The step numbers of a traced rejected apply: the points to stop at. */
struct points {
	int create_cert, before_commit, in_commit, after_commit, in_rollback;
};

static void find_points(struct points *pt)
{
	const char *args[40];
	char trace_env[600], *t, *line, *save = NULL;
	const char *env[] = {pwenv,     pathenv, logenv, "CZ_FAKE_DOCKER_CONTAINER=cz-audit-pg",
			     trace_env, NULL};
	struct pt_run r;
	int n = 0, hba_renames = 0;

	memset(pt, 0, sizeof(*pt));
	plaintext_box();
	provision_args(args, bad_uid);
	unlink(trace);
	snprintf(trace_env, sizeof(trace_env), "%s=%s", CZPG_FS_TRACE_ENV, trace);
	pt_czctl(args, env, -1, -1, NULL, NULL, &r);
	pt_show("traced rejected apply", &r);
	assert_int_equal(r.rc, 1);
	pt_run_free(&r);
	t = pt_slurp(trace);
	for (line = strtok_r(t, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		n++;
		if (pt->create_cert == 0 && strstr(line, " create ") != NULL &&
		    strstr(line, "/cz-tls/server-") != NULL)
			pt->create_cert = n;
		/* the last step before cz-tls.conf is written, and the rename that commits it */
		if (pt->before_commit == 0 && strstr(line, " create ") != NULL &&
		    strstr(line, "/cz-tls.conf") != NULL)
			pt->before_commit = n - 1;
		if (strstr(line, " rename ") != NULL && strstr(line, "/cz-tls.conf") != NULL)
			pt->in_commit = n;
		if (strstr(line, " rename ") != NULL && strstr(line, "/pg_hba.conf") != NULL &&
		    ++hba_renames == 1)
			pt->after_commit = n + 1; /* the directory sync after the commit */
		/* the rollback puts pg_hba.conf back: its second write */
		if (hba_renames == 1 && pt->in_rollback == 0 && strstr(line, " create ") != NULL &&
		    strstr(line, "/pg_hba.conf") != NULL && n > pt->after_commit)
			pt->in_rollback = n;
	}
	free(t);
	printf(
	    "stop points: making a certificate %d, before the commit %d, renaming cz-tls.conf %d, "
	    "after the commit %d, in the rollback %d\n",
	    pt->create_cert, pt->before_commit, pt->in_commit, pt->after_commit, pt->in_rollback);
	assert_true(pt->create_cert > 0 && pt->before_commit > pt->create_cert &&
		    pt->in_commit > pt->before_commit && pt->after_commit > pt->in_commit &&
		    pt->in_rollback > pt->after_commit);
}

static const char *name_of(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
}

/* Stops at step, sends sig then another signal, continues; the apply must end whole. */
static void interrupt_at(int step, int sig, const char *where)
{
	static struct pt_snap before, after;
	const char *args[40];
	char stop[64], want[128], temps[2048];
	const char *env[] = {pwenv, pathenv, logenv, "CZ_FAKE_DOCKER_CONTAINER=cz-audit-pg",
			     stop,  NULL};
	struct pt_proc p;
	struct pt_run r;
	PGconn *app;

	plaintext_box();
	snapshot(&before);
	app = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(app), CONNECTION_OK);
	provision_args(args, bad_uid);
	/* Stopped before step N and every later one: the test goes step by step. */
	snprintf(stop, sizeof(stop), "%s=%d:stop-each", CZPG_FS_FAULT_ENV, step);
	assert_true(pt_czctl_start(args, env, sb.dir, &p));
	assert_true(pt_czctl_wait_stopped(&p, 60));
	assert_int_equal(kill(p.pid, sig), 0);
	assert_int_equal(kill(p.pid, SIGCONT), 0);
	/*
	 * The first signal decides; a second one one step later (an impatient
	 * operator) must change nothing.  Then let it run to its end.
	 */
	if (pt_czctl_wait_stopped(&p, 60)) {
		assert_int_equal(kill(p.pid, sig == SIGTERM ? SIGINT : SIGTERM), 0);
		do
			assert_int_equal(kill(p.pid, SIGCONT), 0);
		while (pt_czctl_wait_stopped(&p, 60));
	}
	pt_czctl_finish(&p, &r);
	printf("=== %s at step %d (%s)\n", name_of(sig), step, where);
	pt_show("interrupted apply", &r);
	assert_int_equal(r.sig, 0);
	assert_int_equal(r.rc, 128 + sig);
	snprintf(want, sizeof(want), "summary: INTERRUPTED by %s (exit %d)", name_of(sig),
		 128 + sig);
	assert_non_null(strstr(r.out, want));
	pt_run_free(&r);
	/* As before: same files, the same connections work, restart works, nothing left. */
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	pt_temps_in(tls_dir, temps, sizeof(temps));
	assert_string_equal(temps, "");
	pt_temps_in(sb.data, temps, sizeof(temps));
	assert_string_equal(temps, "");
	assert_true(pt_query(app, "SELECT 1", want, sizeof(want)));
	PQfinish(app);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
	app = pt_connect(&sb, NULL, "disable", NULL);
	assert_int_equal(PQstatus(app), CONNECTION_OK);
	PQfinish(app);
}

static void test_signals_during_a_rejected_apply(void **state)
{
	struct points pt;

	(void)state;
	find_points(&pt);
	interrupt_at(pt.create_cert, SIGINT, "making the new certificates");
	interrupt_at(pt.before_commit, SIGTERM, "just before the commit point");
	interrupt_at(pt.in_commit, SIGTERM, "renaming cz-tls.conf: the commit point");
	interrupt_at(pt.after_commit, SIGINT, "after the commit point");
	interrupt_at(pt.after_commit, SIGHUP, "after the commit point");
	interrupt_at(pt.in_rollback, SIGTERM, "in the middle of the rollback");
}

/* Accepted, and interrupted after the commit point: finished first, then exit 143. */
static void test_signal_after_commit_finishes(void **state)
{
	const char *args[40];
	char stop[64], trace_env[600], *t, *line, *save = NULL, journal[600];
	const char *env[] = {pwenv, pathenv, logenv, "CZ_FAKE_DOCKER_CONTAINER=cz-audit-pg",
			     stop,  NULL},
		   *tenv[] = {pwenv,     pathenv, logenv, "CZ_FAKE_DOCKER_CONTAINER=cz-audit-pg",
			      trace_env, NULL};
	struct pt_proc p;
	struct pt_run r;
	PGconn *c;
	int n = 0, step = 0;

	(void)state;
	/* The server's own user this time: accepted.  Find the step after the commit. */
	plaintext_box();
	provision_args(args, uid);
	unlink(trace);
	snprintf(trace_env, sizeof(trace_env), "%s=%s", CZPG_FS_TRACE_ENV, trace);
	pt_czctl(args, tenv, -1, -1, NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	t = pt_slurp(trace);
	for (line = strtok_r(t, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		n++;
		if (step == 0 && strstr(line, " rename ") != NULL && strstr(line, "/cz-tls.conf"))
			step = n + 1;
	}
	free(t);
	assert_true(step > 1);
	plaintext_box();
	snprintf(stop, sizeof(stop), "%s=%d:stop", CZPG_FS_FAULT_ENV, step);
	assert_true(pt_czctl_start(args, env, sb.dir, &p));
	assert_true(pt_czctl_wait_stopped(&p, 60));
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	assert_int_equal(kill(p.pid, SIGCONT), 0);
	pt_czctl_finish(&p, &r);
	pt_show("interrupted after the commit point", &r);
	assert_int_equal(r.rc, 143);
	assert_non_null(strstr(r.out, "[PASS] reload: "));
	assert_non_null(strstr(r.out, "[PASS] stable names: "));
	assert_non_null(strstr(r.out, "after the commit point: the change was finished first"));
	assert_null(strstr(r.out, "[PASS] self-verify"));
	pt_run_free(&r);
	snprintf(journal, sizeof(journal), "%s/.cz-provision.journal", tls_dir);
	assert_int_not_equal(access(journal, F_OK), 0);
	snprintf(journal, sizeof(journal), "%s/ca-bundle.crt", tls_dir);
	c = pt_connect(&sb, "localhost", "verify-full", journal);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQfinish(c);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signals_during_a_rejected_apply),
	    cmocka_unit_test(test_signal_after_commit_finishes),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", sb.data);
	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(trace, sizeof(trace), "%s/fs-trace", sb.dir);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	snprintf(uid, sizeof(uid), "%ld", sb.owner_uid);
	snprintf(gid, sizeof(gid), "%ld", sb.owner_gid);
	if (!pt_fake_docker(&sb, pathenv, sizeof(pathenv), logenv, sizeof(logenv)))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
