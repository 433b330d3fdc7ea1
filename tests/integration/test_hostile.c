/*
 * test_hostile.c - `czctl postgres tls verify` against a misbehaving server.
 *
 * tests/tools/hostile_server plays one scenario per process (a refused or
 * forged SSLRequest answer, bad certificates, TLS 1.2 only, forged SCRAM
 * messages, trust under channel binding require, an absurd message length,
 * a stall or a close in every phase).  For each, czctl must exit 1 with
 * exactly one [FAIL] line naming the problem, print no raw escape byte, not
 * crash or leak (a sanitizer report on stderr fails the test), and finish in
 * about its --timeout when the server stalls.  The `good` scenario must PASS
 * against the same program, or no FAIL here would prove anything.
 *
 * All servers start first, then the czctl runs go a few at a time; cmocka
 * then checks each run.  The real sandbox server is not used.
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
#include "testcert.h"

#define PARALLEL 4
#define STALL_TIMEOUT_S 1
/*
 * Runs that must not wait for any timeout get a long one: finishing well
 * under it shows none fired, even on a loaded machine under ASan.
 */
#define FAST_TIMEOUT_S 10
#define FAST_LIMIT_MS 8000.0
/* A stall ends by the --timeout, plus process start-up and scheduling slack. */
#define STALL_SLACK_MS 5000.0
#define HARD_LIMIT_MS 30000u

enum certset { CERT_GOOD = 0, CERT_WRONG_NAME, CERT_UNTRUSTED, CERT_EXPIRED, CERT_COUNT };

static const char *const cert_names[CERT_COUNT] = {"good", "wrongname", "untrusted", "expired"};

struct run {
	const char *scenario; /* hostile_server --scenario */
	enum certset cert;
	const char *cb; /* --channel-binding, NULL = the default (prefer) */
	bool json;
	bool stall;          /* ends by the client's timeout (--timeout 1) */
	bool drip;           /* ends by verify's overall limit, 8 x --timeout */
	const char *expect;  /* phrase of the [FAIL] line; NULL = must PASS */
	const char *expect2; /* a second phrase that must appear in stdout, or NULL */
};

/* What happened to one run (same index as runs[]). */
struct outcome {
	int server; /* index into servers[] */
	struct czpg_child child;
	char *out;
	char *err;
	size_t outlen;
	size_t errlen;
};

/* clang-format off */
/* Runs with the default channel binding (prefer) unless .cb says otherwise. */
#define FAILS(sc, crt, phrase) {.scenario = sc, .cert = crt, .expect = phrase}
#define FAILS_CB(sc, cbmode, phrase) {.scenario = sc, .cert = CERT_GOOD, .cb = cbmode, .expect = phrase}
#define FAILS_JSON(sc, phrase) {.scenario = sc, .cert = CERT_GOOD, .json = true, .expect = phrase}
#define STALLS(sc, phrase) {.scenario = sc, .cert = CERT_GOOD, .stall = true, .expect = phrase}
#define TIMEOUT_PHRASE "timed out after 1000 ms waiting for "

