/*
 * test_scram.c - unit tests for the SCRAM-SHA-256(-PLUS) client (scram.c):
 * the RFC 7677 section 3 test vector, verifiers stored by PostgreSQL 15,
 * Hi() (PBKDF2) against OpenSSL's PKCS5_PBKDF2_HMAC and RFC 7914's vectors,
 * SASLprep, full exchanges against a small in-test SCRAM server written
 * directly on libcrypto, and hostile or malformed server messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "czpg/scram.h"

/* ------------------------------------------------------------- helpers */

/* Base64-decodes with libcrypto (independent of the client's decoder). */
static size_t unb64(const char *in, uint8_t *out, size_t outmax)
{
	uint8_t tmp[1024];
	size_t n = strlen(in), pad = 0, len;
	int got;

	assert_true(n % 4 == 0 && n / 4 * 3 <= sizeof(tmp));
	got = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
	assert_true(got >= 0);
	if (n >= 1 && in[n - 1] == '=')
		pad++;
	if (n >= 2 && in[n - 2] == '=')
		pad++;
	len = (size_t)got - pad;
	assert_true(len <= outmax);
	memcpy(out, tmp, len);
	return len;
}

static void b64(const uint8_t *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* The bytes of a wbuf as a NUL-terminated string (test-owned static copy). */
static const char *wstr(const struct czpg_wbuf *w)
{
	static char copy[8192];

	assert_false(w->err);
	assert_true(w->len < sizeof(copy));
	memcpy(copy, w->data, w->len);
	copy[w->len] = '\0';
	return copy;
}

static void assert_error_has(const struct czpg_scram *s, const char *needle)
{
	const char *e = czpg_scram_error(s);

	if (strstr(e, needle) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", e, needle);
	assert_int_equal(czpg_scram_state(s), CZPG_SCRAM_FAILED);
	assert_false(czpg_scram_is_verified(s));
}

static struct czpg_scram *new_plain(const char *password)
{
	char err[256] = "";
	struct czpg_scram *s =
	    czpg_scram_new(password, CZPG_SCRAM_CB_NONE, NULL, 0, NULL, err, sizeof(err));

	if (s == NULL)
		fail_msg("czpg_scram_new: %s", err);
	return s;
}

/* ---------------------------------------------------- in-test SCRAM server */

/*
 * A minimal SCRAM-SHA-256 server (RFC 5802 section 3, server side), written
 * straight on libcrypto so that it shares no code with the client.
 */
struct tserver {
	const char *password; /* already normalised */
	uint8_t salt[64];
	size_t salt_len;
	int iterations;
	const char *snonce; /* the server's nonce part */
	const char *expect_gs2;
	const uint8_t *expect_cb;
	size_t expect_cb_len;
	char cfb[512];    /* client-first-bare */
	char cnonce[300]; /* client nonce */
	char server_first[600];
	uint8_t server_key[32];
	uint8_t stored_key[32];
};

static void ts_init(struct tserver *t, const char *password, const char *salt_text, int iterations)
{
	uint8_t salted[32], client_key[32];
	unsigned int l;

	memset(t, 0, sizeof(*t));
	t->password = password;
	t->salt_len = strlen(salt_text);
	memcpy(t->salt, salt_text, t->salt_len);
	t->iterations = iterations;
	t->snonce = "Srv+nonce/part";
	t->expect_gs2 = "n,,";
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), t->salt,
					   (int)t->salt_len, iterations, EVP_sha256(), 32, salted),
			 1);
	assert_non_null(
	    HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Client Key", 10, client_key, &l));
	assert_non_null(SHA256(client_key, 32, t->stored_key));
	assert_non_null(
	    HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Server Key", 10, t->server_key, &l));
}

/* Takes client-first; returns server-first. */
static const char *ts_first(struct tserver *t, const char *client_first)
{
	size_t g = strlen(t->expect_gs2);
	const char *r;
	char salt64[100];

	assert_memory_equal(client_first, t->expect_gs2, g);
	snprintf(t->cfb, sizeof(t->cfb), "%s", client_first + g);
	r = strstr(t->cfb, ",r=");
	assert_non_null(r);
	snprintf(t->cnonce, sizeof(t->cnonce), "%s", r + 3);
	b64(t->salt, t->salt_len, salt64);
	snprintf(t->server_first, sizeof(t->server_first), "r=%s%s,s=%s,i=%d", t->cnonce, t->snonce,
		 salt64, t->iterations);
	return t->server_first;
}

/*
 * Takes client-final; checks c=, r= and the proof; returns server-final
 * ("v=..." when the proof is right, "e=invalid-proof" otherwise).
 */
static const char *ts_final(struct tserver *t, const char *client_final)
{
	static char out[100];
	char expect_c[200], auth[4096], without_proof[1024], rpart[400];
	uint8_t cbind[200], proof[32], client_sig[32], client_key[32], check[32], server_sig[32];
	const char *p;
	unsigned int l;
	size_t g = strlen(t->expect_gs2), i;

	memcpy(cbind, t->expect_gs2, g);
	if (t->expect_cb_len != 0)
		memcpy(cbind + g, t->expect_cb, t->expect_cb_len);
	strcpy(expect_c, "c=");
	b64(cbind, g + t->expect_cb_len, expect_c + 2);
	assert_memory_equal(client_final, expect_c, strlen(expect_c));
	p = strstr(client_final, ",p=");
	assert_non_null(p);
	snprintf(without_proof, sizeof(without_proof), "%.*s", (int)(p - client_final),
		 client_final);
	snprintf(auth, sizeof(auth), "%s,%s,%s", t->cfb, t->server_first, without_proof);
	/* r= must be the combined nonce. */
	snprintf(rpart, sizeof(rpart), ",r=%s%s", t->cnonce, t->snonce);
	assert_non_null(strstr(without_proof, rpart));
	assert_int_equal(unb64(p + 3, proof, sizeof(proof)), 32);
	assert_non_null(HMAC(EVP_sha256(), t->stored_key, 32, (const uint8_t *)auth, strlen(auth),
			     client_sig, &l));
	for (i = 0; i < 32; i++)
		client_key[i] = proof[i] ^ client_sig[i];
	assert_non_null(SHA256(client_key, 32, check));
	if (memcmp(check, t->stored_key, 32) != 0)
		return "e=invalid-proof";
	assert_non_null(HMAC(EVP_sha256(), t->server_key, 32, (const uint8_t *)auth, strlen(auth),
			     server_sig, &l));
	strcpy(out, "v=");
	b64(server_sig, 32, out + 2);
	return out;
}

/* Runs a whole exchange of s against t; returns 0 when the client verified. */
static int run_exchange(struct czpg_scram *s, struct tserver *t, char *client_final_copy,
			size_t copylen)
{
	struct czpg_wbuf w;
	const char *sf, *fin;
	int rc = -1;

	czpg_wbuf_init(&w, 0);
	if (czpg_scram_client_first(s, &w) < 0)
		goto out;
	sf = ts_first(t, wstr(&w));
	czpg_wbuf_reset(&w);
	if (czpg_scram_server_first(s, (const uint8_t *)sf, strlen(sf), &w) < 0)
		goto out;
	if (client_final_copy != NULL)
		snprintf(client_final_copy, copylen, "%s", wstr(&w));
	fin = ts_final(t, wstr(&w));
	rc = czpg_scram_server_final(s, (const uint8_t *)fin, strlen(fin));
out:
	czpg_wbuf_free(&w);
	return rc;
}

/* Brings s to NONCE_SENT with a fixed nonce. */
static void start(struct czpg_scram *s, const char *nonce)
{
	struct czpg_wbuf w;

	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_scram_set_nonce_for_testing(s, nonce), 0);
	assert_int_equal(czpg_scram_client_first(s, &w), 0);
	czpg_wbuf_free(&w);
}

