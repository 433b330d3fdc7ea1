/*
 * bench.h - `czctl postgres tls bench`: what TLS costs a pooled PostgreSQL
 * client, measured against plaintext on the same server, with an honest
 * confidence interval.
 *
 * Two pools (TLS verify-full + SCRAM, and plaintext + SCRAM) are connected
 * before measuring and stay connected.  Rounds of fixed work alternate
 * between them in ABBA order after warm-up rounds; each pair gives
 * d = ln(tls / plain) of the round metric (wall time for a closed loop, mean
 * latency from the scheduled send time for an open loop) and czpg/stats.h
 * turns the pairs into exp(mean d) - 1 with a bootstrap 95% interval.
 * Alongside: client CPU per query (CLOCK_PROCESS_CPUTIME_ID at round
 * boundaries), server CPU per query when the server runs on this machine
 * (the pool's backends' /proc/<pid>/schedstat), io_uring_enter calls per
 * query, latency percentiles, and overheads derived from those measured
 * parts plus an assumed network round trip.
 *
 * Connect mode measures connection-per-transaction instead: each unit is
 * connect + TLS handshake + SCRAM + SELECT 1 + Terminate.  With
 * compare_negotiation both pools are TLS: SSLRequest first ("sslrequest")
 * against direct TLS ("direct").
 *
 * docs/bench.md describes the method, the JSON schema and the exit codes.
 */
#ifndef CZPG_BENCH_H
#define CZPG_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "czpg/result.h"
#include "czpg/conn.h"
#include "czpg/stats.h"

#define CZPG_BENCH_MAX_POOL 256u
#define CZPG_BENCH_MAX_PIPELINE 64u
#define CZPG_BENCH_MAX_RTTS 8u
#define CZPG_BENCH_MAX_SQL (64u * 1024u)

enum czpg_bench_workload {
	CZPG_BENCH_SELECT1 = 0, /* SELECT 1 */
	CZPG_BENCH_AUDIT,       /* ~400-byte JSONB audit rows: insert, then read back by key */
	CZPG_BENCH_SQL,         /* one statement from --sql FILE */
};

enum czpg_bench_shape {
	CZPG_BENCH_CLOSED = 0, /* every connection keeps `pipeline` queries in flight */
	CZPG_BENCH_OPEN,       /* queries scheduled at `rate` per second over the pool */
};

enum czpg_bench_mode {
	CZPG_BENCH_POOLED = 0, /* persistent pools */
	CZPG_BENCH_CONNECT,    /* a new connection per transaction */
};

enum czpg_bench_client {
	CZPG_BENCH_NATIVE = 0, /* the io_uring engine */
	CZPG_BENCH_LIBPQ,      /* libpq, non-blocking, one thread, poll() */
};

enum czpg_bench_protocol {
	CZPG_BENCH_SIMPLE = 0, /* Query messages */
	CZPG_BENCH_EXTENDED,   /* Parse once per connection, then Bind/Execute/Sync */
};

struct czpg_bench_options {
	const char *host;
	unsigned port;
	const char *user;
	const char *dbname;   /* NULL = user */
	const char *ca_file;  /* required: the TLS pool is verify-full */
	const char *password; /* borrowed */
	enum czpg_cb_policy channel_binding;
	int min_tls; /* TLS1_2_VERSION / TLS1_3_VERSION; 0 = 1.3 */
	/* How the TLS pool starts TLS (czpg/sslneg.h): "postgres" (default) or "direct". */
	enum czpg_conn_opening sslnegotiation;

	enum czpg_bench_mode mode;
	enum czpg_bench_client client;
	enum czpg_bench_protocol protocol;
	enum czpg_bench_workload workload;
	const char *sql;      /* CZPG_BENCH_SQL: the statement text */
	const char *sql_name; /* where it came from (for the report) */
	enum czpg_bench_shape shape;
	double rate;       /* open loop: queries per second over the pool */
	unsigned pool;     /* connections per pool (connect mode: concurrency) */
	unsigned pipeline; /* queries in flight per connection */
	bool aa;           /* plaintext against plaintext: the noise floor */
	/*
	 * Connect mode: a TLS pool that sends SSLRequest first against one that
	 * opens with direct TLS (czpg/sslneg.h); the difference per connection is
	 * the round trip SSLRequest costs, measured.
	 */
	bool compare_negotiation;

	unsigned round_ms;     /* target length of one round */
	unsigned round_units;  /* queries (connections) per round; 0 = calibrate */
	unsigned warmup_pairs; /* pairs run and discarded */
	unsigned min_pairs;    /* measured pairs before stopping */
	double duration_s;     /* measuring time before the first verdict */
	double max_duration_s; /* with a gate: keep extending while straddling */
	double max_overhead;   /* gate threshold (fraction); NaN = no gate */
	double assume_rtt_ms[CZPG_BENCH_MAX_RTTS];
	size_t n_rtt;
	uint64_t seed;
	int pin_client;      /* CPU for this process; -1 = no pinning */
	int pin_server;      /* CPU for the pools' backends; -1 = no pinning */
	unsigned timeout_ms; /* connect phases and silent server; 0 = 10000 */
	FILE *progress;      /* progress line (a terminal) or NULL */
};

