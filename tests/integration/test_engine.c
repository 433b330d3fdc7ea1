/*
 * test_engine.c - the native client (conn state machine + io_uring engine)
 * against the real PostgreSQL sandbox (15, 17 or 18).
 *
 * Many connections on one engine at once, half over verify-full TLS with
 * SCRAM-SHA-256-PLUS and half in plaintext with SCRAM-SHA-256, each
 * pipelining simple and extended-protocol queries whose answers are checked;
 * a connect to a closed port failing cleanly; and IPv6 loopback (::1) after
 * the sandbox is restarted to listen there too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "czpg/conn.h"
#include "czpg/engine.h"
#include "czpg/scram.h"
#include "czpg/tlsio.h"
#include "sandbox.h"
#include "testcert.h"

#define N_TLS 50
#define N_PLAIN 50
#define N_QUERIES 5 /* QUERY_DONE events each connection expects (see on_ready) */

static struct czpg_sandbox sb;
static char dir[256], ca_path[512];

/* One client connection and what it observed. */
struct client {
	struct czpg_conn *c;
	int id;
	bool tls;
	int done;    /* QUERY_DONE events so far */
	int rows_ok; /* rows whose value was the expected one */
	int rows_bad;
	int errors; /* QUERY_ERROR events */
	bool ready;
	bool closed;
	bool failed;
	bool released;
	char ssl_flag[8]; /* pg_stat_ssl.ssl of this backend, "t" or "f" */
};

static void on_release(struct czpg_conn *c, void *user)
{
	struct client *cl = czpg_conn_user_data(c);

	(void)user;
	cl->released = true;
}

/* The expected single value of query number k of client cl ("" = no row expected). */
static void expected_value(const struct client *cl, int k, char *out, size_t cap)
{
	switch (k) {
	case 0:
		snprintf(out, cap, "%d", cl->id * 7);
		break;
	case 1:
		snprintf(out, cap, "%s", cl->tls ? "t" : "f");
		break;
	case 3:
		snprintf(out, cap, "%d", cl->id + 1);
		break;
	case 4:
		snprintf(out, cap, "%d", cl->id + 1001);
		break;
	default:
		out[0] = '\0';
		break;
	}
}

/* Pipelines every query at once: two simple queries, a Parse, two executions. */
static void on_ready(struct czpg_conn *c, struct client *cl)
{
	char q[128], p1[16], p2[16];
	const char *v1[1] = {p1}, *v2[1] = {p2};

	snprintf(q, sizeof(q), "SELECT %d * 7", cl->id);
	snprintf(p1, sizeof(p1), "%d", cl->id);
	snprintf(p2, sizeof(p2), "%d", cl->id + 1000);
	if (czpg_conn_query(c, q) < 0 ||
	    czpg_conn_query(c, "SELECT ssl FROM pg_catalog.pg_stat_ssl "
			       "WHERE pid = pg_catalog.pg_backend_pid()") < 0 ||
	    /* nparams 0: the server infers the parameter's type from the cast. */
	    czpg_conn_prepare(c, "plus_one", "SELECT $1::int + 1", 0) < 0 ||
	    czpg_conn_execute_prepared(c, "plus_one", 1, v1) < 0 ||
	    czpg_conn_execute_prepared(c, "plus_one", 1, v2) < 0) {
		fprintf(stderr, "client %d: queueing queries failed: %s\n", cl->id,
			czpg_conn_error(c));
		cl->errors++;
		if (czpg_conn_in_flight(c) == 0)
			czpg_conn_terminate(c);
	}
}

static void on_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct client *cl = user;
	char want[32], got[64];

	switch (ev->type) {
	case CZPG_EV_READY:
		cl->ready = true;
		on_ready(c, cl);
		break;
	case CZPG_EV_ROW:
		expected_value(cl, cl->done, want, sizeof(want));
		if (ev->nvalues != 1 || ev->values[0].null || ev->values[0].len >= sizeof(got)) {
			cl->rows_bad++;
			break;
		}
		memcpy(got, ev->values[0].data, ev->values[0].len);
		got[ev->values[0].len] = '\0';
		if (cl->done == 1)
			snprintf(cl->ssl_flag, sizeof(cl->ssl_flag), "%.7s", got);
		if (want[0] != '\0' && strcmp(got, want) == 0)
			cl->rows_ok++;
		else
			cl->rows_bad++;
		break;
	case CZPG_EV_QUERY_ERROR:
		cl->errors++;
		fprintf(stderr, "client %d: query error %s: %s\n", cl->id,
			ev->sqlstate != NULL ? ev->sqlstate : "?",
			ev->text != NULL ? ev->text : "");
		break;
	case CZPG_EV_QUERY_DONE:
		cl->done++;
		if (czpg_conn_in_flight(c) == 0)
			czpg_conn_terminate(c);
		break;
	case CZPG_EV_CLOSED:
		cl->closed = true;
		break;
	case CZPG_EV_FAILED:
		cl->failed = true;
		fprintf(stderr, "client %d (%s) failed: %s\n", cl->id, cl->tls ? "tls" : "plain",
			czpg_conn_error(c));
		break;
	default:
		break;
	}
}

