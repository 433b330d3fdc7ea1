/*
 * probe.h - what TLS a PostgreSQL box speaks, learned without a password.
 *
 * One probe opens many short connections to a box, all at once on one
 * engine thread (czpg/engine.h), each stopping as early as it can:
 *
 *   main      SSLRequest -> TLS (any certificate) -> StartupMessage, stops
 *             at the first authentication request: the SSLRequest answer, the
 *             session a stock client gets, the certificate chain, and the
 *             SASL mechanisms offered over TLS (never a password).
 *   plain     StartupMessage without TLS: accepted (the server asks for
 *             authentication) or refused (pg_hba, SQLSTATE 28000).
 *   versions  TLS 1.3, 1.2, 1.1, 1.0, each alone (1.0/1.1 at OpenSSL
 *             security level 0, which OpenSSL 3 needs to offer them).
 *   suites    for each accepted version, every cipher suite alone;
 *   order     the accepted suites offered in different orders: whether the
 *             server or the client order decides, and the server's ranking
 *             of every accepted suite (src/verbs/probe_order.h);
 *   groups    every key-exchange group alone (over 1.3, else 1.2);
 *   verify    with a CA file: a verify-full handshake, as libpq would do;
 *   direct    a TLS ClientHello straight away with ALPN "postgresql"
 *             (PostgreSQL 17 sslnegotiation=direct);
 *   admin     StartupMessage for database "pgbouncer" (over TLS when
 *             offered): PgBouncer's admin console refuses a user it does not
 *             know as an admin with its own "not allowed"; PostgreSQL asks
 *             for authentication like for any database;
 *   gssenc    GSSENCRequest: the answer 'G' or 'N'.
 * Checks that depend on another wait for it (suites for a version once it is
 * accepted, order once its suites are known).  Session resumption is not
 * checked.
 *
 * A quick probe (fleets) keeps main, plain, verify and the 1.2/1.1/1.0
 * version checks (1.3 is read from main's negotiation).
 *
 * This header is the probe's result and how to run it.  Beside it:
 * czpg/probe_targets.h parses the targets (one box or a fleet file),
 * czpg/probe_findings.h derives the findings, with a severity each, from a
 * result and nothing else (so the rules are unit-testable), and
 * czpg/probe_report.h prints results.
 */
#ifndef CZPG_PROBE_H
#define CZPG_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "czpg/probe_targets.h"
#include "czpg/certinfo.h"
#include "czpg/engine.h"
#include "czpg/tlsio.h"

#define CZPG_PROBE_NVERSIONS 4   /* TLS 1.3, 1.2, 1.1, 1.0 (index 0..3) */
#define CZPG_PROBE_MAX_SUITES 64 /* per version */
#define CZPG_PROBE_MAX_GROUPS 12
#define CZPG_PROBE_MAX_CHAIN 4 /* certificates described from the chain sent */
#define CZPG_PROBE_MAX_FINDINGS 24
/* Names of one box tried in turn (libpq's host list): as many as a --host list holds. */
#define CZPG_PROBE_MAX_ALTERNATIVES CZPG_ENGINE_MAX_HOSTS

enum czpg_probe_severity {
	CZPG_SEV_INFO = 0,
	CZPG_SEV_LOW,
	CZPG_SEV_MEDIUM,
	CZPG_SEV_HIGH,
};

/* What became of a target as a whole. */
enum czpg_probe_status {
	CZPG_PROBE_PROBED = 0,     /* a PostgreSQL server answered; see the result */
	CZPG_PROBE_CLOSED,         /* connection refused: nothing listens on the port */
	CZPG_PROBE_UNREACHABLE,    /* no route, connect timed out, or cannot resolve */
	CZPG_PROBE_NO_ANSWER,      /* TCP accepted, but no answer to SSLRequest in time */
	CZPG_PROBE_NOT_POSTGRESQL, /* answered, but not as PostgreSQL does */
	CZPG_PROBE_ERROR,          /* something else stopped the probe (detail says) */
};

