/*
 * test_tlsrec.c - the TLS 1.3 record layer after the handshake
 * (src/core/tlsrec.h), between two instances in memory: a client and a
 * server keyed from the same pair of application traffic secrets.  Data
 * both ways in every suite and size (records of at most 2^14 bytes, a read
 * through a small window), bytes fed one at a time, a record whose tag does
 * not match, close_notify, a key update asked for by the peer, padding, end
 * of file mid-record, records that must be refused, and keying errors.
 * (Interoperation with OpenSSL's own record layer: test_tlsio.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "czpg/buf.h"
#include "czpg/tlsio.h"

#include "tlsrec.h"

struct pair {
	struct czpg_tlsrec *c, *s;
	struct czpg_wbuf c_out, s_out; /* what each side sends, until moved over */
};

static void pair_open(struct pair *p, uint16_t suite)
{
	uint8_t cs[48], ss[48];
	size_t len = suite == CZPG_TLSREC_AES_256_GCM_SHA384 ? 48 : 32, i;
	char err[256];

	for (i = 0; i < sizeof(cs); i++) {
		cs[i] = (uint8_t)(i * 7 + 1);
		ss[i] = (uint8_t)(i * 13 + 5);
	}
	p->c = czpg_tlsrec_new(suite, true, cs, ss, len, "db.example", err, sizeof(err));
	p->s = czpg_tlsrec_new(suite, false, cs, ss, len, "client", err, sizeof(err));
	assert_non_null(p->c);
	assert_non_null(p->s);
	czpg_wbuf_init(&p->c_out, 0);
	czpg_wbuf_init(&p->s_out, 0);
}

static void pair_close(struct pair *p)
{
	czpg_tlsrec_free(p->c);
	czpg_tlsrec_free(p->s);
	czpg_wbuf_free(&p->c_out);
	czpg_wbuf_free(&p->s_out);
	assert_int_equal(ERR_peek_error(), 0);
}

/* Moves what `from` sent into `to`, all at once. */
static void move(struct czpg_wbuf *from, struct czpg_tlsrec *to)
{
	assert_int_equal(czpg_tlsrec_feed(to, from->data, from->len, CZPG_TLS_MAX_BUFFERED_IN), 0);
	czpg_wbuf_consume(from, from->len);
}

/* Reads everything r has through a window of `chunk` bytes; *last gets the final result. */
static size_t read_all(struct czpg_tlsrec *r, struct czpg_wbuf *out, uint8_t *buf, size_t cap,
		       size_t chunk, ssize_t *last)
{
	size_t got = 0;
	ssize_t n;

	for (;;) {
		n = czpg_tlsrec_read(r, buf + got, cap - got < chunk ? cap - got : chunk, out);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*last = n;
	return got;
}

static void round_trip(uint16_t suite, size_t size, size_t chunk)
{
	struct pair p;
	uint8_t *data = malloc(size + 1), *back = malloc(size + 1);
	ssize_t last;
	size_t i;

	assert_non_null(data);
	assert_non_null(back);
	for (i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 31 + size);
	pair_open(&p, suite);
	assert_int_equal(czpg_tlsrec_write(p.c, data, size, &p.c_out), (ssize_t)size);
	/* 2^14 bytes at most per record: header 5, inner type 1, tag 16 each */
	assert_int_equal(p.c_out.len, size + (size + 16383) / 16384 * 22);
	move(&p.c_out, p.s);
	assert_int_equal(read_all(p.s, &p.s_out, back, size + 1, chunk, &last), size);
	assert_int_equal(last, CZPG_TLS_WANT_READ);
	assert_memory_equal(back, data, size);
	assert_int_equal(czpg_tlsrec_buffered(p.s), 0);
	/* and back */
	assert_int_equal(czpg_tlsrec_write(p.s, data, size, &p.s_out), (ssize_t)size);
	move(&p.s_out, p.c);
	assert_int_equal(read_all(p.c, &p.c_out, back, size + 1, chunk, &last), size);
	assert_memory_equal(back, data, size);
	pair_close(&p);
	free(data);
	free(back);
}

static void test_round_trips(void **state)
{
	static const uint16_t suites[] = {CZPG_TLSREC_AES_128_GCM_SHA256,
					  CZPG_TLSREC_AES_256_GCM_SHA384,
					  CZPG_TLSREC_CHACHA20_POLY1305_SHA256};
	static const size_t sizes[] = {1, 60, 16383, 16384, 16385, 40000};
	size_t i, j;

	(void)state;
	for (i = 0; i < 3; i++)
		for (j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			round_trip(suites[i], sizes[j], 1 << 20);
			round_trip(suites[i], sizes[j], 7); /* a window smaller than a record */
		}
}

/* A record is opened only once it is whole: byte by byte, WANT_READ until the last. */
static void test_bytewise(void **state)
{
	struct pair p;
	uint8_t buf[64];
	size_t i, n;

	(void)state;
	pair_open(&p, CZPG_TLSREC_AES_256_GCM_SHA384);
	assert_int_equal(czpg_tlsrec_write(p.s, "SELECT 1 answer", 15, &p.s_out), 15);
	n = p.s_out.len;
	for (i = 0; i + 1 < n; i++) {
		assert_int_equal(czpg_tlsrec_feed(p.c, p.s_out.data + i, 1, 1 << 20), 0);
		assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out),
				 CZPG_TLS_WANT_READ);
	}
	assert_int_equal(czpg_tlsrec_feed(p.c, p.s_out.data + n - 1, 1, 1 << 20), 0);
	assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), 15);
	assert_memory_equal(buf, "SELECT 1 answer", 15);
	pair_close(&p);
}

