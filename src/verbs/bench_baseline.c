/*
 * bench_baseline.c - the regression gate's baseline (see czpg/bench.h): an
 * earlier `czctl postgres tls bench --json` report (schema czctl.bench/1 or
 * /2, docs/bench.md), read back, checked for comparability with this run,
 * and compared with it: the interval of this run's overhead minus the
 * baseline's.
 *
 * The report is read with a small JSON parser of its own (RFC 8259): the
 * whole document into an array of nodes, strings decoded in place in a copy
 * of the text.  The file is the user's, so every size is bounded: the file,
 * the nesting depth and the number of nodes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/bench.h"
#include "czpg/errf.h"
#include "czpg/stats.h"

#define BASELINE_MAX_BYTES ((size_t)256 << 20)
#define JSON_MAX_DEPTH 64
/* Fewest pairs a baseline must have: as many as a gate verdict needs. */
#define BASELINE_MIN_PAIRS 10

/* ------------------------------------------------------------------------
 * A small JSON reader.
 */
enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
	enum jtype type;
	bool b;
	double num;
	const char *str; /* J_STR: decoded, NUL-terminated, in the text copy */
	const char *key; /* member of an object: its name */
	size_t first;    /* J_ARR / J_OBJ: first child, 0 = none (node 0 is the root) */
	size_t next;     /* next sibling, 0 = none */
	size_t count;    /* J_ARR / J_OBJ: children */
};

struct jdoc {
	char *text; /* a copy of the input, strings decoded in place */
	size_t len, pos;
	struct jnode *nodes;
	size_t n, cap;
	char err[160];
};

static void jfail(struct jdoc *d, const char *what)
{
	if (d->err[0] == '\0')
		czpg_errf(d->err, sizeof(d->err), "%s at byte %zu", what, d->pos);
}

static void skip_ws(struct jdoc *d)
{
	while (d->pos < d->len && strchr(" \t\r\n", d->text[d->pos]) != NULL &&
	       d->text[d->pos] != '\0')
		d->pos++;
}

static size_t new_node(struct jdoc *d, enum jtype t)
{
	if (d->n == d->cap) {
		size_t cap = d->cap == 0 ? 256 : d->cap * 2;
		struct jnode *nn;

		/* At most one node per byte of text: the input bounds the count. */
		if (cap > d->len + 1)
			cap = d->len + 1;
		if (cap <= d->n) {
			jfail(d, "too many values");
			return (size_t)-1;
		}
		nn = realloc(d->nodes, cap * sizeof(*nn));
		if (nn == NULL) {
			jfail(d, "out of memory");
			return (size_t)-1;
		}
		d->nodes = nn;
		d->cap = cap;
	}
	memset(&d->nodes[d->n], 0, sizeof(d->nodes[d->n]));
	d->nodes[d->n].type = t;
	return d->n++;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Appends code point cp as UTF-8 at *w (the decoded form is never longer). */
static void put_utf8(char **w, unsigned cp)
{
	char *o = *w;

	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	*w = o;
}

/* A string at d->pos (the opening quote): decoded in place; NULL on error. */
static const char *parse_string(struct jdoc *d)
{
	char *start, *w;
	unsigned cp, lo;

	d->pos++; /* the quote */
	start = w = d->text + d->pos;
	while (d->pos < d->len) {
		char c = d->text[d->pos];

		if (c == '"') {
			d->pos++;
			*w = '\0';
			return start;
		}
		if ((unsigned char)c < 0x20) {
			jfail(d, "control character in a string");
			return NULL;
		}
		if (c != '\\') {
			*w++ = c;
			d->pos++;
			continue;
		}
		if (d->pos + 1 >= d->len)
			break;
		c = d->text[d->pos + 1];
		d->pos += 2;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			*w++ = c;
			break;
		case 'b':
			*w++ = '\b';
			break;
		case 'f':
			*w++ = '\f';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'u':
			if (d->pos + 4 > d->len || hex4(d->text + d->pos, &cp) < 0) {
				jfail(d, "bad \\u escape");
				return NULL;
			}
			d->pos += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && d->pos + 6 <= d->len &&
			    d->text[d->pos] == '\\' && d->text[d->pos + 1] == 'u' &&
			    hex4(d->text + d->pos + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				d->pos += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd; /* a lone surrogate */
			}
			if (cp == 0)
				cp = 0xfffd; /* no NUL inside our strings */
			put_utf8(&w, cp);
			break;
		default:
			jfail(d, "bad escape in a string");
			return NULL;
		}
	}
	jfail(d, "unterminated string");
	return NULL;
}

