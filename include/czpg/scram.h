/*
 * scram.h - SCRAM-SHA-256 and SCRAM-SHA-256-PLUS client, sans-I/O.
 *
 * Implements the client side of RFC 5802 (SCRAM) with SHA-256 (RFC 7677) and
 * the channel-binding type tls-server-end-point (RFC 5929 section 4), as
 * PostgreSQL uses it (PostgreSQL docs, "SASL Authentication").  The password
 * is normalised as PostgreSQL does (SASLprep, RFC 4013; see
 * czpg_scram_normalize_password below for what this client covers).
 *
 * The object never touches a socket.  The caller (the connection layer)
 * wraps the produced bytes in SASLInitialResponse / SASLResponse and feeds
 * the payloads of AuthenticationSASLContinue / AuthenticationSASLFinal back:
 *
 *   s = czpg_scram_new(password, cb, cb_data, cb_len, cache, err, errlen);
 *   czpg_scram_client_first(s, &out);          -> SASLInitialResponse
 *                                                 (mechanism: czpg_scram_mechanism_name(cb))
 *   czpg_scram_server_first(s, d, n, &out);    <- AuthenticationSASLContinue
 *                                              -> SASLResponse
 *   czpg_scram_server_final(s, d, n);          <- AuthenticationSASLFinal
 *   czpg_scram_is_verified(s)                  true only now
 *   czpg_scram_free(s);
 *
 * State machine: INIT -> NONCE_SENT -> PROOF_SENT -> FINISHED.  Any error
 * (malformed input, wrong state, failed verification) moves the object to
 * FAILED for good; every later call fails and czpg_scram_error() keeps the
 * first reason.
 *
 * Not thread-safe: one object (and one cache) per thread at a time.
 */
#ifndef CZPG_SCRAM_H
#define CZPG_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/buf.h"

/* SHA-256 output: the size of SaltedPassword, every key and the proof. */
#define CZPG_SCRAM_KEY_LEN 32
/* Random bytes in our nonce (base64-encoded on the wire: 24 characters). */
#define CZPG_SCRAM_NONCE_RAW_LEN 18
/* Default cap on the iteration count a server may ask for. */
#define CZPG_SCRAM_DEFAULT_MAX_ITERATIONS 1000000u
/* Longest cb-data accepted (the tls-server-end-point hash: 32, 48 or 64). */
#define CZPG_SCRAM_MAX_CB_DATA 64
/* Longest password accepted, in bytes. */
#define CZPG_SCRAM_MAX_PASSWORD 1024
/* Longest server-first-message / server-final-message accepted, in bytes. */
#define CZPG_SCRAM_MAX_SERVER_MESSAGE 4096
/* Default number of (salt, iterations) entries a cache holds. */
#define CZPG_SCRAM_CACHE_DEFAULT_ENTRIES 8

/*
 * Channel-binding choice; it fixes the gs2 header (RFC 5802 section 7),
 * sent at the start of client-first and, base64-encoded together with the
 * cb-data for CZPG_SCRAM_CB_TLS_SERVER_END_POINT, as c= in client-final.
 * How a connection picks one (what libpq does):
 *   - no TLS on the connection                          -> CB_NONE
 *   - TLS, but the server did not offer SCRAM-SHA-256-PLUS
 *     (or channel binding is disabled by the user)       -> CB_NOT_USED
 *   - TLS and the server offered SCRAM-SHA-256-PLUS     -> CB_TLS_SERVER_END_POINT
 */
enum czpg_scram_cb {
	CZPG_SCRAM_CB_NONE = 0,             /* "n,,": the client does not support it */
	CZPG_SCRAM_CB_NOT_USED,             /* "y,,": supported, but not used */
	CZPG_SCRAM_CB_TLS_SERVER_END_POINT, /* "p=tls-server-end-point,,": used */
};

enum czpg_scram_state {
	CZPG_SCRAM_INIT = 0,   /* created; client-first not produced yet */
	CZPG_SCRAM_NONCE_SENT, /* client-first produced; waiting for server-first */
	CZPG_SCRAM_PROOF_SENT, /* client-final produced; waiting for server-final */
	CZPG_SCRAM_FINISHED,   /* server signature verified */
	CZPG_SCRAM_FAILED,     /* an error happened; see czpg_scram_error() */
};

struct czpg_scram;
struct czpg_scram_cache;

/*
 * The SASL mechanism name for a channel-binding choice:
 * "SCRAM-SHA-256-PLUS" for CZPG_SCRAM_CB_TLS_SERVER_END_POINT,
 * "SCRAM-SHA-256" otherwise.  A static string; never NULL.
 */
