/*
 * test_tlsio.c - the TLS-over-memory client against an in-process OpenSSL
 * server (an SSL object over its own memory BIOs).  No sockets: the test
 * moves ciphertext between the two, whole, one byte at a time, or many
 * records at once.
 *
 * Covers verify-full (DNS and IP SANs, RFC 6125 / RFC 6066 section 3 SNI),
 * version floors, TLS 1.3 post-handshake tickets (RFC 8446 section 4.6.1),
 * close_notify, and tls-server-end-point (RFC 5929 section 4.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/sslerr.h>

#include "czpg/certinfo.h"
#include "czpg/tlsio.h"
#include "testcert.h"

/* ---- fixture: two CAs on disk, a bundle of both ---- */

static struct {
	char dir[256];
	struct czpg_testcert ca1, ca2;
	char ca1_path[512], ca2_path[512], bundle_path[512];
} g;

static int group_setup(void **state)
{
	X509 *both[2];

	if (czpg_testcert_tmpdir(g.dir, sizeof(g.dir)) != 0)
		return -1;
	if (czpg_testcert_make_ca(&g.ca1, NULL) != 0 || czpg_testcert_make_ca(&g.ca2, NULL) != 0)
		return -1;
	if (czpg_testcert_write(&g.ca1, g.dir, "ca1") != 0 ||
	    czpg_testcert_write(&g.ca2, g.dir, "ca2") != 0)
		return -1;
	snprintf(g.ca1_path, sizeof(g.ca1_path), "%s/ca1.crt", g.dir);
	snprintf(g.ca2_path, sizeof(g.ca2_path), "%s/ca2.crt", g.dir);
	snprintf(g.bundle_path, sizeof(g.bundle_path), "%s/bundle.crt", g.dir);
	both[0] = g.ca1.cert;
	both[1] = g.ca2.cert;
	return czpg_testcert_write_bundle(g.bundle_path, both, 2);
}

static int group_teardown(void **state)
{
	czpg_testcert_free(&g.ca1);
	czpg_testcert_free(&g.ca2);
	czpg_testcert_rmdir(g.dir);
	return 0;
}

/* ---- the in-memory server and the shuttle ---- */

struct srv {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;
};

static int tickets_made;

static int count_ticket(SSL *s, void *arg)
{
	tickets_made++;
	return 1;
}

static void srv_start(struct srv *s, const struct czpg_testcert *leaf, int min, int max)
{
	memset(s, 0, sizeof(*s));
	s->ctx = czpg_testcert_server_ctx(leaf, NULL, 0, min, max);
	assert_non_null(s->ctx);
	SSL_CTX_set_session_ticket_cb(s->ctx, count_ticket, NULL, NULL);
	s->ssl = czpg_testcert_mem_server(s->ctx, &s->in, &s->out);
	assert_non_null(s->ssl);
}

static void srv_stop(struct srv *s)
{
	SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
	memset(s, 0, sizeof(*s));
}

/* Every czpg call must leave the thread's OpenSSL error queue empty. */
#define ASSERT_QUEUE_EMPTY() assert_int_equal(ERR_peek_error(), 0)

/* Client ciphertext -> server, through the copying take. */
static void c2s(struct czpg_tls *c, struct srv *s)
{
	uint8_t buf[1000];
	size_t n;

	while ((n = czpg_tls_take_ciphertext(c, buf, sizeof(buf))) > 0)
		assert_int_equal(BIO_write(s->in, buf, (int)n), (int)n);
	assert_int_equal(czpg_tls_pending_ciphertext(c), 0);
	ASSERT_QUEUE_EMPTY();
}

enum delivery { WHOLE, BYTEWISE };

/* Everything the server has written so far, as one malloc'd block. */
static size_t srv_output(struct srv *s, uint8_t **out)
{
	size_t n = BIO_ctrl_pending(s->out);

	*out = malloc(n + 1);
	assert_non_null(*out);
	if (n > 0)
		assert_int_equal(BIO_read(s->out, *out, (int)n), (int)n);
	return n;
}

/*
 * Runs the handshake to completion or failure, then hands the client the
 * server's post-handshake output (tickets).  Returns the client's result.
 */
static int handshake(struct czpg_tls *c, struct srv *s, enum delivery d)
{
	int crc = CZPG_TLS_WANT_READ;
	int round;

	for (round = 0; round < 10; round++) {
		uint8_t *bytes;
		size_t n, i;

		if (crc != CZPG_TLS_OK) {
			crc = czpg_tls_handshake(c);
			ASSERT_QUEUE_EMPTY();
		}
		c2s(c, s);
		if (!SSL_is_init_finished(s->ssl))
			(void)SSL_do_handshake(s->ssl);
		ERR_clear_error(); /* the server's own troubles are not under test */
		n = srv_output(s, &bytes);
		if (d == WHOLE || crc == CZPG_TLS_OK) {
			assert_int_equal(czpg_tls_feed_ciphertext(c, bytes, n), 0);
			if (crc != CZPG_TLS_OK && crc != CZPG_TLS_ERROR) {
				crc = czpg_tls_handshake(c);
				ASSERT_QUEUE_EMPTY();
			}
		} else {
			for (i = 0; i < n; i++) {
				assert_int_equal(czpg_tls_feed_ciphertext(c, bytes + i, 1), 0);
				if (crc == CZPG_TLS_WANT_READ) {
					crc = czpg_tls_handshake(c);
					ASSERT_QUEUE_EMPTY();
					/* A flight is only complete with its last byte. */
					if (crc == CZPG_TLS_OK)
						assert_true(i > 0);
				}
			}
		}
		free(bytes);
		c2s(c, s);
		if (crc == CZPG_TLS_ERROR)
			break;
		if (crc == CZPG_TLS_OK && SSL_is_init_finished(s->ssl)) {
			/* Let the server's post-handshake tickets out. */
			n = srv_output(s, &bytes);
			assert_int_equal(czpg_tls_feed_ciphertext(c, bytes, n), 0);
			free(bytes);
			break;
		}
	}
	return crc;
}

