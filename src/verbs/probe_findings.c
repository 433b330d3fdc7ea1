/*
 * probe_findings.c - what a probe's result means (see czpg/probe_findings.h):
 * findings with severities, the weak-suite rule, and the result of one
 * target or of a fleet.
 *
 * The rules follow RFC 8996 (TLS 1.0 and 1.1 deprecated), RFC 9325
 * (recommendations for secure use of TLS: AEAD suites with forward secrecy),
 * RFC 5929 / RFC 5802 (SCRAM-SHA-256-PLUS channel binding) and PostgreSQL's
 * verify-full name check (RFC 6125 section 6, subjectAltName only).
 */
#include "czpg/probe_findings.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "czpg/errf.h"
#include "czpg/pgwire.h"
#include "czpg/probe_report.h"

bool czpg_probe_suite_is_weak(const char *suite, char *why, size_t whylen)
{
	bool aead, pfs;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (suite == NULL || strncmp(suite, "TLS_", 4) == 0)
		return false; /* TLS 1.3: always AEAD with (EC)DHE */
	aead = strstr(suite, "GCM") != NULL || strstr(suite, "CHACHA20-POLY1305") != NULL ||
	       strstr(suite, "CCM") != NULL;
	pfs = strncmp(suite, "ECDHE-", 6) == 0 || strncmp(suite, "DHE-", 4) == 0 ||
	      strncmp(suite, "EDH-", 4) == 0;
	if (aead && pfs)
		return false;
	czpg_errf(why, whylen, "%s%s%s", pfs ? "" : "no forward secrecy", !pfs && !aead ? ", " : "",
		  aead ? "" : "not AEAD");
	return true;
}