static const struct run runs[] = {
        {.scenario = "good", .cert = CERT_GOOD, .cb = "require", .expect2 = "SCRAM-SHA-256-PLUS"},
        {.scenario = "good",
         .cert = CERT_GOOD,
         .cb = "require",
         .json = true,
         .expect2 = "\"channel_binding_used\":true"},
        {.scenario = "good",
         .cert = CERT_GOOD,
         .cb = "disable",
         .expect2 = "authentication: SCRAM-SHA-256;"},
        /* Early, so that its 8 s overlap the other runs. */
        {.scenario = "drip-query",
         .cert = CERT_GOOD,
         .stall = true,
         .drip = true,
         .expect = "timed out after 8000 ms in total",
         .expect2 = "hint: the server accepted the connection but stopped making progress"},
        FAILS("cert-wrong-name", CERT_WRONG_NAME, "does not match: no IP SAN"),
        FAILS("cert-untrusted", CERT_UNTRUSTED, "is not signed by a CA in"),
        FAILS("cert-expired", CERT_EXPIRED, "expired on"),
        FAILS("ssl-refused", CERT_GOOD, "refused TLS"),
        FAILS("ssl-inject", CERT_GOOD, "unencrypted byte(s) after agreeing to TLS"),
        FAILS("ssl-error-escape", CERT_GOOD, "instead of 'S' or 'N'"),
        FAILS_JSON("ssl-error-escape", "instead of 'S' or 'N'"),
        {.scenario = "startup-error-escape",
         .cert = CERT_GOOD,
         .expect = "the server refused the connection",
         .expect2 = "server says: run rm -rf /"},
        {.scenario = "startup-error-escape",
         .cert = CERT_GOOD,
         .json = true,
         .expect = "the server refused the connection",
         .expect2 = "server says: run rm -rf /"},
        FAILS("tls12-only", CERT_GOOD, "does not support TLS 1.3"),
        FAILS("scram-bad-signature", CERT_GOOD, "server signature is wrong"),
        FAILS("scram-bad-nonce", CERT_GOOD, "does not start with the client nonce"),
        FAILS("scram-huge-iterations", CERT_GOOD, "iteration count 2147483647 exceeds the limit"),
        FAILS_CB("trust", "require", "without channel binding"),
        FAILS_CB("no-plus", "require", "does not offer SCRAM-SHA-256-PLUS"),
        FAILS("huge-length", CERT_GOOD,
              "protocol error from the server: server message 'R' (0x52) has a negative length"),
        FAILS("huge-length-max", CERT_GOOD,
              "protocol error from the server: server message 'R' (0x52) claims 2147483647 bytes"),
        STALLS("stall-ssl", TIMEOUT_PHRASE "the answer to SSLRequest"),
        STALLS("stall-tls", TIMEOUT_PHRASE "the TLS handshake"),
        STALLS("stall-startup", TIMEOUT_PHRASE "the startup reply"),
        STALLS("stall-sasl", TIMEOUT_PHRASE "SCRAM authentication"),
        STALLS("stall-params", TIMEOUT_PHRASE "the end of startup (ReadyForQuery)"),
        STALLS("stall-query", TIMEOUT_PHRASE "a query result"),
        {.scenario = "stall-query",
         .cert = CERT_GOOD,
         .json = true,
         .stall = true,
         .expect = TIMEOUT_PHRASE "a query result"},
        FAILS("close-ssl", CERT_GOOD,
              "closed the connection while we waited for the answer to SSLRequest"),
        FAILS("close-tls", CERT_GOOD, "closed the connection during the TLS handshake"),
        FAILS("tls-close-notify", CERT_GOOD, "closed the TLS session during the handshake"),
        FAILS("close-startup", CERT_GOOD,
              "closed the connection while we waited for the startup reply"),
        FAILS("close-sasl", CERT_GOOD,
              "closed the connection while we waited for SCRAM authentication"),
        FAILS("close-params", CERT_GOOD,
              "closed the connection while we waited for the end of startup"),
        FAILS("close-query", CERT_GOOD,
              "closed the connection while we waited for a query result"),
};
/* clang-format on */
#define NRUNS (sizeof(runs) / sizeof(runs[0]))

static struct outcome outcomes[NRUNS];

struct server {
	const char *scenario;
	enum certset cert;
	int port;
	struct czpg_child child;
	char err_path[600];
};

static struct server servers[NRUNS];
static size_t nservers;
static char tmpdir[512];
static const char *czctl;
static const char *hostile;
static bool setup_ok;

/* ---- certificates --------------------------------------------------------- */

