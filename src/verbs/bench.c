/*
 * bench.c - TLS against plaintext, pooled (or connection per transaction),
 * measured in alternating ABBA rounds (see czpg/bench.h and docs/bench.md).
 *
 * One thread drives both pools: the native client through one io_uring
 * engine (one io_uring_enter per loop iteration for every connection), the
 * libpq client through non-blocking libpq calls and poll().  Only one pool
 * works at a time; the other stays connected and idle.
 */
#include "czpg/bench.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#include "czpg/engine.h"
#include "czpg/scram.h"
#include "czpg/tlsio.h"

#define NS_PER_S 1000000000.0
#define AUDIT_PAYLOAD_PAD 260 /* makes the JSONB document about 400 bytes */
#define CALIBRATE_UNITS_PER_CONN 40u
#define PROGRESS_EVERY_NS 500000000ull

enum unit_kind { UNIT_SELECT1 = 0, UNIT_INSERT, UNIT_READ, UNIT_SQL };

struct bpool;
struct bench;

/* One connection of a pool (pooled), or one transaction (connect mode). */
struct bconn {
	struct bench *b;
	struct bpool *p;
	struct czpg_conn *c;
	PGconn *pq;
	int slot;
	unsigned index;
	bool ready;
	bool failed;
	bool pq_want_write;
	bool pq_got_result;
	bool pq_error;
	unsigned inflight;
	unsigned head; /* FIFO of start times of the queries in flight */
	uint64_t start_ns[CZPG_BENCH_MAX_PIPELINE];
	uint64_t unit_key[CZPG_BENCH_MAX_PIPELINE]; /* audit: row inserted, 0 = a read */
	uint64_t seq;
	uint64_t conn_start_ns; /* connect mode */
	bool query_error;
};

struct bpool {
	struct bench *b;
	struct czpg_bench_pool_result *r;
	int index;
	bool tls;
	struct bconn *conns; /* pooled */
	unsigned n;
	/* the round in progress */
	uint64_t to_issue;
	uint64_t issued;    /* handed to a connection */
	uint64_t scheduled; /* open loop: issued + waiting in the backlog */
	uint64_t completed;
	uint64_t round_errors;
	uint64_t round_rows;
	double round_lat_sum;
	bool measuring;
	unsigned rr;
	uint64_t committed_key; /* audit: newest row whose insert completed */
	uint64_t *backlog;      /* open loop: scheduled times not yet sent */
	size_t bl_head, bl_tail, bl_cap;
	/* connect mode */
	unsigned active;
	uint32_t postmaster_pid;
};

struct bench {
	const struct czpg_bench_options *o;
	struct czpg_bench_result *res;
	struct czpg_engine *engine;
	struct czpg_tls_config *tcfg;
	struct czpg_scram_cache *cache;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char label[300];
	struct bpool pools[2];
	bool failed;
	char err[768];
	char table[64];
	char payload_pad[AUDIT_PAYLOAD_PAD + 1];
	uint64_t next_key;
	struct pollfd *pfds;
	struct bconn **pfd_conn;
	uint64_t last_progress_ns;
	uint64_t measure_start_ns;
	char conninfo_port[16];
	/* setup queries (native) */
	unsigned setup_pending;
	bool setup_error;
	char setup_msg[400];
};

/* Fewest measured pairs a gate verdict (below/above) may rest on. */
#define BENCH_GATE_MIN_PAIRS 10

static void bench_fail(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bench_fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (b->failed)
		return; /* keep the first reason */
	b->failed = true;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
}

void czpg_bench_options_default(struct czpg_bench_options *o)
{
	memset(o, 0, sizeof(*o));
	o->port = 5432;
	o->channel_binding = CZPG_CB_PREFER;
	o->pool = 4;
	o->pipeline = 1;
	o->round_ms = 200;
	o->warmup_pairs = 2;
	o->min_pairs = 10;
	o->duration_s = 20;
	o->max_duration_s = 0;
	o->max_overhead = NAN;
	o->assume_rtt_ms[0] = 0.25;
	o->assume_rtt_ms[1] = 1.0;
	o->n_rtt = 2;
	o->seed = 1;
	o->pin_client = -1;
	o->pin_server = -1;
	o->timeout_ms = 10000;
}

const char *czpg_bench_workload_name(enum czpg_bench_workload w)
{
	switch (w) {
	case CZPG_BENCH_SELECT1:
		return "select1";
	case CZPG_BENCH_AUDIT:
		return "audit";
	case CZPG_BENCH_SQL:
		return "sql";
	}
	return "?";
}

/* ------------------------------------------------------------------------
 * Clocks and /proc.
 */
static uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Time the task has run on a CPU (ns), from /proc/<pid>/schedstat; -1 if unreadable. */
static int64_t proc_run_ns(uint32_t pid)
{
	char path[64], buf[128];
	unsigned long long run = 0;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%u/schedstat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	ok = fgets(buf, sizeof(buf), f) != NULL && sscanf(buf, "%llu", &run) == 1;
	fclose(f);
	return ok ? (int64_t)run : -1;
}

/*
 * Fields of /proc/<pid>/stat after the command: ppid (4), cutime+cstime
 * (16, 17, in clock ticks) and processor (39).  0 or -1.
 */
static int proc_stat(uint32_t pid, uint32_t *ppid, double *child_cpu_s, int *cpu)
{
	char path[64], buf[1024];
	char *p, *save = NULL, *tok;
	unsigned long long v;
	FILE *f;
	int field = 3, rc = -1;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL)
		goto out;
	p = strrchr(buf, ')'); /* the command may hold spaces */
	if (p == NULL)
		goto out;
	if (child_cpu_s != NULL)
		*child_cpu_s = 0;
	for (tok = strtok_r(p + 2, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		v = strtoull(tok, NULL, 10);
		if (field == 4 && ppid != NULL)
			*ppid = (uint32_t)v;
		if ((field == 16 || field == 17) && child_cpu_s != NULL)
			*child_cpu_s += (double)v / (double)sysconf(_SC_CLK_TCK);
		if (field == 39 && cpu != NULL)
			*cpu = (int)v;
		field++;
	}
	rc = field > 39 ? 0 : -1;
out:
	fclose(f);
	return rc;
}

/* A PostgreSQL process of this machine: /proc/<pid>/comm says postgres. */
static bool proc_is_postgres(uint32_t pid)
{
	char path[64], buf[64];
	FILE *f;
	bool yes = false;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) != NULL)
		yes = strncmp(buf, "postgres", 8) == 0;
	fclose(f);
	return yes;
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

/* Server CPU of a pool so far, seconds; -1 when unknown. */
static double pool_server_cpu(struct bench *b, struct bpool *p)
{
	double sum = 0, child;
	unsigned i;
	int64_t ns;

	if (!b->res->server_local)
		return -1;
	if (b->o->mode == CZPG_BENCH_CONNECT) {
		/* Backends come and go: the postmaster's reaped-children time. */
		if (p->postmaster_pid == 0 || proc_stat(p->postmaster_pid, NULL, &child, NULL) < 0)
			return -1;
		return child;
	}
	for (i = 0; i < p->r->npids; i++) {
		ns = proc_run_ns(p->r->backend_pids[i]);
		if (ns < 0)
			return -1;
		sum += (double)ns / NS_PER_S;
	}
	return sum;
}

