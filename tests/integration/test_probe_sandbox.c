/*
 * test_probe_sandbox.c - `czctl postgres tls probe` against a real PostgreSQL
 * (15, 17, 18; what differs between them comes from pgversion.h):
 * TLS off, TLS 1.3 only, plaintext refused by pg_hba, TLS 1.2 (and 1.0)
 * allowed, cross-checked with `openssl s_client -starttls postgres`, the
 * server's suite preference against s_client offering the accepted suites
 * in several orders; then a
 * fleet of a few hundred targets on 127.0.0.0/8 (the sandbox on 40 loopback
 * addresses, closed ports, listeners that never answer, and one that answers
 * like an HTTP server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "czpg/result.h"
#include "czpg/pgwire.h"
#include "czpg/probe.h"
#include "czpg/probe_findings.h"
#include "czpg/probe_report.h"
#include "sandbox.h"
#include "testcert.h"

static struct czpg_sandbox sb;
static char dir[256], ca_path[512], other_ca_path[512], crt_path[512], key_path[512];
static const char *czctl;

/* ---- helpers -------------------------------------------------------------- */

static struct czpg_probe_result *probe(const char *host, const char *ca, bool quick)
{
	struct czpg_probe_options opt = {0};
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	char err[512];

	assert_non_null(r);
	opt.ca_file = ca;
	opt.quick = quick;
	opt.target_timeout_ms = 10000;
	if (czpg_probe_one(&opt, host, (unsigned)sb.port, r, err, sizeof(err)) != 0)
		fail_msg("probe could not run: %s", err);
	assert_string_equal(r->user, "postgres");
	return r;
}

static void expect(const struct czpg_probe_result *r, const char *id, enum czpg_probe_severity sev)
{
	const struct czpg_probe_finding *f = czpg_probe_finding(r, id);

	if (f == NULL) {
		czpg_probe_print(stderr, r);
		fail_msg("finding %s missing", id);
	}
	assert_int_equal(f->severity, sev);
}

static enum czpg_probe_tri suite(const struct czpg_probe_version *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nsuites; i++)
		if (strcmp(v->suites[i].name, name) == 0)
			return v->suites[i].accepted;
	return (enum czpg_probe_tri) - 1; /* not tried */
}

static enum czpg_probe_tri group(const struct czpg_probe_result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->ngroups; i++)
		if (strcmp(r->groups[i].name, name) == 0)
			return r->groups[i].accepted;
	return (enum czpg_probe_tri) - 1;
}

/* The number after "key": in a JSON line (the key must be there). */
static double json_number(const char *line, const char *key)
{
	char want[64];
	const char *p;

	snprintf(want, sizeof(want), "\"%s\":", key);
	p = strstr(line, want);
	if (p == NULL)
		fail_msg("no %s in %.400s", want, line);
	return strtod(p + strlen(want), NULL);
}

