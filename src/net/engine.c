/*
 * engine.c - io_uring event loop for many connections on one thread (see
 * czpg/engine.h).  The only code in czpg that owns sockets.
 *
 * user_data layout (64 bits): generation (32) | slot (28) | op (4).  The
 * generation changes every time a slot is reused, so a completion that
 * arrives for a previous occupant is recognised and dropped.
 *
 * With an emulated network delay (czpg_engine_config.delay_ns), a delay line
 * (czpg/delay.h) sits between the connections and their sockets: output is
 * queued there when taken from a connection and moved to the socket's send
 * buffer when due; received bytes are queued when the recv completes and fed
 * to the connection when due.  One io_uring timeout (op OP_TIMER) is armed
 * for the oldest chunk at a time; every chunk has the same hold, so the
 * oldest is always the next due.
 */
#include "czpg/engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "czpg/buf.h"
#include "czpg/clock.h"
#include "czpg/conn.h"
#include "czpg/errf.h"

#define ENGINE_DEFAULT_CONNS 64u
#define ENGINE_DEFAULT_RECV 16384u
#define ENGINE_SEND_BUF 65536u
#define ENGINE_TICK_NS 5000000ull /* deadlines are checked at least this often */
/* A target's label: "[" + a 255-byte host + "]:65535" and its NUL fit. */
#define ENGINE_LABEL_MAX 272
/* A transport sentence: a few words, the label and strerror()'s text. */
#define ENGINE_MSG_MAX (ENGINE_LABEL_MAX + 128)

enum engine_op { OP_CONNECT = 1, OP_SEND = 2, OP_RECV = 3, OP_TIMER = 4 };

struct slot {
	struct czpg_conn *conn;
	int fd;
	uint32_t gen;
	bool used;
	bool connected;
	bool connect_inflight;
	bool send_inflight;
	bool recv_inflight;
	bool broken; /* transport failed: nothing more can be sent */
	bool shut;   /* shutdown() done: the pending recv will end */
	bool dirty;  /* on the dirty list */
	uint64_t connect_deadline;
	uint8_t *rbuf;
	/*
	 * Output taken from the connection, not yet sent (out.data, out.len):
	 * a send completion consumes what the kernel took.  Refilled only when
	 * empty and no send is in flight, so the bytes never move under a send.
	 */
	struct czpg_wbuf out;
	/* Delay line: output released by the line, waiting for out to empty. */
	struct czpg_wbuf held;
	unsigned delayed_out; /* OUT chunks of this slot still in the line */
	char label[ENGINE_LABEL_MAX];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	/* Address fallback (czpg_engine_connect_addrs); addrs NULL: one address. */
	const struct czpg_engine_addrs *addrs;
	size_t addr_next;                /* the next address to try */
	struct czpg_engine_route *route; /* NULL: not recorded */
	int attempt;                     /* this attempt's index in route->tried, -1 if none */
};

struct czpg_engine {
	struct io_uring ring;
	struct slot *slots;
	unsigned nslots;
	unsigned active;
	unsigned *free_list;
	unsigned nfree;
	unsigned *dirty;
	unsigned ndirty;
	size_t recv_size;
	uint64_t connect_timeout_ns;
	uint64_t last_tick;
	void (*on_release)(struct czpg_conn *, void *);
	void *user;
	struct czpg_engine_stats stats;
	/* Emulated network delay: the line and its one timer. */
	bool delayed;
	struct czpg_delay line;
	bool timer_armed;
	struct __kernel_timespec timer_ts; /* read by the kernel when the timer is submitted */
	uint8_t *scratch;                  /* output on its way from a connection to the line */
};

uint64_t czpg_engine_now_ns(void)
{
	return czpg_clock_ns();
}