static void sample_server_cpus(struct bpool *p)
{
	unsigned i;
	int cpu;

	for (i = 0; i < p->r->npids; i++)
		if (proc_stat(p->r->backend_pids[i], NULL, NULL, &cpu) == 0 && cpu >= 0 && cpu < 64)
			p->r->server_cpu_mask |= 1ull << cpu;
}

/* ------------------------------------------------------------------------
 * Work units: the SQL each query sends.
 */
static const char *select_sql(struct bench *b)
{
	return b->o->workload == CZPG_BENCH_SQL ? b->o->sql : "SELECT 1";
}

static void audit_payload(struct bench *b, uint64_t key, char *out, size_t cap)
{
	snprintf(out, cap,
		 "{\"event\":\"policy.update\",\"key\":%llu,\"actor\":{\"id\":\"svc-%llu\","
		 "\"kind\":\"service\"},\"source_ip\":\"10.20.1.2\",\"request_id\":"
		 "\"%016llx\",\"outcome\":\"allowed\",\"detail\":\"%s\"}",
		 (unsigned long long)key, (unsigned long long)(key % 97),
		 (unsigned long long)(key * 0x9e3779b97f4a7c15ull), b->payload_pad);
}

/* The statements each connection prepares (extended protocol). */
static int prepare_statements(struct bench *b, struct bconn *k)
{
	char sql[300];
	int rc = 0;

	if (b->o->workload == CZPG_BENCH_AUDIT) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO %s (id, tenant, actor, action, payload) "
			 "VALUES ($1, $2, $3, 'policy.update', $4)",
			 b->table);
		if (k->c != NULL)
			rc |= czpg_conn_prepare(k->c, "czb_ins", sql, 4);
		else {
			PGresult *r = PQprepare(k->pq, "czb_ins", sql, 4, NULL);

			rc |= PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
			PQclear(r);
		}
		snprintf(sql, sizeof(sql), "SELECT payload FROM %s WHERE id = $1", b->table);
		if (k->c != NULL)
			rc |= czpg_conn_prepare(k->c, "czb_sel", sql, 1);
		else {
			PGresult *r = PQprepare(k->pq, "czb_sel", sql, 1, NULL);

			rc |= PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
			PQclear(r);
		}
		return rc;
	}
	if (k->c != NULL)
		return czpg_conn_prepare(k->c, "czb_q", select_sql(b), 0);
	{
		PGresult *r = PQprepare(k->pq, "czb_q", select_sql(b), 0, NULL);

		rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
		PQclear(r);
	}
	return rc;
}

/* Sends one query on k; the start time goes into its FIFO.  0 or -1. */
static int issue(struct bench *b, struct bconn *k, uint64_t start_ns)
{
	char key[24], tenant[16], actor[24], payload[640], sql[1024];
	const char *values[4];
	bool extended = b->o->protocol == CZPG_BENCH_EXTENDED;
	const char *stmt = "czb_q", *text = select_sql(b);
	size_t nparams = 0;
	int rc;

	k->unit_key[(k->head + k->inflight) % CZPG_BENCH_MAX_PIPELINE] = 0;
	if (b->o->workload == CZPG_BENCH_AUDIT) {
		/*
		 * Even units of a round insert, odd ones read back the newest row
		 * this pool has seen committed: both pools do the same work.
		 */
		if (k->p->issued % 2 == 0 || k->p->committed_key == 0) {
			uint64_t id = ++b->next_key;

			k->unit_key[(k->head + k->inflight) % CZPG_BENCH_MAX_PIPELINE] = id;
			snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
			snprintf(tenant, sizeof(tenant), "%llu", (unsigned long long)(id % 50));
			snprintf(actor, sizeof(actor), "svc-%llu", (unsigned long long)(id % 97));
			audit_payload(b, id, payload, sizeof(payload));
			if (extended) {
				values[0] = key, values[1] = tenant, values[2] = actor;
				values[3] = payload;
				stmt = "czb_ins", nparams = 4;
			} else {
				snprintf(
				    sql, sizeof(sql),
				    "INSERT INTO %s (id, tenant, actor, action, payload) VALUES "
				    "(%s, %s, '%s', 'policy.update', '%s')",
				    b->table, key, tenant, actor, payload);
				text = sql;
			}
		} else {
			snprintf(key, sizeof(key), "%llu", (unsigned long long)k->p->committed_key);
			if (extended) {
				values[0] = key;
				stmt = "czb_sel", nparams = 1;
			} else {
				snprintf(sql, sizeof(sql), "SELECT payload FROM %s WHERE id = %s",
					 b->table, key);
				text = sql;
			}
		}
	}
	k->seq++;
	if (k->c != NULL) {
		rc = extended ? czpg_conn_execute_prepared(k->c, stmt, nparams, values)
			      : czpg_conn_query(k->c, text);
		if (rc == 0)
			czpg_engine_wake(b->engine, k->slot);
	} else {
		rc = extended
			 ? PQsendQueryPrepared(k->pq, stmt, (int)nparams, values, NULL, NULL, 0)
			 : PQsendQuery(k->pq, text);
		rc = rc == 1 ? 0 : -1;
		if (rc == 0) {
			int f = PQflush(k->pq);

			k->pq_want_write = f == 1;
			rc = f < 0 ? -1 : 0;
		}
	}
	if (rc < 0) {
		bench_fail(b, "could not send a query on connection %u of the %s pool: %s",
			   k->index, k->p->r->name,
			   k->c != NULL ? czpg_conn_error(k->c) : PQerrorMessage(k->pq));
		return -1;
	}
	k->start_ns[(k->head + k->inflight) % CZPG_BENCH_MAX_PIPELINE] = start_ns;
	k->inflight++;
	k->p->issued++;
	return 0;
}

static void backlog_push(struct bpool *p, uint64_t t)
{
	p->backlog[p->bl_tail % p->bl_cap] = t;
	p->bl_tail++;
}

static bool backlog_pop(struct bpool *p, uint64_t *t)
{
	if (p->bl_head == p->bl_tail)
		return false;
	*t = p->backlog[p->bl_head % p->bl_cap];
	p->bl_head++;
	return true;
}

/* A query on k finished (its ReadyForQuery, or libpq's last result). */
static void unit_done(struct bench *b, struct bconn *k, bool error)
{
	struct bpool *p = k->p;
	uint64_t now = czpg_engine_now_ns(), start, t;

	if (k->inflight == 0)
		return; /* a setup query */
	start = k->start_ns[k->head];
	if (k->unit_key[k->head] != 0 && !error)
		p->committed_key = k->unit_key[k->head];
	k->head = (k->head + 1) % CZPG_BENCH_MAX_PIPELINE;
	k->inflight--;
	p->completed++;
	if (error)
		p->round_errors++;
	if (p->measuring) {
		czpg_hist_record(&p->r->hist, now - start);
		p->round_lat_sum += (double)(now - start) / NS_PER_S;
	}
	if (b->failed || b->o->mode == CZPG_BENCH_CONNECT)
		return;
	if (b->o->shape == CZPG_BENCH_CLOSED) {
		if (p->issued < p->to_issue)
			issue(b, k, now);
	} else if (backlog_pop(p, &t)) {
		issue(b, k, t);
	}
}

