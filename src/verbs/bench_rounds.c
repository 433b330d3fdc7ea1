/*
 * bench_rounds.c - what a bench round does, and in which order rounds run
 * (see bench_rounds.h and docs/bench.md, "Method").
 *
 * Only one pool works at a time; the other stays connected and idle.  A
 * round counts its own work (issued, completed, errors, rows, latency) and,
 * when measured, adds it and the CPU and I/O it cost to the pool's result.
 *
 * --conn-lifetime N: a connection takes at most N queries; the next query it
 * would take waits for its next connection (a pool that recycles
 * connections reconnects when a connection is next needed, so the
 * reconnect falls in the round that needs it).  A round ends once its units
 * are answered and no reconnect is under way.
 */
#include "bench_rounds.h"

#include <math.h>
#include <stdlib.h>

#include "czpg/buf.h"
#include "czpg/engine.h"
#include "czpg/stats.h"

#include "bench_client.h"
#include "bench_host.h"
#include "bench_work.h"

#define CALIBRATE_UNITS_PER_CONN 40u
#define PROGRESS_EVERY_NS 500000000ull
#define ROUND_POLL_NS 5000000ull /* longest wait for I/O before checking the round again */
#define BACKLOG_ENTRY 8u         /* one scheduled send time: a big-endian u64 */

/* ------------------------------------------------------------------------
 * Sending and completing units.
 */
/* Sends one query on k; the start time goes into its FIFO.  0 or -1. */
static int issue(struct bench *b, struct bench_conn *k, uint64_t start_ns)
{
	unsigned slot = (k->head + k->inflight) % CZPG_BENCH_MAX_PIPELINE;
	struct czpg_bench_query q;
	char err[512];

	czpg_bench_work_query(&b->work, k->p->issued, k->p->committed_key, &q);
	k->unit_key[slot] = q.key;
	if (b->ops->send(b, k, &q, err, sizeof(err)) < 0) {
		czpg_bench_fail(b, "could not send a query on connection %u of the %s pool: %s",
				k->index, k->p->r->name, err);
		return -1;
	}
	k->start_ns[slot] = start_ns;
	k->inflight++;
	k->conn_queries++;
	k->p->issued++;
	return 0;
}

/* Whether k's connection has served its --conn-lifetime queries. */
static bool worn_out(const struct bench *b, const struct bench_conn *k)
{
	return b->o->conn_lifetime != 0 && k->conn_queries >= b->o->conn_lifetime;
}

/* Whether k can take one more query now. */
static bool can_take(const struct bench *b, const struct bench_conn *k)
{
	return !k->reconnecting && k->inflight < b->o->pipeline && !worn_out(b, k);
}

/*
 * Replaces k's connection once it has served its lifetime and its last
 * answer is in, when the round still has queries to hand out.
 */
static void maybe_reconnect(struct bench *b, struct bench_conn *k)
{
	struct bench_pool *p = k->p;

	if (k->reconnecting || !worn_out(b, k) || k->inflight > 0 || p->issued >= p->to_issue ||
	    b->failed)
		return;
	if (b->ops->reconnect == NULL) {
		czpg_bench_fail(b, "the %s client cannot reconnect (--conn-lifetime)",
				b->ops->name);
		return;
	}
	k->reconnecting = true;
	p->reconnecting++;
	p->r->connects++;
	if (p->measuring)
		p->r->measured_connects++;
	b->ops->reconnect(b, k);
}

/* The backlog is a FIFO of send times in the core byte buffer: appended at
 * the end, consumed from the front. */
static int backlog_push(struct bench *b, struct bench_pool *p, uint64_t t)
{
	if (czpg_wbuf_u32(&p->backlog, (uint32_t)(t >> 32)) < 0 ||
	    czpg_wbuf_u32(&p->backlog, (uint32_t)t) < 0) {
		czpg_bench_fail(b, "the open-loop backlog of the %s pool is full", p->r->name);
		return -1;
	}
	return 0;
}

