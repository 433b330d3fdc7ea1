/*
 * verify.c - the "prove TLS" gate (see czpg/verify.h).
 *
 * A connection that merely succeeds proves nothing: the proof is a
 * verify-full TLS session (chain and name checked as libpq's
 * sslmode=verify-full does), authenticated with SCRAM, whose backend reports
 * itself encrypted in pg_stat_ssl with the very protocol and cipher the
 * client negotiated.  Any disagreement is a failure.
 */
#include "czpg/verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "czpg/engine.h"
#include "czpg/pgwire.h"

#include "pqload.h"

#define SSL_ROW_QUERY                                                                              \
	"SELECT ssl, version, cipher, bits FROM pg_catalog.pg_stat_ssl "                           \
	"WHERE pid = pg_catalog.pg_backend_pid()"

#define RELAY_HINT                                                                                 \
	"the server's certificate is not the one this client verified: a TLS-terminating relay "   \
	"or proxy sits in between; connect to the server itself"

struct session_ctx {
	struct czpg_verify_result *res;
	bool query_failed;
	char query_error[400];
	int rows;
};

static void copy_value(char *dst, size_t cap, const struct czpg_pgwire_value *v)
{
	char raw[256];
	size_t n;

	if (v->null) {
		dst[0] = '\0';
		return;
	}
	n = v->len < sizeof(raw) - 1 ? v->len : sizeof(raw) - 1;
	memcpy(raw, v->data, n);
	raw[n] = '\0';
	czpg_pgwire_sanitize(raw, dst, cap);
}

static void on_session_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct session_ctx *ctx = user;
	struct czpg_verify_result *res = ctx->res;
	char bits[16];

	switch (ev->type) {
	case CZPG_EV_READY:
		res->authenticated = true;
		czpg_conn_query(c, SSL_ROW_QUERY);
		break;
	case CZPG_EV_ROW:
		if (ev->nvalues != 4)
			break;
		ctx->rows++;
		res->server_row = true;
		res->server_ssl =
		    !ev->values[0].null && ev->values[0].len == 1 && ev->values[0].data[0] == 't';
		copy_value(res->server_version, sizeof(res->server_version), &ev->values[1]);
		copy_value(res->server_cipher, sizeof(res->server_cipher), &ev->values[2]);
		copy_value(bits, sizeof(bits), &ev->values[3]);
		res->server_bits = atoi(bits);
		break;
	case CZPG_EV_QUERY_ERROR:
		ctx->query_failed = true;
		snprintf(ctx->query_error, sizeof(ctx->query_error), "%s",
			 ev->text != NULL ? ev->text : "error");
		break;
	case CZPG_EV_QUERY_DONE:
		czpg_conn_terminate(c);
		break;
	default:
		break;
	}
}

