/*
 * test_verify.c - `czctl postgres tls verify` end to end against the real
 * PostgreSQL sandbox (15, 17 or 18) with TLS turned on.
 *
 * The test makes its own CA and server leaves (EC P-256) in a temporary
 * directory, installs them into the sandbox, and runs the czctl binary
 * ($CZCTL) as a user would: it checks exit codes, the exact report lines of
 * the runbook, the JSON report of the native and the libpq client against
 * each other, and that the password never reaches the output.  Tests that
 * change the server (pg_hba.conf, certificate, TLS versions) put the default
 * configuration back in their teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clirun.h"
#include "sandbox.h"
#include "testcert.h"

#define OUT_CAP 65536

static struct czpg_sandbox sb;
static const char *czctl;
static char dir[256];
static char ca_path[512], leaf_crt[512], leaf_key[512];
static char other_ca_path[512], dns_leaf_crt[512], dns_leaf_key[512], bundle_path[512];
static char *orig_hba;
static char port_str[16];

/* What one run of czctl left behind. */
struct run {
	int exit_code; /* -1 when it did not exit normally */
	char out[OUT_CAP];
	char err[OUT_CAP];
};

/* The argument list of one run, after "czctl postgres tls verify". */
struct args {
	const char *v[48];
	int n;
};

static void args_add(struct args *a, const char *s)
{
	assert_true(a->n < (int)(sizeof(a->v) / sizeof(a->v[0])) - 1);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/* The flags every run shares: port, user, database, CA and a short timeout. */
static void args_base(struct args *a, const char *host, const char *ca)
{
	a->n = 0;
	if (host != NULL) {
		args_add(a, "--host");
		args_add(a, host);
	}
	args_add(a, "--port");
	args_add(a, port_str);
	args_add(a, "--user");
	args_add(a, sb.user);
	args_add(a, "--dbname");
	args_add(a, sb.db);
	if (ca != NULL) {
		args_add(a, "--ca");
		args_add(a, ca);
	}
	args_add(a, "--timeout");
	args_add(a, "10");
}

static void read_file(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	out[0] = '\0';
	if (f == NULL)
		return;
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	fclose(f);
}

/*
 * Runs czctl postgres tls verify with the given arguments; stdin is
 * /dev/null (no password prompt), the password comes from env_password
 * through CZ_PG_VERIFY_PASSWORD when not NULL.  A run is killed after 60 s.
 */
static void run_verify(struct run *r, const struct args *a, const char *env_password)
{
	char out_path[600], err_path[600];
	const char *argv[64];
	int i, k = 0, status;
	pid_t pid;

	snprintf(out_path, sizeof(out_path), "%s/run.out", dir);
	snprintf(err_path, sizeof(err_path), "%s/run.err", dir);
	argv[k++] = czctl;
	argv[k++] = "postgres";
	argv[k++] = "tls";
	argv[k++] = "verify";
	for (i = 0; i < a->n; i++)
		argv[k++] = a->v[i];
	argv[k] = NULL;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(err, 2) < 0)
			_exit(126);
		if (env_password != NULL)
			setenv("CZ_PG_VERIFY_PASSWORD", env_password, 1);
		else
			unsetenv("CZ_PG_VERIFY_PASSWORD");
		alarm(60);
		execv(czctl, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	read_file(out_path, r->out, sizeof(r->out));
	read_file(err_path, r->err, sizeof(r->err));
	unlink(out_path);
	unlink(err_path);
}

/* Prints what a run produced (cmocka shows it next to a failure). */
static void show(const char *what, const struct run *r)
{
	printf("--- %s: exit %d\n--- stdout:\n%s--- stderr:\n%s---\n", what, r->exit_code, r->out,
	       r->err);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		if (*text == '\n')
			n++;
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL) {
			if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
				free(buf);
				buf = NULL;
			} else {
				buf[n] = '\0';
			}
		}
	}
	fclose(f);
	return buf;
}

/* The sandbox with its default pg_hba.conf and TLS 1.3 with the good leaf. */
static int restore_server(void **state)
{
	(void)state;
	if (czpg_sandbox_write_file(&sb, "pg_hba.conf", orig_hba, strlen(orig_hba), 0600) < 0)
		return -1;
	return czpg_sandbox_enable_tls(&sb, leaf_crt, leaf_key, ca_path, "TLSv1.3", NULL);
}