/* Feeds a server-first to a fresh exchange; returns its result; *out_s keeps s. */
static int feed_server_first(const char *msg, size_t len, struct czpg_scram **out_s)
{
	struct czpg_scram *s = new_plain("pencil");
	struct czpg_wbuf w;
	int rc;

	start(s, "cnonce");
	czpg_wbuf_init(&w, 0);
	rc = czpg_scram_server_first(s, (const uint8_t *)msg, len, &w);
	if (rc < 0)
		assert_int_equal(w.len, 0); /* nothing half-written */
	czpg_wbuf_free(&w);
	*out_s = s;
	return rc;
}

static void expect_server_first_error(const char *msg, const char *needle)
{
	struct czpg_scram *s;

	if (feed_server_first(msg, strlen(msg), &s) == 0)
		fail_msg("server-first \"%s\" was accepted", msg);
	assert_error_has(s, needle);
	czpg_scram_free(s);
}

/* ---------------------------------------------------------------- tests */

/* RFC 7677 section 3, with the username "user" the vector uses. */
static const char rfc_server_first[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char rfc_client_final[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char rfc_server_final[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

static struct czpg_scram *rfc_to_proof_sent(void)
{
	struct czpg_scram *s = new_plain("pencil");
	struct czpg_wbuf w;

	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_scram_set_username_for_testing(s, "user"), 0);
	assert_int_equal(czpg_scram_set_nonce_for_testing(s, "rOprNGfwEbeRWgbNEkqO"), 0);
	assert_int_equal(czpg_scram_client_first(s, &w), 0);
	assert_string_equal(wstr(&w), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
	assert_int_equal(czpg_scram_state(s), CZPG_SCRAM_NONCE_SENT);
	czpg_wbuf_reset(&w);
	assert_int_equal(czpg_scram_server_first(s, (const uint8_t *)rfc_server_first,
						 strlen(rfc_server_first), &w),
			 0);
	assert_string_equal(wstr(&w), rfc_client_final);
	assert_int_equal(czpg_scram_state(s), CZPG_SCRAM_PROOF_SENT);
	assert_false(czpg_scram_is_verified(s));
	czpg_wbuf_free(&w);
	return s;
}

static void test_rfc7677_vector(void **state)
{
	struct czpg_scram *s = rfc_to_proof_sent();

	assert_int_equal(
	    czpg_scram_server_final(s, (const uint8_t *)rfc_server_final, strlen(rfc_server_final)),
	    0);
	assert_true(czpg_scram_is_verified(s));
	assert_int_equal(czpg_scram_state(s), CZPG_SCRAM_FINISHED);
	assert_string_equal(czpg_scram_error(s), "");
	/* FINISHED is final: another server-final is a state error. */
	assert_int_equal(
	    czpg_scram_server_final(s, (const uint8_t *)rfc_server_final, strlen(rfc_server_final)),
	    -1);
	assert_error_has(s, "state FINISHED");
	czpg_scram_free(s);
}

static void test_wrong_server_signature(void **state)
{
	struct czpg_scram *s = rfc_to_proof_sent();
	char bad[sizeof(rfc_server_final)];

	memcpy(bad, rfc_server_final, sizeof(bad));
	bad[5] = bad[5] == 'A' ? 'B' : 'A';
	assert_int_equal(czpg_scram_server_final(s, (const uint8_t *)bad, strlen(bad)), -1);
	assert_error_has(s, "server signature is wrong");
	czpg_scram_free(s);
}

static void test_default_client_first(void **state)
{
	struct czpg_scram *s = new_plain("pencil"), *s2 = new_plain("pencil");
	struct czpg_wbuf w, w2;
	uint8_t raw[32];
	const char *msg;

	czpg_wbuf_init(&w, 0);
	czpg_wbuf_init(&w2, 0);
	assert_int_equal(czpg_scram_client_first(s, &w), 0);
	msg = wstr(&w);
	/* Empty username, 18 random bytes as 24 base64 characters. */
	assert_memory_equal(msg, "n,,n=,r=", 8);
	assert_int_equal(strlen(msg), 8 + 24);
	assert_int_equal(unb64(msg + 8, raw, sizeof(raw)), CZPG_SCRAM_NONCE_RAW_LEN);
	assert_null(strchr(msg + 8, ','));
	assert_int_equal(czpg_scram_client_first(s2, &w2), 0);
	assert_int_not_equal(memcmp(w.data, w2.data, w.len), 0); /* fresh nonce each time */
	/* client-first twice is a state error */
	assert_int_equal(czpg_scram_client_first(s, &w), -1);
	assert_error_has(s, "state NONCE_SENT");
	czpg_wbuf_free(&w);
	czpg_wbuf_free(&w2);
	czpg_scram_free(s);
	czpg_scram_free(s2);
}

static void test_username_escaping(void **state)
{
	struct czpg_scram *s = new_plain("x");
	struct czpg_wbuf w;

	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_scram_set_username_for_testing(s, "a,b=c"), 0);
	assert_int_equal(czpg_scram_set_nonce_for_testing(s, "N"), 0);
	assert_int_equal(czpg_scram_client_first(s, &w), 0);
	assert_string_equal(wstr(&w), "n,,n=a=2Cb=3Dc,r=N");
	czpg_wbuf_free(&w);
	czpg_scram_free(s);
}

static void test_mechanism_names(void **state)
{
	assert_string_equal(czpg_scram_mechanism_name(CZPG_SCRAM_CB_NONE), "SCRAM-SHA-256");
	assert_string_equal(czpg_scram_mechanism_name(CZPG_SCRAM_CB_NOT_USED), "SCRAM-SHA-256");
	assert_string_equal(czpg_scram_mechanism_name(CZPG_SCRAM_CB_TLS_SERVER_END_POINT),
			    "SCRAM-SHA-256-PLUS");
}

/*
 * Verifiers stored by PostgreSQL 15.  Produced by hand with a throwaway
 * cluster: initdb (UTF8), password_encryption = 'scram-sha-256', then
 *   CREATE ROLE r_ascii   LOGIN PASSWORD 'pencil';
 *   CREATE ROLE r_utf8    LOGIN PASSWORD 'pässwörd-Ωμέγα';
 *   CREATE ROLE r_nfkc    LOGIN PASSWORD U&'\FF50\FF41\FF53\FF53\2460\FB01\00A0A\030A';
 *   CREATE ROLE r_space   LOGIN PASSWORD U&'a\00A0b\00ADc\2003d';
 *   CREATE ROLE r_bidi    LOGIN PASSWORD 'abcשלום';
 *   CREATE ROLE r_prohib  LOGIN PASSWORD U&'pass\200Eword';
 *   CREATE ROLE r_nothing LOGIN PASSWORD U&'\00AD';
 *   -- from a SQL_ASCII database, so the bytes are not UTF-8:
 *   CREATE ROLE r_latin1  LOGIN PASSWORD E'caf\xe9';
 *   SELECT rolname, rolpassword FROM pg_authid;
 * and the cluster was deleted.  The server ran SASLprep itself, so these
 * pin our normalisation to PostgreSQL's: NFKC (r_nfkc), space mapping and
 * removal (r_space), and raw-byte fallbacks (r_bidi: RandALCat mixed with
 * LCat; r_prohib: U+200E is prohibited; r_nothing: maps to empty;
 * r_latin1: not UTF-8).
 */
static const struct {
	const char *role;
	const char *password;
	const char *verifier;
} pg_verifiers[] = {
    {"r_ascii", "pencil",
     "SCRAM-SHA-256$4096:wNr/exuzzcAeqI3gY+yPSw==$QEqk7oOyf6sk9QtHl5p2DnvMDVXUpju9mWZvN6JBHSk=:"
     "XMRZT1CFZ5vhAkiM+lsnljovycnfzHlEdovc+h/vu8E="},
    {"r_utf8", "p\xc3\xa4ssw\xc3\xb6rd-\xce\xa9\xce\xbc\xce\xad\xce\xb3\xce\xb1",
     "SCRAM-SHA-256$4096:s0Hi/OX7x9VN5zJLv+GBQA==$/A7sLbYKIAlDRIBa2qgt0cMPou4YXfR3PbJ7D7cPBXE=:"
     "aUdCO65K60fF0TbWWNRv1k1B/yLppcZimlFjFkjKoN8="},
    {"r_nfkc",
     "\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xe2\x91\xa0\xef\xac\x81\xc2\xa0"
     "A\xcc\x8a",
     "SCRAM-SHA-256$4096:ZOy29VigaI9tBsYP6K//Fg==$sHqmA7wXLoNe+Bp36DVSugWxU+f4e/E+7wK7yCuwLVI=:"
     "MsgJo9AuMEgLiqWSx7AYMnJw1sCtbXGyKzTxxNak2Cw="},
    {"r_space",
     "a\xc2\xa0"
     "b\xc2\xad"
     "c\xe2\x80\x83"
     "d",
     "SCRAM-SHA-256$4096:+HyoczM7liB2ryIiG+pFsg==$wdnGQroepG6kVj7s1Ym6TQZ24YViJXIOOItU7hon1Ww=:"
     "5qO6uiLYQbc5tYACRFVlgd0vob+nwFOEId9s+YpPc2o="},
    {"r_bidi", "abc\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",
     "SCRAM-SHA-256$4096:dOLf+SOqIZe4X5uznNVa6A==$7oU+NJJV7BxJNzeYY4WzUPjDKDSySd2GQUFqqO20Rzw=:"
     "ihlh5RLDzOmoNOw6dbEOO/r6ptBBbT5Ev3hnd3gSrMc="},
    {"r_prohib", "pass\xe2\x80\x8eword",
     "SCRAM-SHA-256$4096:2/j1h9jXtxGxgFiCVMlheg==$LOZizxxKEE7gSG+PxJQVr3VQ57fEQR9S6ZpigkP17cY=:"
     "3YeEmeqrfZbdF60WuyLcYSKyx3WlC2Cu4SpfZ/qTYec="},
    {"r_nothing", "\xc2\xad",
     "SCRAM-SHA-256$4096:W4Npo7H/kV2D9YqVwnKqdQ==$NgOHruBsXkvUy0yp4C2RW0KmBfsJYZFB9cx4DoZ8m7M=:"
     "S4megAF6rNOyW4kdGAcoRnMI6f3a6jPGIrJEB46Ikg8="},
    {"r_latin1", "caf\xe9",
     "SCRAM-SHA-256$4096:seASh6nlb38dlaaiLMJtPA==$KbtUh5+71/93x0MQ9O1bsgyCr2WvXFX/nurhEwIstFI=:"
     "ZZsSk2HiUolQBWC5l/8D04AVECIf4IKU2lyHq3q2Msg="},
};

static void test_postgres_verifiers(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(pg_verifiers) / sizeof(pg_verifiers[0]); i++) {
		char buf[256], *iter, *salt64, *stored64, *server64;
		uint8_t salt[64], stored[32], server[32];
		uint8_t got_stored[CZPG_SCRAM_KEY_LEN], got_server[CZPG_SCRAM_KEY_LEN];
		size_t salt_len;

		/* SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey> */
		snprintf(buf, sizeof(buf), "%s", pg_verifiers[i].verifier);
		assert_memory_equal(buf, "SCRAM-SHA-256$", 14);
		iter = buf + 14;
		salt64 = strchr(iter, ':');
		assert_non_null(salt64);
		*salt64++ = '\0';
		stored64 = strchr(salt64, '$');
		assert_non_null(stored64);
		*stored64++ = '\0';
		server64 = strchr(stored64, ':');
		assert_non_null(server64);
		*server64++ = '\0';
		salt_len = unb64(salt64, salt, sizeof(salt));
		assert_int_equal(unb64(stored64, stored, sizeof(stored)), 32);
		assert_int_equal(unb64(server64, server, sizeof(server)), 32);
		assert_int_equal(czpg_scram_compute_keys(pg_verifiers[i].password, salt, salt_len,
							 (uint32_t)atoi(iter), got_stored,
							 got_server),
				 0);
		if (memcmp(got_stored, stored, 32) != 0 || memcmp(got_server, server, 32) != 0)
			fail_msg("keys for %s differ from PostgreSQL's verifier",
				 pg_verifiers[i].role);
	}
}

static void test_compute_keys_bad_args(void **state)
{
	uint8_t a[32], b[32];

	assert_int_equal(czpg_scram_compute_keys("x", NULL, 0, 4096, a, b), -1);
	assert_int_equal(czpg_scram_compute_keys("x", (const uint8_t *)"s", 1, 0, a, b), -1);
	assert_int_equal(czpg_scram_compute_keys(NULL, (const uint8_t *)"s", 1, 1, a, b), -1);
}

/* czpg_scram_hi against OpenSSL's PKCS5_PBKDF2_HMAC, the oracle. */
static void expect_hi_equals_oracle(const uint8_t *pw, size_t pwlen, const uint8_t *salt,
				    size_t salt_len, uint32_t iterations)
{
	uint8_t got[CZPG_SCRAM_KEY_LEN], want[CZPG_SCRAM_KEY_LEN];
	uint64_t runs = czpg_scram_pbkdf2_runs();

	assert_int_equal(PKCS5_PBKDF2_HMAC((const char *)pw, (int)pwlen, salt, (int)salt_len,
					   (int)iterations, EVP_sha256(), sizeof(want), want),
			 1);
	memset(got, 0xa5, sizeof(got));
	assert_int_equal(czpg_scram_hi(pw, pwlen, salt, salt_len, iterations, got), 0);
	if (memcmp(got, want, sizeof(want)) != 0)
		fail_msg("Hi() differs from PBKDF2 for a %zu-byte password, %zu-byte salt, "
			 "%u iterations",
			 pwlen, salt_len, iterations);
	assert_int_equal(czpg_scram_pbkdf2_runs() - runs, 1);
}

static void test_hi_matches_pbkdf2(void **state)
{
	static const uint32_t iterations[] = {1, 2, 4096, 10000};
	uint8_t long_pw[200], salt_random[16];
	struct {
		const uint8_t *p;
		size_t n;
	} pws[] = {
	    {(const uint8_t *)"pencil", 6},
	    {(const uint8_t *)"", 0},
	    {(const uint8_t *)"a\0b", 3}, /* a NUL byte is part of the key */
	    {long_pw, 32},                /* = SHA-256 output */
	    {long_pw, 64},                /* = one block: used as it is */
	    {long_pw, 65},                /* > one block: hashed first (RFC 2104) */
	    {long_pw, sizeof(long_pw)},
	};
	struct {
		const uint8_t *p;
		size_t n;
	} salts[] = {
	    {salt_random, sizeof(salt_random)},
	    {(const uint8_t *)"s", 1},
	    {long_pw, 60}, /* S || INT(1) fills a block: the inner hash takes two */
	    {long_pw, 150},
	};
	size_t i, j, k;

	for (i = 0; i < sizeof(long_pw); i++)
		long_pw[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(RAND_bytes(salt_random, sizeof(salt_random)), 1);
	for (i = 0; i < sizeof(pws) / sizeof(pws[0]); i++)
		for (j = 0; j < sizeof(salts) / sizeof(salts[0]); j++)
			for (k = 0; k < sizeof(iterations) / sizeof(iterations[0]); k++)
				expect_hi_equals_oracle(pws[i].p, pws[i].n, salts[j].p, salts[j].n,
							iterations[k]);
}

/* RFC 7914 section 11: PBKDF2-HMAC-SHA256, the first 32 bytes of its outputs. */
static void test_hi_rfc7914_vectors(void **state)
{
	static const uint8_t want1[32] = {0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f,
					  0xec, 0x16, 0x91, 0xc2, 0x25, 0x44, 0xb6, 0x05,
					  0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65,
					  0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d, 0xac, 0xbc};
	static const uint8_t want80000[32] = {0x4d, 0xdc, 0xd8, 0xf6, 0x0b, 0x98, 0xbe, 0x21,
					      0x83, 0x0c, 0xee, 0x5e, 0xf2, 0x27, 0x01, 0xf9,
					      0x64, 0x1a, 0x44, 0x18, 0xd0, 0x4c, 0x04, 0x14,
					      0xae, 0xff, 0x08, 0x87, 0x6b, 0x34, 0xab, 0x56};
	uint8_t got[CZPG_SCRAM_KEY_LEN];

	assert_int_equal(
	    czpg_scram_hi((const uint8_t *)"passwd", 6, (const uint8_t *)"salt", 4, 1, got), 0);
	assert_memory_equal(got, want1, sizeof(want1));
	assert_int_equal(
	    czpg_scram_hi((const uint8_t *)"Password", 8, (const uint8_t *)"NaCl", 4, 80000, got),
	    0);
	assert_memory_equal(got, want80000, sizeof(want80000));
}

/*
 * HMAC replaces a key longer than a block by its SHA-256 (RFC 2104 section
 * 2), so a 100-byte password and its hash give the same Hi(); a key of
 * exactly one block is used as it is, so it differs from its hash.
 */
static void test_hi_long_password(void **state)
{
	uint8_t pw[100], digest[SHA256_DIGEST_LENGTH], a[CZPG_SCRAM_KEY_LEN], b[CZPG_SCRAM_KEY_LEN];
	static const uint8_t salt[] = "QSXCR+Q6sek8bf92";

	memset(pw, 'x', sizeof(pw));
	assert_non_null(SHA256(pw, sizeof(pw), digest));
	assert_int_equal(czpg_scram_hi(pw, sizeof(pw), salt, 16, 4096, a), 0);
	assert_int_equal(czpg_scram_hi(digest, sizeof(digest), salt, 16, 4096, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_non_null(SHA256(pw, 64, digest));
	assert_int_equal(czpg_scram_hi(pw, 64, salt, 16, 4096, a), 0);
	assert_int_equal(czpg_scram_hi(digest, sizeof(digest), salt, 16, 4096, b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_hi_bad_args(void **state)
{
	uint8_t out[CZPG_SCRAM_KEY_LEN];
	uint64_t runs = czpg_scram_pbkdf2_runs();

	assert_int_equal(czpg_scram_hi((const uint8_t *)"x", 1, (const uint8_t *)"s", 1, 0, out),
			 -1);
	assert_int_equal(czpg_scram_hi(NULL, 1, (const uint8_t *)"s", 1, 1, out), -1);
	assert_int_equal(czpg_scram_hi((const uint8_t *)"x", 1, NULL, 1, 1, out), -1);
	assert_int_equal(czpg_scram_hi((const uint8_t *)"x", 1, (const uint8_t *)"s", 1, 1, NULL),
			 -1);
	assert_int_equal(czpg_scram_pbkdf2_runs(), runs);
}

static void expect_prep(const char *in, enum czpg_scram_prep rc, const char *out)
{
	char *got = NULL;

	assert_int_equal(czpg_scram_normalize_password(in, &got), rc);
	assert_non_null(got);
	assert_string_equal(got, out);
	free(got);
}

static void test_saslprep(void **state)
{
	char longpw[CZPG_SCRAM_MAX_PASSWORD + 2], *got = (char *)1;

	/* ASCII is used unchanged, even control characters (as PostgreSQL does). */
	expect_prep("pencil", CZPG_SCRAM_PREP_OK, "pencil");
	expect_prep("tab\there", CZPG_SCRAM_PREP_OK, "tab\there");
	expect_prep("", CZPG_SCRAM_PREP_OK, "");
	/* Already NFKC: unchanged. */
	expect_prep("p\xc3\xa4ss", CZPG_SCRAM_PREP_OK, "p\xc3\xa4ss");
	expect_prep("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", CZPG_SCRAM_PREP_OK,
		    "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"); /* RandALCat only */
	/* Fullwidth, circled digit, ligature: NFKC; NBSP -> space; A + ring composes. */
	expect_prep("\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xe2\x91\xa0\xef\xac\x81"
		    "\xc2\xa0"
		    "A\xcc\x8a",
		    CZPG_SCRAM_PREP_OK, "pass1fi \xc3\x85");
	/* Non-ASCII spaces map to space, soft hyphen and ZWJ map to nothing. */
	expect_prep("a\xc2\xa0"
		    "b\xc2\xad"
		    "c\xe2\x80\x83"
		    "d\xe2\x80\x8d",
		    CZPG_SCRAM_PREP_OK, "a bc d");
	/* Hangul: conjoining jamo compose into a syllable. */
	expect_prep("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", CZPG_SCRAM_PREP_OK, "\xea\xb0\x81");
	/* Combining marks are put in canonical order before composing. */
	expect_prep("a\xcc\xa3\xcc\x82", CZPG_SCRAM_PREP_OK, "\xe1\xba\xad");
	expect_prep("a\xcc\x82\xcc\xa3", CZPG_SCRAM_PREP_OK, "\xe1\xba\xad");

	/* Refused by SASLprep: the raw bytes are used. */
	expect_prep("abc\xd7\xa9", CZPG_SCRAM_PREP_RAW, "abc\xd7\xa9"); /* LCat + RandALCat */
	expect_prep("\xd7\xa9"
		    "1",
		    CZPG_SCRAM_PREP_RAW,
		    "\xd7\xa9"
		    "1"); /* ends not RandAL */
	expect_prep("pass\xe2\x80\x8eword", CZPG_SCRAM_PREP_RAW, "pass\xe2\x80\x8eword");
	expect_prep("x\xc2\x80", CZPG_SCRAM_PREP_RAW, "x\xc2\x80");         /* C.2.2 control */
	expect_prep("x\xee\x80\x80", CZPG_SCRAM_PREP_RAW, "x\xee\x80\x80"); /* private use */
	expect_prep("x\xc8\xb7", CZPG_SCRAM_PREP_RAW, "x\xc8\xb7"); /* U+0237: unassigned in 3.2 */
	expect_prep("\xc2\xad", CZPG_SCRAM_PREP_RAW, "\xc2\xad");   /* maps to empty */
	/* Not UTF-8: raw bytes. */
	expect_prep("caf\xe9", CZPG_SCRAM_PREP_RAW, "caf\xe9");
	expect_prep("\xc0\xaf", CZPG_SCRAM_PREP_RAW, "\xc0\xaf");                 /* overlong */
	expect_prep("\xed\xa0\x80", CZPG_SCRAM_PREP_RAW, "\xed\xa0\x80");         /* surrogate */
	expect_prep("\xf4\x90\x80\x80", CZPG_SCRAM_PREP_RAW, "\xf4\x90\x80\x80"); /* > 10FFFF */
	expect_prep("\xe2\x82", CZPG_SCRAM_PREP_RAW, "\xe2\x82");                 /* truncated */

	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	assert_int_equal(czpg_scram_normalize_password(longpw, &got), CZPG_SCRAM_PREP_ERROR);
	assert_null(got);
	assert_int_equal(czpg_scram_normalize_password(NULL, &got), CZPG_SCRAM_PREP_ERROR);
}

static void test_new_argument_checks(void **state)
{
	char err[256];
	uint8_t cb[65] = {0};
	char longpw[CZPG_SCRAM_MAX_PASSWORD + 2];

	err[0] = '\0';
	assert_null(czpg_scram_new(NULL, CZPG_SCRAM_CB_NONE, NULL, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "no password"));
	assert_null(czpg_scram_new("x", CZPG_SCRAM_CB_TLS_SERVER_END_POINT, NULL, 0, NULL, err,
				   sizeof(err)));
	assert_non_null(strstr(err, "tls-server-end-point hash"));
	assert_null(czpg_scram_new("x", CZPG_SCRAM_CB_TLS_SERVER_END_POINT, cb, 65, NULL, err,
				   sizeof(err)));
	assert_non_null(strstr(err, "tls-server-end-point hash"));
	assert_null(czpg_scram_new("x", CZPG_SCRAM_CB_NONE, cb, 32, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "not in use"));
	assert_null(czpg_scram_new("x", CZPG_SCRAM_CB_NOT_USED, cb, 32, NULL, err, sizeof(err)));
	assert_null(czpg_scram_new("x", (enum czpg_scram_cb)7, NULL, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "unknown"));
	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	assert_null(czpg_scram_new(longpw, CZPG_SCRAM_CB_NONE, NULL, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "longer than 1024"));
	/* NULL err is allowed. */
	assert_null(czpg_scram_new(NULL, CZPG_SCRAM_CB_NONE, NULL, 0, NULL, NULL, 0));
	/* Free functions are NULL-safe. */
	czpg_scram_free(NULL);
	czpg_scram_cache_free(NULL);
}

static void test_exchange_plain(void **state)
{
	struct tserver t;
	struct czpg_scram *s = new_plain("hunter2");

	ts_init(&t, "hunter2", "0123456789abcdef", 64);
	assert_int_equal(run_exchange(s, &t, NULL, 0), 0);
	assert_true(czpg_scram_is_verified(s));
	czpg_scram_free(s);
}

static void test_exchange_normalised_password(void **state)
{
	struct tserver t;
	/* The client gets fullwidth letters; the server stored the NFKC form. */
	struct czpg_scram *s = new_plain("\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93");

	ts_init(&t, "pass", "salt-for-nfkc", 32);
	assert_int_equal(run_exchange(s, &t, NULL, 0), 0);
	czpg_scram_free(s);
}

static void test_exchange_wrong_password(void **state)
{
	struct tserver t;
	struct czpg_scram *s = new_plain("hunter3");

	ts_init(&t, "hunter2", "0123456789abcdef", 64);
	assert_int_equal(run_exchange(s, &t, NULL, 0), -1);
	assert_error_has(s, "the server rejected the SCRAM exchange: invalid-proof");
	czpg_scram_free(s);
}

static void test_exchange_y(void **state)
{
	struct tserver t;
	char err[256];
	struct czpg_scram *s =
	    czpg_scram_new("pw", CZPG_SCRAM_CB_NOT_USED, NULL, 0, NULL, err, sizeof(err));
	char final[512];

	assert_non_null(s);
	ts_init(&t, "pw", "yyyyyyyy", 16);
	t.expect_gs2 = "y,,";
	assert_int_equal(run_exchange(s, &t, final, sizeof(final)), 0);
	assert_memory_equal(final, "c=eSws,", 7); /* base64("y,,") */
	czpg_scram_free(s);
}

static void test_exchange_plus(void **state)
{
	struct tserver t;
	char err[256], final[512], expect[200];
	uint8_t cb[32], decoded[128];
	size_t i, n;
	struct czpg_scram *s;
	static const char hdr[] = "p=tls-server-end-point,,";

	for (i = 0; i < sizeof(cb); i++)
		cb[i] = (uint8_t)(i * 7 + 1);
	s = czpg_scram_new("pw", CZPG_SCRAM_CB_TLS_SERVER_END_POINT, cb, sizeof(cb), NULL, err,
			   sizeof(err));
	assert_non_null(s);
	ts_init(&t, "pw", "plus-salt", 16);
	t.expect_gs2 = hdr;
	t.expect_cb = cb;
	t.expect_cb_len = sizeof(cb);
	assert_int_equal(run_exchange(s, &t, final, sizeof(final)), 0);
	/* c= is exactly base64(gs2 header || cb-data). */
	assert_memory_equal(final, "c=", 2);
	n = (size_t)(strchr(final, ',') - final) - 2;
	snprintf(expect, sizeof(expect), "%.*s", (int)n, final + 2);
	n = unb64(expect, decoded, sizeof(decoded));
	assert_int_equal(n, strlen(hdr) + sizeof(cb));
	assert_memory_equal(decoded, hdr, strlen(hdr));
	assert_memory_equal(decoded + strlen(hdr), cb, sizeof(cb));
	assert_true(czpg_scram_is_verified(s));
	czpg_scram_free(s);

	/* Different cb-data: the server's check of c= fails the test server. */
	cb[0] ^= 1;
	s = czpg_scram_new("pw", CZPG_SCRAM_CB_TLS_SERVER_END_POINT, cb, sizeof(cb), NULL, err,
			   sizeof(err));
	assert_non_null(s);
	{
		struct czpg_wbuf w;
		const char *sf;

		czpg_wbuf_init(&w, 0);
		assert_int_equal(czpg_scram_client_first(s, &w), 0);
		assert_memory_equal(w.data, "p=tls-server-end-point,,n=,r=", 29);
		sf = ts_first(&t, wstr(&w));
		czpg_wbuf_reset(&w);
		assert_int_equal(czpg_scram_server_first(s, (const uint8_t *)sf, strlen(sf), &w),
				 0);
		assert_memory_not_equal(wstr(&w), final, strchr(final, ',') - final);
		czpg_wbuf_free(&w);
	}
	czpg_scram_free(s);
}

static void test_server_nonce(void **state)
{
	struct czpg_scram *s;
	static const char ok[] = "r=cnonceSRV,s=c2FsdA==,i=1";

	/* baseline: accepted */
	assert_int_equal(feed_server_first(ok, strlen(ok), &s), 0);
	czpg_scram_free(s);
	expect_server_first_error("r=xnonceSRV,s=c2FsdA==,i=1", "does not start with the client");
	expect_server_first_error("r=cnonc,s=c2FsdA==,i=1", "does not start with the client");
	expect_server_first_error("r=,s=c2FsdA==,i=1", "does not start with the client");
	expect_server_first_error("r=cnonce,s=c2FsdA==,i=1", "adds nothing");
	expect_server_first_error("r=cnonce\x7f,s=c2FsdA==,i=1", "non-printable");
	expect_server_first_error("r=cnonce x,s=c2FsdA==,i=1", "non-printable");
	expect_server_first_error("r=cnonce\xc3\xa9,s=c2FsdA==,i=1", "non-printable");
}

static void test_iterations(void **state)
{
	struct czpg_scram *s;
	struct czpg_wbuf w;
	static const char ok[] = "r=cnonceS,s=c2FsdA==,i=0004";

	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=2147483647",
				  "iteration count 2147483647 exceeds the limit 1000000");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=99999999999999999999999",
				  "exceeds the limit 1000000");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=0", "is 0");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=-1", "\"-1\" from the server is not a");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=+5", "\"+5\" from the server is not a");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=4096x", "\"4096x\"");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i= 4096", "not a positive decimal");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=", "not a positive decimal");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=1.5", "not a positive decimal");
	/* leading zeros are still a decimal number */
	assert_int_equal(feed_server_first(ok, strlen(ok), &s), 0);
	czpg_scram_free(s);

	/* A lower cap, set by the caller. */
	s = new_plain("pencil");
	czpg_scram_set_max_iterations(s, 100);
	start(s, "cnonce");
	czpg_wbuf_init(&w, 0);
	assert_int_equal(
	    czpg_scram_server_first(s, (const uint8_t *)"r=cnonceS,s=c2FsdA==,i=101", 26, &w), -1);
	assert_error_has(s, "iteration count 101 exceeds the limit 100");
	czpg_wbuf_free(&w);
	czpg_scram_free(s);
	s = new_plain("pencil");
	czpg_scram_set_max_iterations(s, 100);
	start(s, "cnonce");
	czpg_wbuf_init(&w, 0);
	assert_int_equal(
	    czpg_scram_server_first(s, (const uint8_t *)"r=cnonceS,s=c2FsdA==,i=100", 26, &w), 0);
	czpg_wbuf_free(&w);
	czpg_scram_free(s);
}

static void test_attributes(void **state)
{
	expect_server_first_error("s=c2FsdA==,r=cnonceS,i=1",
				  "expected attribute \"r\" but found \"s\"");
	expect_server_first_error("r=cnonceS,i=1,s=c2FsdA==",
				  "expected attribute \"s\" but found \"i\"");
	expect_server_first_error("r=cnonceS,r=cnonceS,s=c2FsdA==,i=1", "\"r\" appears twice");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,s=c2FsdA==,i=1", "\"s\" appears twice");
	expect_server_first_error("r=cnonceS,s=c2FsdA==", "attribute \"i\" is missing");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,", "attribute \"i\" is missing");
	expect_server_first_error("r=cnonceS", "attribute \"s\" is missing");
	expect_server_first_error("r=cnonceS,i=1", "expected attribute \"s\"");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=1,i=1", "unexpected data after");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=1,x=ext", "unexpected data after");
	expect_server_first_error("r=cnonceS,s=c2FsdA==,i=1,", "unexpected data after");
	expect_server_first_error("m=must-understand,r=cnonceS,s=c2FsdA==,i=1", "extension (m=)");
	expect_server_first_error("r=cnonceS,m=x,s=c2FsdA==,i=1", "extension (m=)");
	expect_server_first_error("rcnonceS,s=c2FsdA==,i=1", "has no '='");
	expect_server_first_error("r", "has no '='");
	expect_server_first_error("\x01=x", "byte 0x01");
	expect_server_first_error(",", "expected attribute \"r\"");
}

