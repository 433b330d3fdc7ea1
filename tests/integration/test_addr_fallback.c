/*
 * test_addr_fallback.c - verify, probe, bench and the served-certificate
 * check connect the way libpq does: every address a name resolves to, in
 * order, until one answers; probe also walks a host list (--host a,b
 * --port p1,p2) as one box.
 *
 * The sandbox server listens on 127.0.0.1 only.  The test makes names
 * resolve to ::1 first and 127.0.0.1 second (what Debian 13's /etc/hosts
 * does for localhost) without touching the machine's /etc/hosts: the test
 * process enters a mount namespace of its own (unshare(2); as a non-root
 * user, with a user namespace too) and bind-mounts its own hosts file over
 * /etc/hosts there.  czctl runs as its child, so it sees the same file;
 * nothing outside the namespace does.  What must hold:
 *   - the engine resolves such a name to both addresses, ::1 first;
 *   - verify (native and libpq), probe, bench and served_cert connect
 *     through the second address and say which address answered;
 *   - probe with a host list whose first name does not answer probes the
 *     second name, every check at the address that answered;
 *   - a name none of whose addresses answers fails with each address and
 *     its error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "clirun.h"
#include "czpg/engine.h"
#include "czpg/served_cert.h"
#include "sandbox.h"
#include "testcert.h"

#define RUN_LIMIT_MS 60000u
#define DUAL "czpg-dual.test" /* ::1, then 127.0.0.1 (the server) */
#define DEAD "czpg-dead.test" /* ::1, then 127.0.0.2 (nothing listens) */

static struct czpg_sandbox sb;
static char tmpdir[512], ca_path[600], port_str[16], crt_path[600];

/* ---- the namespace ----------------------------------------------------------- */

static int write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

/*
 * A mount namespace of this process (and its children) with hosts_path
 * bind-mounted over /etc/hosts.  Mounts are made private first, so the bind
 * mount can never propagate to the machine's namespace.  Returns 0, 77
 * when the machine does not let this user make one (the test cannot be set
 * up: skipped, and says why), or -1.
 */
static int enter_namespace(const char *hosts_path)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWNS) < 0) {
		/* Not root: a user namespace in which this user is root. */
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
			fprintf(stderr, "cannot make a mount namespace (%s): skipped\n",
				strerror(errno));
			return 77;
		}
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
		if (write_proc("/proc/self/uid_map", map) < 0 ||
		    write_proc("/proc/self/setgroups", "deny") < 0)
			return -1;
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
		if (write_proc("/proc/self/gid_map", map) < 0)
			return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(hosts_path, "/etc/hosts", NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "cannot bind-mount %s over /etc/hosts: %s\n", hosts_path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int write_hosts(const char *path)
{
	static const char text[] = "# test_addr_fallback's own hosts file\n"
				   "127.0.0.1 localhost\n"
				   "::1 " DUAL "\n"
				   "127.0.0.1 " DUAL "\n"
				   "::1 " DEAD "\n"
				   "127.0.0.2 " DEAD "\n";
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		return -1;
	return 0;
}

/* ---- set-up ------------------------------------------------------------------ */

static int group_setup(void **state)
{
	struct czpg_testcert ca = {0}, server = {0};
	struct czpg_testcert_opts so = {.cn = "fallback server",
					.sans = "DNS:" DUAL ",DNS:" DEAD ",IP:127.0.0.1"};
	char crt[600], key[600];
	int rc = -1;

	(void)state;
	snprintf(crt, sizeof(crt), "%s/server.crt", tmpdir);
	snprintf(crt_path, sizeof(crt_path), "%s", crt);
	snprintf(key, sizeof(key), "%s/server.key", tmpdir);
	if (czpg_testcert_make_ca(&ca, NULL) < 0 || czpg_testcert_write(&ca, tmpdir, "ca") < 0 ||
	    czpg_testcert_make_leaf(&server, &ca, &so) < 0 ||
	    czpg_testcert_write(&server, tmpdir, "server") < 0 ||
	    czpg_sandbox_enable_tls(&sb, crt, key, ca_path, "TLSv1.3", NULL) < 0)
		goto out;
	rc = 0;
out:
	czpg_testcert_free(&server);
	czpg_testcert_free(&ca);
	return rc;
}

/* czctl postgres tls VERB against host with the shared flags and extra ones. */
static void run(struct czpg_clirun *r, const char *verb, const char *host, const char *const *extra)
{
	bool probe = strcmp(verb, "probe") == 0;
	const struct czpg_clirun_target t = {
	    host, sb.port, sb.user, probe ? NULL : sb.db, ca_path, probe ? NULL : sb.password};

	assert_int_equal(czpg_clirun_tls(r, tmpdir, verb, &t, extra, RUN_LIMIT_MS), 0);
	assert_true(czpg_clirun_clean(r));
}

/* ---- tests ------------------------------------------------------------------- */

/* The precondition, through the engine's own resolver: ::1 first, then 127.0.0.1. */
static void test_name_resolves_to_both_addresses(void **state)
{
	struct czpg_engine_addrs a;
	char err[256], want[64];

	(void)state;
	assert_int_equal(czpg_engine_resolve_all(DUAL, (unsigned)sb.port, &a, err, sizeof(err)), 0);
	assert_int_equal(a.n, 2);
	snprintf(want, sizeof(want), "[::1]:%d", sb.port);
	assert_string_equal(a.addr[0].text, want);
	snprintf(want, sizeof(want), "127.0.0.1:%d", sb.port);
	assert_string_equal(a.addr[1].text, want);
}

/* The line verify and probe print for DUAL: ::1 refused, 127.0.0.1 answered. */
static void expect_dual_fallback(const char *out)
{
	char line[600], want[200];

	assert_true(czpg_clirun_line(out, "connected to: ", line, sizeof(line)));
	snprintf(want, sizeof(want),
		 "connected to: 127.0.0.1:%d (" DUAL ") after [::1]:%d: Connection refused",
		 sb.port, sb.port);
	assert_string_equal(line, want);
}

static void test_verify_falls_back(void **state)
{
	static const char *const none[] = {NULL};
	static const char *const json[] = {"--json", NULL};
	char want[200], v[64];
	struct czpg_clirun r;

	(void)state;
	run(&r, "verify", DUAL, none);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_has_line(r.out, "[PASS] TLS proven"));
	expect_dual_fallback(r.out);
	czpg_clirun_free(&r);

	run(&r, "verify", DUAL, json);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_json(r.out, "connect", "address", v, sizeof(v)));
	snprintf(want, sizeof(want), "127.0.0.1:%d", sb.port);
	assert_string_equal(v, want);
	snprintf(want, sizeof(want),
		 "\"attempts\":[{\"address\":\"[::1]:%d\",\"error\":\"Connection refused\"},"
		 "{\"address\":\"127.0.0.1:%d\",\"error\":null}]",
		 sb.port, sb.port);
	assert_non_null(strstr(r.out, want));
	czpg_clirun_free(&r);
}

