/*
 * bench_state.h - private to the bench: the state one run of `czctl postgres
 * tls bench` shares between bench.c (the run), bench_rounds.c (what a round
 * does) and the two clients behind struct bench_client_ops (bench_native.c,
 * bench_libpq.c).
 *
 * Ownership: bench.c creates and frees the run, its two pools and the pooled
 * connections' generic part (struct bench_conn).  Each client owns what it
 * hangs off `client` (the run) and `cs` (a connection), and frees it in its
 * close operation.
 */
#ifndef CZPG_BENCH_STATE_H
#define CZPG_BENCH_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "czpg/bench.h"
#include "czpg/buf.h"

#include "bench_work.h"

#define CZPG_BENCH_NS_PER_S 1000000000.0

struct bench;
struct bench_pool;
struct bench_client_ops;

/* One connection of a pool (pooled), or one transaction (connect mode). */
struct bench_conn {
	struct bench *b;
	struct bench_pool *p;
	unsigned index;
	void *cs;             /* the client's own state for this connection */
	uint32_t backend_pid; /* set by the client once the session is up */
	unsigned inflight;
	uint64_t conn_queries; /* queries issued on this connection (--conn-lifetime) */
	bool reconnecting;     /* its next connection is being set up */
	unsigned head;         /* FIFO of the queries in flight: start times, audit keys */
	uint64_t start_ns[CZPG_BENCH_MAX_PIPELINE];
	uint64_t unit_key[CZPG_BENCH_MAX_PIPELINE]; /* audit: row inserted, 0 = a read */
};

struct bench_pool {
	struct bench *b;
	struct czpg_bench_pool_result *r;
	bool tls;
	enum czpg_conn_opening opening; /* TLS pools: SSLRequest first or direct TLS */
	struct bench_conn *conns;       /* pooled */
	unsigned n;
	/* the round in progress */
	uint64_t to_issue;
	uint64_t issued;    /* handed to a connection */
	uint64_t scheduled; /* open loop: issued + waiting in the backlog */
	uint64_t completed;
	uint64_t round_errors;
	uint64_t round_rows;
	double round_lat_sum;
	bool measuring;
	unsigned rr;            /* open loop: where the next search for a free connection starts */
	uint64_t committed_key; /* audit: newest row whose insert completed */
	struct czpg_wbuf backlog; /* open loop: scheduled send times not yet sent */
	unsigned active;          /* connect mode: transactions in flight */
	unsigned reconnecting;    /* --conn-lifetime: connections being replaced */
	uint32_t postmaster_pid;  /* connect mode: learnt from the first backend */
};

struct bench {
	const struct czpg_bench_options *o;
	struct czpg_bench_result *res;
	const struct bench_client_ops *ops;
	void *client; /* the client's own state for the run */
	/* Both clients' TLS pools verify against o->ca_file; the native client
	 * uses these, and creating them checks the CA file for either. */
	struct czpg_tls_config *tcfg;
	struct czpg_scram_cache *cache;
	/* Where every connection goes: the name of --host (a list's first that
	 * answered) and its address that accepted a TCP connection. */
	char host[256];
	char hostaddr[64]; /* that address as an IP literal (libpq's hostaddr) */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char label[300]; /* "host:port" in errors */
	struct bench_pool pools[2];
	struct czpg_bench_work work;
	bool failed;
	char err[768];
	uint64_t last_progress_ns;
	uint64_t measure_start_ns;
};

/* Fails the run with a sentence; the first reason is kept. */
void czpg_bench_fail(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Computes res->stats from the pairs so far (and the gate's verdict when
 * one is asked for) with resamples bootstrap draws (0 = the default).
 * 0, or -1 with too few pairs (res->have_stats false).
 */
int czpg_bench_stats(struct bench *b, size_t resamples);

/*
 * The verdict of the gates asked for, together: ABOVE when one is above,
 * STRADDLE when one straddles, else BELOW.  Reads what czpg_bench_stats
 * computed.
 */
enum czpg_gate czpg_bench_gates(const struct bench *b);

/*
 * Rewrites the progress line on o->progress (nothing when it is NULL);
 * force ends it with a newline.
 */
void czpg_bench_progress(struct bench *b, bool force);

#endif
