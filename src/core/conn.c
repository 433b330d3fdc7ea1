/*
 * conn.c - one PostgreSQL client connection as a sans-I/O state machine
 * (see czpg/conn.h for the contract).
 *
 * Implements the client side of PostgreSQL docs chapter 55, "Message Flow":
 * "SSL Session Encryption" (SSLRequest and its one-byte answer), "Start-up"
 * (StartupMessage, authentication, ParameterStatus, BackendKeyData,
 * ReadyForQuery), "SASL Authentication", "Simple Query", "Extended Query"
 * and "Termination".
 */
#include "czpg/conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "czpg/buf.h"
#include "czpg/errf.h"
#include "czpg/scram.h"
#include "czpg/tlsio.h"

/* The connection's sentence holds a whole nested TLS sentence and its own words. */
_Static_assert(CZPG_CONN_ERR_MAX >= CZPG_TLS_ERR_MAX + 128,
	       "CZPG_CONN_ERR_MAX must hold a TLS sentence and a prefix");

#define CONN_DEFAULT_TIMEOUT_MS 10000u
#define CONN_MAX_PARAMS 64
#define CONN_TLS_READ_CHUNK 16384
#define CONN_GSSENC_REQUEST_CODE 80877104u /* 1234 << 16 | 5680 */

struct conn_param {
	char *name;
	char *value;
};

struct czpg_conn {
	/* Supplied by the user (strings copied; password borrowed). */
	char *host;
	char *user;
	char *dbname;
	char *application_name;
	const char *password;
	bool use_tls;
	struct czpg_tls_config *tls_config;
	enum czpg_cb_policy cb_policy;
	struct czpg_scram_cache *scram_cache;
	uint32_t max_scram_iterations;
	enum czpg_conn_goal goal;
	enum czpg_conn_opening opening;
	uint64_t timeout_ns;
	czpg_conn_event_fn on_event;
	void *user_data;

	/* Where we are. */
	enum czpg_conn_phase phase;
	enum czpg_conn_phase failed_phase;
	uint64_t deadline_ns;
	size_t in_flight;
	char err[CZPG_CONN_ERR_MAX];

	/* Bytes: wire output, one message being built, server input. */
	struct czpg_wbuf out;
	struct czpg_wbuf msg;
	struct czpg_pgwire_parser parser;
	struct czpg_tls *tls;
	struct czpg_scram *scram;

	/* What we learned from the server. */
	char ssl_answer;
	int auth_request;
	char auth_method[32];
	char offered[160];
	char startup_sqlstate[6];
	char startup_message[256]; /* its M field, sanitised */
	char startup_fields[24];   /* the field types it carried */
	uint32_t backend_pid;
	uint32_t backend_secret;
	struct conn_param params[CONN_MAX_PARAMS];
	size_t nparams;

	/* Decoded row storage, grown to the widest row seen. */
	struct czpg_pgwire_field *fields;
	struct czpg_pgwire_value *values;
	size_t ncap;
};

static const char *phase_names[] = {
    [CZPG_PHASE_CONNECT] = "TCP connect",
    [CZPG_PHASE_SSL_ANSWER] = "the answer to SSLRequest",
    [CZPG_PHASE_TLS] = "the TLS handshake",
    [CZPG_PHASE_STARTUP] = "the startup reply",
    [CZPG_PHASE_AUTH] = "SCRAM authentication",
    [CZPG_PHASE_PARAMS] = "the end of startup (ReadyForQuery)",
    [CZPG_PHASE_READY] = "a query result",
    [CZPG_PHASE_CLOSING] = "the connection to close",
    [CZPG_PHASE_DONE] = "nothing (done)",
    [CZPG_PHASE_FAILED] = "nothing (failed)",
};

const char *czpg_conn_phase_name(enum czpg_conn_phase phase)
{
	if ((size_t)phase >= sizeof(phase_names) / sizeof(phase_names[0]))
		return "unknown";
	return phase_names[phase];
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void emit(struct czpg_conn *c, const struct czpg_conn_event *ev)
{
	if (c->on_event != NULL)
		c->on_event(c, ev, c->user_data);
}

static void emit_simple(struct czpg_conn *c, enum czpg_conn_event_type type)
{
	struct czpg_conn_event ev = {.type = type};

	emit(c, &ev);
}

static void set_phase(struct czpg_conn *c, enum czpg_conn_phase phase, uint64_t now_ns)
{
	c->phase = phase;
	switch (phase) {
	case CZPG_PHASE_DONE:
	case CZPG_PHASE_FAILED:
		c->deadline_ns = 0;
		break;
	case CZPG_PHASE_READY:
		c->deadline_ns = c->in_flight > 0 ? now_ns + c->timeout_ns : 0;
		break;
	default:
		c->deadline_ns = now_ns + c->timeout_ns;
		break;
	}
}

/* Fails the connection once; later failures keep the first reason. */
static void fail(struct czpg_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct czpg_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->phase == CZPG_PHASE_FAILED)
		return;
	va_start(ap, fmt);
	czpg_verrf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->failed_phase = c->phase;
	set_phase(c, CZPG_PHASE_FAILED, 0);
	emit_simple(c, CZPG_EV_FAILED);
}

static bool failed(const struct czpg_conn *c)
{
	return c->phase == CZPG_PHASE_FAILED;
}

/* Moves whatever TLS wants to send into the output buffer. */
static int drain_tls(struct czpg_conn *c)
{
	const uint8_t *p;
	size_t n;

	while ((n = czpg_tls_peek_ciphertext(c->tls, &p)) > 0) {
		if (czpg_wbuf_bytes(&c->out, p, n) < 0) {
			fail(c, "output buffer limit reached (%zu bytes unsent)", c->out.len);
			return -1;
		}
		czpg_tls_consume_ciphertext(c->tls, n);
	}
	return 0;
}

