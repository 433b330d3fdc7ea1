/*
 * bench_refusal.h - private to the bench: the one line for a pool the server
 * refused at startup because of pg_hba.conf, whichever client met it.
 */
#ifndef CZPG_BENCH_REFUSAL_H
#define CZPG_BENCH_REFUSAL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * When the startup of a connection of pool `pool` (TLS or not) was refused
 * by pg_hba.conf, writes the sentence saying which pool, the server's
 * message, and what to do into out and returns true; false otherwise.
 * sqlstate is the ErrorResponse's ("28000"), or NULL when the client does
 * not know it (libpq gives none for a failed connection): the server's
 * message, which names pg_hba.conf in every such refusal, decides then.
 */
bool czpg_bench_refusal(const char *pool, bool tls, const char *sqlstate, const char *message,
			char *out, size_t outlen);

#endif