int czpg_engine_resolve(const char *host, unsigned port, struct sockaddr_storage *out,
			socklen_t *outlen, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *res = NULL;
	char portstr[16];
	int rc;

	if (port == 0 || port > 65535) {
		czpg_errf(err, errlen, "port %u is out of range (1-65535)", port);
		return -1;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc == EAI_NONAME || rc == EAI_FAIL || rc == EAI_ADDRFAMILY) {
		hints.ai_flags = 0; /* loopback-only machines: AI_ADDRCONFIG hides ::1 */
		rc = getaddrinfo(host, portstr, &hints, &res);
	}
	if (rc != 0 || res == NULL) {
		czpg_errf(err, errlen, "cannot resolve host \"%s\": %s", host, gai_strerror(rc));
		return -1;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*outlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static uint64_t pack(unsigned slot, uint32_t gen, enum engine_op op)
{
	return (uint64_t)gen << 32 | (uint64_t)slot << 4 | (uint64_t)op;
}

struct czpg_engine *czpg_engine_new(const struct czpg_engine_config *cfg, char *err, size_t errlen)
{
	struct czpg_engine *e = calloc(1, sizeof(*e));
	unsigned i, entries;
	int rc;

	if (e == NULL)
		goto oom;
	e->nslots = cfg->max_conns != 0 ? cfg->max_conns : ENGINE_DEFAULT_CONNS;
	if (e->nslots > (1u << 27)) {
		czpg_errf(err, errlen, "too many connection slots (%u; at most %u)", e->nslots,
			  1u << 27);
		free(e);
		return NULL;
	}
	e->recv_size = cfg->recv_buffer != 0 ? cfg->recv_buffer : ENGINE_DEFAULT_RECV;
	e->connect_timeout_ns =
	    (uint64_t)(cfg->connect_timeout_ms != 0 ? cfg->connect_timeout_ms : 10000) * 1000000ull;
	e->on_release = cfg->on_release;
	e->user = cfg->user;
	e->delayed = cfg->delay_ns > 0;
	czpg_delay_init(&e->line, cfg->delay_ns, 0);
	if (e->delayed) {
		e->scratch = malloc(ENGINE_SEND_BUF);
		if (e->scratch == NULL)
			goto oom;
	}
	e->slots = calloc(e->nslots, sizeof(*e->slots));
	e->free_list = calloc(e->nslots, sizeof(*e->free_list));
	e->dirty = calloc(e->nslots, sizeof(*e->dirty));
	if (e->slots == NULL || e->free_list == NULL || e->dirty == NULL)
		goto oom;
	for (i = 0; i < e->nslots; i++) {
		e->slots[i].fd = -1;
		czpg_wbuf_init(&e->slots[i].held, 0);
		e->free_list[e->nfree++] = e->nslots - 1 - i;
	}
	/* Two requests per connection can be queued at once (send + recv), and a timer. */
	entries = 2 * e->nslots + 8;
	if (entries > 32768)
		entries = 32768;
	/*
	 * One thread owns the ring: completions' task work can wait until the
	 * loop enters the kernel to reap (DEFER_TASKRUN), which spares every
	 * socket wake-up an interrupt of this thread and a contended lock.
	 * Older kernels refuse the flags: fall back step by step.
	 */
	rc = io_uring_queue_init(entries, &e->ring,
				 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(entries, &e->ring, IORING_SETUP_COOP_TASKRUN);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(entries, &e->ring, 0);
	if (rc < 0) {
		czpg_errf(err, errlen, "cannot create an io_uring ring: %s", strerror(-rc));
		free(e->slots);
		free(e->free_list);
		free(e->dirty);
		free(e->scratch);
		free(e);
		return NULL;
	}
	return e;
oom:
	czpg_errf(err, errlen, "out of memory creating the event loop");
	if (e != NULL) {
		free(e->slots);
		free(e->free_list);
		free(e->dirty);
		free(e->scratch);
		free(e);
	}
	return NULL;
}

static void slot_free_buffers(struct slot *s)
{
	free(s->rbuf);
	s->rbuf = NULL;
	czpg_wbuf_free(&s->out);
	czpg_wbuf_free_secure(&s->held);
	s->delayed_out = 0;
}

void czpg_engine_free(struct czpg_engine *e)
{
	unsigned i;

	if (e == NULL)
		return;
	io_uring_queue_exit(&e->ring);
	for (i = 0; i < e->nslots; i++) {
		if (e->slots[i].fd >= 0)
			close(e->slots[i].fd);
		slot_free_buffers(&e->slots[i]);
	}
	free(e->slots);
	free(e->free_list);
	free(e->dirty);
	czpg_delay_free(&e->line);
	free(e->scratch);
	free(e);
}

/* Gets an SQE, submitting what is queued when the ring is full. */
static struct io_uring_sqe *get_sqe(struct czpg_engine *e)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

	if (sqe == NULL) {
		io_uring_submit(&e->ring);
		e->stats.enters++;
		sqe = io_uring_get_sqe(&e->ring);
	}
	return sqe;
}

static void mark_dirty(struct czpg_engine *e, unsigned idx)
{
	if (e->slots[idx].dirty)
		return;
	e->slots[idx].dirty = true;
	e->dirty[e->ndirty++] = idx;
}

void czpg_engine_wake(struct czpg_engine *e, int slot)
{
	if (slot >= 0 && (unsigned)slot < e->nslots && e->slots[slot].used)
		mark_dirty(e, (unsigned)slot);
}

static int open_tcp_socket(int family)
{
	int one = 1, fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);

	/* Protocol messages are small and latency-bound: no Nagle delay. */
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int czpg_engine_connect(struct czpg_engine *e, struct czpg_conn *c, const struct sockaddr *addr,
			socklen_t addrlen, const struct sockaddr *src, socklen_t srclen,
			const char *label, char *err, size_t errlen)
{
	struct io_uring_sqe *sqe;
	struct slot *s;
	unsigned idx;
	int fd;

	if (e->nfree == 0) {
		czpg_errf(err, errlen, "no free connection slot (limit %u)", e->nslots);
		return -1;
	}
	if (addrlen > sizeof(s->addr)) {
		czpg_errf(err, errlen, "the address of %s does not fit a socket address",
			  label != NULL ? label : "the server");
		return -1;
	}
	fd = open_tcp_socket(addr->sa_family);
	if (fd < 0) {
		czpg_errf(err, errlen, "cannot create a socket for %s: %s",
			  label != NULL ? label : "the server", strerror(errno));
		return -1;
	}
	if (src != NULL && bind(fd, src, srclen) < 0) {
		czpg_errf(err, errlen, "cannot bind the source address for %s: %s",
			  label != NULL ? label : "the connection", strerror(errno));
		close(fd);
		return -1;
	}
	idx = e->free_list[--e->nfree];
	s = &e->slots[idx];
	s->gen++;
	s->conn = c;
	s->fd = fd;
	s->used = true;
	s->connected = s->send_inflight = s->recv_inflight = false;
	s->broken = s->shut = s->dirty = false;
	s->rbuf = malloc(e->recv_size);
	/* Allocated now so that running out of memory fails here, not mid-run. */
	czpg_wbuf_init(&s->out, ENGINE_SEND_BUF);
	if (s->rbuf == NULL || czpg_wbuf_reserve(&s->out, ENGINE_SEND_BUF) < 0) {
		slot_free_buffers(s);
		close(fd);
		s->fd = -1;
		s->used = false;
		e->free_list[e->nfree++] = idx;
		czpg_errf(err, errlen, "out of memory for the buffers of %s",
			  label != NULL ? label : "the server");
		return -1;
	}
	czpg_errf(s->label, sizeof(s->label), "%s", label != NULL ? label : "server");
	s->addrs = NULL;
	s->addr_next = 0;
	s->route = NULL;
	s->attempt = -1;
	memcpy(&s->addr, addr, addrlen);
	s->addrlen = addrlen;
	s->connect_deadline = czpg_engine_now_ns() + e->connect_timeout_ns;
	sqe = get_sqe(e);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&s->addr, s->addrlen);
	io_uring_sqe_set_data64(sqe, pack(idx, s->gen, OP_CONNECT));
	s->connect_inflight = true;
	e->active++;
	return (int)idx;
}

static void submit_recv(struct czpg_engine *e, unsigned idx)
{
	struct slot *s = &e->slots[idx];
	struct io_uring_sqe *sqe;

	if (s->recv_inflight || s->broken)
		return;
	sqe = get_sqe(e);
	io_uring_prep_recv(sqe, s->fd, s->rbuf, e->recv_size, 0);
	io_uring_sqe_set_data64(sqe, pack(idx, s->gen, OP_RECV));
	s->recv_inflight = true;
	e->stats.recvs++;
}

/* Delay line: moves up to cap bytes the line released for s into buf. */
static size_t take_held(struct slot *s, uint8_t *buf, size_t cap)
{
	size_t n = s->held.len < cap ? s->held.len : cap;

	if (n > 0) {
		memcpy(buf, s->held.data, n);
		czpg_wbuf_consume(&s->held, n);
	}
	return n;
}

static void submit_send(struct czpg_engine *e, unsigned idx)
{
	struct slot *s = &e->slots[idx];
	struct io_uring_sqe *sqe;
	uint8_t *room;

	if (s->send_inflight || s->broken || !s->connected)
		return;
	if (s->out.len == 0) {
		/* Every completion marks its slot dirty: most have nothing to send. */
		if (e->delayed ? s->held.len == 0 : czpg_conn_pending_output(s->conn) == 0)
			return;
		room = czpg_wbuf_space(&s->out, ENGINE_SEND_BUF);
		if (room == NULL)
			return; /* cannot happen: reserved at connect, and empty now */
		czpg_wbuf_commit(
		    &s->out, e->delayed ? take_held(s, room, ENGINE_SEND_BUF)
					: czpg_conn_take_output(s->conn, room, ENGINE_SEND_BUF));
		if (s->out.len == 0)
			return;
	}
	sqe = get_sqe(e);
	io_uring_prep_send(sqe, s->fd, s->out.data, s->out.len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, pack(idx, s->gen, OP_SEND));
	s->send_inflight = true;
	e->stats.sends++;
}

/*
 * Releases a slot whose connection is finished once nothing references its
 * buffers: first the output goes out (Terminate, close_notify), then a
 * shutdown() makes the pending recv complete, then the socket closes.
 */
static void maybe_release(struct czpg_engine *e, unsigned idx)
{
	struct slot *s = &e->slots[idx];
	struct czpg_conn *c = s->conn;

	if (!s->used || !czpg_conn_finished(c))
		return;
	if (!s->broken && s->connected &&
	    (s->send_inflight || s->out.len > 0 || czpg_conn_pending_output(c) > 0 ||
	     s->delayed_out > 0 || s->held.len > 0))
		return;
	if (s->connect_inflight || s->send_inflight || s->recv_inflight) {
		if (!s->shut) {
			/* A recv ends when the socket shuts down; a connect to a
			 * silent host may not, so cancel that explicitly. */
			shutdown(s->fd, SHUT_RDWR);
			if (s->connect_inflight) {
				struct io_uring_sqe *sqe = get_sqe(e);

				io_uring_prep_cancel64(sqe, pack(idx, s->gen, OP_CONNECT), 0);
				io_uring_sqe_set_data64(sqe, 0);
			}
			s->shut = true;
		}
		return;
	}
	close(s->fd);
	s->fd = -1;
	s->used = false;
	s->conn = NULL;
	slot_free_buffers(s);
	e->free_list[e->nfree++] = idx;
	e->active--;
	if (e->on_release != NULL)
		e->on_release(c, e->user);
}

static void transport_failed(struct slot *s, const char *what, int error)
{
	char msg[ENGINE_MSG_MAX];

	s->broken = true;
	czpg_errf(msg, sizeof(msg), "%s %s: %s", what, s->label, strerror(error));
	czpg_conn_fail_transport(s->conn, msg);
}

/* ------------------------------------------------------------------------
 * The delay line (delay_ns > 0): what goes in, what comes out when due.
 */
static void line_full(struct slot *s, const char *what)
{
	char msg[ENGINE_MSG_MAX];

	s->broken = true;
	czpg_errf(msg, sizeof(msg), "the emulated network delay line is full (%s %s)", what,
		  s->label);
	czpg_conn_fail_transport(s->conn, msg);
}

/* Queues what slot idx's connection wrote; it goes to the socket when due. */
static void delay_output(struct czpg_engine *e, unsigned idx, uint64_t now)
{
	struct slot *s = &e->slots[idx];
	size_t n;

	if (!s->connected || s->broken)
		return;
	while ((n = czpg_conn_take_output(s->conn, e->scratch, ENGINE_SEND_BUF)) > 0) {
		if (czpg_delay_push(&e->line, CZPG_DELAY_OUT, idx, s->gen, 0, e->scratch, n, now) <
		    0) {
			line_full(s, "sending to");
			return;
		}
		s->delayed_out++;
	}
}

/* Queues what a recv completion brought (bytes, end of file or an error). */
static void delay_input(struct czpg_engine *e, unsigned idx, int res, uint64_t now)
{
	struct slot *s = &e->slots[idx];
	enum czpg_delay_kind kind = res > 0    ? CZPG_DELAY_IN
				    : res == 0 ? CZPG_DELAY_IN_EOF
					       : CZPG_DELAY_IN_ERROR;

	if (res > 0)
		e->stats.bytes_received += (uint64_t)res;
	if (czpg_delay_push(&e->line, kind, idx, s->gen, res < 0 ? -res : 0, s->rbuf,
			    res > 0 ? (size_t)res : 0, now) < 0) {
		line_full(s, "receiving from");
		return;
	}
	/* Keep reading meanwhile: the delay adds latency, it does not limit throughput. */
	if (res > 0 && !czpg_conn_finished(s->conn))
		submit_recv(e, idx);
}

/* A connect completed: the connection learns of it a round trip later (two legs). */
static void delay_connected(struct czpg_engine *e, unsigned idx, int legs, uint64_t now)
{
	struct slot *s = &e->slots[idx];

	if (czpg_delay_push(&e->line, CZPG_DELAY_CONNECT, idx, s->gen, legs, NULL, 0, now) < 0)
		line_full(s, "connecting to");
}

/* Hands every chunk that is due to its slot. */
static void release_due(struct czpg_engine *e)
{
	uint64_t now = czpg_engine_now_ns();
	struct czpg_delay_chunk ch;
	struct slot *s;

	while (czpg_delay_pop(&e->line, now, &ch)) {
		if (ch.slot >= e->nslots)
			continue;
		s = &e->slots[ch.slot];
		if (!s->used || s->gen != ch.gen)
			continue; /* for a connection that is gone */
		switch (ch.kind) {
		case CZPG_DELAY_OUT:
			s->delayed_out--;
			if (!s->broken && czpg_wbuf_bytes(&s->held, ch.data, ch.len) < 0)
				line_full(s, "sending to");
			break;
		case CZPG_DELAY_IN:
			if (!czpg_conn_finished(s->conn))
				czpg_conn_feed(s->conn, ch.data, ch.len, now);
			break;
		case CZPG_DELAY_IN_EOF:
			czpg_conn_feed_eof(s->conn, now);
			s->broken = true;
			break;
		case CZPG_DELAY_IN_ERROR:
			if (!czpg_conn_finished(s->conn) && ch.arg != ECANCELED)
				transport_failed(s, "receiving from", ch.arg);
			s->broken = true;
			break;
		case CZPG_DELAY_CONNECT:
			if (ch.arg > 1) {
				delay_connected(e, ch.slot, ch.arg - 1, now);
				continue;
			}
			s->connected = true;
			czpg_conn_connected(s->conn, now);
			submit_recv(e, ch.slot);
			break;
		}
		mark_dirty(e, ch.slot);
	}
	e->stats.delay = e->line.stats;
}

/* Arms the one timer for the oldest chunk in the line, unless it is armed. */
static void arm_timer(struct czpg_engine *e)
{
	uint64_t due = czpg_delay_next_due(&e->line);
	struct io_uring_sqe *sqe;

	if (e->timer_armed || due == 0)
		return;
	e->timer_ts.tv_sec = (long long)(due / 1000000000ull);
	e->timer_ts.tv_nsec = (long long)(due % 1000000000ull);
	sqe = get_sqe(e);
	/* Absolute on CLOCK_MONOTONIC, the clock czpg_engine_now_ns() reads. */
	io_uring_prep_timeout(sqe, &e->timer_ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, pack(0, 0, OP_TIMER));
	e->timer_armed = true;
}

/* ---- the connect path: address fallback and endpoints ------------------ */

/* Notes why this slot's current attempt did not answer. */
static void attempt_failed(struct slot *s, const char *why)
{
	if (s->route != NULL && s->attempt >= 0)
		czpg_errf(s->route->tried[s->attempt].error,
			  sizeof(s->route->tried[s->attempt].error), "%s", why);
}

/* Starts recording one attempt at the address ep. */
static void attempt_begin(struct slot *s, const struct czpg_engine_endpoint *ep)
{
	s->attempt = -1;
	if (s->route == NULL)
		return;
	czpg_engine_route_add(s->route, ep->text, "");
	if (s->route->nlost == 0)
		s->attempt = (int)s->route->ntried - 1;
}

/* TCP is up: records which address answered and both ends of the socket. */
static void connect_answered(struct slot *s)
{
	if (s->route == NULL)
		return;
	s->route->answered = s->attempt;
	czpg_engine_endpoints_of(s->fd, &s->route->local, &s->route->peer);
}

/*
 * The last address failed too: one sentence with the label and, when there
 * were several addresses, each with its error.
 */
static void fail_all_addresses(struct slot *s, const char *what, const char *why)
{
	char msg[CZPG_CONN_ERR_MAX], list[CZPG_CONN_ERR_MAX];

	s->broken = true;
	if (czpg_conn_finished(s->conn))
		return; /* it ended first (a cancelled connect): nothing to report */
	if (s->addrs == NULL || s->addrs->n < 2 || s->route == NULL) {
		czpg_errf(msg, sizeof(msg), "%s %s: %s", what, s->label, why);
	} else {
		czpg_engine_route_describe(s->route, list, sizeof(list));
		czpg_errf(msg, sizeof(msg), "%s %s at any of its %zu addresses: %s", what, s->label,
			  s->addrs->n, list);
	}
	czpg_conn_fail_transport(s->conn, msg);
}

static void connect_failed(struct slot *s, const char *why)
{
	fail_all_addresses(s, "could not connect to", why);
}

static void connect_timed_out(struct slot *s, const char *why)
{
	char msg[ENGINE_MSG_MAX];

	if (s->addrs != NULL && s->addrs->n > 1) {
		fail_all_addresses(s, "could not connect to", why);
		return;
	}
	s->broken = true;
	czpg_errf(msg, sizeof(msg), "timed out connecting to %s", s->label);
	czpg_conn_fail_transport(s->conn, msg);
}

/*
 * The current attempt failed (why): moves the slot on to its next address
 * with a fresh socket.  False when there is none left: the caller fails the
 * connection.  A connect still in flight (a timeout) is cancelled; the
 * generation changes so that its late completion is dropped.
 */
static bool connect_next(struct czpg_engine *e, unsigned idx, const char *why, uint64_t now)
{
	struct slot *s = &e->slots[idx];
	const struct czpg_engine_endpoint *ep;
	struct io_uring_sqe *sqe;
	int fd;

	attempt_failed(s, why);
	if (s->shut || czpg_conn_finished(s->conn))
		return false; /* the connection ended while connecting: no next address */
	while (s->addrs != NULL && s->addr_next < s->addrs->n) {
		ep = &s->addrs->addr[s->addr_next++];
		attempt_begin(s, ep);
		fd = open_tcp_socket(ep->sa.ss_family);
		if (fd < 0) {
			attempt_failed(s, strerror(errno));
			continue;
		}
		if (s->connect_inflight) {
			sqe = get_sqe(e);
			io_uring_prep_cancel64(sqe, pack(idx, s->gen, OP_CONNECT), 0);
			io_uring_sqe_set_data64(sqe, 0);
			s->connect_inflight = false;
		}
		close(s->fd);
		s->fd = fd;
		s->gen++;
		memcpy(&s->addr, &ep->sa, ep->len);
		s->addrlen = ep->len;
		s->connect_deadline = now + e->connect_timeout_ns;
		sqe = get_sqe(e);
		io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&s->addr, s->addrlen);
		io_uring_sqe_set_data64(sqe, pack(idx, s->gen, OP_CONNECT));
		s->connect_inflight = true;
		return true;
	}
	return false;
}

