/*
 * test_sslneg.c - the sslnegotiation choice (czpg/sslneg.h) and the rule it
 * rests on in core (czpg/conn.h): a direct TLS session goes on only when
 * the server selected ALPN "postgresql".  An in-memory OpenSSL server plays
 * PostgreSQL 17 (selects the ALPN) and a TLS server that ignores it; no
 * network.  Then what libpq is handed for each negotiation and libpq
 * version, and the sentences for a direct connection that failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "czpg/conn.h"
#include "czpg/sslneg.h"
#include "czpg/tlsio.h"
#include "testcert.h"

#define NOW 1000000000ull

static struct {
	char dir[256];
	char ca_path[512];
	struct czpg_testcert ca, leaf;
} g;

static int group_setup(void **state)
{
	struct czpg_testcert_opts o = {.cn = "db.example", .sans = "DNS:db.example"};

	(void)state;
	if (czpg_testcert_tmpdir(g.dir, sizeof(g.dir)) < 0 ||
	    czpg_testcert_make_ca(&g.ca, NULL) < 0 ||
	    czpg_testcert_make_leaf(&g.leaf, &g.ca, &o) < 0 ||
	    czpg_testcert_write(&g.ca, g.dir, "ca") < 0)
		return -1;
	snprintf(g.ca_path, sizeof(g.ca_path), "%s/ca.crt", g.dir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	czpg_testcert_free(&g.leaf);
	czpg_testcert_free(&g.ca);
	czpg_testcert_rmdir(g.dir);
	return 0;
}

/* ---- an in-memory server -------------------------------------------------- */

struct srv {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;
	size_t app_bytes; /* what the client sent after the handshake */
};

static void srv_start(struct srv *s, bool select_alpn)
{
	memset(s, 0, sizeof(*s));
	s->ctx = czpg_testcert_server_ctx(&g.leaf, NULL, 0, 0, 0);
	assert_non_null(s->ctx);
	if (select_alpn)
		czpg_testcert_select_alpn_postgresql(s->ctx);
	s->ssl = czpg_testcert_mem_server(s->ctx, &s->in, &s->out);
	assert_non_null(s->ssl);
}

static void srv_stop(struct srv *s)
{
	SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
	ERR_clear_error();
}

/* Moves bytes both ways until nothing moves; counts the client's application bytes. */
static void shuttle(struct czpg_conn *c, struct srv *s)
{
	uint8_t buf[16384];
	size_t n;
	int moved, r;

	do {
		moved = 0;
		while ((n = czpg_conn_take_output(c, buf, sizeof(buf))) > 0) {
			BIO_write(s->in, buf, (int)n);
			moved = 1;
		}
		if (!SSL_is_init_finished(s->ssl))
			SSL_do_handshake(s->ssl);
		if (SSL_is_init_finished(s->ssl))
			while ((r = SSL_read(s->ssl, buf, sizeof(buf))) > 0)
				s->app_bytes += (size_t)r;
		while ((r = BIO_read(s->out, buf, sizeof(buf))) > 0) {
			czpg_conn_feed(c, buf, (size_t)r, NOW);
			moved = 1;
		}
	} while (moved && !czpg_conn_finished(c));
	ERR_clear_error();
}

static struct czpg_conn *direct_conn(struct czpg_tls_config *tcfg)
{
	struct czpg_conn_config cfg = {0};
	struct czpg_conn *c;
	char err[256];

	cfg.host = "db.example";
	cfg.user = "app";
	cfg.password = "pw";
	cfg.use_tls = true;
	cfg.tls = tcfg;
	cfg.opening = CZPG_OPEN_DIRECT_TLS;
	cfg.goal = CZPG_GOAL_SESSION;
	c = czpg_conn_new(&cfg, NOW, err, sizeof(err));
	assert_non_null(c);
	czpg_conn_connected(c, NOW);
	return c;
}

static struct czpg_tls_config *direct_config(void)
{
	struct czpg_tls_config *tcfg = czpg_tls_config_new(NULL, 0);
	char err[256];

	assert_non_null(tcfg);
	assert_int_equal(czpg_tls_config_set_ca_file(tcfg, g.ca_path), 0);
	assert_int_equal(czpg_sslneg_configure(tcfg, CZPG_OPEN_DIRECT_TLS, err, sizeof(err)), 0);
	return tcfg;
}

/* ---- the rule ------------------------------------------------------------- */

/* A direct TLS session against the in-memory server, run until nothing moves. */
struct direct_run {
	struct czpg_tls_config *tcfg;
	struct czpg_conn *c;
	struct srv s;
	const char *hint;
	char why[1024];
	bool explained;
};

static void direct_run(struct direct_run *d, bool select_alpn)
{
	memset(d, 0, sizeof(*d));
	d->tcfg = direct_config();
	d->c = direct_conn(d->tcfg);
	srv_start(&d->s, select_alpn);
	shuttle(d->c, &d->s);
	assert_true(czpg_tls_handshake_done(czpg_conn_tls(d->c)));
	d->explained =
	    czpg_sslneg_explain(d->c, CZPG_OPEN_DIRECT_TLS, d->why, sizeof(d->why), &d->hint);
}

