/*
 * bench_report.c - what `czctl postgres tls bench` prints: the human table,
 * the JSON object (schema in docs/bench.md) and the SVG charts (see
 * czpg/bench.h), for one run and for a sweep.  Printing only: what the run
 * concluded comes in as an outcome decided by the verb (czpg_bench_outcome,
 * czpg_bench_sweep_outcome).
 *
 * Every figure of a run with an emulated round trip (--rtt) is labelled as
 * measured through it, so it is never read as a figure of a real network.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "czpg/bench.h"
#include "czpg/buf.h"
#include "czpg/parse.h"
#include "czpg/report.h"
#include "czpg/result.h"
#include "czpg/json.h"
#include "czpg/svgplot.h"

const char *czpg_bench_mode_name(const struct czpg_bench_options *o)
{
	return o->mode == CZPG_BENCH_CONNECT ? "connect" : "pooled";
}

const char *czpg_bench_shape_name(const struct czpg_bench_options *o)
{
	return o->shape == CZPG_BENCH_OPEN ? "open" : "closed";
}

const char *czpg_bench_client_name(const struct czpg_bench_options *o)
{
	return o->client == CZPG_BENCH_LIBPQ ? "libpq" : "native";
}

const char *czpg_bench_records_name(const struct czpg_bench_options *o)
{
	if (o->client == CZPG_BENCH_LIBPQ)
		return "libpq";
	return o->own_records ? "czpg" : "openssl";
}

const char *czpg_bench_protocol_name(const struct czpg_bench_options *o)
{
	return o->protocol == CZPG_BENCH_EXTENDED ? "extended" : "simple";
}

static const char *unit_name(const struct czpg_bench_options *o)
{
	return o->mode == CZPG_BENCH_CONNECT ? "connection" : "query";
}

static const char *metric_name(const struct czpg_bench_options *o)
{
	return o->mode == CZPG_BENCH_POOLED && o->shape == CZPG_BENCH_OPEN ? "mean_latency"
									   : "round_time";
}

static double per_unit_us(double s, uint64_t units)
{
	return units > 0 ? s * 1e6 / (double)units : NAN;
}

static double per_unit(uint64_t n, uint64_t units)
{
	return units > 0 ? (double)n / (double)units : NAN;
}

/* "measured through an emulated 1.00 ms RTT" or "measured on loopback". */
static void measured_through(const struct czpg_bench_options *o, char *out, size_t cap)
{
	if (o->rtt_ms > 0)
		snprintf(out, cap, "measured through an emulated %.2f ms RTT", o->rtt_ms);
	else
		snprintf(out, cap, "measured with no emulated RTT");
}

/* How late the delay line released chunks, on average and spread (us); NaN without. */
static double delay_late_mean_us(const struct czpg_bench_pool_result *p)
{
	return p->delay_chunks > 0 ? p->delay_late_sum_ns / (double)p->delay_chunks / 1e3 : NAN;
}

static double delay_late_sd_us(const struct czpg_bench_pool_result *p)
{
	double n = (double)p->delay_chunks, m, v;

	if (p->delay_chunks < 2)
		return NAN;
	m = p->delay_late_sum_ns / n;
	v = (p->delay_late_sumsq - n * m * m) / (n - 1);
	return v > 0 ? sqrt(v) / 1e3 : 0;
}

const char *czpg_bench_pools_name(const struct czpg_bench_options *o)
{
	return !o->aa      ? "TLS vs plaintext"
	       : o->aa_tls ? "A/A (TLS vs TLS)"
			   : "A/A (plaintext vs plaintext)";
}

const char *czpg_bench_workload_name(enum czpg_bench_workload w)
{
	switch (w) {
	case CZPG_BENCH_SELECT1:
		return "select1";
	case CZPG_BENCH_AUDIT:
		return "audit";
	case CZPG_BENCH_SQL:
		return "sql";
	}
	return "?";
}

static void fmt_mask(uint64_t mask, char *out, size_t cap)
{
	size_t n = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < 64 && n + 4 < cap; i++)
		if (mask & (1ull << i))
			n += (size_t)snprintf(out + n, cap - n, "%s%d", n > 0 ? "," : "", i);
	if (n == 0)
		snprintf(out, cap, "?");
}

static void fmt_us(double v, char *out, size_t cap)
{
	if (isnan(v))
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%.2f", v);
}

/* One table row; decimals = digits after the point. */
static void row(FILE *out, const char *label, double a, double b, int decimals)
{
	char sa[32], sb[32];

	if (isnan(a))
		snprintf(sa, sizeof(sa), "-");
	else
		snprintf(sa, sizeof(sa), "%.*f", decimals, a);
	if (isnan(b))
		snprintf(sb, sizeof(sb), "-");
	else
		snprintf(sb, sizeof(sb), "%.*f", decimals, b);
	fprintf(out, "  %-28s %14s %14s\n", label, sa, sb);
}

/* What pool a is compared with pool b for: "TLS", "A/A", "SSLRequest". */
static const char *comparison_name(const struct czpg_bench_options *o)
{
	return o->aa ? "A/A" : o->compare_negotiation ? "SSLRequest" : "TLS";
}

/* How the TLS pool(s) start TLS, when it is not the default SSLRequest. */
static void print_negotiation(FILE *out, const struct czpg_bench_options *opt,
			      const struct czpg_bench_result *res)
{
	if (opt->compare_negotiation)
		fprintf(out,
			"negotiation: %s sends SSLRequest first, %s opens with direct TLS (ALPN "
			"postgresql); both offer the same ClientHello\n",
			res->pools[0].name, res->pools[1].name);
	else if (opt->sslnegotiation == CZPG_OPEN_DIRECT_TLS)
		fprintf(out, "negotiation: direct TLS (ALPN postgresql, no SSLRequest)\n");
}