static void handle_cqe(struct czpg_engine *e, uint64_t data, int res, uint64_t now)
{
	unsigned idx = (unsigned)(data >> 4) & 0x0fffffffu;
	uint32_t gen = (uint32_t)(data >> 32);
	enum engine_op op = (enum engine_op)(data & 0xf);
	struct slot *s;

	if (op == OP_TIMER) {
		e->timer_armed = false; /* the line releases what is due after the completions */
		return;
	}
	if (idx >= e->nslots)
		return;
	s = &e->slots[idx];
	if (!s->used || s->gen != gen)
		return;
	switch (op) {
	case OP_CONNECT:
		s->connect_inflight = false;
		if (res < 0) {
			if (!connect_next(e, idx, strerror(-res), now))
				connect_failed(s, strerror(-res));
			break;
		}
		connect_answered(s);
		if (e->delayed) {
			delay_connected(e, idx, 2, now);
			break;
		}
		s->connected = true;
		czpg_conn_connected(s->conn, now);
		submit_recv(e, idx);
		break;
	case OP_SEND:
		s->send_inflight = false;
		if (res < 0) {
			if (!czpg_conn_finished(s->conn))
				transport_failed(s, "sending to", -res);
			s->broken = true;
			break;
		}
		czpg_wbuf_consume(&s->out, (size_t)res);
		e->stats.bytes_sent += (uint64_t)res;
		break;
	case OP_RECV:
		s->recv_inflight = false;
		if (e->delayed) {
			delay_input(e, idx, res, now);
			break;
		}
		if (res < 0) {
			if (!czpg_conn_finished(s->conn) && res != -ECANCELED)
				transport_failed(s, "receiving from", -res);
			s->broken = true;
			break;
		}
		if (res == 0) {
			czpg_conn_feed_eof(s->conn, now);
			s->broken = true; /* the peer is gone: nothing more to send */
			break;
		}
		e->stats.bytes_received += (uint64_t)res;
		czpg_conn_feed(s->conn, s->rbuf, (size_t)res, now);
		if (!czpg_conn_finished(s->conn))
			submit_recv(e, idx);
		break;
	default:
		return;
	}
	mark_dirty(e, idx);
}

