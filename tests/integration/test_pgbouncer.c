/*
 * test_pgbouncer.c - verify through a real PgBouncer (Debian's package),
 * TLS on both legs: the pooler case of the end-to-end rule.
 *
 * The test starts PgBouncer (tests/support/pgbouncer.h) as the sandbox
 * server's owner on a free loopback port with its own ini: auth_type scram-sha-256 with an
 * auth_file holding the roles' SCRAM secrets (copied from pg_authid through the sandbox's admin
 * connection), client_tls_* serving a certificate of the same CA as the server's (valid for
 * 127.0.0.1, so verify-full succeeds against PgBouncer), and server_tls_sslmode = verify-full
 * towards the server.  What must hold:
 *   - verify FAILs by default, saying what the server sees: PgBouncer's own
 *     socket as the client, and a backend pid that is not the one PgBouncer
 *     announced in BackendKeyData; the backend and port it names are the
 *     real ones (the server's pg_stat_activity agrees);
 *   - --allow-intermediary PASSes with both legs and a warning (text and
 *     JSON); libpq as the client FAILs the same way;
 *   - --channel-binding require FAILs: PgBouncer 1.18 offers no
 *     SCRAM-SHA-256-PLUS;
 *   - readiness for two roles reports each "not ready: no
 *     SCRAM-SHA-256-PLUS offered", exit 1;
 *   - --expect-plaintext-refused says plaintext is refused by the pooler
 *     (PgBouncer's "SSL required", SQLSTATE 08P01), in a line that does not
 *     contradict itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "childproc.h"
#include "clirun.h"
#include "pgbouncer.h"
#include "sandbox.h"
#include "testcert.h"

#define RUN_LIMIT_MS 60000u
#define SECOND_ROLE "cz_app"

static struct czpg_sandbox sb;
static char tmpdir[512], ca_path[600];
static struct czpg_pgbouncer bouncer;

/* ---- set-up ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct czpg_testcert ca = {0}, server = {0}, bouncer_cert = {0};
	struct czpg_testcert_opts so = {.cn = "sandbox server", .sans = "IP:127.0.0.1"};
	struct czpg_testcert_opts bo = {.cn = "pgbouncer", .sans = "IP:127.0.0.1"};
	char crt[600], key[600], bcrt[600], bkey[600], extra[1600];
	struct czpg_pgbouncer_opts po = {0};
	int rc = -1;

	(void)state;
	if (!czpg_sandbox_from_env(&sb))
		return -1;
	if (czpg_testcert_tmpdir(tmpdir, sizeof(tmpdir)) < 0)
		return -1;
	/* PgBouncer runs as the server's owner: it must read the CA it verifies the server with. */
	if (geteuid() == 0 && (chown(tmpdir, (uid_t)sb.owner_uid, (gid_t)sb.owner_gid) < 0 ||
			       chmod(tmpdir, 0700) < 0))
		return -1;
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", tmpdir);
	snprintf(crt, sizeof(crt), "%s/server.crt", tmpdir);
	snprintf(key, sizeof(key), "%s/server.key", tmpdir);
	snprintf(bcrt, sizeof(bcrt), "%s/bouncer.crt", tmpdir);
	snprintf(bkey, sizeof(bkey), "%s/bouncer.key", tmpdir);
	if (czpg_sandbox_exec(&sb, "CREATE ROLE " SECOND_ROLE " LOGIN PASSWORD 'cz-test-pw'") < 0 ||
	    czpg_testcert_make_ca(&ca, NULL) < 0 || czpg_testcert_write(&ca, tmpdir, "ca") < 0 ||
	    czpg_testcert_make_leaf(&server, &ca, &so) < 0 ||
	    czpg_testcert_write(&server, tmpdir, "server") < 0 ||
	    czpg_testcert_make_leaf(&bouncer_cert, &ca, &bo) < 0 ||
	    czpg_testcert_write(&bouncer_cert, tmpdir, "bouncer") < 0 ||
	    czpg_sandbox_enable_tls(&sb, crt, key, ca_path, "TLSv1.3", NULL) < 0)
		goto out;
	/* TLS on both legs: verify-full towards the server, with the same CA. */
	snprintf(extra, sizeof(extra),
		 "pool_mode = session\n"
		 "client_tls_ca_file = %s\n"
		 "server_tls_ca_file = %s\n"
		 "ignore_startup_parameters = extra_float_digits\n",
		 ca_path, ca_path);
	po.cert = bcrt;
	po.key = bkey;
	po.client_tls_sslmode = "require";
	po.server_tls_sslmode = "verify-full";
	po.users = "cz_test," SECOND_ROLE;
	po.extra = extra;
	rc = czpg_pgbouncer_start(&bouncer, &sb, &po);
out:
	czpg_testcert_free(&bouncer_cert);
	czpg_testcert_free(&server);
	czpg_testcert_free(&ca);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	czpg_pgbouncer_stop(&bouncer);
	czpg_sandbox_exec(&sb, "DROP ROLE IF EXISTS " SECOND_ROLE);
	if (tmpdir[0] != '\0')
		czpg_testcert_rmdir(tmpdir);
	return 0;
}