/* Server plaintext write (one record each call). */
static void srv_write(struct srv *s, const char *text)
{
	size_t n = 0;

	assert_int_equal(SSL_write_ex(s->ssl, text, strlen(text), &n), 1);
	assert_int_equal(n, strlen(text));
}

/*
 * Moves server ciphertext to the client (whole or byte by byte) and reads
 * plaintext after every feed.  Returns bytes read into buf; *last gets the
 * client's final result (WANT_READ, CLOSED, ERROR).
 */
static size_t client_read_all(struct czpg_tls *c, struct srv *s, enum delivery d, uint8_t *buf,
			      size_t cap, size_t chunk, int *last)
{
	uint8_t *bytes;
	size_t n = srv_output(s, &bytes);
	size_t got = 0, i = 0;
	ssize_t r = CZPG_TLS_WANT_READ;

	do {
		size_t step = d == WHOLE ? n : (n > 0 ? 1 : 0);

		if (step > 0)
			assert_int_equal(czpg_tls_feed_ciphertext(c, bytes + i, step), 0);
		i += step;
		for (;;) {
			size_t room = cap - got < chunk ? cap - got : chunk;

			r = czpg_tls_read(c, buf + got, room);
			ASSERT_QUEUE_EMPTY();
			if (r <= 0)
				break;
			got += (size_t)r;
			if (got == cap)
				break;
		}
		if (r == CZPG_TLS_ERROR || r == CZPG_TLS_CLOSED)
			break;
	} while (i < n);
	free(bytes);
	c2s(c, s);
	*last = (int)r;
	return got;
}

/* Server reads everything the client sent. */
static size_t srv_read_all(struct srv *s, uint8_t *buf, size_t cap)
{
	size_t got = 0, n = 0;

	while (got < cap && SSL_read_ex(s->ssl, buf + got, cap - got, &n) == 1)
		got += n;
	ERR_clear_error();
	return got;
}

static struct czpg_tls_config *cfg_with_ca(const char *ca)
{
	char err[256];
	struct czpg_tls_config *cfg = czpg_tls_config_new(err, sizeof(err));

	assert_non_null(cfg);
	if (ca != NULL)
		assert_int_equal(czpg_tls_config_set_ca_file(cfg, ca), 0);
	ASSERT_QUEUE_EMPTY();
	return cfg;
}

static struct czpg_tls *client(struct czpg_tls_config *cfg, const char *host)
{
	char err[256];
	struct czpg_tls *c = czpg_tls_new(cfg, host, err, sizeof(err));

	if (c == NULL)
		fail_msg("czpg_tls_new: %s", err);
	ASSERT_QUEUE_EMPTY();
	return c;
}

static void make_leaf(struct czpg_testcert *leaf, const struct czpg_testcert *ca, const char *sans)
{
	struct czpg_testcert_opts o = {.sans = sans};

	assert_int_equal(czpg_testcert_make_leaf(leaf, ca, &o), 0);
}

/*
 * One handshake of a fresh client (trusting ca; NULL = insecure) to host
 * against a server presenting leaf.  Returns the client's result and
 * copies its error sentence into err.
 */
static int try_connect(const char *ca, const char *host, const struct czpg_testcert *leaf,
		       char *err, size_t errlen)
{
	struct czpg_tls_config *cfg = cfg_with_ca(ca);
	struct czpg_tls *c;
	struct srv s;
	int rc;

	if (ca == NULL)
		czpg_tls_config_insecure_noverify(cfg);
	c = client(cfg, host);
	srv_start(&s, leaf, 0, 0);
	rc = handshake(c, &s, WHOLE);
	snprintf(err, errlen, "%s", czpg_tls_error(c));
	if (rc == CZPG_TLS_OK)
		assert_non_null(czpg_tls_peer_certificate(c));
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);
	return rc;
}

/* ---- handshake and verification ---- */

static void test_handshake_tls13_p256_dns(void **state)
{
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg = cfg_with_ca(g.ca1_path);
	struct czpg_tls *c = client(cfg, "db.example");
	struct srv s;

	make_leaf(&leaf, &g.ca1, "DNS:db.example");
	srv_start(&s, &leaf, 0, 0);
	assert_null(czpg_tls_version(c));
	assert_false(czpg_tls_handshake_done(c));
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
	assert_true(czpg_tls_handshake_done(c));
	assert_string_equal(czpg_tls_version(c), "TLSv1.3");
	assert_string_equal(czpg_tls_cipher(c), "TLS_AES_256_GCM_SHA384");
	assert_non_null(czpg_tls_group(c));
	assert_string_equal(czpg_tls_version(c), SSL_get_version(s.ssl));
	assert_int_equal(czpg_tls_verify_result(c), X509_V_OK);
	assert_int_equal(X509_cmp(czpg_tls_peer_certificate(c), leaf.cert), 0);
	/* SNI carries the name. */
	assert_non_null(SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name));
	assert_string_equal(SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name), "db.example");
	assert_string_equal(czpg_tls_host(c), "db.example");
	/* A second call is a no-op. */
	assert_int_equal(czpg_tls_handshake(c), CZPG_TLS_OK);
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);
	czpg_testcert_free(&leaf);
}

static void connect_ip(const char *san, const char *host)
{
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg = cfg_with_ca(g.ca1_path);
	struct czpg_tls *c = client(cfg, host);
	struct srv s;

	make_leaf(&leaf, &g.ca1, san);
	srv_start(&s, &leaf, 0, 0);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
	/* No SNI for an IP literal (RFC 6066 section 3). */
	assert_null(SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name));
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);
	czpg_testcert_free(&leaf);
}

static void test_verify_ipv4(void **state)
{
	connect_ip("DNS:db.example,IP:127.0.0.1", "127.0.0.1");
}

static void test_verify_ipv6(void **state)
{
	connect_ip("IP:::1", "::1");
	connect_ip("IP:2001:db8::5", "2001:db8:0:0::5");
}

