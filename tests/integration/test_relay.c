/*
 * test_relay.c - channel binding against a TLS-terminating relay.
 *
 * The sandbox PostgreSQL gets TLS with a certificate from a test CA.
 * tests/tools/tls_relay sits in front of it with its OWN certificate from the
 * SAME CA, valid for the name the client uses: the client's verify-full
 * succeeds against the relay, and the relay opens its own TLS session to the
 * server and passes the PostgreSQL bytes through.
 *
 * What must hold (and what this test shows):
 *   - directly, `verify --channel-binding require` PASSes with
 *     SCRAM-SHA-256-PLUS;
 *   - through the relay without channel binding, SCRAM authentication
 *     succeeds: the relay is invisible to the password exchange; verify
 *     FAILs all the same, on the end-to-end rule: the server's row names
 *     the relay's own socket, not this client's (and, when the two legs
 *     negotiate different ciphers, says so too); --allow-intermediary
 *     turns that into a PASS that reports both legs;
 *   - through the relay with channel binding (require, or prefer, since the
 *     server offers SCRAM-SHA-256-PLUS), the server rejects the exchange:
 *     the client bound to the relay's certificate, the server to its own;
 *   - a relay that strips SCRAM-SHA-256-PLUS from the offer is caught too:
 *     the server sees the client's "y" flag (prefer), or the client refuses
 *     to go on (require).
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
#include "sandbox.h"
#include "testcert.h"

#define RUN_LIMIT_MS 30000u

enum relay_kind { RELAY_PLAIN = 0, RELAY_OTHER_CIPHER, RELAY_STRIP_PLUS, RELAY_COUNT };

static struct czpg_sandbox sb;
static char tmpdir[512];
static const char *czctl;
static const char *relay_tool;
static struct czpg_child relays[RELAY_COUNT];
static int relay_ports[RELAY_COUNT];
static char relay_err[RELAY_COUNT][600];
static size_t nrelays;
static int run_seq;

struct result {
	int code;
	double ms;
	char *out;
	char *err;
};

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* Runs czctl verify against port with extra flags (NULL-terminated). */
static void verify(struct result *res, int port, ...)
{
	char portstr[16], ca[600], out[600], err[600];
	struct czpg_child child;
	char *argv[32];
	const char *flag;
	va_list ap;
	int k = 0;

	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", tmpdir);
	snprintf(out, sizeof(out), "%s/verify-%d.out", tmpdir, run_seq);
	snprintf(err, sizeof(err), "%s/verify-%d.err", tmpdir, run_seq);
	run_seq++;
	argv[k++] = (char *)czctl;
	argv[k++] = "postgres";
	argv[k++] = "tls";
	argv[k++] = "verify";
	argv[k++] = "--host";
	argv[k++] = "127.0.0.1";
	argv[k++] = "--port";
	argv[k++] = portstr;
	argv[k++] = "--user";
	argv[k++] = (char *)sb.user;
	argv[k++] = "--dbname";
	argv[k++] = (char *)sb.db;
	argv[k++] = "--ca";
	argv[k++] = ca;
	argv[k++] = "--password";
	argv[k++] = (char *)sb.password;
	argv[k++] = "--timeout";
	argv[k++] = "5";
	va_start(ap, port);
	while ((flag = va_arg(ap, const char *)) != NULL && k < 30)
		argv[k++] = (char *)flag;
	va_end(ap);
	argv[k] = NULL;
	assert_int_equal(czpg_child_start(&child, argv, out, err), 0);
	czpg_child_wait(&child, RUN_LIMIT_MS);
	res->code = czpg_child_exit_code(&child);
	res->ms = czpg_child_elapsed_ms(&child);
	res->out = czpg_child_slurp(out, NULL);
	res->err = czpg_child_slurp(err, NULL);
	assert_non_null(res->out);
	assert_non_null(res->err);
	print_message("  exit %d in %.0f ms\n%s%s", res->code, res->ms, res->out, res->err);
	assert_false(child.killed);
	assert_null(strstr(res->err, "Sanitizer"));
	assert_null(strstr(res->err, "runtime error"));
	assert_null(strchr(res->out, 0x1b));
}