/* Runs a shell command; its stdout (and stderr) into out; returns the exit code. */
static int run(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0, got;
	int status;

	assert_non_null(p);
	while (n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	/* Drain the rest so the child is not blocked writing. */
	while (fgetc(p) != EOF)
		;
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The protocol and cipher `openssl s_client -starttls postgres` negotiates. */
static void s_client(const char *extra, char *version, char *cipher, size_t cap)
{
	char cmd[512], *out = malloc(65536), *line;

	assert_non_null(out);
	snprintf(cmd, sizeof(cmd),
		 "timeout 20 openssl s_client -starttls postgres -connect 127.0.0.1:%d %s "
		 "</dev/null 2>/dev/null",
		 sb.port, extra);
	run(cmd, out, 65536);
	/* "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" */
	line = strstr(out, "New, ");
	if (line == NULL)
		fail_msg("no session line from s_client:\n%.2000s", out);
	assert_int_equal(sscanf(line, "New, %31[^,], Cipher is %63s", version, cipher), 2);
	(void)cap;
	free(out);
}

/* What pgversion.h says, as the probe reports it. */
static enum czpg_probe_tri tri(bool yes)
{
	return yes ? CZPG_TRI_YES : CZPG_TRI_NO;
}

static int write_conf(const char *relpath, const char *text)
{
	return czpg_sandbox_write_file(&sb, relpath, text, strlen(text), 0644);
}

/* ---- fixture ---------------------------------------------------------------- */

static int setup(void **state)
{
	struct czpg_testcert ca = {0}, other = {0}, leaf = {0};
	/* 90 days: no expiry finding on the clean box. */
	struct czpg_testcert_opts o = {.cn = "probe test server",
				       .sans = "IP:127.0.0.1,DNS:localhost",
				       .not_after = 90L * 86400};
	int rc = -1;

	(void)state;
	if (!czpg_sandbox_from_env(&sb))
		return -1;
	czctl = getenv("CZCTL");
	if (czctl == NULL || czpg_testcert_tmpdir(dir, sizeof(dir)) != 0)
		return -1;
	if (czpg_testcert_make_ca(&ca, NULL) != 0 || czpg_testcert_make_ca(&other, NULL) != 0 ||
	    czpg_testcert_make_leaf(&leaf, &ca, &o) != 0 ||
	    czpg_testcert_write(&ca, dir, "ca") != 0 ||
	    czpg_testcert_write(&other, dir, "other") != 0 ||
	    czpg_testcert_write(&leaf, dir, "server") != 0)
		goto out;
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
	snprintf(other_ca_path, sizeof(other_ca_path), "%s/other.crt", dir);
	snprintf(crt_path, sizeof(crt_path), "%s/server.crt", dir);
	snprintf(key_path, sizeof(key_path), "%s/server.key", dir);
	rc = 0;
out:
	czpg_testcert_free(&ca);
	czpg_testcert_free(&other);
	czpg_testcert_free(&leaf);
	return rc;
}

static int teardown(void **state)
{
	(void)state;
	czpg_testcert_rmdir(dir);
	return 0;
}

/* ---- single boxes ------------------------------------------------------------ */

/* The sandbox starts with ssl = off. */
static void test_tls_off_box(void **state)
{
	struct czpg_probe_result *r = probe("127.0.0.1", ca_path, false);
	size_t i;

	(void)state;
	assert_int_equal(r->status, CZPG_PROBE_PROBED);
	assert_int_equal(r->ssl_answer, 'N');
	assert_false(r->tls_ok);
	assert_int_equal(r->nchain, 0);
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++)
		assert_int_equal(r->versions[i].accepted, CZPG_TRI_UNKNOWN);
	assert_int_equal(r->plaintext_accepted, CZPG_TRI_YES);
	assert_int_equal(r->plaintext_auth, CZPG_PGWIRE_AUTH_SASL);
	expect(r, "tls-off", CZPG_SEV_HIGH);
	expect(r, "plaintext-accepted", CZPG_SEV_HIGH);
	/* Plaintext is the whole story: nothing about certificates or versions. */
	for (i = 0; i < r->nfindings; i++)
		if (r->findings[i].severity >= CZPG_SEV_LOW)
			assert_true(strcmp(r->findings[i].id, "tls-off") == 0 ||
				    strcmp(r->findings[i].id, "plaintext-accepted") == 0);
	assert_true(r->gssenc_answer == 'G' || r->gssenc_answer == 'N');
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_FAIL);
	free(r);
}

