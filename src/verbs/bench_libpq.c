/*
 * bench_libpq.c - the bench's libpq client (see bench_client.h), so the
 * same measurement can be made of the client applications usually link:
 * PQconnectdbParams, then non-blocking PQsendQuery / PQsendQueryPrepared,
 * PQflush, PQconsumeInput and PQgetResult, with one poll() per loop
 * iteration over the working pool's sockets (libpq docs, "Asynchronous
 * Command Processing").  Connections stay non-blocking; setup statements
 * switch one to blocking for their duration.  No connect mode.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "czpg/sslneg.h"

#include "bench_client.h"
#include "bench_refusal.h"
#include "bench_rounds.h"
#include "pqload.h"

/* libpq, loaded by libpq_open (pqload.h); the other functions run only after it. */
static const struct czpg_pqload *libpq;

/* The run's state: poll() arrays for one pool. */
struct libpq_client {
	struct pollfd *pfds;
	struct bench_conn **pfd_conn;
	char port[16];
};

/* One connection's state (k->cs). */
struct libpq_conn {
	PGconn *pq;
	bool want_write; /* output left in libpq's buffer: poll for POLLOUT */
	bool got_result; /* a result of the query in flight arrived */
	bool error;      /* ... and one of them was an error */
};

static struct libpq_client *client_of(const struct bench *b)
{
	return b->client;
}

/* libpq's last error as one line. */
static void last_error(PGconn *pq, char *out, size_t cap)
{
	snprintf(out, cap, "%s", libpq->PQerrorMessage(pq));
	out[strcspn(out, "\n")] = '\0';
}

/* Notices (e.g. "table does not exist, skipping") are not part of the report. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *libpq_connect_one(struct bench *b, bool tls, char *err, size_t errlen)
{
	const char *keys[16], *vals[16];
	char timeout[16], note[200];
	const char *cb, *neg = NULL;
	PGconn *pq;
	int n = 0;

	snprintf(timeout, sizeof(timeout), "%u", (b->o->timeout_ms + 999) / 1000);
	cb = b->o->channel_binding == CZPG_CB_REQUIRE   ? "require"
	     : b->o->channel_binding == CZPG_CB_DISABLE ? "disable"
							: "prefer";
	/* The name for verify-full, the address the bench picked for the TCP connect. */
	keys[n] = "host", vals[n++] = b->host;
	keys[n] = "hostaddr", vals[n++] = b->hostaddr;
	keys[n] = "port", vals[n++] = client_of(b)->port;
	keys[n] = "user", vals[n++] = b->o->user;
	keys[n] = "dbname", vals[n++] = b->o->dbname != NULL ? b->o->dbname : b->o->user;
	keys[n] = "sslmode", vals[n++] = tls ? "verify-full" : "disable";
	if (tls) {
		keys[n] = "sslrootcert", vals[n++] = b->o->ca_file;
		keys[n] = "channel_binding", vals[n++] = cb;
		keys[n] = "ssl_min_protocol_version",
		vals[n++] = b->o->min_tls == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3";
		/* Only a libpq that has the keyword gets it (setup refused the rest). */
		if (czpg_sslneg_libpq(b->o->sslnegotiation, libpq->PQlibVersion(), &neg, note,
				      sizeof(note)) == 0 &&
		    neg != NULL)
			keys[n] = "sslnegotiation", vals[n++] = neg;
	}
	keys[n] = "connect_timeout", vals[n++] = timeout;
	keys[n] = "application_name",
	vals[n++] = tls ? "czctl bench tls (libpq)" : "czctl bench plain (libpq)";
	keys[n] = "gssencmode", vals[n++] = "disable";
	if (b->o->password != NULL)
		keys[n] = "password", vals[n++] = b->o->password;
	keys[n] = NULL, vals[n] = NULL;
	pq = libpq->PQconnectdbParams(keys, vals, 0);
	if (libpq->PQstatus(pq) != CONNECTION_OK) {
		snprintf(err, errlen, "libpq could not connect (%s): %s",
			 tls ? "sslmode=verify-full" : "sslmode=disable",
			 libpq->PQerrorMessage(pq));
		err[strcspn(err, "\n")] = '\0';
		libpq->PQfinish(pq);
		return NULL;
	}
	libpq->PQsetNoticeProcessor(pq, quiet_notice, NULL);
	return pq;
}

