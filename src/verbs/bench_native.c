/*
 * bench_native.c - the bench's native client (see bench_client.h): every
 * connection is a czpg_conn state machine (pgwire + tlsio + SCRAM) and one
 * io_uring engine drives all of them, one io_uring_enter per loop iteration
 * for every connection.  Setup statements and prepares are queued on every
 * connection at once and waited for together; connect mode's transactions
 * are connections that the engine frees when they end.
 *
 * --rtt: the engine's delay line holds every chunk RTT/2 each way.
 * --conn-lifetime: a pooled connection is replaced by ending its session
 * (Terminate) and starting a new one on the same bench_conn; the old
 * connection is freed when the engine releases its slot.
 */
#include <stdlib.h>
#include <string.h>

#include "czpg/conn.h"
#include "czpg/engine.h"
#include "czpg/tlsio.h"

#include "czpg/sslneg.h"

#include "bench_client.h"
#include "bench_host.h"
#include "bench_refusal.h"
#include "bench_rounds.h"

/* A replaced connection, until the engine releases its slot. */
struct retired {
	struct czpg_conn *c;
	struct retired *next;
};

/* The run's state. */
struct native_client {
	struct czpg_engine *engine;
	/* setup statements in flight (their QUERY_DONEs not yet seen) */
	unsigned setup_pending;
	bool setup_error;
	char setup_msg[400];
	/* the statements every connection prepares (extended protocol), for reconnects */
	struct czpg_bench_stmt stmts[CZPG_BENCH_WORK_MAX_STMTS];
	size_t nstmts;
	struct retired *retired;
};

/* One connection's state (k->cs). */
struct native_conn {
	struct bench_conn *k;
	struct czpg_conn *c;
	int slot; /* -1 until the engine has it */
	bool ready;
	bool failed;
	bool query_error;       /* an ErrorResponse before the QUERY_DONE */
	uint64_t conn_start_ns; /* connect mode: when the TCP connect began */
	unsigned preparing;     /* a reconnected session's prepares not yet done */
};

/* Connect mode: a transaction owns its generic and its native part. */
struct native_transient {
	struct bench_conn k;
	struct native_conn n;
};

static struct native_client *client_of(const struct bench *b)
{
	return b->client;
}

/*
 * Connect mode: the session is up; its one query's latency counts from the
 * start of the TCP connect, so the unit covers handshake, SCRAM and query.
 */
static void transient_ready(struct bench *b, struct native_conn *nc)
{
	struct bench_conn *k = nc->k;
	struct bench_pool *p = k->p;

	if (p->postmaster_pid == 0)
		p->postmaster_pid =
		    czpg_bench_host_postmaster(&b->addr, czpg_conn_backend_pid(nc->c));
	if (czpg_conn_query(nc->c, "SELECT 1") < 0) {
		czpg_bench_fail(b, "could not send a query on a %s connection: %s", p->r->name,
				czpg_conn_error(nc->c));
		return;
	}
	k->start_ns[0] = nc->conn_start_ns;
	k->head = 0;
	k->inflight = 1;
}

static int native_start(struct bench *b, struct native_conn *nc, char *err, size_t errlen);

/* A reconnected session is up: prepare its statements again, then take queries. */
static void reconnected(struct bench *b, struct native_conn *nc)
{
	struct native_client *nat = client_of(b);
	struct bench_conn *k = nc->k;
	size_t i;

	k->p->r->backend_pids[k->index] = czpg_conn_backend_pid(nc->c);
	for (i = 0; i < nat->nstmts; i++) {
		if (czpg_conn_prepare(nc->c, nat->stmts[i].name, nat->stmts[i].sql,
				      nat->stmts[i].nparams) < 0) {
			czpg_bench_fail(b,
					"could not prepare the statements again on the %s pool: %s",
					k->p->r->name, czpg_conn_error(nc->c));
			return;
		}
		nc->preparing++;
	}
	if (nc->preparing == 0)
		czpg_bench_rounds_conn_ready(b, k);
}

