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
 * (the pool's backends' /proc/<pid>/schedstat), the same paired estimate on
 * CPU per round, io_uring_enter calls per query, latency percentiles, and
 * overheads derived from those measured parts plus an assumed network round
 * trip.
 *
 * The regime a pooled application sees is measured, not only derived:
 * --rtt emulates a network round trip inside the engine (a delay line on
 * the same ring, czpg/delay.h), the same for both pools; --conn-lifetime
 * makes every connection reconnect after N queries, as a pool that recycles
 * connections does.  A list of values is a sweep: one whole run per value
 * (czpg_bench_sweep_run).
 *
 * Two gates: --max-overhead on the interval of this run's overhead, and
 * --baseline FILE with --max-regression on the interval of this run's
 * overhead minus a comparable earlier run's (bench_baseline.c).
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
#define CZPG_BENCH_MAX_POINTS 16u    /* values of one sweep */
#define CZPG_BENCH_MAX_RTT_MS 1000.0 /* longest emulated round trip */
#define CZPG_BENCH_MAX_LIFETIME 1000000u

struct czpg_bench_baseline;

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
	bool aa;       /* A/A: both pools alike (plaintext, or TLS with aa_tls): the noise floor */
	bool aa_tls;   /* with aa: TLS against TLS */
	double rtt_ms; /* emulated network round trip (native client); 0 = none */
	unsigned conn_lifetime; /* queries per connection before it reconnects; 0 = never */
	/*
	 * Connect mode: a TLS pool that sends SSLRequest first against one that
	 * opens with direct TLS (czpg/sslneg.h); the difference per connection is
	 * the round trip SSLRequest costs, measured.
	 */
	bool compare_negotiation;
	/* The native client seals TLS 1.3 records with czpg's tlsrec.c (--tls-records czpg). */
	bool own_records;

	unsigned round_ms;     /* target length of one round */
	unsigned round_units;  /* queries (connections) per round; 0 = calibrate */
	unsigned warmup_pairs; /* pairs run and discarded */
	unsigned min_pairs;    /* measured pairs before stopping */
	double duration_s;     /* measuring time before the first verdict */
	double max_duration_s; /* with a gate: keep extending while straddling */
	double max_overhead;   /* gate threshold (fraction); NaN = no gate */
	/* Regression gate: a comparable earlier run (borrowed) and the most this
	 * run's overhead may exceed it by (fraction: 0.01 = 1 point); NaN = none. */
	const struct czpg_bench_baseline *baseline;
	double max_regression;
	double assume_rtt_ms[CZPG_BENCH_MAX_RTTS];
	size_t n_rtt; /* derived figures; with rtt_ms set and none asked for, rtt_ms alone */
	bool assume_rtt_set;
	/* A sweep (czpg_bench_sweep_run): one run per value of one of these. */
	double sweep_rtt_ms[CZPG_BENCH_MAX_POINTS];
	size_t n_sweep_rtt;
	unsigned sweep_lifetime[CZPG_BENCH_MAX_POINTS];
	size_t n_sweep_lifetime;
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
	/* connections made: the first ones, then one per --conn-lifetime reconnect */
	uint64_t connects;
	uint64_t measured_connects; /* reconnects during measured rounds */
	/* the emulated delay over the measured rounds: chunks released, how late */
	uint64_t delay_chunks;
	double delay_late_sum_ns, delay_late_sumsq;
	uint64_t delay_late_max_ns;
	uint32_t backend_pids[CZPG_BENCH_MAX_POOL];
	unsigned npids;
	uint64_t server_cpu_mask; /* CPUs its backends were seen on (bit i = CPU i) */
};

struct czpg_bench_rtt {
	double rtt_ms;
	double overhead; /* fraction */
};

/*
 * An earlier run's JSON report, as the regression gate needs it
 * (bench_baseline.c reads it): what makes runs comparable, and its pairs.
 */
struct czpg_bench_baseline {
	char path[256];
	char workload[16];
	char sql_file[256];
	char mode[16], shape[16], client[16], protocol[16];
	char sslnegotiation[16]; /* "postgres" when the report predates the setting */
	char tls_records[16];    /* "openssl" when the report predates the setting */
	double rate;             /* NaN when closed */
	unsigned pool, pipeline, conn_lifetime;
	bool aa, aa_tls;
	double rtt_ms;
	char server_version[64];
	char tls_version[32];
	double *a, *b; /* per-pair metrics */
	size_t npairs;
	struct czpg_paired_result stats; /* recomputed here from its pairs */
};

/* The regression gate's figures: this run's overhead minus the baseline's. */
struct czpg_bench_regression {
	bool set;
	char incomparable[256]; /* the difference that makes the baseline unusable, "" when none */
	bool have;              /* the interval below was computed */
	struct czpg_diff_result diff;
	enum czpg_gate gate;
};