/* ------------------------------------------------------------------------
 * Native connections.
 */
/*
 * Connect mode: the session is up; its one query's latency counts from the
 * start of the TCP connect, so the unit covers handshake, SCRAM and query.
 */
static void transient_ready(struct bench *b, struct bconn *k)
{
	struct bpool *p = k->p;

	if (p->postmaster_pid == 0) {
		uint32_t pid = czpg_conn_backend_pid(k->c), ppid = 0;

		if (pid != 0 && addr_is_loopback(&b->addr) && proc_is_postgres(pid) &&
		    proc_stat(pid, &ppid, NULL, NULL) == 0 && proc_is_postgres(ppid))
			p->postmaster_pid = ppid;
	}
	if (czpg_conn_query(k->c, "SELECT 1") < 0) {
		bench_fail(b, "could not send a query on a %s connection: %s", p->r->name,
			   czpg_conn_error(k->c));
		return;
	}
	k->start_ns[0] = k->conn_start_ns;
	k->head = 0;
	k->inflight = 1;
}

static void on_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	struct bconn *k = user;
	struct bench *b = k->b;

	(void)c;
	switch (ev->type) {
	case CZPG_EV_READY:
		k->ready = true;
		if (b->o->mode == CZPG_BENCH_CONNECT)
			transient_ready(b, k);
		break;
	case CZPG_EV_ROW:
		k->p->round_rows++;
		break;
	case CZPG_EV_QUERY_ERROR:
		k->query_error = true;
		if (k->inflight == 0 && !b->setup_error) {
			b->setup_error = true;
			snprintf(b->setup_msg, sizeof(b->setup_msg), "%s",
				 ev->text != NULL ? ev->text : "error");
		}
		break;
	case CZPG_EV_QUERY_DONE:
		if (k->inflight == 0) {
			if (b->setup_pending > 0)
				b->setup_pending--;
		} else {
			unit_done(b, k, k->query_error);
		}
		k->query_error = false;
		if (b->o->mode == CZPG_BENCH_CONNECT)
			czpg_conn_terminate(k->c);
		break;
	case CZPG_EV_FAILED:
		k->failed = true;
		bench_fail(b, "connection %u of the %s pool failed: %s", k->index, k->p->r->name,
			   czpg_conn_error(k->c));
		break;
	default:
		break;
	}
}

static struct czpg_conn *new_native_conn(struct bench *b, struct bconn *k, bool tls, char *err,
					 size_t errlen)
{
	struct czpg_conn_config cfg = {0};

	cfg.host = b->o->host;
	cfg.user = b->o->user;
	cfg.dbname = b->o->dbname;
	cfg.application_name = tls ? "czctl bench tls" : "czctl bench plain";
	cfg.password = b->o->password;
	cfg.use_tls = tls;
	cfg.tls = b->tcfg;
	cfg.channel_binding = tls ? b->o->channel_binding : CZPG_CB_DISABLE;
	cfg.scram_cache = b->cache;
	cfg.goal = CZPG_GOAL_SESSION;
	cfg.phase_timeout_ms = b->o->timeout_ms;
	cfg.on_event = on_event;
	cfg.user_data = k;
	return czpg_conn_new(&cfg, czpg_engine_now_ns(), err, errlen);
}

static void on_release(struct czpg_conn *c, void *user)
{
	struct bconn *k = czpg_conn_user_data(c);

	(void)user;
	if (k == NULL || k->b->o->mode != CZPG_BENCH_CONNECT)
		return;
	/* connect mode: the transaction is over (or failed) */
	k->p->active--;
	czpg_conn_free(c);
	free(k);
}

