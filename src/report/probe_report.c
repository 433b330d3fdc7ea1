/*
 * probe_report.c - what `czctl postgres tls probe` prints (see
 * czpg/probe_report.h): one target as text or as one JSON line (RFC 8259;
 * schema in docs/probe.md), the fleet summary, the progress line.
 */
#include "czpg/probe_report.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "czpg/json.h"
#include "czpg/pgwire.h"
#include "czpg/report.h"

/* ---- names ----------------------------------------------------------------- */

const char *czpg_probe_severity_name(enum czpg_probe_severity s)
{
	switch (s) {
	case CZPG_SEV_INFO:
		return "info";
	case CZPG_SEV_LOW:
		return "low";
	case CZPG_SEV_MEDIUM:
		return "medium";
	case CZPG_SEV_HIGH:
		return "high";
	}
	return "unknown";
}

const char *czpg_probe_status_name(enum czpg_probe_status s)
{
	switch (s) {
	case CZPG_PROBE_PROBED:
		return "probed";
	case CZPG_PROBE_CLOSED:
		return "closed";
	case CZPG_PROBE_UNREACHABLE:
		return "unreachable";
	case CZPG_PROBE_NO_ANSWER:
		return "no-answer";
	case CZPG_PROBE_NOT_POSTGRESQL:
		return "not-postgresql";
	case CZPG_PROBE_ERROR:
		return "error";
	}
	return "unknown";
}

const char *czpg_probe_server_name(enum czpg_probe_server s)
{
	switch (s) {
	case CZPG_PROBE_SERVER_POSTGRESQL:
		return "PostgreSQL";
	case CZPG_PROBE_SERVER_PGBOUNCER:
		return "PgBouncer";
	case CZPG_PROBE_SERVER_UNKNOWN:
		break;
	}
	return "not identified";
}

const char *czpg_probe_tri_name(enum czpg_probe_tri t)
{
	return t == CZPG_TRI_YES ? "yes" : t == CZPG_TRI_NO ? "no" : "unknown";
}

const char *czpg_probe_auth_name(int code)
{
	switch (code) {
	case CZPG_PGWIRE_AUTH_OK:
		return "no password (trust)";
	case CZPG_PGWIRE_AUTH_CLEARTEXT:
		return "a cleartext password";
	case CZPG_PGWIRE_AUTH_MD5:
		return "an MD5 password";
	case CZPG_PGWIRE_AUTH_SASL:
		return "SASL (SCRAM)";
	case CZPG_PGWIRE_AUTH_GSS:
		return "GSSAPI";
	case 9:
		return "SSPI";
	default:
		return "an authentication exchange";
	}
}

void czpg_probe_list_add(char *buf, size_t cap, const char *item)
{
	size_t used = strlen(buf);

	snprintf(buf + used, cap - used, "%s%s", used > 0 ? ", " : "", item);
}

/* ---- one target ------------------------------------------------------------ */

static const char *answer_text(char a)
{
	switch (a) {
	case 'S':
		return "S (TLS offered)";
	case 'N':
		return "N (TLS refused: ssl is off)";
	case 'E':
		return "E (an error instead of an answer)";
	case 0:
		return "none";
	default:
		return "unexpected byte (not PostgreSQL)";
	}
}

/* The server's order among the accepted suites, as a numbered list. */
static void print_order(FILE *out, const struct czpg_probe_version *v)
{
	size_t i;

	if (v->server_order == CZPG_TRI_NO)
		fprintf(out, "           order: client order (%s)\n", v->order_detail);
	else if (v->server_order == CZPG_TRI_YES)
		fprintf(out, "           order: the server's preference%s%s%s\n",
			v->preference_complete ? "" : " (incomplete: ",
			v->preference_complete ? "" : v->order_detail,
			v->preference_complete ? "" : ")");
	else
		fprintf(out, "           order: not determined%s%s%s\n",
			v->order_detail[0] != '\0' ? " (" : "", v->order_detail,
			v->order_detail[0] != '\0' ? ")" : "");
	for (i = 0; v->server_order == CZPG_TRI_YES && i < v->npreference; i++)
		fprintf(out, "             %2zu. %s\n", i + 1, v->preference[i]);
}

