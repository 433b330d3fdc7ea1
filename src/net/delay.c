/*
 * delay.c - the delay line that emulates a network round trip inside the
 * engine (see czpg/delay.h).  A chunk is a fixed header followed by its
 * bytes in one byte queue (czpg/buf.h): pushing appends, releasing consumes
 * from the front, so the line allocates only when it grows.
 */
#include "czpg/delay.h"

#include <string.h>

/* The fixed part of a queued chunk, stored in host order (it never leaves memory). */
struct chunk_header {
	uint64_t queued_ns;
	uint64_t due_ns;
	uint64_t len;
	uint32_t slot;
	uint32_t gen;
	int32_t arg;
	uint32_t kind;
};

void czpg_delay_init(struct czpg_delay *d, uint64_t hold_ns, size_t max_bytes)
{
	memset(d, 0, sizeof(*d));
	d->hold_ns = hold_ns;
	czpg_wbuf_init(&d->q, max_bytes);
}

void czpg_delay_free(struct czpg_delay *d)
{
	if (d == NULL)
		return;
	czpg_wbuf_free_secure(&d->q);
	d->chunks = 0;
}

void czpg_delay_set_hold(struct czpg_delay *d, uint64_t hold_ns)
{
	d->hold_ns = hold_ns;
}

int czpg_delay_push(struct czpg_delay *d, enum czpg_delay_kind kind, uint32_t slot, uint32_t gen,
		    int arg, const void *data, size_t len, uint64_t now_ns)
{
	struct chunk_header h;
	uint8_t *room;

	h.queued_ns = now_ns;
	h.due_ns = now_ns + d->hold_ns;
	h.len = len;
	h.slot = slot;
	h.gen = gen;
	h.arg = arg;
	h.kind = (uint32_t)kind;
	/* One reservation for header and bytes: a full line queues nothing. */
	room = czpg_wbuf_space(&d->q, sizeof(h) + len);
	if (room == NULL) {
		d->q.err = false; /* the line stays usable once it drains */
		return -1;
	}
	memcpy(room, &h, sizeof(h));
	if (len > 0)
		memcpy(room + sizeof(h), data, len);
	czpg_wbuf_commit(&d->q, sizeof(h) + len);
	d->chunks++;
	return 0;
}

uint64_t czpg_delay_next_due(const struct czpg_delay *d)
{
	struct chunk_header h;

	if (d->chunks == 0)
		return 0;
	memcpy(&h, d->q.data, sizeof(h));
	return h.due_ns;
}

bool czpg_delay_pop(struct czpg_delay *d, uint64_t now_ns, struct czpg_delay_chunk *out)
{
	struct chunk_header h;
	uint64_t late;

	if (d->chunks == 0)
		return false;
	memcpy(&h, d->q.data, sizeof(h));
	if (h.due_ns > now_ns)
		return false;
	out->kind = (enum czpg_delay_kind)h.kind;
	out->slot = h.slot;
	out->gen = h.gen;
	out->arg = h.arg;
	out->data = d->q.data + sizeof(h);
	out->len = (size_t)h.len;
	out->queued_ns = h.queued_ns;
	out->due_ns = h.due_ns;
	/* Consuming leaves the bytes in place until the next write. */
	czpg_wbuf_consume(&d->q, sizeof(h) + (size_t)h.len);
	d->chunks--;
	late = now_ns - h.due_ns;
	d->stats.chunks++;
	d->stats.bytes += h.len;
	d->stats.late_sum_ns += (double)late;
	d->stats.late_sumsq += (double)late * (double)late;
	if (late > d->stats.late_max_ns)
		d->stats.late_max_ns = late;
	return true;
}

size_t czpg_delay_queued(const struct czpg_delay *d)
{
	return d->chunks;
}
