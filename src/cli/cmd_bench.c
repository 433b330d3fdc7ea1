/*
 * cmd_bench.c - `czctl postgres tls bench`: TLS against plaintext through two
 * persistent pools (or connection per transaction), with a confidence
 * interval and optional release gates (an absolute one, and a regression
 * gate against a baseline report); a list of --rtt or --conn-lifetime
 * values is a sweep.  The logic is in bench.c, bench_sweep.c and
 * bench_baseline.c.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "connflags.h"
#include "czpg/bench.h"

#define VERB "bench"

static void bench_usage(FILE *out)
{
	fprintf(out,
		"usage: czctl postgres tls bench --host HOST --user USER --ca FILE [flags]\n"
		"\n"
		"Measures what TLS costs against plaintext on the same server: a TLS pool\n"
		"(verify-full, SCRAM) and a plaintext pool stay connected while rounds of the\n"
		"same work alternate between them (ABBA); the overhead comes with a bootstrap\n"
		"95%% confidence interval, next to client and server CPU per query, latency\n"
		"percentiles and io_uring_enter calls per query.\n"
		"\n"
		"connection\n"
		"  --host HOST  --port PORT (5432)  --user USER  --dbname DB (the user)\n"
		"  --ca FILE                CA the TLS pool verifies the server against\n"
		"  --password PW            or CZ_PG_BENCH_PASSWORD / CZ_PG_VERIFY_PASSWORD,\n"
		"                           or a prompt on a terminal\n"
		"  --channel-binding MODE   disable | prefer (default) | require\n"
		"  --min-tls 1.2|1.3        (default 1.3)\n"
		"  --sslnegotiation MODE    how the TLS pool starts TLS: postgres (default,\n"
		"                           SSLRequest first) or direct (ALPN postgresql at\n"
		"                           once, PostgreSQL 17+)\n"
		"  --timeout SECONDS        connect phases, and how long a silent server is\n"
		"                           tolerated mid-bench (default 10)\n"
		"workload\n"
		"  --workload select1|audit select1 (default), or audit: ~400-byte JSONB rows\n"
		"                           inserted into an indexed table and read back by key\n"
		"                           (the bench creates and drops its own table)\n"
		"  --sql FILE               one statement from FILE instead\n"
		"  --protocol simple|extended  extended: Parse once per connection, then\n"
		"                           Bind/Execute/Sync per query (default simple)\n"
		"  --pool N                 connections per pool (default 4)\n"
		"  --pipeline K             queries in flight per connection (default 1)\n"
		"  --rate QPS               open loop: QPS queries/s over the pool, latency from\n"
		"                           the scheduled send time (default: closed loop)\n"
		"  --connect                connection per transaction: connect, TLS, SCRAM,\n"
		"                           SELECT 1, Terminate; --pool is the concurrency\n"
		"  --compare-negotiation    with --connect: SSLRequest first against direct TLS,\n"
		"                           both TLS; the difference per connection is the\n"
		"                           round trip SSLRequest costs (PostgreSQL 17+)\n"
		"  --client native|libpq    the io_uring engine (default) or libpq\n"
		"  --tls-records openssl|czpg  who seals the native client's TLS 1.3 records\n"
		"                           after OpenSSL's handshake: OpenSSL (default) or\n"
		"                           czpg's own record layer (fewer instructions)\n"
		"  --aa                     plaintext against plaintext: the noise floor\n"
		"  --aa-tls                 TLS against TLS: the noise floor with TLS\n"
		"  --rtt MS[,MS...]         emulate a network round trip of MS ms (native\n"
		"                           client): every chunk is held MS/2 each way; a\n"
		"                           list sweeps, one run per value (0 = loopback)\n"
		"  --conn-lifetime N[,N...] queries per connection before it reconnects (0 =\n"
		"                           never, the default); a list sweeps\n"
		"method\n"
		"  --duration SECONDS       measuring time (default 20); 0: exactly --min-pairs\n"
		"                           pairs (fixed work)\n"
		"  --round-ms MS            length of one round (default 200)\n"
		"  --round-units N          fixed work per round instead of calibrating\n"
		"  --warmup PAIRS           warm-up pairs, discarded (default 2)\n"
		"  --min-pairs N            at least this many measured pairs (default 10;\n"
		"                           a gate verdict always needs 10, an even count)\n"
		"  --seed N                 bootstrap seed (default 1)\n"
		"  --assume-rtt MS[,MS...]  network round trips for the derived figures\n"
		"                           (default 0.25,1)\n"
		"  --pin-client CPU         pin this process to CPU\n"
		"  --pin-server CPU         pin the pools' backends to CPU (needs permission)\n"
		"gate\n"
		"  --max-overhead PCT       exit 0 when the whole interval is below PCT, 1 when\n"
		"                           it is above, 4 when it straddles after extending\n"
		"  --baseline FILE          an earlier --json report of a comparable run (the\n"
		"                           same workload, pool, pipeline, RTT, protocol and\n"
		"                           server; exit 2 naming the difference otherwise)\n"
		"  --max-regression PP      with --baseline: exit 0 when the interval of this\n"
		"                           run's overhead minus the baseline's lies below PP\n"
		"                           percentage points, 1 above, 4 straddling\n"
		"  --max-duration SECONDS   how long a gate may extend (default 3 x duration)\n"
		"output\n"
		"  --json                   one JSON object on stdout (docs/bench.md)\n"
		"  --svg FILE               latency distributions and per-pair overhead; for a\n"
		"                           sweep, overhead against the swept value\n"
		"\n"
		"Exit codes: 0 done / gate below, 1 gate above, 2 usage error,\n"
		"3 could not run or stopped early (partial report), 4 gate inconclusive.\n");
}

/*
 * CZ_PG_BENCH_PROGRESS=1 asks for the progress line on a stderr that is not
 * a terminal: scripts and tests wait on it to know that measuring started.
 */
