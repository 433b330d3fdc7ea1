/*
 * test_probe_order.c - the probe's ranking of a server's suite preference
 * (src/verbs/probe_order.h) against simulated servers: one that applies its
 * own order, one that follows the client, one whose pick depends on both,
 * failed handshakes, a pick that was never offered, and the deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "probe_order.h"

static const char *const accepted[] = {
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
};
#define NACCEPTED (sizeof(accepted) / sizeof(accepted[0]))

/* A server: how it picks from the client's ':'-separated list. */
enum policy { SERVER_ORDER, CLIENT_ORDER, CHACHA_IF_FIRST };

struct server {
	enum policy policy;
	const char *const *order; /* its preference, first choice first */
	size_t norder;
	int fail_at; /* the handshake number that fails (0 = none) */
	int handshakes;
};

static bool offered(const char *list, const char *name)
{
	char copy[2048], *save = NULL, *tok;

	snprintf(copy, sizeof(copy), "%s", list);
	for (tok = strtok_r(copy, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save))
		if (strcmp(tok, name) == 0)
			return true;
	return false;
}

/* What the server picks (static storage), or NULL for a failed handshake. */
static const char *pick(struct server *sv, const char *list)
{
	static char first[128];
	size_t i;

	if (++sv->handshakes == sv->fail_at)
		return NULL;
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(list, ":"), list);
	if (sv->policy == CLIENT_ORDER ||
	    (sv->policy == CHACHA_IF_FIRST && strstr(first, "CHACHA20") != NULL))
		return first;
	for (i = 0; i < sv->norder; i++)
		if (offered(list, sv->order[i]))
			return sv->order[i];
	return NULL;
}

/* Runs the ranking the way probe.c does: both first offers, then NEXT until done. */
static void rank_against(struct czpg_probe_order *o, struct server *sv)
{
	char list[2048];
	bool next;

	assert_int_equal(czpg_probe_order_list(o, CZPG_PROBE_OFFER_FORWARD, list, sizeof(list)), 0);
	assert_false(czpg_probe_order_record(o, CZPG_PROBE_OFFER_FORWARD, pick(sv, list)));
	assert_int_equal(czpg_probe_order_list(o, CZPG_PROBE_OFFER_REVERSE, list, sizeof(list)), 0);
	next = czpg_probe_order_record(o, CZPG_PROBE_OFFER_REVERSE, pick(sv, list));
	while (next) {
		assert_int_equal(
		    czpg_probe_order_list(o, CZPG_PROBE_OFFER_NEXT, list, sizeof(list)), 0);
		next = czpg_probe_order_record(o, CZPG_PROBE_OFFER_NEXT, pick(sv, list));
	}
	assert_int_not_equal(o->state, CZPG_PROBE_ORDER_RUNNING);
}

static void test_server_preference(void **state)
{
	/* Not the table order, not its reverse: AES128 first, as in the issue. */
	static const char *const order[] = {
	    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-SHA384",
	    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA",
	    "ECDHE-ECDSA-CHACHA20-POLY1305",
	};
	struct server sv = {.policy = SERVER_ORDER, .order = order, .norder = 5};
	struct czpg_probe_order o;
	struct czpg_probe_version v = {0};
	size_t i;

	(void)state;
	czpg_probe_order_init(&o, accepted, NACCEPTED);
	rank_against(&o, &sv);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.server_order, CZPG_TRI_YES);
	assert_true(v.preference_complete);
	assert_int_equal(v.npreference, 5);
	for (i = 0; i < 5; i++)
		assert_string_equal(v.preference[i], order[i]);
	assert_non_null(strstr(v.order_detail, "5 suite(s) ranked"));
	/* n suites, n handshakes: two full offers, then one fewer each time. */
	assert_int_equal(sv.handshakes, 5);
}

static void test_server_preference_of_two(void **state)
{
	static const char *const order[] = {"ECDHE-ECDSA-CHACHA20-POLY1305",
					    "ECDHE-ECDSA-AES256-GCM-SHA384"};
	struct server sv = {.policy = SERVER_ORDER, .order = order, .norder = 2};
	struct czpg_probe_order o;
	struct czpg_probe_version v = {0};

	(void)state;
	czpg_probe_order_init(&o, accepted, 2);
	rank_against(&o, &sv);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.server_order, CZPG_TRI_YES);
	assert_int_equal(v.npreference, 2);
	assert_string_equal(v.preference[0], order[0]);
	assert_string_equal(v.preference[1], order[1]);
	assert_int_equal(sv.handshakes, 2);
}