void czpg_bench_print(FILE *out, const struct czpg_bench_options *opt,
		      const struct czpg_bench_result *res, enum czpg_result outcome)
{
	const struct czpg_bench_pool_result *A = &res->pools[0], *B = &res->pools[1];
	const struct czpg_paired_result *s = &res->stats;
	char cm[200], sm[200], x[32];
	size_t i;

	/* Nothing was measured (a pool never connected): the error line says it all. */
	if (!res->ran && res->npairs == 0 && res->error[0] != '\0')
		return;

	fprintf(out,
		"czctl postgres tls bench: %s%s, %s%s, %s client, pool %u x pipeline %u, %s "
		"protocol\n",
		opt->aa ? (opt->aa_tls ? "A/A (TLS vs TLS) " : "A/A (plaintext vs plaintext) ")
			: "",
		opt->workload == CZPG_BENCH_SQL && opt->sql_name != NULL
		    ? opt->sql_name
		    : czpg_bench_workload_name(opt->workload),
		czpg_bench_mode_name(opt),
		opt->mode == CZPG_BENCH_POOLED
		    ? (opt->shape == CZPG_BENCH_OPEN ? " open loop" : " closed loop")
		    : " (connection per transaction)",
		opt->client == CZPG_BENCH_LIBPQ ? "libpq" : "native", opt->pool, opt->pipeline,
		opt->protocol == CZPG_BENCH_EXTENDED ? "extended" : "simple");
	if (opt->shape == CZPG_BENCH_OPEN && opt->mode == CZPG_BENCH_POOLED)
		fprintf(out,
			"rate %.0f queries/s over the pool; latency counts from the scheduled "
			"send time\n",
			opt->rate);
	print_negotiation(out, opt, res);
	if (opt->rtt_ms > 0)
		fprintf(out,
			"emulated network round trip %.3f ms: every chunk held %.3f ms each way "
			"(both pools); every figure below is measured through it\n",
			opt->rtt_ms, opt->rtt_ms / 2);
	if (opt->conn_lifetime > 0)
		fprintf(out, "connections reconnect after %u queries (--conn-lifetime)\n",
			opt->conn_lifetime);
	fmt_mask(res->client_cpu_mask, cm, sizeof(cm));
	fmt_mask(A->server_cpu_mask | B->server_cpu_mask, sm, sizeof(sm));
	fprintf(out, "server %s:%u  %s%s%s%s%s  auth %s  server %s\n", opt->host, opt->port,
		res->tls_version[0] != '\0' ? res->tls_version : (opt->aa ? "no TLS (A/A)" : "-"),
		res->tls_cipher[0] != '\0' ? " / " : "", res->tls_cipher,
		res->tls_records[0] != '\0' ? ", records by " : "", res->tls_records,
		res->auth_method[0] != '\0' ? res->auth_method : "-",
		res->server_version[0] != '\0' ? res->server_version : "?");
	fprintf(out, "client ran on CPU %s%s; server backends on CPU %s%s%s\n", cm,
		opt->pin_client >= 0 ? " (pinned)" : "",
		res->server_local ? sm : "? (server not on this machine)",
		res->server_pinned ? " (pinned)" : "",
		res->server_pin_error[0] != '\0' ? " (pinning refused)" : "");
	fprintf(out,
		"%zu pairs in ABBA order after %u warm-up pairs, rounds of %u %s (~%.0f ms), "
		"%.1f s measured%s\n\n",
		res->npairs, res->warmup_pairs_done, res->round_units,
		opt->mode == CZPG_BENCH_CONNECT ? "connections" : "queries",
		res->round_s_est * 1000, res->measure_s,
		res->extended ? " (extended for the gate)" : "");

	fprintf(out, "  %-28s %14s %14s\n", "", A->name, B->name);
	row(out, opt->mode == CZPG_BENCH_CONNECT ? "connections/s" : "throughput (queries/s)",
	    A->busy_s > 0 ? (double)A->units / A->busy_s : NAN,
	    B->busy_s > 0 ? (double)B->units / B->busy_s : NAN, 0);
	row(out, "latency mean (us)", per_unit_us(A->lat_sum_s, A->units),
	    per_unit_us(B->lat_sum_s, B->units), 1);
	row(out, "latency p50 (us)", A->hist.count ? czpg_hist_percentile(&A->hist, 50) / 1e3 : NAN,
	    B->hist.count ? czpg_hist_percentile(&B->hist, 50) / 1e3 : NAN, 1);
	row(out, "latency p99 (us)", A->hist.count ? czpg_hist_percentile(&A->hist, 99) / 1e3 : NAN,
	    B->hist.count ? czpg_hist_percentile(&B->hist, 99) / 1e3 : NAN, 1);
	row(out, "latency p99.9 (us)",
	    A->hist.count ? czpg_hist_percentile(&A->hist, 99.9) / 1e3 : NAN,
	    B->hist.count ? czpg_hist_percentile(&B->hist, 99.9) / 1e3 : NAN, 1);
	snprintf(x, sizeof(x), "client CPU (us/%s)", unit_name(opt));
	row(out, x, per_unit_us(A->client_cpu_s, A->units), per_unit_us(B->client_cpu_s, B->units),
	    2);
	snprintf(x, sizeof(x), "server CPU (us/%s)", unit_name(opt));
	row(out, x, A->server_cpu_known ? per_unit_us(A->server_cpu_s, A->units) : NAN,
	    B->server_cpu_known ? per_unit_us(B->server_cpu_s, B->units) : NAN, 2);
	if (opt->client == CZPG_BENCH_NATIVE) {
		snprintf(x, sizeof(x), "io_uring_enter/%s", unit_name(opt));
		row(out, x, per_unit(A->enters, A->units), per_unit(B->enters, B->units), 3);
	} else {
		snprintf(x, sizeof(x), "poll()/%s", unit_name(opt));
		row(out, x, per_unit(A->polls, A->units), per_unit(B->polls, B->units), 3);
	}
	if (opt->conn_lifetime > 0 || A->connects > A->connections)
		row(out, "connections made", (double)A->connects, (double)B->connects, 0);
	if (opt->rtt_ms > 0) {
		row(out, "delay: late mean (us)", delay_late_mean_us(A), delay_late_mean_us(B), 1);
		row(out, "delay: late sd (us)", delay_late_sd_us(A), delay_late_sd_us(B), 1);
		row(out, "delay: late max (us)",
		    A->delay_chunks ? (double)A->delay_late_max_ns / 1e3 : NAN,
		    B->delay_chunks ? (double)B->delay_late_max_ns / 1e3 : NAN, 1);
	}
	row(out, "errors", (double)A->errors, (double)B->errors, 0);
	fputc('\n', out);

	if (res->have_stats) {
		char how[80];
		double wlo, whi;

		measured_through(opt, how, sizeof(how));
		czpg_stats_widest(s, &wlo, &whi);
		fprintf(out,
			"%s overhead (%s, %s): %+.2f%%  95%% CI [%+.2f%%, %+.2f%%] (bootstrap, %zu "
			"pairs; t interval [%+.2f%%, %+.2f%%])\n",
			comparison_name(opt),
			strcmp(metric_name(opt), "mean_latency") == 0
			    ? "mean latency at a fixed rate"
			    : "time for the same work",
			how, s->overhead * 100, s->boot_lo * 100, s->boot_hi * 100, s->n,
			s->t_lo * 100, s->t_hi * 100);
		fprintf(out, "allowing for correlated pairs: blocks of %zu [%+.2f%%, %+.2f%%]",
			s->block_len, s->block_lo * 100, s->block_hi * 100);
		if (s->batches > 0)
			fprintf(out, ", %zu batch means [%+.2f%%, %+.2f%%]", s->batches,
				s->batch_lo * 100, s->batch_hi * 100);
		fprintf(out, "; lag-1 autocorrelation %+.2f; widest [%+.2f%%, %+.2f%%]\n", s->lag1,
			wlo * 100, whi * 100);
		fprintf(out,
			"robust (10%% trimmed mean of the pairs): %+.2f%%  95%% CI [%+.2f%%, "
			"%+.2f%%]\n",
			s->trim * 100, s->trim_lo * 100, s->trim_hi * 100);
		fprintf(out,
			"per-pair spread: p05 %+.2f%%  median %+.2f%%  p95 %+.2f%%  (min %+.2f%%, "
			"max %+.2f%%)\n",
			s->pair_p05 * 100, s->pair_p50 * 100, s->pair_p95 * 100, s->pair_min * 100,
			s->pair_max * 100);
		if (res->have_cpu_stats)
			fprintf(
			    out,
			    "on CPU per round (client%s): %+.2f%%  95%% CI [%+.2f%%, %+.2f%%]\n",
			    A->server_cpu_known && B->server_cpu_known ? " + server" : " only",
			    res->cpu_stats.overhead * 100, res->cpu_stats.boot_lo * 100,
			    res->cpu_stats.boot_hi * 100);
	} else {
		fprintf(out, "overhead: not enough pairs for an interval (%zu)\n", res->npairs);
	}
	{
		char c1[24], c2[24], c3[24], c4[24];

		fmt_us(res->add_client_cpu_us, c1, sizeof(c1));
		fmt_us(res->add_server_cpu_us, c2, sizeof(c2));
		fmt_us(res->add_latency_mean_us, c3, sizeof(c3));
		fmt_us(res->add_latency_p50_us, c4, sizeof(c4));
		fprintf(out,
			"added per %s (%s - %s, us): client CPU %s, server CPU %s, latency mean "
			"%s, p50 %s\n",
			unit_name(opt), A->name, B->name, c1, c2, c3, c4);
		if (opt->compare_negotiation)
			fprintf(out,
				"SSLRequest round trip, measured: %s us per connection (mean), %s "
				"us (p50)\n",
				c3, c4);
	}
	if (res->nderived > 0 && !opt->aa && !opt->compare_negotiation) {
		fprintf(out, "derived, NOT measured (measured parts + an assumed network round "
			     "trip):\n");
		for (i = 0; i < res->nderived; i++) {
			if (isnan(res->derived[i].overhead))
				fprintf(out, "  at RTT %.2f ms: - (not enough measured)\n",
					res->derived[i].rtt_ms);
			else if (opt->rtt_ms > 0 && res->derived[i].rtt_ms == opt->rtt_ms &&
				 res->have_stats)
				fprintf(out,
					"  at RTT %.2f ms: %+.2f%% (measured through it: %+.2f%%, "
					"%+.2f points from the derived figure)\n",
					res->derived[i].rtt_ms, res->derived[i].overhead * 100,
					s->overhead * 100,
					(s->overhead - res->derived[i].overhead) * 100);
			else
				fprintf(out, "  at RTT %.2f ms: %+.2f%%\n", res->derived[i].rtt_ms,
					res->derived[i].overhead * 100);
		}
		fprintf(out, "  basis: %s (%.2f us)\n",
			res->derived_basis != NULL ? res->derived_basis : "-", res->base_us);
	}
	if (res->gate_set) {
		fprintf(out, "gate: max overhead %.2f%%: the interval lies %s it -> exit %d\n",
			opt->max_overhead * 100,
			res->gate == CZPG_GATE_BELOW   ? "below"
			: res->gate == CZPG_GATE_ABOVE ? "above"
						       : "across (inconclusive)",
			czpg_report_exit_code(outcome));
	}
	if (opt->baseline != NULL && res->regression.incomparable[0] != '\0') {
		fprintf(out, "regression gate: the baseline %s is not comparable: %s -> exit %d\n",
			opt->baseline->path, res->regression.incomparable,
			czpg_report_exit_code(outcome));
	} else if (opt->baseline != NULL && res->regression.have) {
		const struct czpg_diff_result *dr = &res->regression.diff;

		fprintf(
		    out,
		    "regression gate against %s (%+.2f%% [%+.2f%%, %+.2f%%], %zu pairs): this "
		    "run minus the baseline %+.2f points, 95%% CI [%+.2f, %+.2f]; max %.2f: the "
		    "interval lies %s it -> exit %d\n",
		    opt->baseline->path, opt->baseline->stats.overhead * 100,
		    opt->baseline->stats.boot_lo * 100, opt->baseline->stats.boot_hi * 100,
		    opt->baseline->npairs, dr->diff * 100, dr->lo * 100, dr->hi * 100,
		    opt->max_regression * 100,
		    res->regression.gate == CZPG_GATE_BELOW   ? "below"
		    : res->regression.gate == CZPG_GATE_ABOVE ? "above"
							      : "across (inconclusive)",
		    czpg_report_exit_code(outcome));
	}
	if (res->error[0] != '\0')
		fprintf(out, "\n[ERROR] %s%s\n", res->error,
			res->partial ? " (the figures above cover the pairs completed before it)"
				     : "");
	fflush(out);
}

