/*
 * stats.h - statistics for `czctl postgres tls bench`: paired A/B overhead
 * with confidence intervals, the release gate, latency histograms and small
 * summary helpers.  Pure math in memory; nothing here does I/O.
 *
 * Units, once and for all:
 *   - every overhead, interval bound and threshold in this header is a
 *     FRACTION: 0.05 means "TLS is 5% slower than plaintext", -0.01 means
 *     "1% faster".  Multiply by 100 only when printing;
 *   - times given to czpg_stats_paired() may be in any unit (seconds per
 *     round, per-query seconds, ...) as long as both arrays use the same one;
 *   - histogram values are nanoseconds.
 *
 * Method (paired ratio of geometric means):
 *   for each pair i, d_i = ln(a_i / b_i) where a is the TLS time and b the
 *   plaintext time measured next to it (ABBA order cancels linear drift
 *   within a pair).  The point estimate is exp(mean d) - 1.  Its 95%
 *   interval comes from a percentile bootstrap over pairs (resampling whole
 *   pairs keeps each pair's shared machine state together), with the
 *   Student-t interval on mean d reported as a cross-check: when the two
 *   disagree markedly the d values are far from normal or n is too small.
 *
 *   Both assume the pairs are independent.  On a shared machine they are
 *   not quite: a neighbour's build or a frequency change lasts longer than
 *   a pair, so neighbouring pairs err alike and an interval built as if
 *   they did not comes out too narrow.  Two intervals allow for that: a
 *   circular block bootstrap (resampling runs of consecutive pairs, block
 *   length about n^(1/3)) and a Student-t interval over the means of
 *   batches of consecutive pairs (batch means).  A gate uses the widest.
 */
#ifndef CZPG_STATS_H
#define CZPG_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------
 * Deterministic PRNG: xoshiro256** seeded through splitmix64, so a bench run
 * can be reproduced bit for bit from its seed.  Not for secrets.
 */
struct czpg_rng {
	uint64_t s[4];
};

/* Seeds the generator; any seed (including 0) gives a valid state. */
void czpg_rng_seed(struct czpg_rng *rng, uint64_t seed);
/* Next 64 uniformly distributed bits. */
uint64_t czpg_rng_next(struct czpg_rng *rng);
/* Uniform integer in [0, bound) without modulo bias; returns 0 when bound is 0. */
uint64_t czpg_rng_below(struct czpg_rng *rng, uint64_t bound);
/* Uniform double in [0, 1) with 53 random bits. */
double czpg_rng_uniform(struct czpg_rng *rng);

/* ---------------------------------------------------------------------------
 * Paired A/B analysis.
 */

/* Confidence level of every interval below (two-sided). */
#define CZPG_STATS_LEVEL 0.95
/* Resamples used when the caller passes 0. */
#define CZPG_STATS_DEFAULT_RESAMPLES ((size_t)10000)
/* Bounds on what a caller may ask for (memory and time stay predictable). */
#define CZPG_STATS_MIN_RESAMPLES ((size_t)100)
#define CZPG_STATS_MAX_RESAMPLES ((size_t)1000000)
#define CZPG_STATS_MAX_PAIRS ((size_t)10000000)

struct czpg_paired_result {
	size_t n;         /* pairs analysed */
	size_t resamples; /* bootstrap resamples drawn */
	uint64_t seed;    /* PRNG seed used for the bootstrap */

	/* log ratios d_i = ln(a_i / b_i) */
	double mean_d;
	double sd_d; /* sample standard deviation (n - 1) */
	double se_d; /* sd_d / sqrt(n) */
	double min_d;
	double max_d;

	/* overhead, fractions */
	double overhead; /* exp(mean_d) - 1 */
	double boot_lo;  /* percentile bootstrap interval of exp(mean d) - 1 */
	double boot_hi;
	double t_lo; /* exp(mean_d -+ t * se_d) - 1 */
	double t_hi;
	double t_crit; /* Student-t quantile used, df = n - 1 */

	/* intervals that allow for correlated neighbouring pairs (see above) */
	size_t block_len; /* pairs per block of the block bootstrap */
	double block_lo;
	double block_hi;
	size_t batches; /* batch means: this many batches of consecutive pairs (0: too few pairs) */
	double batch_lo;
	double batch_hi;
	double lag1; /* lag-1 autocorrelation of d: near 0 when pairs are independent */

	/*
	 * A robust estimate: exp(10% trimmed mean of d) - 1, with its block
	 * bootstrap interval.  A neighbour's burst of work hits one round of a
	 * pair, not both, so on a shared machine d has long tails on both
	 * sides; ABBA keeps them symmetric, so trimming them estimates the same
	 * overhead with less noise.
	 */
	double trim;
	double trim_lo;
	double trim_hi;

