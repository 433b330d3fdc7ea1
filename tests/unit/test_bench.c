/*
 * test_bench.c - the parts of `czctl postgres tls bench` that need no
 * server: the SQL of each workload (bench_work), the round planning and the
 * stop rule (bench_rounds), the three round shapes and connection recycling
 * (--conn-lifetime) driven through the client operations table by a
 * scripted client that answers in memory, and the regression gate: its four
 * outcomes on known pairs and the refusal of baselines that cannot be
 * compared (bench_baseline).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "czpg/bench.h"
#include "czpg/buf.h"
#include "czpg/engine.h"
#include "czpg/stats.h"

#include "bench_client.h"
#include "bench_rounds.h"
#include "bench_state.h"
#include "bench_work.h"

/* ---- workloads ------------------------------------------------------------ */

static void work_for(struct czpg_bench_work *w, enum czpg_bench_workload wl,
		     enum czpg_bench_protocol proto, const char *sql)
{
	struct czpg_bench_options o;

	czpg_bench_options_default(&o);
	o.workload = wl;
	o.protocol = proto;
	o.sql = sql;
	czpg_bench_work_init(w, &o, 42);
}

static void test_work_select1_and_sql(void **state)
{
	struct czpg_bench_work w;
	struct czpg_bench_query q;
	struct czpg_bench_stmt st[CZPG_BENCH_WORK_MAX_STMTS];
	char sql[512];

	(void)state;
	work_for(&w, CZPG_BENCH_SELECT1, CZPG_BENCH_SIMPLE, NULL);
	czpg_bench_work_query(&w, 0, 0, &q);
	assert_string_equal(q.text, "SELECT 1");
	assert_int_equal(q.key, 0);
	assert_int_equal(czpg_bench_work_statements(&w, st), 1);
	assert_string_equal(st[0].name, "czb_q");
	assert_string_equal(st[0].sql, "SELECT 1");
	assert_false(czpg_bench_work_create_sql(&w, 0, sql, sizeof(sql)));
	assert_false(czpg_bench_work_drop_sql(&w, sql, sizeof(sql)));

	/* --sql: its text as given, whatever its length, and no parameters. */
	work_for(&w, CZPG_BENCH_SQL, CZPG_BENCH_EXTENDED, "SELECT now(), 'x'");
	czpg_bench_work_query(&w, 5, 0, &q);
	assert_string_equal(q.stmt, "czb_q");
	assert_int_equal(q.nparams, 0);
	assert_int_equal(czpg_bench_work_statements(&w, st), 1);
	assert_string_equal(st[0].sql, "SELECT now(), 'x'");
}

static void test_work_audit_alternates(void **state)
{
	struct czpg_bench_work w;
	struct czpg_bench_query q;

	(void)state;
	work_for(&w, CZPG_BENCH_AUDIT, CZPG_BENCH_SIMPLE, NULL);
	/* Even units insert a new row, numbered from 1. */
	czpg_bench_work_query(&w, 0, 0, &q);
	assert_int_equal(q.key, 1);
	assert_non_null(strstr(q.text, "INSERT INTO czbench_audit_42 "));
	assert_non_null(strstr(q.text, "(1, 1, 'svc-1', 'policy.update', '{"));
	/* An odd unit with nothing committed yet cannot read: it inserts too. */
	czpg_bench_work_query(&w, 1, 0, &q);
	assert_int_equal(q.key, 2);
	/* An odd unit reads back the newest committed row. */
	czpg_bench_work_query(&w, 3, 2, &q);
	assert_int_equal(q.key, 0);
	assert_string_equal(q.text, "SELECT payload FROM czbench_audit_42 WHERE id = 2");
	czpg_bench_work_query(&w, 4, 2, &q);
	assert_int_equal(q.key, 3);
}

static void test_work_audit_extended(void **state)
{
	struct czpg_bench_work w;
	struct czpg_bench_query q;
	struct czpg_bench_stmt st[CZPG_BENCH_WORK_MAX_STMTS];
	size_t len;

	(void)state;
	work_for(&w, CZPG_BENCH_AUDIT, CZPG_BENCH_EXTENDED, NULL);
	w.next_key = 99;
	czpg_bench_work_query(&w, 0, 0, &q);
	assert_string_equal(q.stmt, "czb_ins");
	assert_int_equal(q.nparams, 4);
	assert_int_equal(q.key, 100);
	assert_string_equal(q.values[0], "100");
	assert_string_equal(q.values[1], "0"); /* tenant = id % 50 */
	assert_string_equal(q.values[2], "svc-3");
	assert_non_null(strstr(q.values[3], "\"key\":100,"));
	len = strlen(q.values[3]);
	assert_true(len >= 360 && len <= 440); /* "~400-byte" (docs/bench.md), within 10% */

	czpg_bench_work_query(&w, 1, 100, &q);
	assert_string_equal(q.stmt, "czb_sel");
	assert_int_equal(q.nparams, 1);
	assert_string_equal(q.values[0], "100");

	assert_int_equal(czpg_bench_work_statements(&w, st), 2);
	assert_string_equal(st[0].name, "czb_ins");
	assert_int_equal(st[0].nparams, 4);
	assert_non_null(strstr(st[0].sql, "INSERT INTO czbench_audit_42 "));
	assert_non_null(strstr(st[0].sql, "$4)"));
	assert_string_equal(st[1].name, "czb_sel");
	assert_int_equal(st[1].nparams, 1);
	assert_string_equal(st[1].sql, "SELECT payload FROM czbench_audit_42 WHERE id = $1");
}

