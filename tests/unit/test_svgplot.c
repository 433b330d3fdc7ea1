/*
 * test_svgplot.c - unit tests for the SVG bench charts (czpg/svgplot.h):
 * well-formed XML (checked by a small strict checker here and, when
 * python3 is installed, by xml.dom.minidom), both series present with the
 * right number of points, geometry inside the canvas, escaping of caller
 * text, and the two sinks (FILE and capped wbuf) with their failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "czpg/svgplot.h"

/* ---------------------------------------------------------------------- */
/* A strict little well-formedness checker for what the writer produces.   */

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == ':' || c == '.';
}

/* An entity reference at s ("&amp;" etc.); returns its length or 0. */
static size_t entity_len(const char *s)
{
	static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
	size_t i;

	for (i = 0; i < 5; i++)
		if (strncmp(s, ents[i], strlen(ents[i])) == 0)
			return strlen(ents[i]);
	return 0;
}

/* Text or attribute value up to `stop`; returns the end or NULL when bad. */
static const char *check_chars(const char *p, char stop)
{
	size_t n;

	while (*p != '\0' && *p != stop) {
		unsigned char c = (unsigned char)*p;

		if (c == '<' || (c < 0x20 && c != '\n' && c != '\t' && c != '\r'))
			return NULL;
		if (c == '&') {
			n = entity_len(p);
			if (n == 0)
				return NULL;
			p += n;
			continue;
		}
		p++;
	}
	return p;
}

/* Returns NULL when doc is well-formed, else a short reason. */
static const char *xml_check(const char *doc)
{
	char stack[32][32];
	int depth = 0, roots = 0;
	const char *p = doc, *name;
	size_t nlen;

	if (strncmp(p, "<?xml ", 6) != 0)
		return "no XML declaration";
	p = strstr(p, "?>");
	if (p == NULL)
		return "unterminated declaration";
	p += 2;
	for (;;) {
		p = check_chars(p, '<');
		if (p == NULL)
			return "bad character data";
		if (*p == '\0')
			break;
		if (depth == 0 && roots > 0)
			return "content after the root element";
		p++;
		if (*p == '/') {
			p++;
			name = p;
			while (is_name_char(*p))
				p++;
			nlen = (size_t)(p - name);
			if (depth == 0 || nlen != strlen(stack[depth - 1]) ||
			    strncmp(name, stack[depth - 1], nlen) != 0)
				return "mismatched end tag";
			if (*p != '>')
				return "bad end tag";
			p++;
			depth--;
			continue;
		}
		name = p;
		while (is_name_char(*p))
			p++;
		nlen = (size_t)(p - name);
		if (nlen == 0 || nlen >= sizeof(stack[0]))
			return "bad element name";
		for (;;) {
			while (*p == ' ' || *p == '\n')
				p++;
			if (*p == '>' || (p[0] == '/' && p[1] == '>'))
				break;
			if (!is_name_char(*p))
				return "bad attribute";
			while (is_name_char(*p))
				p++;
			if (p[0] != '=' || p[1] != '"')
				return "unquoted attribute";
			p = check_chars(p + 2, '"');
			if (p == NULL || *p != '"')
				return "bad attribute value";
			p++;
		}
		if (*p == '/') {
			p += 2;
			if (depth == 0)
				roots++;
			continue;
		}
		p++;
		if (depth == 32)
			return "nesting too deep";
		memcpy(stack[depth], name, nlen);
		stack[depth][nlen] = '\0';
		if (depth == 0)
			roots++;
		depth++;
	}
	if (depth != 0)
		return "unclosed element";
	if (roots != 1)
		return "not exactly one root element";
	return NULL;
}

/*
 * Every document checked here is also saved to a private temporary
 * directory; the last test hands them all to python3's xml.dom.minidom in one
 * run (starting python3 once per document is slow on a loaded machine).
 */
#define MAX_SAVED 64
static char saved_dir[] = "/tmp/czpg_svgXXXXXX";
static char saved[MAX_SAVED][64];
static size_t n_saved;
static bool saved_dir_made;

