/*
 * served_cert.h - which certificate a PostgreSQL server serves right now,
 * asked over the wire (provision's check that a reload took effect).
 */
#ifndef CZPG_SERVED_CERT_H
#define CZPG_SERVED_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "czpg/engine.h"

/* What czpg_served_cert_get learned, and where. */
struct czpg_served_cert {
	uint8_t sha256[32];                  /* of the served DER certificate */
	char address[CZPG_ENGINE_ADDR_TEXT]; /* the address that answered ("" if none) */
	char failures[512];                  /* the addresses that did not, "a: why; b: why" */
};

/*
 * Which certificate does host:port serve?  As czpg_served_cert_sha256, and
 * out names the address that answered and the ones tried before it: every
 * address host resolves to is tried in order, each with timeout_ms to
 * connect, as libpq does (a name that resolves to ::1 then 127.0.0.1 works
 * with a server on 127.0.0.1 only).  Error sentences name the address too.
 */
int czpg_served_cert_get(const char *host, unsigned port, unsigned timeout_ms,
			 struct czpg_served_cert *out, char *err, size_t errlen);

/*
 * Which certificate does host:port serve?  An SSLRequest and a TLS
 * handshake only (no startup packet: pg_hba is not involved), with
 * certificate checks off because the answer is compared by the caller with
 * the file it expects.  Returns 0 with the SHA-256 of the served DER
 * certificate in sha256, 1 when the server answered 'N' (TLS is off), -1 on
 * any other failure (err says which).  Every address of host is tried, in
 * order (czpg_served_cert_get).
 */
int czpg_served_cert_sha256(const char *host, unsigned port, unsigned timeout_ms,
			    uint8_t sha256[32], char *err, size_t errlen);

#endif
