/*
 * bench.c - `czctl postgres tls bench`: TLS against plaintext, pooled (or
 * connection per transaction), measured in alternating ABBA rounds (see
 * czpg/bench.h and docs/bench.md).
 *
 * This file is the run: it sets up the two pools through the chosen client
 * (bench_client.h), hands them to the round scheduler (bench_rounds.c),
 * turns the pairs into statistics and derived figures, tears everything
 * down, and decides what the run concluded (czpg_bench_outcome).  Host
 * measurement lives in bench_host.c, the SQL in bench_work.c.
 */
#include "czpg/bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "czpg/engine.h"
#include "czpg/pgwire.h"
#include "czpg/scram.h"
#include "czpg/sslneg.h"
#include "czpg/tlsio.h"

#include "bench_client.h"
#include "bench_host.h"
#include "bench_rounds.h"
#include "bench_state.h"
#include "bench_work.h"

/* Fewest measured pairs a gate verdict (below/above) may rest on. */
#define BENCH_GATE_MIN_PAIRS 10

void czpg_bench_fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (b->failed)
		return; /* keep the first reason */
	b->failed = true;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
}

void czpg_bench_options_default(struct czpg_bench_options *o)
{
	memset(o, 0, sizeof(*o));
	o->port = 5432;
	o->channel_binding = CZPG_CB_PREFER;
	o->pool = 4;
	o->pipeline = 1;
	o->round_ms = 200;
	o->warmup_pairs = 2;
	o->min_pairs = 10;
	o->duration_s = 20;
	o->max_duration_s = 0;
	o->max_overhead = NAN;
	o->max_regression = NAN;
	o->assume_rtt_ms[0] = 0.25;
	o->assume_rtt_ms[1] = 1.0;
	o->n_rtt = 2;
	o->seed = 1;
	o->pin_client = -1;
	o->pin_server = -1;
	o->timeout_ms = 10000;
}

/* The worse of two verdicts: above beats straddle beats below. */
static enum czpg_gate worse(enum czpg_gate x, enum czpg_gate y)
{
	if (x == CZPG_GATE_ABOVE || y == CZPG_GATE_ABOVE)
		return CZPG_GATE_ABOVE;
	if (x == CZPG_GATE_STRADDLE || y == CZPG_GATE_STRADDLE)
		return CZPG_GATE_STRADDLE;
	return CZPG_GATE_BELOW;
}

static enum czpg_gate gates_of(const struct czpg_bench_options *opt,
			       const struct czpg_bench_result *res)
{
	enum czpg_gate g = CZPG_GATE_BELOW;

	if (!isnan(opt->max_overhead))
		g = res->have_stats ? res->gate : CZPG_GATE_STRADDLE;
	if (opt->baseline != NULL)
		g = worse(g, res->regression.have ? res->regression.gate : CZPG_GATE_STRADDLE);
	return g;
}

enum czpg_gate czpg_bench_gates(const struct bench *b)
{
	return gates_of(b->o, b->res);
}

enum czpg_result czpg_bench_outcome(const struct czpg_bench_options *opt,
				    const struct czpg_bench_result *res, int run_rc)
{
	/* A baseline that cannot be compared is a bad input, whatever else happened. */
	if (res->regression.incomparable[0] != '\0')
		return CZPG_RESULT_BAD_INPUT;
	if (run_rc < 0 || res->error[0] != '\0')
		return CZPG_RESULT_ERROR;
	if (isnan(opt->max_overhead) && opt->baseline == NULL)
		return CZPG_RESULT_OK;
	switch (gates_of(opt, res)) {
	case CZPG_GATE_BELOW:
		return CZPG_RESULT_OK;
	case CZPG_GATE_ABOVE:
		return CZPG_RESULT_FAIL;
	default:
		return CZPG_RESULT_INCONCLUSIVE;
	}
}

/* ------------------------------------------------------------------------
 * Statistics, progress and derived figures.
 */
