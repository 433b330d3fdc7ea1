/*
 * verify_report.c - what `czctl postgres tls verify` prints (see
 * czpg/verify.h): the PASS/FAIL line with the evidence behind it, both legs
 * of the session, the connect attempts, and the readiness report of a set
 * of roles, as text or as one JSON object (RFC 8259; schema in
 * docs/verify.md).  The verdict is the verb's (verify.c,
 * verify_readiness.c); this only shows it.
 */
#include "czpg/verify.h"

#include <stdio.h>
#include <string.h>

#include "czpg/json.h"
#include "czpg/report.h"

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

static const char *evidence_name(enum czpg_verify_evidence e)
{
	switch (e) {
	case CZPG_VERIFY_BY_BINDING:
		return "channel_binding";
	case CZPG_VERIFY_BY_ENDPOINTS:
		return "endpoints_and_pid";
	case CZPG_VERIFY_BY_INTERMEDIARY:
		return "intermediary_allowed";
	default:
		return NULL;
	}
}

static const char *path_name(enum czpg_verify_path p)
{
	switch (p) {
	case CZPG_VERIFY_PATH_DIRECT:
		return "direct";
	case CZPG_VERIFY_PATH_FORWARDER:
		return "tcp_forwarder";
	case CZPG_VERIFY_PATH_TERMINATED:
		return "terminated_in_between";
	default:
		return NULL;
	}
}

static const char *plaintext_name(enum czpg_verify_plaintext p)
{
	switch (p) {
	case CZPG_VERIFY_PLAIN_ACCEPTED:
		return "accepted";
	case CZPG_VERIFY_PLAIN_REFUSED:
		return "refused";
	case CZPG_VERIFY_PLAIN_UNKNOWN:
		return "unknown";
	default:
		return NULL;
	}
}

/* The failed connect attempts as "a: why; b: why" ("" when none failed). */
static void failed_attempts(const struct czpg_verify_result *res, char *out, size_t cap)
{
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < res->nattempts && used < cap; i++) {
		if (res->attempts[i].error[0] == '\0')
			continue;
		n = snprintf(out + used, cap - used, "%s%s: %s", used > 0 ? "; " : "",
			     res->attempts[i].address, res->attempts[i].error);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* The row's client endpoint as the server shows it. */
static void row_client(const struct czpg_verify_result *res, char *out, size_t cap)
{
	if (res->row_client_addr[0] == '\0')
		snprintf(out, cap, "none (a Unix socket)");
	else
		snprintf(out, cap, strchr(res->row_client_addr, ':') != NULL ? "[%s]:%d" : "%s:%d",
			 res->row_client_addr, res->row_client_port);
}

static void print_plaintext(FILE *out, const struct czpg_verify_result *res)
{
	switch (res->plaintext) {
	case CZPG_VERIFY_PLAIN_REFUSED:
		czpg_report_line(out, "PASS", "plaintext refused by %s: %s", res->plaintext_by,
				 res->plaintext_detail);
		break;
	case CZPG_VERIFY_PLAIN_ACCEPTED:
		czpg_report_line(out, "FAIL", "plaintext not refused: %s", res->plaintext_detail);
		break;
	case CZPG_VERIFY_PLAIN_UNKNOWN:
		czpg_report_line(out, "FAIL", "plaintext refusal not shown: %s",
				 res->plaintext_detail);
		break;
	default:
		break;
	}
}

void czpg_verify_print(FILE *out, const struct czpg_verify_options *opt,
		       const struct czpg_verify_result *res)
{
	char v[40], seen[80], tried[1200];

	if (res->pass && res->evidence == CZPG_VERIFY_BY_INTERMEDIARY)
		fprintf(out, "[PASS] TLS on both legs of a pooler or proxy (not end to end; "
			     "--allow-intermediary)\n");
	else if (res->pass)
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
	if (res->proof[0] != '\0')
		fprintf(out, "proof: %s\n", res->proof);
	if (res->server_row) {
		row_client(res, seen, sizeof(seen));
		fprintf(out,
			"client leg: this socket %s -> %s, BackendKeyData pid %u (what answered "
			"announced)\n",
			res->local_addr[0] != '\0' ? res->local_addr : "?",
			res->connected_to[0] != '\0' ? res->connected_to : "?", res->backend_pid);
		fprintf(out,
			"server leg: pg_backend_pid() %u, its client %s (pg_stat_activity), "
			"ssl=%s %s / %s, %d bits\n",
			res->row_pid, seen, res->server_ssl ? "true" : "false",
			res->server_version[0] != '\0' ? res->server_version : "-",
			res->server_cipher[0] != '\0' ? res->server_cipher : "-", res->server_bits);
	}
	failed_attempts(res, tried, sizeof(tried));
	if (res->connected_to[0] != '\0')
		fprintf(out, "connected to: %s (%s)%s%s\n", res->connected_to, res->connected_host,
			tried[0] != '\0' ? " after " : "", tried);
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
			res->server_version_str, res->server_row ? res->row_pid : res->backend_pid,
			opt->client == CZPG_VERIFY_LIBPQ ? "libpq" : "native");
	else
		fprintf(out, "server version: not known (the session ended before the server sent "
			     "server_version)\n");
	if (res->warning[0] != '\0')
		czpg_report_line(out, "WARN", "%s", res->warning);
	print_plaintext(out, res);
	if (!res->pass && res->hint[0] != '\0')
		fprintf(out, "hint: %s\n", res->hint);
	fflush(out);
}