static bool backlog_pop(struct bench_pool *p, uint64_t *t)
{
	struct czpg_rbuf r;
	uint32_t hi, lo;

	czpg_rbuf_init(&r, p->backlog.data, p->backlog.len);
	if (czpg_rbuf_u32(&r, &hi) < 0 || czpg_rbuf_u32(&r, &lo) < 0)
		return false;
	czpg_wbuf_consume(&p->backlog, BACKLOG_ENTRY);
	*t = (uint64_t)hi << 32 | lo;
	return true;
}

int czpg_bench_rounds_backlog_init(struct bench *b, struct bench_pool *p)
{
	const struct czpg_bench_options *o = b->o;
	size_t cap = 0;

	if (o->mode == CZPG_BENCH_POOLED && o->shape == CZPG_BENCH_OPEN)
		cap = o->round_units != 0 ? o->round_units
					  : (size_t)(o->rate * o->round_ms / 1000.0) + 1;
	/* Room for a whole round, allocated before measuring starts. */
	czpg_wbuf_init(&p->backlog, (cap + 1) * BACKLOG_ENTRY);
	if (cap > 0 && czpg_wbuf_reserve(&p->backlog, (cap + 1) * BACKLOG_ENTRY) < 0) {
		czpg_bench_fail(b, "out of memory");
		return -1;
	}
	return 0;
}

void czpg_bench_rounds_unit_done(struct bench *b, struct bench_conn *k, bool error)
{
	czpg_bench_rounds_unit_done_at(b, k, error, czpg_engine_now_ns());
}

void czpg_bench_rounds_unit_done_at(struct bench *b, struct bench_conn *k, bool error, uint64_t now)
{
	struct bench_pool *p = k->p;
	uint64_t start, t;

	if (k->inflight == 0)
		return; /* a setup query */
	start = k->start_ns[k->head];
	if (k->unit_key[k->head] != 0 && !error)
		p->committed_key = k->unit_key[k->head];
	k->head = (k->head + 1) % CZPG_BENCH_MAX_PIPELINE;
	k->inflight--;
	p->completed++;
	if (error)
		p->round_errors++;
	if (p->measuring) {
		czpg_hist_record(&p->r->hist, now - start);
		p->round_lat_sum += (double)(now - start) / CZPG_BENCH_NS_PER_S;
	}
	if (b->failed || b->o->mode == CZPG_BENCH_CONNECT)
		return;
	if (!can_take(b, k)) {
		maybe_reconnect(b, k);
		return;
	}
	if (b->o->shape == CZPG_BENCH_CLOSED) {
		if (p->issued < p->to_issue)
			issue(b, k, now);
	} else if (backlog_pop(p, &t)) {
		issue(b, k, t);
	}
}

void czpg_bench_rounds_conn_ready(struct bench *b, struct bench_conn *k)
{
	struct bench_pool *p = k->p;
	uint64_t t;

	if (!k->reconnecting)
		return;
	k->reconnecting = false;
	k->conn_queries = 0;
	p->reconnecting--;
	/* Resume k's share of the round: what a pooled connection would be handed. */
	while (!b->failed && can_take(b, k)) {
		if (b->o->shape == CZPG_BENCH_CLOSED) {
			if (p->issued >= p->to_issue)
				break;
			t = czpg_engine_now_ns();
		} else if (!backlog_pop(p, &t)) {
			break;
		}
		if (issue(b, k, t) < 0)
			break;
	}
}

/* ------------------------------------------------------------------------
 * The three shapes of a round.
 */
/*
 * A round's watchdog: when the server last answered, and how many drives
 * with answers went by without a clock read.
 */
struct watch {
	uint64_t last_done;
	bool answered; /* answers since the last clock read */
	unsigned unread;
};

/* Drives with answers between two clock reads: a few microseconds each. */
#define WATCH_READ_EVERY 16u

static void watch_init(struct watch *w, uint64_t t0)
{
	w->last_done = t0;
	w->answered = false;
	w->unread = 0;
}

/*
 * After one drive of the client: fails the run when the server has answered
 * nothing for --timeout while work is outstanding, and updates the progress
 * line now and then.  A drive with answers reads no clock but every
 * WATCH_READ_EVERY-th (the answers' time is then a few drives old at most,
 * nothing against --timeout's seconds or the progress line's half second).
 */
static void round_watch(struct bench *b, struct bench_pool *p, uint64_t units, uint64_t before,
			struct watch *w)
{
	uint64_t now;