/* A number at d->pos, checked against the JSON grammar before strtod reads it. */
static int parse_number(struct jdoc *d, double *out)
{
	size_t p = d->pos, digits;
	char buf[64];

	if (p < d->len && d->text[p] == '-')
		p++;
	for (digits = 0; p < d->len && d->text[p] >= '0' && d->text[p] <= '9'; p++)
		digits++;
	if (digits == 0)
		goto bad;
	if (p < d->len && d->text[p] == '.') {
		for (p++, digits = 0; p < d->len && d->text[p] >= '0' && d->text[p] <= '9'; p++)
			digits++;
		if (digits == 0)
			goto bad;
	}
	if (p < d->len && (d->text[p] == 'e' || d->text[p] == 'E')) {
		p++;
		if (p < d->len && (d->text[p] == '+' || d->text[p] == '-'))
			p++;
		for (digits = 0; p < d->len && d->text[p] >= '0' && d->text[p] <= '9'; p++)
			digits++;
		if (digits == 0)
			goto bad;
	}
	if (p - d->pos >= sizeof(buf))
		goto bad;
	memcpy(buf, d->text + d->pos, p - d->pos);
	buf[p - d->pos] = '\0';
	*out = strtod(buf, NULL);
	d->pos = p;
	return 0;
bad:
	jfail(d, "malformed number");
	return -1;
}

static bool literal(struct jdoc *d, const char *word)
{
	size_t n = strlen(word);

	if (d->len - d->pos < n || memcmp(d->text + d->pos, word, n) != 0)
		return false;
	d->pos += n;
	return true;
}

static size_t parse_value(struct jdoc *d, int depth);

/* An array or object at d->pos; members get their keys. */
static size_t parse_container(struct jdoc *d, int depth, bool object)
{
	size_t self = new_node(d, object ? J_OBJ : J_ARR), last = 0, child;
	const char *key = NULL;

	if (self == (size_t)-1)
		return self;
	d->pos++; /* [ or { */
	skip_ws(d);
	if (d->pos < d->len && d->text[d->pos] == (object ? '}' : ']')) {
		d->pos++;
		return self;
	}
	for (;;) {
		skip_ws(d);
		if (object) {
			if (d->pos >= d->len || d->text[d->pos] != '"') {
				jfail(d, "expected a member name");
				return (size_t)-1;
			}
			key = parse_string(d);
			if (key == NULL)
				return (size_t)-1;
			skip_ws(d);
			if (d->pos >= d->len || d->text[d->pos] != ':') {
				jfail(d, "expected ':'");
				return (size_t)-1;
			}
			d->pos++;
		}
		child = parse_value(d, depth + 1);
		if (child == (size_t)-1)
			return child;
		d->nodes[child].key = key;
		if (last == 0)
			d->nodes[self].first = child;
		else
			d->nodes[last].next = child;
		last = child;
		d->nodes[self].count++;
		skip_ws(d);
		if (d->pos < d->len && d->text[d->pos] == ',') {
			d->pos++;
			continue;
		}
		if (d->pos < d->len && d->text[d->pos] == (object ? '}' : ']')) {
			d->pos++;
			return self;
		}
		jfail(d, object ? "expected ',' or '}'" : "expected ',' or ']'");
		return (size_t)-1;
	}
}

static size_t parse_value(struct jdoc *d, int depth)
{
	size_t n;
	char c;

	if (depth > JSON_MAX_DEPTH) {
		jfail(d, "nested too deeply");
		return (size_t)-1;
	}
	skip_ws(d);
	if (d->pos >= d->len) {
		jfail(d, "unexpected end");
		return (size_t)-1;
	}
	c = d->text[d->pos];
	if (c == '{' || c == '[')
		return parse_container(d, depth, c == '{');
	if (c == '"') {
		n = new_node(d, J_STR);
		if (n != (size_t)-1 && (d->nodes[n].str = parse_string(d)) == NULL)
			return (size_t)-1;
		return n;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		n = new_node(d, J_NUM);
		if (n != (size_t)-1 && parse_number(d, &d->nodes[n].num) < 0)
			return (size_t)-1;
		return n;
	}
	if (literal(d, "true") || literal(d, "false")) {
		n = new_node(d, J_BOOL);
		if (n != (size_t)-1)
			d->nodes[n].b = d->text[d->pos - 1] == 'e' && c == 't';
		return n;
	}
	if (literal(d, "null"))
		return new_node(d, J_NULL);
	jfail(d, "unexpected character");
	return (size_t)-1;
}