/* The one [FAIL] line (asserts there is exactly one). */
static const char *fail_line(const struct result *r)
{
	const char *p = r->out, *first = NULL;
	int n = 0;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, "[FAIL]", 6) == 0) {
			first = first != NULL ? first : p;
			n++;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	assert_int_equal(n, 1);
	return first;
}

static bool line_has(const char *line, const char *phrase)
{
	const char *eol = strchr(line, '\n');
	const char *hit = strstr(line, phrase);

	return hit != NULL && (eol == NULL || hit < eol);
}

static void assert_fail_with(const struct result *r, const char *phrase)
{
	const char *line;

	assert_int_equal(r->code, 1);
	line = fail_line(r);
	if (!line_has(line, phrase)) {
		print_error("expected \"%s\" in the [FAIL] line\n", phrase);
		fail();
	}
}

/* ---- set-up --------------------------------------------------------------- */

static int start_relay(enum relay_kind kind, const char *crt, const char *key, const char *ca)
{
	char port[16];
	char *argv[16];
	int k = 0;

	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(relay_err[kind], sizeof(relay_err[kind]), "%s/relay-%d.err", tmpdir, (int)kind);
	argv[k++] = (char *)relay_tool;
	argv[k++] = "--cert";
	argv[k++] = (char *)crt;
	argv[k++] = "--key";
	argv[k++] = (char *)key;
	argv[k++] = "--ca";
	argv[k++] = (char *)ca;
	argv[k++] = "--upstream-host";
	argv[k++] = (char *)sb.host;
	argv[k++] = "--upstream-port";
	argv[k++] = port;
	if (kind == RELAY_OTHER_CIPHER) {
		argv[k++] = "--upstream-ciphersuites";
		argv[k++] = "TLS_CHACHA20_POLY1305_SHA256";
	} else if (kind == RELAY_STRIP_PLUS) {
		argv[k++] = "--strip-plus";
	}
	argv[k] = NULL;
	relay_ports[kind] = czpg_child_start_server(&relays[kind], argv, relay_err[kind], 10000);
	if (relay_ports[kind] < 0) {
		fprintf(stderr, "tls_relay did not start\n");
		return -1;
	}
	nrelays = (size_t)kind + 1;
	return 0;
}

static int group_setup(void **state)
{
	struct czpg_testcert ca = {0}, server = {0}, relay = {0};
	struct czpg_testcert_opts so = {.cn = "sandbox server", .sans = "IP:127.0.0.1"};
	struct czpg_testcert_opts ro = {.cn = "tls relay", .sans = "IP:127.0.0.1"};
	char ca_crt[600], srv_crt[600], srv_key[600], rel_crt[600], rel_key[600];
	int rc = -1, i;

	(void)state;
	if (!czpg_sandbox_from_env(&sb))
		return -1;
	czctl = getenv("CZCTL");
	relay_tool = getenv("CZ_TOOL_TLS_RELAY");
	if (czctl == NULL || relay_tool == NULL) {
		fprintf(stderr, "CZCTL and CZ_TOOL_TLS_RELAY must be set (run via ctest)\n");
		return -1;
	}
	if (czpg_testcert_tmpdir(tmpdir, sizeof(tmpdir)) < 0)
		return -1;
	if (czpg_testcert_make_ca(&ca, NULL) < 0 || czpg_testcert_write(&ca, tmpdir, "ca") < 0 ||
	    czpg_testcert_make_leaf(&server, &ca, &so) < 0 ||
	    czpg_testcert_write(&server, tmpdir, "server") < 0 ||
	    czpg_testcert_make_leaf(&relay, &ca, &ro) < 0 ||
	    czpg_testcert_write(&relay, tmpdir, "relay") < 0)
		goto out;
	snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", tmpdir);
	snprintf(srv_crt, sizeof(srv_crt), "%s/server.crt", tmpdir);
	snprintf(srv_key, sizeof(srv_key), "%s/server.key", tmpdir);
	snprintf(rel_crt, sizeof(rel_crt), "%s/relay.crt", tmpdir);
	snprintf(rel_key, sizeof(rel_key), "%s/relay.key", tmpdir);
	if (czpg_sandbox_enable_tls(&sb, srv_crt, srv_key, ca_crt, "TLSv1.3", NULL) < 0)
		goto out;
	for (i = 0; i < RELAY_COUNT; i++)
		if (start_relay((enum relay_kind)i, rel_crt, rel_key, ca_crt) < 0)
			goto out;
	rc = 0;
out:
	czpg_testcert_free(&relay);
	czpg_testcert_free(&server);
	czpg_testcert_free(&ca);
	return rc;
}