static int group_setup(void **state)
{
	struct czpg_testcert ca = {0}, leaf = {0}, other = {0}, dns_leaf = {0};
	struct czpg_testcert_opts other_opts = {.cn = "unrelated test CA"};
	struct czpg_testcert_opts leaf_opts = {.cn = "verify test server",
					       .sans = "IP:127.0.0.1,DNS:localhost"};
	struct czpg_testcert_opts dns_opts = {.cn = "dns-only test server",
					      .sans = "DNS:localhost"};
	char hba_path[600];
	X509 *bundle[2];
	int rc = -1;

	if (czpg_testcert_tmpdir(dir, sizeof(dir)) < 0)
		return -1;
	if (czpg_testcert_make_ca(&ca, NULL) < 0 ||
	    czpg_testcert_make_ca(&other, &other_opts) < 0 ||
	    czpg_testcert_make_leaf(&leaf, &ca, &leaf_opts) < 0 ||
	    czpg_testcert_make_leaf(&dns_leaf, &ca, &dns_opts) < 0 ||
	    czpg_testcert_write(&ca, dir, "ca") < 0 ||
	    czpg_testcert_write(&other, dir, "other-ca") < 0 ||
	    czpg_testcert_write(&leaf, dir, "server") < 0 ||
	    czpg_testcert_write(&dns_leaf, dir, "dns-server") < 0)
		goto out;
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
	snprintf(other_ca_path, sizeof(other_ca_path), "%s/other-ca.crt", dir);
	snprintf(leaf_crt, sizeof(leaf_crt), "%s/server.crt", dir);
	snprintf(leaf_key, sizeof(leaf_key), "%s/server.key", dir);
	snprintf(dns_leaf_crt, sizeof(dns_leaf_crt), "%s/dns-server.crt", dir);
	snprintf(dns_leaf_key, sizeof(dns_leaf_key), "%s/dns-server.key", dir);
	snprintf(bundle_path, sizeof(bundle_path), "%s/bundle.crt", dir);
	bundle[0] = other.cert; /* the unrelated CA first: the real one must still be found */
	bundle[1] = ca.cert;
	if (czpg_testcert_write_bundle(bundle_path, bundle, 2) < 0)
		goto out;
	snprintf(hba_path, sizeof(hba_path), "%s/pg_hba.conf", sb.data);
	orig_hba = slurp(hba_path);
	if (orig_hba == NULL) {
		fprintf(stderr, "cannot read %s\n", hba_path);
		goto out;
	}
	rc = restore_server(state);
out:
	czpg_testcert_free(&dns_leaf);
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&other);
	czpg_testcert_free(&ca);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	free(orig_hba);
	czpg_testcert_rmdir(dir);
	return 0;
}

/* The three runbook lines of a passing TLS 1.3 run. */
static void assert_runbook_pass(const struct run *r)
{
	char server_line[256];

	assert_true(czpg_clirun_has_line(r->out, "[PASS] TLS proven"));
	assert_true(
	    czpg_clirun_has_line(r->out, "client negotiated: TLS 1.3 / TLS_AES_256_GCM_SHA384"));
	assert_true(czpg_clirun_has_line(
	    r->out, "pg_stat_ssl: ssl=true version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384"));
	/* Exactly one pg_stat_ssl line, and no FAIL anywhere. */
	assert_true(czpg_clirun_line(r->out, "pg_stat_ssl:", server_line, sizeof(server_line)));
	assert_null(strstr(r->out, "[FAIL]"));
	assert_string_equal(r->err, "");
}

static void test_verify_full_by_ip(void **state)
{
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "127.0.0.1", ca_path);
	run_verify(&r, &a, sb.password);
	show("verify-full by IP", &r);
	assert_int_equal(r.exit_code, 0);
	assert_runbook_pass(&r);
	/* The certificate line names the SANs the client checked. */
	assert_non_null(strstr(r.out, "SANs: IP:127.0.0.1, DNS:localhost"));
	assert_non_null(strstr(r.out, "via native client"));
}