/*
 * Sends the message built in c->msg: through TLS once it is up, else as
 * is.  The scratch buffer is wiped: it may have held a SCRAM proof.
 */
static int send_msg(struct czpg_conn *c)
{
	int rc = -1;

	if (c->msg.err) {
		fail(c, "could not build a protocol message (too large or out of memory)");
		goto out;
	}
	if (c->tls != NULL) {
		if (czpg_tls_write(c->tls, c->msg.data, c->msg.len) != (ssize_t)c->msg.len) {
			fail(c, "TLS write failed: %s", czpg_tls_error(c->tls));
			goto out;
		}
		if (drain_tls(c) < 0)
			goto out;
	} else if (czpg_wbuf_bytes(&c->out, c->msg.data, c->msg.len) < 0) {
		fail(c, "output buffer limit reached (%zu bytes unsent)", c->out.len);
		goto out;
	}
	rc = 0;
out:
	if (c->msg.data != NULL)
		OPENSSL_cleanse(c->msg.data, c->msg.len);
	czpg_wbuf_reset(&c->msg);
	return rc;
}

static int send_startup(struct czpg_conn *c, uint64_t now_ns)
{
	const char *params[] = {"user",
				c->user,
				"database",
				c->dbname != NULL ? c->dbname : c->user,
				"application_name",
				c->application_name != NULL ? c->application_name : "czctl",
				"client_encoding",
				"UTF8",
				NULL};

	czpg_pgwire_startup(&c->msg, params);
	if (send_msg(c) < 0)
		return -1;
	set_phase(c, CZPG_PHASE_STARTUP, now_ns);
	return 0;
}

struct czpg_conn *czpg_conn_new(const struct czpg_conn_config *cfg, uint64_t now_ns, char *err,
				size_t errlen)
{
	struct czpg_conn *c = NULL;

	if (cfg->user == NULL || cfg->user[0] == '\0') {
		czpg_errf(err, errlen, "no user name given");
		return NULL;
	}
	if (cfg->use_tls && (cfg->tls == NULL || cfg->host == NULL || cfg->host[0] == '\0')) {
		czpg_errf(err, errlen, "TLS needs a TLS configuration and a host name");
		return NULL;
	}
	if (cfg->opening == CZPG_OPEN_DIRECT_TLS && !cfg->use_tls) {
		czpg_errf(err, errlen, "direct TLS needs use_tls and a TLS configuration");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto oom;
	c->host = dup_or_null(cfg->host);
	c->user = dup_or_null(cfg->user);
	c->dbname = dup_or_null(cfg->dbname);
	c->application_name = dup_or_null(cfg->application_name);
	if (c->user == NULL || (cfg->host != NULL && c->host == NULL) ||
	    (cfg->dbname != NULL && c->dbname == NULL) ||
	    (cfg->application_name != NULL && c->application_name == NULL))
		goto oom;
	c->password = cfg->password;
	c->use_tls = cfg->use_tls;
	c->tls_config = cfg->tls;
	c->cb_policy = cfg->channel_binding;
	c->scram_cache = cfg->scram_cache;
	c->max_scram_iterations = cfg->max_scram_iterations;
	c->goal = cfg->goal;
	c->opening = cfg->opening;
	c->timeout_ns = (uint64_t)(cfg->phase_timeout_ms != 0 ? cfg->phase_timeout_ms
							      : CONN_DEFAULT_TIMEOUT_MS) *
			1000000u;
	c->on_event = cfg->on_event;
	c->user_data = cfg->user_data;
	c->auth_request = -1;
	czpg_wbuf_init(&c->out, 0);
	czpg_wbuf_init(&c->msg, 0);
	czpg_pgwire_parser_init(&c->parser, cfg->max_message);
	set_phase(c, CZPG_PHASE_CONNECT, now_ns);

	/* The first message waits in the output buffer until TCP is up. */
	if (c->opening == CZPG_OPEN_GSSENC_REQUEST) {
		czpg_wbuf_u32(&c->msg, 8);
		czpg_wbuf_u32(&c->msg, CONN_GSSENC_REQUEST_CODE);
		if (send_msg(c) < 0)
			goto fail;
	} else if (c->opening == CZPG_OPEN_DIRECT_TLS) {
		c->tls = czpg_tls_new(c->tls_config, c->host, c->err, sizeof(c->err));
		if (c->tls == NULL)
			goto fail;
		if (czpg_tls_handshake(c->tls) == CZPG_TLS_ERROR) {
			czpg_errf(c->err, sizeof(c->err), "%s", czpg_tls_error(c->tls));
			goto fail;
		}
		if (drain_tls(c) < 0)
			goto fail;
	} else if (c->use_tls) {
		czpg_pgwire_ssl_request(&c->msg);
		if (send_msg(c) < 0)
			goto fail;
	} else {
		const char *params[] = {"user",
					c->user,
					"database",
					c->dbname != NULL ? c->dbname : c->user,
					"application_name",
					c->application_name != NULL ? c->application_name : "czctl",
					"client_encoding",
					"UTF8",
					NULL};

		czpg_pgwire_startup(&c->msg, params);
		if (send_msg(c) < 0)
			goto fail;
	}
	return c;
oom:
	czpg_errf(err, errlen, "out of memory");
	czpg_conn_free(c);
	return NULL;
fail:
	czpg_errf(err, errlen, "%s", c->err);
	czpg_conn_free(c);
	return NULL;
}

void czpg_conn_free(struct czpg_conn *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->host);
	free(c->user);
	free(c->dbname);
	free(c->application_name);
	czpg_wbuf_free_secure(&c->out);
	czpg_wbuf_free_secure(&c->msg);
	czpg_pgwire_parser_free(&c->parser);
	czpg_tls_free(c->tls);
	czpg_scram_free(c->scram);
	for (i = 0; i < c->nparams; i++) {
		free(c->params[i].name);
		free(c->params[i].value);
	}
	free(c->fields);
	free(c->values);
	free(c);
}