/* One engine iteration; fails the bench when the ring fails. */
static int drive_native(struct bench *b, uint64_t timeout_ns)
{
	char err[256];

	if (czpg_engine_run_once(b->engine, timeout_ns, err, sizeof(err)) < 0) {
		bench_fail(b, "%s", err);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * libpq connections.
 */
/* Notices (e.g. "table does not exist, skipping") are not part of the report. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *libpq_connect(struct bench *b, bool tls, char *err, size_t errlen)
{
	const char *keys[16], *vals[16];
	char timeout[16];
	const char *cb;
	PGconn *pq;
	int n = 0;

	snprintf(timeout, sizeof(timeout), "%u", (b->o->timeout_ms + 999) / 1000);
	cb = b->o->channel_binding == CZPG_CB_REQUIRE   ? "require"
	     : b->o->channel_binding == CZPG_CB_DISABLE ? "disable"
							: "prefer";
	keys[n] = "host", vals[n++] = b->o->host;
	keys[n] = "port", vals[n++] = b->conninfo_port;
	keys[n] = "user", vals[n++] = b->o->user;
	keys[n] = "dbname", vals[n++] = b->o->dbname != NULL ? b->o->dbname : b->o->user;
	keys[n] = "sslmode", vals[n++] = tls ? "verify-full" : "disable";
	if (tls) {
		keys[n] = "sslrootcert", vals[n++] = b->o->ca_file;
		keys[n] = "channel_binding", vals[n++] = cb;
		keys[n] = "ssl_min_protocol_version",
		vals[n++] = b->o->min_tls == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3";
	}
	keys[n] = "connect_timeout", vals[n++] = timeout;
	keys[n] = "application_name",
	vals[n++] = tls ? "czctl bench tls (libpq)" : "czctl bench plain (libpq)";
	keys[n] = "gssencmode", vals[n++] = "disable";
	if (b->o->password != NULL)
		keys[n] = "password", vals[n++] = b->o->password;
	keys[n] = NULL, vals[n] = NULL;
	pq = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(pq) == CONNECTION_OK)
		PQsetNoticeProcessor(pq, quiet_notice, NULL);
	if (PQstatus(pq) != CONNECTION_OK) {
		snprintf(err, errlen, "libpq could not connect (%s): %s",
			 tls ? "sslmode=verify-full" : "sslmode=disable", PQerrorMessage(pq));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(pq);
		return NULL;
	}
	return pq;
}

/* Reads what libpq's sockets have, completing queries; one poll() call. */
static int drive_libpq(struct bench *b, struct bpool *p, uint64_t timeout_ns)
{
	unsigned i, n = 0;
	int rc, ms;

	for (i = 0; i < p->n; i++) {
		struct bconn *k = &p->conns[i];

		if (k->inflight == 0 && !k->pq_want_write)
			continue;
		b->pfds[n].fd = PQsocket(k->pq);
		b->pfds[n].events = (short)(POLLIN | (k->pq_want_write ? POLLOUT : 0));
		b->pfds[n].revents = 0;
		b->pfd_conn[n++] = k;
	}
	ms = (int)((timeout_ns + 999999) / 1000000);
	if (n == 0) {
		if (ms > 0) {
			struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)timeout_ns};

			nanosleep(&ts, NULL);
		}
		return 0;
	}
	rc = poll(b->pfds, n, ms);
	p->r->polls++;
	if (rc < 0) {
		if (errno == EINTR)
			return 0;
		bench_fail(b, "poll() failed: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n && rc > 0; i++) {
		struct bconn *k = b->pfd_conn[i];
		PGresult *r;

		if (b->pfds[i].revents == 0)
			continue;
		if (b->pfds[i].revents & POLLOUT) {
			int f = PQflush(k->pq);

			k->pq_want_write = f == 1;
		}
		if (!(b->pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (PQconsumeInput(k->pq) == 0) {
			char msg[300];

			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(k->pq));
			msg[strcspn(msg, "\n")] = '\0';
			bench_fail(b, "connection %u of the %s pool (libpq) failed: %s", k->index,
				   p->r->name, msg);
			return -1;
		}
		while (k->inflight > 0 && !PQisBusy(k->pq)) {
			r = PQgetResult(k->pq);
			if (r == NULL) {
				if (k->pq_got_result)
					unit_done(b, k, k->pq_error);
				k->pq_got_result = false;
				k->pq_error = false;
				break;
			}
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				p->round_rows += (uint64_t)PQntuples(r);
			else if (PQresultStatus(r) != PGRES_COMMAND_OK)
				k->pq_error = true;
			if (PQstatus(k->pq) == CONNECTION_BAD) {
				char msg[300];

				snprintf(msg, sizeof(msg), "%s", PQerrorMessage(k->pq));
				msg[strcspn(msg, "\n")] = '\0';
				PQclear(r);
				bench_fail(b, "connection %u of the %s pool (libpq) failed: %s",
					   k->index, p->r->name, msg);
				return -1;
			}
			k->pq_got_result = true;
			PQclear(r);
		}
	}
	return 0;
}

static int drive(struct bench *b, struct bpool *p, uint64_t timeout_ns)
{
	if (b->o->client == CZPG_BENCH_LIBPQ)
		return drive_libpq(b, p, timeout_ns);
	return drive_native(b, timeout_ns);
}

/* ------------------------------------------------------------------------
 * Setting up the pools.
 */
static int wait_native(struct bench *b, bool (*done)(struct bench *), const char *what)
{
	uint64_t deadline = czpg_engine_now_ns() + (uint64_t)b->o->timeout_ms * 3 * 1000000ull;

	while (!done(b) && !b->failed) {
		if (czpg_engine_now_ns() > deadline) {
			bench_fail(b, "the server did not finish %s within %u s", what,
				   b->o->timeout_ms * 3 / 1000);
			break;
		}
		drive_native(b, 5000000ull);
	}
	return b->failed ? -1 : 0;
}

static bool all_ready(struct bench *b)
{
	unsigned pi, i;

	for (pi = 0; pi < 2; pi++)
		for (i = 0; i < b->pools[pi].n; i++)
			if (!b->pools[pi].conns[i].ready)
				return false;
	return true;
}

static bool setup_done(struct bench *b)
{
	return b->setup_pending == 0;
}

/* Runs one simple query on a native connection and waits for it. */
static int native_exec(struct bench *b, struct bconn *k, const char *sql)
{
	b->setup_pending = 1;
	b->setup_error = false;
	if (czpg_conn_query(k->c, sql) < 0) {
		bench_fail(b, "could not send a setup query: %s", czpg_conn_error(k->c));
		return -1;
	}
	czpg_engine_wake(b->engine, k->slot);
	if (wait_native(b, setup_done, "a setup query") < 0)
		return -1;
	if (b->setup_error) {
		bench_fail(b, "setup query failed (%.60s...): %s", sql, b->setup_msg);
		return -1;
	}
	return 0;
}

static int exec_on(struct bench *b, struct bconn *k, const char *sql)
{
	PGresult *r;
	int rc;

	if (k->c != NULL)
		return native_exec(b, k, sql);
	r = PQexec(k->pq, sql);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
	if (rc < 0) {
		char msg[300];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(k->pq));
		msg[strcspn(msg, "\n")] = '\0';
		bench_fail(b, "setup query failed (%.60s...): %s", sql, msg);
	}
	PQclear(r);
	return rc;
}

static int create_table(struct bench *b, struct bconn *k)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", b->table);
	if (exec_on(b, k, sql) < 0)
		return -1;
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE %s (id bigint PRIMARY KEY, tenant integer NOT NULL, "
		 "actor text NOT NULL, action text NOT NULL, "
		 "at timestamptz NOT NULL DEFAULT now(), payload jsonb NOT NULL)",
		 b->table);
	if (exec_on(b, k, sql) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE INDEX %s_tenant_at ON %s (tenant, at)", b->table,
		 b->table);
	return exec_on(b, k, sql);
}

static void drop_table(struct bench *b)
{
	struct bconn *k;
	char sql[128];
	unsigned pi, i;

	if (b->table[0] == '\0' || b->o->workload != CZPG_BENCH_AUDIT)
		return;
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", b->table);
	/* Any live connection will do; a failed bench keeps its first error. */
	for (pi = 0; pi < 2; pi++)
		for (i = 0; i < b->pools[pi].n; i++) {
			k = &b->pools[pi].conns[i];
			if (k->failed || (k->c != NULL && czpg_conn_finished(k->c)) ||
			    (k->pq != NULL && PQstatus(k->pq) != CONNECTION_OK) || k->inflight > 0)
				continue;
			if (k->pq != NULL)
				PQsetnonblocking(k->pq, 0);
			if (k->c != NULL) {
				bool was_failed = b->failed;

				b->failed = false;
				native_exec(b, k, sql);
				b->failed = was_failed;
			} else {
				PQclear(PQexec(k->pq, sql));
			}
			return;
		}
}

static int connect_pools(struct bench *b)
{
	char err[512];
	unsigned pi, i;

	for (pi = 0; pi < 2; pi++) {
		struct bpool *p = &b->pools[pi];

		for (i = 0; i < p->n; i++) {
			struct bconn *k = &p->conns[i];

			k->b = b, k->p = p, k->index = i, k->slot = -1;
			if (b->o->client == CZPG_BENCH_LIBPQ) {
				k->pq = libpq_connect(b, p->tls, err, sizeof(err));
				if (k->pq == NULL) {
					bench_fail(b, "%s pool: %s", p->r->name, err);
					return -1;
				}
				k->ready = true;
				p->r->backend_pids[p->r->npids++] = (uint32_t)PQbackendPID(k->pq);
				continue;
			}
			k->c = new_native_conn(b, k, p->tls, err, sizeof(err));
			if (k->c == NULL) {
				bench_fail(b, "%s", err);
				return -1;
			}
			k->slot =
			    czpg_engine_connect(b->engine, k->c, (const struct sockaddr *)&b->addr,
						b->addrlen, NULL, 0, b->label, err, sizeof(err));
			if (k->slot < 0) {
				bench_fail(b, "%s", err);
				return -1;
			}
		}
	}
	if (b->o->client == CZPG_BENCH_NATIVE) {
		if (wait_native(b, all_ready, "connecting both pools") < 0)
			return -1;
		for (pi = 0; pi < 2; pi++)
			for (i = 0; i < b->pools[pi].n; i++)
				b->pools[pi].r->backend_pids[b->pools[pi].r->npids++] =
				    czpg_conn_backend_pid(b->pools[pi].conns[i].c);
	}
	return 0;
}