const char *czpg_scram_mechanism_name(enum czpg_scram_cb cb);

/*
 * A cache of SaltedPassword values keyed by (salt, iteration count), so a
 * pool that authenticates many connections as one role pays PBKDF2 once per
 * (salt, iterations) instead of once per connection.
 *
 * A cache belongs to ONE password: the first czpg_scram_new() that uses it
 * binds it to that password (kept only as a keyed hash), and a later
 * czpg_scram_new() with a different password and the same cache fails.
 * Holds at most max_entries entries (0 = CZPG_SCRAM_CACHE_DEFAULT_ENTRIES);
 * when full, the oldest entry is replaced.  Not thread-safe.
 * Returns NULL when out of memory.  Free with czpg_scram_cache_free().
 * The cache must outlive every czpg_scram object created with it.
 */
struct czpg_scram_cache *czpg_scram_cache_new(size_t max_entries);

/* Wipes every entry and frees the cache.  NULL-safe. */
void czpg_scram_cache_free(struct czpg_scram_cache *cache);

/* Lookups that found an entry / that had to run PBKDF2 (for stats and tests). */
uint64_t czpg_scram_cache_hits(const struct czpg_scram_cache *cache);
uint64_t czpg_scram_cache_misses(const struct czpg_scram_cache *cache);

/*
 * Creates an exchange.
 *   password  NUL-terminated; copied (normalised), the copy is wiped on free.
 *   cb        channel-binding choice (see enum czpg_scram_cb).
 *   cb_data   for CZPG_SCRAM_CB_TLS_SERVER_END_POINT: the hash of the server
 *             certificate per RFC 5929 section 4.1 (computed by the TLS
 *             layer), 1..CZPG_SCRAM_MAX_CB_DATA bytes, copied; for the other
 *             choices it must be NULL / 0.
 *   cache     optional (NULL = none); see czpg_scram_cache_new().
 * Returns the object (free with czpg_scram_free()), or NULL with one
 * sentence in err (when err != NULL and errlen > 0).
 */
struct czpg_scram *czpg_scram_new(const char *password, enum czpg_scram_cb cb,
				  const uint8_t *cb_data, size_t cb_len,
				  struct czpg_scram_cache *cache, char *err, size_t errlen);

/* Wipes every secret (password, keys, proofs) and frees.  NULL-safe. */
void czpg_scram_free(struct czpg_scram *s);

/*
 * Caps the iteration count a server may ask for (default
 * CZPG_SCRAM_DEFAULT_MAX_ITERATIONS; 0 restores the default; values above
 * INT32_MAX are clamped).  Call before czpg_scram_server_first().
 */
void czpg_scram_set_max_iterations(struct czpg_scram *s, uint32_t max_iterations);

/*
 * Replaces the random client nonce with a fixed one: for test vectors only.
 * nonce must be 1..255 printable characters without ','.  Call before
 * czpg_scram_client_first().  Returns 0, or -1 (state FAILED, error set).
 */
int czpg_scram_set_nonce_for_testing(struct czpg_scram *s, const char *nonce);

/*
 * Sets the username sent in client-first (default empty "n=,", as libpq does;
 * PostgreSQL ignores it and uses the startup-packet user): for test vectors
 * only.  ',' and '=' are escaped as RFC 5802 section 5.1 says.  Call before
 * czpg_scram_client_first().  Returns 0, or -1 (state FAILED, error set).
 */
int czpg_scram_set_username_for_testing(struct czpg_scram *s, const char *username);

/*
 * Appends client-first-message ("<gs2-header>n=<user>,r=<nonce>") to out.
 * Draws the nonce from RAND_bytes unless one was set for testing.
 * Returns 0 (state NONCE_SENT), or -1 with the error set (state FAILED;
 * out may hold a partial write when out->err is set).
 */
int czpg_scram_client_first(struct czpg_scram *s, struct czpg_wbuf *out);

/*
 * Consumes server-first-message ("r=<nonce>,s=<salt>,i=<count>", exactly
 * that order, nothing after) and appends client-final-message
 * ("c=<b64(gs2-header [+ cb-data])>,r=<nonce>,p=<b64(ClientProof)>") to out.
 * Refuses: an m= extension, a nonce that does not start with ours or adds
 * nothing, non-printable nonce characters, bad or empty base64 salt, an
 * iteration count that is not a plain positive decimal or exceeds the cap,
 * missing/duplicate/out-of-order/unknown attributes, trailing bytes.
 * Runs PBKDF2 unless the cache has the SaltedPassword.
 * Returns 0 (state PROOF_SENT), or -1 with the error set (state FAILED).
 */