/* Fills o with the defaults the CLI starts from (no host, user or CA). */
void czpg_bench_options_default(struct czpg_bench_options *o);

struct czpg_bench_pool_result {
	char name[16];
	bool tls;
	const char *negotiation; /* TLS pools: "postgres" or "direct" (static); NULL plaintext */
	unsigned connections;    /* connected (pooled) or made (connect mode, measured) */
	uint64_t units;          /* measured queries (connect mode: connections) */
	uint64_t warmup_units;
	uint64_t errors;       /* queries answered with an ErrorResponse */
	uint64_t rows;         /* DataRows received in measured rounds */
	uint64_t rounds;       /* measured rounds */
	double busy_s;         /* wall time of the measured rounds */
	double lat_sum_s;      /* sum of per-unit latency */
	struct czpg_hist hist; /* per-unit latency, measured rounds */
	double client_cpu_s;
	double server_cpu_s;
	bool server_cpu_known;
	uint64_t enters, sends, recvs, polls, bytes_sent, bytes_received;
	uint32_t backend_pids[CZPG_BENCH_MAX_POOL];
	unsigned npids;
	uint64_t server_cpu_mask; /* CPUs its backends were seen on (bit i = CPU i) */
};

struct czpg_bench_rtt {
	double rtt_ms;
	double overhead; /* fraction */
};

struct czpg_bench_result {
	bool ran;        /* pools connected and measuring started */
	bool partial;    /* stopped early by an error: the figures cover what ran */
	char error[768]; /* one sentence, "" when none */
	struct czpg_bench_pool_result pools[2]; /* [0] TLS (A/A: plain-a), [1] plaintext */
	char tls_version[32];
	char tls_cipher[64];
	char auth_method[32];
	char server_version[64];
	bool server_local; /* backends' /proc entries readable: server CPU known */
	bool server_pinned;
	char server_pin_error[160];
	uint64_t client_cpu_mask;
	unsigned round_units;
	double round_s_est;
	unsigned warmup_pairs_done;
	/* Pairs, in time order: metric of pool 0 (a) and pool 1 (b), in seconds. */
	double *a;
	double *b;
	double *pair_t; /* seconds since measuring started, at the end of the pair */
	size_t npairs;
	size_t cap_pairs;
	bool have_stats;
	struct czpg_paired_result stats;
	bool gate_set;
	enum czpg_gate gate;
	bool extended; /* the gate ran past duration_s */
	double measure_s;
	double elapsed_s;
	/* Added per unit (TLS - plain), microseconds; NaN when unknown. */
	double add_client_cpu_us;
	double add_server_cpu_us;
	double add_latency_mean_us;
	double add_latency_p50_us;
	double base_us;            /* plaintext cost a derived figure divides by (see docs) */
	const char *derived_basis; /* which added figure the derivation uses */
	struct czpg_bench_rtt derived[CZPG_BENCH_MAX_RTTS];
	size_t nderived;
	uint64_t scram_cache_hits, scram_cache_misses;
};

/*
 * Runs the bench described by opt into res (zeroed first).  Returns 0 when
 * it ran to the end, -1 when it could not start or stopped early; res->error
 * says why and res->partial tells whether measured pairs exist.  Free res's
 * arrays with czpg_bench_result_free().
 */
int czpg_bench_run(const struct czpg_bench_options *opt, struct czpg_bench_result *res);

/* Frees the pair arrays inside res (not res).  NULL-safe. */
void czpg_bench_result_free(struct czpg_bench_result *res);

/*
 * What a run concluded (a decision of the verb, src/verbs/bench.c): ERROR
 * when it could not finish (run_rc < 0 or res->error set), the gate's
 * verdict (OK, FAIL, INCONCLUSIVE) when one was asked for, else OK.
 */
enum czpg_result czpg_bench_outcome(const struct czpg_bench_options *opt,
				    const struct czpg_bench_result *res, int run_rc);

/*
 * Printing (src/report/bench_report.c): reads opt and res, decides nothing.
 * outcome is what czpg_bench_outcome() concluded; the human report names
 * its exit code on the gate line.
 */

/* Human report on out. */
void czpg_bench_print(FILE *out, const struct czpg_bench_options *opt,
		      const struct czpg_bench_result *res, enum czpg_result outcome);
/* One JSON object on out (schema in docs/bench.md). */
void czpg_bench_print_json(FILE *out, const struct czpg_bench_options *opt,
			   const struct czpg_bench_result *res, enum czpg_result outcome);
/*
 * Writes an SVG file with both charts (latency CDF of the two pools, then
 * per-pair overhead over time) stacked in one document.  0, or -1 with a
 * sentence in err.
 */
int czpg_bench_write_svg(const char *path, const struct czpg_bench_options *opt,
			 const struct czpg_bench_result *res, char *err, size_t errlen);

/* "select1", "audit" or "sql" (static storage). */
const char *czpg_bench_workload_name(enum czpg_bench_workload w);

#endif
