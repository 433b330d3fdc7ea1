/*
 * verify.c - the "prove TLS" gate (see czpg/verify.h).
 *
 * A connection that merely succeeds proves nothing: the proof is a
 * verify-full TLS session (chain and name checked as libpq's
 * sslmode=verify-full does), authenticated with SCRAM, whose backend reports
 * itself encrypted in pg_stat_ssl with the very protocol and cipher the
 * client negotiated, and which is shown to be this client's own session:
 * by channel binding, or by the server naming this socket's endpoint and
 * the pid the server announced.  A pooler answers for the server with its
 * own BackendKeyData and its own connection behind it; the comparison is
 * what tells them apart.  Any disagreement is a failure.
 *
 * The TCP connect follows libpq: every name of a --host list, every
 * address of a name, in order, each with its own connect timeout.
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
#include "czpg/sslneg.h"

#include "pqload.h"

/* libpq, loaded only for --client libpq (pqload.h): the native path never maps it. */
static const struct czpg_pqload *pq;

/*
 * This session's own row, from the server's point of view: the pid of the
 * backend that runs the query, and the client endpoint its socket has.
 */
#define SSL_ROW_QUERY                                                                              \
	"SELECT s.ssl, s.version, s.cipher, s.bits, a.pid, pg_catalog.host(a.client_addr), "       \
	"a.client_port FROM pg_catalog.pg_stat_ssl s JOIN pg_catalog.pg_stat_activity a "          \
	"USING (pid) WHERE s.pid = pg_catalog.pg_backend_pid()"
#define SSL_ROW_COLUMNS 7

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

/* The row's text columns into res (both clients read the same columns). */
static void take_row(struct czpg_verify_result *res, const char *ssl, const char *version,
		     const char *cipher, const char *bits, const char *pid, const char *addr,
		     const char *port)
{
	res->server_row = true;
	res->server_ssl = strcmp(ssl, "t") == 0;
	czpg_pgwire_sanitize(version, res->server_version, sizeof(res->server_version));
	czpg_pgwire_sanitize(cipher, res->server_cipher, sizeof(res->server_cipher));
	res->server_bits = atoi(bits);
	res->row_pid = (unsigned)strtoul(pid, NULL, 10);
	czpg_pgwire_sanitize(addr, res->row_client_addr, sizeof(res->row_client_addr));
	res->row_client_port = port[0] != '\0' ? atoi(port) : -1;
}

static void on_session_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct session_ctx *ctx = user;
	char v[SSL_ROW_COLUMNS][256];
	size_t i;

	switch (ev->type) {
	case CZPG_EV_READY:
		ctx->res->authenticated = true;
		czpg_conn_query(c, SSL_ROW_QUERY);
		break;
	case CZPG_EV_ROW:
		if (ev->nvalues != SSL_ROW_COLUMNS)
			break;
		ctx->rows++;
		for (i = 0; i < SSL_ROW_COLUMNS; i++)
			copy_value(v[i], sizeof(v[i]), &ev->values[i]);
		take_row(ctx->res, v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
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
	    strstr(czpg_conn_error(c), "does not offer SCRAM-SHA-256-PLUS") != NULL)
		return "whatever answered offers no channel binding: a pooler in between "
		       "(PgBouncer "
		       "does not offer SCRAM-SHA-256-PLUS) or a server older than PostgreSQL 11; "
		       "connect to the server itself";
	if (opt->channel_binding == CZPG_CB_REQUIRE &&
	    strstr(czpg_conn_error(c), "channel binding") != NULL)
		return "channel binding needs SCRAM-SHA-256-PLUS over TLS with a certificate whose "
		       "signature has a hash (not Ed25519); a TLS-terminating relay also breaks it";
	return "";
}

/* The certificate the client verified, and whether it can be channel-bound at all. */
static void take_certificate(struct czpg_verify_result *res, X509 *cert)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t mdlen;

	if (cert == NULL)
		return;
	res->cert_known = czpg_certinfo_read(cert, time(NULL), &res->cert, NULL, 0) == 0;
	res->cert_bindable = czpg_tls_cert_end_point_hash(cert, md, &mdlen, res->cert_binding_err,
							  sizeof(res->cert_binding_err)) == 0;
}