/* One changed bit anywhere in a record, header included, and the connection fails. */
static void test_tampered(void **state)
{
	struct pair p;
	uint8_t buf[64];
	size_t at;

	(void)state;
	for (at = 0; at < 5 + 3 + 1 + 16; at += 4) {
		if (at == 3 || at == 4)
			continue; /* the length: a different failure, below */
		pair_open(&p, CZPG_TLSREC_AES_128_GCM_SHA256);
		assert_int_equal(czpg_tlsrec_write(p.s, "abc", 3, &p.s_out), 3);
		p.s_out.data[at] ^= 0x01;
		move(&p.s_out, p.c);
		assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), CZPG_TLS_ERROR);
		if (at >= 5)
			assert_string_equal(czpg_tlsrec_error(p.c),
					    "TLS read with db.example failed: decryption failed or "
					    "bad record mac");
		/* it stays failed */
		assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), CZPG_TLS_ERROR);
		assert_int_equal(czpg_tlsrec_write(p.c, "x", 1, &p.c_out), CZPG_TLS_ERROR);
		pair_close(&p);
	}
}

/* A record sealed again under the same sequence number (a replay) does not open. */
static void test_replay(void **state)
{
	struct pair p;
	uint8_t buf[64], copy[64];
	size_t n;

	(void)state;
	pair_open(&p, CZPG_TLSREC_CHACHA20_POLY1305_SHA256);
	assert_int_equal(czpg_tlsrec_write(p.s, "once", 4, &p.s_out), 4);
	n = p.s_out.len;
	memcpy(copy, p.s_out.data, n);
	move(&p.s_out, p.c);
	assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), 4);
	assert_int_equal(czpg_tlsrec_feed(p.c, copy, n, 1 << 20), 0);
	assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), CZPG_TLS_ERROR);
	pair_close(&p);
}

static void test_close_notify(void **state)
{
	struct pair p;
	uint8_t buf[64];
	ssize_t last;

	(void)state;
	pair_open(&p, CZPG_TLSREC_AES_128_GCM_SHA256);
	assert_int_equal(czpg_tlsrec_write(p.s, "bye", 3, &p.s_out), 3);
	assert_int_equal(czpg_tlsrec_close(p.s, &p.s_out), 0);
	assert_int_equal(czpg_tlsrec_close(p.s, &p.s_out), 0); /* once */
	assert_int_equal(czpg_tlsrec_write(p.s, "more", 4, &p.s_out), CZPG_TLS_ERROR);
	assert_string_equal(czpg_tlsrec_error(p.s), "TLS write to client after close_notify");
	move(&p.s_out, p.c);
	assert_int_equal(read_all(p.c, &p.c_out, buf, sizeof(buf), sizeof(buf), &last), 3);
	assert_memory_equal(buf, "bye", 3);
	assert_int_equal(last, CZPG_TLS_CLOSED);
	assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), CZPG_TLS_CLOSED);
	pair_close(&p);
}

/*
 * The server asks for a key update: the client moves its read key on, and
 * answers with a KeyUpdate of its own before its next record; both sides
 * then talk under the new keys.
 */
static void test_key_update(void **state)
{
	struct pair p;
	uint8_t buf[64];

	(void)state;
	pair_open(&p, CZPG_TLSREC_AES_256_GCM_SHA384);
	assert_int_equal(czpg_tlsrec_update_keys(p.s, true, &p.s_out), 0);
	assert_int_equal(czpg_tlsrec_write(p.s, "new key", 7, &p.s_out), 7);
	move(&p.s_out, p.c);
	assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), 7);
	assert_memory_equal(buf, "new key", 7);
	/* the client's answer is already on its way */
	assert_true(p.c_out.len > 0);
	assert_int_equal(czpg_tlsrec_write(p.c, "ack", 3, &p.c_out), 3);
	move(&p.c_out, p.s);
	assert_int_equal(czpg_tlsrec_read(p.s, buf, sizeof(buf), &p.s_out), 3);
	assert_memory_equal(buf, "ack", 3);
	assert_int_equal(p.s_out.len, 0); /* update_not_requested: no answer to the answer */
	/* and once more, without asking */
	assert_int_equal(czpg_tlsrec_update_keys(p.c, false, &p.c_out), 0);
	assert_int_equal(czpg_tlsrec_write(p.c, "again", 5, &p.c_out), 5);
	move(&p.c_out, p.s);
	assert_int_equal(czpg_tlsrec_read(p.s, buf, sizeof(buf), &p.s_out), 5);
	assert_int_equal(p.s_out.len, 0);
	pair_close(&p);
}