static void print_version(FILE *out, const struct czpg_probe_version *v)
{
	size_t i;
	char acc[1200], ref[1400];

	if (v->accepted == CZPG_TRI_YES)
		fprintf(out, "  %-8s accepted", v->name);
	else if (v->accepted == CZPG_TRI_NO)
		fprintf(out, "  %-8s refused", v->name);
	else
		fprintf(out, "  %-8s unknown%s%s%s", v->name, v->detail[0] != '\0' ? " (" : "",
			v->detail, v->detail[0] != '\0' ? ")" : "");
	if (v->accepted == CZPG_TRI_YES && v->cipher[0] != '\0' && v->nsuites == 0)
		fprintf(out, " (%s)", v->cipher);
	fputc('\n', out);
	if (v->nsuites == 0)
		return;
	acc[0] = ref[0] = '\0';
	for (i = 0; i < v->nsuites; i++) {
		if (v->suites[i].accepted == CZPG_TRI_YES)
			czpg_probe_list_add(acc, sizeof(acc), v->suites[i].name);
		else if (v->suites[i].accepted == CZPG_TRI_UNKNOWN)
			czpg_probe_list_add(ref, sizeof(ref), v->suites[i].name);
	}
	fprintf(out, "           suites accepted: %s\n", acc[0] != '\0' ? acc : "none");
	if (ref[0] != '\0')
		fprintf(out, "           suites not determined: %s\n", ref);
	print_order(out, v);
}