int czpg_bench_stats(struct bench *b, size_t resamples)
{
	struct czpg_bench_result *res = b->res;
	char err[256];

	size_t floor_pairs =
	    b->o->min_pairs > BENCH_GATE_MIN_PAIRS ? b->o->min_pairs : BENCH_GATE_MIN_PAIRS;
	double lo, hi;

	res->have_stats = false;
	res->have_cpu_stats = false;
	if (res->npairs < 2)
		return -1;
	if (czpg_stats_paired(res->a, res->b, res->npairs, b->o->seed, resamples, &res->stats, err,
			      sizeof(err)) < 0)
		return -1;
	res->have_stats = true;
	res->have_cpu_stats = czpg_stats_paired(res->cpu_a, res->cpu_b, res->npairs, b->o->seed,
						resamples, &res->cpu_stats, err, sizeof(err)) == 0;
	if (!isnan(b->o->max_overhead)) {
		/*
		 * A verdict needs enough pairs, and takes the widest interval
		 * (bootstrap, t, blocks, batches): with few pairs the
		 * percentile bootstrap is too narrow, neighbouring pairs on a
		 * shared machine are not independent, and a gate must never
		 * turn noise into a verdict.
		 */
		czpg_stats_widest(&res->stats, &lo, &hi);
		res->gate_set = true;
		res->gate = res->npairs < floor_pairs ? CZPG_GATE_STRADDLE
						      : czpg_stats_gate(lo, hi, b->o->max_overhead);
	}
	if (b->o->baseline != NULL && res->regression.incomparable[0] == '\0') {
		res->regression.set = true;
		if (czpg_bench_regression_gate(b->o, b->o->baseline, res->a, res->b, res->npairs,
					       &res->regression) == 0 &&
		    res->npairs < floor_pairs)
			res->regression.gate = CZPG_GATE_STRADDLE;
	}
	return 0;
}

void czpg_bench_progress(struct bench *b, bool force)
{
	struct czpg_bench_result *res = b->res;
	double el;

	if (b->o->progress == NULL)
		return;
	b->last_progress_ns = czpg_engine_now_ns();
	el = b->measure_start_ns != 0
		 ? (double)(b->last_progress_ns - b->measure_start_ns) / CZPG_BENCH_NS_PER_S
		 : 0;
	if (res->npairs >= 2 && czpg_bench_stats(b, CZPG_STATS_MIN_RESAMPLES) == 0)
		fprintf(b->o->progress,
			"\r  pairs %zu  %5.1f s  overhead %+6.2f%%  (t 95%% [%+.2f%%, %+.2f%%])   ",
			res->npairs, el, res->stats.overhead * 100, res->stats.t_lo * 100,
			res->stats.t_hi * 100);
	else
		fprintf(b->o->progress, "\r  %s  pairs %zu  %5.1f s   ",
			b->measure_start_ns != 0 ? "measuring" : "warming up", res->npairs, el);
	if (force)
		fputc('\n', b->o->progress);
	fflush(b->o->progress);
}

static double per_unit_us(double seconds, uint64_t units)
{
	return units > 0 ? seconds * 1e6 / (double)units : NAN;
}

static void derive(struct bench *b)
{
	struct czpg_bench_result *res = b->res;
	struct czpg_bench_pool_result *t = &res->pools[0], *pl = &res->pools[1];
	double add, base;
	size_t i;

	res->add_client_cpu_us =
	    per_unit_us(t->client_cpu_s, t->units) - per_unit_us(pl->client_cpu_s, pl->units);
	res->add_server_cpu_us =
	    t->server_cpu_known && pl->server_cpu_known
		? per_unit_us(t->server_cpu_s, t->units) - per_unit_us(pl->server_cpu_s, pl->units)
		: NAN;
	res->add_latency_mean_us =
	    per_unit_us(t->lat_sum_s, t->units) - per_unit_us(pl->lat_sum_s, pl->units);
	res->add_latency_p50_us = t->hist.count > 0 && pl->hist.count > 0
				      ? ((double)czpg_hist_percentile(&t->hist, 50) -
					 (double)czpg_hist_percentile(&pl->hist, 50)) /
					    1000.0
				      : NAN;
	res->nderived = 0;
	if (b->o->mode == CZPG_BENCH_POOLED && b->o->shape == CZPG_BENCH_OPEN) {
		/* Below saturation: the added latency is what a query pays. */
		add = res->add_latency_mean_us;
		base = per_unit_us(pl->lat_sum_s, pl->units);
		res->derived_basis = "added mean latency at a fixed rate over (assumed RTT + "
				     "plaintext mean latency)";
	} else {
		/* Saturated: added CPU (client + server) is the added service time. */
		add = res->add_client_cpu_us +
		      (isnan(res->add_server_cpu_us) ? 0 : res->add_server_cpu_us);
		base = per_unit_us(pl->client_cpu_s, pl->units) +
		       (pl->server_cpu_known ? per_unit_us(pl->server_cpu_s, pl->units) : 0);
		res->derived_basis =
		    isnan(res->add_server_cpu_us)
			? "added client CPU per unit over (assumed RTT + plaintext client CPU "
			  "per unit); server CPU unknown"
			: "added client+server CPU per unit over (assumed RTT + plaintext "
			  "client+server CPU per unit)";
	}
	res->base_us = base;
	/* Measured through an emulated round trip: derive for that one, to compare. */
	if (b->o->rtt_ms > 0 && !b->o->assume_rtt_set) {
		res->derived[0].rtt_ms = b->o->rtt_ms;
		res->derived[0].overhead =
		    isnan(add) || isnan(base) ? NAN : add / (b->o->rtt_ms * 1000 + base);
		res->nderived = 1;
		return;
	}
	for (i = 0; i < b->o->n_rtt && i < CZPG_BENCH_MAX_RTTS; i++) {
		res->derived[i].rtt_ms = b->o->assume_rtt_ms[i];
		res->derived[i].overhead =
		    isnan(add) || isnan(base) ? NAN : add / (b->o->assume_rtt_ms[i] * 1000 + base);
		res->nderived++;
	}
}

