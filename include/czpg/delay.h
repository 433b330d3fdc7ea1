/*
 * delay.h - a delay line: a FIFO of byte chunks, each released a fixed hold
 * time after it was queued.  The engine (czpg/engine.h) puts one between its
 * connections and their sockets to emulate a network round trip for the
 * bench (`czctl postgres tls bench --rtt MS`): what a connection sends waits
 * RTT/2 before it is submitted, what the socket receives waits RTT/2 before
 * the connection sees it.
 *
 * Sans-I/O: the caller passes the clock to every call; nothing here sleeps,
 * arms a timer or touches a socket, so the queueing is unit-tested with a
 * scripted clock (tests/unit/test_delay.c).
 *
 * One line serves every connection of an engine in both directions.  A chunk
 * says whom it is for (slot and the slot's generation, as the engine packs
 * them) and what it is: bytes towards the server, bytes from the server, the
 * end of the server's stream, a transport error, or a TCP connect that
 * completed.  Every chunk is held the same time and the clock never goes
 * back, so chunks fall due in the order they were queued: release is FIFO,
 * and each connection's bytes keep their order in each direction however
 * many are in flight (pipelining).
 *
 * Achieved versus configured: every release records how late it came (the
 * release time minus the due time, as the caller's clock saw it), so a
 * report can give the delay actually applied next to the configured one.
 */
#ifndef CZPG_DELAY_H
#define CZPG_DELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/buf.h"

enum czpg_delay_kind {
	CZPG_DELAY_OUT = 1,  /* bytes the connection sends, before they reach the socket */
	CZPG_DELAY_IN,       /* bytes the socket received, before the connection sees them */
	CZPG_DELAY_IN_EOF,   /* the server closed its side (recv returned 0) */
	CZPG_DELAY_IN_ERROR, /* a receive failed; arg is the errno */
	CZPG_DELAY_CONNECT,  /* a TCP connect completed: the SYN-ACK on its way back */
};

/* A released chunk.  data points into the line: valid until the next push. */
struct czpg_delay_chunk {
	enum czpg_delay_kind kind;
	uint32_t slot;
	uint32_t gen;
	int arg;
	const uint8_t *data;
	size_t len;
	uint64_t queued_ns;
	uint64_t due_ns;
};

/* What the line did so far (cumulative; subtract two snapshots for a window). */
struct czpg_delay_stats {
	uint64_t chunks;      /* released */
	uint64_t bytes;       /* released, OUT and IN */
	double late_sum_ns;   /* sum of (release - due) */
	double late_sumsq;    /* sum of squares, ns^2, for the spread */
	uint64_t late_max_ns; /* the latest release */
};

struct czpg_delay {
	uint64_t hold_ns;
	struct czpg_wbuf q; /* chunks: a fixed header, then len bytes */
	size_t chunks;      /* queued, not yet released */
	struct czpg_delay_stats stats;
};

/*
 * Starts an empty line holding each chunk hold_ns; it may buffer up to
 * max_bytes of chunks and headers (0 = the byte buffer's default cap).
 */
void czpg_delay_init(struct czpg_delay *d, uint64_t hold_ns, size_t max_bytes);

/* Frees the queued chunks (wiping them: they may hold protocol secrets).  NULL-safe. */
void czpg_delay_free(struct czpg_delay *d);

/*
 * Changes the hold for chunks queued from now on.  Chunks already queued
 * keep their due times; a shorter hold only takes effect in order (a chunk
 * never overtakes one queued before it), so change it when the line is empty.
 */
void czpg_delay_set_hold(struct czpg_delay *d, uint64_t hold_ns);

/*
 * Queues a chunk of len bytes (copied; data may be NULL when len is 0) due
 * at now_ns + hold.  0, or -1 when the line is full (nothing queued).
 */
int czpg_delay_push(struct czpg_delay *d, enum czpg_delay_kind kind, uint32_t slot, uint32_t gen,
		    int arg, const void *data, size_t len, uint64_t now_ns);

/* When the oldest queued chunk falls due (ns), or 0 when the line is empty. */
uint64_t czpg_delay_next_due(const struct czpg_delay *d);

/*
 * Takes the oldest chunk off the line into *out when it is due at now_ns
 * and returns true; false when the line is empty or its oldest chunk is not
 * due yet.  Records how late the release came.
 */
bool czpg_delay_pop(struct czpg_delay *d, uint64_t now_ns, struct czpg_delay_chunk *out);

/* Chunks queued, not yet released. */
size_t czpg_delay_queued(const struct czpg_delay *d);

#endif