/* Who answers on the port, from how it refuses startups (czpg_probe_assess). */
enum czpg_probe_server {
	CZPG_PROBE_SERVER_UNKNOWN = 0, /* nothing the probe saw tells */
	CZPG_PROBE_SERVER_POSTGRESQL,  /* errors only PostgreSQL's backend sends */
	CZPG_PROBE_SERVER_PGBOUNCER,   /* PgBouncer answering for itself */
};

/*
 * A startup the server refused with an ErrorResponse: what tells who
 * refused it (czpg_conn_startup_message / _fields).
 */
struct czpg_probe_refusal {
	char sqlstate[6];  /* "" when the startup was not refused with an error */
	char message[256]; /* field M, sanitised */
	char fields[24];   /* the field types sent: "SVCMFLR", "SCM" ... */
};

/* A check's outcome: not run (or inconclusive), no, yes. */
enum czpg_probe_tri {
	CZPG_TRI_UNKNOWN = 0,
	CZPG_TRI_NO,
	CZPG_TRI_YES,
};

struct czpg_probe_suite {
	const char *name; /* OpenSSL name (static storage) */
	enum czpg_probe_tri accepted;
	bool weak; /* czpg_probe_suite_is_weak(name), set by czpg_probe_assess */
};

struct czpg_probe_version {
	const char *name; /* "TLSv1.3" ... (static) */
	int version;      /* TLS1_3_VERSION ... */
	enum czpg_probe_tri accepted;
	char cipher[64];  /* negotiated when offering every suite */
	char detail[256]; /* why refused / not known */
	size_t nsuites;   /* suites tried alone (0: not enumerated) */
	struct czpg_probe_suite suites[CZPG_PROBE_MAX_SUITES];
	/*
	 * The server's preference among the accepted suites (src/verbs/probe_order.h):
	 * server_order YES when its own order decides (preference[] is that
	 * order, its first choice first), NO when it takes the client's first
	 * choice ("client order": preference[] is empty), UNKNOWN when not
	 * found out.
	 */
	enum czpg_probe_tri server_order;
	size_t npreference;
	const char *preference[CZPG_PROBE_MAX_SUITES]; /* static storage */
	bool preference_complete;                      /* every accepted suite is ranked */
	char order_detail[240];
};

struct czpg_probe_group {
	const char *name; /* "X25519", "P-256", ... (static) */
	enum czpg_probe_tri accepted;
};

struct czpg_probe_finding {
	enum czpg_probe_severity severity;
	char id[32];    /* stable identifier, "plaintext-accepted" */
	char text[400]; /* one sentence */
};

struct czpg_probe_result {
	char target[300]; /* "host:port" as given ([v6]:port); a host list: each, comma-separated */
	char
	    host[256]; /* the name probed: of a host list, the one that answered (else the first) */
	unsigned port;
	char user[64]; /* the user name the startups carried */
	bool quick;

	enum czpg_probe_status status;
	char status_detail[512];
	bool deadline_hit; /* some checks were cut by the per-target deadline */
	double elapsed_ms;
	unsigned connections; /* connections opened */

	/*
	 * How the box was reached, as libpq connects (czpg/engine.h): each name
	 * in turn, each of its addresses in turn; every check then went to the
	 * address that answered.
	 */
	char connected_host[256];                 /* the name that answered; "" if none */
	char connected_to[CZPG_ENGINE_ADDR_TEXT]; /* its address that answered; "" if none */
	char connect_failures[1024];              /* the failed attempts, "a: why; b: why" */
	struct czpg_engine_attempt attempts[CZPG_ENGINE_MAX_ADDRS]; /* every attempt, in order */
	size_t nattempts;
	size_t nattempts_lost; /* beyond attempts[] */

	char ssl_answer; /* 'S', 'N', 'E', 0 = none */

	/* What a stock client (TLS 1.2-1.3, default suites) negotiates. */
	bool tls_ok;
	char tls_version[16];
	char tls_cipher[64];
	char tls_group[32];
	char tls_error[512];

	struct czpg_probe_version versions[CZPG_PROBE_NVERSIONS];

	const char *groups_over; /* "TLSv1.3"/"TLSv1.2", NULL = groups not checked */
	size_t ngroups;
	struct czpg_probe_group groups[CZPG_PROBE_MAX_GROUPS];

	const char *resumption; /* "not checked" */

