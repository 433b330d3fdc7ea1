/*
 * pgbouncer.h - a real PgBouncer (Debian's package, /usr/sbin/pgbouncer) in
 * front of the test sandbox, for tests that need a pooler between a client
 * and the server: started as the sandbox server's owner on a free loopback
 * port, with its own directory holding its ini, auth file, certificate and
 * log, and stopped (its directory removed) after.
 *
 * The auth file holds the SCRAM secrets of the roles given, read from the
 * sandbox's pg_authid, so PgBouncer authenticates its clients itself and
 * logs in to the server with the same secret.  PgBouncer's configuration
 * reference: https://www.pgbouncer.org/config.html.
 */
#ifndef CZPG_TEST_PGBOUNCER_H
#define CZPG_TEST_PGBOUNCER_H

#include <stdbool.h>
#include <sys/types.h>

#include "sandbox.h"

struct czpg_pgbouncer_opts {
	/* Client side: certificate and key PgBouncer serves (NULL: no client TLS). */
	const char *cert;
	const char *key;
	const char *client_tls_sslmode; /* NULL: "require" with a certificate, else "disable" */
	const char *server_tls_sslmode; /* NULL: "disable"; "require" for TLS on both legs */
	const char *users; /* roles for the auth file, comma-separated; NULL: sb->user */
	const char *extra; /* more [pgbouncer] lines ("key = value\n"...), or NULL */
};

struct czpg_pgbouncer {
	char dir[512]; /* its directory (ini, userlist.txt, certificate, log) */
	char log[600];
	int port; /* where it listens, on 127.0.0.1 */
	pid_t pid;
};

/*
 * Starts PgBouncer in front of sb's server for its database sb->db, and
 * waits until it accepts connections.  0, or -1 with the reason on stderr
 * (and the tail of PgBouncer's log).  CZ_PGBOUNCER names another binary.
 */
int czpg_pgbouncer_start(struct czpg_pgbouncer *pb, const struct czpg_sandbox *sb,
			 const struct czpg_pgbouncer_opts *o);

/* True while the PgBouncer that czpg_pgbouncer_start started is running. */
bool czpg_pgbouncer_alive(struct czpg_pgbouncer *pb);

/* Stops it (SIGTERM, then SIGKILL) and removes its directory.  Safe to call twice. */
void czpg_pgbouncer_stop(struct czpg_pgbouncer *pb);

#endif