void czpg_probe_print(FILE *out, const struct czpg_probe_result *res)
{
	size_t i;
	char acc[400], ref[400];

	fprintf(out, "probe %s (user %s%s): %s in %.0f ms, %u connection(s)\n", res->target,
		res->user, res->quick ? ", quick" : "", czpg_probe_status_name(res->status),
		res->elapsed_ms, res->connections);
	if (res->connected_to[0] != '\0')
		fprintf(out, "connected to: %s (%s)%s%s\n", res->connected_to, res->connected_host,
			res->connect_failures[0] != '\0' ? " after " : "", res->connect_failures);
	if (res->status != CZPG_PROBE_PROBED) {
		fprintf(out, "  could not probe: %s\n",
			res->status_detail[0] != '\0' ? res->status_detail : "no detail");
		return;
	}
	fprintf(out, "Server: %s (%s)\n", czpg_probe_server_name(res->server),
		res->server_evidence);
	fprintf(out, "Server version: %s (%s)\n",
		res->server_version[0] != '\0' ? res->server_version : "not known",
		res->server_version_evidence);
	fprintf(out, "SSLRequest answer: %s\n", answer_text(res->ssl_answer));
	if (res->tls_ok)
		fprintf(out, "Default negotiation: %s / %s / %s\n", res->tls_version,
			res->tls_cipher, res->tls_group[0] != '\0' ? res->tls_group : "-");
	else if (res->ssl_answer == 'S')
		fprintf(out, "Default negotiation: failed (%s)\n", res->tls_error);
	if (res->ssl_answer == 'S') {
		fprintf(out, "Protocol versions:\n");
		for (i = 0; i < CZPG_PROBE_NVERSIONS; i++)
			print_version(out, &res->versions[i]);
		if (res->groups_over != NULL) {
			acc[0] = ref[0] = '\0';
			for (i = 0; i < res->ngroups; i++)
				czpg_probe_list_add(res->groups[i].accepted == CZPG_TRI_YES ? acc
											    : ref,
						    sizeof(acc), res->groups[i].name);
			fprintf(out,
				"Key exchange groups (over %s): accepted %s; not accepted %s\n",
				res->groups_over, acc[0] != '\0' ? acc : "none",
				ref[0] != '\0' ? ref : "none");
		} else {
			fprintf(out, "Key exchange groups: not checked\n");
		}
		fprintf(out, "Session resumption: %s\n", res->resumption);
	}
	if (res->nchain > 0) {
		fprintf(out, "Certificate chain (%zu sent):\n", res->chain_sent);
		for (i = 0; i < res->nchain; i++) {
			const struct czpg_cert_info *c = &res->chain[i];

			fprintf(out, "  [%zu] subject: %s\n", i, c->subject);
			fprintf(out, "      issuer:  %s\n", c->issuer);
			fprintf(out, "      SANs:    %s\n", c->sans[0] != '\0' ? c->sans : "none");
			fprintf(out, "      key %s, signature %s\n", c->key, c->sig_alg);
			fprintf(out, "      valid %s to %s (%ld day(s) left)\n", c->not_before,
				c->not_after, c->days_left);
		}
		fprintf(out, "  matches host %s (verify-full rule): %s\n", res->host,
			czpg_probe_tri_name(res->host_match));
		if (res->ca_given)
			fprintf(out, "  verifies against the CA: %s (%s)\n",
				czpg_probe_tri_name(res->ca_verified), res->ca_detail);
		else
			fprintf(out, "  verifies against a CA: not checked (no --ca)\n");
	}
	fprintf(out, "Plaintext startup (user %s): %s%s%s%s\n", res->user,
		res->plaintext_accepted == CZPG_TRI_YES  ? "ACCEPTED"
		: res->plaintext_accepted == CZPG_TRI_NO ? "refused"
							 : "unknown",
		res->plaintext_sqlstate[0] != '\0' ? " (SQLSTATE " : "", res->plaintext_sqlstate,
		res->plaintext_sqlstate[0] != '\0' ? ")" : "");
	if (res->plaintext_detail[0] != '\0')
		fprintf(out, "  %s\n", res->plaintext_detail);
	if (res->tls_auth == CZPG_PGWIRE_AUTH_SASL)
		fprintf(out, "SASL over TLS: %s (channel binding %s)\n", res->mechanisms,
			res->channel_binding == CZPG_TRI_YES ? "available" : "NOT available");
	else if (res->tls_auth >= 0)
		fprintf(out, "Authentication over TLS: %s\n", czpg_probe_auth_name(res->tls_auth));
	else if (res->ssl_answer == 'S')
		fprintf(out, "Authentication over TLS: unknown%s%s%s\n",
			res->auth_detail[0] != '\0' ? " (" : "", res->auth_detail,
			res->auth_detail[0] != '\0' ? ")" : "");
	if (!res->quick) {
		fprintf(out, "Direct TLS (ALPN postgresql): %s%s%s%s\n",
			czpg_probe_tri_name(res->direct_tls),
			res->direct_detail[0] != '\0' ? " (" : "", res->direct_detail,
			res->direct_detail[0] != '\0' ? ")" : "");
		fprintf(out, "GSSENCRequest answer: %c%s%s%s\n",
			res->gssenc_answer >= 0x21 && res->gssenc_answer < 0x7f ? res->gssenc_answer
										: '-',
			res->gssenc_detail[0] != '\0' ? " (" : "", res->gssenc_detail,
			res->gssenc_detail[0] != '\0' ? ")" : "");
	}
	fprintf(out, "Findings (worst: %s):\n", czpg_probe_severity_name(res->worst));
	if (res->nfindings == 0)
		fprintf(out, "  none\n");
	for (i = 0; i < res->nfindings; i++) {
		char tag[16];
		size_t j;

		snprintf(tag, sizeof(tag), "%s",
			 czpg_probe_severity_name(res->findings[i].severity));
		for (j = 0; tag[j] != '\0'; j++)
			tag[j] = (char)(tag[j] >= 'a' && tag[j] <= 'z' ? tag[j] - 32 : tag[j]);
		fprintf(out, "  [%s] %s: %s\n", tag, res->findings[i].id, res->findings[i].text);
	}
}