/* The socket the session used: this client's side of the server's row. */
static void take_local(struct czpg_verify_result *res, const struct czpg_engine_endpoint *ep)
{
	snprintf(res->local_addr, sizeof(res->local_addr), "%s", ep->text);
	snprintf(res->local_ip, sizeof(res->local_ip), "%s", ep->ip);
	res->local_port = ep->port;
}

/*
 * One native session to the addresses of one host name.  route collects
 * the attempts; *server gets the address that answered.  Returns 0 when
 * the session ran (whatever it showed), -1 when it could not start.
 */
static int run_native_session(const struct czpg_verify_options *opt, struct czpg_verify_result *res,
			      struct czpg_tls_config *tcfg, const char *host,
			      const struct czpg_engine_addrs *addrs,
			      struct czpg_engine_route *route, struct czpg_engine_endpoint *server)
{
	struct czpg_engine_config ecfg = {.max_conns = 2, .connect_timeout_ms = opt->timeout_ms};
	struct czpg_conn_config ccfg = {0};
	struct session_ctx ctx = {.res = res};
	struct czpg_engine *e = NULL;
	struct czpg_conn *c = NULL;
	struct czpg_tls *t;
	uint64_t deadline;
	char err[512], label[CZPG_ENGINE_HOST_MAX + 16];
	int rc = -1;

