/*
 * test_verify_readiness.c - `verify --user A --user B ...`: channel-binding
 * readiness of a set of roles, against the real sandbox with TLS on.
 *
 * Each role gets the proof with --channel-binding require; a role is ready
 * only when it passes, and the reason for one that is not comes from what
 * the server did for it.  The sandbox's pg_hba.conf gives each role a
 * different method (trust, md5 with an MD5-stored password, password,
 * scram-sha-256 with an MD5-stored password, scram-sha-256), and a second
 * server certificate signed with Ed25519 shows the certificate reason.
 * What must hold: one line a role with the right reason, a summary line,
 * exit 0 only when every role is ready, and JSON that says the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clirun.h"
#include "sandbox.h"
#include "testcert.h"

#define RUN_LIMIT_MS 90000u

static struct czpg_sandbox sb;
static char tmpdir[512], ca_path[600], ed_ca_path[600], port_str[16];
static char crt[600], key[600], ed_crt[600], ed_key[600];

/* Roles and the pg_hba.conf method each gets (first match wins). */
static const char hba_text[] = "local all all                 trust\n"
			       "host  all cz_trust 127.0.0.1/32 trust\n"
			       "host  all cz_md5   127.0.0.1/32 md5\n"
			       "host  all cz_pw    127.0.0.1/32 password\n"
			       "host  all all      127.0.0.1/32 scram-sha-256\n";

static int group_setup(void **state)
{
	struct czpg_testcert ca = {0}, leaf = {0}, ed_ca = {0}, ed_leaf = {0};
	struct czpg_testcert_opts lo = {.cn = "readiness server", .sans = "IP:127.0.0.1"};
	struct czpg_testcert_opts edo = {.key = CZPG_TESTCERT_ED25519, .cn = "ed25519 CA"};
	struct czpg_testcert_opts edl = {
	    .key = CZPG_TESTCERT_ED25519, .cn = "ed25519 server", .sans = "IP:127.0.0.1"};
	int rc = -1;

	(void)state;
	if (!czpg_sandbox_from_env(&sb) || czpg_testcert_tmpdir(tmpdir, sizeof(tmpdir)) < 0)
		return -1;
	snprintf(port_str, sizeof(port_str), "%d", sb.port);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", tmpdir);
	snprintf(ed_ca_path, sizeof(ed_ca_path), "%s/ed-ca.crt", tmpdir);
	snprintf(crt, sizeof(crt), "%s/server.crt", tmpdir);
	snprintf(key, sizeof(key), "%s/server.key", tmpdir);
	snprintf(ed_crt, sizeof(ed_crt), "%s/ed-server.crt", tmpdir);
	snprintf(ed_key, sizeof(ed_key), "%s/ed-server.key", tmpdir);
	if (czpg_testcert_make_ca(&ca, NULL) < 0 || czpg_testcert_write(&ca, tmpdir, "ca") < 0 ||
	    czpg_testcert_make_leaf(&leaf, &ca, &lo) < 0 ||
	    czpg_testcert_write(&leaf, tmpdir, "server") < 0 ||
	    czpg_testcert_make_ca(&ed_ca, &edo) < 0 ||
	    czpg_testcert_write(&ed_ca, tmpdir, "ed-ca") < 0 ||
	    czpg_testcert_make_leaf(&ed_leaf, &ed_ca, &edl) < 0 ||
	    czpg_testcert_write(&ed_leaf, tmpdir, "ed-server") < 0)
		goto out;
	if (czpg_sandbox_exec(&sb,
			      "SET password_encryption = 'md5'; "
			      "CREATE ROLE cz_md5 LOGIN PASSWORD 'cz-test-pw'; "
			      "CREATE ROLE cz_md5_under_scram LOGIN PASSWORD 'cz-test-pw'") < 0 ||
	    czpg_sandbox_exec(&sb, "SET password_encryption = 'scram-sha-256'; "
				   "CREATE ROLE cz_pw LOGIN PASSWORD 'cz-test-pw'; "
				   "CREATE ROLE cz_ready2 LOGIN PASSWORD 'cz-test-pw'") < 0 ||
	    czpg_sandbox_set_hba(&sb, hba_text) < 0 ||
	    czpg_sandbox_enable_tls(&sb, crt, key, ca_path, "TLSv1.3", NULL) < 0)
		goto out;
	rc = 0;
out:
	czpg_testcert_free(&ed_leaf);
	czpg_testcert_free(&ed_ca);
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&ca);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	if (tmpdir[0] != '\0')
		czpg_testcert_rmdir(tmpdir);
	return 0;
}

