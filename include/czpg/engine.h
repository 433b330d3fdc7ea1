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
