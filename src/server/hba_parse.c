/*
 * hba_parse.c - the pg_hba.conf parser (see czpg/hba_parse.h).
 *
 * Follows PostgreSQL docs "The pg_hba.conf File" and the tokenizer in
 * src/backend/libpq/hba.c (next_token / next_field_expand): fields split on
 * blanks, items of one field on commas (blanks after a comma allowed), double
 * quotes quote with "" for a literal quote, `#` outside quotes ends the line.
 * Keywords (all, sameuser, samerole, samegroup, replication, samehost,
 * samenet) count only when unquoted; +name is group membership and @file an
 * included list, both unquoted.
 */
#include "czpg/hba_parse.h"
#include "czpg/errf.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "czpg/buf.h"
#include "hba_internal.h"

/* Detaches a wbuf's contents as a NUL-terminated string (NULL on error). */
char *czpg_hba_wbuf_take(struct czpg_wbuf *w, size_t *len)
{
	char *s;

	if (len != NULL)
		*len = w->len;
	if (czpg_wbuf_u8(w, '\0') < 0 || w->err) {
		czpg_wbuf_free(w);
		return NULL;
	}
	s = (char *)w->data;
	w->data = NULL;
	czpg_wbuf_free(w);
	return s;
}

static void line_free(struct czpg_hba_line *l)
{
	size_t i;

	for (i = 0; i < l->n_db; i++)
		free(l->db[i].text);
	for (i = 0; i < l->n_user; i++)
		free(l->user[i].text);
	free(l->db);
	free(l->user);
	free(l->method);
}

void czpg_hba_file_free(struct czpg_hba_file *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++)
		line_free(&f->lines[i]);
	free(f->lines);
	free(f);
}

size_t czpg_hba_file_nlines(const struct czpg_hba_file *f)
{
	return f->n;
}

const struct czpg_hba_line *czpg_hba_file_line(const struct czpg_hba_file *f, size_t i)
{
	return i < f->n ? &f->lines[i] : NULL;
}

enum czpg_hba_mode czpg_hba_file_mode(const struct czpg_hba_file *f)
{
	return f->mode;
}

/* A tokenized record: fields, each a list of tokens. */
struct field {
	struct czpg_hba_token *tok;
	size_t n;
};

struct record {
	struct field *f;
	size_t n;
	size_t ntok;
};

static void record_free(struct record *r)
{
	size_t i, j;

	for (i = 0; i < r->n; i++) {
		for (j = 0; j < r->f[i].n; j++)
			free(r->f[i].tok[j].text);
		free(r->f[i].tok);
	}
	free(r->f);
	memset(r, 0, sizeof(*r));
}

bool czpg_hba_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Splits one logical line s[0..n) into fields as PostgreSQL's next_token /
 * next_field_expand do.  Returns 0, -1 on out of memory, -2 over the token
 * limit.
 */
static int tokenize(const char *s, size_t n, struct record *r)
{
	size_t p = 0;
	bool in_field = false; /* the last token ended with a comma */

	memset(r, 0, sizeof(*r));
	for (;;) {
		struct czpg_hba_token t = {0};
		struct czpg_wbuf w;
		bool in_quote = false, was_quote = false, comma = false;
		struct field *fld;
		void *grown;

		while (p < n && czpg_hba_is_blank(s[p]))
			p++;
		if (p >= n || s[p] == '#')
			break;
		czpg_wbuf_init(&w, n + 1);
		while (p < n && (in_quote || !czpg_hba_is_blank(s[p]))) {
			char c = s[p];

			if (c == '#' && !in_quote)
				break;
			if (c == ',' && !in_quote) {
				comma = true;
				p++;
				break;
			}
			if (c != '"' || was_quote)
				czpg_wbuf_u8(&w, (uint8_t)c);
			if (in_quote && c == '"')
				was_quote = !was_quote;
			else
				was_quote = false;
			if (c == '"') {
				in_quote = !in_quote;
				t.quoted = true;
			}
			p++;
		}
		t.text = czpg_hba_wbuf_take(&w, NULL);
		if (t.text == NULL)
			return -1;
		if (++r->ntok > CZPG_HBA_MAX_TOKENS) {
			free(t.text);
			return -2;
		}
		if (!in_field) {
			grown = realloc(r->f, (r->n + 1) * sizeof(*r->f));
			if (grown == NULL) {
				free(t.text);
				return -1;
			}
			r->f = grown;
			r->f[r->n].tok = NULL;
			r->f[r->n].n = 0;
			r->n++;
		}
		fld = &r->f[r->n - 1];
		grown = realloc(fld->tok, (fld->n + 1) * sizeof(*fld->tok));
		if (grown == NULL) {
			free(t.text);
			return -1;
		}
		fld->tok = grown;
		fld->tok[fld->n++] = t;
		in_field = comma;
	}
	return 0;
}

