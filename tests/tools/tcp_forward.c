/*
 * tcp_forward.c - a TCP-level forwarder for tests: what a NAT, a published
 * container port (docker-proxy) or a load balancer in TCP mode does.  It
 * never looks at the bytes: TLS runs end to end through it.
 *
 *   tcp_forward --upstream-host IP --upstream-port N [--port N]
 *
 * Listens on 127.0.0.1 (port 0 = the kernel picks; the port is printed on
 * the first line of stdout).  For each client it opens its own connection
 * to the upstream server and copies bytes both ways until either side
 * closes; a half-close is passed on (shutdown of the other direction).
 *
 * What the ends observe: the server's pg_stat_activity names the
 * forwarder's own socket as the client (client_addr/client_port), while
 * BackendKeyData and the TLS session are the server's own, so channel
 * binding (RFC 5929 tls-server-end-point) still succeeds.
 */
#include <errno.h>
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
#include <unistd.h>

#include "loopserve.h"

#define FWD_CHUNK 16384
#define FWD_IDLE_MS 60000 /* a stuck pair is dropped after this much silence */

static struct sockaddr_in g_upstream;

static void usage(void)
{
	fprintf(stderr, "usage: tcp_forward --upstream-host IP --upstream-port N [--port N]\n");
}

/* Writes all n bytes; 0, or -1 when the peer is gone. */
static int write_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Copies both ways between a and b until both directions have ended. */
static void relay(int a, int b)
{
	struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
	bool open_dir[2] = {true, true}; /* a->b, b->a */
	char buf[FWD_CHUNK];
	ssize_t n;
	int i, r;

	while (open_dir[0] || open_dir[1]) {
		p[0].events = open_dir[0] ? POLLIN : 0;
		p[1].events = open_dir[1] ? POLLIN : 0;
		r = poll(p, 2, FWD_IDLE_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (i = 0; i < 2; i++) {
			if (!open_dir[i] || (p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
				continue;
			n = recv(p[i].fd, buf, sizeof(buf), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || write_all(p[1 - i].fd, buf, (size_t)n) < 0) {
				/* This direction ended: pass the half-close on. */
				shutdown(p[1 - i].fd, SHUT_WR);
				open_dir[i] = false;
			}
		}
	}
}

static void *conn_thread(void *arg)
{
	int client = (int)(intptr_t)arg, up, one = 1;

	up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (up < 0 || connect(up, (struct sockaddr *)&g_upstream, sizeof(g_upstream)) < 0) {
		perror("tcp_forward: upstream connect");
		if (up >= 0)
			close(up);
		close(client);
		return NULL;
	}
	setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	relay(client, up);
	close(up);
	close(client);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {"upstream-host", required_argument, NULL, 'H'},
	    {"upstream-port", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	const char *uhost = NULL;
	int port = 0, uport = 0, ch, lfd;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'H':
			uhost = optarg;
			break;
		case 'P':
			uport = atoi(optarg);
			break;
		default:
			usage();
			return 2;
		}
	}
	g_upstream.sin_family = AF_INET;
	g_upstream.sin_port = htons((uint16_t)uport);
	if (uhost == NULL || uport <= 0 || uport > 65535 || port < 0 || port > 65535 ||
	    inet_pton(AF_INET, uhost, &g_upstream.sin_addr) != 1) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = czpg_loopserve_listen("tcp_forward", port);
	if (lfd < 0)
		return 1;
	czpg_loopserve_run("tcp_forward", lfd, conn_thread);
	return 1;
}