	snprintf(label, sizeof(label), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
		 opt->port);
	e = czpg_engine_new(&ecfg, err, sizeof(err));
	if (e == NULL) {
		fail_with(res, NULL, "cannot start the event loop: %s", err);
		goto out;
	}
	ccfg.host = host;
	ccfg.user = opt->user;
	ccfg.dbname = opt->dbname;
	ccfg.application_name = "czctl verify";
	ccfg.password = opt->password;
	ccfg.use_tls = true;
	ccfg.tls = tcfg;
	ccfg.channel_binding = opt->channel_binding;
	ccfg.opening = opt->sslnegotiation;
	ccfg.goal = CZPG_GOAL_SESSION;
	ccfg.phase_timeout_ms = opt->timeout_ms;
	ccfg.on_event = on_session_event;
	ccfg.user_data = &ctx;
	c = czpg_conn_new(&ccfg, czpg_engine_now_ns(), err, sizeof(err));
	if (c == NULL) {
		fail_with(res, NULL, "%s", err);
		goto out;
	}
	if (czpg_engine_connect_addrs(e, c, addrs, route, label, err, sizeof(err)) < 0) {
		fail_with(res, NULL, "%s", err);
		goto out;
	}
	/* Every address may take a whole connect timeout before the phases start. */
	deadline = czpg_engine_now_ns() + (uint64_t)opt->timeout_ms * (8 + addrs->n) * 1000000ull;
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
	if (route->answered >= 0) {
		snprintf(res->connected_host, sizeof(res->connected_host), "%s", host);
		snprintf(res->connected_to, sizeof(res->connected_to), "%s", route->peer.text);
		take_local(res, &route->local);
		*server = route->peer;
	}
	t = czpg_conn_tls(c);
	if (t != NULL && czpg_tls_handshake_done(t)) {
		res->tls_done = true;
		snprintf(res->client_version, sizeof(res->client_version), "%s",
			 czpg_tls_version(t));
		snprintf(res->client_cipher, sizeof(res->client_cipher), "%s", czpg_tls_cipher(t));
		snprintf(res->alpn, sizeof(res->alpn), "%s",
			 czpg_tls_alpn(t) != NULL ? czpg_tls_alpn(t) : "");
	}
	if (t != NULL)
		take_certificate(res, czpg_tls_peer_certificate(t));
	snprintf(res->auth_method, sizeof(res->auth_method), "%s", czpg_conn_auth_method(c));
	snprintf(res->offered, sizeof(res->offered), "%s", czpg_conn_offered_mechanisms(c));
	res->plus_offered = strstr(res->offered, "SCRAM-SHA-256-PLUS") != NULL;
	res->auth_request = czpg_conn_auth_request(c);
	snprintf(res->startup_sqlstate, sizeof(res->startup_sqlstate), "%s",
		 czpg_conn_startup_sqlstate(c));
	res->backend_pid = czpg_conn_backend_pid(c);
	if (czpg_conn_parameter(c, "server_version") != NULL)
		czpg_pgwire_sanitize(czpg_conn_parameter(c, "server_version"),
				     res->server_version_str, sizeof(res->server_version_str));
	if (czpg_conn_phase(c) == CZPG_PHASE_FAILED) {
		const char *neg_hint = NULL;
		char why[CZPG_CONN_ERR_MAX + 64];

		if (czpg_sslneg_explain(c, opt->sslnegotiation, why, sizeof(why), &neg_hint))
			fail_with(res, neg_hint, "%s", why);
		else
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

/* Copies the connect attempts into the result. */
static void take_attempts(struct czpg_verify_result *res, const struct czpg_engine_route *route)
{
	size_t i;

	for (i = 0; i < route->ntried && i < CZPG_VERIFY_MAX_ATTEMPTS; i++) {
		snprintf(res->attempts[i].address, sizeof(res->attempts[i].address), "%s",
			 route->tried[i].addr);
		snprintf(res->attempts[i].error, sizeof(res->attempts[i].error), "%s",
			 route->tried[i].error);
	}
	res->nattempts = i;
	res->nattempts_lost = route->nlost + (route->ntried - i);
}

/*
 * The native client over a host list, as libpq walks it: each name in
 * turn, each of its addresses in turn; the first name with an address that
 * accepts the TCP connection decides (its verdict stands, as libpq's does
 * once a server answered).
 */
static int run_native(const struct czpg_verify_options *opt, struct czpg_verify_result *res,
		      struct czpg_tls_config *tcfg, const struct czpg_engine_hosts *hosts,
		      struct czpg_engine_endpoint *server)
{
	struct czpg_engine_route route;
	struct czpg_engine_addrs addrs;
	char err[512], list[1024];
	size_t i, resolved = 0;
	int rc = -1;

	czpg_engine_route_init(&route);
	for (i = 0; i < hosts->n; i++) {
		if (czpg_engine_resolve_all(hosts->name[i], opt->port, &addrs, err, sizeof(err)) <
		    0) {
			czpg_engine_route_add(&route, hosts->name[i], err);
			continue;
		}
		resolved++;
		/* A name that did not answer leaves no verdict: the next one is tried afresh. */
		res->pass = true;
		res->failure[0] = res->hint[0] = '\0';
		if (run_native_session(opt, res, tcfg, hosts->name[i], &addrs, &route, server) < 0)
			goto out;
		if (route.answered >= 0)
			break;
	}
	take_attempts(res, &route);
	if (resolved == 0) {
		/* Only the resolver spoke: its sentence, and for a list, each name's. */
		res->pass = true;
		res->failure[0] = '\0';
		if (hosts->n == 1) {
			fail_with(res, "check --host", "%s", route.tried[0].error);
		} else {
			czpg_engine_route_describe(&route, list, sizeof(list));
			fail_with(res, "check --host", "no name of --host %s resolves: %s",
				  opt->host, list);
		}
	} else if (route.answered < 0 && hosts->n > 1) {
		res->pass = true;
		res->failure[0] = '\0';
		czpg_engine_route_describe(&route, list, sizeof(list));
		fail_with(res, "check --host/--port: is PostgreSQL listening there?",
			  "could not connect to any host of %s (port %u): %s", opt->host, opt->port,
			  list);
	}
	rc = 0;
out:
	return rc;
}

static void run_libpq_session(const struct czpg_verify_options *opt, struct czpg_verify_result *res,
			      struct czpg_engine_endpoint *server)
{
	const char *keys[16], *vals[16];
	char port[16], timeout[16], note[200];
	struct czpg_engine_endpoint local;
	const char *cb, *minv, *neg = NULL;
	PGconn *pc = NULL;
	PGresult *r = NULL;
	int k = 0;
	char err[200];

	pq = czpg_pqload_open(err, sizeof(err));
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
	/* libpq walks a host list and every address itself, as the native client does. */
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
	/* Only a libpq that has the keyword gets it (czpg_verify_run refused the rest). */
	if (czpg_sslneg_libpq(opt->sslnegotiation, pq->PQlibVersion(), &neg, note, sizeof(note)) ==
		0 &&
	    neg != NULL)
		keys[k] = "sslnegotiation", vals[k++] = neg;
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
	/* Which name and address libpq settled on, and this socket's own address. */
	snprintf(res->connected_host, sizeof(res->connected_host), "%s",
		 pq->PQhost(pc) != NULL ? pq->PQhost(pc) : "");
	if (czpg_engine_endpoints_of(pq->PQsocket(pc), &local, server) == 0) {
		take_local(res, &local);
		snprintf(res->connected_to, sizeof(res->connected_to), "%s", server->text);
	}
	res->tls_done = pq->PQsslInUse(pc) == 1;
	snprintf(res->client_version, sizeof(res->client_version), "%s",
		 pq->PQsslAttribute(pc, "protocol") != NULL ? pq->PQsslAttribute(pc, "protocol")
							    : "");
	snprintf(res->client_cipher, sizeof(res->client_cipher), "%s",
		 pq->PQsslAttribute(pc, "cipher") != NULL ? pq->PQsslAttribute(pc, "cipher") : "");
	/* libpq 17 reports the ALPN it negotiated; older ones know no such attribute. */
	snprintf(res->alpn, sizeof(res->alpn), "%s",
		 pq->PQsslAttribute(pc, "alpn") != NULL ? pq->PQsslAttribute(pc, "alpn") : "");
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

		take_certificate(res, cert);
		X509_free(cert);
	}
	r = pq->PQexec(pc, SSL_ROW_QUERY);
	if (pq->PQresultStatus(r) != PGRES_TUPLES_OK || pq->PQntuples(r) != 1 ||
	    pq->PQnfields(r) != SSL_ROW_COLUMNS) {
		char msg[400];

		czpg_pgwire_sanitize(pq->PQerrorMessage(pc), msg, sizeof(msg));
		fail_with(res, "the verifying user must be able to read pg_stat_ssl",
			  "reading pg_stat_ssl through libpq failed: %s", msg);
		goto out;
	}
	take_row(res, pq->PQgetvalue(r, 0, 0), pq->PQgetvalue(r, 0, 1), pq->PQgetvalue(r, 0, 2),
		 pq->PQgetvalue(r, 0, 3), pq->PQgetvalue(r, 0, 4), pq->PQgetvalue(r, 0, 5),
		 pq->PQgetvalue(r, 0, 6));
out:
	pq->PQclear(r);
	pq->PQfinish(pc);
}

/* ---- the end-to-end rule ---------------------------------------------------- */

/* "127.0.0.1:47230" / "[::1]:47230" / "no client address (a Unix socket)" for the row. */
static void row_endpoint(const struct czpg_verify_result *res, char *out, size_t cap)
{
	if (res->row_client_addr[0] == '\0')
		snprintf(out, cap, "no client address (a Unix socket)");
	else
		snprintf(out, cap, strchr(res->row_client_addr, ':') != NULL ? "[%s]:%d" : "%s:%d",
			 res->row_client_addr, res->row_client_port);
}

/*
 * What the server sees, when it is not this client's session: the
 * sentence a FAIL (or, with --allow-intermediary, the warning) carries.
 */
static void describe_intermediary(const struct czpg_verify_result *res, char *out, size_t cap)
{
	char seen[80];
	size_t n;

	row_endpoint(res, seen, sizeof(seen));
	if (res->path == CZPG_VERIFY_PATH_TERMINATED && !res->endpoint_match)
		snprintf(out, cap,
			 "the server's session belongs to %s, not this client's %s, and backend "
			 "pid %u is not the pid the server announced (%u): a pooler or proxy "
			 "terminates the connection in between",
			 seen, res->local_addr, res->row_pid, res->backend_pid);
	else if (res->path == CZPG_VERIFY_PATH_TERMINATED)
		snprintf(out, cap,
			 "backend pid %u is not the pid the server announced (%u), although the "
			 "server sees this client's own address %s: something in between answers "
			 "for the server",
			 res->row_pid, res->backend_pid, seen);
	else
		snprintf(out, cap,
			 "the server's session belongs to %s, not this client's %s (backend pid "
			 "%u agrees): a TCP forwarder, NAT or TLS-terminating relay sits in "
			 "between, and without channel binding they cannot be told apart",
			 seen, res->local_addr, res->row_pid);
	/* Two TLS sessions that differ: TLS is terminated in between, whatever else. */
	n = strlen(out);
	if (n < cap && (strcmp(res->server_version, res->client_version) != 0 ||
			strcmp(res->server_cipher, res->client_cipher) != 0))
		snprintf(out + n, cap - n,
			 "; the legs negotiated different TLS (this client %s / %s, the server's "
			 "session %s / %s), so TLS is terminated in between",
			 res->client_version, res->client_cipher, res->server_version,
			 res->server_cipher);
}

/* The sentence that names the evidence and where each fact came from. */
static void describe_proof(struct czpg_verify_result *res)
{
	char seen[80];

	row_endpoint(res, seen, sizeof(seen));
	if (res->evidence == CZPG_VERIFY_BY_BINDING)
		snprintf(
		    res->proof, sizeof(res->proof),
		    "channel binding: SCRAM-SHA-256-PLUS succeeded, so the server checked the "
		    "tls-server-end-point hash of the certificate this client verified in this "
		    "TLS session; pg_backend_pid() %u equals BackendKeyData's pid%s%s",
		    res->row_pid, res->endpoint_match ? "; pg_stat_activity shows client " : "",
		    res->endpoint_match ? seen : "");
	else
		snprintf(res->proof, sizeof(res->proof),
			 "same endpoints and pid: pg_stat_activity shows this session's client as "
			 "%s, this socket's local address (getsockname), and pg_backend_pid() %u "
			 "equals BackendKeyData's pid",
			 seen, res->row_pid);
}

/*
 * The verdict on a session that ran: both legs encrypted, and the session
 * proven to be this client's own (czpg/verify.h).  Keeps an earlier failure.
 */
static void judge_session(const struct czpg_verify_options *opt, struct czpg_verify_result *res)
{
	bool bound = res->authenticated && strcmp(res->auth_method, "SCRAM-SHA-256-PLUS") == 0;
	char what[900], seen[80];

	if (!res->pass)
		return;
	if (!res->tls_done) {
		fail_with(res, NULL, "the session is not encrypted on the client side");
		return;
	}
	if (!res->server_row) {
		fail_with(res, NULL, "the server returned no pg_stat_ssl row for this session");
		return;
	}
	res->pid_match = res->row_pid != 0 && res->row_pid == res->backend_pid;
	res->endpoint_match = res->row_client_addr[0] != '\0' && res->local_ip[0] != '\0' &&
			      strcmp(res->row_client_addr, res->local_ip) == 0 &&
			      res->row_client_port == (int)res->local_port;
	res->path = !res->pid_match       ? CZPG_VERIFY_PATH_TERMINATED
		    : res->endpoint_match ? CZPG_VERIFY_PATH_DIRECT
					  : CZPG_VERIFY_PATH_FORWARDER;
	if (!res->server_ssl) {
		fail_with(res, NULL,
			  "the server reports this session as NOT encrypted (pg_stat_ssl.ssl = "
			  "false)");
		return;
	}
	if (opt->channel_binding == CZPG_CB_REQUIRE && !bound) {
		fail_with(res, NULL, "channel binding was required but not used");
		return;
	}
	if (res->pid_match && (bound || res->endpoint_match)) {
		/* One session seen from both ends: it cannot disagree with itself. */
		if (strcmp(res->server_version, res->client_version) != 0 ||
		    strcmp(res->server_cipher, res->client_cipher) != 0) {
			fail_with(res,
				  "a TLS-terminating proxy may sit between this client and the "
				  "server",
				  "client and server disagree: the client negotiated %s / %s, "
				  "pg_stat_ssl reports %s / %s",
				  res->client_version, res->client_cipher, res->server_version,
				  res->server_cipher);
			return;
		}
		res->evidence = bound ? CZPG_VERIFY_BY_BINDING : CZPG_VERIFY_BY_ENDPOINTS;
		describe_proof(res);
		if (res->path == CZPG_VERIFY_PATH_FORWARDER) {
			row_endpoint(res, seen, sizeof(seen));
			snprintf(res->warning, sizeof(res->warning),
				 "a TCP-level forwarder or NAT sits in between: the server sees "
				 "this session's client as %s, this socket is %s; channel binding "
				 "shows the TLS session still ends at the server",
				 seen, res->local_addr);
		}
		return;
	}
	describe_intermediary(res, what, sizeof(what));
	if (opt->allow_intermediary) {
		res->evidence = CZPG_VERIFY_BY_INTERMEDIARY;
		snprintf(res->warning, sizeof(res->warning),
			 "not proven end to end (--allow-intermediary): %s", what);
		return;
	}
	fail_with(res,
		  res->path == CZPG_VERIFY_PATH_FORWARDER
		      ? "connect to the server itself, or let channel binding prove the session "
			"(--channel-binding prefer or require, SCRAM-SHA-256-PLUS); "
			"--allow-intermediary accepts a known pooler or proxy"
		      : "connect to the server itself (not through a pooler), or pass "
			"--allow-intermediary to accept this pooler and see both legs",
		  "%s", what);
}

/* ---- plaintext -------------------------------------------------------------- */

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

static void plain_verdict(struct czpg_verify_result *res, enum czpg_verify_plaintext v,
			  const char *by, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void plain_verdict(struct czpg_verify_result *res, enum czpg_verify_plaintext v,
			  const char *by, const char *fmt, ...)
{
	va_list ap;

	res->plaintext = v;
	res->plaintext_refused = v == CZPG_VERIFY_PLAIN_REFUSED;
	snprintf(res->plaintext_by, sizeof(res->plaintext_by), "%s", by);
	va_start(ap, fmt);
	vsnprintf(res->plaintext_detail, sizeof(res->plaintext_detail), fmt, ap);
	va_end(ap);
}

/*
 * What the answer to an unencrypted startup means (the password is never
 * sent): an authentication request is acceptance whatever the password
 * would have been; a pg_hba rejection (28000), any other error before
 * authentication (08P01 "SSL required" from a pooler, for example) or a
 * closed connection is a refusal, said with what refused; no connection or
 * no answer tells nothing.
 */
static void classify_plaintext(struct czpg_verify_result *res, const struct plain_ctx *ctx,
			       struct czpg_conn *c, const char *user)
{
	static const char refused[] = "the server refused the connection: ";
	const char *state = czpg_conn_startup_sqlstate(c);
	const char *error = czpg_conn_error(c);
	bool pooler = res->path == CZPG_VERIFY_PATH_TERMINATED;

	/* The answer itself ("FATAL: ..."): the sentence around it says who refused. */
	if (strncmp(error, refused, sizeof(refused) - 1) == 0)
		error += sizeof(refused) - 1;

	if (ctx->goal) {
		plain_verdict(res, CZPG_VERIFY_PLAIN_ACCEPTED, "",
			      "the server answered an unencrypted startup for user \"%s\" with %s",
			      user,
			      czpg_conn_auth_request(c) == CZPG_PGWIRE_AUTH_OK
				  ? "AuthenticationOk (no password at all)"
				  : "an authentication request (the password was not sent)");
	} else if (strcmp(state, "28000") == 0) {
		plain_verdict(res, CZPG_VERIFY_PLAIN_REFUSED, "pg_hba.conf",
			      "the server rejected the unencrypted startup before authentication: "
			      "%s",
			      error);
	} else if (state[0] != '\0') {
		plain_verdict(
		    res, CZPG_VERIFY_PLAIN_REFUSED, pooler ? "the pooler in between" : "the server",
		    "%s rejected the unencrypted startup before authentication, "
		    "with SQLSTATE %s rather than a pg_hba.conf rejection: %s",
		    pooler ? "the pooler in front of the server" : "the server", state, error);
	} else if (czpg_conn_failed_phase(c) == CZPG_PHASE_STARTUP &&
		   strstr(error, "closed the connection") != NULL) {
		plain_verdict(res, CZPG_VERIFY_PLAIN_REFUSED,
			      pooler ? "the pooler in between" : "the server",
			      "the unencrypted startup was answered by closing the connection, "
			      "with no authentication request");
	} else {
		plain_verdict(res, CZPG_VERIFY_PLAIN_UNKNOWN, "", "no answer to tell by: %s",
			      error);
	}
}

/*
 * Tries an unencrypted startup at the address the proof used, without ever
 * sending the password, and classifies the answer (classify_plaintext).
 */
static void check_plaintext(const struct czpg_verify_options *opt, struct czpg_verify_result *res,
			    const struct czpg_engine_endpoint *server)
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
		plain_verdict(res, CZPG_VERIFY_PLAIN_UNKNOWN, "", "the check could not run: %s",
			      err);
		return;
	}
	ccfg.host = res->connected_host;
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
	    czpg_engine_connect(e, c, (const struct sockaddr *)&server->sa, server->len, NULL, 0,
				server->text, err, sizeof(err)) < 0 ||
	    czpg_engine_run_until_idle(
		e, czpg_engine_now_ns() + (uint64_t)opt->timeout_ms * 4 * 1000000ull, err,
		sizeof(err)) < 0) {
		plain_verdict(res, CZPG_VERIFY_PLAIN_UNKNOWN, "", "the check could not run: %s",
			      err);
		goto out;
	}
	classify_plaintext(res, &ctx, c, opt->user);