static void test_tls13_only_box(void **state)
{
	struct czpg_probe_result *r;
	char version[32], cipher[64], sql[128], setting[64];

	(void)state;
	assert_int_equal(czpg_sandbox_enable_tls(&sb, crt_path, key_path, ca_path, "TLSv1.3", NULL),
			 0);
	r = probe("127.0.0.1", ca_path, false);
	assert_int_equal(r->status, CZPG_PROBE_PROBED);
	assert_int_equal(r->ssl_answer, 'S');
	assert_true(r->tls_ok);
	assert_string_equal(r->tls_version, "TLSv1.3");
	assert_int_equal(r->versions[0].accepted, CZPG_TRI_YES);
	assert_int_equal(r->versions[1].accepted, CZPG_TRI_NO);
	assert_int_equal(r->versions[2].accepted, CZPG_TRI_NO);
	assert_int_equal(r->versions[3].accepted, CZPG_TRI_NO);
	assert_null(czpg_probe_finding(r, "tls12-accepted"));
	assert_null(czpg_probe_finding(r, "tls10-accepted"));
	/* OpenSSL's default 1.3 suites are on, the CCM ones are not. */
	assert_int_equal(r->versions[0].nsuites, 5);
	assert_int_equal(suite(&r->versions[0], "TLS_AES_256_GCM_SHA384"), CZPG_TRI_YES);
	assert_int_equal(suite(&r->versions[0], "TLS_CHACHA20_POLY1305_SHA256"), CZPG_TRI_YES);
	assert_int_equal(suite(&r->versions[0], "TLS_AES_128_GCM_SHA256"), CZPG_TRI_YES);
	assert_int_equal(suite(&r->versions[0], "TLS_AES_128_CCM_8_SHA256"), CZPG_TRI_NO);
	assert_int_equal(r->versions[0].server_order, CZPG_TRI_YES); /* ssl_prefer_server_ciphers */
	/* The default groups: prime256v1 alone up to 17, X25519 too from 18. */
	assert_string_equal(r->groups_over, "TLSv1.3");
	assert_int_equal(group(r, "P-256"), CZPG_TRI_YES);
	assert_int_equal(group(r, "X25519"), tri(sb.pg->default_x25519));
	assert_int_equal(group(r, "ffdhe2048"), CZPG_TRI_NO);
	/* The chain: the leaf, and the CA the server adds from ssl_ca_file. */
	assert_int_equal(r->nchain, 2);
	assert_int_equal(r->chain_sent, 2);
	assert_non_null(strstr(r->chain[0].subject, "CN=probe test server"));
	assert_non_null(strstr(r->chain[0].issuer, "czpg test CA"));
	assert_string_equal(r->chain[1].subject, r->chain[0].issuer);
	assert_string_equal(r->chain[0].sans, "IP:127.0.0.1, DNS:localhost");
	assert_string_equal(r->chain[0].key, "EC P-256");
	assert_string_equal(r->chain[0].sig_alg, "ecdsa-with-SHA256");
	assert_true(r->chain[0].days_left >= 88 && r->chain[0].days_left <= 90);
	assert_int_equal(r->host_match, CZPG_TRI_YES);
	assert_int_equal(r->ca_verified, CZPG_TRI_YES);
	/* SASL over TLS, no password sent. */
	assert_int_equal(r->tls_auth, CZPG_PGWIRE_AUTH_SASL);
	assert_non_null(strstr(r->mechanisms, "SCRAM-SHA-256-PLUS"));
	assert_int_equal(r->channel_binding, CZPG_TRI_YES);
	assert_null(czpg_probe_finding(r, "no-channel-binding"));
	/* Direct TLS from 17; before, the server reads the ClientHello as a bad startup. */
	assert_int_equal(r->direct_tls, tri(sb.pg->direct_tls));
	assert_true(r->gssenc_answer == 'G' || r->gssenc_answer == 'N');
	/* pg_hba still has plain host lines. */
	assert_int_equal(r->plaintext_accepted, CZPG_TRI_YES);
	expect(r, "plaintext-accepted", CZPG_SEV_HIGH);
	assert_null(czpg_probe_finding(r, "cert-expiring"));
	assert_null(czpg_probe_finding(r, "name-mismatch"));
	assert_null(czpg_probe_finding(r, "ca-unverified"));

	/* What openssl s_client negotiates is what the probe reports. */
	s_client("", version, cipher, sizeof(cipher));
	assert_string_equal(version, r->tls_version);
	assert_string_equal(cipher, r->tls_cipher);
	/* What the server paid (docs/probe.md): the first connection, plaintext,
	 * verify-full, TLS 1.2, 1.1 and 1.0, the five suites, three for the order
	 * of the three accepted (all of them in both orders, then the two left),
	 * one per accepted group and one more (none left), direct TLS,
	 * GSSENCRequest, the startup for database "pgbouncer". */
	assert_false(r->deadline_hit);
	assert_int_equal(r->connections, 19 + (sb.pg->default_x25519 ? 1 : 0));
	/* Without a password, the version comes from direct TLS: 17+, or before. */
	assert_string_equal(r->server_version, sb.pg->direct_tls ? "17 or later" : "before 17");
	/* Nothing was refused: PostgreSQL or a pooler, the probe cannot tell. */
	assert_int_equal(r->server, CZPG_PROBE_SERVER_UNKNOWN);
	assert_null(czpg_probe_finding(r, "pgbouncer"));
	/* OpenSSL's default TLS 1.3 order, which the server applies as its own. */
	assert_true(r->versions[0].preference_complete);
	assert_int_equal(r->versions[0].npreference, 3);
	assert_string_equal(r->versions[0].preference[0], "TLS_AES_256_GCM_SHA384");
	assert_string_equal(r->versions[0].preference[1], "TLS_CHACHA20_POLY1305_SHA256");
	assert_string_equal(r->versions[0].preference[2], "TLS_AES_128_GCM_SHA256");
	free(r);

	/* The name and the CA as verify-full sees them. */
	r = probe("localhost", other_ca_path, true);
	assert_int_equal(r->host_match, CZPG_TRI_YES);
	assert_int_equal(r->ca_verified, CZPG_TRI_NO);
	expect(r, "ca-unverified", CZPG_SEV_MEDIUM);
	free(r);

	/*
	 * The vetted configuration pins the curve with ssl_ecdh_curve: one group
	 * on every version, on 18 through its alias ssl_groups.
	 */
	assert_int_equal(
	    write_conf("conf.d/zz-probe-curve.conf", "ssl_ecdh_curve = 'prime256v1'\n"), 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	snprintf(sql, sizeof(sql), "SELECT setting FROM pg_settings WHERE name = '%s'",
		 sb.pg->groups_setting);
	assert_int_equal(czpg_sandbox_query_value(&sb, sql, setting, sizeof(setting)), 0);
	assert_string_equal(setting, "prime256v1");
	r = probe("127.0.0.1", ca_path, false);
	assert_int_equal(group(r, "P-256"), CZPG_TRI_YES);
	assert_int_equal(group(r, "X25519"), CZPG_TRI_NO);
	free(r);
	assert_int_equal(write_conf("conf.d/zz-probe-curve.conf", "\n"), 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
}

static void test_cli_output_and_usage(void **state)
{
	char cmd[2400], *out = malloc(1 << 20), path[600];
	FILE *f;

	(void)state;
	assert_non_null(out);
	snprintf(cmd, sizeof(cmd),
		 "%s postgres tls probe --host 127.0.0.1 --port %d --ca %s --json", czctl, sb.port,
		 ca_path);
	assert_int_equal(run(cmd, out, 1 << 20), CZPG_RESULT_FAIL); /* plaintext accepted */
	assert_non_null(strstr(out, "\"ssl_answer\":\"S\""));
	assert_non_null(strstr(out, "\"SCRAM-SHA-256-PLUS\""));
	assert_non_null(strstr(out, "\"id\":\"plaintext-accepted\""));
	assert_non_null(strstr(out, "\"exit_code\":1"));

	snprintf(cmd, sizeof(cmd), "%s postgres tls probe 2>&1", czctl);
	assert_int_equal(run(cmd, out, 1 << 20), CZPG_RESULT_BAD_INPUT);
	assert_non_null(strstr(out, "--host or --targets is required"));
	snprintf(cmd, sizeof(cmd), "%s postgres tls probe --help", czctl);
	assert_int_equal(run(cmd, out, 1 << 20), CZPG_RESULT_OK);
	assert_non_null(strstr(out, "Exit codes:"));
	snprintf(path, sizeof(path), "%s/bad-targets", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("127.0.0.1\n# fine\n127.0.0.1:70000\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s postgres tls probe --targets %s 2>&1", czctl, path);
	assert_int_equal(run(cmd, out, 1 << 20), CZPG_RESULT_BAD_INPUT);
	assert_non_null(strstr(out, "line 3:"));
	unlink(path);
	/* Nothing listens: exit 3, could not probe. */
	snprintf(cmd, sizeof(cmd), "%s postgres tls probe --host 127.0.0.1 --port 1 2>&1", czctl);
	assert_int_equal(run(cmd, out, 1 << 20), CZPG_RESULT_ERROR);
	assert_non_null(strstr(out, "closed"));
	free(out);
}

static void test_plaintext_refused_box(void **state)
{
	struct czpg_probe_result *r;
	char cmd[2400], *out = malloc(1 << 20);

	(void)state;
	assert_non_null(out);
	assert_int_equal(czpg_sandbox_set_hba(&sb, "local all all trust\n"
						   "hostnossl all all 127.0.0.1/32 reject\n"
						   "hostssl all all 127.0.0.1/32 scram-sha-256\n"),
			 0);
	r = probe("127.0.0.1", ca_path, false);
	assert_int_equal(r->plaintext_accepted, CZPG_TRI_NO);
	assert_string_equal(r->plaintext_sqlstate, "28000");
	assert_non_null(strstr(r->plaintext_detail, "pg_hba.conf rejects"));
	/* PostgreSQL's own refusal: its source location names the server. */
	assert_int_equal(r->server, CZPG_PROBE_SERVER_POSTGRESQL);
	assert_non_null(strstr(r->plaintext_refusal.fields, "FLR"));
	assert_string_equal(r->server_version, sb.pg->direct_tls ? "17 or later" : "before 17");
	assert_null(strstr(r->server_version_evidence, "unless a pooler"));
	assert_null(czpg_probe_finding(r, "plaintext-accepted"));
	/* Over TLS the same user still gets SCRAM. */
	assert_non_null(strstr(r->mechanisms, "SCRAM-SHA-256-PLUS"));
	/* TLS 1.3 only, verified, 90 days, channel binding: nothing above low. */
	assert_true(r->worst <= CZPG_SEV_LOW);
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_OK);
	free(r);

	snprintf(cmd, sizeof(cmd), "%s postgres tls probe --host 127.0.0.1 --port %d --ca %s",
		 czctl, sb.port, ca_path);
	assert_int_equal(run(cmd, out, 1 << 20), CZPG_RESULT_OK);
	assert_non_null(strstr(out, "Plaintext startup (user postgres): refused (SQLSTATE 28000)"));
	assert_non_null(strstr(out, "SASL over TLS: SCRAM-SHA-256-PLUS"));
	free(out);
}

static void test_tls12_box(void **state)
{
	struct czpg_probe_result *r;
	char version[32], cipher[64];

	(void)state;
	assert_int_equal(czpg_sandbox_enable_tls(&sb, crt_path, key_path, ca_path, "TLSv1.2", NULL),
			 0);
	r = probe("127.0.0.1", ca_path, false);
	assert_int_equal(r->versions[0].accepted, CZPG_TRI_YES);
	assert_int_equal(r->versions[1].accepted, CZPG_TRI_YES);
	assert_int_equal(r->versions[2].accepted, CZPG_TRI_NO);
	assert_int_equal(r->versions[3].accepted, CZPG_TRI_NO);
	expect(r, "tls12-accepted", CZPG_SEV_MEDIUM);
	assert_null(czpg_probe_finding(r, "tls11-accepted"));
	/* An EC certificate: only ECDSA suites are tried for 1.2. */
	assert_int_equal(suite(&r->versions[1], "ECDHE-ECDSA-AES256-GCM-SHA384"), CZPG_TRI_YES);
	assert_int_equal(suite(&r->versions[1], "ECDHE-ECDSA-CHACHA20-POLY1305"), CZPG_TRI_YES);
	assert_int_equal(suite(&r->versions[1], "ECDHE-RSA-AES256-GCM-SHA384"),
			 (enum czpg_probe_tri) - 1);
	assert_int_equal(r->versions[1].server_order, CZPG_TRI_YES);
	/* PostgreSQL's default ssl_ciphers (HIGH:MEDIUM) keeps CBC suites: weak. */
	if (suite(&r->versions[1], "ECDHE-ECDSA-AES128-SHA") == CZPG_TRI_YES)
		expect(r, "weak-suites", CZPG_SEV_HIGH);
	s_client("-tls1_2", version, cipher, sizeof(cipher));
	assert_string_equal(version, "TLSv1.2");
	assert_string_equal(cipher, r->versions[1].cipher);
	s_client("", version, cipher, sizeof(cipher));
	assert_string_equal(version, r->tls_version);
	assert_string_equal(cipher, r->tls_cipher);
	free(r);

	/* Only the strong suites left: no weak-suites finding, and the list follows
	 * (zz-: read after cz-test-tls.conf, so it wins). */
	assert_int_equal(write_conf("conf.d/zz-probe-ciphers.conf",
				    "ssl_ciphers = 'ECDHE-ECDSA-AES256-GCM-SHA384:"
				    "ECDHE-ECDSA-CHACHA20-POLY1305'\n"),
			 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	r = probe("127.0.0.1", NULL, false);
	assert_int_equal(suite(&r->versions[1], "ECDHE-ECDSA-AES256-GCM-SHA384"), CZPG_TRI_YES);
	assert_int_equal(suite(&r->versions[1], "ECDHE-ECDSA-AES128-GCM-SHA256"), CZPG_TRI_NO);
	assert_int_equal(suite(&r->versions[1], "ECDHE-ECDSA-AES128-SHA"), CZPG_TRI_NO);
	assert_null(czpg_probe_finding(r, "weak-suites"));
	expect(r, "ca-not-checked", CZPG_SEV_INFO);
	free(r);

	/* TLS 1.0 at the server's security level 0: found, and high. */
	assert_int_equal(write_conf("conf.d/zz-probe-ciphers.conf",
				    "ssl_ciphers = 'DEFAULT:@SECLEVEL=0'\n"
				    "ssl_min_protocol_version = 'TLSv1'\n"),
			 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	r = probe("127.0.0.1", ca_path, false);
	assert_int_equal(r->versions[3].accepted, CZPG_TRI_YES);
	assert_int_equal(r->versions[2].accepted, CZPG_TRI_YES);
	expect(r, "tls10-accepted", CZPG_SEV_HIGH);
	expect(r, "tls11-accepted", CZPG_SEV_HIGH);
	assert_int_equal(suite(&r->versions[3], "ECDHE-ECDSA-AES128-SHA"), CZPG_TRI_YES);
	assert_int_equal(suite(&r->versions[3], "ECDHE-ECDSA-AES128-GCM-SHA256"),
			 (enum czpg_probe_tri) - 1); /* not a TLS 1.0 suite */
	free(r);
	assert_int_equal(write_conf("conf.d/zz-probe-ciphers.conf", "\n"), 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
}

/* The suite `openssl s_client` gets over TLS 1.2 offering exactly list, in its order. */
static void s_client12(const char *list, char *cipher, size_t cap)
{
	char extra[1200], version[32];

	snprintf(extra, sizeof(extra), "-tls1_2 -cipher '%s'", list);
	s_client(extra, version, cipher, cap);
	assert_string_equal(version, "TLSv1.2");
}

/* The ':'-joined list of the n names of set, starting at `rotate`, reversed when asked. */
static void join(const char *const *set, size_t n, size_t rotate, bool reversed, char *out,
		 size_t cap)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t k = (rotate + (reversed ? n - i : i)) % n;

		used += (size_t)snprintf(out + used, cap - used, "%s%s", i > 0 ? ":" : "", set[k]);
	}
}

/*
 * TLS 1.2 with a server order that is neither OpenSSL's nor the probe's
 * table order (AES128 first, as in the issue): the probe ranks every
 * accepted suite, and `openssl s_client` offering the accepted suites in
 * several orders (every rotation, forward and reversed) always gets the
 * probe's first choice; offering what is left once the first k are taken
 * away gets the probe's choice k + 1.  With ssl_prefer_server_ciphers off
 * the probe says "client order" and s_client gets its own first suite.
 */
static void test_tls12_order(void **state)
{
	static const char *const server_order[] = {
	    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305",
	    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA256"};
	const size_t n = sizeof(server_order) / sizeof(server_order[0]);
	const struct czpg_probe_version *v;
	struct czpg_probe_result *r;
	char conf[600], list[600], cipher[64];
	size_t i, k;
	int rev;

	(void)state;
	assert_int_equal(czpg_sandbox_enable_tls(&sb, crt_path, key_path, ca_path, "TLSv1.2", NULL),
			 0);
	join(server_order, n, 0, false, list, sizeof(list));
	snprintf(conf, sizeof(conf), "ssl_ciphers = '%s'\n", list);
	assert_int_equal(write_conf("conf.d/zz-probe-ciphers.conf", conf), 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	r = probe("127.0.0.1", NULL, false);
	v = &r->versions[1];
	assert_int_equal(v->accepted, CZPG_TRI_YES);
	assert_int_equal(v->server_order, CZPG_TRI_YES);
	if (!v->preference_complete || v->npreference != n)
		czpg_probe_print(stderr, r);
	assert_true(v->preference_complete);
	assert_int_equal(v->npreference, n);
	for (i = 0; i < n; i++)
		assert_string_equal(v->preference[i], server_order[i]);

	/* The probe's ranking against s_client, offering the accepted suites in every rotation. */
	for (k = 0; k < n; k++)
		for (rev = 0; rev < 2; rev++) {
			join(server_order, n, k, rev == 1, list, sizeof(list));
			s_client12(list, cipher, sizeof(cipher));
			assert_string_equal(cipher, v->preference[0]);
		}
	/* Take the first k choices away: the next one is picked, whatever the order. */
	for (k = 1; k < n; k++)
		for (rev = 0; rev < 2; rev++) {
			join(v->preference + k, n - k, 0, rev == 1, list, sizeof(list));
			s_client12(list, cipher, sizeof(cipher));
			assert_string_equal(cipher, v->preference[k]);
		}
	/* TLS 1.3 is ranked too (OpenSSL's default suites, in the server's order). */
	assert_int_equal(r->versions[0].server_order, CZPG_TRI_YES);
	assert_true(r->versions[0].preference_complete);
	s_client("-tls1_3 -ciphersuites "
		 "'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384'",
		 list, cipher, sizeof(cipher));
	assert_string_equal(cipher, r->versions[0].preference[0]);
	free(r);

	/* The client's order wins: the probe says so, and ranks nothing. */
	join(server_order, n, 0, false, list, sizeof(list));
	snprintf(conf, sizeof(conf), "ssl_ciphers = '%s'\nssl_prefer_server_ciphers = off\n", list);
	assert_int_equal(write_conf("conf.d/zz-probe-ciphers.conf", conf), 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
	r = probe("127.0.0.1", NULL, false);
	v = &r->versions[1];
	if (v->server_order != CZPG_TRI_NO)
		czpg_probe_print(stderr, r);
	assert_int_equal(v->server_order, CZPG_TRI_NO);
	assert_int_equal(v->npreference, 0);
	assert_non_null(strstr(v->order_detail, "client's first choice wins"));
	for (k = 0; k < n; k++) {
		join(server_order, n, k, k % 2 == 1, list, sizeof(list));
		s_client12(list, cipher, sizeof(cipher));
		assert_int_equal(strncmp(list, cipher, strlen(cipher)), 0);
		assert_int_equal(list[strlen(cipher)], ':');
	}
	free(r);
	assert_int_equal(write_conf("conf.d/zz-probe-ciphers.conf", "\n"), 0);
	assert_int_equal(czpg_sandbox_reload(&sb), 0);
}

/* ---- fleet ------------------------------------------------------------------- */

#define FLEET_LIVE 40
#define FLEET_CLOSED 200
#define FLEET_SILENT 3
#define FLEET_HTTP 2

struct listeners {
	int silent[FLEET_SILENT];
	int http[FLEET_HTTP];
	int silent_port[FLEET_SILENT];
	int http_port[FLEET_HTTP];
	volatile int stop;
	pthread_t thread;
};

static int listen_any(int *port, int backlog)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Answers every connection like a web server would: not PostgreSQL. */
static void *http_thread(void *arg)
{
	struct listeners *l = arg;
	struct pollfd p[FLEET_HTTP];
	int i, c;
	char buf[64];

	while (!l->stop) {
		for (i = 0; i < FLEET_HTTP; i++) {
			p[i].fd = l->http[i];
			p[i].events = POLLIN;
		}
		if (poll(p, FLEET_HTTP, 50) <= 0)
			continue;
		for (i = 0; i < FLEET_HTTP; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			c = accept(l->http[i], NULL, NULL);
			if (c < 0)
				continue;
			if (recv(c, buf, sizeof(buf), 0) > 0) {
				const char resp[] = "HTTP/1.1 400 Bad Request\r\n\r\n";

				(void)!send(c, resp, sizeof(resp) - 1, MSG_NOSIGNAL);
			}
			close(c);
		}
	}
	return NULL;
}

/* listen_addresses = '127.0.0.1,...,127.0.0.N' in postgresql.auto.conf (it wins over conf.d). */
static void listen_on_many(int n)
{
	char path[600], *out = malloc(1 << 16), line[512];
	size_t used = 0;
	FILE *f;
	int i;

	assert_non_null(out);
	snprintf(path, sizeof(path), "%s/postgresql.auto.conf", sb.data);
	f = fopen(path, "r");
	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "listen_addresses", 16) != 0)
			used += (size_t)snprintf(out + used, (1 << 16) - used, "%s", line);
	fclose(f);
	used += (size_t)snprintf(out + used, (1 << 16) - used, "listen_addresses = '");
	for (i = 1; i <= n; i++)
		used += (size_t)snprintf(out + used, (1 << 16) - used, "%s127.0.0.%d",
					 i > 1 ? "," : "", i);
	snprintf(out + used, (1 << 16) - used, "'\n");
	assert_int_equal(
	    czpg_sandbox_write_file(&sb, "postgresql.auto.conf", out, strlen(out), 0600), 0);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
	free(out);
}

static void test_fleet(void **state)
{
	struct listeners l = {0};
	char path[600], cmd[2400], *out = malloc(4 << 20), *line, *save = NULL;
	size_t probed = 0, closed = 0, no_answer = 0, notpg = 0, mismatch = 0, total = 0;
	unsigned long conns;
	bool summary = false;
	FILE *f;
	int i, rc;

	(void)state;
	assert_non_null(out);
	listen_on_many(FLEET_LIVE);
	for (i = 0; i < FLEET_SILENT; i++)
		l.silent[i] = listen_any(&l.silent_port[i], 16);
	for (i = 0; i < FLEET_HTTP; i++)
		l.http[i] = listen_any(&l.http_port[i], 16);
	assert_int_equal(pthread_create(&l.thread, NULL, http_thread, &l), 0);

	snprintf(path, sizeof(path), "%s/targets", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# a fleet on loopback\n\n");
	for (i = 1; i <= FLEET_LIVE; i++)
		fprintf(f, "127.0.0.%d:%d\n", i, sb.port);
	for (i = 0; i < FLEET_CLOSED; i++)
		fprintf(f, "127.0.%d.%d:%d   # closed\n", 1 + i / 200, 1 + i % 200, sb.port);
	for (i = 0; i < FLEET_SILENT; i++)
		fprintf(f, "127.0.0.1:%d\n", l.silent_port[i]);
	for (i = 0; i < FLEET_HTTP; i++)
		fprintf(f, "[::ffff:127.0.0.1]:%d\n", l.http_port[i]);
	fclose(f);

	snprintf(cmd, sizeof(cmd),
		 "%s postgres tls probe --targets %s --ca %s --json --target-timeout 3 "
		 "--concurrency 64",
		 czctl, path, ca_path);
	rc = run(cmd, out, 4 << 20);
	l.stop = 1;
	pthread_join(l.thread, NULL);
	for (i = 0; i < FLEET_SILENT; i++)
		close(l.silent[i]);
	for (i = 0; i < FLEET_HTTP; i++)
		close(l.http[i]);

	/* Name mismatches on 127.0.0.2+ are high findings: exit 1. */
	assert_int_equal(rc, CZPG_RESULT_FAIL);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "{\"summary\":", 11) == 0) {
			char want[64];

			snprintf(want, sizeof(want), "\"targets\":%d",
				 FLEET_LIVE + FLEET_CLOSED + FLEET_SILENT + FLEET_HTTP);
			assert_non_null(strstr(line, want));
			summary = true;
			continue;
		}
		total++;
		conns = (unsigned long)json_number(line, "connections");
		if (strstr(line, "\"status\":\"probed\"") != NULL) {
			probed++;
			assert_non_null(strstr(line, "\"ssl_answer\":\"S\""));
			/* The quick probe with --ca: the first connection, plaintext,
			 * verify-full, TLS 1.2, 1.1, 1.0; fewer only when the deadline cut
			 * checks, and then the result says so. */
			if (strstr(line, "\"deadline_hit\":false") != NULL) {
				assert_int_equal(conns, 6);
			} else {
				assert_true(conns >= 1 && conns < 6);
				assert_non_null(strstr(line, "\"id\":\"incomplete\""));
			}
			assert_non_null(strstr(line, "\"quick\":true"));
			if (strstr(line, "\"id\":\"name-mismatch\"") != NULL)
				mismatch++;
			/* The one address in the certificate verifies fully. */
			if (strstr(line, "\"target\":\"127.0.0.1:") != NULL)
				assert_null(strstr(line, "name-mismatch"));
		} else if (strstr(line, "\"status\":\"closed\"") != NULL) {
			closed++;
			assert_int_equal(conns, 1); /* nothing more is tried */
		} else if (strstr(line, "\"status\":\"no-answer\"") != NULL) {
			no_answer++;
			assert_non_null(strstr(line, "nothing answered SSLRequest"));
			assert_int_equal(conns, 1);
			/* A silent box gets the whole --target-timeout, not less. */
			assert_true(json_number(line, "elapsed_ms") >= 3000.0);
		} else if (strstr(line, "\"status\":\"not-postgresql\"") != NULL) {
			notpg++;
			assert_non_null(strstr(line, "0x48"));
			assert_int_equal(conns, 1);
		} else {
			fail_msg("unexpected result line: %.400s", line);
		}
	}
	assert_true(summary);
	assert_int_equal(total, FLEET_LIVE + FLEET_CLOSED + FLEET_SILENT + FLEET_HTTP);
	assert_int_equal(probed, FLEET_LIVE);
	assert_int_equal(mismatch, FLEET_LIVE - 1);
	assert_int_equal(closed, FLEET_CLOSED);
	assert_int_equal(no_answer, FLEET_SILENT);
	assert_int_equal(notpg, FLEET_HTTP);
	unlink(path);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_off_box),
	    cmocka_unit_test(test_tls13_only_box),
	    cmocka_unit_test(test_cli_output_and_usage),
	    cmocka_unit_test(test_plaintext_refused_box),
	    cmocka_unit_test(test_tls12_box),
	    cmocka_unit_test(test_tls12_order),
	    cmocka_unit_test(test_fleet),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