static void test_name_mismatch(void **state)
{
	struct czpg_testcert leaf;
	char err[512];

	make_leaf(&leaf, &g.ca1, "DNS:other.example");
	assert_int_equal(try_connect(g.ca1_path, "db.example", &leaf, err, sizeof(err)),
			 CZPG_TLS_ERROR);
	assert_string_equal(err, "server certificate for db.example does not match: no DNS SAN "
				 "db.example (certificate SANs: DNS:other.example)");
	czpg_testcert_free(&leaf);

	/* A partial wildcard never matches; a whole left-most label does. */
	make_leaf(&leaf, &g.ca1, "DNS:db*.example.com");
	assert_int_equal(try_connect(g.ca1_path, "db1.example.com", &leaf, err, sizeof(err)),
			 CZPG_TLS_ERROR);
	assert_non_null(strstr(err, "does not match"));
	czpg_testcert_free(&leaf);
	make_leaf(&leaf, &g.ca1, "DNS:*.example.com");
	assert_int_equal(try_connect(g.ca1_path, "db.example.com", &leaf, err, sizeof(err)),
			 CZPG_TLS_OK);
	/* ...and only one label deep. */
	assert_int_equal(try_connect(g.ca1_path, "a.db.example.com", &leaf, err, sizeof(err)),
			 CZPG_TLS_ERROR);
	czpg_testcert_free(&leaf);

	/* The subject CN is not a fallback. */
	{
		struct czpg_testcert_opts o = {.cn = "db.example"};

		assert_int_equal(czpg_testcert_make_leaf(&leaf, &g.ca1, &o), 0);
		assert_int_equal(try_connect(g.ca1_path, "db.example", &leaf, err, sizeof(err)),
				 CZPG_TLS_ERROR);
		assert_non_null(strstr(err, "has no subjectAltName"));
		czpg_testcert_free(&leaf);
	}
}

static void test_ip_mismatch(void **state)
{
	struct czpg_testcert leaf;
	char err[512];

	make_leaf(&leaf, &g.ca1, "DNS:db.example,IP:10.0.0.1");
	assert_int_equal(try_connect(g.ca1_path, "127.0.0.1", &leaf, err, sizeof(err)),
			 CZPG_TLS_ERROR);
	assert_string_equal(err, "server certificate for 127.0.0.1 does not match: no IP SAN "
				 "127.0.0.1 (certificate SANs: DNS:db.example, IP:10.0.0.1)");
	czpg_testcert_free(&leaf);

	/* An IP written as a DNS SAN does not count for an IP literal. */
	make_leaf(&leaf, &g.ca1, "DNS:127.0.0.1");
	assert_int_equal(try_connect(g.ca1_path, "127.0.0.1", &leaf, err, sizeof(err)),
			 CZPG_TLS_ERROR);
	assert_non_null(strstr(err, "no IP SAN 127.0.0.1"));
	czpg_testcert_free(&leaf);

	/* v6: ::2 is not ::1. */
	make_leaf(&leaf, &g.ca1, "IP:::2");
	assert_int_equal(try_connect(g.ca1_path, "::1", &leaf, err, sizeof(err)), CZPG_TLS_ERROR);
	assert_non_null(strstr(err, "no IP SAN ::1 (certificate SANs: IP:::2)"));
	czpg_testcert_free(&leaf);
}

static void test_untrusted_ca(void **state)
{
	struct czpg_testcert leaf;
	char err[512], want[1024];

	make_leaf(&leaf, &g.ca1, "DNS:db.example");
	assert_int_equal(try_connect(g.ca2_path, "db.example", &leaf, err, sizeof(err)),
			 CZPG_TLS_ERROR);
	snprintf(want, sizeof(want),
		 "server certificate for db.example is not signed by a CA in %s (unable to get "
		 "local issuer certificate)",
		 g.ca2_path);
	assert_string_equal(err, want);
	czpg_testcert_free(&leaf);
}

static void test_expired_and_not_yet_valid(void **state)
{
	struct czpg_testcert leaf;
	struct czpg_testcert_opts expired = {
	    .sans = "DNS:db.example", .not_before = -2 * 86400, .not_after = -86400};
	struct czpg_testcert_opts future = {
	    .sans = "DNS:db.example", .not_before = 86400, .not_after = 2 * 86400};
	struct czpg_cert_info info;
	char err[512], want[512];

	assert_int_equal(czpg_testcert_make_leaf(&leaf, &g.ca1, &expired), 0);
	assert_int_equal(czpg_certinfo_read(leaf.cert, time(NULL), &info, NULL, 0), 0);
	assert_int_equal(try_connect(g.ca1_path, "db.example", &leaf, err, sizeof(err)),
			 CZPG_TLS_ERROR);
	snprintf(want, sizeof(want),
		 "server certificate for db.example expired on %s: renew it on the server",
		 info.not_after);
	assert_string_equal(err, want);
	assert_true(info.days_left < 0);
	czpg_testcert_free(&leaf);

	assert_int_equal(czpg_testcert_make_leaf(&leaf, &g.ca1, &future), 0);
	assert_int_equal(czpg_certinfo_read(leaf.cert, time(NULL), &info, NULL, 0), 0);
	assert_int_equal(try_connect(g.ca1_path, "db.example", &leaf, err, sizeof(err)),
			 CZPG_TLS_ERROR);
	snprintf(want, sizeof(want),
		 "server certificate for db.example is not valid until %s: check the clocks of "
		 "this machine and the server",
		 info.not_before);
	assert_string_equal(err, want);
	czpg_testcert_free(&leaf);
}

static void test_ca_bundle_either_signs(void **state)
{
	struct czpg_testcert l1, l2;
	struct czpg_tls_config *cfg = cfg_with_ca(g.bundle_path);
	const struct czpg_testcert *leaves[2] = {&l1, &l2};
	int i;

	make_leaf(&l1, &g.ca1, "DNS:db.example");
	make_leaf(&l2, &g.ca2, "DNS:db.example");
	/* Both leaves verify through one shared config. */
	for (i = 0; i < 2; i++) {
		struct czpg_tls *c = client(cfg, "db.example");
		struct srv s;

		srv_start(&s, leaves[i], 0, 0);
		assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
		assert_int_equal(X509_cmp(czpg_tls_peer_certificate(c), leaves[i]->cert), 0);
		czpg_tls_free(c);
		srv_stop(&s);
	}
	czpg_tls_config_free(cfg);
	czpg_testcert_free(&l1);
	czpg_testcert_free(&l2);
}

