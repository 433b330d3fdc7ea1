/*
 * hba_plan.c - the managed-block planner (see czpg/hba_plan.h for the
 * placement rules): renders the block, finds where it goes in the file with
 * the old block removed, checks the result with the first-match evaluator
 * and writes the dry-run explanation.
 */
#include "czpg/hba_plan.h"
#include "czpg/errf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "czpg/buf.h"
#include "czpg/hba_eval.h"
#include "czpg/parse.h"
#include "hba_internal.h"

struct czpg_hba_plan {
	char *output;
	size_t output_len;
	bool changed;
	char *block;
	unsigned block_line;
	enum czpg_hba_mode previous;
	char *explain;
	char **warnings;
	size_t nwarnings;
};

/* printf into a wbuf (no NUL appended). */
__attribute__((format(printf, 2, 3))) static void wprintf(struct czpg_wbuf *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || czpg_wbuf_reserve(w, (size_t)n + 1) < 0) {
		w->err = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf((char *)w->data + w->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	w->len += (size_t)n;
}

static bool is_tcp_type(enum czpg_hba_type t)
{
	return t == CZPG_HBA_HOST || t == CZPG_HBA_HOSTSSL || t == CZPG_HBA_HOSTNOSSL ||
	       t == CZPG_HBA_HOSTGSSENC || t == CZPG_HBA_HOSTNOGSSENC;
}

/* Could record l match a TCP connection from some address in c? */
static bool could_match_cidr(const struct czpg_hba_line *l, const struct czpg_hba_cidr *c)
{
	uint8_t cm[16];
	size_t i;

	if (l->type == CZPG_HBA_INCLUDE || l->type == CZPG_HBA_OTHER)
		return true;
	if (!is_tcp_type(l->type))
		return false;
	if (l->addr_kind != CZPG_HBA_ADDR_NET)
		return true; /* all, hostnames, samehost/samenet, unparsable */
	if (l->family != c->family)
		return false;
	czpg_hba_prefix_mask(c->family, c->prefix, cm);
	for (i = 0; i < czpg_hba_addr_len(c->family); i++)
		if (((c->addr[i] ^ l->addr[i]) & l->mask[i] & cm[i]) != 0)
			return false;
	return true;
}

static bool admits_nossl(const struct czpg_hba_line *l)
{
	return l->type != CZPG_HBA_HOSTSSL &&
	       !(l->method != NULL && strcmp(l->method, "reject") == 0);
}

/* The first physical line of record l, trimmed and shortened, for messages. */
static void line_excerpt(const char *text, const struct czpg_hba_line *l, char *buf, size_t n)
{
	size_t nx, clen = czpg_hba_phys_line(text, l->off + l->len, l->off, &nx), s = 0;
	const char *p = text + l->off;

	while (s < clen && czpg_hba_is_blank(p[s]))
		s++;
	while (clen > s && czpg_hba_is_blank(p[clen - 1]))
		clen--;
	if (clen - s > 90)
		snprintf(buf, n, "%.87s...", p + s);
	else
		snprintf(buf, n, "%.*s", (int)(clen - s), p + s);
}

static int add_warning(struct czpg_hba_plan *p, const char *msg)
{
	char **g = realloc(p->warnings, (p->nwarnings + 1) * sizeof(*g));

	if (g == NULL)
		return -1;
	p->warnings = g;
	p->warnings[p->nwarnings] = strdup(msg);
	if (p->warnings[p->nwarnings] == NULL)
		return -1;
	p->nwarnings++;
	return 0;
}

/* Renders the managed block with line ends eol. */
static char *render_block(const struct czpg_hba_params *pa, const char *cidr, const char *eol)
{
	struct czpg_wbuf w, roles;
	char q[CZPG_HBA_NAME_MAX + 3], db[CZPG_HBA_NAME_MAX + 3];
	size_t i;
	char *rs;
	int rw;

	czpg_wbuf_init(&w, 0);
	czpg_wbuf_init(&roles, 0);
	for (i = 0; i < pa->n_roles; i++) {
		if (czpg_hba_quote_name(pa->roles[i], q, sizeof(q)) < 0)
			roles.err = true;
		else
			wprintf(&roles, "%s%s", i ? "," : "", q);
	}
	rs = czpg_hba_wbuf_take(&roles, NULL);
	if (rs == NULL)
		goto fail;
	rw = (int)strlen(rs); /* at most 64 quoted names: fits an int */
	if (pa->database == NULL || strcmp(pa->database, "all") == 0)
		snprintf(db, sizeof(db), "all");
	else if (czpg_hba_quote_name(pa->database, db, sizeof(db)) < 0)
		goto fail;
	wprintf(&w, "%s%s", CZPG_HBA_BEGIN, eol);
	wprintf(&w, "# mode: %s; allowed: %s; written by czctl postgres tls provision.%s",
		czpg_hba_mode_name(pa->mode), cidr, eol);
	if (pa->mode == CZPG_HBA_MODE_HARDEN) {
		wprintf(
		    &w,
		    "# pg_hba.conf is first-match: this block sits above every other host record%s"
		    "# that could match %s, so non-TLS connections from there meet the reject.%s",
		    eol, cidr, eol);
		wprintf(&w, "hostssl    %-16s %-*s %s scram-sha-256%s", db, rw, rs, cidr, eol);
		wprintf(&w, "hostnossl  %-16s %-*s %s reject%s", "all,replication", rw, "all", cidr,
			eol);
	} else {
		wprintf(
		    &w,
		    "# pg_hba.conf is first-match: this block sits below the existing records so%s"
		    "# they keep deciding; it adds SCRAM over TLS, and plaintext until harden.%s",
		    eol, eol);
		wprintf(&w, "hostssl    %-16s %-*s %s scram-sha-256%s", db, rw, rs, cidr, eol);
		wprintf(&w, "host       %-16s %-*s %s scram-sha-256%s", db, rw, rs, cidr, eol);
	}
	wprintf(&w, "%s%s", CZPG_HBA_END, eol);
	free(rs);
	return czpg_hba_wbuf_take(&w, NULL);
fail:
	free(rs);
	czpg_wbuf_free(&w);
	return NULL;
}

static int check_params(const struct czpg_hba_params *pa, struct czpg_hba_cidr *c, char *err,
			size_t errlen)
{
	char sub[256];
	size_t i, j;

	if (pa == NULL) {
		czpg_errf(err, errlen, "no pg_hba parameters given");
		return -1;
	}
	if (pa->mode != CZPG_HBA_MODE_TRANSITION && pa->mode != CZPG_HBA_MODE_HARDEN) {
		czpg_errf(err, errlen, "the pg_hba mode must be transition or harden");
		return -1;
	}
	if (czpg_hba_cidr_parse(pa->cidr, c, err, errlen) < 0)
		return -1;
	if (pa->n_roles == 0 || pa->roles == NULL) {
		czpg_errf(err, errlen,
			  "no role given; name at least one role the application "
			  "connects as");
		return -1;
	}
	if (pa->n_roles > CZPG_HBA_MAX_ROLES) {
		czpg_errf(err, errlen, "%zu roles given; the limit is %d", pa->n_roles,
			  CZPG_HBA_MAX_ROLES);
		return -1;
	}
	for (i = 0; i < pa->n_roles; i++) {
		if (czpg_hba_name_check(pa->roles[i], sub, sizeof(sub)) < 0) {
			czpg_errf(err, errlen, "role: %s", sub);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(pa->roles[i], pa->roles[j]) == 0) {
				czpg_errf(err, errlen, "role \"%s\" is given twice", pa->roles[i]);
				return -1;
			}
		}
	}
	if (pa->database != NULL && czpg_hba_name_check(pa->database, sub, sizeof(sub)) < 0) {
		czpg_errf(err, errlen, "database: %s", sub);
		return -1;
	}
	return 0;
}

