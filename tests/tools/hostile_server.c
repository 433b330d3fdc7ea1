/*
 * hostile_server.c - a deliberately misbehaving PostgreSQL server for tests.
 *
 *   hostile_server --scenario NAME --cert FILE --key FILE [--port N]
 *                  [--password PW]
 *
 * Listens on 127.0.0.1 (port 0 = let the kernel pick), prints the port on the
 * first line of stdout, then serves every connection with the one scenario
 * chosen, until killed.  It speaks as much of the PostgreSQL protocol v3
 * (PostgreSQL docs, "Message Flow": SSLRequest, StartupMessage, SASL
 * authentication, simple Query) as a real server would, over TLS with the
 * given certificate (OpenSSL, server side), with SCRAM-SHA-256[-PLUS]
 * (RFC 5802/7677, channel binding tls-server-end-point per RFC 5929), up to
 * the point where the scenario misbehaves.
 *
 * `direct-alpn` also takes a connection that opens with the TLS ClientHello
 * (PostgreSQL 17's direct TLS) and selects ALPN "postgresql" for it, then
 * goes on as `good`; `direct-ignores-alpn` takes it too but selects no ALPN,
 * as a TLS server that is not PostgreSQL would, and would go on as `good`.
 *
 * `good` completes everything, offers SCRAM-SHA-256-PLUS and answers the
 * pg_stat_ssl query of `czctl postgres tls verify` with the TLS version and
 * cipher it negotiated, its BackendKeyData pid and the client's own address,
 * so a test can show the client reaches PASS against this very program
 * before it counts any FAIL.
 *
 * Each connection runs on its own thread with blocking sockets.  A stall
 * reads and discards whatever the client sends until it goes away (or a
 * minute passes); a close sends FIN (no RST) and waits for the client's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "czpg/buf.h"
#include "loopserve.h"
#include "czpg/tlsio.h"
#include "scram_server.h"
#include "testcert.h"

#define MAX_CLIENT_MSG 65536u
#define STALL_LIMIT_S 60

enum scenario {
	SC_GOOD = 0,
	SC_CERT_WRONG_NAME,  /* the test serves a certificate for another name */
	SC_CERT_UNTRUSTED,   /* ... signed by a CA the client does not trust */
	SC_CERT_EXPIRED,     /* ... that expired */
	SC_SSL_REFUSED,      /* 'N' to SSLRequest */
	SC_SSL_INJECT,       /* 'S' followed by plaintext bytes in the same write */
	SC_SSL_ERROR_ESCAPE, /* ErrorResponse with terminal escapes instead of S/N */
	SC_TLS12_ONLY,       /* server maximum TLS 1.2 */
	SC_SCRAM_BAD_SIGNATURE,
	SC_SCRAM_BAD_NONCE,
	SC_SCRAM_HUGE_ITERATIONS, /* i=2147483647 */
	SC_TRUST,                 /* AuthenticationOk at once, no SASL */
	SC_NO_PLUS,               /* offers SCRAM-SHA-256 only */
	SC_HUGE_LENGTH,           /* a message length word of 2 GiB (0x80000000) */
	SC_HUGE_LENGTH_MAX,       /* 0x7fffffff: the largest positive length */
	SC_STARTUP_ERROR_ESCAPE,  /* FATAL ErrorResponse with escapes after startup */
	SC_STALL_SSL,
	SC_STALL_TLS,
	SC_STALL_STARTUP,
	SC_STALL_SASL,
	SC_STALL_PARAMS,
	SC_STALL_QUERY,
	SC_CLOSE_SSL,
	SC_CLOSE_TLS,
	SC_CLOSE_STARTUP,
	SC_CLOSE_SASL,
	SC_CLOSE_PARAMS,
	SC_CLOSE_QUERY,
	SC_DRIP_QUERY,          /* answers the query with a NoticeResponse every 250 ms, forever */
	SC_TLS_CLOSE_NOTIFY,    /* a close_notify alert in answer to the ClientHello */
	SC_DIRECT_ALPN,         /* direct TLS too, selecting ALPN "postgresql" (PostgreSQL 17) */
	SC_DIRECT_IGNORES_ALPN, /* direct TLS too, selecting no ALPN */
	SC_COUNT
};