static void test_verify_full_by_name(void **state)
{
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "localhost", ca_path);
	run_verify(&r, &a, sb.password);
	show("verify-full by name", &r);
	assert_int_equal(r.exit_code, 0);
	assert_runbook_pass(&r);
}

/* The password given with --password instead of the environment works the same. */
static void test_password_flag(void **state)
{
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--password");
	args_add(&a, sb.password);
	run_verify(&r, &a, NULL);
	show("password flag", &r);
	assert_int_equal(r.exit_code, 0);
	assert_runbook_pass(&r);
}

static void test_channel_binding_require(void **state)
{
	char line[512];
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--channel-binding");
	args_add(&a, "require");
	run_verify(&r, &a, sb.password);
	show("channel binding require", &r);
	assert_int_equal(r.exit_code, 0);
	assert_runbook_pass(&r);
	assert_true(czpg_clirun_line(r.out, "authentication: ", line, sizeof(line)));
	assert_non_null(
	    strstr(line, "authentication: SCRAM-SHA-256-PLUS (channel binding in use)"));
	assert_non_null(strstr(line, "server offered SCRAM-SHA-256-PLUS"));

	/* The JSON report says the same. */
	args_add(&a, "--json");
	run_verify(&r, &a, sb.password);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_json_is(r.out, NULL, "auth_method", "SCRAM-SHA-256-PLUS"));
	assert_true(czpg_clirun_json_is(r.out, NULL, "channel_binding_used", "true"));
}

/* With channel binding disabled the session still proves TLS, with plain SCRAM. */
static void test_channel_binding_disable(void **state)
{
	char line[512];
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--channel-binding");
	args_add(&a, "disable");
	run_verify(&r, &a, sb.password);
	show("channel binding disable", &r);
	assert_int_equal(r.exit_code, 0);
	assert_runbook_pass(&r);
	assert_true(czpg_clirun_line(r.out, "authentication: ", line, sizeof(line)));
	assert_non_null(strstr(line, "authentication: SCRAM-SHA-256;"));
}

static void test_plaintext_accepted_fails(void **state)
{
	char line[1024];
	struct args a;
	struct run r;

	(void)state;
	/* The default pg_hba.conf has `host all all 127.0.0.1/32 scram-sha-256`. */
	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--expect-plaintext-refused");
	run_verify(&r, &a, sb.password);
	show("plaintext accepted", &r);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_non_null(strstr(line, "plaintext is accepted"));
	assert_true(czpg_clirun_line(r.out, "[FAIL] plaintext not refused", line, sizeof(line)));
	/* TLS itself was still proven: the report shows both ends. */
	assert_true(
	    czpg_clirun_has_line(r.out, "client negotiated: TLS 1.3 / TLS_AES_256_GCM_SHA384"));
	assert_true(czpg_clirun_has_line(
	    r.out, "pg_stat_ssl: ssl=true version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384"));
	assert_null(strstr(r.out, "[PASS] TLS proven"));
}

static void test_plaintext_refused_passes(void **state)
{
	char hba[512];
	struct args a;
	struct run r;

	(void)state;
	snprintf(hba, sizeof(hba),
		 "local     all  all               trust\n"
		 "hostssl   all  %s  127.0.0.1/32  scram-sha-256\n"
		 "hostnossl all  all  127.0.0.1/32  reject\n",
		 sb.user);
	assert_int_equal(czpg_sandbox_set_hba(&sb, hba), 0);
	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--expect-plaintext-refused");
	run_verify(&r, &a, sb.password);
	show("plaintext refused", &r);
	assert_int_equal(r.exit_code, 0);
	assert_runbook_pass(&r);
	/* Said with what refused it: pg_hba.conf, by its SQLSTATE 28000 rejection. */
	assert_true(czpg_clirun_line(r.out,
				     "[PASS] plaintext refused by pg_hba.conf: the server "
				     "rejected the unencrypted startup before authentication: ",
				     hba, sizeof(hba)));
	assert_non_null(strstr(hba, "SQLSTATE 28000"));
	assert_null(strstr(r.out, "plaintext not refused"));

	/* JSON: plaintext.refused is true, and says by what. */
	args_add(&a, "--json");
	run_verify(&r, &a, sb.password);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_json_is(r.out, "plaintext", "refused", "true"));
	assert_true(czpg_clirun_json_is(r.out, "plaintext", "verdict", "refused"));
	assert_true(czpg_clirun_json_is(r.out, "plaintext", "refused_by", "pg_hba.conf"));
}