out:
	czpg_conn_free(c);
	czpg_engine_free(e);
}

/*
 * The sslnegotiation of this run: ALPN for direct TLS, and for libpq only
 * what that libpq can do (direct needs libpq 17: never silently dropped).
 * 0, or -1 (could not run) with the reason in res.
 */
static int prepare_negotiation(const struct czpg_verify_options *opt,
			       struct czpg_verify_result *res, struct czpg_tls_config *tcfg)
{
	const char *value;
	char err[512];

	snprintf(res->sslnegotiation, sizeof(res->sslnegotiation), "%s",
		 czpg_sslneg_name(opt->sslnegotiation));
	if (czpg_sslneg_configure(tcfg, opt->sslnegotiation, err, sizeof(err)) < 0) {
		fail_with(res, NULL, "%s", err);
		return -1;
	}
	if (opt->client == CZPG_VERIFY_LIBPQ && (pq = czpg_pqload_open(err, sizeof(err))) == NULL) {
		fail_with(res, NULL, "%s", err);
		return -1;
	}
	if (opt->client == CZPG_VERIFY_LIBPQ &&
	    czpg_sslneg_libpq(opt->sslnegotiation, pq->PQlibVersion(), &value,
			      res->negotiation_note, sizeof(res->negotiation_note)) < 0) {
		fail_with(res, "drop --client libpq, or run with a libpq 17 or later", "%s",
			  res->negotiation_note);
		res->negotiation_note[0] = '\0'; /* it is the failure now */
		return -1;
	}
	return 0;
}