static void fail_with(struct czpg_verify_result *res, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_with(struct czpg_verify_result *res, const char *hint, const char *fmt, ...)
{
	va_list ap;

	if (!res->pass && res->failure[0] != '\0')
		return; /* keep the first reason */
	res->pass = false;
	va_start(ap, fmt);
	vsnprintf(res->failure, sizeof(res->failure), fmt, ap);
	va_end(ap);
	snprintf(res->hint, sizeof(res->hint), "%s", hint != NULL ? hint : "");
}

/* What the user should do about a failed native connection. */
static const char *hint_for(struct czpg_conn *c, const struct czpg_verify_options *opt)
{
	struct czpg_tls *t = czpg_conn_tls(c);
	const char *state = czpg_conn_startup_sqlstate(c);

	if (czpg_conn_ssl_answer(c) == 'N')
		return "turn TLS on for this server: czctl postgres tls provision ... --apply";
	if (t != NULL && czpg_conn_failed_phase(c) == CZPG_PHASE_TLS) {
		switch (czpg_tls_verify_result(t)) {
		case X509_V_ERR_HOSTNAME_MISMATCH:
		case X509_V_ERR_IP_ADDRESS_MISMATCH:
			return "connect with a --host that is one of the certificate's SANs, or "
			       "re-provision the leaf with the right --ip/--dns and --force";
		case X509_V_ERR_CERT_HAS_EXPIRED:
			return "rotate the server certificate: czctl postgres tls provision ... "
			       "--force --apply";
		case X509_V_OK:
			return "check that the server allows the TLS version this client requires "
			       "(--min-tls) and see the server log";
		default:
			return "pass the CA that signed the server certificate with --ca (the file "
			       "provision wrote with --export-ca)";
		}
	}
	/*
	 * PostgreSQL reports these with SQLSTATE 28000 like a pg_hba refusal,
	 * but they mean the certificate the server holds is not the one this
	 * client verified (SCRAM-SHA-256-PLUS), or someone hid PLUS from us.
	 */
	if (strstr(czpg_conn_error(c), "SCRAM channel binding") != NULL)
		return RELAY_HINT;
	if (strcmp(state, "28P01") == 0)
		return "check the password (--password, CZ_PG_VERIFY_PASSWORD, or the prompt)";
	if (strcmp(state, "28000") == 0)
		return "pg_hba.conf has no hostssl scram-sha-256 line for this user, database and "
		       "client address: run provision with --role and --allow-cidr for it";
	if (strcmp(state, "3D000") == 0)
		return "pass an existing database with --dbname";
	if (strstr(czpg_conn_error(c), "timed out") != NULL &&
	    czpg_conn_failed_phase(c) <= CZPG_PHASE_SSL_ANSWER)
		return "check --host/--port and that nothing between here and the server drops "
		       "the traffic";
	if (strstr(czpg_conn_error(c), "timed out") != NULL)
		return "the server accepted the connection but stopped making progress: see its "
		       "log (overloaded, stuck, or not really PostgreSQL?)";
	if (strstr(czpg_conn_error(c), "could not connect") != NULL)
		return "check --host/--port: is PostgreSQL listening there?";
	if (opt->channel_binding == CZPG_CB_REQUIRE &&
	    strstr(czpg_conn_error(c), "channel binding") != NULL)
		return "channel binding needs SCRAM-SHA-256-PLUS over TLS with a certificate whose "
		       "signature has a hash (not Ed25519); a TLS-terminating relay also breaks it";
	return "";
}

static int run_native_session(const struct czpg_verify_options *opt, struct czpg_verify_result *res,
			      struct czpg_tls_config *tcfg, const struct sockaddr_storage *addr,
			      socklen_t addrlen, const char *label)
{
	struct czpg_engine_config ecfg = {.max_conns = 2, .connect_timeout_ms = opt->timeout_ms};
	struct czpg_conn_config ccfg = {0};
	struct session_ctx ctx = {.res = res};
	struct czpg_engine *e = NULL;
	struct czpg_conn *c = NULL;
	struct czpg_tls *t;
	X509 *cert;
	uint64_t deadline;
	char err[512];
	int rc = -1;

	e = czpg_engine_new(&ecfg, err, sizeof(err));
	if (e == NULL) {
		fail_with(res, NULL, "cannot start the event loop: %s", err);
		goto out;
	}
	ccfg.host = opt->host;
	ccfg.user = opt->user;
	ccfg.dbname = opt->dbname;
	ccfg.application_name = "czctl verify";
	ccfg.password = opt->password;
	ccfg.use_tls = true;
	ccfg.tls = tcfg;
	ccfg.channel_binding = opt->channel_binding;
	ccfg.goal = CZPG_GOAL_SESSION;
	ccfg.phase_timeout_ms = opt->timeout_ms;
	ccfg.on_event = on_session_event;
	ccfg.user_data = &ctx;
	c = czpg_conn_new(&ccfg, czpg_engine_now_ns(), err, sizeof(err));
	if (c == NULL) {
		fail_with(res, NULL, "%s", err);
		goto out;
	}
	if (czpg_engine_connect(e, c, (const struct sockaddr *)addr, addrlen, NULL, 0, label, err,
				sizeof(err)) < 0) {
		fail_with(res, NULL, "%s", err);
		goto out;
	}
	deadline = czpg_engine_now_ns() + (uint64_t)opt->timeout_ms * 8 * 1000000ull;
	if (czpg_engine_run_until_idle(e, deadline, err, sizeof(err)) < 0) {
		if (czpg_engine_now_ns() < deadline) {
			fail_with(res, NULL, "%s", err); /* the ring itself failed */
			goto out;
		}
		/*
		 * Each message pushes a phase deadline out, so a server that
		 * trickles messages stays under it forever: the overall limit
		 * makes that a verdict, not a tool failure.
		 */
		snprintf(err, sizeof(err),
			 "timed out after %u ms in total: the server kept the session busy "
			 "without completing %s",
			 opt->timeout_ms * 8, czpg_conn_phase_name(czpg_conn_phase(c)));
		czpg_conn_fail_transport(c, err);
	}
	rc = 0;
	t = czpg_conn_tls(c);
	if (t != NULL && czpg_tls_handshake_done(t)) {
		res->tls_done = true;
		snprintf(res->client_version, sizeof(res->client_version), "%s",
			 czpg_tls_version(t));
		snprintf(res->client_cipher, sizeof(res->client_cipher), "%s", czpg_tls_cipher(t));
	}
	if (t != NULL && (cert = czpg_tls_peer_certificate(t)) != NULL)
		res->cert_known = czpg_certinfo_read(cert, time(NULL), &res->cert, NULL, 0) == 0;
	snprintf(res->auth_method, sizeof(res->auth_method), "%s", czpg_conn_auth_method(c));
	snprintf(res->offered, sizeof(res->offered), "%s", czpg_conn_offered_mechanisms(c));
	res->plus_offered = strstr(res->offered, "SCRAM-SHA-256-PLUS") != NULL;
	res->backend_pid = czpg_conn_backend_pid(c);
	if (czpg_conn_parameter(c, "server_version") != NULL)
		czpg_pgwire_sanitize(czpg_conn_parameter(c, "server_version"),
				     res->server_version_str, sizeof(res->server_version_str));
	if (czpg_conn_phase(c) == CZPG_PHASE_FAILED) {
		fail_with(res, hint_for(c, opt), "%s", czpg_conn_error(c));
		goto out;
	}
	if (ctx.query_failed)
		fail_with(res, "the verifying user must be able to read pg_stat_ssl",
			  "reading pg_stat_ssl failed: %s", ctx.query_error);
	else if (ctx.rows != 1)
		fail_with(res, NULL, "pg_stat_ssl returned %d rows for this session (expected 1)",
			  ctx.rows);
out:
	czpg_conn_free(c);
	czpg_engine_free(e);
	return rc;
}

static void run_libpq_session(const struct czpg_verify_options *opt, struct czpg_verify_result *res)
{
	const char *keys[16], *vals[16];
	char port[16], timeout[16];
	const char *cb, *minv;
	PGconn *pc = NULL;
	PGresult *r = NULL;
	int k = 0;
	char err[200];
	/* libpq is loaded for this path only (pqload.h): the native path never maps it. */
	const struct czpg_pqload *pq = czpg_pqload_open(err, sizeof(err));

	if (pq == NULL) {
		fail_with(res, NULL, "%s", err);
		return;
	}

	snprintf(port, sizeof(port), "%u", opt->port);
	snprintf(timeout, sizeof(timeout), "%u", (opt->timeout_ms + 999) / 1000);
	cb = opt->channel_binding == CZPG_CB_REQUIRE   ? "require"
	     : opt->channel_binding == CZPG_CB_DISABLE ? "disable"
						       : "prefer";
	minv = opt->min_tls == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3";
	keys[k] = "host", vals[k++] = opt->host;
	keys[k] = "port", vals[k++] = port;
	keys[k] = "user", vals[k++] = opt->user;
	keys[k] = "dbname", vals[k++] = opt->dbname != NULL ? opt->dbname : opt->user;
	keys[k] = "sslmode", vals[k++] = "verify-full";
	keys[k] = "sslrootcert", vals[k++] = opt->ca_file;
	keys[k] = "channel_binding", vals[k++] = cb;
	keys[k] = "ssl_min_protocol_version", vals[k++] = minv;
	keys[k] = "connect_timeout", vals[k++] = timeout;
	keys[k] = "application_name", vals[k++] = "czctl verify (libpq)";
	keys[k] = "gssencmode", vals[k++] = "disable";
	if (opt->password != NULL)
		keys[k] = "password", vals[k++] = opt->password;
	keys[k] = NULL, vals[k] = NULL;

	pc = pq->PQconnectdbParams(keys, vals, 0);
	if (pq->PQstatus(pc) != CONNECTION_OK) {
		char msg[600], raw[600];
		size_t n;

		/* libpq ends its message with a newline: keep the FAIL line one line. */
		snprintf(raw, sizeof(raw), "%s", pq->PQerrorMessage(pc));
		n = strlen(raw);
		while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == ' '))
			raw[--n] = '\0';
		czpg_pgwire_sanitize(raw, msg, sizeof(msg));
		fail_with(res, strstr(raw, "SCRAM channel binding") != NULL ? RELAY_HINT : NULL,
			  "libpq could not connect with sslmode=verify-full: %s", msg);
		goto out;
	}
	res->tls_done = pq->PQsslInUse(pc) == 1;
	snprintf(res->client_version, sizeof(res->client_version), "%s",
		 pq->PQsslAttribute(pc, "protocol") != NULL ? pq->PQsslAttribute(pc, "protocol")
							    : "");
	snprintf(res->client_cipher, sizeof(res->client_cipher), "%s",
		 pq->PQsslAttribute(pc, "cipher") != NULL ? pq->PQsslAttribute(pc, "cipher") : "");
	res->authenticated = true;
	/* libpq does not say which mechanism it used; only require pins it. */
	snprintf(res->auth_method, sizeof(res->auth_method), "%s",
		 opt->channel_binding == CZPG_CB_REQUIRE ? "SCRAM-SHA-256-PLUS"
		 : pq->PQconnectionUsedPassword(pc)      ? "SCRAM (libpq does not report which)"
							 : "trust");
	res->backend_pid = (unsigned)pq->PQbackendPID(pc);
	if (pq->PQparameterStatus(pc, "server_version") != NULL)
		czpg_pgwire_sanitize(pq->PQparameterStatus(pc, "server_version"),
				     res->server_version_str, sizeof(res->server_version_str));
	{
		SSL *ssl = pq->PQgetssl(pc);
		X509 *cert = ssl != NULL ? SSL_get1_peer_certificate(ssl) : NULL;

		if (cert != NULL) {
			res->cert_known =
			    czpg_certinfo_read(cert, time(NULL), &res->cert, NULL, 0) == 0;
			X509_free(cert);
		}
	}
	r = pq->PQexec(pc, SSL_ROW_QUERY);
	if (pq->PQresultStatus(r) != PGRES_TUPLES_OK || pq->PQntuples(r) != 1 ||
	    pq->PQnfields(r) != 4) {
		char msg[400];

		czpg_pgwire_sanitize(pq->PQerrorMessage(pc), msg, sizeof(msg));
		fail_with(res, "the verifying user must be able to read pg_stat_ssl",
			  "reading pg_stat_ssl through libpq failed: %s", msg);
		goto out;
	}
	res->server_row = true;
	res->server_ssl = strcmp(pq->PQgetvalue(r, 0, 0), "t") == 0;
	czpg_pgwire_sanitize(pq->PQgetvalue(r, 0, 1), res->server_version,
			     sizeof(res->server_version));
	czpg_pgwire_sanitize(pq->PQgetvalue(r, 0, 2), res->server_cipher,
			     sizeof(res->server_cipher));
	res->server_bits = atoi(pq->PQgetvalue(r, 0, 3));