void czpg_conn_connected(struct czpg_conn *c, uint64_t now_ns)
{
	if (c->phase != CZPG_PHASE_CONNECT)
		return;
	if (c->opening == CZPG_OPEN_DIRECT_TLS)
		set_phase(c, CZPG_PHASE_TLS, now_ns);
	else if (c->opening == CZPG_OPEN_GSSENC_REQUEST)
		set_phase(c, CZPG_PHASE_SSL_ANSWER, now_ns);
	else
		set_phase(c, c->use_tls ? CZPG_PHASE_SSL_ANSWER : CZPG_PHASE_STARTUP, now_ns);
}

/* ---- authentication ---------------------------------------------------- */

static void record_offered(struct czpg_conn *c, const struct czpg_pgwire_auth *a)
{
	size_t i, used = 0;
	char clean[64];

	c->offered[0] = '\0';
	for (i = 0; i < a->nmechs; i++) {
		czpg_pgwire_sanitize(a->mechs[i], clean, sizeof(clean));
		used += (size_t)snprintf(c->offered + used, sizeof(c->offered) - used, "%s%s",
					 i > 0 ? "," : "", clean);
		if (used >= sizeof(c->offered))
			break;
	}
}

static int start_sasl(struct czpg_conn *c, const struct czpg_pgwire_auth *a, uint64_t now_ns)
{
	bool plus = czpg_pgwire_auth_has_mechanism(a, "SCRAM-SHA-256-PLUS") == 1;
	bool plain = czpg_pgwire_auth_has_mechanism(a, "SCRAM-SHA-256") == 1;
	enum czpg_scram_cb cb = CZPG_SCRAM_CB_NONE;
	uint8_t cbdata[EVP_MAX_MD_SIZE];
	size_t cblen = 0;
	char err[CZPG_SCRAM_ERR_MAX];
	struct czpg_wbuf first;
	int rc = -1;

	czpg_wbuf_init(&first, 4096);
	if (c->cb_policy == CZPG_CB_REQUIRE && c->tls == NULL) {
		fail(c, "channel binding is required but the connection does not use TLS");
		goto out;
	}
	if (c->tls != NULL && plus && c->cb_policy != CZPG_CB_DISABLE) {
		if (czpg_tls_server_end_point(c->tls, cbdata, &cblen) == 0) {
			cb = CZPG_SCRAM_CB_TLS_SERVER_END_POINT;
		} else if (c->cb_policy == CZPG_CB_REQUIRE) {
			fail(c, "channel binding is required but impossible: %s",
			     czpg_tls_error(c->tls));
			goto out;
		}
		/* else: RFC 5802 section 6: a client that cannot bind says "n". */
	} else if (c->cb_policy == CZPG_CB_REQUIRE) {
		fail(c,
		     "channel binding is required but the server does not offer "
		     "SCRAM-SHA-256-PLUS (offered: %s)",
		     c->offered[0] != '\0' ? c->offered : "nothing");
		goto out;
	} else if (c->tls != NULL && c->cb_policy != CZPG_CB_DISABLE) {
		/* We could bind but the server did not offer it: "y" lets a
		 * server that did offer PLUS detect a downgrade. */
		cb = CZPG_SCRAM_CB_NOT_USED;
	}
	if (cb != CZPG_SCRAM_CB_TLS_SERVER_END_POINT && !plain) {
		fail(c, "the server offers no SASL mechanism czpg supports (offered: %s)",
		     c->offered[0] != '\0' ? c->offered : "nothing");
		goto out;
	}
	if (c->password == NULL) {
		fail(c, "the server asks user \"%s\" for a password (%s) and none was given",
		     c->user, czpg_scram_mechanism_name(cb));
		goto out;
	}
	c->scram = czpg_scram_new(c->password, cb, cblen > 0 ? cbdata : NULL, cblen, c->scram_cache,
				  err, sizeof(err));
	if (c->scram == NULL) {
		fail(c, "SCRAM authentication failed: %s", err);
		goto out;
	}
	if (c->max_scram_iterations != 0)
		czpg_scram_set_max_iterations(c->scram, c->max_scram_iterations);
	if (czpg_scram_client_first(c->scram, &first) < 0) {
		fail(c, "SCRAM authentication failed: %s", czpg_scram_error(c->scram));
		goto out;
	}
	snprintf(c->auth_method, sizeof(c->auth_method), "%s", czpg_scram_mechanism_name(cb));
	czpg_pgwire_sasl_initial_response(&c->msg, c->auth_method, first.data, first.len);
	if (send_msg(c) < 0)
		goto out;
	set_phase(c, CZPG_PHASE_AUTH, now_ns);
	rc = 0;
out:
	OPENSSL_cleanse(cbdata, sizeof(cbdata));
	czpg_wbuf_free_secure(&first);
	return rc;
}

