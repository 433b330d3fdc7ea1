/*
 * reload.c - reload the PostgreSQL server and read back what it thinks of
 * its files (see czpg/reload.h).
 *
 * PostgreSQL facts this relies on (PostgreSQL 15 documentation):
 *   - SIGHUP makes the postmaster re-read postgresql.conf (and included
 *     files), pg_hba.conf and the TLS files; existing sessions keep their
 *     authentication and TLS state.
 *   - pg_conf_load_time() in a new session is the postmaster's last
 *     successful configuration load; the postmaster finishes the whole reload
 *     (configuration, pg_hba, TLS) before it forks another session.
 *   - pg_hba_file_rules and pg_file_settings parse the files as they are on
 *     disk now and report, per line, what would fail.
 */
#include "czpg/reload.h"
#include "czpg/errf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "czpg/buf.h"
#include "czpg/clock.h"
#include "czpg/pgconf.h"

static unsigned timeout_of(const struct czpg_server *s)
{
	return s->timeout_ms != 0 ? s->timeout_ms : 30000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Last line of a command's output, without control characters, for errors. */
static void tidy_output(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0, start = 0, end = len;

	while (end > 0 && (in[end - 1] == '\n' || in[end - 1] == '\r' || in[end - 1] == ' '))
		end--;
	for (i = 0; i < end; i++)
		if (in[i] == '\n')
			start = i + 1;
	/* Keep the whole output when it is short; else its last line. */
	if (end < 300)
		start = 0;
	for (i = start; i < end && o + 1 < outlen; i++)
		out[o++] = (in[i] == '\n' || (unsigned char)in[i] < 0x20) ? ' ' : in[i];
	if (outlen > 0)
		out[o] = '\0';
}

/*
 * Removes every password variable (a name holding "PASSWORD": the
 * CZ_PG_VERIFY_PASSWORD of self-verify, libpq's PGPASSWORD) from the
 * environment of a child about to exec: pg_ctl, psql and docker need none
 * (psql runs as the data directory's owner over the socket), and a
 * password in a child's environment is readable in /proc/<pid>/environ.
 */
static void scrub_environment(void)
{
	extern char **environ;
	size_t i = 0;

	while (environ != NULL && environ[i] != NULL) {
		const char *eq = strchr(environ[i], '=');
		char name[256];
		size_t n = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);

		if (n < sizeof(name)) {
			memcpy(name, environ[i], n);
			name[n] = '\0';
			if (strstr(name, "PASSWORD") != NULL && unsetenv(name) == 0)
				continue; /* environ[i] is now the next variable */
		}
		i++;
	}
}

/*
 * Runs argv (execvp) and captures stdout into *out (malloc'd, NUL-terminated)
 * and stderr into errout (errout NULL: stderr goes into *out too).  When drop, the child switches
 * to uid/gid first (as root: setgroups, setgid, setuid) and changes to "/".  Returns the exit
 * status, or -1 with err set when it could not run, timed out or died.
 */
