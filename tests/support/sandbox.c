/*
 * sandbox.c - helpers for integration tests against the throwaway PostgreSQL
 * of one major version (tests/sandbox/pg_sandbox.sh): 15 on the host, 17 and
 * 18 in chroots, whose server sees the sandbox's paths without the chroot's
 * prefix.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static long env_long(const char *name, long fallback)
{
	const char *v = env_or_null(name);

	return v != NULL ? strtol(v, NULL, 10) : fallback;
}

bool czpg_sandbox_from_env(struct czpg_sandbox *sb)
{
	const char *port, *root;

	memset(sb, 0, sizeof(*sb));
	sb->dir = env_or_null("CZ_PG_SANDBOX");
	sb->data = env_or_null("CZ_PG_DATA");
	sb->host = env_or_null("CZ_PG_HOST");
	port = env_or_null("CZ_PG_PORT");
	sb->sockdir = env_or_null("CZ_PG_SOCKDIR");
	sb->user = env_or_null("CZ_PG_USER");
	sb->password = env_or_null("CZ_PG_PASSWORD");
	sb->db = env_or_null("CZ_PG_DB");
	sb->trust_user = env_or_null("CZ_PG_TRUST_USER");
	sb->pgbin = env_or_null("CZ_PG_BIN");
	sb->script = env_or_null("CZ_PG_SANDBOX_SH");
	sb->server_data = env_or_null("CZ_PG_SERVER_DATA");
	root = env_or_null("CZ_PG_SERVER_ROOT");
	sb->server_root = root != NULL ? root : "";
	sb->version = (int)env_long("CZ_PG_VERSION", 0);
	sb->owner_uid = env_long("CZ_PG_OWNER_UID", -1);
	sb->owner_gid = env_long("CZ_PG_OWNER_GID", -1);
	if (sb->dir == NULL || sb->data == NULL || sb->host == NULL || port == NULL ||
	    sb->sockdir == NULL || sb->user == NULL || sb->password == NULL || sb->db == NULL ||
	    sb->script == NULL || sb->server_data == NULL || sb->version == 0) {
		fprintf(stderr, "no PostgreSQL sandbox in the environment "
				"(run under tests/sandbox/with_sandbox.sh)\n");
		return false;
	}
	sb->pg = czpg_pgversion_lookup(sb->version);
	if (sb->pg == NULL) {
		fprintf(stderr,
			"the sandbox runs PostgreSQL %d, which tests/support/pgversion.c "
			"has no expectations for\n",
			sb->version);
		return false;
	}
	sb->port = atoi(port);
	return true;
}

int czpg_sandbox_server_path(const struct czpg_sandbox *sb, const char *host_path, char *out,
			     size_t outlen)
{
	size_t n = strlen(sb->server_root);
	const char *rest = host_path;
	int rc = -1;

	if (n > 0) {
		if (strncmp(host_path, sb->server_root, n) != 0 || host_path[n] != '/') {
			fprintf(stderr, "sandbox: %s is outside the server's root %s\n", host_path,
				sb->server_root);
			goto out;
		}
		rest = host_path + n;
	}
	if ((size_t)snprintf(out, outlen, "%s", rest) >= outlen) {
		fprintf(stderr, "sandbox: %s is too long\n", host_path);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static PGconn *admin_connect(const struct czpg_sandbox *sb)
{
	char conninfo[1024];
	PGconn *c;

	snprintf(conninfo, sizeof(conninfo),
		 "host=%s port=%d user=postgres dbname=%s connect_timeout=10", sb->sockdir,
		 sb->port, sb->db);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "sandbox: admin connection failed: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

int czpg_sandbox_exec(const struct czpg_sandbox *sb, const char *sql)
{
	PGconn *c = admin_connect(sb);
	PGresult *r;
	int rc = -1;

	if (c == NULL)
		return -1;
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
		rc = 0;
	else
		fprintf(stderr, "sandbox: `%s` failed: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return rc;
}

int czpg_sandbox_query_value(const struct czpg_sandbox *sb, const char *sql, char *out,
			     size_t outlen)
{
	PGconn *c = admin_connect(sb);
	PGresult *r;
	int rc = -1;

	if (c == NULL)
		return -1;
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) >= 1 && PQnfields(r) >= 1) {
		snprintf(out, outlen, "%s", PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
		rc = 0;
	} else {
		fprintf(stderr, "sandbox: `%s` failed: %s", sql, PQerrorMessage(c));
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

static int run_script(const struct czpg_sandbox *sb, const char *verb)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/bash", "bash", sb->script, verb, sb->dir, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int czpg_sandbox_reload(const struct czpg_sandbox *sb)
{
	/* The script returns once the postmaster has processed the SIGHUP. */
	return run_script(sb, "reload");
}

int czpg_sandbox_restart(const struct czpg_sandbox *sb)
{
	return run_script(sb, "restart");
}

int czpg_sandbox_write_file(const struct czpg_sandbox *sb, const char *relpath, const char *content,
			    size_t len, int mode)
{
	char path[4096], tmp[4200];
	struct stat st;
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/%s", sb->data, relpath);
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	if (stat(sb->data, &st) < 0)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0) {
		fprintf(stderr, "sandbox: open %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (write(fd, content, len) != (ssize_t)len || fchmod(fd, (mode_t)mode) < 0)
		goto out;
	if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
		goto out;
	if (fsync(fd) < 0)
		goto out;
	if (rename(tmp, path) < 0)
		goto out;
	rc = 0;
out:
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "sandbox: writing %s failed: %s\n", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

int czpg_sandbox_copy_file(const struct czpg_sandbox *sb, const char *src, const char *relpath,
			   int mode)
{
	FILE *f = fopen(src, "rb");
	char *buf = NULL;
	long n;
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "sandbox: cannot read %s: %s\n", src, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		goto out;
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto out;
	rc = czpg_sandbox_write_file(sb, relpath, buf, (size_t)n, mode);
out:
	free(buf);
	fclose(f);
	return rc;
}

int czpg_sandbox_set_hba(const struct czpg_sandbox *sb, const char *hba_text)
{
	if (czpg_sandbox_write_file(sb, "pg_hba.conf", hba_text, strlen(hba_text), 0600) < 0)
		return -1;
	return czpg_sandbox_reload(sb);
}

int czpg_sandbox_enable_tls(const struct czpg_sandbox *sb, const char *cert, const char *key,
			    const char *ca, const char *min_version, const char *max_version)
{
	char conf[1024];
	int n;

	if (czpg_sandbox_copy_file(sb, cert, "test-server.crt", 0644) < 0 ||
	    czpg_sandbox_copy_file(sb, key, "test-server.key", 0600) < 0 ||
	    czpg_sandbox_copy_file(sb, ca, "test-ca.crt", 0644) < 0)
		return -1;
	n = snprintf(conf, sizeof(conf),
		     "ssl = on\n"
		     "ssl_cert_file = 'test-server.crt'\n"
		     "ssl_key_file = 'test-server.key'\n"
		     "ssl_ca_file = 'test-ca.crt'\n"
		     "ssl_min_protocol_version = '%s'\n"
		     "%s%s%s",
		     min_version != NULL ? min_version : "TLSv1.3",
		     max_version != NULL ? "ssl_max_protocol_version = '" : "",
		     max_version != NULL ? max_version : "", max_version != NULL ? "'\n" : "");
	if (czpg_sandbox_write_file(sb, "conf.d/cz-test-tls.conf", conf, (size_t)n, 0644) < 0)
		return -1;
	return czpg_sandbox_reload(sb);
}
