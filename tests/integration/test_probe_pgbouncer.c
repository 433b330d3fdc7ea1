/*
 * test_probe_pgbouncer.c - `czctl postgres tls probe` against a real
 * PgBouncer (Debian's 1.18, tests/support/pgbouncer.h) in front of the
 * sandbox, TLS on both legs: the probe says "PgBouncer" from PgBouncer's own
 * answers and gives its advice in PgBouncer's settings (client_tls_*), never
 * PostgreSQL's; when PgBouncer accepts plaintext or refuses TLS the advice
 * follows; when nothing PgBouncer says is its own (a user it does not know,
 * plaintext allowed), the probe names nobody rather than guess.  The
 * sandbox itself, probed in the same run, is not taken for a pooler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "childproc.h"
#include "czpg/probe.h"
#include "czpg/probe_findings.h"
#include "czpg/probe_report.h"
#include "pgbouncer.h"
#include "sandbox.h"
#include "testcert.h"

static struct czpg_sandbox sb;
static struct czpg_testcert_files tf; /* the CA, and the certificate both legs serve */
static const char *czctl;

static struct czpg_probe_result *probe(int port, const char *user)
{
	struct czpg_probe_options opt = {0};
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	char err[512];

	assert_non_null(r);
	opt.ca_file = tf.ca;
	opt.user = user;
	opt.target_timeout_ms = 10000;
	if (czpg_probe_one(&opt, "127.0.0.1", (unsigned)port, r, err, sizeof(err)) != 0)
		fail_msg("probe could not run: %s", err);
	assert_int_equal(r->status, CZPG_PROBE_PROBED);
	return r;
}

/* The finding exists and its advice names `setting`. */
static void advice_names(const struct czpg_probe_result *r, const char *id, const char *setting)
{
	const struct czpg_probe_finding *f = czpg_probe_finding(r, id);

	if (f == NULL || strstr(f->text, setting) == NULL) {
		czpg_probe_print(stderr, r);
		fail_msg("finding %s does not name %s", id, setting);
	}
}

/* No advice names a PostgreSQL setting or file. */
static void no_postgresql_advice(const struct czpg_probe_result *r)
{
	static const char *const pg[] = {"ssl_min_protocol_version", "ssl_ciphers", "pg_hba.conf",
					 "turn ssl on"};
	size_t i, k;

	for (i = 0; i < r->nfindings; i++)
		for (k = 0; k < sizeof(pg) / sizeof(pg[0]); k++)
			if (strstr(r->findings[i].text, pg[k]) != NULL)
				fail_msg("finding %s names %s: %s", r->findings[i].id, pg[k],
					 r->findings[i].text);
}

static int setup(void **state)
{
	const struct czpg_testcert_opts o = {
	    .cn = "pooler", .sans = "IP:127.0.0.1,DNS:localhost", .not_after = 90L * 86400};

	(void)state;
	czctl = getenv("CZCTL");
	if (!czpg_sandbox_from_env(&sb) || czctl == NULL || czpg_testcert_server_files(&tf, &o) < 0)
		return -1;
	/* The server leg is TLS too: the sandbox serves the same certificate. */
	return czpg_sandbox_enable_tls(&sb, tf.crt, tf.key, tf.ca, "TLSv1.2", NULL);
}

static int teardown(void **state)
{
	(void)state;
	czpg_testcert_rmdir(tf.dir);
	return 0;
}

