/*
 * test_json.c - unit tests for the streaming JSON writer (czpg/json.h,
 * RFC 8259): the escaping of text a server controls (quotes, backslashes,
 * every control byte, DEL, invalid UTF-8, long strings) and the structure
 * (commas, keys, numbers, null).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "czpg/json.h"

/* A writer into memory; take() ends it and returns the text (free it). */
struct sink {
	FILE *f;
	char *buf;
	size_t len;
	struct czpg_json j;
};

static void sink_open(struct sink *s)
{
	s->buf = NULL;
	s->len = 0;
	s->f = open_memstream(&s->buf, &s->len);
	assert_non_null(s->f);
	czpg_json_init(&s->j, s->f);
}

static char *sink_take(struct sink *s)
{
	assert_int_equal(fclose(s->f), 0);
	return s->buf;
}

/* The JSON text of one string value. */
static char *json_of(const char *text)
{
	struct sink s;

	sink_open(&s);
	czpg_json_string(&s.j, text);
	return sink_take(&s);
}

static void expect_json(const char *text, const char *want)
{
	char *got = json_of(text);

	assert_string_equal(got, want);
	free(got);
}

/* Appends code point cp as UTF-8. */
static void put_utf8(char *out, size_t *n, uint32_t cp)
{
	if (cp < 0x80) {
		out[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*n)++] = (char)(0xc0 | cp >> 6);
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xe0 | cp >> 12);
		out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*n)++] = (char)(0xf0 | cp >> 18);
		out[(*n)++] = (char)(0x80 | (cp >> 12 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/*
 * A strict decoder of one JSON string (RFC 8259 section 7) for checking the
 * writer: the text must be exactly one quoted string, no raw byte below
 * 0x20 inside, only the escapes the grammar allows.  Returns the decoded
 * bytes (malloc'd, NUL-terminated) or NULL when the text is not valid.
 */
static char *json_decode(const char *text)
{
	size_t len = strlen(text), i = 1, n = 0;
	char *out = malloc(len * 2 + 1);

	assert_non_null(out);
	if (len < 2 || text[0] != '"' || text[len - 1] != '"')
		goto bad;
	while (i < len - 1) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == '"')
			goto bad;
		if (c != '\\') {
			out[n++] = (char)c;
			i++;
			continue;
		}
		if (i + 1 >= len - 1)
			goto bad;
		switch (text[i + 1]) {
		case '"':
		case '\\':
		case '/':
			out[n++] = text[i + 1];
			i += 2;
			break;
		case 'n':
			out[n++] = '\n';
			i += 2;
			break;
		case 't':
			out[n++] = '\t';
			i += 2;
			break;
		case 'r':
			out[n++] = '\r';
			i += 2;
			break;
		case 'b':
			out[n++] = '\b';
			i += 2;
			break;
		case 'f':
			out[n++] = '\f';
			i += 2;
			break;
		case 'u': {
			char hex[5];
			char *end;
			unsigned long cp;

			if (i + 6 > len - 1)
				goto bad;
			memcpy(hex, text + i + 2, 4);
			hex[4] = '\0';
			cp = strtoul(hex, &end, 16);
			if (*end != '\0' || (cp >= 0xd800 && cp <= 0xdfff))
				goto bad; /* the writer never needs surrogate pairs */
			put_utf8(out, &n, (uint32_t)cp);
			i += 6;
			break;
		}
		default:
			goto bad;
		}
	}
	out[n] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static void test_quotes_and_backslashes(void **state)
{
	(void)state;
	expect_json("", "\"\"");
	expect_json("plain text", "\"plain text\"");
	expect_json("say \"hi\"", "\"say \\\"hi\\\"\"");
	expect_json("C:\\dir\\", "\"C:\\\\dir\\\\\"");
	expect_json("\\\"", "\"\\\\\\\"\"");
	expect_json("a/b", "\"a/b\""); /* '/' needs no escape */
	expect_json("'single'", "\"'single'\"");
}

static void test_every_control_byte_escaped(void **state)
{
	unsigned c;

	(void)state;
	for (c = 1; c < 0x20; c++) {
		char in[4] = {'<', (char)c, '>', '\0'};
		char *got = json_of(in), *back;
		char want[16];

		if (c == '\n')
			snprintf(want, sizeof(want), "\"<\\n>\"");
		else if (c == '\t')
			snprintf(want, sizeof(want), "\"<\\t>\"");
		else
			snprintf(want, sizeof(want), "\"<\\u%04x>\"", c);
		assert_string_equal(got, want);
		back = json_decode(got);
		assert_non_null(back);
		assert_string_equal(back, in);
		free(back);
		free(got);
	}
	/* DEL is escaped too: it is a control character for a terminal. */
	expect_json("\x7f", "\"\\u007f\"");
	/* An ANSI escape sequence cannot reach a terminal raw. */
	expect_json("\x1b[2J\x1b]0;pwned\x07", "\"\\u001b[2J\\u001b]0;pwned\\u0007\"");
}

/* The text is a C string: a NUL ends it, and nothing after it is written. */
static void test_nul_ends_the_text(void **state)
{
	static const char in[] = "before\0after";
	struct sink s;
	char *got;

	(void)state;
	sink_open(&s);
	czpg_json_string(&s.j, in);
	got = sink_take(&s);
	assert_string_equal(got, "\"before\"");
	assert_null(strstr(got, "after"));
	free(got);
}

static void test_valid_utf8_passes_through(void **state)
{
	(void)state;
	expect_json("gr\xc3\xbc\xc3\x9f"
		    "e",
		    "\"gr\xc3\xbc\xc3\x9f"
		    "e\"");                                      /* U+00FC U+00DF */
	expect_json("\xe2\x82\xac", "\"\xe2\x82\xac\"");         /* U+20AC, 3 bytes */
	expect_json("\xf0\x9f\x94\x92", "\"\xf0\x9f\x94\x92\""); /* U+1F512, 4 bytes */
	expect_json("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF, the last */
	expect_json("\xc2\x80", "\"\xc2\x80\"");                 /* U+0080, smallest 2-byte */
	expect_json("\xe0\xa0\x80", "\"\xe0\xa0\x80\"");         /* U+0800, smallest 3-byte */
}

static void test_invalid_utf8_replaced(void **state)
{
	(void)state;
	/* Every invalid byte becomes one U+FFFD escape; the rest survives. */
	expect_json("a\x80z", "\"a\\ufffdz\"");                   /* lone continuation byte */
	expect_json("\xff\xfe", "\"\\ufffd\\ufffd\"");            /* never valid in UTF-8 */
	expect_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");            /* overlong '/' */
	expect_json("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""); /* overlong, 3 bytes */
	expect_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate U+D800 */
	expect_json("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
	expect_json("\xf8\x88\x80\x80\x80",
		    "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""); /* 5-byte form */
	/* A sequence cut by the end of the text. */
	expect_json("ok\xe2\x82", "\"ok\\ufffd\\ufffd\"");
	expect_json("\xf0\x9f\x94", "\"\\ufffd\\ufffd\\ufffd\"");
	/* A lead byte followed by ASCII: the ASCII is kept. */
	expect_json("\xc3"
		    "A\"",
		    "\"\\ufffdA\\\"\"");
	/* Latin-1 text (a server with client_encoding LATIN1). */
	expect_json("caf\xe9", "\"caf\\ufffd\"");
}

/* Deterministic generator, so a failure reproduces. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/*
 * Long strings of hostile bytes: the output is one valid JSON string with
 * no raw control byte, and it decodes back to the input wherever the input
 * was valid UTF-8 (here: all bytes except invalid sequences, which we make
 * impossible by drawing from ASCII and whole characters).
 */
static void test_long_strings_round_trip(void **state)
{
	static const char *const pieces[] = {
	    "\"",   "\\", "\n", "\t", "\r",       "\x01",         "\x1f",
	    "\x7f", "a",  "Z",  " ",  "\xc3\xa9", "\xe2\x80\xae", "\xf0\x9f\x98\x80",
	    "{",    "}",  ",",  ":"};
	size_t cap = 300000, n, k;
	char *in = malloc(cap + 8), *got, *back;
	uint32_t seed = 7;

	(void)state;
	assert_non_null(in);
	for (n = 0; n < cap;) {
		const char *p = pieces[lcg(&seed) % (sizeof(pieces) / sizeof(pieces[0]))];

		k = strlen(p);
		memcpy(in + n, p, k);
		n += k;
	}
	in[n] = '\0';
	got = json_of(in);
	back = json_decode(got);
	assert_non_null(back);
	assert_int_equal(strlen(back), n);
	assert_memory_equal(back, in, n);
	free(back);
	free(got);

	/* Random bytes, valid or not: still exactly one valid JSON string. */
	for (k = 0; k < cap; k++)
		in[k] = (char)(1 + lcg(&seed) % 255);
	in[cap] = '\0';
	got = json_of(in);
	back = json_decode(got);
	assert_non_null(back);
	free(back);
	free(got);
	free(in);
}

static void test_structure(void **state)
{
	struct sink s;
	char *got;

	(void)state;
	sink_open(&s);
	czpg_json_object_begin(&s.j);
	czpg_json_kv_string(&s.j, "name", "db");
	czpg_json_kv_int(&s.j, "neg", INT64_MIN);
	czpg_json_kv_uint(&s.j, "big", UINT64_MAX);
	czpg_json_kv_double(&s.j, "ratio", 0.25);
	czpg_json_kv_double(&s.j, "nan", NAN);
	czpg_json_kv_double(&s.j, "inf", -INFINITY);
	czpg_json_kv_bool(&s.j, "ok", true);
	czpg_json_kv_string(&s.j, "missing", NULL);
	czpg_json_key(&s.j, "list");
	czpg_json_array_begin(&s.j);
	czpg_json_int(&s.j, 1);
	czpg_json_null(&s.j);
	czpg_json_array_begin(&s.j);
	czpg_json_array_end(&s.j);
	czpg_json_object_begin(&s.j);
	czpg_json_object_end(&s.j);
	czpg_json_bool(&s.j, false);
	czpg_json_array_end(&s.j);
	czpg_json_key(&s.j, "k\"e\ny"); /* keys are escaped like values */
	czpg_json_string(&s.j, "v");
	czpg_json_object_end(&s.j);
	czpg_json_finish(&s.j);
	got = sink_take(&s);
	assert_string_equal(got, "{\"name\":\"db\",\"neg\":-9223372036854775808,"
				 "\"big\":18446744073709551615,\"ratio\":0.25,\"nan\":null,"
				 "\"inf\":null,\"ok\":true,\"missing\":null,"
				 "\"list\":[1,null,[],{},false],\"k\\\"e\\ny\":\"v\"}\n");
	free(got);

	/* Two top-level documents in a row (fleet mode: one object per line). */
	sink_open(&s);
	czpg_json_object_begin(&s.j);
	czpg_json_object_end(&s.j);
	czpg_json_finish(&s.j);
	czpg_json_init(&s.j, s.f);
	czpg_json_object_begin(&s.j);
	czpg_json_kv_int(&s.j, "n", 2);
	czpg_json_object_end(&s.j);
	czpg_json_finish(&s.j);
	got = sink_take(&s);
	assert_string_equal(got, "{}\n{\"n\":2}\n");
	free(got);
}

static void test_doubles(void **state)
{
	struct sink s;
	char *got;

	(void)state;
	sink_open(&s);
	czpg_json_array_begin(&s.j);
	czpg_json_double(&s.j, 0);
	czpg_json_double(&s.j, -1.5);
	czpg_json_double(&s.j, 1e-7);
	czpg_json_double(&s.j, 123456789012.0);
	czpg_json_double(&s.j, NAN);
	czpg_json_array_end(&s.j);
	got = sink_take(&s);
	/* Ten significant digits; an exponent form is a valid JSON number; never nan or inf. */
	assert_string_equal(got, "[0,-1.5,1e-07,1.23456789e+11,null]");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quotes_and_backslashes),
	    cmocka_unit_test(test_every_control_byte_escaped),
	    cmocka_unit_test(test_nul_ends_the_text),
	    cmocka_unit_test(test_valid_utf8_passes_through),
	    cmocka_unit_test(test_invalid_utf8_replaced),
	    cmocka_unit_test(test_long_strings_round_trip),
	    cmocka_unit_test(test_structure),
	    cmocka_unit_test(test_doubles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