int czpg_scram_server_first(struct czpg_scram *s, const uint8_t *data, size_t len,
			    struct czpg_wbuf *client_final_out);

/*
 * Consumes server-final-message: "v=<b64(ServerSignature)>" (checked in
 * constant time) or "e=<server-error>" (reported, sanitised, as the error).
 * Returns 0 (state FINISHED: czpg_scram_is_verified() is now true), or -1
 * with the error set (state FAILED).
 */
int czpg_scram_server_final(struct czpg_scram *s, const uint8_t *data, size_t len);

/*
 * True only after czpg_scram_server_final() verified the server signature.
 * The connection layer must refuse AuthenticationOk before this is true: a
 * server that skips the final step has not proven it knows the password.
 */
bool czpg_scram_is_verified(const struct czpg_scram *s);

enum czpg_scram_state czpg_scram_state(const struct czpg_scram *s);

/*
 * The first error as one sentence ("" when none).  Owned by s.  Shorter
 * than CZPG_SCRAM_ERR_MAX, as are czpg_scram_new()'s sentences: a buffer of
 * that size holds any of them whole.
 */
#define CZPG_SCRAM_ERR_MAX 256
const char *czpg_scram_error(const struct czpg_scram *s);

/*
 * Derives the keys a PostgreSQL verifier stores
 * ("SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"):
 * SaltedPassword = PBKDF2-HMAC-SHA256(Normalize(password), salt, iterations),
 * StoredKey = SHA256(HMAC(SaltedPassword, "Client Key")),
 * ServerKey = HMAC(SaltedPassword, "Server Key").
 * iterations must be 1..INT32_MAX (no cap here: the caller chose it).
 * Returns 0, or -1 on bad arguments or a libcrypto failure.
 */
int czpg_scram_compute_keys(const char *password, const uint8_t *salt, size_t salt_len,
			    uint32_t iterations, uint8_t stored_key[CZPG_SCRAM_KEY_LEN],
			    uint8_t server_key[CZPG_SCRAM_KEY_LEN]);

/*
 * Hi(password, salt, iterations) of RFC 5802 section 2.2: PBKDF2-HMAC-SHA-256
 * (RFC 8018 section 5.2) with a 32-byte output, the SaltedPassword of SCRAM.
 * password is taken as password_len bytes as they are (the caller applies
 * czpg_scram_normalize_password first); password and salt may be NULL only
 * with a zero length.  Writes out and returns 0, or returns -1 when
 * iterations is 0, an argument is invalid or libcrypto fails.  Counts in
 * czpg_scram_pbkdf2_runs().
 */
int czpg_scram_hi(const uint8_t *password, size_t password_len, const uint8_t *salt,
		  size_t salt_len, uint32_t iterations, uint8_t out[CZPG_SCRAM_KEY_LEN]);

/* Outcome of czpg_scram_normalize_password(). */
enum czpg_scram_prep {
	CZPG_SCRAM_PREP_OK = 0, /* SASLprep applied; *out is the result */
	CZPG_SCRAM_PREP_RAW,    /* not UTF-8, or SASLprep refused it: *out = raw bytes */
	CZPG_SCRAM_PREP_ERROR,  /* out of memory, too long or NULL: *out = NULL */
};

/*
 * The password bytes SCRAM hashes, following PostgreSQL (saslprep.c):
 *   - pure ASCII (no byte >= 0x80): used unchanged;
 *   - valid UTF-8: RFC 4013 SASLprep: non-ASCII spaces (RFC 3454 C.1.2) map
 *     to U+0020, "commonly mapped to nothing" (B.1) characters are removed,
 *     then NFKC, then the prohibited-output (C.1.2, C.2.1, C.2.2, C.3-C.9),
 *     unassigned (A.1) and bidi (RFC 3454 section 6) checks; an empty result
 *     or any failed check means the raw bytes are used (PREP_RAW);
 *   - not valid UTF-8: the raw bytes (PREP_RAW).
 * NFKC is complete (tables generated from the Unicode database).  As in
 * PostgreSQL, the prohibited/unassigned/bidi checks look at the mapped string
 * before NFKC; since every character unassigned in Unicode 3.2 is refused,
 * NFKC only ever sees characters whose normalisation Unicode keeps stable,
 * so the result does not depend on the Unicode version of either side.
 * *out is a new NUL-terminated string; the caller wipes (OPENSSL_cleanse)
 * and frees it.
 */
enum czpg_scram_prep czpg_scram_normalize_password(const char *password, char **out);

/* How many times this process ran PBKDF2 for SCRAM (for tests and stats). */
uint64_t czpg_scram_pbkdf2_runs(void);

#endif