static void json_hist(struct czpg_json *j, const char *key, const struct czpg_hist *h)
{
	struct czpg_hist_summary s;

	czpg_hist_summarize(h, &s);
	czpg_json_key(j, key);
	czpg_json_object_begin(j);
	czpg_json_kv_uint(j, "count", s.count);
	czpg_json_kv_double(j, "mean", s.count ? s.mean_ns / 1e3 : NAN);
	czpg_json_kv_double(j, "min", s.count ? s.min_ns / 1e3 : NAN);
	czpg_json_kv_double(j, "p50", s.count ? s.p50_ns / 1e3 : NAN);
	czpg_json_kv_double(j, "p90", s.count ? s.p90_ns / 1e3 : NAN);
	czpg_json_kv_double(j, "p99", s.count ? s.p99_ns / 1e3 : NAN);
	czpg_json_kv_double(j, "p999", s.count ? s.p999_ns / 1e3 : NAN);
	czpg_json_kv_double(j, "max", s.count ? s.max_ns / 1e3 : NAN);
	czpg_json_object_end(j);
}

static void json_mask(struct czpg_json *j, const char *key, uint64_t mask)
{
	int i;

	czpg_json_key(j, key);
	czpg_json_array_begin(j);
	for (i = 0; i < 64; i++)
		if (mask & (1ull << i))
			czpg_json_int(j, i);
	czpg_json_array_end(j);
}

static void json_pool(struct czpg_json *j, const struct czpg_bench_options *opt,
		      const struct czpg_bench_pool_result *p)
{
	unsigned i;

	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "name", p->name);
	czpg_json_kv_bool(j, "tls", p->tls);
	czpg_json_kv_string(j, "negotiation", p->negotiation);
	czpg_json_kv_uint(j, "connections", p->connections);
	czpg_json_kv_uint(j, "units", p->units);
	czpg_json_kv_uint(j, "warmup_units", p->warmup_units);
	czpg_json_kv_uint(j, "rounds", p->rounds);
	czpg_json_kv_uint(j, "errors", p->errors);
	czpg_json_kv_uint(j, "rows", p->rows);
	czpg_json_kv_double(j, "busy_s", p->busy_s);
	czpg_json_kv_double(j, "units_per_s", p->busy_s > 0 ? (double)p->units / p->busy_s : NAN);
	json_hist(j, "latency_us", &p->hist);
	czpg_json_kv_double(j, "latency_mean_us", per_unit_us(p->lat_sum_s, p->units));
	czpg_json_kv_double(j, "client_cpu_us_per_unit", per_unit_us(p->client_cpu_s, p->units));
	czpg_json_kv_double(j, "server_cpu_us_per_unit",
			    p->server_cpu_known ? per_unit_us(p->server_cpu_s, p->units) : NAN);
	if (opt->client == CZPG_BENCH_NATIVE) {
		czpg_json_kv_uint(j, "io_uring_enters", p->enters);
		czpg_json_kv_double(j, "io_uring_enters_per_unit", per_unit(p->enters, p->units));
		czpg_json_kv_double(j, "sends_per_unit", per_unit(p->sends, p->units));
		czpg_json_kv_double(j, "recvs_per_unit", per_unit(p->recvs, p->units));
		czpg_json_kv_uint(j, "bytes_sent", p->bytes_sent);
		czpg_json_kv_uint(j, "bytes_received", p->bytes_received);
	} else {
		czpg_json_kv_uint(j, "polls", p->polls);
		czpg_json_kv_double(j, "polls_per_unit", per_unit(p->polls, p->units));
	}
	czpg_json_kv_uint(j, "connects", p->connects);
	czpg_json_kv_uint(j, "measured_connects", p->measured_connects);
	czpg_json_key(j, "delay");
	if (opt->rtt_ms > 0) {
		czpg_json_object_begin(j);
		czpg_json_kv_uint(j, "chunks", p->delay_chunks);
		czpg_json_kv_double(j, "configured_one_way_us", opt->rtt_ms * 1e3 / 2);
		czpg_json_kv_double(j, "late_mean_us", delay_late_mean_us(p));
		czpg_json_kv_double(j, "late_sd_us", delay_late_sd_us(p));
		czpg_json_kv_double(j, "late_max_us",
				    p->delay_chunks ? (double)p->delay_late_max_ns / 1e3 : NAN);
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	czpg_json_key(j, "backend_pids");
	czpg_json_array_begin(j);
	for (i = 0; i < p->npids; i++)
		czpg_json_uint(j, p->backend_pids[i]);
	czpg_json_array_end(j);
	json_mask(j, "server_cpus", p->server_cpu_mask);
	czpg_json_object_end(j);
}

