/*
 * served_cert.h - which certificate a PostgreSQL server serves right now,
 * asked over the wire (provision's check that a reload took effect).
 */
#ifndef CZPG_SERVED_CERT_H
#define CZPG_SERVED_CERT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Which certificate does host:port serve?  An SSLRequest and a TLS
 * handshake only (no startup packet: pg_hba is not involved), with
 * certificate checks off because the answer is compared by the caller with
 * the file it expects.  Returns 0 with the SHA-256 of the served DER
 * certificate in sha256, 1 when the server answered 'N' (TLS is off), -1 on
 * any other failure (err says which).
 */
int czpg_served_cert_sha256(const char *host, unsigned port, unsigned timeout_ms,
			    uint8_t sha256[32], char *err, size_t errlen);

#endif