/* verify with each role of users (NULL-terminated), the shared password, and extra flags. */
static void readiness(struct czpg_clirun *r, const char *ca, const char *const *users,
		      const char *extra)
{
	const struct czpg_clirun_target t = {"127.0.0.1", sb.port, NULL, sb.db, ca, sb.password};
	const char *args[40];
	size_t k = 0, i;

	for (i = 0; users[i] != NULL && k < 36; i++) {
		args[k++] = "--user";
		args[k++] = users[i];
	}
	if (extra != NULL)
		args[k++] = extra;
	args[k] = NULL;
	assert_int_equal(czpg_clirun_tls(r, tmpdir, "verify", &t, args, RUN_LIMIT_MS), 0);
	assert_true(czpg_clirun_clean(r));
	assert_null(strstr(r->err, sb.password));
	assert_null(strstr(r->out, sb.password));
}

static void assert_role_line(const char *out, const char *tag, const char *role, const char *reason)
{
	char want[300], line[1600];

	snprintf(want, sizeof(want), "[%s] role %s: %s", tag, role, reason);
	if (!czpg_clirun_line(out, want, line, sizeof(line))) {
		print_error("expected a line starting \"%s\"\n", want);
		fail();
	}
}

static void test_every_reason(void **state)
{
	static const char *const users[] = {
	    "cz_test", "cz_trust", "cz_md5", "cz_pw", "cz_md5_under_scram", "cz_ready2", NULL};
	struct czpg_clirun r;

	(void)state;
	readiness(&r, ca_path, users, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_role_line(r.out, "PASS", "cz_test",
			 "ready: SCRAM-SHA-256-PLUS succeeded over TLSv1.3");
	assert_role_line(r.out, "FAIL", "cz_trust",
			 "not ready: the server lets this role in without a password (trust");
	assert_role_line(r.out, "FAIL", "cz_md5",
			 "not ready: the server asks this role for an MD5 password");
	assert_role_line(r.out, "FAIL", "cz_pw",
			 "not ready: the server asks this role for a cleartext password");
	assert_role_line(r.out, "FAIL", "cz_md5_under_scram",
			 "not ready: password authentication failed, so channel binding was not "
			 "shown to work (a wrong password, or one stored as MD5");
	assert_role_line(r.out, "PASS", "cz_ready2", "ready: ");
	assert_true(czpg_clirun_has_line(r.out, "[FAIL] 2 of 6 role(s) ready for "
						"channel_binding=require; not ready: cz_trust, "
						"cz_md5, cz_pw, cz_md5_under_scram"));
	czpg_clirun_free(&r);
}

static void test_all_ready_exits_zero(void **state)
{
	static const char *const users[] = {"cz_test", "cz_ready2", NULL};
	struct czpg_clirun r;

	(void)state;
	readiness(&r, ca_path, users, NULL);
	assert_int_equal(r.exit_code, 0);
	assert_true(
	    czpg_clirun_has_line(r.out, "[PASS] 2 of 2 role(s) ready for channel_binding=require"));
	assert_null(strstr(r.out, "[FAIL]"));
	czpg_clirun_free(&r);

	readiness(&r, ca_path, users, "--json");
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_json_is(r.out, NULL, "result", "PASS"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "ready", "2"));
	assert_non_null(
	    strstr(r.out, "{\"user\":\"cz_ready2\",\"ready\":true,\"reason\":\"ready: "));
	czpg_clirun_free(&r);
}

/* A certificate signed with Ed25519 cannot be channel-bound: the reason says so. */
static void test_ed25519_certificate(void **state)
{
	static const char *const users[] = {"cz_test", "cz_ready2", NULL};
	struct czpg_clirun r;

	(void)state;
	assert_int_equal(czpg_sandbox_enable_tls(&sb, ed_crt, ed_key, ed_ca_path, "TLSv1.3", NULL),
			 0);
	readiness(&r, ed_ca_path, users, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_role_line(r.out, "FAIL", "cz_test",
			 "not ready: the server certificate is signed with ED25519, which gives "
			 "no tls-server-end-point hash (RFC 5929 section 4.1)");
	assert_role_line(r.out, "FAIL", "cz_ready2", "not ready: the server certificate is signed");
	czpg_clirun_free(&r);
	assert_int_equal(czpg_sandbox_enable_tls(&sb, crt, key, ca_path, "TLSv1.3", NULL), 0);
}

static void test_disable_is_a_usage_error(void **state)
{
	static const char *const users[] = {"cz_test", "cz_ready2", NULL};
	const char *args[] = {
	    "postgres", "tls",   "verify", "--host", "127.0.0.1", "--port", port_str,
	    "--ca",     ca_path, "--user", users[0], "--user",    users[1], "--channel-binding",
	    "disable",  NULL};
	struct czpg_clirun r;

	(void)state;
	assert_int_equal(czpg_clirun(&r, tmpdir, args, RUN_LIMIT_MS), 0);
	assert_int_equal(r.exit_code, 2);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "readiness"));
	czpg_clirun_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_reason),
	    cmocka_unit_test(test_all_ready_exits_zero),
	    cmocka_unit_test(test_ed25519_certificate),
	    cmocka_unit_test(test_disable_is_a_usage_error),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