static void test_work_audit_table(void **state)
{
	struct czpg_bench_work w;
	char sql[512];

	(void)state;
	work_for(&w, CZPG_BENCH_AUDIT, CZPG_BENCH_SIMPLE, NULL);
	assert_true(czpg_bench_work_create_sql(&w, 0, sql, sizeof(sql)));
	assert_string_equal(sql, "DROP TABLE IF EXISTS czbench_audit_42");
	assert_true(czpg_bench_work_create_sql(&w, 1, sql, sizeof(sql)));
	assert_non_null(strstr(sql, "CREATE TABLE czbench_audit_42 (id bigint PRIMARY KEY"));
	assert_non_null(strstr(sql, "payload jsonb NOT NULL"));
	assert_true(czpg_bench_work_create_sql(&w, 2, sql, sizeof(sql)));
	assert_string_equal(sql, "CREATE INDEX czbench_audit_42_tenant_at ON czbench_audit_42 "
				 "(tenant, at)");
	assert_false(czpg_bench_work_create_sql(&w, 3, sql, sizeof(sql)));
	assert_true(czpg_bench_work_drop_sql(&w, sql, sizeof(sql)));
	assert_string_equal(sql, "DROP TABLE IF EXISTS czbench_audit_42");
}

/* ---- round planning and the stop rule ------------------------------------ */

static void test_plan_round_units(void **state)
{
	struct czpg_bench_options o;

	(void)state;
	czpg_bench_options_default(&o);
	o.pool = 3;
	o.pipeline = 2;
	assert_int_equal(czpg_bench_rounds_calibration_units(&o), 3 * 40 * 2);
	o.mode = CZPG_BENCH_CONNECT;
	assert_int_equal(czpg_bench_rounds_calibration_units(&o), 3 * 2);

	/* 200 ms rounds at 100 us per unit: 2000 units. */
	o.round_ms = 200;
	assert_int_equal(czpg_bench_rounds_sized_units(&o, 100e-6), 2000);
	/* Never fewer units than connections. */
	assert_int_equal(czpg_bench_rounds_sized_units(&o, 1.0), 3);
	/* A calibration too fast to time counts as 1 us per unit. */
	assert_int_equal(czpg_bench_rounds_sized_units(&o, 0), 200000);

	o.rate = 400;
	o.round_ms = 80;
	assert_int_equal(czpg_bench_rounds_open_units(&o), 32);
	o.rate = 1;
	assert_int_equal(czpg_bench_rounds_open_units(&o), 1);
}

static void test_plan_next_decision(void **state)
{
	struct czpg_bench_options o;

	(void)state;
	czpg_bench_options_default(&o);
	o.duration_s = 10;
	o.max_duration_s = 30;
	/* Within --duration: decide again after every pair. */
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 4, 2.0, 0.4, true), 5);
	/* Done after an even number of pairs: stop. */
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 12, 9.9, 0.4, false), 0);
	/* Done after an odd number: one more pair, so AB and BA balance. */
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 13, 9.9, 0.4, false), 14);
	/* Extending past --duration: batches of 10 pairs... */
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 20, 10.2, 0.4, true), 30);
	/* ... or as many as still fit in --max-duration (1.8 s left: 4 pairs of 0.4 s) */
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 40, 28.2, 0.4, true), 44);
	/* ... and at least one. */
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 50, 29.9, 0.4, true), 51);
	/* No pair timed yet: up to --min-pairs (default 10), then a batch of 10. */
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 0, 10.5, 0, true), 10);
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 10, 10.5, 0, true), 20);
	o.duration_s = o.max_duration_s = 0; /* --duration 0: fixed work */
	o.min_pairs = 2;
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 0, 0.001, 0, true), 2);
	o.min_pairs = 16;
	assert_int_equal(czpg_bench_rounds_next_decision(&o, 0, 0.001, 0, true), 16);
}

/*
 * Walks the stop rule without a gate, as czpg_bench_rounds_measure does,
 * over pairs of a fixed length.  The run must stop at the first pair that
 * is neither below --min-pairs nor within --duration, rounded up to an
 * even count.
 */