/* Copies text[0..len) without the block range of f. */
static char *strip_block(const char *text, size_t len, const struct czpg_hba_file *f,
			 size_t *out_len)
{
	char *s = malloc(len + 1);
	size_t n = 0;

	if (s == NULL)
		return NULL;
	if (f->has_block) {
		memcpy(s, text, f->block_off);
		n = f->block_off;
		memcpy(s + n, text + f->block_end, len - f->block_end);
		n += len - f->block_end;
	} else if (len > 0) {
		memcpy(s, text, len);
		n = len;
	}
	s[n] = '\0';
	*out_len = n;
	return s;
}

/* Line number in the original text of a line of the stripped text. */
static unsigned orig_lineno(const struct czpg_hba_file *orig, const struct czpg_hba_line *l)
{
	if (orig->has_block && l->off >= orig->block_off)
		return l->lineno + (orig->block_last - orig->block_first + 1);
	return l->lineno;
}

/* Network address of c as text, for evaluating a sample connection. */
static void cidr_addr_text(const struct czpg_hba_cidr *c, char *buf, size_t n)
{
	czpg_parse_ip_text(c->addr, czpg_hba_addr_len(c->family), buf, n);
}

/*
 * The dry-run text.  s is the file without the old block (stext its bytes),
 * at the index in s the block is inserted before (-1: appended), o the parsed
 * output (block lines flagged in_block), otext its bytes.
 */