static bool progress_forced(void)
{
	const char *v = getenv("CZ_PG_BENCH_PROGRESS");

	return v != NULL && strcmp(v, "1") == 0;
}

static char *read_sql_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "--sql '%s' cannot be read: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CZPG_BENCH_MAX_SQL + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = fread(buf, 1, CZPG_BENCH_MAX_SQL + 1, f);
	if (n > CZPG_BENCH_MAX_SQL) {
		snprintf(err, errlen, "--sql '%s' is larger than %u bytes", path,
			 CZPG_BENCH_MAX_SQL);
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		snprintf(err, errlen, "--sql '%s' holds a NUL byte", path);
		free(buf);
		buf = NULL;
		goto out;
	}
	/* One statement: trailing whitespace and semicolons go. */
	while (n > 0 && strchr(" \t\r\n;", buf[n - 1]) != NULL)
		buf[--n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "--sql '%s' is empty", path);
		free(buf);
		buf = NULL;
	}
out:
	fclose(f);
	return buf;
}

/*
 * A comma-separated list of up to CZPG_BENCH_MAX_POINTS numbers in
 * [min, max] into out; 0 or -1.
 */
static int parse_list(const char *arg, double min, double max, double *out, size_t *n)
{
	char copy[256], *save = NULL, *tok;
	double d;

	if (strlen(arg) >= sizeof(copy))
		return -1;
	snprintf(copy, sizeof(copy), "%s", arg);
	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (*n == CZPG_BENCH_MAX_POINTS || czpg_parse_double(tok, min, max, &d) < 0)
			return -1;
		out[(*n)++] = d;
	}
	return *n > 0 ? 0 : -1;
}

