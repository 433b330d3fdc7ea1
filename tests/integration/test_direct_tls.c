/*
 * test_direct_tls.c - `--sslnegotiation direct` end to end: verify against
 * the sandbox passes where pgversion.h says the server accepts direct TLS
 * (17+) and fails clearly where it does not (15); --client libpq uses it
 * only with a libpq that has it and says so otherwise; against
 * tests/tools/hostile_server, a server that selects ALPN "postgresql"
 * passes the TLS part and one that ignores ALPN fails before any startup;
 * bench --connect --compare-negotiation measures SSLRequest against direct
 * TLS on 17+ and fails clearly on 15.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "childproc.h"
#include "sandbox.h"
#include "testcert.h"

#define RUN_LIMIT_MS 120000u

static struct czpg_sandbox sb;
static struct czpg_testcert_files tf; /* served by the sandbox and the hostile servers */
static const char *czctl, *hostile;

struct result {
	int rc;
	char *out;
	char *err;
};

/* Runs czctl with args (NULL-terminated, after "czctl postgres tls"); waits for it. */
static void run(struct result *r, const char *const *args)
{
	struct czpg_child c;
	char *argv[48], out[600], err[600];
	size_t n = 0, len;

	argv[n++] = (char *)czctl;
	argv[n++] = "postgres";
	argv[n++] = "tls";
	while (*args != NULL && n < 47)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/run.out", tf.dir);
	snprintf(err, sizeof(err), "%s/run.err", tf.dir);
	assert_int_equal(czpg_child_start(&c, argv, out, err), 0);
	assert_int_equal(czpg_child_wait(&c, RUN_LIMIT_MS), 0);
	r->rc = czpg_child_exit_code(&c);
	r->out = czpg_child_slurp(out, &len);
	r->err = czpg_child_slurp(err, &len);
	assert_non_null(r->out);
	assert_non_null(r->err);
}

static void has(const struct result *r, const char *phrase)
{
	if (strstr(r->out, phrase) == NULL && strstr(r->err, phrase) == NULL)
		fail_msg("no '%s' in:\n%s\n%s", phrase, r->out, r->err);
}

static void lacks(const struct result *r, const char *phrase)
{
	if (strstr(r->out, phrase) != NULL)
		fail_msg("'%s' should not be in:\n%s", phrase, r->out);
}

static void done(struct result *r)
{
	free(r->out);
	free(r->err);
}

static void verify(struct result *r, int port, const char *neg, const char *extra)
{
	char p[16];
	const char *args[20];
	size_t n = 0;

	snprintf(p, sizeof(p), "%d", port);
	args[n++] = "verify";
	args[n++] = "--host";
	args[n++] = "127.0.0.1";
	args[n++] = "--port";
	args[n++] = p;
	args[n++] = "--user";
	args[n++] = port == sb.port ? sb.user : "u";
	args[n++] = "--password";
	args[n++] = port == sb.port ? sb.password : "pw";
	args[n++] = "--ca";
	args[n++] = tf.ca;
	args[n++] = "--sslnegotiation";
	args[n++] = neg;
	if (extra != NULL)
		args[n++] = extra;
	if (extra != NULL && strcmp(extra, "--client") == 0)
		args[n++] = "libpq";
	args[n] = NULL;
	run(r, args);
}

static int setup(void **state)
{
	const struct czpg_testcert_opts o = {.cn = "direct", .sans = "IP:127.0.0.1,DNS:localhost"};

	(void)state;
	czctl = getenv("CZCTL");
	hostile = getenv("CZ_TOOL_HOSTILE_SERVER");
	if (!czpg_sandbox_from_env(&sb) || czctl == NULL || hostile == NULL ||
	    czpg_testcert_server_files(&tf, &o) < 0)
		return -1;
	return czpg_sandbox_enable_tls(&sb, tf.crt, tf.key, tf.ca, "TLSv1.3", NULL);
}

static int teardown(void **state)
{
	(void)state;
	czpg_testcert_rmdir(tf.dir);
	return 0;
}

/* verify against the real server: the version's expectation from pgversion.h. */
static void test_verify_direct_against_sandbox(void **state)
{
	struct result r;
	char want[64];

	(void)state;
	verify(&r, sb.port, "direct", NULL);
	if (sb.pg->direct_tls) {
		if (r.rc != 0)
			fail_msg("direct TLS on %d:\n%s", sb.version, r.out);
		has(&r, "[PASS] TLS proven");
		has(&r, "negotiation: direct (TLS at once, no SSLRequest; ALPN \"postgresql\" "
			"selected)");
		snprintf(want, sizeof(want), "server: PostgreSQL %d.", sb.version);
		has(&r, want);
	} else {
		assert_int_equal(r.rc, 1);
		has(&r, "[FAIL] direct TLS (--sslnegotiation direct) failed: ");
		has(&r, "hint: PostgreSQL accepts direct TLS from 17 on; against an older server");
		has(&r, "negotiation: direct (TLS at once, no SSLRequest)");
		/* Nothing but the ClientHello was sent: no authentication was attempted. */
		lacks(&r, "authentication");
		has(&r, "server version: not known");
	}
	done(&r);

	/* The JSON says which negotiation and which ALPN. */
	verify(&r, sb.port, "direct", "--json");
	has(&r, "\"sslnegotiation\":\"direct\"");
	has(&r, sb.pg->direct_tls ? "\"alpn\":\"postgresql\"" : "\"alpn\":null");
	snprintf(want, sizeof(want), "\"server_version\":\"%d.", sb.version);
	if (sb.pg->direct_tls)
		has(&r, want);
	else
		has(&r, "\"server_version\":null");
	done(&r);

	/* SSLRequest works on every version, and says so. */
	verify(&r, sb.port, "postgres", NULL);
	assert_int_equal(r.rc, 0);
	has(&r, "negotiation: postgres (SSLRequest, then TLS)");
	done(&r);
}

