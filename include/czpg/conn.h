/*
 * conn.h - one PostgreSQL client connection as a sans-I/O state machine.
 *
 * The connection consumes bytes from the network and produces bytes for it;
 * it never touches a socket, a ring or a clock of its own.  The event loop
 * (engine.c), or a test, moves bytes and time:
 *
 *   c = czpg_conn_new(&cfg, now_ns, err, errlen);   queues the first message
 *   loop:
 *     czpg_conn_take_output(c, buf, cap)   -> send these bytes
 *     czpg_conn_feed(c, bytes, n, now_ns)  <- bytes the server sent
 *     czpg_conn_feed_eof(c, now_ns)        <- the server closed the socket
 *     czpg_conn_tick(c, now_ns)            <- time passed (per-phase timeouts)
 *   what happened reaches cfg.on_event (ready, rows, query done, failed).
 *
 * The protocol followed (PostgreSQL docs, "Message Flow"):
 *   TLS:   SSLRequest -> exactly one byte 'S' -> TLS handshake (verify-full)
 *          -> StartupMessage ...  'N' is a failure (never a silent fallback
 *          to plaintext); any byte received after the 'S' and before our
 *          first handshake flight is a failure too (CVE-2021-23222: bytes a
 *          man-in-the-middle injects in plaintext ahead of the handshake);
 *          an 'E' or anything else is reported without echoing the server's
 *          bytes raw (CVE-2024-10977).
 *   plain: StartupMessage directly.
 *   then:  Authentication: SCRAM-SHA-256[-PLUS] (RFC 5802/7677/5929) or
 *          none (trust); AuthenticationOk is refused before a verified SCRAM
 *          server signature whenever a password exchange was started or
 *          channel binding is required.  Cleartext and MD5 are refused.
 *          ParameterStatus/BackendKeyData, ReadyForQuery -> READY.
 *   queries: simple Query, or extended Parse once then Bind/Execute/Sync;
 *          several may be in flight (pipelining).  Terminate + close_notify.
 *
 * Views handed to the callback (row values, tags, messages) are valid only
 * during the callback.
 */
#ifndef CZPG_CONN_H
#define CZPG_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/pgwire.h"

struct czpg_conn;
struct czpg_tls;
struct czpg_tls_config;
struct czpg_scram_cache;

/* Channel binding policy, as libpq's channel_binding. */
enum czpg_cb_policy {
	CZPG_CB_DISABLE = 0, /* never SCRAM-SHA-256-PLUS */
	CZPG_CB_PREFER,      /* PLUS when the server offers it over TLS */
	CZPG_CB_REQUIRE,     /* PLUS or fail; nothing else authenticates */
};

/* How far a connection goes before it reports DONE (probe stops early). */
enum czpg_conn_goal {
	CZPG_GOAL_SESSION = 0,  /* full startup, then queries until closed */
	CZPG_GOAL_SSL_ANSWER,   /* stop after the answer to SSLRequest */
	CZPG_GOAL_TLS,          /* stop after the TLS handshake */
	CZPG_GOAL_AUTH_REQUEST, /* stop at the first authentication request or error */
};

/*
 * How the connection opens (probe paths; sessions use the default).
 *   GSSENC_REQUEST: sends GSSENCRequest (code 80877104, PostgreSQL docs
 *     "GSSAPI Session Encryption") and reports DONE (EV_GOAL) at the one-byte
 *     answer, 'G' or 'N' (czpg_conn_ssl_answer); no GSSAPI exchange follows.
 *   DIRECT_TLS: sends the TLS ClientHello at once, without SSLRequest
 *     (PostgreSQL 17, sslnegotiation=direct).  Needs use_tls and a tls config
 *     offering ALPN "postgresql" (czpg_tls_config_set_alpn); the rest of the
 *     flow (goal, startup) is as over SSLRequest, except that past the TLS
 *     goal the server must have selected ALPN "postgresql": otherwise the
 *     connection fails in the TLS phase and sends no startup.
 */
enum czpg_conn_opening {
	CZPG_OPEN_DEFAULT = 0,    /* SSLRequest with use_tls, else StartupMessage */
	CZPG_OPEN_GSSENC_REQUEST, /* GSSENCRequest, then stop at its answer */
	CZPG_OPEN_DIRECT_TLS,     /* TLS ClientHello straight away */
};