static int make_certs(void)
{
	struct czpg_testcert ca = {0}, other_ca = {0}, leaf = {0};
	struct czpg_testcert_opts good = {.cn = "hostile good",
					  .sans = "IP:127.0.0.1,DNS:localhost"};
	struct czpg_testcert_opts wrong = {.cn = "127.0.0.1",
					   .sans = "DNS:db.other.example,IP:127.0.0.2"};
	struct czpg_testcert_opts expired = {.cn = "hostile expired",
					     .sans = "IP:127.0.0.1",
					     .not_before = -2 * 86400,
					     .not_after = -86400};
	struct czpg_testcert_opts other = {.cn = "some other CA"};
	int rc = -1;

	if (czpg_testcert_make_ca(&ca, NULL) < 0 || czpg_testcert_write(&ca, tmpdir, "ca") < 0)
		goto out;
	if (czpg_testcert_make_leaf(&leaf, &ca, &good) < 0 ||
	    czpg_testcert_write(&leaf, tmpdir, cert_names[CERT_GOOD]) < 0)
		goto out;
	czpg_testcert_free(&leaf);
	if (czpg_testcert_make_leaf(&leaf, &ca, &wrong) < 0 ||
	    czpg_testcert_write(&leaf, tmpdir, cert_names[CERT_WRONG_NAME]) < 0)
		goto out;
	czpg_testcert_free(&leaf);
	if (czpg_testcert_make_leaf(&leaf, &ca, &expired) < 0 ||
	    czpg_testcert_write(&leaf, tmpdir, cert_names[CERT_EXPIRED]) < 0)
		goto out;
	czpg_testcert_free(&leaf);
	/* Same names, right dates, wrong issuer. */
	if (czpg_testcert_make_ca(&other_ca, &other) < 0 ||
	    czpg_testcert_make_leaf(&leaf, &other_ca, &good) < 0 ||
	    czpg_testcert_write(&leaf, tmpdir, cert_names[CERT_UNTRUSTED]) < 0)
		goto out;
	rc = 0;
out:
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&other_ca);
	czpg_testcert_free(&ca);
	return rc;
}

/* ---- servers and runs ----------------------------------------------------- */

static int server_for(const char *scenario, enum certset cert)
{
	char certp[600], keyp[600];
	char *argv[10];
	struct server *s;
	size_t i;

	for (i = 0; i < nservers; i++)
		if (strcmp(servers[i].scenario, scenario) == 0 && servers[i].cert == cert)
			return (int)i;
	s = &servers[nservers];
	s->scenario = scenario;
	s->cert = cert;
	snprintf(certp, sizeof(certp), "%s/%s.crt", tmpdir, cert_names[cert]);
	snprintf(keyp, sizeof(keyp), "%s/%s.key", tmpdir, cert_names[cert]);
	snprintf(s->err_path, sizeof(s->err_path), "%s/server-%zu.err", tmpdir, nservers);
	argv[0] = (char *)hostile;
	argv[1] = "--scenario";
	argv[2] = (char *)scenario;
	argv[3] = "--cert";
	argv[4] = certp;
	argv[5] = "--key";
	argv[6] = keyp;
	argv[7] = "--port";
	argv[8] = "0";
	argv[9] = NULL;
	s->port = czpg_child_start_server(&s->child, argv, s->err_path, 10000);
	if (s->port < 0) {
		char *e = czpg_child_slurp(s->err_path, NULL);

		fprintf(stderr, "hostile_server %s did not start: %s\n", scenario,
			e != NULL ? e : "");
		free(e);
		return -1;
	}
	return (int)nservers++;
}

