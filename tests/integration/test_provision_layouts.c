/*
 * test_provision_layouts.c - the configuration layouts provision meets on
 * real boxes, each against the real server:
 *
 *   symbolic links  pg_hba.conf, postgresql.conf, conf.d and the cert dir
 *                   are links (Debian keeps the configuration elsewhere):
 *                   provision writes through them, keeps the links, and the
 *                   dry run says so;
 *   malformed includes  `include_dir = conf.d` (unquoted) and its kin, which
 *                   the server itself refuses (its pg_file_settings has the
 *                   error): provision refuses them too, quoting the line,
 *                   also on a box that already has TLS;
 *   no include_dir  the official image's postgresql.conf: without
 *                   --add-include-dir provision stops with the commands in
 *                   the safe order; with it, it creates conf.d (the database
 *                   user's, 0700) and then adds the line; the server
 *                   restarts, and a re-run has nothing to change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char tls_dir[400], hba[512], confd[512], pgconf[512], pwenv[256];

static void provision(const char *const *extra, struct pt_run *r)
{
	const char *args[48] = {PT_BOX_ARGS, "--pgdata",        sb.data, "--cert-dir",
				tls_dir,     "--verify-dbname", sb.db};
	const char *env[] = {pwenv, NULL};
	int n = 15;

	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	pt_czctl(args, env, -1, -1, NULL, NULL, r);
	pt_show(n > 15 ? extra[0] : "provision", r);
}

static bool is_link(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static void snapshot(struct pt_snap *s)
{
	pt_snap_box(s, tls_dir, confd, hba, pgconf, NULL);
}

/* The box of the other tests: TLS off, no cert dir, the sandbox's own files. */
static void plaintext_box(void)
{
	pt_sh("rm -rf '%s' && rm -f '%s/cz-tls.conf'", tls_dir, confd);
	assert_int_equal(czpg_sandbox_set_hba(&sb, PT_BASE_HBA), 0);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
}

static void test_symlinked_files(void **state)
{
	static const char *const dry[] = {"--mode", "transition", NULL};
	static const char *const transition[] = {"--mode", "transition", "--apply", NULL};
	static const char *const harden[] = {"--mode", "harden", "--apply", NULL};
	char etc[512], real_certs[512], want[4096], *text;
	struct pt_run r;
	PGconn *c;

	(void)state;
	plaintext_box();
	/* Like Debian: the files live elsewhere; relative links work for host and server alike. */
	snprintf(etc, sizeof(etc), "%s/etc", sb.dir);
	snprintf(real_certs, sizeof(real_certs), "%s/real-certs", sb.dir);
	pt_sh("set -e; mkdir -p '%s' '%s'; cd '%s'; mv pg_hba.conf postgresql.conf conf.d '%s/'; "
	      "ln -s ../etc/pg_hba.conf pg_hba.conf; ln -s ../etc/postgresql.conf postgresql.conf; "
	      "ln -s ../etc/conf.d conf.d; cd '%s'; ln -s real-certs cz-tls",
	      etc, real_certs, sb.data, etc, sb.dir);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);

	provision(dry, &r);
	assert_int_equal(r.rc, 0);
	snprintf(want, sizeof(want),
		 "note: %s is a symbolic link to %s/pg_hba.conf: the file it "
		 "names is rewritten, the link is kept",
		 hba, etc);
	assert_non_null(strstr(r.out, want));
	snprintf(want, sizeof(want), "note: the conf dir %s is a symbolic link to %s/conf.d", confd,
		 etc);
	assert_non_null(strstr(r.out, want));
	snprintf(want, sizeof(want), "note: the cert dir %s is a symbolic link to %s", tls_dir,
		 real_certs);
	assert_non_null(strstr(r.out, want));
	pt_run_free(&r);

	provision(transition, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	provision(harden, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "plaintext refused"));
	pt_run_free(&r);
	/* The links are links still; what they name holds the change. */
	assert_true(is_link(hba));
	assert_true(is_link(pgconf));
	assert_true(is_link(confd));
	assert_true(is_link(tls_dir));
	snprintf(want, sizeof(want), "%s/pg_hba.conf", etc);
	text = pt_slurp(want);
	assert_non_null(strstr(text, "# mode: harden;"));
	free(text);
	snprintf(want, sizeof(want), "%s/conf.d/cz-tls.conf", etc);
	text = pt_slurp(want);
	assert_non_null(strstr(text, "ssl = on"));
	free(text);
	snprintf(want, sizeof(want), "%s/server.crt", real_certs);
	assert_true(is_link(want));
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
	snprintf(want, sizeof(want), "%s/ca-bundle.crt", tls_dir);
	c = pt_connect(&sb, "localhost", "verify-full", want);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQfinish(c);

	/* Back to the plain layout for the other tests. */
	pt_sh("set -e; cd '%s'; rm pg_hba.conf postgresql.conf conf.d; mv '%s/pg_hba.conf' "
	      "'%s/postgresql.conf' '%s/conf.d' .; rm -f '%s'; rm -rf '%s'",
	      sb.data, etc, etc, etc, tls_dir, real_certs);
	plaintext_box();
}