/* libpq: the keyword only where it exists; direct without it is refused, exit 3. */
static void test_verify_direct_libpq(void **state)
{
	struct result r;

	(void)state;
	verify(&r, sb.port, "direct", "--client");
	if (PQlibVersion() < 170000) {
		assert_int_equal(r.rc, 3);
		has(&r,
		    "[FAIL] --client libpq cannot use --sslnegotiation direct: the libpq in use "
		    "is ");
		has(&r, "sslnegotiation needs libpq 17 or later");
	} else {
		assert_int_equal(r.rc, sb.pg->direct_tls ? 0 : 1);
	}
	done(&r);
	verify(&r, sb.port, "postgres", "--client");
	assert_int_equal(r.rc, 0);
	if (PQlibVersion() < 170000)
		has(&r, "has no sslnegotiation: it always sends SSLRequest first (postgres)");
	done(&r);
}

/* A server that selects ALPN passes the TLS part; one that ignores it fails before startup. */
static void test_verify_direct_against_hostile(void **state)
{
	static const char *const scenarios[] = {"direct-alpn", "direct-ignores-alpn"};
	struct czpg_child srv;
	struct result r;
	char err[600];
	size_t i;
	int port;

	(void)state;
	for (i = 0; i < 2; i++) {
		char *argv[] = {(char *)hostile,
				"--scenario",
				(char *)scenarios[i],
				"--cert",
				tf.crt,
				"--key",
				tf.key,
				"--port",
				"0",
				NULL};

		snprintf(err, sizeof(err), "%s/hostile.err", tf.dir);
		port = czpg_child_start_server(&srv, argv, err, 10000);
		assert_true(port > 0);
		verify(&r, port, "direct", NULL);
		if (i == 0) {
			if (r.rc != 0)
				fail_msg("direct-alpn:\n%s", r.out);
			has(&r, "[PASS] TLS proven");
			has(&r, "ALPN \"postgresql\" selected");
		} else {
			assert_int_equal(r.rc, 1);
			has(&r,
			    "[FAIL] the server 127.0.0.1 completed a direct TLS handshake without "
			    "selecting ALPN \"postgresql\" (it selected none): a TLS server that "
			    "ignores ALPN is not proof of PostgreSQL");
			has(&r, "hint: a TLS server that does not select ALPN");
			/* The handshake was done, and then nothing: no authentication. */
			has(&r, "client negotiated: TLS 1.3");
			lacks(&r, "authentication");
			lacks(&r, "pg_stat_ssl:");
		}
		done(&r);
		/* Over SSLRequest the same server passes: the failure was the ALPN alone. */
		verify(&r, port, "postgres", NULL);
		assert_int_equal(r.rc, 0);
		done(&r);
		czpg_child_stop(&srv);
	}
}

/* bench: the SSLRequest round trip per connection, where direct TLS exists. */
static void test_bench_compare_negotiation(void **state)
{
	char p[16];
	const char *args[] = {"bench",
			      "--host",
			      "127.0.0.1",
			      "--port",
			      p,
			      "--user",
			      sb.user,
			      "--password",
			      sb.password,
			      "--ca",
			      tf.ca,
			      "--connect",
			      "--compare-negotiation",
			      "--duration",
			      "1",
			      "--warmup",
			      "1",
			      "--pool",
			      "2",
			      "--json",
			      NULL};
	struct result r;

	(void)state;
	snprintf(p, sizeof(p), "%d", sb.port);
	run(&r, args);
	if (sb.pg->direct_tls) {
		if (r.rc != 0)
			fail_msg("bench --compare-negotiation on %d exited %d:\n%s\n%s", sb.version,
				 r.rc, r.out, r.err);
		has(&r, "\"sslnegotiation\":\"compare\"");
		has(&r, "{\"name\":\"sslrequest\",\"tls\":true,\"negotiation\":\"postgres\"");
		has(&r, "{\"name\":\"direct\",\"tls\":true,\"negotiation\":\"direct\"");
		has(&r, "\"sslrequest_cost_us\":{\"latency_mean\":");
		lacks(&r, "\"sslrequest_cost_us\":{\"latency_mean\":null");
	} else {
		assert_int_equal(r.rc, 3);
		has(&r, "of the direct pool failed: direct TLS (--sslnegotiation direct) failed");
		has(&r, "PostgreSQL accepts direct TLS from 17 on");
	}
	done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify_direct_against_sandbox),
	    cmocka_unit_test(test_verify_direct_libpq),
	    cmocka_unit_test(test_verify_direct_against_hostile),
	    cmocka_unit_test(test_bench_compare_negotiation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
