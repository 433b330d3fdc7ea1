/*
 * scram_server.c - server side of SCRAM-SHA-256[-PLUS] for tests
 * (RFC 5802 section 3 and 5; channel binding per section 6 and RFC 5929).
 */
#include "scram_server.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

void scram_server_init(struct scram_server *s, const char *password)
{
	memset(s, 0, sizeof(*s));
	s->password = password;
	memcpy(s->salt, "czpg-test-salt!!", sizeof(s->salt));
	s->iterations = 4096;
}

static int b64(const uint8_t *in, size_t n, char *out, size_t cap)
{
	if (cap < 4 * ((n + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return 0;
}

static int unb64(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	int len, pad = 0;

	if (n % 4 != 0 || 3 * (n / 4) > cap)
		return -1;
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0)
		return -1;
	if (n >= 1 && in[n - 1] == '=')
		pad++;
	if (n >= 2 && in[n - 2] == '=')
		pad++;
	*outlen = (size_t)len - (size_t)pad;
	return 0;
}

static void hmac(const uint8_t *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
	unsigned int l = 32;

	HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &l);
}

int scram_server_first(struct scram_server *s, const char *cf, size_t len, char *out, size_t outlen)
{
	char msg[600], salt64[64];
	const char *bare, *r;
	size_t gs2len;

	if (len >= sizeof(msg)) {
		snprintf(s->error, sizeof(s->error), "client-first too long");
		return -1;
	}
	memcpy(msg, cf, len);
	msg[len] = '\0';
	/* gs2-header: cbind-flag "," [authzid] "," */
	bare = strchr(msg, ',');
	if (bare == NULL || (bare = strchr(bare + 1, ',')) == NULL) {
		snprintf(s->error, sizeof(s->error), "no gs2 header");
		return -1;
	}
	bare++;
	gs2len = (size_t)(bare - msg);
	if (gs2len >= sizeof(s->gs2_header))
		return -1;
	memcpy(s->gs2_header, msg, gs2len);
	s->gs2_header[gs2len] = '\0';
	snprintf(s->client_first_bare, sizeof(s->client_first_bare), "%s", bare);
	r = strstr(bare, ",r=");
	if (r == NULL) {
		snprintf(s->error, sizeof(s->error), "no client nonce");
		return -1;
	}
	if (s->bad_nonce)
		snprintf(s->nonce, sizeof(s->nonce), "someoneelsesnonce%s", "SRV");
	else
		snprintf(s->nonce, sizeof(s->nonce), "%sSRVnonce0123", r + 3);
	b64(s->salt, sizeof(s->salt), salt64, sizeof(salt64));
	if (s->iterations_text != NULL)
		snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%s", s->nonce,
			 salt64, s->iterations_text);
	else
		snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%u", s->nonce,
			 salt64, s->iterations);
	snprintf(out, outlen, "%s", s->server_first);
	return 0;
}

int scram_server_final(struct scram_server *s, const char *cfin, size_t len, char *out,
		       size_t outlen)
{
	uint8_t salted[32], client_key[32], stored_key[32], server_key[32], sig[32], proof[64];
	uint8_t cbind[128];
	char msg[800], auth[1600], expect_c[256], sig64[64];
	const char *p;
	size_t plen, cblen, i, without_proof;

	s->proof_ok = false;
	if (len >= sizeof(msg))
		return -1;
	memcpy(msg, cfin, len);
	msg[len] = '\0';
	p = strstr(msg, ",p=");
	if (p == NULL) {
		snprintf(s->error, sizeof(s->error), "no proof");
		return -1;
	}
	without_proof = (size_t)(p - msg);
	/* c= must be base64(gs2-header [+ cb-data]) */
	memcpy(cbind, s->gs2_header, strlen(s->gs2_header));
	cblen = strlen(s->gs2_header);
	if (strncmp(s->gs2_header, "p=", 2) == 0 && s->cb_data != NULL) {
		memcpy(cbind + cblen, s->cb_data, s->cb_len);
		cblen += s->cb_len;
	}
	memcpy(expect_c, "c=", 2);
	b64(cbind, cblen, expect_c + 2, sizeof(expect_c) - 2);
	snprintf(auth, sizeof(auth), "%s,%s,%.*s", s->client_first_bare, s->server_first,
		 (int)without_proof, msg);
	PKCS5_PBKDF2_HMAC(s->password, (int)strlen(s->password), s->salt, sizeof(s->salt),
			  (int)s->iterations, EVP_sha256(), 32, salted);
	hmac(salted, 32, "Client Key", 10, client_key);
	SHA256(client_key, 32, stored_key);
	hmac(salted, 32, "Server Key", 10, server_key);
	hmac(stored_key, 32, auth, strlen(auth), sig); /* ClientSignature */
	if (unb64(p + 3, strlen(p + 3), proof, sizeof(proof), &plen) < 0 || plen != 32) {
		snprintf(out, outlen, "e=invalid-encoding");
		return 0;
	}
	for (i = 0; i < 32; i++)
		proof[i] ^= sig[i]; /* recovers ClientKey */
	SHA256(proof, 32, cbind);
	if (strncmp(msg, expect_c, strlen(expect_c)) != 0 || msg[strlen(expect_c)] != ',') {
		snprintf(out, outlen, "e=channel-bindings-dont-match");
		return 0;
	}
	if (CRYPTO_memcmp(cbind, stored_key, 32) != 0) {
		snprintf(out, outlen, "e=invalid-proof");
		return 0;
	}
	s->proof_ok = true;
	hmac(server_key, 32, auth, strlen(auth), sig);
	if (s->bad_signature)
		sig[0] ^= 0x55;
	b64(sig, 32, sig64, sizeof(sig64));
	snprintf(out, outlen, "v=%s", sig64);
	OPENSSL_cleanse(salted, sizeof(salted));
	return 0;
}