	/* spread of the per-pair overheads a_i / b_i - 1 (fractions) */
	double pair_min;
	double pair_p05;
	double pair_p25;
	double pair_p50;
	double pair_p75;
	double pair_p95;
	double pair_max;
};

/*
 * Analyses n pairs: a[i] is the TLS time of pair i, b[i] the plaintext time
 * (same unit).  resamples = 0 means CZPG_STATS_DEFAULT_RESAMPLES; the same
 * inputs, seed and resamples always give the same result.
 *
 * Returns 0 and fills *out, or -1 with a one-sentence reason in err (when
 * err != NULL) and *out zeroed: fewer than 2 or more than
 * CZPG_STATS_MAX_PAIRS pairs, a time that is not a positive finite number
 * (the message numbers pairs from 1), resamples outside
 * [CZPG_STATS_MIN_RESAMPLES, CZPG_STATS_MAX_RESAMPLES], or out of memory.  Allocates scratch memory
 * internally and frees it before returning; the caller owns nothing new.
 */
int czpg_stats_paired(const double *a, const double *b, size_t n, uint64_t seed, size_t resamples,
		      struct czpg_paired_result *out, char *err, size_t errlen);

/* The widest of the intervals in r (bootstrap, t, block bootstrap, batch means). */
void czpg_stats_widest(const struct czpg_paired_result *r, double *lo, double *hi);

/*
 * The difference of two paired overheads: run x (pairs xa/xb, nx of them)
 * minus run y (ya/yb, ny), in the same fractions (0.01 = one percentage
 * point).  The runs are independent, so each is resampled on its own:
 * a percentile bootstrap of the difference (blocks of consecutive pairs, as
 * above), and a normal interval from the two runs' widest intervals.
 */
struct czpg_diff_result {
	double diff; /* overhead(x) - overhead(y) */
	double boot_lo, boot_hi;
	double norm_lo, norm_hi;
	double lo, hi; /* the wider of the two: what a gate uses */
};

/* 0, or -1 with a sentence in err (as czpg_stats_paired, for either run). */
int czpg_stats_diff(const double *xa, const double *xb, size_t nx, const double *ya,
		    const double *yb, size_t ny, uint64_t seed, size_t resamples,
		    struct czpg_diff_result *out, char *err, size_t errlen);

/*
 * Quantile of Student's t distribution with df degrees of freedom:
 * the t with P(T <= t) = p.  p in (0, 1), df >= 1; NaN otherwise.
 * Accurate to about 1e-9 relative (bisection on the exact CDF).
 */
double czpg_stats_t_quantile(double p, double df);
/* P(T <= t) for Student's t with df degrees of freedom (df > 0). */
double czpg_stats_t_cdf(double t, double df);

/* ---------------------------------------------------------------------------
 * Release gate.
 */
enum czpg_gate {
	CZPG_GATE_BELOW = 0,    /* hi < max_overhead: pass */
	CZPG_GATE_ABOVE = 1,    /* lo > max_overhead: fail */
	CZPG_GATE_STRADDLE = 2, /* anything else (touching, NaN): inconclusive */
};

/*
 * Decides the gate from an interval [lo, hi] and a threshold, all fractions
 * (0.02 = 2%).  An interval that touches the threshold, is reversed
 * (lo > hi) or holds a NaN is STRADDLE: a release must never pass on a
 * malformed interval.
 */
enum czpg_gate czpg_stats_gate(double lo, double hi, double max_overhead);
/* "below", "above" or "straddle" (static storage). */
const char *czpg_stats_gate_name(enum czpg_gate gate);

/*
 * Whether the bench should run another pair: true when there is time for
 * one more pair (elapsed_s + next_pair_s <= budget_s) and either fewer than
 * min_pairs pairs are done or the gate is still STRADDLE.
 *
 * Checking the interval after every pair and stopping as soon as it clears
 * the threshold ("peeking") makes a false verdict more likely than the
 * nominal 5%; callers should set min_pairs to a real sample size (say 30)
 * and re-evaluate in batches rather than after every single pair.
 */
bool czpg_stats_need_more(enum czpg_gate gate, size_t pairs_done, size_t min_pairs,
			  double elapsed_s, double next_pair_s, double budget_s);

/* ---------------------------------------------------------------------------
 * Summary helpers over arrays.  NaN when the array is too short (mean: 0
 * elements; stddev: fewer than 2).
 */