out:
	pq->PQclear(r);
	pq->PQfinish(pc);
}

struct plain_ctx {
	bool goal;
};

static void on_plain_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct plain_ctx *ctx = user;

	(void)c;
	if (ev->type == CZPG_EV_GOAL)
		ctx->goal = true;
}

/*
 * Tries an unencrypted startup without ever sending the password: the
 * server either asks us to authenticate (plaintext is accepted, whatever
 * the password would have been) or rejects the startup through pg_hba
 * (SQLSTATE 28000).
 */
static void check_plaintext(const struct czpg_verify_options *opt, struct czpg_verify_result *res,
			    const struct sockaddr_storage *addr, socklen_t addrlen,
			    const char *label)
{
	struct czpg_engine_config ecfg = {.max_conns = 2, .connect_timeout_ms = opt->timeout_ms};
	struct czpg_conn_config ccfg = {0};
	struct plain_ctx ctx = {0};
	struct czpg_engine *e = NULL;
	struct czpg_conn *c = NULL;
	char err[512];

	res->plaintext_checked = true;
	e = czpg_engine_new(&ecfg, err, sizeof(err));
	if (e == NULL) {
		snprintf(res->plaintext_detail, sizeof(res->plaintext_detail), "%s", err);
		return;
	}
	ccfg.host = opt->host;
	ccfg.user = opt->user;
	ccfg.dbname = opt->dbname;
	ccfg.application_name = "czctl verify plaintext check";
	ccfg.use_tls = false;
	ccfg.goal = CZPG_GOAL_AUTH_REQUEST;
	ccfg.phase_timeout_ms = opt->timeout_ms;
	ccfg.on_event = on_plain_event;
	ccfg.user_data = &ctx;
	c = czpg_conn_new(&ccfg, czpg_engine_now_ns(), err, sizeof(err));
	if (c == NULL ||
	    czpg_engine_connect(e, c, (const struct sockaddr *)addr, addrlen, NULL, 0, label, err,
				sizeof(err)) < 0 ||
	    czpg_engine_run_until_idle(
		e, czpg_engine_now_ns() + (uint64_t)opt->timeout_ms * 4 * 1000000ull, err,
		sizeof(err)) < 0) {
		snprintf(res->plaintext_detail, sizeof(res->plaintext_detail),
			 "plaintext check could not run: %s", err);
		goto out;
	}
	if (ctx.goal) {
		res->plaintext_refused = false;
		snprintf(res->plaintext_detail, sizeof(res->plaintext_detail),
			 "the server answered an unencrypted startup for user \"%s\" with %s",
			 opt->user,
			 czpg_conn_auth_request(c) == CZPG_PGWIRE_AUTH_OK
			     ? "AuthenticationOk (no password at all)"
			     : "an authentication request (the password was not sent)");
	} else if (strcmp(czpg_conn_startup_sqlstate(c), "28000") == 0) {
		res->plaintext_refused = true;
		snprintf(res->plaintext_detail, sizeof(res->plaintext_detail), "%s",
			 czpg_conn_error(c));
	} else {
		res->plaintext_refused = false;
		snprintf(res->plaintext_detail, sizeof(res->plaintext_detail),
			 "could not tell whether plaintext is refused: %s", czpg_conn_error(c));
	}
out:
	czpg_conn_free(c);
	czpg_engine_free(e);
}