static int run_capture(char *const argv[], bool drop, uid_t uid, gid_t gid, unsigned timeout_ms,
		       char **out, size_t *outlen, char *errout, size_t errout_len, char *err,
		       size_t errlen)
{
	int opipe[2] = {-1, -1}, epipe[2] = {-1, -1};
	struct czpg_wbuf ob, eb;
	struct pollfd pfd[2];
	uint64_t deadline;
	pid_t pid = -1;
	int status, rc = -1, open_fds;
	char chunk[4096];

	*out = NULL;
	*outlen = 0;
	if (errout != NULL && errout_len > 0)
		errout[0] = '\0';
	czpg_wbuf_init(&ob, CZPG_RELOAD_MAX_OUTPUT);
	czpg_wbuf_init(&eb, 64 * 1024);
	if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0) {
		czpg_errf(err, errlen, "cannot run %s: %s", argv[0], strerror(errno));
		goto out;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		czpg_errf(err, errlen, "cannot run %s: %s", argv[0], strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		/*
		 * Its own process group: a Ctrl-C at the terminal reaches czctl
		 * alone, which decides (an apply does not stop half way).
		 */
		setpgid(0, 0);
		scrub_environment();
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(opipe[1], STDOUT_FILENO);
		dup2(errout == NULL ? opipe[1] : epipe[1], STDERR_FILENO);
		if (drop && geteuid() == 0) {
			if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
				dprintf(STDERR_FILENO, "cannot switch to uid %ld gid %ld: %s\n",
					(long)uid, (long)gid, strerror(errno));
				_exit(126);
			}
		}
		if (drop && chdir("/") < 0)
			_exit(126);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(opipe[1]);
	close(epipe[1]);
	opipe[1] = epipe[1] = -1;
	deadline = czpg_clock_ns() + (uint64_t)timeout_ms * 1000000ull;
	open_fds = 2;
	while (open_fds > 0) {
		uint64_t now = czpg_clock_ns();
		int n, i;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			pid = -1;
			czpg_errf(err, errlen, "%s did not finish within %u ms and was stopped",
				  argv[0], timeout_ms);
			goto out;
		}
		pfd[0] = (struct pollfd){.fd = opipe[0], .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = epipe[0], .events = POLLIN};
		n = poll(pfd, 2, (int)((deadline - now) / 1000000ull) + 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			czpg_errf(err, errlen, "cannot wait for %s: %s", argv[0], strerror(errno));
			goto out;
		}
		for (i = 0; i < 2; i++) {
			ssize_t r;

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			r = read(pfd[i].fd, chunk, sizeof(chunk));
			if (r > 0) {
				czpg_wbuf_bytes(i == 0 ? &ob : &eb, chunk, (size_t)r);
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(i == 0 ? opipe[0] : epipe[0]);
				if (i == 0)
					opipe[0] = -1;
				else
					epipe[0] = -1;
				open_fds--;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			czpg_errf(err, errlen, "cannot wait for %s: %s", argv[0], strerror(errno));
			pid = -1;
			goto out;
		}
	}
	pid = -1;
	if (ob.err) {
		czpg_errf(err, errlen, "%s printed more than %zu bytes", argv[0],
			  (size_t)CZPG_RELOAD_MAX_OUTPUT);
		goto out;
	}
	if (errout != NULL)
		tidy_output((const char *)eb.data, eb.len, errout, errout_len);
	if (!WIFEXITED(status)) {
		czpg_errf(err, errlen, "%s was killed by signal %d", argv[0],
			  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		goto out;
	}
	czpg_wbuf_u8(&ob, '\0');
	if (ob.err) {
		czpg_errf(err, errlen, "out of memory reading the output of %s", argv[0]);
		goto out;
	}
	*outlen = ob.len - 1;
	*out = (char *)ob.data;
	ob.data = NULL;
	rc = WEXITSTATUS(status);
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	for (int i = 0; i < 2; i++) {
		if (opipe[i] >= 0)
			close(opipe[i]);
		if (epipe[i] >= 0)
			close(epipe[i]);
	}
	czpg_wbuf_free(&ob);
	czpg_wbuf_free(&eb);
	return rc;
}

static bool is_executable(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int czpg_reload_find_pg_bin(const char *pgdata, const char *given, char *out, size_t outlen,
			    char *err, size_t errlen)
{
	char path[PATH_MAX], version[32] = "", cand[PATH_MAX];
	const char *p, *envpath = getenv("PATH");
	FILE *f;
	int rc = -1;

	if (given != NULL) {
		if (!is_executable(given, "pg_ctl") && !is_executable(given, "psql")) {
			czpg_errf(err, errlen, "--pg-bin %s holds neither pg_ctl nor psql", given);
			goto out;
		}
		snprintf(out, outlen, "%s", given);
		rc = 0;
		goto out;
	}
	if (pgdata != NULL) {
		snprintf(path, sizeof(path), "%s/PG_VERSION", pgdata);
		f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(version, sizeof(version), f) == NULL)
				version[0] = '\0';
			fclose(f);
			version[strcspn(version, "\r\n")] = '\0';
		}
		if (version[0] != '\0' && strspn(version, "0123456789.") == strlen(version)) {
			snprintf(cand, sizeof(cand), "/usr/lib/postgresql/%s/bin", version);
			if (is_executable(cand, "pg_ctl")) {
				snprintf(out, outlen, "%s", cand);
				rc = 0;
				goto out;
			}
		}
	}
	for (p = envpath; p != NULL && *p != '\0';) {
		const char *colon = strchr(p, ':');
		size_t n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		char real[PATH_MAX];

		if (n > 0 && n < sizeof(cand)) {
			memcpy(cand, p, n);
			cand[n] = '\0';
			if (is_executable(cand, "pg_ctl")) {
				if (snprintf(path, sizeof(path), "%s/pg_ctl", cand) >=
				    (int)sizeof(path))
					break;
				if (realpath(path, real) != NULL) {
					char *slash = strrchr(real, '/');

					if (slash != NULL)
						*slash = '\0';
					snprintf(out, outlen, "%s", real);
				} else {
					snprintf(out, outlen, "%s", cand);
				}
				rc = 0;
				goto out;
			}
		}
		p = colon != NULL ? colon + 1 : NULL;
	}
	czpg_errf(
	    err, errlen,
	    "no pg_ctl found (looked in /usr/lib/postgresql/%s/bin and on PATH): pass --pg-bin "
	    "DIR",
	    version[0] != '\0' ? version : "<PG_VERSION>");
out:
	return rc;
}

