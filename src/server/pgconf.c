/*
 * pgconf.c - render cz-tls.conf and check that postgresql.conf includes it
 * (see czpg/pgconf.h).
 *
 * The parser is a small subset of PostgreSQL's configuration lexer
 * (src/backend/utils/misc/guc-file.l, PostgreSQL docs "Setting Parameters"):
 * one assignment per line, `name [=] value`, `#` comments, bare or
 * single-quoted values.  Anything PostgreSQL itself would reject as a syntax
 * error is reported with its line number.
 */
#include "czpg/pgconf.h"

#include "czpg/buf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static char *dup_range(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int czpg_pgconf_quote(const char *value, char **out, char *err, size_t errlen)
{
	struct czpg_wbuf w;
	size_t i, n;
	int rc = -1;

	*out = NULL;
	czpg_wbuf_init(&w, 0);
	if (value == NULL || value[0] == '\0') {
		set_err(err, errlen, "an empty value cannot be used here");
		goto out;
	}
	n = strlen(value);
	if (n > CZPG_PGCONF_MAX_PATH) {
		set_err(err, errlen, "value is %zu bytes long; the limit is %d", n,
			CZPG_PGCONF_MAX_PATH);
		goto out;
	}
	czpg_wbuf_u8(&w, '\'');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c == 0x7f) {
			set_err(
			    err, errlen,
			    "value \"%.*s...\" holds a control character (byte 0x%02x at offset "
			    "%zu), which postgresql.conf cannot express; use a path without it",
			    (int)(i < 40 ? i : 40), value, c, i);
			goto out;
		}
		if (c == '\'' || c == '\\')
			czpg_wbuf_u8(&w, c);
		czpg_wbuf_u8(&w, c);
	}
	czpg_wbuf_u8(&w, '\'');
	czpg_wbuf_u8(&w, '\0');
	if (w.err) {
		set_err(err, errlen, "out of memory quoting a configuration value");
		goto out;
	}
	*out = (char *)w.data;
	w.data = NULL;
	rc = 0;
out:
	czpg_wbuf_free(&w);
	return rc;
}

/* Appends "name = <quoted value>\n"; 0 or -1 with err naming the parameter. */
static int put_path(struct czpg_wbuf *w, const char *name, const char *path, char *err,
		    size_t errlen)
{
	char *q = NULL;
	char sub[256];
	int rc = -1;

	if (path == NULL || path[0] == '\0') {
		set_err(err, errlen, "%s: no path given; pass the file's absolute path", name);
		goto out;
	}
	if (czpg_pgconf_quote(path, &q, sub, sizeof(sub)) < 0) {
		set_err(err, errlen, "%s: %s", name, sub);
		goto out;
	}
	czpg_wbuf_bytes(w, name, strlen(name));
	czpg_wbuf_bytes(w, " = ", 3);
	czpg_wbuf_bytes(w, q, strlen(q));
	czpg_wbuf_u8(w, '\n');
	rc = 0;
out:
	free(q);
	return rc;
}

static void put_str(struct czpg_wbuf *w, const char *s)
{
	czpg_wbuf_bytes(w, s, strlen(s));
}