static void record_session_info(struct bench *b)
{
	struct czpg_bench_result *res = b->res;
	struct bconn *k = &b->pools[0].conns[0];
	const char *sv = NULL;

	if (k->c != NULL) {
		struct czpg_tls *t = czpg_conn_tls(k->c);

		if (t != NULL) {
			snprintf(res->tls_version, sizeof(res->tls_version), "%s",
				 czpg_tls_version(t));
			snprintf(res->tls_cipher, sizeof(res->tls_cipher), "%s",
				 czpg_tls_cipher(t));
		}
		snprintf(res->auth_method, sizeof(res->auth_method), "%s",
			 czpg_conn_auth_method(k->c));
		sv = czpg_conn_parameter(k->c, "server_version");
	} else if (k->pq != NULL) {
		if (PQsslInUse(k->pq)) {
			const char *v = PQsslAttribute(k->pq, "protocol");
			const char *c = PQsslAttribute(k->pq, "cipher");

			snprintf(res->tls_version, sizeof(res->tls_version), "%s", v ? v : "");
			snprintf(res->tls_cipher, sizeof(res->tls_cipher), "%s", c ? c : "");
		}
		snprintf(res->auth_method, sizeof(res->auth_method), "libpq");
		sv = PQparameterStatus(k->pq, "server_version");
	}
	if (sv != NULL)
		czpg_pgwire_sanitize(sv, res->server_version, sizeof(res->server_version));
}