struct czpg_bench_result {
	bool ran;        /* pools connected and measuring started */
	bool partial;    /* stopped early by an error: the figures cover what ran */
	char error[768]; /* one sentence, "" when none */
	struct czpg_bench_pool_result pools[2]; /* [0] TLS (A/A: plain-a), [1] plaintext */
	char tls_version[32];
	char tls_cipher[64];
	char tls_records[16]; /* who seals the TLS records: "czpg", "openssl", or "libpq" */
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
	/* The paired estimate on CPU per round (client + server when known). */
	double *cpu_a, *cpu_b;
	bool have_cpu_stats;
	struct czpg_paired_result cpu_stats;
	struct czpg_bench_regression regression;
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

/* ---- sweeps ---------------------------------------------------------------- */

enum czpg_bench_axis {
	CZPG_BENCH_AXIS_NONE = 0,
	CZPG_BENCH_AXIS_RTT,      /* opt->sweep_rtt_ms */
	CZPG_BENCH_AXIS_LIFETIME, /* opt->sweep_lifetime */
};

/* Least squares of the added time per query over 1/lifetime: the two parts. */
struct czpg_bench_lifetime_fit {
	bool have;
	double per_query_us;      /* intercept: what TLS adds to every query (records) */
	double per_connection_us; /* slope: what it adds once per connection (handshake) */
	double r2;
};

struct czpg_bench_sweep {
	enum czpg_bench_axis axis;
	size_t n;                                              /* points run (to the end or not) */
	struct czpg_bench_options opts[CZPG_BENCH_MAX_POINTS]; /* each point's own options */
	struct czpg_bench_result *points;                      /* n results */
	int rc[CZPG_BENCH_MAX_POINTS];
	enum czpg_result outcome[CZPG_BENCH_MAX_POINTS]; /* each point's (czpg_bench_outcome) */
	struct czpg_bench_lifetime_fit fit;
};

/* Which axis opt sweeps (more than one value), or NONE. */
enum czpg_bench_axis czpg_bench_sweep_axis(const struct czpg_bench_options *opt);

/*
 * Runs one whole bench per value of the swept axis into sw (zeroed first),
 * each with its own pools, stopping at the first point that fails.  0, or
 * -1 when a point failed (its result says why).  Free with
 * czpg_bench_sweep_free().
 */
int czpg_bench_sweep_run(const struct czpg_bench_options *opt, struct czpg_bench_sweep *sw);
void czpg_bench_sweep_free(struct czpg_bench_sweep *sw);
/* What a sweep concluded: ERROR when a point failed, else OK. */
enum czpg_result czpg_bench_sweep_outcome(const struct czpg_bench_sweep *sw);

/* Human report, JSON ("czctl.bench-sweep/1") and SVG of a sweep (bench_report.c). */
void czpg_bench_sweep_print(FILE *out, const struct czpg_bench_options *opt,
			    const struct czpg_bench_sweep *sw, enum czpg_result outcome);
void czpg_bench_sweep_print_json(FILE *out, const struct czpg_bench_options *opt,
				 const struct czpg_bench_sweep *sw, enum czpg_result outcome);
/* Overhead against the swept axis, measured with its 95% intervals, and derived. */
int czpg_bench_sweep_write_svg(const char *path, const struct czpg_bench_options *opt,
			       const struct czpg_bench_sweep *sw, char *err, size_t errlen);

/* ---- the regression gate's baseline (bench_baseline.c) ---------------------- */

/*
 * Reads an earlier `bench --json` report from path into *out.  0, or -1
 * with a sentence in err (unreadable, not a bench report, a failed run, too
 * few pairs).  Free with czpg_bench_baseline_free().
 */
int czpg_bench_baseline_load(const char *path, struct czpg_bench_baseline *out, char *err,
			     size_t errlen);
/* Reads a report from memory (the same as _load; label names it in errors). */
int czpg_bench_baseline_parse(const char *json, size_t len, const char *label,
			      struct czpg_bench_baseline *out, char *err, size_t errlen);
void czpg_bench_baseline_free(struct czpg_bench_baseline *base);
/*
 * Whether a run with opt can be compared with base before it starts: 0, or
 * -1 with the first difference named in why ("the baseline ran --pool 4,
 * this run --pool 2").  The server is compared once connected
 * (czpg_bench_baseline_compare_session).
 */
int czpg_bench_baseline_compare(const struct czpg_bench_baseline *base,
				const struct czpg_bench_options *opt, char *why, size_t whylen);
/* The same for what the server said: its version, the TLS version. */
int czpg_bench_baseline_compare_session(const struct czpg_bench_baseline *base,
					const struct czpg_bench_result *res, char *why,
					size_t whylen);
/*
 * The regression gate on this run's pairs a, b (n of them): the interval of
 * this run's overhead minus the baseline's, and its verdict against
 * opt->max_regression.  Pure.  0, or -1 with fewer than 2 pairs.
 */
int czpg_bench_regression_gate(const struct czpg_bench_options *opt,
			       const struct czpg_bench_baseline *base, const double *a,
			       const double *b, size_t n, struct czpg_bench_regression *out);

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
/* The names the JSON report uses (static storage): "pooled" | "connect", "closed" | "open",
 * "native" | "libpq", "simple" | "extended", and which two pools ran ("TLS vs plaintext", ...). */
const char *czpg_bench_mode_name(const struct czpg_bench_options *o);
const char *czpg_bench_shape_name(const struct czpg_bench_options *o);
const char *czpg_bench_client_name(const struct czpg_bench_options *o);
const char *czpg_bench_protocol_name(const struct czpg_bench_options *o);
/* Who seals the TLS records asked for: "openssl" | "czpg" (native), "libpq". */
const char *czpg_bench_records_name(const struct czpg_bench_options *o);
const char *czpg_bench_pools_name(const struct czpg_bench_options *o);

#endif
