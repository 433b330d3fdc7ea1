/*
 * bench_rounds.h - private to the bench: round scheduling.  One round is a
 * fixed number of units on one pool, in one of three shapes: closed loop
 * (every connection keeps `pipeline` queries in flight), open loop
 * (queries scheduled at `rate` per second over the pool, a backlog holding
 * those no connection could take on time) or connect mode (`pool`
 * connection-per-transaction units at a time).  Pairs of rounds run in ABBA
 * order: calibration, warm-up, then measured pairs until the stop rule
 * (docs/bench.md, "Method").  The planning functions (the *_units ones,
 * time_left and next_decision) are pure.
 */
#ifndef CZPG_BENCH_ROUNDS_H
#define CZPG_BENCH_ROUNDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/bench.h"

#include "bench_state.h"

struct czpg_bench_round {
	double wall_s;     /* first send to last answer */
	double mean_lat_s; /* per unit, from its start (open loop: its scheduled time) */
	double cpu_s;      /* client CPU, plus the server's when known */
};

/*
 * A query on k finished (error: the server answered with an error).  The
 * clients call this; it accounts the unit and, in a pooled round, hands k
 * its next query (closed loop) or the oldest one waiting (open loop).
 */
void czpg_bench_rounds_unit_done(struct bench *b, struct bench_conn *k, bool error);
/* The same, at now_ns: a client that already read the clock for this answer. */
void czpg_bench_rounds_unit_done_at(struct bench *b, struct bench_conn *k, bool error,
				    uint64_t now_ns);

/*
 * k's next connection (--conn-lifetime) is up: the clients call this; it
 * resumes k's share of the round in progress.
 */
void czpg_bench_rounds_conn_ready(struct bench *b, struct bench_conn *k);

/*
 * Initialises p->backlog (free it with czpg_wbuf_free), with room for the
 * longest open-loop round allocated up front.  0, or -1 (the run failed).
 */
int czpg_bench_rounds_backlog_init(struct bench *b, struct bench_pool *p);

/*
 * Runs one round of units on p in the options' shape; measure adds its
 * figures to p's result.  0, or -1 when the run failed (b->err says why).
 */
int czpg_bench_rounds_run(struct bench *b, struct bench_pool *p, uint64_t units, bool measure,
			  struct czpg_bench_round *out);

/*
 * Calibrates, warms up and measures pairs until the stop rule says enough,
 * recording each measured pair in b->res.  0, or -1 when the run failed.
 */
int czpg_bench_rounds_measure(struct bench *b);

/* The metric a pair compares: mean latency for an open loop, else the round's wall time. */
double czpg_bench_rounds_metric(const struct czpg_bench_options *o,
				const struct czpg_bench_round *r);

/* Units of the calibration pair (closed loop and connect mode). */
uint64_t czpg_bench_rounds_calibration_units(const struct czpg_bench_options *o);

/* Units per round given the calibration's time per unit; at least one per connection. */
uint64_t czpg_bench_rounds_sized_units(const struct czpg_bench_options *o, double per_unit_s);

/* Units per open-loop round: rate x round length, at least 1. */
uint64_t czpg_bench_rounds_open_units(const struct czpg_bench_options *o);

/*
 * The stop rule, at a decision point before measured pair i: more says
 * whether more pairs are wanted (time or pairs left, or the gate still
 * straddling within the budget).  Returns the pair index of the next
 * decision, or 0 to stop now.  A run only stops after an even number of
 * pairs (AB and BA balance); past --duration it extends in batches of up
 * to 10 pairs that fit in the budget (--max-duration).
 */
size_t czpg_bench_rounds_next_decision(const struct czpg_bench_options *o, size_t i,
				       double elapsed_s, double pair_s, bool more);

/* Whether pair i is still wanted regardless of the gate: below --min-pairs or within --duration. */
bool czpg_bench_rounds_time_left(const struct czpg_bench_options *o, size_t i, double elapsed_s,
				 double pair_s);

#endif
