/*
 * verify_cpu.c - client CPU per PostgreSQL connection: czpg's native client
 * (conn state machine + io_uring engine) against libpq, over TLS 1.3
 * verify-full.  A measurement, not a test.
 *
 * Cases (one connection at a time, like `pgbench -C`):
 *   native_scram_plus_first   TLS 1.3 + SCRAM-SHA-256-PLUS + startup +
 *                             Terminate, no SCRAM cache: PBKDF2 paid each time
 *   native_scram_plus_cached  the same with one shared czpg_scram_cache
 *                             (warmed once before timing): what a pool pays
 *                             after its first connection
 *   libpq_scram_plus          PQconnectdbParams(sslmode=verify-full,
 *                             channel_binding=require) + PQfinish
 *   native_tls_trust          TLS 1.3 + startup + Terminate as a trusted role
 *                             (no SCRAM): the TLS handshake plus startup
 *   libpq_tls_trust           the same through libpq
 *   native_tls_handshake      TLS 1.3 handshake only (CZPG_GOAL_TLS)
 *
 * Client CPU is getrusage(RUSAGE_SELF) user + system time around each batch
 * (the server is another process and is not counted; io_uring workers are
 * threads of this process and are).  Cases run interleaved in rounds, the
 * case order rotating each round, so drift (other load, CPU frequency) falls
 * on every case alike.  The native cases reuse one engine and one TLS
 * configuration (one SSL_CTX), as an application would; libpq builds its own
 * SSL context per connection, which is part of what it costs.
 *
 * Usage: verify_cpu --host H --port P --user U --password-env VAR --dbname D
 *                   --trust-user T --ca FILE [-n 200] [--rounds 10] [--json FILE]
 *                   [--only CASE]   (one case alone, e.g. under a profiler)
 */
#include <getopt.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/crypto.h>

#include "czpg/conn.h"
#include "czpg/engine.h"
#include "czpg/json.h"
#include "czpg/scram.h"
#include "czpg/tlsio.h"

#define MAX_ROUNDS 100

enum case_id {
	C_NATIVE_FIRST = 0,
	C_NATIVE_CACHED,
	C_LIBPQ_SCRAM,
	C_NATIVE_TRUST,
	C_LIBPQ_TRUST,
	C_NATIVE_HANDSHAKE,
	N_CASES,
};

static const char *const case_names[N_CASES] = {
    "native_scram_plus_first", "native_scram_plus_cached", "libpq_scram_plus",
    "native_tls_trust",        "libpq_tls_trust",          "native_tls_handshake",
};

static const char *const case_desc[N_CASES] = {
    "native: TLS 1.3 + SCRAM-SHA-256-PLUS + startup + Terminate, PBKDF2 each time",
    "native: the same with a shared SCRAM cache (PBKDF2 once)",
    "libpq: sslmode=verify-full, channel_binding=require, connect + PQfinish",
    "native: TLS 1.3 + startup + Terminate, trusted role (no SCRAM)",
    "libpq: sslmode=verify-full, trusted role (no SCRAM), connect + PQfinish",
    "native: TLS 1.3 handshake only (verify-full), then close",
};

struct opts {
	const char *host, *user, *password, *dbname, *trust_user, *ca, *json_path;
	const char *only; /* run just this case (for profiling); NULL = all */
	unsigned port;
	int n, rounds;
};

struct stats {
	double cpu_us[MAX_ROUNDS]; /* per connection, per round */
	double user_us[MAX_ROUNDS];
	double sys_us[MAX_ROUNDS];
	double wall_us[MAX_ROUNDS];
	int conns;
	int failures;
	char first_error[600];
	double total_cpu_us, total_user_us, total_sys_us, total_wall_us;
	uint64_t enters; /* io_uring_enter calls (native cases) */
};

struct native {
	struct czpg_engine *engine;
	struct czpg_tls_config *tls;
	struct czpg_scram_cache *cache;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char label[300];
};

