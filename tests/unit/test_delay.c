/*
 * test_delay.c - the delay line behind `bench --rtt` (czpg/delay.h), on a
 * scripted clock: bytes a connection sends reach the server RTT/2 after
 * they were sent, bytes the server sends reach the connection RTT/2 after
 * they arrived, in order, with several queries in flight on several
 * connections; how late releases come is recorded; a full line refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "czpg/delay.h"

#define HOLD_NS 500000ull /* RTT/2 of a 1 ms round trip */

static void test_empty(void **state)
{
	struct czpg_delay d;
	struct czpg_delay_chunk ch;

	(void)state;
	czpg_delay_init(&d, HOLD_NS, 0);
	assert_int_equal(czpg_delay_next_due(&d), 0);
	assert_false(czpg_delay_pop(&d, UINT64_MAX, &ch));
	assert_int_equal(czpg_delay_queued(&d), 0);
	czpg_delay_free(&d);
	czpg_delay_free(NULL);
}

/* One chunk: not a nanosecond early, bytes and labels intact. */
static void test_hold_exact(void **state)
{
	struct czpg_delay d;
	struct czpg_delay_chunk ch;

	(void)state;
	czpg_delay_init(&d, HOLD_NS, 0);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_IN, 7, 3, 0, "Z\0\0\0\5I", 6, 1000), 0);
	assert_int_equal(czpg_delay_queued(&d), 1);
	assert_int_equal(czpg_delay_next_due(&d), 1000 + HOLD_NS);
	assert_false(czpg_delay_pop(&d, 1000 + HOLD_NS - 1, &ch));
	assert_true(czpg_delay_pop(&d, 1000 + HOLD_NS, &ch));
	assert_int_equal(ch.kind, CZPG_DELAY_IN);
	assert_int_equal(ch.slot, 7);
	assert_int_equal(ch.gen, 3);
	assert_int_equal(ch.len, 6);
	assert_memory_equal(ch.data, "Z\0\0\0\5I", 6);
	assert_int_equal(ch.queued_ns, 1000);
	assert_int_equal(ch.due_ns, 1000 + HOLD_NS);
	assert_int_equal(czpg_delay_queued(&d), 0);
	assert_int_equal(d.stats.chunks, 1);
	assert_int_equal(d.stats.bytes, 6);
	assert_true(d.stats.late_sum_ns == 0);
	czpg_delay_free(&d);
}

/*
 * A scripted round trip through one line, as the engine uses it: a query
 * a connection sends is queued OUT; when it is due it reaches the server,
 * which answers at once; the answer arrives on the client's socket then and
 * is queued IN; when due the connection sees it.  Three queries in flight
 * on each of two connections, sent 10 us apart: every answer must reach
 * its connection exactly RTT after its query was sent, and each
 * connection's answers in the order it sent the queries.
 */
static void test_round_trip_pipelined(void **state)
{
	struct czpg_delay d;
	struct czpg_delay_chunk ch;
	uint64_t sent[2][3], now, seen_at_server[2][3];
	int got[2] = {0, 0}, at_server[2] = {0, 0};
	char q[16];
	int c, i, steps = 0;

	(void)state;
	czpg_delay_init(&d, HOLD_NS, 0);
	now = 50000;
	for (i = 0; i < 3; i++)
		for (c = 0; c < 2; c++) {
			snprintf(q, sizeof(q), "Q%d-%d", c, i);
			sent[c][i] = now;
			assert_int_equal(
			    czpg_delay_push(&d, CZPG_DELAY_OUT, (uint32_t)c, 1, 0, q, 5, now), 0);
			now += 10000;
		}
	/* Run the clock from due time to due time, as the engine's timer does. */
	while (czpg_delay_queued(&d) > 0) {
		assert_true(++steps < 100);
		now = czpg_delay_next_due(&d);
		while (czpg_delay_pop(&d, now, &ch)) {
			c = (int)ch.slot;
			if (ch.kind == CZPG_DELAY_OUT) {
				/* the server has it: it must be the next query of that connection
				 */
				snprintf(q, sizeof(q), "Q%d-%d", c, at_server[c]);
				assert_memory_equal(ch.data, q, 5);
				assert_int_equal(now - sent[c][at_server[c]], HOLD_NS);
				seen_at_server[c][at_server[c]] = now;
				q[0] = 'R';
				assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_IN, ch.slot, ch.gen,
								 0, q, 5, now),
						 0);
				at_server[c]++;
			} else {
				assert_int_equal(ch.kind, CZPG_DELAY_IN);
				snprintf(q, sizeof(q), "R%d-%d", c, got[c]);
				assert_memory_equal(ch.data, q, 5);
				/* RTT/2 after it left the server, RTT after it was sent */
				assert_int_equal(now - seen_at_server[c][got[c]], HOLD_NS);
				assert_int_equal(now - sent[c][got[c]], 2 * HOLD_NS);
				got[c]++;
			}
		}
	}
	assert_int_equal(got[0], 3);
	assert_int_equal(got[1], 3);
	assert_int_equal(d.stats.chunks, 12);
	assert_true(d.stats.late_sum_ns == 0);
	czpg_delay_free(&d);
}

