/*
 * test_forwarder.c - verify through a TCP-level forwarder that does not
 * terminate TLS (tests/tools/tcp_forward: what a NAT or a published
 * container port does).
 *
 * The TLS session and the PostgreSQL session are the server's own, so
 * BackendKeyData's pid agrees with pg_backend_pid(); only the client
 * endpoint differs: the server sees the forwarder's socket.  What must hold:
 *   - with channel binding (the default prefer, and require; native and
 *     libpq), verify PASSes on that evidence and says it saw a forwarder;
 *   - with --channel-binding disable, nothing proves the session is this
 *     client's own: verify FAILs on the endpoint mismatch, naming both
 *     endpoints;
 *   - directly (no forwarder) the same flags PASS with no warning.
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

#include "childproc.h"
#include "clirun.h"
#include "sandbox.h"
#include "testcert.h"

#define RUN_LIMIT_MS 60000u

static struct czpg_sandbox sb;
static char tmpdir[512], ca_path[600], fwd_err[600];
static struct czpg_child fwd;
static int fwd_port;
static bool fwd_started;

/* Runs verify against port with extra flags (NULL-terminated list). */
static void verify(struct czpg_clirun *r, int port, const char *const *extra)
{
	static const char *const timeout[] = {"--timeout", "10", NULL};
	const struct czpg_clirun_target t = {"127.0.0.1", port,    sb.user,
					     sb.db,       ca_path, sb.password};
	const char *args[24];
	size_t k = 0, i;

	for (i = 0; timeout[i] != NULL; i++)
		args[k++] = timeout[i];
	for (i = 0; extra[i] != NULL && k < 23; i++)
		args[k++] = extra[i];
	args[k] = NULL;
	assert_int_equal(czpg_clirun_tls(r, tmpdir, "verify", &t, args, RUN_LIMIT_MS), 0);
	assert_true(czpg_clirun_clean(r));
}

static int group_setup(void **state)
{
	struct czpg_testcert ca = {0}, server = {0};
	struct czpg_testcert_opts so = {.cn = "sandbox server", .sans = "IP:127.0.0.1"};
	char crt[600], key[600], port[16];
	char *argv[8];
	int rc = -1, k = 0;

	(void)state;
	if (!czpg_sandbox_from_env(&sb) || getenv("CZ_TOOL_TCP_FORWARD") == NULL)
		return -1;
	if (czpg_testcert_tmpdir(tmpdir, sizeof(tmpdir)) < 0)
		return -1;
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", tmpdir);
	snprintf(crt, sizeof(crt), "%s/server.crt", tmpdir);
	snprintf(key, sizeof(key), "%s/server.key", tmpdir);
	if (czpg_testcert_make_ca(&ca, NULL) < 0 || czpg_testcert_write(&ca, tmpdir, "ca") < 0 ||
	    czpg_testcert_make_leaf(&server, &ca, &so) < 0 ||
	    czpg_testcert_write(&server, tmpdir, "server") < 0 ||
	    czpg_sandbox_enable_tls(&sb, crt, key, ca_path, "TLSv1.3", NULL) < 0)
		goto out;
	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(fwd_err, sizeof(fwd_err), "%s/forward.err", tmpdir);
	argv[k++] = getenv("CZ_TOOL_TCP_FORWARD");
	argv[k++] = "--upstream-host";
	argv[k++] = (char *)sb.host;
	argv[k++] = "--upstream-port";
	argv[k++] = port;
	argv[k] = NULL;
	fwd_port = czpg_child_start_server(&fwd, argv, fwd_err, 10000);
	if (fwd_port < 0) {
		fprintf(stderr, "tcp_forward did not start\n");
		goto out;
	}
	fwd_started = true;
	rc = 0;
out:
	czpg_testcert_free(&server);
	czpg_testcert_free(&ca);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	if (fwd_started)
		czpg_child_stop(&fwd);
	if (tmpdir[0] != '\0')
		czpg_testcert_rmdir(tmpdir);
	return 0;
}