/*
 * The end-to-end rule on a direct connection: the server's row names this
 * socket's own address and the pid BackendKeyData announced, and the report
 * says which evidence proved the session.  Checked for both clients, with
 * and without channel binding.
 */
static void test_proof_names_its_evidence(void **state)
{
	static const struct {
		const char *cb, *client, *evidence, *proof;
	} rows[] = {
	    {"prefer", "native", "channel_binding", "proof: channel binding: SCRAM-SHA-256-PLUS "},
	    {"disable", "native", "endpoints_and_pid", "proof: same endpoints and pid: "},
	    {"require", "libpq", "channel_binding", "proof: channel binding: SCRAM-SHA-256-PLUS "},
	    {"disable", "libpq", "endpoints_and_pid", "proof: same endpoints and pid: "},
	};
	char v[256], local[64], addr[64], port[16], pid[16], keypid[16], want[80];
	struct args a;
	struct run r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		args_base(&a, "127.0.0.1", ca_path);
		args_add(&a, "--channel-binding");
		args_add(&a, rows[i].cb);
		args_add(&a, "--client");
		args_add(&a, rows[i].client);
		run_verify(&r, &a, sb.password);
		show("proof", &r);
		assert_int_equal(r.exit_code, 0);
		assert_runbook_pass(&r);
		assert_true(czpg_clirun_line(r.out, rows[i].proof, v, sizeof(v)));
		assert_true(
		    czpg_clirun_line(r.out, "client leg: this socket 127.0.0.1:", v, sizeof(v)));
		assert_true(czpg_clirun_line(r.out, "server leg: pg_backend_pid() ", v, sizeof(v)));
		assert_null(strstr(r.out, "[WARN]"));

		args_add(&a, "--json");
		run_verify(&r, &a, sb.password);
		assert_int_equal(r.exit_code, 0);
		assert_true(czpg_clirun_json_is(r.out, NULL, "evidence", rows[i].evidence));
		assert_true(czpg_clirun_json_is(r.out, NULL, "path", "direct"));
		/* Both legs, and they name one and the same session. */
		assert_true(czpg_clirun_json(r.out, "client_leg", "local", local, sizeof(local)));
		assert_true(czpg_clirun_json(r.out, "client_leg", "backend_key_pid", keypid,
					     sizeof(keypid)));
		assert_true(
		    czpg_clirun_json(r.out, "server_leg", "client_addr", addr, sizeof(addr)));
		assert_true(
		    czpg_clirun_json(r.out, "server_leg", "client_port", port, sizeof(port)));
		assert_true(czpg_clirun_json(r.out, "server_leg", "pid", pid, sizeof(pid)));
		snprintf(want, sizeof(want), "%s:%s", addr, port);
		assert_string_equal(local, want);
		assert_string_equal(pid, keypid);
		assert_int_not_equal(atoi(pid), 0);
		assert_true(czpg_clirun_json(r.out, "connect", "address", v, sizeof(v)));
		snprintf(want, sizeof(want), "127.0.0.1:%s", port_str);
		assert_string_equal(v, want);
	}
}

/*
 * A --host list, as libpq takes it: names in order, the first that answers
 * is verified (with its own name: the certificate has DNS:localhost), and
 * the report says which address answered after which failed.
 */