/* Padding hides the length: every record's inner plaintext a multiple of the block. */
static void test_padding(void **state)
{
	struct pair p;
	uint8_t buf[600];
	ssize_t last;

	(void)state;
	pair_open(&p, CZPG_TLSREC_AES_128_GCM_SHA256);
	czpg_tlsrec_set_padding(p.s, 256);
	assert_int_equal(czpg_tlsrec_write(p.s, "short", 5, &p.s_out), 5);
	assert_int_equal(p.s_out.len, 5 + 256 + 16);
	memset(buf, 'y', 300);
	assert_int_equal(czpg_tlsrec_write(p.s, buf, 300, &p.s_out), 300);
	assert_int_equal(p.s_out.len, (5 + 256 + 16) + (5 + 512 + 16));
	move(&p.s_out, p.c);
	assert_int_equal(read_all(p.c, &p.c_out, buf, sizeof(buf), sizeof(buf), &last), 305);
	assert_memory_equal(buf, "short", 5);
	pair_close(&p);
}

static void test_eof_mid_record(void **state)
{
	struct pair p;
	uint8_t buf[64];

	(void)state;
	pair_open(&p, CZPG_TLSREC_AES_128_GCM_SHA256);
	assert_int_equal(czpg_tlsrec_write(p.s, "cut", 3, &p.s_out), 3);
	assert_int_equal(czpg_tlsrec_feed(p.c, p.s_out.data, p.s_out.len - 1, 1 << 20), 0);
	assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), CZPG_TLS_WANT_READ);
	czpg_tlsrec_feed_eof(p.c);
	assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), CZPG_TLS_ERROR);
	assert_string_equal(czpg_tlsrec_error(p.c),
			    "server db.example closed the connection during "
			    "TLS read without a close_notify alert");
	pair_close(&p);
}

/* Records no TLS 1.3 peer sends after the handshake are refused, saying what they were. */
static void test_refused_records(void **state)
{
	static const struct {
		uint8_t header[5];
		const char *why;
	} bad[] = {
	    {{22, 3, 3, 0, 40}, "an unprotected record of type 22"},
	    {{20, 3, 3, 0, 1}, "an unprotected record of type 20"},
	    {{23, 3, 1, 0, 40}, "record version 3.1"},
	    {{23, 3, 3, 0x48, 0x01}, "a record of 18433 bytes"},
	    {{23, 3, 3, 0, 16}, "a record of 16 bytes"},
	};
	struct pair p;
	uint8_t buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pair_open(&p, CZPG_TLSREC_AES_128_GCM_SHA256);
		assert_int_equal(czpg_tlsrec_feed(p.c, bad[i].header, 5, 1 << 20), 0);
		assert_int_equal(czpg_tlsrec_read(p.c, buf, sizeof(buf), &p.c_out), CZPG_TLS_ERROR);
		if (strstr(czpg_tlsrec_error(p.c), bad[i].why) == NULL)
			fail_msg("case %zu: \"%s\"", i, czpg_tlsrec_error(p.c));
		pair_close(&p);
	}
	/* More unread ciphertext than the limit. */
	pair_open(&p, CZPG_TLSREC_AES_128_GCM_SHA256);
	assert_int_equal(czpg_tlsrec_feed(p.c, buf, sizeof(buf), 32), -1);
	assert_non_null(strstr(czpg_tlsrec_error(p.c), "waiting unread"));
	pair_close(&p);
}

static void test_keying_errors(void **state)
{
	uint8_t secret[48] = {0};
	char err[256];

	(void)state;
	assert_false(czpg_tlsrec_supported(0x1304)); /* AES-128-CCM: OpenSSL keeps it */
	assert_null(
	    czpg_tlsrec_new(0x1304, true, secret, secret, 32, "db.example", err, sizeof(err)));
	assert_string_equal(err, "TLS 1.3 suite 0x1304 has no record layer here");
	/* SHA-384 suite with a SHA-256-sized secret */
	assert_null(czpg_tlsrec_new(CZPG_TLSREC_AES_256_GCM_SHA384, true, secret, secret, 32,
				    "db.example", err, sizeof(err)));
	assert_non_null(strstr(err, "secret of 32 bytes"));
	assert_int_equal(ERR_peek_error(), 0);
	czpg_tlsrec_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips),     cmocka_unit_test(test_bytewise),
	    cmocka_unit_test(test_tampered),        cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_close_notify),    cmocka_unit_test(test_key_update),
	    cmocka_unit_test(test_padding),         cmocka_unit_test(test_eof_mid_record),
	    cmocka_unit_test(test_refused_records), cmocka_unit_test(test_keying_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