/* TLS required on the client leg, TLS to the server: the set-up of issue 11. */
static void test_pgbouncer_requiring_tls(void **state)
{
	const struct czpg_pgbouncer_opts o = {
	    .cert = tf.crt, .key = tf.key, .server_tls_sslmode = "require"};
	struct czpg_pgbouncer pb;
	struct czpg_probe_result *r;
	char cmd[1200], *out;
	size_t len;
	int status;

	(void)state;
	assert_int_equal(czpg_pgbouncer_start(&pb, &sb, &o), 0);
	/* A role PgBouncer knows, so its admin console answers for itself. */
	r = probe(pb.port, sb.user);
	if (r->server != CZPG_PROBE_SERVER_PGBOUNCER)
		czpg_probe_print(stderr, r);
	assert_int_equal(r->server, CZPG_PROBE_SERVER_PGBOUNCER);
	assert_non_null(strstr(r->server_evidence, "the plaintext startup got \"SSL required\""));
	assert_non_null(strstr(r->server_evidence, "database \"pgbouncer\" got \"not allowed\""));
	assert_string_equal(r->plaintext_refusal.sqlstate, "08P01");
	assert_string_equal(r->plaintext_refusal.fields, "SCM");
	assert_non_null(czpg_probe_finding(r, "pgbouncer"));
	/* Its TLS is what the probe describes, with advice in its own settings. */
	assert_int_equal(r->versions[0].accepted, CZPG_TRI_YES);
	assert_int_equal(r->versions[1].accepted, CZPG_TRI_YES); /* client_tls_protocols = secure */
	advice_names(r, "tls12-accepted", "client_tls_protocols");
	advice_names(r, "no-channel-binding", "through the pooler");
	if (czpg_probe_finding(r, "weak-suites") != NULL)
		advice_names(r, "weak-suites", "client_tls_ciphers");
	no_postgresql_advice(r);
	assert_int_equal(r->channel_binding, CZPG_TRI_NO);
	/* The server behind it is not reached: no version claimed. */
	assert_string_equal(r->server_version, "");
	free(r);

	/* The command line says it in words and in JSON. */
	snprintf(cmd, sizeof(cmd),
		 "%s postgres tls probe --host 127.0.0.1 --port %d --user %s --ca %s > %s/out.txt",
		 czctl, pb.port, sb.user, tf.ca, tf.dir);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1); /* TLS 1.2 accepted: medium */
	snprintf(cmd, sizeof(cmd), "%s/out.txt", tf.dir);
	out = czpg_child_slurp(cmd, &len);
	assert_non_null(out);
	assert_non_null(strstr(out, "Server: PgBouncer ("));
	assert_non_null(strstr(out, "[INFO] pgbouncer: PgBouncer answers on this port"));
	assert_non_null(strstr(out, "set client_tls_protocols = tlsv1.3 in pgbouncer.ini"));
	assert_null(strstr(out, "ssl_min_protocol_version"));
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "%s postgres tls probe --host 127.0.0.1 --port %d --user %s --json > %s/out.json",
		 czctl, pb.port, sb.user, tf.dir);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	snprintf(cmd, sizeof(cmd), "%s/out.json", tf.dir);
	out = czpg_child_slurp(cmd, &len);
	assert_non_null(out);
	assert_non_null(strstr(out, "\"server\":{\"kind\":\"pgbouncer\""));
	assert_non_null(strstr(out, "\"admin_db\":{\"sqlstate\":\"08P01\",\"message\":\"not "
				    "allowed\",\"fields\":\"SCM\"}"));
	free(out);

	/* The sandbox itself, in the same run: not a pooler. */
	r = probe(sb.port, sb.user);
	assert_int_not_equal(r->server, CZPG_PROBE_SERVER_PGBOUNCER);
	assert_null(czpg_probe_finding(r, "pgbouncer"));
	advice_names(r, "tls12-accepted", "ssl_min_protocol_version");
	free(r);
	czpg_pgbouncer_stop(&pb);
}

/* Plaintext allowed, and TLS off: the advice is client_tls_sslmode. */
static void test_pgbouncer_plaintext(void **state)
{
	const struct czpg_pgbouncer_opts prefer = {
	    .cert = tf.crt, .key = tf.key, .client_tls_sslmode = "prefer"};
	const struct czpg_pgbouncer_opts off = {.client_tls_sslmode = "disable"};
	struct czpg_pgbouncer pb;
	struct czpg_probe_result *r;

	(void)state;
	assert_int_equal(czpg_pgbouncer_start(&pb, &sb, &prefer), 0);
	r = probe(pb.port, sb.user);
	assert_int_equal(r->plaintext_accepted, CZPG_TRI_YES);
	/* Only the admin console speaks for PgBouncer now, and that is enough. */
	assert_int_equal(r->server, CZPG_PROBE_SERVER_PGBOUNCER);
	advice_names(r, "plaintext-accepted", "client_tls_sslmode = require");
	no_postgresql_advice(r);
	free(r);
	/*
	 * A role it does not know gets a made-up SCRAM exchange from PgBouncer,
	 * as from PostgreSQL: nothing is PgBouncer's own, so nobody is named.
	 */
	r = probe(pb.port, "postgres");
	assert_int_equal(r->server, CZPG_PROBE_SERVER_UNKNOWN);
	assert_null(czpg_probe_finding(r, "pgbouncer"));
	free(r);
	czpg_pgbouncer_stop(&pb);

	assert_int_equal(czpg_pgbouncer_start(&pb, &sb, &off), 0);
	r = probe(pb.port, sb.user);
	assert_int_equal(r->ssl_answer, 'N');
	assert_int_equal(r->server, CZPG_PROBE_SERVER_PGBOUNCER);
	advice_names(r, "tls-off", "client_tls_sslmode = require with client_tls_key_file");
	no_postgresql_advice(r);
	free(r);
	czpg_pgbouncer_stop(&pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pgbouncer_requiring_tls),
	    cmocka_unit_test(test_pgbouncer_plaintext),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
