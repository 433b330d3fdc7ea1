/*
 * test_provision_server_root.c - the two layouts the boxes really have, for
 * a server that sees other paths than the host: the official postgres image
 * and Debian's packaged clusters, each in the sandbox's chroot (17 and 18;
 * on 15 the server runs on the host, and these layouts would be the host's
 * own /var/lib/postgresql and /etc/postgresql, so the tests skip).  czctl
 * runs on the host and is told one thing about the server's view:
 * --server-root (the chroot).  No --server-cert-dir, --socket-dir or
 * --pg-bin: it finds the socket directory the configuration names under the
 * root (the chroot's /var/run is a link to /run), writes ssl_*_file as the
 * server opens them, and uses this host's client tools.
 *
 *   official image   PGDATA /var/lib/postgresql/data with postgresql.conf
 *                    in it and no include_dir, sockets in /var/run/postgresql,
 *                    the chroot's postgres user standing in for the image's
 *                    uid 999: dry run, transition with --add-include-dir,
 *                    harden, a re-run with nothing to change, a restart
 *   Debian cluster   pg_createcluster: configuration under
 *                    /etc/postgresql/<version>/<name> (ssl = on with the
 *                    snakeoil certificate already), data under
 *                    /var/lib/postgresql/<version>/<name>, started and
 *                    restarted with pg_ctlcluster: the same steps
 *
 * Both use a second server of the sandbox's version in the same chroot; a
 * lock in the chroot keeps two runs of this test from sharing the image's
 * fixed PGDATA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>

#include "provision_testutil.h"

static struct czpg_sandbox sb;
static char pwenv[256], root_lock[600];

static void clean_leftovers(void);
static int lock_fd = -1;

/* Runs a command as the server's owner inside the chroot (pg_sandbox.sh exec): its exit status. */
static int in_root(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int in_root(const char *fmt, ...)
{
	char cmd[4096], full[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "bash '%s' exec '%s' %s >>'%s/layout.log' 2>&1", sb.script,
		 sb.dir, cmd, sb.dir);
	st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A port nothing listens on now (the server's start retries when one is taken meanwhile). */
static int free_port(void)
{
	for (;;) {
		int port = 20000 + (int)(random() % 40000);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		int fd = socket(AF_INET, SOCK_STREAM, 0), used;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		used = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (!used)
			return port;
	}
}

/* SQL as the superuser over the server's socket, as the host sees it. */
static void psql(int port, const char *sql)
{
	pt_sh("'%s/psql' -X -q -h '%s/run/postgresql' -p %d -U postgres -d postgres -v "
	      "ON_ERROR_STOP=1 -c \"%s\" >/dev/null",
	      sb.pgbin, sb.server_root, port, sql);
}

static char *psql_value(int port, const char *sql)
{
	char cmd[2048], *out = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "'%s/psql' -X -At -h '%s/run/postgresql' -p %d -U postgres -d postgres -c \"%s\"",
		 sb.pgbin, sb.server_root, port, sql);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_true(getline(&out, &n, f) > 0);
	pclose(f);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static void provision(const char *const *base, const char *const *extra, const char *title,
		      struct pt_run *r)
{
	const char *args[64];
	const char *env[] = {pwenv, NULL};
	int n = 0;

	for (size_t i = 0; base[i] != NULL; i++)
		args[n++] = base[i];
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	pt_czctl(args, env, -1, -1, NULL, NULL, r);
	pt_show(title, r);
}

/* verify-full to port with the bundle, as a client would. */
static void assert_verify_full(int port, const char *bundle)
{
	char p[16];
	const char *k[] = {"host",       "port",    "user",        "password",
			   "dbname",     "sslmode", "sslrootcert", "connect_timeout",
			   "gssencmode", NULL};
	const char *v[] = {"localhost",   p,      sb.user, sb.password, sb.db,
			   "verify-full", bundle, "10",    "disable",   NULL};
	PGconn *c;

	snprintf(p, sizeof(p), "%d", port);
	c = PQconnectdbParams(k, v, 0);
	if (PQstatus(c) != CONNECTION_OK)
		printf("verify-full: %s", PQerrorMessage(c));
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_int_equal(PQsslInUse(c), 1);
	PQfinish(c);
}

/* The application role and database of the sandbox, on the second server. */
static void app_role(int port)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN PASSWORD '%s'", sb.user, sb.password);
	psql(port, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER %s", sb.db, sb.user);
	psql(port, sql);
}

/* Dry run, transition, harden, re-run (no reload), restart: the same story in both layouts. */
static void cutover(const char *const *base, const char *const *first_extra, int port,
		    const char *cert_dir, int (*restart)(void))
{
	static const char *const harden[] = {"--mode", "harden", "--apply", NULL};
	const char *transition[8] = {"--mode", "transition", "--apply"},
		   *dry[8] = {"--mode", "transition"};
	char want[2048], bundle[700], *t0, *t1;
	struct pt_run r;
	size_t n = 3, d = 2;

	for (size_t i = 0; first_extra != NULL && first_extra[i] != NULL; i++) {
		transition[n++] = first_extra[i];
		dry[d++] = first_extra[i];
	}
	transition[n] = NULL;
	dry[d] = NULL;
	snprintf(bundle, sizeof(bundle), "%s/ca-bundle.crt", cert_dir);

	/* The dry run shows each path as the server opens it and where it is on this host. */
	provision(base, dry, "dry run", &r);
	assert_int_equal(r.rc, 0);
	snprintf(want, sizeof(want), "the server's root on this host: %s", sb.server_root);
	assert_non_null(strstr(r.out, want));
	snprintf(want, sizeof(want), "ssl_cert_file = '%s/server-",
		 cert_dir + strlen(sb.server_root));
	assert_non_null(strstr(r.out, want));
	snprintf(want, sizeof(want), "(as the server sees it; on this host: %s/server-", cert_dir);
	assert_non_null(strstr(r.out, want));
	/* The socket the configuration names, found inside the root (/var/run -> /run). */
	snprintf(want, sizeof(want), "-h %s/run/postgresql -p %d", sb.server_root, port);
	assert_non_null(strstr(r.out, want));
	snprintf(want, sizeof(want), "server: PostgreSQL %d", sb.version);
	assert_non_null(strstr(r.out, want));
	pt_run_free(&r);

	provision(base, transition, "transition", &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "[PASS] self-verify"));
	pt_run_free(&r);
	provision(base, harden, "harden", &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "plaintext refused"));
	pt_run_free(&r);
	t0 = psql_value(port, "SELECT pg_conf_load_time()");
	provision(base, harden, "re-run", &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "summary: PASS, nothing to change"));
	pt_run_free(&r);
	t1 = psql_value(port, "SELECT pg_conf_load_time()");
	assert_string_equal(t0, t1);
	free(t0);
	free(t1);
	assert_int_equal(restart(), 0);
	assert_verify_full(port, bundle);
}

