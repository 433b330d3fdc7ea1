/*
 * pgbouncer.c - a real PgBouncer in front of the test sandbox (see
 * pgbouncer.h).
 */
#include "pgbouncer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "childproc.h"

#define PGBOUNCER_START_ATTEMPTS 5
#define PGBOUNCER_READY_MS 15000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Hands path to the server's owner (when we are root: PgBouncer refuses to run as root). */
static int give_to_owner(const struct czpg_sandbox *sb, const char *path)
{
	if (geteuid() != 0 || sb->owner_uid < 0)
		return 0;
	if (chown(path, (uid_t)sb->owner_uid, (gid_t)sb->owner_gid) < 0) {
		fprintf(stderr, "pgbouncer: chown %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_text(const struct czpg_sandbox *sb, const char *path, const char *text, int mode)
{
	FILE *f = fopen(path, "w");
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "pgbouncer: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fputs(text, f) >= 0 && fchmod(fileno(f), (mode_t)mode) == 0)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0)
		rc = give_to_owner(sb, path);
	return rc;
}

static int copy_into(const struct czpg_sandbox *sb, const char *src, const char *dst, int mode)
{
	size_t len;
	char *text = czpg_child_slurp(src, &len);
	int rc;

	if (text == NULL) {
		fprintf(stderr, "pgbouncer: cannot read %s\n", src);
		return -1;
	}
	rc = write_text(sb, dst, text, mode);
	free(text);
	return rc;
}

/* userlist.txt: "role" "SCRAM-SHA-256$..." for each role, from pg_authid. */
static int write_auth_file(const struct czpg_sandbox *sb, const char *users, const char *path)
{
	char list[512], *save = NULL, *role, sql[256], secret[512], text[4096];
	size_t used = 0;

	snprintf(list, sizeof(list), "%s", users);
	text[0] = '\0';
	for (role = strtok_r(list, ",", &save); role != NULL; role = strtok_r(NULL, ",", &save)) {
		if (strpbrk(role, "'\"\\") != NULL) {
			fprintf(stderr, "pgbouncer: role name %s needs quoting\n", role);
			return -1;
		}
		snprintf(sql, sizeof(sql), "SELECT rolpassword FROM pg_authid WHERE rolname = '%s'",
			 role);
		if (czpg_sandbox_query_value(sb, sql, secret, sizeof(secret)) < 0 ||
		    strncmp(secret, "SCRAM-SHA-256$", 14) != 0) {
			fprintf(stderr, "pgbouncer: role %s has no SCRAM secret\n", role);
			return -1;
		}
		used += (size_t)snprintf(text + used, sizeof(text) - used, "\"%s\" \"%s\"\n", role,
					 secret);
		if (used >= sizeof(text))
			return -1;
	}
	return write_text(sb, path, text, 0600);
}

/* A loopback port nothing listens on right now (PgBouncer may still lose it: retried). */
static int free_port(void)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int write_ini(const struct czpg_sandbox *sb, const struct czpg_pgbouncer *pb,
		     const struct czpg_pgbouncer_opts *o, const char *path)
{
	char text[8192];
	const char *client = o->client_tls_sslmode != NULL ? o->client_tls_sslmode
			     : o->cert != NULL             ? "require"
							   : "disable";
	size_t used;

	used =
	    (size_t)snprintf(text, sizeof(text),
			     "[databases]\n"
			     "%s = host=%s port=%d dbname=%s\n"
			     "[pgbouncer]\n"
			     "listen_addr = 127.0.0.1\n"
			     "listen_port = %d\n"
			     "unix_socket_dir =\n"
			     "auth_type = scram-sha-256\n"
			     "auth_file = %s/userlist.txt\n"
			     "logfile = %s\n"
			     "client_tls_sslmode = %s\n"
			     "server_tls_sslmode = %s\n",
			     sb->db, sb->host, sb->port, sb->db, pb->port, pb->dir, pb->log, client,
			     o->server_tls_sslmode != NULL ? o->server_tls_sslmode : "disable");
	if (o->cert != NULL && used < sizeof(text))
		used += (size_t)snprintf(text + used, sizeof(text) - used,
					 "client_tls_cert_file = %s/server.crt\n"
					 "client_tls_key_file = %s/server.key\n",
					 pb->dir, pb->dir);
	if (o->extra != NULL && used < sizeof(text))
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s", o->extra);
	if (used >= sizeof(text))
		return -1;
	return write_text(sb, path, text, 0600);
}

static pid_t spawn_as_owner(const struct czpg_sandbox *sb, const char *bin, const char *ini,
			    const char *out)
{
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		return pid;
	/* The test dying must not leave PgBouncer behind. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(127);
	if (geteuid() == 0 && sb->owner_uid >= 0 &&
	    (setgroups(0, NULL) < 0 || setgid((gid_t)sb->owner_gid) < 0 ||
	     setuid((uid_t)sb->owner_uid) < 0))
		_exit(126);
	execl(bin, bin, ini, (char *)NULL);
	fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
	_exit(127);
}

/* True once a TCP connect to the port succeeds. */
static bool accepts(int port)
{
	struct sockaddr_in a = {0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* 0 listening, 1 it exited because the port was taken (try another), -1 failed. */
static int wait_ready(struct czpg_pgbouncer *pb, const char *out)
{
	uint64_t deadline = now_ms() + PGBOUNCER_READY_MS;
	size_t len;
	char *log;
	int status, rc = -1;

	while (now_ms() < deadline) {
		if (waitpid(pb->pid, &status, WNOHANG) == pb->pid) {
			pb->pid = 0;
			log = czpg_child_slurp(pb->log, &len);
			rc = log != NULL && strstr(log, "Address already in use") != NULL ? 1 : -1;
			if (rc < 0) {
				fprintf(stderr,
					"pgbouncer exited at start-up (status %d); log:\n%s\n",
					status, log != NULL ? log : "(none)");
				free(log);
				log = czpg_child_slurp(out, &len);
				fprintf(stderr, "output:\n%s\n", log != NULL ? log : "(none)");
			}
			free(log);
			return rc;
		}
		if (accepts(pb->port))
			return 0;
		poll(NULL, 0, 20); /* until the next look at the listener */
	}
	fprintf(stderr, "pgbouncer did not listen on 127.0.0.1:%d within %d ms\n", pb->port,
		PGBOUNCER_READY_MS);
	return -1;
}

int czpg_pgbouncer_start(struct czpg_pgbouncer *pb, const struct czpg_sandbox *sb,
			 const struct czpg_pgbouncer_opts *o)
{
	const char *bin =
	    getenv("CZ_PGBOUNCER") != NULL ? getenv("CZ_PGBOUNCER") : "/usr/sbin/pgbouncer";
	char path[700], out[700];
	int attempt, rc = -1;

	memset(pb, 0, sizeof(*pb));
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "pgbouncer: %s is not installed (Debian package pgbouncer)\n", bin);
		return -1;
	}
	snprintf(pb->dir, sizeof(pb->dir), "%s/pgbouncer.XXXXXX", sb->dir);
	if (mkdtemp(pb->dir) == NULL) {
		fprintf(stderr, "pgbouncer: mkdtemp under %s: %s\n", sb->dir, strerror(errno));
		pb->dir[0] = '\0';
		return -1;
	}
	snprintf(pb->log, sizeof(pb->log), "%s/pgbouncer.log", pb->dir);
	snprintf(out, sizeof(out), "%s/stdout.log", pb->dir);
	if (give_to_owner(sb, pb->dir) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/userlist.txt", pb->dir);
	if (write_auth_file(sb, o->users != NULL ? o->users : sb->user, path) < 0)
		goto out;
	if (o->cert != NULL) {
		snprintf(path, sizeof(path), "%s/server.crt", pb->dir);
		if (copy_into(sb, o->cert, path, 0644) < 0)
			goto out;
		snprintf(path, sizeof(path), "%s/server.key", pb->dir);
		if (copy_into(sb, o->key, path, 0600) < 0)
			goto out;
	}
	snprintf(path, sizeof(path), "%s/pgbouncer.ini", pb->dir);
	for (attempt = 0; attempt < PGBOUNCER_START_ATTEMPTS; attempt++) {
		pb->port = free_port();
		if (pb->port < 0 || write_ini(sb, pb, o, path) < 0)
			goto out;
		pb->pid = spawn_as_owner(sb, bin, path, out);
		if (pb->pid < 0) {
			pb->pid = 0;
			goto out;
		}
		rc = wait_ready(pb, out);
		if (rc <= 0)
			break;
	}
out:
	if (rc != 0) {
		czpg_pgbouncer_stop(pb);
		rc = -1;
	}
	return rc;
}

bool czpg_pgbouncer_alive(struct czpg_pgbouncer *pb)
{
	int status;

	if (pb->pid <= 0)
		return false;
	if (waitpid(pb->pid, &status, WNOHANG) == pb->pid) {
		pb->pid = 0;
		return false;
	}
	return true;
}

void czpg_pgbouncer_stop(struct czpg_pgbouncer *pb)
{
	char cmd[700];
	uint64_t deadline;
	int status;

	if (pb->pid > 0) {
		kill(pb->pid, SIGTERM);
		deadline = now_ms() + 5000;
		while (waitpid(pb->pid, &status, WNOHANG) == 0) {
			if (now_ms() > deadline) {
				kill(pb->pid, SIGKILL);
				waitpid(pb->pid, &status, 0);
				break;
			}
			poll(NULL, 0, 10);
		}
		pb->pid = 0;
	}
	if (pb->dir[0] != '\0' && strstr(pb->dir, "/pgbouncer.") != NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", pb->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "pgbouncer: could not remove %s\n", pb->dir);
	}
	pb->dir[0] = '\0';
}
