/*
 * test_node_pg.c - an independent client cross-checks verify: node-postgres
 * (the npm package pg, installed by ./dev.sh setup outside the checkout)
 * against a hardened box (pg_hba.conf: hostssl scram-sha-256 only).
 *
 * tests/integration/test_node_pg.js connects with ssl { ca, servername }
 * and enableChannelBinding (SCRAM-SHA-256-PLUS, pg 8.14 and later) and
 * prints the server's row for its own session.  What must hold:
 *   - directly, node-postgres binds the channel, and the server's row for
 *     its session says what verify's JSON says for verify's own session:
 *     ssl, protocol, cipher and bits; each client's row names its own
 *     socket and the pid BackendKeyData announced to it;
 *   - through the TLS-terminating relay (tests/tools/tls_relay: its own
 *     certificate from the same CA), node-postgres fails, as verify does:
 *     the server rejects the channel binding.
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
#include <unistd.h>

#include "childproc.h"
#include "clirun.h"
#include "sandbox.h"
#include "testcert.h"

#define RUN_LIMIT_MS 60000u
#define NODE_PG_DEFAULT_DIR "/var/cache/czpg/node-pg"

static struct czpg_sandbox sb;
static char tmpdir[512], ca_path[600], relay_err[600], node[600], script[600];
static struct czpg_child relay;
static int relay_port;
static bool relay_started;

/* What node-postgres printed (one JSON line) and how it exited. */
struct node_run {
	int exit_code;
	char *out;
};

static void node_connect(struct node_run *nr, int port)
{
	char portstr[16], out[600], err[600];
	struct czpg_child child;
	char *argv[10];
	int k = 0;

	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(out, sizeof(out), "%s/node.out", tmpdir);
	snprintf(err, sizeof(err), "%s/node.err", tmpdir);
	argv[k++] = node;
	argv[k++] = script;
	argv[k++] = "127.0.0.1";
	argv[k++] = portstr;
	argv[k++] = (char *)sb.user;
	argv[k++] = (char *)sb.db;
	argv[k++] = ca_path;
	argv[k++] = "localhost"; /* servername: the certificate's DNS SAN */
	argv[k] = NULL;
	assert_int_equal(czpg_child_start(&child, argv, out, err), 0);
	czpg_child_wait(&child, RUN_LIMIT_MS);
	assert_false(child.killed);
	nr->exit_code = czpg_child_exit_code(&child);
	nr->out = czpg_child_slurp(out, NULL);
	assert_non_null(nr->out);
	printf("--- node-postgres to port %d: exit %d\n%s", port, nr->exit_code, nr->out);
}

static void verify_json(struct czpg_clirun *r, int port)
{
	static const char *const json[] = {"--json", NULL};
	const struct czpg_clirun_target t = {"127.0.0.1", port,    sb.user,
					     sb.db,       ca_path, sb.password};

	assert_int_equal(czpg_clirun_tls(r, tmpdir, "verify", &t, json, RUN_LIMIT_MS), 0);
	assert_true(czpg_clirun_clean(r));
}

/* The first executable "node" on PATH (CZ_NODE overrides). */
static bool find_node(void)
{
	const char *env = getenv("CZ_NODE"), *path = getenv("PATH");
	char dirs[4096], *save = NULL, *d;

	if (env != NULL) {
		snprintf(node, sizeof(node), "%s", env);
		return access(node, X_OK) == 0;
	}
	snprintf(dirs, sizeof(dirs), "%s", path != NULL ? path : "/usr/bin:/bin");
	for (d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		snprintf(node, sizeof(node), "%s/node", d);
		if (access(node, X_OK) == 0)
			return true;
	}
	return false;
}