/* ------------------------------------------------------------ the official image */

static int image_port;

static int image_restart(void)
{
	return in_root("/usr/lib/postgresql/%d/bin/pg_ctl -D /var/lib/postgresql/data -l "
		       "/var/lib/postgresql/image.log -w -t 60 -m fast restart",
		       sb.version);
}

static void test_official_image_layout(void **state)
{
	static const char *const flag[] = {"--add-include-dir", NULL};
	char data[600], certs[600], pgconf[700], hba[700], sql[128], want[2048], *text;
	const char *base[] = {
	    PT_BOX_ARGS,    "--pgdata",        data,  "--cert-dir", certs, "--server-root",
	    sb.server_root, "--verify-dbname", sb.db, NULL};
	static const char *const dry[] = {"--mode", "transition", NULL};
	struct pt_run r;
	struct stat st;
	int try;

	(void)state;
	if (sb.server_root[0] == '\0')
		skip();
	snprintf(data, sizeof(data), "%s/var/lib/postgresql/data", sb.server_root);
	snprintf(certs, sizeof(certs), "%s/etc/cz-tls-image", sb.server_root);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", data);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", data);
	pt_sh("rm -rf '%s' '%s' '%s/var/lib/postgresql/image.log'", data, certs, sb.server_root);
	assert_int_equal(in_root("/usr/lib/postgresql/%d/bin/initdb -D /var/lib/postgresql/data -U "
				 "postgres --auth-local=trust --auth-host=scram-sha-256 "
				 "--pwfile=%s/superuser.pw -E UTF8",
				 sb.version, getenv("CZ_PG_SERVER_SANDBOX")),
			 0);
	/* What the image's entrypoint leaves: listening, a host line, no include_dir. */
	for (try = 0; try < 20; try++) {
		image_port = free_port();
		pt_sh("cd '%s' && grep -v '^port = ' postgresql.conf > pg.tmp && cat pg.tmp > "
		      "postgresql.conf && rm pg.tmp && printf \"listen_addresses = "
		      "'127.0.0.1'\\nport "
		      "= "
		      "%d\\n\" >> postgresql.conf && echo 'host all all all scram-sha-256' >> "
		      "pg_hba.conf",
		      data, image_port);
		if (in_root("/usr/lib/postgresql/%d/bin/pg_ctl -D /var/lib/postgresql/data -l "
			    "/var/lib/postgresql/image.log -w -t 60 start",
			    sb.version) == 0)
			break;
	}
	assert_true(try < 20);
	app_role(image_port);
	text = pt_slurp(pgconf);
	assert_null(strstr(text, "\ninclude_dir")); /* initdb's lines are comments */
	free(text);

	/* No include_dir: the commands in their safe order, and nothing written. */
	provision(base, dry, "dry run without --add-include-dir", &r);
	assert_int_equal(r.rc, 2);
	snprintf(want, sizeof(want), "install -d -m 0700 -o %ld -g %ld %s/conf.d", sb.owner_uid,
		 sb.owner_gid, data);
	assert_non_null(strstr(r.err, want));
	pt_run_free(&r);
	cutover(base, flag, image_port, certs, image_restart);
	/* conf.d is the database user's, 0700, and the include_dir line is the file's last. */
	snprintf(want, sizeof(want), "%s/conf.d", data);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal((long)st.st_uid, sb.owner_uid);
	snprintf(sql, sizeof(sql), "SHOW ssl");
	text = psql_value(image_port, sql);
	assert_string_equal(text, "on");
	free(text);

	(void)hba;
}

