/*
 * test_probe.c - the pure parts of the probe: targets parsing, the weak-suite
 * rule, findings and their severities, exit codes, JSON output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "czpg/result.h"
#include "czpg/pgwire.h"
#include "czpg/probe.h"

/* ---- targets ------------------------------------------------------------- */

static void test_parse_target_forms(void **state)
{
	const struct {
		const char *in;
		const char *host;
		unsigned port;
		const char *label;
	} ok[] = {
	    {"db.example", "db.example", 5432, "db.example:5432"},
	    {"db.example:6543", "db.example", 6543, "db.example:6543"},
	    {"10.0.0.5:1", "10.0.0.5", 1, "10.0.0.5:1"},
	    {"[::1]:5433", "::1", 5433, "[::1]:5433"},
	    {"[fe80::1]", "fe80::1", 5432, "[fe80::1]:5432"},
	    {"::1", "::1", 5432, "[::1]:5432"},
	    {"2001:db8::7", "2001:db8::7", 5432, "[2001:db8::7]:5432"},
	    {"127.0.0.1:65535", "127.0.0.1", 65535, "127.0.0.1:65535"},
	};
	const struct {
		const char *in;
		const char *why;
	} bad[] = {
	    {"", "empty target"},
	    {"[::1", "without ']'"},
	    {"[::1]x", "not :port"},
	    {"[::1]:", "not a number"},
	    {"db:0", "not a number 1-65535"},
	    {"db:65536", "not a number 1-65535"},
	    {"db:54x", "not a number"},
	    {":5432", "no host"},
	    {"[]:5432", "no host"},
	    {"[db.example]:5432", "not a valid IPv6"},
	    {"db example", "characters a host name cannot have"},
	    {"1:2:zz", "not a valid IPv6"},
	};
	struct czpg_probe_target t;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(czpg_probe_parse_target(ok[i].in, 5432, &t, err, sizeof(err)), 0);
		assert_string_equal(t.host, ok[i].host);
		assert_int_equal(t.port, ok[i].port);
		assert_string_equal(t.label, ok[i].label);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(czpg_probe_parse_target(bad[i].in, 5432, &t, err, sizeof(err)),
				 -1);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].in, err, bad[i].why);
	}
	/* No default port and none given. */
	assert_int_equal(czpg_probe_parse_target("db", 0, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no default port"));
}

static void test_parse_targets_file(void **state)
{
	const char text[] = "# fleet\n"
			    "\n"
			    "10.0.0.1\n"
			    "  10.0.0.2:6432   # a comment after a target\r\n"
			    "\t[::1]:5433\n"
			    "   \n"
			    "# 10.0.0.9 commented out\n"
			    "db.example"; /* no final newline */
	struct czpg_probe_target *list = NULL;
	size_t n = 0;
	char err[256];

	(void)state;
	assert_int_equal(
	    czpg_probe_parse_targets(text, strlen(text), 5432, &list, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(list[0].label, "10.0.0.1:5432");
	assert_string_equal(list[1].label, "10.0.0.2:6432");
	assert_string_equal(list[2].label, "[::1]:5433");
	assert_string_equal(list[3].label, "db.example:5432");
	free(list);
}

static void test_parse_targets_errors(void **state)
{
	const char bad_port[] = "10.0.0.1\n# x\n10.0.0.2:99999\n";
	const char nul[] = "10.0.0.1\n10.0\0.0.2\n";
	const char empty[] = "# only comments\n\n   \n";
	struct czpg_probe_target *list = (struct czpg_probe_target *)1;
	char *big, err[256];
	size_t n = 7, i;

	(void)state;
	assert_int_equal(
	    czpg_probe_parse_targets(bad_port, strlen(bad_port), 5432, &list, &n, err, sizeof(err)),
	    -1);
	assert_null(list);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "line 3: "));
	assert_non_null(strstr(err, "99999"));

	assert_int_equal(
	    czpg_probe_parse_targets(nul, sizeof(nul) - 1, 5432, &list, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 2: contains a NUL byte"));

	assert_int_equal(
	    czpg_probe_parse_targets(empty, strlen(empty), 5432, &list, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no targets"));

	/* A line longer than the limit. */
	big = malloc(3000);
	assert_non_null(big);
	memset(big, 'a', 2999);
	big[2999] = '\0';
	assert_int_equal(czpg_probe_parse_targets(big, 2999, 5432, &list, &n, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "line 1: longer than"));
	free(big);

	/* More targets than the cap: its own error, with the line. */
	big = malloc((size_t)(CZPG_PROBE_MAX_TARGETS + 1) * 4);
	assert_non_null(big);
	for (i = 0; i < (size_t)CZPG_PROBE_MAX_TARGETS + 1; i++)
		memcpy(big + i * 4, "h:1\n", 4);
	assert_int_equal(czpg_probe_parse_targets(big, (size_t)(CZPG_PROBE_MAX_TARGETS + 1) * 4,
						  5432, &list, &n, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "more than"));
	assert_null(list);
	free(big);
}

/* ---- the weak-suite rule ------------------------------------------------ */

static void test_weak_suites(void **state)
{
	char why[64];

	(void)state;
	assert_false(czpg_probe_suite_is_weak("TLS_AES_256_GCM_SHA384", why, sizeof(why)));
	assert_false(czpg_probe_suite_is_weak("TLS_AES_128_CCM_8_SHA256", why, sizeof(why)));
	assert_false(czpg_probe_suite_is_weak("ECDHE-ECDSA-AES256-GCM-SHA384", why, sizeof(why)));
	assert_string_equal(why, "");
	assert_false(czpg_probe_suite_is_weak("ECDHE-RSA-CHACHA20-POLY1305", why, sizeof(why)));
	assert_false(czpg_probe_suite_is_weak("DHE-RSA-AES128-GCM-SHA256", why, sizeof(why)));
	assert_false(czpg_probe_suite_is_weak("ECDHE-ECDSA-AES128-CCM", why, sizeof(why)));

	assert_true(czpg_probe_suite_is_weak("ECDHE-ECDSA-AES256-SHA384", why, sizeof(why)));
	assert_string_equal(why, "not AEAD");
	assert_true(czpg_probe_suite_is_weak("AES256-GCM-SHA384", why, sizeof(why)));
	assert_string_equal(why, "no forward secrecy");
	assert_true(czpg_probe_suite_is_weak("AES128-SHA", why, sizeof(why)));
	assert_string_equal(why, "no forward secrecy, not AEAD");
	assert_true(czpg_probe_suite_is_weak("DES-CBC3-SHA", NULL, 0));
}

/* ---- findings ----------------------------------------------------------- */

/* A result for a box that is all right: TLS 1.3 only, SCRAM-PLUS, refuses plaintext. */
static void good_result(struct czpg_probe_result *r)
{
	static const int versions[CZPG_PROBE_NVERSIONS] = {TLS1_3_VERSION, TLS1_2_VERSION,
							   TLS1_1_VERSION, TLS1_VERSION};
	static const char *const names[CZPG_PROBE_NVERSIONS] = {"TLSv1.3", "TLSv1.2", "TLSv1.1",
								"TLSv1"};
	size_t i;

	memset(r, 0, sizeof(*r));
	snprintf(r->target, sizeof(r->target), "db.example:5432");
	snprintf(r->host, sizeof(r->host), "db.example");
	r->port = 5432;
	snprintf(r->user, sizeof(r->user), "postgres");
	r->status = CZPG_PROBE_PROBED;
	r->ssl_answer = 'S';
	r->tls_ok = true;
	snprintf(r->tls_version, sizeof(r->tls_version), "TLSv1.3");
	snprintf(r->tls_cipher, sizeof(r->tls_cipher), "TLS_AES_256_GCM_SHA384");
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		r->versions[i].name = names[i];
		r->versions[i].version = versions[i];
		r->versions[i].accepted = i == 0 ? CZPG_TRI_YES : CZPG_TRI_NO;
	}
	r->versions[0].nsuites = 1;
	r->versions[0].suites[0].name = "TLS_AES_256_GCM_SHA384";
	r->versions[0].suites[0].accepted = CZPG_TRI_YES;
	r->nchain = r->chain_sent = 1;
	snprintf(r->chain[0].sans, sizeof(r->chain[0].sans), "DNS:db.example");
	snprintf(r->chain[0].not_after, sizeof(r->chain[0].not_after), "2030-01-01 00:00:00 UTC");
	r->chain[0].days_left = 80;
	r->host_match = CZPG_TRI_YES;
	r->ca_given = true;
	r->ca_verified = CZPG_TRI_YES;
	r->plaintext_accepted = CZPG_TRI_NO;
	r->plaintext_auth = -1;
	snprintf(r->plaintext_sqlstate, sizeof(r->plaintext_sqlstate), "28000");
	r->tls_auth = CZPG_PGWIRE_AUTH_SASL;
	snprintf(r->mechanisms, sizeof(r->mechanisms), "SCRAM-SHA-256-PLUS,SCRAM-SHA-256");
	r->channel_binding = CZPG_TRI_YES;
	r->direct_tls = CZPG_TRI_NO;
	r->gssenc_answer = 'N';
}

static const struct czpg_probe_finding *find(const struct czpg_probe_result *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nfindings; i++)
		if (strcmp(r->findings[i].id, id) == 0)
			return &r->findings[i];
	return NULL;
}

static void expect(const struct czpg_probe_result *r, const char *id, enum czpg_probe_severity sev)
{
	const struct czpg_probe_finding *f = find(r, id);

	if (f == NULL)
		fail_msg("finding %s missing", id);
	assert_int_equal(f->severity, sev);
	assert_true(strlen(f->text) > 10);
}

static void test_assess_clean_box(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	good_result(r);
	czpg_probe_assess(r);
	assert_int_equal(r->nfindings, 0);
	assert_int_equal(r->worst, CZPG_SEV_INFO);
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_OK);

	/* Without --ca: an info note only, still exit 0. */
	r->ca_given = false;
	r->ca_verified = CZPG_TRI_UNKNOWN;
	czpg_probe_assess(r);
	expect(r, "ca-not-checked", CZPG_SEV_INFO);
	assert_int_equal(r->nfindings, 1);
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_OK);
	free(r);
}

static void test_assess_each_rule(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);

	good_result(r);
	r->plaintext_accepted = CZPG_TRI_YES;
	r->plaintext_auth = CZPG_PGWIRE_AUTH_SASL;
	czpg_probe_assess(r);
	expect(r, "plaintext-accepted", CZPG_SEV_HIGH);
	assert_non_null(strstr(find(r, "plaintext-accepted")->text, "\"postgres\""));
	assert_int_equal(r->worst, CZPG_SEV_HIGH);
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_FAIL);

	good_result(r);
	r->versions[1].accepted = CZPG_TRI_YES;
	r->versions[1].nsuites = 2;
	r->versions[1].suites[0].name = "ECDHE-ECDSA-AES256-GCM-SHA384";
	r->versions[1].suites[0].accepted = CZPG_TRI_YES;
	r->versions[1].suites[1].name = "ECDHE-ECDSA-AES256-SHA384";
	r->versions[1].suites[1].accepted = CZPG_TRI_NO; /* refused: not a finding */
	czpg_probe_assess(r);
	expect(r, "tls12-accepted", CZPG_SEV_MEDIUM);
	assert_null(find(r, "weak-suites"));
	assert_int_equal(r->worst, CZPG_SEV_MEDIUM);
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_FAIL);

	r->versions[1].suites[1].accepted = CZPG_TRI_YES;
	czpg_probe_assess(r);
	expect(r, "weak-suites", CZPG_SEV_HIGH);
	assert_non_null(
	    strstr(find(r, "weak-suites")->text, "ECDHE-ECDSA-AES256-SHA384 (not AEAD)"));
	assert_null(strstr(find(r, "weak-suites")->text, "AES256-GCM-SHA384"));

	good_result(r);
	r->versions[2].accepted = CZPG_TRI_YES;
	r->versions[3].accepted = CZPG_TRI_YES;
	czpg_probe_assess(r);
	expect(r, "tls11-accepted", CZPG_SEV_HIGH);
	expect(r, "tls10-accepted", CZPG_SEV_HIGH);
	/* Quick probes know only the negotiated suite of a version. */
	snprintf(r->versions[3].cipher, sizeof(r->versions[3].cipher), "AES256-SHA");
	czpg_probe_assess(r);
	expect(r, "weak-suites", CZPG_SEV_HIGH);

	good_result(r);
	r->chain[0].days_left = 29;
	czpg_probe_assess(r);
	expect(r, "cert-expiring", CZPG_SEV_MEDIUM);
	r->chain[0].days_left = 30;
	czpg_probe_assess(r);
	assert_null(find(r, "cert-expiring"));
	r->chain[0].days_left = -1;
	czpg_probe_assess(r);
	expect(r, "cert-expired", CZPG_SEV_HIGH);
	assert_null(find(r, "cert-expiring"));

	good_result(r);
	r->host_match = CZPG_TRI_NO;
	czpg_probe_assess(r);
	expect(r, "name-mismatch", CZPG_SEV_HIGH);
	assert_non_null(strstr(find(r, "name-mismatch")->text, "DNS:db.example"));

	good_result(r);
	r->ca_verified = CZPG_TRI_NO;
	snprintf(r->ca_detail, sizeof(r->ca_detail), "not signed by a CA in ca.crt");
	czpg_probe_assess(r);
	expect(r, "ca-unverified", CZPG_SEV_MEDIUM);
	assert_non_null(strstr(find(r, "ca-unverified")->text, "not signed by"));

	good_result(r);
	r->channel_binding = CZPG_TRI_NO;
	snprintf(r->mechanisms, sizeof(r->mechanisms), "SCRAM-SHA-256");
	czpg_probe_assess(r);
	expect(r, "no-channel-binding", CZPG_SEV_LOW);
	assert_int_equal(r->worst, CZPG_SEV_LOW);
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_OK);

	good_result(r);
	r->tls_auth = CZPG_PGWIRE_AUTH_MD5;
	r->channel_binding = CZPG_TRI_NO;
	czpg_probe_assess(r);
	expect(r, "no-channel-binding", CZPG_SEV_LOW);
	assert_non_null(strstr(find(r, "no-channel-binding")->text, "MD5"));

	good_result(r);
	r->direct_tls = CZPG_TRI_YES;
	r->gssenc_answer = 'G';
	r->deadline_hit = true;
	czpg_probe_assess(r);
	expect(r, "direct-tls", CZPG_SEV_INFO);
	expect(r, "gssenc-offered", CZPG_SEV_INFO);
	expect(r, "incomplete", CZPG_SEV_INFO);
	assert_int_equal(r->worst, CZPG_SEV_INFO);
	free(r);
}

