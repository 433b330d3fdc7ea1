/*
 * loopserve.c - the listening side of the test tools (see loopserve.h).
 */
#include "loopserve.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

int czpg_loopserve_listen(const char *name, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sin);
	int lfd, one = 1;
	char what[64];

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd >= 0)
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) < 0) {
		snprintf(what, sizeof(what), "%s: listen", name);
		perror(what);
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	printf("%u\n", ntohs(sin.sin_port));
	fflush(stdout);
	return lfd;
}

void czpg_loopserve_run(const char *name, int lfd, void *(*fn)(void *))
{
	pthread_attr_t attr;
	pthread_t th;
	char what[64];
	int fd;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			snprintf(what, sizeof(what), "%s: accept", name);
			perror(what);
			break;
		}
		if (pthread_create(&th, &attr, fn, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
	pthread_attr_destroy(&attr);
	close(lfd);
}