static int group_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < nrelays; i++)
		czpg_child_stop(&relays[i]);
	if (tmpdir[0] != '\0')
		czpg_testcert_rmdir(tmpdir);
	return 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_direct_require_passes(void **state)
{
	struct result r;

	(void)state;
	verify(&r, sb.port, "--channel-binding", "require", NULL);
	assert_int_equal(r.code, 0);
	assert_non_null(strstr(r.out, "[PASS] TLS proven\n"));
	assert_non_null(
	    strstr(r.out, "authentication: SCRAM-SHA-256-PLUS (channel binding in use)"));
	assert_non_null(strstr(r.out, "server certificate: CN=sandbox server"));
	result_free(&r);
}

static void test_direct_require_passes_libpq(void **state)
{
	struct result r;

	(void)state;
	verify(&r, sb.port, "--channel-binding", "require", "--client", "libpq", NULL);
	assert_int_equal(r.code, 0);
	assert_non_null(strstr(r.out, "[PASS] TLS proven\n"));
	result_free(&r);
}

/*
 * Without channel binding the relay is invisible to SCRAM: the password
 * exchange succeeds and the session reaches the pg_stat_ssl query.  Both
 * legs negotiate the same TLS 1.3 cipher here, so the cipher comparison
 * cannot tell; the server's own row can: its client endpoint is the relay's
 * socket, not this client's, so verify FAILs on the end-to-end rule.
 */
static void test_relay_without_binding_fails_on_endpoints(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_PLAIN], "--channel-binding", "disable", NULL);
	/* It went through the relay: the client saw the relay's certificate. */
	assert_non_null(strstr(r.out, "server certificate: CN=tls relay"));
	assert_non_null(strstr(r.out, "authentication: SCRAM-SHA-256; server offered "
				      "SCRAM-SHA-256-PLUS,SCRAM-SHA-256"));
	assert_non_null(strstr(r.out, "pg_stat_ssl: ssl=true"));
	assert_fail_with(&r, "the server's session belongs to 127.0.0.1:");
	assert_fail_with(&r, "without channel binding they cannot be told apart");
	assert_null(strstr(r.out, "[PASS]"));
	result_free(&r);
}

/* The relay is known and accepted: PASS, with both legs and a warning. */
static void test_relay_allowed_shows_both_legs(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_PLAIN], "--channel-binding", "disable", "--allow-intermediary",
	       NULL);
	assert_int_equal(r.code, 0);
	assert_non_null(strstr(r.out, "[PASS] TLS on both legs of a pooler or proxy (not end to "
				      "end; --allow-intermediary)\n"));
	assert_non_null(strstr(r.out, "\nclient leg: this socket 127.0.0.1:"));
	assert_non_null(strstr(r.out, "\nserver leg: pg_backend_pid() "));
	assert_non_null(strstr(r.out, "\n[WARN] not proven end to end (--allow-intermediary): "
				      "the server's session belongs to"));
	assert_null(strstr(r.out, "[PASS] TLS proven\n"));
	result_free(&r);
}