static void test_host_list(void **state)
{
	char line[512], want[300];
	struct args a;
	struct run r;
	int client;

	(void)state;
	for (client = 0; client < 2; client++) {
		/* 127.0.0.2 is loopback with nothing listening on the port. */
		args_base(&a, "127.0.0.2,localhost", ca_path);
		if (client == 1) {
			args_add(&a, "--client");
			args_add(&a, "libpq");
		}
		run_verify(&r, &a, sb.password);
		show("host list", &r);
		assert_int_equal(r.exit_code, 0);
		assert_runbook_pass(&r);
		assert_true(czpg_clirun_line(r.out, "connected to: ", line, sizeof(line)));
		snprintf(want, sizeof(want), "connected to: 127.0.0.1:%s (localhost)", port_str);
		assert_memory_equal(line, want, strlen(want));
		if (client == 0) {
			snprintf(want, sizeof(want), " after 127.0.0.2:%s: Connection refused",
				 port_str);
			assert_non_null(strstr(line, want));
		}
	}

	/* No name answers: one FAIL listing every address with its error. */
	args_base(&a, "127.0.0.2,127.0.0.3", ca_path);
	run_verify(&r, &a, sb.password);
	show("host list, nothing answers", &r);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	snprintf(want, sizeof(want),
		 "[FAIL] could not connect to any host of 127.0.0.2,127.0.0.3 (port %s): "
		 "127.0.0.2:%s: Connection refused; 127.0.0.3:%s: Connection refused",
		 port_str, port_str, port_str);
	assert_string_equal(line, want);
	assert_null(strstr(r.out, "[PASS]"));
}

/* The fields both clients must agree on, from one --json report. */
struct report {
	char result[16], version[32], cipher[64], srv_ssl[8], srv_version[32], srv_cipher[64],
	    srv_bits[16], srv_pid[16], client[16], cert_serial[80];
};

static void parse_report(const char *json, struct report *p)
{
	assert_true(czpg_clirun_json(json, NULL, "result", p->result, sizeof(p->result)));
	assert_true(czpg_clirun_json(json, NULL, "client", p->client, sizeof(p->client)));
	assert_true(
	    czpg_clirun_json(json, "client_negotiated", "version", p->version, sizeof(p->version)));
	assert_true(
	    czpg_clirun_json(json, "client_negotiated", "cipher", p->cipher, sizeof(p->cipher)));
	assert_true(czpg_clirun_json(json, "pg_stat_ssl", "ssl", p->srv_ssl, sizeof(p->srv_ssl)));
	assert_true(czpg_clirun_json(json, "pg_stat_ssl", "version", p->srv_version,
				     sizeof(p->srv_version)));
	assert_true(
	    czpg_clirun_json(json, "pg_stat_ssl", "cipher", p->srv_cipher, sizeof(p->srv_cipher)));
	assert_true(
	    czpg_clirun_json(json, "pg_stat_ssl", "bits", p->srv_bits, sizeof(p->srv_bits)));
	assert_true(czpg_clirun_json(json, "pg_stat_ssl", "pid", p->srv_pid, sizeof(p->srv_pid)));
	assert_true(czpg_clirun_json(json, "certificate", "serial", p->cert_serial,
				     sizeof(p->cert_serial)));
}

static void test_native_and_libpq_agree(void **state)
{
	struct report nat, pq;
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--json");
	run_verify(&r, &a, sb.password);
	show("native --json", &r);
	assert_int_equal(r.exit_code, 0);
	/* One JSON object on one line, nothing else. */
	assert_int_equal(count_lines(r.out), 1);
	assert_int_equal(r.out[0], '{');
	parse_report(r.out, &nat);

	args_add(&a, "--client");
	args_add(&a, "libpq");
	run_verify(&r, &a, sb.password);
	show("libpq --json", &r);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(count_lines(r.out), 1);
	parse_report(r.out, &pq);

	assert_string_equal(nat.result, "PASS");
	assert_string_equal(pq.result, "PASS");
	assert_string_equal(nat.client, "native");
	assert_string_equal(pq.client, "libpq");
	assert_string_equal(nat.version, "TLSv1.3");
	assert_string_equal(nat.version, pq.version);
	assert_string_equal(nat.cipher, pq.cipher);
	assert_string_equal(nat.srv_ssl, "true");
	assert_string_equal(nat.srv_ssl, pq.srv_ssl);
	assert_string_equal(nat.srv_version, pq.srv_version);
	assert_string_equal(nat.srv_cipher, pq.srv_cipher);
	assert_string_equal(nat.srv_bits, pq.srv_bits);
	assert_string_equal(nat.cert_serial, pq.cert_serial);
	/* Each client sees its own row: the server says so for itself too. */
	assert_string_equal(nat.version, nat.srv_version);
	assert_string_equal(nat.cipher, nat.srv_cipher);
	assert_string_not_equal(nat.srv_pid, pq.srv_pid);
	assert_int_not_equal(atoi(nat.srv_pid), 0);
	assert_int_not_equal(atoi(pq.srv_pid), 0);
}

