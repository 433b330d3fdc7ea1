/*
 * test_conn.c - the connection state machine driven by scripted server
 * transcripts: no socket, no server.  Each test plays the server's bytes
 * and checks what the client sends back and what it reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "czpg/buf.h"
#include "czpg/conn.h"
#include "czpg/pgwire.h"
#include "czpg/tlsio.h"
#include "scram_server.h"

#define NOW 1000000000ull

/* ---- what the client reported ------------------------------------------ */

struct seen {
	int ready, failed, closed, goal, done, rows, qerrors;
	char last_value[64];
	char tag[64];
};

static void on_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct seen *s = user;

	(void)c;
	switch (ev->type) {
	case CZPG_EV_READY:
		s->ready++;
		break;
	case CZPG_EV_FAILED:
		s->failed++;
		break;
	case CZPG_EV_CLOSED:
		s->closed++;
		break;
	case CZPG_EV_GOAL:
		s->goal++;
		break;
	case CZPG_EV_QUERY_DONE:
		s->done++;
		break;
	case CZPG_EV_QUERY_ERROR:
		s->qerrors++;
		break;
	case CZPG_EV_COMMAND_COMPLETE:
		snprintf(s->tag, sizeof(s->tag), "%s", ev->text);
		break;
	case CZPG_EV_ROW:
		s->rows++;
		if (ev->nvalues > 0 && !ev->values[0].null)
			snprintf(s->last_value, sizeof(s->last_value), "%.*s",
				 (int)ev->values[0].len, (const char *)ev->values[0].data);
		break;
	default:
		break;
	}
}

/* ---- server message builders -------------------------------------------- */

static void msg_begin(struct czpg_wbuf *w, char type, size_t *mark)
{
	czpg_wbuf_u8(w, (uint8_t)type);
	*mark = w->len;
	czpg_wbuf_u32(w, 0);
}

static void msg_end(struct czpg_wbuf *w, size_t mark)
{
	czpg_wbuf_put_u32_at(w, mark, (uint32_t)(w->len - mark));
}

static void srv_auth(struct czpg_wbuf *w, uint32_t code, const void *data, size_t len)
{
	size_t m;

	msg_begin(w, 'R', &m);
	czpg_wbuf_u32(w, code);
	czpg_wbuf_bytes(w, data, len);
	msg_end(w, m);
}

static void srv_sasl(struct czpg_wbuf *w, const char *const *mechs)
{
	size_t m;

	msg_begin(w, 'R', &m);
	czpg_wbuf_u32(w, 10);
	for (; *mechs != NULL; mechs++)
		czpg_wbuf_cstr(w, *mechs);
	czpg_wbuf_u8(w, 0);
	msg_end(w, m);
}

static void srv_param(struct czpg_wbuf *w, const char *k, const char *v)
{
	size_t m;

	msg_begin(w, 'S', &m);
	czpg_wbuf_cstr(w, k);
	czpg_wbuf_cstr(w, v);
	msg_end(w, m);
}

static void srv_key(struct czpg_wbuf *w, uint32_t pid)
{
	size_t m;

	msg_begin(w, 'K', &m);
	czpg_wbuf_u32(w, pid);
	czpg_wbuf_u32(w, 0xabcdef);
	msg_end(w, m);
}

static void srv_ready(struct czpg_wbuf *w)
{
	size_t m;

	msg_begin(w, 'Z', &m);
	czpg_wbuf_u8(w, 'I');
	msg_end(w, m);
}

static void srv_error(struct czpg_wbuf *w, const char *sev, const char *code, const char *text)
{
	size_t m;

	msg_begin(w, 'E', &m);
	czpg_wbuf_u8(w, 'S');
	czpg_wbuf_cstr(w, sev);
	czpg_wbuf_u8(w, 'V');
	czpg_wbuf_cstr(w, sev);
	czpg_wbuf_u8(w, 'C');
	czpg_wbuf_cstr(w, code);
	czpg_wbuf_u8(w, 'M');
	czpg_wbuf_cstr(w, text);
	czpg_wbuf_u8(w, 0);
	msg_end(w, m);
}