static void test_tls12_server(void **state)
{
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg = cfg_with_ca(g.ca1_path);
	struct czpg_tls *c = client(cfg, "db.example");
	struct srv s;

	make_leaf(&leaf, &g.ca1, "DNS:db.example");
	srv_start(&s, &leaf, 0, TLS1_2_VERSION);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_ERROR);
	assert_string_equal(czpg_tls_error(c),
			    "server db.example does not support TLS 1.3 (minimum set to TLS 1.3)");
	assert_null(czpg_tls_version(c));
	/* A failed connection stays failed, with the same sentence. */
	assert_int_equal(czpg_tls_read(c, (uint8_t[4]){0}, 4), CZPG_TLS_ERROR);
	assert_non_null(strstr(czpg_tls_error(c), "does not support TLS 1.3"));
	ASSERT_QUEUE_EMPTY();
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);

	/* With the floor lowered to 1.2 the same server is fine. */
	cfg = cfg_with_ca(g.ca1_path);
	assert_int_equal(czpg_tls_config_set_min_version(cfg, TLS1_2_VERSION), 0);
	c = client(cfg, "db.example");
	srv_start(&s, &leaf, 0, TLS1_2_VERSION);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
	assert_string_equal(czpg_tls_version(c), "TLSv1.2");
	assert_string_equal(czpg_tls_cipher(c), SSL_get_cipher_name(s.ssl));
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);

	/* A 1.2-only client against a 1.3-only server. */
	cfg = cfg_with_ca(g.ca1_path);
	assert_int_equal(czpg_tls_config_set_min_version(cfg, TLS1_2_VERSION), 0);
	assert_int_equal(czpg_tls_config_set_max_version(cfg, TLS1_2_VERSION), 0);
	c = client(cfg, "db.example");
	srv_start(&s, &leaf, TLS1_3_VERSION, 0);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_ERROR);
	assert_string_equal(
	    czpg_tls_error(c),
	    "server db.example does not support TLS 1.2 (minimum and maximum set to TLS 1.2)");
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);
	czpg_testcert_free(&leaf);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char want[] = "\x0apostgresql";

	if (SSL_select_next_proto((unsigned char **)out, outlen, want, sizeof(want) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* TLS 1.0/1.1 need security level 0; ALPN; the chain as the server sent it. */
static void test_seclevel0_legacy_alpn_chain(void **state)
{
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg = cfg_with_ca(g.ca1_path);
	struct czpg_tls *c;
	struct srv s;

	make_leaf(&leaf, &g.ca1, "DNS:db.example");
	/* Without the insecure setter TLS 1.1 cannot even be configured. */
	assert_int_equal(czpg_tls_config_set_min_version(cfg, TLS1_1_VERSION), -1);
	assert_non_null(strstr(czpg_tls_config_error(cfg), "use TLS 1.2 or TLS 1.3"));
	assert_int_equal(czpg_tls_config_insecure_seclevel0(cfg), 0);
	assert_int_equal(czpg_tls_config_set_min_version(cfg, TLS1_1_VERSION), 0);
	assert_int_equal(czpg_tls_config_set_max_version(cfg, TLS1_1_VERSION), 0);
	c = client(cfg, "db.example");
	srv_start(&s, &leaf, TLS1_1_VERSION, TLS1_1_VERSION);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
	assert_string_equal(czpg_tls_version(c), "TLSv1.1");
	assert_null(czpg_tls_alpn(c));
	assert_int_equal(czpg_tls_peer_chain_length(c), 1);
	assert_ptr_equal(czpg_tls_peer_chain_cert(c, 0), czpg_tls_peer_certificate(c));
	assert_null(czpg_tls_peer_chain_cert(c, 1));
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);

	/* ALPN offered and selected. */
	cfg = cfg_with_ca(g.ca1_path);
	assert_int_equal(czpg_tls_config_set_alpn(cfg, ""), -1);
	assert_int_equal(czpg_tls_config_set_alpn(cfg, "postgresql"), 0);
	c = client(cfg, "db.example");
	srv_start(&s, &leaf, 0, 0);
	SSL_CTX_set_alpn_select_cb(s.ctx, alpn_select, NULL);
	assert_null(czpg_tls_alpn(c));
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
	assert_string_equal(czpg_tls_alpn(c), "postgresql");
	ASSERT_QUEUE_EMPTY();
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);
	czpg_testcert_free(&leaf);
}

static void test_no_ca_refused_insecure_allowed(void **state)
{
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg = cfg_with_ca(NULL);
	char err[512];

	assert_null(czpg_tls_new(cfg, "db.example", err, sizeof(err)));
	assert_non_null(strstr(err, "no CA file to verify the server certificate of db.example"));
	ASSERT_QUEUE_EMPTY();
	czpg_tls_config_free(cfg);

	/* insecure_noverify: even a mismatching, untrusted leaf is accepted. */
	make_leaf(&leaf, &g.ca1, "DNS:other.example");
	assert_int_equal(try_connect(NULL, "db.example", &leaf, err, sizeof(err)), CZPG_TLS_OK);
	czpg_testcert_free(&leaf);
}