static void handle_auth(struct czpg_conn *c, const struct czpg_pgwire_msg *m, uint64_t now_ns)
{
	struct czpg_pgwire_auth a;
	struct czpg_wbuf reply;
	char err[CZPG_PGWIRE_ERR_MAX];

	if (czpg_pgwire_decode_auth(m, &a, err, sizeof(err)) < 0) {
		fail(c, "malformed authentication message from the server: %s", err);
		return;
	}
	if (c->auth_request < 0)
		c->auth_request = (int)a.code;
	if (a.code == CZPG_PGWIRE_AUTH_SASL)
		record_offered(c, &a);
	if (c->goal == CZPG_GOAL_AUTH_REQUEST && c->phase == CZPG_PHASE_STARTUP) {
		set_phase(c, CZPG_PHASE_DONE, now_ns);
		emit_simple(c, CZPG_EV_GOAL);
		return;
	}
	switch (a.code) {
	case CZPG_PGWIRE_AUTH_OK:
		if (c->scram != NULL && !czpg_scram_is_verified(c->scram)) {
			fail(c,
			     "the server accepted the login before proving it knows the password "
			     "(no verified SCRAM server signature)");
			return;
		}
		if (c->cb_policy == CZPG_CB_REQUIRE &&
		    (c->scram == NULL || strcmp(c->auth_method, "SCRAM-SHA-256-PLUS") != 0)) {
			fail(c, "server authenticated the client without channel binding "
				"(channel binding is required)");
			return;
		}
		if (c->scram == NULL)
			snprintf(c->auth_method, sizeof(c->auth_method), "trust");
		set_phase(c, CZPG_PHASE_PARAMS, now_ns);
		return;
	case CZPG_PGWIRE_AUTH_SASL:
		if (c->phase != CZPG_PHASE_STARTUP) {
			fail(c, "the server restarted SASL authentication mid-exchange");
			return;
		}
		start_sasl(c, &a, now_ns);
		return;
	case CZPG_PGWIRE_AUTH_SASL_CONTINUE:
		if (c->scram == NULL || c->phase != CZPG_PHASE_AUTH) {
			fail(c, "unexpected SASL continue message from the server");
			return;
		}
		czpg_wbuf_init(&reply, 4096);
		if (czpg_scram_server_first(c->scram, a.data, a.len, &reply) < 0) {
			fail(c, "SCRAM authentication failed: %s", czpg_scram_error(c->scram));
		} else {
			czpg_pgwire_sasl_response(&c->msg, reply.data, reply.len);
			send_msg(c);
			if (!failed(c))
				set_phase(c, CZPG_PHASE_AUTH, now_ns);
		}
		czpg_wbuf_free_secure(&reply);
		return;
	case CZPG_PGWIRE_AUTH_SASL_FINAL:
		if (c->scram == NULL || c->phase != CZPG_PHASE_AUTH) {
			fail(c, "unexpected SASL final message from the server");
			return;
		}
		if (czpg_scram_server_final(c->scram, a.data, a.len) < 0)
			fail(c, "SCRAM authentication failed: %s", czpg_scram_error(c->scram));
		return;
	case CZPG_PGWIRE_AUTH_CLEARTEXT:
	case CZPG_PGWIRE_AUTH_MD5:
		fail(c,
		     "the server asks for %s password authentication; czpg authenticates only "
		     "with SCRAM-SHA-256 (use scram-sha-256 in pg_hba.conf and store the password "
		     "with password_encryption = 'scram-sha-256')",
		     a.code == CZPG_PGWIRE_AUTH_MD5 ? "MD5" : "cleartext");
		return;
	default:
		fail(c,
		     "the server asks for an authentication method czpg does not support "
		     "(request code %u)",
		     a.code);
		return;
	}
}

/* ---- incoming messages ------------------------------------------------- */

/*
 * Keeps what tells who refused the startup: the message, and which fields
 * the ErrorResponse had (PostgreSQL's backend always names the source file,
 * line and routine; a pooler answering for itself does not).
 */
static void record_startup_error(struct czpg_conn *c, const struct czpg_pgwire_error *e)
{
	const struct {
		char type;
		const char *value;
	} f[] = {
	    {'S', e->severity}, {'V', e->severity_nonlocal},
	    {'C', e->sqlstate}, {'M', e->message},
	    {'D', e->detail},   {'H', e->hint},
	    {'P', e->position}, {'W', e->where},
	    {'F', e->file},     {'L', e->line},
	    {'R', e->routine},
	};
	size_t i, n = 0;

	czpg_pgwire_sanitize(e->message, c->startup_message, sizeof(c->startup_message));
	for (i = 0; i < sizeof(f) / sizeof(f[0]) && n + 1 < sizeof(c->startup_fields); i++)
		if (f[i].value != NULL)
			c->startup_fields[n++] = f[i].type;
	c->startup_fields[n] = '\0';
}

static void handle_startup_error(struct czpg_conn *c, const struct czpg_pgwire_msg *m)
{
	struct czpg_pgwire_error e;
	char line[400], err[CZPG_PGWIRE_ERR_MAX];

	if (czpg_pgwire_decode_error(m, &e, err, sizeof(err)) < 0) {
		fail(c, "malformed error message from the server: %s", err);
		return;
	}
	if (e.sqlstate != NULL)
		czpg_pgwire_sanitize(e.sqlstate, c->startup_sqlstate, sizeof(c->startup_sqlstate));
	record_startup_error(c, &e);
	czpg_pgwire_error_format(&e, line, sizeof(line));
	fail(c, "the server refused the connection: %s", line);
}

static int grow_rows_to(struct czpg_conn *c, size_t want)
{
	void *f, *v;

	if (want > CZPG_PGWIRE_MAX_COLUMNS)
		want = CZPG_PGWIRE_MAX_COLUMNS;
	if (want <= c->ncap && c->fields != NULL)
		return 0;
	if (want < 8)
		want = 8;
	f = realloc(c->fields, want * sizeof(*c->fields));
	if (f == NULL)
		return -1;
	c->fields = f;
	v = realloc(c->values, want * sizeof(*c->values));
	if (v == NULL)
		return -1;
	c->values = v;
	c->ncap = want;
	return 0;
}

/* Room for the columns m announces; inline: every row passes it, and rarely grows. */
static inline int grow_rows(struct czpg_conn *c, const struct czpg_pgwire_msg *m)
{
	size_t want;

	if (m->len < 2)
		return 0; /* the decoder reports it */
	want = (size_t)m->body[0] << 8 | m->body[1];
	if (want <= c->ncap && c->fields != NULL)
		return 0;
	return grow_rows_to(c, want);
}