static void save_doc(const char *doc, char *path, size_t pathlen)
{
	FILE *f;

	assert_true(saved_dir_made);
	snprintf(path, pathlen, "%s/doc%02zu.svg", saved_dir, n_saved);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(doc, 1, strlen(doc), f), strlen(doc));
	assert_int_equal(fclose(f), 0);
}

static void assert_well_formed(const char *doc)
{
	const char *why = xml_check(doc);

	if (why != NULL)
		fail_msg("SVG is not well-formed: %s", why);
	assert_true(n_saved < MAX_SAVED);
	save_doc(doc, saved[n_saved], sizeof(saved[0]));
	n_saved++;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static char *wbuf_string(struct czpg_wbuf *w)
{
	char *s = malloc(w->len + 1);

	assert_non_null(s);
	memcpy(s, w->data, w->len);
	s[w->len] = '\0';
	return s;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/*
 * Finds the polyline of `series`, checks its data-points attribute and its
 * coordinates (inside the canvas, x rising, y falling as the CDF rises) and
 * returns how many points it holds; 0 when there is no such series.
 */
static size_t cdf_points(const char *doc, const char *series)
{
	char key[128];
	const char *p, *end;
	double x, y, px = -1.0, py = 1e9;
	size_t n = 0, declared;
	int used;

	snprintf(key, sizeof(key), "<polyline data-series=\"%s\" data-points=\"", series);
	p = strstr(doc, key);
	if (p == NULL)
		return 0;
	declared = strtoul(p + strlen(key), NULL, 10);
	p = strstr(p, " points=\"");
	assert_non_null(p);
	p += strlen(" points=\"");
	end = strchr(p, '"');
	assert_non_null(end);
	while (p < end) {
		assert_int_equal(sscanf(p, "%lf,%lf%n", &x, &y, &used), 2);
		assert_true(isfinite(x) && isfinite(y));
		assert_true(x >= 0.0 && x <= 800.0 && y >= 0.0 && y <= 520.0);
		assert_true(x >= px && y <= py);
		px = x;
		py = y;
		n++;
		p += used;
		while (*p == ' ')
			p++;
	}
	assert_int_equal(n, declared);
	return n;
}

/* Circles inside the <g> of `series` (the legend marker is outside it). */
static size_t group_circles(const char *doc, const char *series)
{
	char key[128];
	const char *g, *end;
	size_t n = 0;

	snprintf(key, sizeof(key), "<g data-series=\"%s\"", series);
	g = strstr(doc, key);
	if (g == NULL)
		return 0;
	end = strstr(g, "</g>");
	assert_non_null(end);
	while ((g = strstr(g, "<circle ")) != NULL && g < end) {
		n++;
		g++;
	}
	return n;
}

static void fill_lognormal(struct czpg_hist *h, uint64_t seed, double median_ns, size_t n)
{
	struct czpg_rng rng;
	size_t i;

	czpg_hist_init(h);
	czpg_rng_seed(&rng, seed);
	for (i = 0; i < n; i++) {
		double u1 = 1.0 - czpg_rng_uniform(&rng), u2 = czpg_rng_uniform(&rng);
		double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);

		czpg_hist_record(h, (uint64_t)(median_ns * exp(0.5 * z)));
	}
}

struct fixture {
	struct czpg_hist tls;
	struct czpg_hist plain;
};

static int setup(void **state)
{
	struct fixture *fx = malloc(sizeof(*fx));

	if (fx == NULL)
		return -1;
	fill_lognormal(&fx->tls, 1, 260000.0, 50000);
	fill_lognormal(&fx->plain, 2, 200000.0, 50000);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Latency CDF                                                            */

static void test_cdf_two_series(void **state)
{
	struct fixture *fx = *state;
	struct czpg_wbuf w;
	struct czpg_svg_sink sink = {.wbuf = &w};
	struct czpg_svg_cdf_input in = {.a = &fx->tls, .b = &fx->plain};
	char err[256] = "";
	char *doc;

	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_latency_cdf(&sink, &in, err, sizeof(err)), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_int_equal(cdf_points(doc, "TLS"), CZPG_SVG_CDF_POINTS);
	assert_int_equal(cdf_points(doc, "plaintext"), CZPG_SVG_CDF_POINTS);
	assert_int_equal(count_str(doc, "<polyline"), 2);
	/* legend labels as visible text */
	assert_non_null(strstr(doc, ">TLS (n=50000"));
	assert_non_null(strstr(doc, ">plaintext (n=50000"));
	assert_non_null(strstr(doc, "<title>Latency distribution</title>"));
	/* decade ticks around the data (about 60 us .. 1.5 ms) */
	assert_non_null(strstr(doc, ">10 \xc2\xb5s<"));
	assert_non_null(strstr(doc, ">1 ms<"));
	assert_non_null(strstr(doc, ">10 ms<"));
	free(doc);
	czpg_wbuf_free(&w);
}

/* The slower pool's median lies to the right: check it geometrically. */
static void test_cdf_orders_series(void **state)
{
	struct fixture *fx = *state;
	struct czpg_wbuf w;
	struct czpg_svg_sink sink = {.wbuf = &w};
	struct czpg_svg_cdf_input in = {.a = &fx->tls, .b = &fx->plain};
	const char *key = "points=\"";
	double xa, xb, y;
	char *doc;
	const char *p;
	int k;

	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_latency_cdf(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	/* point 50 of each curve is the median */
	p = strstr(strstr(doc, "data-series=\"TLS\""), key) + strlen(key);
	for (k = 0; k < 50; k++)
		p = strchr(p, ' ') + 1;
	assert_int_equal(sscanf(p, "%lf,%lf", &xa, &y), 2);
	p = strstr(strstr(doc, "data-series=\"plaintext\""), key) + strlen(key);
	for (k = 0; k < 50; k++)
		p = strchr(p, ' ') + 1;
	assert_int_equal(sscanf(p, "%lf,%lf", &xb, &y), 2);
	assert_true(xa > xb);
	free(doc);
	czpg_wbuf_free(&w);
}

static void test_cdf_empty_and_labels(void **state)
{
	struct fixture *fx = *state;
	struct czpg_hist *empty = malloc(sizeof(*empty));
	struct czpg_wbuf w;
	struct czpg_svg_sink sink = {.wbuf = &w};
	struct czpg_svg_cdf_input in = {.title = "A/A run",
					.a = &fx->plain,
					.b = empty,
					.a_label = "plaintext A",
					.b_label = "plaintext B"};
	char *doc;

	assert_non_null(empty);
	czpg_hist_init(empty);
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_latency_cdf(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_int_equal(cdf_points(doc, "plaintext A"), CZPG_SVG_CDF_POINTS);
	assert_int_equal(cdf_points(doc, "plaintext B"), 0);
	assert_int_equal(count_str(doc, "<polyline"), 1);
	free(doc);

	/* no data at all still makes a valid document that says so */
	in.a = NULL;
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_svg_latency_cdf(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_int_equal(count_str(doc, "<polyline"), 0);
	assert_non_null(strstr(doc, ">no data<"));
	free(doc);
	czpg_wbuf_free(&w);
	free(empty);
}

/* Clamped values (0 ns, beyond 60 s) keep every coordinate finite. */
static void test_cdf_extremes(void **state)
{
	struct czpg_hist *h = malloc(sizeof(*h));
	struct czpg_wbuf w;
	struct czpg_svg_sink sink = {.wbuf = &w};
	struct czpg_svg_cdf_input in;
	char *doc;

	(void)state;
	assert_non_null(h);
	czpg_hist_init(h);
	czpg_hist_record(h, 0);
	czpg_hist_record(h, 5000);
	czpg_hist_record(h, UINT64_MAX);
	memset(&in, 0, sizeof(in));
	in.a = h;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_latency_cdf(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_int_equal(cdf_points(doc, "TLS"), CZPG_SVG_CDF_POINTS);
	assert_null(strstr(doc, "nan"));
	assert_null(strstr(doc, "inf"));
	free(doc);
	czpg_wbuf_free(&w);
	free(h);
}

/* ---------------------------------------------------------------------- */
/* Overhead over time                                                     */

static void test_overhead_points_and_lines(void **state)
{
	double ov[37];
	struct czpg_wbuf w;
	struct czpg_svg_sink sink = {.wbuf = &w};
	struct czpg_svg_overhead_input in = {
	    .overhead = ov, .n = 37, .mean = 0.031, .lo = 0.018, .hi = 0.044, .threshold = 0.05};
	const char *g;
	char *doc;
	size_t i;

	(void)state;
	for (i = 0; i < 37; i++)
		ov[i] = 0.03 + 0.04 * sin((double)i);
	ov[5] = NAN;
	ov[20] = INFINITY;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_overhead(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	g = strstr(doc, "<g data-series=\"pair overhead\" data-points=\"35\"");
	assert_non_null(g);
	assert_int_equal(group_circles(doc, "pair overhead"), 35);
	assert_int_equal(count_str(doc, "data-line=\"mean\""), 1);
	assert_int_equal(count_str(doc, "data-line=\"CI low\""), 1);
	assert_int_equal(count_str(doc, "data-line=\"CI high\""), 1);
	assert_int_equal(count_str(doc, "data-line=\"threshold\""), 1);
	assert_int_equal(count_str(doc, "data-band=\"ci\""), 1);
	assert_non_null(strstr(doc, ">mean 3.10%<"));
	assert_non_null(strstr(doc, ">interval 1.80% to 4.40%<"));
	assert_non_null(strstr(doc, ">threshold 5.00%<"));
	assert_null(strstr(doc, "nan"));
	free(doc);

	/* no threshold: no threshold line; custom label */
	in.threshold = NAN;
	in.label = "A/A";
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_svg_overhead(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_int_equal(count_str(doc, "data-line=\"threshold\""), 0);
	assert_non_null(strstr(doc, "<g data-series=\"A/A\" data-points=\"35\""));
	free(doc);
	czpg_wbuf_free(&w);
}

/* Circles sit where the values say: higher overhead, smaller y. */
static void test_overhead_geometry(void **state)
{
	const double ov[3] = {0.01, 0.05, 0.03};
	struct czpg_wbuf w;
	struct czpg_svg_sink sink = {.wbuf = &w};
	struct czpg_svg_overhead_input in = {
	    .overhead = ov, .n = 3, .mean = 0.03, .lo = 0.02, .hi = 0.04, .threshold = NAN};
	double cx[3], cy[3];
	const char *p;
	char *doc;
	int i;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_overhead(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	p = doc;
	for (i = 0; i < 3; i++) {
		p = strstr(p, "<circle ");
		assert_non_null(p);
		assert_int_equal(sscanf(p, "<circle cx=\"%lf\" cy=\"%lf\"", &cx[i], &cy[i]), 2);
		p++;
	}
	assert_true(cx[0] < cx[1] && cx[1] < cx[2]);
	assert_true(cy[1] < cy[2] && cy[2] < cy[0]);
	/* equal steps in value, equal steps in y */
	assert_true(fabs((cy[0] - cy[2]) - (cy[2] - cy[1])) < 0.2);
	free(doc);

	/* zero and one pair still give valid documents */
	in.n = 0;
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_svg_overhead(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_int_equal(group_circles(doc, "pair overhead"), 0);
	free(doc);
	in.n = 1;
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_svg_overhead(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_int_equal(group_circles(doc, "pair overhead"), 1);
	free(doc);
	czpg_wbuf_free(&w);
}

static void test_pair_overheads(void **state)
{
	const double a[3] = {1.1, 2.0, 1.0}, b[3] = {1.0, 2.0, 0.0};
	double ov[3];

	(void)state;
	czpg_svg_pair_overheads(a, b, 3, ov);
	assert_true(fabs(ov[0] - 0.1) < 1e-12);
	assert_true(ov[1] == 0.0);
	assert_true(isnan(ov[2]));
}

/* ---------------------------------------------------------------------- */
/* Escaping and sinks                                                     */

static void test_escaping(void **state)
{
	struct fixture *fx = *state;
	const char *title = "<script>&\"'\x01 \xc2\xb5s \xff\xfe \xed\xa0\x80 \xe2\x82";
	struct czpg_wbuf w;
	struct czpg_svg_sink sink = {.wbuf = &w};
	struct czpg_svg_cdf_input in = {
	    .title = title, .a = &fx->tls, .b = &fx->plain, .a_label = "TLS <1.3> & \"more\""};
	const double ov[2] = {0.01, 0.02};
	struct czpg_svg_overhead_input oin = {
	    .title = title, .overhead = ov, .n = 2, .threshold = NAN, .label = "a&b"};
	char *doc;

	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_latency_cdf(&sink, &in, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_null(strstr(doc, "<script"));
	assert_non_null(strstr(doc, "<title>&lt;script&gt;&amp;&quot;&apos;? \xc2\xb5s ?"
				    "? ?"
				    "?? ?"
				    "?</title>"));
	assert_int_equal(cdf_points(doc, "TLS &lt;1.3&gt; &amp; &quot;more&quot;"),
			 CZPG_SVG_CDF_POINTS);
	free(doc);

	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_svg_overhead(&sink, &oin, NULL, 0), 0);
	doc = wbuf_string(&w);
	assert_well_formed(doc);
	assert_non_null(strstr(doc, "data-series=\"a&amp;b\""));
	free(doc);
	czpg_wbuf_free(&w);
}

/* FILE and wbuf sinks produce the same bytes. */
static void test_file_sink_matches_wbuf(void **state)
{
	struct fixture *fx = *state;
	struct czpg_wbuf w;
	struct czpg_svg_sink bsink = {.wbuf = &w};
	struct czpg_svg_cdf_input in = {.a = &fx->tls, .b = &fx->plain};
	struct czpg_svg_sink fsink;
	FILE *f = tmpfile();
	char *got;
	long len;

	assert_non_null(f);
	fsink.file = f;
	fsink.wbuf = NULL;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_latency_cdf(&bsink, &in, NULL, 0), 0);
	assert_int_equal(czpg_svg_latency_cdf(&fsink, &in, NULL, 0), 0);
	len = ftell(f);
	assert_int_equal((size_t)len, w.len);
	got = malloc((size_t)len);
	assert_non_null(got);
	rewind(f);
	assert_int_equal(fread(got, 1, (size_t)len, f), (size_t)len);
	assert_memory_equal(got, w.data, w.len);
	free(got);
	fclose(f);
	czpg_wbuf_free(&w);
}

static void test_sink_errors(void **state)
{
	struct fixture *fx = *state;
	struct czpg_wbuf w;
	struct czpg_svg_sink sink = {.wbuf = &w};
	struct czpg_svg_cdf_input in = {.a = &fx->tls, .b = &fx->plain};
	struct czpg_svg_sink none = {0}, both;
	char err[256];
	FILE *full;

	/* a capped buffer: the failed document is rolled back, earlier bytes stay */
	czpg_wbuf_init(&w, 2000);
	assert_int_equal(czpg_wbuf_bytes(&w, "keep", 4), 0);
	err[0] = '\0';
	assert_int_equal(czpg_svg_latency_cdf(&sink, &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "2000 bytes"));
	assert_int_equal(w.len, 4);
	assert_memory_equal(w.data, "keep", 4);
	czpg_wbuf_free(&w);

	err[0] = '\0';
	assert_int_equal(czpg_svg_latency_cdf(&none, &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exactly one output"));
	both.file = stdout;
	both.wbuf = &w;
	assert_int_equal(czpg_svg_latency_cdf(&both, &in, NULL, 0), -1);
	assert_int_equal(czpg_svg_latency_cdf(NULL, &in, NULL, 0), -1);
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_svg_latency_cdf(&sink, NULL, NULL, 0), -1);
	czpg_wbuf_free(&w);

	/* a file that cannot take the bytes */
	full = fopen("/dev/full", "w");
	if (full != NULL) {
		struct czpg_svg_sink fsink = {.file = full};

		err[0] = '\0';
		assert_int_equal(czpg_svg_latency_cdf(&fsink, &in, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "writing the SVG chart failed"));
		fclose(full);
	}
}

/* The checkers themselves must reject broken documents. */
static void test_checkers_reject(void **state)
{
	static const char *const bad[] = {
	    "<svg></svg>",
	    "<?xml version=\"1.0\"?><svg><g></svg>",
	    "<?xml version=\"1.0\"?><svg><g></h></svg>",
	    "<?xml version=\"1.0\"?><svg a=\"1<2\"/>",
	    "<?xml version=\"1.0\"?><svg a=1/>",
	    "<?xml version=\"1.0\"?><svg>a & b</svg>",
	    "<?xml version=\"1.0\"?><svg>\x01</svg>",
	    "<?xml version=\"1.0\"?><svg/><svg/>",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_non_null(xml_check(bad[i]));
	assert_null(xml_check("<?xml version=\"1.0\"?><svg a=\"&amp;\"><g/>x &lt; y</svg>"));
}

/*
 * python3's XML parser over every document the other tests produced, plus
 * one broken document that it must reject (so the check itself can fail).
 * Skipped when there is no python3.
 */
static void test_python_minidom(void **state)
{
	char bad[128], cmd[64 * (MAX_SAVED + 2) + 512], line[256];
	size_t i, used, rejected = 0;
	bool bad_seen = false;
	FILE *p;

	(void)state;
	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		print_message("python3 not found: skipping the xml.dom.minidom cross-check\n");
		skip();
	}
	assert_true(n_saved >= 10);
	save_doc("<?xml version=\"1.0\"?><svg><g></svg>\n", bad, sizeof(bad));
	used = (size_t)snprintf(cmd, sizeof(cmd),
				"python3 -c 'import sys, xml.dom.minidom as m\n"
				"for f in sys.argv[1:]:\n"
				"    try:\n"
				"        d = m.parse(f)\n"
				"        assert d.documentElement.tagName == \"svg\"\n"
				"    except Exception:\n"
				"        print(f)\n' %s",
				bad);
	for (i = 0; i < n_saved; i++)
		used += (size_t)snprintf(cmd + used, sizeof(cmd) - used, " %s", saved[i]);
	assert_true(used < sizeof(cmd));
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, bad) == 0) {
			bad_seen = true;
			continue;
		}
		print_message("python3 could not parse %s\n", line);
		rejected++;
	}
	assert_int_equal(pclose(p), 0);
	assert_true(bad_seen);
	assert_int_equal(rejected, 0);
}

static int group_setup(void **state)
{
	if (mkdtemp(saved_dir) == NULL)
		return -1;
	saved_dir_made = true;
	return setup(state);
}

/* Removes the saved documents unless CZ_KEEP_SVG is set (for inspection). */
static int group_teardown(void **state)
{
	char path[128];
	size_t i;

	if (getenv("CZ_KEEP_SVG") == NULL) {
		for (i = 0; i <= n_saved; i++) {
			snprintf(path, sizeof(path), "%s/doc%02zu.svg", saved_dir, i);
			unlink(path);
		}
		rmdir(saved_dir);
	} else {
		fprintf(stderr, "SVG documents kept in %s\n", saved_dir);
	}
	return teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_checkers_reject),
	    cmocka_unit_test(test_cdf_two_series),
	    cmocka_unit_test(test_cdf_orders_series),
	    cmocka_unit_test(test_cdf_empty_and_labels),
	    cmocka_unit_test(test_cdf_extremes),
	    cmocka_unit_test(test_overhead_points_and_lines),
	    cmocka_unit_test(test_overhead_geometry),
	    cmocka_unit_test(test_pair_overheads),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_file_sink_matches_wbuf),
	    cmocka_unit_test(test_sink_errors),
	    cmocka_unit_test(test_python_minidom),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
