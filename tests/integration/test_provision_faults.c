/*
 * test_provision_faults.c - provision killed (SIGKILL) at every step that
 * changes the file system, in four applies: a first transition, a harden, a
 * --rotate-leaf and a --force; then the same steps failed (EIO) instead.
 * The steps come from the fault hook of czpg/fsutil.h: a traced run lists
 * them (CZPG_TEST_FS_TRACE), then one run per step dies or fails just
 * before it (CZPG_TEST_FS_FAULT=N:kill / N:fail).
 *
 * After every point, the promise of docs/provision.md ("Commit order"):
 *   - a temporary file holding a key is readable by its owner alone;
 *   - `status` reports the unfinished run when its journal is there;
 *   - `pg_ctl restart` succeeds: the files on disk are a configuration
 *     PostgreSQL accepts;
 *   - a plain re-run (the mode, without --rotate-leaf or --force) exits 0,
 *     saying it rolled the interrupted run back or finished it;
 *   - verify-full passes with the bundle clients were given (the export) and
 *     with ca-bundle.crt;
 *   - no temporary file and no journal remain;
 *   - no CA clients may still trust is lost: the CA of before is in the
 *     export and ca-bundle.crt, and is ca.crt or ca-previous.crt, and ca.key
 *     is the key of ca.crt.
 *
 * Each point starts from the same state: the files saved after the setup of
 * the mode are put back and the server restarted on them.  The table of
 * every point goes to the test log (docs/provision.md has it).
 *
 * Killing is run against every PostgreSQL version: whether the server
 * restarts on what a kill leaves is the server's answer.  Failing runs
 * czctl's own error paths, the same for every version, so it runs against
 * the host's PostgreSQL (15) only -- or everywhere with CZ_PROVISION_FAULTS=all
 * -- which keeps the suite within CI's time (docs/provision.md gives the times).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "czpg/pki.h"
#include "czpg/provision.h"
#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[400], export_ca[600], export_dir[512], bundle[512], hba[512], confd[512];
static char pwenv[256], trace[512];

/* The modes, each from its own saved state. */
struct mode {
	const char *name;  /* as the table says it */
	const char *hba;   /* --mode */
	const char *extra; /* --rotate-leaf, --force, or NULL */
	const char *state; /* the saved state it starts from */
};

static const struct mode modes[] = {
    {"transition (first apply)", "transition", NULL, "fresh"},
    {"harden", "harden", NULL, "transition"},
    {"--rotate-leaf", "harden", "--rotate-leaf", "harden"},
    {"--force", "harden", "--force", "harden"},
};

/* One line of the table per mode and action. */
struct tally {
	int points, killed, rolled_back, finished, untouched, restarted, reran, verified, clean,
	    ca_kept;
	double secs;
};

static void provision(const char *hba_mode, const char *extra, const char *fault, bool traced,
		      struct pt_run *r)
{
	char fault_env[64], trace_env[600];
	const char *args[] = {PT_BOX_ARGS, "--pgdata",    sb.data,   "--cert-dir",
			      tls_dir,     "--export-ca", export_ca, "--verify-dbname",
			      sb.db,       "--mode",      hba_mode,  "--apply",
			      extra,       NULL};
	const char *env[4] = {pwenv, NULL, NULL, NULL};
	int n = 1;

	if (fault != NULL) {
		snprintf(fault_env, sizeof(fault_env), "%s=%s", CZPG_FS_FAULT_ENV, fault);
		env[n++] = fault_env;
	}
	if (traced) {
		unlink(trace);
		snprintf(trace_env, sizeof(trace_env), "%s=%s", CZPG_FS_TRACE_ENV, trace);
		env[n++] = trace_env;
	}
	pt_czctl(args, env, -1, -1, NULL, NULL, r);
}

/* The files provision manages, saved under sb.dir/state-<tag> (cp -a keeps links and owners). */
static void save_state(const char *tag)
{
	pt_sh("set -e; s='%s/state-%s'; rm -rf \"$s\"; mkdir -p \"$s\"; "
	      "if [ -d '%s' ]; then cp -a '%s' \"$s/certs\"; fi; "
	      "if [ -e '%s/cz-tls.conf' ]; then cp -a '%s/cz-tls.conf' \"$s/\"; fi; "
	      "cp -a '%s' \"$s/pg_hba.conf\"; "
	      "if [ -e '%s' ]; then cp -a '%s' \"$s/export\"; fi",
	      sb.dir, tag, tls_dir, tls_dir, confd, confd, hba, export_ca, export_ca);
}

/* Back to a saved state, and the server restarted on it (which must work too). */
static void restore_state(const char *tag)
{
	pt_sh("set -e; s='%s/state-%s'; rm -rf '%s' '%s'; rm -f '%s/cz-tls.conf'; "
	      "if [ -d \"$s/certs\" ]; then cp -a \"$s/certs\" '%s'; fi; "
	      "if [ -e \"$s/cz-tls.conf\" ]; then cp -a \"$s/cz-tls.conf\" '%s/'; fi; "
	      "cp -a \"$s/pg_hba.conf\" '%s'; "
	      "if [ -e \"$s/export\" ]; then mkdir -p '%s' && cp -a \"$s/export\" '%s'; fi",
	      sb.dir, tag, tls_dir, export_dir, confd, tls_dir, confd, hba, export_dir, export_ca);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
}

