/*
 * tls_relay.c - a TLS-terminating relay in front of a PostgreSQL server, for
 * tests: the man in the middle that channel binding exists to stop.
 *
 *   tls_relay --cert FILE --key FILE --upstream-host IP --upstream-port N
 *             [--ca FILE] [--port N] [--upstream-ciphersuites LIST]
 *             [--strip-plus]
 *
 * Listens on 127.0.0.1 (port 0 = the kernel picks; the port is printed on the
 * first line of stdout).  For each client: answers its SSLRequest with 'S'
 * and completes a TLS handshake with the relay's OWN certificate (one the
 * client trusts: same CA, right name); then opens its own connection to the
 * upstream server, sends SSLRequest, expects 'S', and completes a second TLS
 * handshake (verifying the server against --ca when given).  From then on it
 * relays the PostgreSQL protocol bytes, in plaintext inside the relay, both
 * ways (PostgreSQL docs, "SSL Session Encryption").
 *
 * Two relays are observable from the ends: the server's pg_stat_ssl row
 * describes the relay-to-server session, not the client's; and SCRAM-SHA-256-
 * PLUS binds to the certificate each end sees (RFC 5929 tls-server-end-point),
 * which differs on the two legs.
 *
 * --upstream-ciphersuites picks the TLS 1.3 suites of the upstream leg (so
 * the two legs negotiate different ciphers).  --strip-plus rewrites the
 * server's AuthenticationSASL message to drop SCRAM-SHA-256-PLUS, the
 * downgrade an active attacker would try (RFC 5802 section 6: the client's
 * "y" gs2 flag lets the server detect it).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "czpg/buf.h"
#include "loopserve.h"

#define RELAY_CHUNK 16384
#define RELAY_IO_TIMEOUT_MS 30000
#define RELAY_MAX_AUTH_MSG 65536u

static SSL_CTX *g_server_ctx; /* the relay as a server, facing the client */
static SSL_CTX *g_client_ctx; /* the relay as a client, facing the real server */
static struct sockaddr_in g_upstream;
static const char *g_upstream_host;
static bool g_strip_plus;

struct leg {
	int fd;
	SSL *ssl;
};

/* ---- blocking set-up ------------------------------------------------------ */