static void json_tri(struct czpg_json *j, const char *key, enum czpg_probe_tri t)
{
	czpg_json_key(j, key);
	if (t == CZPG_TRI_UNKNOWN)
		czpg_json_null(j);
	else
		czpg_json_bool(j, t == CZPG_TRI_YES);
}

static void json_char(struct czpg_json *j, const char *key, char c)
{
	char s[2] = {c, '\0'};

	if (c == 0)
		czpg_json_kv_string(j, key, NULL);
	else
		czpg_json_kv_string(j, key, s);
}

static void json_str_or_null(struct czpg_json *j, const char *key, const char *s)
{
	czpg_json_kv_string(j, key, s != NULL && s[0] != '\0' ? s : NULL);
}

/* "order", "preference", "preference_complete", "server_order", "order_detail". */
static void json_order(struct czpg_json *j, const struct czpg_probe_version *v)
{
	size_t k;

	czpg_json_kv_string(j, "order",
			    v->server_order == CZPG_TRI_YES  ? "server"
			    : v->server_order == CZPG_TRI_NO ? "client"
							     : NULL);
	czpg_json_key(j, "preference");
	if (v->server_order != CZPG_TRI_YES) {
		czpg_json_null(j);
	} else {
		czpg_json_array_begin(j);
		for (k = 0; k < v->npreference; k++)
			czpg_json_string(j, v->preference[k]);
		czpg_json_array_end(j);
	}
	czpg_json_kv_bool(j, "preference_complete", v->preference_complete);
	json_tri(j, "server_order", v->server_order);
	json_str_or_null(j, "order_detail", v->order_detail);
}

static void json_refusal(struct czpg_json *j, const char *key, const struct czpg_probe_refusal *f)
{
	czpg_json_key(j, key);
	if (f->sqlstate[0] == '\0') {
		czpg_json_null(j);
		return;
	}
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "sqlstate", f->sqlstate);
	czpg_json_kv_string(j, "message", f->message);
	czpg_json_kv_string(j, "fields", f->fields);
	czpg_json_object_end(j);
}

/* "server", "server_version" and the startup refusals they rest on. */
/* The connect path: {"host", "address", "attempts": [{"address", "error"}], ...}. */
static void json_connect(struct czpg_json *j, const struct czpg_probe_result *res)
{
	size_t i;

	czpg_json_key(j, "connect");
	czpg_json_object_begin(j);
	json_str_or_null(j, "host", res->connected_host);
	json_str_or_null(j, "address", res->connected_to);
	czpg_json_key(j, "attempts");
	czpg_json_array_begin(j);
	for (i = 0; i < res->nattempts; i++) {
		czpg_json_object_begin(j);
		czpg_json_kv_string(j, "address", res->attempts[i].addr);
		json_str_or_null(j, "error", res->attempts[i].error);
		czpg_json_object_end(j);
	}
	czpg_json_array_end(j);
	czpg_json_kv_uint(j, "attempts_not_shown", res->nattempts_lost);
	czpg_json_object_end(j);
}

static void json_identity(struct czpg_json *j, const struct czpg_probe_result *res)
{
	czpg_json_key(j, "server");
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "kind",
			    res->server == CZPG_PROBE_SERVER_PGBOUNCER    ? "pgbouncer"
			    : res->server == CZPG_PROBE_SERVER_POSTGRESQL ? "postgresql"
									  : NULL);
	json_str_or_null(j, "evidence", res->server_evidence);
	czpg_json_object_end(j);
	czpg_json_key(j, "server_version");
	czpg_json_object_begin(j);
	json_str_or_null(j, "version", res->server_version);
	json_str_or_null(j, "evidence", res->server_version_evidence);
	czpg_json_object_end(j);
	czpg_json_key(j, "refusals");
	czpg_json_object_begin(j);
	json_refusal(j, "plaintext", &res->plaintext_refusal);
	json_refusal(j, "tls", &res->tls_refusal);
	json_refusal(j, "admin_db", &res->admin_refusal);
	czpg_json_object_end(j);
	json_tri(j, "admin_db_auth", res->admin_auth);
}