/* libpq, the cross-check, does the same with the same name. */
static void test_verify_libpq_agrees(void **state)
{
	static const char *const extra[] = {"--client", "libpq", NULL};
	char line[600], want[200];
	struct czpg_clirun r;

	(void)state;
	run(&r, "verify", DUAL, extra);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_has_line(r.out, "[PASS] TLS proven"));
	assert_true(czpg_clirun_line(r.out, "connected to: ", line, sizeof(line)));
	snprintf(want, sizeof(want), "connected to: 127.0.0.1:%d (" DUAL ")", sb.port);
	assert_string_equal(line, want);
	czpg_clirun_free(&r);
}

/* No address answers: one FAIL that lists each address with its error. */
static void test_verify_lists_every_address(void **state)
{
	static const char *const none[] = {NULL};
	char line[800], want[300];
	struct czpg_clirun r;

	(void)state;
	run(&r, "verify", DEAD, none);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	snprintf(want, sizeof(want),
		 "[FAIL] could not connect to " DEAD ":%d at any of its 2 addresses: [::1]:%d: "
		 "Connection refused; 127.0.0.2:%d: Connection refused",
		 sb.port, sb.port, sb.port);
	assert_string_equal(line, want);
	assert_true(czpg_clirun_line(r.out, "hint: ", line, sizeof(line)));
	assert_non_null(strstr(line, "--host/--port"));
	czpg_clirun_free(&r);
}

/* How often needle occurs in text. */
static size_t count_of(const char *text, const char *needle)
{
	size_t n = 0;

	for (text = strstr(text, needle); text != NULL; text = strstr(text + 1, needle))
		n++;
	return n;
}

