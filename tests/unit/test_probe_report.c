/*
 * test_probe_report.c - what the probe prints (report/probe_report.c): the
 * names, one target as JSON and as text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/probe.h"
#include "czpg/probe_findings.h"
#include "czpg/probe_report.h"
#include "czpg/result.h"
#include "test_probe_fixture.h"

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(czpg_probe_severity_name(CZPG_SEV_INFO), "info");
	assert_string_equal(czpg_probe_severity_name(CZPG_SEV_HIGH), "high");
	assert_string_equal(czpg_probe_status_name(CZPG_PROBE_NO_ANSWER), "no-answer");
	assert_string_equal(czpg_probe_status_name(CZPG_PROBE_NOT_POSTGRESQL), "not-postgresql");
	assert_string_equal(czpg_probe_tri_name(CZPG_TRI_UNKNOWN), "unknown");
	assert_string_equal(czpg_probe_server_name(CZPG_PROBE_SERVER_PGBOUNCER), "PgBouncer");
	assert_string_equal(czpg_probe_server_name(CZPG_PROBE_SERVER_UNKNOWN), "not identified");
}

/* ---- one target --------------------------------------------------------------- */

/* The JSON line with the exit result the command line concludes. */
static void print_json(FILE *out, const struct czpg_probe_result *r)
{
	czpg_probe_print_json(out, r, czpg_probe_outcome(r));
}

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
	out = capture(print_json, r);
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

/* Which name and address answered, after which failed attempts: text and JSON. */
static void test_connect_path_output(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	char *out;

	(void)state;
	assert_non_null(r);
	good_result(r);
	czpg_probe_assess(r);
	/* Nothing recorded: no line, and JSON says null. */
	out = capture(czpg_probe_print, r);
	assert_null(strstr(out, "connected to:"));
	free(out);
	out = capture(print_json, r);
	assert_non_null(strstr(out, "\"connect\":{\"host\":null,\"address\":null,\"attempts\":[],"
				    "\"attempts_not_shown\":0}"));
	free(out);

	snprintf(r->connected_host, sizeof(r->connected_host), "db2");
	snprintf(r->connected_to, sizeof(r->connected_to), "127.0.0.1:5433");
	snprintf(r->connect_failures, sizeof(r->connect_failures),
		 "db1:5432: cannot resolve; [::1]:5433: Connection refused");
	snprintf(r->attempts[0].addr, sizeof(r->attempts[0].addr), "db1:5432");
	snprintf(r->attempts[0].error, sizeof(r->attempts[0].error), "cannot resolve");
	snprintf(r->attempts[1].addr, sizeof(r->attempts[1].addr), "[::1]:5433");
	snprintf(r->attempts[1].error, sizeof(r->attempts[1].error), "Connection refused");
	snprintf(r->attempts[2].addr, sizeof(r->attempts[2].addr), "127.0.0.1:5433");
	r->nattempts = 3;
	out = capture(czpg_probe_print, r);
	assert_non_null(strstr(out, "\nconnected to: 127.0.0.1:5433 (db2) after db1:5432: cannot "
				    "resolve; [::1]:5433: Connection refused\n"));
	free(out);
	out = capture(print_json, r);
	assert_non_null(strstr(out, "\"connect\":{\"host\":\"db2\",\"address\":\"127.0.0.1:5433\","
				    "\"attempts\":[{\"address\":\"db1:5432\",\"error\":\"cannot "
				    "resolve\"},{\"address\":\"[::1]:5433\",\"error\":\"Connection "
				    "refused\"},{\"address\":\"127.0.0.1:5433\",\"error\":null}],"
				    "\"attempts_not_shown\":0}"));
	free(out);

	/* The first address answered: no "after". */
	r->connect_failures[0] = '\0';
	out = capture(czpg_probe_print, r);
	assert_non_null(strstr(out, "\nconnected to: 127.0.0.1:5433 (db2)\n"));
	free(out);
	free(r);
}