/* ------------------------------------------------------------------------
 * Setting up the pools.
 */

/*
 * What pool pi is: TLS or not, how TLS starts, and its name in the report.
 * A/A: two plaintext pools; a negotiation comparison: SSLRequest first (a)
 * against direct TLS (b); otherwise TLS (a, as --sslnegotiation says)
 * against plaintext (b).
 */
static void pool_role(const struct czpg_bench_options *o, unsigned pi, struct bench_pool *p)
{
	const char *name;

	p->tls = o->aa ? o->aa_tls : (pi == 0 || o->compare_negotiation);
	p->opening = o->compare_negotiation ? (pi == 0 ? CZPG_OPEN_DEFAULT : CZPG_OPEN_DIRECT_TLS)
		     : p->tls               ? o->sslnegotiation
					    : CZPG_OPEN_DEFAULT;
	if (o->aa && o->aa_tls)
		name = pi == 0 ? "tls-a" : "tls-b";
	else if (o->aa)
		name = pi == 0 ? "plain-a" : "plain-b";
	else if (o->compare_negotiation)
		name = pi == 0 ? "sslrequest" : "direct";
	else
		name = pi == 0 ? "tls" : "plain";
	snprintf(p->r->name, sizeof(p->r->name), "%s", name);
	p->r->tls = p->tls;
	p->r->negotiation = p->tls ? czpg_sslneg_name(p->opening) : NULL;
}

/*
 * ALPN for direct TLS (in a comparison, both pools offer it: the two
 * ClientHellos differ only in when they are sent).  0 or -1.
 */
static int setup_negotiation(struct bench *b)
{
	const struct czpg_bench_options *o = b->o;
	char err[512];

	if (czpg_sslneg_configure(b->tcfg,
				  o->compare_negotiation ? CZPG_OPEN_DIRECT_TLS : o->sslnegotiation,
				  err, sizeof(err)) < 0) {
		czpg_bench_fail(b, "%s", err);
		return -1;
	}
	return 0;
}

/*
 * Which name and address the pools use, found once before they connect so
 * that every connection measures the same path: as libpq walks --host, the
 * first name with an address that accepts a TCP connection, each address
 * tried in order with its own connect timeout.  0, or -1 (the bench fails
 * with each address and its error).
 */
static int pick_address(struct bench *b)
{
	const struct czpg_bench_options *o = b->o;
	struct czpg_engine_hosts hosts;
	struct czpg_engine_addrs addrs;
	struct czpg_engine_route route;
	char err[512], list[1024];
	size_t i;
	int idx;

	if (czpg_engine_split_hosts(o->host, &hosts, err, sizeof(err)) < 0) {
		czpg_bench_fail(b, "%s", err);
		return -1;
	}
	czpg_engine_route_init(&route);
	for (i = 0; i < hosts.n; i++) {
		if (czpg_engine_resolve_all(hosts.name[i], o->port, &addrs, err, sizeof(err)) < 0) {
			czpg_engine_route_add(&route, hosts.name[i], err);
			continue;
		}
		idx = czpg_engine_dial(&addrs, o->timeout_ms, &route, err, sizeof(err));
		if (idx < 0)
			continue;
		snprintf(b->host, sizeof(b->host), "%s", hosts.name[i]);
		snprintf(b->hostaddr, sizeof(b->hostaddr), "%s", addrs.addr[idx].ip);
		memcpy(&b->addr, &addrs.addr[idx].sa, addrs.addr[idx].len);
		b->addrlen = addrs.addr[idx].len;
		snprintf(b->label, sizeof(b->label),
			 strchr(b->host, ':') != NULL ? "[%s]:%u" : "%s:%u", b->host, o->port);
		return 0;
	}
	czpg_engine_route_describe(&route, list, sizeof(list));
	czpg_bench_fail(b, "could not connect to %s (port %u): %s", o->host, o->port, list);
	return -1;
}