/* When the legs differ (the relay forces ChaCha20 upstream), the FAIL says that too. */
static void test_relay_with_other_cipher_is_caught_by_pg_stat_ssl(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_OTHER_CIPHER], "--channel-binding", "disable", NULL);
	assert_non_null(strstr(r.out, "authentication: SCRAM-SHA-256;"));
	assert_fail_with(&r, "the legs negotiated different TLS");
	assert_fail_with(&r, "TLS_CHACHA20_POLY1305_SHA256), so TLS is terminated in between");
	assert_non_null(strstr(r.out, "cipher=TLS_CHACHA20_POLY1305_SHA256"));
	result_free(&r);
}

static void test_relay_require_is_rejected_by_server(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_PLAIN], "--channel-binding", "require", NULL);
	assert_fail_with(&r, "channel binding check failed");
	assert_null(strstr(r.out, "pg_stat_ssl:"));
	/* PostgreSQL says 28000 here, as for pg_hba: the hint must name the relay. */
	assert_non_null(strstr(r.out, "hint: the server's certificate is not the one this "
				      "client verified: a TLS-terminating relay"));
	result_free(&r);
}

static void test_relay_require_is_rejected_by_server_json(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_PLAIN], "--channel-binding", "require", "--json", NULL);
	assert_int_equal(r.code, 1);
	assert_non_null(strstr(r.out, "\"result\":\"FAIL\""));
	assert_non_null(strstr(r.out, "channel binding check failed"));
	assert_non_null(strstr(r.out, "\"pg_stat_ssl\":null"));
	result_free(&r);
}

/* prefer binds too, since the server offers PLUS: the relay is stopped. */
static void test_relay_prefer_is_rejected_by_server(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_PLAIN], NULL);
	assert_fail_with(&r, "channel binding check failed");
	result_free(&r);
}

static void test_relay_require_libpq_fails_too(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_PLAIN], "--channel-binding", "require", "--client", "libpq",
	       NULL);
	assert_fail_with(&r, "channel binding check failed");
	/* libpq's trailing newline does not leak into the line as a "\n". */
	assert_null(strstr(r.out, "\\n"));
	assert_non_null(strstr(r.out, "hint: the server's certificate is not the one"));
	result_free(&r);
}

/* A relay that hides SCRAM-SHA-256-PLUS: the server spots the client's "y". */
static void test_stripping_relay_prefer_is_detected_by_server(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_STRIP_PLUS], "--channel-binding", "prefer", NULL);
	assert_fail_with(&r, "channel binding negotiation error");
	result_free(&r);
}

static void test_stripping_relay_require_is_refused_by_client(void **state)
{
	struct result r;

	(void)state;
	verify(&r, relay_ports[RELAY_STRIP_PLUS], "--channel-binding", "require", NULL);
	assert_fail_with(&r, "does not offer SCRAM-SHA-256-PLUS");
	result_free(&r);
}

static void test_relays_survived(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < nrelays; i++) {
		char *e;

		assert_false(czpg_child_poll(&relays[i], 0));
		e = czpg_child_slurp(relay_err[i], NULL);
		assert_non_null(e);
		if (strstr(e, "Sanitizer") != NULL || strstr(e, "runtime error") != NULL) {
			print_error("tls_relay: %s\n", e);
			free(e);
			fail();
		}
		free(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_direct_require_passes),
	    cmocka_unit_test(test_direct_require_passes_libpq),
	    cmocka_unit_test(test_relay_without_binding_fails_on_endpoints),
	    cmocka_unit_test(test_relay_allowed_shows_both_legs),
	    cmocka_unit_test(test_relay_with_other_cipher_is_caught_by_pg_stat_ssl),
	    cmocka_unit_test(test_relay_require_is_rejected_by_server),
	    cmocka_unit_test(test_relay_require_is_rejected_by_server_json),
	    cmocka_unit_test(test_relay_prefer_is_rejected_by_server),
	    cmocka_unit_test(test_relay_require_libpq_fails_too),
	    cmocka_unit_test(test_stripping_relay_prefer_is_detected_by_server),
	    cmocka_unit_test(test_stripping_relay_require_is_refused_by_client),
	    cmocka_unit_test(test_relays_survived),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
