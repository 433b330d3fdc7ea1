/*
 * childproc.c - fork/exec helpers for tests that run programs (see childproc.h).
 */
#include "childproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* In the child: dup fd onto target or die. */
static void child_redirect(int fd, int target)
{
	if (fd < 0 || dup2(fd, target) < 0)
		_exit(127);
	if (fd != target)
		close(fd);
}

static pid_t spawn(char *const argv[], int out_fd, int err_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	child_redirect(open("/dev/null", O_RDONLY), 0);
	child_redirect(out_fd, 1);
	child_redirect(err_fd, 2);
	/* A test that dies must not leave its servers behind. */
	setpgid(0, 0);
	execv(argv[0], argv);
	fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int czpg_child_start(struct czpg_child *c, char *const argv[], const char *out_path,
		     const char *err_path)
{
	int out_fd, err_fd;

	memset(c, 0, sizeof(*c));
	snprintf(c->out_path, sizeof(c->out_path), "%s", out_path);
	snprintf(c->err_path, sizeof(c->err_path), "%s", err_path);
	out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out_fd < 0 || err_fd < 0) {
		fprintf(stderr, "childproc: cannot create %s / %s: %s\n", out_path, err_path,
			strerror(errno));
		if (out_fd >= 0)
			close(out_fd);
		if (err_fd >= 0)
			close(err_fd);
		return -1;
	}
	c->start_ns = now_ns();
	c->pid = spawn(argv, out_fd, err_fd);
	close(out_fd);
	close(err_fd);
	if (c->pid < 0) {
		c->pid = 0;
		return -1;
	}
	return 0;
}

static void kill_and_reap(struct czpg_child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &c->status, 0);
	c->end_ns = now_ns();
	c->exited = true;
	c->killed = true;
}

bool czpg_child_poll(struct czpg_child *c, unsigned limit_ms)
{
	pid_t r;

	if (c->exited || c->pid == 0)
		return true;
	r = waitpid(c->pid, &c->status, WNOHANG);
	if (r == c->pid) {
		c->end_ns = now_ns();
		c->exited = true;
	} else if (limit_ms > 0 && now_ns() - c->start_ns >= (uint64_t)limit_ms * 1000000ull) {
		kill_and_reap(c);
	}
	return c->exited;
}

int czpg_child_wait(struct czpg_child *c, unsigned limit_ms)
{
	while (!czpg_child_poll(c, limit_ms))
		usleep(2000);
	return 0;
}

double czpg_child_elapsed_ms(const struct czpg_child *c)
{
	return (double)(c->end_ns - c->start_ns) / 1e6;
}

int czpg_child_exit_code(const struct czpg_child *c)
{
	if (!c->exited || c->killed || !WIFEXITED(c->status))
		return -1;
	return WEXITSTATUS(c->status);
}

char *czpg_child_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t n = 0, cap = 0, k;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

int czpg_child_start_server(struct czpg_child *c, char *const argv[], const char *err_path,
			    unsigned limit_ms)
{
	char line[32];
	size_t used = 0;
	int pipefd[2], err_fd, port = -1;
	uint64_t deadline;

	memset(c, 0, sizeof(*c));
	snprintf(c->err_path, sizeof(c->err_path), "%s", err_path);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	c->start_ns = now_ns();
	c->pid = spawn(argv, pipefd[1], err_fd);
	close(pipefd[1]);
	if (err_fd >= 0)
		close(err_fd);
	if (c->pid < 0) {
		c->pid = 0;
		close(pipefd[0]);
		return -1;
	}
	deadline = c->start_ns + (uint64_t)limit_ms * 1000000ull;
	while (used < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		uint64_t now = now_ns();
		ssize_t k;

		if (now >= deadline || poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1) <= 0)
			break;
		k = read(pipefd[0], line + used, 1);
		if (k <= 0)
			break;
		if (line[used] == '\n') {
			line[used] = '\0';
			port = atoi(line);
			break;
		}
		used++;
	}
	close(pipefd[0]);
	if (port <= 0 || port > 65535) {
		czpg_child_stop(c);
		return -1;
	}
	return port;
}

bool czpg_child_stop(struct czpg_child *c)
{
	bool running;

	if (c->pid == 0)
		return false;
	running = !czpg_child_poll(c, 0);
	if (running) {
		uint64_t deadline = now_ns() + 2000000000ull;

		kill(c->pid, SIGTERM);
		while (!czpg_child_poll(c, 0) && now_ns() < deadline)
			usleep(2000);
		if (!c->exited)
			kill_and_reap(c);
	}
	return running;
}
