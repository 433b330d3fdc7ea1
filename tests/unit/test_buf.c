/*
 * test_buf.c - unit tests for the bounded read cursor and the capped byte
 * queue (czpg/buf.h): big-endian typed access, sticky errors, caps, and the
 * queue's read cursor (consume without copying, sliding back, bounded
 * storage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "czpg/buf.h"

static void test_rbuf_integers_big_endian(void **state)
{
	static const uint8_t d[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				    0x09, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x01};
	struct czpg_rbuf r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	int16_t i16;
	int32_t i32;

	(void)state;
	czpg_rbuf_init(&r, d, sizeof(d));
	assert_int_equal(czpg_rbuf_remaining(&r), 15);
	assert_int_equal(czpg_rbuf_u8(&r, &u8), 0);
	assert_int_equal(u8, 0x01);
	assert_int_equal(czpg_rbuf_u16(&r, &u16), 0);
	assert_int_equal(u16, 0x0203);
	assert_int_equal(czpg_rbuf_u32(&r, &u32), 0);
	assert_int_equal(u32, 0x04050607);
	assert_int_equal(czpg_rbuf_u16(&r, &u16), 0);
	assert_int_equal(u16, 0x0809);
	assert_int_equal(czpg_rbuf_i16(&r, &i16), 0);
	assert_int_equal(i16, -2); /* 0xfffe */
	assert_int_equal(czpg_rbuf_i32(&r, &i32), 0);
	assert_int_equal(i32, INT32_MIN + 1); /* 0x80000001 */
	assert_int_equal(czpg_rbuf_remaining(&r), 0);
	assert_false(r.err);
	assert_int_equal(czpg_rbuf_u8(&r, &u8), -1);
	assert_true(r.err);
}

static void test_rbuf_short_read_is_sticky(void **state)
{
	static const uint8_t d[] = {0xaa, 0xbb, 0xcc};
	struct czpg_rbuf r;
	uint32_t u32 = 7;
	uint8_t u8 = 7;
	const uint8_t *p = NULL;
	const char *s = NULL;

	(void)state;
	czpg_rbuf_init(&r, d, sizeof(d));
	assert_int_equal(czpg_rbuf_u32(&r, &u32), -1);
	assert_int_equal(u32, 7); /* output untouched */
	assert_true(r.err);
	assert_int_equal(r.pos, 0); /* a failed read consumes nothing */
	/* Three bytes are there, but the error sticks. */
	assert_int_equal(czpg_rbuf_remaining(&r), 0);
	assert_int_equal(czpg_rbuf_u8(&r, &u8), -1);
	assert_int_equal(u8, 7);
	assert_int_equal(czpg_rbuf_bytes(&r, 1, &p), -1);
	assert_null(p);
	assert_int_equal(czpg_rbuf_skip(&r, 0), -1);
	assert_int_equal(czpg_rbuf_cstr(&r, &s, NULL), -1);
	assert_null(s);
	/* init starts afresh. */
	czpg_rbuf_init(&r, d, sizeof(d));
	assert_false(r.err);
	assert_int_equal(czpg_rbuf_u8(&r, &u8), 0);
	assert_int_equal(u8, 0xaa);
}

static void test_rbuf_each_type_fails_short(void **state)
{
	static const uint8_t d[] = {1, 2, 3};
	struct czpg_rbuf r;
	uint16_t u16;
	int16_t i16;
	int32_t i32;

	(void)state;
	czpg_rbuf_init(&r, d, 1);
	assert_int_equal(czpg_rbuf_u16(&r, &u16), -1);
	czpg_rbuf_init(&r, d, 1);
	assert_int_equal(czpg_rbuf_i16(&r, &i16), -1);
	czpg_rbuf_init(&r, d, 3);
	assert_int_equal(czpg_rbuf_i32(&r, &i32), -1);
	assert_true(r.err);
	czpg_rbuf_init(&r, d, 0);
	assert_int_equal(czpg_rbuf_u8(&r, &(uint8_t){0}), -1);
}