static void set_param(struct czpg_conn *c, const char *name, const char *value)
{
	size_t i;
	char *v;

	for (i = 0; i < c->nparams; i++) {
		if (strcmp(c->params[i].name, name) == 0) {
			v = strdup(value);
			if (v != NULL) {
				free(c->params[i].value);
				c->params[i].value = v;
			}
			return;
		}
	}
	if (c->nparams == CONN_MAX_PARAMS)
		return;
	c->params[c->nparams].name = strdup(name);
	c->params[c->nparams].value = strdup(value);
	if (c->params[c->nparams].name == NULL || c->params[c->nparams].value == NULL) {
		free(c->params[c->nparams].name);
		free(c->params[c->nparams].value);
		return;
	}
	c->nparams++;
}

static void handle_session_msg(struct czpg_conn *c, const struct czpg_pgwire_msg *m,
			       uint64_t now_ns)
{
	struct czpg_conn_event ev = {.now_ns = now_ns};
	struct czpg_pgwire_error e;
	const char *name, *value;
	char err[CZPG_PGWIRE_ERR_MAX], line[400];
	char status;

	switch (m->type) {
	case CZPG_PGWIRE_MSG_ROW_DESCRIPTION:
		if (grow_rows(c, m) < 0) {
			fail(c, "out of memory");
			return;
		}
		if (czpg_pgwire_decode_row_description(m, c->fields, c->ncap, &ev.nfields, err,
						       sizeof(err)) < 0) {
			fail(c, "malformed RowDescription from the server: %s", err);
			return;
		}
		ev.type = CZPG_EV_ROW_DESCRIPTION;
		ev.fields = c->fields;
		emit(c, &ev);
		break;
	case CZPG_PGWIRE_MSG_DATA_ROW:
		if (grow_rows(c, m) < 0) {
			fail(c, "out of memory");
			return;
		}
		if (czpg_pgwire_decode_data_row(m, c->values, c->ncap, &ev.nvalues, err,
						sizeof(err)) < 0) {
			fail(c, "malformed DataRow from the server: %s", err);
			return;
		}
		ev.type = CZPG_EV_ROW;
		ev.values = c->values;
		emit(c, &ev);
		break;
	case CZPG_PGWIRE_MSG_COMMAND_COMPLETE:
		if (czpg_pgwire_decode_command_complete(m, &ev.text, err, sizeof(err)) < 0) {
			fail(c, "malformed CommandComplete from the server: %s", err);
			return;
		}
		ev.type = CZPG_EV_COMMAND_COMPLETE;
		emit(c, &ev);
		break;
	case CZPG_PGWIRE_MSG_ERROR:
	case CZPG_PGWIRE_MSG_NOTICE:
		if (czpg_pgwire_decode_error(m, &e, err, sizeof(err)) < 0) {
			fail(c, "malformed %s from the server: %s", czpg_pgwire_msg_name(m->type),
			     err);
			return;
		}
		czpg_pgwire_error_format(&e, line, sizeof(line));
		if (m->type == CZPG_PGWIRE_MSG_ERROR && e.severity_nonlocal != NULL &&
		    (strcmp(e.severity_nonlocal, "FATAL") == 0 ||
		     strcmp(e.severity_nonlocal, "PANIC") == 0)) {
			fail(c, "the server ended the session: %s", line);
			return;
		}
		ev.type = m->type == CZPG_PGWIRE_MSG_ERROR ? CZPG_EV_QUERY_ERROR : CZPG_EV_NOTICE;
		ev.text = line;
		ev.sqlstate = e.sqlstate;
		emit(c, &ev);
		break;
	case CZPG_PGWIRE_MSG_READY:
		if (czpg_pgwire_decode_ready(m, &status, err, sizeof(err)) < 0) {
			fail(c, "malformed ReadyForQuery from the server: %s", err);
			return;
		}
		if (c->in_flight == 0) {
			fail(c, "the server sent ReadyForQuery with no query outstanding");
			return;
		}
		c->in_flight--;
		set_phase(c, CZPG_PHASE_READY, now_ns);
		ev.type = CZPG_EV_QUERY_DONE;
		emit(c, &ev);
		break;
	case CZPG_PGWIRE_MSG_PARAMETER_STATUS:
		if (czpg_pgwire_decode_parameter_status(m, &name, &value, err, sizeof(err)) < 0) {
			fail(c, "malformed ParameterStatus from the server: %s", err);
			return;
		}
		set_param(c, name, value);
		break;
	case CZPG_PGWIRE_MSG_EMPTY_QUERY:
	case CZPG_PGWIRE_MSG_PARSE_COMPLETE:
	case CZPG_PGWIRE_MSG_BIND_COMPLETE:
	case CZPG_PGWIRE_MSG_CLOSE_COMPLETE:
	case CZPG_PGWIRE_MSG_NO_DATA:
	case CZPG_PGWIRE_MSG_PORTAL_SUSPENDED:
	case CZPG_PGWIRE_MSG_PARAMETER_DESCRIPTION:
	case CZPG_PGWIRE_MSG_NOTIFICATION:
		break;
	default:
		fail(c, "unexpected message type 0x%02x (%s) from the server during a query",
		     m->type, czpg_pgwire_msg_name(m->type));
		return;
	}
}