void czpg_probe_print_json(FILE *out, const struct czpg_probe_result *res, enum czpg_result outcome)
{
	struct czpg_json j;
	size_t i, k;

	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "target", res->target);
	czpg_json_kv_string(&j, "host", res->host);
	czpg_json_kv_uint(&j, "port", res->port);
	czpg_json_kv_string(&j, "user", res->user);
	czpg_json_kv_bool(&j, "quick", res->quick);
	czpg_json_kv_string(&j, "status", czpg_probe_status_name(res->status));
	json_str_or_null(&j, "status_detail", res->status_detail);
	czpg_json_kv_double(&j, "elapsed_ms", res->elapsed_ms);
	czpg_json_kv_uint(&j, "connections", res->connections);
	czpg_json_kv_bool(&j, "deadline_hit", res->deadline_hit);
	json_connect(&j, res);
	json_char(&j, "ssl_answer",
		  res->ssl_answer >= 0x20 && res->ssl_answer < 0x7f ? res->ssl_answer
		  : res->ssl_answer != 0                            ? '?'
								    : 0);

	czpg_json_key(&j, "negotiated");
	if (res->tls_ok) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "version", res->tls_version);
		czpg_json_kv_string(&j, "cipher", res->tls_cipher);
		json_str_or_null(&j, "group", res->tls_group);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}
	json_str_or_null(&j, "tls_error", res->tls_error);

	czpg_json_key(&j, "versions");
	czpg_json_array_begin(&j);
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		const struct czpg_probe_version *v = &res->versions[i];

		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "version", v->name);
		json_tri(&j, "accepted", v->accepted);
		json_str_or_null(&j, "cipher", v->cipher);
		json_str_or_null(&j, "detail", v->detail);
		czpg_json_key(&j, "suites");
		if (v->nsuites == 0) {
			czpg_json_null(&j);
		} else {
			czpg_json_array_begin(&j);
			for (k = 0; k < v->nsuites; k++) {
				czpg_json_object_begin(&j);
				czpg_json_kv_string(&j, "name", v->suites[k].name);
				json_tri(&j, "accepted", v->suites[k].accepted);
				czpg_json_kv_bool(&j, "weak", v->suites[k].weak);
				czpg_json_object_end(&j);
			}
			czpg_json_array_end(&j);
		}
		json_order(&j, v);
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);

	czpg_json_key(&j, "groups");
	if (res->groups_over == NULL) {
		czpg_json_null(&j);
	} else {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "over", res->groups_over);
		czpg_json_key(&j, "tried");
		czpg_json_array_begin(&j);
		for (i = 0; i < res->ngroups; i++) {
			czpg_json_object_begin(&j);
			czpg_json_kv_string(&j, "name", res->groups[i].name);
			json_tri(&j, "accepted", res->groups[i].accepted);
			czpg_json_object_end(&j);
		}
		czpg_json_array_end(&j);
		czpg_json_object_end(&j);
	}
	czpg_json_kv_string(&j, "session_resumption", res->resumption);

	czpg_json_key(&j, "certificate");
	if (res->nchain == 0) {
		czpg_json_null(&j);
	} else {
		czpg_json_object_begin(&j);
		czpg_json_kv_uint(&j, "chain_sent", res->chain_sent);
		czpg_json_key(&j, "chain");
		czpg_json_array_begin(&j);
		for (i = 0; i < res->nchain; i++) {
			const struct czpg_cert_info *c = &res->chain[i];

			czpg_json_object_begin(&j);
			czpg_json_kv_string(&j, "subject", c->subject);
			czpg_json_kv_string(&j, "issuer", c->issuer);
			czpg_json_kv_string(&j, "sans", c->sans);
			czpg_json_kv_string(&j, "key", c->key);
			czpg_json_kv_string(&j, "signature", c->sig_alg);
			czpg_json_kv_string(&j, "not_before", c->not_before);
			czpg_json_kv_string(&j, "not_after", c->not_after);
			czpg_json_kv_int(&j, "days_left", c->days_left);
			czpg_json_kv_string(&j, "serial", c->serial);
			czpg_json_object_end(&j);
		}
		czpg_json_array_end(&j);
		json_tri(&j, "host_match", res->host_match);
		czpg_json_kv_bool(&j, "ca_given", res->ca_given);
		json_tri(&j, "ca_verified", res->ca_verified);
		json_str_or_null(&j, "ca_detail", res->ca_detail);
		czpg_json_object_end(&j);
	}

	czpg_json_key(&j, "plaintext");
	czpg_json_object_begin(&j);
	json_tri(&j, "accepted", res->plaintext_accepted);
	json_str_or_null(&j, "sqlstate", res->plaintext_sqlstate);
	json_str_or_null(&j, "detail", res->plaintext_detail);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "auth_over_tls");
	czpg_json_object_begin(&j);
	if (res->tls_auth >= 0)
		czpg_json_kv_string(&j, "request", czpg_probe_auth_name(res->tls_auth));
	else
		czpg_json_kv_string(&j, "request", NULL);
	czpg_json_key(&j, "mechanisms");
	czpg_json_array_begin(&j);
	{
		char buf[sizeof(res->mechanisms)], *save = NULL, *tok;

		snprintf(buf, sizeof(buf), "%s", res->mechanisms);
		for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
			czpg_json_string(&j, tok);
	}
	czpg_json_array_end(&j);
	json_tri(&j, "channel_binding", res->channel_binding);
	json_str_or_null(&j, "detail", res->auth_detail);
	czpg_json_object_end(&j);

	json_identity(&j, res);

	czpg_json_key(&j, "direct_tls");
	czpg_json_object_begin(&j);
	json_tri(&j, "accepted", res->direct_tls);
	json_str_or_null(&j, "alpn", res->direct_alpn);
	json_str_or_null(&j, "detail", res->direct_detail);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "gssenc");
	czpg_json_object_begin(&j);
	json_char(&j, "answer",
		  res->gssenc_answer >= 0x20 && res->gssenc_answer < 0x7f ? res->gssenc_answer
		  : res->gssenc_answer != 0                               ? '?'
									  : 0);
	json_str_or_null(&j, "detail", res->gssenc_detail);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "findings");
	czpg_json_array_begin(&j);
	for (i = 0; i < res->nfindings; i++) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "severity",
				    czpg_probe_severity_name(res->findings[i].severity));
		czpg_json_kv_string(&j, "id", res->findings[i].id);
		czpg_json_kv_string(&j, "text", res->findings[i].text);
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);
	czpg_json_kv_string(&j, "worst", czpg_probe_severity_name(res->worst));
	czpg_json_kv_int(&j, "exit_code", czpg_report_exit_code(outcome));
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}

