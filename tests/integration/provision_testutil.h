/*
 * provision_testutil.h - shared pieces of the provision integration tests:
 * run czctl as a child (calling back while it runs, so a test can keep
 * queries going on open connections), snapshot files (content hash, mode,
 * owner) to prove what did or did not change, and libpq helpers.
 */
#ifndef CZPG_PROVISION_TESTUTIL_H
#define CZPG_PROVISION_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "czpg/fsutil.h"
#include "sandbox.h"

#define PT_MAX_ARGS 64

struct pt_run {
	int rc;    /* exit status, or -1 */
	char *out; /* stdout, NUL-terminated */
	char *err; /* stderr, NUL-terminated */
	double secs;
};

typedef void (*pt_tick_fn)(void *arg);

static inline double pt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void pt_run_free(struct pt_run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

static inline void pt_append(char **buf, size_t *len, const char *data, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);

	if (nb == NULL)
		abort();
	memcpy(nb + *len, data, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
}

static inline bool pt_has_flag(const char *const *args, const char *flag, const char **value)
{
	for (size_t i = 0; args[i] != NULL; i++) {
		if (strcmp(args[i], flag) == 0) {
			if (value != NULL)
				*value = args[i + 1];
			return true;
		}
	}
	return false;
}

/*
 * czctl runs on the host, and a server in a chroot (17, 18) sees the
 * sandbox's paths without the chroot's prefix.  Like the operator of such a
 * box, tell provision what it cannot work out from the host: where the
 * server sees the certificates (--server-cert-dir) and, when it reaches the
 * server through its data directory, the host path of the socket (the
 * configuration names the server's) and client tools the host can run
 * (--pg-bin).  Nothing for the host's own server, so 15 keeps exercising the
 * defaults; a flag the test passes itself is left alone.  Appends to argv at
 * n (room for 6 more) and returns the new count.
 */
static inline int pt_server_view_args(const char *const *args, char **argv, int n, char *cert_buf,
				      size_t cert_len)
{
	struct czpg_sandbox sb;
	const char *cert_dir = NULL;
	bool local = pt_has_flag(args, "--pgdata", NULL);

	if (strcmp(args[0], "provision") != 0 || !czpg_sandbox_from_env(&sb) ||
	    sb.server_root[0] == '\0')
		return n;
	if (pt_has_flag(args, "--cert-dir", &cert_dir) && cert_dir != NULL &&
	    !pt_has_flag(args, "--server-cert-dir", NULL) &&
	    czpg_sandbox_server_path(&sb, cert_dir, cert_buf, cert_len) == 0) {
		argv[n++] = "--server-cert-dir";
		argv[n++] = cert_buf;
	}
	if (local && !pt_has_flag(args, "--socket-dir", NULL)) {
		argv[n++] = "--socket-dir";
		argv[n++] = (char *)sb.sockdir;
	}
	if (local && !pt_has_flag(args, "--pg-bin", NULL) && sb.pgbin != NULL) {
		argv[n++] = "--pg-bin";
		argv[n++] = (char *)sb.pgbin;
	}
	return n;
}

/*
 * Runs `czctl postgres tls <args...>` (args NULL-terminated).  env is a
 * NULL-terminated list of "NAME=value" to set in the child (may be NULL);
 * as_uid >= 0 runs it as that user (and its gid as_gid).  tick is called
 * about every 20 ms while the child runs.
 */
static inline void pt_czctl(const char *const *args, const char *const *env, long as_uid,
			    long as_gid, pt_tick_fn tick, void *arg, struct pt_run *r)
{
	const char *czctl = getenv("CZCTL");
	char *argv[PT_MAX_ARGS + 10], server_cert_dir[512];
	int op[2], ep[2], n = 0, status, open_fds = 2;
	size_t olen = 0, elen = 0;
	double t0 = pt_now(), last = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->rc = -1;
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	if (czctl == NULL || pipe(op) < 0 || pipe(ep) < 0)
		return;
	argv[n++] = (char *)czctl;
	argv[n++] = "postgres";
	argv[n++] = "tls";
	for (size_t i = 0; args[i] != NULL && n < PT_MAX_ARGS + 3; i++)
		argv[n++] = (char *)args[i];
	n = pt_server_view_args(args, argv, n, server_cert_dir, sizeof(server_cert_dir));
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		dup2(op[1], 1);
		dup2(ep[1], 2);
		close(op[0]);
		close(ep[0]);
		close(op[1]);
		close(ep[1]);
		{
			int dn = open("/dev/null", O_RDONLY);

			if (dn >= 0)
				dup2(dn, 0);
		}
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		if (as_uid >= 0) {
			gid_t g = (gid_t)as_gid;

			if (setgroups(1, &g) < 0 || setgid(g) < 0 || setuid((uid_t)as_uid) < 0)
				_exit(120);
		}
		execv(czctl, argv);
		_exit(127);
	}
	close(op[1]);
	close(ep[1]);
	while (open_fds > 0) {
		struct pollfd pfd[2] = {{.fd = op[0], .events = POLLIN},
					{.fd = ep[0], .events = POLLIN}};
		char buf[4096];
		int k;

		poll(pfd, 2, 20);
		for (k = 0; k < 2; k++) {
			ssize_t got;

			if (pfd[k].fd < 0 || pfd[k].revents == 0)
				continue;
			got = read(pfd[k].fd, buf, sizeof(buf));
			if (got > 0) {
				if (k == 0)
					pt_append(&r->out, &olen, buf, (size_t)got);
				else
					pt_append(&r->err, &elen, buf, (size_t)got);
			} else if (got == 0 || errno != EINTR) {
				close(pfd[k].fd);
				if (k == 0)
					op[0] = -1;
				else
					ep[0] = -1;
				open_fds--;
			}
		}
		if (op[0] < 0 && ep[0] < 0)
			break;
		if (tick != NULL && pt_now() - last >= 0.02) {
			tick(arg);
			last = pt_now();
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r->secs = pt_now() - t0;
}

/* Prints a run's output for the test log. */
static inline void pt_show(const char *title, const struct pt_run *r)
{
	printf("--- %s: exit %d in %.2f s\n%s", title, r->rc, r->secs, r->out);
	if (r->err[0] != '\0')
		printf("[stderr] %s", r->err);
	fflush(stdout);
}

/* ---------------------------------------------------------------- snapshots */

struct pt_snap_entry {
	char path[512];
	bool exists;
	uint8_t sha[32];
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

struct pt_snap {
	struct pt_snap_entry e[128];
	size_t n;
};

static inline void pt_snap_file(struct pt_snap *s, const char *path)
{
	struct pt_snap_entry *x;
	struct stat st;

	if (s->n >= sizeof(s->e) / sizeof(s->e[0]))
		abort();
	x = &s->e[s->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->path, sizeof(x->path), "%s", path);
	if (stat(path, &st) < 0)
		return;
	x->exists = true;
	x->mode = st.st_mode & 07777;
	x->uid = st.st_uid;
	x->gid = st.st_gid;
	czpg_fs_sha256_file(path, x->sha, NULL, 0);
}

static inline int pt_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly in dir (none when dir is missing). */
static inline void pt_snap_dir(struct pt_snap *s, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *names[128];
	size_t n = 0, i;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && n < 128) {
		char p[512];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			names[n++] = strdup(p);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), pt_cmp_name);
	for (i = 0; i < n; i++) {
		pt_snap_file(s, names[i]);
		free(names[i]);
	}
}

/* True when both snapshots list the same files with the same bytes, modes, owners. */
static inline bool pt_snap_equal(const struct pt_snap *a, const struct pt_snap *b)
{
	size_t i;
	bool same = a->n == b->n;

	if (!same)
		printf("snapshot: %zu files before, %zu after\n", a->n, b->n);
	for (i = 0; same && i < a->n; i++) {
		const struct pt_snap_entry *x = &a->e[i], *y = &b->e[i];

		if (strcmp(x->path, y->path) != 0 || x->exists != y->exists ||
		    memcmp(x->sha, y->sha, 32) != 0 || x->mode != y->mode || x->uid != y->uid ||
		    x->gid != y->gid) {
			printf("snapshot: %s changed\n", x->path);
			same = false;
		}
	}
	return same;
}

/* ---------------------------------------------------------------- libpq */

static inline PGconn *pt_connect(const struct czpg_sandbox *sb, const char *host,
				 const char *sslmode, const char *rootcert)
{
	char port[16];
	const char *k[12], *v[12];
	int n = 0;

	snprintf(port, sizeof(port), "%d", sb->port);
	k[n] = "host", v[n++] = host != NULL ? host : sb->host;
	k[n] = "port", v[n++] = port;
	k[n] = "user", v[n++] = sb->user;
	k[n] = "password", v[n++] = sb->password;
	k[n] = "dbname", v[n++] = sb->db;
	k[n] = "sslmode", v[n++] = sslmode;
	k[n] = "connect_timeout", v[n++] = "10";
	k[n] = "gssencmode", v[n++] = "disable";
	if (rootcert != NULL)
		k[n] = "sslrootcert", v[n++] = rootcert;
	k[n] = NULL, v[n] = NULL;
	return PQconnectdbParams(k, v, 0);
}

/* One query returning one value; false (and prints why) on any failure. */
static inline bool pt_query(PGconn *c, const char *sql, char *out, size_t outlen)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

	if (ok && out != NULL)
		snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
	if (!ok)
		printf("query '%s' failed: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* Reads a whole (small) file; "" when missing. */
static inline char *pt_slurp(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;

	if (czpg_fs_read_file(path, 1 << 20, &data, &len, NULL, 0) != 0)
		return calloc(1, 1);
	return (char *)data;
}

static inline size_t pt_count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

#endif
