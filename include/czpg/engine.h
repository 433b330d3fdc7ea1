/*
 * engine.h - the one place that touches sockets: an io_uring event loop
 * driving many sans-I/O connections (czpg/conn.h) on one thread.
 *
 * Every socket operation (connect, send, recv) is an io_uring request whose
 * user_data packs the operation, the slot and the slot's generation; all
 * completions are handled in one dispatch function.  Each loop iteration is
 * one io_uring_enter: it submits every queued request (all connections'
 * sends and receives together) and waits for at least one completion.
 *
 * Ownership: the caller creates connections (czpg_conn_new) and hands them
 * to the engine with a socket address; the engine never frees them.  A slot
 * is released once its connection is finished (done or failed), its output
 * has been sent (when the socket still works) and no request is in flight;
 * then on_release runs and the caller may free the connection.
 */
#ifndef CZPG_ENGINE_H
#define CZPG_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "czpg/delay.h"

struct czpg_conn;
struct czpg_engine;

struct czpg_engine_config {
	unsigned max_conns;          /* slots; 0 = 64 */
	size_t recv_buffer;          /* bytes per connection; 0 = 16 KiB */
	uint32_t connect_timeout_ms; /* TCP connect; 0 = 10000 */
	/*
	 * Emulated one-way network delay (0 = none): every chunk of output is
	 * held this long before it is submitted, every chunk received this long
	 * before the connection sees it, and a completed TCP connect twice this
	 * long (SYN out, SYN-ACK back).  A delay line on the same ring
	 * (czpg/delay.h) with io_uring timeouts; for measuring, not for use.
	 */
	uint64_t delay_ns;
	/* Runs when a slot is released; the connection may be freed from here. */
	void (*on_release)(struct czpg_conn *c, void *user);
	void *user;
};

struct czpg_engine_stats {
	uint64_t enters;      /* io_uring_enter calls (loop iterations that entered the kernel) */
	uint64_t completions; /* CQEs handled */
	uint64_t sends;
	uint64_t recvs;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	struct czpg_delay_stats delay; /* the delay line's releases (delay_ns > 0) */
};

/* Monotonic clock in nanoseconds (the clock every conn deadline uses). */
uint64_t czpg_engine_now_ns(void);

/*
 * Resolves host (name or IP literal) and port to the first usable address,
 * before the loop runs (getaddrinfo blocks).  0, or -1 with a sentence in err.
 */
int czpg_engine_resolve(const char *host, unsigned port, struct sockaddr_storage *out,
			socklen_t *outlen, char *err, size_t errlen);

/* ---- addresses and the connect path ------------------------------------
 *
 * As libpq does: a --host may be a comma-separated list of names, each name
 * may resolve to several addresses, and every address is tried in order,
 * each with its own connect timeout, until one accepts the TCP connection.
 * What was tried, and which address answered, is kept for the report.
 */

#define CZPG_ENGINE_MAX_HOSTS 8  /* names in one --host list */
#define CZPG_ENGINE_HOST_MAX 256 /* a name's bytes, NUL included (DNS: 253) */
#define CZPG_ENGINE_MAX_ADDRS 16 /* addresses kept per name; more are dropped */
#define CZPG_ENGINE_IP_TEXT 46   /* INET6_ADDRSTRLEN */
/* "[" + an IPv6 address + "]:65535" and the NUL. */
#define CZPG_ENGINE_ADDR_TEXT (CZPG_ENGINE_IP_TEXT + 9)
#define CZPG_ENGINE_ATTEMPT_ERR 96 /* one attempt's error: strerror() or a timeout */

/* A libpq-style host list, split: "db1,db2" -> {"db1", "db2"}. */
struct czpg_engine_hosts {
	char name[CZPG_ENGINE_MAX_HOSTS][CZPG_ENGINE_HOST_MAX];
	size_t n;
};

/*
 * One end of a TCP connection.  An IPv4-mapped IPv6 address
 * (::ffff:127.0.0.1) is shown in its IPv4 form, as PostgreSQL's
 * pg_stat_activity.client_addr shows a client that came over IPv4.
 */
struct czpg_engine_endpoint {
	struct sockaddr_storage sa;
	socklen_t len;                    /* 0 = unknown */
	char ip[CZPG_ENGINE_IP_TEXT];     /* "127.0.0.1", "::1" */
	unsigned port;                    /* host byte order */
	char text[CZPG_ENGINE_ADDR_TEXT]; /* "127.0.0.1:5432", "[::1]:5432" */
};

/* The addresses one name resolved to, in the resolver's order (RFC 6724). */
struct czpg_engine_addrs {
	struct czpg_engine_endpoint addr[CZPG_ENGINE_MAX_ADDRS];
	size_t n;
};

/* One connect attempt: the address and why it did not answer ("" if it did). */
struct czpg_engine_attempt {
	char addr[CZPG_ENGINE_ADDR_TEXT];
	char error[CZPG_ENGINE_ATTEMPT_ERR];
};

/*
 * What a connection's connect path did, owned by the caller and filled by
 * the engine: every attempt in order (a caller that walks a host list may
 * add its own, e.g. a name that did not resolve), the one that answered,
 * and the answering socket's local and peer address (getsockname and
 * getpeername right after the connect completed).
 */
struct czpg_engine_route {
	struct czpg_engine_attempt tried[CZPG_ENGINE_MAX_ADDRS];
	size_t ntried;
	size_t nlost; /* attempts made beyond tried[]: counted, not kept */
	int answered; /* index into tried; -1 while no address has answered */
	struct czpg_engine_endpoint local;
	struct czpg_engine_endpoint peer;
};