/* The order as a numbered list (server), one line (client), or why not known. */
static void test_order_and_identity_output(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	struct czpg_probe_version *v;
	char *out;

	(void)state;
	assert_non_null(r);
	good_result(r);
	v = &r->versions[1];
	v->accepted = CZPG_TRI_YES;
	v->nsuites = 2;
	v->suites[0].name = "ECDHE-ECDSA-AES256-GCM-SHA384";
	v->suites[0].accepted = CZPG_TRI_YES;
	v->suites[1].name = "ECDHE-ECDSA-AES128-GCM-SHA256";
	v->suites[1].accepted = CZPG_TRI_YES;
	v->server_order = CZPG_TRI_YES;
	v->npreference = 2;
	v->preference[0] = "ECDHE-ECDSA-AES128-GCM-SHA256";
	v->preference[1] = "ECDHE-ECDSA-AES256-GCM-SHA384";
	v->preference_complete = true;
	snprintf(r->plaintext_refusal.sqlstate, sizeof(r->plaintext_refusal.sqlstate), "08P01");
	snprintf(r->plaintext_refusal.message, sizeof(r->plaintext_refusal.message),
		 "SSL required");
	snprintf(r->plaintext_refusal.fields, sizeof(r->plaintext_refusal.fields), "SCM");
	czpg_probe_assess(r);
	out = capture(czpg_probe_print, r);
	assert_non_null(strstr(out, "order: the server's preference\n"
				    "              1. ECDHE-ECDSA-AES128-GCM-SHA256\n"
				    "              2. ECDHE-ECDSA-AES256-GCM-SHA384\n"));
	assert_non_null(strstr(out, "Server: PgBouncer (PgBouncer's own refusals"));
	assert_non_null(strstr(out, "Server version: not known (PgBouncer answers"));
	free(out);
	out = capture(print_json, r);
	assert_non_null(
	    strstr(out, "\"order\":\"server\",\"preference\":["
			"\"ECDHE-ECDSA-AES128-GCM-SHA256\",\"ECDHE-ECDSA-AES256-GCM-SHA384\"],"
			"\"preference_complete\":true,\"server_order\":true"));
	assert_non_null(strstr(out, "\"server\":{\"kind\":\"pgbouncer\""));
	assert_non_null(strstr(out, "\"plaintext\":{\"sqlstate\":\"08P01\",\"message\":\"SSL "
				    "required\",\"fields\":\"SCM\"}"));
	assert_non_null(strstr(out, "\"server_version\":{\"version\":null"));
	free(out);

	/* Cut short: what was ranked, marked incomplete. */
	v->preference_complete = false;
	v->npreference = 1;
	snprintf(v->order_detail, sizeof(v->order_detail), "cut by the per-target deadline");
	out = capture(czpg_probe_print, r);
	assert_non_null(strstr(out, "order: the server's preference (incomplete: cut by the "
				    "per-target deadline)\n              1. "
				    "ECDHE-ECDSA-AES128-GCM-SHA256\n  TLSv1.1"));
	free(out);

	/* Client order: one line, no list; in JSON a null preference. */
	v->server_order = CZPG_TRI_NO;
	v->npreference = 0;
	snprintf(v->order_detail, sizeof(v->order_detail), "the client's first choice wins");
	out = capture(czpg_probe_print, r);
	assert_non_null(
	    strstr(out, "order: client order (the client's first choice wins)\n  TLSv1.1"));
	free(out);
	out = capture(print_json, r);
	assert_non_null(strstr(out, "\"order\":\"client\",\"preference\":null"));
	free(out);

	v->server_order = CZPG_TRI_UNKNOWN;
	snprintf(v->order_detail, sizeof(v->order_detail), "one suite accepted: nothing to order");
	out = capture(czpg_probe_print, r);
	assert_non_null(
	    strstr(out, "order: not determined (one suite accepted: nothing to order)"));
	free(out);
	free(r);
}

