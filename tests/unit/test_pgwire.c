/*
 * test_pgwire.c - unit tests for the PostgreSQL protocol 3.0 codec (pgwire).
 *
 * Builders are checked byte for byte against layouts written out by hand
 * from PostgreSQL docs chapter 55, "Message Formats".  The parser is fed
 * byte streams recorded from a real PostgreSQL 15 server at every split
 * point; the decoders get both real messages and hand-made garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "czpg/pgwire.h"

/*
 * Recorded server output.  How it was recorded: a throwaway PostgreSQL 15.18
 * cluster (initdb -U postgres -A trust into a temporary directory, started
 * with -c listen_addresses=127.0.0.1 on a free port) was sent, from a small
 * Python socket script, a StartupMessage for user=postgres database=postgres
 * application_name=czpg-fixture, then the simple Query "SELECT 1"; a second
 * connection sent "SELECT 1/0".  The bytes below are exactly what the server
 * answered, up to and including each ReadyForQuery; the ParameterStatus
 * values and the BackendKeyData are the real ones from that run.
 */
/* clang-format off */
static const uint8_t rec_startup[] = {
	/* R len 8: .... */
	0x52, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
	/* S len 34: application_name.czpg-fixture. */
	0x53, 0x00, 0x00, 0x00, 0x22, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x63, 0x61,
	0x74, 0x69, 0x6f, 0x6e, 0x5f, 0x6e, 0x61, 0x6d, 0x65, 0x00, 0x63, 0x7a,
	0x70, 0x67, 0x2d, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72, 0x65, 0x00,
	/* S len 25: client_encoding.UTF8. */
	0x53, 0x00, 0x00, 0x00, 0x19, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x5f,
	0x65, 0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e, 0x67, 0x00, 0x55, 0x54, 0x46,
	0x38, 0x00,
	/* S len 23: DateStyle.ISO, MDY. */
	0x53, 0x00, 0x00, 0x00, 0x17, 0x44, 0x61, 0x74, 0x65, 0x53, 0x74, 0x79,
	0x6c, 0x65, 0x00, 0x49, 0x53, 0x4f, 0x2c, 0x20, 0x4d, 0x44, 0x59, 0x00,
	/* S len 38: default_transaction_read_only.off. */
	0x53, 0x00, 0x00, 0x00, 0x26, 0x64, 0x65, 0x66, 0x61, 0x75, 0x6c, 0x74,
	0x5f, 0x74, 0x72, 0x61, 0x6e, 0x73, 0x61, 0x63, 0x74, 0x69, 0x6f, 0x6e,
	0x5f, 0x72, 0x65, 0x61, 0x64, 0x5f, 0x6f, 0x6e, 0x6c, 0x79, 0x00, 0x6f,
	0x66, 0x66, 0x00,
	/* S len 23: in_hot_standby.off. */
	0x53, 0x00, 0x00, 0x00, 0x17, 0x69, 0x6e, 0x5f, 0x68, 0x6f, 0x74, 0x5f,
	0x73, 0x74, 0x61, 0x6e, 0x64, 0x62, 0x79, 0x00, 0x6f, 0x66, 0x66, 0x00,
	/* S len 25: integer_datetimes.on. */
	0x53, 0x00, 0x00, 0x00, 0x19, 0x69, 0x6e, 0x74, 0x65, 0x67, 0x65, 0x72,
	0x5f, 0x64, 0x61, 0x74, 0x65, 0x74, 0x69, 0x6d, 0x65, 0x73, 0x00, 0x6f,
	0x6e, 0x00,
	/* S len 27: IntervalStyle.postgres. */
	0x53, 0x00, 0x00, 0x00, 0x1b, 0x49, 0x6e, 0x74, 0x65, 0x72, 0x76, 0x61,
	0x6c, 0x53, 0x74, 0x79, 0x6c, 0x65, 0x00, 0x70, 0x6f, 0x73, 0x74, 0x67,
	0x72, 0x65, 0x73, 0x00,
	/* S len 20: is_superuser.on. */
	0x53, 0x00, 0x00, 0x00, 0x14, 0x69, 0x73, 0x5f, 0x73, 0x75, 0x70, 0x65,
	0x72, 0x75, 0x73, 0x65, 0x72, 0x00, 0x6f, 0x6e, 0x00,
	/* S len 25: server_encoding.UTF8. */
	0x53, 0x00, 0x00, 0x00, 0x19, 0x73, 0x65, 0x72, 0x76, 0x65, 0x72, 0x5f,
	0x65, 0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e, 0x67, 0x00, 0x55, 0x54, 0x46,
	0x38, 0x00,
	/* S len 50: server_version.15.18 (Debian 15.18-0+deb12u1). */
	0x53, 0x00, 0x00, 0x00, 0x32, 0x73, 0x65, 0x72, 0x76, 0x65, 0x72, 0x5f,
	0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x00, 0x31, 0x35, 0x2e, 0x31,
	0x38, 0x20, 0x28, 0x44, 0x65, 0x62, 0x69, 0x61, 0x6e, 0x20, 0x31, 0x35,
	0x2e, 0x31, 0x38, 0x2d, 0x30, 0x2b, 0x64, 0x65, 0x62, 0x31, 0x32, 0x75,
	0x31, 0x29, 0x00,
	/* S len 35: session_authorization.postgres. */
	0x53, 0x00, 0x00, 0x00, 0x23, 0x73, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e,
	0x5f, 0x61, 0x75, 0x74, 0x68, 0x6f, 0x72, 0x69, 0x7a, 0x61, 0x74, 0x69,
	0x6f, 0x6e, 0x00, 0x70, 0x6f, 0x73, 0x74, 0x67, 0x72, 0x65, 0x73, 0x00,
	/* S len 35: standard_conforming_strings.on. */
	0x53, 0x00, 0x00, 0x00, 0x23, 0x73, 0x74, 0x61, 0x6e, 0x64, 0x61, 0x72,
	0x64, 0x5f, 0x63, 0x6f, 0x6e, 0x66, 0x6f, 0x72, 0x6d, 0x69, 0x6e, 0x67,
	0x5f, 0x73, 0x74, 0x72, 0x69, 0x6e, 0x67, 0x73, 0x00, 0x6f, 0x6e, 0x00,
	/* S len 21: TimeZone.Etc/UTC. */
	0x53, 0x00, 0x00, 0x00, 0x15, 0x54, 0x69, 0x6d, 0x65, 0x5a, 0x6f, 0x6e,
	0x65, 0x00, 0x45, 0x74, 0x63, 0x2f, 0x55, 0x54, 0x43, 0x00,
	/* K len 12: ........ */
	0x4b, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x19, 0x99, 0x0d, 0x8b, 0xc9,
	0xec,
	/* Z len 5: I */
	0x5a, 0x00, 0x00, 0x00, 0x05, 0x49,
};

static const uint8_t rec_select1[] = {
	/* T len 33: ..?column?................... */
	0x54, 0x00, 0x00, 0x00, 0x21, 0x00, 0x01, 0x3f, 0x63, 0x6f, 0x6c, 0x75,
	0x6d, 0x6e, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x17, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00,
	/* D len 11: ......1 */
	0x44, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x31,
	/* C len 13: SELECT 1. */
	0x43, 0x00, 0x00, 0x00, 0x0d, 0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20,
	0x31, 0x00,
	/* Z len 5: I */
	0x5a, 0x00, 0x00, 0x00, 0x05, 0x49,
};

static const uint8_t rec_error[] = {
	/* E len 65: SERROR.VERROR.C22012.Mdivision by zero.Fint.c.L869.Rint4div.. */
	0x45, 0x00, 0x00, 0x00, 0x41, 0x53, 0x45, 0x52, 0x52, 0x4f, 0x52, 0x00,
	0x56, 0x45, 0x52, 0x52, 0x4f, 0x52, 0x00, 0x43, 0x32, 0x32, 0x30, 0x31,
	0x32, 0x00, 0x4d, 0x64, 0x69, 0x76, 0x69, 0x73, 0x69, 0x6f, 0x6e, 0x20,
	0x62, 0x79, 0x20, 0x7a, 0x65, 0x72, 0x6f, 0x00, 0x46, 0x69, 0x6e, 0x74,
	0x2e, 0x63, 0x00, 0x4c, 0x38, 0x36, 0x39, 0x00, 0x52, 0x69, 0x6e, 0x74,
	0x34, 0x64, 0x69, 0x76, 0x00, 0x00,
	/* Z len 5: I */
	0x5a, 0x00, 0x00, 0x00, 0x05, 0x49,
};
/* clang-format on */

