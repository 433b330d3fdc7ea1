/*
 * fuzz_pgwire.c - libFuzzer target for the PostgreSQL protocol 3.0 backend
 * parser and every typed decoder (czpg/pgwire.h).
 *
 * The first input byte picks a chunk size (1..256) and a small message cap;
 * the rest is fed to the parser in chunks of that size, and every message
 * that comes out is run through every decoder (each must either decode it
 * or reject it, never read outside it).  Decoded strings are rendered with
 * the sanitizer, whose output must contain no control characters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/pgwire.h"

static void check_sanitized(const char *s)
{
	char out[128];
	size_t n, i;

	if (s == NULL)
		return;
	n = czpg_pgwire_sanitize(s, out, sizeof(out));
	if (n >= sizeof(out) || out[n] != '\0')
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] == 0x7f)
			abort();
}

static void decode_all(const struct czpg_pgwire_msg *m)
{
	struct czpg_pgwire_auth a;
	struct czpg_pgwire_field fields[8];
	struct czpg_pgwire_value vals[8];
	struct czpg_pgwire_error e;
	const char *name, *value, *tag;
	uint32_t pid, key, oids[8];
	size_t n, i;
	char status, err[256], line[512];

	/* Decoders take a view whose body may be copied out of the parser's buffer. */
	if (czpg_pgwire_decode_auth(m, &a, err, sizeof(err)) == 0) {
		if (a.len != 0 && a.data == NULL)
			abort();
		for (i = 0; i < a.nmechs; i++)
			check_sanitized(a.mechs[i]);
		(void)czpg_pgwire_auth_has_mechanism(&a, "SCRAM-SHA-256");
	}
	if (czpg_pgwire_decode_parameter_status(m, &name, &value, err, sizeof(err)) == 0) {
		check_sanitized(name);
		check_sanitized(value);
	}
	(void)czpg_pgwire_decode_backend_key(m, &pid, &key, err, sizeof(err));
	if (czpg_pgwire_decode_ready(m, &status, err, sizeof(err)) == 0 && status != 'I' &&
	    status != 'T' && status != 'E')
		abort();
	if (czpg_pgwire_decode_row_description(m, fields, 8, &n, err, sizeof(err)) == 0) {
		if (n > 8)
			abort();
		for (i = 0; i < n; i++)
			check_sanitized(fields[i].name);
	}
	if (czpg_pgwire_decode_data_row(m, vals, 8, &n, err, sizeof(err)) == 0) {
		if (n > 8)
			abort();
		for (i = 0; i < n; i++)
			if (vals[i].len > m->len || (vals[i].null && vals[i].len != 0))
				abort();
	}
	if (czpg_pgwire_decode_command_complete(m, &tag, err, sizeof(err)) == 0)
		check_sanitized(tag);
	(void)czpg_pgwire_decode_empty(m, err, sizeof(err));
	if (czpg_pgwire_decode_parameter_description(m, oids, 8, &n, err, sizeof(err)) == 0 &&
	    n > 8)
		abort();
	if (czpg_pgwire_decode_error(m, &e, err, sizeof(err)) == 0) {
		n = czpg_pgwire_error_format(&e, line, sizeof(line));
		if (n >= sizeof(line) || strlen(line) != n)
			abort();
		check_sanitized(e.message);
		check_sanitized(e.detail);
	}
	(void)czpg_pgwire_msg_name(m->type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;
	uint8_t *copy;
	size_t chunk, off, n;
	int rc = 0;

	if (size == 0)
		return 0;
	chunk = (size_t)(data[0] & 0x7f) + 1;
	/* High bit: a tiny cap, to reach the "too long" path often. */
	czpg_pgwire_parser_init(&p, (data[0] & 0x80) ? 64 : 0);
	data++;
	size--;
	for (off = 0; off < size && rc >= 0; off += n) {
		n = size - off < chunk ? size - off : chunk;
		if (czpg_pgwire_parser_feed(&p, data + off, n) < 0)
			break;
		while ((rc = czpg_pgwire_parser_next(&p, &m)) == 1) {
			/*
			 * Decode an exact-size heap copy so that ASan sees any read
			 * past the body, even where the parser's buffer goes on.
			 */
			copy = malloc(m.len != 0 ? m.len : 1);
			if (copy == NULL)
				abort();
			if (m.len != 0)
				memcpy(copy, m.body, m.len);
			m.body = copy;
			decode_all(&m);
			free(copy);
		}
	}
	if (rc < 0 && czpg_pgwire_parser_error(&p)[0] == '\0')
		abort();
	if (czpg_pgwire_parser_buffered(&p) > size)
		abort();
	czpg_pgwire_parser_free(&p);
	return 0;
}
