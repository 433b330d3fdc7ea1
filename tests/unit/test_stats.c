/*
 * test_stats.c - unit tests for the paired A/B statistics, the release gate,
 * the latency histogram and the summary helpers (czpg/stats.h).
 *
 * Expected values come from three places, never from the code under test:
 * literal numbers worked out by hand (shown in comments), closed forms of
 * Student's t for small degrees of freedom, and a second, deliberately
 * different computation written out in this file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/stats.h"

#define assert_close(got, want, tol)                                                               \
	do {                                                                                       \
		double g_ = (got), w_ = (want), t_ = (tol);                                        \
		if (!(fabs(g_ - w_) <= t_))                                                        \
			fail_msg("%s = %.15g, expected %.15g (tolerance %g)", #got, g_, w_, t_);   \
	} while (0)

#define assert_rel(got, want, rel) assert_close((got), (want), fabs(want) * (rel))

/* ---------------------------------------------------------------------- */
/* PRNG                                                                   */

static void test_rng_reference_values(void **state)
{
	struct czpg_rng rng;

	(void)state;
	czpg_rng_seed(&rng, 0);
	/* splitmix64 from seed 0: the published first four outputs. */
	assert_true(rng.s[0] == 0xe220a8397b1dcdafULL);
	assert_true(rng.s[1] == 0x6e789e6aa1b965f4ULL);
	assert_true(rng.s[2] == 0x06c45d188009454fULL);
	assert_true(rng.s[3] == 0xf88bb8a8724c81ecULL);
	/* xoshiro256** from that state, from an independent implementation. */
	assert_true(czpg_rng_next(&rng) == 0x99ec5f36cb75f2b4ULL);
	assert_true(czpg_rng_next(&rng) == 0xbf6e1f784956452aULL);
	assert_true(czpg_rng_next(&rng) == 0x1a5f849d4933e6e0ULL);
}

static void test_rng_below_uniform(void **state)
{
	struct czpg_rng rng;
	uint64_t counts[6] = {0};
	const int draws = 600000;
	double u, lo = 1.0, hi = 0.0;
	int i;

	(void)state;
	czpg_rng_seed(&rng, 42);
	for (i = 0; i < draws; i++) {
		uint64_t v = czpg_rng_below(&rng, 6);

		assert_true(v < 6);
		counts[v]++;
	}
	/* expected 100000 each; sd ~ 289, so 2% is about 7 sd */
	for (i = 0; i < 6; i++)
		assert_close((double)counts[i], draws / 6.0, draws / 6.0 * 0.02);
	assert_true(czpg_rng_below(&rng, 0) == 0);
	assert_true(czpg_rng_below(&rng, 1) == 0);
	for (i = 0; i < 100000; i++) {
		u = czpg_rng_uniform(&rng);
		assert_true(u >= 0.0 && u < 1.0);
		lo = fmin(lo, u);
		hi = fmax(hi, u);
	}
	assert_true(lo < 0.001 && hi > 0.999);
}

/* ---------------------------------------------------------------------- */
/* Student's t                                                            */

static void test_t_quantile_closed_forms(void **state)
{
	const double ps[] = {0.6, 0.9, 0.95, 0.975, 0.995, 0.9995, 0.1, 0.025};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		double p = ps[i];
		/* df = 1 (Cauchy): tan(pi (p - 1/2)) */
		double t1 = tan(M_PI * (p - 0.5));
		/* df = 2: (2p - 1) / sqrt(2 p (1 - p)) */
		double t2 = (2.0 * p - 1.0) / sqrt(2.0 * p * (1.0 - p));
		/* df = 4: a = 4p(1-p), q = cos(acos(sqrt a) / 3) / sqrt a, t = 2 sqrt(q - 1) */
		double a4 = 4.0 * p * (1.0 - p);
		double q4 = cos(acos(sqrt(a4)) / 3.0) / sqrt(a4);
		double t4 = (p < 0.5 ? -2.0 : 2.0) * sqrt(q4 - 1.0);

		assert_rel(czpg_stats_t_quantile(p, 1.0), t1, 1e-9);
		assert_rel(czpg_stats_t_quantile(p, 2.0), t2, 1e-9);
		assert_rel(czpg_stats_t_quantile(p, 4.0), t4, 1e-9);
	}
	assert_true(czpg_stats_t_quantile(0.5, 7.0) == 0.0);
}

static void test_t_quantile_table(void **state)
{
	(void)state;
	/* two-sided 95% critical values from printed t tables */
	assert_close(czpg_stats_t_quantile(0.975, 1), 12.7062047, 1e-6);
	assert_close(czpg_stats_t_quantile(0.975, 4), 2.7764451, 1e-6);
	assert_close(czpg_stats_t_quantile(0.975, 9), 2.2621572, 1e-6);
	assert_close(czpg_stats_t_quantile(0.975, 29), 2.0452296, 1e-6);
	assert_close(czpg_stats_t_quantile(0.975, 100), 1.9839715, 1e-6);
	assert_close(czpg_stats_t_quantile(0.995, 10), 3.1692727, 1e-6);
	/* tends to the normal quantile 1.959964 */
	assert_close(czpg_stats_t_quantile(0.975, 1e7), 1.9599640, 1e-6);
	assert_true(isnan(czpg_stats_t_quantile(0.0, 5)));
	assert_true(isnan(czpg_stats_t_quantile(1.0, 5)));
	assert_true(isnan(czpg_stats_t_quantile(0.9, 0.5)));
	assert_true(isnan(czpg_stats_t_quantile(NAN, 5)));
}

