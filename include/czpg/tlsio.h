/*
 * tlsio.h - TLS client as an engine over memory (OpenSSL 3, two memory BIOs).
 *
 * OpenSSL never touches a socket here.  The caller moves bytes:
 *
 *   network -> czpg_tls_feed_ciphertext()            (what recv() returned)
 *   czpg_tls_handshake() / _read() / _write() / _shutdown()
 *   czpg_tls_peek_ciphertext() + _consume_ciphertext(),
 *     or czpg_tls_take_ciphertext()                  -> network (send())
 *
 * After EVERY call of handshake/read/write/shutdown (whatever it returned),
 * the caller sends czpg_tls_pending_ciphertext() bytes: a read can produce
 * output too (a TLS 1.3 KeyUpdate answer, an alert).
 *
 * Configuration follows libtls: one struct czpg_tls_config wraps one SSL_CTX
 * shared by every connection to the same trust store.  Secure defaults:
 * TLS 1.3 minimum, and verify-full (chain against the CA file, then the host
 * name against a DNS SAN or the IP literal against an IP SAN, as libpq's
 * sslmode=verify-full; the subject CN is never consulted).  With neither a CA
 * file nor czpg_tls_config_insecure_noverify(), czpg_tls_new() refuses to
 * create a connection rather than skip verification.
 *
 * Channel binding: tls-server-end-point, RFC 5929 section 4.1 (used by
 * SCRAM-SHA-256-PLUS, RFC 5802 section 6 / RFC 7677).
 *
 * Threads: a config may be shared by connections on any thread once it is
 * configured (it is read-only after the first czpg_tls_new()); one
 * connection is used by one thread at a time.  Every call leaves the
 * thread's OpenSSL error queue empty when it returns, so many connections
 * can share a thread.  The set-up calls (configuration, czpg_tls_new, the
 * handshake, shutdown) also empty it before they start; the record path
 * (read, write and the ciphertext calls once the handshake is done) runs per
 * query and touches the queue only when a call fails: "want read" comes
 * from the SSL object's own state, and a failed call describes its own
 * error, the newest in the queue.
 */
#ifndef CZPG_TLSIO_H
#define CZPG_TLSIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Results of czpg_tls_handshake/read/write/shutdown (byte counts are >= 0). */
#define CZPG_TLS_OK 0           /* handshake done / close_notify queued */
#define CZPG_TLS_ERROR (-1)     /* failed: czpg_tls_error(t) says why; the connection is dead */
#define CZPG_TLS_WANT_READ (-2) /* needs more ciphertext from the network: feed, call again */
#define CZPG_TLS_CLOSED (-3)    /* the peer sent close_notify: no more plaintext will come */

/* Feeding more than this much unread ciphertext is refused (caller must read in between). */
#define CZPG_TLS_MAX_BUFFERED_IN ((size_t)4 << 20)

struct czpg_tls_config;
struct czpg_tls;

/* ---- configuration (one shared SSL_CTX) ---- */

/*
 * Creates a client configuration: TLS 1.3 minimum, peer verification on, no
 * CA yet.  Returns NULL (with a sentence in err) on allocation failure.
 * Free with czpg_tls_config_free().
 */
struct czpg_tls_config *czpg_tls_config_new(char *err, size_t errlen);

/* Frees the config.  Connections made from it stay usable (they hold the SSL_CTX). NULL-safe. */
void czpg_tls_config_free(struct czpg_tls_config *cfg);

/*
 * The setters below return 0, or -1 with a sentence in czpg_tls_config_error(cfg).
 * Call them before the first czpg_tls_new() with this config.
 */

/*
 * Trusts the CA certificates in the PEM file at path (a bundle of several
 * CAs works: during CA rotation either signs).  Replaces any earlier CA file.
 * A file with no certificate in it is an error.
 */
int czpg_tls_config_set_ca_file(struct czpg_tls_config *cfg, const char *path);

/*
 * version is TLS1_2_VERSION or TLS1_3_VERSION (openssl/tls1.h); 0 for max
 * means the newest OpenSSL supports.  Defaults: min TLS 1.3, max 0.
 */
int czpg_tls_config_set_min_version(struct czpg_tls_config *cfg, int version);
int czpg_tls_config_set_max_version(struct czpg_tls_config *cfg, int version);

/* TLS 1.3 suites, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256" (SSL_CTX_set_ciphersuites).
 */
