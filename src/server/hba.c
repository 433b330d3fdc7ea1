/*
 * hba.c - pg_hba.conf parser, first-match evaluator and managed-block writer
 * (see czpg/hba.h for the placement rules).
 *
 * Follows PostgreSQL docs "The pg_hba.conf File" and the tokenizer in
 * src/backend/libpq/hba.c (next_token / next_field_expand): fields split on
 * blanks, items of one field on commas (blanks after a comma allowed), double
 * quotes quote with "" for a literal quote, `#` outside quotes ends the line.
 * Keywords (all, sameuser, samerole, samegroup, replication, samehost,
 * samenet) count only when unquoted; +name is group membership and @file an
 * included list, both unquoted.
 */
#include "czpg/hba.h"

#include "czpg/buf.h"
#include "czpg/parse.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct czpg_hba_file {
	struct czpg_hba_line *lines;
	size_t n, cap;
	const char *text; /* borrowed during parse only */
	size_t text_len;
	bool has_block;
	size_t block_off, block_end;      /* byte range of the block, END's line end included */
	unsigned block_first, block_last; /* physical line numbers of BEGIN and END */
	enum czpg_hba_mode mode;
	bool crlf;          /* line-end style to write */
	bool ends_with_eol; /* text is empty or ends in '\n' */
};

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

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

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

/* Detaches a wbuf's contents as a NUL-terminated string (NULL on error). */
static char *wbuf_take(struct czpg_wbuf *w, size_t *len)
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

const char *czpg_hba_mode_name(enum czpg_hba_mode m)
{
	switch (m) {
	case CZPG_HBA_MODE_NONE:
		return "none";
	case CZPG_HBA_MODE_TRANSITION:
		return "transition";
	case CZPG_HBA_MODE_HARDEN:
		return "harden";
	case CZPG_HBA_MODE_UNKNOWN:
		break;
	}
	return "unknown";
}

int czpg_hba_mode_parse(const char *s, enum czpg_hba_mode *out)
{
	if (s != NULL && strcmp(s, "transition") == 0) {
		*out = CZPG_HBA_MODE_TRANSITION;
		return 0;
	}
	if (s != NULL && strcmp(s, "harden") == 0) {
		*out = CZPG_HBA_MODE_HARDEN;
		return 0;
	}
	return -1;
}

/* ---------------------------------------------------------------- values */

static size_t addr_bytes(int family)
{
	return family == AF_INET ? 4 : 16;
}

static void prefix_mask(int family, unsigned prefix, uint8_t mask[16])
{
	size_t i, nb = addr_bytes(family);

	memset(mask, 0, 16);
	for (i = 0; i < nb; i++) {
		if (prefix >= 8) {
			mask[i] = 0xff;
			prefix -= 8;
		} else {
			mask[i] = (uint8_t)(0xff << (8 - prefix));
			prefix = 0;
		}
	}
}

/* An IP literal's address family (AF_INET, AF_INET6) and bytes, or 0. */
static int parse_ip(const char *s, uint8_t out[16])
{
	switch (czpg_parse_ip(s, out)) {
	case 4:
		return AF_INET;
	case 6:
		return AF_INET6;
	default:
		return 0;
	}
}