static void test_assess_tls_off_and_unprobed(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	size_t i;

	(void)state;
	assert_non_null(r);
	good_result(r);
	r->ssl_answer = 'N';
	r->tls_ok = false;
	r->nchain = 0;
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++)
		r->versions[i].accepted = CZPG_TRI_UNKNOWN;
	r->tls_auth = -1;
	r->channel_binding = CZPG_TRI_UNKNOWN;
	r->plaintext_accepted = CZPG_TRI_YES;
	r->plaintext_auth = CZPG_PGWIRE_AUTH_OK;
	czpg_probe_assess(r);
	expect(r, "tls-off", CZPG_SEV_HIGH);
	expect(r, "plaintext-accepted", CZPG_SEV_HIGH);
	assert_non_null(strstr(find(r, "plaintext-accepted")->text, "trust"));
	assert_null(find(r, "no-channel-binding"));
	assert_null(find(r, "ca-unverified"));

	/* TLS agreed but nothing shook hands. */
	good_result(r);
	r->tls_ok = false;
	r->versions[0].accepted = CZPG_TRI_NO;
	snprintf(r->tls_error, sizeof(r->tls_error), "handshake failure");
	czpg_probe_assess(r);
	expect(r, "tls-handshake-fails", CZPG_SEV_HIGH);

	/* A target that could not be probed has no findings and exits 3. */
	good_result(r);
	r->status = CZPG_PROBE_CLOSED;
	r->plaintext_accepted = CZPG_TRI_YES;
	czpg_probe_assess(r);
	assert_int_equal(r->nfindings, 0);
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_ERROR);
	free(r);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(czpg_probe_severity_name(CZPG_SEV_INFO), "info");
	assert_string_equal(czpg_probe_severity_name(CZPG_SEV_HIGH), "high");
	assert_string_equal(czpg_probe_status_name(CZPG_PROBE_NO_ANSWER), "no-answer");
	assert_string_equal(czpg_probe_status_name(CZPG_PROBE_NOT_POSTGRESQL), "not-postgresql");
	assert_string_equal(czpg_probe_tri_name(CZPG_TRI_UNKNOWN), "unknown");
}

