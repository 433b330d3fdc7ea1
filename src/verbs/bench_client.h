/*
 * bench_client.h - private to the bench: the one table of operations
 * through which the run and its rounds drive a client, whichever it is: the
 * native client (bench_native.c: czpg_conn state machines on one io_uring
 * engine) or libpq (bench_libpq.c: non-blocking PGconn and poll()).
 *
 * Each client keeps its own state: the run's in b->client, each
 * connection's in k->cs; nothing outside its file looks inside either.  A
 * client reports progress back through czpg_bench_rounds_unit_done() (a
 * query finished), the pool's round_rows (DataRows) and czpg_bench_fail()
 * (the run cannot go on).  All operations run on the bench's one thread.
 */
#ifndef CZPG_BENCH_CLIENT_H
#define CZPG_BENCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/delay.h"

#include "bench_state.h"
#include "bench_work.h"

/* The client's I/O counters so far (cumulative). */
struct bench_io {
	uint64_t enters, sends, recvs, bytes_sent, bytes_received;
	struct czpg_delay_stats delay; /* the emulated network delay (--rtt) */
};

struct bench_client_ops {
	const char *name;
	/* Creates the client's state for the run in b->client.  0, or -1 (the run failed). */
	int (*open)(struct bench *b);
	/*
	 * Connects every connection of both pools (pooled mode) and returns
	 * once all sessions are up, each with its k->backend_pid.  0 or -1.
	 */
	int (*connect)(struct bench *b);
	/* Runs one setup statement on k and waits for its end.  0 or -1. */
	int (*exec)(struct bench *b, struct bench_conn *k, const char *sql);
	/* Prepares the n statements on every connection of both pools and waits.  0 or -1. */
	int (*prepare)(struct bench *b, const struct czpg_bench_stmt *st, size_t n);
	/*
	 * Describes k's session in res (TLS version and cipher, authentication)
	 * and returns the server_version the server sent (unsanitised), or NULL.
	 */
	const char *(*session)(const struct bench_conn *k, struct czpg_bench_result *res);
	/*
	 * Sends q on k without waiting for the answer.  0, or -1 with the
	 * client's reason in err (the caller fails the run).
	 */
	int (*send)(struct bench *b, struct bench_conn *k, const struct czpg_bench_query *q,
		    char *err, size_t errlen);
	/*
	 * Waits up to timeout_ns for I/O on pool p's connections and handles
	 * what arrived: answers complete queries.  0, or -1 (the run failed).
	 */
	int (*drive)(struct bench *b, struct bench_pool *p, uint64_t timeout_ns);
	/* Fills the I/O counters so far; NULL for a client without them (libpq counts its poll()
	 * calls in drive). */
	void (*io)(const struct bench *b, struct bench_io *out);
	/*
	 * Connect mode: starts one connection-per-transaction unit on p
	 * (p->active and p->issued grow; the client ends and frees it).  NULL
	 * for a client without connect mode.  0 or -1.
	 */
	int (*start_transient)(struct bench *b, struct bench_pool *p);
	/*
	 * --conn-lifetime: ends k's connection and starts its next one (the
	 * same session setup, statements prepared again); the client calls
	 * czpg_bench_rounds_conn_ready() once it can take queries.  NULL for a
	 * client that cannot.  0 or -1.
	 */
	int (*reconnect)(struct bench *b, struct bench_conn *k);
	/* Whether k's session can still run a statement. */
	bool (*alive)(const struct bench_conn *k);
	/* Ends every connection (waiting a little for goodbyes) and frees the client's state.  Safe
	 * after a failed open. */
	void (*close)(struct bench *b);
};

extern const struct bench_client_ops czpg_bench_native_ops;
extern const struct bench_client_ops czpg_bench_libpq_ops;

#endif