int czpg_hba_cidr_format(const struct czpg_hba_cidr *c, char *buf, size_t len)
{
	char a[CZPG_IP_TEXT_MAX];
	int n;

	if (czpg_format_ip(c->addr, addr_bytes(c->family), a, sizeof(a)) < 0)
		return -1;
	n = snprintf(buf, len, "%s/%u", a, c->prefix);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int czpg_hba_cidr_parse(const char *text, struct czpg_hba_cidr *out, char *err, size_t errlen)
{
	char a[INET6_ADDRSTRLEN + 1], net[80], host[80];
	const char *slash, *p;
	struct czpg_hba_cidr c = {0}, h;
	uint8_t mask[16];
	unsigned maxp, prefix = 0;
	size_t i;
	int rc = -1;

	if (text == NULL || text[0] == '\0') {
		set_err(err, errlen,
			"no CIDR given; pass the application's network, e.g. "
			"10.20.1.2/32");
		goto out;
	}
	slash = strchr(text, '/');
	if (slash == NULL) {
		if (strlen(text) < sizeof(a) && parse_ip(text, c.addr) != 0)
			set_err(
			    err, errlen,
			    "CIDR \"%.64s\" has no prefix length; write %.64s/%u for the single "
			    "host",
			    text, text, strchr(text, ':') ? 128u : 32u);
		else
			set_err(err, errlen,
				"\"%.64s\" is not a CIDR; write an address and prefix length, e.g. "
				"10.20.1.2/32",
				text);
		goto out;
	}
	if ((size_t)(slash - text) >= sizeof(a)) {
		set_err(err, errlen, "\"%.64s\" is not a CIDR: the address part is too long", text);
		goto out;
	}
	memcpy(a, text, (size_t)(slash - text));
	a[slash - text] = '\0';
	c.family = parse_ip(a, c.addr);
	if (c.family == 0) {
		set_err(err, errlen,
			"\"%.64s\" is not a CIDR: \"%s\" is not an IPv4 or IPv6 address", text, a);
		goto out;
	}
	maxp = c.family == AF_INET ? 32 : 128;
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 3) {
		set_err(err, errlen,
			"\"%.64s\" is not a CIDR: the prefix length must be a number from 0 to %u",
			text, maxp);
		goto out;
	}
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			set_err(
			    err, errlen,
			    "\"%.64s\" is not a CIDR: the prefix length must be a number from 0 "
			    "to %u",
			    text, maxp);
			goto out;
		}
		prefix = prefix * 10 + (unsigned)(*p - '0');
	}
	if (prefix > maxp) {
		set_err(err, errlen,
			"CIDR \"%.64s\": prefix length %u is out of range for an %s address (0-%u)",
			text, prefix, c.family == AF_INET ? "IPv4" : "IPv6", maxp);
		goto out;
	}
	c.prefix = prefix;
	prefix_mask(c.family, prefix, mask);
	h = c;
	for (i = 0; i < 16; i++)
		c.addr[i] &= mask[i];
	if (memcmp(c.addr, h.addr, 16) != 0) {
		h.prefix = maxp;
		if (czpg_hba_cidr_format(&c, net, sizeof(net)) < 0 ||
		    czpg_hba_cidr_format(&h, host, sizeof(host)) < 0)
			goto out;
		set_err(err, errlen,
			"CIDR \"%.64s\" has host bits set; write %s for the network or %s for the "
			"single host",
			text, net, host);
		goto out;
	}
	*out = c;
	rc = 0;
out:
	return rc;
}

int czpg_hba_name_check(const char *name, char *err, size_t errlen)
{
	size_t i, n;

	if (name == NULL || name[0] == '\0') {
		set_err(err, errlen, "a role or database name is empty");
		return -1;
	}
	n = strlen(name);
	if (n > CZPG_HBA_NAME_MAX) {
		set_err(
		    err, errlen,
		    "name \"%.20s...\" is %zu bytes long; PostgreSQL names are at most %d bytes",
		    name, n, CZPG_HBA_NAME_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '\n' || c == '\r') {
			set_err(err, errlen, "name \"%.*s...\" holds a line break", (int)i, name);
			return -1;
		}
		if (c < 0x20 || c == 0x7f) {
			set_err(err, errlen, "name \"%.*s...\" holds control character 0x%02x",
				(int)i, name, c);
			return -1;
		}
		if (c == ' ') {
			set_err(err, errlen,
				"name \"%s\" holds a space; give each role as its own value", name);
			return -1;
		}
		if (c == ',') {
			set_err(err, errlen,
				"name \"%s\" holds a comma; give each role as its own value", name);
			return -1;
		}
		if (c == '"') {
			set_err(
			    err, errlen,
			    "name \"%s\" holds a double quote, which pg_hba.conf cannot express "
			    "safely",
			    name);
			return -1;
		}
	}
	return 0;
}

static bool is_name_keyword(const char *s)
{
	static const char *const kw[] = {"all", "sameuser", "samerole", "samegroup", "replication"};
	size_t i;

	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (strcmp(s, kw[i]) == 0)
			return true;
	return false;
}