/* ---- Helpers ------------------------------------------------------------ */

/* Asserts that w holds exactly the n bytes of want. */
static void assert_wbuf_eq(const struct czpg_wbuf *w, const uint8_t *want, size_t n)
{
	assert_false(w->err);
	assert_int_equal(w->len, n);
	assert_memory_equal(w->data, want, n);
}

/* A message view over a hand-made body. */
static struct czpg_pgwire_msg mk(uint8_t type, const void *body, size_t len)
{
	struct czpg_pgwire_msg m = {type, body, len};

	return m;
}

/* Copies of parsed messages, to compare runs that split input differently. */
#define MAX_COPIES 64
struct copy {
	uint8_t type;
	size_t len;
	uint8_t body[256];
};

struct copies {
	struct copy m[MAX_COPIES];
	size_t n;
};

/* Appends a copy of msg to c. */
static void keep(struct copies *c, const struct czpg_pgwire_msg *msg)
{
	assert_true(c->n < MAX_COPIES);
	assert_true(msg->len <= sizeof(c->m[0].body));
	c->m[c->n].type = msg->type;
	c->m[c->n].len = msg->len;
	if (msg->len != 0)
		memcpy(c->m[c->n].body, msg->body, msg->len);
	c->n++;
}

/* Drains p into c; asserts no protocol error. */
static void drain(struct czpg_pgwire_parser *p, struct copies *c)
{
	struct czpg_pgwire_msg msg;
	int rc;

	while ((rc = czpg_pgwire_parser_next(p, &msg)) == 1)
		keep(c, &msg);
	assert_int_equal(rc, 0);
}

/*
 * Takes every message of the n bytes at data through _next_in; asserts no
 * protocol error, that all bytes were taken, and that a message returned
 * while nothing was held is a view into data itself (no copy).
 */
static void drain_in(struct czpg_pgwire_parser *p, const uint8_t *data, size_t n, struct copies *c)
{
	struct czpg_pgwire_msg msg;
	const uint8_t *at = data;
	size_t left = n, held;
	int rc;

	for (;;) {
		held = czpg_pgwire_parser_buffered(p);
		rc = czpg_pgwire_parser_next_in(p, &at, &left, &msg);
		if (rc != 1)
			break;
		if (held == 0 && msg.len != 0)
			assert_true(msg.body > data && msg.body + msg.len <= data + n);
		keep(c, &msg);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(left, 0);
}

static void assert_copies_eq(const struct copies *a, const struct copies *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_int_equal(a->m[i].type, b->m[i].type);
		assert_int_equal(a->m[i].len, b->m[i].len);
		assert_memory_equal(a->m[i].body, b->m[i].body, a->m[i].len);
	}
}

static void parse_whole(const uint8_t *s, size_t n, struct copies *out)
{
	struct czpg_pgwire_parser p;

	memset(out, 0, sizeof(*out));
	czpg_pgwire_parser_init(&p, 0);
	assert_int_equal(czpg_pgwire_parser_feed(&p, s, n), 0);
	drain(&p, out);
	assert_int_equal(czpg_pgwire_parser_buffered(&p), 0);
	czpg_pgwire_parser_free(&p);
}

/*
 * Feeds s in two chunks at every split point, then one byte at a time, and
 * checks every run returns exactly the messages of the whole-buffer run.
 */
static void check_all_splits(const uint8_t *s, size_t n, const struct copies *ref)
{
	struct czpg_pgwire_parser p;
	struct copies *got = malloc(sizeof(*got));
	size_t cut, i;

	assert_non_null(got);
	for (cut = 0; cut <= n; cut++) {
		memset(got, 0, sizeof(*got));
		czpg_pgwire_parser_init(&p, 0);
		assert_int_equal(czpg_pgwire_parser_feed(&p, s, cut), 0);
		drain(&p, got);
		assert_int_equal(czpg_pgwire_parser_feed(&p, s + cut, n - cut), 0);
		drain(&p, got);
		assert_int_equal(czpg_pgwire_parser_buffered(&p), 0);
		assert_copies_eq(got, ref);
		czpg_pgwire_parser_free(&p);
	}
	memset(got, 0, sizeof(*got));
	czpg_pgwire_parser_init(&p, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(czpg_pgwire_parser_feed(&p, s + i, 1), 0);
		drain(&p, got);
	}
	assert_int_equal(czpg_pgwire_parser_buffered(&p), 0);
	assert_copies_eq(got, ref);
	czpg_pgwire_parser_free(&p);

	/* The same through _next_in: two chunks at every split, then bytewise. */
	for (cut = 0; cut <= n; cut++) {
		memset(got, 0, sizeof(*got));
		czpg_pgwire_parser_init(&p, 0);
		drain_in(&p, s, cut, got);
		drain_in(&p, s + cut, n - cut, got);
		assert_int_equal(czpg_pgwire_parser_buffered(&p), 0);
		assert_copies_eq(got, ref);
		czpg_pgwire_parser_free(&p);
	}
	memset(got, 0, sizeof(*got));
	czpg_pgwire_parser_init(&p, 0);
	for (i = 0; i < n; i++)
		drain_in(&p, s + i, 1, got);
	assert_int_equal(czpg_pgwire_parser_buffered(&p), 0);
	assert_copies_eq(got, ref);
	czpg_pgwire_parser_free(&p);
	free(got);
}

static struct czpg_pgwire_msg view(const struct copy *c)
{
	return mk(c->type, c->body, c->len);
}

/* ---- Builders: exact bytes --------------------------------------------- */

static void test_build_ssl_request(void **state)
{
	/* Int32(8) Int32(80877103 = 0x04d2162f) */
	static const uint8_t want[] = {0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_ssl_request(&w), 0);
	assert_wbuf_eq(&w, want, sizeof(want));
	czpg_wbuf_free(&w);
}

static void test_build_startup(void **state)
{
	static const char *const params[] = {"user", "app", "database", "db", NULL};
	/* Int32 length, Int32 196608 (3.0), key\0value\0 pairs, final \0. */
	static const uint8_t want[] = {
	    0x00, 0x00, 0x00, 0x1e, 0x00, 0x03, 0x00, 0x00, 'u', 's', 'e', 'r', 0,   'a', 'p',
	    'p',  0,    'd',  'a',  't',  'a',  'b',  'a',  's', 'e', 0,   'd', 'b', 0,   0,
	};
	static const char *const none[] = {NULL};
	static const uint8_t want_none[] = {0x00, 0x00, 0x00, 0x09, 0x00, 0x03, 0x00, 0x00, 0};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_startup(&w, params), 0);
	assert_wbuf_eq(&w, want, sizeof(want));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_startup(&w, none), 0);
	assert_wbuf_eq(&w, want_none, sizeof(want_none));
	czpg_wbuf_free(&w);
}

static void test_build_startup_invalid(void **state)
{
	static const char *const empty_key[] = {"user", "app", "", "x", NULL};
	static const char *const odd[] = {"user", "app", "database", NULL};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_wbuf_bytes(&w, "keep", 4), 0);
	assert_int_equal(czpg_pgwire_startup(&w, empty_key), -1);
	assert_int_equal(czpg_pgwire_startup(&w, odd), -1);
	assert_int_equal(czpg_pgwire_startup(&w, NULL), -1);
	/* Nothing half-written; the buffer is still usable. */
	assert_wbuf_eq(&w, (const uint8_t *)"keep", 4);
	czpg_wbuf_free(&w);
}

static void test_build_sasl_initial_response(void **state)
{
	static const char data[] = "n,,n=,r=abc"; /* 11 bytes */
	/* 'p' Int32(33) "SCRAM-SHA-256\0" Int32(11) data */
	static const uint8_t want[] = {
	    'p', 0x00, 0x00, 0x00, 0x21, 'S', 'C', 'R',  'A',  'M',  '-',  'S',
	    'H', 'A',  '-',  '2',  '5',  '6', 0,   0x00, 0x00, 0x00, 0x0b, 'n',
	    ',', ',',  'n',  '=',  ',',  'r', '=', 'a',  'b',  'c',
	};
	/* No initial response: length -1. */
	static const uint8_t want_absent[] = {'p', 0x00, 0x00, 0x00, 0x0e, 'P',  'L', 'A',
					      'I', 'N',  0,    0xff, 0xff, 0xff, 0xff};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_sasl_initial_response(&w, "SCRAM-SHA-256", data, 11), 0);
	assert_wbuf_eq(&w, want, sizeof(want));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_sasl_initial_response(&w, "PLAIN", NULL, 0), 0);
	assert_wbuf_eq(&w, want_absent, sizeof(want_absent));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_sasl_initial_response(&w, "", data, 11), -1);
	assert_int_equal(czpg_pgwire_sasl_initial_response(&w, NULL, data, 11), -1);
	assert_int_equal(w.len, 0);
	czpg_wbuf_free_secure(&w);
}