	if (p->completed != before) {
		w->answered = true;
		if (++w->unread < WATCH_READ_EVERY)
			return;
	}
	now = czpg_engine_now_ns();
	w->unread = 0;
	if (w->answered) {
		w->last_done = now;
		w->answered = false;
	} else if (now - w->last_done > (uint64_t)b->o->timeout_ms * 1000000ull &&
		   (p->issued > p->completed || p->active > 0 || p->reconnecting > 0))
		czpg_bench_fail(b,
				"the server answered nothing on the %s pool for %u s (%llu of "
				"%llu queries done in this round)",
				p->r->name, b->o->timeout_ms / 1000,
				(unsigned long long)p->completed, (unsigned long long)units);
	if (now - b->last_progress_ns > PROGRESS_EVERY_NS)
		czpg_bench_progress(b, false);
}

/* Closed loop: pipeline queries per connection; each answer sends the next. */
static void round_closed(struct bench *b, struct bench_pool *p, uint64_t units, uint64_t t0)
{
	struct watch w;
	uint64_t before;
	unsigned i, j;

	watch_init(&w, t0);
	for (j = 0; j < b->o->pipeline; j++)
		for (i = 0; i < p->n && p->issued < units; i++) {
			if (!can_take(b, &p->conns[i])) {
				maybe_reconnect(b, &p->conns[i]);
				continue;
			}
			if (issue(b, &p->conns[i], t0) < 0)
				return;
		}
	while (!b->failed && (p->completed < units || p->reconnecting > 0)) {
		before = p->completed;
		if (b->ops->drive(b, p, ROUND_POLL_NS) < 0)
			return;
		round_watch(b, p, units, before, &w);
	}
}

/*
 * The next connection (round robin) with room for one more query, or NULL;
 * worn-out idle connections it passes start reconnecting.
 */
static struct bench_conn *free_conn(struct bench *b, struct bench_pool *p)
{
	unsigned i;

	for (i = 0; i < p->n; i++) {
		struct bench_conn *k = &p->conns[(p->rr + i) % p->n];

		if (can_take(b, k)) {
			p->rr = (p->rr + i + 1) % p->n;
			return k;
		}
		maybe_reconnect(b, k);
	}
	return NULL;
}

/*
 * Open loop: unit n is due at t0 + n x interval whether or not a connection
 * is free; a unit no connection can take waits in the backlog, and its
 * latency still counts from when it was due (no coordinated omission).
 */
static void round_open(struct bench *b, struct bench_pool *p, uint64_t units, uint64_t t0)
{
	uint64_t interval = (uint64_t)(CZPG_BENCH_NS_PER_S / b->o->rate), next = t0;
	struct watch w;
	uint64_t before, timeout, now;
	struct bench_conn *k;

	watch_init(&w, t0);
	if (interval == 0)
		interval = 1;
	while (!b->failed && (p->completed < units || p->reconnecting > 0)) {
		before = p->completed;
		timeout = ROUND_POLL_NS;
		now = czpg_engine_now_ns();
		while (p->scheduled < units && next <= now) {
			k = free_conn(b, p);
			if (k != NULL ? issue(b, k, next) < 0 : backlog_push(b, p, next) < 0)
				return;
			p->scheduled++;
			next += interval;
		}
		if (p->scheduled < units)
			timeout = next > now ? next - now : 0;
		if (b->ops->drive(b, p, timeout) < 0)
			return;
		round_watch(b, p, units, before, &w);
	}
}

/* Connect mode: keeps pool transactions in flight until units have run. */
static void round_connect(struct bench *b, struct bench_pool *p, uint64_t units, uint64_t t0)
{
	struct watch w;
	uint64_t before;

	watch_init(&w, t0);
	while (p->active < b->o->pool && p->issued < units && !b->failed)
		b->ops->start_transient(b, p);
	while (!b->failed && (p->completed < units || p->active > 0)) {
		before = p->completed;
		if (b->ops->drive(b, p, ROUND_POLL_NS) < 0)
			return;
		while (p->active < b->o->pool && p->issued < units && !b->failed)
			b->ops->start_transient(b, p);
		round_watch(b, p, units, before, &w);
	}
}

