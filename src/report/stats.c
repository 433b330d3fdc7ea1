/*
 * stats.c - paired A/B overhead statistics, release gate, log-linear latency
 * histogram and summary helpers (see czpg/stats.h).
 *
 * Sources for the methods (the code is our own):
 *   - xoshiro256** and splitmix64: Blackman & Vigna, "Scrambled linear
 *     pseudorandom number generators" (2018); unbiased bounded integers by
 *     rejection of the short final range;
 *   - percentile bootstrap: Efron & Tibshirani, "An Introduction to the
 *     Bootstrap" (1993), ch. 13; the circular block bootstrap for
 *     dependent series: Politis & Romano (1992), block length of the order
 *     n^(1/3) (Hall, Horowitz & Jing, 1995); batch means: the standard
 *     simulation-output method (e.g. Law, "Simulation Modeling and
 *     Analysis", ch. 9);
 *   - Student-t CDF through the regularized incomplete beta function,
 *     evaluated by its continued fraction with the modified Lentz method;
 *   - quantiles: Hyndman & Fan (1996), definition 7;
 *   - running variance: Welford (1962), merge by Chan, Golub & LeVeque (1979);
 *   - histogram layout: the HdrHistogram idea of linear sub-buckets inside
 *     power-of-two ranges.
 */
