/*
 * svgplot.h - two small self-contained SVG 1.1 charts for the bench report,
 * written without any dependency:
 *
 *   1. latency CDF: the latency distributions of the TLS and the plaintext
 *      pool as two overlaid cumulative curves on a logarithmic time axis;
 *   2. overhead over time: one point per A/B pair (a_i / b_i - 1, in time
 *      order), with the point estimate and the confidence band as lines and,
 *      optionally, the gate threshold.
 *
 * Each call writes one complete, well-formed XML document (UTF-8).  All text
 * that comes from the caller (titles, labels) is escaped; bytes that XML 1.0
 * cannot carry (control characters, invalid UTF-8) become '?'.  Numbers are
 * printed with printf, so the C locale's decimal point is assumed (czctl
 * never calls setlocale).
 *
 * Every data series is one <polyline> (CDF) or one <g> of <circle>s
 * (overhead) carrying data-series="<label>" and data-points="<count>", so a
 * reader or a test can find it without parsing geometry.
 */
#ifndef CZPG_SVGPLOT_H
#define CZPG_SVGPLOT_H

#include <stddef.h>
#include <stdio.h>

#include "czpg/buf.h"
#include "czpg/stats.h"

/* Where a document goes: set exactly one of the two. */
struct czpg_svg_sink {
	FILE *file;
	struct czpg_wbuf *wbuf;
};

/* Points per CDF curve (a fixed quantile grid, denser in the tail). */
#define CZPG_SVG_CDF_POINTS 106

struct czpg_svg_cdf_input {
	const char *title;         /* NULL: "Latency distribution" */
	const struct czpg_hist *a; /* may be NULL or empty: no curve */
	const struct czpg_hist *b;
	const char *a_label; /* NULL: "TLS" */
	const char *b_label; /* NULL: "plaintext" */
};

/*
 * Writes the latency CDF chart.  Each non-empty histogram gives one curve of
 * CZPG_SVG_CDF_POINTS points.  Returns 0, or -1 with a one-sentence reason
 * in err: no sink or both sinks set, a write that failed (FILE error or the
 * wbuf hit its cap).  On a wbuf the document is appended; the caller owns
 * and frees the wbuf.
 */
int czpg_svg_latency_cdf(const struct czpg_svg_sink *sink, const struct czpg_svg_cdf_input *in,
			 char *err, size_t errlen);

struct czpg_svg_overhead_input {
	const char *title;      /* NULL: "TLS overhead per pair" */
	const double *overhead; /* per-pair overhead fractions, time order */
	size_t n;
	double mean; /* point estimate, fraction */
	double lo;   /* confidence interval, fractions */
	double hi;
	double threshold;  /* gate threshold, fraction; NaN: not drawn */
	const char *label; /* NULL: "pair overhead" */
};

/*
 * Writes the overhead-over-time chart: one circle per finite overhead value
 * (non-finite values are skipped and the count in data-points says how many
 * were drawn), horizontal lines for mean, lo and hi (a shaded band between
 * lo and hi) and the threshold when finite.  Values are shown in percent.
 * Returns as czpg_svg_latency_cdf(); n > CZPG_STATS_MAX_PAIRS is refused.
 */
int czpg_svg_overhead(const struct czpg_svg_sink *sink, const struct czpg_svg_overhead_input *in,
		      char *err, size_t errlen);

/*
 * Helper for callers that have the raw pairs: fills overhead[i] =
 * a[i] / b[i] - 1 for i < n (NaN where b[i] is not positive).
 */
void czpg_svg_pair_overheads(const double *a, const double *b, size_t n, double *overhead);

#endif
