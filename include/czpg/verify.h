/*
 * verify.h - the "prove TLS" gate: a verify-full TLS session authenticated
 * with SCRAM, proven to end at the server itself (not at a pooler or proxy
 * in between), and optionally proof that the server refuses plaintext.
 *
 * The end-to-end rule (docs/verify.md): the server's own row for this
 * session (pg_stat_ssl joined with pg_stat_activity on pg_backend_pid())
 * must say ssl = true with the protocol and cipher the client negotiated,
 * and the session must be proven to be the one this client holds, by
 *   - SCRAM-SHA-256-PLUS channel binding that succeeded (the server checked
 *     the certificate hash of the TLS session this client holds), with the
 *     row's pid equal to BackendKeyData's; or
 *   - the same endpoints: the row's pid equal to BackendKeyData's and its
 *     client_addr:client_port equal to this socket's local address.
 * Anything else is a FAIL naming what the server sees, unless the caller
 * allows an intermediary (a known pooler): then both legs are reported.
 *
 * Also: channel-binding readiness for a set of roles (the proof with
 * channel binding required, once per role, and why a role is not ready).
 *
 * Used by `czctl postgres tls verify` and by provision's self-verify step.
 */
#ifndef CZPG_VERIFY_H
#define CZPG_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "czpg/conn.h"
#include "czpg/certinfo.h"
#include "czpg/tlsio.h"

enum czpg_verify_client {
	CZPG_VERIFY_NATIVE = 0, /* czpg's own wire client over io_uring */
	CZPG_VERIFY_LIBPQ,      /* libpq, sslmode=verify-full: the cross-check */
};

struct czpg_verify_options {
	const char *host; /* a name, an IP literal, or a libpq-style list "db1,db2" */
	unsigned port;
	const char *user;
	const char *dbname;   /* NULL = user */
	const char *ca_file;  /* required */
	const char *password; /* borrowed; the caller wipes it */
	enum czpg_cb_policy channel_binding;
	bool expect_plaintext_refused;
	/* A pooler or proxy in between is expected: PASS with both legs and a warning. */
	bool allow_intermediary;
	int min_tls;         /* TLS1_2_VERSION or TLS1_3_VERSION */
	unsigned timeout_ms; /* per phase, and per address for the TCP connect */
	enum czpg_verify_client client;
	/* How TLS starts (czpg/sslneg.h): CZPG_OPEN_DEFAULT "postgres", or CZPG_OPEN_DIRECT_TLS. */
	enum czpg_conn_opening sslnegotiation;
};

/* What proved the session to be this client's own, end to end. */
enum czpg_verify_evidence {
	CZPG_VERIFY_UNPROVEN = 0,    /* nothing did */
	CZPG_VERIFY_BY_BINDING,      /* channel binding succeeded (and the pid agrees) */
	CZPG_VERIFY_BY_ENDPOINTS,    /* the row names this socket's endpoint and the pid */
	CZPG_VERIFY_BY_INTERMEDIARY, /* not end to end; accepted by --allow-intermediary */
};

/* What the comparison shows between this client and the server. */
enum czpg_verify_path {
	CZPG_VERIFY_PATH_UNKNOWN = 0, /* no row to compare with */
	CZPG_VERIFY_PATH_DIRECT,      /* same pid, same client endpoint */
	CZPG_VERIFY_PATH_FORWARDER,   /* same pid, another endpoint: TCP forwarder or NAT */
	CZPG_VERIFY_PATH_TERMINATED,  /* another pid: a pooler or proxy ends the protocol */
};

enum czpg_verify_plaintext {
	CZPG_VERIFY_PLAIN_NOT_CHECKED = 0,
	CZPG_VERIFY_PLAIN_ACCEPTED, /* the server asked an unencrypted startup to authenticate */
	CZPG_VERIFY_PLAIN_REFUSED,  /* refused: see plaintext_by */
	CZPG_VERIFY_PLAIN_UNKNOWN,  /* the check could not tell (no answer, no connection) */
};

#define CZPG_VERIFY_MAX_ATTEMPTS 16
#define CZPG_VERIFY_ADDR_TEXT 56 /* "[v6 address]:65535" */

/* One address the TCP connect tried, and why it did not answer ("" if it did). */
struct czpg_verify_attempt {
	char address[CZPG_VERIFY_ADDR_TEXT];
	char error[96];
};

struct czpg_verify_result {
	bool pass;
	char failure[1280]; /* the reason, one sentence, when !pass */
	char hint[256];     /* what to do about it ("" if nothing specific) */

	/* The TCP connect: which address answered, every attempt in order. */
	char connected_host[256];                 /* the name (of --host's list) used */
	char connected_to[CZPG_VERIFY_ADDR_TEXT]; /* the address that answered, "" if none */
	struct czpg_verify_attempt attempts[CZPG_VERIFY_MAX_ATTEMPTS];
	size_t nattempts;
	size_t nattempts_lost; /* beyond attempts[] */

