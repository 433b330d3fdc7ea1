/*
 * served_cert.c - the SHA-256 of the certificate a server serves: an
 * SSLRequest and a TLS handshake on the engine, then stop (see
 * czpg/served_cert.h).
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

int czpg_served_cert_sha256(const char *host, unsigned port, unsigned timeout_ms,
			    uint8_t sha256[32], char *err, size_t errlen)
{
	struct czpg_engine_config ecfg = {.max_conns = 2, .connect_timeout_ms = timeout_ms};
	struct czpg_conn_config ccfg = {0};
	struct czpg_tls_config *tcfg = NULL;
	struct czpg_engine *e = NULL;
	struct czpg_conn *c = NULL;
	struct served_ctx ctx = {0};
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct czpg_tls *t;
	X509 *cert;
	unsigned int mdlen = 0;
	char label[300], e2[512];
	int rc = -1;

	snprintf(label, sizeof(label), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host, port);
	if (czpg_engine_resolve(host, port, &addr, &addrlen, err, errlen) < 0)
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
	if (czpg_engine_connect(e, c, (const struct sockaddr *)&addr, addrlen, NULL, 0, label, err,
				errlen) < 0)
		goto out;
	if (czpg_engine_run_until_idle(e,
				       czpg_engine_now_ns() + (uint64_t)timeout_ms * 3 * 1000000ull,
				       e2, sizeof(e2)) < 0) {
		czpg_errf(err, errlen, "%s", e2);
		goto out;
	}
	if (czpg_conn_ssl_answer(c) == 'N') {
		czpg_errf(err, errlen, "%s answered the SSLRequest with 'N': TLS is off", label);
		rc = 1;
		goto out;
	}
	t = czpg_conn_tls(c);
	if (!ctx.goal || t == NULL || !czpg_tls_handshake_done(t) ||
	    (cert = czpg_tls_peer_certificate(t)) == NULL) {
		czpg_errf(err, errlen, "no TLS handshake with %s: %s", label, czpg_conn_error(c));
		goto out;
	}
	if (X509_digest(cert, EVP_sha256(), sha256, &mdlen) != 1 || mdlen != 32) {
		czpg_errf(err, errlen, "cannot hash the certificate %s serves", label);
		goto out;
	}
	rc = 0;
out:
	czpg_conn_free(c);
	czpg_engine_free(e);
	czpg_tls_config_free(tcfg);
	return rc;
}