static void test_t_cdf_closed_forms(void **state)
{
	const double ts[] = {-30.0, -2.5, -0.3, 0.0, 0.7, 1.0, 3.2, 50.0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		double t = ts[i];
		double c1 = 0.5 + atan(t) / M_PI;
		double c2 = 0.5 + t / (2.0 * sqrt(2.0 + t * t));
		double c3 =
		    0.5 + (t / (sqrt(3.0) * (1.0 + t * t / 3.0)) + atan(t / sqrt(3.0))) / M_PI;

		assert_close(czpg_stats_t_cdf(t, 1.0), c1, 1e-12);
		assert_close(czpg_stats_t_cdf(t, 2.0), c2, 1e-12);
		assert_close(czpg_stats_t_cdf(t, 3.0), c3, 1e-12);
	}
}

/* ---------------------------------------------------------------------- */
/* Paired analysis                                                        */

/*
 * d = {0.01, 0.02, 0.03, 0.04, 0.05} (a = e^d, b = 1), worked by hand:
 *   mean d = 0.03
 *   sd     = sqrt((4 + 1 + 0 + 1 + 4) e-4 / 4) = sqrt(2.5e-4) = 0.0158113883
 *   se     = sd / sqrt 5 = 0.01 / sqrt 2 = 0.0070710678
 *   t      = t(0.975, 4) = 2.7764451052, half = 0.0196325260
 *   overhead = e^0.03 - 1 = 0.0304545340
 *   t interval = e^(0.03 -+ 0.0196325260) - 1 = [0.0104214978, 0.0508847534]
 *   pair overheads e^d - 1, type-7 quantiles over 5 sorted values:
 *     p25 = index 1 = e^0.02 - 1 = 0.0202013400, p50 = e^0.03 - 1,
 *     p05 = r0 + 0.2 (r1 - r0) = 0.0120804017
 */
static void test_paired_hand_worked(void **state)
{
	const double d[5] = {0.03, 0.01, 0.05, 0.02, 0.04}; /* order must not matter */
	double a[5], b[5], sum = 0.0, sumsq = 0.0, mean, sd, half;
	struct czpg_paired_result r;
	char err[256] = "";
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		a[i] = 2.0 * exp(d[i]);
		b[i] = 2.0;
	}
	assert_int_equal(czpg_stats_paired(a, b, 5, 1, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.resamples, CZPG_STATS_DEFAULT_RESAMPLES);

	/* literal hand-worked values */
	assert_close(r.mean_d, 0.03, 1e-12);
	assert_close(r.sd_d, 0.0158113883, 1e-10);
	assert_close(r.se_d, 0.0070710678, 1e-10);
	assert_close(r.t_crit, 2.7764451052, 1e-9);
	assert_close(r.overhead, 0.0304545340, 1e-10);
	assert_close(r.t_lo, 0.0104214978, 1e-9);
	assert_close(r.t_hi, 0.0508847534, 1e-9);
	assert_close(r.min_d, 0.01, 1e-12);
	assert_close(r.max_d, 0.05, 1e-12);
	assert_close(r.pair_min, 0.0100501671, 1e-10);
	assert_close(r.pair_p05, 0.0120804017, 1e-9);
	assert_close(r.pair_p25, 0.0202013400, 1e-10);
	assert_close(r.pair_p50, 0.0304545340, 1e-10);
	assert_close(r.pair_max, 0.0512710964, 1e-10);

	/* second computation: sum-of-squares variance, closed-form t for df = 4 */
	for (i = 0; i < 5; i++) {
		sum += d[i];
		sumsq += d[i] * d[i];
	}
	mean = sum / 5.0;
	sd = sqrt((sumsq - 5.0 * mean * mean) / 4.0);
	{
		double a4 = 4.0 * 0.975 * 0.025;
		double q4 = cos(acos(sqrt(a4)) / 3.0) / sqrt(a4);

		half = 2.0 * sqrt(q4 - 1.0) * sd / sqrt(5.0);
	}
	assert_close(r.mean_d, mean, 1e-12);
	assert_close(r.sd_d, sd, 1e-9);
	assert_close(r.t_lo, exp(mean - half) - 1.0, 1e-9);
	assert_close(r.t_hi, exp(mean + half) - 1.0, 1e-9);

	/* bootstrap means of 5 values lie within [min d, max d] and around the mean */
	assert_true(r.boot_lo >= r.pair_min && r.boot_lo < r.overhead);
	assert_true(r.boot_hi <= r.pair_max && r.boot_hi > r.overhead);
}

/*
 * Two pairs, d = {0, ln 2}.  A bootstrap resample mean is 0, ln2/2 or ln2
 * with probabilities 1/4, 1/2, 1/4, so with 10,000 resamples the 2.5% and
 * 97.5% points are the atoms 0 and ln 2: interval [e^0 - 1, e^ln2 - 1] =
 * [0, 1] (failure would need fewer than 250 of 10,000 draws at an atom of
 * probability 1/4).  overhead = sqrt 2 - 1.
 */