/* ---- a fleet ----------------------------------------------------------------- */

void czpg_probe_row_fill(struct czpg_probe_row *w, const struct czpg_probe_result *r)
{
	size_t i;

	memset(w, 0, sizeof(*w));
	w->filled = true;
	snprintf(w->target, sizeof(w->target), "%s", r->target);
	w->status = r->status;
	w->worst = r->worst;
	w->nfindings = r->nfindings;
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++)
		if (r->versions[i].accepted == CZPG_TRI_YES) {
			size_t used = strlen(w->versions);

			snprintf(w->versions + used, sizeof(w->versions) - used, "%s%s",
				 used > 0 ? "," : "", r->versions[i].name + 4);
		}
	if (w->versions[0] == '\0')
		snprintf(w->versions, sizeof(w->versions), "%s",
			 r->status != CZPG_PROBE_PROBED ? "-"
			 : r->ssl_answer == 'N'         ? "off"
							: "none");
	for (i = 0; i < r->nfindings; i++)
		if (r->findings[i].severity == r->worst) {
			snprintf(w->top, sizeof(w->top), "%s", r->findings[i].id);
			break;
		}
	snprintf(w->detail, sizeof(w->detail), "%.119s", r->status_detail);
}

void czpg_probe_print_fleet(FILE *out, const struct czpg_probe_row *rows, size_t n,
			    const struct czpg_probe_tally *t, double wall_ms)
{
	size_t i;

	fprintf(out, "%-28s %-15s %-12s %-7s %-3s %s\n", "TARGET", "STATUS", "TLS", "WORST", "#",
		"TOP FINDING / DETAIL");
	for (i = 0; i < n; i++) {
		const struct czpg_probe_row *w = &rows[i];

		if (!w->filled)
			continue;
		fprintf(out, "%-28s %-15s %-12s %-7s %-3zu %s\n", w->target,
			czpg_probe_status_name(w->status), w->versions,
			w->status == CZPG_PROBE_PROBED ? czpg_probe_severity_name(w->worst) : "-",
			w->nfindings, w->status == CZPG_PROBE_PROBED ? w->top : w->detail);
	}
	fprintf(out,
		"\n%zu target(s) in %.0f ms: %zu probed (%zu high, %zu medium, %zu low, %zu "
		"info-only), %zu closed, %zu unreachable, %zu no answer, %zu not PostgreSQL, "
		"%zu error\n",
		n, wall_ms, t->probed, t->by_worst[CZPG_SEV_HIGH], t->by_worst[CZPG_SEV_MEDIUM],
		t->by_worst[CZPG_SEV_LOW], t->by_worst[CZPG_SEV_INFO],
		t->by_status[CZPG_PROBE_CLOSED], t->by_status[CZPG_PROBE_UNREACHABLE],
		t->by_status[CZPG_PROBE_NO_ANSWER], t->by_status[CZPG_PROBE_NOT_POSTGRESQL],
		t->by_status[CZPG_PROBE_ERROR]);
}

