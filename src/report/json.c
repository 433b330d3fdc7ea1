/*
 * json.c - streaming JSON writer (RFC 8259), see czpg/json.h.
 */
#include "czpg/json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void czpg_json_init(struct czpg_json *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

/* Writes the separator a new value needs at the current position. */
static void before_value(struct czpg_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->need_comma[j->depth])
		fputc(',', j->out);
	j->need_comma[j->depth] = true;
}

static void open_(struct czpg_json *j, char ch)
{
	before_value(j);
	fputc(ch, j->out);
	if (j->depth < CZPG_JSON_MAX_DEPTH - 1)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_(struct czpg_json *j, char ch)
{
	fputc(ch, j->out);
	if (j->depth > 0)
		j->depth--;
}

void czpg_json_object_begin(struct czpg_json *j)
{
	open_(j, '{');
}

void czpg_json_object_end(struct czpg_json *j)
{
	close_(j, '}');
}

void czpg_json_array_begin(struct czpg_json *j)
{
	open_(j, '[');
}

void czpg_json_array_end(struct czpg_json *j)
{
	close_(j, ']');
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void write_string(struct czpg_json *j, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, l;

	fputc('"', j->out);
	while (i < n) {
		unsigned char ch = p[i];

		if (ch == '"' || ch == '\\') {
			fputc('\\', j->out);
			fputc(ch, j->out);
			i++;
		} else if (ch == '\n') {
			fputs("\\n", j->out);
			i++;
		} else if (ch == '\t') {
			fputs("\\t", j->out);
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			fprintf(j->out, "\\u%04x", ch);
			i++;
		} else if ((l = utf8_len(p + i, n - i)) == 0) {
			fputs("\\ufffd", j->out);
			i++;
		} else {
			fwrite(p + i, 1, l, j->out);
			i += l;
		}
	}
	fputc('"', j->out);
}

void czpg_json_key(struct czpg_json *j, const char *key)
{
	before_value(j);
	write_string(j, key);
	fputc(':', j->out);
	j->after_key = true;
}

void czpg_json_string(struct czpg_json *j, const char *s)
{
	before_value(j);
	if (s == NULL)
		fputs("null", j->out);
	else
		write_string(j, s);
}

void czpg_json_int(struct czpg_json *j, int64_t v)
{
	before_value(j);
	fprintf(j->out, "%" PRId64, v);
}

void czpg_json_uint(struct czpg_json *j, uint64_t v)
{
	before_value(j);
	fprintf(j->out, "%" PRIu64, v);
}

void czpg_json_double(struct czpg_json *j, double v)
{
	before_value(j);
	if (!isfinite(v))
		fputs("null", j->out);
	else
		fprintf(j->out, "%.10g", v);
}

void czpg_json_bool(struct czpg_json *j, bool v)
{
	before_value(j);
	fputs(v ? "true" : "false", j->out);
}

void czpg_json_null(struct czpg_json *j)
{
	before_value(j);
	fputs("null", j->out);
}

void czpg_json_kv_string(struct czpg_json *j, const char *key, const char *s)
{
	czpg_json_key(j, key);
	czpg_json_string(j, s);
}

void czpg_json_kv_int(struct czpg_json *j, const char *key, int64_t v)
{
	czpg_json_key(j, key);
	czpg_json_int(j, v);
}

void czpg_json_kv_uint(struct czpg_json *j, const char *key, uint64_t v)
{
	czpg_json_key(j, key);
	czpg_json_uint(j, v);
}

void czpg_json_kv_double(struct czpg_json *j, const char *key, double v)
{
	czpg_json_key(j, key);
	czpg_json_double(j, v);
}

void czpg_json_kv_bool(struct czpg_json *j, const char *key, bool v)
{
	czpg_json_key(j, key);
	czpg_json_bool(j, v);
}

void czpg_json_finish(struct czpg_json *j)
{
	fputc('\n', j->out);
	fflush(j->out);
}