int czpg_pgconf_render_tls(const struct czpg_pgconf_tls *tls, char **out, size_t *out_len,
			   char *err, size_t errlen)
{
	struct czpg_wbuf w;
	int rc = -1;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	czpg_wbuf_init(&w, 0);
	if (tls == NULL) {
		set_err(err, errlen, "no TLS settings given");
		goto out;
	}
	put_str(&w, "# " CZPG_PGCONF_TLS_FILE ": PostgreSQL TLS settings managed by czctl postgres "
		    "tls provision.\n"
		    "# czctl overwrites this whole file on every run: local edits are lost.\n"
		    "# Change a setting by re-running czctl with other flags.\n"
		    "ssl = on\n");
	if (put_path(&w, "ssl_cert_file", tls->cert_file, err, errlen) < 0 ||
	    put_path(&w, "ssl_key_file", tls->key_file, err, errlen) < 0 ||
	    put_path(&w, "ssl_ca_file", tls->ca_file, err, errlen) < 0)
		goto out;
	if (tls->allow_tls12_fallback)
		put_str(&w, "# --allow-tls12-fallback: TLS 1.2 accepted for older clients.\n"
			    "ssl_min_protocol_version = 'TLSv1.2'\n");
	else
		put_str(&w, "ssl_min_protocol_version = 'TLSv1.3'\n");
	put_str(&w, "# Mozilla intermediate ECDHE-ECDSA suites.  ssl_ciphers only affects TLS 1.2\n"
		    "# and below; TLS 1.3 suites are fixed by OpenSSL.\n"
		    "ssl_ciphers = '" CZPG_PGCONF_CIPHERS "'\n"
		    "ssl_prefer_server_ciphers = on\n");
	/* PostgreSQL 18 renamed ssl_ecdh_curve to ssl_groups (the old name is an alias). */
	if (tls->server_major >= 18)
		put_str(&w, "# PostgreSQL 18+: the key-exchange groups (was ssl_ecdh_curve).\n"
			    "ssl_groups = 'prime256v1'\n");
	else
		put_str(&w, "ssl_ecdh_curve = 'prime256v1'\n");
	if (out_len != NULL)
		*out_len = w.len;
	czpg_wbuf_u8(&w, '\0');
	if (w.err) {
		set_err(err, errlen, "out of memory rendering " CZPG_PGCONF_TLS_FILE);
		goto out;
	}
	*out = (char *)w.data;
	w.data = NULL;
	rc = 0;
out:
	if (rc < 0 && out_len != NULL)
		*out_len = 0;
	czpg_wbuf_free(&w);
	return rc;
}

int czpg_pgconf_normalize_path(const char *path, char **out)
{
	size_t n, i = 0, olen = 0, depth = 0;
	bool abs;
	char *o = NULL;
	int rc = -1;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		goto out;
	n = strlen(path);
	abs = path[0] == '/';
	o = malloc(n + 2);
	if (o == NULL)
		goto out;
	if (abs)
		o[olen++] = '/';
	/* depth counts the components in o that a ".." may remove */
	while (i < n) {
		size_t start, len;

		while (i < n && path[i] == '/')
			i++;
		start = i;
		while (i < n && path[i] != '/')
			i++;
		len = i - start;
		if (len == 0 || (len == 1 && path[start] == '.'))
			continue;
		if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (depth > 0) {
				/* drop the last component and its separator */
				while (olen > 0 && o[olen - 1] != '/')
					olen--;
				if (olen > 1 || (!abs && olen > 0))
					olen--;
				depth--;
				continue;
			}
			if (abs)
				continue; /* "/.." is "/" */
		} else {
			depth++;
		}
		if (olen > 0 && o[olen - 1] != '/')
			o[olen++] = '/';
		memcpy(o + olen, path + start, len);
		olen += len;
	}
	if (olen == 0)
		o[olen++] = '.';
	o[olen] = '\0';
	*out = o;
	o = NULL;
	rc = 0;
out:
	free(o);
	return rc;
}

/* ------------------------------------------------------------ parsing */

/*
 * Removes the quotes of a '...' literal and applies its escapes as
 * guc-file.l's DeescapeQuotedString does.  s[0..n) excludes the outer quotes.
 */
static char *deescape(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t i, j = 0;

	if (o == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < n) {
			c = s[++i];
			switch (c) {
			case 'b':
				o[j++] = '\b';
				break;
			case 'f':
				o[j++] = '\f';
				break;
			case 'n':
				o[j++] = '\n';
				break;
			case 'r':
				o[j++] = '\r';
				break;
			case 't':
				o[j++] = '\t';
				break;
			case '0':
			case '1':
			case '2':
			case '3':
			case '4':
			case '5':
			case '6':
			case '7': {
				int v = 0, k;

				for (k = 0; k < 3 && i < n && s[i] >= '0' && s[i] <= '7'; k++, i++)
					v = v * 8 + (s[i] - '0');
				i--;
				o[j++] = (char)v;
				break;
			}
			default:
				o[j++] = c;
				break;
			}
		} else if (c == '\'' && i + 1 < n && s[i + 1] == '\'') {
			o[j++] = '\'';
			i++;
		} else {
			o[j++] = c;
		}
	}
	o[j] = '\0';
	return o;
}

