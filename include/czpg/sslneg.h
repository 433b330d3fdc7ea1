/*
 * sslneg.h - how a client starts TLS with PostgreSQL, by libpq's name for it
 * (sslnegotiation, libpq 17): "postgres" sends SSLRequest and starts TLS on
 * the 'S' answer; "direct" sends the TLS ClientHello at once, with ALPN
 * "postgresql" (RFC 7301), and saves that round trip (PostgreSQL 17+;
 * PostgreSQL docs, "Protocol Flow", "SSL Session Encryption").
 *
 * The negotiation itself is core's (czpg/conn.h, CZPG_OPEN_DIRECT_TLS: a
 * session over direct TLS goes on only when the server selected ALPN
 * "postgresql", as libpq 17 requires).  This module is what verify and bench
 * share around it: the names, the TLS configuration, what to hand libpq, and
 * the sentence for a direct connection that failed.
 */
#ifndef CZPG_SSLNEG_H
#define CZPG_SSLNEG_H

#include <stdbool.h>
#include <stddef.h>

#include "czpg/conn.h"
#include "czpg/tlsio.h"

/* The ALPN protocol direct TLS offers and needs selected. */
#define CZPG_SSLNEG_ALPN "postgresql"

/* "postgres" (CZPG_OPEN_DEFAULT) or "direct" (CZPG_OPEN_DIRECT_TLS), static storage. */
const char *czpg_sslneg_name(enum czpg_conn_opening neg);

/*
 * Prepares cfg for neg: with direct, offers ALPN "postgresql"; with
 * postgres, nothing changes.  0, or -1 with cfg's error in err.
 */
int czpg_sslneg_configure(struct czpg_tls_config *cfg, enum czpg_conn_opening neg, char *err,
			  size_t errlen);

/*
 * What to pass libpq for neg, given libpq_version (PQlibVersion(): 150013,
 * 170002, ...): *value is the sslnegotiation keyword's value, or NULL when
 * that libpq has no such keyword (before 17) and neg is postgres, the only
 * way it has; note then says so.  -1 with the sentence in note when that
 * libpq cannot do neg (direct before 17): it is never silently ignored.
 */
int czpg_sslneg_libpq(enum czpg_conn_opening neg, int libpq_version, const char **value, char *note,
		      size_t notelen);

/*
 * For a connection c that failed: when it was a direct TLS one that failed
 * in its handshake (or because the server did not select ALPN
 * "postgresql"), writes the sentence that says so into why and points *hint
 * at what to do, and returns true.  False, writing nothing, otherwise.
 */
bool czpg_sslneg_explain(const struct czpg_conn *c, enum czpg_conn_opening neg, char *why,
			 size_t whylen, const char **hint);

#endif