static int start_run(size_t idx)
{
	const struct run *r = &runs[idx];
	struct outcome *o = &outcomes[idx];
	char port[16], timeout[16], ca[600], out[600], err[600];
	char *argv[24];
	int k = 0;

	snprintf(port, sizeof(port), "%d", servers[o->server].port);
	snprintf(timeout, sizeof(timeout), "%d", r->stall ? STALL_TIMEOUT_S : FAST_TIMEOUT_S);
	snprintf(ca, sizeof(ca), "%s/ca.crt", tmpdir);
	snprintf(out, sizeof(out), "%s/run-%zu.out", tmpdir, idx);
	snprintf(err, sizeof(err), "%s/run-%zu.err", tmpdir, idx);
	argv[k++] = (char *)czctl;
	argv[k++] = "postgres";
	argv[k++] = "tls";
	argv[k++] = "verify";
	argv[k++] = "--host";
	argv[k++] = "127.0.0.1";
	argv[k++] = "--port";
	argv[k++] = port;
	argv[k++] = "--user";
	argv[k++] = "u";
	argv[k++] = "--ca";
	argv[k++] = ca;
	argv[k++] = "--password";
	argv[k++] = "pw";
	argv[k++] = "--timeout";
	argv[k++] = timeout;
	if (r->cb != NULL) {
		argv[k++] = "--channel-binding";
		argv[k++] = (char *)r->cb;
	}
	if (r->json)
		argv[k++] = "--json";
	argv[k] = NULL;
	return czpg_child_start(&o->child, argv, out, err);
}

static void run_all(void)
{
	size_t next = 0, done = 0, running = 0, i;

	while (done < NRUNS) {
		while (running < PARALLEL && next < NRUNS) {
			if (start_run(next) == 0)
				running++;
			else
				done++;
			next++;
		}
		for (i = 0; i < next; i++) {
			struct outcome *o = &outcomes[i];

			if (o->child.pid == 0 || o->out != NULL ||
			    !czpg_child_poll(&o->child, HARD_LIMIT_MS))
				continue;
			o->out = czpg_child_slurp(o->child.out_path, &o->outlen);
			o->err = czpg_child_slurp(o->child.err_path, &o->errlen);
			running--;
			done++;
		}
		usleep(3000);
	}
}

static int group_setup(void **state)
{
	size_t i;

	(void)state;
	czctl = getenv("CZCTL");
	hostile = getenv("CZ_TOOL_HOSTILE_SERVER");
	if (czctl == NULL || hostile == NULL) {
		fprintf(stderr, "CZCTL and CZ_TOOL_HOSTILE_SERVER must be set (run via ctest)\n");
		return -1;
	}
	if (czpg_testcert_tmpdir(tmpdir, sizeof(tmpdir)) < 0 || make_certs() < 0)
		return -1;
	for (i = 0; i < NRUNS; i++) {
		outcomes[i].server = server_for(runs[i].scenario, runs[i].cert);
		if (outcomes[i].server < 0)
			return -1;
	}
	run_all();
	setup_ok = true;
	return 0;
}

static int group_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < nservers; i++)
		czpg_child_stop(&servers[i].child);
	for (i = 0; i < NRUNS; i++) {
		free(outcomes[i].out);
		free(outcomes[i].err);
	}
	if (tmpdir[0] != '\0')
		czpg_testcert_rmdir(tmpdir);
	return 0;
}

/* ---- checks --------------------------------------------------------------- */

static size_t count_line_prefix(const char *text, const char *prefix, const char **first)
{
	const char *p = text;
	size_t n = 0, plen = strlen(prefix);

	*first = NULL;
	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, plen) == 0) {
			if (n == 0)
				*first = p;
			n++;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return n;
}

/* No control byte other than newline (and tab) reaches the terminal. */
static void assert_no_control_bytes(const char *what, const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if (ch == 0x1b || ch == 0x07 || ch == 0x9b || ch == 0 ||
		    (ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f) {
			print_error("%s has control byte 0x%02x at offset %zu\n", what, ch, i);
			fail();
		}
	}
}

static void show(const struct run *r, const struct outcome *o)
{
	print_message("  %s%s%s: exit %d in %.0f ms\n  stdout: %s  stderr: %s\n", r->scenario,
		      r->json ? " --json" : "", r->cb != NULL ? " (channel binding set)" : "",
		      czpg_child_exit_code(&o->child), czpg_child_elapsed_ms(&o->child),
		      o->out != NULL ? o->out : "(none)\n", o->err != NULL ? o->err : "(none)\n");
}