/*
 * The token classes of guc-file.l, which the flex scanner tries all at once
 * at each position, taking the longest match and, on a tie, the rule listed
 * first (ID before QUALIFIED_ID before STRING before UNQUOTED_STRING before
 * INTEGER before REAL):
 *   LETTER          [A-Za-z_\200-\377]
 *   ID              {LETTER}{LETTER_OR_DIGIT}*
 *   QUALIFIED_ID    {ID}"."{ID}
 *   STRING          \'([^'\\\n]|\\.|\'\')*\'
 *   UNQUOTED_STRING {LETTER}({LETTER_OR_DIGIT}|[-._:/])*
 *   INTEGER         {SIGN}?({DIGIT}+|0x{HEXDIGIT}+){UNIT_LETTER}*
 *   REAL            {SIGN}?{DIGIT}*"."{DIGIT}*{EXPONENT}?
 * Whitespace is [ \t\r]; "#" starts a comment; anything else is an error.
 * So `include_dir = conf.d` is a QUALIFIED_ID where a value must be, a
 * syntax error for PostgreSQL, while `include_dir = confd` is fine.
 */
enum tok {
	TOK_ID,
	TOK_QUALIFIED_ID,
	TOK_STRING,
	TOK_UNQUOTED,
	TOK_INTEGER,
	TOK_REAL,
	TOK_EQUALS,
	TOK_ERROR,
};

static bool is_letter(int c)
{
	return isalpha(c) || c == '_' || (c & 0x80);
}

static bool is_letter_or_digit(int c)
{
	return is_letter(c) || isdigit(c);
}

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static size_t span(const char *t, size_t p, size_t e, bool (*ok)(int))
{
	size_t q = p;

	while (q < e && ok((unsigned char)t[q]))
		q++;
	return q - p;
}

static bool is_hex(int c)
{
	return isxdigit(c) != 0;
}

static bool is_digit(int c)
{
	return isdigit(c) != 0;
}

static bool is_alpha(int c)
{
	return isalpha(c) != 0;
}

static bool is_unquoted_char(int c)
{
	return is_letter_or_digit(c) || c == '-' || c == '.' || c == '_' || c == ':' || c == '/';
}

static size_t match_id(const char *t, size_t p, size_t e)
{
	if (p >= e || !is_letter((unsigned char)t[p]))
		return 0;
	return 1 + span(t, p + 1, e, is_letter_or_digit);
}

static size_t match_qualified(const char *t, size_t p, size_t e)
{
	size_t a = match_id(t, p, e), b;

	if (a == 0 || p + a >= e || t[p + a] != '.')
		return 0;
	b = match_id(t, p + a + 1, e);
	return b == 0 ? 0 : a + 1 + b;
}

static size_t match_string(const char *t, size_t p, size_t e)
{
	size_t q = p + 1;

	if (p >= e || t[p] != '\'')
		return 0;
	while (q < e) {
		if (t[q] == '\\' && q + 1 < e && t[q + 1] != '\n')
			q += 2;
		else if (t[q] == '\'' && q + 1 < e && t[q + 1] == '\'')
			q += 2;
		else if (t[q] == '\'')
			return q + 1 - p;
		else if (t[q] == '\n' || t[q] == '\\')
			return 0;
		else
			q++;
	}
	return 0;
}

static size_t match_unquoted(const char *t, size_t p, size_t e)
{
	if (p >= e || !is_letter((unsigned char)t[p]))
		return 0;
	return 1 + span(t, p + 1, e, is_unquoted_char);
}

static size_t match_integer(const char *t, size_t p, size_t e)
{
	size_t s = p < e && (t[p] == '-' || t[p] == '+') ? 1 : 0, dec, hex = 0, best;

	dec = span(t, p + s, e, is_digit);
	if (dec > 0)
		dec += span(t, p + s + dec, e, is_alpha);
	if (p + s + 1 < e && t[p + s] == '0' && t[p + s + 1] == 'x') {
		hex = span(t, p + s + 2, e, is_hex);
		if (hex > 0)
			hex = 2 + hex + span(t, p + s + 2 + hex, e, is_alpha);
	}
	best = dec > hex ? dec : hex;
	return best == 0 ? 0 : s + best;
}

