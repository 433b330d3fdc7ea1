/*
 * bench_refusal.c - a pool refused by pg_hba.conf, in one line (see
 * bench_refusal.h).  PostgreSQL refuses such a startup with SQLSTATE 28000
 * and a message naming pg_hba.conf ("pg_hba.conf rejects connection ...",
 * "no pg_hba.conf entry ..."; PostgreSQL docs, "The pg_hba.conf File").
 */
#include "bench_refusal.h"

#include <string.h>

#include "czpg/errf.h"

bool czpg_bench_refusal(const char *pool, bool tls, const char *sqlstate, const char *message,
			char *out, size_t outlen)
{
	const char *m = message != NULL ? message : "";

	/* 28000 is also a role that does not exist: only pg_hba.conf's refusal is this one. */
	if ((sqlstate != NULL && strcmp(sqlstate, "28000") != 0) ||
	    strstr(m, "pg_hba.conf") == NULL)
		return false;
	if (tls)
		czpg_errf(out, outlen,
			  "the %s pool was refused by the server's pg_hba.conf (%s): no hostssl "
			  "line lets this user, database and client address in over TLS; add one "
			  "(czctl postgres tls provision --role and --allow-cidr) and bench again",
			  pool, m);
	else
		czpg_errf(out, outlen,
			  "the %s pool was refused by the server's pg_hba.conf (%s): the server "
			  "lets this client in over TLS only, so there is no plaintext to compare "
			  "with; bench before hardening (provision --mode harden), or from a host "
			  "that pg_hba.conf still lets in without TLS",
			  pool, m);
	return true;
}