/* Why a connection failed: a pool pg_hba.conf refuses, direct TLS, or the connection's words. */
static void fail_connection(struct bench *b, struct native_conn *nc)
{
	const struct bench_pool *p = nc->k->p;
	const char *hint = NULL;
	char why[CZPG_CONN_ERR_MAX + 400];

	if (czpg_bench_refusal(p->r->name, p->tls, czpg_conn_startup_sqlstate(nc->c),
			       czpg_conn_startup_message(nc->c), why, sizeof(why)))
		czpg_bench_fail(b, "%s", why);
	else if (czpg_sslneg_explain(nc->c, p->opening, why, sizeof(why), &hint))
		czpg_bench_fail(b, "connection %u of the %s pool failed: %s (%s)", nc->k->index,
				p->r->name, why, hint);
	else
		czpg_bench_fail(b, "connection %u of the %s pool failed: %s", nc->k->index,
				p->r->name, czpg_conn_error(nc->c));
}

/* A query's answer is complete (a setup query's, a prepare's or a unit's). */
static void query_done(struct native_conn *nc, uint64_t now_ns)
{
	struct bench_conn *k = nc->k;
	struct bench *b = k->b;
	struct native_client *nat = client_of(b);

	if (nc->preparing > 0) {
		if (--nc->preparing == 0)
			czpg_bench_rounds_conn_ready(b, k);
	} else if (k->inflight == 0) {
		if (nat->setup_pending > 0)
			nat->setup_pending--;
	} else {
		/* the engine's clock reading for this answer: no read of our own */
		czpg_bench_rounds_unit_done_at(b, k, nc->query_error, now_ns);
	}
	nc->query_error = false;
	if (b->o->mode == CZPG_BENCH_CONNECT)
		czpg_conn_terminate(nc->c);
}

/* The events other than a query's rows and its end: rare, so out of the hot path. */
static void other_event(struct native_conn *nc, const struct czpg_conn_event *ev)
{
	struct bench_conn *k = nc->k;
	struct bench *b = k->b;
	struct native_client *nat = client_of(b);

	switch (ev->type) {
	case CZPG_EV_READY:
		nc->ready = true;
		if (b->o->mode == CZPG_BENCH_CONNECT)
			transient_ready(b, nc);
		else if (k->reconnecting)
			reconnected(b, nc);
		break;
	case CZPG_EV_QUERY_ERROR:
		nc->query_error = true;
		if (nc->preparing > 0)
			czpg_bench_fail(b,
					"preparing the statements again on the %s pool failed: %s",
					k->p->r->name, ev->text != NULL ? ev->text : "error");
		else if (k->inflight == 0 && !nat->setup_error) {
			nat->setup_error = true;
			snprintf(nat->setup_msg, sizeof(nat->setup_msg), "%s",
				 ev->text != NULL ? ev->text : "error");
		}
		break;
	case CZPG_EV_FAILED:
		nc->failed = true;
		fail_connection(b, nc);
		break;
	default:
		break;
	}
}

static void on_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct native_conn *nc = user;

	(void)c;
	switch (ev->type) {
	case CZPG_EV_ROW:
		nc->k->p->round_rows++;
		break;
	case CZPG_EV_QUERY_DONE:
		query_done(nc, ev->now_ns);
		break;
	case CZPG_EV_ROW_DESCRIPTION:
	case CZPG_EV_COMMAND_COMPLETE:
	case CZPG_EV_NOTICE:
		break;
	default:
		other_event(nc, ev);
		break;
	}
}

/* Creates nc's connection and hands it to the engine.  0, or -1 with a sentence in err. */
static int native_start(struct bench *b, struct native_conn *nc, char *err, size_t errlen)
{
	struct czpg_conn_config cfg = {0};
	bool tls = nc->k->p->tls;

	cfg.host = b->host;
	cfg.user = b->o->user;
	cfg.dbname = b->o->dbname;
	cfg.application_name = tls ? "czctl bench tls" : "czctl bench plain";
	cfg.password = b->o->password;
	cfg.use_tls = tls;
	cfg.tls = b->tcfg;
	cfg.channel_binding = tls ? b->o->channel_binding : CZPG_CB_DISABLE;
	cfg.opening = nc->k->p->opening;
	cfg.scram_cache = b->cache;
	cfg.goal = CZPG_GOAL_SESSION;
	cfg.phase_timeout_ms = b->o->timeout_ms;
	cfg.on_event = on_event;
	cfg.user_data = nc;
	nc->slot = -1;
	nc->c = czpg_conn_new(&cfg, czpg_engine_now_ns(), err, errlen);
	if (nc->c == NULL)
		return -1;
	nc->slot =
	    czpg_engine_connect(client_of(b)->engine, nc->c, (const struct sockaddr *)&b->addr,
				b->addrlen, NULL, 0, b->label, err, errlen);
	return nc->slot < 0 ? -1 : 0;
}