enum czpg_conn_phase {
	CZPG_PHASE_CONNECT = 0, /* TCP connect (driven by the engine) */
	CZPG_PHASE_SSL_ANSWER,  /* waiting for 'S' / 'N' */
	CZPG_PHASE_TLS,         /* TLS handshake */
	CZPG_PHASE_STARTUP,     /* startup sent, waiting for an auth request */
	CZPG_PHASE_AUTH,        /* SASL exchange */
	CZPG_PHASE_PARAMS,      /* after AuthenticationOk, until ReadyForQuery */
	CZPG_PHASE_READY,       /* idle, or queries in flight */
	CZPG_PHASE_CLOSING,     /* Terminate sent */
	CZPG_PHASE_DONE,        /* goal reached or closed cleanly */
	CZPG_PHASE_FAILED,      /* see czpg_conn_error() */
};

enum czpg_conn_event_type {
	CZPG_EV_READY = 1,        /* startup complete (ReadyForQuery); queries may be sent */
	CZPG_EV_ROW_DESCRIPTION,  /* fields / nfields */
	CZPG_EV_ROW,              /* values / nvalues */
	CZPG_EV_COMMAND_COMPLETE, /* tag */
	CZPG_EV_QUERY_ERROR,      /* an ErrorResponse for a query; the session goes on */
	CZPG_EV_QUERY_DONE,       /* ReadyForQuery closing one query (or one Sync) */
	CZPG_EV_NOTICE,           /* a NoticeResponse (sanitised text) */
	CZPG_EV_GOAL,             /* the goal (other than SESSION) was reached */
	CZPG_EV_FAILED,           /* fatal: czpg_conn_error() says why */
	CZPG_EV_CLOSED,           /* Terminate done, or the server closed after it */
};

struct czpg_conn_event {
	enum czpg_conn_event_type type;
	const struct czpg_pgwire_field *fields; /* ROW_DESCRIPTION */
	size_t nfields;
	const struct czpg_pgwire_value *values; /* ROW */
	size_t nvalues;
	const char *text;     /* COMMAND_COMPLETE tag; QUERY_ERROR/NOTICE sanitised line */
	const char *sqlstate; /* QUERY_ERROR */
	/*
	 * Events of a session's answers (ROW_DESCRIPTION ... QUERY_DONE): the
	 * now_ns given to czpg_conn_feed() with the bytes that completed the
	 * message, so a caller timing queries needs no clock read of its own.
	 * 0 for the other events.
	 */
	uint64_t now_ns;
};

typedef void (*czpg_conn_event_fn)(struct czpg_conn *c, const struct czpg_conn_event *ev,
				   void *user);

struct czpg_conn_config {
	const char *host; /* the name or IP the user gave: TLS verify-full and SNI */
	const char *user;
	const char *dbname;           /* NULL = user */
	const char *application_name; /* NULL = "czctl" */
	const char *password;         /* borrowed for the life of the connection; NULL = none */
	bool use_tls;
	struct czpg_tls_config *tls; /* required with use_tls; shared */
	enum czpg_cb_policy channel_binding;
	struct czpg_scram_cache *scram_cache; /* optional; one per password */
	uint32_t max_scram_iterations;        /* 0 = the scram default */
	enum czpg_conn_goal goal;
	enum czpg_conn_opening opening; /* 0 = SSLRequest / StartupMessage */
	uint32_t phase_timeout_ms;      /* each phase; 0 = 10000 */
	size_t max_message;             /* 0 = pgwire default */
	czpg_conn_event_fn on_event;
	void *user_data;
};

/*
 * Creates a connection and queues its first message (SSLRequest, or the
 * StartupMessage without TLS).  The phase is CONNECT until
 * czpg_conn_connected() is called (the engine calls it once TCP is up); a
 * test may call it at once.  Strings in cfg are copied except password
 * (borrowed).  Returns NULL with a sentence in err on bad configuration.
 */
struct czpg_conn *czpg_conn_new(const struct czpg_conn_config *cfg, uint64_t now_ns, char *err,
				size_t errlen);

/* Frees everything (wiping secrets).  NULL-safe.  Not from inside the callback. */
void czpg_conn_free(struct czpg_conn *c);

/* TCP is connected: starts the SSL_ANSWER (or STARTUP) phase clock. */
void czpg_conn_connected(struct czpg_conn *c, uint64_t now_ns);

/*
 * Bytes received from the server.  Processes as much as possible, calling
 * on_event.  Returns 0, or -1 when the connection has failed (now or before).
 */