static void test_rbuf_bytes_and_skip(void **state)
{
	static const uint8_t d[] = {'a', 'b', 'c', 'd', 'e'};
	struct czpg_rbuf r;
	const uint8_t *p = NULL;

	(void)state;
	czpg_rbuf_init(&r, d, sizeof(d));
	assert_int_equal(czpg_rbuf_skip(&r, 1), 0);
	assert_int_equal(czpg_rbuf_bytes(&r, 3, &p), 0);
	assert_ptr_equal(p, d + 1); /* a view, not a copy */
	assert_int_equal(czpg_rbuf_bytes(&r, 0, &p), 0);
	assert_ptr_equal(p, d + 4);
	assert_int_equal(czpg_rbuf_remaining(&r), 1);
	assert_int_equal(czpg_rbuf_skip(&r, 2), -1);
	assert_true(r.err);
	czpg_rbuf_init(&r, d, sizeof(d));
	assert_int_equal(czpg_rbuf_skip(&r, SIZE_MAX), -1); /* no wrap-around */
	czpg_rbuf_init(&r, d, sizeof(d));
	assert_int_equal(czpg_rbuf_skip(&r, 5), 0);
	assert_int_equal(czpg_rbuf_remaining(&r), 0);
}

static void test_rbuf_null_data(void **state)
{
	struct czpg_rbuf r;
	const uint8_t *p = NULL;
	const char *s;

	(void)state;
	czpg_rbuf_init(&r, NULL, 100); /* length ignored without data */
	assert_int_equal(czpg_rbuf_remaining(&r), 0);
	assert_int_equal(czpg_rbuf_bytes(&r, 0, &p), 0);
	assert_non_null(p);
	assert_false(r.err);
	assert_int_equal(czpg_rbuf_cstr(&r, &s, NULL), -1);
	assert_true(r.err);
}

static void test_rbuf_cstr(void **state)
{
	static const uint8_t d[] = {'k', 'e', 'y', 0, 0, 'v', 'a', 'l'};
	struct czpg_rbuf r;
	const char *s = NULL;
	size_t n = 99;

	(void)state;
	czpg_rbuf_init(&r, d, sizeof(d));
	assert_int_equal(czpg_rbuf_cstr(&r, &s, &n), 0);
	assert_string_equal(s, "key");
	assert_ptr_equal(s, (const char *)d); /* zero copy */
	assert_int_equal(n, 3);
	assert_int_equal(r.pos, 4);                        /* past the NUL */
	assert_int_equal(czpg_rbuf_cstr(&r, &s, NULL), 0); /* len may be NULL */
	assert_string_equal(s, "");
	assert_int_equal(r.pos, 5);
	/* "val" has no terminator inside the buffer. */
	s = NULL;
	assert_int_equal(czpg_rbuf_cstr(&r, &s, &n), -1);
	assert_null(s);
	assert_true(r.err);
	assert_int_equal(czpg_rbuf_cstr(&r, &s, &n), -1);
	/* A NUL just past the view's end does not count. */
	czpg_rbuf_init(&r, d, 3);
	assert_int_equal(czpg_rbuf_cstr(&r, &s, NULL), -1);
	/* At the very end. */
	czpg_rbuf_init(&r, d, 4);
	assert_int_equal(czpg_rbuf_skip(&r, 4), 0);
	assert_int_equal(czpg_rbuf_cstr(&r, &s, NULL), -1);
}

static void test_wbuf_integers_big_endian(void **state)
{
	static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xff, 0xfe,
				       0x80, 0x00, 0x00, 0x01, 'h',  'i',  0,    'x',  'y'};
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(w.max, CZPG_WBUF_DEFAULT_MAX);
	assert_int_equal(w.len, 0);
	assert_int_equal(czpg_wbuf_u8(&w, 0x01), 0);
	assert_int_equal(czpg_wbuf_u16(&w, 0x0203), 0);
	assert_int_equal(czpg_wbuf_u32(&w, 0x04050607), 0);
	assert_int_equal(czpg_wbuf_i16(&w, -2), 0);
	assert_int_equal(czpg_wbuf_i32(&w, INT32_MIN + 1), 0);
	assert_int_equal(czpg_wbuf_cstr(&w, "hi"), 0);
	assert_int_equal(czpg_wbuf_bytes(&w, "xy", 2), 0);
	assert_int_equal(czpg_wbuf_bytes(&w, NULL, 0), 0);
	assert_false(w.err);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.data, want, sizeof(want));
	assert_true(w.cap >= w.len && w.cap <= w.max);
	czpg_wbuf_free(&w);
	assert_null(w.data);
	assert_int_equal(w.len, 0);
	czpg_wbuf_free(&w); /* twice is harmless */
	czpg_wbuf_free(NULL);
	czpg_wbuf_free_secure(NULL);
}