/* The steps of one apply from the saved state, as the fault hook numbers them. */
static int trace_steps(const struct mode *m, char ops[][160], int max)
{
	struct pt_run r;
	char *t, *line, *save = NULL;
	int n = 0;

	restore_state(m->state);
	provision(m->hba, m->extra, NULL, true, &r);
	if (r.rc != 0)
		pt_show(m->name, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	t = pt_slurp(trace);
	for (line = strtok_r(t, "\n", &save); line != NULL && n < max;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *sp = strchr(line, ' ');

		snprintf(ops[n++], sizeof(ops[0]), "%s", sp != NULL ? sp + 1 : line);
	}
	free(t);
	return n;
}

/*
 * Every temporary file an interrupted run left holding a key is its owner's
 * alone (a temporary symbolic link for the stable name server.key holds no key).
 */
static void assert_key_temps_private(void)
{
	DIR *d = opendir(tls_dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char p[900];
		struct stat st;

		if (de->d_name[0] != '.' || strstr(de->d_name, ".tmp-") == NULL ||
		    strstr(de->d_name, ".key") == NULL)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tls_dir, de->d_name);
		assert_int_equal(lstat(p, &st), 0);
		if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0)
			fail_msg("%s holds a key and has mode %04o", p,
				 (unsigned)(st.st_mode & 07777));
	}
	if (d != NULL)
		closedir(d);
}

static X509 *load_cert(const char *path)
{
	X509 *x = NULL;

	assert_int_equal(czpg_pki_load_cert_file(path, &x, NULL, 0), 0);
	return x;
}

static bool bundle_has(const char *path, X509 *ca)
{
	STACK_OF(X509) *sk = NULL;
	bool found = false;
	int i;

	if (czpg_pki_load_certs_file(path, &sk, NULL, 0) < 0)
		return false;
	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), ca) == 0)
			found = true;
	sk_X509_pop_free(sk, X509_free);
	return found;
}

/* The CA of before (old) is still trusted where clients look, and ca.key is ca.crt's. */
static bool ca_kept(X509 *old)
{
	char p[600];
	X509 *cur, *prev = NULL;
	EVP_PKEY *key = NULL;
	bool ok;

	snprintf(p, sizeof(p), "%s/ca.crt", tls_dir);
	cur = load_cert(p);
	snprintf(p, sizeof(p), "%s/ca-previous.crt", tls_dir);
	if (access(p, F_OK) == 0)
		prev = load_cert(p);
	snprintf(p, sizeof(p), "%s/ca.key", tls_dir);
	ok = czpg_pki_load_key_file(p, &key, NULL, 0) == 0 &&
	     czpg_pki_check_key_match(cur, key, NULL, 0) == 0 && bundle_has(bundle, old) &&
	     bundle_has(export_ca, old) &&
	     (X509_cmp(cur, old) == 0 || (prev != NULL && X509_cmp(prev, old) == 0));
	X509_free(cur);
	X509_free(prev);
	EVP_PKEY_free(key);
	return ok;
}

static bool no_temps_left(void)
{
	char t[4096];
	const char *dirs[] = {tls_dir, confd, sb.data, export_dir};
	size_t i;
	bool clean = true;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		pt_temps_in(dirs[i], t, sizeof(t));
		if (t[0] != '\0') {
			printf("left behind: %s\n", t);
			clean = false;
		}
	}
	return clean;
}