/* Parses text (copied) into d; 0, or -1 with d->err. */
static int jparse(struct jdoc *d, const char *text, size_t len)
{
	memset(d, 0, sizeof(*d));
	d->text = malloc(len + 1);
	if (d->text == NULL) {
		czpg_errf(d->err, sizeof(d->err), "out of memory");
		return -1;
	}
	memcpy(d->text, text, len);
	d->text[len] = '\0';
	d->len = len;
	if (parse_value(d, 0) != 0)
		return -1;
	skip_ws(d);
	if (d->pos != d->len) {
		jfail(d, "trailing bytes after the document");
		return -1;
	}
	return 0;
}

static void jfree(struct jdoc *d)
{
	free(d->text);
	free(d->nodes);
}

/* The member key of object node obj, or NULL. */
static const struct jnode *jget(const struct jdoc *d, const struct jnode *obj, const char *key)
{
	size_t i;

	if (obj == NULL || obj->type != J_OBJ)
		return NULL;
	for (i = obj->first; i != 0; i = d->nodes[i].next)
		if (strcmp(d->nodes[i].key, key) == 0)
			return &d->nodes[i];
	return NULL;
}

static const char *jstr(const struct jnode *n)
{
	return n != NULL && n->type == J_STR ? n->str : NULL;
}

static double jnum(const struct jnode *n, double dflt)
{
	return n != NULL && n->type == J_NUM ? n->num : dflt;
}

static bool jbool(const struct jnode *n)
{
	return n != NULL && n->type == J_BOOL && n->b;
}

/* ------------------------------------------------------------------------
 * The baseline.
 */
static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* A positive count from a JSON number (0 when absent or not one). */
static unsigned jcount(const struct jnode *n)
{
	double v = jnum(n, 0);

	return v >= 0 && v <= 4e9 && v == floor(v) ? (unsigned)v : 0;
}

/* The per-pair array key of pairs into a new array of exactly n values.  0 or -1. */
static int read_pairs(const struct jdoc *d, const struct jnode *pairs, const char *key, size_t n,
		      double **out)
{
	const struct jnode *arr = jget(d, pairs, key);
	size_t i, k = 0;

	if (arr == NULL || arr->type != J_ARR || arr->count != n)
		return -1;
	*out = malloc((n > 0 ? n : 1) * sizeof(double));
	if (*out == NULL)
		return -1;
	for (i = arr->first; i != 0; i = d->nodes[i].next) {
		if (d->nodes[i].type != J_NUM)
			return -1;
		(*out)[k++] = d->nodes[i].num;
	}
	return 0;
}