static void tick_all(struct czpg_engine *e, uint64_t now)
{
	unsigned i;

	for (i = 0; i < e->nslots; i++) {
		struct slot *s = &e->slots[i];

		if (!s->used || czpg_conn_finished(s->conn))
			continue;
		if (!s->connected) {
			if (now >= s->connect_deadline && s->connect_inflight) {
				char why[64];

				czpg_errf(why, sizeof(why), "timed out after %llu ms",
					  (unsigned long long)(e->connect_timeout_ns / 1000000u));
				if (!connect_next(e, i, why, now))
					connect_timed_out(s, why);
				mark_dirty(e, i);
			}
			continue;
		}
		czpg_conn_tick(s->conn, now);
		if (czpg_conn_finished(s->conn))
			mark_dirty(e, i);
	}
}

/* Sends what dirty connections produced and releases finished ones. */
static void flush_dirty(struct czpg_engine *e)
{
	uint64_t now = e->delayed ? czpg_engine_now_ns() : 0;
	unsigned k, idx;

	for (k = 0; k < e->ndirty; k++) {
		idx = e->dirty[k];
		e->slots[idx].dirty = false;
		if (!e->slots[idx].used)
			continue;
		if (e->delayed)
			delay_output(e, idx, now);
		submit_send(e, idx);
		maybe_release(e, idx);
	}
	e->ndirty = 0;
}