/* --compare-negotiation: what SSLRequest adds to one connection, measured (else null). */
static void json_sslrequest_cost(struct czpg_json *j, const struct czpg_bench_options *opt,
				 const struct czpg_bench_result *res)
{
	czpg_json_key(j, "sslrequest_cost_us");
	if (!opt->compare_negotiation) {
		czpg_json_null(j);
		return;
	}
	czpg_json_object_begin(j);
	czpg_json_kv_double(j, "latency_mean", res->add_latency_mean_us);
	czpg_json_kv_double(j, "latency_p50", res->add_latency_p50_us);
	czpg_json_object_end(j);
}

/* The paired statistics of s as members of the open object. */
static void json_paired(struct czpg_json *j, const struct czpg_paired_result *s)
{
	double wlo, whi;

	czpg_stats_widest(s, &wlo, &whi);
	czpg_json_kv_double(j, "pct", s->overhead * 100);
	czpg_json_kv_double(j, "ci95_lo_pct", s->boot_lo * 100);
	czpg_json_kv_double(j, "ci95_hi_pct", s->boot_hi * 100);
	czpg_json_kv_string(j, "ci_method", "percentile bootstrap over pairs");
	czpg_json_kv_uint(j, "resamples", s->resamples);
	czpg_json_kv_double(j, "t_lo_pct", s->t_lo * 100);
	czpg_json_kv_double(j, "t_hi_pct", s->t_hi * 100);
	czpg_json_kv_uint(j, "block_len", s->block_len);
	czpg_json_kv_double(j, "block_lo_pct", s->block_lo * 100);
	czpg_json_kv_double(j, "block_hi_pct", s->block_hi * 100);
	czpg_json_kv_uint(j, "batches", s->batches);
	czpg_json_kv_double(j, "batch_lo_pct", s->batches ? s->batch_lo * 100 : NAN);
	czpg_json_kv_double(j, "batch_hi_pct", s->batches ? s->batch_hi * 100 : NAN);
	czpg_json_kv_double(j, "widest_lo_pct", wlo * 100);
	czpg_json_kv_double(j, "widest_hi_pct", whi * 100);
	czpg_json_kv_double(j, "lag1_autocorrelation", s->lag1);
	czpg_json_kv_double(j, "trimmed_pct", s->trim * 100);
	czpg_json_kv_double(j, "trimmed_lo_pct", s->trim_lo * 100);
	czpg_json_kv_double(j, "trimmed_hi_pct", s->trim_hi * 100);
	czpg_json_kv_double(j, "mean_log_ratio", s->mean_d);
	czpg_json_kv_double(j, "sd_log_ratio", s->sd_d);
	czpg_json_kv_double(j, "pair_p05_pct", s->pair_p05 * 100);
	czpg_json_kv_double(j, "pair_p50_pct", s->pair_p50 * 100);
	czpg_json_kv_double(j, "pair_p95_pct", s->pair_p95 * 100);
	czpg_json_kv_double(j, "pair_min_pct", s->pair_min * 100);
	czpg_json_kv_double(j, "pair_max_pct", s->pair_max * 100);
}

static void json_doubles(struct czpg_json *j, const char *key, const double *v, size_t n)
{
	size_t i;

	czpg_json_key(j, key);
	czpg_json_array_begin(j);
	for (i = 0; i < n; i++)
		czpg_json_double(j, v != NULL ? v[i] : NAN);
	czpg_json_array_end(j);
}

static void json_regression(struct czpg_json *j, const struct czpg_bench_options *opt,
			    const struct czpg_bench_result *res)
{
	const struct czpg_bench_regression *r = &res->regression;
	double wlo, whi;

	czpg_json_key(j, "regression");
	if (opt->baseline == NULL) {
		czpg_json_null(j);
		return;
	}
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "baseline", opt->baseline->path);
	czpg_json_kv_double(j, "max_regression_pp", opt->max_regression * 100);
	czpg_json_kv_string(j, "incomparable", r->incomparable[0] != '\0' ? r->incomparable : NULL);
	czpg_json_kv_uint(j, "baseline_pairs", opt->baseline->npairs);
	czpg_json_kv_double(j, "baseline_pct", opt->baseline->stats.overhead * 100);
	czpg_stats_widest(&opt->baseline->stats, &wlo, &whi);
	czpg_json_kv_double(j, "baseline_widest_lo_pct", wlo * 100);
	czpg_json_kv_double(j, "baseline_widest_hi_pct", whi * 100);
	if (r->have) {
		czpg_json_kv_double(j, "diff_pp", r->diff.diff * 100);
		czpg_json_kv_double(j, "ci95_lo_pp", r->diff.lo * 100);
		czpg_json_kv_double(j, "ci95_hi_pp", r->diff.hi * 100);
		czpg_json_kv_double(j, "boot_lo_pp", r->diff.boot_lo * 100);
		czpg_json_kv_double(j, "boot_hi_pp", r->diff.boot_hi * 100);
		czpg_json_kv_double(j, "norm_lo_pp", r->diff.norm_lo * 100);
		czpg_json_kv_double(j, "norm_hi_pp", r->diff.norm_hi * 100);
	}
	czpg_json_kv_string(j, "decision",
			    r->incomparable[0] != '\0' ? "incomparable"
			    : r->have                  ? czpg_stats_gate_name(r->gate)
						       : "straddle");
	czpg_json_object_end(j);
}

