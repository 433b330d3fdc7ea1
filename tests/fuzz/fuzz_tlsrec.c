/*
 * fuzz_tlsrec.c - libFuzzer target for the TLS 1.3 record layer's receive
 * side (czpg_tlsrec_read, src/core/tlsrec.h).  The input is a list of
 * records a peer seals with the right keys, so the fuzzer reaches what
 * lies behind the tag check (content types, alerts, handshake messages cut
 * anywhere, key updates, padding): each is [content type][length, 2 bytes]
 * [content].  The sealed stream is fed in pieces whose sizes come from the
 * input's first byte, and read through a window of varying size.  A second
 * pass feeds the raw input as ciphertext.  Every call must return one of
 * the documented results and leave the error queue empty.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "czpg/buf.h"
#include "czpg/tlsio.h"

#include "tlsrec.h"

static void pair(struct czpg_tlsrec **c, struct czpg_tlsrec **s)
{
	uint8_t cs[32], ss[32];
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cs); i++)
		cs[i] = (uint8_t)i, ss[i] = (uint8_t)(255 - i);
	*c = czpg_tlsrec_new(CZPG_TLSREC_AES_128_GCM_SHA256, true, cs, ss, 32, "fuzz", err,
			     sizeof(err));
	*s = czpg_tlsrec_new(CZPG_TLSREC_AES_128_GCM_SHA256, false, cs, ss, 32, "fuzz", err,
			     sizeof(err));
	if (*c == NULL || *s == NULL)
		abort();
}

/* Feeds stream in pieces and reads everything; the results must be documented ones. */
static void drain(struct czpg_tlsrec *c, const uint8_t *stream, size_t n, unsigned step)
{
	struct czpg_wbuf out;
	uint8_t buf[4096];
	size_t at = 0, piece, window = 1 + step % 64;
	ssize_t r;

	czpg_wbuf_init(&out, 0);
	while (at < n) {
		piece = 1 + (step * 7 + at) % 300;
		if (piece > n - at)
			piece = n - at;
		if (czpg_tlsrec_feed(c, stream + at, piece, 1 << 20) < 0)
			break;
		at += piece;
		do {
			r = czpg_tlsrec_read(c, buf, window, &out);
			if (r > (ssize_t)window || (r <= 0 && r != CZPG_TLS_WANT_READ &&
						    r != CZPG_TLS_CLOSED && r != CZPG_TLS_ERROR))
				abort();
		} while (r > 0);
		if (r == CZPG_TLS_ERROR || r == CZPG_TLS_CLOSED)
			break;
	}
	czpg_tlsrec_feed_eof(c);
	(void)czpg_tlsrec_read(c, buf, sizeof(buf), &out);
	if (ERR_peek_error() != 0)
		abort();
	czpg_wbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct czpg_tlsrec *c, *s;
	struct czpg_wbuf sealed;
	size_t at = 1, len;
	unsigned step = size > 0 ? data[0] : 0;

	pair(&c, &s);
	czpg_wbuf_init(&sealed, 0);
	while (at + 3 <= size) {
		len = (size_t)data[at + 1] << 8 | data[at + 2];
		if (len > size - at - 3)
			len = size - at - 3;
		if (len > CZPG_TLSREC_MAX_CONTENT)
			len = CZPG_TLSREC_MAX_CONTENT;
		if (czpg_tlsrec_seal(s, data[at], data + at + 3, len, &sealed) < 0)
			break;
		at += 3 + len;
	}
	drain(c, sealed.data, sealed.len, step);
	czpg_tlsrec_free(c);
	czpg_tlsrec_free(s);
	czpg_wbuf_free(&sealed);

	/* The raw input as ciphertext: refused at the header or the tag, never worse. */
	pair(&c, &s);
	drain(c, data, size, step);
	czpg_tlsrec_free(c);
	czpg_tlsrec_free(s);
	return 0;
}