int czpg_engine_run_once(struct czpg_engine *e, uint64_t timeout_ns, char *err, size_t errlen)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	uint64_t now;
	int rc;

	flush_dirty(e);
	if (e->delayed)
		arm_timer(e);
	if (timeout_ns > ENGINE_TICK_NS)
		timeout_ns = ENGINE_TICK_NS;
	ts.tv_sec = (long long)(timeout_ns / 1000000000ull);
	ts.tv_nsec = (long long)(timeout_ns % 1000000000ull);
	rc = io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &ts, NULL);
	e->stats.enters++;
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
		czpg_errf(err, errlen, "io_uring wait failed: %s", strerror(-rc));
		return -1;
	}
	now = czpg_engine_now_ns();
	io_uring_for_each_cqe(&e->ring, head, cqe)
	{
		handle_cqe(e, cqe->user_data, cqe->res, now);
		n++;
	}
	io_uring_cq_advance(&e->ring, n);
	e->stats.completions += n;
	if (e->delayed)
		release_due(e);
	if (n == 0 || now - e->last_tick >= ENGINE_TICK_NS) {
		tick_all(e, now);
		e->last_tick = now;
	}
	flush_dirty(e);
	return (int)n;
}

int czpg_engine_run_until_idle(struct czpg_engine *e, uint64_t deadline_ns, char *err,
			       size_t errlen)
{
	uint64_t now;

	while (e->active > 0) {
		now = czpg_engine_now_ns();
		if (deadline_ns != 0 && now >= deadline_ns) {
			czpg_errf(err, errlen,
				  "the event loop deadline passed with %u connection(s) "
				  "still active",
				  e->active);
			return -1;
		}
		if (czpg_engine_run_once(e, ENGINE_TICK_NS, err, errlen) < 0)
			return -1;
	}
	return 0;
}