/* The server's own view: does pg_file_settings report an error on that line? */
static bool server_refuses_line(unsigned line)
{
	char sql[256], v[64];

	snprintf(
	    sql, sizeof(sql),
	    "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL AND sourceline = %u",
	    line);
	assert_int_equal(czpg_sandbox_query_value(&sb, sql, v, sizeof(v)), 0);
	return strcmp(v, "0") != 0;
}

static unsigned lines_of(const char *text)
{
	unsigned n = 0;

	for (; *text != '\0'; text++)
		if (*text == '\n')
			n++;
	return n;
}

static void test_malformed_includes(void **state)
{
	static const char *const forms[] = {
	    "include_dir = conf.d",
	    "include = tail.conf",
	    "include_if_exists = extra.conf",
	    "include_dir = /etc/postgresql/conf.d",
	};
	static const char *const dry[] = {"--mode", "transition", NULL};
	static const char *const apply[] = {"--mode", "transition", "--apply", NULL};
	static struct pt_snap before, after;
	char *orig = pt_slurp(pgconf), *bad, want[256];
	struct pt_run r;
	size_t i;
	unsigned line = lines_of(orig) + 1;

	(void)state;
	plaintext_box();
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		assert_true(asprintf(&bad, "%s%s\n", orig, forms[i]) > 0);
		assert_int_equal(
		    czpg_sandbox_write_file(&sb, "postgresql.conf", bad, strlen(bad), 0600), 0);
		/* PostgreSQL itself says the file has an error there... */
		assert_true(server_refuses_line(line));
		/* ...and so does provision, naming the line: never "included". */
		provision(dry, &r);
		assert_int_equal(r.rc, 2);
		snprintf(want, sizeof(want), "syntax error at line %u near ", line);
		assert_non_null(strstr(r.err, want));
		snprintf(want, sizeof(want), "`%s`; PostgreSQL refuses this file", forms[i]);
		assert_non_null(strstr(r.err, want));
		assert_non_null(strstr(r.err, "quote the value"));
		pt_run_free(&r);
		free(bad);
	}

	/* A box with TLS already: the malformed line makes the apply exit 2, changing nothing. */
	assert_int_equal(czpg_sandbox_write_file(&sb, "postgresql.conf", orig, strlen(orig), 0600),
			 0);
	provision(apply, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	assert_true(asprintf(&bad, "%s%s\n", orig, forms[0]) > 0);
	assert_int_equal(czpg_sandbox_write_file(&sb, "postgresql.conf", bad, strlen(bad), 0600),
			 0);
	snapshot(&before);
	provision(apply, &r);
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "`include_dir = conf.d`"));
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	free(bad);
	assert_int_equal(czpg_sandbox_write_file(&sb, "postgresql.conf", orig, strlen(orig), 0600),
			 0);
	free(orig);
	plaintext_box();
}