static void test_plan_stop_rule_walk(void **state)
{
	static const struct {
		double duration_s, pair_s; /* pair_s < 0: no warm-up, 0.1 s pairs once timed */
		unsigned min_pairs;
		size_t pairs; /* worked out by hand */
	} cases[] = {
	    {1.0, 0.3, 2, 4},   /* pair 3 would end at 1.2 s: 3 -> 4 */
	    {1.0, 0.3, 3, 4},   /* the same */
	    {0.0, 0.1, 5, 6},   /* no time at all: 5 pairs -> 6 */
	    {2.0, 0.25, 2, 8},  /* pair 7 ends at exactly 2 s: 8 */
	    {0.1, 0.5, 0, 0},   /* nothing fits and nothing is required */
	    {5.0, 0.7, 10, 10}, /* --min-pairs outlasts --duration */
	    {3.0, 1.0, 1, 4},   /* pairs 0-2 fit: 3 -> 4 */
	    {0.0, -1.0, 2, 2},  /* --duration 0, no warm-up: exactly --min-pairs */
	    {0.0, -1.0, 3, 4},  /* the same, rounded up to even */
	};
	struct czpg_bench_options o;
	size_t c, i, next;
	double elapsed;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		czpg_bench_options_default(&o);
		o.duration_s = cases[c].duration_s;
		o.max_duration_s = o.duration_s;
		o.min_pairs = cases[c].min_pairs;
		next = 0;
		for (i = 0;; i++) {
			/* Without a warm-up the first decision has no pair time yet. */
			double pair_s = cases[c].pair_s >= 0 ? cases[c].pair_s : i == 0 ? 0 : 0.1;

			elapsed = (double)i * (cases[c].pair_s >= 0 ? cases[c].pair_s : 0.1);
			if (i >= next) {
				next = czpg_bench_rounds_next_decision(
				    &o, i, elapsed, pair_s,
				    czpg_bench_rounds_time_left(&o, i, elapsed, pair_s));
				if (next == 0)
					break;
			}
			assert_true(i < 1000);
		}
		if (i != cases[c].pairs)
			fail_msg("case %zu: stopped after %zu pairs, expected %zu", c, i,
				 cases[c].pairs);
	}
}

/* ---- rounds through a scripted client ------------------------------------ */

#define FAKE_MAX_UNITS 512

/* The scripted client's state (b->client): it answers from memory. */
struct fake {
	bool hold;          /* answer nothing until the round has scheduled every unit */
	bool one_per_drive; /* answer one query per drive, else all in flight */
	bool silent;        /* never answer */
	const char *send_error;
	bool in_drive;
	unsigned sends, sends_in_drive, max_inflight;
	uint64_t starts[FAKE_MAX_UNITS]; /* latency origin of each answered unit */
	size_t nstarts;
	int order[64]; /* pool of each round, by its first send (or transaction) */
	size_t norder;
	struct bench_conn *transients[64];
	size_t ntransients;
	unsigned max_active;
	/* --conn-lifetime: connections being replaced, ready at the next drive */
	struct bench_conn *reconnecting[8];
	size_t nreconnecting;
	unsigned reconnects;
	uint64_t most_on_one_conn; /* most queries one connection took */
};

static struct fake *fake_of(struct bench *b)
{
	return b->client;
}

static void fake_note_round(struct bench *b, struct bench_pool *p)
{
	struct fake *f = fake_of(b);

	if (p->issued == 0 && f->norder < 64)
		f->order[f->norder++] = p == &b->pools[0] ? 0 : 1;
}

static int fake_send(struct bench *b, struct bench_conn *k, const struct czpg_bench_query *q,
		     char *err, size_t errlen)
{
	struct fake *f = fake_of(b);

	assert_string_equal(q->text, "SELECT 1");
	if (f->send_error != NULL) {
		snprintf(err, errlen, "%s", f->send_error);
		return -1;
	}
	fake_note_round(b, k->p);
	f->sends++;
	assert_false(k->reconnecting);
	if (k->conn_queries + 1 > f->most_on_one_conn)
		f->most_on_one_conn = k->conn_queries + 1;
	if (f->in_drive)
		f->sends_in_drive++;
	if (k->inflight + 1 > f->max_inflight)
		f->max_inflight = k->inflight + 1;
	return 0;
}

/* Answers the oldest query of k. */
static void fake_answer(struct bench *b, struct bench_conn *k)
{
	struct fake *f = fake_of(b);

	if (f->nstarts < FAKE_MAX_UNITS)
		f->starts[f->nstarts++] = k->start_ns[k->head];
	k->p->round_rows++;
	czpg_bench_rounds_unit_done(b, k, false);
}

static void fake_wait(uint64_t timeout_ns)
{
	struct timespec ts = {.tv_sec = 0,
			      .tv_nsec = (long)(timeout_ns < 1000000 ? timeout_ns : 1000000)};

	nanosleep(&ts, NULL);
}

static int fake_drive(struct bench *b, struct bench_pool *p, uint64_t timeout_ns)
{
	struct fake *f = fake_of(b);
	unsigned i, n;
	size_t t;

	if (f->silent || (f->hold && p->scheduled < p->to_issue)) {
		fake_wait(timeout_ns);
		return 0;
	}
	/* the new connections of the previous drive are up */
	while (f->nreconnecting > 0)
		czpg_bench_rounds_conn_ready(b, f->reconnecting[--f->nreconnecting]);
	if (b->o->mode == CZPG_BENCH_CONNECT) {
		/* every transaction in flight completes and its connection goes */
		for (t = 0; t < f->ntransients; t++) {
			fake_answer(b, f->transients[t]);
			f->transients[t]->p->active--;
			free(f->transients[t]);
		}
		f->ntransients = 0;
		return 0;
	}
	f->in_drive = true;
	for (i = 0; i < p->n; i++) {
		struct bench_conn *k = &p->conns[i];

		/* only what was in flight before this drive */
		for (n = k->inflight; n > 0; n--) {
			fake_answer(b, k);
			if (f->one_per_drive)
				goto out;
		}
	}
out:
	f->in_drive = false;
	return 0;
}