static double tv_us(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void on_event(struct czpg_conn *c, const struct czpg_conn_event *ev, void *user)
{
	(void)user;
	if (ev->type == CZPG_EV_READY)
		czpg_conn_terminate(c);
}

/* One native connection of the given case; 0 on success, -1 with err. */
static int native_once(const struct opts *o, struct native *nv, enum case_id k, char *err,
		       size_t errlen)
{
	struct czpg_conn_config cfg = {0};
	struct czpg_conn *c = NULL;
	int rc = -1;

	cfg.host = o->host;
	cfg.dbname = o->dbname;
	cfg.application_name = "verify_cpu";
	cfg.use_tls = true;
	cfg.tls = nv->tls;
	cfg.on_event = on_event;
	if (k == C_NATIVE_TRUST || k == C_NATIVE_HANDSHAKE) {
		cfg.user = o->trust_user;
		cfg.channel_binding = CZPG_CB_DISABLE;
	} else {
		cfg.user = o->user;
		cfg.password = o->password;
		cfg.channel_binding = CZPG_CB_REQUIRE;
		cfg.scram_cache = k == C_NATIVE_CACHED ? nv->cache : NULL;
	}
	cfg.goal = k == C_NATIVE_HANDSHAKE ? CZPG_GOAL_TLS : CZPG_GOAL_SESSION;
	c = czpg_conn_new(&cfg, czpg_engine_now_ns(), err, errlen);
	if (c == NULL)
		goto out;
	if (czpg_engine_connect(nv->engine, c, (const struct sockaddr *)&nv->addr, nv->addrlen,
				NULL, 0, nv->label, err, errlen) < 0)
		goto out;
	if (czpg_engine_run_until_idle(nv->engine, czpg_engine_now_ns() + 30000000000ull, err,
				       errlen) < 0)
		goto out;
	if (czpg_conn_phase(c) != CZPG_PHASE_DONE) {
		snprintf(err, errlen, "%s", czpg_conn_error(c));
		goto out;
	}
	if (k != C_NATIVE_HANDSHAKE && k != C_NATIVE_TRUST &&
	    strcmp(czpg_conn_auth_method(c), "SCRAM-SHA-256-PLUS") != 0) {
		snprintf(err, errlen, "authenticated with %s, not SCRAM-SHA-256-PLUS",
			 czpg_conn_auth_method(c));
		goto out;
	}
	rc = 0;
out:
	czpg_conn_free(c);
	return rc;
}

/* One libpq connection of the given case; 0 on success, -1 with err. */
static int libpq_once(const struct opts *o, enum case_id k, char *err, size_t errlen)
{
	const char *keys[16], *vals[16];
	char port[16];
	PGconn *pc;
	int n = 0, rc = -1;

	snprintf(port, sizeof(port), "%u", o->port);
	keys[n] = "host", vals[n++] = o->host;
	keys[n] = "port", vals[n++] = port;
	keys[n] = "dbname", vals[n++] = o->dbname;
	keys[n] = "sslmode", vals[n++] = "verify-full";
	keys[n] = "sslrootcert", vals[n++] = o->ca;
	keys[n] = "ssl_min_protocol_version", vals[n++] = "TLSv1.3";
	keys[n] = "gssencmode", vals[n++] = "disable";
	keys[n] = "application_name", vals[n++] = "verify_cpu";
	if (k == C_LIBPQ_SCRAM) {
		keys[n] = "user", vals[n++] = o->user;
		keys[n] = "password", vals[n++] = o->password;
		keys[n] = "channel_binding", vals[n++] = "require";
	} else {
		keys[n] = "user", vals[n++] = o->trust_user;
		keys[n] = "channel_binding", vals[n++] = "disable";
	}
	keys[n] = NULL, vals[n] = NULL;
	pc = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(pc) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(pc));
		goto out;
	}
	if (PQsslInUse(pc) != 1) {
		snprintf(err, errlen, "libpq connected without TLS");
		goto out;
	}
	rc = 0;
out:
	PQfinish(pc);
	return rc;
}