/* Server CPU of a pool so far, seconds; -1 when unknown. */
static double pool_server_cpu(struct bench *b, struct bench_pool *p)
{
	/* Recycled backends take their CPU time with them: not attributable per pool. */
	if (!b->res->server_local || b->o->conn_lifetime != 0)
		return -1;
	if (b->o->mode ==
	    CZPG_BENCH_CONNECT) /* backends come and go: the postmaster's reaped children */
		return czpg_bench_host_children_s(p->postmaster_pid);
	return czpg_bench_host_run_s(p->r->backend_pids, p->r->npids);
}

static void round_reset(struct bench_pool *p, uint64_t units, bool measure)
{
	p->to_issue = units;
	p->issued = p->scheduled = p->completed = 0;
	p->round_errors = p->round_rows = 0;
	p->round_lat_sum = 0;
	czpg_wbuf_reset(&p->backlog);
	p->measuring = measure;
}

/* Adds a measured round's work and cost to p's result. */
static void round_account(struct bench *b, struct bench_pool *p, const struct czpg_bench_round *out,
			  double client_cpu_s, double srv0, double srv1, const struct bench_io *io0)
{
	struct bench_io io1;

	p->r->units += p->completed;
	p->r->errors += p->round_errors;
	p->r->rows += p->round_rows;
	p->r->rounds++;
	p->r->busy_s += out->wall_s;
	p->r->lat_sum_s += p->round_lat_sum;
	p->r->client_cpu_s += client_cpu_s;
	if (srv0 >= 0 && srv1 >= 0)
		p->r->server_cpu_s += srv1 - srv0;
	else
		p->r->server_cpu_known = false;
	if (b->ops->io != NULL) {
		b->ops->io(b, &io1);
		p->r->enters += io1.enters - io0->enters;
		p->r->sends += io1.sends - io0->sends;
		p->r->recvs += io1.recvs - io0->recvs;
		p->r->bytes_sent += io1.bytes_sent - io0->bytes_sent;
		p->r->bytes_received += io1.bytes_received - io0->bytes_received;
		p->r->delay_chunks += io1.delay.chunks - io0->delay.chunks;
		p->r->delay_late_sum_ns += io1.delay.late_sum_ns - io0->delay.late_sum_ns;
		p->r->delay_late_sumsq += io1.delay.late_sumsq - io0->delay.late_sumsq;
		/* the maximum since the start: over the measured rounds when warm-up was calm */
		if (io1.delay.late_max_ns > p->r->delay_late_max_ns &&
		    io1.delay.chunks > io0->delay.chunks)
			p->r->delay_late_max_ns = io1.delay.late_max_ns;
	}
	if (p->r->rounds % 8 == 1)
		czpg_bench_host_note_cpus(p->r->backend_pids, p->r->npids, &p->r->server_cpu_mask);
}

int czpg_bench_rounds_run(struct bench *b, struct bench_pool *p, uint64_t units, bool measure,
			  struct czpg_bench_round *out)
{
	struct bench_io io0 = {0};
	uint64_t t0, t1, c0, c1;
	double srv0, srv1;

	round_reset(p, units, measure);
	srv0 = pool_server_cpu(b, p);
	if (b->ops->io != NULL)
		b->ops->io(b, &io0);
	c0 = czpg_bench_host_cpu_ns();
	t0 = czpg_engine_now_ns();
	if (b->o->mode == CZPG_BENCH_CONNECT)
		round_connect(b, p, units, t0);
	else if (b->o->shape == CZPG_BENCH_CLOSED)
		round_closed(b, p, units, t0);
	else
		round_open(b, p, units, t0);
	t1 = czpg_engine_now_ns();
	c1 = czpg_bench_host_cpu_ns();
	srv1 = pool_server_cpu(b, p);
	p->measuring = false;
	czpg_bench_host_note_cpu(&b->res->client_cpu_mask);
	if (b->failed)
		return -1;
	out->wall_s = (double)(t1 - t0) / CZPG_BENCH_NS_PER_S;
	out->mean_lat_s = p->completed > 0 ? p->round_lat_sum / (double)p->completed : 0;
	out->cpu_s =
	    (double)(c1 - c0) / CZPG_BENCH_NS_PER_S + (srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : 0);
	if (!measure) {
		p->r->warmup_units += p->completed;
		return 0;
	}
	round_account(b, p, out, (double)(c1 - c0) / CZPG_BENCH_NS_PER_S, srv0, srv1, &io0);
	return 0;
}

