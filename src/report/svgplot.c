/*
 * svgplot.c - dependency-free SVG 1.1 charts for the bench report (see
 * czpg/svgplot.h).  Output follows the W3C SVG 1.1 structure (one <svg>
 * root in the SVG namespace) and XML 1.0 well-formedness: text content and
 * attribute values are escaped and restricted to valid UTF-8 characters
 * that XML 1.0 allows.
 */
#include "czpg/svgplot.h"
#include "czpg/errf.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Canvas and plot area, in SVG user units. */
#define SVG_W 800.0
#define SVG_H 520.0
/* legend rows below the x axis label */
#define LEGEND_Y (PLOT_B + 66.0)
#define LEGEND_ROW 20.0
#define LEGEND_COL 350.0
#define PLOT_L 80.0
#define PLOT_R 780.0
#define PLOT_T 50.0
#define PLOT_B 410.0

#define COLOR_A "#d62728"
#define COLOR_B "#1f77b4"
#define COLOR_MEAN "#2ca02c"
#define COLOR_THRESHOLD "#9467bd"

/* One document being written; the first failure sticks. */
struct svg_out {
	const struct czpg_svg_sink *sink;
	size_t start_len; /* wbuf length before the document, for rollback */
	bool failed;
};

static void emit_raw(struct svg_out *o, const char *s, size_t len)
{
	if (o->failed || len == 0)
		return;
	if (o->sink->file != NULL) {
		if (fwrite(s, 1, len, o->sink->file) != len)
			o->failed = true;
	} else if (czpg_wbuf_bytes(o->sink->wbuf, s, len) < 0) {
		o->failed = true;
	}
}

static void emit(struct svg_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formatted markup; every caller's output is short (numbers, fixed words). */
static void emit(struct svg_out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		o->failed = true;
		return;
	}
	emit_raw(o, line, (size_t)n);
}

/*
 * Length of the valid UTF-8 sequence at s[0..len) that XML 1.0 accepts as a
 * character, or 0.  Rejects overlong forms, surrogates, code points above
 * U+10FFFF and the non-characters U+FFFE and U+FFFF.
 */
static size_t utf8_char_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t need, i;

	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4;
	else
		return 0;
	if (len < need)
		return 0;
	for (i = 1; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && s[1] < 0xa0)
		return 0; /* overlong */
	if (c == 0xed && s[1] > 0x9f)
		return 0; /* UTF-16 surrogate */
	if (c == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf))
		return 0; /* U+FFFE, U+FFFF */
	if (c == 0xf0 && s[1] < 0x90)
		return 0; /* overlong */
	if (c == 0xf4 && s[1] > 0x8f)
		return 0; /* above U+10FFFF */
	return need;
}

/* Caller text, escaped for both element content and quoted attributes. */
static void emit_text(struct svg_out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n;

	while (i < len) {
		switch (p[i]) {
		case '&':
			emit_raw(o, "&amp;", 5);
			break;
		case '<':
			emit_raw(o, "&lt;", 4);
			break;
		case '>':
			emit_raw(o, "&gt;", 4);
			break;
		case '"':
			emit_raw(o, "&quot;", 6);
			break;
		case '\'':
			emit_raw(o, "&apos;", 6);
			break;
		default:
			if (p[i] < 0x80) {
				if (p[i] < 0x20 || p[i] == 0x7f)
					emit_raw(o, "?", 1);
				else
					emit_raw(o, (const char *)p + i, 1);
				break;
			}
			n = utf8_char_len(p + i, len - i);
			if (n == 0) {
				emit_raw(o, "?", 1);
				break;
			}
			emit_raw(o, (const char *)p + i, n);
			i += n;
			continue;
		}
		i++;
	}
}

static int check_sink(const struct czpg_svg_sink *sink, char *err, size_t errlen)
{
	if (sink == NULL || (sink->file == NULL) == (sink->wbuf == NULL)) {
		czpg_errf(err, errlen,
			  "the SVG writer needs exactly one output, a file or a buffer");
		return -1;
	}
	return 0;
}