static int libpq_open(struct bench *b)
{
	struct libpq_client *lp;
	const char *neg;
	char note[200];

	libpq = czpg_pqload_open(note, sizeof(note));
	if (libpq == NULL) {
		czpg_bench_fail(b, "%s", note);
		return -1;
	}
	lp = calloc(1, sizeof(*lp));

	if (lp == NULL) {
		czpg_bench_fail(b, "out of memory");
		return -1;
	}
	b->client = lp;
	/* Only a negotiation this libpq has: direct before libpq 17 is refused, not dropped. */
	if (czpg_sslneg_libpq(b->o->sslnegotiation, libpq->PQlibVersion(), &neg, note,
			      sizeof(note)) < 0) {
		czpg_bench_fail(b, "%s", note);
		return -1;
	}
	snprintf(lp->port, sizeof(lp->port), "%u", b->o->port);
	lp->pfds = calloc(b->o->pool + 1, sizeof(*lp->pfds));
	lp->pfd_conn = calloc(b->o->pool + 1, sizeof(*lp->pfd_conn));
	if (lp->pfds == NULL || lp->pfd_conn == NULL) {
		czpg_bench_fail(b, "out of memory");
		return -1;
	}
	return 0;
}

static int libpq_connect(struct bench *b)
{
	char err[512];
	unsigned pi, i;

	for (pi = 0; pi < 2; pi++) {
		struct bench_pool *p = &b->pools[pi];

		for (i = 0; i < p->n; i++) {
			struct libpq_conn *lc = calloc(1, sizeof(*lc));

			if (lc == NULL) {
				czpg_bench_fail(b, "out of memory");
				return -1;
			}
			p->conns[i].cs = lc;
			lc->pq = libpq_connect_one(b, p->tls, err, sizeof(err));
			if (lc->pq == NULL) {
				char why[1024];

				if (czpg_bench_refusal(p->r->name, p->tls, NULL, err, why,
						       sizeof(why)))
					czpg_bench_fail(b, "%s", why);
				else
					czpg_bench_fail(b, "%s pool: %s", p->r->name, err);
				return -1;
			}
			p->r->backend_pids[p->r->npids++] = (uint32_t)libpq->PQbackendPID(lc->pq);
			libpq->PQsetnonblocking(lc->pq, 1);
		}
	}
	return 0;
}

static int libpq_exec(struct bench *b, struct bench_conn *k, const char *sql)
{
	struct libpq_conn *lc = k->cs;
	PGresult *r;
	int rc;

	libpq->PQsetnonblocking(lc->pq, 0);
	r = libpq->PQexec(lc->pq, sql);
	rc = libpq->PQresultStatus(r) == PGRES_COMMAND_OK ||
		     libpq->PQresultStatus(r) == PGRES_TUPLES_OK
		 ? 0
		 : -1;
	if (rc < 0) {
		char msg[300];

		last_error(lc->pq, msg, sizeof(msg));
		czpg_bench_fail(b, "setup query failed (%.60s...): %s", sql, msg);
	}
	libpq->PQclear(r);
	libpq->PQsetnonblocking(lc->pq, 1);
	return rc;
}

static int libpq_prepare(struct bench *b, const struct czpg_bench_stmt *st, size_t n)
{
	unsigned pi, i;
	size_t s;
	int rc;

	for (pi = 0; pi < 2; pi++)
		for (i = 0; i < b->pools[pi].n; i++) {
			struct libpq_conn *lc = b->pools[pi].conns[i].cs;

			libpq->PQsetnonblocking(lc->pq, 0);
			for (rc = 0, s = 0; s < n; s++) {
				PGresult *r = libpq->PQprepare(lc->pq, st[s].name, st[s].sql,
							       (int)st[s].nparams, NULL);

				rc |= libpq->PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
				libpq->PQclear(r);
			}
			libpq->PQsetnonblocking(lc->pq, 1);
			if (rc < 0) {
				czpg_bench_fail(b,
						"could not prepare the statements on the %s pool",
						b->pools[pi].r->name);
				return -1;
			}
		}
	return 0;
}

static const char *libpq_session(const struct bench_conn *k, struct czpg_bench_result *res)
{
	const struct libpq_conn *lc = k->cs;

	if (libpq->PQsslInUse(lc->pq)) {
		const char *v = libpq->PQsslAttribute(lc->pq, "protocol");
		const char *c = libpq->PQsslAttribute(lc->pq, "cipher");

		snprintf(res->tls_version, sizeof(res->tls_version), "%s", v ? v : "");
		snprintf(res->tls_cipher, sizeof(res->tls_cipher), "%s", c ? c : "");
		snprintf(res->tls_records, sizeof(res->tls_records), "libpq");
	}
	snprintf(res->auth_method, sizeof(res->auth_method), "libpq");
	return libpq->PQparameterStatus(lc->pq, "server_version");
}