static void test_wbuf_grows(void **state)
{
	struct czpg_wbuf w;
	uint32_t i;

	(void)state;
	czpg_wbuf_init(&w, 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(czpg_wbuf_u32(&w, i), 0);
	assert_int_equal(w.len, 40000);
	for (i = 0; i < 10000; i += 997) {
		const uint8_t *p = w.data + 4 * i;

		assert_int_equal(
		    (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3], i);
	}
	czpg_wbuf_free_secure(&w);
	assert_null(w.data);
}

static void test_wbuf_cap_enforced_and_sticky(void **state)
{
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 8);
	assert_int_equal(czpg_wbuf_u32(&w, 0x11223344), 0);
	assert_int_equal(czpg_wbuf_u16(&w, 0x5566), 0);
	/* 6 bytes held: a 4-byte write would pass the cap; nothing of it lands. */
	assert_int_equal(czpg_wbuf_u32(&w, 0xdeadbeef), -1);
	assert_true(w.err);
	assert_int_equal(w.len, 6);
	assert_memory_equal(w.data, "\x11\x22\x33\x44\x55\x66", 6);
	assert_true(w.cap <= 8); /* the storage respects the cap too */
	/* Sticky: even a write that would fit now fails. */
	assert_int_equal(czpg_wbuf_u8(&w, 1), -1);
	assert_int_equal(czpg_wbuf_bytes(&w, NULL, 0), -1);
	assert_int_equal(czpg_wbuf_cstr(&w, ""), -1);
	assert_int_equal(czpg_wbuf_reserve(&w, 0), -1);
	assert_int_equal(w.len, 6);
	/* reset clears the error and the content, keeps the storage. */
	{
		uint8_t *before = w.data;

		czpg_wbuf_reset(&w);
		assert_false(w.err);
		assert_int_equal(w.len, 0);
		assert_ptr_equal(w.data, before);
	}
	/* Exactly the cap fits. */
	assert_int_equal(czpg_wbuf_bytes(&w, "12345678", 8), 0);
	assert_int_equal(w.len, 8);
	assert_int_equal(czpg_wbuf_u8(&w, 0), -1);
	czpg_wbuf_free(&w);
}

static void test_wbuf_reserve(void **state)
{
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 1000);
	assert_int_equal(czpg_wbuf_reserve(&w, 1000), 0);
	assert_int_equal(w.cap, 1000); /* grown to the cap, not past it */
	assert_int_equal(w.len, 0);
	assert_int_equal(czpg_wbuf_reserve(&w, 1001), -1);
	assert_true(w.err);
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_wbuf_u8(&w, 1), 0);
	assert_int_equal(czpg_wbuf_reserve(&w, SIZE_MAX), -1); /* no overflow */
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_wbuf_reserve(&w, SIZE_MAX), -1); /* empty buffer too */
	assert_int_equal(w.len, 0);
	czpg_wbuf_free(&w);
}

static void test_wbuf_consume(void **state)
{
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	czpg_wbuf_consume(&w, 3); /* empty: nothing to do */
	assert_int_equal(w.len, 0);
	assert_int_equal(czpg_wbuf_bytes(&w, "abcdef", 6), 0);
	czpg_wbuf_consume(&w, 0);
	assert_int_equal(w.len, 6);
	czpg_wbuf_consume(&w, 2);
	assert_int_equal(w.len, 4);
	assert_memory_equal(w.data, "cdef", 4);
	czpg_wbuf_consume(&w, 4);
	assert_int_equal(w.len, 0);
	assert_int_equal(czpg_wbuf_bytes(&w, "xyz", 3), 0);
	czpg_wbuf_consume(&w, 100);
	assert_int_equal(w.len, 0);
	czpg_wbuf_free(&w);
}

