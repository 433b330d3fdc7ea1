/*
 * bench_work.h - private to the bench: the work units of `czctl postgres tls
 * bench`, as text.  What each query sends (SELECT 1, the audit workload's
 * insert / read-back pair, or the --sql statement), the statements the
 * extended protocol prepares once per connection, and the audit table's
 * DDL.  Pure: builds SQL and parameters, sends nothing; both clients send
 * what it builds.
 */
#ifndef CZPG_BENCH_WORK_H
#define CZPG_BENCH_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/bench.h"

#define CZPG_BENCH_WORK_MAX_STMTS 2
#define CZPG_BENCH_WORK_MAX_PARAMS 4
#define CZPG_BENCH_AUDIT_PAD 260 /* makes the JSONB document about 400 bytes */

struct czpg_bench_work {
	enum czpg_bench_workload workload;
	bool extended;   /* Bind/Execute of prepared statements, else Query text */
	const char *sql; /* CZPG_BENCH_SQL: the statement (borrowed) */
	char table[64];  /* audit: czbench_audit_<pid> */
	char pad[CZPG_BENCH_AUDIT_PAD + 1];
	char insert_sql[200]; /* audit: the statements prepared (extended) */
	char select_sql[120];
	uint64_t next_key; /* audit: the newest row id handed out */
};

/* A statement to prepare on every connection (extended protocol). */
struct czpg_bench_stmt {
	const char *name;
	const char *sql; /* points into the work (or its --sql text) */
	size_t nparams;
};

/* One query, ready to send: stmt + values (extended) or text (simple). */
struct czpg_bench_query {
	const char *stmt;
	const char *text;
	size_t nparams;
	const char *values[CZPG_BENCH_WORK_MAX_PARAMS];
	uint64_t key; /* audit: the row this query inserts; 0 for anything else */
	/* storage the pointers above may point into */
	char key_s[24], tenant[16], actor[24], payload[640], sql[1024];
};

/* Sets w up for o's workload and protocol; pid names the audit table. */
void czpg_bench_work_init(struct czpg_bench_work *w, const struct czpg_bench_options *o, long pid);

/*
 * Builds the nth query of a pool's round into q.  Audit: even units (and
 * any unit while committed_key is 0) insert a new row (w->next_key grows);
 * odd units read back row committed_key, the newest one the pool has seen
 * committed, so that both pools do the same work.
 */
void czpg_bench_work_query(struct czpg_bench_work *w, uint64_t nth, uint64_t committed_key,
			   struct czpg_bench_query *q);

/* Fills out with the statements to prepare; returns how many. */
size_t czpg_bench_work_statements(const struct czpg_bench_work *w,
				  struct czpg_bench_stmt out[CZPG_BENCH_WORK_MAX_STMTS]);

/*
 * The ith statement that creates the workload's table (audit: drop a
 * leftover, create, index) into out; false past the last one (at once for
 * workloads without a table).
 */
bool czpg_bench_work_create_sql(const struct czpg_bench_work *w, size_t i, char *out, size_t cap);

/* The statement that drops the workload's table; false when there is none. */
bool czpg_bench_work_drop_sql(const struct czpg_bench_work *w, char *out, size_t cap);

#endif