/* ---- output ----------------------------------------------------------------- */

static char *capture(void (*fn)(FILE *, const struct czpg_probe_result *),
		     const struct czpg_probe_result *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, r);
	fclose(f);
	return buf;
}

static void test_json_and_human_output(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	char *out;

	(void)state;
	assert_non_null(r);
	good_result(r);
	r->versions[1].accepted = CZPG_TRI_YES;
	/* Server text with a quote and a control character must stay valid JSON. */
	snprintf(r->plaintext_detail, sizeof(r->plaintext_detail), "said \"no\"\x01");
	czpg_probe_assess(r);
	out = capture(czpg_probe_print_json, r);
	assert_non_null(strstr(out, "\"status\":\"probed\""));
	assert_non_null(strstr(out, "\"ssl_answer\":\"S\""));
	assert_non_null(strstr(out, "{\"version\":\"TLSv1.2\",\"accepted\":true"));
	assert_non_null(strstr(out, "{\"version\":\"TLSv1.1\",\"accepted\":false"));
	assert_non_null(strstr(out, "\"mechanisms\":[\"SCRAM-SHA-256-PLUS\",\"SCRAM-SHA-256\"]"));
	assert_non_null(strstr(out, "\"channel_binding\":true"));
	assert_non_null(strstr(out, "\"id\":\"tls12-accepted\""));
	assert_non_null(strstr(out, "\"worst\":\"medium\""));
	assert_non_null(strstr(out, "\"exit_code\":1"));
	assert_non_null(strstr(out, "said \\\"no\\\"\\u0001"));
	assert_non_null(strstr(out, "\"groups\":null"));
	/* One line: the fleet prints one object per line. */
	assert_int_equal(strchr(out, '\n'), out + strlen(out) - 1);
	free(out);

	out = capture(czpg_probe_print, r);
	assert_non_null(strstr(out, "SSLRequest answer: S"));
	assert_non_null(strstr(out, "TLSv1.2  accepted"));
	assert_non_null(strstr(out, "[MEDIUM] tls12-accepted"));
	assert_non_null(strstr(out, "channel binding available"));
	assert_non_null(strstr(out, "Session resumption: "));
	free(out);

	r->status = CZPG_PROBE_NOT_POSTGRESQL;
	snprintf(r->status_detail, sizeof(r->status_detail), "answered 0x48");
	czpg_probe_assess(r);
	out = capture(czpg_probe_print, r);
	assert_non_null(strstr(out, "not-postgresql"));
	assert_non_null(strstr(out, "could not probe: answered 0x48"));
	free(out);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_target_forms),
	    cmocka_unit_test(test_parse_targets_file),
	    cmocka_unit_test(test_parse_targets_errors),
	    cmocka_unit_test(test_weak_suites),
	    cmocka_unit_test(test_assess_clean_box),
	    cmocka_unit_test(test_assess_each_rule),
	    cmocka_unit_test(test_assess_tls_off_and_unprobed),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_json_and_human_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