static int group_setup(void **state)
{
	struct czpg_testcert ca = {0}, leaf = {0};
	struct czpg_testcert_opts lo = {.cn = "engine test server",
					.sans = "IP:127.0.0.1,DNS:localhost,IP:::1"};
	char crt[600], key[600];
	int rc = -1;

	(void)state;
	if (czpg_testcert_tmpdir(dir, sizeof(dir)) < 0)
		return -1;
	if (czpg_testcert_make_ca(&ca, NULL) < 0 || czpg_testcert_make_leaf(&leaf, &ca, &lo) < 0 ||
	    czpg_testcert_write(&ca, dir, "ca") < 0 ||
	    czpg_testcert_write(&leaf, dir, "server") < 0)
		goto out;
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
	snprintf(crt, sizeof(crt), "%s/server.crt", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	rc = czpg_sandbox_enable_tls(&sb, crt, key, ca_path, "TLSv1.3", NULL);
out:
	czpg_testcert_free(&leaf);
	czpg_testcert_free(&ca);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	czpg_testcert_rmdir(dir);
	return 0;
}

static struct czpg_tls_config *tls_config(void)
{
	char err[256];
	struct czpg_tls_config *t = czpg_tls_config_new(err, sizeof(err));

	assert_non_null(t);
	assert_int_equal(czpg_tls_config_set_ca_file(t, ca_path), 0);
	return t;
}

static void test_many_connections_one_engine(void **state)
{
	struct czpg_engine_config ecfg = {.max_conns = N_TLS + N_PLAIN, .on_release = on_release};
	struct client *cl = calloc(N_TLS + N_PLAIN, sizeof(*cl));
	struct czpg_scram_cache *cache = czpg_scram_cache_new(0);
	struct czpg_tls_config *tcfg = tls_config();
	const struct czpg_engine_stats *st;
	struct czpg_engine *e;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char err[512], label[64];
	int i, n_plus = 0, n_plain_scram = 0;

	(void)state;
	assert_non_null(cl);
	assert_non_null(cache);
	e = czpg_engine_new(&ecfg, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(
	    czpg_engine_resolve(sb.host, (unsigned)sb.port, &addr, &addrlen, err, sizeof(err)), 0);
	snprintf(label, sizeof(label), "%s:%d", sb.host, sb.port);
	for (i = 0; i < N_TLS + N_PLAIN; i++) {
		struct czpg_conn_config cfg = {0};

		cl[i].id = i;
		cl[i].tls = i % 2 == 0; /* interleaved, so both kinds run side by side */
		cfg.host = sb.host;
		cfg.user = sb.user;
		cfg.dbname = sb.db;
		cfg.application_name = "czpg engine test";
		cfg.password = sb.password;
		cfg.use_tls = cl[i].tls;
		cfg.tls = cl[i].tls ? tcfg : NULL;
		cfg.channel_binding = CZPG_CB_PREFER;
		cfg.scram_cache = cache;
		cfg.phase_timeout_ms = 30000;
		cfg.on_event = on_event;
		cfg.user_data = &cl[i];
		cl[i].c = czpg_conn_new(&cfg, czpg_engine_now_ns(), err, sizeof(err));
		assert_non_null(cl[i].c);
		assert_true(czpg_engine_connect(e, cl[i].c, (const struct sockaddr *)&addr, addrlen,
						NULL, 0, label, err, sizeof(err)) >= 0);
	}
	assert_int_equal(czpg_engine_active(e), N_TLS + N_PLAIN);
	if (czpg_engine_run_until_idle(e, czpg_engine_now_ns() + 120000000000ull, err,
				       sizeof(err)) < 0)
		fail_msg("the engine did not finish: %s", err);
	assert_int_equal(czpg_engine_active(e), 0);

	for (i = 0; i < N_TLS + N_PLAIN; i++) {
		struct client *k = &cl[i];

		if (k->failed || !k->closed || k->done != N_QUERIES || k->rows_ok != 4 ||
		    k->rows_bad != 0 || k->errors != 0)
			fprintf(stderr,
				"client %d (%s): ready=%d closed=%d failed=%d done=%d ok=%d bad=%d "
				"errors=%d phase=%s error=%s\n",
				i, k->tls ? "tls" : "plain", k->ready, k->closed, k->failed,
				k->done, k->rows_ok, k->rows_bad, k->errors,
				czpg_conn_phase_name(czpg_conn_phase(k->c)), czpg_conn_error(k->c));
		assert_false(k->failed);
		assert_true(k->ready);
		assert_true(k->closed);
		assert_true(k->released);
		assert_int_equal(k->done, N_QUERIES);
		assert_int_equal(k->rows_ok, 4);
		assert_int_equal(k->rows_bad, 0);
		assert_int_equal(k->errors, 0);
		assert_string_equal(k->ssl_flag, k->tls ? "t" : "f");
		assert_int_equal(czpg_conn_phase(k->c), CZPG_PHASE_DONE);
		assert_int_not_equal(czpg_conn_backend_pid(k->c), 0);
		if (k->tls) {
			struct czpg_tls *t = czpg_conn_tls(k->c);

			assert_non_null(t);
			assert_string_equal(czpg_tls_version(t), "TLSv1.3");
			assert_string_equal(czpg_conn_auth_method(k->c), "SCRAM-SHA-256-PLUS");
			n_plus++;
		} else {
			assert_null(czpg_conn_tls(k->c));
			assert_string_equal(czpg_conn_auth_method(k->c), "SCRAM-SHA-256");
			n_plain_scram++;
		}
	}
	assert_int_equal(n_plus, N_TLS);
	assert_int_equal(n_plain_scram, N_PLAIN);
	/* One role, one salt: PBKDF2 ran once, every other connection hit the cache. */
	assert_int_equal(czpg_scram_cache_misses(cache), 1);
	assert_int_equal(czpg_scram_cache_hits(cache), N_TLS + N_PLAIN - 1);

	st = czpg_engine_stats(e);
	printf("engine: %llu io_uring_enter, %llu completions, %llu sends, %llu recvs, "
	       "%llu bytes out, %llu bytes in\n",
	       (unsigned long long)st->enters, (unsigned long long)st->completions,
	       (unsigned long long)st->sends, (unsigned long long)st->recvs,
	       (unsigned long long)st->bytes_sent, (unsigned long long)st->bytes_received);
	/* Batching: far fewer kernel entries than completions handled. */
	assert_true(st->completions > 0);
	assert_true(st->enters < st->completions);

	for (i = 0; i < N_TLS + N_PLAIN; i++)
		czpg_conn_free(cl[i].c);
	czpg_engine_free(e);
	czpg_tls_config_free(tcfg);
	czpg_scram_cache_free(cache);
	free(cl);
}

/* A loopback port nothing listens on: bound once, then closed. */
static unsigned closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_closed_port_fails_cleanly(void **state)
{
	struct czpg_engine_config ecfg = {.max_conns = 4, .on_release = on_release};
	struct czpg_tls_config *tcfg = tls_config();
	struct czpg_conn_config cfg = {0};
	struct client cl = {.id = 1, .tls = true};
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct czpg_engine *e;
	char err[512], label[64];
	unsigned port = closed_port();

	(void)state;
	e = czpg_engine_new(&ecfg, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(czpg_engine_resolve("127.0.0.1", port, &addr, &addrlen, err, sizeof(err)),
			 0);
	snprintf(label, sizeof(label), "127.0.0.1:%u", port);
	cfg.host = "127.0.0.1";
	cfg.user = sb.user;
	cfg.password = sb.password;
	cfg.use_tls = true;
	cfg.tls = tcfg;
	cfg.on_event = on_event;
	cfg.user_data = &cl;
	cl.c = czpg_conn_new(&cfg, czpg_engine_now_ns(), err, sizeof(err));
	assert_non_null(cl.c);
	assert_true(czpg_engine_connect(e, cl.c, (const struct sockaddr *)&addr, addrlen, NULL, 0,
					label, err, sizeof(err)) >= 0);
	assert_int_equal(
	    czpg_engine_run_until_idle(e, czpg_engine_now_ns() + 20000000000ull, err, sizeof(err)),
	    0);
	assert_int_equal(czpg_engine_active(e), 0);
	assert_true(cl.failed);
	assert_true(cl.released);
	assert_false(cl.ready);
	assert_int_equal(czpg_conn_phase(cl.c), CZPG_PHASE_FAILED);
	assert_int_equal(czpg_conn_failed_phase(cl.c), CZPG_PHASE_CONNECT);
	printf("closed port: %s\n", czpg_conn_error(cl.c));
	assert_non_null(strstr(czpg_conn_error(cl.c), "could not connect"));
	assert_non_null(strstr(czpg_conn_error(cl.c), label));
	/* No TLS byte was ever exchanged. */
	assert_int_equal(czpg_conn_ssl_answer(cl.c), 0);
	czpg_conn_free(cl.c);
	czpg_engine_free(e);
	czpg_tls_config_free(tcfg);
}

/* True when this machine lets a socket bind to [::1]. */
static bool ipv6_loopback_usable(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok;

	if (fd < 0)
		return false;
	a.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void test_ipv6_loopback(void **state)
{
	struct czpg_engine_config ecfg = {.max_conns = 4, .on_release = on_release};
	struct czpg_tls_config *tcfg;
	struct czpg_conn_config cfg = {0};
	struct client cl = {.id = 6, .tls = true};
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct czpg_engine *e;
	char err[512], label[64], v[64];

	(void)state;
	if (!ipv6_loopback_usable()) {
		printf("skipping: this machine cannot bind to [::1]\n");
		skip();
	}
	/* postgresql.auto.conf sets listen_addresses, so ALTER SYSTEM changes it there. */
	assert_int_equal(czpg_sandbox_exec(&sb, "ALTER SYSTEM SET listen_addresses = "
						"'127.0.0.1,::1'"),
			 0);
	assert_int_equal(czpg_sandbox_restart(&sb), 0);
	assert_int_equal(czpg_sandbox_query_value(&sb, "SHOW listen_addresses", v, sizeof(v)), 0);
	assert_string_equal(v, "127.0.0.1,::1");

	tcfg = tls_config();
	e = czpg_engine_new(&ecfg, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(
	    czpg_engine_resolve("::1", (unsigned)sb.port, &addr, &addrlen, err, sizeof(err)), 0);
	assert_int_equal(addr.ss_family, AF_INET6);
	snprintf(label, sizeof(label), "[::1]:%d", sb.port);
	cfg.host = "::1";
	cfg.user = sb.user;
	cfg.dbname = sb.db;
	cfg.password = sb.password;
	cfg.use_tls = true;
	cfg.tls = tcfg;
	cfg.channel_binding = CZPG_CB_REQUIRE;
	cfg.on_event = on_event;
	cfg.user_data = &cl;
	cl.c = czpg_conn_new(&cfg, czpg_engine_now_ns(), err, sizeof(err));
	assert_non_null(cl.c);
	assert_true(czpg_engine_connect(e, cl.c, (const struct sockaddr *)&addr, addrlen, NULL, 0,
					label, err, sizeof(err)) >= 0);
	if (czpg_engine_run_until_idle(e, czpg_engine_now_ns() + 30000000000ull, err, sizeof(err)) <
	    0)
		fail_msg("the engine did not finish: %s", err);
	if (cl.failed)
		fprintf(stderr, "::1: %s\n", czpg_conn_error(cl.c));
	assert_false(cl.failed);
	assert_true(cl.closed);
	assert_int_equal(cl.done, N_QUERIES);
	assert_int_equal(cl.rows_ok, 4);
	assert_string_equal(cl.ssl_flag, "t");
	assert_string_equal(czpg_conn_auth_method(cl.c), "SCRAM-SHA-256-PLUS");
	czpg_conn_free(cl.c);
	czpg_engine_free(e);
	czpg_tls_config_free(tcfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_many_connections_one_engine),
	    cmocka_unit_test(test_closed_port_fails_cleanly),
	    /* Last: it restarts the server. */
	    cmocka_unit_test(test_ipv6_loopback),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