static void srv_select1(struct czpg_wbuf *w)
{
	size_t m;

	msg_begin(w, 'T', &m);
	czpg_wbuf_u16(w, 1);
	czpg_wbuf_cstr(w, "?column?");
	czpg_wbuf_u32(w, 0);
	czpg_wbuf_u16(w, 0);
	czpg_wbuf_u32(w, 23);
	czpg_wbuf_u16(w, 4);
	czpg_wbuf_u32(w, 0xffffffff);
	czpg_wbuf_u16(w, 0);
	msg_end(w, m);
	msg_begin(w, 'D', &m);
	czpg_wbuf_u16(w, 1);
	czpg_wbuf_u32(w, 1);
	czpg_wbuf_u8(w, '1');
	msg_end(w, m);
	msg_begin(w, 'C', &m);
	czpg_wbuf_cstr(w, "SELECT 1");
	msg_end(w, m);
	srv_ready(w);
}

/* ---- plumbing ------------------------------------------------------------ */

static struct czpg_conn *new_conn(struct seen *s, bool tls, struct czpg_tls_config *tcfg,
				  const char *password, enum czpg_cb_policy cb)
{
	struct czpg_conn_config cfg = {0};
	char err[256];
	struct czpg_conn *c;

	cfg.host = "db.example";
	cfg.user = "app";
	cfg.dbname = "appdb";
	cfg.password = password;
	cfg.use_tls = tls;
	cfg.tls = tcfg;
	cfg.channel_binding = cb;
	cfg.phase_timeout_ms = 1000;
	cfg.on_event = on_event;
	cfg.user_data = s;
	c = czpg_conn_new(&cfg, NOW, err, sizeof(err));
	assert_non_null(c);
	czpg_conn_connected(c, NOW);
	return c;
}

/* Takes everything the client wants to send. */
static size_t drain(struct czpg_conn *c, uint8_t *buf, size_t cap)
{
	size_t n = 0, k;

	while ((k = czpg_conn_take_output(c, buf + n, cap - n)) > 0)
		n += k;
	return n;
}

static void feed(struct czpg_conn *c, struct czpg_wbuf *w)
{
	czpg_conn_feed(c, w->data, w->len, NOW);
	czpg_wbuf_reset(w);
}

/* Pulls the payload out of a SASLInitialResponse or SASLResponse. */
static size_t sasl_payload(const uint8_t *msg, size_t n, bool initial, char *out, size_t cap)
{
	size_t off = 5, len;

	assert_true(n > 5);
	assert_int_equal(msg[0], 'p');
	if (initial) {
		off += strlen((const char *)msg + 5) + 1;
		len = (size_t)msg[off] << 24 | (size_t)msg[off + 1] << 16 |
		      (size_t)msg[off + 2] << 8 | msg[off + 3];
		off += 4;
	} else {
		len = n - 5;
	}
	assert_true(len < cap);
	memcpy(out, msg + off, len);
	out[len] = '\0';
	return len;
}

/* ---- tests --------------------------------------------------------------- */

static void test_trust_startup_and_query(void **state)
{
	struct seen s = {0};
	struct czpg_conn *c = new_conn(&s, false, NULL, NULL, CZPG_CB_PREFER);
	struct czpg_wbuf w;
	uint8_t out[4096];
	size_t n;

	(void)state;
	czpg_wbuf_init(&w, 0);
	n = drain(c, out, sizeof(out));
	/* StartupMessage: length, protocol 3.0, then "user\0app\0" first. */
	assert_true(n > 8);
	assert_memory_equal(out + 4, "\x00\x03\x00\x00", 4);
	assert_memory_equal(out + 8, "user\0app\0database\0appdb\0", 24);
	srv_auth(&w, 0, NULL, 0);
	srv_param(&w, "server_version", "15.18");
	srv_key(&w, 4242);
	srv_ready(&w);
	feed(c, &w);
	assert_int_equal(s.ready, 1);
	assert_string_equal(czpg_conn_auth_method(c), "trust");
	assert_int_equal(czpg_conn_backend_pid(c), 4242);
	assert_string_equal(czpg_conn_parameter(c, "server_version"), "15.18");

	assert_int_equal(czpg_conn_query(c, "SELECT 1"), 0);
	n = drain(c, out, sizeof(out));
	assert_int_equal(n, 1 + 4 + 9);
	assert_memory_equal(out, "Q\x00\x00\x00\x0dSELECT 1\0", 14);
	srv_select1(&w);
	feed(c, &w);
	assert_int_equal(s.rows, 1);
	assert_string_equal(s.last_value, "1");
	assert_string_equal(s.tag, "SELECT 1");
	assert_int_equal(s.done, 1);
	assert_int_equal(czpg_conn_in_flight(c), 0);

	assert_int_equal(czpg_conn_terminate(c), 0);
	n = drain(c, out, sizeof(out));
	assert_int_equal(n, 5);
	assert_memory_equal(out, "X\x00\x00\x00\x04", 5);
	assert_int_equal(s.closed, 1);
	assert_true(czpg_conn_finished(c));
	assert_int_equal(s.failed, 0);
	czpg_wbuf_free(&w);
	czpg_conn_free(c);
}