static int run_one(const struct opts *o, struct native *nv, enum case_id k, char *err,
		   size_t errlen)
{
	if (k == C_LIBPQ_SCRAM || k == C_LIBPQ_TRUST)
		return libpq_once(o, k, err, errlen);
	return native_once(o, nv, k, err, errlen);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double tmp[MAX_ROUNDS];

	memcpy(tmp, v, sizeof(double) * (size_t)n);
	qsort(tmp, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static double minmax(const double *v, int n, bool want_max)
{
	double m = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (want_max ? v[i] > m : v[i] < m)
			m = v[i];
	return m;
}

static void usage(void)
{
	fprintf(stderr, "usage: verify_cpu --host H --port P --user U --password-env VAR "
			"--dbname D --trust-user T --ca FILE [-n 200] [--rounds 10] "
			"[--json FILE]\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"host", required_argument, NULL, 'h'},
	    {"port", required_argument, NULL, 'p'},
	    {"user", required_argument, NULL, 'U'},
	    {"password-env", required_argument, NULL, 'W'},
	    {"dbname", required_argument, NULL, 'd'},
	    {"trust-user", required_argument, NULL, 'T'},
	    {"ca", required_argument, NULL, 'c'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"json", required_argument, NULL, 'j'},
	    {"only", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->n = 200;
	o->rounds = 10;
	while ((ch = getopt_long(argc, argv, "n:", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			o->host = optarg;
			break;
		case 'p':
			o->port = (unsigned)atoi(optarg);
			break;
		case 'U':
			o->user = optarg;
			break;
		case 'W':
			o->password = getenv(optarg);
			break;
		case 'd':
			o->dbname = optarg;
			break;
		case 'T':
			o->trust_user = optarg;
			break;
		case 'c':
			o->ca = optarg;
			break;
		case 'n':
			o->n = atoi(optarg);
			break;
		case 'r':
			o->rounds = atoi(optarg);
			break;
		case 'j':
			o->json_path = optarg;
			break;
		case 'o':
			o->only = optarg;
			break;
		default:
			usage();
		}
	}
	if (o->host == NULL || o->port == 0 || o->user == NULL || o->password == NULL ||
	    o->dbname == NULL || o->trust_user == NULL || o->ca == NULL || o->n <= 0 ||
	    o->rounds <= 0 || o->rounds > MAX_ROUNDS || o->n % o->rounds != 0)
		usage();
}

static void write_json(FILE *f, const struct opts *o, const struct stats *st)
{
	struct czpg_json j;
	int k, r;

	czpg_json_init(&j, f);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "measure", "client CPU (getrusage user+sys) per connection");
	czpg_json_kv_int(&j, "connections_per_case", o->n);
	czpg_json_kv_int(&j, "rounds", o->rounds);
	czpg_json_kv_string(&j, "openssl", OpenSSL_version(OPENSSL_VERSION));
	czpg_json_kv_int(&j, "libpq_version", PQlibVersion());
	czpg_json_key(&j, "cases");
	czpg_json_array_begin(&j);
	for (k = 0; k < N_CASES; k++) {
		const struct stats *s = &st[k];

		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "name", case_names[k]);
		czpg_json_kv_string(&j, "what", case_desc[k]);
		czpg_json_kv_int(&j, "connections", s->conns);
		czpg_json_kv_int(&j, "failures", s->failures);
		czpg_json_kv_double(&j, "cpu_us_per_conn", s->total_cpu_us / s->conns);
		czpg_json_kv_double(&j, "user_us_per_conn", s->total_user_us / s->conns);
		czpg_json_kv_double(&j, "sys_us_per_conn", s->total_sys_us / s->conns);
		czpg_json_kv_double(&j, "wall_us_per_conn", s->total_wall_us / s->conns);
		czpg_json_kv_double(&j, "io_uring_enter_per_conn", (double)s->enters / s->conns);
		czpg_json_kv_double(&j, "cpu_us_round_median", median(s->cpu_us, o->rounds));
		czpg_json_kv_double(&j, "cpu_us_round_min", minmax(s->cpu_us, o->rounds, false));
		czpg_json_kv_double(&j, "cpu_us_round_max", minmax(s->cpu_us, o->rounds, true));
		czpg_json_key(&j, "cpu_us_per_round");
		czpg_json_array_begin(&j);
		for (r = 0; r < o->rounds; r++)
			czpg_json_double(&j, s->cpu_us[r]);
		czpg_json_array_end(&j);
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
	fputc('\n', f);
}

int main(int argc, char **argv)
{
	struct czpg_engine_config ecfg = {.max_conns = 4};
	static struct stats st[N_CASES];
	struct native nv = {0};
	struct opts o;
	char err[600];
	int k, r, i, per_round, rc = 1;

	parse_args(argc, argv, &o);
	per_round = o.n / o.rounds;
	nv.engine = czpg_engine_new(&ecfg, err, sizeof(err));
	nv.tls = czpg_tls_config_new(err, sizeof(err));
	nv.cache = czpg_scram_cache_new(0);
	if (nv.engine == NULL || nv.tls == NULL || nv.cache == NULL) {
		fprintf(stderr, "verify_cpu: setup failed: %s\n", err);
		goto out;
	}
	if (czpg_tls_config_set_ca_file(nv.tls, o.ca) < 0) {
		fprintf(stderr, "verify_cpu: %s\n", czpg_tls_config_error(nv.tls));
		goto out;
	}
	if (czpg_engine_resolve(o.host, o.port, &nv.addr, &nv.addrlen, err, sizeof(err)) < 0) {
		fprintf(stderr, "verify_cpu: %s\n", err);
		goto out;
	}
	snprintf(nv.label, sizeof(nv.label), "%s:%u", o.host, o.port);

	/* Warm-up, untimed: one of each (this also fills the SCRAM cache). */
	for (k = 0; k < N_CASES; k++) {
		if (run_one(&o, &nv, (enum case_id)k, err, sizeof(err)) < 0) {
			fprintf(stderr, "verify_cpu: warm-up of %s failed: %s\n", case_names[k],
				err);
			goto out;
		}
	}

	for (r = 0; r < o.rounds; r++) {
		for (i = 0; i < N_CASES; i++) {
			struct rusage a, b;
			double w0, w1, u, s;
			uint64_t enters0;
			struct stats *sk;

			k = (i + r) % N_CASES; /* rotate the order each round */
			sk = &st[k];
			if (o.only != NULL && strcmp(o.only, case_names[k]) != 0)
				continue;
			enters0 = czpg_engine_stats(nv.engine)->enters;
			getrusage(RUSAGE_SELF, &a);
			w0 = now_us();
			for (int c = 0; c < per_round; c++) {
				if (run_one(&o, &nv, (enum case_id)k, err, sizeof(err)) < 0) {
					if (sk->failures++ == 0)
						snprintf(sk->first_error, sizeof(sk->first_error),
							 "%s", err);
				}
			}
			w1 = now_us();
			getrusage(RUSAGE_SELF, &b);
			sk->enters += czpg_engine_stats(nv.engine)->enters - enters0;
			u = tv_us(&b.ru_utime) - tv_us(&a.ru_utime);
			s = tv_us(&b.ru_stime) - tv_us(&a.ru_stime);
			sk->cpu_us[r] = (u + s) / per_round;
			sk->user_us[r] = u / per_round;
			sk->sys_us[r] = s / per_round;
			sk->wall_us[r] = (w1 - w0) / per_round;
			sk->total_cpu_us += u + s;
			sk->total_user_us += u;
			sk->total_sys_us += s;
			sk->total_wall_us += w1 - w0;
			sk->conns += per_round;
		}
		fprintf(stderr, "round %d/%d done\n", r + 1, o.rounds);
	}

	if (o.only != NULL) {
		for (k = 0; k < N_CASES; k++)
			if (strcmp(o.only, case_names[k]) == 0)
				printf(
				    "%s: %.0f us client CPU per connection (%.0f user, %.0f sys)\n",
				    case_names[k], st[k].total_cpu_us / st[k].conns,
				    st[k].total_user_us / st[k].conns,
				    st[k].total_sys_us / st[k].conns);
		rc = 0;
		goto out;
	}
	printf("| case | conns | client CPU µs/conn (mean) | user | sys | round median [min-max] | "
	       "wall µs/conn | io_uring_enter/conn |\n|---|---:|---:|---:|---:|---|---:|---:|\n");
	for (k = 0; k < N_CASES; k++) {
		struct stats *s = &st[k];

		printf("| %s | %d | %.0f | %.0f | %.0f | %.0f [%.0f-%.0f] | %.0f | %.1f |\n",
		       case_names[k], s->conns, s->total_cpu_us / s->conns,
		       s->total_user_us / s->conns, s->total_sys_us / s->conns,
		       median(s->cpu_us, o.rounds), minmax(s->cpu_us, o.rounds, false),
		       minmax(s->cpu_us, o.rounds, true), s->total_wall_us / s->conns,
		       (double)s->enters / s->conns);
		if (s->failures > 0)
			fprintf(stderr, "verify_cpu: %s: %d failures, first: %s\n", case_names[k],
				s->failures, s->first_error);
	}
#define PER_CONN(k) (st[k].total_cpu_us / st[k].conns)
	printf("\nlibpq / native client CPU per connection:\n"
	       "- TLS 1.3 + SCRAM-SHA-256-PLUS, PBKDF2 paid by both: %.2fx\n"
	       "- TLS 1.3 + SCRAM-SHA-256-PLUS, native with a warm SCRAM cache: %.2fx\n"
	       "- TLS 1.3 + startup, no SCRAM (trusted role): %.2fx\n"
	       "- native PBKDF2 share (first - cached): %.0f us; native handshake only: %.0f us\n",
	       PER_CONN(C_LIBPQ_SCRAM) / PER_CONN(C_NATIVE_FIRST),
	       PER_CONN(C_LIBPQ_SCRAM) / PER_CONN(C_NATIVE_CACHED),
	       PER_CONN(C_LIBPQ_TRUST) / PER_CONN(C_NATIVE_TRUST),
	       PER_CONN(C_NATIVE_FIRST) - PER_CONN(C_NATIVE_CACHED), PER_CONN(C_NATIVE_HANDSHAKE));
#undef PER_CONN
	if (o.json_path != NULL) {
		FILE *f = fopen(o.json_path, "w");

		if (f == NULL) {
			perror(o.json_path);
			goto out;
		}
		write_json(f, &o, st);
		fclose(f);
	}
	rc = 0;
	for (k = 0; k < N_CASES; k++)
		if (st[k].failures > 0)
			rc = 1;
out:
	czpg_scram_cache_free(nv.cache);
	czpg_tls_config_free(nv.tls);
	czpg_engine_free(nv.engine);
	return rc;
}