/* Frees c when it is a replaced connection; true when it was one. */
static bool free_retired(struct native_client *nat, struct czpg_conn *c)
{
	struct retired **pp, *r;

	for (pp = &nat->retired; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->c == c) {
			r = *pp;
			*pp = r->next;
			czpg_conn_free(r->c);
			free(r);
			return true;
		}
	return false;
}

static void on_release(struct czpg_conn *c, void *user)
{
	struct bench *b = user;
	struct native_conn *nc = czpg_conn_user_data(c);
	struct native_transient *t;

	if (b->client != NULL && free_retired(client_of(b), c))
		return;
	if (nc == NULL || nc->k->b->o->mode != CZPG_BENCH_CONNECT)
		return;
	/* connect mode: the transaction is over (or failed) */
	nc->k->p->active--;
	t = (struct native_transient *)nc->k; /* k is its first member */
	czpg_conn_free(c);
	free(t);
}

static int native_open(struct bench *b)
{
	struct czpg_engine_config ecfg = {0};
	struct native_client *nat = calloc(1, sizeof(*nat));
	char err[512];

	if (nat == NULL) {
		czpg_bench_fail(b, "out of memory");
		return -1;
	}
	b->client = nat;
	/* Replaced connections hold their slots a little longer: room for all of them. */
	ecfg.max_conns = (b->o->conn_lifetime != 0 ? 4 : 2) * b->o->pool + 8;
	ecfg.connect_timeout_ms = b->o->timeout_ms;
	ecfg.delay_ns = (uint64_t)(b->o->rtt_ms * 1e6 / 2);
	ecfg.on_release = on_release;
	ecfg.user = b;
	nat->engine = czpg_engine_new(&ecfg, err, sizeof(err));
	if (nat->engine == NULL) {
		czpg_bench_fail(b, "%s", err);
		return -1;
	}
	return 0;
}

/* One engine iteration; fails the bench when the ring fails. */
static int native_drive(struct bench *b, struct bench_pool *p, uint64_t timeout_ns)
{
	char err[256];

	(void)p; /* the engine drives every connection; only one pool has work */
	if (czpg_engine_run_once(client_of(b)->engine, timeout_ns, err, sizeof(err)) < 0) {
		czpg_bench_fail(b, "%s", err);
		return -1;
	}
	return 0;
}

/* Drives the engine until done(b) holds, within three connect timeouts. */
static int wait_until(struct bench *b, bool (*done)(const struct bench *), const char *what)
{
	uint64_t deadline = czpg_engine_now_ns() + (uint64_t)b->o->timeout_ms * 3 * 1000000ull;

	while (!done(b) && !b->failed) {
		if (czpg_engine_now_ns() > deadline) {
			czpg_bench_fail(b, "the server did not finish %s within %u s", what,
					b->o->timeout_ms * 3 / 1000);
			break;
		}
		native_drive(b, NULL, 5000000ull);
	}
	return b->failed ? -1 : 0;
}

static bool all_ready(const struct bench *b)
{
	unsigned pi, i;

	for (pi = 0; pi < 2; pi++)
		for (i = 0; i < b->pools[pi].n; i++) {
			const struct native_conn *nc = b->pools[pi].conns[i].cs;

			if (nc == NULL || !nc->ready)
				return false;
		}
	return true;
}

static bool setup_done(const struct bench *b)
{
	return client_of(b)->setup_pending == 0;
}

