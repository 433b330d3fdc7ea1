/*
 * buf.c - bounded read cursor and capped byte queue (see czpg/buf.h).
 */
#include "czpg/buf.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void czpg_rbuf_init(struct czpg_rbuf *r, const void *data, size_t len)
{
	/*
	 * A NULL view becomes an empty one over a real object, so that reads of
	 * 0 bytes succeed and no NULL pointer reaches arithmetic or memchr.
	 */
	static const uint8_t empty[1];

	r->data = data != NULL ? data : empty;
	r->len = data != NULL ? len : 0;
	r->pos = 0;
	r->err = false;
}

size_t czpg_rbuf_remaining(const struct czpg_rbuf *r)
{
	return r->err ? 0 : r->len - r->pos;
}

/* The one bounds check every read goes through. */
static const uint8_t *rbuf_take(struct czpg_rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->len - r->pos) {
		r->err = true;
		return NULL;
	}
	p = r->data + r->pos;
	r->pos += n;
	return p;
}

int czpg_rbuf_u8(struct czpg_rbuf *r, uint8_t *out)
{
	const uint8_t *p = rbuf_take(r, 1);

	if (p == NULL)
		return -1;
	*out = p[0];
	return 0;
}

int czpg_rbuf_u16(struct czpg_rbuf *r, uint16_t *out)
{
	const uint8_t *p = rbuf_take(r, 2);

	if (p == NULL)
		return -1;
	*out = (uint16_t)((uint16_t)p[0] << 8 | p[1]);
	return 0;
}

int czpg_rbuf_u32(struct czpg_rbuf *r, uint32_t *out)
{
	const uint8_t *p = rbuf_take(r, 4);

	if (p == NULL)
		return -1;
	*out = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return 0;
}

int czpg_rbuf_i16(struct czpg_rbuf *r, int16_t *out)
{
	uint16_t v;

	if (czpg_rbuf_u16(r, &v) < 0)
		return -1;
	*out = (int16_t)v;
	return 0;
}

int czpg_rbuf_i32(struct czpg_rbuf *r, int32_t *out)
{
	uint32_t v;

	if (czpg_rbuf_u32(r, &v) < 0)
		return -1;
	*out = (int32_t)v;
	return 0;
}

int czpg_rbuf_bytes(struct czpg_rbuf *r, size_t n, const uint8_t **out)
{
	const uint8_t *p = rbuf_take(r, n);

	if (p == NULL)
		return -1;
	*out = p;
	return 0;
}

int czpg_rbuf_skip(struct czpg_rbuf *r, size_t n)
{
	return rbuf_take(r, n) == NULL ? -1 : 0;
}

int czpg_rbuf_cstr(struct czpg_rbuf *r, const char **out, size_t *len)
{
	const uint8_t *start, *nul;
	size_t n;

	if (r->err)
		return -1;
	start = r->data + r->pos;
	nul = memchr(start, 0, r->len - r->pos);
	if (nul == NULL) {
		r->err = true;
		return -1;
	}
	n = (size_t)(nul - start);
	r->pos += n + 1;
	*out = (const char *)start;
	if (len != NULL)
		*len = n;
	return 0;
}

void czpg_wbuf_init(struct czpg_wbuf *w, size_t max)
{
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
	w->off = 0;
	w->max = max != 0 ? max : CZPG_WBUF_DEFAULT_MAX;
	w->err = false;
}

/* The start of the allocation (data is off bytes into it), or NULL. */
static uint8_t *wbuf_base(const struct czpg_wbuf *w)
{
	return w->data != NULL ? w->data - w->off : NULL;
}

/* Moves the read cursor back to the front of the storage (nothing unread). */
static void wbuf_rewind(struct czpg_wbuf *w)
{
	w->data = wbuf_base(w);
	w->off = 0;
	w->len = 0;
}

void czpg_wbuf_free(struct czpg_wbuf *w)
{
	if (w == NULL)
		return;
	free(wbuf_base(w));
	w->data = NULL;
	w->len = w->cap = w->off = 0;
}

void czpg_wbuf_free_secure(struct czpg_wbuf *w)
{
	if (w == NULL)
		return;
	if (w->data != NULL)
		OPENSSL_cleanse(wbuf_base(w), w->cap);
	czpg_wbuf_free(w);
}