/* Channel binding through the forwarder: PASS on that evidence, the forwarder noted. */
static void test_binding_passes_and_notes_forwarder(void **state)
{
	static const char *const rows[][5] = {
	    {NULL},
	    {"--channel-binding", "require", NULL},
	    {"--channel-binding", "require", "--client", "libpq", NULL},
	};
	char line[700];
	struct czpg_clirun r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		verify(&r, fwd_port, rows[i]);
		assert_int_equal(r.exit_code, 0);
		assert_true(czpg_clirun_has_line(r.out, "[PASS] TLS proven"));
		assert_true(czpg_clirun_line(r.out,
					     "proof: channel binding: SCRAM-SHA-256-PLUS "
					     "succeeded",
					     line, sizeof(line)));
		assert_true(czpg_clirun_line(r.out,
					     "[WARN] a TCP-level forwarder or NAT sits in between: "
					     "the server sees this session's client as 127.0.0.1:",
					     line, sizeof(line)));
		assert_null(strstr(r.out, "[FAIL]"));
		czpg_clirun_free(&r);
	}
}

/* The same in JSON: path tcp_forwarder, the pid agrees, the endpoint does not. */
static void test_binding_json_carries_both_legs(void **state)
{
	static const char *const extra[] = {"--json", NULL};
	char local[80], addr[64], port[16], want[100];
	struct czpg_clirun r;

	(void)state;
	verify(&r, fwd_port, extra);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_json_is(r.out, NULL, "result", "PASS"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "evidence", "channel_binding"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "path", "tcp_forwarder"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "pid_match", "true"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "endpoint_match", "false"));
	assert_true(czpg_clirun_json(r.out, "client_leg", "local", local, sizeof(local)));
	assert_true(czpg_clirun_json(r.out, "server_leg", "client_addr", addr, sizeof(addr)));
	assert_true(czpg_clirun_json(r.out, "server_leg", "client_port", port, sizeof(port)));
	snprintf(want, sizeof(want), "%s:%s", addr, port);
	assert_string_not_equal(local, want);
	czpg_clirun_free(&r);
}

/* Without channel binding nothing shows the session is this client's: FAIL. */
static void test_without_binding_fails_on_endpoints(void **state)
{
	static const char *const extra[] = {"--channel-binding", "disable", NULL};
	char line[1400], want[200];
	struct czpg_clirun r;

	(void)state;
	verify(&r, fwd_port, extra);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_non_null(strstr(line, "[FAIL] the server's session belongs to 127.0.0.1:"));
	assert_non_null(strstr(line, ", not this client's 127.0.0.1:"));
	assert_non_null(strstr(line, "agrees): a TCP forwarder, NAT or TLS-terminating relay "
				     "sits in between"));
	assert_true(czpg_clirun_line(r.out, "hint: ", line, sizeof(line)));
	assert_non_null(strstr(line, "--channel-binding prefer or require"));
	/* Both legs are still shown, and nothing claims a pass. */
	snprintf(want, sizeof(want), "client leg: this socket 127.0.0.1:");
	assert_true(czpg_clirun_line(r.out, want, line, sizeof(line)));
	assert_null(strstr(r.out, "[PASS]"));
	czpg_clirun_free(&r);
}

/* Control: straight to the server, the same flags PASS with no warning. */
static void test_direct_passes_without_warning(void **state)
{
	static const char *const extra[] = {"--channel-binding", "disable", NULL};
	struct czpg_clirun r;

	(void)state;
	verify(&r, sb.port, extra);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_has_line(r.out, "[PASS] TLS proven"));
	assert_null(strstr(r.out, "[WARN]"));
	czpg_clirun_free(&r);
}

static void test_forwarder_survived(void **state)
{
	char *e;

	(void)state;
	assert_false(czpg_child_poll(&fwd, 0));
	e = czpg_child_slurp(fwd_err, NULL);
	assert_non_null(e);
	assert_null(strstr(e, "Sanitizer"));
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_binding_passes_and_notes_forwarder),
	    cmocka_unit_test(test_binding_json_carries_both_legs),
	    cmocka_unit_test(test_without_binding_fails_on_endpoints),
	    cmocka_unit_test(test_direct_passes_without_warning),
	    cmocka_unit_test(test_forwarder_survived),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