/* One run as an object (without the schema key when nested in a sweep). */
static void json_run(struct czpg_json *j, const struct czpg_bench_options *opt,
		     const struct czpg_bench_result *res, enum czpg_result outcome, bool nested)
{
	const struct czpg_paired_result *s = &res->stats;
	char how[80];
	struct utsname u;
	size_t i;

	czpg_json_object_begin(j);
	if (!nested)
		czpg_json_kv_string(j, "schema", "czctl.bench/2");
	czpg_json_kv_string(j, "czctl_version", CZPG_VERSION);

	czpg_json_key(j, "config");
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "host", opt->host);
	czpg_json_kv_uint(j, "port", opt->port);
	czpg_json_kv_string(j, "user", opt->user);
	czpg_json_kv_string(j, "dbname", opt->dbname != NULL ? opt->dbname : opt->user);
	czpg_json_kv_string(j, "mode", czpg_bench_mode_name(opt));
	czpg_json_kv_string(j, "shape", czpg_bench_shape_name(opt));
	czpg_json_kv_double(j, "rate", opt->shape == CZPG_BENCH_OPEN ? opt->rate : NAN);
	czpg_json_kv_string(j, "client", czpg_bench_client_name(opt));
	czpg_json_kv_string(j, "protocol", czpg_bench_protocol_name(opt));
	czpg_json_kv_string(j, "workload", czpg_bench_workload_name(opt->workload));
	czpg_json_kv_string(j, "sql_file", opt->workload == CZPG_BENCH_SQL ? opt->sql_name : NULL);
	czpg_json_kv_uint(j, "pool", opt->pool);
	czpg_json_kv_uint(j, "pipeline", opt->pipeline);
	czpg_json_kv_bool(j, "aa", opt->aa);
	czpg_json_kv_bool(j, "aa_tls", opt->aa && opt->aa_tls);
	czpg_json_kv_double(j, "rtt_ms", opt->rtt_ms);
	czpg_json_kv_uint(j, "conn_lifetime", opt->conn_lifetime);
	czpg_json_kv_string(j, "sslnegotiation",
			    opt->compare_negotiation                      ? "compare"
			    : opt->sslnegotiation == CZPG_OPEN_DIRECT_TLS ? "direct"
									  : "postgres");
	czpg_json_kv_bool(j, "compare_negotiation", opt->compare_negotiation);
	czpg_json_kv_string(j, "tls_records", czpg_bench_records_name(opt));
	czpg_json_kv_string(j, "channel_binding",
			    opt->channel_binding == CZPG_CB_REQUIRE   ? "require"
			    : opt->channel_binding == CZPG_CB_DISABLE ? "disable"
								      : "prefer");
	czpg_json_kv_uint(j, "round_ms", opt->round_ms);
	czpg_json_kv_uint(j, "warmup_pairs", opt->warmup_pairs);
	czpg_json_kv_uint(j, "min_pairs", opt->min_pairs);
	czpg_json_kv_double(j, "duration_s", opt->duration_s);
	czpg_json_kv_double(j, "max_duration_s", opt->max_duration_s);
	czpg_json_kv_double(j, "max_overhead_pct", opt->max_overhead * 100);
	czpg_json_kv_string(j, "baseline", opt->baseline != NULL ? opt->baseline->path : NULL);
	czpg_json_kv_double(j, "max_regression_pp", opt->max_regression * 100);
	czpg_json_key(j, "assume_rtt_ms");
	czpg_json_array_begin(j);
	for (i = 0; i < opt->n_rtt; i++)
		czpg_json_double(j, opt->assume_rtt_ms[i]);
	czpg_json_array_end(j);
	czpg_json_kv_uint(j, "seed", opt->seed);
	if (opt->pin_client >= 0)
		czpg_json_kv_int(j, "pin_client", opt->pin_client);
	else
		czpg_json_kv_string(j, "pin_client", NULL);
	if (opt->pin_server >= 0)
		czpg_json_kv_int(j, "pin_server", opt->pin_server);
	else
		czpg_json_kv_string(j, "pin_server", NULL);
	czpg_json_object_end(j);

	czpg_json_key(j, "machine");
	czpg_json_object_begin(j);
	czpg_json_kv_int(j, "cpus_online", sysconf(_SC_NPROCESSORS_ONLN));
	if (uname(&u) == 0)
		czpg_json_kv_string(j, "kernel", u.release);
	json_mask(j, "client_cpus", res->client_cpu_mask);
	json_mask(j, "server_cpus", res->pools[0].server_cpu_mask | res->pools[1].server_cpu_mask);
	czpg_json_kv_bool(j, "server_local", res->server_local);
	czpg_json_kv_bool(j, "server_pinned", res->server_pinned);
	czpg_json_kv_string(j, "server_pin_error",
			    res->server_pin_error[0] != '\0' ? res->server_pin_error : NULL);
	czpg_json_object_end(j);

	czpg_json_key(j, "session");
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "tls_version", res->tls_version[0] ? res->tls_version : NULL);
	czpg_json_kv_string(j, "tls_cipher", res->tls_cipher[0] ? res->tls_cipher : NULL);
	czpg_json_kv_string(j, "auth_method", res->auth_method[0] ? res->auth_method : NULL);
	czpg_json_kv_string(j, "server_version",
			    res->server_version[0] ? res->server_version : NULL);
	czpg_json_kv_string(j, "tls_records", res->tls_records[0] ? res->tls_records : NULL);
	czpg_json_kv_uint(j, "scram_cache_hits", res->scram_cache_hits);
	czpg_json_kv_uint(j, "scram_cache_misses", res->scram_cache_misses);
	czpg_json_object_end(j);

	czpg_json_key(j, "method");
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "order", "ABBA");
	czpg_json_kv_string(j, "metric", metric_name(opt));
	czpg_json_kv_string(j, "unit", unit_name(opt));
	czpg_json_kv_uint(j, "round_units", res->round_units);
	czpg_json_kv_uint(j, "warmup_pairs_done", res->warmup_pairs_done);
	czpg_json_kv_double(j, "measure_s", res->measure_s);
	czpg_json_kv_double(j, "elapsed_s", res->elapsed_s);
	czpg_json_kv_bool(j, "extended_for_gate", res->extended);
	measured_through(opt, how, sizeof(how));
	czpg_json_kv_string(j, "measured", how);
	czpg_json_key(j, "emulated_rtt");
	if (opt->rtt_ms > 0) {
		czpg_json_object_begin(j);
		czpg_json_kv_double(j, "rtt_ms", opt->rtt_ms);
		czpg_json_kv_double(j, "one_way_ms", opt->rtt_ms / 2);
		czpg_json_kv_string(j, "note",
				    "every figure of this run is measured through an emulated RTT "
				    "(a delay line in the client's event loop, both pools alike)");
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	czpg_json_object_end(j);

	czpg_json_key(j, "pools");
	czpg_json_array_begin(j);
	json_pool(j, opt, &res->pools[0]);
	json_pool(j, opt, &res->pools[1]);
	czpg_json_array_end(j);

	czpg_json_key(j, "pairs");
	czpg_json_object_begin(j);
	czpg_json_kv_uint(j, "count", res->npairs);
	czpg_json_key(j, "a_s");
	czpg_json_array_begin(j);
	for (i = 0; i < res->npairs; i++)
		czpg_json_double(j, res->a[i]);
	czpg_json_array_end(j);
	czpg_json_key(j, "b_s");
	czpg_json_array_begin(j);
	for (i = 0; i < res->npairs; i++)
		czpg_json_double(j, res->b[i]);
	czpg_json_array_end(j);
	czpg_json_key(j, "t_s");
	czpg_json_array_begin(j);
	for (i = 0; i < res->npairs; i++)
		czpg_json_double(j, res->pair_t[i]);
	czpg_json_array_end(j);
	json_doubles(j, "cpu_a_s", res->cpu_a, res->npairs);
	json_doubles(j, "cpu_b_s", res->cpu_b, res->npairs);
	czpg_json_object_end(j);

	czpg_json_key(j, "overhead");
	if (res->have_stats) {
		czpg_json_object_begin(j);
		json_paired(j, s);
		czpg_json_kv_string(j, "measured", how);
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	czpg_json_key(j, "overhead_cpu");
	if (res->have_cpu_stats) {
		czpg_json_object_begin(j);
		json_paired(j, &res->cpu_stats);
		czpg_json_kv_bool(j, "server_included",
				  res->pools[0].server_cpu_known && res->pools[1].server_cpu_known);
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}

	czpg_json_key(j, "added_us_per_unit");
	czpg_json_object_begin(j);
	czpg_json_kv_double(j, "client_cpu", res->add_client_cpu_us);
	czpg_json_kv_double(j, "server_cpu", res->add_server_cpu_us);
	czpg_json_kv_double(j, "latency_mean", res->add_latency_mean_us);
	czpg_json_kv_double(j, "latency_p50", res->add_latency_p50_us);
	czpg_json_object_end(j);
	json_sslrequest_cost(j, opt, res);

	czpg_json_key(j, "derived");
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "note",
			    "derived from measured parts plus an ASSUMED network round "
			    "trip; not a measurement");
	czpg_json_kv_string(j, "basis", res->derived_basis);
	czpg_json_kv_double(j, "base_us", res->base_us);
	czpg_json_key(j, "at_rtt");
	czpg_json_array_begin(j);
	for (i = 0; i < res->nderived; i++) {
		czpg_json_object_begin(j);
		czpg_json_kv_double(j, "rtt_ms", res->derived[i].rtt_ms);
		czpg_json_kv_double(j, "overhead_pct", res->derived[i].overhead * 100);
		czpg_json_object_end(j);
	}
	czpg_json_array_end(j);
	czpg_json_object_end(j);

	czpg_json_key(j, "gate");
	if (!isnan(opt->max_overhead)) {
		czpg_json_object_begin(j);
		czpg_json_kv_double(j, "max_overhead_pct", opt->max_overhead * 100);
		czpg_json_kv_string(j, "decision",
				    res->have_stats ? czpg_stats_gate_name(res->gate) : "straddle");
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	json_regression(j, opt, res);

	czpg_json_key(j, "result");
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "status", res->error[0] != '\0' ? "error" : "ok");
	czpg_json_kv_bool(j, "partial", res->partial);
	czpg_json_kv_string(j, "error", res->error[0] != '\0' ? res->error : NULL);
	czpg_json_kv_int(j, "exit_code", czpg_report_exit_code(outcome));
	czpg_json_object_end(j);

	czpg_json_object_end(j);
}