#include "czpg/stats.h"
#include "czpg/errf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* PRNG                                                                     */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void czpg_rng_seed(struct czpg_rng *rng, uint64_t seed)
{
	uint64_t x = seed;
	size_t i;

	/* splitmix64 never yields four zero words in a row from one stream. */
	for (i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
}

uint64_t czpg_rng_next(struct czpg_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t czpg_rng_below(struct czpg_rng *rng, uint64_t bound)
{
	uint64_t threshold, r;

	if (bound == 0)
		return 0;
	/* 2^64 mod bound: the values below it would make small results likelier. */
	threshold = (0 - bound) % bound;
	do {
		r = czpg_rng_next(rng);
	} while (r < threshold);
	return r % bound;
}

double czpg_rng_uniform(struct czpg_rng *rng)
{
	return (double)(czpg_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------------------ */
/* Summary helpers                                                          */

double czpg_stats_mean(const double *x, size_t n)
{
	double sum = 0.0;
	size_t i;

	if (x == NULL || n == 0)
		return NAN;
	for (i = 0; i < n; i++)
		sum += x[i];
	return sum / (double)n;
}

double czpg_stats_stddev(const double *x, size_t n)
{
	double mean, ss = 0.0, dev;
	size_t i;

	if (x == NULL || n < 2)
		return NAN;
	mean = czpg_stats_mean(x, n);
	for (i = 0; i < n; i++) {
		dev = x[i] - mean;
		ss += dev * dev;
	}
	return sqrt(ss / (double)(n - 1));
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return (a > b) - (a < b);
}

/* Type 7 quantile of an ascending array (n >= 1, q in [0, 1]). */
static double quantile_sorted(const double *s, size_t n, double q)
{
	double h = q * (double)(n - 1);
	size_t lo = (size_t)floor(h);
	double frac = h - (double)lo;

	if (lo + 1 >= n)
		return s[n - 1];
	if (frac == 0.0)
		return s[lo];
	return s[lo] + frac * (s[lo + 1] - s[lo]);
}

int czpg_stats_quantile(const double *x, size_t n, double q, double *out)
{
	double *copy = NULL;
	int rc = -1;

	if (x == NULL || out == NULL || n == 0 || !(q >= 0.0 && q <= 1.0))
		goto out;
	copy = malloc(n * sizeof(*copy));
	if (copy == NULL)
		goto out;
	memcpy(copy, x, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), cmp_double);
	*out = quantile_sorted(copy, n, q);
	rc = 0;
out:
	free(copy);
	return rc;
}

int czpg_stats_median(const double *x, size_t n, double *out)
{
	return czpg_stats_quantile(x, n, 0.5, out);
}

void czpg_welford_init(struct czpg_welford *w)
{
	w->n = 0;
	w->mean = 0.0;
	w->m2 = 0.0;
}

void czpg_welford_push(struct czpg_welford *w, double x)
{
	double delta = x - w->mean;

	w->n++;
	w->mean += delta / (double)w->n;
	w->m2 += delta * (x - w->mean);
}

void czpg_welford_merge(struct czpg_welford *dst, const struct czpg_welford *src)
{
	double na = (double)dst->n, nb = (double)src->n, n, delta;

	if (src->n == 0)
		return;
	if (dst->n == 0) {
		*dst = *src;
		return;
	}
	n = na + nb;
	delta = src->mean - dst->mean;
	dst->mean += delta * nb / n;
	dst->m2 += src->m2 + delta * delta * na * nb / n;
	dst->n += src->n;
}

double czpg_welford_mean(const struct czpg_welford *w)
{
	return w->n == 0 ? NAN : w->mean;
}

double czpg_welford_variance(const struct czpg_welford *w)
{
	return w->n < 2 ? NAN : w->m2 / (double)(w->n - 1);
}

double czpg_welford_stddev(const struct czpg_welford *w)
{
	return sqrt(czpg_welford_variance(w));
}

/* ------------------------------------------------------------------------ */
/* Student's t                                                              */

/*
 * Continued fraction for the regularized incomplete beta function
 * I_x(a, b), modified Lentz evaluation.  Converges quickly for
 * x < (a + 1) / (a + b + 2); the caller uses the symmetry otherwise.
 */
static double beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300, eps = 1e-15;
	double c = 1.0, d, h, num, delta;
	int m;

	d = 1.0 - (a + b) * x / (a + 1.0);
	if (fabs(d) < tiny)
		d = tiny;
	d = 1.0 / d;
	h = d;
	for (m = 1; m <= 1000; m++) {
		/* even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)) */
		num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
		d = 1.0 + num * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + num / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		h *= d * c;
		/* odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)) */
		num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
		d = 1.0 + num * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + num / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		delta = d * c;
		h *= delta;
		if (fabs(delta - 1.0) < eps)
			break;
	}
	return h;
}

/* Regularized incomplete beta I_x(a, b), a, b > 0. */
static double beta_inc(double a, double b, double x)
{
	double front;

	if (!(x > 0.0))
		return 0.0;
	if (!(x < 1.0))
		return 1.0;
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
	if (x < (a + 1.0) / (a + b + 2.0))
		return front * beta_cf(a, b, x) / a;
	return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

/* P(T > t) for t >= 0: half of I_{df/(df+t^2)}(df/2, 1/2). */
static double t_upper_tail(double t, double df)
{
	return 0.5 * beta_inc(df / 2.0, 0.5, df / (df + t * t));
}

double czpg_stats_t_cdf(double t, double df)
{
	if (isnan(t) || !(df > 0.0))
		return NAN;
	if (t >= 0.0)
		return 1.0 - t_upper_tail(t, df);
	return t_upper_tail(-t, df);
}

double czpg_stats_t_quantile(double p, double df)
{
	double tail, lo = 0.0, hi = 1.0, mid;
	int i;

	if (!(p > 0.0 && p < 1.0) || !(df >= 1.0) || isinf(df))
		return NAN;
	if (p == 0.5)
		return 0.0;
	if (p < 0.5)
		return -czpg_stats_t_quantile(1.0 - p, df);
	/* Search on the upper tail, which keeps its precision for p near 1. */
	tail = 1.0 - p;
	while (t_upper_tail(hi, df) > tail) {
		lo = hi;
		hi *= 2.0;
		if (isinf(hi))
			return INFINITY;
	}
	for (i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
		mid = 0.5 * (lo + hi);
		if (t_upper_tail(mid, df) > tail)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

/* ------------------------------------------------------------------------ */
/* Paired analysis                                                          */

/* Pairs per block of the block bootstrap: round(n^(1/3)), at least 1. */
static size_t block_length(size_t n)
{
	size_t l = (size_t)lround(cbrt((double)n));

	return l < 1 ? 1 : l;
}

/* Mean of n values drawn as circular blocks of len consecutive d's. */
static double block_resample_mean(const double *d, size_t n, size_t len, struct czpg_rng *rng)
{
	double sum = 0.0;
	size_t got = 0, start, j;

	while (got < n) {
		start = czpg_rng_below(rng, n);
		for (j = 0; j < len && got < n; j++, got++)
			sum += d[(start + j) % n];
	}
	return sum / (double)n;
}

/*
 * Batch means: the Student-t interval over the means of `batches`
 * consecutive runs of d (the last ones one longer when n does not divide).
 */
static void batch_interval(const double *d, size_t n, size_t batches, double *lo, double *hi)
{
	double m[64], mean, sd, half;
	size_t k, i, from, to;

	for (k = 0; k < batches; k++) {
		from = k * n / batches;
		to = (k + 1) * n / batches;
		m[k] = 0.0;
		for (i = from; i < to; i++)
			m[k] += d[i];
		m[k] /= (double)(to - from);
	}
	mean = czpg_stats_mean(m, batches);
	sd = czpg_stats_stddev(m, batches);
	half = czpg_stats_t_quantile(1.0 - (1.0 - CZPG_STATS_LEVEL) / 2.0, (double)(batches - 1)) *
	       sd / sqrt((double)batches);
	*lo = expm1(mean - half);
	*hi = expm1(mean + half);
}

/* Lag-1 autocorrelation of d (0 when d does not vary). */
static double lag1_autocorrelation(const double *d, size_t n, double mean)
{
	double num = 0.0, den = 0.0;
	size_t i;

	for (i = 0; i < n; i++) {
		den += (d[i] - mean) * (d[i] - mean);
		if (i + 1 < n)
			num += (d[i] - mean) * (d[i + 1] - mean);
	}
	return den > 0.0 ? num / den : 0.0;
}

/* Trimmed mean of n values (sorts x): the middle 80%, at least one value. */
#define STATS_TRIM 0.10
/* Values sorted in all by the trimmed estimate's bootstrap, at most (about a second). */
#define STATS_TRIM_WORK 5e7
static double trimmed_mean(double *x, size_t n)
{
	size_t cut = (size_t)floor(STATS_TRIM * (double)n), i;
	double sum = 0.0;

	qsort(x, n, sizeof(*x), cmp_double);
	if (2 * cut >= n)
		cut = (n - 1) / 2;
	for (i = cut; i < n - cut; i++)
		sum += x[i];
	return sum / (double)(n - 2 * cut);
}

/* The trimmed mean of a circular block resample of d into scratch. */
static double block_resample_trimmed(const double *d, size_t n, size_t len, struct czpg_rng *rng,
				     double *scratch)
{
	size_t got = 0, start, j;

	while (got < n) {
		start = czpg_rng_below(rng, n);
		for (j = 0; j < len && got < n; j++)
			scratch[got++] = d[(start + j) % n];
	}
	return trimmed_mean(scratch, n);
}

/* Fewest pairs for the batch-means interval, and how many batches it uses. */
#define STATS_BATCH_MIN_PAIRS 20
#define STATS_BATCHES 10

int czpg_stats_paired(const double *a, const double *b, size_t n, uint64_t seed, size_t resamples,
		      struct czpg_paired_result *out, char *err, size_t errlen)
{
	const double alpha = 1.0 - CZPG_STATS_LEVEL;
	double *d = NULL, *ratio = NULL, *means = NULL;
	struct czpg_rng rng;
	double sum, half;
	size_t i, r, rt;
	int rc = -1;

	if (out == NULL) {
		czpg_errf(err, errlen, "no result structure was given to the paired analysis");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (resamples == 0)
		resamples = CZPG_STATS_DEFAULT_RESAMPLES;
	if (a == NULL || b == NULL || n < 2) {
		czpg_errf(
		    err, errlen,
		    "the paired analysis needs at least 2 TLS/plaintext pairs; run more rounds");
		goto out;
	}
	if (n > CZPG_STATS_MAX_PAIRS) {
		czpg_errf(err, errlen,
			  "%zu pairs exceed the limit of %zu; run fewer or longer rounds", n,
			  CZPG_STATS_MAX_PAIRS);
		goto out;
	}
	if (resamples < CZPG_STATS_MIN_RESAMPLES || resamples > CZPG_STATS_MAX_RESAMPLES) {
		czpg_errf(err, errlen, "%zu bootstrap resamples is outside the range %zu..%zu",
			  resamples, CZPG_STATS_MIN_RESAMPLES, CZPG_STATS_MAX_RESAMPLES);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!(isfinite(a[i]) && a[i] > 0.0) || !(isfinite(b[i]) && b[i] > 0.0)) {
			czpg_errf(err, errlen,
				  "pair %zu has a time that is not a positive finite number "
				  "(TLS %g, plaintext %g); discard that round and measure it again",
				  i + 1, a[i], b[i]);
			goto out;
		}
	}

	d = malloc(n * sizeof(*d));
	ratio = malloc(n * sizeof(*ratio));
	means = malloc(resamples * sizeof(*means));
	if (d == NULL || ratio == NULL || means == NULL) {
		czpg_errf(err, errlen, "out of memory analysing %zu pairs with %zu resamples", n,
			  resamples);
		goto out;
	}
	/* log(a) - log(b) stays finite even where a / b would overflow. */
	for (i = 0; i < n; i++) {
		d[i] = log(a[i]) - log(b[i]);
		ratio[i] = a[i] / b[i] - 1.0;
	}

	out->n = n;
	out->resamples = resamples;
	out->seed = seed;
	out->mean_d = czpg_stats_mean(d, n);
	out->sd_d = czpg_stats_stddev(d, n);
	out->se_d = out->sd_d / sqrt((double)n);
	out->overhead = expm1(out->mean_d);
	out->min_d = d[0];
	out->max_d = d[0];
	for (i = 1; i < n; i++) {
		out->min_d = fmin(out->min_d, d[i]);
		out->max_d = fmax(out->max_d, d[i]);
	}

	out->t_crit = czpg_stats_t_quantile(1.0 - alpha / 2.0, (double)(n - 1));
	half = out->t_crit * out->se_d;
	out->t_lo = expm1(out->mean_d - half);
	out->t_hi = expm1(out->mean_d + half);

	/* Percentile bootstrap: resample whole pairs with replacement. */
	czpg_rng_seed(&rng, seed);
	for (r = 0; r < resamples; r++) {
		sum = 0.0;
		for (i = 0; i < n; i++)
			sum += d[czpg_rng_below(&rng, n)];
		means[r] = sum / (double)n;
	}
	qsort(means, resamples, sizeof(*means), cmp_double);
	out->boot_lo = expm1(quantile_sorted(means, resamples, alpha / 2.0));
	out->boot_hi = expm1(quantile_sorted(means, resamples, 1.0 - alpha / 2.0));

	/* The same from blocks of consecutive pairs, on the same generator. */
	out->block_len = block_length(n);
	for (r = 0; r < resamples; r++)
		means[r] = block_resample_mean(d, n, out->block_len, &rng);
	qsort(means, resamples, sizeof(*means), cmp_double);
	out->block_lo = expm1(quantile_sorted(means, resamples, alpha / 2.0));
	out->block_hi = expm1(quantile_sorted(means, resamples, 1.0 - alpha / 2.0));
	if (n >= STATS_BATCH_MIN_PAIRS) {
		out->batches = STATS_BATCHES;
		batch_interval(d, n, out->batches, &out->batch_lo, &out->batch_hi);
	} else {
		out->batch_lo = out->batch_hi = NAN;
	}
	out->lag1 = lag1_autocorrelation(d, n, out->mean_d);

	/*
	 * The robust estimate and its block bootstrap (ratio is free again
	 * below).  Each resample sorts n values: past STATS_TRIM_WORK values in
	 * all, fewer resamples (a day of 200 ms pairs would otherwise take
	 * minutes), never fewer than 1000.
	 */
	memcpy(ratio, d, n * sizeof(*ratio));
	out->trim = expm1(trimmed_mean(ratio, n));
	rt = resamples;
	if ((double)rt * (double)n > STATS_TRIM_WORK)
		rt = (size_t)(STATS_TRIM_WORK / (double)n) > 1000
			 ? (size_t)(STATS_TRIM_WORK / (double)n)
			 : 1000;
	if (rt > resamples)
		rt = resamples;
	for (r = 0; r < rt; r++)
		means[r] = block_resample_trimmed(d, n, out->block_len, &rng, ratio);
	qsort(means, rt, sizeof(*means), cmp_double);
	out->trim_lo = expm1(quantile_sorted(means, rt, alpha / 2.0));
	out->trim_hi = expm1(quantile_sorted(means, rt, 1.0 - alpha / 2.0));
	for (i = 0; i < n; i++)
		ratio[i] = a[i] / b[i] - 1.0;

	qsort(ratio, n, sizeof(*ratio), cmp_double);
	out->pair_min = ratio[0];
	out->pair_p05 = quantile_sorted(ratio, n, 0.05);
	out->pair_p25 = quantile_sorted(ratio, n, 0.25);
	out->pair_p50 = quantile_sorted(ratio, n, 0.50);
	out->pair_p75 = quantile_sorted(ratio, n, 0.75);
	out->pair_p95 = quantile_sorted(ratio, n, 0.95);
	out->pair_max = ratio[n - 1];
	rc = 0;
out:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	free(d);
	free(ratio);
	free(means);
	return rc;
}

void czpg_stats_widest(const struct czpg_paired_result *r, double *lo, double *hi)
{
	*lo = fmin(fmin(r->boot_lo, r->t_lo), r->block_lo);
	*hi = fmax(fmax(r->boot_hi, r->t_hi), r->block_hi);
	if (r->batches > 0) {
		*lo = fmin(*lo, r->batch_lo);
		*hi = fmax(*hi, r->batch_hi);
	}
}

/* d_i = ln(a_i / b_i) into a new array; NULL when out of memory. */
static double *log_ratios(const double *a, const double *b, size_t n)
{
	double *d = malloc(n * sizeof(*d));
	size_t i;

	for (i = 0; d != NULL && i < n; i++)
		d[i] = log(a[i]) - log(b[i]);
	return d;
}

int czpg_stats_diff(const double *xa, const double *xb, size_t nx, const double *ya,
		    const double *yb, size_t ny, uint64_t seed, size_t resamples,
		    struct czpg_diff_result *out, char *err, size_t errlen)
{
	const double alpha = 1.0 - CZPG_STATS_LEVEL;
	struct czpg_paired_result x, y;
	double *dx = NULL, *dy = NULL, *diffs = NULL;
	double xlo, xhi, ylo, yhi, se, z;
	struct czpg_rng rng;
	size_t r, lx, ly;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (resamples == 0)
		resamples = CZPG_STATS_DEFAULT_RESAMPLES;
	/* Each run must be analysable on its own: the same checks, the same sentences. */
	if (czpg_stats_paired(xa, xb, nx, seed, resamples, &x, err, errlen) < 0 ||
	    czpg_stats_paired(ya, yb, ny, seed, resamples, &y, err, errlen) < 0)
		return -1;
	dx = log_ratios(xa, xb, nx);
	dy = log_ratios(ya, yb, ny);
	diffs = malloc(resamples * sizeof(*diffs));
	if (dx == NULL || dy == NULL || diffs == NULL) {
		czpg_errf(err, errlen, "out of memory comparing %zu and %zu pairs", nx, ny);
		goto out;
	}
	lx = block_length(nx);
	ly = block_length(ny);
	czpg_rng_seed(&rng, seed);
	for (r = 0; r < resamples; r++)
		diffs[r] = expm1(block_resample_mean(dx, nx, lx, &rng)) -
			   expm1(block_resample_mean(dy, ny, ly, &rng));
	qsort(diffs, resamples, sizeof(*diffs), cmp_double);
	out->diff = x.overhead - y.overhead;
	out->boot_lo = quantile_sorted(diffs, resamples, alpha / 2.0);
	out->boot_hi = quantile_sorted(diffs, resamples, 1.0 - alpha / 2.0);
	/* Normal: each run's widest interval read as +-z standard errors. */
	z = czpg_stats_t_quantile(1.0 - alpha / 2.0, 1e6);
	czpg_stats_widest(&x, &xlo, &xhi);
	czpg_stats_widest(&y, &ylo, &yhi);
	se = sqrt(pow((xhi - xlo) / (2 * z), 2) + pow((yhi - ylo) / (2 * z), 2));
	out->norm_lo = out->diff - z * se;
	out->norm_hi = out->diff + z * se;
	out->lo = fmin(out->boot_lo, out->norm_lo);
	out->hi = fmax(out->boot_hi, out->norm_hi);
	rc = 0;
out:
	free(dx);
	free(dy);
	free(diffs);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Gate                                                                     */

enum czpg_gate czpg_stats_gate(double lo, double hi, double max_overhead)
{
	if (isnan(lo) || isnan(hi) || isnan(max_overhead) || lo > hi)
		return CZPG_GATE_STRADDLE;
	if (hi < max_overhead)
		return CZPG_GATE_BELOW;
	if (lo > max_overhead)
		return CZPG_GATE_ABOVE;
	return CZPG_GATE_STRADDLE;
}

const char *czpg_stats_gate_name(enum czpg_gate gate)
{
	switch (gate) {
	case CZPG_GATE_BELOW:
		return "below";
	case CZPG_GATE_ABOVE:
		return "above";
	case CZPG_GATE_STRADDLE:
		return "straddle";
	}
	return "unknown";
}

bool czpg_stats_need_more(enum czpg_gate gate, size_t pairs_done, size_t min_pairs,
			  double elapsed_s, double next_pair_s, double budget_s)
{
	/* NaN anywhere in the clock means we cannot tell: stop. */
	if (!(elapsed_s + next_pair_s <= budget_s))
		return false;
	return pairs_done < min_pairs || gate == CZPG_GATE_STRADDLE;
}

/* ------------------------------------------------------------------------ */
/* Histogram                                                                */

#define SUB_COUNT ((uint64_t)1 << CZPG_HIST_SUB_BITS)

static size_t hist_index(uint64_t v)
{
	int e = 63 - __builtin_clzll(v);
	uint64_t sub = (v >> (e - CZPG_HIST_SUB_BITS)) - SUB_COUNT;

	return ((size_t)(e - CZPG_HIST_FIRST_EXP) << CZPG_HIST_SUB_BITS) + (size_t)sub;
}

/* Midpoint of bucket i: lower bound plus half its width. */
static uint64_t hist_bucket_mid(size_t i)
{
	int shift = CZPG_HIST_FIRST_EXP + (int)(i >> CZPG_HIST_SUB_BITS) - CZPG_HIST_SUB_BITS;
	uint64_t lower = (SUB_COUNT + (i & (SUB_COUNT - 1))) << shift;

	return lower + (((uint64_t)1 << shift) >> 1);
}

void czpg_hist_init(struct czpg_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

void czpg_hist_record(struct czpg_hist *h, uint64_t ns)
{
	uint64_t v = ns;

	if (v < CZPG_HIST_LOWEST_NS) {
		v = CZPG_HIST_LOWEST_NS;
		h->underflow++;
	} else if (v > CZPG_HIST_HIGHEST_NS) {
		v = CZPG_HIST_HIGHEST_NS;
		h->overflow++;
	}
	h->counts[hist_index(v)]++;
	h->count++;
	h->sum_ns += (double)ns;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void czpg_hist_merge(struct czpg_hist *dst, const struct czpg_hist *src)
{
	size_t i;

	if (src->count == 0)
		return;
	for (i = 0; i < CZPG_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->underflow += src->underflow;
	dst->overflow += src->overflow;
	dst->sum_ns += src->sum_ns;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t czpg_hist_percentile(const struct czpg_hist *h, double p)
{
	uint64_t rank, cum = 0, v;
	size_t i;

	if (h->count == 0 || !(p >= 0.0 && p <= 100.0))
		return 0;
	if (p == 0.0)
		return h->min_ns;
	if (p == 100.0)
		return h->max_ns;
	rank = (uint64_t)ceil(p * (double)h->count / 100.0);
	if (rank == 0)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < CZPG_HIST_BUCKETS; i++) {
		cum += h->counts[i];
		if (cum >= rank)
			break;
	}
	v = hist_bucket_mid(i < CZPG_HIST_BUCKETS ? i : CZPG_HIST_BUCKETS - 1);
	if (v < h->min_ns)
		v = h->min_ns;
	if (v > h->max_ns)
		v = h->max_ns;
	return v;
}

double czpg_hist_mean(const struct czpg_hist *h)
{
	return h->count == 0 ? NAN : h->sum_ns / (double)h->count;
}

void czpg_hist_summarize(const struct czpg_hist *h, struct czpg_hist_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->count = h->count;
	s->underflow = h->underflow;
	s->overflow = h->overflow;
	s->mean_ns = czpg_hist_mean(h);
	if (h->count == 0)
		return;
	s->min_ns = h->min_ns;
	s->p50_ns = czpg_hist_percentile(h, 50.0);
	s->p90_ns = czpg_hist_percentile(h, 90.0);
	s->p99_ns = czpg_hist_percentile(h, 99.0);
	s->p999_ns = czpg_hist_percentile(h, 99.9);
	s->max_ns = h->max_ns;
}
