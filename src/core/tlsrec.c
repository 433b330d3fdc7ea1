/*
 * tlsrec.c - the TLS 1.3 record layer after the handshake (see tlsrec.h):
 * RFC 8446 section 5.2 (record payload protection), 5.3 (per-record nonce),
 * 5.4 (record padding), 5.5 (limits on key usage), 6 (alerts), 4.6.1 and
 * 4.6.3 (NewSessionTicket, KeyUpdate), 7.1 and 7.3 (HKDF-Expand-Label,
 * traffic keys) and 7.2 (updating traffic secrets).
 *
 * Each direction keeps its traffic secret (for the next key update), its
 * write IV, its sequence number and one EVP_CIPHER_CTX keyed once: a record
 * costs one IV reset, the additional data, one update over the content and
 * the tag.  Ciphertext waits in a byte queue until a whole record is there;
 * a record opens straight into the caller's buffer when it fits, else into
 * a queue of decrypted bytes read out in later calls.
 */
#include "tlsrec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/ssl.h>

#include "czpg/errf.h"
#include "czpg/tlsio.h"

#define REC_HEADER 5
#define REC_TAG 16
#define REC_IV 12
#define REC_MAX_CIPHERTEXT (CZPG_TLSREC_MAX_CONTENT + 256)
#define REC_MAX_INNER (CZPG_TLSREC_MAX_CONTENT + 1)
/* Our write key moves on before it has sealed this many records (RFC 8446 5.5). */
#define REC_KEY_RECORDS ((uint64_t)1 << 24)
/* Longest post-handshake handshake message we wait for (tickets are a few hundred bytes). */
#define REC_MAX_HANDSHAKE_MSG 65536u

enum content_type {
	CT_ALERT = 21,
	CT_HANDSHAKE = 22,
	CT_APPLICATION_DATA = 23,
};

enum { HS_NEW_SESSION_TICKET = 4, HS_KEY_UPDATE = 24 };
enum { ALERT_CLOSE_NOTIFY = 0, ALERT_USER_CANCELED = 90 };

struct direction {
	EVP_CIPHER_CTX *ctx;
	uint8_t secret[EVP_MAX_MD_SIZE];
	uint8_t iv[REC_IV];
	uint64_t seq;
	int enc; /* 1: we seal with it, 0: we open */
};

struct czpg_tlsrec {
	const EVP_CIPHER *cipher;
	const EVP_MD *md;
	size_t key_len;
	size_t hash_len;
	struct direction rd, wr;
	struct czpg_wbuf in;    /* ciphertext fed, not yet a whole record */
	struct czpg_wbuf plain; /* opened application data the caller had no room for */
	struct czpg_wbuf hs;    /* handshake bytes, not yet a whole message */
	size_t pad;
	bool eof;
	bool peer_closed;
	bool sent_close;
	bool failed;
	char *peer;
	char err[CZPG_TLS_ERR_MAX];
};

bool czpg_tlsrec_supported(uint16_t suite)
{
	return suite == CZPG_TLSREC_AES_128_GCM_SHA256 || suite == CZPG_TLSREC_AES_256_GCM_SHA384 ||
	       suite == CZPG_TLSREC_CHACHA20_POLY1305_SHA256;
}

/* Fails the layer once; the first sentence stays.  The error queue is emptied. */
static int rec_fail(struct czpg_tlsrec *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int rec_fail(struct czpg_tlsrec *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->failed) {
		va_start(ap, fmt);
		czpg_verrf(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
	}
	r->failed = true;
	ERR_clear_error();
	return CZPG_TLS_ERROR;
}

/*
 * HKDF-Expand-Label(secret, label, "", len) (RFC 8446 section 7.1), for
 * len up to the hash length: one HMAC block of HKDF-Expand (RFC 5869).
 */
static int expand_label(const struct czpg_tlsrec *r, const uint8_t *secret, const char *label,
			uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 6 + 32 + 1 + 1], t[EVP_MAX_MD_SIZE];
	size_t n = 0, ll = strlen(label);
	unsigned int tl = 0;
	int rc = -1;

	if (len > r->hash_len || ll > 32)
		return -1;
	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0; /* empty context */
	info[n++] = 1; /* T(1) */
	if (HMAC(r->md, secret, (int)r->hash_len, info, n, t, &tl) != NULL && tl >= len) {
		memcpy(out, t, len);
		rc = 0;
	}
	OPENSSL_cleanse(t, sizeof(t));
	return rc;
}