bool czpg_hba_tok_is(const struct czpg_hba_token *t, const char *kw)
{
	return !t->quoted && strcmp(t->text, kw) == 0;
}

/* Moves a field's tokens into *out / *n. */
static void take_field(struct field *f, struct czpg_hba_token **out, size_t *n)
{
	*out = f->tok;
	*n = f->n;
	f->tok = NULL;
	f->n = 0;
}

/* Fills l's type, db/user, address and method from a tokenized record. */
static int classify(struct czpg_hba_line *l, struct record *r)
{
	static const struct {
		const char *kw;
		enum czpg_hba_type type;
	} types[] = {
	    {"local", CZPG_HBA_LOCAL},           {"host", CZPG_HBA_HOST},
	    {"hostssl", CZPG_HBA_HOSTSSL},       {"hostnossl", CZPG_HBA_HOSTNOSSL},
	    {"hostgssenc", CZPG_HBA_HOSTGSSENC}, {"hostnogssenc", CZPG_HBA_HOSTNOGSSENC},
	    {"include", CZPG_HBA_INCLUDE},       {"include_if_exists", CZPG_HBA_INCLUDE},
	    {"include_dir", CZPG_HBA_INCLUDE},
	};
	size_t i, mi;
	const struct czpg_hba_token *t;

	if (r->n == 0) {
		l->type = CZPG_HBA_BLANK;
		return 0;
	}
	l->type = CZPG_HBA_OTHER;
	if (r->f[0].n != 1)
		return 0;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (czpg_hba_tok_is(&r->f[0].tok[0], types[i].kw))
			l->type = types[i].type;
	if (l->type == CZPG_HBA_OTHER || l->type == CZPG_HBA_INCLUDE)
		return 0;
	if (r->n < 4) {
		l->type = CZPG_HBA_OTHER;
		return 0;
	}
	take_field(&r->f[1], &l->db, &l->n_db);
	take_field(&r->f[2], &l->user, &l->n_user);
	if (l->type == CZPG_HBA_LOCAL) {
		mi = 3;
	} else {
		mi = 4;
		l->addr_kind = CZPG_HBA_ADDR_BAD;
		t = &r->f[3].tok[0];
		if (r->f[3].n != 1) {
			/* a list of addresses is not valid pg_hba syntax */
		} else if (czpg_hba_tok_is(t, "all")) {
			l->addr_kind = CZPG_HBA_ADDR_ALL;
		} else if (czpg_hba_tok_is(t, "samehost")) {
			l->addr_kind = CZPG_HBA_ADDR_SAMEHOST;
		} else if (czpg_hba_tok_is(t, "samenet")) {
			l->addr_kind = CZPG_HBA_ADDR_SAMENET;
		} else if (strchr(t->text, '/') != NULL) {
			struct czpg_hba_cidr c;
			char a[INET6_ADDRSTRLEN + 1];
			const char *sl = strchr(t->text, '/');
			char *end = NULL;
			unsigned long pl;

			if ((size_t)(sl - t->text) < sizeof(a)) {
				memcpy(a, t->text, (size_t)(sl - t->text));
				a[sl - t->text] = '\0';
				c.family = czpg_hba_ip_family(a, c.addr);
				pl = strtoul(sl + 1, &end, 10);
				if (c.family != 0 && sl[1] >= '0' && sl[1] <= '9' && *end == '\0' &&
				    pl <= (c.family == AF_INET ? 32ul : 128ul)) {
					l->addr_kind = CZPG_HBA_ADDR_NET;
					l->family = c.family;
					memcpy(l->addr, c.addr, 16);
					czpg_hba_prefix_mask(c.family, (unsigned)pl, l->mask);
				}
			}
		} else if (strlen(t->text) < INET6_ADDRSTRLEN &&
			   (l->family = czpg_hba_ip_family(t->text, l->addr)) != 0) {
			/* address followed by a separate netmask field */
			mi = 5;
			if (r->n >= 6 && r->f[4].n == 1 &&
			    czpg_hba_ip_family(r->f[4].tok[0].text, l->mask) == l->family)
				l->addr_kind = CZPG_HBA_ADDR_NET;
		} else {
			l->addr_kind = CZPG_HBA_ADDR_HOSTNAME;
		}
	}
	if (mi < r->n && r->f[mi].n == 1) {
		l->method = strdup(r->f[mi].tok[0].text);
		if (l->method == NULL)
			return -1;
	}
	return 0;
}

