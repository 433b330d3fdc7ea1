/*
 * verify_readiness.c - channel-binding readiness for a set of roles (see
 * czpg/verify.h): what an operator runs before switching an application's
 * client library to channel_binding=require.
 *
 * Each role gets the whole proof (czpg_verify_run) with channel binding
 * required.  A role is ready only when that proof passes; otherwise the
 * reason comes from what the proof saw, in this order: the TLS session
 * itself, the certificate (RFC 5929 section 4.1: tls-server-end-point needs
 * a signature with a hash), the first authentication request the server
 * sent for this role (its pg_hba.conf decision: trust, password, MD5 or
 * SASL), the mechanisms it offered (SCRAM-SHA-256-PLUS or not), and the
 * server's error.
 */
#include "czpg/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/pgwire.h"

/* Why the role's proof says it is, or is not, ready. */
static void classify_role(struct czpg_verify_role *r)
{
	const struct czpg_verify_result *res = &r->res;
	char *out = r->reason;
	size_t cap = sizeof(r->reason);

	r->ready = res->pass;
	if (res->pass)
		snprintf(
		    out, cap,
		    "ready: SCRAM-SHA-256-PLUS succeeded over %s and the session is proven end "
		    "to end (%s)",
		    res->client_version,
		    res->evidence == CZPG_VERIFY_BY_BINDING ? "channel binding"
							    : "pooler allowed, both legs");
	else if (!res->tls_done)
		snprintf(out, cap, "not ready: no verified TLS session with the server: %s",
			 res->failure);
	else if (res->cert_known && !res->cert_bindable)
		snprintf(out, cap,
			 "not ready: the server certificate is signed with %s, which gives no "
			 "tls-server-end-point hash (RFC 5929 section 4.1): re-issue it with an "
			 "ECDSA or RSA signature (provision makes ECDSA P-256)",
			 res->cert.sig_alg);
	else if (res->auth_request == CZPG_PGWIRE_AUTH_OK)
		snprintf(out, cap,
			 "not ready: the server lets this role in without a password (trust in "
			 "pg_hba.conf), so there is no SCRAM exchange to bind");
	else if (res->auth_request == CZPG_PGWIRE_AUTH_MD5)
		snprintf(
		    out, cap,
		    "not ready: the server asks this role for an MD5 password (pg_hba.conf md5 "
		    "and a password stored as MD5): set password_encryption = 'scram-sha-256', "
		    "set the role's password again, and use scram-sha-256 in pg_hba.conf");
	else if (res->auth_request == CZPG_PGWIRE_AUTH_CLEARTEXT)
		snprintf(
		    out, cap,
		    "not ready: the server asks this role for a cleartext password (pg_hba.conf "
		    "method password): use scram-sha-256");
	else if (res->auth_request == CZPG_PGWIRE_AUTH_SASL && !res->plus_offered)
		snprintf(
		    out, cap,
		    "not ready: no SCRAM-SHA-256-PLUS offered over TLS (the server offered %s): "
		    "a pooler or proxy in between (PgBouncer does not offer it), or a server "
		    "older than PostgreSQL 11",
		    res->offered[0] != '\0' ? res->offered : "nothing");
	else if (strstr(res->failure, "SCRAM channel binding") != NULL)
		snprintf(out, cap,
			 "not ready: the server rejected the channel binding: the certificate this "
			 "client verified is not the server's own (a TLS-terminating proxy in "
			 "between): %s",
			 res->failure);
	else if (strcmp(res->startup_sqlstate, "28P01") == 0)
		snprintf(
		    out, cap,
		    "not ready: password authentication failed, so channel binding was not "
		    "shown to work (a wrong password, or one stored as MD5, which SCRAM cannot "
		    "use): %s",
		    res->failure);
	else if (strcmp(res->startup_sqlstate, "28000") == 0)
		snprintf(out, cap,
			 "not ready: pg_hba.conf refuses this role over TLS from this address: %s",
			 res->failure);
	else if (res->plus_offered && strstr(res->failure, "none was given") != NULL)
		snprintf(out, cap,
			 "not ready: not shown: the server offers SCRAM-SHA-256-PLUS to this role, "
			 "but no password was given to complete the exchange");
	else
		snprintf(out, cap, "not ready: %s", res->failure);
}

int czpg_verify_readiness_run(const struct czpg_verify_options *opt, const char *const *users,
			      const char *const *passwords, size_t n,
			      struct czpg_verify_readiness *out)
{
	struct czpg_verify_options one;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > CZPG_VERIFY_MAX_ROLES)
		goto out;
	out->roles = calloc(n, sizeof(*out->roles));
	if (out->roles == NULL)
		goto out;
	out->n = n;
	for (i = 0; i < n; i++) {
		struct czpg_verify_role *r = &out->roles[i];

		one = *opt;
		one.user = users[i];
		one.password = passwords != NULL ? passwords[i] : NULL;
		one.channel_binding = CZPG_CB_REQUIRE;
		czpg_pgwire_sanitize(users[i], r->user, sizeof(r->user));
		if (czpg_verify_run(&one, &r->res) < 0)
			out->could_not_run = true;
		classify_role(r);
		if (r->ready)
			out->nready++;
	}
	rc = 0;
out:
	return rc;
}

void czpg_verify_readiness_free(struct czpg_verify_readiness *r)
{
	if (r == NULL)
		return;
	free(r->roles);
	r->roles = NULL;
	r->n = r->nready = 0;
}
