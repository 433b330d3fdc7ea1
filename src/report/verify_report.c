/*
 * verify_report.c - what `czctl postgres tls verify` prints (see
 * czpg/verify.h): the PASS/FAIL line with the evidence behind it, as text or
 * as one JSON object (RFC 8259; schema in docs/verify.md).  The verdict is
 * the verb's (verify.c); this only shows it.
 */
#include "czpg/verify.h"

#include <stdio.h>
#include <string.h>

#include "czpg/json.h"

static void fmt_tls_version(const char *v, char *out, size_t cap)
{
	/* OpenSSL's "TLSv1.3" reads as "TLS 1.3" in the report. */
	if (v != NULL && strncmp(v, "TLSv", 4) == 0)
		snprintf(out, cap, "TLS %s", v + 4);
	else
		snprintf(out, cap, "%s", v != NULL ? v : "?");
}

/* How TLS was started (--sslnegotiation), and what the server selected for ALPN. */
static void print_negotiation(FILE *out, const struct czpg_verify_result *res)
{
	if (strcmp(res->sslnegotiation, "direct") == 0 && res->tls_done)
		fprintf(out,
			"negotiation: direct (TLS at once, no SSLRequest; ALPN %s%s%s selected)\n",
			res->alpn[0] != '\0' ? "\"" : "", res->alpn[0] != '\0' ? res->alpn : "none",
			res->alpn[0] != '\0' ? "\"" : "");
	else if (strcmp(res->sslnegotiation, "direct") == 0)
		fprintf(out, "negotiation: direct (TLS at once, no SSLRequest)\n");
	else if (res->sslnegotiation[0] != '\0')
		fprintf(out, "negotiation: postgres (SSLRequest, then TLS)\n");
	if (res->negotiation_note[0] != '\0')
		fprintf(out, "note: %s\n", res->negotiation_note);
}

void czpg_verify_print(FILE *out, const struct czpg_verify_options *opt,
		       const struct czpg_verify_result *res)
{
	char v[40];

	if (res->pass)
		fprintf(out, "[PASS] TLS proven\n");
	else
		fprintf(out, "[FAIL] %s\n", res->failure);
	if (res->tls_done) {
		fmt_tls_version(res->client_version, v, sizeof(v));
		fprintf(out, "client negotiated: %s / %s\n", v, res->client_cipher);
	}
	print_negotiation(out, res);
	if (res->server_row)
		fprintf(out, "pg_stat_ssl: ssl=%s version=%s cipher=%s\n",
			res->server_ssl ? "true" : "false",
			res->server_version[0] != '\0' ? res->server_version : "-",
			res->server_cipher[0] != '\0' ? res->server_cipher : "-");
	if (res->auth_method[0] != '\0')
		fprintf(out, "authentication%s: %s%s%s%s%s\n",
			res->authenticated ? "" : " (attempted, not completed)", res->auth_method,
			res->authenticated && strcmp(res->auth_method, "SCRAM-SHA-256-PLUS") == 0
			    ? " (channel binding in use)"
			    : "",
			res->offered[0] != '\0' ? "; server offered " : "", res->offered,
			res->offered[0] != '\0' && !res->plus_offered ? " (no channel binding)"
								      : "");
	if (res->cert_known)
		fprintf(out,
			"server certificate: %s; SANs: %s; key: %s; signed with %s; expires %s "
			"(%ld days)\n",
			res->cert.subject, res->cert.sans[0] != '\0' ? res->cert.sans : "none",
			res->cert.key, res->cert.sig_alg, res->cert.not_after, res->cert.days_left);
	if (res->server_version_str[0] != '\0')
		fprintf(out, "server: PostgreSQL %s, backend pid %u, via %s client\n",
			res->server_version_str, res->backend_pid,
			opt->client == CZPG_VERIFY_LIBPQ ? "libpq" : "native");
	else
		fprintf(out, "server version: not known (the session ended before the server sent "
			     "server_version)\n");
	if (res->plaintext_checked)
		fprintf(out, "[%s] plaintext %s: %s\n", res->plaintext_refused ? "PASS" : "FAIL",
			res->plaintext_refused ? "refused" : "not refused", res->plaintext_detail);
	if (!res->pass && res->hint[0] != '\0')
		fprintf(out, "hint: %s\n", res->hint);
	fflush(out);
}

void czpg_verify_print_json(FILE *out, const struct czpg_verify_options *opt,
			    const struct czpg_verify_result *res)
{
	struct czpg_json j;

	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "result", res->pass ? "PASS" : "FAIL");
	czpg_json_kv_string(&j, "failure", res->pass ? NULL : res->failure);
	czpg_json_kv_string(&j, "hint", res->pass || res->hint[0] == '\0' ? NULL : res->hint);
	czpg_json_kv_string(&j, "host", opt->host);
	czpg_json_kv_uint(&j, "port", opt->port);
	czpg_json_kv_string(&j, "user", opt->user);
	czpg_json_kv_string(&j, "client", opt->client == CZPG_VERIFY_LIBPQ ? "libpq" : "native");
	czpg_json_kv_string(&j, "sslnegotiation", res->sslnegotiation);
	czpg_json_kv_string(&j, "alpn", res->alpn[0] != '\0' ? res->alpn : NULL);
	czpg_json_kv_string(&j, "negotiation_note",
			    res->negotiation_note[0] != '\0' ? res->negotiation_note : NULL);
	czpg_json_kv_string(&j, "server_version",
			    res->server_version_str[0] != '\0' ? res->server_version_str : NULL);
	czpg_json_key(&j, "client_negotiated");
	if (res->tls_done) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "version", res->client_version);
		czpg_json_kv_string(&j, "cipher", res->client_cipher);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}
	czpg_json_key(&j, "pg_stat_ssl");
	if (res->server_row) {
		czpg_json_object_begin(&j);
		czpg_json_kv_bool(&j, "ssl", res->server_ssl);
		czpg_json_kv_string(&j, "version", res->server_version);
		czpg_json_kv_string(&j, "cipher", res->server_cipher);
		czpg_json_kv_int(&j, "bits", res->server_bits);
		czpg_json_kv_uint(&j, "pid", res->backend_pid);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}
	czpg_json_kv_string(&j, "auth_method", res->auth_method);
	czpg_json_kv_string(&j, "sasl_offered", res->offered);
	czpg_json_kv_bool(&j, "channel_binding_offered", res->plus_offered);
	czpg_json_kv_bool(&j, "authenticated", res->authenticated);
	czpg_json_kv_bool(&j, "channel_binding_used",
			  res->authenticated &&
			      strcmp(res->auth_method, "SCRAM-SHA-256-PLUS") == 0);
	czpg_json_key(&j, "certificate");
	if (res->cert_known) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "subject", res->cert.subject);
		czpg_json_kv_string(&j, "issuer", res->cert.issuer);
		czpg_json_kv_string(&j, "sans", res->cert.sans);
		czpg_json_kv_string(&j, "key", res->cert.key);
		czpg_json_kv_string(&j, "signature", res->cert.sig_alg);
		czpg_json_kv_string(&j, "not_after", res->cert.not_after);
		czpg_json_kv_int(&j, "days_left", res->cert.days_left);
		czpg_json_kv_string(&j, "serial", res->cert.serial);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}
	czpg_json_key(&j, "plaintext");
	if (res->plaintext_checked) {
		czpg_json_object_begin(&j);
		czpg_json_kv_bool(&j, "refused", res->plaintext_refused);
		czpg_json_kv_string(&j, "detail", res->plaintext_detail);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}
	czpg_json_kv_double(&j, "elapsed_ms", res->elapsed_ms);
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}