static void test_any_split_gives_same_result(void **state)
{
	struct czpg_wbuf w;
	size_t split, i;

	(void)state;
	czpg_wbuf_init(&w, 0);
	srv_auth(&w, 0, NULL, 0);
	srv_param(&w, "server_version", "15.18");
	srv_key(&w, 7);
	srv_ready(&w);
	for (split = 1; split <= w.len; split++) {
		struct seen s = {0};
		struct czpg_conn *c = new_conn(&s, false, NULL, NULL, CZPG_CB_PREFER);
		uint8_t out[512];

		drain(c, out, sizeof(out));
		/* split == w.len means one byte at a time */
		if (split == w.len) {
			for (i = 0; i < w.len; i++)
				czpg_conn_feed(c, w.data + i, 1, NOW);
		} else {
			czpg_conn_feed(c, w.data, split, NOW);
			czpg_conn_feed(c, w.data + split, w.len - split, NOW);
		}
		assert_int_equal(s.ready, 1);
		assert_int_equal(s.failed, 0);
		assert_int_equal(czpg_conn_backend_pid(c), 7);
		czpg_conn_free(c);
	}
	czpg_wbuf_free(&w);
}

/* Runs a SCRAM exchange against the test server; returns the conn. */
static struct czpg_conn *scram_exchange(struct seen *s, struct scram_server *srv,
					const char *client_pw, bool send_final, bool ok_early)
{
	static const char *const mechs[] = {"SCRAM-SHA-256", NULL};
	struct czpg_conn *c = new_conn(s, false, NULL, client_pw, CZPG_CB_PREFER);
	struct czpg_wbuf w;
	uint8_t out[4096];
	char payload[1024], reply[1024];
	size_t n, plen;

	czpg_wbuf_init(&w, 0);
	drain(c, out, sizeof(out));
	srv_sasl(&w, mechs);
	feed(c, &w);
	n = drain(c, out, sizeof(out));
	assert_true(n > 0);
	assert_string_equal((const char *)out + 5, "SCRAM-SHA-256");
	plen = sasl_payload(out, n, true, payload, sizeof(payload));
	/* No TLS: the client must say it does not support channel binding. */
	assert_memory_equal(payload, "n,,", 3);
	assert_int_equal(scram_server_first(srv, payload, plen, reply, sizeof(reply)), 0);
	srv_auth(&w, 11, reply, strlen(reply));
	feed(c, &w);
	if (czpg_conn_phase(c) == CZPG_PHASE_FAILED)
		goto out;
	n = drain(c, out, sizeof(out));
	plen = sasl_payload(out, n, false, payload, sizeof(payload));
	assert_int_equal(scram_server_final(srv, payload, plen, reply, sizeof(reply)), 0);
	if (ok_early) {
		srv_auth(&w, 0, NULL, 0);
		feed(c, &w);
		goto out;
	}
	if (send_final) {
		srv_auth(&w, 12, reply, strlen(reply));
		srv_auth(&w, 0, NULL, 0);
		srv_ready(&w);
		feed(c, &w);
	}
out:
	czpg_wbuf_free(&w);
	return c;
}

static void test_scram_success(void **state)
{
	struct seen s = {0};
	struct scram_server srv;
	struct czpg_conn *c;

	(void)state;
	scram_server_init(&srv, "correct horse");
	c = scram_exchange(&s, &srv, "correct horse", true, false);
	assert_true(srv.proof_ok);
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.ready, 1);
	assert_string_equal(czpg_conn_auth_method(c), "SCRAM-SHA-256");
	assert_string_equal(czpg_conn_offered_mechanisms(c), "SCRAM-SHA-256");
	czpg_conn_free(c);
}