size_t czpg_engine_active(const struct czpg_engine *e)
{
	return e->active;
}

const struct czpg_engine_stats *czpg_engine_stats(const struct czpg_engine *e)
{
	return &e->stats;
}

/* ---- addresses: host lists, resolution, endpoints, dialling ------------ */

void czpg_engine_route_init(struct czpg_engine_route *r)
{
	memset(r, 0, sizeof(*r));
	r->answered = -1;
}

void czpg_engine_route_add(struct czpg_engine_route *r, const char *addr, const char *error)
{
	struct czpg_engine_attempt *a;

	if (r->ntried == CZPG_ENGINE_MAX_ADDRS) {
		r->nlost++;
		return;
	}
	a = &r->tried[r->ntried++];
	czpg_errf(a->addr, sizeof(a->addr), "%s", addr);
	czpg_errf(a->error, sizeof(a->error), "%s", error != NULL ? error : "");
}

size_t czpg_engine_route_describe(const struct czpg_engine_route *r, char *out, size_t cap)
{
	size_t i, nfailed = 0, used = 0;
	int n;

	if (cap == 0)
		return 0;
	out[0] = '\0';
	for (i = 0; i < r->ntried; i++) {
		if ((int)i == r->answered || r->tried[i].error[0] == '\0')
			continue;
		n = snprintf(out + used, cap - used, "%s%s: %s", nfailed > 0 ? "; " : "",
			     r->tried[i].addr, r->tried[i].error);
		nfailed++;
		if (n < 0 || (size_t)n >= cap - used) {
			/* Cut: say so, as czpg_errf does. */
			if (cap > 4)
				memcpy(out + cap - 4, "...", 4);
			used = cap - 1;
			break;
		}
		used += (size_t)n;
	}
	if (r->nlost > 0 && used < cap - 1)
		czpg_errf(out + used, cap - used, "; %zu more address(es) not shown", r->nlost);
	return nfailed + r->nlost;
}