static void handle_msg(struct czpg_conn *c, const struct czpg_pgwire_msg *m, uint64_t now_ns)
{
	const char *name, *value;
	char err[CZPG_PGWIRE_ERR_MAX];

	switch (c->phase) {
	case CZPG_PHASE_STARTUP:
	case CZPG_PHASE_AUTH:
		if (m->type == CZPG_PGWIRE_MSG_AUTH)
			handle_auth(c, m, now_ns);
		else if (m->type == CZPG_PGWIRE_MSG_ERROR)
			handle_startup_error(c, m);
		else if (m->type == CZPG_PGWIRE_MSG_NEGOTIATE_PROTOCOL)
			fail(c, "the server does not speak protocol 3.0 as requested "
				"(NegotiateProtocolVersion)");
		else
			fail(c,
			     "unexpected %s (type 0x%02x) from the server during "
			     "authentication",
			     czpg_pgwire_msg_name(m->type), m->type);
		return;
	case CZPG_PHASE_PARAMS:
		switch (m->type) {
		case CZPG_PGWIRE_MSG_PARAMETER_STATUS:
			if (czpg_pgwire_decode_parameter_status(m, &name, &value, err,
								sizeof(err)) < 0)
				fail(c, "malformed ParameterStatus from the server: %s", err);
			else
				set_param(c, name, value);
			return;
		case CZPG_PGWIRE_MSG_BACKEND_KEY:
			if (czpg_pgwire_decode_backend_key(m, &c->backend_pid, &c->backend_secret,
							   err, sizeof(err)) < 0)
				fail(c, "malformed BackendKeyData from the server: %s", err);
			return;
		case CZPG_PGWIRE_MSG_NOTICE:
			return;
		case CZPG_PGWIRE_MSG_ERROR:
			handle_startup_error(c, m);
			return;
		case CZPG_PGWIRE_MSG_READY:
			set_phase(c, CZPG_PHASE_READY, now_ns);
			emit_simple(c, CZPG_EV_READY);
			return;
		default:
			fail(c, "unexpected %s (type 0x%02x) from the server during startup",
			     czpg_pgwire_msg_name(m->type), m->type);
			return;
		}
	case CZPG_PHASE_READY:
		handle_session_msg(c, m, now_ns);
		return;
	case CZPG_PHASE_CLOSING:
	case CZPG_PHASE_DONE:
		return; /* late answers after Terminate are ignored */
	default:
		fail(c, "unexpected %s from the server during %s", czpg_pgwire_msg_name(m->type),
		     czpg_conn_phase_name(c->phase));
		return;
	}
}

/* The parser's sentence already says "protocol error: "; say it once. */
static void fail_parser(struct czpg_conn *c)
{
	const char *why = czpg_pgwire_parser_error(&c->parser);

	if (strncmp(why, "protocol error: ", 16) == 0)
		why += 16;
	fail(c, "protocol error from the server: %s", why);
}

/* Feeds protocol bytes (already decrypted) to the parser and handles messages. */
static int feed_protocol(struct czpg_conn *c, const uint8_t *data, size_t n, uint64_t now_ns)
{
	struct czpg_pgwire_msg m;
	bool session = false;
	int r;

	/*
	 * Messages are read where they lie in data (no copy), only a partial
	 * one is buffered.  Stopping early (failed, done) leaves the rest of
	 * data untaken: nothing reads a finished connection's input.
	 */
	while (!failed(c) && c->phase != CZPG_PHASE_DONE &&
	       (r = czpg_pgwire_parser_next_in(&c->parser, &data, &n, &m)) != 0) {
		if (r < 0) {
			fail_parser(c);
			return -1;
		}
		session |= c->phase == CZPG_PHASE_READY;
		handle_msg(c, &m, now_ns);
	}
	/*
	 * Any answer to a query is progress: push the query deadline out, once
	 * for all the messages of this input (they share now_ns, and every
	 * change of phase or of in_flight between them went through set_phase).
	 */
	if (session && !failed(c) && c->phase == CZPG_PHASE_READY && c->in_flight > 0)
		c->deadline_ns = now_ns + c->timeout_ns;
	return failed(c) ? -1 : 0;
}

static void handle_ssl_answer(struct czpg_conn *c, const uint8_t *data, size_t n, uint64_t now_ns)
{
	char err[CZPG_TLS_ERR_MAX];
	int r;

	c->ssl_answer = (char)data[0];
	switch (data[0]) {
	case 'S':
		if (c->goal == CZPG_GOAL_SSL_ANSWER) {
			set_phase(c, CZPG_PHASE_DONE, now_ns);
			emit_simple(c, CZPG_EV_GOAL);
			return;
		}
		/*
		 * CVE-2021-23222: whatever arrived with the 'S' came before our
		 * ClientHello, so it was not sent through TLS: someone on the
		 * path injected it.  Refuse rather than read it later.
		 */
		if (n > 1) {
			fail(c,
			     "the server sent %zu unencrypted byte(s) after agreeing to TLS and "
			     "before the handshake: possible man-in-the-middle injection; "
			     "connection refused",
			     n - 1);
			return;
		}
		c->tls = czpg_tls_new(c->tls_config, c->host, err, sizeof(err));
		if (c->tls == NULL) {
			fail(c, "TLS setup failed: %s", err);
			return;
		}
		set_phase(c, CZPG_PHASE_TLS, now_ns);
		r = czpg_tls_handshake(c->tls);
		if (drain_tls(c) < 0)
			return;
		if (r == CZPG_TLS_ERROR)
			fail(c, "%s", czpg_tls_error(c->tls));
		return;
	case 'N':
		if (c->goal == CZPG_GOAL_SSL_ANSWER) {
			set_phase(c, CZPG_PHASE_DONE, now_ns);
			emit_simple(c, CZPG_EV_GOAL);
			return;
		}
		fail(c, "the server refused TLS (it answered 'N' to SSLRequest: ssl is off on "
			"the server); no plaintext fallback");
		return;
	case 'E':
		/* CVE-2024-10977: the text is unauthenticated; do not show it. */
		fail(c, "the server answered SSLRequest with an error message instead of 'S' or "
			"'N' (its unauthenticated text is not shown)");
		return;
	default:
		fail(c,
		     "the server answered SSLRequest with byte 0x%02x instead of 'S' or 'N': "
		     "not a PostgreSQL server?",
		     data[0]);
		return;
	}
}

/* The one-byte answer to GSSENCRequest: recorded, and the probe is done. */
static void handle_gssenc_answer(struct czpg_conn *c, const uint8_t *data, uint64_t now_ns)
{
	c->ssl_answer = (char)data[0];
	if (data[0] == 'G' || data[0] == 'N') {
		set_phase(c, CZPG_PHASE_DONE, now_ns);
		emit_simple(c, CZPG_EV_GOAL);
	} else if (data[0] == 'E') {
		fail(c, "the server answered GSSENCRequest with an error message (a server older "
			"than PostgreSQL 12?); its unauthenticated text is not shown");
	} else {
		fail(c,
		     "the server answered GSSENCRequest with byte 0x%02x instead of 'G' or "
		     "'N': not a PostgreSQL server?",
		     data[0]);
	}
}

