/*
 * probe_order.c - the server's preference among the suites it accepts for
 * one version, from what it picks out of different offers (see
 * probe_order.h; RFC 8446 section 4.1.1, RFC 5246 section 7.4.1.2).
 */
#include "probe_order.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "czpg/errf.h"

/* Index of name among the accepted suites, -1 when it is not one of them. */
static int index_of(const struct czpg_probe_order *o, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < o->n; i++)
		if (strcmp(o->names[i], name) == 0)
			return (int)i;
	return -1;
}

static void rank(struct czpg_probe_order *o, size_t i)
{
	o->is_ranked[i] = true;
	o->ranked[o->nranked++] = o->names[i];
}

/* The one suite not ranked yet when only one is left; -1 otherwise. */
static int last_unranked(const struct czpg_probe_order *o)
{
	size_t i;
	int found = -1;

	if (o->nranked + 1 != o->n)
		return -1;
	for (i = 0; i < o->n; i++)
		if (!o->is_ranked[i])
			found = (int)i;
	return found;
}

void czpg_probe_order_init(struct czpg_probe_order *o, const char *const *accepted, size_t n)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	o->state = CZPG_PROBE_ORDER_RUNNING;
	if (n > CZPG_PROBE_MAX_SUITES)
		n = CZPG_PROBE_MAX_SUITES;
	o->n = n;
	for (i = 0; i < n; i++)
		o->names[i] = accepted[i];
	if (n < 2) {
		o->state = CZPG_PROBE_ORDER_STOPPED;
		if (n == 1)
			rank(o, 0);
		czpg_errf(o->detail, sizeof(o->detail), "%s",
			  n == 1 ? "one suite accepted: nothing to order" : "no suite accepted");
	}
}

int czpg_probe_order_list(const struct czpg_probe_order *o, enum czpg_probe_offer which, char *list,
			  size_t cap)
{
	size_t k, used = 0, count = 0;
	int n;

	if (cap == 0)
		return -1;
	list[0] = '\0';
	for (k = 0; k < o->n; k++) {
		/* FORWARD walks the table; REVERSE and NEXT walk it backwards. */
		size_t i = which == CZPG_PROBE_OFFER_FORWARD ? k : o->n - 1 - k;

		if (which == CZPG_PROBE_OFFER_NEXT && o->is_ranked[i])
			continue;
		n = snprintf(list + used, cap - used, "%s%s", count > 0 ? ":" : "", o->names[i]);
		if (n < 0 || (size_t)n >= cap - used)
			return -1;
		used += (size_t)n;
		count++;
	}
	return count > 0 ? 0 : -1;
}

static void stop(struct czpg_probe_order *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void stop(struct czpg_probe_order *o, const char *fmt, ...)
{
	va_list ap;

	o->state = CZPG_PROBE_ORDER_STOPPED;
	va_start(ap, fmt);
	czpg_verrf(o->detail, sizeof(o->detail), fmt, ap);
	va_end(ap);
}

/* Both step 1 offers answered: which kind of server is it? */
static bool conclude_step1(struct czpg_probe_order *o)
{
	const char *f = o->first[0], *r = o->first[1];
	int fi = index_of(o, f), ri = index_of(o, r);

	if (f[0] == '\0' || r[0] == '\0') {
		stop(o, "a handshake offering every accepted suite failed");
		return false;
	}
	if (fi < 0 || ri < 0) {
		stop(o, "the server picked %s, which was not offered", fi < 0 ? f : r);
		return false;
	}
	if (fi == ri) {
		/* Its own preference: that pick is its first choice. */
		rank(o, (size_t)fi);
		if ((ri = last_unranked(o)) >= 0) {
			rank(o, (size_t)ri);
			o->state = CZPG_PROBE_ORDER_SERVER;
			return false;
		}
		return true;
	}
	if ((size_t)fi == 0 && (size_t)ri == o->n - 1) {
		o->state = CZPG_PROBE_ORDER_CLIENT;
		czpg_errf(o->detail, sizeof(o->detail),
			  "the client's first choice wins: %s from the suites in table order, %s "
			  "from the same suites reversed",
			  f, r);
		return false;
	}
	stop(o,
	     "the server's pick depends on the client's order but is not simply the client's "
	     "first choice (%s in table order, %s reversed)",
	     f, r);
	return false;
}

bool czpg_probe_order_record(struct czpg_probe_order *o, enum czpg_probe_offer which,
			     const char *picked)
{
	int i;

	if (o->state != CZPG_PROBE_ORDER_RUNNING)
		return false;
	if (which != CZPG_PROBE_OFFER_NEXT) {
		snprintf(o->first[which], sizeof(o->first[which]), "%s",
			 picked != NULL ? picked : "");
		o->answered |= 1u << which;
		if (o->answered != 3u)
			return false;
		return conclude_step1(o);
	}
	if (picked == NULL) {
		stop(o, "a handshake offering the suites not ranked yet failed");
		return false;
	}
	i = index_of(o, picked);
	if (i < 0 || o->is_ranked[i]) {
		stop(o, "the server picked %s, which was not offered", picked);
		return false;
	}
	rank(o, (size_t)i);
	if ((i = last_unranked(o)) >= 0) {
		rank(o, (size_t)i);
		o->state = CZPG_PROBE_ORDER_SERVER;
		return false;
	}
	return true;
}

void czpg_probe_order_cut(struct czpg_probe_order *o)
{
	if (o->state != CZPG_PROBE_ORDER_RUNNING)
		return;
	o->state = CZPG_PROBE_ORDER_STOPPED;
	czpg_errf(o->detail, sizeof(o->detail), "cut by the per-target deadline");
}

void czpg_probe_order_conclude(const struct czpg_probe_order *o, struct czpg_probe_version *v)
{
	size_t i;

	v->npreference = o->state == CZPG_PROBE_ORDER_CLIENT ? 0 : o->nranked;
	for (i = 0; i < v->npreference; i++)
		v->preference[i] = o->ranked[i];
	v->preference_complete = o->state == CZPG_PROBE_ORDER_SERVER;
	switch (o->state) {
	case CZPG_PROBE_ORDER_SERVER:
		v->server_order = CZPG_TRI_YES;
		czpg_errf(v->order_detail, sizeof(v->order_detail),
			  "the server's own preference, %zu suite(s) ranked", o->nranked);
		break;
	case CZPG_PROBE_ORDER_CLIENT:
		v->server_order = CZPG_TRI_NO;
		czpg_errf(v->order_detail, sizeof(v->order_detail), "%s", o->detail);
		break;
	case CZPG_PROBE_ORDER_STOPPED:
		/* Ranked at least the first choice by elimination: its own order. */
		v->server_order = o->nranked > 0 && o->n > 1 ? CZPG_TRI_YES : CZPG_TRI_UNKNOWN;
		if (o->n > 1)
			czpg_errf(v->order_detail, sizeof(v->order_detail), "%s; %zu of %zu ranked",
				  o->detail, o->nranked, o->n);
		else
			czpg_errf(v->order_detail, sizeof(v->order_detail), "%s", o->detail);
		break;
	case CZPG_PROBE_ORDER_NONE:
	case CZPG_PROBE_ORDER_RUNNING:
		v->server_order = CZPG_TRI_UNKNOWN;
		czpg_errf(v->order_detail, sizeof(v->order_detail), "%s",
			  o->state == CZPG_PROBE_ORDER_NONE ? "" : "not determined yet");
		break;
	}
}