static void test_client_order(void **state)
{
	struct server sv = {.policy = CLIENT_ORDER};
	struct czpg_probe_order o;
	struct czpg_probe_version v = {0};

	(void)state;
	czpg_probe_order_init(&o, accepted, NACCEPTED);
	rank_against(&o, &sv);
	assert_int_equal(o.state, CZPG_PROBE_ORDER_CLIENT);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.server_order, CZPG_TRI_NO);
	assert_int_equal(v.npreference, 0);
	assert_false(v.preference_complete);
	/* Both picks named: the first of each offer. */
	assert_non_null(strstr(v.order_detail, "client's first choice wins"));
	assert_non_null(strstr(v.order_detail, accepted[0]));
	assert_non_null(strstr(v.order_detail, accepted[NACCEPTED - 1]));
	assert_int_equal(sv.handshakes, 2);
}

static void test_pick_depends_on_both(void **state)
{
	/* Its own order, except that a client leading with ChaCha20 gets it. */
	static const char *const order[] = {
	    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256",
	    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES256-SHA384",
	    "ECDHE-ECDSA-AES128-SHA",
	};
	static const char *const chacha_first[] = {"ECDHE-ECDSA-CHACHA20-POLY1305",
						   "ECDHE-ECDSA-AES256-GCM-SHA384",
						   "ECDHE-ECDSA-AES128-GCM-SHA256"};
	struct server sv = {.policy = CHACHA_IF_FIRST, .order = order, .norder = 5};
	struct czpg_probe_order o;
	struct czpg_probe_version v = {0};

	(void)state;
	czpg_probe_order_init(&o, chacha_first, 3);
	rank_against(&o, &sv);
	assert_int_equal(o.state, CZPG_PROBE_ORDER_STOPPED);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.server_order, CZPG_TRI_UNKNOWN);
	assert_int_equal(v.npreference, 0);
	assert_non_null(strstr(v.order_detail, "depends on the client's order"));
}

static void test_failed_handshakes(void **state)
{
	static const char *const order[] = {
	    "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256",
	    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES256-GCM-SHA384"};
	struct server sv = {.policy = SERVER_ORDER, .order = order, .norder = 5, .fail_at = 1};
	struct czpg_probe_order o;
	struct czpg_probe_version v = {0};

	(void)state;
	/* A first offer fails: nothing is known. */
	czpg_probe_order_init(&o, accepted, NACCEPTED);
	rank_against(&o, &sv);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.server_order, CZPG_TRI_UNKNOWN);
	assert_int_equal(v.npreference, 0);
	assert_non_null(strstr(v.order_detail, "every accepted suite failed"));

	/* The fourth fails: the first two ranks stand, marked incomplete. */
	memset(&v, 0, sizeof(v));
	sv.handshakes = 0;
	sv.fail_at = 4;
	czpg_probe_order_init(&o, accepted, NACCEPTED);
	rank_against(&o, &sv);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.server_order, CZPG_TRI_YES);
	assert_false(v.preference_complete);
	assert_int_equal(v.npreference, 2);
	assert_string_equal(v.preference[0], order[0]);
	assert_string_equal(v.preference[1], order[1]);
	assert_non_null(strstr(v.order_detail, "not ranked yet failed; 2 of 5 ranked"));
}