static size_t match_real(const char *t, size_t p, size_t e)
{
	size_t q = p < e && (t[p] == '-' || t[p] == '+') ? p + 1 : p, x;

	q += span(t, q, e, is_digit);
	if (q >= e || t[q] != '.')
		return 0;
	q++;
	q += span(t, q, e, is_digit);
	if (q < e && (t[q] == 'e' || t[q] == 'E')) {
		x = q + 1;
		if (x < e && (t[x] == '-' || t[x] == '+'))
			x++;
		if (span(t, x, e, is_digit) > 0)
			q = x + span(t, x, e, is_digit);
	}
	return q - p;
}

/* The token at t[p] (p < e, not blank, not '#'): its class and length. */
static enum tok next_token(const char *t, size_t p, size_t e, size_t *len)
{
	size_t m[TOK_EQUALS] = {
	    [TOK_ID] = match_id(t, p, e),           [TOK_QUALIFIED_ID] = match_qualified(t, p, e),
	    [TOK_STRING] = match_string(t, p, e),   [TOK_UNQUOTED] = match_unquoted(t, p, e),
	    [TOK_INTEGER] = match_integer(t, p, e), [TOK_REAL] = match_real(t, p, e),
	};
	enum tok best = TOK_ERROR;
	size_t i, bl = 0;

	for (i = 0; i < TOK_EQUALS; i++) {
		if (m[i] > bl) {
			bl = m[i];
			best = (enum tok)i;
		}
	}
	if (bl == 0) {
		*len = 1;
		return t[p] == '=' ? TOK_EQUALS : TOK_ERROR;
	}
	*len = bl;
	return best;
}

static size_t skip_blanks(const char *t, size_t p, size_t e)
{
	while (p < e && is_blank((unsigned char)t[p]))
		p++;
	return p;
}

/*
 * "syntax error at line N near <what>: <the line>", the line's control
 * bytes shown as '?' and long lines cut; hint, when not NULL, follows.
 */
static void syntax_error(char *err, size_t errlen, unsigned lineno, const char *t, size_t ls,
			 size_t le, size_t at, size_t tlen, const char *hint)
{
	char shown[160], near[64];
	size_t i, n = 0;

	while (le > ls && (t[le - 1] == '\r' || t[le - 1] == ' ' || t[le - 1] == '\t'))
		le--;
	for (i = ls; i < le && n + 4 < sizeof(shown); i++)
		shown[n++] = (unsigned char)t[i] < 0x20 || t[i] == 0x7f ? '?' : t[i];
	if (i < le) {
		memcpy(shown + n, "...", 3);
		n += 3;
	}
	shown[n] = '\0';
	if (at >= le)
		snprintf(near, sizeof(near), "the end of the line");
	else {
		size_t k, m = 0;

		near[m++] = '"';
		for (k = at; k < at + tlen && k < le && m + 5 < sizeof(near); k++)
			near[m++] = (unsigned char)t[k] < 0x20 ? '?' : t[k];
		near[m++] = '"';
		near[m] = '\0';
	}
	set_err(err, errlen, "syntax error at line %u near %s: `%s`%s%s", lineno, near, shown,
		hint != NULL ? "; " : "", hint != NULL ? hint : "");
}

