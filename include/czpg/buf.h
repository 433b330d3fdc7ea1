/*
 * buf.h - bounded byte buffers for everything that crosses the wire.
 *
 * Two small types:
 *
 *   struct czpg_rbuf  a read cursor over bytes someone else owns (a view).
 *                     Every typed read is bounds-checked; the first failed
 *                     read sets a sticky error and every later read fails
 *                     too, so a parser can read a whole message and check
 *                     once at the end.  Invariant: pos <= len.
 *
 *   struct czpg_wbuf  a growable byte queue with a hard cap: writes append
 *                     at the end, czpg_wbuf_consume() takes bytes off the
 *                     front.  data/len are always the bytes not yet consumed
 *                     (the "unread" bytes); consuming moves data forward
 *                     (off counts how far) without copying, and the unread
 *                     bytes slide back to the front of the storage only when
 *                     a write needs the room and the slide costs no more than
 *                     what was consumed, or the storage is at its cap
 *                     (amortised O(1) per byte).  Writes
 *                     past the cap (or a failed allocation) set a sticky
 *                     error and leave the contents as they were before that
 *                     write.  Invariant: off + len <= cap <= max.
 *
 * All multi-byte integers are big-endian (network order), as the PostgreSQL
 * frontend/backend protocol uses (PostgreSQL docs, "Message Data Types").
 */
#ifndef CZPG_BUF_H
#define CZPG_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct czpg_rbuf {
	const uint8_t *data;
	size_t len;
	size_t pos;
	bool err;
};

/* Starts a cursor over data[0..len). The bytes are not copied. */
void czpg_rbuf_init(struct czpg_rbuf *r, const void *data, size_t len);

/* Bytes left to read (0 once the error flag is set). */
size_t czpg_rbuf_remaining(const struct czpg_rbuf *r);

/* Each returns 0 on success, -1 (and sets r->err) when the bytes are not there. */
int czpg_rbuf_u8(struct czpg_rbuf *r, uint8_t *out);
int czpg_rbuf_u16(struct czpg_rbuf *r, uint16_t *out);
int czpg_rbuf_u32(struct czpg_rbuf *r, uint32_t *out);
int czpg_rbuf_i16(struct czpg_rbuf *r, int16_t *out);
int czpg_rbuf_i32(struct czpg_rbuf *r, int32_t *out);
/* A view of the next n bytes; *out points into the underlying data. */
int czpg_rbuf_bytes(struct czpg_rbuf *r, size_t n, const uint8_t **out);
int czpg_rbuf_skip(struct czpg_rbuf *r, size_t n);
/*
 * A NUL-terminated string that lies wholly inside the buffer.  *out points
 * into the data (zero copy); *len (may be NULL) excludes the NUL.  A string
 * with no terminator before the end is an error.
 */
int czpg_rbuf_cstr(struct czpg_rbuf *r, const char **out, size_t *len);

struct czpg_wbuf {
	uint8_t *data; /* the first unread byte; NULL until the first allocation */
	size_t len;    /* unread bytes at data */
	size_t cap;    /* bytes allocated, starting at data - off */
	size_t max;    /* the cap: most bytes the buffer may hold (and allocate) */
	size_t off;    /* bytes consumed in front of data (the read cursor) */
	bool err;
};

/* Default cap for a wbuf initialised with max == 0: 64 MiB. */
#define CZPG_WBUF_DEFAULT_MAX ((size_t)64 << 20)

/*
 * Starts an empty buffer that may grow to max bytes (0 = the default).
 * Taking ownership of the bytes (keeping data, setting it to NULL, then
 * czpg_wbuf_free) is fine while nothing was consumed: data is then the start
 * of the allocation.
 */
void czpg_wbuf_init(struct czpg_wbuf *w, size_t max);
/*
 * Frees the storage, wiping it first when it may hold secrets. NULL-safe.
 * Growth never leaves a copy behind either: the old storage is wiped before
 * it is released.
 */
void czpg_wbuf_free(struct czpg_wbuf *w);
void czpg_wbuf_free_secure(struct czpg_wbuf *w);
/* Empties the buffer, keeps the storage, clears the error flag. */
void czpg_wbuf_reset(struct czpg_wbuf *w);
/*
 * Drops the first n unread bytes (all of them when n >= len): O(1), no
 * copy.  Pointers into the bytes still unread stay valid until the next
 * write; once everything is consumed the next write starts at the front of
 * the storage again.
 */
void czpg_wbuf_consume(struct czpg_wbuf *w, size_t n);
/*
 * Makes room for n more bytes at the end (sliding the unread bytes to the
 * front or growing); 0 or -1 (sets err).  May move data.
 */
int czpg_wbuf_reserve(struct czpg_wbuf *w, size_t n);
/*
 * Zero-copy writes (a recv() or BIO_read() straight into the buffer): a
 * pointer to n > 0 writable bytes at the end, or NULL (err set) as
 * czpg_wbuf_reserve; then czpg_wbuf_commit(w, k) makes the first k <= n of
 * them part of the buffer.  A commit larger than the room sets err and adds
 * nothing.
 */
uint8_t *czpg_wbuf_space(struct czpg_wbuf *w, size_t n);
void czpg_wbuf_commit(struct czpg_wbuf *w, size_t n);

/* Each returns 0 on success or -1 (and sets w->err). */
int czpg_wbuf_u8(struct czpg_wbuf *w, uint8_t v);
int czpg_wbuf_u16(struct czpg_wbuf *w, uint16_t v);
int czpg_wbuf_u32(struct czpg_wbuf *w, uint32_t v);
int czpg_wbuf_i16(struct czpg_wbuf *w, int16_t v);
int czpg_wbuf_i32(struct czpg_wbuf *w, int32_t v);
int czpg_wbuf_bytes(struct czpg_wbuf *w, const void *p, size_t n);
/* Writes s and its terminating NUL. */
int czpg_wbuf_cstr(struct czpg_wbuf *w, const char *s);
/* Overwrites 4 unread bytes at offset off from data (which must already be written). */
int czpg_wbuf_put_u32_at(struct czpg_wbuf *w, size_t off, uint32_t v);

#endif