/* ------------------------------------------------------------------------
 * Pairs and the stop rule.
 */
double czpg_bench_rounds_metric(const struct czpg_bench_options *o,
				const struct czpg_bench_round *r)
{
	if (o->mode == CZPG_BENCH_POOLED && o->shape == CZPG_BENCH_OPEN)
		return r->mean_lat_s;
	return r->wall_s;
}

/* Pair i: ABBA, even pairs run pool 0 (A) first, odd pairs pool 1 (B).  0 or -1. */
static int run_pair(struct bench *b, size_t i, uint64_t units, bool measure,
		    struct czpg_bench_round *ra, struct czpg_bench_round *rb)
{
	struct bench_pool *first = i % 2 == 0 ? &b->pools[0] : &b->pools[1];
	struct bench_pool *second = i % 2 == 0 ? &b->pools[1] : &b->pools[0];
	struct czpg_bench_round r1, r2;

	if (czpg_bench_rounds_run(b, first, units, measure, &r1) < 0 ||
	    czpg_bench_rounds_run(b, second, units, measure, &r2) < 0)
		return -1;
	*ra = i % 2 == 0 ? r1 : r2;
	*rb = i % 2 == 0 ? r2 : r1;
	return 0;
}

uint64_t czpg_bench_rounds_calibration_units(const struct czpg_bench_options *o)
{
	return (uint64_t)o->pool *
	       (o->mode == CZPG_BENCH_CONNECT ? 2 : CALIBRATE_UNITS_PER_CONN * o->pipeline);
}

uint64_t czpg_bench_rounds_sized_units(const struct czpg_bench_options *o, double per_unit_s)
{
	uint64_t units;

	if (per_unit_s <= 0)
		per_unit_s = 1e-6;
	units = (uint64_t)(o->round_ms / 1000.0 / per_unit_s);
	return units < o->pool ? o->pool : units;
}

uint64_t czpg_bench_rounds_open_units(const struct czpg_bench_options *o)
{
	uint64_t units = (uint64_t)(o->rate * o->round_ms / 1000.0);

	return units < 1 ? 1 : units;
}

/* Units per round: fixed, from the rate, or from a calibration pair; 0 when that failed. */
static uint64_t calibrate(struct bench *b)
{
	const struct czpg_bench_options *o = b->o;
	struct czpg_bench_round ra, rb;
	uint64_t units;

	if (o->round_units != 0)
		return o->round_units;
	if (o->mode == CZPG_BENCH_POOLED && o->shape == CZPG_BENCH_OPEN)
		return czpg_bench_rounds_open_units(o);
	units = czpg_bench_rounds_calibration_units(o);
	if (run_pair(b, 0, units, false, &ra, &rb) < 0)
		return 0;
	return czpg_bench_rounds_sized_units(o, (ra.wall_s + rb.wall_s) / 2 / (double)units);
}

bool czpg_bench_rounds_time_left(const struct czpg_bench_options *o, size_t i, double elapsed_s,
				 double pair_s)
{
	return i < o->min_pairs || elapsed_s + pair_s <= o->duration_s;
}

/* Measuring time a gate may extend to. */
static double budget_s(const struct czpg_bench_options *o)
{
	return o->max_duration_s > o->duration_s ? o->max_duration_s : o->duration_s;
}

size_t czpg_bench_rounds_next_decision(const struct czpg_bench_options *o, size_t i,
				       double elapsed_s, double pair_s, bool more)
{
	double fit;

	/*
	 * Stop only after an even number of pairs: AB and BA pairs must
	 * balance, or a first-round/second-round effect biases the mean (ABBA
	 * cancels it only in whole AB+BA groups).
	 */
	if (!more)
		return i % 2 == 1 ? i + 1 : 0;
	if (elapsed_s + pair_s <= o->duration_s)
		return i + 1;
	/*
	 * No pair timed yet (no warm-up, --duration 0): up to --min-pairs, so
	 * fixed work is exactly that many pairs; past it, a batch of 10.
	 */
	if (pair_s <= 0)
		return i < o->min_pairs ? o->min_pairs : i + 10;
	/* Extend in batches of up to 10 pairs, never past the --max-duration budget. */
	fit = (budget_s(o) - elapsed_s) / pair_s;
	return i + (fit >= 10 ? 10 : fit >= 1 ? (size_t)fit : 1);
}