static const char *const scenario_names[SC_COUNT] = {
    [SC_GOOD] = "good",
    [SC_CERT_WRONG_NAME] = "cert-wrong-name",
    [SC_CERT_UNTRUSTED] = "cert-untrusted",
    [SC_CERT_EXPIRED] = "cert-expired",
    [SC_SSL_REFUSED] = "ssl-refused",
    [SC_SSL_INJECT] = "ssl-inject",
    [SC_SSL_ERROR_ESCAPE] = "ssl-error-escape",
    [SC_TLS12_ONLY] = "tls12-only",
    [SC_SCRAM_BAD_SIGNATURE] = "scram-bad-signature",
    [SC_SCRAM_BAD_NONCE] = "scram-bad-nonce",
    [SC_SCRAM_HUGE_ITERATIONS] = "scram-huge-iterations",
    [SC_TRUST] = "trust",
    [SC_NO_PLUS] = "no-plus",
    [SC_HUGE_LENGTH] = "huge-length",
    [SC_HUGE_LENGTH_MAX] = "huge-length-max",
    [SC_STARTUP_ERROR_ESCAPE] = "startup-error-escape",
    [SC_STALL_SSL] = "stall-ssl",
    [SC_STALL_TLS] = "stall-tls",
    [SC_STALL_STARTUP] = "stall-startup",
    [SC_STALL_SASL] = "stall-sasl",
    [SC_STALL_PARAMS] = "stall-params",
    [SC_STALL_QUERY] = "stall-query",
    [SC_CLOSE_SSL] = "close-ssl",
    [SC_CLOSE_TLS] = "close-tls",
    [SC_CLOSE_STARTUP] = "close-startup",
    [SC_CLOSE_SASL] = "close-sasl",
    [SC_CLOSE_PARAMS] = "close-params",
    [SC_CLOSE_QUERY] = "close-query",
    [SC_DRIP_QUERY] = "drip-query",
    [SC_TLS_CLOSE_NOTIFY] = "tls-close-notify",
    [SC_DIRECT_ALPN] = "direct-alpn",
    [SC_DIRECT_IGNORES_ALPN] = "direct-ignores-alpn",
};

/* Shared, read-only once the accept loop runs. */
static enum scenario g_scenario;
static SSL_CTX *g_ctx;
static const char *g_password = "pw";
static uint8_t g_cb_data[EVP_MAX_MD_SIZE];
static size_t g_cb_len;

struct peer {
	int fd;
	SSL *ssl; /* NULL until the TLS handshake is done */
};

/* ---- bytes -------------------------------------------------------------- */

