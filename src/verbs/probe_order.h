/*
 * probe_order.h - private to the probe (src/verbs/probe*.c): the server's
 * preference among the cipher suites it accepts for one protocol version,
 * found from what it picks (RFC 8446 section 4.1.1, RFC 5246 section
 * 7.4.1.2: the server chooses one suite from the client's list, by its own
 * order or by the client's).
 *
 * The method, one version at a time, over the n suites it accepted:
 *
 *   1. every accepted suite offered twice, in table order and reversed.  The
 *      same pick both times: the server applies its own preference, and that
 *      pick is its first choice.  The client's first suite both times: the
 *      server follows the client ("client order"); nothing more to rank.
 *   2. with its own preference, by elimination: offer the suites not ranked
 *      yet (reversed, so that the pick is never merely the first offered
 *      unless it is also the server's choice); the pick is the next in its
 *      order.  The last suite needs no offer.
 *
 * n accepted suites cost n handshakes in all (2 + n - 2).
 *
 * Pure: this says what to offer and reads what was picked; the probe makes
 * the connections (probe.c) and the TLS configurations (probe_suites.c).
 */
#ifndef CZPG_PROBE_ORDER_H
#define CZPG_PROBE_ORDER_H

#include <stdbool.h>
#include <stddef.h>

#include "czpg/probe.h"

/* Which offer a pick answers. */
enum czpg_probe_offer {
	CZPG_PROBE_OFFER_FORWARD = 0, /* every accepted suite, table order */
	CZPG_PROBE_OFFER_REVERSE,     /* every accepted suite, reversed */
	CZPG_PROBE_OFFER_NEXT,        /* the suites not ranked yet (step 2) */
};

enum czpg_probe_order_state {
	CZPG_PROBE_ORDER_NONE = 0, /* not started (a zeroed struct) */
	CZPG_PROBE_ORDER_RUNNING,  /* offers outstanding */
	CZPG_PROBE_ORDER_SERVER,   /* ranked by the server's preference (complete) */
	CZPG_PROBE_ORDER_CLIENT,   /* the server follows the client's order */
	CZPG_PROBE_ORDER_STOPPED,  /* ended early: a failed handshake, an odd pick, one suite */
};

struct czpg_probe_order {
	/* Supplied: the accepted suites, in table order (static names). */
	size_t n;
	const char *names[CZPG_PROBE_MAX_SUITES];
	/* Step 1: the picks of the forward and the reverse offer ("" = none). */
	char first[2][64];
	unsigned answered; /* bit 0 forward, bit 1 reverse */
	/* The ranking so far: the server's first choice first. */
	size_t nranked;
	const char *ranked[CZPG_PROBE_MAX_SUITES];
	bool is_ranked[CZPG_PROBE_MAX_SUITES]; /* by index into names */
	enum czpg_probe_order_state state;
	char detail[200]; /* why it stopped, or what the picks showed */
};

/*
 * Starts a ranking of the n accepted suites (n <= CZPG_PROBE_MAX_SUITES,
 * static names, table order).  With fewer than two nothing can be ordered:
 * the state is STOPPED at once (the one suite, if any, is the ranking).
 */
void czpg_probe_order_init(struct czpg_probe_order *o, const char *const *accepted, size_t n);

/*
 * The ':'-separated suite list offer `which` sends, into list (cap bytes).
 * Returns 0, or -1 when it does not fit or there is nothing to offer.
 */
int czpg_probe_order_list(const struct czpg_probe_order *o, enum czpg_probe_offer which, char *list,
			  size_t cap);

/*
 * Records what the server picked for offer `which` (its OpenSSL name, or
 * NULL when the handshake failed).  Returns true when an offer NEXT is to be
 * made now, false when none is (waiting for the other step 1 offer, or the
 * ranking ended: see state).
 */
bool czpg_probe_order_record(struct czpg_probe_order *o, enum czpg_probe_offer which,
			     const char *picked);

/*
 * Ends a ranking that is still running (the deadline cut it), keeping what
 * was ranked.  No effect on a ranking that ended.
 */
void czpg_probe_order_cut(struct czpg_probe_order *o);

/*
 * Writes the outcome into v: server_order (YES: the server's preference, NO:
 * the client's order, UNKNOWN otherwise), the preference list, whether it
 * is complete, and order_detail.
 */
void czpg_probe_order_conclude(const struct czpg_probe_order *o, struct czpg_probe_version *v);

#endif