static void test_build_sasl_response_and_password(void **state)
{
	static const uint8_t want_sasl[] = {'p', 0x00, 0x00, 0x00, 0x07, 'c', '=', 0x00};
	static const uint8_t want_empty[] = {'p', 0x00, 0x00, 0x00, 0x04};
	/* 'p' Int32(11) "secret\0" */
	static const uint8_t want_pw[] = {'p', 0x00, 0x00, 0x00, 0x0b, 's',
					  'e', 'c',  'r',  'e',  't',  0};
	static const uint8_t raw[] = {'c', '=', 0x00};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_sasl_response(&w, raw, sizeof(raw)), 0);
	assert_wbuf_eq(&w, want_sasl, sizeof(want_sasl));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_sasl_response(&w, NULL, 0), 0);
	assert_wbuf_eq(&w, want_empty, sizeof(want_empty));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_sasl_response(&w, NULL, 3), -1);
	assert_int_equal(w.len, 0);
	assert_int_equal(czpg_pgwire_password(&w, "secret"), 0);
	assert_wbuf_eq(&w, want_pw, sizeof(want_pw));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_password(&w, NULL), -1);
	assert_int_equal(w.len, 0);
	czpg_wbuf_free_secure(&w);
}

static void test_build_query(void **state)
{
	/* 'Q' Int32(13) "SELECT 1\0" */
	static const uint8_t want[] = {'Q', 0x00, 0x00, 0x00, 0x0d, 'S', 'E',
				       'L', 'E',  'C',  'T',  ' ',  '1', 0};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_query(&w, "SELECT 1"), 0);
	assert_wbuf_eq(&w, want, sizeof(want));
	assert_int_equal(czpg_pgwire_query(&w, NULL), -1);
	assert_wbuf_eq(&w, want, sizeof(want));
	czpg_wbuf_free(&w);
}

static void test_build_parse(void **state)
{
	static const uint32_t oids[] = {23, 25};
	/* 'P' Int32(27) "s1\0" "SELECT $1\0" Int16(2) Int32(23) Int32(25) */
	static const uint8_t want[] = {
	    'P', 0x00, 0x00, 0x00, 0x1b, 's',  '1',  0,    'S',  'E',  'L',  'E',  'C',  'T',
	    ' ', '$',  '1',  0,    0x00, 0x02, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x19,
	};
	/* Unnamed statement, no parameter types: 'P' Int32(16) "\0" "SELECT 1\0" Int16(0) */
	static const uint8_t want_unnamed[] = {'P', 0x00, 0x00, 0x00, 0x10, 0, 'S',  'E', 'L',
					       'E', 'C',  'T',  ' ',  '1',  0, 0x00, 0x00};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_parse(&w, "s1", "SELECT $1", 2, oids), 0);
	assert_wbuf_eq(&w, want, sizeof(want));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_parse(&w, NULL, "SELECT 1", 0, NULL), 0);
	assert_wbuf_eq(&w, want_unnamed, sizeof(want_unnamed));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_parse(&w, "", "x", CZPG_PGWIRE_MAX_PARAMS + 1, oids), -1);
	assert_int_equal(czpg_pgwire_parse(&w, "", "x", 1, NULL), -1);
	assert_int_equal(czpg_pgwire_parse(&w, "", NULL, 0, NULL), -1);
	assert_int_equal(w.len, 0);
	czpg_wbuf_free(&w);
}

static void test_build_bind(void **state)
{
	static const char *const values[] = {"42", NULL};
	static const int16_t rfmt[] = {1};
	/*
	 * 'B' Int32(26) portal "\0" statement "s1\0" Int16(0) param formats,
	 * Int16(2) params: Int32(2) "42", Int32(-1); Int16(1) result formats: Int16(1).
	 */
	static const uint8_t want[] = {
	    'B',  0x00, 0x00, 0x00, 0x1a, 0,    's',  '1',  0,    0x00, 0x00, 0x00, 0x02, 0x00,
	    0x00, 0x00, 0x02, '4',  '2',  0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x00, 0x01,
	};
	/* Explicit lengths carry bytes with an embedded NUL. */
	static const char bin[] = {'a', 0, 'b'};
	static const char *const bvalues[] = {bin};
	static const size_t blens[] = {3};
	static const uint8_t want_bin[] = {'B',  0x00, 0x00, 0x00, 0x14, 'p',  0,
					   0,    0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
					   0x00, 0x03, 'a',  0,    'b',  0x00, 0x00};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_bind(&w, NULL, "s1", 2, values, NULL, 1, rfmt), 0);
	assert_wbuf_eq(&w, want, sizeof(want));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_bind(&w, "p", "", 1, bvalues, blens, 0, NULL), 0);
	assert_wbuf_eq(&w, want_bin, sizeof(want_bin));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_bind(&w, "", "", 1, NULL, NULL, 0, NULL), -1);
	assert_int_equal(czpg_pgwire_bind(&w, "", "", 0, NULL, NULL, 1, NULL), -1);
	assert_int_equal(
	    czpg_pgwire_bind(&w, "", "", CZPG_PGWIRE_MAX_PARAMS + 1, values, NULL, 0, NULL), -1);
	assert_int_equal(w.len, 0);
	czpg_wbuf_free(&w);
}

static void test_build_bind_value_too_long(void **state)
{
	static const char *const values[] = {"x"};
	const size_t lens[] = {(size_t)INT32_MAX + 1};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_bind(&w, "", "", 1, values, lens, 0, NULL), -1);
	assert_int_equal(w.len, 0);
	czpg_wbuf_free(&w);
}

static void test_build_describe_close_execute(void **state)
{
	static const uint8_t want_desc[] = {'D', 0x00, 0x00, 0x00, 0x08, 'S', 's', '1', 0};
	static const uint8_t want_close[] = {'C', 0x00, 0x00, 0x00, 0x06, 'P', 0};
	/* 'E' Int32(9) portal "\0" Int32(0) */
	static const uint8_t want_exec[] = {'E', 0x00, 0x00, 0x00, 0x09, 0, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t want_exec2[] = {'E', 0x00, 0x00, 0x00, 0x0a, 'p',
					     0,   0x00, 0x01, 0x00, 0x00};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_describe(&w, 'S', "s1"), 0);
	assert_wbuf_eq(&w, want_desc, sizeof(want_desc));
	assert_int_equal(czpg_pgwire_describe(&w, 'X', "s1"), -1);
	assert_wbuf_eq(&w, want_desc, sizeof(want_desc));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_close(&w, 'P', NULL), 0);
	assert_wbuf_eq(&w, want_close, sizeof(want_close));
	assert_int_equal(czpg_pgwire_close(&w, 0, NULL), -1);
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_execute(&w, "", 0), 0);
	assert_wbuf_eq(&w, want_exec, sizeof(want_exec));
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_execute(&w, "p", 65536), 0);
	assert_wbuf_eq(&w, want_exec2, sizeof(want_exec2));
	czpg_wbuf_free(&w);
}

static void test_build_sync_flush_terminate(void **state)
{
	static const uint8_t want[] = {'S',  0x00, 0x00, 0x00, 0x04, 'H',  0x00, 0x00,
				       0x00, 0x04, 'X',  0x00, 0x00, 0x00, 0x04};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_sync(&w), 0);
	assert_int_equal(czpg_pgwire_flush(&w), 0);
	assert_int_equal(czpg_pgwire_terminate(&w), 0);
	assert_wbuf_eq(&w, want, sizeof(want));
	czpg_wbuf_free(&w);
}