void czpg_probe_print_fleet_json(FILE *out, const struct czpg_probe_tally *t, size_t n,
				 double wall_ms)
{
	struct czpg_json j;
	int s;

	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	czpg_json_key(&j, "summary");
	czpg_json_object_begin(&j);
	czpg_json_kv_uint(&j, "targets", n);
	czpg_json_kv_double(&j, "elapsed_ms", wall_ms);
	czpg_json_key(&j, "status");
	czpg_json_object_begin(&j);
	for (s = CZPG_PROBE_PROBED; s <= CZPG_PROBE_ERROR; s++)
		czpg_json_kv_uint(&j, czpg_probe_status_name((enum czpg_probe_status)s),
				  t->by_status[s]);
	czpg_json_object_end(&j);
	czpg_json_key(&j, "worst");
	czpg_json_object_begin(&j);
	for (s = CZPG_SEV_INFO; s <= CZPG_SEV_HIGH; s++)
		czpg_json_kv_uint(&j, czpg_probe_severity_name((enum czpg_probe_severity)s),
				  t->by_worst[s]);
	czpg_json_object_end(&j);
	czpg_json_object_end(&j);
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}

void czpg_probe_print_progress(FILE *out, size_t done, size_t total, size_t running)
{
	fprintf(out, "\rprobe: %zu/%zu targets done, %zu in progress   ", done, total, running);
	if (done == total)
		fprintf(out, "\n");
	fflush(out);
}