static int explain(struct czpg_hba_plan *p, const struct czpg_hba_params *pa,
		   const struct czpg_hba_cidr *c, const char *cidr,
		   const struct czpg_hba_file *orig, const struct czpg_hba_file *s,
		   const char *stext, long at)
{
	struct czpg_wbuf w;
	char ex[128];
	size_t i;
	bool harden = pa->mode == CZPG_HBA_MODE_HARDEN;
	int rc = -1;

	czpg_wbuf_init(&w, 0);
	wprintf(&w, "pg_hba.conf: %s block for %s (roles: ", czpg_hba_mode_name(pa->mode), cidr);
	for (i = 0; i < pa->n_roles; i++)
		wprintf(&w, "%s%s", i ? ", " : "", pa->roles[i]);
	wprintf(&w, "; database: %s)\n", pa->database ? pa->database : "all");
	if (orig->has_block)
		wprintf(&w, "  replaces the existing %s block at lines %u-%u\n",
			czpg_hba_mode_name(orig->mode), orig->block_first, orig->block_last);
	else
		wprintf(&w, "  adds a new managed block (there is none yet)\n");
	if (harden)
		wprintf(&w,
			"  lines: hostssl scram-sha-256 for the roles from %s, then hostnossl "
			"reject for every non-TLS connection from %s (replication included)\n",
			cidr, cidr);
	else
		wprintf(&w,
			"  lines: hostssl and host scram-sha-256 for the roles from %s (plaintext "
			"still allowed so the application keeps working)\n",
			cidr);
	if (at >= 0) {
		line_excerpt(stext, &s->lines[at], ex, sizeof(ex));
		wprintf(&w,
			"  placed before line %u (%s), the first record that could match a "
			"connection from %s: pg_hba.conf is first-match, so non-TLS connections "
			"from %s meet the reject before any other record\n",
			orig_lineno(orig, &s->lines[at]), ex, cidr, cidr);
	} else if (harden) {
		wprintf(&w,
			"  placed at the end: no other record could match a connection from %s, "
			"so the reject decides every non-TLS connection from there\n",
			cidr);
	} else {
		wprintf(&w, "  placed at the end: pg_hba.conf is first-match, so the existing "
			    "records keep deciding (the application's current line stays above "
			    "the new lines): a non-breaking step\n");
	}
	for (i = 0; i < s->n; i++) {
		const struct czpg_hba_line *l = &s->lines[i];

		if (l->type == CZPG_HBA_BLANK || !could_match_cidr(l, c))
			continue;
		if (harden && (at < 0 || (long)i < at))
			continue; /* cannot happen: placement is before every such record */
		line_excerpt(stext, l, ex, sizeof(ex));
		if (!harden)
			wprintf(&w,
				"  note: line %u (%s) comes before the block and decides first for "
				"the connections from %s it matches\n",
				orig_lineno(orig, l), ex, cidr);
		else if (admits_nossl(l))
			wprintf(
			    &w,
			    "  note: line %u (%s) no longer admits non-TLS connections from %s: "
			    "the block's reject comes first\n",
			    orig_lineno(orig, l), ex, cidr);
		else
			wprintf(
			    &w,
			    "  note: line %u (%s) still decides TLS connections from %s by roles "
			    "or databases the block does not name\n",
			    orig_lineno(orig, l), ex, cidr);
	}
	if (harden)
		wprintf(&w, "  the roles need SCRAM-SHA-256 password verifiers (a role whose "
			    "password was stored as md5 fails scram-sha-256)\n");
	for (i = 0; i < p->nwarnings; i++)
		wprintf(&w, "  warning: %s\n", p->warnings[i]);
	p->explain = czpg_hba_wbuf_take(&w, NULL);
	if (p->explain != NULL)
		rc = 0;
	return rc;
}