static void test_build_extended_pipeline(void **state)
{
	/* Several builders append one after another, as a pipeline is sent. */
	struct czpg_wbuf w;
	struct czpg_rbuf r;
	uint8_t type;
	uint32_t len;
	const char order[] = "PBDES";
	size_t i = 0;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_pgwire_parse(&w, "", "SELECT 1", 0, NULL), 0);
	assert_int_equal(czpg_pgwire_bind(&w, "", "", 0, NULL, NULL, 0, NULL), 0);
	assert_int_equal(czpg_pgwire_describe(&w, 'P', ""), 0);
	assert_int_equal(czpg_pgwire_execute(&w, "", 0), 0);
	assert_int_equal(czpg_pgwire_sync(&w), 0);
	czpg_rbuf_init(&r, w.data, w.len);
	while (czpg_rbuf_remaining(&r) != 0) {
		assert_int_equal(czpg_rbuf_u8(&r, &type), 0);
		assert_int_equal(czpg_rbuf_u32(&r, &len), 0);
		assert_int_equal(type, order[i++]);
		assert_int_equal(czpg_rbuf_skip(&r, len - 4), 0);
	}
	assert_int_equal(i, 5);
	czpg_wbuf_free(&w);
}

static void test_build_cap_leaves_no_partial_message(void **state)
{
	struct czpg_wbuf w;
	char sql[64];

	(void)state;
	czpg_wbuf_init(&w, 32);
	assert_int_equal(czpg_pgwire_sync(&w), 0); /* 5 bytes */
	memset(sql, 'a', sizeof(sql) - 1);
	sql[sizeof(sql) - 1] = '\0';
	assert_int_equal(czpg_pgwire_query(&w, sql), -1);
	assert_true(w.err);
	assert_int_equal(w.len, 5);
	assert_int_equal(w.data[0], 'S');
	/* The error is sticky: even a tiny message is refused now. */
	assert_int_equal(czpg_pgwire_sync(&w), -1);
	assert_int_equal(czpg_pgwire_ssl_request(&w), -1);
	assert_int_equal(w.len, 5);
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_pgwire_sync(&w), 0);
	czpg_wbuf_free(&w);
}

/* ---- Parser --------------------------------------------------------------- */

static void test_parser_recorded_startup(void **state)
{
	struct copies *ref = malloc(sizeof(*ref));
	struct czpg_pgwire_msg m;
	struct czpg_pgwire_auth a;
	const char *name, *value, *version = NULL, *encoding = NULL;
	uint32_t pid, key;
	char status, err[200];
	size_t i;

	(void)state;
	assert_non_null(ref);
	parse_whole(rec_startup, sizeof(rec_startup), ref);
	assert_int_equal(ref->n, 16); /* R, 13 x S, K, Z */
	m = view(&ref->m[0]);
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.code, CZPG_PGWIRE_AUTH_OK);
	for (i = 1; i < 14; i++) {
		m = view(&ref->m[i]);
		assert_int_equal(
		    czpg_pgwire_decode_parameter_status(&m, &name, &value, err, sizeof(err)), 0);
		if (strcmp(name, "server_version") == 0)
			version = value;
		if (strcmp(name, "client_encoding") == 0)
			encoding = value;
	}
	assert_non_null(version);
	assert_memory_equal(version, "15.", 3);
	assert_string_equal(encoding, "UTF8");
	m = view(&ref->m[14]);
	assert_int_equal(czpg_pgwire_decode_backend_key(&m, &pid, &key, err, sizeof(err)), 0);
	assert_int_equal(pid, 0x1999);
	assert_int_equal(key, 0x0d8bc9ec);
	m = view(&ref->m[15]);
	assert_int_equal(czpg_pgwire_decode_ready(&m, &status, err, sizeof(err)), 0);
	assert_int_equal(status, 'I');
	check_all_splits(rec_startup, sizeof(rec_startup), ref);
	free(ref);
}

static void test_parser_recorded_select1(void **state)
{
	struct copies *ref = malloc(sizeof(*ref));
	struct czpg_pgwire_field f[4];
	struct czpg_pgwire_value v[4];
	struct czpg_pgwire_msg m;
	const char *tag;
	char err[200];
	size_t n;

	(void)state;
	assert_non_null(ref);
	parse_whole(rec_select1, sizeof(rec_select1), ref);
	assert_int_equal(ref->n, 4);
	m = view(&ref->m[0]);
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].name, "?column?");
	assert_int_equal(f[0].table_oid, 0);
	assert_int_equal(f[0].attnum, 0);
	assert_int_equal(f[0].type_oid, 23); /* int4 */
	assert_int_equal(f[0].typlen, 4);
	assert_int_equal(f[0].typmod, -1);
	assert_int_equal(f[0].format, 0);
	m = view(&ref->m[1]);
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_false(v[0].null);
	assert_int_equal(v[0].len, 1);
	assert_int_equal(v[0].data[0], '1');
	m = view(&ref->m[2]);
	assert_int_equal(czpg_pgwire_decode_command_complete(&m, &tag, err, sizeof(err)), 0);
	assert_string_equal(tag, "SELECT 1");
	assert_int_equal(ref->m[3].type, 'Z');
	check_all_splits(rec_select1, sizeof(rec_select1), ref);
	free(ref);
}

static void test_parser_recorded_error(void **state)
{
	struct copies *ref = malloc(sizeof(*ref));
	struct czpg_pgwire_error e;
	struct czpg_pgwire_msg m;
	char err[200], line[200];

	(void)state;
	assert_non_null(ref);
	parse_whole(rec_error, sizeof(rec_error), ref);
	assert_int_equal(ref->n, 2);
	m = view(&ref->m[0]);
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), 0);
	assert_string_equal(e.severity, "ERROR");
	assert_string_equal(e.severity_nonlocal, "ERROR");
	assert_string_equal(e.sqlstate, "22012");
	assert_string_equal(e.message, "division by zero");
	assert_string_equal(e.file, "int.c");
	assert_string_equal(e.line, "869");
	assert_string_equal(e.routine, "int4div");
	assert_null(e.detail);
	assert_null(e.hint);
	czpg_pgwire_error_format(&e, line, sizeof(line));
	assert_string_equal(line, "ERROR: division by zero (SQLSTATE 22012)");
	check_all_splits(rec_error, sizeof(rec_error), ref);
	free(ref);
}

static void test_parser_all_streams_concatenated(void **state)
{
	uint8_t all[sizeof(rec_startup) + sizeof(rec_select1) + sizeof(rec_error)];
	struct copies *ref = malloc(sizeof(*ref));

	(void)state;
	assert_non_null(ref);
	memcpy(all, rec_startup, sizeof(rec_startup));
	memcpy(all + sizeof(rec_startup), rec_select1, sizeof(rec_select1));
	memcpy(all + sizeof(rec_startup) + sizeof(rec_select1), rec_error, sizeof(rec_error));
	parse_whole(all, sizeof(all), ref);
	assert_int_equal(ref->n, 16 + 4 + 2);
	check_all_splits(all, sizeof(all), ref);
	free(ref);
}

static void test_parser_truncated_needs_more(void **state)
{
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;

	(void)state;
	czpg_pgwire_parser_init(&p, 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 0); /* nothing fed */
	/* Header only, then a partial body: still "need more", nothing lost. */
	assert_int_equal(czpg_pgwire_parser_feed(&p, rec_select1, 5), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 0);
	assert_int_equal(czpg_pgwire_parser_buffered(&p), 5);
	assert_int_equal(czpg_pgwire_parser_feed(&p, rec_select1 + 5, 28), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 0);
	assert_int_equal(czpg_pgwire_parser_buffered(&p), 33);
	assert_int_equal(czpg_pgwire_parser_feed(&p, rec_select1 + 33, 1), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 1);
	assert_int_equal(m.type, 'T');
	assert_int_equal(m.len, 29);
	assert_string_equal(czpg_pgwire_parser_error(&p), "");
	assert_int_equal(czpg_pgwire_parser_buffered(&p), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 0);
	czpg_pgwire_parser_free(&p);
}

/* Feeds bytes and expects the next call to fail with a message containing word. */
static void expect_protocol_error(size_t cap, const uint8_t *s, size_t n, const char *word)
{
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;

	czpg_pgwire_parser_init(&p, cap);
	assert_int_equal(czpg_pgwire_parser_feed(&p, s, n), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), -1);
	assert_non_null(strstr(czpg_pgwire_parser_error(&p), word));
	/* Failed for good: neither more bytes nor another call revive it. */
	assert_int_equal(czpg_pgwire_parser_feed(&p, rec_select1, sizeof(rec_select1)), -1);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), -1);
	assert_non_null(strstr(czpg_pgwire_parser_error(&p), word));
	/* No allocation of the claimed size: at most what was fed, rounded up. */
	assert_true(p.in.cap <= 4096);
	czpg_pgwire_parser_free(&p);

	/* The same through _next_in, with nothing held before. */
	{
		const uint8_t *at = s;
		size_t left = n;

		czpg_pgwire_parser_init(&p, cap);
		assert_int_equal(czpg_pgwire_parser_next_in(&p, &at, &left, &m), -1);
		assert_non_null(strstr(czpg_pgwire_parser_error(&p), word));
		at = rec_select1;
		left = sizeof(rec_select1);
		assert_int_equal(czpg_pgwire_parser_next_in(&p, &at, &left, &m), -1);
		assert_true(p.in.cap <= 4096);
		czpg_pgwire_parser_free(&p);
	}
}