static int fake_start_transient(struct bench *b, struct bench_pool *p)
{
	struct fake *f = fake_of(b);
	struct bench_conn *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	assert_true(f->ntransients < 64);
	fake_note_round(b, p);
	k->b = b, k->p = p, k->index = (unsigned)p->issued;
	k->start_ns[0] = czpg_engine_now_ns();
	k->inflight = 1;
	f->transients[f->ntransients++] = k;
	p->active++;
	p->issued++;
	if (p->active > f->max_active)
		f->max_active = p->active;
	return 0;
}

static int fake_reconnect(struct bench *b, struct bench_conn *k)
{
	struct fake *f = fake_of(b);

	assert_int_equal(k->inflight, 0);
	assert_true(f->nreconnecting < 8);
	f->reconnecting[f->nreconnecting++] = k;
	f->reconnects++;
	return 0;
}

static const struct bench_client_ops fake_ops = {
    .name = "scripted",
    .send = fake_send,
    .drive = fake_drive,
    .start_transient = fake_start_transient,
    .reconnect = fake_reconnect,
};

/* A run of two pools of `pool` connections, as bench.c would set it up. */
struct fixture {
	struct czpg_bench_options o;
	struct czpg_bench_result res;
	struct bench b;
	struct fake f;
	struct bench_conn conns[2][8];
};

static struct fixture *fixture_new(enum czpg_bench_mode mode, enum czpg_bench_shape shape,
				   unsigned pool, unsigned pipeline, double rate)
{
	struct fixture *x = calloc(1, sizeof(*x));
	unsigned pi, i;

	assert_non_null(x);
	assert_true(pool <= 8);
	czpg_bench_options_default(&x->o);
	x->o.mode = mode;
	x->o.shape = shape;
	x->o.pool = pool;
	x->o.pipeline = pipeline;
	x->o.rate = rate;
	x->o.round_units = 64;
	x->b.o = &x->o;
	x->b.res = &x->res;
	x->b.ops = &fake_ops;
	x->b.client = &x->f;
	czpg_bench_work_init(&x->b.work, &x->o, 1);
	for (pi = 0; pi < 2; pi++) {
		struct bench_pool *p = &x->b.pools[pi];

		p->b = &x->b;
		p->r = &x->res.pools[pi];
		snprintf(p->r->name, sizeof(p->r->name), "%s", pi == 0 ? "tls" : "plain");
		p->r->server_cpu_known = true;
		czpg_hist_init(&p->r->hist);
		assert_int_equal(czpg_bench_rounds_backlog_init(&x->b, p), 0);
		if (mode != CZPG_BENCH_POOLED)
			continue;
		p->n = pool;
		p->conns = x->conns[pi];
		for (i = 0; i < pool; i++)
			p->conns[i].b = &x->b, p->conns[i].p = p, p->conns[i].index = i;
	}
	return x;
}

static void fixture_free(struct fixture *x)
{
	czpg_wbuf_free(&x->b.pools[0].backlog);
	czpg_wbuf_free(&x->b.pools[1].backlog);
	czpg_bench_result_free(&x->res);
	free(x);
}