/* ---- running verify through the pooler ------------------------------------- */

/* verify against PgBouncer with extra flags (NULL-terminated); --user is cz_test unless given. */
static void verify(struct czpg_clirun *r, const char *const *extra, bool own_user)
{
	const struct czpg_clirun_target t = {"127.0.0.1", bouncer.port, own_user ? NULL : sb.user,
					     sb.db,       ca_path,      sb.password};

	assert_int_equal(czpg_clirun_tls(r, tmpdir, "verify", &t, extra, RUN_LIMIT_MS), 0);
	assert_true(czpg_clirun_clean(r));
}

/* Pulls "belongs to 127.0.0.1:PORT" and "backend pid PID" out of the FAIL line. */
static void parse_seen(const char *line, int *port, unsigned *pid)
{
	const char *p = strstr(line, "belongs to 127.0.0.1:");
	const char *q = strstr(line, "backend pid ");

	assert_non_null(p);
	assert_non_null(q);
	*port = atoi(p + strlen("belongs to 127.0.0.1:"));
	*pid = (unsigned)strtoul(q + strlen("backend pid "), NULL, 10);
	assert_true(*port > 0);
	assert_true(*pid > 0);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_default_fails_naming_what_the_server_sees(void **state)
{
	static const char *const none[] = {NULL};
	char line[1400], sql[200], value[64], local[64];
	struct czpg_clirun r;
	unsigned pid;
	int port;

	(void)state;
	verify(&r, none, false);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_non_null(strstr(line, "[FAIL] the server's session belongs to 127.0.0.1:"));
	assert_non_null(strstr(line, ", not this client's 127.0.0.1:"));
	assert_non_null(strstr(line, "is not the pid the server announced ("));
	assert_non_null(strstr(line, "): a pooler or proxy terminates the connection in between"));
	assert_null(strstr(r.out, "[PASS]"));
	/* The client verified PgBouncer's own certificate; the row says ssl=true. */
	assert_non_null(strstr(r.out, "server certificate: CN=pgbouncer"));
	assert_true(czpg_clirun_line(r.out, "pg_stat_ssl: ssl=true version=TLSv1.3 ", local,
				     sizeof(local)));
	assert_non_null(strstr(r.out, "server offered SCRAM-SHA-256 (no channel binding)"));
	/* What it names is real: that backend serves PgBouncer's socket on that port. */
	parse_seen(line, &port, &pid);
	snprintf(sql, sizeof(sql),
		 "SELECT client_port FROM pg_catalog.pg_stat_activity WHERE pid = %u", pid);
	assert_int_equal(czpg_sandbox_query_value(&sb, sql, value, sizeof(value)), 0);
	assert_int_equal(atoi(value), port);
	/* And the client's own port is another one. */
	assert_true(
	    czpg_clirun_line(r.out, "client leg: this socket 127.0.0.1:", local, sizeof(local)));
	assert_int_not_equal(atoi(local + strlen("client leg: this socket 127.0.0.1:")), port);
	czpg_clirun_free(&r);
}

static void test_libpq_fails_the_same_way(void **state)
{
	static const char *const extra[] = {"--client", "libpq", NULL};
	char line[1400];
	struct czpg_clirun r;

	(void)state;
	verify(&r, extra, false);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_non_null(strstr(line, "): a pooler or proxy terminates the connection in between"));
	czpg_clirun_free(&r);
}

static void test_allow_intermediary_passes_with_both_legs(void **state)
{
	static const char *const extra[] = {"--allow-intermediary", NULL};
	static const char *const json[] = {"--allow-intermediary", "--json", NULL};
	char v[1400], keypid[32], pid[32], local[80], addr[64], port[16], want[100];
	struct czpg_clirun r;

	(void)state;
	verify(&r, extra, false);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_has_line(r.out, "[PASS] TLS on both legs of a pooler or proxy (not "
						"end to end; --allow-intermediary)"));
	assert_null(strstr(r.out, "[PASS] TLS proven\n"));
	assert_true(czpg_clirun_line(r.out, "client leg: this socket 127.0.0.1:", v, sizeof(v)));
	assert_true(czpg_clirun_line(r.out, "server leg: pg_backend_pid() ", v, sizeof(v)));
	assert_non_null(strstr(v, "ssl=true TLSv1.3"));
	assert_true(czpg_clirun_line(r.out,
				     "[WARN] not proven end to end (--allow-intermediary): "
				     "the server's session belongs to 127.0.0.1:",
				     v, sizeof(v)));
	assert_null(strstr(r.out, "[FAIL]"));
	czpg_clirun_free(&r);

	verify(&r, json, false);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_json_is(r.out, NULL, "result", "PASS"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "evidence", "intermediary_allowed"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "path", "terminated_in_between"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "pid_match", "false"));
	assert_true(
	    czpg_clirun_json(r.out, "client_leg", "backend_key_pid", keypid, sizeof(keypid)));
	assert_true(czpg_clirun_json(r.out, "client_leg", "local", local, sizeof(local)));
	assert_true(czpg_clirun_json_is(r.out, "client_leg", "version", "TLSv1.3"));
	assert_true(czpg_clirun_json(r.out, "server_leg", "pid", pid, sizeof(pid)));
	assert_true(czpg_clirun_json(r.out, "server_leg", "client_addr", addr, sizeof(addr)));
	assert_true(czpg_clirun_json(r.out, "server_leg", "client_port", port, sizeof(port)));
	assert_true(czpg_clirun_json_is(r.out, "server_leg", "ssl", "true"));
	assert_string_not_equal(keypid, pid);
	snprintf(want, sizeof(want), "%s:%s", addr, port);
	assert_string_not_equal(local, want);
	assert_true(czpg_clirun_json(r.out, NULL, "warning", v, sizeof(v)));
	czpg_clirun_free(&r);
}