static void test_image_layout_without_include_dir(void **state)
{
	static const char *const dry[] = {"--mode", "transition", NULL};
	static const char *const no_flag[] = {"--mode", "transition", "--apply", NULL};
	static const char *const dry_flag[] = {"--mode", "transition", "--add-include-dir", NULL};
	static const char *const apply_flag[] = {"--mode", "transition", "--add-include-dir",
						 "--apply", NULL};
	static const char *const again[] = {"--mode", "transition", "--apply", NULL};
	static struct pt_snap before, after;
	char *orig = pt_slurp(pgconf), *image, *cut, want[4096], *text;
	struct pt_run r;
	struct stat st;

	(void)state;
	plaintext_box();
	/* The image's postgresql.conf: no include_dir line, and no conf.d. */
	image = strdup(orig);
	cut = strstr(image, "include_dir = 'conf.d'\n");
	assert_non_null(cut);
	memmove(cut, cut + strlen("include_dir = 'conf.d'\n"),
		strlen(cut + strlen("include_dir = 'conf.d'\n")) + 1);
	assert_int_equal(
	    czpg_sandbox_write_file(&sb, "postgresql.conf", image, strlen(image), 0600), 0);
	pt_sh("rm -rf '%s'", confd);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
	snapshot(&before);

	/* Without the flag: the commands, in the order that never breaks a restart. */
	provision(dry, &r);
	assert_int_equal(r.rc, 2);
	snprintf(want, sizeof(want),
		 "install -d -m 0700 -o %ld -g %ld %s  then add this line at the end of %s:  "
		 "include_dir = 'conf.d'  then run again",
		 sb.owner_uid, sb.owner_gid, confd, pgconf);
	assert_non_null(strstr(r.err, want));
	assert_non_null(strstr(r.err, "--add-include-dir"));
	pt_run_free(&r);
	provision(no_flag, &r);
	assert_int_equal(r.rc, 2);
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));
	assert_int_not_equal(access(tls_dir, F_OK), 0);

	/* The dry run with the flag shows both steps, directory first. */
	provision(dry_flag, &r);
	assert_int_equal(r.rc, 0);
	snprintf(want, sizeof(want), "create directory %s (mode 0700, owner %ld:%ld)", confd,
		 sb.owner_uid, sb.owner_gid);
	assert_non_null(strstr(r.out, want));
	assert_non_null(strstr(r.out, "+include_dir = 'conf.d'"));
	assert_non_null(strstr(r.out, "creates the directory first, then adds it"));
	pt_run_free(&r);
	snapshot(&after);
	assert_true(pt_snap_equal(&before, &after));

	provision(apply_flag, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "the conf dir created first"));
	assert_non_null(strstr(r.out, "[PASS] self-verify"));
	pt_run_free(&r);
	assert_int_equal(stat(confd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal((long)st.st_uid, sb.owner_uid);
	text = pt_slurp(pgconf);
	assert_non_null(strstr(text, "# added by czctl postgres tls provision --add-include-dir\n"
				     "include_dir = 'conf.d'\n"));
	free(text);
	/* A (container) restart takes it, and a re-run has nothing to change. */
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
	provision(again, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "summary: PASS, nothing to change"));
	pt_run_free(&r);

	assert_int_equal(czpg_sandbox_write_file(&sb, "postgresql.conf", orig, strlen(orig), 0600),
			 0);
	free(orig);
	free(image);
	plaintext_box();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_symlinked_files),
	    cmocka_unit_test(test_malformed_includes),
	    cmocka_unit_test(test_image_layout_without_include_dir),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", sb.data);
	snprintf(confd, sizeof(confd), "%s/conf.d", sb.data);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", sb.data);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