/* libpq's human report carries the same runbook lines. */
static void test_libpq_runbook_lines(void **state)
{
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "localhost", ca_path);
	args_add(&a, "--client");
	args_add(&a, "libpq");
	args_add(&a, "--channel-binding");
	args_add(&a, "require");
	run_verify(&r, &a, sb.password);
	show("libpq human", &r);
	assert_int_equal(r.exit_code, 0);
	assert_runbook_pass(&r);
	assert_non_null(strstr(r.out, "via libpq client"));
}

static void test_bad_password(void **state)
{
	static const char wrong[] = "Wr0ng-pw-7f3a9c";
	char line[1024];
	struct args a;
	struct run r;
	int client;

	(void)state;
	for (client = 0; client < 2; client++) {
		args_base(&a, "127.0.0.1", ca_path);
		if (client == 1) {
			args_add(&a, "--client");
			args_add(&a, "libpq");
		}
		run_verify(&r, &a, wrong);
		show("bad password", &r);
		assert_int_equal(r.exit_code, 1);
		assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
		assert_non_null(strstr(line, "password authentication failed"));
		assert_null(strstr(r.out, "[PASS]"));
		assert_null(strstr(r.out, wrong));
		assert_null(strstr(r.err, wrong));
	}
}

static void test_wrong_ca(void **state)
{
	char line[1024];
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "127.0.0.1", other_ca_path);
	run_verify(&r, &a, sb.password);
	show("wrong CA", &r);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	/* It names the CA file it checked against, and says the chain is the problem. */
	assert_non_null(strstr(line, other_ca_path));
	assert_non_null(strstr(line, "not signed by a CA"));
	assert_true(czpg_clirun_line(r.out, "hint: ", line, sizeof(line)));
	assert_non_null(strstr(line, "--ca"));
	/* No handshake, so no negotiated line and no server row. */
	assert_null(strstr(r.out, "client negotiated:"));
	assert_null(strstr(r.out, "pg_stat_ssl:"));
}

static void test_name_not_in_certificate(void **state)
{
	char line[1024];
	struct args a;
	struct run r;

	(void)state;
	/* The server now presents a leaf with DNS:localhost only. */
	assert_int_equal(
	    czpg_sandbox_enable_tls(&sb, dns_leaf_crt, dns_leaf_key, ca_path, "TLSv1.3", NULL), 0);
	args_base(&a, "127.0.0.1", ca_path);
	run_verify(&r, &a, sb.password);
	show("name mismatch", &r);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_non_null(strstr(line, "does not match"));
	assert_non_null(strstr(line, "127.0.0.1"));
	assert_true(czpg_clirun_line(r.out, "hint: ", line, sizeof(line)));
	assert_non_null(strstr(line, "SAN"));

	/* libpq refuses it too. */
	args_add(&a, "--client");
	args_add(&a, "libpq");
	run_verify(&r, &a, sb.password);
	show("name mismatch (libpq)", &r);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_non_null(strstr(line, "does not match"));

	/* The name that IS in the certificate passes against the same server. */
	args_base(&a, "localhost", ca_path);
	run_verify(&r, &a, sb.password);
	show("dns-only leaf by name", &r);
	assert_int_equal(r.exit_code, 0);
	assert_runbook_pass(&r);
}