static void test_salt(void **state)
{
	expect_server_first_error("r=cnonceS,s=,i=1", "empty SCRAM salt");
	expect_server_first_error("r=cnonceS,s=abc,i=1", "not valid base64");
	expect_server_first_error("r=cnonceS,s=ab!d,i=1", "not valid base64");
	expect_server_first_error("r=cnonceS,s=====,i=1", "not valid base64");
	expect_server_first_error("r=cnonceS,s=a===,i=1", "not valid base64");
	expect_server_first_error("r=cnonceS,s=ab=c,i=1", "not valid base64");
	expect_server_first_error("r=cnonceS,s=ab==cdef,i=1", "not valid base64");
	expect_server_first_error("r=cnonceS,s=c2Fs dA==,i=1", "not valid base64");
}

static void test_empty_and_oversized(void **state)
{
	struct czpg_scram *s;
	struct czpg_wbuf w;
	char *big;

	s = new_plain("x");
	start(s, "cnonce");
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_scram_server_first(s, NULL, 0, &w), -1);
	assert_error_has(s, "empty SCRAM server-first-message");
	czpg_scram_free(s);

	assert_int_equal(feed_server_first("", 0, &s), -1);
	assert_error_has(s, "empty");
	czpg_scram_free(s);

	assert_int_equal(feed_server_first("r=cnonceS\0,s=c2FsdA==,i=1", 25, &s), -1);
	assert_error_has(s, "NUL byte");
	czpg_scram_free(s);

	big = malloc(CZPG_SCRAM_MAX_SERVER_MESSAGE + 1);
	assert_non_null(big);
	memset(big, 'a', CZPG_SCRAM_MAX_SERVER_MESSAGE + 1);
	memcpy(big, "r=cnonce", 8);
	assert_int_equal(feed_server_first(big, CZPG_SCRAM_MAX_SERVER_MESSAGE + 1, &s), -1);
	assert_error_has(s, "more than the limit of 4096");
	czpg_scram_free(s);
	free(big);

	/* A full output buffer is an error, not a silent truncation. */
	s = new_plain("x");
	czpg_wbuf_init(&w, 10);
	assert_int_equal(czpg_scram_client_first(s, &w), -1);
	assert_error_has(s, "output buffer is full");
	czpg_wbuf_free(&w);
	czpg_scram_free(s);
}