static void test_paired_two_pairs_atoms(void **state)
{
	const double a[2] = {1.0, 2.0}, b[2] = {1.0, 1.0};
	struct czpg_paired_result r;

	(void)state;
	assert_int_equal(czpg_stats_paired(a, b, 2, 7, 10000, &r, NULL, 0), 0);
	assert_close(r.overhead, M_SQRT2 - 1.0, 1e-12);
	assert_close(r.boot_lo, 0.0, 1e-15);
	assert_close(r.boot_hi, 1.0, 1e-12);
	/* df = 1: t = 12.7062047, se = (ln2 / sqrt2) / sqrt2 = ln2 / 2 */
	assert_close(r.t_lo, exp(M_LN2 / 2.0 - 12.7062047362 * M_LN2 / 2.0) - 1.0, 1e-8);
	assert_close(r.t_hi, exp(M_LN2 / 2.0 + 12.7062047362 * M_LN2 / 2.0) - 1.0, 1e-6);
}

static void test_paired_identical(void **state)
{
	double a[50];
	struct czpg_paired_result r;
	size_t i;

	(void)state;
	for (i = 0; i < 50; i++)
		a[i] = 0.001 * (1.0 + (double)(i % 7));
	assert_int_equal(czpg_stats_paired(a, a, 50, 3, 2000, &r, NULL, 0), 0);
	assert_true(r.overhead == 0.0);
	assert_true(r.boot_lo == 0.0 && r.boot_hi == 0.0);
	assert_true(r.t_lo == 0.0 && r.t_hi == 0.0);
	assert_true(r.sd_d == 0.0);
	assert_true(r.pair_min == 0.0 && r.pair_max == 0.0 && r.pair_p50 == 0.0);
	assert_int_equal(czpg_stats_gate(r.boot_lo, r.boot_hi, 0.02), CZPG_GATE_BELOW);
}