/* Whether to measure more pairs at a decision point before pair i. */
static bool want_more(struct bench *b, size_t i, double elapsed_s, double pair_s)
{
	const struct czpg_bench_options *o = b->o;
	enum czpg_gate g = CZPG_GATE_STRADDLE;
	bool more;

	if (czpg_bench_rounds_time_left(o, i, elapsed_s, pair_s))
		return true;
	if (isnan(o->max_overhead) && o->baseline == NULL)
		return false;
	/* Either gate still straddling keeps the run going, within the budget. */
	if (czpg_bench_stats(b, 2000) == 0)
		g = czpg_bench_gates(b);
	more = czpg_stats_need_more(g, i, o->min_pairs, elapsed_s, pair_s, budget_s(o));
	if (more)
		b->res->extended = true;
	return more;
}

/* Grows one of the pair arrays to cap entries.  0 or -1. */
static int grow(double **arr, size_t cap)
{
	double *na = realloc(*arr, cap * sizeof(double));

	if (na == NULL)
		return -1;
	*arr = na;
	return 0;
}

static int push_pair(struct czpg_bench_result *res, const struct czpg_bench_options *o,
		     const struct czpg_bench_round *ra, const struct czpg_bench_round *rb, double t)
{
	size_t i = res->npairs;

	if (i == res->cap_pairs) {
		size_t cap = res->cap_pairs == 0 ? 256 : res->cap_pairs * 2;

		if (grow(&res->a, cap) < 0 || grow(&res->b, cap) < 0 ||
		    grow(&res->pair_t, cap) < 0 || grow(&res->cpu_a, cap) < 0 ||
		    grow(&res->cpu_b, cap) < 0)
			return -1;
		res->cap_pairs = cap;
	}
	res->a[i] = czpg_bench_rounds_metric(o, ra);
	res->b[i] = czpg_bench_rounds_metric(o, rb);
	res->cpu_a[i] = ra->cpu_s;
	res->cpu_b[i] = rb->cpu_s;
	res->pair_t[i] = t;
	res->npairs++;
	return 0;
}

static double since_s(uint64_t start_ns)
{
	return (double)(czpg_engine_now_ns() - start_ns) / CZPG_BENCH_NS_PER_S;
}

int czpg_bench_rounds_measure(struct bench *b)
{
	const struct czpg_bench_options *o = b->o;
	struct czpg_bench_result *res = b->res;
	struct czpg_bench_round ra, rb;
	double elapsed, pair_s = 0;
	size_t i, next_decision = 0;
	uint64_t units;
	unsigned w;

	units = calibrate(b);
	if (units == 0)
		return -1;
	res->round_units = (unsigned)units;
	for (w = 0; w < o->warmup_pairs; w++) {
		if (run_pair(b, w, units, false, &ra, &rb) < 0)
			return -1;
		res->warmup_pairs_done++;
		pair_s = ra.wall_s + rb.wall_s;
	}
	res->ran = true;
	res->round_s_est = pair_s / 2;
	b->measure_start_ns = czpg_engine_now_ns();
	for (i = 0;; i++) {
		elapsed = since_s(b->measure_start_ns);
		if (i >= next_decision) {
			/* Decide in batches: never after every single pair. */
			next_decision = czpg_bench_rounds_next_decision(
			    o, i, elapsed, pair_s, want_more(b, i, elapsed, pair_s));
			if (next_decision == 0)
				return 0;
		}
		if (run_pair(b, i, units, true, &ra, &rb) < 0)
			return -1;
		pair_s = ra.wall_s + rb.wall_s;
		if (push_pair(res, o, &ra, &rb, since_s(b->measure_start_ns)) < 0) {
			czpg_bench_fail(b, "out of memory");
			return -1;
		}
	}
}