static void test_channel_binding_require_fails(void **state)
{
	static const char *const extra[] = {"--channel-binding", "require", NULL};
	char line[700];
	struct czpg_clirun r;

	(void)state;
	verify(&r, extra, false);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_string_equal(line, "[FAIL] channel binding is required but the server does not "
				  "offer SCRAM-SHA-256-PLUS (offered: SCRAM-SHA-256)");
	assert_true(czpg_clirun_line(r.out, "hint: ", line, sizeof(line)));
	assert_non_null(strstr(line, "PgBouncer does not offer SCRAM-SHA-256-PLUS"));
	czpg_clirun_free(&r);
}

static void test_readiness_reports_each_role_not_ready(void **state)
{
	static const char *const extra[] = {"--user", "cz_test", "--user", SECOND_ROLE, NULL};
	static const char *const json[] = {"--user",    "cz_test", "--user",
					   SECOND_ROLE, "--json",  NULL};
	static const char reason[] = ": not ready: no SCRAM-SHA-256-PLUS offered over TLS (the "
				     "server offered SCRAM-SHA-256)";
	char line[1400], want[200];
	struct czpg_clirun r;

	(void)state;
	verify(&r, extra, true);
	assert_int_equal(r.exit_code, 1);
	snprintf(want, sizeof(want), "[FAIL] role cz_test%s", reason);
	assert_true(czpg_clirun_line(r.out, want, line, sizeof(line)));
	snprintf(want, sizeof(want), "[FAIL] role %s%s", SECOND_ROLE, reason);
	assert_true(czpg_clirun_line(r.out, want, line, sizeof(line)));
	assert_true(czpg_clirun_has_line(
	    r.out, "[FAIL] 0 of 2 role(s) ready for "
		   "channel_binding=require; not ready: cz_test, " SECOND_ROLE));
	assert_null(strstr(r.out, "[PASS]"));
	czpg_clirun_free(&r);

	verify(&r, json, true);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_json_is(r.out, NULL, "mode", "readiness"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "ready", "0"));
	assert_non_null(strstr(r.out, "{\"user\":\"" SECOND_ROLE "\",\"ready\":false,\"reason\":"
				      "\"not ready: no SCRAM-SHA-256-PLUS offered"));
	czpg_clirun_free(&r);
}

static void test_plaintext_refused_by_the_pooler(void **state)
{
	static const char *const allowed[] = {"--allow-intermediary", "--expect-plaintext-refused",
					      NULL};
	static const char *const strict[] = {"--expect-plaintext-refused", NULL};
	char line[1400];
	struct czpg_clirun r;

	(void)state;
	verify(&r, allowed, false);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_line(
	    r.out, "[PASS] plaintext refused by the pooler in between: ", line, sizeof(line)));
	assert_non_null(strstr(line, "SQLSTATE 08P01"));
	assert_non_null(strstr(line, "SSL required"));
	assert_null(strstr(line, "accepted"));
	assert_null(strstr(line, "could not tell"));
	czpg_clirun_free(&r);

	/* Without the allowance the proof FAILs on the pooler, and only on it. */
	verify(&r, strict, false);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_non_null(strstr(line, "a pooler or proxy terminates the connection in between"));
	assert_null(strstr(line, "plaintext"));
	assert_true(czpg_clirun_line(
	    r.out, "[PASS] plaintext refused by the pooler in between: ", line, sizeof(line)));
	czpg_clirun_free(&r);
}

static void test_bouncer_survived(void **state)
{
	(void)state;
	assert_true(czpg_pgbouncer_alive(&bouncer));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_fails_naming_what_the_server_sees),
	    cmocka_unit_test(test_libpq_fails_the_same_way),
	    cmocka_unit_test(test_allow_intermediary_passes_with_both_legs),
	    cmocka_unit_test(test_channel_binding_require_fails),
	    cmocka_unit_test(test_readiness_reports_each_role_not_ready),
	    cmocka_unit_test(test_plaintext_refused_by_the_pooler),
	    cmocka_unit_test(test_bouncer_survived),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
