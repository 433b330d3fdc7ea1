/*
 * sslneg.c - the sslnegotiation choice that verify and bench share (see
 * czpg/sslneg.h; PostgreSQL 17 direct TLS, RFC 7301 ALPN).
 */
#include "czpg/sslneg.h"

#include <string.h>

#include "czpg/errf.h"

/* libpq has the sslnegotiation keyword from this release on (PQlibVersion). */
#define SSLNEG_LIBPQ_MIN 170000

const char *czpg_sslneg_name(enum czpg_conn_opening neg)
{
	return neg == CZPG_OPEN_DIRECT_TLS ? "direct" : "postgres";
}

int czpg_sslneg_configure(struct czpg_tls_config *cfg, enum czpg_conn_opening neg, char *err,
			  size_t errlen)
{
	int rc = 0;

	if (neg == CZPG_OPEN_DIRECT_TLS && czpg_tls_config_set_alpn(cfg, CZPG_SSLNEG_ALPN) < 0) {
		czpg_errf(err, errlen, "%s", czpg_tls_config_error(cfg));
		rc = -1;
	}
	return rc;
}

int czpg_sslneg_libpq(enum czpg_conn_opening neg, int libpq_version, const char **value, char *note,
		      size_t notelen)
{
	int rc = 0;

	*value = NULL;
	if (notelen > 0)
		note[0] = '\0';
	if (libpq_version >= SSLNEG_LIBPQ_MIN)
		*value = czpg_sslneg_name(neg);
	else if (neg == CZPG_OPEN_DIRECT_TLS) {
		czpg_errf(note, notelen,
			  "--client libpq cannot use --sslnegotiation direct: the libpq in use is "
			  "%d.%d, and sslnegotiation needs libpq 17 or later; use the native "
			  "client, which has it",
			  libpq_version / 10000, libpq_version % 10000);
		rc = -1;
	} else {
		czpg_errf(note, notelen,
			  "libpq %d.%d has no sslnegotiation: it always sends SSLRequest first "
			  "(postgres)",
			  libpq_version / 10000, libpq_version % 10000);
	}
	return rc;
}

bool czpg_sslneg_explain(const struct czpg_conn *c, enum czpg_conn_opening neg, char *why,
			 size_t whylen, const char **hint)
{
	const char *e = czpg_conn_error(c);

	if (neg != CZPG_OPEN_DIRECT_TLS || czpg_conn_phase(c) != CZPG_PHASE_FAILED ||
	    czpg_conn_failed_phase(c) != CZPG_PHASE_TLS)
		return false;
	if (strstr(e, "ALPN") != NULL) {
		czpg_errf(why, whylen, "%s", e);
		*hint = "a TLS server that does not select ALPN \"postgresql\" is not proof of "
			"PostgreSQL (a TLS proxy or another service answers): connect to "
			"PostgreSQL 17 or later itself, or use --sslnegotiation postgres";
	} else {
		czpg_errf(why, whylen, "direct TLS (--sslnegotiation direct) failed: %s", e);
		*hint = "PostgreSQL accepts direct TLS from 17 on; against an older server, or a "
			"pooler that does not accept it, use --sslnegotiation postgres";
	}
	return true;
}