static bool starts_with_marker(const char *s, size_t n, const char *prefix)
{
	size_t p = 0, pl = strlen(prefix);

	while (p < n && (s[p] == ' ' || s[p] == '\t'))
		p++;
	return n - p >= pl && memcmp(s + p, prefix, pl) == 0;
}

/* Content length of the physical line at off (line end excluded) and the
 * offset after its line end. */
size_t czpg_hba_phys_line(const char *text, size_t len, size_t off, size_t *next)
{
	const char *nl = memchr(text + off, '\n', len - off);
	size_t end = nl != NULL ? (size_t)(nl - text) : len;

	*next = nl != NULL ? end + 1 : len;
	if (nl != NULL && end > off && text[end - 1] == '\r')
		end--;
	return end - off;
}

static enum czpg_hba_mode block_mode_of(const struct czpg_hba_file *f)
{
	size_t i;
	bool host = false, reject = false, ssl = false;

	if (!f->has_block)
		return CZPG_HBA_MODE_NONE;
	for (i = 0; i < f->n; i++) {
		const struct czpg_hba_line *l = &f->lines[i];

		if (!l->in_block)
			continue;
		if (l->type == CZPG_HBA_HOSTSSL)
			ssl = true;
		else if (l->type == CZPG_HBA_HOST)
			host = true;
		else if (l->type == CZPG_HBA_HOSTNOSSL && l->method != NULL &&
			 strcmp(l->method, "reject") == 0)
			reject = true;
	}
	if (ssl && reject && !host)
		return CZPG_HBA_MODE_HARDEN;
	if (ssl && host && !reject)
		return CZPG_HBA_MODE_TRANSITION;
	return CZPG_HBA_MODE_UNKNOWN;
}