int czpg_pgconf_parse(const char *text, size_t len, struct czpg_pgconf_setting **out, size_t *n,
		      char *err, size_t errlen)
{
	struct czpg_pgconf_setting *v = NULL, *grown;
	size_t nv = 0, capv = 0, pos = 0, i;
	unsigned lineno = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (len > CZPG_PGCONF_MAX_BYTES) {
		set_err(err, errlen, "configuration file is %zu bytes; the limit is %zu", len,
			CZPG_PGCONF_MAX_BYTES);
		goto out;
	}
	if (text == NULL && len > 0)
		goto out;
	while (pos < len) {
		size_t eol = pos, ls = pos, p, tl = 0, name_s, name_e, val_s, val_e;
		enum tok tk;
		struct czpg_pgconf_setting s = {0};
		char hint[128];

		lineno++;
		while (eol < len && text[eol] != '\n')
			eol++;
		pos = eol < len ? eol + 1 : eol;
		for (i = ls; i < eol; i++) {
			if (text[i] == '\0') {
				set_err(err, errlen,
					"line %u holds a NUL byte; the file is not text", lineno);
				goto out;
			}
		}
		p = skip_blanks(text, ls, eol);
		if (p == eol || text[p] == '#')
			continue;
		/* name [=] value [# comment] */
		tk = next_token(text, p, eol, &tl);
		if (tk != TOK_ID && tk != TOK_QUALIFIED_ID) {
			syntax_error(err, errlen, lineno, text, ls, eol, p, tl,
				     "a line must start with a parameter name");
			goto out;
		}
		name_s = p;
		name_e = p + tl;
		p = skip_blanks(text, name_e, eol);
		if (p < eol && text[p] != '#') {
			tk = next_token(text, p, eol, &tl);
			if (tk == TOK_EQUALS)
				p = skip_blanks(text, p + tl, eol);
		}
		if (p == eol || text[p] == '#') {
			syntax_error(err, errlen, lineno, text, ls, eol, eol, 0, "no value given");
			goto out;
		}
		tk = next_token(text, p, eol, &tl);
		if (tk != TOK_ID && tk != TOK_STRING && tk != TOK_INTEGER && tk != TOK_REAL &&
		    tk != TOK_UNQUOTED) {
			size_t k = p;

			/* The value PostgreSQL cannot read: suggest quoting it when that fixes it.
			 */
			while (k < eol && !is_blank((unsigned char)text[k]) && text[k] != '#' &&
			       text[k] != '\'')
				k++;
			if (k > p && skip_blanks(text, k, eol) == eol) {
				snprintf(
				    hint, sizeof(hint),
				    "PostgreSQL refuses this file; quote the value: %.*s = '%.*s'",
				    (int)(name_e - name_s), text + name_s, (int)(k - p), text + p);
				syntax_error(err, errlen, lineno, text, ls, eol, p, k - p, hint);
			} else {
				syntax_error(err, errlen, lineno, text, ls, eol, p, tl,
					     "PostgreSQL refuses this file");
			}
			goto out;
		}
		val_s = p;
		val_e = p + tl;
		p = skip_blanks(text, val_e, eol);
		if (p < eol && text[p] != '#') {
			next_token(text, p, eol, &tl);
			syntax_error(err, errlen, lineno, text, ls, eol, p, tl,
				     "one value per line; quote a value with spaces");
			goto out;
		}
		s.line = lineno;
		s.name = dup_range(text + name_s, name_e - name_s);
		s.value = tk == TOK_STRING ? deescape(text + val_s + 1, val_e - val_s - 2)
					   : dup_range(text + val_s, val_e - val_s);
		if (nv == capv) {
			capv = capv ? capv * 2 : 16;
			grown = realloc(v, capv * sizeof(*v));
			if (grown == NULL) {
				free(s.name);
				free(s.value);
				set_err(err, errlen,
					"out of memory parsing the configuration file");
				goto out;
			}
			v = grown;
		}
		v[nv++] = s;
		if (s.name == NULL || s.value == NULL) {
			set_err(err, errlen, "out of memory parsing the configuration file");
			goto out;
		}
		for (i = 0; s.name[i]; i++)
			s.name[i] = (char)tolower((unsigned char)s.name[i]);
	}
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
	rc = 0;
out:
	czpg_pgconf_settings_free(v, nv);
	return rc;
}

void czpg_pgconf_settings_free(struct czpg_pgconf_setting *s, size_t n)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(s[i].name);
		free(s[i].value);
	}
	free(s);
}

bool czpg_pgconf_is_tls_param(const char *name)
{
	if (name == NULL)
		return false;
	return strcasecmp(name, "ssl") == 0 || strncasecmp(name, "ssl_", 4) == 0;
}

void czpg_pgconf_check_free(struct czpg_pgconf_check *c)
{
	if (c == NULL)
		return;
	free(c->line_to_add);
	czpg_pgconf_settings_free(c->overrides, c->n_overrides);
	free(c->later_includes);
	memset(c, 0, sizeof(*c));
}

/* Resolves an include_dir value as PostgreSQL does, then normalises it. */
static int resolve(const char *conf_dir, const char *value, char **out)
{
	char *joined = NULL;
	size_t n;
	int rc = -1;

	*out = NULL;
	if (value[0] == '/') {
		rc = czpg_pgconf_normalize_path(value, out);
		goto out;
	}
	n = strlen(conf_dir) + strlen(value) + 2;
	joined = malloc(n);
	if (joined == NULL)
		goto out;
	snprintf(joined, n, "%s/%s", conf_dir, value);
	rc = czpg_pgconf_normalize_path(joined, out);
out:
	free(joined);
	return rc;
}