/* Box-Muller normal draw from the library PRNG. */
static double normal(struct czpg_rng *rng)
{
	double u1 = 1.0 - czpg_rng_uniform(rng), u2 = czpg_rng_uniform(rng);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* n pairs with d ~ N(mu, sigma) on top of drifting base times. */
static void synth_pairs(struct czpg_rng *rng, size_t n, double mu, double sigma, double *a,
			double *b)
{
	size_t i;

	for (i = 0; i < n; i++) {
		/* machine speed drifts by tens of percent; the pair ratio does not */
		double base = 0.010 * (1.0 + 0.3 * sin((double)i / 17.0));

		b[i] = base;
		a[i] = base * exp(mu + sigma * normal(rng));
	}
}

static void test_paired_contains_truth_and_narrows(void **state)
{
	const size_t ns[3] = {50, 200, 1000};
	const double mu = log(1.03), truth = 0.03; /* 3% overhead */
	double *a = malloc(1000 * sizeof(*a)), *b = malloc(1000 * sizeof(*b));
	double width[3], boot_w, t_w;
	struct czpg_paired_result r;
	struct czpg_rng rng;
	size_t k;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	czpg_rng_seed(&rng, 2024);
	for (k = 0; k < 3; k++) {
		synth_pairs(&rng, ns[k], mu, 0.08, a, b);
		assert_int_equal(czpg_stats_paired(a, b, ns[k], 11, 10000, &r, NULL, 0), 0);
		assert_true(r.boot_lo < truth && truth < r.boot_hi);
		assert_true(r.t_lo < truth && truth < r.t_hi);
		assert_true(r.boot_lo < r.overhead && r.overhead < r.boot_hi);
		width[k] = r.boot_hi - r.boot_lo;
		/* for normal d the bootstrap and t intervals agree closely */
		boot_w = r.boot_hi - r.boot_lo;
		t_w = r.t_hi - r.t_lo;
		assert_close(boot_w, t_w, 0.15 * t_w);
	}
	/* width shrinks like 1/sqrt(n): 50 -> 200 halves it, 200 -> 1000 by ~2.2 */
	assert_true(width[1] < 0.7 * width[0]);
	assert_true(width[2] < 0.7 * width[1]);
	free(a);
	free(b);
}

/*
 * Coverage: over 400 independent synthetic experiments of 20 pairs the 95%
 * intervals must contain the true overhead roughly 95% of the time (the
 * percentile bootstrap runs a little narrow at n = 20).  Deterministic seeds,
 * so this cannot flake.
 */
static void test_paired_coverage(void **state)
{
	const size_t n = 20, runs = 400;
	const double mu = log(1.05), truth = 0.05;
	double a[20], b[20];
	struct czpg_paired_result r;
	struct czpg_rng rng;
	size_t i, boot_hits = 0, t_hits = 0;

	(void)state;
	czpg_rng_seed(&rng, 99);
	for (i = 0; i < runs; i++) {
		synth_pairs(&rng, n, mu, 0.1, a, b);
		assert_int_equal(czpg_stats_paired(a, b, n, i, 2000, &r, NULL, 0), 0);
		boot_hits += r.boot_lo <= truth && truth <= r.boot_hi;
		t_hits += r.t_lo <= truth && truth <= r.t_hi;
	}
	print_message("coverage over %zu runs: bootstrap %.3f, t %.3f\n", runs,
		      (double)boot_hits / runs, (double)t_hits / runs);
	assert_true(boot_hits >= 0.88 * runs && boot_hits <= 0.985 * runs);
	assert_true(t_hits >= 0.91 * runs && t_hits <= 0.985 * runs);
}

static void test_paired_reproducible(void **state)
{
	double a[64], b[64];
	struct czpg_paired_result r1, r2, r3;
	struct czpg_rng rng;

	(void)state;
	czpg_rng_seed(&rng, 5);
	synth_pairs(&rng, 64, 0.02, 0.05, a, b);
	assert_int_equal(czpg_stats_paired(a, b, 64, 1234, 5000, &r1, NULL, 0), 0);
	assert_int_equal(czpg_stats_paired(a, b, 64, 1234, 5000, &r2, NULL, 0), 0);
	assert_int_equal(czpg_stats_paired(a, b, 64, 4321, 5000, &r3, NULL, 0), 0);
	assert_memory_equal(&r1, &r2, sizeof(r1));
	assert_true(r1.seed == 1234 && r3.seed == 4321);
	/* a different seed gives a different (but close) bootstrap interval */
	assert_true(r1.boot_lo != r3.boot_lo || r1.boot_hi != r3.boot_hi);
	assert_close(r1.boot_lo, r3.boot_lo, 0.1 * (r1.boot_hi - r1.boot_lo));
	/* the non-random parts do not depend on the seed */
	assert_true(r1.overhead == r3.overhead && r1.t_lo == r3.t_lo && r1.t_hi == r3.t_hi);
}

static void test_paired_rejects_bad_input(void **state)
{
	double a[3] = {1.0, 2.0, 3.0}, b[3] = {1.0, 1.0, 1.0};
	struct czpg_paired_result r;
	char err[256];

	(void)state;
	err[0] = '\0';
	assert_int_equal(czpg_stats_paired(a, b, 1, 0, 0, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at least 2"));
	assert_int_equal(r.n, 0);

	err[0] = '\0';
	assert_int_equal(czpg_stats_paired(a, b, 3, 0, 10, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "resamples"));

	err[0] = '\0';
	assert_int_equal(
	    czpg_stats_paired(a, b, 3, 0, CZPG_STATS_MAX_RESAMPLES + 1, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "resamples"));

	b[1] = 0.0;
	err[0] = '\0';
	assert_int_equal(czpg_stats_paired(a, b, 3, 0, 0, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pair 2"));
	b[1] = 1.0;
	a[2] = NAN;
	assert_int_equal(czpg_stats_paired(a, b, 3, 0, 0, &r, err, sizeof(err)), -1);
	a[2] = INFINITY;
	assert_int_equal(czpg_stats_paired(a, b, 3, 0, 0, &r, err, sizeof(err)), -1);
	a[2] = -1.0;
	assert_int_equal(czpg_stats_paired(a, b, 3, 0, 0, &r, NULL, 0), -1);
	assert_int_equal(czpg_stats_paired(NULL, b, 3, 0, 0, &r, NULL, 0), -1);
	assert_int_equal(czpg_stats_paired(a, b, 3, 0, 0, NULL, err, sizeof(err)), -1);
	/* a too small error buffer truncates but stays terminated */
	assert_int_equal(czpg_stats_paired(a, b, 0, 0, 0, &r, err, 8), -1);
	assert_int_equal(strlen(err), 7);
}

static void test_paired_extreme_ratio(void **state)
{
	/* a / b would overflow a double; log(a) - log(b) does not */
	const double a[2] = {1e300, 1e300}, b[2] = {1e-300, 1e-300};
	struct czpg_paired_result r;

	(void)state;
	assert_int_equal(czpg_stats_paired(a, b, 2, 0, 0, &r, NULL, 0), 0);
	assert_close(r.mean_d, 600.0 * M_LN10, 1e-9);
	assert_true(isfinite(r.mean_d) && r.sd_d == 0.0);
}

/* ---------------------------------------------------------------------- */
/* Gate                                                                   */

/*
 * Pairs with overhead o: b_i = 1, a_i = (1 + o) exp(e_i) with e an AR(1)
 * series e_i = phi e_(i-1) + sigma z_i (phi = 0: independent pairs).
 */
static void ar1_pairs(double *a, double *b, size_t n, double o, double phi, double sigma,
		      uint64_t seed)
{
	struct czpg_rng rng;
	double e = 0;
	size_t i;

	czpg_rng_seed(&rng, seed);
	for (i = 0; i < n; i++) {
		e = phi * e + sigma * normal(&rng);
		b[i] = 1.0;
		a[i] = (1.0 + o) * exp(e);
	}
}

/*
 * Independent pairs: the block bootstrap and the batch means agree with the
 * plain intervals (within a fifth of their width), lag-1 autocorrelation is
 * near 0, and the widest interval contains every other one.
 */
static void test_paired_dependent_intervals_iid(void **state)
{
	double a[400], b[400], lo, hi, w;
	struct czpg_paired_result r;
	char err[128];

	(void)state;
	ar1_pairs(a, b, 400, 0.05, 0.0, 0.02, 7);
	assert_int_equal(czpg_stats_paired(a, b, 400, 1, 2000, &r, err, sizeof(err)), 0);
	assert_int_equal(r.block_len, 7); /* round(400^(1/3)) */
	assert_int_equal(r.batches, 10);
	assert_true(fabs(r.lag1) < 0.15);
	w = r.boot_hi - r.boot_lo;
	assert_close(r.block_hi - r.block_lo, w, 0.2 * w);
	assert_true(r.batch_lo < r.overhead && r.overhead < r.batch_hi);
	czpg_stats_widest(&r, &lo, &hi);
	assert_true(lo <= r.boot_lo && lo <= r.t_lo && lo <= r.block_lo && lo <= r.batch_lo);
	assert_true(hi >= r.boot_hi && hi >= r.t_hi && hi >= r.block_hi && hi >= r.batch_hi);
	/* the truth, 5%, inside */
	assert_true(r.block_lo < 0.05 && 0.05 < r.block_hi);
}

/*
 * Neighbouring pairs that err alike (AR(1), phi = 0.8): the plain bootstrap
 * is far too narrow, the block and batch intervals are not, and over 200
 * such runs the widest interval covers the truth at least 90% of the time
 * while the plain bootstrap covers it far less often.
 */
static void test_paired_dependent_intervals_ar1(void **state)
{
	double a[300], b[300], lo, hi;
	struct czpg_paired_result r;
	int run, boot_in = 0, widest_in = 0;
	char err[128];

	(void)state;
	for (run = 0; run < 200; run++) {
		ar1_pairs(a, b, 300, 0.02, 0.8, 0.01, 1000 + (uint64_t)run);
		assert_int_equal(
		    czpg_stats_paired(a, b, 300, (uint64_t)run, 400, &r, err, sizeof(err)), 0);
		if (run == 0) {
			assert_true(r.lag1 > 0.6);
			assert_true(r.batch_hi - r.batch_lo > 1.8 * (r.boot_hi - r.boot_lo));
		}
		boot_in += r.boot_lo < 0.02 && 0.02 < r.boot_hi;
		czpg_stats_widest(&r, &lo, &hi);
		widest_in += lo < 0.02 && 0.02 < hi;
	}
	if (widest_in < 180 || boot_in > 150)
		fail_msg("coverage over 200 runs: widest %d, bootstrap %d", widest_in, boot_in);
}

/*
 * The robust estimate: a tenth of the pairs hit by a +60% burst (on either
 * side, as ABBA makes them) move the mean, hardly the trimmed mean.
 */
static void test_paired_trimmed(void **state)
{
	double a[200], b[200];
	struct czpg_paired_result r;
	char err[128];
	size_t i;

	(void)state;
	ar1_pairs(a, b, 200, 0.03, 0.0, 0.005, 3);
	/* as many bursts on each side, as ABBA makes them on average */
	for (i = 0; i < 200; i += 10) {
		if (i % 20 == 0)
			a[i] *= 1.6;
		else
			b[i] *= 1.6; /* the burst hit the plaintext round */
	}
	assert_int_equal(czpg_stats_paired(a, b, 200, 1, 2000, &r, err, sizeof(err)), 0);
	assert_close(r.trim, 0.03, 0.003);
	assert_true(r.trim_lo < 0.03 && 0.03 < r.trim_hi);
	assert_true(r.trim_hi - r.trim_lo < 0.5 * (r.boot_hi - r.boot_lo));
}

/*
 * The difference of two runs' overheads, in points: +12% minus +10% is +2
 * points, inside both intervals; with the runs swapped, -2.
 */
static void test_diff(void **state)
{
	double xa[120], xb[120], ya[150], yb[150];
	struct czpg_diff_result d;
	char err[128];

	(void)state;
	ar1_pairs(xa, xb, 120, 0.12, 0.0, 0.01, 21);
	ar1_pairs(ya, yb, 150, 0.10, 0.0, 0.01, 22);
	assert_int_equal(czpg_stats_diff(xa, xb, 120, ya, yb, 150, 5, 2000, &d, err, sizeof(err)),
			 0);
	assert_close(d.diff, 0.02, 0.004);
	assert_true(d.boot_lo < d.diff && d.diff < d.boot_hi);
	assert_true(d.lo <= d.boot_lo && d.lo <= d.norm_lo && d.hi >= d.boot_hi &&
		    d.hi >= d.norm_hi);
	assert_true(d.lo < 0.02 && 0.02 < d.hi && d.lo > 0.0);
	assert_int_equal(czpg_stats_diff(ya, yb, 150, xa, xb, 120, 5, 2000, &d, err, sizeof(err)),
			 0);
	assert_close(d.diff, -0.02, 0.004);
	/* a run too short to analyse says which */
	assert_int_equal(czpg_stats_diff(xa, xb, 1, ya, yb, 150, 5, 2000, &d, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "at least 2"));
}

static void test_gate_outcomes(void **state)
{
	(void)state;
	/* threshold 2% = 0.02, intervals as fractions */
	assert_int_equal(czpg_stats_gate(0.004, 0.013, 0.02), CZPG_GATE_BELOW);
	assert_int_equal(czpg_stats_gate(0.031, 0.052, 0.02), CZPG_GATE_ABOVE);
	assert_int_equal(czpg_stats_gate(0.011, 0.027, 0.02), CZPG_GATE_STRADDLE);
	/* a faster TLS is below any non-negative threshold */
	assert_int_equal(czpg_stats_gate(-0.03, -0.01, 0.0), CZPG_GATE_BELOW);
	/* touching the threshold is not a pass and not a fail */
	assert_int_equal(czpg_stats_gate(0.01, 0.02, 0.02), CZPG_GATE_STRADDLE);
	assert_int_equal(czpg_stats_gate(0.02, 0.03, 0.02), CZPG_GATE_STRADDLE);
	/* malformed intervals never pass */
	assert_int_equal(czpg_stats_gate(NAN, 0.01, 0.02), CZPG_GATE_STRADDLE);
	assert_int_equal(czpg_stats_gate(0.0, NAN, 0.02), CZPG_GATE_STRADDLE);
	assert_int_equal(czpg_stats_gate(0.0, 0.01, NAN), CZPG_GATE_STRADDLE);
	assert_int_equal(czpg_stats_gate(0.01, 0.0, 0.02), CZPG_GATE_STRADDLE);
	assert_string_equal(czpg_stats_gate_name(CZPG_GATE_BELOW), "below");
	assert_string_equal(czpg_stats_gate_name(CZPG_GATE_ABOVE), "above");
	assert_string_equal(czpg_stats_gate_name(CZPG_GATE_STRADDLE), "straddle");
}

static void test_gate_from_paired_runs(void **state)
{
	double a[200], b[200];
	struct czpg_paired_result r;
	struct czpg_rng rng;

	(void)state;
	czpg_rng_seed(&rng, 8);
	/* 1% true overhead, tight: clearly below a 5% gate, clearly above 0.2% */
	synth_pairs(&rng, 200, log(1.01), 0.01, a, b);
	assert_int_equal(czpg_stats_paired(a, b, 200, 1, 0, &r, NULL, 0), 0);
	assert_int_equal(czpg_stats_gate(r.boot_lo, r.boot_hi, 0.05), CZPG_GATE_BELOW);
	assert_int_equal(czpg_stats_gate(r.boot_lo, r.boot_hi, 0.002), CZPG_GATE_ABOVE);
	assert_int_equal(czpg_stats_gate(r.boot_lo, r.boot_hi, 0.01), CZPG_GATE_STRADDLE);
}

static void test_need_more(void **state)
{
	(void)state;
	/* straddling with time left: run more */
	assert_true(czpg_stats_need_more(CZPG_GATE_STRADDLE, 100, 30, 10.0, 0.5, 60.0));
	/* decided: stop */
	assert_false(czpg_stats_need_more(CZPG_GATE_BELOW, 100, 30, 10.0, 0.5, 60.0));
	assert_false(czpg_stats_need_more(CZPG_GATE_ABOVE, 100, 30, 10.0, 0.5, 60.0));
	/* decided but below the minimum sample: keep going */
	assert_true(czpg_stats_need_more(CZPG_GATE_BELOW, 10, 30, 10.0, 0.5, 60.0));
	/* no time for another pair: stop, whatever the state */
	assert_false(czpg_stats_need_more(CZPG_GATE_STRADDLE, 100, 30, 59.8, 0.5, 60.0));
	assert_false(czpg_stats_need_more(CZPG_GATE_STRADDLE, 10, 30, 59.8, 0.5, 60.0));
	assert_true(czpg_stats_need_more(CZPG_GATE_STRADDLE, 10, 30, 59.5, 0.5, 60.0));
	assert_false(czpg_stats_need_more(CZPG_GATE_STRADDLE, 10, 30, NAN, 0.5, 60.0));
}

/* ---------------------------------------------------------------------- */
/* Summary helpers                                                        */

static void test_summary_helpers(void **state)
{
	const double x[8] = {9, 2, 4, 4, 5, 4, 7, 5};
	const double q[4] = {4, 1, 3, 2};
	double v;

	(void)state;
	assert_close(czpg_stats_mean(x, 8), 5.0, 1e-15);
	/* squared deviations 16 9 1 1 0 1 4 0 = 32; sqrt(32 / 7) */
	assert_close(czpg_stats_stddev(x, 8), 2.1380899353, 1e-10);
	assert_int_equal(czpg_stats_median(x, 8, &v), 0);
	assert_close(v, 4.5, 0.0);
	assert_int_equal(czpg_stats_median(x, 7, &v), 0); /* {2 4 4 4 5 7 9} */
	assert_close(v, 4.0, 0.0);
	/* type 7 on {1 2 3 4}: h = 0.25 * 3 = 0.75 -> 1.75 */
	assert_int_equal(czpg_stats_quantile(q, 4, 0.25, &v), 0);
	assert_close(v, 1.75, 1e-15);
	assert_int_equal(czpg_stats_quantile(q, 4, 1.0, &v), 0);
	assert_close(v, 4.0, 0.0);
	assert_int_equal(czpg_stats_quantile(q, 4, 0.0, &v), 0);
	assert_close(v, 1.0, 0.0);
	assert_true(q[0] == 4 && q[1] == 1); /* input untouched */
	assert_int_equal(czpg_stats_quantile(q, 4, 1.5, &v), -1);
	assert_int_equal(czpg_stats_quantile(q, 0, 0.5, &v), -1);
	assert_true(isnan(czpg_stats_mean(x, 0)));
	assert_true(isnan(czpg_stats_stddev(x, 1)));
}

static void test_welford(void **state)
{
	const double x[8] = {9, 2, 4, 4, 5, 4, 7, 5};
	struct czpg_welford all, lo, hi, empty;
	size_t i;

	(void)state;
	czpg_welford_init(&all);
	czpg_welford_init(&lo);
	czpg_welford_init(&hi);
	czpg_welford_init(&empty);
	assert_true(isnan(czpg_welford_mean(&all)));
	for (i = 0; i < 8; i++) {
		czpg_welford_push(&all, x[i]);
		czpg_welford_push(i < 3 ? &lo : &hi, x[i]);
	}
	assert_close(czpg_welford_mean(&all), 5.0, 1e-15);
	assert_close(czpg_welford_variance(&all), 32.0 / 7.0, 1e-14);
	assert_close(czpg_welford_stddev(&all), czpg_stats_stddev(x, 8), 1e-14);
	czpg_welford_merge(&lo, &hi);
	assert_true(lo.n == 8);
	assert_close(czpg_welford_mean(&lo), 5.0, 1e-14);
	assert_close(czpg_welford_variance(&lo), 32.0 / 7.0, 1e-13);
	czpg_welford_merge(&empty, &all);
	assert_close(czpg_welford_variance(&empty), 32.0 / 7.0, 1e-14);

	/* large offset: naive sum-of-squares loses everything, Welford does not */
	czpg_welford_init(&all);
	czpg_welford_push(&all, 1e9 + 4);
	czpg_welford_push(&all, 1e9 + 7);
	czpg_welford_push(&all, 1e9 + 13);
	czpg_welford_push(&all, 1e9 + 16);
	assert_close(czpg_welford_variance(&all), 30.0, 1e-6);
	czpg_welford_init(&all);
	czpg_welford_push(&all, 1.0);
	assert_true(isnan(czpg_welford_variance(&all)));
}

/* ---------------------------------------------------------------------- */
/* Histogram                                                              */

static struct czpg_hist *hist_new(void)
{
	struct czpg_hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	czpg_hist_init(h);
	return h;
}

/* Exact percentile of the integers 1..n (same ceil-rank definition). */
static double uniform_rank_value(double p, uint64_t n)
{
	return ceil(p * (double)n / 100.0);
}

static void test_hist_uniform(void **state)
{
	const double ps[] = {10, 25, 50, 75, 90, 99, 99.9, 99.99};
	struct czpg_hist *h = hist_new();
	struct czpg_hist_summary s;
	uint64_t v;
	size_t i;

	(void)state;
	for (v = 1; v <= 1000000; v++)
		czpg_hist_record(h, v);
	assert_true(h->count == 1000000);
	assert_true(h->underflow == 999); /* 1..999 ns are below 1 us */
	assert_true(h->overflow == 0);
	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		double want = uniform_rank_value(ps[i], 1000000);

		assert_rel((double)czpg_hist_percentile(h, ps[i]), want, 0.01);
	}
	czpg_hist_summarize(h, &s);
	assert_rel((double)s.p50_ns, 500000.0, 0.01);
	assert_rel((double)s.p90_ns, 900000.0, 0.01);
	assert_rel((double)s.p99_ns, 990000.0, 0.01);
	assert_rel((double)s.p999_ns, 999000.0, 0.01);
	assert_true(s.max_ns == 1000000 && s.min_ns == 1);
	assert_true(s.count == 1000000 && s.underflow == 999);
	assert_close(s.mean_ns, 500000.5, 1e-6); /* mean of 1..n = (n + 1) / 2 */
	assert_true(czpg_hist_percentile(h, 0.0) == 1);
	assert_true(czpg_hist_percentile(h, 100.0) == 1000000);
	assert_true(czpg_hist_percentile(h, 101.0) == 0);
	assert_true(czpg_hist_percentile(h, -1.0) == 0);
	free(h);
}

static int cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return (a > b) - (a < b);
}

/* Log-normal latencies (median 400 us, heavy tail) against the sorted sample. */
static void test_hist_lognormal_vs_sorted(void **state)
{
	const double ps[] = {1, 50, 90, 99, 99.9};
	const size_t n = 200000;
	uint64_t *vals = malloc(n * sizeof(*vals));
	struct czpg_hist *h = hist_new();
	struct czpg_rng rng;
	size_t i;

	(void)state;
	assert_non_null(vals);
	czpg_rng_seed(&rng, 77);
	for (i = 0; i < n; i++) {
		vals[i] = (uint64_t)(400000.0 * exp(0.8 * normal(&rng)));
		czpg_hist_record(h, vals[i]);
	}
	qsort(vals, n, sizeof(*vals), cmp_u64);
	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		size_t rank = (size_t)ceil(ps[i] * (double)n / 100.0);

		assert_rel((double)czpg_hist_percentile(h, ps[i]), (double)vals[rank - 1], 0.01);
	}
	free(vals);
	free(h);
}

/* Every value comes back within half a bucket: <= 1/256 relative. */
static void test_hist_relative_error(void **state)
{
	struct czpg_hist *h = hist_new();
	struct czpg_rng rng;
	double worst = 0.0, err;
	uint64_t v, got;
	int i;

	(void)state;
	czpg_rng_seed(&rng, 3);
	for (i = 0; i < 20000; i++) {
		/* log-uniform over the whole tracked range */
		v = (uint64_t)exp(log(1000.0) + czpg_rng_uniform(&rng) * (log(6e10) - log(1000.0)));
		czpg_hist_init(h);
		czpg_hist_record(h, 1); /* min below, so no clamping to v */
		czpg_hist_record(h, v);
		czpg_hist_record(h, UINT64_MAX); /* max above */
		got = czpg_hist_percentile(h, 50.0);
		err = fabs((double)got - (double)v) / (double)v;
		worst = fmax(worst, err);
	}
	print_message("worst relative error over 20000 values: %.5f%%\n", worst * 100.0);
	assert_true(worst <= 1.0 / 256.0 + 1e-12);
	free(h);
}

static void test_hist_merge(void **state)
{
	struct czpg_hist *lo = hist_new(), *hi = hist_new(), *all = hist_new();
	struct czpg_hist_summary s1, s2;
	uint64_t v;

	(void)state;
	for (v = 1; v <= 300000; v += 3) {
		czpg_hist_record(v < 150000 ? lo : hi, v * 7);
		czpg_hist_record(all, v * 7);
	}
	czpg_hist_record(lo, 10); /* underflow */
	czpg_hist_record(all, 10);
	czpg_hist_record(hi, 90000000000ULL); /* overflow */
	czpg_hist_record(all, 90000000000ULL);
	czpg_hist_merge(lo, hi);
	assert_memory_equal(lo->counts, all->counts, sizeof(all->counts));
	assert_true(lo->count == all->count);
	/* 7, 28, ..., 994 ns (48 values) and the 10 ns one are below 1 us */
	assert_true(lo->underflow == 49 && all->underflow == 49);
	assert_true(lo->overflow == 1 && all->overflow == 1);
	assert_true(lo->min_ns == 7 && lo->max_ns == 90000000000ULL);
	czpg_hist_summarize(lo, &s1);
	czpg_hist_summarize(all, &s2);
	assert_true(s1.p50_ns == s2.p50_ns && s1.p999_ns == s2.p999_ns);
	assert_close(s1.mean_ns, s2.mean_ns, 1e-6 * s2.mean_ns);

	/* merging an empty histogram changes nothing; into an empty one copies */
	czpg_hist_init(hi);
	czpg_hist_merge(all, hi);
	assert_true(all->count == s2.count);
	czpg_hist_merge(hi, all);
	assert_memory_equal(hi, all, sizeof(*all));
	free(lo);
	free(hi);
	free(all);
}

static void test_hist_clamping(void **state)
{
	struct czpg_hist *h = hist_new();
	struct czpg_hist_summary s;

	(void)state;
	czpg_hist_summarize(h, &s);
	assert_true(s.count == 0 && isnan(s.mean_ns) && s.p50_ns == 0 && s.max_ns == 0);
	assert_true(czpg_hist_percentile(h, 50.0) == 0);

	czpg_hist_record(h, 0);
	czpg_hist_record(h, 999);
	czpg_hist_record(h, 1000);           /* lowest tracked: not an underflow */
	czpg_hist_record(h, 60000000000ULL); /* highest tracked: not an overflow */
	czpg_hist_record(h, 60000000001ULL);
	czpg_hist_record(h, UINT64_MAX);
	assert_true(h->count == 6);
	assert_true(h->underflow == 2);
	assert_true(h->overflow == 2);
	assert_true(h->min_ns == 0 && h->max_ns == UINT64_MAX);
	/* the three low values share the 1 us bucket [1000, 1004) */
	assert_true(czpg_hist_percentile(h, 50.0) == 1002);
	/* the high values sit in the 60 s bucket, reported within 0.4% of 60 s */
	assert_rel((double)czpg_hist_percentile(h, 90.0), 6e10, 1.0 / 256.0);
	assert_true(czpg_hist_percentile(h, 100.0) == UINT64_MAX);
	assert_true(czpg_hist_percentile(h, 0.0) == 0);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rng_reference_values),
	    cmocka_unit_test(test_rng_below_uniform),
	    cmocka_unit_test(test_t_quantile_closed_forms),
	    cmocka_unit_test(test_t_quantile_table),
	    cmocka_unit_test(test_t_cdf_closed_forms),
	    cmocka_unit_test(test_paired_hand_worked),
	    cmocka_unit_test(test_paired_two_pairs_atoms),
	    cmocka_unit_test(test_paired_identical),
	    cmocka_unit_test(test_paired_contains_truth_and_narrows),
	    cmocka_unit_test(test_paired_coverage),
	    cmocka_unit_test(test_paired_reproducible),
	    cmocka_unit_test(test_paired_rejects_bad_input),
	    cmocka_unit_test(test_paired_extreme_ratio),
	    cmocka_unit_test(test_paired_dependent_intervals_iid),
	    cmocka_unit_test(test_paired_dependent_intervals_ar1),
	    cmocka_unit_test(test_paired_trimmed),
	    cmocka_unit_test(test_diff),
	    cmocka_unit_test(test_gate_outcomes),
	    cmocka_unit_test(test_gate_from_paired_runs),
	    cmocka_unit_test(test_need_more),
	    cmocka_unit_test(test_summary_helpers),
	    cmocka_unit_test(test_welford),
	    cmocka_unit_test(test_hist_uniform),
	    cmocka_unit_test(test_hist_lognormal_vs_sorted),
	    cmocka_unit_test(test_hist_relative_error),
	    cmocka_unit_test(test_hist_merge),
	    cmocka_unit_test(test_hist_clamping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