int czpg_hba_parse(const char *text, size_t len, struct czpg_hba_file **out, char *err,
		   size_t errlen)
{
	struct czpg_hba_file *f = NULL;
	struct czpg_wbuf joined;
	struct record rec = {0};
	size_t off = 0, next;
	unsigned lineno = 0, begin_line = 0;
	bool in_block = false, seen_block = false, style_known = false;
	int rc = -1, t;

	*out = NULL;
	czpg_wbuf_init(&joined, 0);
	if (len > CZPG_HBA_MAX_BYTES) {
		czpg_errf(err, errlen, "pg_hba.conf is %zu bytes; the limit is %zu", len,
			  CZPG_HBA_MAX_BYTES);
		goto out;
	}
	if (text == NULL && len > 0) {
		czpg_errf(err, errlen, "no pg_hba.conf text given");
		goto out;
	}
	if (len > 0 && memchr(text, '\0', len) != NULL) {
		czpg_errf(err, errlen, "pg_hba.conf holds a NUL byte; it is not a text file");
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		goto oom;
	f->text_len = len;
	f->ends_with_eol = len == 0 || text[len - 1] == '\n';
	while (off < len) {
		struct czpg_hba_line l = {0};
		size_t clen = czpg_hba_phys_line(text, len, off, &next);
		bool begin, end, marker;

		if (++lineno > CZPG_HBA_MAX_LINES) {
			czpg_errf(err, errlen, "pg_hba.conf has more than %d lines",
				  CZPG_HBA_MAX_LINES);
			goto out;
		}
		if (!style_known && next > off && text[next - 1] == '\n') {
			style_known = true;
			f->crlf = next - off >= 2 && text[next - 2] == '\r';
		}
		l.lineno = lineno;
		l.nphys = 1;
		l.off = off;
		begin = starts_with_marker(text + off, clen, CZPG_HBA_BEGIN_PREFIX);
		end = starts_with_marker(text + off, clen, CZPG_HBA_END_PREFIX);
		marker = begin || end;
		if (begin) {
			if (in_block || seen_block) {
				czpg_errf(
				    err, errlen,
				    "pg_hba.conf line %u: a second \"%s\" marker (the first is at "
				    "line %u); the managed block is corrupted: remove the extra "
				    "block by hand and run again",
				    lineno, CZPG_HBA_BEGIN_PREFIX, begin_line);
				goto out;
			}
			in_block = true;
			begin_line = lineno;
			f->has_block = true;
			f->block_off = off;
			f->block_first = lineno;
		} else if (end && !in_block) {
			czpg_errf(
			    err, errlen,
			    "pg_hba.conf line %u: \"%s\" marker without a BEGIN marker before it; "
			    "the managed block is corrupted: fix or remove it by hand and run "
			    "again",
			    lineno, CZPG_HBA_END_PREFIX);
			goto out;
		}
		l.in_block = in_block;
		czpg_wbuf_reset(&joined);
		czpg_wbuf_bytes(&joined, text + off, clen);
		/* a trailing backslash joins the next physical line (PostgreSQL 16) */
		while (!marker && joined.len > 0 && joined.data[joined.len - 1] == '\\' &&
		       next < len) {
			size_t nn, nlen = czpg_hba_phys_line(text, len, next, &nn);

			if (starts_with_marker(text + next, nlen, CZPG_HBA_BEGIN_PREFIX) ||
			    starts_with_marker(text + next, nlen, CZPG_HBA_END_PREFIX))
				break;
			if (++lineno > CZPG_HBA_MAX_LINES) {
				czpg_errf(err, errlen, "pg_hba.conf has more than %d lines",
					  CZPG_HBA_MAX_LINES);
				goto out;
			}
			joined.len--;
			czpg_wbuf_bytes(&joined, text + next, nlen);
			l.nphys++;
			next = nn;
		}
		if (joined.err)
			goto oom;
		l.len = next - off;
		t = tokenize((const char *)joined.data, joined.len, &rec);
		if (t == -2) {
			czpg_errf(err, errlen, "pg_hba.conf line %u has more than %d tokens",
				  l.lineno, CZPG_HBA_MAX_TOKENS);
			record_free(&rec);
			goto out;
		}
		if (t < 0 || classify(&l, &rec) < 0) {
			record_free(&rec);
			line_free(&l);
			goto oom;
		}
		record_free(&rec);
		if (marker)
			l.type = CZPG_HBA_BLANK;
		if (f->n == f->cap) {
			size_t nc = f->cap ? f->cap * 2 : 64;
			void *g = realloc(f->lines, nc * sizeof(*f->lines));

			if (g == NULL) {
				line_free(&l);
				goto oom;
			}
			f->lines = g;
			f->cap = nc;
		}
		f->lines[f->n++] = l;
		if (end) {
			in_block = false;
			seen_block = true;
			f->block_end = next;
			f->block_last = lineno;
		}
		off = next;
	}
	if (in_block) {
		czpg_errf(err, errlen,
			  "pg_hba.conf line %u: \"%s\" marker without an END marker after it; the "
			  "managed block is corrupted: fix or remove it by hand and run again",
			  begin_line, CZPG_HBA_BEGIN_PREFIX);
		goto out;
	}
	/*
	 * No line ends yet: a text ending in '\r' becomes a CRLF file once the
	 * planner adds the missing line end, so that is its style (else the
	 * next run would see CRLF and write the block again, differently).
	 */
	if (!style_known)
		f->crlf = len > 0 && text[len - 1] == '\r';
	f->mode = block_mode_of(f);
	*out = f;
	f = NULL;
	rc = 0;
	goto out;
oom:
	czpg_errf(err, errlen, "out of memory parsing pg_hba.conf");
out:
	czpg_wbuf_free(&joined);
	czpg_hba_file_free(f);
	return rc;
}

int czpg_hba_block_mode(const char *text, size_t len, enum czpg_hba_mode *mode, char *err,
			size_t errlen)
{
	struct czpg_hba_file *f = NULL;

	*mode = CZPG_HBA_MODE_NONE;
	if (czpg_hba_parse(text, len, &f, err, errlen) < 0)
		return -1;
	*mode = f->mode;
	czpg_hba_file_free(f);
	return 0;
}