int czpg_engine_split_hosts(const char *list, struct czpg_engine_hosts *out, char *err,
			    size_t errlen)
{
	const char *p = list, *comma;
	size_t len;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (list == NULL || list[0] == '\0') {
		czpg_errf(err, errlen, "no host given");
		goto out;
	}
	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0) {
			czpg_errf(err, errlen, "the host list \"%s\" has an empty name", list);
			goto out;
		}
		if (len >= CZPG_ENGINE_HOST_MAX) {
			czpg_errf(err, errlen, "a host name in the list is longer than %d bytes",
				  CZPG_ENGINE_HOST_MAX - 1);
			goto out;
		}
		if (out->n == CZPG_ENGINE_MAX_HOSTS) {
			czpg_errf(err, errlen, "the host list has more than %d names",
				  CZPG_ENGINE_MAX_HOSTS);
			goto out;
		}
		memcpy(out->name[out->n], p, len);
		out->name[out->n++][len] = '\0';
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	rc = 0;
out:
	return rc;
}

int czpg_engine_endpoint_set(struct czpg_engine_endpoint *ep, const struct sockaddr *sa,
			     socklen_t len)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	const struct sockaddr_in6 *in6;
	const void *bytes;
	int rc = -1;

	memset(ep, 0, sizeof(*ep));
	if (len > sizeof(ep->sa))
		goto out;
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		in6 = (const struct sockaddr_in6 *)sa;
		/* ::ffff:a.b.c.d is an IPv4 client: say it as the server does. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			memcpy(&v4.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
			v4.sin_port = in6->sin6_port;
			sa = (const struct sockaddr *)&v4;
			len = sizeof(v4);
		}
	}
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		bytes = &((const struct sockaddr_in *)sa)->sin_addr;
		ep->port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		bytes = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		ep->port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	} else {
		goto out;
	}
	if (inet_ntop(sa->sa_family, bytes, ep->ip, sizeof(ep->ip)) == NULL)
		goto out;
	memcpy(&ep->sa, sa, len);
	ep->len = len;
	czpg_errf(ep->text, sizeof(ep->text), sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		  ep->ip, ep->port);
	rc = 0;
out:
	return rc;
}

int czpg_engine_endpoints_of(int fd, struct czpg_engine_endpoint *local,
			     struct czpg_engine_endpoint *peer)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int rc = 0;

	if (local != NULL) {
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
		    czpg_engine_endpoint_set(local, (struct sockaddr *)&ss, len) < 0)
			rc = -1;
	}
	if (peer != NULL) {
		len = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0 ||
		    czpg_engine_endpoint_set(peer, (struct sockaddr *)&ss, len) < 0)
			rc = -1;
	}
	return rc;
}

int czpg_engine_resolve_all(const char *host, unsigned port, struct czpg_engine_addrs *out,
			    char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	char portstr[16];
	int rc = -1, g;

	memset(out, 0, sizeof(*out));
	if (port == 0 || port > 65535) {
		czpg_errf(err, errlen, "port %u is out of range (1-65535)", port);
		goto out;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	/* libpq's hints: every family, stream sockets, no AI_ADDRCONFIG. */
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0 || res == NULL) {
		czpg_errf(err, errlen, "cannot resolve host \"%s\": %s", host,
			  g != 0 ? gai_strerror(g) : "no address");
		goto out;
	}
	for (ai = res; ai != NULL && out->n < CZPG_ENGINE_MAX_ADDRS; ai = ai->ai_next)
		if (czpg_engine_endpoint_set(&out->addr[out->n], ai->ai_addr, ai->ai_addrlen) == 0)
			out->n++;
	if (out->n == 0) {
		czpg_errf(err, errlen, "host \"%s\" has no IPv4 or IPv6 address", host);
		goto out;
	}
	rc = 0;