/* Keys d from its secret (RFC 8446 section 7.3); the sequence starts again at 0. */
static int set_keys(struct czpg_tlsrec *r, struct direction *d)
{
	uint8_t key[EVP_MAX_KEY_LENGTH];
	int rc = -1;

	if (d->ctx == NULL)
		d->ctx = EVP_CIPHER_CTX_new();
	if (d->ctx == NULL || expand_label(r, d->secret, "key", key, r->key_len) < 0 ||
	    expand_label(r, d->secret, "iv", d->iv, REC_IV) < 0 ||
	    EVP_CipherInit_ex2(d->ctx, r->cipher, key, NULL, d->enc, NULL) != 1)
		goto out;
	d->seq = 0;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* application_traffic_secret_N+1 (RFC 8446 section 7.2), then its keys. */
static int next_secret(struct czpg_tlsrec *r, struct direction *d)
{
	uint8_t next[EVP_MAX_MD_SIZE];
	int rc;

	rc = expand_label(r, d->secret, "traffic upd", next, r->hash_len);
	if (rc == 0) {
		memcpy(d->secret, next, r->hash_len);
		rc = set_keys(r, d);
	}
	OPENSSL_cleanse(next, sizeof(next));
	return rc;
}

/* The per-record nonce: the IV with the 64-bit sequence number XORed into its end. */
static void nonce(const struct direction *d, uint8_t out[REC_IV])
{
	int i;

	memcpy(out, d->iv, REC_IV);
	for (i = 0; i < 8; i++)
		out[REC_IV - 1 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

struct czpg_tlsrec *czpg_tlsrec_new(uint16_t suite, bool client, const uint8_t *client_secret,
				    const uint8_t *server_secret, size_t secret_len,
				    const char *peer, char *err, size_t errlen)
{
	struct czpg_tlsrec *r;

	if (!czpg_tlsrec_supported(suite)) {
		czpg_errf(err, errlen, "TLS 1.3 suite 0x%04x has no record layer here", suite);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		czpg_errf(err, errlen, "out of memory for the TLS records of %s", peer);
		return NULL;
	}
	switch (suite) {
	case CZPG_TLSREC_AES_128_GCM_SHA256:
		r->cipher = EVP_aes_128_gcm(), r->md = EVP_sha256(), r->key_len = 16;
		break;
	case CZPG_TLSREC_AES_256_GCM_SHA384:
		r->cipher = EVP_aes_256_gcm(), r->md = EVP_sha384(), r->key_len = 32;
		break;
	default:
		r->cipher = EVP_chacha20_poly1305(), r->md = EVP_sha256(), r->key_len = 32;
		break;
	}
	r->hash_len = (size_t)EVP_MD_get_size(r->md);
	czpg_wbuf_init(&r->in, 0);
	czpg_wbuf_init(&r->plain, 0);
	czpg_wbuf_init(&r->hs, REC_MAX_HANDSHAKE_MSG + 4);
	r->peer = strdup(peer != NULL ? peer : "the peer");
	if (r->peer == NULL || secret_len != r->hash_len) {
		czpg_errf(err, errlen, "cannot set up the TLS records of %s (secret of %zu bytes)",
			  peer, secret_len);
		goto fail;
	}
	memcpy(r->rd.secret, client ? server_secret : client_secret, secret_len);
	memcpy(r->wr.secret, client ? client_secret : server_secret, secret_len);
	r->rd.enc = 0;
	r->wr.enc = 1;
	if (set_keys(r, &r->rd) < 0 || set_keys(r, &r->wr) < 0) {
		czpg_errf(err, errlen, "cannot key the TLS records of %s", peer);
		goto fail;
	}
	return r;
fail:
	ERR_clear_error();
	czpg_tlsrec_free(r);
	return NULL;
}

void czpg_tlsrec_free(struct czpg_tlsrec *r)
{
	if (r == NULL)
		return;
	EVP_CIPHER_CTX_free(r->rd.ctx); /* wipes the expanded keys */
	EVP_CIPHER_CTX_free(r->wr.ctx);
	OPENSSL_cleanse(&r->rd, sizeof(r->rd));
	OPENSSL_cleanse(&r->wr, sizeof(r->wr));
	czpg_wbuf_free(&r->in);
	czpg_wbuf_free_secure(&r->plain);
	czpg_wbuf_free_secure(&r->hs);
	free(r->peer);
	free(r);
}

const char *czpg_tlsrec_error(const struct czpg_tlsrec *r)
{
	return r->err;
}

void czpg_tlsrec_set_padding(struct czpg_tlsrec *r, size_t block)
{
	r->pad = block > REC_MAX_INNER ? REC_MAX_INNER : block;
}

size_t czpg_tlsrec_buffered(const struct czpg_tlsrec *r)
{
	return r->in.len + r->plain.len;
}

int czpg_tlsrec_feed(struct czpg_tlsrec *r, const void *data, size_t len, size_t max_buffered)
{
	if (len == 0)
		return 0;
	if (r->in.len + len > max_buffered) {
		czpg_errf(r->err, sizeof(r->err),
			  "more than %zu bytes of TLS data from %s are waiting unread: read "
			  "before feeding more",
			  max_buffered, r->peer);
		return -1;
	}
	if (czpg_wbuf_bytes(&r->in, data, len) < 0) {
		r->in.err = false;
		czpg_errf(r->err, sizeof(r->err), "out of memory buffering TLS data from %s",
			  r->peer);
		return -1;
	}
	return 0;
}

void czpg_tlsrec_feed_eof(struct czpg_tlsrec *r)
{
	r->eof = true;
}

/*
 * Seals one record of content type ct around len bytes onto out: header,
 * then content || ct || padding encrypted in place, then the tag.
 */
static int seal(struct czpg_tlsrec *r, uint8_t ct, const void *data, size_t len,
		struct czpg_wbuf *out)
{
	struct direction *d = &r->wr;
	size_t inner = len + 1, padlen = 0;
	uint8_t iv[REC_IV], *p;
	OSSL_PARAM tag[2];
	int l1 = 0, l2 = 0;

	if (r->pad > 1 && inner % r->pad != 0) {
		padlen = r->pad - inner % r->pad;
		if (inner + padlen > REC_MAX_INNER)
			padlen = REC_MAX_INNER - inner;
	}
	inner += padlen;
	p = czpg_wbuf_space(out, REC_HEADER + inner + REC_TAG);
	if (p == NULL) {
		out->err = false;
		return rec_fail(r, "out of memory sealing a TLS record for %s", r->peer);
	}
	p[0] = CT_APPLICATION_DATA; /* the outer type of every protected record */
	p[1] = 3;
	p[2] = 3;
	p[3] = (uint8_t)((inner + REC_TAG) >> 8);
	p[4] = (uint8_t)(inner + REC_TAG);
	if (len > 0)
		memcpy(p + REC_HEADER, data, len);
	p[REC_HEADER + len] = ct;
	memset(p + REC_HEADER + len + 1, 0, padlen);
	nonce(d, iv);
	tag[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						   p + REC_HEADER + inner, REC_TAG);
	tag[1] = OSSL_PARAM_construct_end();
	if (EVP_CipherInit_ex2(d->ctx, NULL, NULL, iv, 1, NULL) != 1 ||
	    EVP_CipherUpdate(d->ctx, NULL, &l1, p, REC_HEADER) != 1 ||
	    EVP_CipherUpdate(d->ctx, p + REC_HEADER, &l1, p + REC_HEADER, (int)inner) != 1 ||
	    EVP_CipherFinal_ex(d->ctx, p + REC_HEADER + l1, &l2) != 1 ||
	    (size_t)(l1 + l2) != inner || EVP_CIPHER_CTX_get_params(d->ctx, tag) != 1)
		return rec_fail(r, "TLS write with %s failed: the record could not be encrypted",
				r->peer);
	czpg_wbuf_commit(out, REC_HEADER + inner + REC_TAG);
	d->seq++;
	return 0;
}

int czpg_tlsrec_seal(struct czpg_tlsrec *r, uint8_t content_type, const void *data, size_t len,
		     struct czpg_wbuf *out)
{
	if (r->failed)
		return CZPG_TLS_ERROR;
	if (len > CZPG_TLSREC_MAX_CONTENT)
		return rec_fail(r, "TLS write to %s of a %zu-byte record", r->peer, len);
	return seal(r, content_type, data, len, out);
}

/* A KeyUpdate message (RFC 8446 section 4.6.3) sealed with the current key, then the next key. */
static int send_key_update(struct czpg_tlsrec *r, bool ask_peer, struct czpg_wbuf *out)
{
	const uint8_t msg[5] = {HS_KEY_UPDATE, 0, 0, 1, ask_peer ? 1 : 0};

	if (seal(r, CT_HANDSHAKE, msg, sizeof(msg), out) < 0)
		return CZPG_TLS_ERROR;
	if (next_secret(r, &r->wr) < 0)
		return rec_fail(r, "cannot update the TLS write key for %s", r->peer);
	return 0;
}

int czpg_tlsrec_update_keys(struct czpg_tlsrec *r, bool ask_peer, struct czpg_wbuf *out)
{
	if (r->failed)
		return CZPG_TLS_ERROR;
	if (r->sent_close)
		return rec_fail(r, "TLS key update for %s after close_notify", r->peer);
	return send_key_update(r, ask_peer, out);
}

ssize_t czpg_tlsrec_write(struct czpg_tlsrec *r, const void *buf, size_t len, struct czpg_wbuf *out)
{
	const uint8_t *p = buf;
	size_t done = 0, n;

	if (r->failed)
		return CZPG_TLS_ERROR;
	if (r->sent_close)
		return rec_fail(r, "TLS write to %s after close_notify", r->peer);
	while (done < len) {
		if (r->wr.seq >= REC_KEY_RECORDS && send_key_update(r, false, out) < 0)
			return CZPG_TLS_ERROR;
		n = len - done < CZPG_TLSREC_MAX_CONTENT ? len - done : CZPG_TLSREC_MAX_CONTENT;
		if (seal(r, CT_APPLICATION_DATA, p + done, n, out) < 0)
			return CZPG_TLS_ERROR;
		done += n;
	}
	return (ssize_t)len;
}

int czpg_tlsrec_close(struct czpg_tlsrec *r, struct czpg_wbuf *out)
{
	const uint8_t alert[2] = {1 /* warning */, ALERT_CLOSE_NOTIFY};

	if (r->failed)
		return CZPG_TLS_ERROR;
	if (r->sent_close)
		return 0;
	if (seal(r, CT_ALERT, alert, sizeof(alert), out) < 0)
		return CZPG_TLS_ERROR;
	r->sent_close = true;
	return 0;
}

/*
 * Opens the record at the front of r->in (rlen bytes after its header) into
 * dst (room for rlen - 16 bytes): the inner plaintext's length, or -1.
 */
static ssize_t open_record(struct czpg_tlsrec *r, size_t rlen, uint8_t *dst)
{
	struct direction *d = &r->rd;
	const uint8_t *p = r->in.data;
	size_t clen = rlen - REC_TAG;
	uint8_t iv[REC_IV];
	OSSL_PARAM tag[2];
	int l1 = 0, l2 = 0;

	if (d->seq == UINT64_MAX)
		return rec_fail(r, "TLS read with %s failed: the sequence number is exhausted",
				r->peer);
	nonce(d, iv);
	tag[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						   (void *)(p + REC_HEADER + clen), REC_TAG);
	tag[1] = OSSL_PARAM_construct_end();
	if (EVP_CipherInit_ex2(d->ctx, NULL, NULL, iv, 0, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_params(d->ctx, tag) != 1 ||
	    EVP_CipherUpdate(d->ctx, NULL, &l1, p, REC_HEADER) != 1 ||
	    EVP_CipherUpdate(d->ctx, dst, &l1, p + REC_HEADER, (int)clen) != 1 ||
	    EVP_CipherFinal_ex(d->ctx, dst + l1, &l2) != 1 || (size_t)(l1 + l2) != clen) {
		OPENSSL_cleanse(dst, clen);
		return rec_fail(r, "TLS read with %s failed: decryption failed or bad record mac",
				r->peer);
	}
	d->seq++;
	return (ssize_t)clen;
}

/* Whole handshake messages in r->hs: tickets are dropped, key updates applied. */
static int handshake_messages(struct czpg_tlsrec *r, struct czpg_wbuf *out)
{
	const uint8_t *m;
	size_t mlen;

	while (r->hs.len >= 4) {
		m = r->hs.data;
		mlen = (size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3];
		if (mlen > REC_MAX_HANDSHAKE_MSG)
			return rec_fail(r,
					"TLS read with %s failed: a handshake message of %zu bytes "
					"after the handshake",
					r->peer, mlen);
		if (r->hs.len < 4 + mlen)
			return 0; /* the rest comes in the next record */
		switch (m[0]) {
		case HS_NEW_SESSION_TICKET:
			break; /* sessions are not resumed */
		case HS_KEY_UPDATE:
			if (mlen != 1 || m[4] > 1)
				return rec_fail(r, "TLS read with %s failed: a malformed KeyUpdate",
						r->peer);
			/* The key changes right after this message: nothing may follow it. */
			if (r->hs.len != 4 + mlen)
				return rec_fail(
				    r,
				    "TLS read with %s failed: data after a KeyUpdate in "
				    "its record",
				    r->peer);
			if (next_secret(r, &r->rd) < 0)
				return rec_fail(r, "cannot update the TLS read key for %s",
						r->peer);
			if (m[4] == 1 && !r->sent_close && send_key_update(r, false, out) < 0)
				return CZPG_TLS_ERROR;
			break;
		default:
			return rec_fail(r,
					"TLS read with %s failed: unexpected handshake message %u "
					"after the handshake",
					r->peer, m[0]);
		}
		czpg_wbuf_consume(&r->hs, 4 + mlen);
	}
	return 0;
}

/* What an alert means: CLOSED for close_notify, 0 to go on, or ERROR. */
static int alert(struct czpg_tlsrec *r, const uint8_t *body, size_t len)
{
	if (len != 2)
		return rec_fail(r, "TLS read with %s failed: a malformed alert", r->peer);
	if (body[1] == ALERT_CLOSE_NOTIFY) {
		r->peer_closed = true;
		return CZPG_TLS_CLOSED;
	}
	if (body[1] == ALERT_USER_CANCELED)
		return 0;
	return rec_fail(r, "TLS read with %s failed: the server sent alert %u (%s)", r->peer,
			body[1], SSL_alert_desc_string_long(body[1]));
}

ssize_t czpg_tlsrec_read(struct czpg_tlsrec *r, void *buf, size_t cap, struct czpg_wbuf *out)
{
	const uint8_t *h;
	uint8_t *dst;
	size_t rlen, k, n;
	ssize_t inner;
	int rc;

	for (;;) {
		if (r->plain.len > 0) {
			n = r->plain.len < cap ? r->plain.len : cap;
			memcpy(buf, r->plain.data, n);
			OPENSSL_cleanse(r->plain.data, n);
			czpg_wbuf_consume(&r->plain, n);
			return (ssize_t)n;
		}
		if (r->failed)
			return CZPG_TLS_ERROR;
		if (r->peer_closed)
			return CZPG_TLS_CLOSED;
		if (r->in.len < REC_HEADER)
			break;
		h = r->in.data;
		rlen = (size_t)h[3] << 8 | h[4];
		if (h[0] != CT_APPLICATION_DATA)
			return rec_fail(r,
					"TLS read with %s failed: an unprotected record of type %u "
					"after the handshake",
					r->peer, h[0]);
		if (h[1] != 3 || h[2] != 3)
			return rec_fail(r, "TLS read with %s failed: record version %u.%u", r->peer,
					h[1], h[2]);
		if (rlen > REC_MAX_CIPHERTEXT || rlen <= REC_TAG)
			return rec_fail(r, "TLS read with %s failed: a record of %zu bytes",
					r->peer, rlen);
		if (r->in.len < REC_HEADER + rlen)
			break;
		/* Straight into the caller's buffer when it fits, else into ours. */
		dst = cap >= rlen - REC_TAG ? buf : czpg_wbuf_space(&r->plain, rlen - REC_TAG);
		if (dst == NULL) {
			r->plain.err = false;
			return rec_fail(r, "out of memory reading a TLS record from %s", r->peer);
		}
		inner = open_record(r, rlen, dst);
		czpg_wbuf_consume(&r->in, REC_HEADER + rlen);
		if (inner < 0)
			return CZPG_TLS_ERROR;
		/* RFC 8446 5.4: the content type is the last non-zero byte. */
		for (k = (size_t)inner; k > 0 && dst[k - 1] == 0; k--)
			;
		if (k == 0 || (size_t)inner > REC_MAX_INNER)
			return rec_fail(r, "TLS read with %s failed: a record with no content type",
					r->peer);
		n = k - 1;
		if (dst[n] != CT_HANDSHAKE && r->hs.len > 0)
			return rec_fail(
			    r,
			    "TLS read with %s failed: a handshake message cut by another "
			    "record",
			    r->peer);
		switch (dst[n]) {
		case CT_APPLICATION_DATA:
			if (dst != buf) {
				czpg_wbuf_commit(&r->plain, n);
				continue;
			}
			if (n > 0)
				return (ssize_t)n;
			continue;
		case CT_ALERT:
			rc = alert(r, dst, n);
			break;
		case CT_HANDSHAKE:
			if (n == 0 || czpg_wbuf_bytes(&r->hs, dst, n) < 0)
				return rec_fail(r,
						"TLS read with %s failed: a handshake message of "
						"more than %u bytes, or an empty one",
						r->peer, REC_MAX_HANDSHAKE_MSG);
			rc = handshake_messages(r, out);
			break;
		default:
			return rec_fail(r, "TLS read with %s failed: a record of content type %u",
					r->peer, dst[n]);
		}
		if (rc != 0)
			return rc;
	}
	if (r->eof)
		return rec_fail(r,
				"server %s closed the connection during TLS read without a "
				"close_notify alert",
				r->peer);
	return CZPG_TLS_WANT_READ;
}