static int setup(struct bench *b)
{
	const struct czpg_bench_options *o = b->o;
	char err[512];
	unsigned pi, i;

	if (pick_address(b) < 0)
		return -1;
	b->tcfg = czpg_tls_config_new(err, sizeof(err));
	if (b->tcfg == NULL) {
		czpg_bench_fail(b, "%s", err);
		return -1;
	}
	if (czpg_tls_config_set_ca_file(b->tcfg, o->ca_file) < 0 ||
	    czpg_tls_config_set_min_version(b->tcfg,
					    o->min_tls != 0 ? o->min_tls : TLS1_3_VERSION) < 0) {
		czpg_bench_fail(b, "%s", czpg_tls_config_error(b->tcfg));
		return -1;
	}
	czpg_tls_config_set_own_records(b->tcfg, o->own_records);
	if (setup_negotiation(b) < 0)
		return -1;
	b->cache = czpg_scram_cache_new(4);
	if (b->cache == NULL) {
		czpg_bench_fail(b, "out of memory");
		return -1;
	}
	if (b->ops->open(b) < 0)
		return -1;
	for (pi = 0; pi < 2; pi++) {
		struct bench_pool *p = &b->pools[pi];

		pool_role(o, pi, p);
		p->r->server_cpu_known = true;
		czpg_hist_init(&p->r->hist);
		if (o->mode != CZPG_BENCH_POOLED)
			continue;
		p->n = o->pool;
		p->conns = calloc(p->n, sizeof(*p->conns));
		if (p->conns == NULL) {
			czpg_bench_fail(b, "out of memory");
			return -1;
		}
		for (i = 0; i < p->n; i++)
			p->conns[i].b = b, p->conns[i].p = p, p->conns[i].index = i;
	}
	czpg_bench_work_init(&b->work, o, (long)getpid());
	return 0;
}

static void record_session_info(struct bench *b)
{
	const char *sv = b->ops->session(&b->pools[0].conns[0], b->res);

	if (sv != NULL)
		czpg_pgwire_sanitize(sv, b->res->server_version, sizeof(b->res->server_version));
}

/* Pins the pools' backends when asked; a refusal is reported, not fatal. */
static void pin_server(struct bench *b)
{
	unsigned pi;

	if (b->o->pin_server < 0)
		return;
	b->res->server_pinned = true;
	for (pi = 0; pi < 2; pi++)
		if (czpg_bench_host_pin(b->pools[pi].r->backend_pids, b->pools[pi].r->npids,
					b->o->pin_server, b->res->server_pin_error,
					sizeof(b->res->server_pin_error)) < 0) {
			b->res->server_pinned = false;
			return;
		}
}

/* Pooled: connect both pools, make the table, prepare, pin. */
static int setup_pooled(struct bench *b)
{
	struct czpg_bench_stmt st[CZPG_BENCH_WORK_MAX_STMTS];
	char sql[512];
	uint32_t pid;
	size_t i;

	if (b->ops->connect(b) < 0)
		return -1;
	b->pools[0].r->connects = b->pools[0].n;
	b->pools[1].r->connects = b->pools[1].n;
	record_session_info(b);
	if (b->o->baseline != NULL && czpg_bench_baseline_compare_session(
					  b->o->baseline, b->res, b->res->regression.incomparable,
					  sizeof(b->res->regression.incomparable)) < 0) {
		czpg_bench_fail(b, "the baseline %s is not comparable: %s", b->o->baseline->path,
				b->res->regression.incomparable);
		return -1;
	}
	pid = b->pools[1].r->backend_pids[0];
	b->res->server_local =
	    czpg_bench_host_is_local_postgres(&b->addr, pid) && czpg_bench_host_readable(pid);
	for (i = 0; czpg_bench_work_create_sql(&b->work, i, sql, sizeof(sql)); i++)
		if (b->ops->exec(b, &b->pools[1].conns[0], sql) < 0)
			return -1;
	if (b->o->protocol == CZPG_BENCH_EXTENDED &&
	    b->ops->prepare(b, st, czpg_bench_work_statements(&b->work, st)) < 0)
		return -1;
	pin_server(b);
	return 0;
}

