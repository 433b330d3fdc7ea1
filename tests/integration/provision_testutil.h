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

/* The box every provision test makes: this host's loopback name and address, one role. */
#define PT_BOX_ARGS                                                                                \
	"provision", "--ip", "127.0.0.1", "--dns", "localhost", "--allow-cidr", "127.0.0.1/32",    \
	    "--role", "cz_test"

struct pt_run {
	int rc;    /* exit status, or -1 */
	int sig;   /* the signal that ended it, or 0 */
	char *out; /* stdout, NUL-terminated */
	char *err; /* stderr, NUL-terminated */
	double secs;
};

typedef void (*pt_tick_fn)(void *arg);

static inline char *pt_slurp(const char *path);

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
 * defaults; a flag the test passes itself is left alone, and a test that
 * passes --server-root says all of it with that one flag.  Appends to argv
 * at n (room for 6 more) and returns the new count.
 */
static inline int pt_server_view_args(const char *const *args, char **argv, int n, char *cert_buf,
				      size_t cert_len)
{
	struct czpg_sandbox sb;
	const char *cert_dir = NULL;
	bool local = pt_has_flag(args, "--pgdata", NULL);

	if (strcmp(args[0], "provision") != 0 || !czpg_sandbox_from_env(&sb) ||
	    sb.server_root[0] == '\0' || pt_has_flag(args, "--server-root", NULL))
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
 * argv of `czctl postgres tls <args...>` with the server's view added
 * (pt_server_view_args; cert_buf holds its --server-cert-dir), NULL-
 * terminated.  Returns the czctl path, or NULL when CZCTL is not set.
 */
static inline const char *pt_argv(const char *const *args, char **argv, char *cert_buf,
				  size_t cert_len)
{
	const char *czctl = getenv("CZCTL");
	int n = 0;

	argv[n++] = (char *)czctl;
	argv[n++] = "postgres";
	argv[n++] = "tls";
	for (size_t i = 0; args[i] != NULL && n < PT_MAX_ARGS + 3; i++)
		argv[n++] = (char *)args[i];
	n = pt_server_view_args(args, argv, n, cert_buf, cert_len);
	argv[n] = NULL;
	return czctl;
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
	char *argv[PT_MAX_ARGS + 10], server_cert_dir[512];
	const char *czctl = pt_argv(args, argv, server_cert_dir, sizeof(server_cert_dir));
	int op[2], ep[2], status, open_fds = 2;
	size_t olen = 0, elen = 0;
	double t0 = pt_now(), last = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->rc = -1;
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	if (czctl == NULL || pipe(op) < 0 || pipe(ep) < 0)
		return;
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
	r->sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	r->secs = pt_now() - t0;
}

/* ---------------------------------------------------------------- in the background */

/* A czctl started in the background, its output going to files. */
struct pt_proc {
	pid_t pid;
	char out_path[600], err_path[600];
	double t0;
	bool reaped; /* pt_czctl_wait_stopped saw it end: status holds how */
	int status;
};

/*
 * Starts `czctl postgres tls <args...>` without waiting (env as for
 * pt_czctl); its stdout and stderr go to files in dir.  false when it could
 * not be started.
 */
static inline bool pt_czctl_start(const char *const *args, const char *const *env, const char *dir,
				  struct pt_proc *p)
{
	static unsigned seq;
	char *argv[PT_MAX_ARGS + 10], server_cert_dir[512];
	const char *czctl = pt_argv(args, argv, server_cert_dir, sizeof(server_cert_dir));

	memset(p, 0, sizeof(*p));
	if (czctl == NULL)
		return false;
	seq++;
	snprintf(p->out_path, sizeof(p->out_path), "%s/bg-%u.out", dir, seq);
	snprintf(p->err_path, sizeof(p->err_path), "%s/bg-%u.err", dir, seq);
	fflush(stdout);
	fflush(stderr);
	p->t0 = pt_now();
	p->pid = fork();
	if (p->pid == 0) {
		int o = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int dn = open("/dev/null", O_RDONLY);

		if (o < 0 || e < 0)
			_exit(126);
		dup2(o, 1);
		dup2(e, 2);
		if (dn >= 0)
			dup2(dn, 0);
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		execv(czctl, argv);
		_exit(127);
	}
	return p->pid > 0;
}

/*
 * Waits up to timeout seconds for p to stop (SIGSTOP, the fault hook's
 * "stop") and returns true then; false when it exited or the time passed.
 */
static inline bool pt_czctl_wait_stopped(struct pt_proc *p, double timeout)
{
	double until = pt_now() + timeout;
	int status;

	while (pt_now() < until) {
		pid_t w = waitpid(p->pid, &status, WUNTRACED | WNOHANG);

		if (w == p->pid && WIFSTOPPED(status))
			return true;
		if (w == p->pid) {
			/* it ended: not what the caller waited for; keep how, for pt_czctl_finish
			 */
			p->reaped = true;
			p->status = status;
			return false;
		}
		poll(NULL, 0, 10);
	}
	return false;
}

/* Waits for p to end and fills r as pt_czctl does. */
static inline void pt_czctl_finish(struct pt_proc *p, struct pt_run *r)
{
	int status = 0;

	memset(r, 0, sizeof(*r));
	if (p->reaped)
		status = p->status;
	else
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
	r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r->sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	r->secs = pt_now() - p->t0;
	r->out = pt_slurp(p->out_path);
	r->err = pt_slurp(p->err_path);
	unlink(p->out_path);
	unlink(p->err_path);
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

/*
 * A snapshot of what provision manages on a box: the cert dir and conf.d
 * (every file in them), pg_hba.conf, and pgconf and export_ca when not NULL.
 */
static inline void pt_snap_box(struct pt_snap *s, const char *tls_dir, const char *confd,
			       const char *hba, const char *pgconf, const char *export_ca)
{
	memset(s, 0, sizeof(*s));
	pt_snap_dir(s, tls_dir);
	pt_snap_dir(s, confd);
	pt_snap_file(s, hba);
	if (pgconf != NULL)
		pt_snap_file(s, pgconf);
	if (export_ca != NULL)
		pt_snap_file(s, export_ca);
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

/* ---------------------------------------------------------------- the box */

/* The pg_hba.conf of a box before TLS: the application's plain SCRAM line. */
#define PT_BASE_HBA                                                                                \
	"# pg_hba.conf before TLS\n"                                                               \
	"local   all   all                    trust\n"                                             \
	"host    all   cz_test   127.0.0.1/32  scram-sha-256\n"

/* A shell command (printf-style) that must succeed; the test fails naming it otherwise. */
static inline void pt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void pt_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		printf("command failed: %s\n", cmd);
		abort();
	}
}

/*
 * The stand-in docker (tests/tools/fake_docker.sh) first on PATH: links it
 * into <sandbox>/fakebin and fills the "PATH=..." and
 * "CZ_FAKE_DOCKER_LOG=<sandbox>/docker.log" strings for a child's env.
 * false when CZ_SOURCE_DIR is not set or the link cannot be made.
 */
static inline bool pt_fake_docker(const struct czpg_sandbox *sb, char *pathenv, size_t pathlen,
				  char *logenv, size_t loglen)
{
	const char *src = getenv("CZ_SOURCE_DIR");
	char bindir[512], target[600], link[600];

	if (src == NULL)
		return false;
	snprintf(bindir, sizeof(bindir), "%s/fakebin", sb->dir);
	snprintf(target, sizeof(target), "%s/tests/tools/fake_docker.sh", src);
	snprintf(link, sizeof(link), "%s/docker", bindir);
	if ((mkdir(bindir, 0755) < 0 && errno != EEXIST) ||
	    (symlink(target, link) < 0 && errno != EEXIST))
		return false;
	snprintf(pathenv, pathlen, "PATH=%s:%s", bindir,
		 getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
	snprintf(logenv, loglen, "CZ_FAKE_DOCKER_LOG=%s/docker.log", sb->dir);
	return true;
}

/*
 * The start of a provision of the sandbox's server "in a container" (the
 * stand-in docker): args gets the flags for 127.0.0.1/localhost, role
 * cz_test, the container, the files given and the sandbox's port and
 * database.  Returns the count; the caller appends the rest and the NULL.
 */
static inline int pt_container_args(const char **args, const struct czpg_sandbox *sb,
				    const char *container, const char *hba, const char *pgconf,
				    const char *tls_dir, const char *port)
{
	const char *a[] = {PT_BOX_ARGS, "--container",       container, "--hba-path",
			   hba,         "--postgresql-conf", pgconf,    "--cert-dir",
			   tls_dir,     "--verify-port",     port,      "--verify-dbname",
			   sb->db};
	int n = 0;

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		args[n++] = a[i];
	return n;
}

/* Names in dir that an interrupted atomic write leaves (".<name>.tmp-XXXXXX"), comma-separated. */
static inline void pt_temps_in(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	out[0] = '\0';
	while (d != NULL && (de = readdir(d)) != NULL)
		if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp-") != NULL)
			snprintf(out + strlen(out), outlen - strlen(out), "%s%s/%s",
				 out[0] != '\0' ? ", " : "", dir, de->d_name);
	if (d != NULL)
		closedir(d);
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
