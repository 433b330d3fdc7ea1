/*
 * json.h - a tiny streaming JSON writer for --json output (RFC 8259).
 *
 * Keeps just enough state to place commas; strings are escaped (control
 * characters as \u00XX, and bytes that are not UTF-8 replaced), so server-
 * supplied text is always safe to emit.
 */
#ifndef CZPG_JSON_H
#define CZPG_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CZPG_JSON_MAX_DEPTH 32

struct czpg_json {
	FILE *out;
	int depth;
	bool need_comma[CZPG_JSON_MAX_DEPTH];
	bool after_key;
};

void czpg_json_init(struct czpg_json *j, FILE *out);
void czpg_json_object_begin(struct czpg_json *j);
void czpg_json_object_end(struct czpg_json *j);
void czpg_json_array_begin(struct czpg_json *j);
void czpg_json_array_end(struct czpg_json *j);
/* A key inside an object; the next value call writes its value. */
void czpg_json_key(struct czpg_json *j, const char *key);
void czpg_json_string(struct czpg_json *j, const char *s); /* NULL writes null */
void czpg_json_int(struct czpg_json *j, int64_t v);
void czpg_json_uint(struct czpg_json *j, uint64_t v);
void czpg_json_double(struct czpg_json *j, double v); /* non-finite writes null */
void czpg_json_bool(struct czpg_json *j, bool v);
void czpg_json_null(struct czpg_json *j);

/* key + value in one call. */
void czpg_json_kv_string(struct czpg_json *j, const char *key, const char *s);
void czpg_json_kv_int(struct czpg_json *j, const char *key, int64_t v);
void czpg_json_kv_uint(struct czpg_json *j, const char *key, uint64_t v);
void czpg_json_kv_double(struct czpg_json *j, const char *key, double v);
void czpg_json_kv_bool(struct czpg_json *j, const char *key, bool v);

/* Ends the document with a newline and flushes. */
void czpg_json_finish(struct czpg_json *j);

#endif