out:
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

int czpg_engine_connect_addrs(struct czpg_engine *e, struct czpg_conn *c,
			      const struct czpg_engine_addrs *addrs,
			      struct czpg_engine_route *route, const char *label, char *err,
			      size_t errlen)
{
	char why[CZPG_ENGINE_ATTEMPT_ERR];
	size_t i;
	int slot = -1;

	if (addrs == NULL || addrs->n == 0) {
		czpg_errf(err, errlen, "no address to connect to for %s",
			  label != NULL ? label : "the server");
		goto out;
	}
	/* The first address a socket can be made for starts the slot. */
	for (i = 0; i < addrs->n && slot < 0; i++) {
		slot = czpg_engine_connect(e, c, (const struct sockaddr *)&addrs->addr[i].sa,
					   addrs->addr[i].len, NULL, 0, label, err, errlen);
		if (slot < 0 && e->nfree == 0)
			goto out; /* no slot: trying other addresses will not help */
		if (slot < 0 && route != NULL) {
			czpg_errf(why, sizeof(why), "%s", strerror(errno));
			czpg_engine_route_add(route, addrs->addr[i].text, why);
		}
	}
	if (slot < 0)
		goto out;
	e->slots[slot].addrs = addrs;
	e->slots[slot].addr_next = i;
	e->slots[slot].route = route;
	attempt_begin(&e->slots[slot], &addrs->addr[i - 1]);
out:
	return slot;
}

/* One blocking connect to ep within timeout_ms: 0, or -1 with why. */
static int dial_one(struct io_uring *ring, const struct czpg_engine_endpoint *ep,
		    uint32_t timeout_ms, char *why, size_t whylen)
{
	struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
				       .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int fd, i, res = -ECANCELED, rc = -1;

	fd = open_tcp_socket(ep->sa.ss_family);
	if (fd < 0) {
		czpg_errf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	/* The connect and a linked timeout that cancels it: two completions. */
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&ep->sa, ep->len);
	io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
	io_uring_sqe_set_data64(sqe, 1);
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	io_uring_sqe_set_data64(sqe, 2);
	io_uring_submit(ring);
	for (i = 0; i < 2; i++) {
		if (io_uring_wait_cqe(ring, &cqe) < 0)
			break;
		if (cqe->user_data == 1)
			res = cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
	if (res == 0)
		rc = 0;
	else if (res == -ECANCELED || res == -ETIME)
		czpg_errf(why, whylen, "timed out after %u ms", timeout_ms);
	else
		czpg_errf(why, whylen, "%s", strerror(-res));
	close(fd);
	return rc;
}

int czpg_engine_dial(const struct czpg_engine_addrs *addrs, uint32_t timeout_ms,
		     struct czpg_engine_route *route, char *err, size_t errlen)
{
	struct czpg_engine_route own;
	struct io_uring ring;
	char why[CZPG_ENGINE_ATTEMPT_ERR], list[CZPG_CONN_ERR_MAX];
	size_t i;
	int rc = -1, r;

	if (route == NULL) {
		czpg_engine_route_init(&own);
		route = &own;
	}
	if (addrs == NULL || addrs->n == 0) {
		czpg_errf(err, errlen, "no address to connect to");
		return -1;
	}
	r = io_uring_queue_init(4, &ring, 0);
	if (r < 0) {
		czpg_errf(err, errlen, "cannot create an io_uring ring: %s", strerror(-r));
		return -1;
	}
	if (timeout_ms == 0)
		timeout_ms = 10000;
	for (i = 0; i < addrs->n && rc < 0; i++) {
		why[0] = '\0';
		if (dial_one(&ring, &addrs->addr[i], timeout_ms, why, sizeof(why)) == 0) {
			rc = (int)i;
			czpg_engine_route_add(route, addrs->addr[i].text, "");
			route->answered = route->nlost == 0 ? (int)route->ntried - 1 : -1;
			route->peer = addrs->addr[i];
		} else {
			czpg_engine_route_add(route, addrs->addr[i].text, why);
		}
	}
	io_uring_queue_exit(&ring);
	if (rc < 0) {
		czpg_engine_route_describe(route, list, sizeof(list));
		czpg_errf(err, errlen, "could not connect to any address: %s", list);
	}
	return rc;
}