static int libpq_send(struct bench *b, struct bench_conn *k, const struct czpg_bench_query *q,
		      char *err, size_t errlen)
{
	struct libpq_conn *lc = k->cs;
	bool ok;
	int f;

	ok = (b->work.extended ? libpq->PQsendQueryPrepared(lc->pq, q->stmt, (int)q->nparams,
							    q->values, NULL, NULL, 0)
			       : libpq->PQsendQuery(lc->pq, q->text)) == 1;
	if (ok) {
		f = libpq->PQflush(lc->pq);
		lc->want_write = f == 1;
		ok = f >= 0;
	}
	if (!ok) {
		snprintf(err, errlen, "%s", libpq->PQerrorMessage(lc->pq));
		return -1;
	}
	return 0;
}

/* Takes what libpq has read for k: results complete its query in flight.  0 or -1. */
static int take_results(struct bench *b, struct bench_pool *p, struct bench_conn *k)
{
	struct libpq_conn *lc = k->cs;
	char msg[300];
	PGresult *r;

	if (libpq->PQconsumeInput(lc->pq) == 0)
		goto failed;
	while (k->inflight > 0 && !libpq->PQisBusy(lc->pq)) {
		r = libpq->PQgetResult(lc->pq);
		if (r == NULL) {
			/* the query's results are all in */
			if (lc->got_result)
				czpg_bench_rounds_unit_done(b, k, lc->error);
			lc->got_result = false;
			lc->error = false;
			break;
		}
		if (libpq->PQresultStatus(r) == PGRES_TUPLES_OK)
			p->round_rows += (uint64_t)libpq->PQntuples(r);
		else if (libpq->PQresultStatus(r) != PGRES_COMMAND_OK)
			lc->error = true;
		libpq->PQclear(r);
		if (libpq->PQstatus(lc->pq) == CONNECTION_BAD)
			goto failed;
		lc->got_result = true;
	}
	return 0;
failed:
	last_error(lc->pq, msg, sizeof(msg));
	czpg_bench_fail(b, "connection %u of the %s pool (libpq) failed: %s", k->index, p->r->name,
			msg);
	return -1;
}

/* Reads what libpq's sockets have, completing queries; one poll() call. */
static int libpq_drive(struct bench *b, struct bench_pool *p, uint64_t timeout_ns)
{
	struct libpq_client *lp = client_of(b);
	unsigned i, n = 0;
	int rc, ms;

	for (i = 0; i < p->n; i++) {
		struct bench_conn *k = &p->conns[i];
		struct libpq_conn *lc = k->cs;

		if (k->inflight == 0 && !lc->want_write)
			continue;
		lp->pfds[n].fd = libpq->PQsocket(lc->pq);
		lp->pfds[n].events = (short)(POLLIN | (lc->want_write ? POLLOUT : 0));
		lp->pfds[n].revents = 0;
		lp->pfd_conn[n++] = k;
	}
	ms = (int)((timeout_ns + 999999) / 1000000);
	if (n == 0) {
		if (ms > 0) {
			struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)timeout_ns};

			nanosleep(&ts, NULL);
		}
		return 0;
	}
	rc = poll(lp->pfds, n, ms);
	p->r->polls++;
	if (rc < 0) {
		if (errno == EINTR)
			return 0;
		czpg_bench_fail(b, "poll() failed: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n && rc > 0; i++) {
		struct bench_conn *k = lp->pfd_conn[i];
		struct libpq_conn *lc = k->cs;

		if (lp->pfds[i].revents == 0)
			continue;
		if (lp->pfds[i].revents & POLLOUT)
			lc->want_write = libpq->PQflush(lc->pq) == 1;
		if (!(lp->pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (take_results(b, p, k) < 0)
			return -1;
	}
	return 0;
}

static bool libpq_alive(const struct bench_conn *k)
{
	const struct libpq_conn *lc = k->cs;

	return lc != NULL && lc->pq != NULL && libpq->PQstatus(lc->pq) == CONNECTION_OK;
}

static void libpq_close(struct bench *b)
{
	struct libpq_client *lp = client_of(b);
	unsigned pi, i;

	for (pi = 0; pi < 2; pi++)
		for (i = 0; b->pools[pi].conns != NULL && i < b->pools[pi].n; i++) {
			struct libpq_conn *lc = b->pools[pi].conns[i].cs;

			if (lc != NULL && lc->pq != NULL)
				libpq->PQfinish(lc->pq);
			free(lc);
			b->pools[pi].conns[i].cs = NULL;
		}
	if (lp != NULL) {
		free(lp->pfds);
		free(lp->pfd_conn);
		free(lp);
	}
	b->client = NULL;
}

const struct bench_client_ops czpg_bench_libpq_ops = {
    .name = "libpq",
    .open = libpq_open,
    .connect = libpq_connect,
    .exec = libpq_exec,
    .prepare = libpq_prepare,
    .session = libpq_session,
    .send = libpq_send,
    .drive = libpq_drive,
    .io = NULL,
    .start_transient = NULL,
    .alive = libpq_alive,
    .close = libpq_close,
};