	/* The client leg: what this client negotiated, on which socket. */
	bool tls_done;
	char client_version[32];
	char client_cipher[64];
	char local_addr[CZPG_VERIFY_ADDR_TEXT]; /* this socket's local address:port */
	char local_ip[48];
	unsigned local_port;
	bool authenticated;   /* the server accepted the login (startup completed) */
	char auth_method[48]; /* SCRAM-SHA-256 / SCRAM-SHA-256-PLUS / trust */
	int auth_request;     /* first authentication request code (CZPG_PGWIRE_AUTH_*), -1 */
	char offered[160];    /* SASL mechanisms the server offered */
	bool plus_offered;
	char startup_sqlstate[6]; /* of an ErrorResponse that ended the startup */
	bool cert_known;
	struct czpg_cert_info cert;
	bool cert_bindable;         /* the certificate has a tls-server-end-point hash */
	char cert_binding_err[160]; /* why not, when !cert_bindable */
	unsigned backend_pid;       /* BackendKeyData's pid: what the peer announced */

	/* The server leg: its own row for the session (pg_stat_ssl + pg_stat_activity). */
	bool server_row;
	bool server_ssl;
	char server_version[32];
	char server_cipher[64];
	int server_bits;
	unsigned row_pid;            /* pg_backend_pid() */
	char row_client_addr[48];    /* host(client_addr); "" when NULL (Unix socket) */
	int row_client_port;         /* -1 when NULL */
	char server_version_str[64]; /* server_version parameter */

	/* How TLS was started: "postgres" or "direct", and the ALPN the server selected. */
	char sslnegotiation[16];
	char alpn[32];
	char negotiation_note[200]; /* e.g. that this libpq has no sslnegotiation */

	/* The end-to-end rule. */
	bool pid_match;
	bool endpoint_match;
	enum czpg_verify_path path;
	enum czpg_verify_evidence evidence;
	char proof[512];    /* what proved it and where each fact came from ("" if unproven) */
	char warning[1024]; /* an accepted intermediary, a forwarder seen ("" if none) */

	/* Plaintext check. */
	bool plaintext_checked;
	bool plaintext_refused;
	enum czpg_verify_plaintext plaintext;
	char plaintext_by[64]; /* "pg_hba.conf", "the pooler in between", ... */
	char plaintext_detail[1024];

	double elapsed_ms;
};

/*
 * Runs the proof.  Always fills res (res->pass tells the verdict).  Returns
 * 0 when the check ran (pass or fail), -1 when it could not run at all
 * (bad options, no io_uring); res->failure says why either way.
 */
int czpg_verify_run(const struct czpg_verify_options *opt, struct czpg_verify_result *res);

/* Prints the human report (PASS/FAIL lines and detail). */
void czpg_verify_print(FILE *out, const struct czpg_verify_options *opt,
		       const struct czpg_verify_result *res);
/* Prints the JSON report (one object). */
void czpg_verify_print_json(FILE *out, const struct czpg_verify_options *opt,
			    const struct czpg_verify_result *res);

/* ---- channel-binding readiness ----------------------------------------- */

#define CZPG_VERIFY_MAX_ROLES 64

/* One role: the proof with channel binding required, and the verdict. */
struct czpg_verify_role {
	char user[128]; /* as given, sanitised for printing */
	bool ready;
	/* "ready: ..." or "not ready: ...", from the evidence of the proof */
	char reason[1536];
	struct czpg_verify_result res;
};

struct czpg_verify_readiness {
	struct czpg_verify_role *roles; /* n of them, in the order given */
	size_t n;
	size_t nready;
	bool could_not_run; /* a proof could not run at all (no io_uring, bad CA file) */
};

/*
 * Runs the proof once per role users[i] (password passwords[i], may be
 * NULL) with opt's other settings and channel binding required, and says
 * for each whether it is ready for channel_binding=require and, if not,
 * why: the server offers no SCRAM-SHA-256-PLUS over TLS, the role does not
 * authenticate with SCRAM (trust, password, MD5), the certificate has no
 * tls-server-end-point hash, or what else failed.  out is filled (free it
 * with czpg_verify_readiness_free).  0, or -1 when out of memory or n is 0
 * or above CZPG_VERIFY_MAX_ROLES.
 */
int czpg_verify_readiness_run(const struct czpg_verify_options *opt, const char *const *users,
			      const char *const *passwords, size_t n,
			      struct czpg_verify_readiness *out);
void czpg_verify_readiness_free(struct czpg_verify_readiness *r); /* NULL-safe */

/* The human report: one line a role, then a summary. */
void czpg_verify_readiness_print(FILE *out, const struct czpg_verify_options *opt,
				 const struct czpg_verify_readiness *r);
/* The JSON report: one object with a "roles" array. */
void czpg_verify_readiness_print_json(FILE *out, const struct czpg_verify_options *opt,
				      const struct czpg_verify_readiness *r);

#endif