static void test_probe_falls_back(void **state)
{
	static const char *const none[] = {NULL};
	static const char *const extra[] = {"--json", NULL};
	char want[300];
	struct czpg_clirun r;

	(void)state;
	run(&r, "probe", DUAL, none);
	expect_dual_fallback(r.out);
	czpg_clirun_free(&r);

	run(&r, "probe", DUAL, extra);
	/* It reached the server: TLS 1.3 accepted, verify-full against --ca passed. */
	assert_non_null(strstr(r.out, "\"status\":\"probed\""));
	assert_non_null(strstr(r.out, "\"ssl_answer\":\"S\",\"negotiated\":{\"version\":"
				      "\"TLSv1.3\""));
	assert_non_null(strstr(r.out, "\"ca_verified\":true"));
	/* ::1 refused main once; every other check went to the address that answered. */
	snprintf(want, sizeof(want),
		 "\"connect\":{\"host\":\"" DUAL "\",\"address\":\"127.0.0.1:%d\","
		 "\"attempts\":[{\"address\":\"[::1]:%d\",\"error\":\"Connection refused\"},"
		 "{\"address\":\"127.0.0.1:%d\",\"error\":null}]",
		 sb.port, sb.port, sb.port);
	assert_non_null(strstr(r.out, want));
	assert_int_equal(count_of(r.out, "Connection refused"), 1);
	czpg_clirun_free(&r);

	run(&r, "probe", DEAD, extra);
	/* And when nothing answers, each address is named. */
	assert_int_equal(r.exit_code, 3);
	assert_non_null(strstr(r.out, "\"status\":\"closed\""));
	assert_non_null(strstr(r.out, "[::1]:"));
	assert_non_null(strstr(r.out, "127.0.0.2:"));
	assert_non_null(strstr(r.out, "\"connect\":{\"host\":null,\"address\":null,"));
	czpg_clirun_free(&r);
}

/*
 * A host list is one box under alternative names (libpq's host=a,b): the
 * first name answers on none of its addresses, so the second is probed,
 * and every check goes to the address that answered.
 */
static void test_probe_host_list(void **state)
{
	char list[32], ports[40], line[800], want[400];
	const char *const text[] = {"--port", ports, NULL};
	const char *const json[] = {"--port", ports, "--json", NULL};
	struct czpg_clirun r;

	(void)state;
	snprintf(ports, sizeof(ports), "%d,%d", sb.port, sb.port);
	run(&r, "probe", DEAD "," DUAL, text);
	assert_int_not_equal(r.exit_code, 3);
	snprintf(want, sizeof(want), "probe " DEAD ":%d," DUAL ":%d (user ", sb.port, sb.port);
	assert_true(czpg_clirun_line(r.out, want, line, sizeof(line)));
	assert_non_null(strstr(line, "): probed in "));
	assert_true(czpg_clirun_line(r.out, "connected to: ", line, sizeof(line)));
	snprintf(want, sizeof(want),
		 "connected to: 127.0.0.1:%d (" DUAL ") after [::1]:%d: Connection refused; "
		 "127.0.0.2:%d: Connection refused; [::1]:%d: Connection refused",
		 sb.port, sb.port, sb.port, sb.port);
	assert_string_equal(line, want);
	czpg_clirun_free(&r);

	run(&r, "probe", DEAD "," DUAL, json);
	assert_non_null(strstr(r.out, "\"status\":\"probed\""));
	/* The name checked against the certificate is the one that answered. */
	assert_non_null(strstr(r.out, "\"host\":\"" DUAL "\""));
	assert_non_null(strstr(r.out, "\"host_match\":true"));
	assert_non_null(strstr(r.out, "\"ca_verified\":true"));
	assert_non_null(strstr(r.out, "\"plaintext\":{\"accepted\":"));
	/* The three refusals are main's attempts; no check went anywhere else. */
	assert_int_equal(count_of(r.out, "Connection refused"), 3);
	czpg_clirun_free(&r);

	/* No name answers: one sentence naming each attempt of each name. */
	snprintf(list, sizeof(list), "%s", DEAD ",127.0.0.2");
	run(&r, "probe", list, text);
	assert_int_equal(r.exit_code, 3);
	assert_true(czpg_clirun_line(r.out, "  could not probe: ", line, sizeof(line)));
	snprintf(want, sizeof(want),
		 "  could not probe: could not connect to any host of " DEAD ":%d,127.0.0.2:%d: "
		 "[::1]:%d: Connection refused; 127.0.0.2:%d: Connection refused; "
		 "127.0.0.2:%d: Connection refused",
		 sb.port, sb.port, sb.port, sb.port, sb.port);
	assert_string_equal(line, want);
	czpg_clirun_free(&r);
}