int czpg_bench_baseline_parse(const char *json, size_t len, const char *label,
			      struct czpg_bench_baseline *out, char *err, size_t errlen)
{
	const struct jnode *root, *cfg, *session, *pairs, *result, *count;
	const char *schema, *status;
	struct jdoc d;
	char why[256];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	copy_str(out->path, sizeof(out->path), label);
	if (jparse(&d, json, len) < 0) {
		czpg_errf(err, errlen, "baseline %s is not JSON: %s", label, d.err);
		goto out;
	}
	root = &d.nodes[0];
	schema = jstr(jget(&d, root, "schema"));
	if (schema == NULL ||
	    (strcmp(schema, "czctl.bench/1") != 0 && strcmp(schema, "czctl.bench/2") != 0)) {
		czpg_errf(err, errlen,
			  "baseline %s is not a `czctl postgres tls bench --json` report (schema "
			  "%s; a sweep's report is not a baseline either)",
			  label, schema != NULL ? schema : "missing");
		goto out;
	}
	result = jget(&d, root, "result");
	status = jstr(jget(&d, result, "status"));
	if (status == NULL || strcmp(status, "ok") != 0) {
		czpg_errf(err, errlen,
			  "baseline %s is the report of a run that did not finish (%s)", label,
			  jstr(jget(&d, result, "error")) != NULL ? jstr(jget(&d, result, "error"))
								  : "no result");
		goto out;
	}
	cfg = jget(&d, root, "config");
	session = jget(&d, root, "session");
	if (cfg == NULL) {
		czpg_errf(err, errlen, "baseline %s has no config object", label);
		goto out;
	}
	copy_str(out->workload, sizeof(out->workload), jstr(jget(&d, cfg, "workload")));
	copy_str(out->sql_file, sizeof(out->sql_file), jstr(jget(&d, cfg, "sql_file")));
	copy_str(out->mode, sizeof(out->mode), jstr(jget(&d, cfg, "mode")));
	copy_str(out->shape, sizeof(out->shape), jstr(jget(&d, cfg, "shape")));
	copy_str(out->client, sizeof(out->client), jstr(jget(&d, cfg, "client")));
	copy_str(out->protocol, sizeof(out->protocol), jstr(jget(&d, cfg, "protocol")));
	copy_str(out->sslnegotiation, sizeof(out->sslnegotiation),
		 jstr(jget(&d, cfg, "sslnegotiation")) != NULL
		     ? jstr(jget(&d, cfg, "sslnegotiation"))
		     : "postgres");
	copy_str(out->tls_records, sizeof(out->tls_records),
		 jstr(jget(&d, cfg, "tls_records")) != NULL ? jstr(jget(&d, cfg, "tls_records"))
							    : "openssl");
	out->rate = jnum(jget(&d, cfg, "rate"), NAN);
	out->pool = jcount(jget(&d, cfg, "pool"));
	out->pipeline = jcount(jget(&d, cfg, "pipeline"));
	/* Schema 1 had neither: no emulated round trip, no recycling. */
	out->conn_lifetime = jcount(jget(&d, cfg, "conn_lifetime"));
	out->rtt_ms = jnum(jget(&d, cfg, "rtt_ms"), 0);
	out->aa = jbool(jget(&d, cfg, "aa"));
	out->aa_tls = jbool(jget(&d, cfg, "aa_tls"));
	copy_str(out->server_version, sizeof(out->server_version),
		 jstr(jget(&d, session, "server_version")));
	copy_str(out->tls_version, sizeof(out->tls_version),
		 jstr(jget(&d, session, "tls_version")));
	pairs = jget(&d, root, "pairs");
	count = jget(&d, pairs, "count");
	out->npairs = jcount(count);
	if (out->npairs < BASELINE_MIN_PAIRS) {
		czpg_errf(err, errlen,
			  "baseline %s has %zu pairs; a regression gate needs at least %d", label,
			  out->npairs, BASELINE_MIN_PAIRS);
		goto out;
	}
	if (read_pairs(&d, pairs, "a_s", out->npairs, &out->a) < 0 ||
	    read_pairs(&d, pairs, "b_s", out->npairs, &out->b) < 0) {
		czpg_errf(err, errlen,
			  "baseline %s: pairs.a_s and pairs.b_s must be %zu numbers each", label,
			  out->npairs);
		goto out;
	}
	if (czpg_stats_paired(out->a, out->b, out->npairs, 1, 0, &out->stats, why, sizeof(why)) <
	    0) {
		czpg_errf(err, errlen, "baseline %s: %s", label, why);
		goto out;
	}
	rc = 0;
out:
	jfree(&d);
	if (rc < 0)
		czpg_bench_baseline_free(out);
	return rc;
}