static void test_parser_bad_lengths(void **state)
{
	static const uint8_t len3[] = {'Z', 0x00, 0x00, 0x00, 0x03};
	static const uint8_t len0[] = {'Z', 0x00, 0x00, 0x00, 0x00, 'I'};
	static const uint8_t neg[] = {'D', 0x80, 0x00, 0x00, 0x00};
	static const uint8_t neg1[] = {'D', 0xff, 0xff, 0xff, 0xff};
	static const uint8_t huge[] = {'D', 0x7f, 0xff, 0xff, 0xff};
	static const uint8_t over[] = {'D', 0x00, 0x00, 0x00, 0x41}; /* 65 > 64 */

	(void)state;
	expect_protocol_error(0, len3, sizeof(len3), "below the minimum");
	expect_protocol_error(0, len0, sizeof(len0), "below the minimum");
	expect_protocol_error(0, neg, sizeof(neg), "negative");
	expect_protocol_error(0, neg1, sizeof(neg1), "negative");
	expect_protocol_error(0, huge, sizeof(huge), "limit");
	expect_protocol_error(64, over, sizeof(over), "limit");
}

static void test_parser_error_after_good_messages(void **state)
{
	/* Good messages before a bad header come out first; then the error. */
	static const uint8_t s[] = {'1',  0x00, 0x00, 0x00, 0x04, '2',  0x00,
				    0x00, 0x00, 0x04, 'Z',  0x00, 0x00, 0x00};
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;

	(void)state;
	czpg_pgwire_parser_init(&p, 0);
	assert_int_equal(czpg_pgwire_parser_feed(&p, s, sizeof(s)), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 1);
	assert_int_equal(m.type, '1');
	assert_int_equal(m.len, 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 1);
	assert_int_equal(m.type, '2');
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 0); /* 4 of 5 header bytes */
	assert_int_equal(czpg_pgwire_parser_feed(&p, "\x02", 1), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), -1);
	assert_non_null(strstr(czpg_pgwire_parser_error(&p), "'Z'"));
	czpg_pgwire_parser_free(&p);
}

static void test_parser_cap_boundary(void **state)
{
	/* A length word equal to the cap is accepted, one more is not. */
	uint8_t s[1 + 64];
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;

	(void)state;
	memset(s, 'x', sizeof(s));
	s[0] = 'd';
	s[1] = 0;
	s[2] = 0;
	s[3] = 0;
	s[4] = 64;
	czpg_pgwire_parser_init(&p, 64);
	assert_int_equal(czpg_pgwire_parser_feed(&p, s, sizeof(s)), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 1);
	assert_int_equal(m.len, 60);
	czpg_pgwire_parser_free(&p);
	s[4] = 65;
	expect_protocol_error(64, s, 5, "64-byte limit");
}

static void test_parser_unknown_types_returned(void **state)
{
	static const uint8_t s[] = {0x01, 0x00, 0x00, 0x00, 0x04, '~',  0x00, 0x00, 0x00,
				    0x06, 0xab, 0xcd, 0xff, 0x00, 0x00, 0x00, 0x04};
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;

	(void)state;
	czpg_pgwire_parser_init(&p, 0);
	assert_int_equal(czpg_pgwire_parser_feed(&p, s, sizeof(s)), 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 1);
	assert_int_equal(m.type, 0x01);
	assert_int_equal(m.len, 0);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 1);
	assert_int_equal(m.type, '~');
	assert_int_equal(m.len, 2);
	assert_int_equal(m.body[0], 0xab);
	assert_int_equal(m.body[1], 0xcd);
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), 1);
	assert_int_equal(m.type, 0xff);
	assert_string_equal(czpg_pgwire_msg_name(0xff), "unknown");
	assert_string_equal(czpg_pgwire_msg_name('T'), "RowDescription");
	czpg_pgwire_parser_free(&p);
}

static void test_parser_feed_limit(void **state)
{
	/* A caller that never drains cannot make the parser hold unbounded data. */
	size_t n = 64 + 1 + CZPG_PGWIRE_FEED_SLACK;
	uint8_t *big = calloc(1, n + 1);
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;

	(void)state;
	assert_non_null(big);
	czpg_pgwire_parser_init(&p, 64);
	assert_int_equal(czpg_pgwire_parser_feed(&p, big, n + 1), -1);
	assert_non_null(strstr(czpg_pgwire_parser_error(&p), "drained"));
	assert_int_equal(czpg_pgwire_parser_next(&p, &m), -1);
	czpg_pgwire_parser_free(&p);

	czpg_pgwire_parser_init(&p, 64);
	assert_int_equal(czpg_pgwire_parser_feed(&p, big, n), 0);
	assert_int_equal(czpg_pgwire_parser_feed(&p, big, 1), -1);
	czpg_pgwire_parser_free(&p);
	free(big);
}

static void test_parser_buffer_stays_small(void **state)
{
	/*
	 * 2 MiB of traffic in 1000-byte reads, messages straddling reads, all
	 * drained: compaction keeps the buffer at its first size.
	 */
	uint8_t chunk[1000];
	uint8_t msgbuf[37];
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;
	size_t produced = 0, fed, got = 0, total = 2u << 20, i, k = 0;

	(void)state;
	msgbuf[0] = 'd';
	msgbuf[1] = 0;
	msgbuf[2] = 0;
	msgbuf[3] = 0;
	msgbuf[4] = 36;
	for (i = 5; i < sizeof(msgbuf); i++)
		msgbuf[i] = (uint8_t)i;
	czpg_pgwire_parser_init(&p, 0);
	for (fed = 0; fed < total; fed += sizeof(chunk)) {
		for (i = 0; i < sizeof(chunk); i++)
			chunk[i] = msgbuf[k++ % sizeof(msgbuf)];
		produced += sizeof(chunk);
		assert_int_equal(czpg_pgwire_parser_feed(&p, chunk, sizeof(chunk)), 0);
		while (czpg_pgwire_parser_next(&p, &m) == 1) {
			assert_int_equal(m.type, 'd');
			assert_int_equal(m.len, 32);
			assert_int_equal(m.body[0], 5);
			assert_int_equal(m.body[31], 36);
			got++;
		}
		assert_true(czpg_pgwire_parser_buffered(&p) < sizeof(msgbuf));
	}
	assert_int_equal(got, produced / sizeof(msgbuf));
	assert_true(p.in.cap <= 4096);
	czpg_pgwire_parser_free(&p);
}

static void test_parser_big_batch(void **state)
{
	/* 100,000 messages fed at once, then drained: every one comes out. */
	size_t count = 100000, i, got = 0;
	uint8_t *s = malloc(count * 5);
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < count; i++)
		memcpy(s + i * 5, "n\0\0\0\4", 5);
	czpg_pgwire_parser_init(&p, 0);
	assert_int_equal(czpg_pgwire_parser_feed(&p, s, count * 5), 0);
	while (czpg_pgwire_parser_next(&p, &m) == 1) {
		assert_int_equal(m.type, 'n');
		got++;
	}
	assert_int_equal(got, count);
	assert_int_equal(czpg_pgwire_parser_buffered(&p), 0);
	czpg_pgwire_parser_free(&p);
	free(s);
}

static void test_parser_large_message_grows(void **state)
{
	/* A 3 MiB message split in 64 KiB reads is reassembled intact. */
	size_t body = 3u << 20, total = 5 + body, off, n, i;
	uint8_t *s = malloc(total);
	struct czpg_pgwire_parser p;
	struct czpg_pgwire_msg m;
	int rc = 0;

	(void)state;
	assert_non_null(s);
	s[0] = 'D';
	s[1] = (uint8_t)((body + 4) >> 24);
	s[2] = (uint8_t)((body + 4) >> 16);
	s[3] = (uint8_t)((body + 4) >> 8);
	s[4] = (uint8_t)(body + 4);
	for (i = 0; i < body; i++)
		s[5 + i] = (uint8_t)(i * 7);
	czpg_pgwire_parser_init(&p, 0);
	for (off = 0; off < total; off += n) {
		n = total - off < 65536 ? total - off : 65536;
		assert_int_equal(czpg_pgwire_parser_feed(&p, s + off, n), 0);
		rc = czpg_pgwire_parser_next(&p, &m);
		assert_int_equal(rc, off + n == total ? 1 : 0);
	}
	assert_int_equal(m.len, body);
	assert_memory_equal(m.body, s + 5, body);
	czpg_pgwire_parser_free(&p);
	czpg_pgwire_parser_free(&p); /* twice is harmless */
	czpg_pgwire_parser_free(NULL);
	free(s);
}

