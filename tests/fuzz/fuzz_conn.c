/*
 * fuzz_conn.c - libFuzzer target for the connection state machine (conn.c):
 * arbitrary server bytes, fed in arbitrary chunks, mixed with clock ticks,
 * end of file and the caller's own calls.  Nothing may crash, leak or read
 * out of bounds, and the client's promises must hold whatever the server
 * sends:
 *   - a failure is reported once, with a sentence, and no control byte
 *     (ESC and friends) from the server reaches any text we show;
 *   - the password never leaves in clear (cleartext and MD5 are refused);
 *   - ReadyForQuery is reported at most once and in-flight queries never go
 *     below zero.
 *
 * Input format (the seed corpus in corpus/conn/ follows it):
 *   byte 0: configuration
 *     bits 0-1  0,1: plaintext with a password; 2: plaintext, no password;
 *               3: TLS (insecure no-verify), for the SSLRequest answer path
 *     bits 2-3  channel binding: 0 disable, 1 prefer, 2 require, 3 prefer
 *     bits 4-5  goal: 0 session, 1 SSL answer, 2 TLS, 3 auth request
 *   then operations, one byte each:
 *     0x00-0xef  feed the next (op + 1) bytes as what the server sent
 *     0xf0       the server closed the socket
 *     0xf1       600 ms pass (the phase timeout is 500 ms)
 *     0xf2       the caller sends a simple Query
 *     0xf3       the caller prepares and executes a statement
 *     0xf4       the caller terminates
 *     0xf5       the transport fails
 *     0xf6-0xff  feed everything that is left
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/conn.h"
#include "czpg/tlsio.h"

#define FUZZ_PASSWORD "fuzz-secret-password"
#define START_NS 1000000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	int ready;
	int failed;
	int closed;
};

static struct czpg_tls_config *tls_cfg;

static void check_text(const char *s)
{
	if (s == NULL)
		return;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			abort();
}

static void on_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct seen *s = user;
	volatile uint8_t sink = 0;
	size_t i, k;

	switch (ev->type) {
	case CZPG_EV_READY:
		if (++s->ready > 1)
			abort();
		/* As verify does: ask something at once. */
		czpg_conn_query(c, "SELECT 1");
		break;
	case CZPG_EV_ROW_DESCRIPTION:
		for (i = 0; i < ev->nfields; i++)
			sink ^= (uint8_t)strlen(ev->fields[i].name);
		break;
	case CZPG_EV_ROW:
		/* Touch every byte: an out-of-bounds view would show here. */
		for (i = 0; i < ev->nvalues; i++)
			if (!ev->values[i].null)
				for (k = 0; k < ev->values[i].len; k++)
					sink ^= ev->values[i].data[k];
		break;
	case CZPG_EV_COMMAND_COMPLETE:
		sink ^= (uint8_t)strlen(ev->text);
		break;
	case CZPG_EV_QUERY_ERROR:
	case CZPG_EV_NOTICE:
		check_text(ev->text);
		break;
	case CZPG_EV_FAILED:
		if (++s->failed > 1 || czpg_conn_error(c)[0] == '\0')
			abort();
		check_text(czpg_conn_error(c));
		break;
	case CZPG_EV_CLOSED:
		s->closed++;
		break;
	default:
		break;
	}
	(void)sink;
}

/* Takes the client's output; the password must never be in it. */
static void drain(struct czpg_conn *c)
{
	static const char pw[] = FUZZ_PASSWORD;
	uint8_t out[4096];
	size_t n;

	while ((n = czpg_conn_take_output(c, out, sizeof(out))) > 0)
		if (memmem(out, n, pw, sizeof(pw) - 1) != NULL)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const values[] = {"1"};
	struct czpg_conn_config cfg = {0};
	struct seen s = {0};
	struct czpg_conn *c;
	uint64_t now = START_NS;
	size_t pos = 1, n;
	char err[256];
	uint8_t op;

	if (size == 0)
		return 0;
	if (tls_cfg == NULL) {
		tls_cfg = czpg_tls_config_new(err, sizeof(err));
		if (tls_cfg == NULL)
			abort();
		czpg_tls_config_insecure_noverify(tls_cfg);
	}
	cfg.host = "db.example";
	cfg.user = "fuzz";
	cfg.dbname = "fuzzdb";
	cfg.password = (data[0] & 3) == 2 ? NULL : FUZZ_PASSWORD;
	cfg.use_tls = (data[0] & 3) == 3;
	cfg.tls = cfg.use_tls ? tls_cfg : NULL;
	switch ((data[0] >> 2) & 3) {
	case 0:
		cfg.channel_binding = CZPG_CB_DISABLE;
		break;
	case 2:
		cfg.channel_binding = CZPG_CB_REQUIRE;
		break;
	default:
		cfg.channel_binding = CZPG_CB_PREFER;
		break;
	}
	cfg.goal = (enum czpg_conn_goal)((data[0] >> 4) & 3);
	cfg.max_scram_iterations = 64; /* time goes to parsing, not PBKDF2 */
	cfg.phase_timeout_ms = 500;
	cfg.on_event = on_event;
	cfg.user_data = &s;
	c = czpg_conn_new(&cfg, now, err, sizeof(err));
	if (c == NULL)
		abort();
	czpg_conn_connected(c, now);
	drain(c);
	while (pos < size) {
		op = data[pos++];
		if (op < 0xf0) {
			n = (size_t)op + 1;
			if (n > size - pos)
				n = size - pos;
			czpg_conn_feed(c, data + pos, n, now);
			pos += n;
		} else if (op == 0xf0) {
			czpg_conn_feed_eof(c, now);
		} else if (op == 0xf1) {
			now += 600000000ull;
			czpg_conn_tick(c, now);
		} else if (op == 0xf2) {
			czpg_conn_query(c, "SELECT 2");
		} else if (op == 0xf3) {
			if (czpg_conn_prepare(c, "s1", "SELECT $1", 1) == 0)
				czpg_conn_execute_prepared(c, "s1", 1, values);
		} else if (op == 0xf4) {
			czpg_conn_terminate(c);
		} else if (op == 0xf5) {
			czpg_conn_fail_transport(c, "connection reset by fuzzer");
		} else {
			czpg_conn_feed(c, data + pos, size - pos, now);
			pos = size;
		}
		drain(c);
		if (czpg_conn_phase(c) == CZPG_PHASE_FAILED && s.failed != 1)
			abort();
	}
	check_text(czpg_conn_error(c));
	czpg_conn_free(c);
	return 0;
}