static void test_wbuf_put_u32_at(void **state)
{
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_wbuf_bytes(&w, "\0\0\0\0\0\0", 6), 0);
	assert_int_equal(czpg_wbuf_put_u32_at(&w, 0, 0x01020304), 0);
	assert_int_equal(czpg_wbuf_put_u32_at(&w, 2, 0x0a0b0c0d), 0); /* last 4 bytes */
	assert_memory_equal(w.data, "\x01\x02\x0a\x0b\x0c\x0d", 6);
	assert_int_equal(w.len, 6);
	/* Partly past the written bytes. */
	assert_int_equal(czpg_wbuf_put_u32_at(&w, 3, 0xffffffff), -1);
	assert_true(w.err);
	assert_memory_equal(w.data, "\x01\x02\x0a\x0b\x0c\x0d", 6);
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_wbuf_bytes(&w, "\0\0\0\0", 4), 0);
	assert_int_equal(czpg_wbuf_put_u32_at(&w, 5, 1), -1);
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_wbuf_bytes(&w, "\0\0\0\0", 4), 0);
	assert_int_equal(czpg_wbuf_put_u32_at(&w, SIZE_MAX - 1, 1), -1);
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_wbuf_put_u32_at(&w, 0, 1), -1); /* nothing written */
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_wbuf_bytes(&w, "\0\0\0\0", 4), 0);
	w.err = true;
	assert_int_equal(czpg_wbuf_put_u32_at(&w, 0, 1), -1); /* sticky */
	assert_memory_equal(w.data, "\0\0\0\0", 4);
	czpg_wbuf_free(&w);
}

static void test_wbuf_tiny_cap(void **state)
{
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 3);
	assert_int_equal(czpg_wbuf_cstr(&w, "ab"), 0);
	assert_int_equal(w.len, 3);
	assert_int_equal(w.cap, 3); /* never allocates past the cap */
	assert_int_equal(czpg_wbuf_u8(&w, 0), -1);
	czpg_wbuf_free_secure(&w);
	assert_null(w.data);
	assert_int_equal(w.cap, 0);
}

/* Consuming moves the cursor and copies nothing; past the end empties the buffer. */
static void test_wbuf_consume_moves_cursor(void **state)
{
	struct czpg_wbuf w;
	const uint8_t *start;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_wbuf_bytes(&w, "abcdefgh", 8), 0);
	start = w.data;
	czpg_wbuf_consume(&w, 3);
	/* The unread bytes did not move: views into them stay valid. */
	assert_ptr_equal(w.data, start + 3);
	assert_int_equal(w.off, 3);
	assert_int_equal(w.len, 5);
	assert_memory_equal(w.data, "defgh", 5);
	assert_int_equal(czpg_wbuf_bytes(&w, "ij", 2), 0); /* appends after the unread bytes */
	assert_memory_equal(w.data, "defghij", 7);
	/* Past the end: everything goes, no error, and writing restarts at the front. */
	czpg_wbuf_consume(&w, 1000);
	assert_int_equal(w.len, 0);
	assert_int_equal(w.off, 0);
	assert_false(w.err);
	assert_ptr_equal(w.data, start);
	assert_int_equal(czpg_wbuf_bytes(&w, "z", 1), 0);
	assert_ptr_equal(w.data, start);
	assert_memory_equal(w.data, "z", 1);
	/* put_u32_at counts from the first unread byte. */
	assert_int_equal(czpg_wbuf_bytes(&w, "\0\0\0\0", 4), 0);
	czpg_wbuf_consume(&w, 1);
	assert_int_equal(czpg_wbuf_put_u32_at(&w, 0, 0x01020304), 0);
	assert_memory_equal(w.data, "\x01\x02\x03\x04", 4);
	/* reset after a consume also goes back to the front of the storage. */
	czpg_wbuf_consume(&w, 2);
	czpg_wbuf_reset(&w);
	assert_ptr_equal(w.data, start);
	assert_int_equal(w.off, 0);
	/* Freeing a consumed buffer releases the allocation, not the cursor. */
	assert_int_equal(czpg_wbuf_bytes(&w, "abc", 3), 0);
	czpg_wbuf_consume(&w, 2);
	czpg_wbuf_free_secure(&w);
	assert_null(w.data);
	assert_int_equal(w.off, 0);
	assert_int_equal(w.cap, 0);
}