static void test_config_errors(void **state)
{
	struct czpg_tls_config *cfg = cfg_with_ca(NULL);
	char path[600];
	FILE *f;

	assert_int_equal(czpg_tls_config_set_ca_file(cfg, "/nonexistent/ca.crt"), -1);
	assert_string_equal(czpg_tls_config_error(cfg),
			    "cannot open CA file /nonexistent/ca.crt: No such file or directory");
	snprintf(path, sizeof(path), "%s/garbage.crt", g.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a certificate\n", f);
	fclose(f);
	assert_int_equal(czpg_tls_config_set_ca_file(cfg, path), -1);
	assert_non_null(strstr(czpg_tls_config_error(cfg), "holds no"));
	ASSERT_QUEUE_EMPTY();
	assert_int_equal(czpg_tls_config_set_min_version(cfg, 0x999), -1);
	assert_int_equal(czpg_tls_config_set_ciphersuites(cfg, "NOT_A_SUITE"), -1);
	assert_non_null(strstr(czpg_tls_config_error(cfg), "NOT_A_SUITE"));
	assert_int_equal(czpg_tls_config_set_groups(cfg, "nosuchgroup"), -1);
	assert_int_equal(czpg_tls_config_set_cipher_list(cfg, "NOPE-NOPE"), -1);
	ASSERT_QUEUE_EMPTY();
	assert_int_equal(czpg_tls_config_set_ciphersuites(cfg, "TLS_CHACHA20_POLY1305_SHA256"), 0);
	assert_int_equal(czpg_tls_config_set_groups(cfg, "P-256"), 0);
	assert_int_equal(czpg_tls_config_set_cipher_list(cfg, "ECDHE-ECDSA-AES256-GCM-SHA384"), 0);
	assert_string_equal(czpg_tls_config_error(cfg), "");
	assert_null(czpg_tls_new(cfg, "", path, sizeof(path)));
	czpg_tls_config_free(cfg);
	czpg_tls_config_free(NULL);
	czpg_tls_free(NULL);
}

static void test_suites_and_groups_apply(void **state)
{
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg = cfg_with_ca(g.ca1_path);
	struct czpg_tls *c;
	struct srv s;

	assert_int_equal(czpg_tls_config_set_ciphersuites(cfg, "TLS_CHACHA20_POLY1305_SHA256"), 0);
	assert_int_equal(czpg_tls_config_set_groups(cfg, "P-384"), 0);
	c = client(cfg, "db.example");
	make_leaf(&leaf, &g.ca1, "DNS:db.example");
	srv_start(&s, &leaf, 0, 0);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
	assert_string_equal(czpg_tls_cipher(c), "TLS_CHACHA20_POLY1305_SHA256");
	assert_string_equal(czpg_tls_group(c), "secp384r1");
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);
	czpg_testcert_free(&leaf);
}

/* ---- data ---- */

struct session {
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg;
	struct czpg_tls *c;
	struct srv s;
};

/*
 * The session tests run twice: with OpenSSL's records (the default) and with
 * czpg's own (tlsrec.c, bench --tls-records czpg); the test's state says which.
 */
static bool records_openssl = false, records_own = true;

static bool own_records_asked(void **state)
{
	return state != NULL && *state != NULL && *(const bool *)*state;
}

static void session_open(struct session *x, enum delivery d, bool own_records)
{
	tickets_made = 0;
	make_leaf(&x->leaf, &g.ca1, "DNS:db.example");
	x->cfg = cfg_with_ca(g.ca1_path);
	czpg_tls_config_set_own_records(x->cfg, own_records);
	x->c = client(x->cfg, "db.example");
	srv_start(&x->s, &x->leaf, 0, 0);
	assert_int_equal(handshake(x->c, &x->s, d), CZPG_TLS_OK);
}

static void session_close(struct session *x)
{
	czpg_tls_free(x->c);
	czpg_tls_config_free(x->cfg);
	srv_stop(&x->s);
	czpg_testcert_free(&x->leaf);
}