static int native_connect(struct bench *b)
{
	char err[512];
	unsigned pi, i;

	for (pi = 0; pi < 2; pi++)
		for (i = 0; i < b->pools[pi].n; i++) {
			struct bench_conn *k = &b->pools[pi].conns[i];
			struct native_conn *nc = calloc(1, sizeof(*nc));

			if (nc == NULL) {
				czpg_bench_fail(b, "out of memory");
				return -1;
			}
			nc->k = k;
			k->cs = nc;
			if (native_start(b, nc, err, sizeof(err)) < 0) {
				czpg_bench_fail(b, "%s", err);
				return -1;
			}
		}
	if (wait_until(b, all_ready, "connecting both pools") < 0)
		return -1;
	for (pi = 0; pi < 2; pi++) {
		struct bench_pool *p = &b->pools[pi];

		for (i = 0; i < p->n; i++) {
			const struct native_conn *nc = p->conns[i].cs;

			p->r->backend_pids[p->r->npids++] = czpg_conn_backend_pid(nc->c);
		}
	}
	return 0;
}

static int native_exec(struct bench *b, struct bench_conn *k, const char *sql)
{
	struct native_client *nat = client_of(b);
	struct native_conn *nc = k->cs;

	nat->setup_pending = 1;
	nat->setup_error = false;
	if (czpg_conn_query(nc->c, sql) < 0) {
		czpg_bench_fail(b, "could not send a setup query: %s", czpg_conn_error(nc->c));
		return -1;
	}
	czpg_engine_wake(nat->engine, nc->slot);
	if (wait_until(b, setup_done, "a setup query") < 0)
		return -1;
	if (nat->setup_error) {
		czpg_bench_fail(b, "setup query failed (%.60s...): %s", sql, nat->setup_msg);
		return -1;
	}
	return 0;
}

static int native_prepare(struct bench *b, const struct czpg_bench_stmt *st, size_t n)
{
	struct native_client *nat = client_of(b);
	unsigned pi, i;
	size_t s;
	int rc;

	for (s = 0; s < n && s < CZPG_BENCH_WORK_MAX_STMTS; s++)
		nat->stmts[s] = st[s];
	nat->nstmts = s;
	for (pi = 0; pi < 2; pi++)
		for (i = 0; i < b->pools[pi].n; i++) {
			struct native_conn *nc = b->pools[pi].conns[i].cs;

			nat->setup_pending += (unsigned)n;
			for (rc = 0, s = 0; s < n; s++)
				rc |=
				    czpg_conn_prepare(nc->c, st[s].name, st[s].sql, st[s].nparams);
			if (rc < 0) {
				czpg_bench_fail(b,
						"could not prepare the statements on the %s pool",
						b->pools[pi].r->name);
				return -1;
			}
			czpg_engine_wake(nat->engine, nc->slot);
		}
	if (wait_until(b, setup_done, "preparing statements") < 0)
		return -1;
	if (nat->setup_error) {
		czpg_bench_fail(b, "preparing the statement failed: %s", nat->setup_msg);
		return -1;
	}
	return 0;
}

static const char *native_session(const struct bench_conn *k, struct czpg_bench_result *res)
{
	const struct native_conn *nc = k->cs;
	struct czpg_tls *t = czpg_conn_tls(nc->c);

	if (t != NULL) {
		snprintf(res->tls_version, sizeof(res->tls_version), "%s", czpg_tls_version(t));
		snprintf(res->tls_cipher, sizeof(res->tls_cipher), "%s", czpg_tls_cipher(t));
		snprintf(res->tls_records, sizeof(res->tls_records), "%s",
			 czpg_tls_own_records(t) ? "czpg" : "openssl");
	}
	snprintf(res->auth_method, sizeof(res->auth_method), "%s", czpg_conn_auth_method(nc->c));
	return czpg_conn_parameter(nc->c, "server_version");
}

static int native_send(struct bench *b, struct bench_conn *k, const struct czpg_bench_query *q,
		       char *err, size_t errlen)
{
	struct native_conn *nc = k->cs;
	int rc;

	rc = b->work.extended ? czpg_conn_execute_prepared(nc->c, q->stmt, q->nparams, q->values)
			      : czpg_conn_query(nc->c, q->text);
	if (rc < 0) {
		snprintf(err, errlen, "%s", czpg_conn_error(nc->c));
		return -1;
	}
	czpg_engine_wake(client_of(b)->engine, nc->slot);
	return 0;
}