static void test_round_closed(void **state)
{
	struct fixture *x = fixture_new(CZPG_BENCH_POOLED, CZPG_BENCH_CLOSED, 3, 2, 0);
	struct bench_pool *p = &x->b.pools[0];
	struct czpg_bench_round r;

	(void)state;
	assert_int_equal(czpg_bench_rounds_run(&x->b, p, 100, true, &r), 0);
	assert_int_equal(x->f.sends, 100);
	assert_int_equal(x->f.max_inflight, 2); /* --pipeline, never more */
	assert_int_equal(p->completed, 100);
	assert_int_equal(p->r->units, 100);
	assert_int_equal(p->r->rows, 100);
	assert_int_equal(p->r->rounds, 1);
	assert_int_equal(p->r->hist.count, 100);
	assert_int_equal(x->b.pools[1].r->units, 0);
	assert_true(r.wall_s > 0);
	assert_true(r.mean_lat_s >= 0 && r.mean_lat_s <= r.wall_s);
	/* No /proc figures for a server that is not local. */
	assert_false(p->r->server_cpu_known);

	/* A warm-up round counts apart and leaves the measured figures alone. */
	assert_int_equal(czpg_bench_rounds_run(&x->b, p, 10, false, &r), 0);
	assert_int_equal(p->r->warmup_units, 10);
	assert_int_equal(p->r->units, 100);
	assert_int_equal(p->r->hist.count, 100);
	fixture_free(x);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_round_open_backlog(void **state)
{
	/* 1e9 queries/s: one due every nanosecond, far more than 2 connections take. */
	struct fixture *x = fixture_new(CZPG_BENCH_POOLED, CZPG_BENCH_OPEN, 2, 1, 1e9);
	struct bench_pool *p = &x->b.pools[1];
	struct czpg_bench_round r;
	size_t i;

	(void)state;
	x->f.hold = true;
	x->f.one_per_drive = true;
	assert_int_equal(czpg_bench_rounds_run(&x->b, p, 50, true, &r), 0);
	assert_int_equal(p->r->units, 50);
	assert_int_equal(x->f.max_inflight, 1);
	/* Two went out at once; the other 48 waited in the backlog. */
	assert_int_equal(x->f.sends, 50);
	assert_int_equal(x->f.sends_in_drive, 48);
	/* Each unit's latency counts from when it was due: 50 distinct times 1 ns apart. */
	assert_int_equal(x->f.nstarts, 50);
	qsort(x->f.starts, x->f.nstarts, sizeof(uint64_t), cmp_u64);
	for (i = 1; i < x->f.nstarts; i++)
		assert_int_equal(x->f.starts[i] - x->f.starts[i - 1], 1);
	fixture_free(x);
}

static void test_round_connect_concurrency(void **state)
{
	struct fixture *x = fixture_new(CZPG_BENCH_CONNECT, CZPG_BENCH_CLOSED, 3, 1, 0);
	struct bench_pool *p = &x->b.pools[0];
	struct czpg_bench_round r;

	(void)state;
	assert_int_equal(czpg_bench_rounds_run(&x->b, p, 7, true, &r), 0);
	assert_int_equal(p->issued, 7);
	assert_int_equal(p->r->units, 7);
	assert_int_equal(x->f.max_active, 3); /* --pool transactions at a time */
	assert_int_equal(p->active, 0);       /* the round waits for the last one */
	fixture_free(x);
}

/*
 * --conn-lifetime 5 on one connection, pipeline 2: no connection takes a
 * sixth query, each reconnect comes after its fifth answer, and over 3
 * rounds of 12 queries the pool connects ceil(36 / 5) = 8 times in all
 * (the first connection and 7 reconnects), each reconnect in the round
 * that needs it.
 */
static void test_round_lifetime(void **state)
{
	struct fixture *x = fixture_new(CZPG_BENCH_POOLED, CZPG_BENCH_CLOSED, 1, 2, 0);
	struct bench_pool *p = &x->b.pools[0];
	struct czpg_bench_round r;
	int i;

	(void)state;
	x->o.conn_lifetime = 5;
	p->r->connects = 1; /* as bench.c counts the pool's first connections */
	for (i = 0; i < 3; i++) {
		assert_int_equal(czpg_bench_rounds_run(&x->b, p, 12, true, &r), 0);
		assert_int_equal(p->completed, 12);
		assert_int_equal(p->reconnecting, 0); /* a round ends with its reconnects done */
	}
	assert_int_equal(x->f.sends, 36);
	assert_int_equal(x->f.most_on_one_conn, 5);
	assert_int_equal(x->f.reconnects, 7);
	assert_int_equal(p->r->connects, 8);
	assert_int_equal(p->r->measured_connects, 7);
	assert_int_equal(p->r->units, 36);
	/* the same rounds in the open loop */
	fixture_free(x);
	x = fixture_new(CZPG_BENCH_POOLED, CZPG_BENCH_OPEN, 2, 1, 1e6);
	p = &x->b.pools[1];
	x->o.conn_lifetime = 3;
	assert_int_equal(czpg_bench_rounds_run(&x->b, p, 20, true, &r), 0);
	assert_int_equal(p->r->units, 20);
	assert_int_equal(x->f.most_on_one_conn, 3);
	assert_true(x->f.reconnects >= 20 / 3 - 1);
	fixture_free(x);
}

static void test_round_send_error(void **state)
{
	struct fixture *x = fixture_new(CZPG_BENCH_POOLED, CZPG_BENCH_CLOSED, 2, 1, 0);
	struct czpg_bench_round r;

	(void)state;
	x->f.send_error = "the socket is closed";
	assert_int_equal(czpg_bench_rounds_run(&x->b, &x->b.pools[0], 10, true, &r), -1);
	assert_true(x->b.failed);
	assert_string_equal(x->b.err, "could not send a query on connection 0 of the tls pool: "
				      "the socket is closed");
	assert_int_equal(x->res.pools[0].rounds, 0);
	fixture_free(x);
}

static void test_round_silent_server(void **state)
{
	struct fixture *x = fixture_new(CZPG_BENCH_POOLED, CZPG_BENCH_CLOSED, 2, 1, 0);
	struct czpg_bench_round r;

	(void)state;
	x->o.timeout_ms = 1000;
	x->f.silent = true;
	assert_int_equal(czpg_bench_rounds_run(&x->b, &x->b.pools[1], 10, true, &r), -1);
	assert_string_equal(x->b.err, "the server answered nothing on the plain pool for 1 s (0 of "
				      "10 queries done in this round)");
	fixture_free(x);
}

static void test_measure_abba_even(void **state)
{
	struct fixture *x = fixture_new(CZPG_BENCH_POOLED, CZPG_BENCH_CLOSED, 2, 1, 0);
	/* warm-up pair, then measured pairs 0-3: ABBA order */
	static const int want[] = {0, 1, 0, 1, 1, 0, 0, 1, 1, 0};
	size_t i;

	(void)state;
	x->o.round_units = 10;
	x->o.warmup_pairs = 1;
	x->o.min_pairs = 3; /* an odd minimum still ends on an even count */
	x->o.duration_s = 0;
	x->o.max_duration_s = 0;
	assert_int_equal(czpg_bench_rounds_measure(&x->b), 0);
	assert_true(x->res.ran);
	assert_int_equal(x->res.round_units, 10);
	assert_int_equal(x->res.warmup_pairs_done, 1);
	assert_int_equal(x->res.npairs, 4);
	for (i = 0; i < 2; i++) {
		assert_int_equal(x->res.pools[i].units, 40);
		assert_int_equal(x->res.pools[i].rounds, 4);
		assert_int_equal(x->res.pools[i].warmup_units, 10);
	}
	for (i = 0; i < x->res.npairs; i++) {
		assert_true(x->res.a[i] > 0 && x->res.b[i] > 0);
		if (i > 0)
			assert_true(x->res.pair_t[i] >= x->res.pair_t[i - 1]);
	}
	assert_int_equal(x->f.norder, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < x->f.norder; i++)
		assert_int_equal(x->f.order[i], want[i]);
	fixture_free(x);
}

/* ---- the outcome --------------------------------------------------------- */

static void test_outcome(void **state)
{
	struct czpg_bench_options o;
	struct czpg_bench_result *res = calloc(1, sizeof(*res));

	(void)state;
	assert_non_null(res);
	czpg_bench_options_default(&o);
	assert_int_equal(czpg_bench_outcome(&o, res, 0), CZPG_RESULT_OK);
	assert_int_equal(czpg_bench_outcome(&o, res, -1), CZPG_RESULT_ERROR);
	o.max_overhead = 0.05;
	assert_int_equal(czpg_bench_outcome(&o, res, 0), CZPG_RESULT_INCONCLUSIVE);
	res->have_stats = true;
	res->gate_set = true;
	res->gate = CZPG_GATE_BELOW;
	assert_int_equal(czpg_bench_outcome(&o, res, 0), CZPG_RESULT_OK);
	res->gate = CZPG_GATE_ABOVE;
	assert_int_equal(czpg_bench_outcome(&o, res, 0), CZPG_RESULT_FAIL);
	res->gate = CZPG_GATE_STRADDLE;
	assert_int_equal(czpg_bench_outcome(&o, res, 0), CZPG_RESULT_INCONCLUSIVE);
	/* An error trumps any verdict. */
	res->gate = CZPG_GATE_BELOW;
	snprintf(res->error, sizeof(res->error), "the server went away");
	assert_int_equal(czpg_bench_outcome(&o, res, 0), CZPG_RESULT_ERROR);
	free(res);
}

/* ---- the regression gate ------------------------------------------------- */

/*
 * n pairs whose overhead is about `overhead`, a plaintext round of 0.2 s
 * drifting slowly, and a per-pair wobble of +-noise (deterministic).
 */
static void make_pairs(double *a, double *b, size_t n, double overhead, double noise, unsigned seed)
{
	struct czpg_rng rng;
	size_t i;

	czpg_rng_seed(&rng, seed);
	for (i = 0; i < n; i++) {
		b[i] = 0.2 * (1.0 + 0.1 * sin((double)i / 7.0));
		a[i] =
		    b[i] * (1.0 + overhead) * (1.0 + noise * (2.0 * czpg_rng_uniform(&rng) - 1.0));
	}
}

/* A baseline report as `bench --json` writes it (schema 2), with n pairs. */
static char *baseline_json(const char *pool_workload, const double *a, const double *b, size_t n,
			   const char *status)
{
	size_t cap = 4096 + n * 64, used = 0, i;
	char *s = malloc(cap);

	assert_non_null(s);
	used += (size_t)snprintf(
	    s + used, cap - used,
	    "{\"schema\": \"czctl.bench/2\", \"config\": {\"host\": \"127.0.0.1\", %s, "
	    "\"mode\": \"pooled\", \"shape\": \"closed\", \"rate\": null, \"client\": \"native\", "
	    "\"protocol\": \"simple\", \"sql_file\": null, \"pipeline\": 1, \"aa\": false, "
	    "\"aa_tls\": false, \"rtt_ms\": 1, \"conn_lifetime\": 0}, \"session\": "
	    "{\"tls_version\": \"TLSv1.3\", \"server_version\": \"15.18 (Debian)\"}, "
	    "\"pairs\": {\"count\": %zu, \"a_s\": [",
	    pool_workload, n);
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(s + used, cap - used, "%s%.10g", i ? ", " : "", a[i]);
	used += (size_t)snprintf(s + used, cap - used, "], \"b_s\": [");
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(s + used, cap - used, "%s%.10g", i ? ", " : "", b[i]);
	snprintf(s + used, cap - used,
		 "], \"t_s\": []}, \"result\": {\"status\": \"%s\", \"error\": null}}", status);
	return s;
}

static void load_baseline(struct czpg_bench_baseline *base, double overhead, double noise)
{
	double a[60], b[60];
	char err[256], *js;

	make_pairs(a, b, 60, overhead, noise, 11);
	js = baseline_json("\"pool\": 4, \"workload\": \"select1\"", a, b, 60, "ok");
	if (czpg_bench_baseline_parse(js, strlen(js), "base.json", base, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	free(js);
}

static void options_like_baseline(struct czpg_bench_options *o)
{
	czpg_bench_options_default(o);
	o->pool = 4;
	o->rtt_ms = 1;
	o->max_regression = 0.01; /* one percentage point */
}

static void test_baseline_parse(void **state)
{
	struct czpg_bench_baseline base;

	(void)state;
	load_baseline(&base, 0.10, 0.002);
	assert_string_equal(base.path, "base.json");
	assert_string_equal(base.workload, "select1");
	assert_string_equal(base.mode, "pooled");
	assert_int_equal(base.pool, 4);
	assert_int_equal(base.pipeline, 1);
	assert_true(base.rtt_ms == 1);
	assert_true(isnan(base.rate));
	assert_string_equal(base.server_version, "15.18 (Debian)");
	assert_int_equal(base.npairs, 60);
	/* its own overhead, recomputed from its pairs */
	assert_true(fabs(base.stats.overhead - 0.10) < 0.002);
	czpg_bench_baseline_free(&base);
	czpg_bench_baseline_free(NULL);
}

/* Reports that are no baseline are refused with a reason. */
static void test_baseline_refused(void **state)
{
	static const struct {
		const char *json, *why;
	} bad[] = {
	    {"{\"schema\": \"czctl.bench/2\"", "is not JSON"},
	    {"[1, 2", "is not JSON"},
	    {"{\"schema\": \"czctl.bench-sweep/1\"}", "is not a `czctl postgres tls bench --json`"},
	    {"{\"schema\": \"czctl.bench/2\", \"result\": {\"status\": \"error\", \"error\": "
	     "\"the server went away\"}}",
	     "did not finish (the server went away)"},
	    {"{\"schema\": \"czctl.bench/2\", \"result\": {\"status\": \"ok\"}, \"config\": {}, "
	     "\"pairs\": {\"count\": 3, \"a_s\": [1,1,1], \"b_s\": [1,1,1]}}",
	     "has 3 pairs; a regression gate needs at least 10"},
	    {"{\"schema\": \"czctl.bench/2\", \"result\": {\"status\": \"ok\"}, \"config\": {}, "
	     "\"pairs\": {\"count\": 10, \"a_s\": [1,1,1], \"b_s\": [1,1,1]}}",
	     "must be 10 numbers each"},
	    {"{\"a\": \"\\x\"}", "bad escape"},
	    {"{\"a\": 01e}", "is not JSON"},
	};
	struct czpg_bench_baseline base;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(czpg_bench_baseline_parse(bad[i].json, strlen(bad[i].json),
							   "b.json", &base, err, sizeof(err)),
				 -1);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, bad[i].why);
	}
	assert_int_equal(
	    czpg_bench_baseline_load("/nonexistent/base.json", &base, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read the baseline /nonexistent/base.json"));
}

/* A baseline of another workload, pool, pipeline, RTT, protocol or server is refused, named. */
static void test_baseline_incomparable(void **state)
{
	struct czpg_bench_baseline base;
	struct czpg_bench_options o;
	struct czpg_bench_result *res = calloc(1, sizeof(*res));
	char why[256];

	(void)state;
	assert_non_null(res);
	load_baseline(&base, 0.10, 0.002);
	options_like_baseline(&o);
	assert_int_equal(czpg_bench_baseline_compare(&base, &o, why, sizeof(why)), 0);
	o.pool = 2;
	assert_int_equal(czpg_bench_baseline_compare(&base, &o, why, sizeof(why)), -1);
	assert_string_equal(why, "the baseline ran --pool 4, this run --pool 2");
	options_like_baseline(&o);
	o.workload = CZPG_BENCH_AUDIT;
	assert_int_equal(czpg_bench_baseline_compare(&base, &o, why, sizeof(why)), -1);
	assert_string_equal(why, "the baseline ran --workload select1, this run audit");
	options_like_baseline(&o);
	o.pipeline = 4;
	assert_int_equal(czpg_bench_baseline_compare(&base, &o, why, sizeof(why)), -1);
	assert_string_equal(why, "the baseline ran --pipeline 1, this run --pipeline 4");
	options_like_baseline(&o);
	o.rtt_ms = 0.25;
	assert_int_equal(czpg_bench_baseline_compare(&base, &o, why, sizeof(why)), -1);
	assert_string_equal(why, "the baseline ran --rtt 1, this run --rtt 0.25");
	options_like_baseline(&o);
	o.protocol = CZPG_BENCH_EXTENDED;
	assert_int_equal(czpg_bench_baseline_compare(&base, &o, why, sizeof(why)), -1);
	assert_string_equal(why, "the baseline ran --protocol simple, this run extended");
	options_like_baseline(&o);
	o.own_records = true; /* a report without tls_records had OpenSSL's */
	assert_int_equal(czpg_bench_baseline_compare(&base, &o, why, sizeof(why)), -1);
	assert_string_equal(why, "the baseline ran --tls-records openssl, this run czpg");
	options_like_baseline(&o);
	o.aa = o.aa_tls = true;
	assert_int_equal(czpg_bench_baseline_compare(&base, &o, why, sizeof(why)), -1);
	assert_string_equal(
	    why, "the baseline ran the pools TLS vs plaintext, this run A/A (TLS vs TLS)");

	/* The server is compared once connected; the verdict is a bad input (exit 2). */
	snprintf(res->server_version, sizeof(res->server_version), "17.2 (Debian)");
	snprintf(res->tls_version, sizeof(res->tls_version), "TLSv1.3");
	assert_int_equal(czpg_bench_baseline_compare_session(&base, res,
							     res->regression.incomparable,
							     sizeof(res->regression.incomparable)),
			 -1);
	assert_string_equal(
	    res->regression.incomparable,
	    "the baseline ran against server 15.18 (Debian), this run 17.2 (Debian)");
	options_like_baseline(&o);
	o.baseline = &base;
	snprintf(res->error, sizeof(res->error), "the baseline is not comparable");
	assert_int_equal(czpg_bench_outcome(&o, res, -1), CZPG_RESULT_BAD_INPUT);
	snprintf(res->server_version, sizeof(res->server_version), "15.18 (Debian)");
	assert_int_equal(czpg_bench_baseline_compare_session(&base, res, why, sizeof(why)), 0);
	czpg_bench_baseline_free(&base);
	free(res);
}

/*
 * The gate's four outcomes on known pairs against a baseline of +10% with
 * a 0.2% wobble, at --max-regression 1 (point): the same overhead is below
 * (exit 0), +20% is above (1), +10.8% with a 6% wobble straddles (4), and
 * an incomparable baseline is a bad input (2, above).
 */
static void test_regression_outcomes(void **state)
{
	static const struct {
		double overhead, noise;
		enum czpg_gate gate;
		enum czpg_result result;
	} cases[] = {
	    {0.10, 0.002, CZPG_GATE_BELOW, CZPG_RESULT_OK},
	    {0.20, 0.002, CZPG_GATE_ABOVE, CZPG_RESULT_FAIL},
	    {0.108, 0.06, CZPG_GATE_STRADDLE, CZPG_RESULT_INCONCLUSIVE},
	};
	struct czpg_bench_baseline base;
	struct czpg_bench_options o;
	struct czpg_bench_result *res = calloc(1, sizeof(*res));
	double a[60], b[60];
	size_t c;

	(void)state;
	assert_non_null(res);
	load_baseline(&base, 0.10, 0.002);
	options_like_baseline(&o);
	o.baseline = &base;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memset(res, 0, sizeof(*res));
		make_pairs(a, b, 60, cases[c].overhead, cases[c].noise, 23);
		assert_int_equal(czpg_bench_regression_gate(&o, &base, a, b, 60, &res->regression),
				 0);
		assert_true(res->regression.have);
		/* the difference is this run's overhead minus the baseline's, in points */
		assert_true(fabs(res->regression.diff.diff -
				 (cases[c].overhead - base.stats.overhead)) < 0.01);
		assert_true(res->regression.diff.lo <= res->regression.diff.diff &&
			    res->regression.diff.diff <= res->regression.diff.hi);
		if (res->regression.gate != cases[c].gate)
			fail_msg("case %zu: gate %s, interval [%g, %g]", c,
				 czpg_stats_gate_name(res->regression.gate),
				 res->regression.diff.lo, res->regression.diff.hi);
		assert_int_equal(czpg_bench_outcome(&o, res, 0), cases[c].result);
	}
	/* Too few pairs of this run for an interval: no verdict. */
	memset(res, 0, sizeof(*res));
	assert_int_equal(czpg_bench_regression_gate(&o, &base, a, b, 1, &res->regression), -1);
	assert_false(res->regression.have);
	assert_int_equal(czpg_bench_outcome(&o, res, 0), CZPG_RESULT_INCONCLUSIVE);
	czpg_bench_baseline_free(&base);
	free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_work_select1_and_sql),
	    cmocka_unit_test(test_work_audit_alternates),
	    cmocka_unit_test(test_work_audit_extended),
	    cmocka_unit_test(test_work_audit_table),
	    cmocka_unit_test(test_plan_round_units),
	    cmocka_unit_test(test_plan_next_decision),
	    cmocka_unit_test(test_plan_stop_rule_walk),
	    cmocka_unit_test(test_round_closed),
	    cmocka_unit_test(test_round_open_backlog),
	    cmocka_unit_test(test_round_connect_concurrency),
	    cmocka_unit_test(test_round_lifetime),
	    cmocka_unit_test(test_round_send_error),
	    cmocka_unit_test(test_round_silent_server),
	    cmocka_unit_test(test_measure_abba_even),
	    cmocka_unit_test(test_outcome),
	    cmocka_unit_test(test_baseline_parse),
	    cmocka_unit_test(test_baseline_refused),
	    cmocka_unit_test(test_baseline_incomparable),
	    cmocka_unit_test(test_regression_outcomes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