/* ---- a fleet ------------------------------------------------------------------- */

static void test_fleet_rows_and_summary(void **state)
{
	struct czpg_probe_result *r = calloc(1, sizeof(*r));
	struct czpg_probe_row rows[4];
	struct czpg_probe_tally t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(r);
	memset(&t, 0, sizeof(t));
	memset(rows, 0, sizeof(rows));

	good_result(r);
	r->versions[1].accepted = CZPG_TRI_YES;
	r->channel_binding = CZPG_TRI_NO;
	czpg_probe_assess(r);
	czpg_probe_row_fill(&rows[0], r);
	czpg_probe_tally_add(&t, r);
	assert_true(rows[0].filled);
	assert_string_equal(rows[0].versions, "1.3,1.2");
	assert_string_equal(rows[0].top, "tls12-accepted"); /* the worst, not the first */
	assert_int_equal(rows[0].nfindings, 2);

	good_result(r);
	snprintf(r->target, sizeof(r->target), "off.example:5432");
	r->ssl_answer = 'N';
	for (size_t i = 0; i < CZPG_PROBE_NVERSIONS; i++)
		r->versions[i].accepted = CZPG_TRI_UNKNOWN;
	czpg_probe_assess(r);
	czpg_probe_row_fill(&rows[1], r);
	czpg_probe_tally_add(&t, r);
	assert_string_equal(rows[1].versions, "off");
	assert_string_equal(rows[1].top, "tls-off");

	memset(r, 0, sizeof(*r)); /* nothing learned: no answer at all */
	snprintf(r->target, sizeof(r->target), "10.9.9.9:5432");
	r->status = CZPG_PROBE_CLOSED;
	snprintf(r->status_detail, sizeof(r->status_detail), "connection refused");
	czpg_probe_assess(r);
	czpg_probe_row_fill(&rows[3], r);
	czpg_probe_tally_add(&t, r);
	assert_string_equal(rows[3].versions, "-");
	/* rows[2] never reported: not printed. */

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	czpg_probe_print_fleet(f, rows, 4, &t, 1234.4);
	fclose(f);
	assert_non_null(strstr(buf, "TARGET"));
	assert_non_null(strstr(buf, "TOP FINDING / DETAIL"));
	assert_non_null(strstr(buf, "db.example:5432"));
	assert_non_null(strstr(buf, "tls12-accepted"));
	assert_non_null(strstr(buf, "off.example:5432"));
	assert_non_null(strstr(buf, "10.9.9.9:5432"));
	assert_non_null(strstr(buf, "connection refused"));
	assert_non_null(strstr(buf, "4 target(s) in 1234 ms: 2 probed (1 high, 1 medium, 0 low, "
				    "0 info-only), 1 closed, 0 unreachable"));
	/* Header, three rows, blank line, counts. */
	{
		size_t lines = 0;
		const char *p;

		for (p = buf; *p != '\0'; p++)
			lines += *p == '\n';
		assert_int_equal(lines, 6);
	}
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	czpg_probe_print_fleet_json(f, &t, 4, 12.5);
	fclose(f);
	assert_non_null(strstr(buf, "{\"summary\":{\"targets\":4,"));
	assert_non_null(strstr(buf, "\"status\":{\"probed\":2,\"closed\":1,"));
	assert_non_null(strstr(buf, "\"worst\":{\"info\":0,\"low\":0,\"medium\":1,\"high\":1}"));
	assert_int_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	czpg_probe_print_progress(f, 3, 4, 1);
	czpg_probe_print_progress(f, 4, 4, 0);
	fclose(f);
	assert_string_equal(buf, "\rprobe: 3/4 targets done, 1 in progress   "
				 "\rprobe: 4/4 targets done, 0 in progress   \n");
	free(buf);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_json_and_human_output),
	    cmocka_unit_test(test_connect_path_output),
	    cmocka_unit_test(test_order_and_identity_output),
	    cmocka_unit_test(test_fleet_rows_and_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