static void test_tls12_only_server(void **state)
{
	char line[1024], c[64];
	struct args a;
	struct run r;

	(void)state;
	assert_int_equal(
	    czpg_sandbox_enable_tls(&sb, leaf_crt, leaf_key, ca_path, "TLSv1.2", "TLSv1.2"), 0);
	/* The default --min-tls is 1.3: the handshake must fail. */
	args_base(&a, "127.0.0.1", ca_path);
	run_verify(&r, &a, sb.password);
	show("TLS 1.2 server, default --min-tls", &r);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	/* It names the version the client required and the server lacks. */
	assert_non_null(strstr(line, "TLS 1.3"));
	assert_null(strstr(r.out, "[PASS]"));
	assert_null(strstr(r.out, "pg_stat_ssl:"));

	/* Allowing 1.2 passes, and both ends report TLS 1.2 with the same cipher. */
	args_add(&a, "--min-tls");
	args_add(&a, "1.2");
	run_verify(&r, &a, sb.password);
	show("TLS 1.2 server, --min-tls 1.2", &r);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_has_line(r.out, "[PASS] TLS proven"));
	assert_true(czpg_clirun_line(r.out, "client negotiated: TLS 1.2 / ", line, sizeof(line)));
	args_add(&a, "--json");
	run_verify(&r, &a, sb.password);
	assert_int_equal(r.exit_code, 0);
	assert_true(czpg_clirun_json_is(r.out, "pg_stat_ssl", "version", "TLSv1.2"));
	assert_true(czpg_clirun_json(r.out, "client_negotiated", "cipher", c, sizeof(c)));
	assert_true(czpg_clirun_json(r.out, "pg_stat_ssl", "cipher", line, sizeof(line)));
	assert_string_equal(c, line);
	/* A TLS 1.2 suite, not a TLS 1.3 one. */
	assert_null(strstr(c, "TLS_AES"));
	/* With channel binding over TLS 1.2 (tls-server-end-point works there too). */
	a.n--; /* drop --json */
	a.v[a.n] = NULL;
	args_add(&a, "--channel-binding");
	args_add(&a, "require");
	run_verify(&r, &a, sb.password);
	show("TLS 1.2 server, channel binding", &r);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out, "SCRAM-SHA-256-PLUS"));
}

/* One usage error: exit 2, nothing on stdout, one line on stderr naming bad. */
static void expect_usage_error(const struct args *a, const char *bad)
{
	struct run r;

	run_verify(&r, a, sb.password);
	show("usage error", &r);
	assert_int_equal(r.exit_code, 2);
	assert_string_equal(r.out, "");
	assert_int_equal(count_lines(r.err), 1);
	assert_non_null(strstr(r.err, bad));
	assert_null(strstr(r.err, sb.password));
}

static void test_bad_input(void **state)
{
	char missing[600];
	struct args a;

	(void)state;
	args_base(&a, NULL, ca_path);
	expect_usage_error(&a, "--host");

	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--port");
	args_add(&a, "0");
	expect_usage_error(&a, "'0'");

	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--port");
	args_add(&a, "abc");
	expect_usage_error(&a, "'abc'");

	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--port");
	args_add(&a, "65536");
	expect_usage_error(&a, "'65536'");

	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--channel-binding");
	args_add(&a, "maybe");
	expect_usage_error(&a, "'maybe'");

	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--min-tls");
	args_add(&a, "1.1");
	expect_usage_error(&a, "'1.1'");

	snprintf(missing, sizeof(missing), "%s/no-such-ca.crt", dir);
	args_base(&a, "127.0.0.1", missing);
	expect_usage_error(&a, missing);

	args_base(&a, "127.0.0.1", ca_path);
	args_add(&a, "--client");
	args_add(&a, "odbc");
	expect_usage_error(&a, "'odbc'");

	/* A host list with an empty name is refused before anything connects. */
	args_base(&a, "127.0.0.1,,localhost", ca_path);
	expect_usage_error(&a, "empty name");
}

/*
 * Neither the human nor the JSON report, passing or failing, shows the
 * password.  Each row's verdict is known in this setup (the default
 * pg_hba.conf accepts plaintext from 127.0.0.1, the server offers
 * SCRAM-SHA-256-PLUS), so each row asserts its exit code and verdict too:
 * a row that silently stopped exercising its path would show here.
 */