static int read_exact(int fd, void *buf, size_t n)
{
	uint8_t *b = buf;
	size_t off = 0;
	ssize_t k;

	while (off < n) {
		k = recv(fd, b + off, n - off, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *b = buf;
	size_t off = 0;
	ssize_t k;

	while (off < n) {
		k = send(fd, b + off, n - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

static void set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = RELAY_IO_TIMEOUT_MS / 1000};
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The client's SSLRequest, our 'S', and TLS with the relay's certificate. */
static int accept_client(struct leg *c)
{
	uint8_t req[8];

	if (read_exact(c->fd, req, sizeof(req)) < 0 ||
	    memcmp(req, "\x00\x00\x00\x08\x04\xd2\x16\x2f", 8) != 0) {
		fprintf(stderr, "tls_relay: the client did not send SSLRequest\n");
		return -1;
	}
	if (write_all(c->fd, "S", 1) < 0)
		return -1;
	c->ssl = SSL_new(g_server_ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_accept(c->ssl) != 1) {
		fprintf(stderr, "tls_relay: TLS handshake with the client failed\n");
		ERR_print_errors_fp(stderr);
		return -1;
	}
	return 0;
}

/* Our own SSLRequest to the real server, and our own TLS session with it. */
static int connect_upstream(struct leg *u)
{
	static const uint8_t req[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	X509_VERIFY_PARAM *vp;
	uint8_t answer;

	u->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u->fd < 0 || connect(u->fd, (struct sockaddr *)&g_upstream, sizeof(g_upstream)) < 0) {
		perror("tls_relay: connect upstream");
		return -1;
	}
	set_timeouts(u->fd);
	if (write_all(u->fd, req, sizeof(req)) < 0 || read_exact(u->fd, &answer, 1) < 0 ||
	    answer != 'S') {
		fprintf(stderr, "tls_relay: the upstream server did not agree to TLS\n");
		return -1;
	}
	u->ssl = SSL_new(g_client_ctx);
	if (u->ssl == NULL || SSL_set_fd(u->ssl, u->fd) != 1)
		return -1;
	vp = SSL_get0_param(u->ssl);
	if (X509_VERIFY_PARAM_set1_ip_asc(vp, g_upstream_host) != 1)
		return -1;
	if (SSL_connect(u->ssl) != 1) {
		fprintf(stderr, "tls_relay: TLS handshake with the upstream server failed\n");
		ERR_print_errors_fp(stderr);
		return -1;
	}
	return 0;
}

/* ---- relaying ------------------------------------------------------------- */

/* Writes all of buf to a non-blocking TLS leg, waiting for room as needed. */
static int leg_write(struct leg *to, const void *buf, size_t n)
{
	int r, e;

	if (n == 0)
		return 0;
	for (;;) {
		r = SSL_write(to->ssl, buf, (int)n);
		if (r == (int)n)
			return 0;
		e = SSL_get_error(to->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			struct pollfd p = {.fd = to->fd,
					   .events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};

			if (poll(&p, 1, RELAY_IO_TIMEOUT_MS) <= 0)
				return -1;
			continue;
		}
		return -1;
	}
}

/*
 * Server-to-client bytes before authentication is over, when stripping:
 * whole messages are collected so that AuthenticationSASL (R, code 10) can
 * be rebuilt without SCRAM-SHA-256-PLUS.  Returns 0, or -1 to hang up.
 */
struct stripper {
	struct czpg_wbuf in;
	bool done; /* past the SASL offer: pass everything through */
};

static int strip_and_forward(struct stripper *st, struct leg *to, const uint8_t *data, size_t n)
{
	struct czpg_wbuf out;
	int rc = -1;

	if (st->done)
		return leg_write(to, data, n);
	czpg_wbuf_init(&out, 0);
	if (czpg_wbuf_bytes(&st->in, data, n) < 0)
		goto out;
	while (!st->done && st->in.len >= 5) {
		const uint8_t *m = st->in.data;
		uint32_t len =
		    (uint32_t)m[1] << 24 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 8 | m[4];

		if (len < 4 || len > RELAY_MAX_AUTH_MSG)
			goto out;
		if (st->in.len < 1 + (size_t)len)
			break;
		if (m[0] == 'R' && len >= 8 && m[5] == 0 && m[6] == 0 && m[7] == 0 && m[8] == 10) {
			struct czpg_rbuf rb;
			const char *mech;
			size_t mark;

			czpg_rbuf_init(&rb, m + 9, len - 8);
			czpg_wbuf_u8(&out, 'R');
			mark = out.len;
			czpg_wbuf_u32(&out, 0);
			czpg_wbuf_u32(&out, 10);
			while (czpg_rbuf_cstr(&rb, &mech, NULL) == 0 && mech[0] != '\0') {
				if (strcmp(mech, "SCRAM-SHA-256-PLUS") == 0) {
					fprintf(stderr,
						"tls_relay: stripped %s from the "
						"server's SASL offer\n",
						mech);
					continue;
				}
				czpg_wbuf_cstr(&out, mech);
			}
			czpg_wbuf_u8(&out, 0);
			czpg_wbuf_put_u32_at(&out, mark, (uint32_t)(out.len - mark));
			st->done = true;
		} else {
			czpg_wbuf_bytes(&out, m, 1 + (size_t)len);
		}
		czpg_wbuf_consume(&st->in, 1 + (size_t)len);
	}
	if (st->done && st->in.len > 0) {
		czpg_wbuf_bytes(&out, st->in.data, st->in.len);
		czpg_wbuf_reset(&st->in);
	}
	if (out.err)
		goto out;
	rc = leg_write(to, out.data, out.len);
out:
	czpg_wbuf_free(&out);
	return rc;
}

/*
 * Moves every readable record from one leg to the other.  Returns 1 while
 * the leg is open, 0 when it closed, -1 on error.
 */
static int pump(struct leg *from, struct leg *to, struct stripper *st)
{
	uint8_t buf[RELAY_CHUNK];
	int r, e;

	for (;;) {
		r = SSL_read(from->ssl, buf, sizeof(buf));
		if (r > 0) {
			if ((st != NULL ? strip_and_forward(st, to, buf, (size_t)r)
					: leg_write(to, buf, (size_t)r)) < 0)
				return -1;
			continue;
		}
		e = SSL_get_error(from->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 1;
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		ERR_clear_error();
		return e == SSL_ERROR_SYSCALL ? 0 : -1;
	}
}

static void relay(struct leg *c, struct leg *u)
{
	struct stripper st = {.done = !g_strip_plus};
	int rc_c = 1, rc_u = 1;

	czpg_wbuf_init(&st.in, RELAY_MAX_AUTH_MSG * 2);
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	fcntl(u->fd, F_SETFL, fcntl(u->fd, F_GETFL) | O_NONBLOCK);
	while (rc_c == 1 && rc_u == 1) {
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
				      {.fd = u->fd, .events = POLLIN}};

		/* Records already decrypted and buffered need no poll. */
		if (SSL_pending(c->ssl) == 0 && SSL_pending(u->ssl) == 0 &&
		    poll(p, 2, RELAY_IO_TIMEOUT_MS) <= 0)
			break;
		rc_c = pump(c, u, NULL);
		if (rc_c == 1)
			rc_u = pump(u, c, &st);
	}
	SSL_shutdown(c->ssl);
	SSL_shutdown(u->ssl);
	czpg_wbuf_free(&st.in);
}

static void *conn_thread(void *arg)
{
	struct leg c = {.fd = (int)(intptr_t)arg, .ssl = NULL};
	struct leg u = {.fd = -1, .ssl = NULL};

	set_timeouts(c.fd);
	if (accept_client(&c) == 0 && connect_upstream(&u) == 0)
		relay(&c, &u);
	SSL_free(c.ssl);
	SSL_free(u.ssl);
	close(c.fd);
	if (u.fd >= 0)
		close(u.fd);
	ERR_clear_error();
	OPENSSL_thread_stop();
	return NULL;
}

/* ---- set-up --------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: tls_relay --cert FILE --key FILE --upstream-host IP "
			"--upstream-port N [--ca FILE] [--port N]\n"
			"                 [--upstream-ciphersuites LIST] [--strip-plus]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"ca", required_argument, NULL, 'a'},
	    {"port", required_argument, NULL, 'p'},
	    {"upstream-host", required_argument, NULL, 'H'},
	    {"upstream-port", required_argument, NULL, 'P'},
	    {"upstream-ciphersuites", required_argument, NULL, 'S'},
	    {"strip-plus", no_argument, NULL, 'x'},
	    {NULL, 0, NULL, 0},
	};
	const char *cert = NULL, *key = NULL, *ca = NULL, *suites = NULL;
	int port = 0, uport = 0, ch, lfd;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'a':
			ca = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'H':
			g_upstream_host = optarg;
			break;
		case 'P':
			uport = atoi(optarg);
			break;
		case 'S':
			suites = optarg;
			break;
		case 'x':
			g_strip_plus = true;
			break;
		default:
			usage();
			return 2;
		}
	}
	g_upstream.sin_family = AF_INET;
	g_upstream.sin_port = htons((uint16_t)uport);
	if (cert == NULL || key == NULL || g_upstream_host == NULL || uport <= 0 || uport > 65535 ||
	    port < 0 || port > 65535 ||
	    inet_pton(AF_INET, g_upstream_host, &g_upstream.sin_addr) != 1) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	g_server_ctx = SSL_CTX_new(TLS_server_method());
	g_client_ctx = SSL_CTX_new(TLS_client_method());
	if (g_server_ctx == NULL || g_client_ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(g_server_ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(g_server_ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(g_server_ctx) != 1 ||
	    (suites != NULL && SSL_CTX_set_ciphersuites(g_client_ctx, suites) != 1) ||
	    (ca != NULL && SSL_CTX_load_verify_locations(g_client_ctx, ca, NULL) != 1)) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "tls_relay: bad certificate, key, CA or cipher suites\n");
		return 1;
	}
	SSL_CTX_set_num_tickets(g_server_ctx, 0);
	SSL_CTX_set_verify(g_client_ctx, ca != NULL ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);

	lfd = czpg_loopserve_listen("tls_relay", port);
	if (lfd < 0)
		return 1;
	czpg_loopserve_run("tls_relay", lfd, conn_thread);
	SSL_CTX_free(g_server_ctx);
	SSL_CTX_free(g_client_ctx);
	return 1;
}