static bool is_include(const char *name)
{
	return strcmp(name, "include") == 0 || strcmp(name, "include_dir") == 0 ||
	       strcmp(name, "include_if_exists") == 0;
}

int czpg_pgconf_check_include(const char *text, size_t len, const char *conf_dir,
			      const char *confd_dir, bool (*same_dir)(const char *a, const char *b),
			      struct czpg_pgconf_check *out, char *err, size_t errlen)
{
	struct czpg_pgconf_setting *s = NULL;
	size_t ns = 0, i, last = 0, no = 0, ni = 0, cl;
	char *want = NULL, *base = NULL, *res = NULL, *q = NULL, sub[256];
	bool found = false;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (conf_dir == NULL || conf_dir[0] == '\0' || confd_dir == NULL || confd_dir[0] == '\0') {
		set_err(err, errlen,
			"the directory of postgresql.conf and the conf.d directory "
			"must both be given");
		goto out;
	}
	if (czpg_pgconf_normalize_path(confd_dir, &want) < 0 ||
	    czpg_pgconf_normalize_path(conf_dir, &base) < 0) {
		set_err(err, errlen, "out of memory normalising paths");
		goto out;
	}
	if (czpg_pgconf_parse(text, len, &s, &ns, err, errlen) < 0)
		goto out;
	for (i = 0; i < ns; i++) {
		if (!is_include(s[i].name))
			continue;
		/* PostgreSQL refuses an empty file or directory name in the whole file. */
		if (s[i].value[0] == '\0') {
			set_err(err, errlen,
				"line %u: %s with an empty name, which PostgreSQL refuses (\"empty "
				"configuration %s name\"): remove the line or give the name",
				s[i].line, s[i].name,
				strcmp(s[i].name, "include_dir") == 0 ? "directory" : "file");
			goto out;
		}
		if (strcmp(s[i].name, "include_dir") != 0)
			continue;
		if (resolve(base, s[i].value, &res) < 0) {
			set_err(err, errlen, "out of memory resolving include_dir at line %u",
				s[i].line);
			goto out;
		}
		if (strcmp(res, want) == 0 || (same_dir != NULL && same_dir(res, want))) {
			found = true;
			last = i;
		}
		free(res);
		res = NULL;
	}
	out->included = found;
	if (found) {
		out->include_line = s[last].line;
		for (i = last + 1; i < ns; i++) {
			if (czpg_pgconf_is_tls_param(s[i].name))
				no++;
			else if (is_include(s[i].name))
				ni++;
		}
		if (no > 0) {
			out->overrides = calloc(no, sizeof(*out->overrides));
			if (out->overrides == NULL)
				goto oom;
		}
		if (ni > 0) {
			out->later_includes = calloc(ni, sizeof(*out->later_includes));
			if (out->later_includes == NULL)
				goto oom;
		}
		for (i = last + 1; i < ns; i++) {
			if (czpg_pgconf_is_tls_param(s[i].name)) {
				/* move the strings over */
				out->overrides[out->n_overrides++] = s[i];
				s[i].name = NULL;
				s[i].value = NULL;
			} else if (is_include(s[i].name)) {
				out->later_includes[out->n_later_includes++] = s[i].line;
			}
		}
	} else {
		const char *rel = want;
		size_t bl = strlen(base);

		if (strcmp(base, "/") == 0 && want[0] == '/' && want[1] != '\0')
			rel = want + 1;
		else if (strncmp(want, base, bl) == 0 && want[bl] == '/')
			rel = want + bl + 1;
		if (czpg_pgconf_quote(rel, &q, sub, sizeof(sub)) < 0) {
			set_err(err, errlen, "conf.d directory: %s", sub);
			goto out;
		}
		cl = strlen(q) + sizeof("include_dir = ");
		out->line_to_add = malloc(cl);
		if (out->line_to_add == NULL)
			goto oom;
		snprintf(out->line_to_add, cl, "include_dir = %s", q);
	}
	rc = 0;
	goto out;
oom:
	set_err(err, errlen, "out of memory checking postgresql.conf");
out:
	czpg_pgconf_settings_free(s, ns);
	free(want);
	free(base);
	free(res);
	free(q);
	return rc;
}