static int scan_conf(const char *text, size_t len, const char *what, char *sockdir,
		     size_t sockdir_len, unsigned *port, char *err, size_t errlen)
{
	struct czpg_pgconf_setting *s = NULL;
	size_t n = 0, i;
	char perr[256];

	if (text == NULL)
		return 0;
	if (czpg_pgconf_parse(text, len, &s, &n, perr, sizeof(perr)) < 0) {
		czpg_errf(err, errlen, "%s: %s", what, perr);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(s[i].name, "unix_socket_directories") == 0) {
			const char *v = s[i].value;
			size_t k;

			while (*v == ' ' || *v == '\t')
				v++;
			k = strcspn(v, ",");
			while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'))
				k--;
			if (k > 0 && k < sockdir_len) {
				memcpy(sockdir, v, k);
				sockdir[k] = '\0';
			}
		} else if (strcmp(s[i].name, "port") == 0) {
			char *end;
			unsigned long p = strtoul(s[i].value, &end, 10);

			if (*end == '\0' && p >= 1 && p <= 65535)
				*port = (unsigned)p;
		}
	}
	czpg_pgconf_settings_free(s, n);
	return 0;
}

int czpg_reload_conf_socket(const char *conf, size_t conf_len, const char *auto_conf,
			    size_t auto_len, char *sockdir, size_t sockdir_len, unsigned *port,
			    char *err, size_t errlen)
{
	if (scan_conf(conf, conf_len, "postgresql.conf", sockdir, sockdir_len, port, err, errlen) <
		0 ||
	    scan_conf(auto_conf, auto_len, "postgresql.auto.conf", sockdir, sockdir_len, port, err,
		      errlen) < 0)
		return -1;
	return 0;
}

void czpg_reload_describe(const struct czpg_server *s, char *out, size_t outlen)
{
	if (s->kind == CZPG_SERVER_CONTAINER)
		snprintf(out, outlen, "%s kill -s HUP %s", s->docker, s->container);
	else if (s->pg_bin != NULL)
		snprintf(out, outlen, "%s/pg_ctl reload -D %s (as uid %ld gid %ld)", s->pg_bin,
			 s->pgdata, (long)s->owner_uid, (long)s->owner_gid);
	else
		snprintf(out, outlen, "kill -HUP <postmaster pid from %s/postmaster.pid>",
			 s->pgdata);
}

