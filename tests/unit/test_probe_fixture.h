/*
 * test_probe_fixture.h - a probe result built by hand, shared by the probe's
 * unit tests (findings, report): no server needed.
 */
#ifndef CZPG_TEST_PROBE_FIXTURE_H
#define CZPG_TEST_PROBE_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "czpg/pgwire.h"
#include "czpg/probe.h"

/* A result for a box that is all right: TLS 1.3 only, SCRAM-PLUS, refuses plaintext. */
static inline void good_result(struct czpg_probe_result *r)
{
	static const int versions[CZPG_PROBE_NVERSIONS] = {TLS1_3_VERSION, TLS1_2_VERSION,
							   TLS1_1_VERSION, TLS1_VERSION};
	static const char *const names[CZPG_PROBE_NVERSIONS] = {"TLSv1.3", "TLSv1.2", "TLSv1.1",
								"TLSv1"};
	size_t i;

	memset(r, 0, sizeof(*r));
	snprintf(r->target, sizeof(r->target), "db.example:5432");
	snprintf(r->host, sizeof(r->host), "db.example");
	r->port = 5432;
	snprintf(r->user, sizeof(r->user), "postgres");
	r->status = CZPG_PROBE_PROBED;
	r->ssl_answer = 'S';
	r->tls_ok = true;
	snprintf(r->tls_version, sizeof(r->tls_version), "TLSv1.3");
	snprintf(r->tls_cipher, sizeof(r->tls_cipher), "TLS_AES_256_GCM_SHA384");
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		r->versions[i].name = names[i];
		r->versions[i].version = versions[i];
		r->versions[i].accepted = i == 0 ? CZPG_TRI_YES : CZPG_TRI_NO;
	}
	r->versions[0].nsuites = 1;
	r->versions[0].suites[0].name = "TLS_AES_256_GCM_SHA384";
	r->versions[0].suites[0].accepted = CZPG_TRI_YES;
	r->nchain = r->chain_sent = 1;
	snprintf(r->chain[0].sans, sizeof(r->chain[0].sans), "DNS:db.example");
	snprintf(r->chain[0].not_after, sizeof(r->chain[0].not_after), "2030-01-01 00:00:00 UTC");
	r->chain[0].days_left = 80;
	r->host_match = CZPG_TRI_YES;
	r->ca_given = true;
	r->ca_verified = CZPG_TRI_YES;
	r->plaintext_accepted = CZPG_TRI_NO;
	r->plaintext_auth = -1;
	snprintf(r->plaintext_sqlstate, sizeof(r->plaintext_sqlstate), "28000");
	r->tls_auth = CZPG_PGWIRE_AUTH_SASL;
	snprintf(r->mechanisms, sizeof(r->mechanisms), "SCRAM-SHA-256-PLUS,SCRAM-SHA-256");
	r->channel_binding = CZPG_TRI_YES;
	r->direct_tls = CZPG_TRI_NO;
	r->gssenc_answer = 'N';
}

#endif
