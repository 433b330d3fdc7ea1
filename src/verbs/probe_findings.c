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

/* ---- who answers, and which version ------------------------------------------ */

/*
 * PgBouncer's own startup refusals (PgBouncer 1.x, src/client.c and
 * src/objects.c): SQLSTATE 08P01 and one of these messages, in an
 * ErrorResponse that names no source location.
 */
static const char *const pgbouncer_messages[] = {
    "SSL required",
    "not allowed",
    "no such database",
    "no such user",
    "client sent partial pkt in startup phase",
    "bad packet header",
    "unsupported startup parameter",
    "no more connections allowed",
    "pgbouncer cannot connect to server",
    "server login has been failing",
};

/* The ErrorResponse named its source file, line and routine, as PostgreSQL's backend does. */
static bool has_source_location(const struct czpg_probe_refusal *f)
{
	return strchr(f->fields, 'F') != NULL && strchr(f->fields, 'L') != NULL &&
	       strchr(f->fields, 'R') != NULL;
}

static bool from_pgbouncer(const struct czpg_probe_refusal *f)
{
	size_t i, n;

	if (strcmp(f->sqlstate, "08P01") != 0 || f->fields[0] == '\0' || has_source_location(f))
		return false;
	for (i = 0; i < sizeof(pgbouncer_messages) / sizeof(pgbouncer_messages[0]); i++) {
		n = strlen(pgbouncer_messages[i]);
		if (strncmp(f->message, pgbouncer_messages[i], n) == 0 &&
		    (f->message[n] == '\0' || f->message[n] == ':' || f->message[n] == ' '))
			return true;
	}
	return false;
}

/*
 * Who refused the startups: PgBouncer when one refusal is PgBouncer's own
 * (it answers before any server is involved, so a PostgreSQL error after it
 * would be one it passed on); PostgreSQL when a refusal names its source
 * location; else unknown.
 */
static void identify_server(struct czpg_probe_result *r)
{
	const struct {
		const struct czpg_probe_refusal *f;
		const char *what;
	} seen[] = {
	    {&r->plaintext_refusal, "the plaintext startup"},
	    {&r->tls_refusal, "the startup over TLS"},
	    {&r->admin_refusal, "the startup for database \"pgbouncer\""},
	};
	char list[400] = "";
	size_t i;

	r->server = CZPG_PROBE_SERVER_UNKNOWN;
	r->server_evidence[0] = '\0';
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		if (from_pgbouncer(seen[i].f)) {
			char item[128];

			czpg_errf(item, sizeof(item), "%s got \"%s\"", seen[i].what,
				  seen[i].f->message);
			czpg_probe_list_add(list, sizeof(list), item);
		}
	if (list[0] != '\0') {
		r->server = CZPG_PROBE_SERVER_PGBOUNCER;
		czpg_errf(r->server_evidence, sizeof(r->server_evidence),
			  "PgBouncer's own refusals (SQLSTATE 08P01, without the source location "
			  "PostgreSQL's backend sends): %s",
			  list);
		return;
	}
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		if (seen[i].f->sqlstate[0] != '\0' && has_source_location(seen[i].f)) {
			r->server = CZPG_PROBE_SERVER_POSTGRESQL;
			czpg_errf(r->server_evidence, sizeof(r->server_evidence),
				  "%s was refused (SQLSTATE %s) with the source file, line and "
				  "routine PostgreSQL's backend names in every error",
				  seen[i].what, seen[i].f->sqlstate);
			return;
		}
	czpg_errf(r->server_evidence, sizeof(r->server_evidence),
		  "no startup was refused in a way that tells PostgreSQL from a pooler");
}

/* The server version the probe's evidence supports (it never sees server_version). */
static void infer_version(struct czpg_probe_result *r)
{
	r->server_version[0] = '\0';
	if (r->server == CZPG_PROBE_SERVER_PGBOUNCER) {
		czpg_errf(r->server_version_evidence, sizeof(r->server_version_evidence),
			  "PgBouncer answers, and the probe does not reach the server "
			  "behind it");
	} else if (r->direct_tls == CZPG_TRI_YES && strcmp(r->direct_alpn, "postgresql") == 0) {
		snprintf(r->server_version, sizeof(r->server_version), "17 or later");
		czpg_errf(r->server_version_evidence, sizeof(r->server_version_evidence),
			  "it accepts direct TLS and selects ALPN \"postgresql\", which "
			  "PostgreSQL does from 17");
	} else if (r->direct_tls == CZPG_TRI_NO && r->ssl_answer == 'S' && r->tls_ok) {
		snprintf(r->server_version, sizeof(r->server_version), "before 17");
		czpg_errf(r->server_version_evidence, sizeof(r->server_version_evidence),
			  "it refuses direct TLS while it offers TLS after SSLRequest (PostgreSQL "
			  "accepts both from 17)%s",
			  r->server == CZPG_PROBE_SERVER_POSTGRESQL
			      ? ""
			      : ", unless a pooler answers for it");
	} else {
		czpg_errf(r->server_version_evidence, sizeof(r->server_version_evidence),
			  "the probe sends no password, so it never sees the "
			  "server_version parameter, and nothing else it saw tells");
	}
}

