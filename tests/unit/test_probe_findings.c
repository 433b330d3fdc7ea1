/*
 * test_probe_findings.c - what a probe's result means (probe_findings.c): the
 * weak-suite rule, every finding and its severity, the exit result of one
 * target and of a fleet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/pgwire.h"
#include "czpg/probe.h"
#include "czpg/probe_findings.h"
#include "czpg/result.h"
#include "test_probe_fixture.h"

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

static void expect(const struct czpg_probe_result *r, const char *id, enum czpg_probe_severity sev)
{
	const struct czpg_probe_finding *f = czpg_probe_finding(r, id);

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
	assert_non_null(strstr(czpg_probe_finding(r, "plaintext-accepted")->text, "\"postgres\""));
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
	assert_null(czpg_probe_finding(r, "weak-suites"));
	assert_int_equal(r->worst, CZPG_SEV_MEDIUM);
	assert_int_equal(czpg_probe_outcome(r), CZPG_RESULT_FAIL);

	r->versions[1].suites[1].accepted = CZPG_TRI_YES;
	czpg_probe_assess(r);
	expect(r, "weak-suites", CZPG_SEV_HIGH);
	assert_non_null(strstr(czpg_probe_finding(r, "weak-suites")->text,
			       "ECDHE-ECDSA-AES256-SHA384 (not AEAD)"));
	assert_null(strstr(czpg_probe_finding(r, "weak-suites")->text, "AES256-GCM-SHA384"));

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
	assert_null(czpg_probe_finding(r, "cert-expiring"));
	r->chain[0].days_left = -1;
	czpg_probe_assess(r);
	expect(r, "cert-expired", CZPG_SEV_HIGH);
	assert_null(czpg_probe_finding(r, "cert-expiring"));

	good_result(r);
	r->host_match = CZPG_TRI_NO;
	czpg_probe_assess(r);
	expect(r, "name-mismatch", CZPG_SEV_HIGH);
	assert_non_null(strstr(czpg_probe_finding(r, "name-mismatch")->text, "DNS:db.example"));

	good_result(r);
	r->ca_verified = CZPG_TRI_NO;
	snprintf(r->ca_detail, sizeof(r->ca_detail), "not signed by a CA in ca.crt");
	czpg_probe_assess(r);
	expect(r, "ca-unverified", CZPG_SEV_MEDIUM);
	assert_non_null(strstr(czpg_probe_finding(r, "ca-unverified")->text, "not signed by"));

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
	assert_non_null(strstr(czpg_probe_finding(r, "no-channel-binding")->text, "MD5"));

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
	assert_non_null(strstr(czpg_probe_finding(r, "plaintext-accepted")->text, "trust"));
	assert_null(czpg_probe_finding(r, "no-channel-binding"));
	assert_null(czpg_probe_finding(r, "ca-unverified"));

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

/* What the JSON's per-suite "weak" shows: set for every suite tried, accepted or not. */
static void test_assess_marks_weak_suites(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	good_result(r);
	r->versions[1].nsuites = 2;
	r->versions[1].suites[0].name = "ECDHE-ECDSA-AES256-GCM-SHA384";
	r->versions[1].suites[0].accepted = CZPG_TRI_NO;
	r->versions[1].suites[1].name = "AES128-SHA";
	r->versions[1].suites[1].accepted = CZPG_TRI_NO;
	r->versions[1].suites[1].weak = false;
	r->versions[0].suites[0].weak = true; /* stale: replaced */
	czpg_probe_assess(r);
	assert_false(r->versions[0].suites[0].weak);
	assert_false(r->versions[1].suites[0].weak);
	assert_true(r->versions[1].suites[1].weak);
	assert_null(czpg_probe_finding(r, "weak-suites")); /* refused: not a finding */
	free(r);
}

static void refusal(struct czpg_probe_refusal *f, const char *sqlstate, const char *message,
		    const char *fields)
{
	snprintf(f->sqlstate, sizeof(f->sqlstate), "%s", sqlstate);
	snprintf(f->message, sizeof(f->message), "%s", message);
	snprintf(f->fields, sizeof(f->fields), "%s", fields);
}

