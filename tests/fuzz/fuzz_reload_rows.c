/*
 * fuzz_reload_rows.c - libFuzzer target for the psql result parser
 * (czpg_reload_rows_parse in czpg/reload.h).
 *
 * The first byte picks the number of fields (its value modulo 9; 0 is
 * refused); the rest is psql's output.  When it parses: there are
 * nrows * nfields cells, all inside the parser's own copy, and joining
 * them again with the field and record separators gives back the input
 * without its trailing newlines and separators (psql never prints a NUL
 * byte; an input holding one is only parsed, for memory safety).  When
 * it does not parse, nothing is left to free.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/reload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct czpg_reload_rows r;
	const char *text = (const char *)data + 1;
	size_t len, nfields, i, pos = 0;
	char err[256];

	if (size < 1)
		return 0;
	nfields = (size_t)(data[0] % 9);
	len = size - 1;
	if (czpg_reload_rows_parse(text, len, nfields, &r, err, sizeof(err)) < 0) {
		if (r.cells != NULL || r.buf != NULL || r.nrows != 0 || err[0] == '\0')
			abort();
		return 0;
	}
	/* what the parser keeps: the input without trailing newlines and record separators */
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == CZPG_RELOAD_RS[0]))
		len--;
	if (memchr(text, '\0', len) != NULL) {
		czpg_reload_rows_free(&r);
		return 0;
	}
	if (r.nfields != nfields || (len == 0) != (r.nrows == 0) || r.nrows > CZPG_RELOAD_MAX_ROWS)
		abort();
	for (i = 0; i < r.nrows * r.nfields; i++) {
		const char *c = r.cells[i];
		size_t n;

		if (c < r.buf || c > r.buf + len)
			abort();
		n = strlen(c);
		/* a cell holds no separator and ends where the input has one (or ends) */
		if (memchr(c, CZPG_RELOAD_FS[0], n) != NULL ||
		    memchr(c, CZPG_RELOAD_RS[0], n) != NULL)
			abort();
		if (i > 0) {
			char sep = i % r.nfields == 0 ? CZPG_RELOAD_RS[0] : CZPG_RELOAD_FS[0];

			if (pos >= len || text[pos] != sep)
				abort();
			pos++;
		}
		if (pos + n > len || memcmp(text + pos, c, n) != 0)
			abort();
		pos += n;
	}
	if (pos != len)
		abort();
	czpg_reload_rows_free(&r);
	return 0;
}