/* When the storage may not grow, the unread bytes slide to the front intact. */
static void test_wbuf_compaction_keeps_bytes(void **state)
{
	struct czpg_wbuf w;
	const uint8_t *start;

	(void)state;
	czpg_wbuf_init(&w, 16);
	assert_int_equal(czpg_wbuf_bytes(&w, "0123456789abcdef", 16), 0);
	assert_int_equal(w.cap, 16);
	start = w.data;
	czpg_wbuf_consume(&w, 10);
	assert_memory_equal(w.data, "abcdef", 6);
	/* 6 unread + 10 new = the cap exactly: fits by sliding, same storage. */
	assert_int_equal(czpg_wbuf_bytes(&w, "ghijklmnop", 10), 0);
	assert_int_equal(w.len, 16);
	assert_int_equal(w.off, 0);
	assert_int_equal(w.cap, 16);
	assert_ptr_equal(w.data, start);
	assert_memory_equal(w.data, "abcdefghijklmnop", 16);
	/* The slide also happens when it is cheap, in a buffer that could grow. */
	czpg_wbuf_free(&w);
	czpg_wbuf_init(&w, 0);
	{
		uint8_t big[256];
		size_t i;

		for (i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)i;
		assert_int_equal(czpg_wbuf_bytes(&w, big, sizeof(big)), 0);
		start = w.data;
		czpg_wbuf_consume(&w, 200);
		assert_int_equal(czpg_wbuf_bytes(&w, "xyz", 3), 0);
		assert_int_equal(w.len, 59);
		assert_ptr_equal(w.data, start); /* slid, not reallocated */
		assert_memory_equal(w.data, big + 200, 56);
		assert_memory_equal(w.data + 56, "xyz", 3);
	}
	czpg_wbuf_free(&w);
}

/* The cap bounds the bytes held, not the bytes ever written. */
static void test_wbuf_cap_counts_unread(void **state)
{
	struct czpg_wbuf w;
	int i;

	(void)state;
	czpg_wbuf_init(&w, 8);
	for (i = 0; i < 100; i++) {
		assert_int_equal(czpg_wbuf_bytes(&w, "12345", 5), 0);
		czpg_wbuf_consume(&w, 5);
	}
	assert_false(w.err);
	assert_int_equal(czpg_wbuf_bytes(&w, "abcdef", 6), 0);
	czpg_wbuf_consume(&w, 2);
	assert_int_equal(czpg_wbuf_bytes(&w, "gh", 2), 0);
	assert_int_equal(czpg_wbuf_bytes(&w, "ij", 2), 0); /* 8 held: the cap */
	assert_memory_equal(w.data, "cdefghij", 8);
	/* One more byte is past the cap: refused, sticky, contents unchanged. */
	assert_int_equal(czpg_wbuf_u8(&w, 'k'), -1);
	assert_true(w.err);
	assert_int_equal(w.len, 8);
	assert_memory_equal(w.data, "cdefghij", 8);
	assert_true(w.cap <= 8);
	czpg_wbuf_consume(&w, 8); /* consuming keeps the error: only reset clears it */
	assert_int_equal(czpg_wbuf_u8(&w, 'k'), -1);
	czpg_wbuf_free(&w);
}

/* A tiny deterministic generator, so a failure reproduces. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/*
 * Writes and consumes of every size, interleaved, against a plain array
 * as the model: the bytes always match, and the storage stays within a
 * small multiple of the most ever held (a long-lived connection's buffer
 * does not creep).
 */