/* Bad lists are usage errors, one line each, in the words verify uses for --host. */
static void test_probe_bad_lists(void **state)
{
	static const char *const three[] = {"--port", "5432,5433,5434", NULL};
	static const char *const none[] = {NULL};
	struct czpg_clirun r;

	(void)state;
	run(&r, "probe", DUAL ",," DUAL, none);
	assert_int_equal(r.exit_code, 2);
	assert_string_equal(r.err, "czctl postgres tls probe: --host '" DUAL ",," DUAL
				   "': the host list \"" DUAL ",," DUAL "\" has an empty name\n");
	czpg_clirun_free(&r);

	run(&r, "verify", DUAL ",," DUAL, none);
	assert_int_equal(r.exit_code, 2);
	assert_string_equal(r.err, "czctl postgres tls verify: --host '" DUAL ",," DUAL
				   "': the host list \"" DUAL ",," DUAL "\" has an empty name\n");
	czpg_clirun_free(&r);

	run(&r, "probe", DEAD "," DUAL, three);
	assert_int_equal(r.exit_code, 2);
	assert_string_equal(r.err, "czctl postgres tls probe: --port has 3 ports for the 2 "
				   "name(s) of --host: give one port for all, or one per name\n");
	czpg_clirun_free(&r);
}

/* SHA-256 of the PEM certificate at path into out. */
static void file_cert_sha256(const char *path, uint8_t out[32])
{
	FILE *f = fopen(path, "r");
	X509 *x;
	unsigned int n = 0;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	assert_int_equal(X509_digest(x, EVP_sha256(), out, &n), 1);
	assert_int_equal(n, 32);
	X509_free(x);
}

/* The certificate check of provision: the second address answers, and is named. */
static void test_served_cert_falls_back(void **state)
{
	struct czpg_served_cert got;
	uint8_t want_sha[32], sha[32];
	char err[600], want[300];

	(void)state;
	file_cert_sha256(crt_path, want_sha);
	assert_int_equal(
	    czpg_served_cert_get(DUAL, (unsigned)sb.port, 5000, &got, err, sizeof(err)), 0);
	assert_memory_equal(got.sha256, want_sha, 32);
	snprintf(want, sizeof(want), "127.0.0.1:%d", sb.port);
	assert_string_equal(got.address, want);
	snprintf(want, sizeof(want), "[::1]:%d: Connection refused", sb.port);
	assert_string_equal(got.failures, want);
	/* The form provision calls gives the same answer. */
	assert_int_equal(
	    czpg_served_cert_sha256(DUAL, (unsigned)sb.port, 5000, sha, err, sizeof(err)), 0);
	assert_memory_equal(sha, want_sha, 32);

	/* Nothing answers: the sentence names each address. */
	assert_int_equal(
	    czpg_served_cert_get(DEAD, (unsigned)sb.port, 5000, &got, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "no TLS handshake with " DEAD ":%d: could not connect to " DEAD
		 ":%d at any of its 2 addresses: [::1]:%d: Connection refused; 127.0.0.2:%d: "
		 "Connection refused",
		 sb.port, sb.port, sb.port, sb.port);
	assert_string_equal(err, want);
	assert_string_equal(got.address, "");
}

static void test_bench_falls_back(void **state)
{
	static const char *const extra[] = {"--duration", "0.3", "--round-ms", "50",
					    "--warmup",   "1",   "--pool",     "2",
					    "--json",     NULL};
	struct czpg_clirun r;

	(void)state;
	run(&r, "bench", DUAL, extra);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out, "\"config\":{\"host\":\"" DUAL "\""));
	/* The address it measured is the server's, on this machine. */
	assert_non_null(strstr(r.out, "\"server_local\":true"));
	assert_non_null(strstr(r.out, "\"session\":{\"tls_version\":\"TLSv1.3\""));
	czpg_clirun_free(&r);

	run(&r, "bench", DEAD, extra);
	assert_int_not_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out, "[::1]:"));
	assert_non_null(strstr(r.out, "127.0.0.2:"));
	czpg_clirun_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_resolves_to_both_addresses),
	    cmocka_unit_test(test_verify_falls_back),
	    cmocka_unit_test(test_verify_libpq_agrees),
	    cmocka_unit_test(test_verify_lists_every_address),
	    cmocka_unit_test(test_probe_falls_back),
	    cmocka_unit_test(test_probe_host_list),
	    cmocka_unit_test(test_probe_bad_lists),
	    cmocka_unit_test(test_served_cert_falls_back),
	    cmocka_unit_test(test_bench_falls_back),
	};
	char hosts[600];
	int rc;

	if (!czpg_sandbox_from_env(&sb) || czpg_testcert_tmpdir(tmpdir, sizeof(tmpdir)) < 0)
		return 1;
	snprintf(port_str, sizeof(port_str), "%d", sb.port);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", tmpdir);
	snprintf(hosts, sizeof(hosts), "%s/hosts", tmpdir);
	if (write_hosts(hosts) < 0) {
		czpg_testcert_rmdir(tmpdir);
		return 1;
	}
	rc = enter_namespace(hosts);
	if (rc == 0)
		rc = cmocka_run_group_tests(tests, group_setup, NULL);
	czpg_testcert_rmdir(tmpdir);
	return rc;
}