static void test_server_final(void **state)
{
	static const struct {
		const char *msg;
		const char *needle;
	} cases[] = {
	    {"e=invalid-proof", "rejected the SCRAM exchange: invalid-proof"},
	    {"e=other-error\x01\xff", "rejected the SCRAM exchange: other-error??"},
	    {"e=", "(no reason given)"},
	    {"v=", "SHA-256 gives 32"},
	    {"v=AAAA", "is 3 bytes"},
	    {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "not valid base64"},
	    {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=1", "unexpected data after"},
	    {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,", "unexpected data after"},
	    {"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "expected attribute \"v\""},
	    {"m=x", "extension (m=)"},
	    {"v", "has no '='"},
	    {"", "empty SCRAM server-final-message"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct czpg_scram *s = rfc_to_proof_sent();

		assert_int_equal(
		    czpg_scram_server_final(s, (const uint8_t *)cases[i].msg, strlen(cases[i].msg)),
		    -1);
		assert_error_has(s, cases[i].needle);
		/* no way back: even the right signature fails now */
		assert_int_equal(czpg_scram_server_final(s, (const uint8_t *)rfc_server_final,
							 strlen(rfc_server_final)),
				 -1);
		assert_error_has(s, cases[i].needle);
		czpg_scram_free(s);
	}
}

static void test_state_errors(void **state)
{
	struct czpg_scram *s;
	struct czpg_wbuf w;

	czpg_wbuf_init(&w, 0);
	/* server-final before anything */
	s = new_plain("pencil");
	assert_int_equal(
	    czpg_scram_server_final(s, (const uint8_t *)rfc_server_final, strlen(rfc_server_final)),
	    -1);
	assert_error_has(s, "in state INIT");
	czpg_scram_free(s);
	/* server-final right after client-first (server-first skipped) */
	s = new_plain("pencil");
	start(s, "rOprNGfwEbeRWgbNEkqO");
	assert_int_equal(
	    czpg_scram_server_final(s, (const uint8_t *)rfc_server_final, strlen(rfc_server_final)),
	    -1);
	assert_error_has(s, "in state NONCE_SENT");
	czpg_scram_free(s);
	/* server-first before client-first */
	s = new_plain("pencil");
	assert_int_equal(czpg_scram_server_first(s, (const uint8_t *)rfc_server_first,
						 strlen(rfc_server_first), &w),
			 -1);
	assert_error_has(s, "in state INIT");
	/* ... and everything after a failure fails, keeping the first reason */
	assert_int_equal(czpg_scram_client_first(s, &w), -1);
	assert_error_has(s, "server-first-message arrived in state INIT");
	czpg_scram_free(s);
	/* server-first twice */
	s = rfc_to_proof_sent();
	assert_int_equal(czpg_scram_server_first(s, (const uint8_t *)rfc_server_first,
						 strlen(rfc_server_first), &w),
			 -1);
	assert_error_has(s, "in state PROOF_SENT");
	czpg_scram_free(s);
	/* test setters only before client-first, and checked */
	s = new_plain("pencil");
	assert_int_equal(czpg_scram_set_nonce_for_testing(s, "a,b"), -1);
	assert_error_has(s, "without ','");
	czpg_scram_free(s);
	s = new_plain("pencil");
	start(s, "abc");
	assert_int_equal(czpg_scram_set_username_for_testing(s, "u"), -1);
	assert_error_has(s, "before client-first");
	czpg_scram_free(s);
	assert_false(czpg_scram_is_verified(NULL));
	czpg_wbuf_free(&w);
}

static void test_cache(void **state)
{
	struct czpg_scram_cache *c = czpg_scram_cache_new(2);
	struct tserver t;
	char err[256], final1[512], final2[512];
	struct czpg_scram *s;
	uint64_t runs;
	int i;

	assert_non_null(c);
	ts_init(&t, "pool-pw", "salt-one", 256);

	/* First connection: PBKDF2 runs once. */
	runs = czpg_scram_pbkdf2_runs();
	s = czpg_scram_new("pool-pw", CZPG_SCRAM_CB_NONE, NULL, 0, c, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(czpg_scram_set_nonce_for_testing(s, "samenonce"), 0);
	assert_int_equal(run_exchange(s, &t, final1, sizeof(final1)), 0);
	czpg_scram_free(s);
	assert_int_equal(czpg_scram_pbkdf2_runs() - runs, 1);
	assert_int_equal(czpg_scram_cache_misses(c), 1);
	assert_int_equal(czpg_scram_cache_hits(c), 0);

	/* Second connection, same salt and count: no PBKDF2, same proof. */
	s = czpg_scram_new("pool-pw", CZPG_SCRAM_CB_NONE, NULL, 0, c, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(czpg_scram_set_nonce_for_testing(s, "samenonce"), 0);
	assert_int_equal(run_exchange(s, &t, final2, sizeof(final2)), 0);
	czpg_scram_free(s);
	assert_int_equal(czpg_scram_pbkdf2_runs() - runs, 1);
	assert_int_equal(czpg_scram_cache_hits(c), 1);
	assert_string_equal(final1, final2);

	/* Random nonces, many connections: still verified, still no PBKDF2. */
	for (i = 0; i < 5; i++) {
		s = czpg_scram_new("pool-pw", CZPG_SCRAM_CB_NONE, NULL, 0, c, err, sizeof(err));
		assert_non_null(s);
		assert_int_equal(run_exchange(s, &t, NULL, 0), 0);
		czpg_scram_free(s);
	}
	assert_int_equal(czpg_scram_pbkdf2_runs() - runs, 1);

	/* Another iteration count is another key: PBKDF2 again. */
	ts_init(&t, "pool-pw", "salt-one", 257);
	s = czpg_scram_new("pool-pw", CZPG_SCRAM_CB_NONE, NULL, 0, c, err, sizeof(err));
	assert_int_equal(run_exchange(s, &t, NULL, 0), 0);
	czpg_scram_free(s);
	assert_int_equal(czpg_scram_pbkdf2_runs() - runs, 2);

	/* A third entry evicts the oldest (capacity 2): salt-one/256 is recomputed. */
	ts_init(&t, "pool-pw", "salt-two", 256);
	s = czpg_scram_new("pool-pw", CZPG_SCRAM_CB_NONE, NULL, 0, c, err, sizeof(err));
	assert_int_equal(run_exchange(s, &t, NULL, 0), 0);
	czpg_scram_free(s);
	assert_int_equal(czpg_scram_pbkdf2_runs() - runs, 3);
	ts_init(&t, "pool-pw", "salt-one", 256);
	s = czpg_scram_new("pool-pw", CZPG_SCRAM_CB_NONE, NULL, 0, c, err, sizeof(err));
	assert_int_equal(run_exchange(s, &t, NULL, 0), 0);
	czpg_scram_free(s);
	assert_int_equal(czpg_scram_pbkdf2_runs() - runs, 4);

	/* The cache belongs to one password. */
	err[0] = '\0';
	assert_null(czpg_scram_new("other-pw", CZPG_SCRAM_CB_NONE, NULL, 0, c, err, sizeof(err)));
	assert_non_null(strstr(err, "belongs to a different password"));

	/* A failed exchange leaves the cache usable. */
	s = czpg_scram_new("pool-pw", CZPG_SCRAM_CB_NONE, NULL, 0, c, err, sizeof(err));
	start(s, "n");
	{
		struct czpg_wbuf w;

		czpg_wbuf_init(&w, 0);
		assert_int_equal(
		    czpg_scram_server_first(s, (const uint8_t *)"r=nS,s=QQ==,i=0", 15, &w), -1);
		czpg_wbuf_free(&w);
	}
	czpg_scram_free(s);
	czpg_scram_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7677_vector),
	    cmocka_unit_test(test_wrong_server_signature),
	    cmocka_unit_test(test_default_client_first),
	    cmocka_unit_test(test_username_escaping),
	    cmocka_unit_test(test_mechanism_names),
	    cmocka_unit_test(test_postgres_verifiers),
	    cmocka_unit_test(test_compute_keys_bad_args),
	    cmocka_unit_test(test_hi_matches_pbkdf2),
	    cmocka_unit_test(test_hi_rfc7914_vectors),
	    cmocka_unit_test(test_hi_long_password),
	    cmocka_unit_test(test_hi_bad_args),
	    cmocka_unit_test(test_saslprep),
	    cmocka_unit_test(test_new_argument_checks),
	    cmocka_unit_test(test_exchange_plain),
	    cmocka_unit_test(test_exchange_normalised_password),
	    cmocka_unit_test(test_exchange_wrong_password),
	    cmocka_unit_test(test_exchange_y),
	    cmocka_unit_test(test_exchange_plus),
	    cmocka_unit_test(test_server_nonce),
	    cmocka_unit_test(test_iterations),
	    cmocka_unit_test(test_attributes),
	    cmocka_unit_test(test_salt),
	    cmocka_unit_test(test_empty_and_oversized),
	    cmocka_unit_test(test_server_final),
	    cmocka_unit_test(test_state_errors),
	    cmocka_unit_test(test_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