/* Whether the test passed or not: the image's server stopped, its files gone. */
static int image_teardown(void **state)
{
	(void)state;
	if (sb.server_root[0] != '\0')
		clean_leftovers();
	return 0;
}

/* ------------------------------------------------------------ a Debian cluster */

static char cluster[64];

static int debian_restart(void)
{
	/* The cluster's own tools. */
	return in_root("pg_ctlcluster %d %s restart", sb.version, cluster);
}

static void test_debian_cluster_layout(void **state)
{
	char data[600], etc[600], pgconf[700], hba[700], certs[600], *text;
	const char *base[] = {PT_BOX_ARGS,
			      "--pgdata",
			      data,
			      "--postgresql-conf",
			      pgconf,
			      "--hba-path",
			      hba,
			      "--cert-dir",
			      certs,
			      "--server-root",
			      sb.server_root,
			      "--verify-dbname",
			      sb.db,
			      NULL};
	FILE *f;
	int port = 0, try;

	(void)state;
	if (sb.server_root[0] == '\0')
		skip();
	snprintf(cluster, sizeof(cluster), "czpg%ld", (long)getpid());
	snprintf(data, sizeof(data), "%s/var/lib/postgresql/%d/%s", sb.server_root, sb.version,
		 cluster);
	snprintf(etc, sizeof(etc), "%s/etc/postgresql/%d/%s", sb.server_root, sb.version, cluster);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", etc);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", etc);
	snprintf(certs, sizeof(certs), "%s/etc/cz-tls-%s", sb.server_root, cluster);
	for (try = 0; try < 20; try++) {
		port = free_port();
		if (in_root("pg_createcluster -p %d %d %s -- --auth-local=trust "
			    "--auth-host=scram-sha-256",
			    port, sb.version, cluster) != 0)
			fail_msg("pg_createcluster failed (see %s/layout.log)", sb.dir);
		if (in_root("pg_ctlcluster %d %s start", sb.version, cluster) == 0)
			break;
		in_root("pg_dropcluster %d %s", sb.version, cluster);
	}
	assert_true(try < 20);
	app_role(port);
	f = fopen(hba, "a");
	assert_non_null(f);
	fprintf(f, "host all %s 127.0.0.1/32 scram-sha-256\n", sb.user);
	fclose(f);
	assert_int_equal(in_root("pg_ctlcluster %d %s reload", sb.version, cluster), 0);

	cutover(base, NULL, port, certs, debian_restart);
	/* Debian's own ssl = on (snakeoil) is still in postgresql.conf: cz-tls.conf wins. */
	text = pt_slurp(pgconf);
	assert_non_null(strstr(text, "snakeoil"));
	free(text);
	text = psql_value(port, "SHOW ssl_cert_file");
	assert_null(strstr(text, "snakeoil"));
	assert_non_null(strstr(text, "/etc/cz-tls-czpg"));
	free(text);
}