static void begin(struct svg_out *o, const struct czpg_svg_sink *sink, const char *title)
{
	o->sink = sink;
	o->failed = false;
	o->start_len = sink->wbuf != NULL ? sink->wbuf->len : 0;
	emit(o,
	     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	     "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
	     "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
	     "font-size=\"12\">\n",
	     SVG_W, SVG_H, SVG_W, SVG_H);
	emit(o, "<title>");
	emit_text(o, title);
	emit(o, "</title>\n");
	emit(o, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", SVG_W,
	     SVG_H);
	emit(o, "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">", SVG_W / 2.0);
	emit_text(o, title);
	emit(o, "</text>\n");
	emit(o,
	     "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
	     "stroke=\"#444444\"/>\n",
	     PLOT_L, PLOT_T, PLOT_R - PLOT_L, PLOT_B - PLOT_T);
}

/* Closes the document and reports failure; a failed wbuf is rolled back. */
static int finish(struct svg_out *o, char *err, size_t errlen)
{
	emit(o, "</svg>\n");
	if (o->sink->file != NULL) {
		if (!o->failed && (fflush(o->sink->file) != 0 || ferror(o->sink->file)))
			o->failed = true;
		if (o->failed) {
			czpg_errf(err, errlen,
				  "writing the SVG chart failed; check free space and permissions "
				  "of the output file");
			return -1;
		}
		return 0;
	}
	if (o->failed) {
		o->sink->wbuf->len = o->start_len;
		czpg_errf(err, errlen,
			  "the SVG chart does not fit the output buffer's limit of %zu bytes",
			  o->sink->wbuf->max);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Latency CDF                                                              */

/* Quantiles of each curve: every percent, then the tail. */
static double cdf_quantile(size_t k)
{
	static const double tail[] = {0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0};

	if (k < 100)
		return (double)k / 100.0;
	return tail[k - 100];
}

_Static_assert(CZPG_SVG_CDF_POINTS == 106, "cdf_quantile() grid has 100 + 6 points");

/* "1 ns", "10 us", "100 ms", "1 s", ... for a power of ten in ns. */
static void decade_label(int decade, char *buf, size_t len)
{
	static const char *const unit[] = {"ns", "\xc2\xb5s", "ms", "s"};
	int u = decade / 3, rest = decade % 3;
	long mult = rest == 0 ? 1 : rest == 1 ? 10 : 100;

	if (u > 3) {
		u = 3;
		mult = (long)pow(10.0, decade - 9);
	}
	snprintf(buf, len, "%ld %s", mult, unit[u]);
}

static double hist_x(double ns, double lmin, double lmax)
{
	double l = log10(ns < 1.0 ? 1.0 : ns);

	return PLOT_L + (l - lmin) / (lmax - lmin) * (PLOT_R - PLOT_L);
}

static void cdf_curve(struct svg_out *o, const struct czpg_hist *h, const char *label,
		      const char *color, double lmin, double lmax)
{
	size_t k;
	double q, x, y;

	emit(o, "<polyline data-series=\"");
	emit_text(o, label);
	emit(o, "\" data-points=\"%d\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
	     CZPG_SVG_CDF_POINTS, color);
	for (k = 0; k < CZPG_SVG_CDF_POINTS; k++) {
		q = cdf_quantile(k);
		x = hist_x((double)czpg_hist_percentile(h, q * 100.0), lmin, lmax);
		y = PLOT_B - q * (PLOT_B - PLOT_T);
		emit(o, "%s%.1f,%.1f", k == 0 ? "" : " ", x, y);
	}
	emit(o, "\"/>\n");
}

static void legend_entry(struct svg_out *o, int row, const char *label, const char *color,
			 const struct czpg_hist *h)
{
	struct czpg_hist_summary s;
	double y = LEGEND_Y + LEGEND_ROW * row;

	czpg_hist_summarize(h, &s);
	emit(o,
	     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
	     "stroke-width=\"2\"/>\n",
	     PLOT_L, y - 4.0, PLOT_L + 20.0, y - 4.0, color);
	emit(o, "<text x=\"%.1f\" y=\"%.1f\">", PLOT_L + 26.0, y);
	emit_text(o, label);
	emit(o, " (n=%llu, p50 %.1f \xc2\xb5s, p99 %.1f \xc2\xb5s, p99.9 %.1f \xc2\xb5s)</text>\n",
	     (unsigned long long)s.count, (double)s.p50_ns / 1e3, (double)s.p99_ns / 1e3,
	     (double)s.p999_ns / 1e3);
}

int czpg_svg_latency_cdf(const struct czpg_svg_sink *sink, const struct czpg_svg_cdf_input *in,
			 char *err, size_t errlen)
{
	const struct czpg_hist *hs[2];
	const char *labels[2], *colors[2] = {COLOR_A, COLOR_B};
	double vmin = INFINITY, vmax = 0.0, lmin, lmax, x, y, q;
	struct svg_out o;
	char tick[32];
	int i, dec, row = 0;

	if (check_sink(sink, err, errlen) < 0)
		return -1;
	if (in == NULL) {
		czpg_errf(err, errlen, "no data was given to the latency chart");
		return -1;
	}
	hs[0] = in->a != NULL && in->a->count > 0 ? in->a : NULL;
	hs[1] = in->b != NULL && in->b->count > 0 ? in->b : NULL;
	labels[0] = in->a_label != NULL ? in->a_label : "TLS";
	labels[1] = in->b_label != NULL ? in->b_label : "plaintext";

	for (i = 0; i < 2; i++) {
		if (hs[i] == NULL)
			continue;
		vmin = fmin(vmin, (double)czpg_hist_percentile(hs[i], 0.0));
		vmax = fmax(vmax, (double)czpg_hist_percentile(hs[i], 100.0));
	}
	if (!(vmin <= vmax)) {
		vmin = 1e3;
		vmax = 1e6;
	}
	lmin = floor(log10(vmin < 1.0 ? 1.0 : vmin));
	lmax = ceil(log10(vmax < 1.0 ? 1.0 : vmax));
	if (lmax <= lmin)
		lmax = lmin + 1.0;

	begin(&o, sink, in->title != NULL ? in->title : "Latency distribution");

	/* Axes: decades on x, cumulative fraction on y. */
	for (dec = (int)lmin; dec <= (int)lmax; dec++) {
		x = hist_x(pow(10.0, dec), lmin, lmax);
		decade_label(dec, tick, sizeof(tick));
		emit(&o,
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
		     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
		     x, PLOT_T, x, PLOT_B, x, PLOT_B + 18.0, tick);
	}
	for (i = 0; i <= 4; i++) {
		q = i / 4.0;
		y = PLOT_B - q * (PLOT_B - PLOT_T);
		emit(&o,
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
		     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n",
		     PLOT_L, y, PLOT_R, y, PLOT_L - 6.0, y + 4.0, q * 100.0);
	}
	emit(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">latency (log scale)</text>\n",
	     (PLOT_L + PLOT_R) / 2.0, PLOT_B + 40.0);
	emit(&o,
	     "<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">"
	     "fraction of queries at or below</text>\n",
	     (PLOT_T + PLOT_B) / 2.0, (PLOT_T + PLOT_B) / 2.0);

	for (i = 0; i < 2; i++) {
		if (hs[i] == NULL)
			continue;
		cdf_curve(&o, hs[i], labels[i], colors[i], lmin, lmax);
		legend_entry(&o, row++, labels[i], colors[i], hs[i]);
	}
	if (row == 0)
		emit(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no data</text>\n",
		     (PLOT_L + PLOT_R) / 2.0, (PLOT_T + PLOT_B) / 2.0);
	return finish(&o, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Overhead over time                                                       */

/* A 1-2-5 step giving about `want` ticks over [lo, hi]. */
static double nice_step(double lo, double hi, int want)
{
	double raw = (hi - lo) / want, mag = pow(10.0, floor(log10(raw))), f = raw / mag;

	if (f <= 1.0)
		return mag;
	if (f <= 2.0)
		return 2.0 * mag;
	if (f <= 5.0)
		return 5.0 * mag;
	return 10.0 * mag;
}

struct yscale {
	double lo, hi; /* percent */
};

static double scale_y(const struct yscale *s, double pct)
{
	return PLOT_B - (pct - s->lo) / (s->hi - s->lo) * (PLOT_B - PLOT_T);
}

static void hline(struct svg_out *o, const struct yscale *s, double frac, const char *color,
		  const char *dash, const char *name)
{
	double y;

	if (!isfinite(frac))
		return;
	y = scale_y(s, frac * 100.0);
	emit(o,
	     "<line data-line=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
	     "stroke-width=\"1.5\"%s%s%s/>\n",
	     name, PLOT_L, y, PLOT_R, y, color, dash != NULL ? " stroke-dasharray=\"" : "",
	     dash != NULL ? dash : "", dash != NULL ? "\"" : "");
}

/* One legend sample (a short line, dashed or not) and its text, at a cell. */
static void legend_line(struct svg_out *o, int row, int col, const char *color, const char *dash,
			double width)
{
	double x = PLOT_L + LEGEND_COL * col, y = LEGEND_Y + LEGEND_ROW * row - 4.0;

	emit(o,
	     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
	     "stroke-width=\"%.1f\"%s%s%s/>\n",
	     x, y, x + 20.0, y, color, width, dash != NULL ? " stroke-dasharray=\"" : "",
	     dash != NULL ? dash : "", dash != NULL ? "\"" : "");
	emit(o, "<text x=\"%.1f\" y=\"%.1f\">", x + 26.0, y + 4.0);
}

int czpg_svg_overhead(const struct czpg_svg_sink *sink, const struct czpg_svg_overhead_input *in,
		      char *err, size_t errlen)
{
	double vmin = INFINITY, vmax = -INFINITY, step, t, x, y, pad;
	const double extra[4] = {in != NULL ? in->mean : NAN, in != NULL ? in->lo : NAN,
				 in != NULL ? in->hi : NAN, in != NULL ? in->threshold : NAN};
	struct yscale ys;
	struct svg_out o;
	size_t i, drawn = 0, xstep;
	int k;

	if (check_sink(sink, err, errlen) < 0)
		return -1;
	if (in == NULL || (in->overhead == NULL && in->n > 0)) {
		czpg_errf(err, errlen, "no data was given to the overhead chart");
		return -1;
	}
	if (in->n > CZPG_STATS_MAX_PAIRS) {
		czpg_errf(err, errlen, "%zu pairs exceed the chart's limit of %zu", in->n,
			  CZPG_STATS_MAX_PAIRS);
		return -1;
	}
	for (i = 0; i < in->n; i++) {
		if (!isfinite(in->overhead[i]))
			continue;
		vmin = fmin(vmin, in->overhead[i] * 100.0);
		vmax = fmax(vmax, in->overhead[i] * 100.0);
		drawn++;
	}
	for (i = 0; i < 4; i++) {
		if (!isfinite(extra[i]))
			continue;
		vmin = fmin(vmin, extra[i] * 100.0);
		vmax = fmax(vmax, extra[i] * 100.0);
	}
	if (!(vmin <= vmax)) {
		vmin = 0.0;
		vmax = 0.0;
	}
	pad = (vmax - vmin) * 0.08;
	if (pad < 0.5)
		pad = 0.5;
	ys.lo = vmin - pad;
	ys.hi = vmax + pad;

	begin(&o, sink, in->title != NULL ? in->title : "TLS overhead per pair");

	/* y grid in percent */
	step = nice_step(ys.lo, ys.hi, 6);
	for (k = 0; k < 40; k++) {
		/* multiply, not accumulate: t += step can stall at large magnitudes */
		t = (ceil(ys.lo / step) + k) * step;
		if (!(t <= ys.hi))
			break;
		y = scale_y(&ys, t);
		emit(&o,
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n"
		     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g%%</text>\n",
		     PLOT_L, y, PLOT_R, y, fabs(t) < step / 2.0 ? "#999999" : "#dddddd",
		     PLOT_L - 6.0, y + 4.0, fabs(t) < step / 2.0 ? 0.0 : t);
	}
	/* x ticks: pair numbers */
	xstep = in->n <= 10 ? 1 : (size_t)nice_step(0.0, (double)in->n, 8);
	if (xstep == 0)
		xstep = 1;
	for (i = 0; i < in->n; i += xstep) {
		x = in->n > 1 ? PLOT_L + (double)i / (double)(in->n - 1) * (PLOT_R - PLOT_L)
			      : (PLOT_L + PLOT_R) / 2.0;
		emit(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%zu</text>\n", x,
		     PLOT_B + 18.0, i + 1);
	}
	emit(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">pair (time order)</text>\n",
	     (PLOT_L + PLOT_R) / 2.0, PLOT_B + 40.0);
	emit(&o,
	     "<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">"
	     "TLS overhead (%%)</text>\n",
	     (PLOT_T + PLOT_B) / 2.0, (PLOT_T + PLOT_B) / 2.0);

	/* confidence band, then the lines, then the points on top */
	if (isfinite(in->lo) && isfinite(in->hi) && in->lo <= in->hi)
		emit(&o,
		     "<rect data-band=\"ci\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		     "fill=\"%s\" fill-opacity=\"0.15\"/>\n",
		     PLOT_L, scale_y(&ys, in->hi * 100.0), PLOT_R - PLOT_L,
		     scale_y(&ys, in->lo * 100.0) - scale_y(&ys, in->hi * 100.0), COLOR_MEAN);
	hline(&o, &ys, in->lo, COLOR_MEAN, "4 3", "CI low");
	hline(&o, &ys, in->hi, COLOR_MEAN, "4 3", "CI high");
	hline(&o, &ys, in->mean, COLOR_MEAN, NULL, "mean");
	hline(&o, &ys, in->threshold, COLOR_THRESHOLD, "8 4", "threshold");

	emit(&o, "<g data-series=\"");
	emit_text(&o, in->label != NULL ? in->label : "pair overhead");
	emit(&o, "\" data-points=\"%zu\" fill=\"%s\">\n", drawn, COLOR_A);
	for (i = 0; i < in->n; i++) {
		if (!isfinite(in->overhead[i]))
			continue;
		x = in->n > 1 ? PLOT_L + (double)i / (double)(in->n - 1) * (PLOT_R - PLOT_L)
			      : (PLOT_L + PLOT_R) / 2.0;
		emit(&o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>\n", x,
		     scale_y(&ys, in->overhead[i] * 100.0));
	}
	emit(&o, "</g>\n");
	/* legend: points and mean on the first row, band and threshold below */
	emit(&o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", PLOT_L + 10.0,
	     LEGEND_Y - 4.0, COLOR_A);
	emit(&o, "<text x=\"%.1f\" y=\"%.1f\">", PLOT_L + 26.0, LEGEND_Y);
	emit_text(&o, in->label != NULL ? in->label : "pair overhead");
	emit(&o, " (%zu pairs)</text>\n", drawn);
	if (isfinite(in->mean)) {
		legend_line(&o, 0, 1, COLOR_MEAN, NULL, 1.5);
		emit(&o, "mean %.2f%%</text>\n", in->mean * 100.0);
	}
	if (isfinite(in->lo) && isfinite(in->hi)) {
		legend_line(&o, 1, 0, COLOR_MEAN, "4 3", 1.5);
		emit(&o, "interval %.2f%% to %.2f%%</text>\n", in->lo * 100.0, in->hi * 100.0);
	}
	if (isfinite(in->threshold)) {
		legend_line(&o, 1, 1, COLOR_THRESHOLD, "8 4", 1.5);
		emit(&o, "threshold %.2f%%</text>\n", in->threshold * 100.0);
	}
	return finish(&o, err, errlen);
}

void czpg_svg_pair_overheads(const double *a, const double *b, size_t n, double *overhead)
{
	size_t i;

	for (i = 0; i < n; i++)
		overhead[i] = b[i] > 0.0 ? a[i] / b[i] - 1.0 : NAN;
}