/*
 * Direct TLS carries a session only when the server selected ALPN
 * "postgresql" (PostgreSQL 17, as libpq 17 insists): a TLS server that
 * ignores ALPN is not proof of PostgreSQL, and no startup (nor password)
 * goes to it.  True when the connection failed for that.
 */
static bool refuse_direct_without_alpn(struct czpg_conn *c)
{
	const char *alpn;

	if (c->opening != CZPG_OPEN_DIRECT_TLS)
		return false;
	alpn = czpg_tls_alpn(c->tls);
	if (alpn != NULL && strcmp(alpn, "postgresql") == 0)
		return false;
	fail(c,
	     "the server %s completed a direct TLS handshake without selecting ALPN "
	     "\"postgresql\" (%s%s%s): a TLS server that ignores ALPN is not proof of PostgreSQL",
	     c->host, alpn != NULL ? "it selected \"" : "it selected none",
	     alpn != NULL ? alpn : "", alpn != NULL ? "\"" : "");
	return true;
}

static void tls_progress(struct czpg_conn *c, uint64_t now_ns)
{
	uint8_t buf[CONN_TLS_READ_CHUNK];
	size_t held = 0; /* bytes of buf a read filled: only those are wiped */
	ssize_t n;
	int r;

	if (c->phase == CZPG_PHASE_TLS) {
		r = czpg_tls_handshake(c->tls);
		if (drain_tls(c) < 0)
			return;
		if (r == CZPG_TLS_WANT_READ)
			return;
		if (r == CZPG_TLS_CLOSED ||
		    (r != CZPG_TLS_OK && czpg_tls_error(c->tls)[0] == '\0')) {
			/* close_notify before the handshake finished: no OpenSSL error to show. */
			fail(c,
			     "the server %s closed the TLS session during the handshake "
			     "(close_notify); see the server log",
			     c->host);
			return;
		}
		if (r != CZPG_TLS_OK) {
			fail(c, "%s", czpg_tls_error(c->tls));
			return;
		}
		if (c->goal != CZPG_GOAL_TLS && refuse_direct_without_alpn(c))
			return;
		if (c->goal == CZPG_GOAL_TLS) {
			set_phase(c, CZPG_PHASE_DONE, now_ns);
			emit_simple(c, CZPG_EV_GOAL);
			return;
		}
		if (send_startup(c, now_ns) < 0)
			return;
	}
	while (!failed(c) && c->phase != CZPG_PHASE_DONE) {
		n = czpg_tls_read(c->tls, buf, sizeof(buf));
		if (drain_tls(c) < 0)
			break;
		if (n > 0) {
			if ((size_t)n > held)
				held = (size_t)n;
			if (feed_protocol(c, buf, (size_t)n, now_ns) < 0)
				break;
			continue;
		}
		if (n == CZPG_TLS_WANT_READ)
			break;
		if (n == CZPG_TLS_CLOSED) {
			czpg_conn_feed_eof(c, now_ns);
			break;
		}
		fail(c, "TLS error: %s", czpg_tls_error(c->tls));
		break;
	}
	/* A query's answer is tens of bytes: wiping all 16 KiB cost more than the record. */
	OPENSSL_cleanse(buf, held);
}

int czpg_conn_feed(struct czpg_conn *c, const void *data, size_t n, uint64_t now_ns)
{
	const uint8_t *p = data;

	if (failed(c))
		return -1;
	if (n == 0 || c->phase == CZPG_PHASE_DONE)
		return 0;
	if (c->phase == CZPG_PHASE_CONNECT)
		czpg_conn_connected(c, now_ns);
	if (c->phase == CZPG_PHASE_SSL_ANSWER && c->opening == CZPG_OPEN_GSSENC_REQUEST) {
		handle_gssenc_answer(c, p, now_ns);
		return failed(c) ? -1 : 0;
	}
	if (c->phase == CZPG_PHASE_SSL_ANSWER) {
		handle_ssl_answer(c, p, n, now_ns);
		return failed(c) ? -1 : 0;
	}
	if (c->tls != NULL) {
		if (czpg_tls_feed_ciphertext(c->tls, p, n) < 0) {
			fail(c, "TLS: %s", czpg_tls_error(c->tls));
			return -1;
		}
		tls_progress(c, now_ns);
		return failed(c) ? -1 : 0;
	}
	return feed_protocol(c, p, n, now_ns);
}

void czpg_conn_feed_eof(struct czpg_conn *c, uint64_t now_ns)
{
	if (failed(c) || c->phase == CZPG_PHASE_DONE)
		return;
	if (c->phase == CZPG_PHASE_CLOSING) {
		set_phase(c, CZPG_PHASE_DONE, now_ns);
		emit_simple(c, CZPG_EV_CLOSED);
		return;
	}
	if (c->phase == CZPG_PHASE_TLS)
		fail(c, "the server closed the connection during the TLS handshake "
			"(it may require a TLS version or cipher this client does not offer; "
			"see the server log)");
	else
		fail(c, "the server closed the connection while we waited for %s",
		     czpg_conn_phase_name(c->phase));
}

void czpg_conn_fail_transport(struct czpg_conn *c, const char *what)
{
	fail(c, "%s", what);
}

void czpg_conn_tick(struct czpg_conn *c, uint64_t now_ns)
{
	if (c->phase == CZPG_PHASE_READY && c->in_flight > 0 && c->deadline_ns == 0) {
		c->deadline_ns = now_ns + c->timeout_ns;
		return;
	}
	if (c->deadline_ns == 0 || now_ns < c->deadline_ns || czpg_conn_finished(c))
		return;
	fail(c, "timed out after %llu ms waiting for %s",
	     (unsigned long long)(c->timeout_ns / 1000000u), czpg_conn_phase_name(c->phase));
}