static int peer_write(struct peer *p, const void *data, size_t n)
{
	const uint8_t *b = data;
	size_t off = 0;
	ssize_t k;

	if (n == 0)
		return 0;
	if (p->ssl != NULL)
		return SSL_write(p->ssl, data, (int)n) == (int)n ? 0 : -1;
	while (off < n) {
		k = send(p->fd, b + off, n - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

static int peer_read_exact(struct peer *p, void *data, size_t n)
{
	uint8_t *b = data;
	size_t off = 0;
	ssize_t k;

	while (off < n) {
		if (p->ssl != NULL)
			k = SSL_read(p->ssl, b + off, (int)(n - off));
		else
			k = recv(p->fd, b + off, n - off, 0);
		if (k < 0 && p->ssl == NULL && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

/*
 * Reads one message: a type byte (unless untyped, for the StartupMessage)
 * and a length word, then the body into a fresh buffer (*body, *len).
 */
static int read_msg(struct peer *p, bool typed, uint8_t *type, uint8_t **body, size_t *len)
{
	uint8_t h[5];
	uint32_t l;

	*body = NULL;
	if (typed) {
		if (peer_read_exact(p, h, 5) < 0)
			return -1;
		*type = h[0];
	} else {
		if (peer_read_exact(p, h + 1, 4) < 0)
			return -1;
		*type = 0;
	}
	l = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
	if (l < 4 || l > MAX_CLIENT_MSG)
		return -1;
	*len = l - 4;
	*body = malloc(*len + 1);
	if (*body == NULL)
		return -1;
	if (peer_read_exact(p, *body, *len) < 0) {
		free(*body);
		*body = NULL;
		return -1;
	}
	(*body)[*len] = '\0';
	return 0;
}

/* ---- server messages ------------------------------------------------------ */

static size_t msg_begin(struct czpg_wbuf *w, char type)
{
	size_t mark;

	czpg_wbuf_u8(w, (uint8_t)type);
	mark = w->len;
	czpg_wbuf_u32(w, 0);
	return mark;
}

static void msg_end(struct czpg_wbuf *w, size_t mark)
{
	czpg_wbuf_put_u32_at(w, mark, (uint32_t)(w->len - mark));
}

static void put_auth(struct czpg_wbuf *w, uint32_t code, const void *data, size_t len)
{
	size_t m = msg_begin(w, 'R');

	czpg_wbuf_u32(w, code);
	czpg_wbuf_bytes(w, data, len);
	msg_end(w, m);
}

static void put_sasl_offer(struct czpg_wbuf *w, bool plus)
{
	size_t m = msg_begin(w, 'R');

	czpg_wbuf_u32(w, 10);
	if (plus)
		czpg_wbuf_cstr(w, "SCRAM-SHA-256-PLUS");
	czpg_wbuf_cstr(w, "SCRAM-SHA-256");
	czpg_wbuf_u8(w, 0);
	msg_end(w, m);
}

static void put_error(struct czpg_wbuf *w, const char *severity, const char *code, const char *text)
{
	size_t m = msg_begin(w, 'E');

	czpg_wbuf_u8(w, 'S');
	czpg_wbuf_cstr(w, severity);
	czpg_wbuf_u8(w, 'V');
	czpg_wbuf_cstr(w, severity);
	czpg_wbuf_u8(w, 'C');
	czpg_wbuf_cstr(w, code);
	czpg_wbuf_u8(w, 'M');
	czpg_wbuf_cstr(w, text);
	czpg_wbuf_u8(w, 0);
	msg_end(w, m);
}

static void put_param(struct czpg_wbuf *w, const char *k, const char *v)
{
	size_t m = msg_begin(w, 'S');

	czpg_wbuf_cstr(w, k);
	czpg_wbuf_cstr(w, v);
	msg_end(w, m);
}

static void put_ready(struct czpg_wbuf *w)
{
	size_t m = msg_begin(w, 'Z');

	czpg_wbuf_u8(w, 'I');
	msg_end(w, m);
}

static void put_field(struct czpg_wbuf *w, const char *name, uint32_t oid, int16_t size)
{
	czpg_wbuf_cstr(w, name);
	czpg_wbuf_u32(w, 0);
	czpg_wbuf_u16(w, 0);
	czpg_wbuf_u32(w, oid);
	czpg_wbuf_i16(w, size);
	czpg_wbuf_i32(w, -1);
	czpg_wbuf_u16(w, 0);
}

static void put_value(struct czpg_wbuf *w, const char *v)
{
	czpg_wbuf_u32(w, (uint32_t)strlen(v));
	czpg_wbuf_bytes(w, v, strlen(v));
}

/*
 * The row verify's query (pg_stat_ssl joined with pg_stat_activity) would
 * give for this session: what was negotiated, the pid BackendKeyData
 * announced, and the client's own address as this socket sees it.
 */
static void put_ssl_row(struct czpg_wbuf *w, struct peer *p)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char bits[16], addr[INET_ADDRSTRLEN] = "", port[16] = "";
	size_t m;

	snprintf(bits, sizeof(bits), "%d", SSL_get_cipher_bits(p->ssl, NULL));
	if (getpeername(p->fd, (struct sockaddr *)&sin, &slen) == 0 && sin.sin_family == AF_INET) {
		inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof(addr));
		snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	}
	m = msg_begin(w, 'T');
	czpg_wbuf_u16(w, 7);
	put_field(w, "ssl", 16, 1);
	put_field(w, "version", 25, -1);
	put_field(w, "cipher", 25, -1);
	put_field(w, "bits", 23, 4);
	put_field(w, "pid", 23, 4);
	put_field(w, "host", 25, -1);
	put_field(w, "client_port", 23, 4);
	msg_end(w, m);
	m = msg_begin(w, 'D');
	czpg_wbuf_u16(w, 7);
	put_value(w, "t");
	put_value(w, SSL_get_version(p->ssl));
	put_value(w, SSL_get_cipher_name(p->ssl));
	put_value(w, bits);
	put_value(w, "4242");
	put_value(w, addr);
	put_value(w, port);
	msg_end(w, m);
	m = msg_begin(w, 'C');
	czpg_wbuf_cstr(w, "SELECT 1");
	msg_end(w, m);
	put_ready(w);
}

static int send_buf(struct peer *p, struct czpg_wbuf *w)
{
	int rc = w->err ? -1 : peer_write(p, w->data, w->len);

	czpg_wbuf_reset(w);
	return rc;
}

/* ---- misbehaviour --------------------------------------------------------- */

/* Never answers: discards what the client sends until it leaves. */
static void stall(struct peer *p)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t k = recv(p->fd, buf, sizeof(buf), 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
	}
}

/* Closes with a FIN (shutdown, then drain), never a reset. */
static void close_gently(struct peer *p)
{
	shutdown(p->fd, SHUT_WR);
	stall(p);
}

/*
 * Keeps a query "in progress" forever: one NoticeResponse every 250 ms, each
 * of which is progress for a client that pushes its deadline on any message.
 */
static void drip(struct peer *p)
{
	struct czpg_wbuf w;
	uint8_t b;
	int i;

	czpg_wbuf_init(&w, 0);
	for (i = 0; i < STALL_LIMIT_S * 4; i++) {
		size_t m = msg_begin(&w, 'N');

		czpg_wbuf_u8(&w, 'S');
		czpg_wbuf_cstr(&w, "NOTICE");
		czpg_wbuf_u8(&w, 'M');
		czpg_wbuf_cstr(&w, "still working on it");
		czpg_wbuf_u8(&w, 0);
		msg_end(&w, m);
		if (send_buf(p, &w) < 0)
			break;
		usleep(250000);
		if (recv(p->fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
			break; /* the client left */
	}
	czpg_wbuf_free(&w);
}

/* ---- one connection ------------------------------------------------------- */

static void serve(struct peer *p)
{
	static const char esc_text[] =
	    "\x1b]0;owned\x07\x1b[2J\x1b[31mserver says: run rm -rf /\x1b[0m";
	struct scram_server srv;
	struct czpg_wbuf w;
	uint8_t *body = NULL, type, first[8];
	char reply[1024];
	size_t len, mark;
	uint32_t code;
	int r;

	czpg_wbuf_init(&w, 0);
	scram_server_init(&srv, g_password);
	srv.cb_data = g_cb_data;
	srv.cb_len = g_cb_len;

	/* Direct TLS: the first byte is a TLS handshake record, not a length. */
	if ((g_scenario == SC_DIRECT_ALPN || g_scenario == SC_DIRECT_IGNORES_ALPN) &&
	    recv(p->fd, first, 1, MSG_PEEK) == 1 && first[0] == 0x16)
		goto handshake;
	/* SSLRequest: length 8, code 80877103. */
	if (peer_read_exact(p, first, 8) < 0)
		goto out;
	code = (uint32_t)first[4] << 24 | (uint32_t)first[5] << 16 | (uint32_t)first[6] << 8 |
	       first[7];
	if (code != 80877103u) {
		fprintf(stderr, "hostile_server: the client did not start with SSLRequest\n");
		goto out;
	}
	switch (g_scenario) {
	case SC_STALL_SSL:
		stall(p);
		goto out;
	case SC_CLOSE_SSL:
		close_gently(p);
		goto out;
	case SC_SSL_REFUSED:
		peer_write(p, "N", 1);
		stall(p);
		goto out;
	case SC_SSL_INJECT:
		/* One write: 'S' plus a forged AuthenticationOk in plaintext. */
		peer_write(p, "SR\x00\x00\x00\x08\x00\x00\x00\x00", 10);
		stall(p);
		goto out;
	case SC_SSL_ERROR_ESCAPE:
		put_error(&w, "FATAL", "XX000", esc_text);
		send_buf(p, &w);
		close_gently(p);
		goto out;
	default:
		break;
	}
	if (peer_write(p, "S", 1) < 0)
		goto out;
	if (g_scenario == SC_TLS_CLOSE_NOTIFY) {
		/* A warning-level close_notify record (TLS 1.2 record layer). */
		uint8_t hello[2048];

		if (recv(p->fd, hello, sizeof(hello), 0) <= 0)
			goto out;
		peer_write(p, "\x15\x03\x03\x00\x02\x01\x00", 7);
		close_gently(p);
		goto out;
	}
	if (g_scenario == SC_STALL_TLS || g_scenario == SC_CLOSE_TLS) {
		/* Read the ClientHello, then never answer it (or hang up). */
		uint8_t hello[2048];

		if (recv(p->fd, hello, sizeof(hello), 0) <= 0)
			goto out;
		if (g_scenario == SC_STALL_TLS)
			stall(p);
		else
			close_gently(p);
		goto out;
	}
handshake:
	p->ssl = SSL_new(g_ctx);
	if (p->ssl == NULL || SSL_set_fd(p->ssl, p->fd) != 1)
		goto out;
	if ((r = SSL_accept(p->ssl)) != 1) {
		/* Expected for the certificate and version scenarios. */
		ERR_clear_error();
		SSL_free(p->ssl);
		p->ssl = NULL;
		goto out;
	}

	/* StartupMessage (untyped). */
	if (read_msg(p, false, &type, &body, &len) < 0)
		goto out;
	free(body);
	body = NULL;
	switch (g_scenario) {
	case SC_STALL_STARTUP:
		stall(p);
		goto out;
	case SC_CLOSE_STARTUP:
		close_gently(p);
		goto out;
	case SC_HUGE_LENGTH:
	case SC_HUGE_LENGTH_MAX:
		/* An AuthenticationRequest header whose length is absurd. */
		czpg_wbuf_u8(&w, 'R');
		czpg_wbuf_u32(&w, g_scenario == SC_HUGE_LENGTH ? 0x80000000u : 0x7fffffffu);
		czpg_wbuf_u32(&w, 0);
		send_buf(p, &w);
		stall(p);
		goto out;
	case SC_STARTUP_ERROR_ESCAPE:
		put_error(&w, "FATAL", "28000", esc_text);
		send_buf(p, &w);
		close_gently(p);
		goto out;
	case SC_TRUST:
		put_auth(&w, 0, NULL, 0);
		put_param(&w, "server_version", "15.99 (hostile)");
		put_ready(&w);
		send_buf(p, &w);
		stall(p);
		goto out;
	default:
		break;
	}
	put_sasl_offer(&w, g_scenario != SC_NO_PLUS);
	if (send_buf(p, &w) < 0)
		goto out;

	/* SASLInitialResponse: mechanism, length, client-first. */
	if (read_msg(p, true, &type, &body, &len) < 0 || type != 'p')
		goto out;
	{
		struct czpg_rbuf rb;
		const char *mech;
		const uint8_t *cf;
		uint32_t cflen;

		czpg_rbuf_init(&rb, body, len);
		if (czpg_rbuf_cstr(&rb, &mech, NULL) < 0 || czpg_rbuf_u32(&rb, &cflen) < 0 ||
		    czpg_rbuf_bytes(&rb, cflen, &cf) < 0)
			goto out;
		srv.bad_nonce = g_scenario == SC_SCRAM_BAD_NONCE;
		srv.bad_signature = g_scenario == SC_SCRAM_BAD_SIGNATURE;
		if (g_scenario == SC_SCRAM_HUGE_ITERATIONS)
			srv.iterations_text = "2147483647";
		if (scram_server_first(&srv, (const char *)cf, cflen, reply, sizeof(reply)) < 0)
			goto out;
	}
	free(body);
	body = NULL;
	put_auth(&w, 11, reply, strlen(reply));
	if (send_buf(p, &w) < 0)
		goto out;
	if (g_scenario == SC_CLOSE_SASL) {
		close_gently(p);
		goto out;
	}

	/* SASLResponse: client-final. */
	if (read_msg(p, true, &type, &body, &len) < 0 || type != 'p')
		goto out;
	if (g_scenario == SC_STALL_SASL) {
		stall(p);
		goto out;
	}
	if (scram_server_final(&srv, (const char *)body, len, reply, sizeof(reply)) < 0)
		goto out;
	if (!srv.proof_ok) {
		put_error(&w, "FATAL", "28P01", "password authentication failed for user");
		send_buf(p, &w);
		close_gently(p);
		goto out;
	}
	put_auth(&w, 12, reply, strlen(reply));
	put_auth(&w, 0, NULL, 0);
	if (send_buf(p, &w) < 0)
		goto out;
	if (g_scenario == SC_STALL_PARAMS) {
		stall(p);
		goto out;
	}
	if (g_scenario == SC_CLOSE_PARAMS) {
		close_gently(p);
		goto out;
	}
	put_param(&w, "server_version", "15.99 (hostile)");
	put_param(&w, "client_encoding", "UTF8");
	mark = msg_begin(&w, 'K');
	czpg_wbuf_u32(&w, 4242);
	czpg_wbuf_u32(&w, 0x5eed);
	msg_end(&w, mark);
	put_ready(&w);
	if (send_buf(p, &w) < 0)
		goto out;

	/* The verify query. */
	free(body);
	body = NULL;
	if (read_msg(p, true, &type, &body, &len) < 0)
		goto out;
	if (g_scenario == SC_STALL_QUERY) {
		stall(p);
		goto out;
	}
	if (g_scenario == SC_CLOSE_QUERY) {
		close_gently(p);
		goto out;
	}
	if (g_scenario == SC_DRIP_QUERY) {
		drip(p);
		goto out;
	}
	if (type != 'Q')
		goto out;
	put_ssl_row(&w, p);
	if (send_buf(p, &w) < 0)
		goto out;
	/* Terminate, then close_notify or EOF. */
	free(body);
	body = NULL;
	if (read_msg(p, true, &type, &body, &len) == 0 && type == 'X')
		SSL_shutdown(p->ssl);
out:
	free(body);
	czpg_wbuf_free(&w);
	if (p->ssl != NULL)
		SSL_free(p->ssl);
	ERR_clear_error();
	OPENSSL_thread_stop();
}

static void *conn_thread(void *arg)
{
	struct peer p = {.fd = (int)(intptr_t)arg};
	struct timeval tv = {.tv_sec = STALL_LIMIT_S};
	int one = 1;

	setsockopt(p.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(p.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	serve(&p);
	close(p.fd);
	return NULL;
}

/* ---- setup ---------------------------------------------------------------- */

static void usage(void)
{
	int i;

	fprintf(stderr, "usage: hostile_server --scenario NAME --cert FILE --key FILE "
			"[--port N] [--password PW]\nscenarios:");
	for (i = 0; i < SC_COUNT; i++)
		fprintf(stderr, " %s", scenario_names[i]);
	fprintf(stderr, "\n");
}

static SSL_CTX *make_ctx(const char *cert_file, const char *key_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *cert = NULL;
	FILE *f = NULL;
	char err[256];

	if (ctx == NULL)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	if (g_scenario == SC_TLS12_ONLY && SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_num_tickets(ctx, 0);
	if (g_scenario == SC_DIRECT_ALPN)
		czpg_testcert_select_alpn_postgresql(ctx);
	/* The channel binding data the server side sees: its own certificate. */
	f = fopen(cert_file, "r");
	if (f == NULL || (cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		goto fail;
	if (czpg_tls_cert_end_point_hash(cert, g_cb_data, &g_cb_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "hostile_server: %s\n", err);
		goto fail;
	}
	X509_free(cert);
	fclose(f);
	return ctx;
fail:
	ERR_print_errors_fp(stderr);
	X509_free(cert);
	if (f != NULL)
		fclose(f);
	SSL_CTX_free(ctx);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"scenario", required_argument, NULL, 's'}, {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},      {"port", required_argument, NULL, 'p'},
	    {"password", required_argument, NULL, 'w'}, {NULL, 0, NULL, 0},
	};
	const char *scenario = NULL, *cert = NULL, *key = NULL;
	int port = 0, ch, lfd, i;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			scenario = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'w':
			g_password = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (scenario == NULL || cert == NULL || key == NULL || port < 0 || port > 65535) {
		usage();
		return 2;
	}
	for (i = 0; i < SC_COUNT; i++)
		if (scenario_names[i] != NULL && strcmp(scenario, scenario_names[i]) == 0)
			break;
	if (i == SC_COUNT) {
		fprintf(stderr, "hostile_server: unknown scenario '%s'\n", scenario);
		usage();
		return 2;
	}
	g_scenario = (enum scenario)i;
	signal(SIGPIPE, SIG_IGN);
	g_ctx = make_ctx(cert, key);
	if (g_ctx == NULL)
		return 1;

	lfd = czpg_loopserve_listen("hostile_server", port);
	if (lfd < 0) {
		SSL_CTX_free(g_ctx);
		return 1;
	}
	czpg_loopserve_run("hostile_server", lfd, conn_thread);
	SSL_CTX_free(g_ctx);
	return 1;
}
