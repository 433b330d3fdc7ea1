/*
 * test_reload.c - the parts of reload that need no server: the rows parser
 * for psql's unaligned output (-A -t -F 0x1f -R 0x1e) and socket discovery
 * from postgresql.conf text.
 *
 * The psql outputs below are the bytes psql 15 prints for the query named
 * in each comment: fields separated by 0x1f, records by 0x1e, one newline at
 * the end, NULL printed as an empty field, no rows as no output at all, and
 * a value's own newlines or separators printed raw.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/reload.h"

#define FS CZPG_RELOAD_FS
#define RS CZPG_RELOAD_RS

/* Parses text (a string) into nfields; asserts the result code. */
static void parse(const char *text, size_t nfields, int want, struct czpg_reload_rows *r, char *err,
		  size_t errlen)
{
	err[0] = '\0';
	assert_int_equal(czpg_reload_rows_parse(text, strlen(text), nfields, r, err, errlen), want);
	if (want < 0) {
		/* A failed parse leaves nothing to free and says why. */
		assert_null(r->cells);
		assert_null(r->buf);
		assert_int_equal(r->nrows, 0);
		assert_true(strlen(err) > 0);
	}
}

static void test_rows_parse(void **state)
{
	static const char out[] = "7\x1finvalid connection type \"x|y\"\nsecond line\x1e"
				  "12\x1f\x1e\n";
	struct czpg_reload_rows r;
	char err[128];

	(void)state;
	assert_int_equal(czpg_reload_rows_parse(out, sizeof(out) - 1, 2, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nrows, 2);
	assert_string_equal(r.cells[0], "7");
	assert_string_equal(r.cells[1], "invalid connection type \"x|y\"\nsecond line");
	assert_string_equal(r.cells[2], "12");
	assert_string_equal(r.cells[3], "");
	czpg_reload_rows_free(&r);

	assert_int_equal(czpg_reload_rows_parse("\n", 1, 3, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nrows, 0);
	czpg_reload_rows_free(&r);

	assert_int_equal(czpg_reload_rows_parse("a\x1f"
						"b",
						3, 3, &r, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "2 fields, not 3"));
	assert_int_equal(czpg_reload_rows_parse("a\x1f"
						"b\x1f"
						"c",
						5, 2, &r, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "more than 2"));
	czpg_reload_rows_free(NULL);
}

/* The shapes psql really prints. */
static void test_rows_psql_shapes(void **state)
{
	struct czpg_reload_rows r;
	char err[128];

	(void)state;
	/* SELECT 1, 'a' */
	parse("1" FS "a\n", 2, 0, &r, err, sizeof(err));
	assert_int_equal(r.nrows, 1);
	assert_int_equal(r.nfields, 2);
	assert_string_equal(r.cells[0], "1");
	assert_string_equal(r.cells[1], "a");
	czpg_reload_rows_free(&r);

	/* SELECT 1, 'a' UNION ALL SELECT 2, NULL: NULL is an empty field */
	parse("1" FS "a" RS "2" FS "\n", 2, 0, &r, err, sizeof(err));
	assert_int_equal(r.nrows, 2);
	assert_string_equal(r.cells[2], "2");
	assert_string_equal(r.cells[3], "");
	czpg_reload_rows_free(&r);

	/* SELECT 1 WHERE false: no output at all */
	parse("", 1, 0, &r, err, sizeof(err));
	assert_int_equal(r.nrows, 0);
	assert_null(r.cells);
	czpg_reload_rows_free(&r);

	/* SELECT '', NULL: one row of two empty fields */
	parse(FS "\n", 2, 0, &r, err, sizeof(err));
	assert_int_equal(r.nrows, 1);
	assert_string_equal(r.cells[0], "");
	assert_string_equal(r.cells[1], "");
	czpg_reload_rows_free(&r);

	/* SELECT 1,2,3 UNION ALL SELECT 4,5,6 */
	parse("1" FS "2" FS "3" RS "4" FS "5" FS "6\n", 3, 0, &r, err, sizeof(err));
	assert_int_equal(r.nrows, 2);
	assert_string_equal(r.cells[0], "1");
	assert_string_equal(r.cells[2], "3");
	assert_string_equal(r.cells[3], "4");
	assert_string_equal(r.cells[5], "6");
	czpg_reload_rows_free(&r);
}

/* Newlines inside a value stay in its cell; empty fields anywhere in a row. */
static void test_rows_embedded_and_empty(void **state)
{
	struct czpg_reload_rows r;
	char err[128];

	(void)state;
	/* SELECT E'x\ny', '', 'z' */
	parse("x\ny" FS FS "z\n", 3, 0, &r, err, sizeof(err));
	assert_int_equal(r.nrows, 1);
	assert_string_equal(r.cells[0], "x\ny");
	assert_string_equal(r.cells[1], "");
	assert_string_equal(r.cells[2], "z");
	czpg_reload_rows_free(&r);

	/* a value that is only line breaks, in the middle of the output */
	parse("\n\n" FS "a" RS FS "\n", 2, 0, &r, err, sizeof(err));
	assert_int_equal(r.nrows, 2);
	assert_string_equal(r.cells[0], "\n\n");
	assert_string_equal(r.cells[1], "a");
	assert_string_equal(r.cells[2], "");
	assert_string_equal(r.cells[3], "");
	czpg_reload_rows_free(&r);

	/* empty rows of one field between others */
	parse("a" RS RS "b\n", 1, 0, &r, err, sizeof(err));
	assert_int_equal(r.nrows, 3);
	assert_string_equal(r.cells[0], "a");
	assert_string_equal(r.cells[1], "");
	assert_string_equal(r.cells[2], "b");
	czpg_reload_rows_free(&r);
}

/*
 * psql prints a value's own 0x1f raw, so such a row has a field too many:
 * it is refused, never read as other columns.
 */
static void test_rows_embedded_separator(void **state)
{
	struct czpg_reload_rows r;
	char err[128];

	(void)state;
	/* SELECT E'x\ny', E'p\x1fq' */
	parse("x\ny" FS "p" FS "q\n", 2, -1, &r, err, sizeof(err));
	assert_non_null(strstr(err, "more than 2 fields"));
	/* a value holding 0x1e makes a short row */
	parse("a" FS "b" RS "c" FS "d\n", 3, -1, &r, err, sizeof(err));
	assert_non_null(strstr(err, "2 fields, not 3"));
}

/* Output cut short: a last row with too few fields is refused. */
static void test_rows_truncated(void **state)
{
	static const char full[] = "1" FS "a" FS "b" RS "2" FS "c" FS "d\n";
	struct czpg_reload_rows r;
	char err[128];
	size_t cut;

	(void)state;
	for (cut = 1; cut < sizeof(full) - 1; cut++) {
		const char *end = full + cut;
		size_t fs_in_last_row = 0;
		const char *p = end;
		int rc;

		while (p > full && p[-1] != RS[0])
			if (*--p == FS[0])
				fs_in_last_row++;
		rc = czpg_reload_rows_parse(full, cut, 3, &r, err, sizeof(err));
		if (end[-1] == RS[0]) {
			/* cut right after a record: the rows before it are whole */
			assert_int_equal(rc, 0);
			assert_int_equal(r.nrows, 1);
		} else if (fs_in_last_row == 2) {
			/* only the last value is shortened: it cannot be told */
			assert_int_equal(rc, 0);
			assert_int_equal(r.nrows, p == full ? 1 : 2);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, "fields, not 3"));
		}
		czpg_reload_rows_free(&r);
	}
}