static void test_scram_wrong_password_is_rejected_by_server(void **state)
{
	struct seen s = {0};
	struct scram_server srv;
	struct czpg_conn *c;
	struct czpg_wbuf w;

	(void)state;
	scram_server_init(&srv, "correct horse");
	c = scram_exchange(&s, &srv, "wrong", false, false);
	assert_false(srv.proof_ok);
	czpg_wbuf_init(&w, 0);
	srv_error(&w, "FATAL", "28P01", "password authentication failed for user \"app\"");
	feed(c, &w);
	assert_int_equal(s.failed, 1);
	assert_string_equal(czpg_conn_startup_sqlstate(c), "28P01");
	assert_non_null(strstr(czpg_conn_error(c), "password authentication failed"));
	czpg_wbuf_free(&w);
	czpg_conn_free(c);
}

static void test_scram_bad_server_signature(void **state)
{
	struct seen s = {0};
	struct scram_server srv;
	struct czpg_conn *c;

	(void)state;
	scram_server_init(&srv, "pw");
	srv.bad_signature = true;
	c = scram_exchange(&s, &srv, "pw", true, false);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.ready, 0);
	assert_int_equal(czpg_conn_phase(c), CZPG_PHASE_FAILED);
	assert_non_null(strstr(czpg_conn_error(c), "SCRAM"));
	czpg_conn_free(c);
}

static void test_auth_ok_before_server_signature(void **state)
{
	struct seen s = {0};
	struct scram_server srv;
	struct czpg_conn *c;

	(void)state;
	scram_server_init(&srv, "pw");
	c = scram_exchange(&s, &srv, "pw", false, true);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.ready, 0);
	assert_non_null(strstr(czpg_conn_error(c), "before proving"));
	czpg_conn_free(c);
}

static void test_server_nonce_must_extend_ours(void **state)
{
	struct seen s = {0};
	struct scram_server srv;
	struct czpg_conn *c;

	(void)state;
	scram_server_init(&srv, "pw");
	srv.bad_nonce = true;
	c = scram_exchange(&s, &srv, "pw", true, false);
	assert_int_equal(s.failed, 1);
	assert_int_equal(czpg_conn_phase(c), CZPG_PHASE_FAILED);
	czpg_conn_free(c);
}

static void test_absurd_iteration_count(void **state)
{
	struct seen s = {0};
	struct scram_server srv;
	struct czpg_conn *c;

	(void)state;
	scram_server_init(&srv, "pw");
	srv.iterations_text = "2147483647";
	c = scram_exchange(&s, &srv, "pw", true, false);
	assert_int_equal(s.failed, 1);
	assert_non_null(strstr(czpg_conn_error(c), "2147483647"));
	czpg_conn_free(c);
}

static void test_md5_and_cleartext_refused(void **state)
{
	uint32_t codes[] = {3, 5};
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct seen s = {0};
		struct czpg_conn *c = new_conn(&s, false, NULL, "pw", CZPG_CB_PREFER);
		struct czpg_wbuf w;
		uint8_t out[512];

		czpg_wbuf_init(&w, 0);
		drain(c, out, sizeof(out));
		srv_auth(&w, codes[i], "salt", codes[i] == 5 ? 4 : 0);
		feed(c, &w);
		assert_int_equal(s.failed, 1);
		assert_non_null(strstr(czpg_conn_error(c), "SCRAM-SHA-256"));
		/* Nothing was sent in answer: the password never left. */
		assert_int_equal(drain(c, out, sizeof(out)), 0);
		czpg_wbuf_free(&w);
		czpg_conn_free(c);
	}
}

static void test_channel_binding_require_without_tls(void **state)
{
	static const char *const mechs[] = {"SCRAM-SHA-256", NULL};
	struct seen s = {0};
	struct czpg_conn *c = new_conn(&s, false, NULL, "pw", CZPG_CB_REQUIRE);
	struct czpg_wbuf w;
	uint8_t out[512];

	(void)state;
	czpg_wbuf_init(&w, 0);
	drain(c, out, sizeof(out));
	srv_sasl(&w, mechs);
	feed(c, &w);
	assert_int_equal(s.failed, 1);
	assert_non_null(strstr(czpg_conn_error(c), "channel binding"));
	czpg_wbuf_free(&w);
	czpg_conn_free(c);
}