int czpg_conn_feed(struct czpg_conn *c, const void *data, size_t n, uint64_t now_ns);

/* The server closed the socket (recv returned 0). */
void czpg_conn_feed_eof(struct czpg_conn *c, uint64_t now_ns);

/* The transport failed (connect refused, reset): fails with this sentence. */
void czpg_conn_fail_transport(struct czpg_conn *c, const char *what);

/* Checks the phase deadline; fails the connection with a timeout when passed. */
void czpg_conn_tick(struct czpg_conn *c, uint64_t now_ns);

/* The current phase's deadline (ns, same clock as now_ns), 0 when none. */
uint64_t czpg_conn_deadline(const struct czpg_conn *c);

/* Bytes waiting to be sent. */
size_t czpg_conn_pending_output(const struct czpg_conn *c);
/* Moves up to cap pending bytes into buf; returns how many. */
size_t czpg_conn_take_output(struct czpg_conn *c, void *buf, size_t cap);

/*
 * Queues a simple Query.  Only in READY (several may be queued: each ends
 * with one QUERY_DONE).  Returns 0 or -1.
 */
int czpg_conn_query(struct czpg_conn *c, const char *sql);

/*
 * Extended protocol: Parse of a named statement (once per connection),
 * then czpg_conn_execute_prepared() sends Bind/Execute/Sync with text
 * parameters.  Each ends with one QUERY_DONE.  0 or -1.
 */
int czpg_conn_prepare(struct czpg_conn *c, const char *stmt, const char *sql, size_t nparams);
int czpg_conn_execute_prepared(struct czpg_conn *c, const char *stmt, size_t nparams,
			       const char *const *values);

/* Sends Terminate (and close_notify over TLS).  The phase becomes CLOSING. */
int czpg_conn_terminate(struct czpg_conn *c);

enum czpg_conn_phase czpg_conn_phase(const struct czpg_conn *c);
const char *czpg_conn_phase_name(enum czpg_conn_phase phase);
/* True in DONE, FAILED, and after CLOSED. */
bool czpg_conn_finished(const struct czpg_conn *c);
/*
 * The failure sentence ("" if none), shorter than CZPG_CONN_ERR_MAX: a
 * buffer of that size holds it whole.
 */
#define CZPG_CONN_ERR_MAX 640
const char *czpg_conn_error(const struct czpg_conn *c);
/* The phase the connection was in when it failed. */
enum czpg_conn_phase czpg_conn_failed_phase(const struct czpg_conn *c);

/* Queries sent and not yet answered by ReadyForQuery. */
size_t czpg_conn_in_flight(const struct czpg_conn *c);

/* What was negotiated (valid after the step happened). */
/* 'S', 'N', 'E', other, 0 = none yet (with GSSENC_REQUEST: the answer to it, 'G' / 'N') */
char czpg_conn_ssl_answer(const struct czpg_conn *c);
struct czpg_tls *czpg_conn_tls(const struct czpg_conn *c); /* NULL without TLS */
/* "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "trust" (AuthenticationOk at once), or "" */
const char *czpg_conn_auth_method(const struct czpg_conn *c);
/* The SASL mechanisms the server offered, comma-separated ("" if none were). */
const char *czpg_conn_offered_mechanisms(const struct czpg_conn *c);
/* The first authentication request code seen (CZPG_PGWIRE_AUTH_*), -1 if none. */
int czpg_conn_auth_request(const struct czpg_conn *c);
/* SQLSTATE of a server ErrorResponse that failed startup ("" if none). */
const char *czpg_conn_startup_sqlstate(const struct czpg_conn *c);
/* The message (field M, sanitised) of that ErrorResponse ("" if none). */
const char *czpg_conn_startup_message(const struct czpg_conn *c);
/*
 * The field types that ErrorResponse carried, in the order S V C M D H P W F
 * L R ("" if none): PostgreSQL's backend sends "SVCMFLR" at least (it always
 * names its source file, line and routine); PgBouncer answers for itself
 * with "SCM".
 */
const char *czpg_conn_startup_fields(const struct czpg_conn *c);
uint32_t czpg_conn_backend_pid(const struct czpg_conn *c);
/* A ParameterStatus value the server sent, or NULL. */
const char *czpg_conn_parameter(const struct czpg_conn *c, const char *name);
void *czpg_conn_user_data(const struct czpg_conn *c);

#endif