/* PgBouncer answering for itself: named, and the advice is in its settings. */
static void test_identify_pgbouncer(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	const struct czpg_probe_finding *f;

	(void)state;
	assert_non_null(r);
	good_result(r);
	refusal(&r->plaintext_refusal, "08P01", "SSL required", "SCM");
	refusal(&r->admin_refusal, "08P01", "not allowed", "SCM");
	r->versions[1].accepted = CZPG_TRI_YES;
	r->versions[1].nsuites = 1;
	r->versions[1].suites[0].name = "ECDHE-ECDSA-AES128-SHA";
	r->versions[1].suites[0].accepted = CZPG_TRI_YES;
	r->channel_binding = CZPG_TRI_NO;
	snprintf(r->mechanisms, sizeof(r->mechanisms), "SCRAM-SHA-256");
	r->chain[0].days_left = 5;
	czpg_probe_assess(r);
	assert_int_equal(r->server, CZPG_PROBE_SERVER_PGBOUNCER);
	assert_non_null(strstr(r->server_evidence, "the plaintext startup got \"SSL required\""));
	assert_non_null(strstr(r->server_evidence, "database \"pgbouncer\" got \"not allowed\""));
	expect(r, "pgbouncer", CZPG_SEV_INFO);
	assert_non_null(strstr(czpg_probe_finding(r, "pgbouncer")->text, "client_tls_*"));
	/* Every piece of advice names PgBouncer's settings, none PostgreSQL's. */
	assert_non_null(
	    strstr(czpg_probe_finding(r, "tls12-accepted")->text, "client_tls_protocols"));
	assert_non_null(strstr(czpg_probe_finding(r, "weak-suites")->text, "client_tls_ciphers"));
	assert_non_null(
	    strstr(czpg_probe_finding(r, "cert-expiring")->text, "client_tls_cert_file"));
	assert_non_null(
	    strstr(czpg_probe_finding(r, "no-channel-binding")->text, "through the pooler"));
	for (size_t i = 0; i < r->nfindings; i++) {
		f = &r->findings[i];
		assert_null(strstr(f->text, "ssl_min_protocol_version"));
		assert_null(strstr(f->text, "ssl_ciphers"));
		assert_null(strstr(f->text, "pg_hba.conf"));
	}
	/* Nothing about the version behind it. */
	assert_string_equal(r->server_version, "");
	assert_non_null(strstr(r->server_version_evidence, "behind it"));

	/* Plaintext accepted and TLS off: the fix is client_tls_sslmode. */
	good_result(r);
	r->ssl_answer = 'N';
	r->tls_ok = false;
	r->plaintext_accepted = CZPG_TRI_YES;
	r->plaintext_auth = CZPG_PGWIRE_AUTH_SASL;
	refusal(&r->admin_refusal, "08P01", "not allowed", "SCM");
	czpg_probe_assess(r);
	assert_int_equal(r->server, CZPG_PROBE_SERVER_PGBOUNCER);
	assert_non_null(
	    strstr(czpg_probe_finding(r, "tls-off")->text, "client_tls_sslmode = require"));
	assert_non_null(
	    strstr(czpg_probe_finding(r, "plaintext-accepted")->text, "client_tls_sslmode"));
	free(r);
}

/* Evidence that is not clear enough names nobody. */
static void test_identify_unclear_or_postgresql(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	/* PgBouncer's words with PostgreSQL's source location: not PgBouncer's own. */
	good_result(r);
	refusal(&r->plaintext_refusal, "08P01", "SSL required", "SVCMFLR");
	czpg_probe_assess(r);
	assert_int_equal(r->server, CZPG_PROBE_SERVER_POSTGRESQL);
	/* Another SQLSTATE, a message PgBouncer does not send, a longer word. */
	good_result(r);
	refusal(&r->plaintext_refusal, "28000", "SSL required", "SCM");
	refusal(&r->tls_refusal, "08P01", "something else", "SCM");
	refusal(&r->admin_refusal, "08P01", "not allowedness", "SCM");
	czpg_probe_assess(r);
	assert_int_equal(r->server, CZPG_PROBE_SERVER_UNKNOWN);
	assert_null(czpg_probe_finding(r, "pgbouncer"));
	/* "no such database: x" is PgBouncer's with its argument. */
	refusal(&r->tls_refusal, "08P01", "no such database: x", "SCM");
	czpg_probe_assess(r);
	assert_int_equal(r->server, CZPG_PROBE_SERVER_PGBOUNCER);

	/* PostgreSQL's pg_hba refusal names its source location: PostgreSQL, its advice. */
	good_result(r);
	r->plaintext_accepted = CZPG_TRI_NO;
	refusal(&r->plaintext_refusal, "28000",
		"pg_hba.conf rejects connection for host \"127.0.0.1\"", "SVCMFLR");
	r->versions[1].accepted = CZPG_TRI_YES;
	czpg_probe_assess(r);
	assert_int_equal(r->server, CZPG_PROBE_SERVER_POSTGRESQL);
	assert_non_null(strstr(r->server_evidence, "SQLSTATE 28000"));
	assert_non_null(
	    strstr(czpg_probe_finding(r, "tls12-accepted")->text, "ssl_min_protocol_version"));
	free(r);
}