static void direct_done(struct direct_run *d)
{
	czpg_conn_free(d->c);
	srv_stop(&d->s);
	czpg_tls_config_free(d->tcfg);
}

/* A server that selects "postgresql": the startup follows the handshake. */
static void test_direct_with_alpn_goes_on(void **state)
{
	struct direct_run d;

	(void)state;
	direct_run(&d, true);
	assert_string_equal(czpg_tls_alpn(czpg_conn_tls(d.c)), "postgresql");
	assert_int_equal(czpg_conn_phase(d.c), CZPG_PHASE_STARTUP);
	assert_true(d.s.app_bytes > 8); /* the StartupMessage */
	assert_false(d.explained);
	direct_done(&d);
}

/* A TLS server that ignores ALPN: the connection fails and sends no startup. */
static void test_direct_without_alpn_stops(void **state)
{
	struct direct_run d;

	(void)state;
	direct_run(&d, false);
	assert_int_equal(czpg_conn_phase(d.c), CZPG_PHASE_FAILED);
	assert_int_equal(czpg_conn_failed_phase(d.c), CZPG_PHASE_TLS);
	assert_string_equal(czpg_conn_error(d.c),
			    "the server db.example completed a direct TLS handshake without "
			    "selecting ALPN \"postgresql\" (it selected none): a TLS server that "
			    "ignores ALPN is not proof of PostgreSQL");
	assert_int_equal(d.s.app_bytes, 0); /* no startup, no password */
	assert_true(d.explained);
	assert_string_equal(d.why, czpg_conn_error(d.c));
	assert_non_null(strstr(d.hint, "not proof of PostgreSQL"));
	assert_non_null(strstr(d.hint, "--sslnegotiation postgres"));
	direct_done(&d);
}

/* A server before 17 reads the ClientHello as a startup packet and hangs up. */
static void test_direct_refused_is_explained(void **state)
{
	struct czpg_tls_config *tcfg = direct_config();
	struct czpg_conn *c = direct_conn(tcfg);
	const char *hint = NULL;
	char why[1024];

	(void)state;
	czpg_conn_feed_eof(c, NOW);
	assert_true(czpg_sslneg_explain(c, CZPG_OPEN_DIRECT_TLS, why, sizeof(why), &hint));
	assert_int_equal(
	    strncmp(why, "direct TLS (--sslnegotiation direct) failed: the server closed", 61), 0);
	assert_non_null(strstr(hint, "from 17 on"));
	/* The same failure under SSLRequest is not this module's to explain. */
	assert_false(czpg_sslneg_explain(c, CZPG_OPEN_DEFAULT, why, sizeof(why), &hint));
	czpg_conn_free(c);
	czpg_tls_config_free(tcfg);
}

/* ---- names, configuration, libpq ------------------------------------------ */

static void test_names_and_configuration(void **state)
{
	struct czpg_tls_config *tcfg = czpg_tls_config_new(NULL, 0);
	char err[256];

	(void)state;
	assert_string_equal(czpg_sslneg_name(CZPG_OPEN_DEFAULT), "postgres");
	assert_string_equal(czpg_sslneg_name(CZPG_OPEN_DIRECT_TLS), "direct");
	assert_non_null(tcfg);
	assert_int_equal(czpg_sslneg_configure(tcfg, CZPG_OPEN_DEFAULT, err, sizeof(err)), 0);
	assert_int_equal(czpg_sslneg_configure(tcfg, CZPG_OPEN_DIRECT_TLS, err, sizeof(err)), 0);
	czpg_tls_config_free(tcfg);
}

static void test_what_libpq_gets(void **state)
{
	const char *value = "unset";
	char note[256];

	(void)state;
	/* libpq 17 and later: the keyword, whichever the value. */
	assert_int_equal(
	    czpg_sslneg_libpq(CZPG_OPEN_DIRECT_TLS, 170002, &value, note, sizeof(note)), 0);
	assert_string_equal(value, "direct");
	assert_string_equal(note, "");
	assert_int_equal(czpg_sslneg_libpq(CZPG_OPEN_DEFAULT, 180000, &value, note, sizeof(note)),
			 0);
	assert_string_equal(value, "postgres");
	/* libpq 15: no keyword; postgres is all it does, and the note says so. */
	assert_int_equal(czpg_sslneg_libpq(CZPG_OPEN_DEFAULT, 150018, &value, note, sizeof(note)),
			 0);
	assert_null(value);
	assert_string_equal(note, "libpq 15.18 has no sslnegotiation: it always sends SSLRequest "
				  "first (postgres)");
	/* direct is refused, never dropped. */
	assert_int_equal(
	    czpg_sslneg_libpq(CZPG_OPEN_DIRECT_TLS, 150018, &value, note, sizeof(note)), -1);
	assert_null(value);
	assert_string_equal(note, "--client libpq cannot use --sslnegotiation direct: the libpq in "
				  "use is 15.18, and sslnegotiation needs libpq 17 or later; use "
				  "the native client, which has it");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_direct_with_alpn_goes_on),
	    cmocka_unit_test(test_direct_without_alpn_stops),
	    cmocka_unit_test(test_direct_refused_is_explained),
	    cmocka_unit_test(test_names_and_configuration),
	    cmocka_unit_test(test_what_libpq_gets),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