/*
 * Line number in the current file of output line l, which lies before the
 * inserted block (so it has the same number in the stripped file s).
 */
static unsigned cur_lineno(const struct czpg_hba_file *f, const struct czpg_hba_file *s,
			   const struct czpg_hba_line *l)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->lines[i].lineno == l->lineno)
			return orig_lineno(f, &s->lines[i]);
	return l->lineno;
}

/*
 * Checks the output with the first-match evaluator: in harden mode a non-TLS
 * connection from the CIDR must meet the block's reject (else an internal
 * error); in transition mode, TLS connections of the roles decided by a
 * record outside the block are reported.
 */
static int self_check(struct czpg_hba_plan *p, const struct czpg_hba_params *pa,
		      const struct czpg_hba_cidr *c, const char *cidr,
		      const struct czpg_hba_file *f, const struct czpg_hba_file *s, char *err,
		      size_t errlen)
{
	struct czpg_hba_file *o = NULL;
	char addr[INET6_ADDRSTRLEN], ex[128], msg[512];
	const char *db = pa->database != NULL ? pa->database : "";
	bool *warned = NULL;
	size_t i;
	long m;
	int rc = -1, k;

	if (czpg_hba_parse(p->output, p->output_len, &o, err, errlen) < 0)
		goto out;
	warned = calloc(o->n + 1, sizeof(*warned));
	if (warned == NULL) {
		czpg_errf(err, errlen, "out of memory planning pg_hba.conf");
		goto out;
	}
	cidr_addr_text(c, addr, sizeof(addr));
	for (i = 0; i < pa->n_roles; i++) {
		for (k = 0; k < 3; k++) {
			struct czpg_hba_conn conn = {.ssl = k == 0,
						     .replication = k == 2,
						     .database = db,
						     .user = pa->roles[i],
						     .addr = addr};
			const struct czpg_hba_line *l;

			m = czpg_hba_first_match(o, &conn, NULL);
			l = m >= 0 ? &o->lines[m] : NULL;
			if (pa->mode == CZPG_HBA_MODE_HARDEN && !conn.ssl &&
			    (l == NULL || !l->in_block || l->type != CZPG_HBA_HOSTNOSSL)) {
				czpg_errf(
				    err, errlen,
				    "internal error: after harden a non-TLS connection from %s "
				    "would not meet the block's reject; pg_hba.conf left as is",
				    cidr);
				goto out;
			}
			if (pa->mode != CZPG_HBA_MODE_TRANSITION || k != 0 || l == NULL ||
			    l->in_block || warned[m])
				continue;
			warned[m] = true;
			line_excerpt(p->output, l, ex, sizeof(ex));
			if (l->method != NULL && strcmp(l->method, "trust") == 0)
				snprintf(msg, sizeof(msg),
					 "line %u (%s) comes first and lets role %s (and maybe "
					 "others) in from %s without a password (trust); harden "
					 "will require SCRAM",
					 cur_lineno(f, s, l), ex, pa->roles[i], addr);
			else if (l->method != NULL && strcmp(l->method, "reject") == 0)
				snprintf(msg, sizeof(msg),
					 "line %u (%s) comes first and rejects role %s from %s, so "
					 "the block's lines never apply to it",
					 cur_lineno(f, s, l), ex, pa->roles[i], addr);
			else
				continue;
			if (add_warning(p, msg) < 0) {
				czpg_errf(err, errlen, "out of memory planning pg_hba.conf");
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(warned);
	czpg_hba_file_free(o);
	return rc;
}

int czpg_hba_plan(const char *text, size_t len, const struct czpg_hba_params *params,
		  struct czpg_hba_plan **out, char *err, size_t errlen)
{
	struct czpg_hba_plan *p = NULL;
	struct czpg_hba_file *f = NULL, *s = NULL;
	struct czpg_hba_cidr c;
	struct czpg_wbuf w;
	char cidr[64], *stext = NULL;
	size_t slen, ins, i;
	long at = -1;
	int rc = -1;

	*out = NULL;
	czpg_wbuf_init(&w, 0);
	if (check_params(params, &c, err, errlen) < 0)
		goto out;
	if (czpg_hba_cidr_format(&c, cidr, sizeof(cidr)) < 0) {
		czpg_errf(err, errlen, "internal error formatting the CIDR");
		goto out;
	}
	if (czpg_hba_parse(text, len, &f, err, errlen) < 0)
		goto out;
	p = calloc(1, sizeof(*p));
	stext = strip_block(text, len, f, &slen);
	if (p == NULL || stext == NULL)
		goto oom;
	p->previous = f->mode;
	if (czpg_hba_parse(stext, slen, &s, err, errlen) < 0)
		goto out;
	p->block = render_block(params, cidr, f->crlf ? "\r\n" : "\n");
	if (p->block == NULL)
		goto oom;
	if (params->mode == CZPG_HBA_MODE_HARDEN) {
		for (i = 0; i < s->n && at < 0; i++)
			if (could_match_cidr(&s->lines[i], &c))
				at = (long)i;
	}
	ins = at >= 0 ? s->lines[at].off : slen;
	czpg_wbuf_bytes(&w, stext, ins);
	if (ins == slen && slen > 0 && stext[slen - 1] != '\n')
		czpg_wbuf_bytes(&w, f->crlf ? "\r\n" : "\n", f->crlf ? 2 : 1);
	p->block_line = 1;
	for (i = 0; i < w.len; i++)
		if (w.data[i] == '\n')
			p->block_line++;
	czpg_wbuf_bytes(&w, p->block, strlen(p->block));
	czpg_wbuf_bytes(&w, stext + ins, slen - ins);
	p->output = czpg_hba_wbuf_take(&w, &p->output_len);
	if (p->output == NULL)
		goto oom;
	p->changed = p->output_len != len || memcmp(p->output, text, len) != 0;
	if (c.prefix == 0) {
		if (add_warning(p, "the allowed CIDR covers every address; name the "
				   "application's own network instead") < 0)
			goto oom;
	}
	if (self_check(p, params, &c, cidr, f, s, err, errlen) < 0)
		goto out;
	if (explain(p, params, &c, cidr, f, s, stext, at) < 0)
		goto oom;
	*out = p;
	p = NULL;
	rc = 0;
	goto out;
oom:
	czpg_errf(err, errlen, "out of memory planning pg_hba.conf");
out:
	czpg_wbuf_free(&w);
	czpg_hba_plan_free(p);
	czpg_hba_file_free(f);
	czpg_hba_file_free(s);
	free(stext);
	return rc;
}

void czpg_hba_plan_free(struct czpg_hba_plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->output);
	free(p->block);
	free(p->explain);
	for (i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p);
}

const char *czpg_hba_plan_output(const struct czpg_hba_plan *p, size_t *len)
{
	if (len != NULL)
		*len = p->output_len;
	return p->output;
}

bool czpg_hba_plan_changed(const struct czpg_hba_plan *p)
{
	return p->changed;
}

const char *czpg_hba_plan_block(const struct czpg_hba_plan *p)
{
	return p->block;
}

unsigned czpg_hba_plan_block_line(const struct czpg_hba_plan *p)
{
	return p->block_line;
}

enum czpg_hba_mode czpg_hba_plan_previous_mode(const struct czpg_hba_plan *p)
{
	return p->previous;
}

const char *czpg_hba_plan_explain(const struct czpg_hba_plan *p)
{
	return p->explain;
}

size_t czpg_hba_plan_nwarnings(const struct czpg_hba_plan *p)
{
	return p->nwarnings;
}

const char *czpg_hba_plan_warning(const struct czpg_hba_plan *p, size_t i)
{
	return i < p->nwarnings ? p->warnings[i] : NULL;
}

int czpg_hba_remove_block(const char *text, size_t len, char **out, size_t *out_len, char *err,
			  size_t errlen)
{
	struct czpg_hba_file *f = NULL;
	size_t n;
	int rc = -1;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (czpg_hba_parse(text, len, &f, err, errlen) < 0)
		goto out;
	*out = strip_block(text, len, f, &n);
	if (*out == NULL) {
		czpg_errf(err, errlen, "out of memory removing the managed block");
		goto out;
	}
	if (out_len != NULL)
		*out_len = n;
	rc = 0;
out:
	czpg_hba_file_free(f);
	return rc;
}