void czpg_wbuf_reset(struct czpg_wbuf *w)
{
	wbuf_rewind(w);
	w->err = false;
}

void czpg_wbuf_consume(struct czpg_wbuf *w, size_t n)
{
	if (n >= w->len) {
		wbuf_rewind(w);
		return;
	}
	w->data += n;
	w->off += n;
	w->len -= n;
}

int czpg_wbuf_reserve(struct czpg_wbuf *w, size_t n)
{
	size_t want, ncap;
	uint8_t *base, *p;

	if (w->err)
		return -1;
	if (n > w->max || w->len > w->max - n) {
		w->err = true;
		return -1;
	}
	/* The common case (every TLS record, every message): room at the end. */
	if (w->cap - w->off - w->len >= n)
		return 0;
	want = w->len + n;
	base = wbuf_base(w);
	/*
	 * Slide the unread bytes to the front when that frees at least as much
	 * as they occupy (so each byte is copied O(1) times however the writes
	 * and consumes interleave), or when the storage may not grow any more.
	 */
	if (w->cap >= want && (w->off >= w->len || w->cap >= w->max)) {
		memmove(base, w->data, w->len);
		w->data = base;
		w->off = 0;
		return 0;
	}
	/*
	 * Grow: at least double an existing storage (growing only to what is
	 * wanted would copy the unread bytes again at the next write), and
	 * never past the cap.
	 */
	if (w->cap == 0)
		ncap = w->max < 256 ? w->max : 256;
	else
		ncap = w->cap > w->max / 2 ? w->max : w->cap * 2;
	while (ncap < want)
		ncap = ncap > w->max / 2 ? w->max : ncap * 2;
	/*
	 * A fresh allocation rather than realloc: only the unread bytes move
	 * (a compaction for free), and the old storage, which may have held a
	 * password or a SCRAM proof, is wiped before it is released.
	 */
	p = malloc(ncap);
	if (p == NULL) {
		w->err = true;
		return -1;
	}
	if (w->len != 0)
		memcpy(p, w->data, w->len);
	if (base != NULL) {
		OPENSSL_cleanse(base, w->cap);
		free(base);
	}
	w->data = p;
	w->off = 0;
	w->cap = ncap;
	return 0;
}

uint8_t *czpg_wbuf_space(struct czpg_wbuf *w, size_t n)
{
	if (czpg_wbuf_reserve(w, n) < 0)
		return NULL;
	return w->data != NULL ? w->data + w->len : NULL;
}

void czpg_wbuf_commit(struct czpg_wbuf *w, size_t n)
{
	if (w->err || n > w->cap - w->off - w->len) {
		w->err = true;
		return;
	}
	w->len += n;
}

int czpg_wbuf_bytes(struct czpg_wbuf *w, const void *p, size_t n)
{
	if (czpg_wbuf_reserve(w, n) < 0)
		return -1;
	if (n != 0)
		memcpy(w->data + w->len, p, n);
	w->len += n;
	return 0;
}

int czpg_wbuf_u8(struct czpg_wbuf *w, uint8_t v)
{
	return czpg_wbuf_bytes(w, &v, 1);
}

int czpg_wbuf_u16(struct czpg_wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	return czpg_wbuf_bytes(w, b, sizeof(b));
}

int czpg_wbuf_u32(struct czpg_wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return czpg_wbuf_bytes(w, b, sizeof(b));
}

int czpg_wbuf_i16(struct czpg_wbuf *w, int16_t v)
{
	return czpg_wbuf_u16(w, (uint16_t)v);
}

int czpg_wbuf_i32(struct czpg_wbuf *w, int32_t v)
{
	return czpg_wbuf_u32(w, (uint32_t)v);
}

int czpg_wbuf_cstr(struct czpg_wbuf *w, const char *s)
{
	return czpg_wbuf_bytes(w, s, strlen(s) + 1);
}

int czpg_wbuf_put_u32_at(struct czpg_wbuf *w, size_t off, uint32_t v)
{
	if (w->err || off > w->len || w->len - off < 4) {
		w->err = true;
		return -1;
	}
	w->data[off] = (uint8_t)(v >> 24);
	w->data[off + 1] = (uint8_t)(v >> 16);
	w->data[off + 2] = (uint8_t)(v >> 8);
	w->data[off + 3] = (uint8_t)v;
	return 0;
}