static void test_parser_init_clamps(void **state)
{
	struct czpg_pgwire_parser p;

	(void)state;
	czpg_pgwire_parser_init(&p, 0);
	assert_int_equal(p.max_msg, CZPG_PGWIRE_DEFAULT_MAX_MSG);
	czpg_pgwire_parser_init(&p, 1);
	assert_int_equal(p.max_msg, 4);
	czpg_pgwire_parser_init(&p, SIZE_MAX);
	assert_int_equal(p.max_msg, (size_t)1 << 30);
	assert_int_equal(czpg_pgwire_parser_feed(&p, NULL, 0), 0);
	assert_int_equal(czpg_pgwire_parser_buffered(&p), 0);
	czpg_pgwire_parser_free(&p);
}

/* ---- Decoders ----------------------------------------------------------- */

#define MSG(type, lit) mk((type), (lit), sizeof(lit) - 1)

static void test_decode_auth_codes(void **state)
{
	struct czpg_pgwire_auth a;
	struct czpg_pgwire_msg m;
	char err[200];

	(void)state;
	m = MSG('R', "\0\0\0\3");
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.code, CZPG_PGWIRE_AUTH_CLEARTEXT);
	assert_int_equal(a.len, 0);
	m = MSG('R', "\0\0\0\5\x01\x02\x03\x04");
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.code, CZPG_PGWIRE_AUTH_MD5);
	assert_int_equal(a.len, 4);
	assert_memory_equal(a.data, "\x01\x02\x03\x04", 4);
	m = MSG('R', "\0\0\0\x0br=abc,s=c2FsdA==,i=4096");
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.code, CZPG_PGWIRE_AUTH_SASL_CONTINUE);
	assert_int_equal(a.len, 23);
	assert_memory_equal(a.data, "r=abc,s=c2FsdA==,i=4096", 23);
	m = MSG('R', "\0\0\0\x0cv=ZmluYWw=");
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.code, CZPG_PGWIRE_AUTH_SASL_FINAL);
	assert_int_equal(a.len, 10);
	m = MSG('R', "\0\0\0\x0c");
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.len, 0);
	assert_null(a.data);
	m = MSG('R', "\0\0\0\7"); /* GSS: returned so the caller can refuse it */
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.code, CZPG_PGWIRE_AUTH_GSS);
}

static void expect_auth_fail(struct czpg_pgwire_msg m, const char *word)
{
	struct czpg_pgwire_auth a;
	char err[200] = "";

	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, word));
	assert_int_equal(a.code, UINT32_MAX);
	assert_int_equal(a.nmechs, 0);
}

static void test_decode_auth_garbage(void **state)
{
	(void)state;
	expect_auth_fail(MSG('R', ""), "no code");
	expect_auth_fail(MSG('R', "\0\0\0"), "no code");
	expect_auth_fail(MSG('R', "\0\0\0\0\0"), "trailing");
	expect_auth_fail(MSG('R', "\0\0\0\3x"), "trailing");
	expect_auth_fail(MSG('R', "\0\0\0\5\1\2\3"), "salt is 3 bytes");
	expect_auth_fail(MSG('R', "\0\0\0\5\1\2\3\4\5"), "salt is 5 bytes");
	expect_auth_fail(MSG('S', "\0\0\0\0"), "expected a Authentication");
	/* Neither a NULL message nor NULL err crashes. */
	assert_int_equal(czpg_pgwire_decode_auth(NULL, &(struct czpg_pgwire_auth){0}, NULL, 0), -1);
}

static void test_decode_auth_sasl(void **state)
{
	struct czpg_pgwire_auth a;
	struct czpg_pgwire_msg m;
	char err[200];

	(void)state;
	m = MSG('R', "\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.code, CZPG_PGWIRE_AUTH_SASL);
	assert_int_equal(a.nmechs, 2);
	assert_string_equal(a.mechs[0], "SCRAM-SHA-256-PLUS");
	assert_string_equal(a.mechs[1], "SCRAM-SHA-256");
	assert_int_equal(czpg_pgwire_auth_has_mechanism(&a, "SCRAM-SHA-256"), 1);
	assert_int_equal(czpg_pgwire_auth_has_mechanism(&a, "SCRAM-SHA-256-PLUS"), 1);
	assert_int_equal(czpg_pgwire_auth_has_mechanism(&a, "SCRAM-SHA"), 0);
	assert_int_equal(czpg_pgwire_auth_has_mechanism(&a, "scram-sha-256"), 0);
	assert_int_equal(czpg_pgwire_auth_has_mechanism(&a, NULL), 0);
	assert_int_equal(czpg_pgwire_auth_has_mechanism(NULL, "SCRAM-SHA-256"), 0);

	expect_auth_fail(MSG('R', "\0\0\0\x0a"), "not terminated");
	expect_auth_fail(MSG('R', "\0\0\0\x0aSCRAM-SHA-256"), "not terminated");
	expect_auth_fail(MSG('R', "\0\0\0\x0aSCRAM-SHA-256\0"), "not terminated");
	expect_auth_fail(MSG('R', "\0\0\0\x0aSCRAM-SHA-256\0\0x"), "trailing");
	/* An empty list (just the terminator) is well-formed and has no mechanism. */
	m = MSG('R', "\0\0\0\x0a\0");
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.nmechs, 0);
	assert_int_equal(czpg_pgwire_auth_has_mechanism(&a, "SCRAM-SHA-256"), 0);
}