/* ---- findings ------------------------------------------------------------------ */

/* What to change, in the settings of whoever answers (PostgreSQL's or PgBouncer's). */
struct advice {
	const char *tls_off, *plaintext, *tls12, *old_tls, *ciphers;
	const char *renew, *rotate, *name, *no_plus;
};

static const struct advice postgresql_advice = {
    .tls_off = "turn ssl on",
    .plaintext = "use hostssl lines only in pg_hba.conf",
    .tls12 = "set ssl_min_protocol_version = 'TLSv1.3' once every client supports it",
    .old_tls = "raise ssl_min_protocol_version",
    .ciphers = "restrict ssl_ciphers to ECDHE with AES-GCM or ChaCha20-Poly1305",
    .renew = "renew it",
    .rotate = "rotate it",
    .name = "",
    .no_plus = "",
};

static const struct advice pgbouncer_advice = {
    .tls_off = "set client_tls_sslmode = require with client_tls_key_file and "
	       "client_tls_cert_file in pgbouncer.ini",
    .plaintext = "set client_tls_sslmode = require (or verify-full) in pgbouncer.ini",
    .tls12 = "set client_tls_protocols = tlsv1.3 in pgbouncer.ini once every client supports it",
    .old_tls = "set client_tls_protocols = secure (TLS 1.2 and 1.3) or tlsv1.3 in pgbouncer.ini",
    .ciphers = "restrict client_tls_ciphers in pgbouncer.ini to ECDHE with AES-GCM or "
	       "ChaCha20-Poly1305",
    .renew = "renew client_tls_cert_file (and client_tls_key_file) and reload PgBouncer",
    .rotate = "rotate client_tls_cert_file (and client_tls_key_file) and reload PgBouncer",
    .name = "; issue PgBouncer's client_tls_cert_file for this name",
    .no_plus = ": PgBouncer does not offer it to its clients, so a client that requires "
	       "channel binding cannot connect through the pooler",
};

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
	const struct advice *adv;
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
	identify_server(r);
	infer_version(r);
	adv = r->server == CZPG_PROBE_SERVER_PGBOUNCER ? &pgbouncer_advice : &postgresql_advice;

	if (r->server == CZPG_PROBE_SERVER_PGBOUNCER)
		add_finding(r, CZPG_SEV_INFO, "pgbouncer",
			    "PgBouncer answers on this port, not PostgreSQL (%s): the TLS reported "
			    "here is PgBouncer's client side, set by the client_tls_* settings in "
			    "pgbouncer.ini; probe the PostgreSQL server behind it on its own port",
			    r->server_evidence);
	if (r->ssl_answer == 'N')
		add_finding(
		    r, CZPG_SEV_HIGH, "tls-off",
		    "the server refuses TLS (it answered 'N' to SSLRequest): connections to "
		    "it can only be plaintext; %s",
		    adv->tls_off);
	if (r->plaintext_accepted == CZPG_TRI_YES)
		add_finding(r, CZPG_SEV_HIGH, "plaintext-accepted",
			    "a plaintext startup for user \"%s\" is accepted: the server asks for "
			    "%s instead of refusing it; %s",
			    r->user, czpg_probe_auth_name(r->plaintext_auth), adv->plaintext);

	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		const struct czpg_probe_version *v = &r->versions[i];

		if (v->accepted != CZPG_TRI_YES)
			continue;
		if (v->version == TLS1_2_VERSION)
			add_finding(r, CZPG_SEV_MEDIUM, "tls12-accepted", "TLS 1.2 is accepted; %s",
				    adv->tls12);
		else if (v->version == TLS1_1_VERSION || v->version == TLS1_VERSION)
			add_finding(
			    r, CZPG_SEV_HIGH,
			    v->version == TLS1_VERSION ? "tls10-accepted" : "tls11-accepted",
			    "%s is accepted (deprecated by RFC 8996); %s",
			    v->version == TLS1_VERSION ? "TLS 1.0" : "TLS 1.1", adv->old_tls);
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
				    "%s accepts weak cipher suites: %s; %s", v->name, weak,
				    adv->ciphers);
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
				    "the server certificate expired on %s; %s", leaf->not_after,
				    adv->renew);
		else if (leaf->days_left < 30)
			add_finding(r, CZPG_SEV_MEDIUM, "cert-expiring",
				    "the server certificate expires in %ld day(s), on %s; %s",
				    leaf->days_left, leaf->not_after, adv->rotate);
		if (r->host_match == CZPG_TRI_NO)
			add_finding(r, CZPG_SEV_HIGH, "name-mismatch",
				    "the certificate does not match %s as verify-full checks it "
				    "(SANs: %s): clients using verify-full will refuse it%s",
				    r->host, leaf->sans[0] != '\0' ? leaf->sans : "none",
				    adv->name);
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
			    "binding is impossible%s",
			    r->mechanisms[0] != '\0' ? r->mechanisms : "nothing", adv->no_plus);
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

const struct czpg_probe_finding *czpg_probe_finding(const struct czpg_probe_result *res,
						    const char *id)
{
	size_t i;

	for (i = 0; i < res->nfindings; i++)
		if (strcmp(res->findings[i].id, id) == 0)
			return &res->findings[i];
	return NULL;
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