/* The plaintext verdict as the proof's failure, in words that match it. */
static void judge_plaintext(struct czpg_verify_result *res)
{
	static const char harden[] = "re-run provision with --mode harden --apply so that "
				     "pg_hba.conf allows hostssl only";

	if (res->plaintext == CZPG_VERIFY_PLAIN_ACCEPTED)
		fail_with(res, harden, "plaintext is accepted: %s", res->plaintext_detail);
	else if (res->plaintext == CZPG_VERIFY_PLAIN_UNKNOWN)
		fail_with(res,
			  "re-run when the server answers; the refusal must be seen, not assumed",
			  "could not tell whether plaintext is refused: %s", res->plaintext_detail);
}

int czpg_verify_run(const struct czpg_verify_options *opt, struct czpg_verify_result *res)
{
	struct czpg_tls_config *tcfg = NULL;
	struct czpg_engine_hosts hosts;
	struct czpg_engine_endpoint server;
	char err[512];
	uint64_t t0 = czpg_engine_now_ns();
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&server, 0, sizeof(server));
	res->auth_request = -1;
	res->row_client_port = -1;
	if (opt->host == NULL || opt->user == NULL || opt->ca_file == NULL) {
		fail_with(res, NULL, "verify needs a host, a user and a CA file");
		goto out;
	}
	if (czpg_engine_split_hosts(opt->host, &hosts, err, sizeof(err)) < 0) {
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
	if (prepare_negotiation(opt, res, tcfg) < 0)
		goto out;
	res->pass = true;
	if (opt->client == CZPG_VERIFY_LIBPQ)
		run_libpq_session(opt, res, &server);
	else if (run_native(opt, res, tcfg, &hosts, &server) < 0)
		goto out;
	rc = 0;
	judge_session(opt, res);
	if (opt->expect_plaintext_refused && server.len > 0) {
		check_plaintext(opt, res, &server);
		judge_plaintext(res);
	}
out:
	czpg_tls_config_free(tcfg);
	res->elapsed_ms = (double)(czpg_engine_now_ns() - t0) / 1e6;
	return rc;
}
