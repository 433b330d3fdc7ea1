/*
 * served_cert.c - the SHA-256 of the certificate a server serves: an
 * SSLRequest and a TLS handshake on the engine, then stop (see
 * czpg/served_cert.h).  The connect walks every address of the name, as
 * libpq does (czpg_engine_connect_addrs).
 */
#include "czpg/served_cert.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "czpg/conn.h"
#include "czpg/engine.h"
#include "czpg/errf.h"
#include "czpg/tlsio.h"

struct served_ctx {
	bool goal;
};

static void on_served_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct served_ctx *ctx = user;

	(void)c;
	if (ev->type == CZPG_EV_GOAL)
		ctx->goal = true;
}

int czpg_served_cert_get(const char *host, unsigned port, unsigned timeout_ms,
			 struct czpg_served_cert *out, char *err, size_t errlen)
{
	struct czpg_engine_config ecfg = {.max_conns = 2, .connect_timeout_ms = timeout_ms};
	struct czpg_conn_config ccfg = {0};
	struct czpg_tls_config *tcfg = NULL;
	struct czpg_engine *e = NULL;
	struct czpg_conn *c = NULL;
	struct served_ctx ctx = {0};
	struct czpg_engine_addrs addrs;
	struct czpg_engine_route route;
	struct czpg_tls *t;
	X509 *cert;
	unsigned int mdlen = 0;
	char label[300], at[sizeof(label) + CZPG_ENGINE_ADDR_TEXT + 8], e2[512];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	czpg_engine_route_init(&route);
	snprintf(label, sizeof(label), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host, port);
	snprintf(at, sizeof(at), "%s", label);
	if (czpg_engine_resolve_all(host, port, &addrs, err, errlen) < 0)
		goto out;
	tcfg = czpg_tls_config_new(err, errlen);
	if (tcfg == NULL)
		goto out;
	/* Identification only: the caller compares the served certificate with its file. */
	czpg_tls_config_insecure_noverify(tcfg);
	czpg_tls_config_set_min_version(tcfg, TLS1_2_VERSION);
	e = czpg_engine_new(&ecfg, err, errlen);
	if (e == NULL)
		goto out;
	ccfg.host = host;
	ccfg.user = "czctl";
	ccfg.application_name = "czctl provision";
	ccfg.use_tls = true;
	ccfg.tls = tcfg;
	ccfg.goal = CZPG_GOAL_TLS;
	ccfg.phase_timeout_ms = timeout_ms;
	ccfg.on_event = on_served_event;
	ccfg.user_data = &ctx;
	c = czpg_conn_new(&ccfg, czpg_engine_now_ns(), err, errlen);
	if (c == NULL)
		goto out;
	if (czpg_engine_connect_addrs(e, c, &addrs, &route, label, err, errlen) < 0)
		goto out;
	/* Each address may take its connect timeout; then the handshake. */
	if (czpg_engine_run_until_idle(
		e, czpg_engine_now_ns() + (uint64_t)timeout_ms * (addrs.n + 2) * 1000000ull, e2,
		sizeof(e2)) < 0) {
		czpg_errf(err, errlen, "%s", e2);
		goto out;
	}
	czpg_engine_route_describe(&route, out->failures, sizeof(out->failures));
	if (route.answered >= 0) {
		snprintf(out->address, sizeof(out->address), "%s",
			 route.tried[route.answered].addr);
		/* A name's answer says which of its addresses gave it. */
		if (strcmp(out->address, label) != 0)
			snprintf(at, sizeof(at), "%s (%s)", label, out->address);
	}
	if (czpg_conn_ssl_answer(c) == 'N') {
		czpg_errf(err, errlen, "%s answered the SSLRequest with 'N': TLS is off", at);
		rc = 1;
		goto out;
	}
	t = czpg_conn_tls(c);
	if (!ctx.goal || t == NULL || !czpg_tls_handshake_done(t) ||
	    (cert = czpg_tls_peer_certificate(t)) == NULL) {
		czpg_errf(err, errlen, "no TLS handshake with %s: %s", at, czpg_conn_error(c));
		goto out;
	}
	if (X509_digest(cert, EVP_sha256(), out->sha256, &mdlen) != 1 || mdlen != 32) {
		czpg_errf(err, errlen, "cannot hash the certificate %s serves", at);
		goto out;
	}
	rc = 0;
out:
	czpg_conn_free(c);
	czpg_engine_free(e);
	czpg_tls_config_free(tcfg);
	return rc;
}

int czpg_served_cert_sha256(const char *host, unsigned port, unsigned timeout_ms,
			    uint8_t sha256[32], char *err, size_t errlen)
{
	struct czpg_served_cert got;
	int rc = czpg_served_cert_get(host, port, timeout_ms, &got, err, errlen);

	if (rc == 0)
		memcpy(sha256, got.sha256, sizeof(got.sha256));
	return rc;
}