static void test_decode_auth_sasl_mechanism_bound(void **state)
{
	uint8_t body[4 + 3 * (CZPG_PGWIRE_MAX_SASL_MECHS + 1) + 1];
	struct czpg_pgwire_auth a;
	struct czpg_pgwire_msg m;
	size_t n = 0, i;
	char err[200] = "";

	(void)state;
	memcpy(body, "\0\0\0\x0a", 4);
	n = 4;
	for (i = 0; i < CZPG_PGWIRE_MAX_SASL_MECHS; i++) {
		body[n++] = 'a';
		body[n++] = (uint8_t)('a' + i);
		body[n++] = 0;
	}
	body[n] = 0;
	m = mk('R', body, n + 1);
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), 0);
	assert_int_equal(a.nmechs, CZPG_PGWIRE_MAX_SASL_MECHS);
	assert_int_equal(czpg_pgwire_auth_has_mechanism(&a, "ap"), 1);
	/* One more is refused. */
	body[n++] = 'z';
	body[n++] = 'z';
	body[n++] = 0;
	body[n++] = 0;
	m = mk('R', body, n);
	assert_int_equal(czpg_pgwire_decode_auth(&m, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 16 mechanisms"));
}

static void test_decode_parameter_status(void **state)
{
	struct czpg_pgwire_msg m;
	const char *n = "unset", *v = "unset";
	char err[200] = "";

	(void)state;
	m = MSG('S', "TimeZone\0UTC\0");
	assert_int_equal(czpg_pgwire_decode_parameter_status(&m, &n, &v, err, sizeof(err)), 0);
	assert_string_equal(n, "TimeZone");
	assert_string_equal(v, "UTC");
	m = MSG('S', "TimeZone\0\0");
	assert_int_equal(czpg_pgwire_decode_parameter_status(&m, &n, &v, err, sizeof(err)), 0);
	assert_string_equal(v, "");
	n = v = "unset";
	m = MSG('S', "TimeZone\0UTC");
	assert_int_equal(czpg_pgwire_decode_parameter_status(&m, &n, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "past the end"));
	assert_string_equal(n, "unset"); /* outputs untouched on failure */
	m = MSG('S', "TimeZone\0");
	assert_int_equal(czpg_pgwire_decode_parameter_status(&m, &n, &v, err, sizeof(err)), -1);
	m = MSG('S', "");
	assert_int_equal(czpg_pgwire_decode_parameter_status(&m, &n, &v, err, sizeof(err)), -1);
	m = MSG('S', "a\0b\0c");
	assert_int_equal(czpg_pgwire_decode_parameter_status(&m, &n, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1 unexpected trailing"));
}

static void test_decode_backend_key_and_ready(void **state)
{
	struct czpg_pgwire_msg m;
	uint32_t pid, key;
	char st = 0, err[200];

	(void)state;
	m = MSG('K', "\0\0\1\2\xde\xad\xbe\xef");
	assert_int_equal(czpg_pgwire_decode_backend_key(&m, &pid, &key, err, sizeof(err)), 0);
	assert_int_equal(pid, 258);
	assert_int_equal(key, 0xdeadbeef);
	m = MSG('K', "\0\0\1\2\xde\xad\xbe");
	assert_int_equal(czpg_pgwire_decode_backend_key(&m, &pid, &key, err, sizeof(err)), -1);
	m = MSG('K', "\0\0\1\2\xde\xad\xbe\xef\0");
	assert_int_equal(czpg_pgwire_decode_backend_key(&m, &pid, &key, err, sizeof(err)), -1);

	m = MSG('Z', "T");
	assert_int_equal(czpg_pgwire_decode_ready(&m, &st, err, sizeof(err)), 0);
	assert_int_equal(st, 'T');
	m = MSG('Z', "E");
	assert_int_equal(czpg_pgwire_decode_ready(&m, &st, err, sizeof(err)), 0);
	assert_int_equal(st, 'E');
	m = MSG('Z', "X");
	assert_int_equal(czpg_pgwire_decode_ready(&m, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not I, T or E"));
	m = MSG('Z', "");
	assert_int_equal(czpg_pgwire_decode_ready(&m, &st, err, sizeof(err)), -1);
	m = MSG('Z', "II");
	assert_int_equal(czpg_pgwire_decode_ready(&m, &st, err, sizeof(err)), -1);
	m = MSG('z', "I");
	assert_int_equal(czpg_pgwire_decode_ready(&m, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected a ReadyForQuery"));
}

/* One RowDescription field "a" of type text. */
#define FIELD_A "a\0\0\0\x04\x01\0\x02\0\0\0\x19\xff\xff\xff\xff\xff\xff\0\0"

static void test_decode_row_description(void **state)
{
	struct czpg_pgwire_field f[3];
	struct czpg_pgwire_msg m;
	size_t n = 99;
	char err[200] = "";

	(void)state;
	m = MSG('T', "\0\2" FIELD_A FIELD_A);
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 3, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(f[1].name, "a");
	assert_int_equal(f[1].table_oid, 0x401);
	assert_int_equal(f[1].attnum, 2);
	assert_int_equal(f[1].type_oid, 25);
	assert_int_equal(f[1].typlen, -1);
	assert_int_equal(f[1].typmod, -1);
	assert_int_equal(f[1].format, 0);
	m = MSG('T', "\0\0");
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 0, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);

	/* Count larger than the body holds. */
	m = MSG('T', "\0\3" FIELD_A FIELD_A);
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 3, &n, err, sizeof(err)), -1);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "past the end"));
	/* Count larger than the caller's array. */
	m = MSG('T', "\0\4" FIELD_A FIELD_A FIELD_A FIELD_A);
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 3, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than the 3"));
	m = MSG('T', "\xff\xff");
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 3, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "negative"));
	m = MSG('T', "\0\1" FIELD_A "z");
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 3, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "trailing"));
	m = MSG('T', "\0\1abc");
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 3, &n, err, sizeof(err)), -1);
	m = MSG('T', "\0");
	assert_int_equal(czpg_pgwire_decode_row_description(&m, f, 3, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no field count"));
}

static void test_decode_data_row(void **state)
{
	struct czpg_pgwire_value v[4];
	struct czpg_pgwire_msg m;
	size_t n = 99;
	char err[200] = "";

	(void)state;
	m = MSG('D', "\0\3\0\0\0\2hi\xff\xff\xff\xff\0\0\0\0");
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_false(v[0].null);
	assert_int_equal(v[0].len, 2);
	assert_memory_equal(v[0].data, "hi", 2);
	assert_true(v[1].null);
	assert_null(v[1].data);
	assert_false(v[2].null); /* empty string is not NULL */
	assert_int_equal(v[2].len, 0);

	m = MSG('D', "\0\1\0\0\0\5abc"); /* value longer than the body */
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "past the end"));
	m = MSG('D', "\0\1\x7f\xff\xff\xff");
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
	m = MSG('D', "\0\1\xff\xff\xff\xfe");
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "length -2"));
	m = MSG('D', "\0\1\x80\0\0\0");
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
	m = MSG('D', "\0\2\0\0\0\1a"); /* count exceeds the values present */
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
	m = MSG('D', "\0\1\0\0\0\1ab");
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1 unexpected trailing"));
	m = MSG('D', "\0\5");
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than the 4"));
	m = MSG('D', "\x80\0");
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "negative"));
	m = MSG('D', "");
	assert_int_equal(czpg_pgwire_decode_data_row(&m, v, 4, &n, err, sizeof(err)), -1);
}

static void test_decode_command_complete_and_empty(void **state)
{
	struct czpg_pgwire_msg m;
	const char *tag = NULL;
	char err[200] = "";
	static const char empties[] = "I123ns";
	size_t i;

	(void)state;
	m = MSG('C', "INSERT 0 5\0");
	assert_int_equal(czpg_pgwire_decode_command_complete(&m, &tag, err, sizeof(err)), 0);
	assert_string_equal(tag, "INSERT 0 5");
	m = MSG('C', "INSERT 0 5");
	assert_int_equal(czpg_pgwire_decode_command_complete(&m, &tag, err, sizeof(err)), -1);
	m = MSG('C', "INSERT\0x");
	assert_int_equal(czpg_pgwire_decode_command_complete(&m, &tag, err, sizeof(err)), -1);
	m = MSG('C', "");
	assert_int_equal(czpg_pgwire_decode_command_complete(&m, &tag, err, sizeof(err)), -1);

	for (i = 0; i < sizeof(empties) - 1; i++) {
		m = mk((uint8_t)empties[i], NULL, 0);
		assert_int_equal(czpg_pgwire_decode_empty(&m, err, sizeof(err)), 0);
		m = mk((uint8_t)empties[i], "x", 1);
		assert_int_equal(czpg_pgwire_decode_empty(&m, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "trailing"));
	}
	m = mk('Z', NULL, 0);
	assert_int_equal(czpg_pgwire_decode_empty(&m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a message without a body"));
	assert_int_equal(czpg_pgwire_decode_empty(NULL, err, sizeof(err)), -1);
}

static void test_decode_parameter_description(void **state)
{
	struct czpg_pgwire_msg m;
	uint32_t oids[2];
	size_t n = 99;
	char err[200] = "";

	(void)state;
	m = MSG('t', "\0\2\0\0\0\x17\0\0\0\x19");
	assert_int_equal(
	    czpg_pgwire_decode_parameter_description(&m, oids, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(oids[0], 23);
	assert_int_equal(oids[1], 25);
	m = MSG('t', "\0\3\0\0\0\x17\0\0\0\x19\0\0\0\x19");
	assert_int_equal(
	    czpg_pgwire_decode_parameter_description(&m, oids, 2, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than the 2"));
	m = MSG('t', "\0\2\0\0\0\x17\0\0\0");
	assert_int_equal(
	    czpg_pgwire_decode_parameter_description(&m, oids, 2, &n, err, sizeof(err)), -1);
	m = MSG('t', "\0\1\0\0\0\x17\0");
	assert_int_equal(
	    czpg_pgwire_decode_parameter_description(&m, oids, 2, &n, err, sizeof(err)), -1);
	m = MSG('t', "\0");
	assert_int_equal(
	    czpg_pgwire_decode_parameter_description(&m, oids, 2, &n, err, sizeof(err)), -1);
	assert_int_equal(n, 0);
}

static void test_decode_error_fields(void **state)
{
	struct czpg_pgwire_error e;
	struct czpg_pgwire_msg m;
	char err[200] = "";

	(void)state;
	m = MSG('N', "SNOTICE\0VNOTICE\0C00000\0Mhello\0Dmore\0Hdo this\0P7\0p3\0qSELECT\0"
		     "Win func\0sns\0ttbl\0ccol\0dtyp\0ncon\0Ff.c\0L1\0Rr\0Xunknown\0Mlast\0\0");
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), 0);
	assert_string_equal(e.severity, "NOTICE");
	assert_string_equal(e.severity_nonlocal, "NOTICE");
	assert_string_equal(e.sqlstate, "00000");
	assert_string_equal(e.message, "last"); /* repeated code: last wins */
	assert_string_equal(e.detail, "more");
	assert_string_equal(e.hint, "do this");
	assert_string_equal(e.position, "7");
	assert_string_equal(e.internal_position, "3");
	assert_string_equal(e.internal_query, "SELECT");
	assert_string_equal(e.where, "in func");
	assert_string_equal(e.schema, "ns");
	assert_string_equal(e.table, "tbl");
	assert_string_equal(e.column, "col");
	assert_string_equal(e.datatype, "typ");
	assert_string_equal(e.constraint, "con");
	assert_string_equal(e.file, "f.c");
	assert_string_equal(e.line, "1");
	assert_string_equal(e.routine, "r");
	/* An empty field list is valid; every field is then absent. */
	m = MSG('E', "\0");
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), 0);
	assert_null(e.message);
	assert_null(e.severity);
}

static void test_decode_error_garbage(void **state)
{
	struct czpg_pgwire_error e;
	struct czpg_pgwire_msg m;
	char err[200] = "";

	(void)state;
	m = MSG('E', "SERROR\0Mboom\0"); /* no final terminator */
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not terminated"));
	assert_null(e.message); /* nothing half-filled */
	m = MSG('E', "SERROR\0Mboom");
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "field 'M' is not NUL-terminated"));
	m = MSG('E', "SERROR\0\0junk");
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "4 unexpected trailing"));
	m = MSG('E', "");
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), -1);
	m = MSG('Z', "\0");
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected a ErrorResponse"));
	m = mk('E', NULL, 3);
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, err, sizeof(err)), -1);
}