void czpg_reload_describe_query(const struct czpg_server *s, char *out, size_t outlen)
{
	if (s->kind == CZPG_SERVER_CONTAINER)
		snprintf(out, outlen, "%s exec -u postgres %s psql -X -A -t -w -U %s -d postgres",
			 s->docker, s->container, s->admin_user);
	else
		snprintf(out, outlen,
			 "%s/psql -X -A -t -w -h %s -p %u -U %s -d postgres (as uid %ld)",
			 s->pg_bin != NULL ? s->pg_bin : "?", s->socket_dir, s->port, s->admin_user,
			 (long)s->owner_uid);
}

static int read_postmaster_pid(const char *pgdata, pid_t *pid, char *err, size_t errlen)
{
	char path[PATH_MAX], line[64];
	FILE *f;
	long v;
	char *end;

	snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
	f = fopen(path, "r");
	if (f == NULL) {
		czpg_errf(err, errlen, "cannot read %s (is the server running?): %s", path,
			  strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	v = strtol(line, &end, 10);
	if (line[0] == '\0' || *end != '\0' || v <= 1) {
		czpg_errf(err, errlen, "%s does not start with a process id", path);
		return -1;
	}
	*pid = (pid_t)v;
	return 0;
}

int czpg_reload_signal(const struct czpg_server *s, char *how, size_t howlen, char *err,
		       size_t errlen)
{
	char *out = NULL, errout[600], bin[PATH_MAX];
	size_t outlen;
	int st, rc = -1;

	if (s->kind == CZPG_SERVER_CONTAINER) {
		char *argv[] = {(char *)s->docker, "kill", "-s", "HUP", (char *)s->container, NULL};

		st = run_capture(argv, false, 0, 0, timeout_of(s), &out, &outlen, errout,
				 sizeof(errout), err, errlen);
		if (st < 0)
			goto out;
		if (st != 0) {
			czpg_errf(err, errlen, "%s kill -s HUP %s failed (exit %d): %s", s->docker,
				  s->container, st, errout[0] != '\0' ? errout : "no message");
			goto out;
		}
		snprintf(how, howlen, "%s kill -s HUP %s (SIGHUP to the container's postmaster)",
			 s->docker, s->container);
		rc = 0;
		goto out;
	}
	if (s->pg_bin != NULL && is_executable(s->pg_bin, "pg_ctl")) {
		char *argv[] = {bin, "reload", "-D", (char *)s->pgdata, NULL};

		snprintf(bin, sizeof(bin), "%s/pg_ctl", s->pg_bin);
		st = run_capture(argv, true, s->owner_uid, s->owner_gid, timeout_of(s), &out,
				 &outlen, errout, sizeof(errout), err, errlen);
		if (st < 0)
			goto out;
		if (st != 0) {
			czpg_errf(err, errlen, "pg_ctl reload -D %s failed (exit %d): %s",
				  s->pgdata, st, errout[0] != '\0' ? errout : "no message");
			goto out;
		}
		snprintf(how, howlen, "pg_ctl reload -D %s, run as uid %ld gid %ld", s->pgdata,
			 (long)s->owner_uid, (long)s->owner_gid);
		rc = 0;
		goto out;
	}
	{
		pid_t pid;

		if (read_postmaster_pid(s->pgdata, &pid, err, errlen) < 0)
			goto out;
		if (kill(pid, SIGHUP) < 0) {
			czpg_errf(err, errlen, "cannot send SIGHUP to the postmaster (pid %ld): %s",
				  (long)pid, strerror(errno));
			goto out;
		}
		snprintf(how, howlen,
			 "SIGHUP to postmaster pid %ld from %s/postmaster.pid (no pg_ctl)",
			 (long)pid, s->pgdata);
		rc = 0;
	}
out:
	free(out);
	return rc;
}

int czpg_reload_rows_parse(const char *text, size_t len, size_t nfields,
			   struct czpg_reload_rows *out, char *err, size_t errlen)
{
	size_t i, nrec = 0, cell = 0, ncells = 0;
	char *p;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->nfields = nfields;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == CZPG_RELOAD_RS[0]))
		len--;
	if (nfields == 0) {
		czpg_errf(err, errlen, "no fields asked for");
		goto out;
	}
	if (len == 0) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < len; i++)
		if (text[i] == CZPG_RELOAD_RS[0])
			nrec++;
	nrec++;
	if (nrec > CZPG_RELOAD_MAX_ROWS) {
		czpg_errf(err, errlen, "the query returned more than %d rows",
			  CZPG_RELOAD_MAX_ROWS);
		goto out;
	}
	out->buf = malloc(len + 1);
	out->cells = calloc(nrec * nfields, sizeof(char *));
	if (out->buf == NULL || out->cells == NULL) {
		czpg_errf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(out->buf, text, len);
	out->buf[len] = '\0';
	p = out->buf;
	out->cells[ncells++] = p;
	for (i = 0; i < len; i++) {
		if (out->buf[i] == CZPG_RELOAD_FS[0]) {
			out->buf[i] = '\0';
			if (++cell >= nfields) {
				czpg_errf(err, errlen, "a result row has more than %zu fields",
					  nfields);
				goto out;
			}
			out->cells[ncells++] = &out->buf[i + 1];
		} else if (out->buf[i] == CZPG_RELOAD_RS[0]) {
			out->buf[i] = '\0';
			if (cell + 1 != nfields) {
				czpg_errf(err, errlen, "a result row has %zu fields, not %zu",
					  cell + 1, nfields);
				goto out;
			}
			cell = 0;
			out->cells[ncells++] = &out->buf[i + 1];
		}
	}
	if (cell + 1 != nfields) {
		czpg_errf(err, errlen, "a result row has %zu fields, not %zu", cell + 1, nfields);
		goto out;
	}
	out->nrows = nrec;
	rc = 0;
out:
	if (rc < 0)
		czpg_reload_rows_free(out);
	return rc;
}