/* Runs, prints and frees a sweep; returns the exit code. */
static int run_sweep(const struct czpg_bench_options *opt, const char *svg, bool json)
{
	struct czpg_bench_sweep *sw = calloc(1, sizeof(*sw));
	enum czpg_result outcome, verdict;
	char err[256];
	size_t i;

	if (sw == NULL) {
		fprintf(stderr, "czctl postgres tls bench: out of memory\n");
		return czpg_cli_exit_code(CZPG_RESULT_ERROR);
	}
	czpg_bench_sweep_run(opt, sw);
	outcome = verdict = czpg_bench_sweep_outcome(sw);
	if (svg != NULL && sw->n > 0 &&
	    czpg_bench_sweep_write_svg(svg, opt, sw, err, sizeof(err)) < 0) {
		fprintf(stderr, "czctl postgres tls bench: %s\n", err);
		if (outcome == CZPG_RESULT_OK)
			outcome = CZPG_RESULT_ERROR;
	}
	if (json)
		czpg_bench_sweep_print_json(stdout, opt, sw, outcome);
	else
		czpg_bench_sweep_print(stdout, opt, sw, verdict);
	for (i = 0; i < sw->n; i++)
		if (sw->points[i].error[0] != '\0')
			fprintf(stderr, "czctl postgres tls bench: %s\n", sw->points[i].error);
	czpg_bench_sweep_free(sw);
	free(sw);
	return czpg_cli_exit_code(outcome);
}