/* A release after its due time counts how late it was. */
static void test_lateness(void **state)
{
	struct czpg_delay d;
	struct czpg_delay_chunk ch;

	(void)state;
	czpg_delay_init(&d, HOLD_NS, 0);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_OUT, 0, 0, 0, "a", 1, 0), 0);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_OUT, 0, 0, 0, "b", 1, 100), 0);
	/* both released at one wake-up, 30 us after the first was due */
	assert_true(czpg_delay_pop(&d, HOLD_NS + 30000, &ch));
	assert_int_equal(ch.data[0], 'a');
	assert_true(czpg_delay_pop(&d, HOLD_NS + 30000, &ch));
	assert_int_equal(ch.data[0], 'b');
	assert_int_equal(d.stats.chunks, 2);
	assert_true(d.stats.late_sum_ns == 30000.0 + 29900.0);
	assert_true(d.stats.late_sumsq == 30000.0 * 30000.0 + 29900.0 * 29900.0);
	assert_int_equal(d.stats.late_max_ns, 30000);
	czpg_delay_free(&d);
}

/* Markers carry no bytes; a connect completion is queued like the rest. */
static void test_markers(void **state)
{
	struct czpg_delay d;
	struct czpg_delay_chunk ch;

	(void)state;
	czpg_delay_init(&d, HOLD_NS, 0);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_CONNECT, 2, 9, 2, NULL, 0, 10), 0);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_IN_ERROR, 2, 9, 104, NULL, 0, 20), 0);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_IN_EOF, 2, 9, 0, NULL, 0, 30), 0);
	assert_true(czpg_delay_pop(&d, 10 + HOLD_NS, &ch));
	assert_int_equal(ch.kind, CZPG_DELAY_CONNECT);
	assert_int_equal(ch.arg, 2);
	assert_int_equal(ch.len, 0);
	assert_false(czpg_delay_pop(&d, 19 + HOLD_NS, &ch));
	assert_true(czpg_delay_pop(&d, 30 + HOLD_NS, &ch));
	assert_int_equal(ch.kind, CZPG_DELAY_IN_ERROR);
	assert_int_equal(ch.arg, 104);
	assert_true(czpg_delay_pop(&d, 30 + HOLD_NS, &ch));
	assert_int_equal(ch.kind, CZPG_DELAY_IN_EOF);
	czpg_delay_free(&d);
}

/* A full line queues nothing and says so; it takes chunks again once it drains. */
static void test_full(void **state)
{
	struct czpg_delay d;
	struct czpg_delay_chunk ch;
	uint8_t big[600];

	(void)state;
	memset(big, 'x', sizeof(big));
	czpg_delay_init(&d, HOLD_NS, 1024);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_IN, 0, 0, 0, big, sizeof(big), 0), 0);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_IN, 0, 0, 0, big, sizeof(big), 1), -1);
	assert_int_equal(czpg_delay_queued(&d), 1);
	assert_true(czpg_delay_pop(&d, HOLD_NS, &ch));
	assert_int_equal(ch.len, sizeof(big));
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_IN, 0, 0, 0, big, sizeof(big), 2), 0);
	czpg_delay_free(&d);
}

/* A new hold applies to chunks queued after the change. */
static void test_set_hold(void **state)
{
	struct czpg_delay d;

	(void)state;
	czpg_delay_init(&d, HOLD_NS, 0);
	czpg_delay_set_hold(&d, 125000);
	assert_int_equal(czpg_delay_push(&d, CZPG_DELAY_OUT, 0, 0, 0, "a", 1, 1000), 0);
	assert_int_equal(czpg_delay_next_due(&d), 126000);
	czpg_delay_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_hold_exact),
	    cmocka_unit_test(test_round_trip_pipelined),
	    cmocka_unit_test(test_lateness),
	    cmocka_unit_test(test_markers),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_set_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