void czpg_reload_rows_free(struct czpg_reload_rows *r)
{
	if (r == NULL)
		return;
	free(r->cells);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

int czpg_reload_query(const struct czpg_server *s, const char *sql, size_t nfields,
		      struct czpg_reload_rows *rows, char *err, size_t errlen)
{
	char psql[PATH_MAX], port[16], errout[600];
	char *out = NULL;
	size_t outlen = 0;
	int st, rc = -1;

	memset(rows, 0, sizeof(*rows));
	snprintf(port, sizeof(port), "%u", s->port);
	if (s->kind == CZPG_SERVER_CONTAINER) {
		char *argv[] = {(char *)s->docker,
				"exec",
				"-u",
				"postgres",
				(char *)s->container,
				"psql",
				"-X",
				"-A",
				"-t",
				"-q",
				"-w",
				"-F",
				CZPG_RELOAD_FS,
				"-R",
				CZPG_RELOAD_RS,
				"-v",
				"ON_ERROR_STOP=1",
				"-U",
				(char *)s->admin_user,
				"-d",
				"postgres",
				"-c",
				(char *)sql,
				NULL};

		st = run_capture(argv, false, 0, 0, timeout_of(s), &out, &outlen, errout,
				 sizeof(errout), err, errlen);
	} else {
		char *argv[] = {psql, "-X",
				"-A", "-t",
				"-q", "-w",
				"-F", CZPG_RELOAD_FS,
				"-R", CZPG_RELOAD_RS,
				"-v", "ON_ERROR_STOP=1",
				"-h", (char *)s->socket_dir,
				"-p", port,
				"-U", (char *)s->admin_user,
				"-d", "postgres",
				"-c", (char *)sql,
				NULL};

		if (s->pg_bin != NULL && is_executable(s->pg_bin, "psql"))
			snprintf(psql, sizeof(psql), "%s/psql", s->pg_bin);
		else
			snprintf(psql, sizeof(psql), "psql");
		st = run_capture(argv, true, s->owner_uid, s->owner_gid, timeout_of(s), &out,
				 &outlen, errout, sizeof(errout), err, errlen);
	}
	if (st < 0)
		goto out;
	if (st != 0) {
		char where[512];

		czpg_reload_describe_query(s, where, sizeof(where));
		czpg_errf(err, errlen, "cannot query the server as %s (%s): %s", s->admin_user,
			  where, errout[0] != '\0' ? errout : "psql failed without a message");
		goto out;
	}
	if (czpg_reload_rows_parse(out, outlen, nfields, rows, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	free(out);
	return rc;
}

int czpg_reload_load_time(const struct czpg_server *s, char *out, size_t outlen, char *err,
			  size_t errlen)
{
	struct czpg_reload_rows r;

	if (czpg_reload_query(s, "SELECT pg_catalog.pg_conf_load_time()", 1, &r, err, errlen) < 0)
		return -1;
	if (r.nrows != 1) {
		czpg_errf(err, errlen, "pg_conf_load_time() returned %zu rows", r.nrows);
		czpg_reload_rows_free(&r);
		return -1;
	}
	snprintf(out, outlen, "%s", r.cells[0]);
	czpg_reload_rows_free(&r);
	return 0;
}

int czpg_reload_wait(const struct czpg_server *s, const char *before, unsigned timeout_ms,
		     char *after, size_t afterlen, char *err, size_t errlen)
{
	uint64_t deadline = czpg_clock_ns() + (uint64_t)timeout_ms * 1000000ull;
	char now[128];

	for (;;) {
		if (czpg_reload_load_time(s, now, sizeof(now), err, errlen) < 0)
			return -1;
		if (strcmp(now, before) != 0) {
			snprintf(after, afterlen, "%s", now);
			return 0;
		}
		if (czpg_clock_ns() >= deadline) {
			snprintf(after, afterlen, "%s", now);
			return 1;
		}
		sleep_ms(100);
	}
}

static void append(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

static bool ends_with_file(const char *path, const char *base)
{
	size_t n = strlen(path), b = strlen(base);

	return n > b && path[n - b - 1] == '/' && strcmp(path + n - b, base) == 0;
}

int czpg_reload_check_views(const struct czpg_server *s, const char *conf_basename, char *errors,
			    size_t errors_len, char *other_errors, size_t other_len, char *err,
			    size_t errlen)
{
	struct czpg_reload_rows hba = {0}, set = {0};
	size_t i;
	int found = 0, rc = -1;

	if (errors_len > 0)
		errors[0] = '\0';
	if (other_len > 0)
		other_errors[0] = '\0';
	if (czpg_reload_query(s,
			      "SELECT coalesce(line_number::text, ''), error FROM "
			      "pg_catalog.pg_hba_file_rules WHERE error IS NOT NULL ORDER BY 1",
			      2, &hba, err, errlen) < 0)
		goto out;
	if (czpg_reload_query(s,
			      "SELECT coalesce(sourcefile, ''), coalesce(sourceline::text, ''), "
			      "coalesce(name, ''), error FROM pg_catalog.pg_file_settings "
			      "WHERE error IS NOT NULL ORDER BY seqno",
			      4, &set, err, errlen) < 0)
		goto out;
	for (i = 0; i < hba.nrows; i++) {
		append(errors, errors_len, "%spg_hba.conf line %s: %s", found > 0 ? "; " : "",
		       hba.cells[i * 2], hba.cells[i * 2 + 1]);
		found++;
	}
	for (i = 0; i < set.nrows; i++) {
		const char *file = set.cells[i * 4], *line = set.cells[i * 4 + 1];
		const char *name = set.cells[i * 4 + 2], *msg = set.cells[i * 4 + 3];

		if (ends_with_file(file, conf_basename)) {
			append(errors, errors_len, "%s%s line %s%s%s%s: %s", found > 0 ? "; " : "",
			       file, line, name[0] != '\0' ? " (" : "", name,
			       name[0] != '\0' ? ")" : "", msg);
			found++;
		} else {
			append(other_errors, other_len, "%s%s line %s: %s",
			       other_errors[0] != '\0' ? "; " : "",
			       file[0] != '\0' ? file : "configuration", line, msg);
		}
	}
	rc = found;
out:
	czpg_reload_rows_free(&hba);
	czpg_reload_rows_free(&set);
	return rc;
}

/* The postmaster's stderr when it is a regular file (pg_ctl -l, a service's log file). */
static int log_path(const struct czpg_server *s, char *path, size_t pathlen)
{
	pid_t pid;

	if (s->kind != CZPG_SERVER_LOCAL || s->pgdata == NULL ||
	    read_postmaster_pid(s->pgdata, &pid, NULL, 0) < 0)
		return -1;
	snprintf(path, pathlen, "/proc/%ld/fd/2", (long)pid);
	return 0;
}

void czpg_reload_log_offset(const struct czpg_server *s, long long *off)
{
	char path[64];
	struct stat st;

	*off = -1;
	if (s->kind == CZPG_SERVER_CONTAINER)
		*off = (long long)time(NULL); /* docker logs --since takes Unix time */
	else if (log_path(s, path, sizeof(path)) == 0 && stat(path, &st) == 0 &&
		 S_ISREG(st.st_mode))
		*off = (long long)st.st_size;
}

/*
 * Is this log line worth quoting after a reload?  What the reload did to the
 * configuration, not its routine notices, and not what clients did meanwhile
 * (a refused login, the served-certificate check hanging up).
 */
static bool log_line_matters(const char *l)
{
	if (strstr(l, "received SIGHUP") != NULL || strstr(l, "\" changed to \"") != NULL ||
	    strstr(l, "removed from configuration file") != NULL ||
	    strstr(l, "connection") != NULL || strstr(l, "from client") != NULL ||
	    strstr(l, "authentication failed") != NULL)
		return false;
	return strstr(l, "FATAL:") != NULL || strstr(l, "ERROR:") != NULL ||
	       strstr(l, "WARNING:") != NULL || strstr(l, "could not") != NULL ||
	       strstr(l, "not reloaded") != NULL || strstr(l, "contains errors") != NULL ||
	       strstr(l, "must be owned") != NULL;
}

/* The lines of buf that matter, each from its severity on, quoted, "; "-separated. */
static void quote_log_lines(char *buf, char *out, size_t outlen)
{
	char *line, *save = NULL;
	size_t used;
	int kept = 0;

	for (line = strtok_r(buf, "\n", &save); line != NULL && kept < 4;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *from = line, *sev;
		size_t k;

		if (!log_line_matters(line))
			continue;
		/* From the severity on: the timestamp and pid say nothing here. */
		if ((sev = strstr(line, "LOG:")) != NULL ||
		    (sev = strstr(line, "FATAL:")) != NULL ||
		    (sev = strstr(line, "ERROR:")) != NULL ||
		    (sev = strstr(line, "WARNING:")) != NULL)
			from = sev;
		used = strlen(out);
		snprintf(out + used, outlen - used, "%s", kept > 0 ? "; \"" : "\"");
		used = strlen(out);
		for (k = 0; from[k] != '\0' && used + 2 < outlen; k++)
			out[used++] = (unsigned char)from[k] < 0x20 ? ' ' : from[k];
		out[used] = '\0';
		snprintf(out + used, outlen - used, "\"");
		kept++;
	}
}

void czpg_reload_log_since(const struct czpg_server *s, long long off, char *out, size_t outlen)
{
	char path[64], *buf = NULL, since[32];
	int fd = -1;
	ssize_t n;
	size_t cap = 64 * 1024, len = 0;

	if (outlen > 0)
		out[0] = '\0';
	if (off < 0)
		return;
	if (s->kind == CZPG_SERVER_CONTAINER) {
		/* What the container's postmaster wrote since: docker keeps its stderr. */
		char *argv[] = {(char *)s->docker,    "logs", "--since", since,
				(char *)s->container, NULL};

		snprintf(since, sizeof(since), "%lld", off);
		if (run_capture(argv, false, 0, 0, timeout_of(s), &buf, &len, NULL, 0, NULL, 0) ==
			0 &&
		    buf != NULL)
			quote_log_lines(buf, out, outlen);
		free(buf);
		return;
	}
	if (log_path(s, path, sizeof(path)) < 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (buf = malloc(cap + 1)) == NULL)
		goto out;
	n = pread(fd, buf, cap, (off_t)off);
	if (n <= 0)
		goto out;
	buf[n] = '\0';
	quote_log_lines(buf, out, outlen);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
}

int czpg_reload_tool_runs(const char *dir, const char *tool, char *version, size_t versionlen,
			  char *err, size_t errlen)
{
	char path[PATH_MAX], errout[600], e[600], *out = NULL;
	char *argv[] = {path, "--version", NULL};
	size_t outlen = 0, want = strlen(tool);
	int st, rc = -1;

	if (versionlen > 0)
		version[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/%s", dir, tool) >= (int)sizeof(path)) {
		czpg_errf(err, errlen, "%s/%s: path too long", dir, tool);
		return -1;
	}
	st = run_capture(argv, false, 0, 0, 10000, &out, &outlen, errout, sizeof(errout), e,
			 sizeof(e));
	/* "pg_ctl (PostgreSQL) 17.12 (Debian 17.12-1)": anything else is not a tool that runs here.
	 */
	if (st == 0 && out != NULL && strncmp(out, tool, want) == 0 &&
	    strncmp(out + want, " (PostgreSQL) ", 14) == 0) {
		size_t n = strcspn(out + want + 14, "\r\n");

		snprintf(version, versionlen, "%.*s", (int)n, out + want + 14);
		rc = 0;
	} else {
		czpg_errf(err, errlen, "%s does not run on this host: %s", path,
			  st < 0              ? e
			  : errout[0] != '\0' ? errout
					      : "it printed no PostgreSQL version");
	}
	free(out);
	return rc;
}

int czpg_reload_server_version(const struct czpg_server *s, unsigned *version_num, char *load_time,
			       size_t load_time_len, char *err, size_t errlen)
{
	struct czpg_reload_rows r;
	unsigned long v;
	char *end;
	int rc = -1;

	if (czpg_reload_query(s,
			      "SELECT pg_catalog.current_setting('server_version_num'), "
			      "pg_catalog.pg_conf_load_time()",
			      2, &r, err, errlen) < 0)
		return -1;
	if (r.nrows != 1) {
		czpg_errf(err, errlen, "the version query returned %zu rows", r.nrows);
		goto out;
	}
	v = strtoul(r.cells[0], &end, 10);
	if (end == r.cells[0] || *end != '\0' || v < 10000 || v > 9999999) {
		czpg_errf(err, errlen, "the server reports version number '%s'", r.cells[0]);
		goto out;
	}
	*version_num = (unsigned)v;
	snprintf(load_time, load_time_len, "%s", r.cells[1]);
	rc = 0;
out:
	czpg_reload_rows_free(&r);
	return rc;
}