/* One fault point: inject, then every check of the file comment. */
static void one_point(const struct mode *m, int step, const char *op, const char *action,
		      X509 *old_ca, struct tally *t)
{
	char fault[32], journal[600];
	const char *sargs[] = {"status", "--cert-dir", tls_dir, NULL};
	struct pt_run r, st, again;
	bool had_journal, rolled, finished, restart_ok, verified, clean, kept;
	PGconn *c;

	restore_state(m->state);
	snprintf(fault, sizeof(fault), "%d:%s", step, action);
	provision(m->hba, m->extra, fault, false, &r);
	t->points++;
	if (strcmp(action, "kill") == 0) {
		if (r.sig != SIGKILL)
			pt_show(fault, &r);
		assert_int_equal(r.sig, SIGKILL);
		t->killed++;
	} else if (r.rc == 0) {
		/* a failure after the confirm is reported, never silently dropped */
		pt_show(fault, &r);
		fail_msg("step %d failed but the run exited 0", step);
	}
	pt_run_free(&r);
	assert_key_temps_private();
	snprintf(journal, sizeof(journal), "%s/%s", tls_dir, CZPG_PROVISION_JOURNAL_FILE);
	had_journal = access(journal, F_OK) == 0;
	if (had_journal) {
		pt_czctl(sargs, NULL, -1, -1, NULL, NULL, &st);
		if (strstr(st.out, "[FAIL] provision_run: the provision run of pid") == NULL)
			pt_show("status", &st);
		assert_non_null(strstr(st.out, "[FAIL] provision_run: the provision run of pid"));
		assert_non_null(strstr(st.out, "was interrupted"));
		pt_run_free(&st);
	}
	restart_ok = czpg_sandbox_restart(&sb) == 0;
	if (!restart_ok)
		printf("step %d (%s %s): pg_ctl restart FAILED\n", step, action, op);
	assert_true(restart_ok);
	t->restarted++;
	provision(m->hba, NULL, NULL, false, &again);
	if (again.rc != 0)
		pt_show("plain re-run", &again);
	assert_int_equal(again.rc, 0);
	t->reran++;
	rolled = strstr(again.out, "[INFO] recovery: rolled back") != NULL;
	finished = strstr(again.out, "[INFO] recovery: finished") != NULL;
	assert_true(rolled || finished || !had_journal);
	if (rolled)
		t->rolled_back++;
	else if (finished)
		t->finished++;
	else
		t->untouched++;
	pt_run_free(&again);
	c = pt_connect(&sb, "localhost", "verify-full", export_ca);
	verified = PQstatus(c) == CONNECTION_OK && PQsslInUse(c) == 1;
	if (!verified)
		printf("verify-full with the export: %s", PQerrorMessage(c));
	PQfinish(c);
	c = pt_connect(&sb, "127.0.0.1", "verify-full", bundle);
	verified = verified && PQstatus(c) == CONNECTION_OK;
	PQfinish(c);
	assert_true(verified);
	t->verified++;
	clean = no_temps_left() && access(journal, F_OK) != 0;
	assert_true(clean);
	t->clean++;
	kept = old_ca == NULL || ca_kept(old_ca);
	assert_true(kept);
	t->ca_kept++;
	printf("  %-4s %3d %-62.62s journal %-3s -> %-11s restart ok, re-run 0, verify-full ok, no "
	       "temporary file, CA kept\n",
	       action, step, op, had_journal ? "yes" : "no",
	       rolled     ? "rolled back"
	       : finished ? "finished"
			  : "nothing");
	fflush(stdout);
}

static void print_tally(const char *mode, const char *action, int steps, const struct tally *t)
{
	printf("| %-24s | %-4s | %3d | %3d | %3d | %3d | %3d/%-3d | %3d/%-3d | %3d/%-3d | %3d/%-3d "
	       "| %3d/%-3d | %5.1f s |\n",
	       mode, action, steps, t->untouched, t->rolled_back, t->finished, t->restarted,
	       t->points, t->reran, t->points, t->verified, t->points, t->clean, t->points,
	       t->ca_kept, t->points, t->secs);
}

static void run_mode(const struct mode *m, const char *action, struct tally *t, int *nsteps)
{
	static char ops[256][160];
	char p[600];
	X509 *old_ca = NULL;
	double t0 = pt_now();
	int n, i;

	memset(t, 0, sizeof(*t));
	n = trace_steps(m, ops, 256);
	*nsteps = n;
	printf("%s, %s at each of its %d steps:\n", m->name, action, n);
	restore_state(m->state);
	snprintf(p, sizeof(p), "%s/ca.crt", tls_dir);
	if (access(p, F_OK) == 0)
		old_ca = load_cert(p);
	for (i = 1; i <= n; i++)
		one_point(m, i, ops[i - 1], action, old_ca, t);
	X509_free(old_ca);
	t->secs = pt_now() - t0;
}

static void test_every_fault_point(void **state)
{
	struct tally tallies[2][sizeof(modes) / sizeof(modes[0])];
	int steps[sizeof(modes) / sizeof(modes[0])];
	static const char *const actions[] = {"kill", "fail"};
	const char *which = getenv("CZ_PROVISION_FAULTS");
	size_t nactions = sb.version == 15 || (which != NULL && strcmp(which, "all") == 0) ? 2 : 1;
	struct pt_run r;
	size_t a, i;
	double t0 = pt_now();

	(void)state;
	/* The states the modes start from: plaintext, transition, harden. */
	assert_int_equal(czpg_sandbox_set_hba(&sb, PT_BASE_HBA), 0);
	save_state("fresh");
	provision("transition", NULL, NULL, false, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	save_state("transition");
	provision("harden", NULL, NULL, false, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	save_state("harden");
	for (a = 0; a < nactions; a++)
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			run_mode(&modes[i], actions[a], &tallies[a][i], &steps[i]);

	printf("\n| mode | fault | steps | before the journal | rolled back | finished | "
	       "restart | re-run exit 0 | verify-full | no temporary file | CA kept | time |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (a = 0; a < nactions; a++)
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			print_tally(modes[i].name, actions[a], steps[i], &tallies[a][i]);
	printf("PostgreSQL %d, %.0f s in all\n", sb.version, pt_now() - t0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_fault_point),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(export_dir, sizeof(export_dir), "%s/app", sb.dir);
	snprintf(export_ca, sizeof(export_ca), "%s/ca.crt", export_dir);
	snprintf(bundle, sizeof(bundle), "%s/ca-bundle.crt", tls_dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(trace, sizeof(trace), "%s/fs-trace", sb.dir);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
