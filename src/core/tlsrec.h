/*
 * tlsrec.h - private to core (for tlsio.c): the TLS 1.3 record layer once
 * the handshake is done (RFC 8446 section 5, "Record Protocol"; section 7,
 * "Cryptographic Computations"), over memory.
 *
 * OpenSSL makes the handshake (and so every check that proves whom we talk
 * to: chain, name, CertificateVerify, Finished); tlsio.c then hands the two
 * application traffic secrets to this module, which protects the records
 * after it: AEAD with the suite's cipher (AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305), per-record nonce = iv XOR sequence number, the record
 * header as additional data, the inner content type and padding inside.
 * That is all a pooled query needs, at about a third of the instructions of
 * OpenSSL's general record layer per record (docs/bench.md, "What TLS costs
 * per query").
 *
 * What arrives after the handshake and is not application data is handled
 * as RFC 8446 says: alerts (close_notify ends the stream; user_canceled is
 * ignored; any other alert is fatal), NewSessionTicket (ignored: sessions
 * are not resumed), KeyUpdate (the read key moves on; when the peer asks,
 * a KeyUpdate of our own goes out before our next record).  Anything else
 * (another handshake message, a record type other than application_data,
 * a bad tag, an oversized record, a record with no content type) fails the
 * connection.  Our own write key moves on by itself before a key has
 * protected 2^24 records (RFC 8446 section 5.5 limits AES-GCM to 2^24.5).
 *
 * Results are czpg/tlsio.h's: a byte count, or CZPG_TLS_WANT_READ,
 * CZPG_TLS_CLOSED, CZPG_TLS_ERROR (the sentence in czpg_tlsrec_error).
 * Bytes the layer must send (records, a KeyUpdate answer) are appended to
 * the caller's output buffer.  Nothing here touches a socket, and the
 * thread's OpenSSL error queue is left empty.
 */
#ifndef CZPG_TLSREC_H
#define CZPG_TLSREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "czpg/buf.h"

/* TLS 1.3 cipher suites (RFC 8446 appendix B.4), as SSL_CIPHER_get_protocol_id gives them. */
#define CZPG_TLSREC_AES_128_GCM_SHA256 0x1301
#define CZPG_TLSREC_AES_256_GCM_SHA384 0x1302
#define CZPG_TLSREC_CHACHA20_POLY1305_SHA256 0x1303

/* Records: at most 2^14 bytes of content; ciphertext at most 2^14 + 256. */
#define CZPG_TLSREC_MAX_CONTENT 16384u

struct czpg_tlsrec;

/* Whether this layer protects records of suite (one of the three above). */
bool czpg_tlsrec_supported(uint16_t suite);

/*
 * A record layer for one connection of suite, from the two application
 * traffic secrets (secret_len bytes each: the suite's hash length).
 * client says which side we are (the write key is then the client's).
 * peer names the other side in errors (copied).  NULL with a sentence in
 * err for an unsupported suite, a wrong secret length, or out of memory.
 */
struct czpg_tlsrec *czpg_tlsrec_new(uint16_t suite, bool client, const uint8_t *client_secret,
				    const uint8_t *server_secret, size_t secret_len,
				    const char *peer, char *err, size_t errlen);

/* Wipes and frees every key, secret and buffer.  NULL-safe. */
void czpg_tlsrec_free(struct czpg_tlsrec *r);

/*
 * Ciphertext from the network (copied).  0, or -1 (the sentence in
 * czpg_tlsrec_error) when more than max_buffered bytes would wait unread.
 */
int czpg_tlsrec_feed(struct czpg_tlsrec *r, const void *data, size_t len, size_t max_buffered);

/* The network reached end of file: a later read without a close_notify fails. */
void czpg_tlsrec_feed_eof(struct czpg_tlsrec *r);

/*
 * Up to cap bytes of application data into buf (cap > 0).  Records that
 * carry none (a ticket, a key update) are handled on the way; what we must
 * answer goes to out.  A byte count, CZPG_TLS_WANT_READ (feed more),
 * CZPG_TLS_CLOSED (close_notify) or CZPG_TLS_ERROR.
 */
ssize_t czpg_tlsrec_read(struct czpg_tlsrec *r, void *buf, size_t cap, struct czpg_wbuf *out);

/* Seals len bytes as application data records onto out: len, or CZPG_TLS_ERROR. */
ssize_t czpg_tlsrec_write(struct czpg_tlsrec *r, const void *buf, size_t len,
			  struct czpg_wbuf *out);

/* Seals a close_notify alert onto out (once; later writes fail).  0 or CZPG_TLS_ERROR. */
int czpg_tlsrec_close(struct czpg_tlsrec *r, struct czpg_wbuf *out);

/*
 * Asks for a key update: seals a KeyUpdate onto out (request_update when
 * ask_peer) and moves our write key on.  0 or CZPG_TLS_ERROR.
 */
int czpg_tlsrec_update_keys(struct czpg_tlsrec *r, bool ask_peer, struct czpg_wbuf *out);

/*
 * Seals one record of any inner content type (21 alert, 22 handshake, 23
 * application data; len at most CZPG_TLSREC_MAX_CONTENT) onto out, as a
 * peer could send it: for tests and fuzzing the read side.  0 or
 * CZPG_TLS_ERROR.
 */
int czpg_tlsrec_seal(struct czpg_tlsrec *r, uint8_t content_type, const void *data, size_t len,
		     struct czpg_wbuf *out);

/* Pads every record so that its inner plaintext is a multiple of block bytes (0: no padding). */
void czpg_tlsrec_set_padding(struct czpg_tlsrec *r, size_t block);

/* Ciphertext fed and not yet read (a partial record), and decrypted bytes not yet read. */
size_t czpg_tlsrec_buffered(const struct czpg_tlsrec *r);

/* The sentence of the failure ("" when none). */
const char *czpg_tlsrec_error(const struct czpg_tlsrec *r);

#endif