/* What the probe can say about the version without a password. */
static void test_version_evidence(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	good_result(r);
	r->direct_tls = CZPG_TRI_YES;
	snprintf(r->direct_alpn, sizeof(r->direct_alpn), "postgresql");
	czpg_probe_assess(r);
	assert_string_equal(r->server_version, "17 or later");
	assert_non_null(strstr(r->server_version_evidence, "ALPN \"postgresql\""));
	/* A TLS server that completes the handshake without selecting the ALPN is not it. */
	r->direct_alpn[0] = '\0';
	czpg_probe_assess(r);
	assert_string_equal(r->server_version, "");

	good_result(r); /* direct TLS refused while TLS is on */
	czpg_probe_assess(r);
	assert_string_equal(r->server_version, "before 17");
	assert_non_null(strstr(r->server_version_evidence, "unless a pooler answers for it"));
	refusal(&r->plaintext_refusal, "28000", "pg_hba.conf rejects connection", "SVCMFLR");
	czpg_probe_assess(r);
	assert_null(strstr(r->server_version_evidence, "unless a pooler"));

	/* TLS off: a refused direct TLS says nothing. */
	good_result(r);
	r->ssl_answer = 'N';
	r->tls_ok = false;
	czpg_probe_assess(r);
	assert_string_equal(r->server_version, "");
	assert_non_null(strstr(r->server_version_evidence, "server_version parameter"));
	free(r);
}

/* The fleet's exit result: a definite problem anywhere wins over "could not probe". */
static void test_fleet_tally(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	struct czpg_probe_tally t;

	(void)state;
	assert_non_null(r);
	memset(&t, 0, sizeof(t));
	good_result(r);
	czpg_probe_assess(r);
	czpg_probe_tally_add(&t, r);
	r->channel_binding = CZPG_TRI_NO; /* low only */
	czpg_probe_assess(r);
	czpg_probe_tally_add(&t, r);
	assert_int_equal(t.probed, 2);
	assert_int_equal(t.medium_high, 0);
	assert_int_equal(t.by_worst[CZPG_SEV_INFO], 1);
	assert_int_equal(t.by_worst[CZPG_SEV_LOW], 1);
	assert_int_equal(czpg_probe_tally_outcome(&t, 2), CZPG_RESULT_OK);
	/* A target that never reported counts as not probed. */
	assert_int_equal(czpg_probe_tally_outcome(&t, 3), CZPG_RESULT_ERROR);

	good_result(r);
	r->status = CZPG_PROBE_CLOSED;
	czpg_probe_assess(r);
	czpg_probe_tally_add(&t, r);
	assert_int_equal(t.by_status[CZPG_PROBE_CLOSED], 1);
	assert_int_equal(t.by_status[CZPG_PROBE_PROBED], 2);
	assert_int_equal(t.probed, 2);
	assert_int_equal(czpg_probe_tally_outcome(&t, 3), CZPG_RESULT_ERROR);

	good_result(r);
	r->versions[1].accepted = CZPG_TRI_YES; /* medium */
	czpg_probe_assess(r);
	czpg_probe_tally_add(&t, r);
	assert_int_equal(t.medium_high, 1);
	assert_int_equal(t.by_worst[CZPG_SEV_MEDIUM], 1);
	assert_int_equal(czpg_probe_tally_outcome(&t, 4), CZPG_RESULT_FAIL);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_weak_suites),
	    cmocka_unit_test(test_assess_clean_box),
	    cmocka_unit_test(test_assess_each_rule),
	    cmocka_unit_test(test_assess_tls_off_and_unprobed),
	    cmocka_unit_test(test_assess_marks_weak_suites),
	    cmocka_unit_test(test_identify_pgbouncer),
	    cmocka_unit_test(test_identify_unclear_or_postgresql),
	    cmocka_unit_test(test_version_evidence),
	    cmocka_unit_test(test_fleet_tally),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