int czpg_tls_config_set_ciphersuites(struct czpg_tls_config *cfg, const char *suites);
/* TLS 1.2 cipher list, OpenSSL syntax (SSL_CTX_set_cipher_list). */
int czpg_tls_config_set_cipher_list(struct czpg_tls_config *cfg, const char *list);
/* Key exchange groups, "X25519:P-256" (SSL_CTX_set1_groups_list). */
int czpg_tls_config_set_groups(struct czpg_tls_config *cfg, const char *groups);

/*
 * INSECURE: accept any server certificate, check neither chain nor name.
 * Only for probing what a server offers when no CA is at hand; the result
 * proves encryption, not whom we talk to.
 */
void czpg_tls_config_insecure_noverify(struct czpg_tls_config *cfg);

/*
 * INSECURE: security level 0 (SSL_CTX_set_security_level(0) and the cipher
 * list "DEFAULT:@SECLEVEL=0"), and TLS 1.0 / TLS 1.1 become acceptable to
 * set_min_version / set_max_version.  OpenSSL 3 at its default level refuses
 * those versions, SHA-1 signatures and small keys on the client side; a probe
 * needs this to learn whether a server still accepts them.  Never for a
 * session that carries data.  Returns 0, or -1 (see czpg_tls_config_error).
 */
int czpg_tls_config_insecure_seclevel0(struct czpg_tls_config *cfg);

/*
 * Offers one ALPN protocol (RFC 7301), e.g. "postgresql" for PostgreSQL 17's
 * direct TLS.  Without it, no ALPN extension is sent.  0 or -1.
 */
int czpg_tls_config_set_alpn(struct czpg_tls_config *cfg, const char *protocol);

/*
 * Records go through OpenSSL's record layer unless on is true: then, after
 * a TLS 1.3 handshake, through czpg's own (tlsrec.c: AEAD over the
 * application traffic secrets OpenSSL hands over through its key log
 * callback; fewer instructions per record).  Opt-in, for bench
 * --tls-records czpg only: verify, probe and provision always use
 * OpenSSL's.  TLS 1.2, and suites other than AES-GCM and ChaCha20-Poly1305,
 * always use OpenSSL's.  The handshake is OpenSSL's either way.
 */
void czpg_tls_config_set_own_records(struct czpg_tls_config *cfg, bool on);

/* The last setter's error sentence ("" if none). Owned by cfg. */
const char *czpg_tls_config_error(const struct czpg_tls_config *cfg);

/* ---- one connection ---- */

/* Whether t's records are czpg's own (see czpg_tls_config_set_own_records). */
bool czpg_tls_own_records(const struct czpg_tls *t);

/*
 * Creates a client connection to host: a DNS name ("db.example") or an IP
 * literal ("10.0.0.5", "::1"; no brackets).  A name is sent as SNI and must
 * match a DNS SAN (wildcards only as a whole left-most label); an IP literal
 * is not sent as SNI (RFC 6066 section 3) and must match an IP SAN.
 * Returns NULL with a sentence in err when cfg has neither a CA file nor
 * insecure_noverify, when host is empty, or on allocation failure.
 * Nothing is sent until czpg_tls_handshake().  Free with czpg_tls_free().
 */
struct czpg_tls *czpg_tls_new(struct czpg_tls_config *cfg, const char *host, char *err,
			      size_t errlen);

/* Frees the connection (without sending close_notify; see czpg_tls_shutdown). NULL-safe. */
void czpg_tls_free(struct czpg_tls *t);

/*
 * Ciphertext from the network.  Copies the bytes.  Returns 0, or
 * CZPG_TLS_ERROR if more than CZPG_TLS_MAX_BUFFERED_IN bytes would sit unread.
 */
int czpg_tls_feed_ciphertext(struct czpg_tls *t, const void *data, size_t len);

/*
 * The network reached end of file (recv() returned 0).  A later read that
 * needs more bytes fails with "closed without close_notify" instead of
 * CZPG_TLS_WANT_READ.
 */
void czpg_tls_feed_eof(struct czpg_tls *t);

/* Ciphertext bytes waiting to be sent to the network. */
size_t czpg_tls_pending_ciphertext(const struct czpg_tls *t);

/*
 * Zero-copy output: *p points at czpg_tls_pending_ciphertext() bytes owned by
 * t, valid until the next call on t other than peek/pending.  Returns that
 * count (0 with *p = NULL when nothing is pending).  After sending n of them,
 * call czpg_tls_consume_ciphertext(t, n).
 */
size_t czpg_tls_peek_ciphertext(struct czpg_tls *t, const uint8_t **p);
/* Drops the first n pending bytes (n larger than pending drops all). */
void czpg_tls_consume_ciphertext(struct czpg_tls *t, size_t n);