uint64_t czpg_conn_deadline(const struct czpg_conn *c)
{
	return c->deadline_ns;
}

size_t czpg_conn_pending_output(const struct czpg_conn *c)
{
	return c->out.len;
}

size_t czpg_conn_take_output(struct czpg_conn *c, void *buf, size_t cap)
{
	size_t n = c->out.len < cap ? c->out.len : cap;

	if (n == 0)
		return 0;
	memcpy(buf, c->out.data, n);
	czpg_wbuf_consume(&c->out, n);
	return n;
}

static int check_ready(struct czpg_conn *c, const char *what)
{
	if (c->phase == CZPG_PHASE_READY)
		return 0;
	if (!failed(c))
		czpg_errf(c->err, sizeof(c->err), "cannot %s: the connection is not ready (%s)",
			  what, czpg_conn_phase_name(c->phase));
	return -1;
}

/* The query deadline is armed by the next czpg_conn_tick(): no clock here. */
static void query_sent(struct czpg_conn *c)
{
	c->in_flight++;
}

int czpg_conn_query(struct czpg_conn *c, const char *sql)
{
	if (check_ready(c, "send a query") < 0)
		return -1;
	if (c->tls != NULL) {
		if (czpg_pgwire_query(&c->msg, sql) < 0 || send_msg(c) < 0)
			return -1;
	} else if (czpg_pgwire_query(&c->out, sql) < 0) {
		/*
		 * Plaintext: built straight into the output, where send_msg would
		 * copy it (the scratch copy and its wipe bought nothing: out holds
		 * the same bytes).  A failure that set out.err (the cap, memory)
		 * leaves nothing sendable, as a failed copy into out did.
		 */
		if (c->out.err)
			fail(c, "output buffer limit reached (%zu bytes unsent)", c->out.len);
		return -1;
	}
	query_sent(c);
	return 0;
}

int czpg_conn_prepare(struct czpg_conn *c, const char *stmt, const char *sql, size_t nparams)
{
	if (check_ready(c, "prepare a statement") < 0)
		return -1;
	/* No parameter types: the server infers every $n (Parse with 0 OIDs). */
	if (nparams > CZPG_PGWIRE_MAX_PARAMS ||
	    czpg_pgwire_parse(&c->msg, stmt, sql, 0, NULL) < 0 || czpg_pgwire_sync(&c->msg) < 0 ||
	    send_msg(c) < 0)
		return -1;
	query_sent(c);
	return 0;
}

int czpg_conn_execute_prepared(struct czpg_conn *c, const char *stmt, size_t nparams,
			       const char *const *values)
{
	if (check_ready(c, "execute a statement") < 0)
		return -1;
	if (czpg_pgwire_bind(&c->msg, NULL, stmt, nparams, values, NULL, 0, NULL) < 0 ||
	    czpg_pgwire_execute(&c->msg, NULL, 0) < 0 || czpg_pgwire_sync(&c->msg) < 0 ||
	    send_msg(c) < 0)
		return -1;
	query_sent(c);
	return 0;
}

int czpg_conn_terminate(struct czpg_conn *c)
{
	if (czpg_conn_finished(c) || c->phase == CZPG_PHASE_CLOSING)
		return 0;
	if (c->phase == CZPG_PHASE_READY || c->phase == CZPG_PHASE_PARAMS) {
		czpg_pgwire_terminate(&c->msg);
		if (send_msg(c) < 0)
			return -1;
	}
	if (c->tls != NULL && czpg_tls_handshake_done(c->tls)) {
		czpg_tls_shutdown(c->tls);
		drain_tls(c);
	}
	/* Terminate needs no answer: the session is over once the bytes go. */
	c->phase = CZPG_PHASE_DONE;
	c->deadline_ns = 0;
	emit_simple(c, CZPG_EV_CLOSED);
	return 0;
}

enum czpg_conn_phase czpg_conn_phase(const struct czpg_conn *c)
{
	return c->phase;
}

bool czpg_conn_finished(const struct czpg_conn *c)
{
	return c->phase == CZPG_PHASE_DONE || c->phase == CZPG_PHASE_FAILED;
}

const char *czpg_conn_error(const struct czpg_conn *c)
{
	return c->err;
}

enum czpg_conn_phase czpg_conn_failed_phase(const struct czpg_conn *c)
{
	return c->failed_phase;
}

size_t czpg_conn_in_flight(const struct czpg_conn *c)
{
	return c->in_flight;
}

char czpg_conn_ssl_answer(const struct czpg_conn *c)
{
	return c->ssl_answer;
}

struct czpg_tls *czpg_conn_tls(const struct czpg_conn *c)
{
	return c->tls;
}

const char *czpg_conn_auth_method(const struct czpg_conn *c)
{
	return c->auth_method;
}

const char *czpg_conn_offered_mechanisms(const struct czpg_conn *c)
{
	return c->offered;
}

int czpg_conn_auth_request(const struct czpg_conn *c)
{
	return c->auth_request;
}

const char *czpg_conn_startup_sqlstate(const struct czpg_conn *c)
{
	return c->startup_sqlstate;
}

const char *czpg_conn_startup_message(const struct czpg_conn *c)
{
	return c->startup_message;
}

const char *czpg_conn_startup_fields(const struct czpg_conn *c)
{
	return c->startup_fields;
}

uint32_t czpg_conn_backend_pid(const struct czpg_conn *c)
{
	return c->backend_pid;
}

const char *czpg_conn_parameter(const struct czpg_conn *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nparams; i++)
		if (strcmp(c->params[i].name, name) == 0)
			return c->params[i].value;
	return NULL;
}

void *czpg_conn_user_data(const struct czpg_conn *c)
{
	return c->user_data;
}