static int debian_teardown(void **state)
{
	char etc[600];

	(void)state;
	if (sb.server_root[0] == '\0' || cluster[0] == '\0')
		return 0;
	in_root("pg_dropcluster --stop %d %s", sb.version, cluster);
	snprintf(etc, sizeof(etc), "%s/etc/postgresql/%d/%s", sb.server_root, sb.version, cluster);
	pt_sh("rm -rf '%s' '%s/var/lib/postgresql/%d/%s' '%s/etc/cz-tls-%s'", etc, sb.server_root,
	      sb.version, cluster, sb.server_root, cluster);
	return 0;
}

/*
 * What a run of this test that was killed left in the chroot (holding the
 * lock, nothing else runs it): the image's server and PGDATA, and the
 * clusters named after a test process that is gone.
 */
static void clean_leftovers(void)
{
	char path[700], etc[600];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/var/lib/postgresql/data/postmaster.pid", sb.server_root);
	if (access(path, F_OK) == 0)
		in_root(
		    "/usr/lib/postgresql/%d/bin/pg_ctl -D /var/lib/postgresql/data -m immediate "
		    "-w stop",
		    sb.version);
	pt_sh("rm -rf '%s/var/lib/postgresql/data' '%s/var/lib/postgresql/image.log' "
	      "'%s/etc/cz-tls-image'",
	      sb.server_root, sb.server_root, sb.server_root);
	snprintf(etc, sizeof(etc), "%s/etc/postgresql/%d", sb.server_root, sb.version);
	d = opendir(etc);
	while (d != NULL && (de = readdir(d)) != NULL) {
		long pid;

		if (strncmp(de->d_name, "czpg", 4) != 0 ||
		    (pid = strtol(de->d_name + 4, NULL, 10)) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld", pid);
		if (access(path, F_OK) == 0)
			continue;
		in_root("pg_dropcluster --stop %d %s", sb.version, de->d_name);
		pt_sh("rm -rf '%s/%s' '%s/var/lib/postgresql/%d/%s' '%s/etc/cz-tls-%s'", etc,
		      de->d_name, sb.server_root, sb.version, de->d_name, sb.server_root,
		      de->d_name);
	}
	if (d != NULL)
		closedir(d);
}

static int lock_root(void **state)
{
	(void)state;
	if (sb.server_root[0] == '\0')
		return 0;
	snprintf(root_lock, sizeof(root_lock), "%s/var/lib/postgresql/.czpg-layout-test.lock",
		 sb.server_root);
	/* Close-on-exec: a server this test starts must not hold the lock after it. */
	lock_fd = open(root_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0)
		return -1;
	clean_leftovers();
	return 0;
}

static int unlock_root(void **state)
{
	(void)state;
	if (lock_fd >= 0)
		close(lock_fd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_official_image_layout, image_teardown),
	    cmocka_unit_test_teardown(test_debian_cluster_layout, debian_teardown),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	srandom((unsigned)getpid());
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	if (sb.server_root[0] == '\0')
		printf(
		    "PostgreSQL %d runs on this host: the image and Debian layouts would be the "
		    "host's own /var/lib/postgresql and /etc/postgresql; they run against 17 and "
		    "18, in their chroots\n",
		    sb.version);
	return cmocka_run_group_tests(tests, lock_root, unlock_root);
}