void czpg_bench_print_json(FILE *out, const struct czpg_bench_options *opt,
			   const struct czpg_bench_result *res, enum czpg_result outcome)
{
	struct czpg_json j;

	czpg_json_init(&j, out);
	json_run(&j, opt, res, outcome, false);
	czpg_json_finish(&j);
}

/* Ends the document and closes f (whatever happens); 0, or -1 with a sentence in err. */
static int svg_finish(FILE *f, const char *path, char *err, size_t errlen)
{
	fprintf(f, "</svg>\n");
	if (fclose(f) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Appends doc without its XML declaration, wrapped in a translated group. */
static int embed(FILE *f, const struct czpg_wbuf *doc, double dy)
{
	const char *p = (const char *)doc->data;
	size_t n = doc->len;
	const char *nl;

	if (n > 5 && strncmp(p, "<?xml", 5) == 0 && (nl = memchr(p, '\n', n)) != NULL) {
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	fprintf(f, "<g transform=\"translate(0,%.0f)\">\n", dy);
	if (fwrite(p, 1, n, f) != n)
		return -1;
	fprintf(f, "</g>\n");
	return 0;
}

int czpg_bench_write_svg(const char *path, const struct czpg_bench_options *opt,
			 const struct czpg_bench_result *res, char *err, size_t errlen)
{
	struct czpg_wbuf w1, w2;
	struct czpg_svg_sink s1 = {0}, s2 = {0};
	struct czpg_svg_cdf_input cdf = {0};
	struct czpg_svg_overhead_input ov = {0};
	double *pov = NULL;
	FILE *f = NULL;
	int rc = -1;

	czpg_wbuf_init(&w1, 0);
	czpg_wbuf_init(&w2, 0);
	s1.wbuf = &w1;
	s2.wbuf = &w2;
	cdf.title =
	    opt->mode == CZPG_BENCH_CONNECT ? "Connection + first query latency" : "Query latency";
	cdf.a = &res->pools[0].hist;
	cdf.b = &res->pools[1].hist;
	cdf.a_label = res->pools[0].name;
	cdf.b_label = res->pools[1].name;
	if (czpg_svg_latency_cdf(&s1, &cdf, err, errlen) < 0)
		goto out;
	if (res->npairs > 0) {
		pov = calloc(res->npairs, sizeof(double));
		if (pov == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		czpg_svg_pair_overheads(res->a, res->b, res->npairs, pov);
	}
	ov.title = opt->aa ? "A/A difference per pair (noise floor)" : "TLS overhead per pair";
	ov.overhead = pov;
	ov.n = res->npairs;
	ov.mean = res->have_stats ? res->stats.overhead : NAN;
	ov.lo = res->have_stats ? res->stats.boot_lo : NAN;
	ov.hi = res->have_stats ? res->stats.boot_hi : NAN;
	ov.threshold = opt->max_overhead;
	if (czpg_svg_overhead(&s2, &ov, err, errlen) < 0)
		goto out;
	f = fopen(path, "w");
	if (f == NULL) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"800\" "
		   "height=\"1040\" viewBox=\"0 0 800 1040\">\n");
	if (embed(f, &w1, 0) < 0 || embed(f, &w2, 520) < 0) {
		snprintf(err, errlen, "cannot write %s", path);
		goto out;
	}
	rc = svg_finish(f, path, err, errlen);
	f = NULL;
out:
	if (f != NULL)
		fclose(f);
	free(pov);
	czpg_wbuf_free(&w1);
	czpg_wbuf_free(&w2);
	return rc;
}

/* ------------------------------------------------------------------------
 * Sweeps: one run per value of --rtt or --conn-lifetime.
 */

/* The runbook's claim for a persistent pool, marked on the sweep's chart. */
#define RUNBOOK_CLAIM_PCT 1.3

static const char *axis_key(enum czpg_bench_axis a)
{
	return a == CZPG_BENCH_AXIS_RTT ? "rtt_ms" : "conn_lifetime";
}

/* The swept value of point i, as text ("0.25", "100", "never"). */
static void axis_value(const struct czpg_bench_sweep *sw, size_t i, char *out, size_t cap)
{
	if (sw->axis == CZPG_BENCH_AXIS_RTT)
		snprintf(out, cap, "%g", sw->opts[i].rtt_ms);
	else if (sw->opts[i].conn_lifetime == 0)
		snprintf(out, cap, "never");
	else
		snprintf(out, cap, "%u", sw->opts[i].conn_lifetime);
}

/*
 * The derived figure of point i at its own RTT, or NaN (a lifetime sweep's
 * points derive nothing: recycled backends leave the server's CPU unknown).
 */
static double point_derived(const struct czpg_bench_sweep *sw, size_t i)
{
	const struct czpg_bench_result *r = &sw->points[i];
	size_t k;

	if (sw->axis != CZPG_BENCH_AXIS_RTT)
		return NAN;
	for (k = 0; k < r->nderived; k++)
		if (r->derived[k].rtt_ms == sw->opts[i].rtt_ms)
			return r->derived[k].overhead;
	return NAN;
}

/* What TLS added per query at point i, us of connection time (see bench_sweep.c). */
static double point_added_us(const struct czpg_bench_sweep *sw, size_t i)
{
	const struct czpg_bench_result *r = &sw->points[i];
	const struct czpg_bench_pool_result *pl = &r->pools[1];

	if (!r->have_stats || pl->units == 0)
		return NAN;
	return r->stats.overhead * pl->busy_s * 1e6 *
	       (double)(sw->opts[i].pool * sw->opts[i].pipeline) / (double)pl->units;
}

static double p50_us(const struct czpg_bench_pool_result *p)
{
	return p->hist.count ? (double)czpg_hist_percentile(&p->hist, 50) / 1e3 : NAN;
}

void czpg_bench_sweep_print(FILE *out, const struct czpg_bench_options *opt,
			    const struct czpg_bench_sweep *sw, enum czpg_result outcome)
{
	char v[32], d[32], md[32];
	double lo, hi, dv;
	size_t i;

	for (i = 0; i < sw->n; i++) {
		axis_value(sw, i, v, sizeof(v));
		fprintf(out, "=== point %zu of %zu: --%s %s ===\n", i + 1, sw->n,
			sw->axis == CZPG_BENCH_AXIS_RTT ? "rtt" : "conn-lifetime", v);
		czpg_bench_print(out, &sw->opts[i], &sw->points[i], sw->outcome[i]);
		fputc('\n', out);
	}
	fprintf(out, "sweep of --%s: %s, %s, pool %u x pipeline %u%s\n",
		sw->axis == CZPG_BENCH_AXIS_RTT ? "rtt" : "conn-lifetime",
		czpg_bench_pools_name(opt), czpg_bench_workload_name(opt->workload), opt->pool,
		opt->pipeline,
		sw->axis == CZPG_BENCH_AXIS_RTT
		    ? "; each point measured through its emulated RTT"
		    : (opt->rtt_ms > 0 ? "; measured through the emulated RTT" : ""));
	fprintf(out, "  %-10s %6s %10s  %-22s %10s %10s %16s\n",
		sw->axis == CZPG_BENCH_AXIS_RTT ? "RTT (ms)" : "lifetime", "pairs", "overhead",
		"95% CI (widest)", "derived", "meas-der", "p50 tls/plain us");
	for (i = 0; i < sw->n; i++) {
		const struct czpg_bench_result *r = &sw->points[i];

		axis_value(sw, i, v, sizeof(v));
		if (!r->have_stats) {
			fprintf(out, "  %-10s %6zu %10s  %s\n", v, r->npairs, "-",
				r->error[0] != '\0' ? r->error : "no interval");
			continue;
		}
		czpg_stats_widest(&r->stats, &lo, &hi);
		dv = point_derived(sw, i);
		snprintf(d, sizeof(d), isnan(dv) ? "-" : "%+.2f%%", dv * 100);
		snprintf(md, sizeof(md), isnan(dv) ? "-" : "%+.2f pt",
			 (r->stats.overhead - dv) * 100);
		fprintf(out,
			"  %-10s %6zu %+9.2f%%  [%+7.2f%%, %+7.2f%%]   %10s %10s %7.0f/%-7.0f\n", v,
			r->npairs, r->stats.overhead * 100, lo * 100, hi * 100, d, md,
			p50_us(&r->pools[0]), p50_us(&r->pools[1]));
	}
	if (sw->axis == CZPG_BENCH_AXIS_LIFETIME) {
		for (i = 0; i < sw->n; i++) {
			axis_value(sw, i, v, sizeof(v));
			fprintf(out,
				"  lifetime %s: TLS added %.2f us per query (connections made: "
				"%llu TLS, %llu plain)\n",
				v, point_added_us(sw, i),
				(unsigned long long)sw->points[i].pools[0].connects,
				(unsigned long long)sw->points[i].pools[1].connects);
		}
		if (sw->fit.have)
			fprintf(
			    out,
			    "two parts (least squares over the points, r^2 %.3f): TLS adds %.2f us "
			    "to every query (records) and %.0f us once per connection "
			    "(handshake): added per query = %.2f + %.0f / lifetime us\n",
			    sw->fit.r2, sw->fit.per_query_us, sw->fit.per_connection_us,
			    sw->fit.per_query_us, sw->fit.per_connection_us);
	}
	fprintf(out, "the runbook's claim for a persistent pool: about %.1f%%\n",
		RUNBOOK_CLAIM_PCT);
	if (outcome != CZPG_RESULT_OK)
		fprintf(out, "[ERROR] the sweep stopped early (exit %d)\n",
			czpg_report_exit_code(outcome));
	fflush(out);
}

void czpg_bench_sweep_print_json(FILE *out, const struct czpg_bench_options *opt,
				 const struct czpg_bench_sweep *sw, enum czpg_result outcome)
{
	struct czpg_json j;
	double lo, hi;
	size_t i;

	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "schema", "czctl.bench-sweep/1");
	czpg_json_kv_string(&j, "czctl_version", CZPG_VERSION);
	czpg_json_kv_string(&j, "axis", axis_key(sw->axis));
	czpg_json_kv_string(&j, "pools", czpg_bench_pools_name(opt));
	czpg_json_kv_string(&j, "workload", czpg_bench_workload_name(opt->workload));
	czpg_json_kv_double(&j, "runbook_claim_pct", RUNBOOK_CLAIM_PCT);
	czpg_json_key(&j, "points");
	czpg_json_array_begin(&j);
	for (i = 0; i < sw->n; i++) {
		const struct czpg_bench_result *r = &sw->points[i];

		czpg_json_object_begin(&j);
		czpg_json_kv_double(&j, "rtt_ms", sw->opts[i].rtt_ms);
		czpg_json_kv_uint(&j, "conn_lifetime", sw->opts[i].conn_lifetime);
		czpg_json_kv_string(&j, "status", r->error[0] != '\0' ? "error" : "ok");
		czpg_json_kv_uint(&j, "pairs", r->npairs);
		if (r->have_stats) {
			czpg_stats_widest(&r->stats, &lo, &hi);
			czpg_json_kv_double(&j, "overhead_pct", r->stats.overhead * 100);
			czpg_json_kv_double(&j, "ci95_lo_pct", r->stats.boot_lo * 100);
			czpg_json_kv_double(&j, "ci95_hi_pct", r->stats.boot_hi * 100);
			czpg_json_kv_double(&j, "widest_lo_pct", lo * 100);
			czpg_json_kv_double(&j, "widest_hi_pct", hi * 100);
		}
		czpg_json_kv_double(&j, "derived_pct", point_derived(sw, i) * 100);
		czpg_json_kv_double(&j, "cpu_overhead_pct",
				    r->have_cpu_stats ? r->cpu_stats.overhead * 100 : NAN);
		czpg_json_kv_double(&j, "added_us_per_query", point_added_us(sw, i));
		czpg_json_kv_double(&j, "tls_p50_us", p50_us(&r->pools[0]));
		czpg_json_kv_double(&j, "plain_p50_us", p50_us(&r->pools[1]));
		czpg_json_kv_uint(&j, "tls_connects", r->pools[0].connects);
		czpg_json_kv_uint(&j, "plain_connects", r->pools[1].connects);
		czpg_json_kv_double(&j, "delay_late_mean_us", delay_late_mean_us(&r->pools[0]));
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);
	czpg_json_key(&j, "fit");
	if (sw->fit.have) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(
		    &j, "model",
		    "added_us_per_query = per_query_us + per_connection_us / conn_lifetime");
		czpg_json_kv_double(&j, "per_query_us", sw->fit.per_query_us);
		czpg_json_kv_double(&j, "per_connection_us", sw->fit.per_connection_us);
		czpg_json_kv_double(&j, "r2", sw->fit.r2);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}
	czpg_json_key(&j, "runs");
	czpg_json_array_begin(&j);
	for (i = 0; i < sw->n; i++)
		json_run(&j, &sw->opts[i], &sw->points[i], sw->outcome[i], true);
	czpg_json_array_end(&j);
	czpg_json_key(&j, "result");
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "status", outcome == CZPG_RESULT_OK ? "ok" : "error");
	czpg_json_kv_int(&j, "exit_code", czpg_report_exit_code(outcome));
	czpg_json_object_end(&j);
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}