	/* The chain the server sent (leaf first). */
	size_t nchain;
	size_t chain_sent; /* may exceed nchain */
	struct czpg_cert_info chain[CZPG_PROBE_MAX_CHAIN];
	enum czpg_probe_tri host_match; /* leaf SANs against host, as verify-full */
	bool ca_given;
	enum czpg_probe_tri ca_verified; /* chain against --ca (verify-full connection) */
	char ca_detail[512];

	/* Plaintext startup. */
	enum czpg_probe_tri plaintext_accepted;
	int plaintext_auth; /* the auth request code when accepted, -1 otherwise */
	char plaintext_sqlstate[6];
	char plaintext_detail[512];

	/* Authentication over TLS (no password sent). */
	int tls_auth;                        /* first auth request code over TLS, -1 none */
	char mechanisms[160];                /* SASL mechanisms, comma-separated */
	enum czpg_probe_tri channel_binding; /* SCRAM-SHA-256-PLUS offered */
	char auth_detail[512];               /* why unknown (refused startup, ...) */

	enum czpg_probe_tri direct_tls;
	char direct_alpn[32];
	char direct_detail[256];

	/* How startups were refused: plaintext, over TLS, and for database "pgbouncer". */
	struct czpg_probe_refusal plaintext_refusal, tls_refusal, admin_refusal;
	enum czpg_probe_tri admin_auth; /* "pgbouncer" startup: YES asked to authenticate */

	/* Derived by czpg_probe_assess from the above (probe_findings.h). */
	enum czpg_probe_server server;
	char server_evidence[512];
	/* The server version the evidence supports ("17 or later"); "" = not known. */
	char server_version[48];
	char server_version_evidence[240];

	char gssenc_answer; /* 'G', 'N', other, 0 = not known */
	char gssenc_detail[256];

	size_t nfindings;
	struct czpg_probe_finding findings[CZPG_PROBE_MAX_FINDINGS];
	enum czpg_probe_severity worst; /* of the findings (INFO when none) */
};

struct czpg_probe_options {
	const char *ca_file; /* NULL: the chain is not verified */
	const char *user;    /* NULL = "postgres" */
	bool quick;
	unsigned concurrency; /* targets probed at once; 0 = 64 */
	unsigned per_target; /* connections per target at once; 0 = 64 for one target, 8 for many */
	unsigned target_timeout_ms; /* per-target deadline; 0 = 10000 */
	/* Each finished target, assessed, in completion order; r is valid during the call. */
	void (*on_result)(const struct czpg_probe_result *r, size_t index, void *user);
	/* After each loop iteration that finished a target (for progress lines). */
	void (*on_progress)(size_t done, size_t total, size_t running, void *user);
	void *cb_user; /* passed to both callbacks */
};

/*
 * Probes n targets (n >= 1) on one engine thread and reports each through
 * opt->on_result.  Returns 0 when every target got a result (whatever it
 * was), -1 with a sentence in err when the probe could not run (no io_uring,
 * bad CA file, out of memory).
 */
int czpg_probe_run(const struct czpg_probe_options *opt, const struct czpg_probe_target *targets,
		   size_t n, char *err, size_t errlen);

/*
 * Probes one box known under n alternative names (1 <= n <=
 * CZPG_PROBE_MAX_ALTERNATIVES), as libpq reads host=a,b port=p1,p2: one
 * logical server, not a fleet.  The names are tried in order, each name's
 * addresses in order (each with its own connect timeout); the first address
 * that accepts the TCP connection is the box, every check of the probe goes
 * to it, and its name is the one checked against the certificate.  A name
 * that does not resolve, or none of whose addresses accepts, passes to the
 * next, and each name gets its own per-target deadline.  One result goes to
 * opt->on_result (index 0); it names what answered and lists every attempt.
 * Returns as czpg_probe_run.
 */
int czpg_probe_run_alternatives(const struct czpg_probe_options *opt,
				const struct czpg_probe_target *alts, size_t n, char *err,
				size_t errlen);

/* One target into *res (heap-sized struct: allocate it).  As czpg_probe_run. */
int czpg_probe_one(const struct czpg_probe_options *opt, const char *host, unsigned port,
		   struct czpg_probe_result *res, char *err, size_t errlen);

#endif