double czpg_stats_mean(const double *x, size_t n);
/* Sample standard deviation (divides by n - 1), two-pass. */
double czpg_stats_stddev(const double *x, size_t n);
/*
 * Quantile q in [0, 1] with linear interpolation between order statistics
 * (Hyndman & Fan type 7, the default of R and NumPy).  Copies x (x is not
 * reordered).  Returns 0, or -1 when n == 0, q is outside [0, 1] or memory
 * runs out.
 */
int czpg_stats_quantile(const double *x, size_t n, double q, double *out);
/* czpg_stats_quantile(x, n, 0.5, out). */
int czpg_stats_median(const double *x, size_t n, double *out);

/* Running mean and variance (Welford); numerically stable, O(1) memory. */
struct czpg_welford {
	uint64_t n;
	double mean;
	double m2;
};

void czpg_welford_init(struct czpg_welford *w);
void czpg_welford_push(struct czpg_welford *w, double x);
/* Adds src's values into dst (Chan et al.), as if each had been pushed to dst. */
void czpg_welford_merge(struct czpg_welford *dst, const struct czpg_welford *src);
/* Mean (NaN when empty), sample variance and stddev (NaN below 2 values). */
double czpg_welford_mean(const struct czpg_welford *w);
double czpg_welford_variance(const struct czpg_welford *w);
double czpg_welford_stddev(const struct czpg_welford *w);

/* ---------------------------------------------------------------------------
 * Latency histogram, log-linear (HDR style): each power of two from 2^9 ns
 * up to 2^35 ns is split into 128 equal buckets, so a bucket is at most
 * 1/128 of its lower bound wide and a reported value (bucket midpoint) is
 * within 0.4% of any value that landed there.  Values below
 * CZPG_HIST_LOWEST_NS or above CZPG_HIST_HIGHEST_NS are clamped into the
 * first/last tracked bucket and counted in underflow/overflow.  Fixed size
 * (about 28 KiB, no allocation), O(1) record.
 */
#define CZPG_HIST_LOWEST_NS ((uint64_t)1000)         /* 1 us */
#define CZPG_HIST_HIGHEST_NS ((uint64_t)60000000000) /* 60 s */
#define CZPG_HIST_SUB_BITS 7
#define CZPG_HIST_FIRST_EXP 9 /* 2^9 = 512 <= LOWEST */
#define CZPG_HIST_LAST_EXP 35 /* 2^35 <= HIGHEST < 2^36 */
#define CZPG_HIST_BUCKETS                                                                          \
	((size_t)(CZPG_HIST_LAST_EXP - CZPG_HIST_FIRST_EXP + 1) << CZPG_HIST_SUB_BITS)

struct czpg_hist {
	uint64_t counts[CZPG_HIST_BUCKETS];
	uint64_t count;     /* every recorded value, clamped ones included */
	uint64_t underflow; /* values < CZPG_HIST_LOWEST_NS */
	uint64_t overflow;  /* values > CZPG_HIST_HIGHEST_NS */
	uint64_t min_ns;    /* smallest and largest value as recorded (unclamped) */
	uint64_t max_ns;
	double sum_ns; /* of the unclamped values, for the mean */
};

struct czpg_hist_summary {
	uint64_t count;
	uint64_t underflow;
	uint64_t overflow;
	double mean_ns;
	uint64_t min_ns;
	uint64_t p50_ns;
	uint64_t p90_ns;
	uint64_t p99_ns;
	uint64_t p999_ns;
	uint64_t max_ns;
};

/* Empties h. */
void czpg_hist_init(struct czpg_hist *h);
/* Records one value in nanoseconds (clamped and counted as above). */
void czpg_hist_record(struct czpg_hist *h, uint64_t ns);
/* Adds every count of src into dst. */
void czpg_hist_merge(struct czpg_hist *dst, const struct czpg_hist *src);
/*
 * Value at percentile p in [0, 100]: the midpoint of the bucket holding the
 * ceil(p/100 * count)-th smallest value, kept within [min_ns, max_ns];
 * p = 0 gives min_ns and p = 100 max_ns.  0 for an empty histogram or p out
 * of range.
 */
uint64_t czpg_hist_percentile(const struct czpg_hist *h, double p);
/* Mean of the recorded (unclamped) values; NaN when empty. */
double czpg_hist_mean(const struct czpg_hist *h);
/* Fills s with count, mean, min, p50, p90, p99, p99.9, max, under/overflow. */
void czpg_hist_summarize(const struct czpg_hist *h, struct czpg_hist_summary *s);

#endif