static void test_wbuf_interleaved_append_consume(void **state)
{
	static uint8_t model[1 << 16];
	struct czpg_wbuf w;
	size_t mlen = 0, peak = 0, i, j, n;
	uint8_t chunk[700];
	uint32_t seed = 42, next = 0;

	(void)state;
	czpg_wbuf_init(&w, sizeof(model));
	for (i = 0; i < 20000; i++) {
		n = lcg(&seed) % sizeof(chunk);
		if (mlen + n <= 3000) {
			for (j = 0; j < n; j++)
				chunk[j] = (uint8_t)(next++ * 7u);
			assert_int_equal(czpg_wbuf_bytes(&w, chunk, n), 0);
			memcpy(model + mlen, chunk, n);
			mlen += n;
			if (mlen > peak)
				peak = mlen;
		}
		n = lcg(&seed) % (mlen + 50);
		czpg_wbuf_consume(&w, n);
		n = n < mlen ? n : mlen;
		memmove(model, model + n, mlen - n);
		mlen -= n;
		assert_int_equal(w.len, mlen);
		if (mlen > 0)
			assert_memory_equal(w.data, model, mlen);
		assert_true(w.off + w.len <= w.cap);
	}
	assert_false(w.err);
	assert_true(peak > 2000);
	assert_true(w.cap <= 4 * (peak + sizeof(chunk)));
	czpg_wbuf_free_secure(&w);
}

/* Zero-copy writes: space, then commit what was written. */
static void test_wbuf_space_commit(void **state)
{
	struct czpg_wbuf w;
	uint8_t *p;

	(void)state;
	czpg_wbuf_init(&w, 16);
	p = czpg_wbuf_space(&w, 10);
	assert_non_null(p);
	memcpy(p, "hello", 5);
	czpg_wbuf_commit(&w, 5); /* fewer than reserved */
	assert_int_equal(w.len, 5);
	assert_memory_equal(w.data, "hello", 5);
	czpg_wbuf_consume(&w, 4);
	p = czpg_wbuf_space(&w, 15); /* 1 held + 15 = the cap: slides to fit */
	assert_non_null(p);
	assert_ptr_equal(p, w.data + 1);
	memcpy(p, "there", 5);
	czpg_wbuf_commit(&w, 5);
	assert_memory_equal(w.data, "othere", 6);
	/* Past the cap: NULL and the sticky error, contents unchanged. */
	assert_null(czpg_wbuf_space(&w, 11));
	assert_true(w.err);
	assert_memory_equal(w.data, "othere", 6);
	czpg_wbuf_reset(&w);
	/* Committing more than the room is refused. */
	assert_non_null(czpg_wbuf_space(&w, 4));
	czpg_wbuf_commit(&w, w.cap + 1);
	assert_true(w.err);
	assert_int_equal(w.len, 0);
	czpg_wbuf_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rbuf_integers_big_endian),
	    cmocka_unit_test(test_rbuf_short_read_is_sticky),
	    cmocka_unit_test(test_rbuf_each_type_fails_short),
	    cmocka_unit_test(test_rbuf_bytes_and_skip),
	    cmocka_unit_test(test_rbuf_null_data),
	    cmocka_unit_test(test_rbuf_cstr),
	    cmocka_unit_test(test_wbuf_integers_big_endian),
	    cmocka_unit_test(test_wbuf_grows),
	    cmocka_unit_test(test_wbuf_cap_enforced_and_sticky),
	    cmocka_unit_test(test_wbuf_reserve),
	    cmocka_unit_test(test_wbuf_consume),
	    cmocka_unit_test(test_wbuf_put_u32_at),
	    cmocka_unit_test(test_wbuf_tiny_cap),
	    cmocka_unit_test(test_wbuf_consume_moves_cursor),
	    cmocka_unit_test(test_wbuf_compaction_keeps_bytes),
	    cmocka_unit_test(test_wbuf_cap_counts_unread),
	    cmocka_unit_test(test_wbuf_interleaved_append_consume),
	    cmocka_unit_test(test_wbuf_space_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