static void pin_server(struct bench *b)
{
	cpu_set_t set;
	unsigned pi, i;

	if (b->o->pin_server < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(b->o->pin_server, &set);
	b->res->server_pinned = true;
	for (pi = 0; pi < 2; pi++)
		for (i = 0; i < b->pools[pi].r->npids; i++)
			if (sched_setaffinity((pid_t)b->pools[pi].r->backend_pids[i], sizeof(set),
					      &set) < 0) {
				b->res->server_pinned = false;
				snprintf(b->res->server_pin_error, sizeof(b->res->server_pin_error),
					 "cannot pin backend %u to CPU %d: %s",
					 b->pools[pi].r->backend_pids[i], b->o->pin_server,
					 strerror(errno));
				return;
			}
}

/* ------------------------------------------------------------------------
 * Rounds.
 */
struct round_out {
	double wall_s;
	double mean_lat_s;
};

static void note_progress(struct bench *b, bool force);

static uint64_t silent_limit_ns(struct bench *b)
{
	return (uint64_t)b->o->timeout_ms * 1000000ull;
}

/* Connect mode: starts one connection-per-transaction unit. */
static int start_transient(struct bench *b, struct bpool *p)
{
	struct bconn *k = calloc(1, sizeof(*k));
	char err[512];

	if (k == NULL) {
		bench_fail(b, "out of memory");
		return -1;
	}
	k->b = b, k->p = p, k->index = (unsigned)p->issued;
	k->conn_start_ns = czpg_engine_now_ns();
	k->c = new_native_conn(b, k, p->tls, err, sizeof(err));
	if (k->c == NULL) {
		free(k);
		bench_fail(b, "%s", err);
		return -1;
	}
	k->slot = czpg_engine_connect(b->engine, k->c, (const struct sockaddr *)&b->addr,
				      b->addrlen, NULL, 0, b->label, err, sizeof(err));
	if (k->slot < 0) {
		czpg_conn_free(k->c);
		free(k);
		bench_fail(b, "%s", err);
		return -1;
	}
	p->active++;
	p->issued++;
	return 0;
}

static int run_round(struct bench *b, struct bpool *p, uint64_t units, bool measure,
		     struct round_out *out)
{
	const struct czpg_engine_stats *es = NULL;
	struct czpg_engine_stats s0 = {0};
	uint64_t t0, t1, c0, c1, now, next = 0, interval = 0, last_done, last_progress_ns;
	double srv0, srv1;
	unsigned i, j;
	int cpu;

	p->to_issue = units;
	p->issued = p->scheduled = p->completed = 0;
	p->round_errors = p->round_rows = 0;
	p->round_lat_sum = 0;
	p->bl_head = p->bl_tail = 0;
	p->measuring = measure;
	srv0 = pool_server_cpu(b, p);
	if (b->engine != NULL) {
		es = czpg_engine_stats(b->engine);
		s0 = *es;
	}
	c0 = cpu_now_ns();
	t0 = czpg_engine_now_ns();
	last_done = t0;
	if (b->o->mode == CZPG_BENCH_CONNECT) {
		while (p->active < b->o->pool && p->issued < units && !b->failed)
			start_transient(b, p);
	} else if (b->o->shape == CZPG_BENCH_CLOSED) {
		for (j = 0; j < b->o->pipeline; j++)
			for (i = 0; i < p->n && p->issued < units; i++)
				if (issue(b, &p->conns[i], t0) < 0)
					goto out;
	} else {
		interval = (uint64_t)(NS_PER_S / b->o->rate);
		if (interval == 0)
			interval = 1;
		next = t0;
	}
	while (!b->failed &&
	       (p->completed < units || (b->o->mode == CZPG_BENCH_CONNECT && p->active > 0))) {
		uint64_t timeout = 5000000ull, before = p->completed;

		now = czpg_engine_now_ns();
		if (b->o->shape == CZPG_BENCH_OPEN && b->o->mode == CZPG_BENCH_POOLED) {
			while (p->scheduled < units && next <= now) {
				struct bconn *k = NULL;

				for (i = 0; i < p->n; i++) {
					struct bconn *cand = &p->conns[(p->rr + i) % p->n];

					if (cand->inflight < b->o->pipeline) {
						k = cand;
						p->rr = (p->rr + i + 1) % p->n;
						break;
					}
				}
				if (k != NULL) {
					if (issue(b, k, next) < 0)
						goto out;
				} else {
					backlog_push(p, next);
				}
				p->scheduled++;
				next += interval;
			}
			if (p->scheduled < units)
				timeout = next > now ? next - now : 0;
		}
		if (drive(b, p, timeout) < 0)
			break;
		if (b->o->mode == CZPG_BENCH_CONNECT)
			while (p->active < b->o->pool && p->issued < units && !b->failed)
				start_transient(b, p);
		now = czpg_engine_now_ns();
		if (p->completed != before)
			last_done = now;
		else if (now - last_done > silent_limit_ns(b) &&
			 (p->issued > p->completed || p->active > 0))
			bench_fail(b,
				   "the server answered nothing on the %s pool for %u s (%llu of "
				   "%llu queries done in this round)",
				   p->r->name, b->o->timeout_ms / 1000,
				   (unsigned long long)p->completed, (unsigned long long)units);
		last_progress_ns = now;
		if (last_progress_ns - b->last_progress_ns > PROGRESS_EVERY_NS)
			note_progress(b, false);
	}
out:
	t1 = czpg_engine_now_ns();
	c1 = cpu_now_ns();
	srv1 = pool_server_cpu(b, p);
	p->measuring = false;
	cpu = sched_getcpu();
	if (cpu >= 0 && cpu < 64)
		b->res->client_cpu_mask |= 1ull << cpu;
	if (b->failed)
		return -1;
	out->wall_s = (double)(t1 - t0) / NS_PER_S;
	out->mean_lat_s = p->completed > 0 ? p->round_lat_sum / (double)p->completed : 0;
	if (!measure) {
		p->r->warmup_units += p->completed;
		return 0;
	}
	p->r->units += p->completed;
	p->r->errors += p->round_errors;
	p->r->rows += p->round_rows;
	p->r->rounds++;
	p->r->busy_s += out->wall_s;
	p->r->lat_sum_s += p->round_lat_sum;
	p->r->client_cpu_s += (double)(c1 - c0) / NS_PER_S;
	if (srv0 >= 0 && srv1 >= 0)
		p->r->server_cpu_s += srv1 - srv0;
	else
		p->r->server_cpu_known = false;
	if (es != NULL) {
		p->r->enters += es->enters - s0.enters;
		p->r->sends += es->sends - s0.sends;
		p->r->recvs += es->recvs - s0.recvs;
		p->r->bytes_sent += es->bytes_sent - s0.bytes_sent;
		p->r->bytes_received += es->bytes_received - s0.bytes_received;
	}
	if (p->r->rounds % 8 == 1)
		sample_server_cpus(p);
	return 0;
}

/* ------------------------------------------------------------------------
 * Statistics, progress and derived figures.
 */
static int push_pair(struct bench *b, double a, double bb, double t)
{
	struct czpg_bench_result *res = b->res;

	if (res->npairs == res->cap_pairs) {
		size_t cap = res->cap_pairs == 0 ? 256 : res->cap_pairs * 2;
		double *na = realloc(res->a, cap * sizeof(double));

		if (na == NULL)
			return -1;
		res->a = na;
		na = realloc(res->b, cap * sizeof(double));
		if (na == NULL)
			return -1;
		res->b = na;
		na = realloc(res->pair_t, cap * sizeof(double));
		if (na == NULL)
			return -1;
		res->pair_t = na;
		res->cap_pairs = cap;
	}
	res->a[res->npairs] = a;
	res->b[res->npairs] = bb;
	res->pair_t[res->npairs] = t;
	res->npairs++;
	return 0;
}

static int compute_stats(struct bench *b, size_t resamples)
{
	struct czpg_bench_result *res = b->res;
	char err[256];

	res->have_stats = false;
	if (res->npairs < 2)
		return -1;
	if (czpg_stats_paired(res->a, res->b, res->npairs, b->o->seed, resamples, &res->stats, err,
			      sizeof(err)) < 0)
		return -1;
	res->have_stats = true;
	if (!isnan(b->o->max_overhead)) {
		/*
		 * A verdict needs enough pairs, and takes the wider of the
		 * bootstrap and t intervals: with few pairs the percentile
		 * bootstrap is too narrow, and a gate must never turn noise
		 * into a verdict.
		 */
		size_t floor_pairs =
		    b->o->min_pairs > BENCH_GATE_MIN_PAIRS ? b->o->min_pairs : BENCH_GATE_MIN_PAIRS;
		double lo = fmin(res->stats.boot_lo, res->stats.t_lo);
		double hi = fmax(res->stats.boot_hi, res->stats.t_hi);

		res->gate_set = true;
		res->gate = res->npairs < floor_pairs ? CZPG_GATE_STRADDLE
						      : czpg_stats_gate(lo, hi, b->o->max_overhead);
	}
	return 0;
}

static void note_progress(struct bench *b, bool force)
{
	struct czpg_bench_result *res = b->res;
	double el;

	if (b->o->progress == NULL)
		return;
	b->last_progress_ns = czpg_engine_now_ns();
	el = b->measure_start_ns != 0
		 ? (double)(b->last_progress_ns - b->measure_start_ns) / NS_PER_S
		 : 0;
	if (res->npairs >= 2 && compute_stats(b, CZPG_STATS_MIN_RESAMPLES) == 0)
		fprintf(b->o->progress,
			"\r  pairs %zu  %5.1f s  overhead %+6.2f%%  (t 95%% [%+.2f%%, %+.2f%%])   ",
			res->npairs, el, res->stats.overhead * 100, res->stats.t_lo * 100,
			res->stats.t_hi * 100);
	else
		fprintf(b->o->progress, "\r  %s  pairs %zu  %5.1f s   ",
			b->measure_start_ns != 0 ? "measuring" : "warming up", res->npairs, el);
	if (force)
		fputc('\n', b->o->progress);
	fflush(b->o->progress);
}

static double per_unit_us(double seconds, uint64_t units)
{
	return units > 0 ? seconds * 1e6 / (double)units : NAN;
}

static void derive(struct bench *b)
{
	struct czpg_bench_result *res = b->res;
	struct czpg_bench_pool_result *t = &res->pools[0], *pl = &res->pools[1];
	double add, base;
	size_t i;

	res->add_client_cpu_us =
	    per_unit_us(t->client_cpu_s, t->units) - per_unit_us(pl->client_cpu_s, pl->units);
	res->add_server_cpu_us =
	    t->server_cpu_known && pl->server_cpu_known
		? per_unit_us(t->server_cpu_s, t->units) - per_unit_us(pl->server_cpu_s, pl->units)
		: NAN;
	res->add_latency_mean_us =
	    per_unit_us(t->lat_sum_s, t->units) - per_unit_us(pl->lat_sum_s, pl->units);
	res->add_latency_p50_us = t->hist.count > 0 && pl->hist.count > 0
				      ? ((double)czpg_hist_percentile(&t->hist, 50) -
					 (double)czpg_hist_percentile(&pl->hist, 50)) /
					    1000.0
				      : NAN;
	res->nderived = 0;
	if (b->o->mode == CZPG_BENCH_POOLED && b->o->shape == CZPG_BENCH_OPEN) {
		/* Below saturation: the added latency is what a query pays. */
		add = res->add_latency_mean_us;
		base = per_unit_us(pl->lat_sum_s, pl->units);
		res->derived_basis = "added mean latency at a fixed rate over (assumed RTT + "
				     "plaintext mean latency)";
	} else {
		/* Saturated: added CPU (client + server) is the added service time. */
		add = res->add_client_cpu_us +
		      (isnan(res->add_server_cpu_us) ? 0 : res->add_server_cpu_us);
		base = per_unit_us(pl->client_cpu_s, pl->units) +
		       (pl->server_cpu_known ? per_unit_us(pl->server_cpu_s, pl->units) : 0);
		res->derived_basis =
		    isnan(res->add_server_cpu_us)
			? "added client CPU per unit over (assumed RTT + plaintext client CPU "
			  "per unit); server CPU unknown"
			: "added client+server CPU per unit over (assumed RTT + plaintext "
			  "client+server CPU per unit)";
	}
	res->base_us = base;
	for (i = 0; i < b->o->n_rtt && i < CZPG_BENCH_MAX_RTTS; i++) {
		res->derived[i].rtt_ms = b->o->assume_rtt_ms[i];
		res->derived[i].overhead =
		    isnan(add) || isnan(base) ? NAN : add / (b->o->assume_rtt_ms[i] * 1000 + base);
		res->nderived++;
	}
}

/* ------------------------------------------------------------------------
 * The run.
 */
static int setup(struct bench *b)
{
	const struct czpg_bench_options *o = b->o;
	struct czpg_bench_result *res = b->res;
	struct czpg_engine_config ecfg = {0};
	char err[512];
	unsigned pi;

	snprintf(b->label, sizeof(b->label), strchr(o->host, ':') != NULL ? "[%s]:%u" : "%s:%u",
		 o->host, o->port);
	snprintf(b->conninfo_port, sizeof(b->conninfo_port), "%u", o->port);
	if (czpg_engine_resolve(o->host, o->port, &b->addr, &b->addrlen, err, sizeof(err)) < 0) {
		bench_fail(b, "%s", err);
		return -1;
	}
	b->tcfg = czpg_tls_config_new(err, sizeof(err));
	if (b->tcfg == NULL) {
		bench_fail(b, "%s", err);
		return -1;
	}
	if (czpg_tls_config_set_ca_file(b->tcfg, o->ca_file) < 0 ||
	    czpg_tls_config_set_min_version(b->tcfg,
					    o->min_tls != 0 ? o->min_tls : TLS1_3_VERSION) < 0) {
		bench_fail(b, "%s", czpg_tls_config_error(b->tcfg));
		return -1;
	}
	b->cache = czpg_scram_cache_new(4);
	if (b->cache == NULL) {
		bench_fail(b, "out of memory");
		return -1;
	}
	if (o->client == CZPG_BENCH_NATIVE) {
		ecfg.max_conns = 2 * o->pool + 8;
		ecfg.connect_timeout_ms = o->timeout_ms;
		ecfg.on_release = on_release;
		ecfg.user = b;
		b->engine = czpg_engine_new(&ecfg, err, sizeof(err));
		if (b->engine == NULL) {
			bench_fail(b, "%s", err);
			return -1;
		}
	}
	for (pi = 0; pi < 2; pi++) {
		struct bpool *p = &b->pools[pi];

		p->b = b;
		p->index = (int)pi;
		p->r = &res->pools[pi];
		p->tls = pi == 0 && !o->aa;
		snprintf(p->r->name, sizeof(p->r->name), "%s",
			 o->aa ? (pi == 0 ? "plain-a" : "plain-b") : (pi == 0 ? "tls" : "plain"));
		p->r->tls = p->tls;
		p->r->server_cpu_known = true;
		czpg_hist_init(&p->r->hist);
		if (o->mode == CZPG_BENCH_POOLED) {
			p->n = o->pool;
			p->conns = calloc(p->n, sizeof(*p->conns));
			if (p->conns == NULL) {
				bench_fail(b, "out of memory");
				return -1;
			}
		}
	}
	b->pfds = calloc(o->pool + 1, sizeof(*b->pfds));
	b->pfd_conn = calloc(o->pool + 1, sizeof(*b->pfd_conn));
	if (b->pfds == NULL || b->pfd_conn == NULL) {
		bench_fail(b, "out of memory");
		return -1;
	}
	snprintf(b->table, sizeof(b->table), "czbench_audit_%ld", (long)getpid());
	memset(b->payload_pad, 'x', AUDIT_PAYLOAD_PAD);
	b->payload_pad[AUDIT_PAYLOAD_PAD] = '\0';
	return 0;
}

/* Pooled: connect both pools, make the table, prepare, pin. */
static int setup_pooled(struct bench *b)
{
	unsigned pi, i;
	uint32_t pid;

	if (connect_pools(b) < 0)
		return -1;
	record_session_info(b);
	pid = b->pools[1].r->backend_pids[0];
	b->res->server_local = addr_is_loopback(&b->addr) && pid != 0 && proc_is_postgres(pid) &&
			       proc_run_ns(pid) >= 0;
	if (b->o->workload == CZPG_BENCH_AUDIT && create_table(b, &b->pools[1].conns[0]) < 0)
		return -1;
	if (b->o->protocol == CZPG_BENCH_EXTENDED) {
		for (pi = 0; pi < 2; pi++)
			for (i = 0; i < b->pools[pi].n; i++) {
				struct bconn *k = &b->pools[pi].conns[i];

				if (k->c != NULL)
					b->setup_pending +=
					    b->o->workload == CZPG_BENCH_AUDIT ? 2 : 1;
				if (prepare_statements(b, k) < 0) {
					bench_fail(
					    b, "could not prepare the statements on the %s pool",
					    b->pools[pi].r->name);
					return -1;
				}
				if (k->c != NULL)
					czpg_engine_wake(b->engine, k->slot);
			}
		if (b->o->client == CZPG_BENCH_NATIVE &&
		    wait_native(b, setup_done, "preparing statements") < 0)
			return -1;
		if (b->setup_error) {
			bench_fail(b, "preparing the statement failed: %s", b->setup_msg);
			return -1;
		}
	}
	if (b->o->client == CZPG_BENCH_LIBPQ)
		for (pi = 0; pi < 2; pi++)
			for (i = 0; i < b->pools[pi].n; i++)
				PQsetnonblocking(b->pools[pi].conns[i].pq, 1);
	pin_server(b);
	return 0;
}

/* Connect mode: one connection to learn the server and its postmaster. */
static int setup_connect(struct bench *b)
{
	struct bpool *p = &b->pools[1];
	struct round_out ro;

	if (b->o->client != CZPG_BENCH_NATIVE) {
		bench_fail(b, "connect mode runs with the native client only");
		return -1;
	}
	/* One transient connection per pool confirms both work. */
	if (run_round(b, &b->pools[0], 1, false, &ro) < 0 || run_round(b, p, 1, false, &ro) < 0)
		return -1;
	b->res->server_local = b->pools[0].postmaster_pid != 0 && b->pools[1].postmaster_pid != 0;
	return 0;
}

static void run_pair(struct bench *b, size_t i, uint64_t units, bool measure, struct round_out *ra,
		     struct round_out *rb, int *rc)
{
	/* ABBA: even pairs run A first, odd pairs B first. */
	struct bpool *first = i % 2 == 0 ? &b->pools[0] : &b->pools[1];
	struct bpool *second = i % 2 == 0 ? &b->pools[1] : &b->pools[0];
	struct round_out r1, r2;

	*rc = -1;
	if (run_round(b, first, units, measure, &r1) < 0)
		return;
	if (run_round(b, second, units, measure, &r2) < 0)
		return;
	*ra = i % 2 == 0 ? r1 : r2;
	*rb = i % 2 == 0 ? r2 : r1;
	*rc = 0;
}

static double metric(struct bench *b, const struct round_out *r)
{
	if (b->o->mode == CZPG_BENCH_POOLED && b->o->shape == CZPG_BENCH_OPEN)
		return r->mean_lat_s;
	return r->wall_s;
}

static uint64_t calibrate(struct bench *b)
{
	const struct czpg_bench_options *o = b->o;
	struct round_out ra, rb;
	uint64_t units;
	double per_unit;
	int rc;

	if (o->round_units != 0)
		return o->round_units;
	if (o->mode == CZPG_BENCH_POOLED && o->shape == CZPG_BENCH_OPEN) {
		units = (uint64_t)(o->rate * o->round_ms / 1000.0);
		return units < 1 ? 1 : units;
	}
	units = (uint64_t)o->pool *
		(o->mode == CZPG_BENCH_CONNECT ? 2 : CALIBRATE_UNITS_PER_CONN * o->pipeline);
	run_pair(b, 0, units, false, &ra, &rb, &rc);
	if (rc < 0)
		return 0;
	per_unit = (ra.wall_s + rb.wall_s) / 2 / (double)units;
	if (per_unit <= 0)
		per_unit = 1e-6;
	units = (uint64_t)(o->round_ms / 1000.0 / per_unit);
	if (units < o->pool)
		units = o->pool;
	return units;
}

int czpg_bench_run(const struct czpg_bench_options *opt, struct czpg_bench_result *res)
{
	struct bench *b = calloc(1, sizeof(*b));
	struct round_out ra, rb;
	uint64_t units, t_start = czpg_engine_now_ns(), now;
	double elapsed, pair_s = 0, budget;
	size_t i, batch_end;
	int rc = -1, prc;
	unsigned pi, w;

	memset(res, 0, sizeof(*res));
	res->add_client_cpu_us = res->add_server_cpu_us = NAN;
	res->add_latency_mean_us = res->add_latency_p50_us = res->base_us = NAN;
	if (b == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	b->o = opt;
	b->res = res;
	if (opt->pin_client >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(opt->pin_client, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			bench_fail(b, "cannot pin the client to CPU %d: %s", opt->pin_client,
				   strerror(errno));
			goto out;
		}
	}
	if (setup(b) < 0)
		goto out;
	if (opt->mode == CZPG_BENCH_POOLED ? setup_pooled(b) < 0 : setup_connect(b) < 0)
		goto out;
	if (opt->shape == CZPG_BENCH_OPEN && opt->mode == CZPG_BENCH_POOLED) {
		size_t cap = (size_t)(opt->rate * opt->round_ms / 1000.0) + 1;

		if (opt->round_units != 0)
			cap = opt->round_units;
		for (pi = 0; pi < 2; pi++) {
			b->pools[pi].bl_cap = cap + 1;
			b->pools[pi].backlog = calloc(cap + 1, sizeof(uint64_t));
			if (b->pools[pi].backlog == NULL) {
				bench_fail(b, "out of memory");
				goto out;
			}
		}
	}
	note_progress(b, false);
	units = calibrate(b);
	if (units == 0)
		goto out;
	res->round_units = (unsigned)units;
	for (w = 0; w < opt->warmup_pairs; w++) {
		run_pair(b, w, units, false, &ra, &rb, &prc);
		if (prc < 0)
			goto out;
		res->warmup_pairs_done++;
		pair_s = ra.wall_s + rb.wall_s;
	}
	res->ran = true;
	res->round_s_est = pair_s / 2;
	b->measure_start_ns = czpg_engine_now_ns();
	budget = opt->max_duration_s > opt->duration_s ? opt->max_duration_s : opt->duration_s;
	batch_end = 0;
	for (i = 0;; i++) {
		now = czpg_engine_now_ns();
		elapsed = (double)(now - b->measure_start_ns) / NS_PER_S;
		if (i >= batch_end) {
			/* Decide in batches: never after every single pair. */
			bool more;

			if (i < opt->min_pairs || elapsed + pair_s <= opt->duration_s) {
				more = true;
			} else if (!isnan(opt->max_overhead)) {
				enum czpg_gate g = CZPG_GATE_STRADDLE;

				if (compute_stats(b, 2000) == 0)
					g = res->gate;
				more = czpg_stats_need_more(g, i, opt->min_pairs, elapsed, pair_s,
							    budget);
				if (more)
					res->extended = true;
			} else {
				more = false;
			}
			/*
			 * Stop only after an even number of pairs: AB and BA
			 * pairs must balance, or a first-round/second-round
			 * effect biases the mean (ABBA cancels it only in whole
			 * AB+BA groups).
			 */
			if (!more && i % 2 == 1) {
				batch_end = i + 1; /* one more pair, then decide again */
			} else {
				if (!more)
					break;
				if (elapsed + pair_s <= opt->duration_s) {
					batch_end = i + 1;
				} else {
					/* Extend in batches of up to 10 pairs, never past the
					 * --max-duration budget. */
					double fit = pair_s > 0 ? (budget - elapsed) / pair_s : 10;
					size_t batch = fit >= 10 ? 10 : fit >= 1 ? (size_t)fit : 1;

					batch_end = i + batch;
				}
			}
		}
		run_pair(b, i, units, true, &ra, &rb, &prc);
		if (prc < 0)
			goto out;
		pair_s = ra.wall_s + rb.wall_s;
		if (push_pair(b, metric(b, &ra), metric(b, &rb),
			      (double)(czpg_engine_now_ns() - b->measure_start_ns) / NS_PER_S) <
		    0) {
			bench_fail(b, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	if (b->measure_start_ns != 0)
		res->measure_s = (double)(czpg_engine_now_ns() - b->measure_start_ns) / NS_PER_S;
	if (b->failed) {
		snprintf(res->error, sizeof(res->error), "%s", b->err);
		res->partial = res->npairs > 0;
		rc = -1;
	}
	if (b->o->progress != NULL)
		note_progress(b, true);
	compute_stats(b, 0);
	derive(b);
	if (b->cache != NULL) {
		res->scram_cache_hits = czpg_scram_cache_hits(b->cache);
		res->scram_cache_misses = czpg_scram_cache_misses(b->cache);
	}
	if (opt->mode == CZPG_BENCH_POOLED)
		drop_table(b);
	for (pi = 0; pi < 2; pi++) {
		struct bpool *p = &b->pools[pi];

		for (i = 0; p->conns != NULL && i < p->n; i++) {
			if (p->conns[i].c != NULL && p->conns[i].slot >= 0) {
				czpg_conn_terminate(p->conns[i].c);
				czpg_engine_wake(b->engine, p->conns[i].slot);
			}
			if (p->conns[i].pq != NULL)
				PQfinish(p->conns[i].pq);
		}
		p->r->connections = opt->mode == CZPG_BENCH_POOLED ? p->n : (unsigned)p->r->units;
	}
	if (b->engine != NULL) {
		char err[128];

		czpg_engine_run_until_idle(b->engine, czpg_engine_now_ns() + 2000000000ull, err,
					   sizeof(err));
	}
	for (pi = 0; pi < 2; pi++) {
		struct bpool *p = &b->pools[pi];

		for (i = 0; p->conns != NULL && i < p->n; i++)
			czpg_conn_free(p->conns[i].c);
		free(p->conns);
		free(p->backlog);
	}
	czpg_engine_free(b->engine);
	czpg_tls_config_free(b->tcfg);
	czpg_scram_cache_free(b->cache);
	free(b->pfds);
	free(b->pfd_conn);
	free(b);
	res->elapsed_s = (double)(czpg_engine_now_ns() - t_start) / NS_PER_S;
	return rc;
}

void czpg_bench_result_free(struct czpg_bench_result *res)
{
	if (res == NULL)
		return;
	free(res->a);
	free(res->b);
	free(res->pair_t);
	res->a = res->b = res->pair_t = NULL;
	res->npairs = res->cap_pairs = 0;
}