static void test_odd_picks(void **state)
{
	struct czpg_probe_order o;
	struct czpg_probe_version v = {0};
	char list[2048];

	(void)state;
	/* A pick that was never offered ends the ranking. */
	czpg_probe_order_init(&o, accepted, NACCEPTED);
	assert_false(czpg_probe_order_record(&o, CZPG_PROBE_OFFER_FORWARD, "AES128-SHA"));
	assert_false(czpg_probe_order_record(&o, CZPG_PROBE_OFFER_REVERSE, "AES128-SHA"));
	assert_int_equal(o.state, CZPG_PROBE_ORDER_STOPPED);
	czpg_probe_order_conclude(&o, &v);
	assert_non_null(strstr(v.order_detail, "picked AES128-SHA, which was not offered"));

	/* Picking an already ranked suite again is as odd. */
	czpg_probe_order_init(&o, accepted, NACCEPTED);
	czpg_probe_order_record(&o, CZPG_PROBE_OFFER_FORWARD, accepted[2]);
	assert_true(czpg_probe_order_record(&o, CZPG_PROBE_OFFER_REVERSE, accepted[2]));
	assert_int_equal(czpg_probe_order_list(&o, CZPG_PROBE_OFFER_NEXT, list, sizeof(list)), 0);
	assert_null(strstr(list, accepted[2]));
	assert_false(czpg_probe_order_record(&o, CZPG_PROBE_OFFER_NEXT, accepted[2]));
	assert_int_equal(o.state, CZPG_PROBE_ORDER_STOPPED);
	/* Nothing is recorded once it ended. */
	assert_false(czpg_probe_order_record(&o, CZPG_PROBE_OFFER_NEXT, accepted[0]));
	assert_int_equal(o.nranked, 1);
}

static void test_lists(void **state)
{
	struct czpg_probe_order o;
	char list[2048], small[40];

	(void)state;
	czpg_probe_order_init(&o, accepted, 3);
	assert_int_equal(czpg_probe_order_list(&o, CZPG_PROBE_OFFER_FORWARD, list, sizeof(list)),
			 0);
	assert_string_equal(list, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
				  "ECDHE-ECDSA-AES128-GCM-SHA256");
	assert_int_equal(czpg_probe_order_list(&o, CZPG_PROBE_OFFER_REVERSE, list, sizeof(list)),
			 0);
	assert_string_equal(list, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
				  "ECDHE-ECDSA-AES256-GCM-SHA384");
	/* Too small a buffer is an error, never a shorter offer. */
	assert_int_equal(czpg_probe_order_list(&o, CZPG_PROBE_OFFER_FORWARD, small, sizeof(small)),
			 -1);
	czpg_probe_order_record(&o, CZPG_PROBE_OFFER_FORWARD, accepted[1]);
	assert_true(czpg_probe_order_record(&o, CZPG_PROBE_OFFER_REVERSE, accepted[1]));
	assert_int_equal(czpg_probe_order_list(&o, CZPG_PROBE_OFFER_NEXT, list, sizeof(list)), 0);
	assert_string_equal(list, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384");
}

static void test_too_few_and_cut(void **state)
{
	struct czpg_probe_order o;
	struct czpg_probe_version v = {0};
	char list[256];

	(void)state;
	czpg_probe_order_init(&o, accepted, 1);
	assert_int_equal(o.state, CZPG_PROBE_ORDER_STOPPED);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.server_order, CZPG_TRI_UNKNOWN);
	assert_int_equal(v.npreference, 1);
	assert_string_equal(v.order_detail, "one suite accepted: nothing to order");

	czpg_probe_order_init(&o, accepted, 0);
	assert_int_equal(czpg_probe_order_list(&o, CZPG_PROBE_OFFER_FORWARD, list, sizeof(list)),
			 -1);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.npreference, 0);

	/* The deadline: what was ranked stays, marked cut. */
	czpg_probe_order_init(&o, accepted, NACCEPTED);
	czpg_probe_order_record(&o, CZPG_PROBE_OFFER_FORWARD, accepted[3]);
	czpg_probe_order_record(&o, CZPG_PROBE_OFFER_REVERSE, accepted[3]);
	czpg_probe_order_cut(&o);
	czpg_probe_order_conclude(&o, &v);
	assert_int_equal(v.server_order, CZPG_TRI_YES);
	assert_false(v.preference_complete);
	assert_int_equal(v.npreference, 1);
	assert_string_equal(v.order_detail, "cut by the per-target deadline; 1 of 5 ranked");
	/* A finished ranking is not cut. */
	czpg_probe_order_init(&o, accepted, 1);
	czpg_probe_order_cut(&o);
	assert_string_equal(o.detail, "one suite accepted: nothing to order");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server_preference),
	    cmocka_unit_test(test_server_preference_of_two),
	    cmocka_unit_test(test_client_order),
	    cmocka_unit_test(test_pick_depends_on_both),
	    cmocka_unit_test(test_failed_handshakes),
	    cmocka_unit_test(test_odd_picks),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_too_few_and_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