/* Only len bytes are read: the text need not be NUL-terminated. */
static void test_rows_len_bounds(void **state)
{
	char text[8];
	struct czpg_reload_rows r;
	char err[128];

	(void)state;
	memcpy(text, "ab" FS "cdXYZ", 8);
	assert_int_equal(czpg_reload_rows_parse(text, 5, 2, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nrows, 1);
	assert_string_equal(r.cells[0], "ab");
	assert_string_equal(r.cells[1], "cd");
	/* the cells are a copy: the input is left as it was */
	assert_memory_equal(text, "ab" FS "cdXYZ", 8);
	czpg_reload_rows_free(&r);
	/* freeing twice is harmless */
	czpg_reload_rows_free(&r);
}

static void test_rows_limits(void **state)
{
	struct czpg_reload_rows r;
	char err[128];
	char *big;
	size_t i, n;

	(void)state;
	parse("a\n", 0, -1, &r, err, sizeof(err));
	assert_non_null(strstr(err, "no fields"));

	/* exactly CZPG_RELOAD_MAX_ROWS rows of "x", then one more */
	n = 2 * (CZPG_RELOAD_MAX_ROWS + 1);
	big = malloc(n + 1);
	assert_non_null(big);
	for (i = 0; i < CZPG_RELOAD_MAX_ROWS + 1; i++) {
		big[2 * i] = 'x';
		big[2 * i + 1] = RS[0];
	}
	big[n - 1] = '\n';
	big[n] = '\0';
	assert_int_equal(czpg_reload_rows_parse(big, n - 2, 1, &r, err, sizeof(err)),
			 0); /* MAX_ROWS rows */
	assert_int_equal(r.nrows, CZPG_RELOAD_MAX_ROWS);
	assert_string_equal(r.cells[CZPG_RELOAD_MAX_ROWS - 1], "x");
	czpg_reload_rows_free(&r);
	parse(big, 1, -1, &r, err, sizeof(err));
	assert_non_null(strstr(err, "more than"));
	free(big);
}

static void test_conf_socket(void **state)
{
	static const char conf[] = "port = 5433\n"
				   "unix_socket_directories = '/var/run/postgresql, /tmp'\n";
	static const char autoconf[] = "unix_socket_directories = '/srv/pg/sock'\nport = 6000\n";
	char sock[256] = "/default";
	unsigned port = 5432;

	(void)state;
	assert_int_equal(czpg_reload_conf_socket(conf, strlen(conf), NULL, 0, sock, sizeof(sock),
						 &port, NULL, 0),
			 0);
	assert_string_equal(sock, "/var/run/postgresql");
	assert_int_equal(port, 5433);
	assert_int_equal(czpg_reload_conf_socket(conf, strlen(conf), autoconf, strlen(autoconf),
						 sock, sizeof(sock), &port, NULL, 0),
			 0);
	assert_string_equal(sock, "/srv/pg/sock");
	assert_int_equal(port, 6000);
	strcpy(sock, "/default");
	port = 5432;
	assert_int_equal(
	    czpg_reload_conf_socket("# nothing\n", 10, NULL, 0, sock, sizeof(sock), &port, NULL, 0),
	    0);
	assert_string_equal(sock, "/default");
	assert_int_equal(port, 5432);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_parse),
	    cmocka_unit_test(test_rows_psql_shapes),
	    cmocka_unit_test(test_rows_embedded_and_empty),
	    cmocka_unit_test(test_rows_embedded_separator),
	    cmocka_unit_test(test_rows_truncated),
	    cmocka_unit_test(test_rows_len_bounds),
	    cmocka_unit_test(test_rows_limits),
	    cmocka_unit_test(test_conf_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
