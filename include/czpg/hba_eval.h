/*
 * hba_eval.h - which pg_hba.conf record decides a given connection.
 *
 * pg_hba.conf is first-match (PostgreSQL docs, "The pg_hba.conf File"): the
 * first record whose connection type, database, user and client address match
 * the connection decides; later records are never consulted.
 */
#ifndef CZPG_HBA_EVAL_H
#define CZPG_HBA_EVAL_H

#include <stdbool.h>

#include "czpg/hba_parse.h"

/* A connection to test against the file (first-match evaluation). */
struct czpg_hba_conn {
	bool ssl;         /* TLS connection (else plaintext; GSSAPI not modelled) */
	bool replication; /* physical replication connection */
	const char *database;
	const char *user;
	const char *addr; /* client IP address text, "10.20.1.2" or "::1" */
};

/*
 * Index of the line that decides conn: the first record that matches it, or
 * -1 when none does (PostgreSQL then rejects).  Records whose match can't be
 * known from the text alone (hostnames, samehost/samenet, +group, @file,
 * samerole, include directives, unparsable records) count as matching and set
 * *uncertain (may be NULL) -- a conservative answer for a guarantee.
 */
long czpg_hba_first_match(const struct czpg_hba_file *f, const struct czpg_hba_conn *conn,
			  bool *uncertain);

#endif