/* The fields of one proof, into an object the caller has opened. */
/* "sslnegotiation", "alpn", "negotiation_note", "server_version". */
static void json_negotiation(struct czpg_json *j, const struct czpg_verify_result *res)
{
	czpg_json_kv_string(j, "sslnegotiation", res->sslnegotiation);
	czpg_json_kv_string(j, "alpn", res->alpn[0] != '\0' ? res->alpn : NULL);
	czpg_json_kv_string(j, "negotiation_note",
			    res->negotiation_note[0] != '\0' ? res->negotiation_note : NULL);
	czpg_json_kv_string(j, "server_version",
			    res->server_version_str[0] != '\0' ? res->server_version_str : NULL);
}

static void json_result_fields(struct czpg_json *j, const struct czpg_verify_options *opt,
			       const struct czpg_verify_result *res)
{
	size_t i;

	czpg_json_kv_string(j, "result", res->pass ? "PASS" : "FAIL");
	czpg_json_kv_string(j, "failure", res->pass ? NULL : res->failure);
	czpg_json_kv_string(j, "hint", res->pass || res->hint[0] == '\0' ? NULL : res->hint);
	czpg_json_kv_string(j, "evidence", evidence_name(res->evidence));
	czpg_json_kv_string(j, "proof", res->proof[0] != '\0' ? res->proof : NULL);
	czpg_json_kv_string(j, "path", path_name(res->path));
	czpg_json_kv_string(j, "warning", res->warning[0] != '\0' ? res->warning : NULL);
	czpg_json_kv_string(j, "client", opt->client == CZPG_VERIFY_LIBPQ ? "libpq" : "native");
	json_negotiation(j, res);
	czpg_json_key(j, "connect");
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "host", res->connected_host[0] != '\0' ? res->connected_host : NULL);
	czpg_json_kv_string(j, "address", res->connected_to[0] != '\0' ? res->connected_to : NULL);
	czpg_json_key(j, "attempts");
	czpg_json_array_begin(j);
	for (i = 0; i < res->nattempts; i++) {
		czpg_json_object_begin(j);
		czpg_json_kv_string(j, "address", res->attempts[i].address);
		czpg_json_kv_string(
		    j, "error", res->attempts[i].error[0] != '\0' ? res->attempts[i].error : NULL);
		czpg_json_object_end(j);
	}
	czpg_json_array_end(j);
	czpg_json_kv_uint(j, "attempts_not_shown", res->nattempts_lost);
	czpg_json_object_end(j);
	czpg_json_key(j, "client_negotiated");
	if (res->tls_done) {
		czpg_json_object_begin(j);
		czpg_json_kv_string(j, "version", res->client_version);
		czpg_json_kv_string(j, "cipher", res->client_cipher);
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	czpg_json_key(j, "pg_stat_ssl");
	if (res->server_row) {
		czpg_json_object_begin(j);
		czpg_json_kv_bool(j, "ssl", res->server_ssl);
		czpg_json_kv_string(j, "version", res->server_version);
		czpg_json_kv_string(j, "cipher", res->server_cipher);
		czpg_json_kv_int(j, "bits", res->server_bits);
		czpg_json_kv_uint(j, "pid", res->row_pid);
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	/* Both legs: what this client holds, and what the server says it serves. */
	czpg_json_key(j, "client_leg");
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "local", res->local_addr[0] != '\0' ? res->local_addr : NULL);
	czpg_json_kv_string(j, "peer", res->connected_to[0] != '\0' ? res->connected_to : NULL);
	czpg_json_kv_string(j, "version", res->tls_done ? res->client_version : NULL);
	czpg_json_kv_string(j, "cipher", res->tls_done ? res->client_cipher : NULL);
	czpg_json_kv_uint(j, "backend_key_pid", res->backend_pid);
	czpg_json_object_end(j);
	czpg_json_key(j, "server_leg");
	if (res->server_row) {
		czpg_json_object_begin(j);
		czpg_json_kv_uint(j, "pid", res->row_pid);
		czpg_json_kv_string(j, "client_addr",
				    res->row_client_addr[0] != '\0' ? res->row_client_addr : NULL);
		czpg_json_key(j, "client_port");
		if (res->row_client_port >= 0)
			czpg_json_int(j, res->row_client_port);
		else
			czpg_json_null(j);
		czpg_json_kv_bool(j, "ssl", res->server_ssl);
		czpg_json_kv_string(j, "version", res->server_version);
		czpg_json_kv_string(j, "cipher", res->server_cipher);
		czpg_json_kv_int(j, "bits", res->server_bits);
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	czpg_json_kv_bool(j, "pid_match", res->pid_match);
	czpg_json_kv_bool(j, "endpoint_match", res->endpoint_match);
	czpg_json_kv_string(j, "auth_method", res->auth_method);
	czpg_json_kv_string(j, "sasl_offered", res->offered);
	czpg_json_kv_bool(j, "channel_binding_offered", res->plus_offered);
	czpg_json_kv_bool(j, "authenticated", res->authenticated);
	czpg_json_kv_bool(j, "channel_binding_used",
			  res->authenticated &&
			      strcmp(res->auth_method, "SCRAM-SHA-256-PLUS") == 0);
	czpg_json_key(j, "certificate");
	if (res->cert_known) {
		czpg_json_object_begin(j);
		czpg_json_kv_string(j, "subject", res->cert.subject);
		czpg_json_kv_string(j, "issuer", res->cert.issuer);
		czpg_json_kv_string(j, "sans", res->cert.sans);
		czpg_json_kv_string(j, "key", res->cert.key);
		czpg_json_kv_string(j, "signature", res->cert.sig_alg);
		czpg_json_kv_bool(j, "channel_bindable", res->cert_bindable);
		czpg_json_kv_string(j, "not_after", res->cert.not_after);
		czpg_json_kv_int(j, "days_left", res->cert.days_left);
		czpg_json_kv_string(j, "serial", res->cert.serial);
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	czpg_json_key(j, "plaintext");
	if (res->plaintext_checked) {
		czpg_json_object_begin(j);
		czpg_json_kv_string(j, "verdict", plaintext_name(res->plaintext));
		czpg_json_kv_bool(j, "refused", res->plaintext_refused);
		czpg_json_kv_string(j, "refused_by",
				    res->plaintext_by[0] != '\0' ? res->plaintext_by : NULL);
		czpg_json_kv_string(j, "detail", res->plaintext_detail);
		czpg_json_object_end(j);
	} else {
		czpg_json_null(j);
	}
	czpg_json_kv_double(j, "elapsed_ms", res->elapsed_ms);
}

void czpg_verify_print_json(FILE *out, const struct czpg_verify_options *opt,
			    const struct czpg_verify_result *res)
{
	struct czpg_json j;

	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	json_result_fields(&j, opt, res);
	czpg_json_kv_string(&j, "host", opt->host);
	czpg_json_kv_uint(&j, "port", opt->port);
	czpg_json_kv_string(&j, "user", opt->user);
	czpg_json_kv_bool(&j, "allow_intermediary", opt->allow_intermediary);
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}

void czpg_verify_readiness_print(FILE *out, const struct czpg_verify_options *opt,
				 const struct czpg_verify_readiness *r)
{
	char list[1024];
	size_t i, used = 0;

	fprintf(out,
		"channel-binding readiness at %s port %u (the proof with --channel-binding "
		"require, one role at a time):\n",
		opt->host, opt->port);
	list[0] = '\0';
	for (i = 0; i < r->n; i++) {
		const struct czpg_verify_role *role = &r->roles[i];

		czpg_report_line(out, role->ready ? "PASS" : "FAIL", "role %s: %s", role->user,
				 role->reason);
		if (!role->ready && used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 used > 0 ? ", " : "", role->user);
	}
	if (r->nready == r->n)
		czpg_report_line(out, "PASS",
				 "%zu of %zu role(s) ready for channel_binding=require", r->nready,
				 r->n);
	else
		czpg_report_line(
		    out, "FAIL",
		    "%zu of %zu role(s) ready for channel_binding=require; not ready: %s",
		    r->nready, r->n, list);
	fflush(out);
}

void czpg_verify_readiness_print_json(FILE *out, const struct czpg_verify_options *opt,
				      const struct czpg_verify_readiness *r)
{
	struct czpg_json j;
	size_t i;

	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "mode", "readiness");
	czpg_json_kv_string(&j, "result", r->n > 0 && r->nready == r->n ? "PASS" : "FAIL");
	czpg_json_kv_string(&j, "host", opt->host);
	czpg_json_kv_uint(&j, "port", opt->port);
	czpg_json_kv_uint(&j, "ready", r->nready);
	czpg_json_kv_uint(&j, "total", r->n);
	czpg_json_key(&j, "roles");
	czpg_json_array_begin(&j);
	for (i = 0; i < r->n; i++) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "user", r->roles[i].user);
		czpg_json_kv_bool(&j, "ready", r->roles[i].ready);
		czpg_json_kv_string(&j, "reason", r->roles[i].reason);
		czpg_json_key(&j, "proof");
		czpg_json_object_begin(&j);
		json_result_fields(&j, opt, &r->roles[i].res);
		czpg_json_object_end(&j);
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}
