/*
 * scram_server.h - the server side of SCRAM-SHA-256[-PLUS] (RFC 5802,
 * RFC 7677), for tests only: scripted servers (unit tests of conn, the
 * hostile server) need a real counterpart, and a way to misbehave.
 */
#ifndef CZPG_TEST_SCRAM_SERVER_H
#define CZPG_TEST_SCRAM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scram_server {
	/* Set by the test before use. */
	const char *password;
	uint8_t salt[16];
	uint32_t iterations;
	const char *iterations_text; /* override "i=" verbatim (hostile tests) */
	const uint8_t *cb_data;      /* tls-server-end-point hash the server sees */
	size_t cb_len;
	bool bad_nonce;     /* send a nonce that does not extend the client's */
	bool bad_signature; /* send a wrong ServerSignature */

	/* Filled as the exchange goes. */
	char gs2_header[64];
	char client_first_bare[512];
	char server_first[512];
	char nonce[256];
	char error[256];
	bool proof_ok;
};

/* Initialises with a password, a fixed salt and 4096 iterations. */
void scram_server_init(struct scram_server *s, const char *password);

/*
 * client-first -> server-first (NUL-terminated in out).  0, or -1 with
 * s->error set.
 */
int scram_server_first(struct scram_server *s, const char *client_first, size_t len, char *out,
		       size_t outlen);

/*
 * client-final -> server-final ("v=..." on success; "e=invalid-proof" when
 * the proof or the channel binding is wrong, with proof_ok false).  0 or -1.
 */
int scram_server_final(struct scram_server *s, const char *client_final, size_t len, char *out,
		       size_t outlen);

#endif