static void test_password_never_printed(void **state)
{
	static const struct {
		const char *extra[4];
		int exit_code;
		bool json;
	} rows[] = {
	    {{NULL}, 0, false},
	    {{"--json", NULL}, 0, true},
	    {{"--client", "libpq", NULL}, 0, false},
	    {{"--client", "libpq", "--json", NULL}, 0, true},
	    /* Plaintext is accepted here: the one failing row. */
	    {{"--expect-plaintext-refused", "--json", NULL}, 1, true},
	    {{"--channel-binding", "require", "--json", NULL}, 0, true},
	};
	char verdict[16];
	struct args a;
	struct run r;
	size_t i, j;
	int via_flag;

	(void)state;
	for (via_flag = 0; via_flag < 2; via_flag++) {
		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			args_base(&a, "127.0.0.1", ca_path);
			for (j = 0; rows[i].extra[j] != NULL; j++)
				args_add(&a, rows[i].extra[j]);
			if (via_flag) {
				args_add(&a, "--password");
				args_add(&a, sb.password);
			}
			run_verify(&r, &a, via_flag ? NULL : sb.password);
			show("password never printed", &r);
			assert_int_equal(r.exit_code, rows[i].exit_code);
			if (rows[i].json) {
				assert_true(czpg_clirun_json(r.out, NULL, "result", verdict,
							     sizeof(verdict)));
				assert_string_equal(verdict,
						    rows[i].exit_code == 0 ? "PASS" : "FAIL");
			} else {
				assert_true(czpg_clirun_has_line(r.out, "[PASS] TLS proven"));
				assert_null(strstr(r.out, "[FAIL]"));
			}
			assert_null(strstr(r.out, sb.password));
			assert_null(strstr(r.err, sb.password));
		}
	}
	/* A failing run against the wrong CA prints nothing of it either. */
	args_base(&a, "127.0.0.1", other_ca_path);
	args_add(&a, "--json");
	run_verify(&r, &a, sb.password);
	assert_int_equal(r.exit_code, 1);
	assert_null(strstr(r.out, sb.password));
	assert_null(strstr(r.err, sb.password));
}

static void test_ca_bundle_rotation_overlap(void **state)
{
	struct args a;
	struct run r;
	int client;

	(void)state;
	for (client = 0; client < 2; client++) {
		args_base(&a, "127.0.0.1", bundle_path);
		if (client == 1) {
			args_add(&a, "--client");
			args_add(&a, "libpq");
		}
		run_verify(&r, &a, sb.password);
		show("CA bundle", &r);
		assert_int_equal(r.exit_code, 0);
		assert_runbook_pass(&r);
	}
}

/* Nothing listens on the port: a FAIL with exit 1 saying it could not connect. */
static void test_nothing_listening(void **state)
{
	char line[512];
	struct args a;
	struct run r;

	(void)state;
	args_base(&a, "127.0.0.1", ca_path);
	/* The sandbox listens on 127.0.0.1 only: 127.0.0.2 is loopback with no server. */
	a.v[1] = "127.0.0.2";
	run_verify(&r, &a, sb.password);
	show("nothing listening", &r);
	assert_int_equal(r.exit_code, 1);
	assert_true(czpg_clirun_line(r.out, "[FAIL] ", line, sizeof(line)));
	assert_non_null(strstr(line, "could not connect"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify_full_by_ip),
	    cmocka_unit_test(test_verify_full_by_name),
	    cmocka_unit_test(test_password_flag),
	    cmocka_unit_test(test_channel_binding_require),
	    cmocka_unit_test(test_channel_binding_disable),
	    cmocka_unit_test(test_plaintext_accepted_fails),
	    cmocka_unit_test_teardown(test_plaintext_refused_passes, restore_server),
	    cmocka_unit_test(test_proof_names_its_evidence),
	    cmocka_unit_test(test_host_list),
	    cmocka_unit_test(test_native_and_libpq_agree),
	    cmocka_unit_test(test_libpq_runbook_lines),
	    cmocka_unit_test(test_bad_password),
	    cmocka_unit_test(test_wrong_ca),
	    cmocka_unit_test_teardown(test_name_not_in_certificate, restore_server),
	    cmocka_unit_test_teardown(test_tls12_only_server, restore_server),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_password_never_printed),
	    cmocka_unit_test(test_ca_bundle_rotation_overlap),
	    cmocka_unit_test(test_nothing_listening),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	czctl = getenv("CZCTL");
	if (czctl == NULL || czctl[0] == '\0') {
		fprintf(stderr, "CZCTL is not set (run through ctest)\n");
		return 1;
	}
	snprintf(port_str, sizeof(port_str), "%d", sb.port);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