int czpg_verify_run(const struct czpg_verify_options *opt, struct czpg_verify_result *res)
{
	struct czpg_tls_config *tcfg = NULL;
	struct sockaddr_storage addr;
	socklen_t addrlen = 0;
	char err[512], label[300];
	uint64_t t0 = czpg_engine_now_ns();
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (opt->host == NULL || opt->user == NULL || opt->ca_file == NULL) {
		fail_with(res, NULL, "verify needs a host, a user and a CA file");
		goto out;
	}
	snprintf(label, sizeof(label), strchr(opt->host, ':') != NULL ? "[%s]:%u" : "%s:%u",
		 opt->host, opt->port);
	if (czpg_engine_resolve(opt->host, opt->port, &addr, &addrlen, err, sizeof(err)) < 0) {
		fail_with(res, "check --host", "%s", err);
		goto out;
	}
	tcfg = czpg_tls_config_new(err, sizeof(err));
	if (tcfg == NULL) {
		fail_with(res, NULL, "%s", err);
		goto out;
	}
	if (czpg_tls_config_set_ca_file(tcfg, opt->ca_file) < 0 ||
	    czpg_tls_config_set_min_version(tcfg, opt->min_tls != 0 ? opt->min_tls
								    : TLS1_3_VERSION) < 0) {
		fail_with(res, "pass the PEM CA file that provision exported (--export-ca)", "%s",
			  czpg_tls_config_error(tcfg));
		goto out;
	}
	res->pass = true;
	if (opt->client == CZPG_VERIFY_LIBPQ)
		run_libpq_session(opt, res);
	else if (run_native_session(opt, res, tcfg, &addr, addrlen, label) < 0)
		goto out;
	rc = 0;
	if (res->pass) {
		if (!res->tls_done)
			fail_with(res, NULL, "the session is not encrypted on the client side");
		else if (!res->server_row)
			fail_with(res, NULL,
				  "the server returned no pg_stat_ssl row for this session");
		else if (!res->server_ssl)
			fail_with(
			    res, NULL,
			    "the server reports this session as NOT encrypted (pg_stat_ssl.ssl = "
			    "false)");
		else if (strcmp(res->server_version, res->client_version) != 0 ||
			 strcmp(res->server_cipher, res->client_cipher) != 0)
			fail_with(res,
				  "a TLS-terminating proxy may sit between this client and "
				  "the server",
				  "client and server disagree: the client negotiated %s / %s, "
				  "pg_stat_ssl reports %s / %s",
				  res->client_version, res->client_cipher, res->server_version,
				  res->server_cipher);
		else if (opt->channel_binding == CZPG_CB_REQUIRE &&
			 strcmp(res->auth_method, "SCRAM-SHA-256-PLUS") != 0)
			fail_with(res, NULL, "channel binding was required but not used");
	}
	if (opt->expect_plaintext_refused) {
		check_plaintext(opt, res, &addr, addrlen, label);
		if (!res->plaintext_refused)
			fail_with(res,
				  "re-run provision with --mode harden --apply so that pg_hba.conf "
				  "allows hostssl only",
				  "plaintext is accepted: %s", res->plaintext_detail);
	}
out:
	czpg_tls_config_free(tcfg);
	res->elapsed_ms = (double)(czpg_engine_now_ns() - t0) / 1e6;
	return rc;
}