static void test_data_with_tickets(void **state)
{
	struct session x;
	uint8_t buf[256];
	int last;
	size_t n;

	session_open(&x, WHOLE, own_records_asked(state));
	/* OpenSSL servers send TLS 1.3 tickets after the handshake: no data yet. */
	assert_true(tickets_made >= 1);
	assert_int_equal(czpg_tls_read(x.c, buf, sizeof(buf)), CZPG_TLS_WANT_READ);
	ASSERT_QUEUE_EMPTY();

	/* Client -> server. */
	assert_int_equal(czpg_tls_write(x.c, "SELECT 1", 8), 8);
	ASSERT_QUEUE_EMPTY();
	c2s(x.c, &x.s);
	assert_int_equal(srv_read_all(&x.s, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "SELECT 1", 8);

	/* Server -> client with a fresh ticket between two data records. */
	last = tickets_made;
	srv_write(&x.s, "one,");
	assert_int_equal(SSL_new_session_ticket(x.s.ssl), 1);
	assert_int_equal(SSL_do_handshake(x.s.ssl), 1);
	assert_int_equal(tickets_made, last + 1);
	srv_write(&x.s, "two");
	n = client_read_all(x.c, &x.s, WHOLE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(last, CZPG_TLS_WANT_READ);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "one,two", 7);

	/* A ticket alone, then data: still WANT_READ in between. */
	assert_int_equal(SSL_new_session_ticket(x.s.ssl), 1);
	assert_int_equal(SSL_do_handshake(x.s.ssl), 1);
	n = client_read_all(x.c, &x.s, BYTEWISE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(n, 0);
	assert_int_equal(last, CZPG_TLS_WANT_READ);
	srv_write(&x.s, "three");
	n = client_read_all(x.c, &x.s, BYTEWISE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "three", 5);
	session_close(&x);
}

static void test_bytewise_handshake_and_data(void **state)
{
	struct session x;
	uint8_t buf[64];
	size_t n;
	int last;

	session_open(&x, BYTEWISE, own_records_asked(state));
	srv_write(&x.s, "hello over single bytes");
	n = client_read_all(x.c, &x.s, BYTEWISE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(n, 23);
	assert_memory_equal(buf, "hello over single bytes", 23);
	assert_int_equal(last, CZPG_TLS_WANT_READ);

	/* Take the client's output one byte at a time. */
	assert_int_equal(czpg_tls_write(x.c, "ping", 4), 4);
	{
		size_t pend = czpg_tls_pending_ciphertext(x.c);
		uint8_t b;

		assert_true(pend > 4);
		while (czpg_tls_take_ciphertext(x.c, &b, 1) == 1) {
			assert_int_equal(BIO_write(x.s.in, &b, 1), 1);
			pend--;
		}
		assert_int_equal(pend, 0);
	}
	assert_int_equal(srv_read_all(&x.s, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	session_close(&x);
}

static void test_coalesced_records(void **state)
{
	struct session x;
	char want[50 * 8 + 1];
	uint8_t buf[1024];
	char rec[16];
	size_t n;
	int i, last;

	session_open(&x, WHOLE, own_records_asked(state));
	want[0] = '\0';
	for (i = 0; i < 50; i++) {
		snprintf(rec, sizeof(rec), "msg-%03d,", i);
		srv_write(&x.s, rec);
		strcat(want, rec);
	}
	/* 50 records in one feed, read through a 3-byte window. */
	n = client_read_all(x.c, &x.s, WHOLE, buf, sizeof(buf), 3, &last);
	assert_int_equal(last, CZPG_TLS_WANT_READ);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	session_close(&x);
}

static void test_large_write_and_peek_consume(void **state)
{
	struct session x;
	size_t len = 100000, pend, half, got;
	uint8_t *data = malloc(len), *back = malloc(len);
	const uint8_t *p, *p2;
	size_t i;

	assert_non_null(data);
	assert_non_null(back);
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 31 + 7);
	session_open(&x, WHOLE, own_records_asked(state));
	assert_int_equal(czpg_tls_write(x.c, data, len), (ssize_t)len);
	ASSERT_QUEUE_EMPTY();
	pend = czpg_tls_pending_ciphertext(x.c);
	assert_true(pend > len);
	assert_int_equal(czpg_tls_peek_ciphertext(x.c, &p), pend);
	half = pend / 2;
	assert_int_equal(BIO_write(x.s.in, p, (int)half), (int)half);
	czpg_tls_consume_ciphertext(x.c, half);
	assert_int_equal(czpg_tls_pending_ciphertext(x.c), pend - half);
	assert_int_equal(czpg_tls_peek_ciphertext(x.c, &p2), pend - half);
	assert_ptr_equal(p2, p + half);
	assert_int_equal(BIO_write(x.s.in, p2, (int)(pend - half)), (int)(pend - half));
	czpg_tls_consume_ciphertext(x.c, pend - half);
	assert_int_equal(czpg_tls_pending_ciphertext(x.c), 0);
	assert_int_equal(czpg_tls_peek_ciphertext(x.c, &p), 0);
	assert_null(p);
	got = srv_read_all(&x.s, back, len);
	assert_int_equal(got, len);
	assert_memory_equal(back, data, len);

	/* Consuming bytes never peeked drops them from the BIO side too. */
	assert_int_equal(czpg_tls_write(x.c, "x", 1), 1);
	assert_true(czpg_tls_pending_ciphertext(x.c) > 0);
	czpg_tls_consume_ciphertext(x.c, czpg_tls_pending_ciphertext(x.c));
	assert_int_equal(czpg_tls_pending_ciphertext(x.c), 0);
	free(data);
	free(back);
	session_close(&x);
}

static void test_close_notify(void **state)
{
	struct session x;
	uint8_t buf[64];
	size_t n;
	int last;

	session_open(&x, WHOLE, own_records_asked(state));
	srv_write(&x.s, "bye");
	assert_true(SSL_shutdown(x.s.ssl) >= 0);
	n = client_read_all(x.c, &x.s, WHOLE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(n, 3);
	assert_int_equal(last, CZPG_TLS_CLOSED);
	assert_int_equal(czpg_tls_read(x.c, buf, sizeof(buf)), CZPG_TLS_CLOSED);
	/* Our own close_notify reaches the server. */
	assert_int_equal(czpg_tls_shutdown(x.c), CZPG_TLS_OK);
	ASSERT_QUEUE_EMPTY();
	c2s(x.c, &x.s);
	{
		size_t m = 0;
		int r = SSL_read_ex(x.s.ssl, buf, sizeof(buf), &m);

		assert_int_equal(SSL_get_error(x.s.ssl, r), SSL_ERROR_ZERO_RETURN);
	}
	ERR_clear_error();
	session_close(&x);
}

static void test_eof_without_close_notify(void **state)
{
	struct session x;
	uint8_t buf[64];

	session_open(&x, WHOLE, own_records_asked(state));
	assert_int_equal(czpg_tls_read(x.c, buf, sizeof(buf)), CZPG_TLS_WANT_READ);
	czpg_tls_feed_eof(x.c);
	assert_int_equal(czpg_tls_read(x.c, buf, sizeof(buf)), CZPG_TLS_ERROR);
	assert_string_equal(czpg_tls_error(x.c), "server db.example closed the connection during "
						 "TLS read without a close_notify alert");
	ASSERT_QUEUE_EMPTY();
	/* Nothing can be written after a fatal error either. */
	assert_int_equal(czpg_tls_write(x.c, "x", 1), CZPG_TLS_ERROR);
	assert_int_equal(czpg_tls_shutdown(x.c), CZPG_TLS_ERROR);
	session_close(&x);
}

static void test_feed_limit(void **state)
{
	struct session x;
	size_t big = CZPG_TLS_MAX_BUFFERED_IN + 1;
	uint8_t *junk = calloc(1, big);

	assert_non_null(junk);
	session_open(&x, WHOLE, own_records_asked(state));
	assert_int_equal(czpg_tls_feed_ciphertext(x.c, junk, big), CZPG_TLS_ERROR);
	assert_non_null(strstr(czpg_tls_error(x.c), "waiting unread"));
	/* Garbage that fits is fed, and reading it fails cleanly. */
	assert_int_equal(czpg_tls_feed_ciphertext(x.c, junk, 64), 0);
	assert_int_equal(czpg_tls_read(x.c, junk, 64), CZPG_TLS_ERROR);
	assert_non_null(strstr(czpg_tls_error(x.c), "TLS read with db.example failed"));
	ASSERT_QUEUE_EMPTY();
	free(junk);
	session_close(&x);
}

/* ---- czpg's own TLS 1.3 records against OpenSSL's (tlsrec.c) ---- */

/*
 * The server asks for a key update: our client follows (its next records
 * from the server open under the new key) and answers with its own, which
 * OpenSSL accepts: its next record from us opens too.
 */
static void test_own_records_key_update(void **state)
{
	struct session x;
	uint8_t buf[64];
	size_t n;
	int last;

	session_open(&x, WHOLE, true);
	assert_true(czpg_tls_own_records(x.c));
	assert_int_equal(SSL_key_update(x.s.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
	srv_write(&x.s, "under the new key");
	n = client_read_all(x.c, &x.s, WHOLE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(n, 17);
	assert_memory_equal(buf, "under the new key", 17);
	assert_int_equal(czpg_tls_write(x.c, "ack", 3), 3);
	c2s(x.c, &x.s);
	assert_int_equal(srv_read_all(&x.s, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "ack", 3);
	/* and the server keeps talking */
	srv_write(&x.s, "again");
	n = client_read_all(x.c, &x.s, BYTEWISE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(n, 5);
	session_close(&x);
}

/*
 * Who seals the records: OpenSSL unless czpg's own are asked for, and the
 * answer is what the session reports; the traffic is the same either way.
 */
static void test_records_knob(void **state)
{
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg = cfg_with_ca(g.ca1_path);
	struct czpg_tls *c;
	struct srv s;
	uint8_t buf[64];
	size_t n;
	int last;

	make_leaf(&leaf, &g.ca1, "DNS:db.example");
	czpg_tls_config_set_own_records(cfg, own_records_asked(state));
	c = client(cfg, "db.example");
	srv_start(&s, &leaf, 0, 0);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
	assert_int_equal(czpg_tls_own_records(c), own_records_asked(state));
	assert_int_equal(czpg_tls_write(c, "ping", 4), 4);
	c2s(c, &s);
	assert_int_equal(srv_read_all(&s, buf, sizeof(buf)), 4);
	srv_write(&s, "pong");
	n = client_read_all(c, &s, WHOLE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(n, 4);
	czpg_tls_free(c);
	srv_stop(&s);
	czpg_tls_config_free(cfg);
	czpg_testcert_free(&leaf);
}

/* A record changed on the way fails the read, saying so, and leaves the queue empty. */
static void test_own_records_tampered(void **state)
{
	struct session x;
	uint8_t buf[64], *bytes;
	size_t n;

	session_open(&x, WHOLE, true);
	srv_write(&x.s, "intact?");
	n = srv_output(&x.s, &bytes);
	bytes[n - 3] ^= 0x40;
	assert_int_equal(czpg_tls_feed_ciphertext(x.c, bytes, n), 0);
	assert_int_equal(czpg_tls_read(x.c, buf, sizeof(buf)), CZPG_TLS_ERROR);
	ASSERT_QUEUE_EMPTY();
	assert_string_equal(czpg_tls_error(x.c),
			    "TLS read with db.example failed: decryption failed or bad record mac");
	assert_int_equal(czpg_tls_read(x.c, buf, sizeof(buf)), CZPG_TLS_ERROR);
	free(bytes);
	session_close(&x);
}

/*
 * A fatal alert from the server (OpenSSL's answer to a record of ours it
 * cannot open) ends the connection with the alert's name.
 */
static void test_own_records_fatal_alert(void **state)
{
	struct session x;
	uint8_t buf[64];
	size_t n;
	int last;

	session_open(&x, WHOLE, true);
	assert_int_equal(czpg_tls_write(x.c, "garbled", 7), 7);
	{
		uint8_t rec[64];
		size_t m = czpg_tls_take_ciphertext(x.c, rec, sizeof(rec));

		rec[m - 1] ^= 0x01; /* the last byte of the tag */
		assert_int_equal(BIO_write(x.s.in, rec, (int)m), (int)m);
	}
	assert_int_equal(srv_read_all(&x.s, buf, sizeof(buf)), 0);
	n = client_read_all(x.c, &x.s, WHOLE, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(n, 0);
	assert_int_equal(last, CZPG_TLS_ERROR);
	assert_non_null(strstr(czpg_tls_error(x.c), "the server sent alert 20 (bad record mac)"));
	session_close(&x);
}

/* ---- channel binding ---- */

static void check_binding(enum czpg_testcert_key ca_key, enum czpg_testcert_digest dg,
			  const EVP_MD *expect_md, size_t expect_len, bool verify)
{
	struct czpg_testcert ca, leaf;
	struct czpg_testcert_opts co = {.key = ca_key};
	struct czpg_testcert_opts lo = {.digest = dg, .sans = "DNS:db.example"};
	struct czpg_tls_config *cfg;
	struct czpg_tls *c;
	struct srv s;
	uint8_t got[EVP_MAX_MD_SIZE], alone[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
	size_t glen = 0, alen = 0;
	unsigned int wlen = 0;
	char err[256];
	char path[600];

	assert_int_equal(czpg_testcert_make_ca(&ca, &co), 0);
	assert_int_equal(czpg_testcert_make_leaf(&leaf, &ca, &lo), 0);
	assert_int_equal(czpg_testcert_write(&ca, g.dir, "cbca"), 0);
	snprintf(path, sizeof(path), "%s/cbca.crt", g.dir);
	cfg = cfg_with_ca(verify ? path : NULL);
	if (!verify)
		czpg_tls_config_insecure_noverify(cfg);
	c = client(cfg, "db.example");
	srv_start(&s, &leaf, 0, 0);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);

	/* Independent computation: the DER certificate hashed with the expected digest. */
	assert_int_equal(X509_digest(leaf.cert, expect_md, want, &wlen), 1);
	assert_int_equal(wlen, expect_len);
	assert_int_equal(czpg_tls_server_end_point(c, got, &glen), 0);
	ASSERT_QUEUE_EMPTY();
	assert_int_equal(glen, expect_len);
	assert_memory_equal(got, want, expect_len);
	assert_int_equal(czpg_tls_cert_end_point_hash(leaf.cert, alone, &alen, err, sizeof(err)),
			 0);
	assert_int_equal(alen, expect_len);
	assert_memory_equal(alone, want, expect_len);

	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&ca);
}

static void test_binding_ecdsa_sha256(void **state)
{
	check_binding(CZPG_TESTCERT_EC_P256, CZPG_TESTCERT_SHA256, EVP_sha256(), 32, true);
}

static void test_binding_rsa_sha256(void **state)
{
	check_binding(CZPG_TESTCERT_RSA2048, CZPG_TESTCERT_SHA256, EVP_sha256(), 32, true);
}

static void test_binding_ecdsa_sha384(void **state)
{
	check_binding(CZPG_TESTCERT_EC_P384, CZPG_TESTCERT_SHA384, EVP_sha384(), 48, true);
}

static void test_binding_rsa_sha1_raised(void **state)
{
	/* Not verified: SHA-1 chains may be refused by the system security level. */
	check_binding(CZPG_TESTCERT_RSA2048, CZPG_TESTCERT_SHA1, EVP_sha256(), 32, false);
}

static void test_binding_ed25519_refused(void **state)
{
	struct czpg_testcert ca, leaf;
	struct czpg_testcert_opts co = {.key = CZPG_TESTCERT_ED25519};
	struct czpg_tls_config *cfg;
	struct czpg_tls *c;
	struct srv s;
	uint8_t out[EVP_MAX_MD_SIZE];
	size_t len = 99;
	char err[256], path[600];

	assert_int_equal(czpg_testcert_make_ca(&ca, &co), 0);
	make_leaf(&leaf, &ca, "DNS:db.example");
	assert_int_equal(czpg_testcert_write(&ca, g.dir, "edca"), 0);
	snprintf(path, sizeof(path), "%s/edca.crt", g.dir);
	assert_int_equal(czpg_tls_cert_end_point_hash(leaf.cert, out, &len, err, sizeof(err)), -1);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err, "signed with ED25519"));
	assert_non_null(strstr(err, "cannot be used for channel binding"));
	ASSERT_QUEUE_EMPTY();

	cfg = cfg_with_ca(path);
	c = client(cfg, "db.example");
	srv_start(&s, &leaf, 0, 0);
	assert_int_equal(handshake(c, &s, WHOLE), CZPG_TLS_OK);
	assert_int_equal(czpg_tls_server_end_point(c, out, &len), -1);
	assert_non_null(strstr(czpg_tls_error(c), "server db.example: the certificate is signed "
						  "with ED25519"));
	czpg_tls_free(c);
	czpg_tls_config_free(cfg);
	srv_stop(&s);
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&ca);
}

/* ---- error queue hygiene ---- */

static void test_error_queue_isolated(void **state)
{
	struct czpg_testcert leaf;
	struct czpg_tls_config *cfg = cfg_with_ca(g.ca1_path);
	struct czpg_tls *bad, *good;
	struct srv sb, sg;
	char err[512];

	make_leaf(&leaf, &g.ca1, "DNS:db.example");
	/* A failing connection first... */
	bad = client(cfg, "wrong.example");
	srv_start(&sb, &leaf, 0, 0);
	assert_int_equal(handshake(bad, &sb, WHOLE), CZPG_TLS_ERROR);
	ASSERT_QUEUE_EMPTY();

	/* ...then stale errors planted in the queue, as another library might leave. */
	ERR_raise(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED);
	ERR_raise(ERR_LIB_SSL, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
	good = client(cfg, "db.example");
	ERR_raise(ERR_LIB_SSL, SSL_R_UNEXPECTED_EOF_WHILE_READING);
	srv_start(&sg, &leaf, 0, 0);
	assert_int_equal(czpg_tls_handshake(good), CZPG_TLS_WANT_READ);
	ASSERT_QUEUE_EMPTY();
	assert_int_equal(handshake(good, &sg, WHOLE), CZPG_TLS_OK);
	assert_string_equal(czpg_tls_error(good), "");
	/* The failed one still reports its own reason. */
	assert_non_null(strstr(czpg_tls_error(bad), "for wrong.example does not match"));
	czpg_tls_free(bad);
	czpg_tls_free(good);
	srv_stop(&sb);
	srv_stop(&sg);
	czpg_tls_config_free(cfg);
	czpg_testcert_free(&leaf);

	(void)err;
}

/* ---- describing certificates ---- */

static void test_testcert_files(void **state)
{
	struct czpg_testcert leaf;
	struct stat st;
	char path[600];

	make_leaf(&leaf, &g.ca1, "DNS:db.example");
	assert_int_equal(czpg_testcert_write(&leaf, g.dir, "srv"), 0);
	snprintf(path, sizeof(path), "%s/srv.key", g.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/srv.crt", g.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 100);
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&leaf); /* idempotent */
}

/* A test run with OpenSSL's records, then with czpg's own. */
#define BOTH_RECORDS(f)                                                                            \
	{#f " (openssl records)", f, NULL, NULL, &records_openssl},                                \
	{                                                                                          \
#f " (czpg records)", f, NULL, NULL, &records_own                                  \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_tls13_p256_dns),
	    cmocka_unit_test(test_verify_ipv4),
	    cmocka_unit_test(test_verify_ipv6),
	    cmocka_unit_test(test_name_mismatch),
	    cmocka_unit_test(test_ip_mismatch),
	    cmocka_unit_test(test_untrusted_ca),
	    cmocka_unit_test(test_expired_and_not_yet_valid),
	    cmocka_unit_test(test_ca_bundle_either_signs),
	    cmocka_unit_test(test_tls12_server),
	    cmocka_unit_test(test_seclevel0_legacy_alpn_chain),
	    cmocka_unit_test(test_no_ca_refused_insecure_allowed),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_suites_and_groups_apply),
	    BOTH_RECORDS(test_data_with_tickets),
	    BOTH_RECORDS(test_bytewise_handshake_and_data),
	    BOTH_RECORDS(test_coalesced_records),
	    BOTH_RECORDS(test_large_write_and_peek_consume),
	    BOTH_RECORDS(test_close_notify),
	    BOTH_RECORDS(test_eof_without_close_notify),
	    BOTH_RECORDS(test_feed_limit),
	    cmocka_unit_test(test_own_records_key_update),
	    BOTH_RECORDS(test_records_knob),
	    cmocka_unit_test(test_own_records_tampered),
	    cmocka_unit_test(test_own_records_fatal_alert),
	    cmocka_unit_test(test_binding_ecdsa_sha256),
	    cmocka_unit_test(test_binding_rsa_sha256),
	    cmocka_unit_test(test_binding_ecdsa_sha384),
	    cmocka_unit_test(test_binding_rsa_sha1_raised),
	    cmocka_unit_test(test_binding_ed25519_refused),
	    cmocka_unit_test(test_error_queue_isolated),
	    cmocka_unit_test(test_testcert_files),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