static void native_io(const struct bench *b, struct bench_io *out)
{
	const struct czpg_engine_stats *es = czpg_engine_stats(client_of(b)->engine);

	out->enters = es->enters;
	out->sends = es->sends;
	out->recvs = es->recvs;
	out->bytes_sent = es->bytes_sent;
	out->bytes_received = es->bytes_received;
	out->delay = es->delay;
}

static int native_reconnect(struct bench *b, struct bench_conn *k)
{
	struct native_client *nat = client_of(b);
	struct native_conn *nc = k->cs;
	struct retired *r = calloc(1, sizeof(*r));
	char err[512];

	if (r == NULL) {
		czpg_bench_fail(b, "out of memory");
		return -1;
	}
	/* The old session ends politely; the engine frees it once it is sent. */
	czpg_conn_terminate(nc->c);
	czpg_engine_wake(nat->engine, nc->slot);
	r->c = nc->c;
	r->next = nat->retired;
	nat->retired = r;
	nc->c = NULL;
	nc->ready = false;
	nc->query_error = false;
	nc->preparing = 0;
	if (native_start(b, nc, err, sizeof(err)) < 0) {
		czpg_bench_fail(b, "could not reconnect connection %u of the %s pool: %s", k->index,
				k->p->r->name, err);
		return -1;
	}
	return 0;
}

static int native_start_transient(struct bench *b, struct bench_pool *p)
{
	struct native_transient *t = calloc(1, sizeof(*t));
	char err[512];

	if (t == NULL) {
		czpg_bench_fail(b, "out of memory");
		return -1;
	}
	t->k.b = b, t->k.p = p, t->k.index = (unsigned)p->issued, t->k.cs = &t->n;
	t->n.k = &t->k;
	t->n.conn_start_ns = czpg_engine_now_ns();
	if (native_start(b, &t->n, err, sizeof(err)) < 0) {
		czpg_conn_free(t->n.c);
		free(t);
		czpg_bench_fail(b, "%s", err);
		return -1;
	}
	p->active++;
	p->issued++;
	return 0;
}

static bool native_alive(const struct bench_conn *k)
{
	const struct native_conn *nc = k->cs;

	return nc != NULL && nc->c != NULL && nc->slot >= 0 && !nc->failed &&
	       !czpg_conn_finished(nc->c);
}

static void native_close(struct bench *b)
{
	struct native_client *nat = client_of(b);
	char err[128];
	unsigned pi, i;

	if (nat == NULL)
		return;
	for (pi = 0; pi < 2; pi++)
		for (i = 0; b->pools[pi].conns != NULL && i < b->pools[pi].n; i++) {
			struct native_conn *nc = b->pools[pi].conns[i].cs;

			if (nc != NULL && nc->c != NULL && nc->slot >= 0) {
				czpg_conn_terminate(nc->c);
				czpg_engine_wake(nat->engine, nc->slot);
			}
		}
	if (nat->engine != NULL)
		czpg_engine_run_until_idle(nat->engine, czpg_engine_now_ns() + 2000000000ull, err,
					   sizeof(err));
	for (pi = 0; pi < 2; pi++)
		for (i = 0; b->pools[pi].conns != NULL && i < b->pools[pi].n; i++) {
			struct native_conn *nc = b->pools[pi].conns[i].cs;

			if (nc != NULL)
				czpg_conn_free(nc->c);
			free(nc);
			b->pools[pi].conns[i].cs = NULL;
		}
	czpg_engine_free(nat->engine);
	while (nat->retired != NULL) {
		struct retired *r = nat->retired;

		nat->retired = r->next;
		czpg_conn_free(r->c);
		free(r);
	}
	free(nat);
	b->client = NULL;
}

const struct bench_client_ops czpg_bench_native_ops = {
    .name = "native",
    .open = native_open,
    .connect = native_connect,
    .exec = native_exec,
    .prepare = native_prepare,
    .session = native_session,
    .send = native_send,
    .drive = native_drive,
    .io = native_io,
    .start_transient = native_start_transient,
    .reconnect = native_reconnect,
    .alive = native_alive,
    .close = native_close,
};