/* Chart geometry (px): the plot area inside an 800 x 480 document. */
#define SW_W 800.0
#define SW_H 480.0
#define SW_L 80.0
#define SW_R 40.0
#define SW_T 60.0
#define SW_B 70.0

int czpg_bench_sweep_write_svg(const char *path, const struct czpg_bench_options *opt,
			       const struct czpg_bench_sweep *sw, char *err, size_t errlen)
{
	double ymin = 0, ymax = RUNBOOK_CLAIM_PCT * 1.5, lo, hi, x, y, y0, y1, dv, step, t;
	double pw = SW_W - SW_L - SW_R, ph = SW_H - SW_T - SW_B;
	char v[32];
	FILE *f = NULL;
	size_t i;
	int rc = -1;

	/* The value range: every interval and derived figure, and the claim. */
	for (i = 0; i < sw->n; i++) {
		if (sw->points[i].have_stats) {
			czpg_stats_widest(&sw->points[i].stats, &lo, &hi);
			ymin = fmin(ymin, lo * 100);
			ymax = fmax(ymax, hi * 100);
		}
		dv = point_derived(sw, i);
		if (!isnan(dv)) {
			ymin = fmin(ymin, dv * 100);
			ymax = fmax(ymax, dv * 100);
		}
	}
	step = pow(10, floor(log10(fmax(ymax - ymin, 1e-3))));
	if ((ymax - ymin) / step < 4)
		step /= 2;
	ymin = floor(ymin / step) * step;
	ymax = ceil(ymax / step) * step;
	f = fopen(path, "w");
	if (f == NULL) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
#define SX(k) (SW_L + (sw->n > 1 ? pw * (double)(k) / (double)(sw->n - 1) : pw / 2))
#define SY(val) (SW_T + ph * (ymax - (val)) / (ymax - ymin))
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
		"height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
		"font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		SW_W, SW_H, SW_W, SW_H);
	fprintf(f,
		"<text x=\"%.0f\" y=\"24\" font-size=\"15\">TLS overhead against %s (%s, %s, "
		"pool %u)</text>\n",
		SW_L,
		sw->axis == CZPG_BENCH_AXIS_RTT ? "the emulated round trip" : "connection lifetime",
		czpg_bench_pools_name(opt), czpg_bench_workload_name(opt->workload), opt->pool);
	fprintf(f,
		"<text x=\"%.0f\" y=\"42\" fill=\"#555\">measured (95%% interval, widest) and "
		"derived from measured parts; dashed: the runbook's %.1f%%</text>\n",
		SW_L, RUNBOOK_CLAIM_PCT);
	/* grid and y labels */
	for (t = ymin; t <= ymax + step / 2; t += step)
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%+.*f%%</text>\n",
			SW_L, SY(t), SW_W - SW_R, SY(t), SW_L - 6, SY(t) + 4, step < 1 ? 1 : 0, t);
	fprintf(
	    f,
	    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c33\" "
	    "stroke-dasharray=\"6,4\" data-series=\"runbook\"/>"
	    "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c33\" text-anchor=\"end\">runbook %.1f%%</text>\n",
	    SW_L, SY(RUNBOOK_CLAIM_PCT), SW_W - SW_R, SY(RUNBOOK_CLAIM_PCT), SW_W - SW_R - 4,
	    SY(RUNBOOK_CLAIM_PCT) - 5, RUNBOOK_CLAIM_PCT);
	fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n",
		SW_L, SY(0), SW_W - SW_R, SY(0));
	/* x labels */
	for (i = 0; i < sw->n; i++) {
		axis_value(sw, i, v, sizeof(v));
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", SX(i),
			SW_H - SW_B + 18, v);
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", SW_L + pw / 2,
		SW_H - 22,
		sw->axis == CZPG_BENCH_AXIS_RTT ? "emulated round trip (ms)"
						: "queries per connection (--conn-lifetime)");
	/* derived: a grey polyline through the points that have one */
	fprintf(f, "<polyline fill=\"none\" stroke=\"#999\" stroke-width=\"2\" "
		   "data-series=\"derived\" points=\"");
	for (i = 0; i < sw->n; i++) {
		dv = point_derived(sw, i);
		if (!isnan(dv))
			fprintf(f, "%.1f,%.1f ", SX(i), SY(dv * 100));
	}
	fprintf(f, "\"/>\n");
	/* measured: a point with its interval */
	for (i = 0; i < sw->n; i++) {
		const struct czpg_bench_result *r = &sw->points[i];

		if (!r->have_stats)
			continue;
		czpg_stats_widest(&r->stats, &lo, &hi);
		x = SX(i);
		y = SY(r->stats.overhead * 100);
		y0 = SY(lo * 100);
		y1 = SY(hi * 100);
		fprintf(f,
			"<g data-series=\"measured\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			"y2=\"%.1f\" stroke=\"#1f5fbf\" stroke-width=\"2\"/>"
			"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f5fbf\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" fill=\"#1f5fbf\">%+.2f%%</text></g>\n",
			x, y0, x, y1, x, y, x + 7, y - 6, r->stats.overhead * 100);
	}
	fprintf(f,
		"<g font-size=\"12\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f5fbf\"/>"
		"<text x=\"%.1f\" y=\"%.1f\">measured%s</text>"
		"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
		"stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">derived (measured CPU parts + "
		"RTT)</text></g>\n",
		SW_L + 10, SW_T + 10, SW_L + 20, SW_T + 14,
		sw->axis == CZPG_BENCH_AXIS_RTT ? " through the emulated RTT" : "", SW_L + 4,
		SW_T + 28, SW_L + 16, SW_T + 28, SW_L + 20, SW_T + 32);
#undef SX
#undef SY
	rc = svg_finish(f, path, err, errlen);
	f = NULL;
out:
	if (f != NULL)
		fclose(f);
	return rc;
}