int czpg_bench_baseline_load(const char *path, struct czpg_bench_baseline *out, char *err,
			     size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (f == NULL) {
		czpg_errf(err, errlen, "cannot read the baseline %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (n == cap) {
			char *nb;

			if (cap >= BASELINE_MAX_BYTES) {
				czpg_errf(err, errlen, "baseline %s is larger than %zu MiB", path,
					  BASELINE_MAX_BYTES >> 20);
				goto out;
			}
			cap = cap == 0 ? 65536 : cap * 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				czpg_errf(err, errlen, "out of memory reading the baseline %s",
					  path);
				goto out;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		czpg_errf(err, errlen, "cannot read the baseline %s: %s", path, strerror(errno));
		goto out;
	}
	rc = czpg_bench_baseline_parse(buf, n, path, out, err, errlen);
out:
	fclose(f);
	free(buf);
	return rc;
}

void czpg_bench_baseline_free(struct czpg_bench_baseline *base)
{
	if (base == NULL)
		return;
	free(base->a);
	free(base->b);
	base->a = base->b = NULL;
	base->npairs = 0;
}

/* The --sslnegotiation a report's config names for opt. */
static const char *negotiation_of(const struct czpg_bench_options *opt)
{
	if (opt->compare_negotiation)
		return "compare";
	return opt->sslnegotiation == CZPG_OPEN_DIRECT_TLS ? "direct" : "postgres";
}

/* Compares one text setting; 0, or -1 with the difference named. */
static int differs_str(const char *what, const char *base, const char *ours, char *why,
		       size_t whylen)
{
	if (strcmp(base, ours) == 0)
		return 0;
	czpg_errf(why, whylen, "the baseline ran %s %s, this run %s", what,
		  base[0] != '\0' ? base : "(none)", ours[0] != '\0' ? ours : "(none)");
	return -1;
}

static int differs_num(const char *what, double base, double ours, char *why, size_t whylen)
{
	if (fabs(base - ours) <= 1e-9 * fmax(1.0, fabs(ours)))
		return 0;
	czpg_errf(why, whylen, "the baseline ran %s %g, this run %s %g", what, base, what, ours);
	return -1;
}

int czpg_bench_baseline_compare(const struct czpg_bench_baseline *base,
				const struct czpg_bench_options *opt, char *why, size_t whylen)
{
	struct czpg_bench_options base_pools = {.aa = base->aa, .aa_tls = base->aa_tls};
	const char *sql =
	    opt->workload == CZPG_BENCH_SQL && opt->sql_name != NULL ? opt->sql_name : "";

	if (differs_str("--workload", base->workload, czpg_bench_workload_name(opt->workload), why,
			whylen) < 0 ||
	    differs_str("--sql", base->sql_file, sql, why, whylen) < 0 ||
	    differs_str("the mode", base->mode, czpg_bench_mode_name(opt), why, whylen) < 0 ||
	    differs_str("the loop", base->shape, czpg_bench_shape_name(opt), why, whylen) < 0 ||
	    (opt->shape == CZPG_BENCH_OPEN &&
	     differs_num("--rate", base->rate, opt->rate, why, whylen) < 0) ||
	    differs_str("--client", base->client, czpg_bench_client_name(opt), why, whylen) < 0 ||
	    differs_str("--protocol", base->protocol, czpg_bench_protocol_name(opt), why, whylen) <
		0 ||
	    differs_str("--sslnegotiation", base->sslnegotiation, negotiation_of(opt), why,
			whylen) < 0 ||
	    differs_str("--tls-records", base->tls_records, czpg_bench_records_name(opt), why,
			whylen) < 0 ||
	    differs_num("--pool", base->pool, opt->pool, why, whylen) < 0 ||
	    differs_num("--pipeline", base->pipeline, opt->pipeline, why, whylen) < 0 ||
	    differs_num("--rtt", base->rtt_ms, opt->rtt_ms, why, whylen) < 0 ||
	    differs_num("--conn-lifetime", base->conn_lifetime, opt->conn_lifetime, why, whylen) <
		0 ||
	    differs_str("the pools", czpg_bench_pools_name(&base_pools), czpg_bench_pools_name(opt),
			why, whylen) < 0)
		return -1;
	return 0;
}

int czpg_bench_baseline_compare_session(const struct czpg_bench_baseline *base,
					const struct czpg_bench_result *res, char *why,
					size_t whylen)
{
	if (differs_str("against server", base->server_version, res->server_version, why, whylen) <
		0 ||
	    differs_str("TLS version", base->tls_version, res->tls_version, why, whylen) < 0)
		return -1;
	return 0;
}

int czpg_bench_regression_gate(const struct czpg_bench_options *opt,
			       const struct czpg_bench_baseline *base, const double *a,
			       const double *b, size_t n, struct czpg_bench_regression *out)
{
	char err[256];

	out->set = true;
	out->have = false;
	out->gate = CZPG_GATE_STRADDLE;
	if (czpg_stats_diff(a, b, n, base->a, base->b, base->npairs, opt->seed, 0, &out->diff, err,
			    sizeof(err)) < 0)
		return -1;
	out->have = true;
	out->gate = czpg_stats_gate(out->diff.lo, out->diff.hi, opt->max_regression);
	return 0;
}