/* Connect mode: one transaction per pool confirms both work and finds the postmaster. */
static int setup_connect(struct bench *b)
{
	struct czpg_bench_round ro;

	if (b->ops->start_transient == NULL) {
		czpg_bench_fail(b, "connect mode runs with the native client only");
		return -1;
	}
	if (czpg_bench_rounds_run(b, &b->pools[0], 1, false, &ro) < 0 ||
	    czpg_bench_rounds_run(b, &b->pools[1], 1, false, &ro) < 0)
		return -1;
	b->res->server_local = b->pools[0].postmaster_pid != 0 && b->pools[1].postmaster_pid != 0;
	return 0;
}

/* Drops the workload's table through any connection still up. */
static void drop_table(struct bench *b)
{
	struct bench_conn *k;
	char sql[128];
	unsigned pi, i;
	bool was_failed;

	if (!czpg_bench_work_drop_sql(&b->work, sql, sizeof(sql)))
		return;
	for (pi = 0; pi < 2; pi++)
		for (i = 0; i < b->pools[pi].n; i++) {
			k = &b->pools[pi].conns[i];
			if (k->inflight > 0 || !b->ops->alive(k))
				continue;
			/*
			 * A failed bench keeps its first error (already copied
			 * to the result), but must still be able to clean up.
			 */
			was_failed = b->failed;
			b->failed = false;
			b->ops->exec(b, k, sql);
			b->failed = was_failed;
			return;
		}
}

/* ------------------------------------------------------------------------
 * The run.
 */
int czpg_bench_run(const struct czpg_bench_options *opt, struct czpg_bench_result *res)
{
	struct bench *b = calloc(1, sizeof(*b));
	uint64_t t_start = czpg_engine_now_ns();
	char err[256];
	int rc = -1;
	unsigned pi;

	memset(res, 0, sizeof(*res));
	res->add_client_cpu_us = res->add_server_cpu_us = NAN;
	res->add_latency_mean_us = res->add_latency_p50_us = res->base_us = NAN;
	if (b == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	b->o = opt;
	b->res = res;
	b->ops = opt->client == CZPG_BENCH_LIBPQ ? &czpg_bench_libpq_ops : &czpg_bench_native_ops;
	for (pi = 0; pi < 2; pi++) {
		b->pools[pi].b = b;
		b->pools[pi].r = &res->pools[pi];
		if (czpg_bench_rounds_backlog_init(b, &b->pools[pi]) < 0)
			goto out;
	}
	if (opt->pin_client >= 0 &&
	    czpg_bench_host_pin_self(opt->pin_client, err, sizeof(err)) < 0) {
		czpg_bench_fail(b, "%s", err);
		goto out;
	}
	if (setup(b) < 0)
		goto out;
	if (opt->mode == CZPG_BENCH_POOLED ? setup_pooled(b) < 0 : setup_connect(b) < 0)
		goto out;
	czpg_bench_progress(b, false);
	if (czpg_bench_rounds_measure(b) < 0)
		goto out;
	rc = 0;
out:
	if (b->measure_start_ns != 0)
		res->measure_s =
		    (double)(czpg_engine_now_ns() - b->measure_start_ns) / CZPG_BENCH_NS_PER_S;
	if (b->failed) {
		snprintf(res->error, sizeof(res->error), "%s", b->err);
		res->partial = res->npairs > 0;
		rc = -1;
	}
	if (b->o->progress != NULL)
		czpg_bench_progress(b, true);
	czpg_bench_stats(b, 0);
	derive(b);
	if (b->cache != NULL) {
		res->scram_cache_hits = czpg_scram_cache_hits(b->cache);
		res->scram_cache_misses = czpg_scram_cache_misses(b->cache);
	}
	if (opt->mode == CZPG_BENCH_POOLED)
		drop_table(b);
	for (pi = 0; pi < 2; pi++)
		res->pools[pi].connections = opt->mode == CZPG_BENCH_POOLED
						 ? b->pools[pi].n
						 : (unsigned)res->pools[pi].units;
	b->ops->close(b);
	for (pi = 0; pi < 2; pi++) {
		free(b->pools[pi].conns);
		czpg_wbuf_free(&b->pools[pi].backlog);
	}
	czpg_tls_config_free(b->tcfg);
	czpg_scram_cache_free(b->cache);
	free(b);
	res->elapsed_s = (double)(czpg_engine_now_ns() - t_start) / CZPG_BENCH_NS_PER_S;
	return rc;
}

void czpg_bench_result_free(struct czpg_bench_result *res)
{
	if (res == NULL)
		return;
	free(res->a);
	free(res->b);
	free(res->pair_t);
	free(res->cpu_a);
	free(res->cpu_b);
	res->a = res->b = res->pair_t = res->cpu_a = res->cpu_b = NULL;
	res->npairs = res->cap_pairs = 0;
}