static void test_trust_under_channel_binding_require(void **state)
{
	struct seen s = {0};
	struct czpg_conn *c = new_conn(&s, false, NULL, "pw", CZPG_CB_REQUIRE);
	struct czpg_wbuf w;
	uint8_t out[512];

	(void)state;
	czpg_wbuf_init(&w, 0);
	drain(c, out, sizeof(out));
	srv_auth(&w, 0, NULL, 0);
	srv_ready(&w);
	feed(c, &w);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.ready, 0);
	assert_non_null(strstr(czpg_conn_error(c), "without channel binding"));
	czpg_wbuf_free(&w);
	czpg_conn_free(c);
}

static struct czpg_tls_config *noverify_config(void)
{
	char err[256];
	struct czpg_tls_config *cfg = czpg_tls_config_new(err, sizeof(err));

	assert_non_null(cfg);
	czpg_tls_config_insecure_noverify(cfg);
	return cfg;
}

static void test_ssl_request_answers(void **state)
{
	struct czpg_tls_config *cfg = noverify_config();
	const struct {
		const char *bytes;
		size_t n;
		const char *expect;
	} cases[] = {
	    {"N", 1, "refused TLS"},
	    {"S\x00\x00\x00\x08garbage", 12, "unencrypted byte"},
	    {"E\x00\x00\x00\x20SFATAL\0M\x1b[31mred\x1b[0m\0\0", 26, "not shown"},
	    {"H", 1, "not a PostgreSQL server"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen s = {0};
		struct czpg_conn *c = new_conn(&s, true, cfg, "pw", CZPG_CB_PREFER);
		uint8_t out[512];
		size_t n = drain(c, out, sizeof(out));

		/* SSLRequest is the first and only thing sent. */
		assert_int_equal(n, 8);
		assert_memory_equal(out, "\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);
		czpg_conn_feed(c, cases[i].bytes, cases[i].n, NOW);
		assert_int_equal(s.failed, 1);
		assert_non_null(strstr(czpg_conn_error(c), cases[i].expect));
		/* No escape byte from the server reaches the error text. */
		assert_null(strchr(czpg_conn_error(c), '\x1b'));
		/* Never a plaintext fallback: no StartupMessage went out. */
		assert_int_equal(drain(c, out, sizeof(out)), 0);
		czpg_conn_free(c);
	}
	czpg_tls_config_free(cfg);
}

/* GSSENCRequest (probe opening): sent alone, done at 'G' or 'N'. */
static void test_gssenc_request_opening(void **state)
{
	const struct {
		const char *bytes;
		bool ok;
	} cases[] = {{"G", true}, {"N", true}, {"E", false}, {"H", false}};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct czpg_conn_config cfg = {0};
		struct seen s = {0};
		struct czpg_conn *c;
		uint8_t out[64];
		char err[256];

		cfg.user = "app";
		cfg.opening = CZPG_OPEN_GSSENC_REQUEST;
		cfg.on_event = on_event;
		cfg.user_data = &s;
		c = czpg_conn_new(&cfg, NOW, err, sizeof(err));
		assert_non_null(c);
		czpg_conn_connected(c, NOW);
		assert_int_equal(drain(c, out, sizeof(out)), 8);
		assert_memory_equal(out, "\x00\x00\x00\x08\x04\xd2\x16\x30", 8);
		czpg_conn_feed(c, cases[i].bytes, 1, NOW);
		assert_int_equal(czpg_conn_ssl_answer(c), cases[i].bytes[0]);
		assert_int_equal(s.goal, cases[i].ok ? 1 : 0);
		assert_int_equal(s.failed, cases[i].ok ? 0 : 1);
		assert_true(czpg_conn_finished(c));
		assert_int_equal(drain(c, out, sizeof(out)), 0);
		czpg_conn_free(c);
	}
}

/* Direct TLS: the ClientHello (record type 0x16) is the first byte sent. */
static void test_direct_tls_opening(void **state)
{
	struct czpg_tls_config *tcfg = noverify_config();
	struct czpg_conn_config cfg = {0};
	struct czpg_conn *c;
	uint8_t out[4096];
	char err[256];
	size_t n;

	(void)state;
	cfg.host = "db.example";
	cfg.user = "app";
	cfg.opening = CZPG_OPEN_DIRECT_TLS;
	assert_null(czpg_conn_new(&cfg, NOW, err, sizeof(err)));
	assert_non_null(strstr(err, "direct TLS needs"));
	assert_int_equal(czpg_tls_config_set_alpn(tcfg, "postgresql"), 0);
	cfg.use_tls = true;
	cfg.tls = tcfg;
	cfg.goal = CZPG_GOAL_TLS;
	c = czpg_conn_new(&cfg, NOW, err, sizeof(err));
	assert_non_null(c);
	czpg_conn_connected(c, NOW);
	assert_int_equal(czpg_conn_phase(c), CZPG_PHASE_TLS);
	n = drain(c, out, sizeof(out));
	assert_true(n > 50);
	assert_int_equal(out[0], 0x16);
	assert_non_null(memmem(out, n, "postgresql", 10));
	/* A server that reads it as a startup packet just hangs up. */
	czpg_conn_feed_eof(c, NOW);
	assert_int_equal(czpg_conn_phase(c), CZPG_PHASE_FAILED);
	assert_non_null(strstr(czpg_conn_error(c), "during the TLS handshake"));
	czpg_conn_free(c);
	czpg_tls_config_free(tcfg);
}

static void test_timeout_in_each_phase(void **state)
{
	struct seen s = {0};
	struct czpg_conn *c = new_conn(&s, false, NULL, NULL, CZPG_CB_PREFER);

	(void)state;
	czpg_conn_tick(c, NOW + 999ull * 1000000ull);
	assert_int_equal(s.failed, 0);
	czpg_conn_tick(c, NOW + 1001ull * 1000000ull);
	assert_int_equal(s.failed, 1);
	assert_non_null(strstr(czpg_conn_error(c), "timed out"));
	assert_non_null(strstr(czpg_conn_error(c), "startup"));
	czpg_conn_free(c);
}

static void test_query_timeout(void **state)
{
	struct seen s = {0};
	struct czpg_conn *c = new_conn(&s, false, NULL, NULL, CZPG_CB_PREFER);
	struct czpg_wbuf w;
	uint8_t out[512];

	(void)state;
	czpg_wbuf_init(&w, 0);
	drain(c, out, sizeof(out));
	srv_auth(&w, 0, NULL, 0);
	srv_ready(&w);
	feed(c, &w);
	assert_int_equal(s.ready, 1);
	/* Idle: no deadline at all. */
	czpg_conn_tick(c, NOW + 3600ull * 1000000000ull);
	assert_int_equal(s.failed, 0);
	czpg_conn_query(c, "SELECT pg_sleep(100)");
	czpg_conn_tick(c, NOW + 3600ull * 1000000000ull);
	czpg_conn_tick(c, NOW + 3602ull * 1000000000ull);
	assert_int_equal(s.failed, 1);
	assert_non_null(strstr(czpg_conn_error(c), "query result"));
	czpg_wbuf_free(&w);
	czpg_conn_free(c);
}

static void test_oversized_message_is_an_error(void **state)
{
	struct seen s = {0};
	struct czpg_conn *c = new_conn(&s, false, NULL, NULL, CZPG_CB_PREFER);
	/* 'R' with a 2 GiB length word. */
	static const uint8_t huge[] = {'R', 0x80, 0x00, 0x00, 0x00};
	uint8_t out[512];

	(void)state;
	drain(c, out, sizeof(out));
	assert_int_equal(czpg_conn_feed(c, huge, sizeof(huge), NOW), -1);
	assert_int_equal(s.failed, 1);
	assert_non_null(strstr(czpg_conn_error(c), "protocol error"));
	czpg_conn_free(c);
}

static void test_close_in_each_phase(void **state)
{
	struct seen s = {0};
	struct czpg_conn *c = new_conn(&s, false, NULL, NULL, CZPG_CB_PREFER);
	struct czpg_wbuf w;
	uint8_t out[512];

	(void)state;
	drain(c, out, sizeof(out));
	czpg_conn_feed_eof(c, NOW);
	assert_int_equal(s.failed, 1);
	assert_non_null(strstr(czpg_conn_error(c), "closed the connection"));
	czpg_conn_free(c);

	memset(&s, 0, sizeof(s));
	c = new_conn(&s, false, NULL, NULL, CZPG_CB_PREFER);
	czpg_wbuf_init(&w, 0);
	drain(c, out, sizeof(out));
	srv_auth(&w, 0, NULL, 0);
	feed(c, &w);
	czpg_conn_feed_eof(c, NOW);
	assert_int_equal(s.failed, 1);
	assert_non_null(strstr(czpg_conn_error(c), "ReadyForQuery"));
	czpg_wbuf_free(&w);
	czpg_conn_free(c);
}

static void test_goal_auth_request_sends_no_password(void **state)
{
	static const char *const mechs[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", NULL};
	struct czpg_conn_config cfg = {0};
	struct seen s = {0};
	struct czpg_conn *c;
	struct czpg_wbuf w;
	uint8_t out[512];
	char err[128];

	(void)state;
	cfg.user = "app";
	cfg.password = "secret";
	cfg.goal = CZPG_GOAL_AUTH_REQUEST;
	cfg.on_event = on_event;
	cfg.user_data = &s;
	c = czpg_conn_new(&cfg, NOW, err, sizeof(err));
	assert_non_null(c);
	czpg_conn_connected(c, NOW);
	drain(c, out, sizeof(out));
	czpg_wbuf_init(&w, 0);
	srv_sasl(&w, mechs);
	feed(c, &w);
	assert_int_equal(s.goal, 1);
	assert_int_equal(s.failed, 0);
	assert_int_equal(czpg_conn_auth_request(c), 10);
	assert_string_equal(czpg_conn_offered_mechanisms(c), "SCRAM-SHA-256-PLUS,SCRAM-SHA-256");
	assert_int_equal(drain(c, out, sizeof(out)), 0);
	czpg_wbuf_free(&w);
	czpg_conn_free(c);
}

static void test_query_error_keeps_session(void **state)
{
	struct seen s = {0};
	struct czpg_conn *c = new_conn(&s, false, NULL, NULL, CZPG_CB_PREFER);
	struct czpg_wbuf w;
	uint8_t out[512];

	(void)state;
	czpg_wbuf_init(&w, 0);
	drain(c, out, sizeof(out));
	srv_auth(&w, 0, NULL, 0);
	srv_ready(&w);
	feed(c, &w);
	czpg_conn_query(c, "SELEC 1");
	srv_error(&w, "ERROR", "42601", "syntax error at or near \"SELEC\"");
	srv_ready(&w);
	feed(c, &w);
	assert_int_equal(s.qerrors, 1);
	assert_int_equal(s.done, 1);
	assert_int_equal(s.failed, 0);
	assert_int_equal(czpg_conn_phase(c), CZPG_PHASE_READY);
	czpg_wbuf_free(&w);
	czpg_conn_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_trust_startup_and_query),
	    cmocka_unit_test(test_any_split_gives_same_result),
	    cmocka_unit_test(test_scram_success),
	    cmocka_unit_test(test_scram_wrong_password_is_rejected_by_server),
	    cmocka_unit_test(test_scram_bad_server_signature),
	    cmocka_unit_test(test_auth_ok_before_server_signature),
	    cmocka_unit_test(test_server_nonce_must_extend_ours),
	    cmocka_unit_test(test_absurd_iteration_count),
	    cmocka_unit_test(test_md5_and_cleartext_refused),
	    cmocka_unit_test(test_channel_binding_require_without_tls),
	    cmocka_unit_test(test_trust_under_channel_binding_require),
	    cmocka_unit_test(test_ssl_request_answers),
	    cmocka_unit_test(test_gssenc_request_opening),
	    cmocka_unit_test(test_direct_tls_opening),
	    cmocka_unit_test(test_timeout_in_each_phase),
	    cmocka_unit_test(test_query_timeout),
	    cmocka_unit_test(test_oversized_message_is_an_error),
	    cmocka_unit_test(test_close_in_each_phase),
	    cmocka_unit_test(test_goal_auth_request_sends_no_password),
	    cmocka_unit_test(test_query_error_keeps_session),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