static void check_run(void **state)
{
	const struct run *r = *state;
	const struct outcome *o = &outcomes[r - runs];
	const char *line, *eol;
	char failure[1400];
	double ms;
	int code;

	assert_true(setup_ok);
	show(r, o);
	assert_false(o->child.killed); /* no hang */
	assert_non_null(o->out);
	assert_non_null(o->err);
	/* A sanitizer report (leak, overflow, UB) fails the run whatever the exit code. */
	assert_null(strstr(o->err, "Sanitizer"));
	assert_null(strstr(o->err, "runtime error"));
	assert_no_control_bytes("stdout", o->out, o->outlen);
	assert_no_control_bytes("stderr", o->err, o->errlen);
	code = czpg_child_exit_code(&o->child);
	ms = czpg_child_elapsed_ms(&o->child);

	if (r->expect == NULL) {
		assert_int_equal(code, 0);
		if (r->json)
			assert_non_null(strstr(o->out, "\"result\":\"PASS\""));
		else
			assert_int_equal(count_line_prefix(o->out, "[PASS] TLS proven", &line), 1);
		assert_int_equal(count_line_prefix(o->out, "[FAIL]", &line), 0);
	} else {
		assert_int_equal(code, 1); /* FAIL, not a crash (signal) or usage error */
		if (r->json) {
			assert_non_null(strstr(o->out, "\"result\":\"FAIL\""));
			line = strstr(o->out, "\"failure\":\"");
			assert_non_null(line);
			eol = strchr(line + 11, '"');
		} else {
			assert_int_equal(count_line_prefix(o->out, "[FAIL]", &line), 1);
			assert_int_equal(count_line_prefix(o->out, "[PASS]", &eol), 0);
			eol = strchr(line, '\n');
		}
		assert_non_null(eol);
		snprintf(failure, sizeof(failure), "%.*s", (int)(eol - line), line);
		if (strstr(failure, r->expect) == NULL) {
			print_error("expected \"%s\" in: %s\n", r->expect, failure);
			fail();
		}
	}
	if (r->expect2 != NULL && strstr(o->out, r->expect2) == NULL) {
		print_error("expected \"%s\" in stdout\n", r->expect2);
		fail();
	}
	if (r->stall) {
		/* Ended by the timeout: not before it, not long after. */
		double expect_ms = STALL_TIMEOUT_S * 1000.0 * (r->drip ? 8 : 1);

		assert_true(ms >= expect_ms - 50.0);
		assert_true(ms <= expect_ms + STALL_SLACK_MS);
	} else {
		assert_true(ms < FAST_LIMIT_MS);
	}
}

/* Every hostile server is still up after all the runs: it did not crash either. */
static void test_servers_survived(void **state)
{
	size_t i;

	(void)state;
	assert_true(setup_ok);
	for (i = 0; i < nservers; i++) {
		char *e;

		assert_false(czpg_child_poll(&servers[i].child, 0));
		assert_true(czpg_child_stop(&servers[i].child));
		e = czpg_child_slurp(servers[i].err_path, NULL);
		assert_non_null(e);
		if (strstr(e, "Sanitizer") != NULL || strstr(e, "runtime error") != NULL) {
			print_error("hostile_server %s: %s\n", servers[i].scenario, e);
			free(e);
			fail();
		}
		free(e);
	}
}

int main(void)
{
	struct CMUnitTest tests[NRUNS + 1];
	static char names[NRUNS][96];
	size_t i;

	for (i = 0; i < NRUNS; i++) {
		snprintf(names[i], sizeof(names[i]), "%s%s%s%s", runs[i].scenario,
			 runs[i].cb != NULL ? " cb=" : "", runs[i].cb != NULL ? runs[i].cb : "",
			 runs[i].json ? " json" : "");
		tests[i] = (struct CMUnitTest){
		    .name = names[i], .test_func = check_run, .initial_state = (void *)&runs[i]};
	}
	tests[NRUNS] =
	    (struct CMUnitTest){.name = "servers_survived", .test_func = test_servers_survived};
	return _cmocka_run_group_tests("hostile", tests, NRUNS + 1, group_setup, group_teardown);
}