static int group_setup(void **state)
{
	struct czpg_testcert ca = {0}, server = {0}, rl = {0};
	struct czpg_testcert_opts so = {.cn = "sandbox server",
					.sans = "DNS:localhost,IP:127.0.0.1"};
	struct czpg_testcert_opts ro = {.cn = "tls relay", .sans = "DNS:localhost,IP:127.0.0.1"};
	char crt[600], key[600], rcrt[600], rkey[600], port[16], hba[512], module[700];
	const char *dir = getenv("CZ_NODE_PG_DIR"), *src = getenv("CZ_SOURCE_DIR");
	char *argv[16];
	int rc = -1, k = 0;

	(void)state;
	if (!czpg_sandbox_from_env(&sb) || src == NULL || getenv("CZ_TOOL_TLS_RELAY") == NULL)
		return -1;
	if (dir == NULL) {
		dir = NODE_PG_DEFAULT_DIR;
		setenv("CZ_NODE_PG_DIR", dir, 1);
	}
	snprintf(module, sizeof(module), "%s/node_modules/pg/package.json", dir);
	if (!find_node() || access(module, R_OK) != 0) {
		fprintf(stderr, "node or node-postgres (%s) is missing: run ./dev.sh setup\n",
			module);
		return -1;
	}
	snprintf(script, sizeof(script), "%s/tests/integration/test_node_pg.js", src);
	setenv("PGPASSWORD", sb.password, 1);
	if (czpg_testcert_tmpdir(tmpdir, sizeof(tmpdir)) < 0)
		return -1;
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", tmpdir);
	snprintf(crt, sizeof(crt), "%s/server.crt", tmpdir);
	snprintf(key, sizeof(key), "%s/server.key", tmpdir);
	snprintf(rcrt, sizeof(rcrt), "%s/relay.crt", tmpdir);
	snprintf(rkey, sizeof(rkey), "%s/relay.key", tmpdir);
	/* A hardened box: TLS with SCRAM from loopback, plaintext rejected. */
	snprintf(hba, sizeof(hba),
		 "local     all  all               trust\n"
		 "hostssl   all  %s  127.0.0.1/32  scram-sha-256\n"
		 "hostnossl all  all  127.0.0.1/32  reject\n",
		 sb.user);
	if (czpg_testcert_make_ca(&ca, NULL) < 0 || czpg_testcert_write(&ca, tmpdir, "ca") < 0 ||
	    czpg_testcert_make_leaf(&server, &ca, &so) < 0 ||
	    czpg_testcert_write(&server, tmpdir, "server") < 0 ||
	    czpg_testcert_make_leaf(&rl, &ca, &ro) < 0 ||
	    czpg_testcert_write(&rl, tmpdir, "relay") < 0 ||
	    czpg_sandbox_enable_tls(&sb, crt, key, ca_path, "TLSv1.3", NULL) < 0 ||
	    czpg_sandbox_set_hba(&sb, hba) < 0)
		goto out;
	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(relay_err, sizeof(relay_err), "%s/relay.err", tmpdir);
	argv[k++] = getenv("CZ_TOOL_TLS_RELAY");
	argv[k++] = "--cert";
	argv[k++] = rcrt;
	argv[k++] = "--key";
	argv[k++] = rkey;
	argv[k++] = "--ca";
	argv[k++] = ca_path;
	argv[k++] = "--upstream-host";
	argv[k++] = (char *)sb.host;
	argv[k++] = "--upstream-port";
	argv[k++] = port;
	argv[k] = NULL;
	relay_port = czpg_child_start_server(&relay, argv, relay_err, 10000);
	if (relay_port < 0)
		goto out;
	relay_started = true;
	rc = 0;
out:
	czpg_testcert_free(&rl);
	czpg_testcert_free(&server);
	czpg_testcert_free(&ca);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	if (relay_started)
		czpg_child_stop(&relay);
	if (tmpdir[0] != '\0')
		czpg_testcert_rmdir(tmpdir);
	return 0;
}

/* The same row from both clients, each for its own session. */
static void test_same_row_as_verify(void **state)
{
	static const char *const fields[] = {"ssl", "version", "cipher", "bits"};
	char a[128], b[128], port[16], pid[16], addr[64], want[80];
	struct node_run nr;
	struct czpg_clirun r;
	size_t i;

	(void)state;
	node_connect(&nr, sb.port);
	assert_int_equal(nr.exit_code, 0);
	assert_true(czpg_clirun_json_is(nr.out, NULL, "mechanism", "SCRAM-SHA-256-PLUS"));
	/* node's own row names node's own socket and the pid it was announced. */
	assert_true(czpg_clirun_json(nr.out, "row", "client_port", port, sizeof(port)));
	assert_true(czpg_clirun_json(nr.out, NULL, "local_port", a, sizeof(a)));
	assert_string_equal(port, a);
	assert_true(czpg_clirun_json(nr.out, "row", "pid", pid, sizeof(pid)));
	assert_true(czpg_clirun_json(nr.out, NULL, "backend_key_pid", a, sizeof(a)));
	assert_string_equal(pid, a);
	assert_true(czpg_clirun_json_is(nr.out, "row", "client_addr", "127.0.0.1"));
	/* What node negotiated is what the server's row says. */
	assert_true(czpg_clirun_json(nr.out, NULL, "tls_version", a, sizeof(a)));
	assert_true(czpg_clirun_json(nr.out, "row", "version", b, sizeof(b)));
	assert_string_equal(a, b);

	verify_json(&r, sb.port);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_json_is(r.out, NULL, "channel_binding_used", "true"));
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		assert_true(czpg_clirun_json(nr.out, "row", fields[i], a, sizeof(a)));
		assert_true(czpg_clirun_json(r.out, "server_leg", fields[i], b, sizeof(b)));
		assert_string_equal(a, b);
	}
	/* Two sessions, each the client's own: different backends, different sockets. */
	assert_true(czpg_clirun_json(r.out, "server_leg", "pid", b, sizeof(b)));
	assert_string_not_equal(pid, b);
	assert_true(czpg_clirun_json(r.out, "client_leg", "local", b, sizeof(b)));
	snprintf(want, sizeof(want), "%s:%s", addr, port);
	assert_string_not_equal(b, want);
	czpg_clirun_free(&r);
	free(nr.out);
}

/* Through the TLS-terminating relay both fail: the server rejects the binding. */
static void test_both_fail_through_the_relay(void **state)
{
	char line[1400];
	struct node_run nr;
	struct czpg_clirun r;

	(void)state;
	node_connect(&nr, relay_port);
	assert_int_equal(nr.exit_code, 1);
	assert_true(czpg_clirun_json(nr.out, NULL, "error", line, sizeof(line)));
	assert_non_null(strstr(line, "channel binding"));
	free(nr.out);

	verify_json(&r, relay_port);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_json(r.out, NULL, "failure", line, sizeof(line)));
	assert_non_null(strstr(line, "SCRAM channel binding check failed"));
	czpg_clirun_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_row_as_verify),
	    cmocka_unit_test(test_both_fail_through_the_relay),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