int czpg_hba_quote_name(const char *name, char *out, size_t outlen)
{
	bool plain;
	size_t i, n;
	int len;

	if (czpg_hba_name_check(name, NULL, 0) < 0)
		return -1;
	n = strlen(name);
	plain = (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_';
	for (i = 1; plain && i < n; i++) {
		char c = name[i];

		plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
	}
	if (plain && is_name_keyword(name))
		plain = false;
	len = snprintf(out, outlen, plain ? "%s" : "\"%s\"", name);
	if (len < 0 || (size_t)len >= outlen)
		return -1;
	return len;
}

/* ---------------------------------------------------------------- parse */

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

static bool is_blank(char c)
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

		while (p < n && is_blank(s[p]))
			p++;
		if (p >= n || s[p] == '#')
			break;
		czpg_wbuf_init(&w, n + 1);
		while (p < n && (in_quote || !is_blank(s[p]))) {
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
		t.text = wbuf_take(&w, NULL);
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

static bool tok_is(const struct czpg_hba_token *t, const char *kw)
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
		if (tok_is(&r->f[0].tok[0], types[i].kw))
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
		} else if (tok_is(t, "all")) {
			l->addr_kind = CZPG_HBA_ADDR_ALL;
		} else if (tok_is(t, "samehost")) {
			l->addr_kind = CZPG_HBA_ADDR_SAMEHOST;
		} else if (tok_is(t, "samenet")) {
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
				c.family = parse_ip(a, c.addr);
				pl = strtoul(sl + 1, &end, 10);
				if (c.family != 0 && sl[1] >= '0' && sl[1] <= '9' && *end == '\0' &&
				    pl <= (c.family == AF_INET ? 32ul : 128ul)) {
					l->addr_kind = CZPG_HBA_ADDR_NET;
					l->family = c.family;
					memcpy(l->addr, c.addr, 16);
					prefix_mask(c.family, (unsigned)pl, l->mask);
				}
			}
		} else if (strlen(t->text) < INET6_ADDRSTRLEN &&
			   (l->family = parse_ip(t->text, l->addr)) != 0) {
			/* address followed by a separate netmask field */
			mi = 5;
			if (r->n >= 6 && r->f[4].n == 1 &&
			    parse_ip(r->f[4].tok[0].text, l->mask) == l->family)
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
static size_t phys_line(const char *text, size_t len, size_t off, size_t *next)
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
		set_err(err, errlen, "pg_hba.conf is %zu bytes; the limit is %zu", len,
			CZPG_HBA_MAX_BYTES);
		goto out;
	}
	if (text == NULL && len > 0) {
		set_err(err, errlen, "no pg_hba.conf text given");
		goto out;
	}
	if (len > 0 && memchr(text, '\0', len) != NULL) {
		set_err(err, errlen, "pg_hba.conf holds a NUL byte; it is not a text file");
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		goto oom;
	f->text_len = len;
	f->ends_with_eol = len == 0 || text[len - 1] == '\n';
	while (off < len) {
		struct czpg_hba_line l = {0};
		size_t clen = phys_line(text, len, off, &next);
		bool begin, end, marker;

		if (++lineno > CZPG_HBA_MAX_LINES) {
			set_err(err, errlen, "pg_hba.conf has more than %d lines",
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
				set_err(
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
			set_err(
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
			size_t nn, nlen = phys_line(text, len, next, &nn);

			if (starts_with_marker(text + next, nlen, CZPG_HBA_BEGIN_PREFIX) ||
			    starts_with_marker(text + next, nlen, CZPG_HBA_END_PREFIX))
				break;
			if (++lineno > CZPG_HBA_MAX_LINES) {
				set_err(err, errlen, "pg_hba.conf has more than %d lines",
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
			set_err(err, errlen, "pg_hba.conf line %u has more than %d tokens",
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
		set_err(err, errlen,
			"pg_hba.conf line %u: \"%s\" marker without an END marker after it; the "
			"managed block is corrupted: fix or remove it by hand and run again",
			begin_line, CZPG_HBA_BEGIN_PREFIX);
		goto out;
	}
	f->mode = block_mode_of(f);
	*out = f;
	f = NULL;
	rc = 0;
	goto out;
oom:
	set_err(err, errlen, "out of memory parsing pg_hba.conf");
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

/* ---------------------------------------------------------------- match */

enum tri { NO = 0, YES, MAYBE };

static enum tri and3(enum tri a, enum tri b)
{
	if (a == NO || b == NO)
		return NO;
	return a == MAYBE || b == MAYBE ? MAYBE : YES;
}

static enum tri match_db(const struct czpg_hba_line *l, const struct czpg_hba_conn *c)
{
	enum tri r = NO;
	size_t i;

	for (i = 0; i < l->n_db && r != YES; i++) {
		const struct czpg_hba_token *t = &l->db[i];

		if (!t->quoted && t->text[0] == '@') {
			r = MAYBE;
		} else if (c->replication) {
			if (tok_is(t, "replication"))
				r = YES;
		} else if (tok_is(t, "all")) {
			r = YES;
		} else if (tok_is(t, "sameuser")) {
			if (c->user != NULL && c->database != NULL &&
			    strcmp(c->user, c->database) == 0)
				r = YES;
		} else if (tok_is(t, "samerole") || tok_is(t, "samegroup")) {
			r = MAYBE;
		} else if (tok_is(t, "replication")) {
			/* matches physical replication connections only */
		} else if (c->database != NULL && strcmp(t->text, c->database) == 0) {
			r = YES;
		}
	}
	return r;
}

static enum tri match_user(const struct czpg_hba_line *l, const struct czpg_hba_conn *c)
{
	enum tri r = NO;
	size_t i;

	for (i = 0; i < l->n_user && r != YES; i++) {
		const struct czpg_hba_token *t = &l->user[i];

		if (tok_is(t, "all"))
			r = YES;
		else if (!t->quoted && (t->text[0] == '+' || t->text[0] == '@'))
			r = MAYBE;
		else if (c->user != NULL && strcmp(t->text, c->user) == 0)
			r = YES;
	}
	return r;
}

static enum tri match_addr(const struct czpg_hba_line *l, int family, const uint8_t a[16])
{
	size_t i;

	switch (l->addr_kind) {
	case CZPG_HBA_ADDR_ALL:
		return YES;
	case CZPG_HBA_ADDR_NET:
		if (l->family != family)
			return NO;
		for (i = 0; i < addr_bytes(family); i++)
			if (((a[i] ^ l->addr[i]) & l->mask[i]) != 0)
				return NO;
		return YES;
	case CZPG_HBA_ADDR_NONE:
		return NO;
	default:
		return MAYBE;
	}
}

static enum tri match_type(enum czpg_hba_type t, bool ssl)
{
	switch (t) {
	case CZPG_HBA_HOST:
	case CZPG_HBA_HOSTNOGSSENC: /* GSSAPI encryption is not modelled: never used */
		return YES;
	case CZPG_HBA_HOSTSSL:
		return ssl ? YES : NO;
	case CZPG_HBA_HOSTNOSSL:
		return ssl ? NO : YES;
	case CZPG_HBA_INCLUDE:
	case CZPG_HBA_OTHER:
		return MAYBE;
	default:
		return NO;
	}
}

long czpg_hba_first_match(const struct czpg_hba_file *f, const struct czpg_hba_conn *conn,
			  bool *uncertain)
{
	uint8_t a[16];
	int family = conn->addr != NULL ? parse_ip(conn->addr, a) : 0;
	size_t i;

	if (uncertain != NULL)
		*uncertain = false;
	for (i = 0; i < f->n; i++) {
		const struct czpg_hba_line *l = &f->lines[i];
		enum tri r = match_type(l->type, conn->ssl);

		if (r == NO)
			continue;
		if (l->type != CZPG_HBA_INCLUDE && l->type != CZPG_HBA_OTHER) {
			r = and3(r, match_addr(l, family, a));
			r = and3(r, match_db(l, conn));
			r = and3(r, match_user(l, conn));
		}
		if (r == NO)
			continue;
		if (uncertain != NULL)
			*uncertain = r == MAYBE;
		return (long)i;
	}
	return -1;
}

/* ---------------------------------------------------------------- plan */

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
	prefix_mask(c->family, c->prefix, cm);
	for (i = 0; i < addr_bytes(c->family); i++)
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
	size_t nx, clen = phys_line(text, l->off + l->len, l->off, &nx), s = 0;
	const char *p = text + l->off;

	while (s < clen && is_blank(p[s]))
		s++;
	while (clen > s && is_blank(p[clen - 1]))
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
	rs = wbuf_take(&roles, NULL);
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
	return wbuf_take(&w, NULL);
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
		set_err(err, errlen, "no pg_hba parameters given");
		return -1;
	}
	if (pa->mode != CZPG_HBA_MODE_TRANSITION && pa->mode != CZPG_HBA_MODE_HARDEN) {
		set_err(err, errlen, "the pg_hba mode must be transition or harden");
		return -1;
	}
	if (czpg_hba_cidr_parse(pa->cidr, c, err, errlen) < 0)
		return -1;
	if (pa->n_roles == 0 || pa->roles == NULL) {
		set_err(err, errlen,
			"no role given; name at least one role the application "
			"connects as");
		return -1;
	}
	if (pa->n_roles > CZPG_HBA_MAX_ROLES) {
		set_err(err, errlen, "%zu roles given; the limit is %d", pa->n_roles,
			CZPG_HBA_MAX_ROLES);
		return -1;
	}
	for (i = 0; i < pa->n_roles; i++) {
		if (czpg_hba_name_check(pa->roles[i], sub, sizeof(sub)) < 0) {
			set_err(err, errlen, "role: %s", sub);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(pa->roles[i], pa->roles[j]) == 0) {
				set_err(err, errlen, "role \"%s\" is given twice", pa->roles[i]);
				return -1;
			}
		}
	}
	if (pa->database != NULL && czpg_hba_name_check(pa->database, sub, sizeof(sub)) < 0) {
		set_err(err, errlen, "database: %s", sub);
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
	czpg_format_ip(c->addr, addr_bytes(c->family), buf, n);
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
	p->explain = wbuf_take(&w, NULL);
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
		set_err(err, errlen, "out of memory planning pg_hba.conf");
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
				set_err(err, errlen,
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
				set_err(err, errlen, "out of memory planning pg_hba.conf");
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
		set_err(err, errlen, "internal error formatting the CIDR");
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
	p->output = wbuf_take(&w, &p->output_len);
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
	set_err(err, errlen, "out of memory planning pg_hba.conf");
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
		set_err(err, errlen, "out of memory removing the managed block");
		goto out;
	}
	if (out_len != NULL)
		*out_len = n;
	rc = 0;
out:
	czpg_hba_file_free(f);
	return rc;
}
