/*
 * childproc.h - running helper programs from tests: a server that prints its
 * port on its first line, and commands whose exit status, output and wall
 * time a test checks (several at once, each bounded in time).
 */
#ifndef CZPG_TEST_CHILDPROC_H
#define CZPG_TEST_CHILDPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct czpg_child {
	pid_t pid; /* 0 when not running */
	uint64_t start_ns;
	uint64_t end_ns;
	bool exited; /* reaped (status is valid) */
	bool killed; /* we killed it: it overran its time limit */
	int status;  /* waitpid() status */
	char out_path[512];
	char err_path[512];
};

/*
 * Starts argv (argv[0] is a path) with stdin from /dev/null and stdout and
 * stderr to the files out_path and err_path (created, truncated).  0 or -1.
 */
int czpg_child_start(struct czpg_child *c, char *const argv[], const char *out_path,
		     const char *err_path);

/*
 * Reaps c if it has ended (no wait); true once it has.  With limit_ms > 0, a
 * child running longer than that since its start is killed (SIGKILL) and
 * reaped with killed set.
 */
bool czpg_child_poll(struct czpg_child *c, unsigned limit_ms);

/*
 * Waits for c up to limit_ms; past that kills it (SIGKILL) and reaps it with
 * killed set.  Returns 0 once reaped.
 */
int czpg_child_wait(struct czpg_child *c, unsigned limit_ms);

/* Wall time from start to exit, in milliseconds. */
double czpg_child_elapsed_ms(const struct czpg_child *c);

/* Exit code when it exited normally, else -1 (killed by a signal). */
int czpg_child_exit_code(const struct czpg_child *c);

/* Reads a whole file into a fresh NUL-terminated buffer (*len bytes); NULL on error. */
char *czpg_child_slurp(const char *path, size_t *len);

/*
 * Starts a server that prints its TCP port on its first stdout line: waits
 * up to limit_ms for that line and returns the port, or -1 (the server is
 * killed then).  Its stderr goes to err_path.
 */
int czpg_child_start_server(struct czpg_child *c, char *const argv[], const char *err_path,
			    unsigned limit_ms);

/* SIGTERM, then reaps (SIGKILL after 2 s).  True if it was still running when asked to stop. */
bool czpg_child_stop(struct czpg_child *c);

#endif