/* Copying output: moves up to cap pending bytes into buf; returns how many. */
size_t czpg_tls_take_ciphertext(struct czpg_tls *t, void *buf, size_t cap);

/*
 * Drives the handshake, verification included.  Returns CZPG_TLS_OK when
 * done (also on later calls), CZPG_TLS_WANT_READ, or CZPG_TLS_ERROR.  Send
 * pending ciphertext after every call.
 */
int czpg_tls_handshake(struct czpg_tls *t);

/*
 * Reads up to cap bytes of plaintext into buf.  Returns a count > 0,
 * CZPG_TLS_WANT_READ (no whole record yet, or only non-data records such as
 * a TLS 1.3 NewSessionTicket), CZPG_TLS_CLOSED (close_notify received), or
 * CZPG_TLS_ERROR.  Runs the handshake first if it is not done.  Call it again
 * until WANT_READ: one feed may hold several records.
 */
ssize_t czpg_tls_read(struct czpg_tls *t, void *buf, size_t cap);

/*
 * Encrypts all len bytes (all-or-error: never a partial count).  Returns len,
 * CZPG_TLS_WANT_READ (handshake not finished: feed and call again with the
 * same arguments), or CZPG_TLS_ERROR.  len must be > 0 and <= SSIZE_MAX.
 */
ssize_t czpg_tls_write(struct czpg_tls *t, const void *buf, size_t len);

/*
 * Queues our close_notify.  Returns CZPG_TLS_OK (send the pending ciphertext,
 * then close; the peer's close_notify is not awaited) or CZPG_TLS_ERROR.
 */
int czpg_tls_shutdown(struct czpg_tls *t);

/*
 * The last failure's sentence ("" if none).  Owned by t.  Shorter than
 * CZPG_TLS_ERR_MAX, as are the sentences of czpg_tls_new() and
 * czpg_tls_config_error(): a buffer of that size holds any of them whole
 * (a sentence that names a very long path ends in "...").
 */
#define CZPG_TLS_ERR_MAX 512
const char *czpg_tls_error(const struct czpg_tls *t);

/* True once the handshake completed (and the peer was verified, unless insecure). */
bool czpg_tls_handshake_done(const struct czpg_tls *t);

/* Host given to czpg_tls_new(). */
const char *czpg_tls_host(const struct czpg_tls *t);

/* After the handshake (NULL before): "TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519". */
const char *czpg_tls_version(const struct czpg_tls *t);
const char *czpg_tls_cipher(const struct czpg_tls *t);
const char *czpg_tls_group(const struct czpg_tls *t);

/*
 * The ALPN protocol the server selected (RFC 7301), or NULL when none was
 * (or before the handshake).  Owned by t, valid while t lives.
 */
const char *czpg_tls_alpn(struct czpg_tls *t);

/*
 * The certificate chain the server sent, leaf first (as received, not as
 * verified).  Borrowed, valid while t lives.  0 / NULL before the handshake.
 */
size_t czpg_tls_peer_chain_length(const struct czpg_tls *t);
X509 *czpg_tls_peer_chain_cert(const struct czpg_tls *t, size_t i);

/*
 * The X509 verification result (X509_V_OK, X509_V_ERR_HOSTNAME_MISMATCH, ...)
 * of the last handshake attempt; X509_V_OK also when noverify.
 */
long czpg_tls_verify_result(const struct czpg_tls *t);

/* The server's leaf certificate, borrowed (valid while t lives), or NULL. */
X509 *czpg_tls_peer_certificate(const struct czpg_tls *t);

/*
 * tls-server-end-point channel binding data of the server certificate
 * (czpg_tls_cert_end_point_hash of the peer certificate).  Returns 0 and
 * fills out[0..*outlen), or -1 with the sentence in czpg_tls_error(t).
 */
int czpg_tls_server_end_point(struct czpg_tls *t, uint8_t out[EVP_MAX_MD_SIZE], size_t *outlen);

/*
 * RFC 5929 section 4.1: hash of the DER certificate with the hash of the
 * certificate's signature algorithm, MD5 and SHA-1 raised to SHA-256.  A
 * certificate whose signature has no separate digest (Ed25519, Ed448) cannot
 * be channel-bound: returns -1 with a sentence saying so.  Returns 0 and
 * fills out[0..*outlen) on success.
 */
int czpg_tls_cert_end_point_hash(X509 *cert, uint8_t out[EVP_MAX_MD_SIZE], size_t *outlen,
				 char *err, size_t errlen);

#endif