int czpg_cmd_bench(int argc, char **argv)
{
	enum {
		O_WORKLOAD = 256,
		O_SQL,
		O_PROTOCOL,
		O_POOL,
		O_PIPELINE,
		O_RATE,
		O_CONNECT,
		O_COMPARE_NEG,
		O_CLIENT,
		O_TLSRECORDS,
		O_AA,
		O_DURATION,
		O_ROUNDMS,
		O_ROUNDUNITS,
		O_WARMUP,
		O_MINPAIRS,
		O_SEED,
		O_RTT,
		O_PINC,
		O_PINS,
		O_MAXOH,
		O_MAXDUR,
		O_AATLS,
		O_RTTEMU,
		O_LIFETIME,
		O_BASELINE,
		O_MAXREG,
		O_JSON,
		O_SVG,
		O_HELP,
	};
	static const struct option own[] = {
	    {"workload", required_argument, NULL, O_WORKLOAD},
	    {"sql", required_argument, NULL, O_SQL},
	    {"protocol", required_argument, NULL, O_PROTOCOL},
	    {"pool", required_argument, NULL, O_POOL},
	    {"pipeline", required_argument, NULL, O_PIPELINE},
	    {"rate", required_argument, NULL, O_RATE},
	    {"connect", no_argument, NULL, O_CONNECT},
	    {"compare-negotiation", no_argument, NULL, O_COMPARE_NEG},
	    {"client", required_argument, NULL, O_CLIENT},
	    {"tls-records", required_argument, NULL, O_TLSRECORDS},
	    {"aa", no_argument, NULL, O_AA},
	    {"duration", required_argument, NULL, O_DURATION},
	    {"round-ms", required_argument, NULL, O_ROUNDMS},
	    {"round-units", required_argument, NULL, O_ROUNDUNITS},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"min-pairs", required_argument, NULL, O_MINPAIRS},
	    {"seed", required_argument, NULL, O_SEED},
	    {"assume-rtt", required_argument, NULL, O_RTT},
	    {"pin-client", required_argument, NULL, O_PINC},
	    {"pin-server", required_argument, NULL, O_PINS},
	    {"max-overhead", required_argument, NULL, O_MAXOH},
	    {"max-duration", required_argument, NULL, O_MAXDUR},
	    {"aa-tls", no_argument, NULL, O_AATLS},
	    {"rtt", required_argument, NULL, O_RTTEMU},
	    {"conn-lifetime", required_argument, NULL, O_LIFETIME},
	    {"baseline", required_argument, NULL, O_BASELINE},
	    {"max-regression", required_argument, NULL, O_MAXREG},
	    {"json", no_argument, NULL, O_JSON},
	    {"svg", required_argument, NULL, O_SVG},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	struct option longopts[sizeof(own) / sizeof(own[0]) + CZPG_CONNFLAGS_COUNT];
	struct czpg_bench_options opt;
	struct czpg_bench_result res;
	struct czpg_bench_baseline baseline;
	const char *baseline_path = NULL;
	char *password_flag = NULL, *password = NULL, *sql = NULL;
	const struct czpg_connflags cf = CZPG_CONNFLAGS_ALL(opt, password_flag);
	const char *sql_path = NULL, *svg = NULL, *env;
	char err[CZPG_CONNFLAGS_ERR_MAX];
	unsigned long v;
	double d;
	bool json = false, rate_set = false, workload_set = false, tls_records_set = false;
	int ch, taken, rc;
	enum czpg_result outcome, verdict; /* verdict: the run's, before an --svg failure */

	czpg_bench_options_default(&opt);
	memset(&baseline, 0, sizeof(baseline));
	if (czpg_connflags_options(&cf, own, longopts, sizeof(longopts) / sizeof(longopts[0])) < 0)
		return CZPG_EXIT_ERROR;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		taken = czpg_connflags_take(&cf, ch, optarg, err, sizeof(err));
		if (taken < 0)
			return czpg_cli_usage_error(VERB, "%s", err);
		if (taken == 0)
			continue;
		switch (ch) {
		case O_WORKLOAD:
			workload_set = true;
			if (strcmp(optarg, "select1") == 0)
				opt.workload = CZPG_BENCH_SELECT1;
			else if (strcmp(optarg, "audit") == 0)
				opt.workload = CZPG_BENCH_AUDIT;
			else
				return czpg_cli_usage_error(
				    VERB,
				    "--workload '%s' is not select1 or audit "
				    "(use --sql FILE for your own)",
				    optarg);
			break;
		case O_SQL:
			sql_path = optarg;
			break;
		case O_PROTOCOL:
			if (strcmp(optarg, "simple") == 0)
				opt.protocol = CZPG_BENCH_SIMPLE;
			else if (strcmp(optarg, "extended") == 0)
				opt.protocol = CZPG_BENCH_EXTENDED;
			else
				return czpg_cli_usage_error(
				    VERB, "--protocol '%s' is not simple or extended", optarg);
			break;
		case O_POOL:
			if (czpg_parse_uint(optarg, 1, CZPG_BENCH_MAX_POOL, &v) < 0)
				return czpg_cli_usage_error(VERB, "--pool '%s' is not 1-%u", optarg,
							    CZPG_BENCH_MAX_POOL);
			opt.pool = (unsigned)v;
			break;
		case O_PIPELINE:
			if (czpg_parse_uint(optarg, 1, CZPG_BENCH_MAX_PIPELINE, &v) < 0)
				return czpg_cli_usage_error(VERB, "--pipeline '%s' is not 1-%u",
							    optarg, CZPG_BENCH_MAX_PIPELINE);
			opt.pipeline = (unsigned)v;
			break;
		case O_RATE:
			if (czpg_parse_double(optarg, 1, 10e6, &d) < 0)
				return czpg_cli_usage_error(
				    VERB, "--rate '%s' is not a rate in queries/s (1-10000000)",
				    optarg);
			opt.rate = d;
			opt.shape = CZPG_BENCH_OPEN;
			rate_set = true;
			break;
		case O_CONNECT:
			opt.mode = CZPG_BENCH_CONNECT;
			break;
		case O_COMPARE_NEG:
			opt.compare_negotiation = true;
			break;
		case O_TLSRECORDS:
			if (strcmp(optarg, "openssl") == 0)
				opt.own_records = false;
			else if (strcmp(optarg, "czpg") == 0)
				opt.own_records = true;
			else
				return czpg_cli_usage_error(
				    VERB, "--tls-records '%s' is not openssl or czpg", optarg);
			tls_records_set = true;
			break;
		case O_CLIENT:
			if (strcmp(optarg, "native") == 0)
				opt.client = CZPG_BENCH_NATIVE;
			else if (strcmp(optarg, "libpq") == 0)
				opt.client = CZPG_BENCH_LIBPQ;
			else
				return czpg_cli_usage_error(
				    VERB, "--client '%s' is not native or libpq", optarg);
			break;
		case O_AA:
			opt.aa = true;
			break;
		case O_AATLS:
			opt.aa = opt.aa_tls = true;
			break;
		case O_RTTEMU:
			if (parse_list(optarg, 0, CZPG_BENCH_MAX_RTT_MS, opt.sweep_rtt_ms,
				       &opt.n_sweep_rtt) < 0)
				return czpg_cli_usage_error(
				    VERB,
				    "--rtt '%s' is not up to %u round trips of 0-%g ms, "
				    "comma-separated",
				    optarg, CZPG_BENCH_MAX_POINTS, CZPG_BENCH_MAX_RTT_MS);
			opt.rtt_ms = opt.sweep_rtt_ms[0];
			break;
		case O_LIFETIME: {
			double l[CZPG_BENCH_MAX_POINTS];
			size_t i;

			if (parse_list(optarg, 0, CZPG_BENCH_MAX_LIFETIME, l,
				       &opt.n_sweep_lifetime) < 0)
				return czpg_cli_usage_error(
				    VERB,
				    "--conn-lifetime '%s' is not up to %u whole numbers of queries "
				    "(0-%u, 0 = never), comma-separated",
				    optarg, CZPG_BENCH_MAX_POINTS, CZPG_BENCH_MAX_LIFETIME);
			for (i = 0; i < opt.n_sweep_lifetime; i++) {
				if (l[i] != floor(l[i]))
					return czpg_cli_usage_error(
					    VERB, "--conn-lifetime '%s' is not whole numbers",
					    optarg);
				opt.sweep_lifetime[i] = (unsigned)l[i];
			}
			opt.conn_lifetime = opt.sweep_lifetime[0];
			break;
		}
		case O_BASELINE:
			baseline_path = optarg;
			break;
		case O_MAXREG:
			if (czpg_parse_double(optarg, -1000, 100000, &d) < 0)
				return czpg_cli_usage_error(
				    VERB,
				    "--max-regression '%s' is not percentage points (-1000 to "
				    "100000)",
				    optarg);
			opt.max_regression = d / 100.0;
			break;
		case O_DURATION:
			/* 0: exactly --min-pairs pairs, however fast (fixed work, e.g. for
			 * counting). */
			if (czpg_parse_double(optarg, 0, 86400, &d) < 0 || (d > 0 && d < 0.1))
				return czpg_cli_usage_error(
				    VERB, "--duration '%s' is not 0 or 0.1-86400 s", optarg);
			opt.duration_s = d;
			break;
		case O_ROUNDMS:
			if (czpg_parse_uint(optarg, 1, 60000, &v) < 0)
				return czpg_cli_usage_error(VERB, "--round-ms '%s' is not 1-60000",
							    optarg);
			opt.round_ms = (unsigned)v;
			break;
		case O_ROUNDUNITS:
			if (czpg_parse_uint(optarg, 1, 100000000, &v) < 0)
				return czpg_cli_usage_error(
				    VERB, "--round-units '%s' is not 1-100000000", optarg);
			opt.round_units = (unsigned)v;
			break;
		case O_WARMUP:
			if (czpg_parse_uint(optarg, 0, 1000, &v) < 0)
				return czpg_cli_usage_error(VERB, "--warmup '%s' is not 0-1000",
							    optarg);
			opt.warmup_pairs = (unsigned)v;
			break;
		case O_MINPAIRS:
			if (czpg_parse_uint(optarg, 2, 1000000, &v) < 0)
				return czpg_cli_usage_error(
				    VERB, "--min-pairs '%s' is not 2-1000000", optarg);
			opt.min_pairs = (unsigned)v;
			break;
		case O_SEED:
			if (czpg_parse_uint(optarg, 0, ~0ul, &v) < 0)
				return czpg_cli_usage_error(VERB, "--seed '%s' is not a number",
							    optarg);
			opt.seed = v;
			break;
		case O_RTT: {
			char copy[256], *save = NULL, *tok;

			snprintf(copy, sizeof(copy), "%s", optarg);
			opt.n_rtt = 0;
			for (tok = strtok_r(copy, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save)) {
				if (opt.n_rtt == CZPG_BENCH_MAX_RTTS ||
				    czpg_parse_double(tok, 0, 10000, &d) < 0)
					return czpg_cli_usage_error(
					    VERB,
					    "--assume-rtt '%s' is not up to %u round trips in ms, "
					    "comma-separated",
					    optarg, CZPG_BENCH_MAX_RTTS);
				opt.assume_rtt_ms[opt.n_rtt++] = d;
			}
			opt.assume_rtt_set = true;
			break;
		}
		case O_PINC:
		case O_PINS:
			if (czpg_parse_uint(optarg, 0, 1023, &v) < 0 ||
			    v >= (unsigned long)sysconf(_SC_NPROCESSORS_CONF))
				return czpg_cli_usage_error(
				    VERB, "%s '%s' is not a CPU of this machine",
				    ch == O_PINC ? "--pin-client" : "--pin-server", optarg);
			if (ch == O_PINC)
				opt.pin_client = (int)v;
			else
				opt.pin_server = (int)v;
			break;
		case O_MAXOH:
			if (czpg_parse_double(optarg, -99, 100000, &d) < 0)
				return czpg_cli_usage_error(
				    VERB, "--max-overhead '%s' is not a percentage (-99 to 100000)",
				    optarg);
			opt.max_overhead = d / 100.0;
			break;
		case O_MAXDUR:
			if (czpg_parse_double(optarg, 0.1, 86400, &d) < 0)
				return czpg_cli_usage_error(
				    VERB, "--max-duration '%s' is not 0.1-86400 s", optarg);
			opt.max_duration_s = d;
			break;
		case O_JSON:
			json = true;
			break;
		case O_SVG:
			svg = optarg;
			break;
		case O_HELP:
			bench_usage(stdout);
			return CZPG_EXIT_OK;
		default:
			return czpg_cli_usage_error(
			    VERB, "unknown or incomplete flag '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return czpg_cli_usage_error(VERB, "unexpected argument '%s'", argv[optind]);
	if (czpg_connflags_check(
		&cf, CZPG_CONNFLAGS_NEED_HOST | CZPG_CONNFLAGS_NEED_USER | CZPG_CONNFLAGS_NEED_CA,
		"the TLS pool connects with verify-full", err, sizeof(err)) < 0)
		return czpg_cli_usage_error(VERB, "%s", err);
	if (sql_path != NULL && workload_set)
		return czpg_cli_usage_error(VERB, "--sql and --workload exclude each other");
	if (opt.mode == CZPG_BENCH_CONNECT) {
		if (opt.client == CZPG_BENCH_LIBPQ)
			return czpg_cli_usage_error(VERB,
						    "--connect runs with the native client only");
		if (rate_set || opt.pipeline != 1 || sql_path != NULL ||
		    opt.workload != CZPG_BENCH_SELECT1 || opt.protocol != CZPG_BENCH_SIMPLE)
			return czpg_cli_usage_error(
			    VERB, "--connect measures connect + SELECT 1: it takes "
				  "no --rate, --pipeline, --sql, --workload or "
				  "--protocol");
	}
	if (opt.compare_negotiation &&
	    (opt.mode != CZPG_BENCH_CONNECT || opt.aa || opt.sslnegotiation != CZPG_OPEN_DEFAULT))
		return czpg_cli_usage_error(
		    VERB,
		    "--compare-negotiation compares SSLRequest with direct TLS per connection: "
		    "it needs --connect and takes no --aa or --sslnegotiation");
	if (opt.client == CZPG_BENCH_LIBPQ && tls_records_set)
		return czpg_cli_usage_error(VERB, "--tls-records is the native client's: libpq "
						  "seals its own records through OpenSSL");
	if (opt.client == CZPG_BENCH_LIBPQ && opt.pipeline != 1)
		return czpg_cli_usage_error(VERB, "--client libpq runs with --pipeline 1 (one "
						  "query in flight per connection)");
	if (opt.client == CZPG_BENCH_LIBPQ && (opt.n_sweep_rtt > 0 || opt.n_sweep_lifetime > 0))
		return czpg_cli_usage_error(VERB, "--rtt and --conn-lifetime run with the native "
						  "client only (libpq owns its sockets)");
	if (opt.mode == CZPG_BENCH_CONNECT && opt.n_sweep_lifetime > 0)
		return czpg_cli_usage_error(VERB,
					    "--connect makes a connection per query: it takes "
					    "no --conn-lifetime");
	if (opt.n_sweep_rtt > 1 && opt.n_sweep_lifetime > 1)
		return czpg_cli_usage_error(VERB, "sweep one of --rtt and --conn-lifetime at a "
						  "time (give the other one value)");
	if ((baseline_path != NULL) != !isnan(opt.max_regression))
		return czpg_cli_usage_error(VERB, "--baseline and --max-regression go together");
	if (czpg_bench_sweep_axis(&opt) != CZPG_BENCH_AXIS_NONE &&
	    (baseline_path != NULL || !isnan(opt.max_overhead)))
		return czpg_cli_usage_error(VERB, "a sweep (a list of --rtt or --conn-lifetime "
						  "values) has no gate: gate one value at a time");
	if (opt.max_duration_s == 0)
		opt.max_duration_s = isnan(opt.max_overhead) && baseline_path == NULL
					 ? opt.duration_s
					 : 3 * opt.duration_s;
	if (opt.max_duration_s < opt.duration_s)
		return czpg_cli_usage_error(VERB, "--max-duration must not be below --duration");
	if (sql_path != NULL) {
		sql = read_sql_file(sql_path, err, sizeof(err));
		if (sql == NULL)
			return czpg_cli_usage_error(VERB, "%s", err);
		opt.workload = CZPG_BENCH_SQL;
		opt.sql = sql;
		opt.sql_name = sql_path;
	}
	if (baseline_path != NULL) {
		char why[256];

		if (czpg_bench_baseline_load(baseline_path, &baseline, err, sizeof(err)) < 0) {
			free(sql);
			return czpg_cli_usage_error(VERB, "%s", err);
		}
		if (czpg_bench_baseline_compare(&baseline, &opt, why, sizeof(why)) < 0) {
			czpg_bench_baseline_free(&baseline);
			free(sql);
			return czpg_cli_usage_error(VERB, "the baseline %s is not comparable: %s",
						    baseline_path, why);
		}
		opt.baseline = &baseline;
	}
	if (czpg_cli_isatty(stderr) || progress_forced())
		opt.progress = stderr;

	env = getenv("CZ_PG_BENCH_PASSWORD") != NULL ? "CZ_PG_BENCH_PASSWORD"
						     : "CZ_PG_VERIFY_PASSWORD";
	password = czpg_cli_password(password_flag, env, opt.user);
	opt.password = password;
	if (czpg_bench_sweep_axis(&opt) != CZPG_BENCH_AXIS_NONE) {
		rc = run_sweep(&opt, svg, json);
		czpg_cli_password_free(password);
		free(sql);
		return rc;
	}
	rc = czpg_bench_run(&opt, &res);
	outcome = verdict = czpg_bench_outcome(&opt, &res, rc);
	if (svg != NULL && (res.ran || res.npairs > 0) &&
	    czpg_bench_write_svg(svg, &opt, &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "czctl postgres tls bench: %s\n", err);
		if (outcome == CZPG_RESULT_OK)
			outcome = CZPG_RESULT_ERROR;
	}
	if (json)
		czpg_bench_print_json(stdout, &opt, &res, outcome);
	else
		czpg_bench_print(stdout, &opt, &res, verdict);
	if (res.error[0] != '\0')
		fprintf(stderr, "czctl postgres tls bench: %s\n", res.error);
	czpg_bench_result_free(&res);
	czpg_bench_baseline_free(&baseline);
	czpg_cli_password_free(password);
	free(sql);
	return czpg_cli_exit_code(outcome);
}