/* ---- Sanitizing server text --------------------------------------------- */

static void assert_sanitized(const char *in, const char *want)
{
	char out[256];
	size_t n = czpg_pgwire_sanitize(in, out, sizeof(out));

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_sanitize(void **state)
{
	(void)state;
	assert_sanitized("plain text 123", "plain text 123");
	assert_sanitized("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
	assert_sanitized("a\r\nb\tc", "a\\r\\nb\\tc");
	assert_sanitized("\x07\x08\x7f", "\\x07\\x08\\x7f");
	assert_sanitized("\x1b]0;title\x07", "\\x1b]0;title\\x07");
	assert_sanitized("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x98",
			 "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x98");
	/* 8-bit CSI alone, and as the UTF-8 encoding of U+009B. */
	assert_sanitized("\x9b"
			 "31m",
			 "\\x9b31m");
	assert_sanitized("\xc2\x9b"
			 "31m",
			 "\\u009b31m");
	/* Bidirectional override (Trojan Source style reordering). */
	assert_sanitized("abc\xe2\x80\xae"
			 "def",
			 "abc\\u202edef");
	/* Invalid UTF-8: overlong, surrogate, truncated sequence, stray continuation. */
	assert_sanitized("\xc0\xaf", "\\xc0\\xaf");
	assert_sanitized("\xed\xa0\x80", "\\xed\\xa0\\x80");
	assert_sanitized("x\xe2\x82", "x\\xe2\\x82");
	assert_sanitized("\x80", "\\x80");
	assert_sanitized("\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80");
	assert_sanitized(NULL, "");
}

static void test_sanitize_truncation(void **state)
{
	char out[8];
	size_t i;

	(void)state;
	memset(out, 'Z', sizeof(out));
	assert_int_equal(czpg_pgwire_sanitize("abcdefghij", out, 5), 4);
	assert_string_equal(out, "abcd");
	assert_int_equal(out[5], 'Z'); /* never writes past outlen */
	/* An escape is never cut in half. */
	assert_int_equal(czpg_pgwire_sanitize("a\x1b", out, 5), 1);
	assert_string_equal(out, "a");
	/* Nor is a multi-byte character. */
	assert_int_equal(czpg_pgwire_sanitize("a\xe6\x97\xa5", out, 4), 1);
	assert_string_equal(out, "a");
	assert_int_equal(czpg_pgwire_sanitize("abc", out, 1), 0);
	assert_string_equal(out, "");
	out[0] = 'Z';
	assert_int_equal(czpg_pgwire_sanitize("abc", out, 0), 0);
	assert_int_equal(out[0], 'Z');
	/* Every output size keeps the result NUL-terminated and within bounds. */
	for (i = 1; i <= sizeof(out); i++) {
		assert_true(czpg_pgwire_sanitize("\x1b\xc3\xa9z\n", out, i) < i);
		assert_true(strlen(out) < i);
	}
}

static void test_error_format_hostile(void **state)
{
	struct czpg_pgwire_error e;
	struct czpg_pgwire_msg m;
	char line[256], small[24];
	size_t i, n;

	(void)state;
	m = MSG('E', "SFATAL\0VFATAL\0C28000\0Mno \x1b[2Jway\0Dline1\nline2\0H\x9b"
		     "31mtry\r\0\0");
	assert_int_equal(czpg_pgwire_decode_error(&m, &e, NULL, 0), 0);
	n = czpg_pgwire_error_format(&e, line, sizeof(line));
	assert_string_equal(line, "FATAL: no \\x1b[2Jway (SQLSTATE 28000) DETAIL: line1\\nline2 "
				  "HINT: \\x9b31mtry\\r");
	assert_int_equal(n, strlen(line));
	for (i = 0; i < n; i++)
		assert_true((unsigned char)line[i] >= 0x20 && (unsigned char)line[i] < 0x7f);
	/* Truncated output stays terminated and in bounds. */
	memset(small, 'Z', sizeof(small));
	n = czpg_pgwire_error_format(&e, small, sizeof(small));
	assert_true(n < sizeof(small));
	assert_int_equal(strlen(small), n);
	assert_memory_equal(small, "FATAL: no ", 10);
	/* No fields at all still gives a readable line. */
	memset(&e, 0, sizeof(e));
	czpg_pgwire_error_format(&e, line, sizeof(line));
	assert_string_equal(line, "ERROR: (server sent no message)");
	assert_int_equal(czpg_pgwire_error_format(NULL, line, sizeof(line)), 0);
	assert_string_equal(line, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_ssl_request),
	    cmocka_unit_test(test_build_startup),
	    cmocka_unit_test(test_build_startup_invalid),
	    cmocka_unit_test(test_build_sasl_initial_response),
	    cmocka_unit_test(test_build_sasl_response_and_password),
	    cmocka_unit_test(test_build_query),
	    cmocka_unit_test(test_build_parse),
	    cmocka_unit_test(test_build_bind),
	    cmocka_unit_test(test_build_bind_value_too_long),
	    cmocka_unit_test(test_build_describe_close_execute),
	    cmocka_unit_test(test_build_sync_flush_terminate),
	    cmocka_unit_test(test_build_extended_pipeline),
	    cmocka_unit_test(test_build_cap_leaves_no_partial_message),
	    cmocka_unit_test(test_parser_recorded_startup),
	    cmocka_unit_test(test_parser_recorded_select1),
	    cmocka_unit_test(test_parser_recorded_error),
	    cmocka_unit_test(test_parser_all_streams_concatenated),
	    cmocka_unit_test(test_parser_truncated_needs_more),
	    cmocka_unit_test(test_parser_bad_lengths),
	    cmocka_unit_test(test_parser_error_after_good_messages),
	    cmocka_unit_test(test_parser_cap_boundary),
	    cmocka_unit_test(test_parser_unknown_types_returned),
	    cmocka_unit_test(test_parser_feed_limit),
	    cmocka_unit_test(test_parser_buffer_stays_small),
	    cmocka_unit_test(test_parser_big_batch),
	    cmocka_unit_test(test_parser_large_message_grows),
	    cmocka_unit_test(test_parser_init_clamps),
	    cmocka_unit_test(test_decode_auth_codes),
	    cmocka_unit_test(test_decode_auth_garbage),
	    cmocka_unit_test(test_decode_auth_sasl),
	    cmocka_unit_test(test_decode_auth_sasl_mechanism_bound),
	    cmocka_unit_test(test_decode_parameter_status),
	    cmocka_unit_test(test_decode_backend_key_and_ready),
	    cmocka_unit_test(test_decode_row_description),
	    cmocka_unit_test(test_decode_data_row),
	    cmocka_unit_test(test_decode_command_complete_and_empty),
	    cmocka_unit_test(test_decode_parameter_description),
	    cmocka_unit_test(test_decode_error_fields),
	    cmocka_unit_test(test_decode_error_garbage),
	    cmocka_unit_test(test_sanitize),
	    cmocka_unit_test(test_sanitize_truncation),
	    cmocka_unit_test(test_error_format_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