/* An empty route: nothing tried, nothing answered. */
void czpg_engine_route_init(struct czpg_engine_route *r);

/* Appends an attempt (addr, error) to r; attempts past the array are counted in nlost. */
void czpg_engine_route_add(struct czpg_engine_route *r, const char *addr, const char *error);

/*
 * The failed attempts as one clause, "[::1]:5432: Connection refused;
 * 127.0.0.1:5432: timed out after 10000 ms", into out (cut with "..." when
 * it does not fit).  Returns the number of failed attempts.
 */
size_t czpg_engine_route_describe(const struct czpg_engine_route *r, char *out, size_t cap);

/*
 * Splits a comma-separated host list as libpq's host= does.  Every element
 * must be a non-empty name of fewer than CZPG_ENGINE_HOST_MAX bytes, at most
 * CZPG_ENGINE_MAX_HOSTS of them.  0, or -1 with a sentence in err.
 */
int czpg_engine_split_hosts(const char *list, struct czpg_engine_hosts *out, char *err,
			    size_t errlen);

/*
 * Resolves one name (or IP literal) and port to every address it has, in
 * getaddrinfo's order, as libpq does (no AI_ADDRCONFIG: a loopback-only
 * ::1 counts).  Blocks; call before the loop runs.  0 with out->n >= 1, or
 * -1 with a sentence in err.
 */
int czpg_engine_resolve_all(const char *host, unsigned port, struct czpg_engine_addrs *out,
			    char *err, size_t errlen);

/* The local and peer address of a connected socket (either may be NULL).  0 or -1. */
int czpg_engine_endpoints_of(int fd, struct czpg_engine_endpoint *local,
			     struct czpg_engine_endpoint *peer);

/*
 * Fills an endpoint from a socket address (len bytes).  Returns 0, or -1
 * when the family is neither IPv4 nor IPv6.
 */
int czpg_engine_endpoint_set(struct czpg_engine_endpoint *ep, const struct sockaddr *sa,
			     socklen_t len);

/* Creates the ring.  NULL with a sentence in err (e.g. io_uring unavailable). */
struct czpg_engine *czpg_engine_new(const struct czpg_engine_config *cfg, char *err, size_t errlen);
/* Closes every socket and frees the engine (not the connections).  NULL-safe. */
void czpg_engine_free(struct czpg_engine *e);

/*
 * Starts connecting c to addr (optionally from source address src, e.g. one
 * of several 127.0.0.0/8 addresses).  label names the target in errors
 * ("127.0.0.1:5432").  Returns the slot number, or -1 with a sentence in err
 * (no free slot, socket() failed).  On any later transport failure the
 * connection fails with a sentence naming label.
 */
int czpg_engine_connect(struct czpg_engine *e, struct czpg_conn *c, const struct sockaddr *addr,
			socklen_t addrlen, const struct sockaddr *src, socklen_t srclen,
			const char *label, char *err, size_t errlen);

/*
 * Starts connecting c to each address of addrs in order: when one refuses,
 * is unreachable or does not answer within the connect timeout, the next is
 * tried with a new socket (the connection's queued first message waits); the
 * first that accepts carries the connection.  addrs and route are borrowed
 * until the slot is released; route (may be NULL) records every attempt, the
 * address that answered and the socket's local and peer address.  When no
 * address answers, the connection fails with one sentence naming label and
 * listing each address with its error.  Returns the slot, or -1 with a
 * sentence in err (empty list, no free slot, no socket for any address).
 */
int czpg_engine_connect_addrs(struct czpg_engine *e, struct czpg_conn *c,
			      const struct czpg_engine_addrs *addrs,
			      struct czpg_engine_route *route, const char *label, char *err,
			      size_t errlen);

/*
 * Before any connection is made (blocks): opens a TCP connection to each
 * address of addrs in order, each given timeout_ms, and closes the first
 * that is accepted without sending a byte (PostgreSQL logs nothing for
 * that).  For a verb that then opens many connections to one address (the
 * bench's pools): it learns once which address answers.  The attempts go to
 * route (which is not reset: a host list's names add up).  Returns the
 * index in addrs of the address that answered, or -1 with the list of
 * attempts in err.
 */
int czpg_engine_dial(const struct czpg_engine_addrs *addrs, uint32_t timeout_ms,
		     struct czpg_engine_route *route, char *err, size_t errlen);

/*
 * Tells the engine that the caller queued output on slot's connection
 * outside a callback (callbacks of that same connection need not).
 */
void czpg_engine_wake(struct czpg_engine *e, int slot);

/*
 * One iteration: submits queued requests, waits up to timeout_ns for at
 * least one completion, handles every completion available, sends what the
 * connections produced, checks deadlines, releases finished slots.
 * Returns the number of completions handled (0 on timeout), or -1 with a
 * sentence in err when the ring itself fails.
 */
int czpg_engine_run_once(struct czpg_engine *e, uint64_t timeout_ns, char *err, size_t errlen);

/* Runs until no slot is active or the deadline (absolute ns) passes; 0 or -1. */
int czpg_engine_run_until_idle(struct czpg_engine *e, uint64_t deadline_ns, char *err,
			       size_t errlen);

/* Slots in use. */
size_t czpg_engine_active(const struct czpg_engine *e);

const struct czpg_engine_stats *czpg_engine_stats(const struct czpg_engine *e);

#endif