static void add_finding(struct czpg_probe_result *r, enum czpg_probe_severity sev, const char *id,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add_finding(struct czpg_probe_result *r, enum czpg_probe_severity sev, const char *id,
			const char *fmt, ...)
{
	struct czpg_probe_finding *f;
	va_list ap;

	if (r->nfindings == CZPG_PROBE_MAX_FINDINGS)
		return;
	f = &r->findings[r->nfindings++];
	f->severity = sev;
	snprintf(f->id, sizeof(f->id), "%s", id);
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
	if (sev > r->worst)
		r->worst = sev;
}

void czpg_probe_assess(struct czpg_probe_result *r)
{
	size_t i, k;
	char weak[300], why[64];

	r->nfindings = 0;
	r->worst = CZPG_SEV_INFO;
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++)
		for (k = 0; k < r->versions[i].nsuites; k++)
			r->versions[i].suites[k].weak =
			    czpg_probe_suite_is_weak(r->versions[i].suites[k].name, NULL, 0);
	if (r->status != CZPG_PROBE_PROBED)
		return;

	if (r->ssl_answer == 'N')
		add_finding(
		    r, CZPG_SEV_HIGH, "tls-off",
		    "the server refuses TLS (it answered 'N' to SSLRequest): connections to "
		    "it can only be plaintext; turn ssl on");
	if (r->plaintext_accepted == CZPG_TRI_YES)
		add_finding(r, CZPG_SEV_HIGH, "plaintext-accepted",
			    "a plaintext startup for user \"%s\" is accepted: the server asks for "
			    "%s instead of refusing it; use hostssl lines only in pg_hba.conf",
			    r->user, czpg_probe_auth_name(r->plaintext_auth));

	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		const struct czpg_probe_version *v = &r->versions[i];

		if (v->accepted != CZPG_TRI_YES)
			continue;
		if (v->version == TLS1_2_VERSION)
			add_finding(r, CZPG_SEV_MEDIUM, "tls12-accepted",
				    "TLS 1.2 is accepted; set ssl_min_protocol_version = 'TLSv1.3' "
				    "once every client supports it");
		else if (v->version == TLS1_1_VERSION || v->version == TLS1_VERSION)
			add_finding(r, CZPG_SEV_HIGH,
				    v->version == TLS1_VERSION ? "tls10-accepted"
							       : "tls11-accepted",
				    "%s is accepted (deprecated by RFC 8996); raise "
				    "ssl_min_protocol_version",
				    v->version == TLS1_VERSION ? "TLS 1.0" : "TLS 1.1");
		weak[0] = '\0';
		for (k = 0; k < v->nsuites; k++)
			if (v->suites[k].accepted == CZPG_TRI_YES &&
			    czpg_probe_suite_is_weak(v->suites[k].name, why, sizeof(why))) {
				char item[128];

				snprintf(item, sizeof(item), "%s (%s)", v->suites[k].name, why);
				czpg_probe_list_add(weak, sizeof(weak), item);
			}
		if (v->cipher[0] != '\0' && v->nsuites == 0 &&
		    czpg_probe_suite_is_weak(v->cipher, why, sizeof(why))) {
			char item[128];

			snprintf(item, sizeof(item), "%s (%s)", v->cipher, why);
			czpg_probe_list_add(weak, sizeof(weak), item);
		}
		if (weak[0] != '\0')
			add_finding(r, CZPG_SEV_HIGH, "weak-suites",
				    "%s accepts weak cipher suites: %s; restrict ssl_ciphers to "
				    "ECDHE with AES-GCM or ChaCha20-Poly1305",
				    v->name, weak);
	}
	if (r->ssl_answer == 'S' && !r->tls_ok) {
		bool any = false;

		for (i = 0; i < CZPG_PROBE_NVERSIONS; i++)
			any = any || r->versions[i].accepted == CZPG_TRI_YES;
		if (!any)
			add_finding(r, CZPG_SEV_HIGH, "tls-handshake-fails",
				    "the server agrees to TLS but no handshake succeeded: %s",
				    r->tls_error[0] != '\0' ? r->tls_error : "no detail");
	}

	if (r->nchain > 0) {
		const struct czpg_cert_info *leaf = &r->chain[0];

		if (leaf->days_left < 0)
			add_finding(r, CZPG_SEV_HIGH, "cert-expired",
				    "the server certificate expired on %s; renew it",
				    leaf->not_after);
		else if (leaf->days_left < 30)
			add_finding(
			    r, CZPG_SEV_MEDIUM, "cert-expiring",
			    "the server certificate expires in %ld day(s), on %s; rotate it",
			    leaf->days_left, leaf->not_after);
		if (r->host_match == CZPG_TRI_NO)
			add_finding(r, CZPG_SEV_HIGH, "name-mismatch",
				    "the certificate does not match %s as verify-full checks it "
				    "(SANs: %s): clients using verify-full will refuse it",
				    r->host, leaf->sans[0] != '\0' ? leaf->sans : "none");
		if (r->ca_given && r->ca_verified == CZPG_TRI_NO)
			add_finding(
			    r, CZPG_SEV_MEDIUM, "ca-unverified",
			    "the certificate chain does not verify against the CA given: %s",
			    r->ca_detail);
		else if (r->ca_given && r->ca_verified == CZPG_TRI_UNKNOWN)
			add_finding(r, CZPG_SEV_MEDIUM, "ca-unverified",
				    "the certificate chain could not be checked against the CA "
				    "given: %s",
				    r->ca_detail[0] != '\0' ? r->ca_detail
							    : "no verifying handshake");
		else if (!r->ca_given)
			add_finding(r, CZPG_SEV_INFO, "ca-not-checked",
				    "the certificate chain was not checked (no --ca given)");
	}

	if (r->tls_ok && r->tls_auth == CZPG_PGWIRE_AUTH_SASL && r->channel_binding == CZPG_TRI_NO)
		add_finding(r, CZPG_SEV_LOW, "no-channel-binding",
			    "SCRAM-SHA-256-PLUS is not offered over TLS (offered: %s): channel "
			    "binding is impossible",
			    r->mechanisms[0] != '\0' ? r->mechanisms : "nothing");
	else if (r->tls_ok && r->tls_auth >= 0 && r->tls_auth != CZPG_PGWIRE_AUTH_SASL)
		add_finding(r, CZPG_SEV_LOW, "no-channel-binding",
			    "over TLS the server asks user \"%s\" for %s, not SCRAM: channel "
			    "binding is impossible",
			    r->user, czpg_probe_auth_name(r->tls_auth));

	if (r->direct_tls == CZPG_TRI_YES)
		add_finding(r, CZPG_SEV_INFO, "direct-tls",
			    "the server accepts direct TLS (ALPN \"postgresql\", PostgreSQL 17+)");
	if (r->gssenc_answer == 'G')
		add_finding(r, CZPG_SEV_INFO, "gssenc-offered",
			    "the server answers 'G' to GSSENCRequest (GSSAPI encryption is "
			    "available)");
	if (r->deadline_hit)
		add_finding(r, CZPG_SEV_INFO, "incomplete",
			    "some checks did not finish before the per-target deadline");
}

enum czpg_result czpg_probe_outcome(const struct czpg_probe_result *res)
{
	if (res->status != CZPG_PROBE_PROBED)
		return CZPG_RESULT_ERROR;
	return res->worst >= CZPG_SEV_MEDIUM ? CZPG_RESULT_FAIL : CZPG_RESULT_OK;
}

void czpg_probe_tally_add(struct czpg_probe_tally *t, const struct czpg_probe_result *res)
{
	t->by_status[res->status]++;
	if (res->status == CZPG_PROBE_PROBED) {
		t->probed++;
		t->by_worst[res->worst]++;
		if (res->worst >= CZPG_SEV_MEDIUM)
			t->medium_high++;
	}
}

enum czpg_result czpg_probe_tally_outcome(const struct czpg_probe_tally *t, size_t n)
{
	if (t->medium_high > 0)
		return CZPG_RESULT_FAIL;
	return t->probed < n ? CZPG_RESULT_ERROR : CZPG_RESULT_OK;
}
