/*
 * cmd_probe.c - `czctl postgres tls probe`: what TLS one box, or a fleet of
 * boxes, speaks, without a password: flags, --help and the exit code.  The
 * probe is in verbs/probe*.c, its output in report/probe_report.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "connflags.h"
#include "czpg/engine.h"
#include "czpg/errf.h"
#include "czpg/probe.h"
#include "czpg/probe_findings.h"
#include "czpg/probe_report.h"

#define VERB "probe"
#define MAX_TARGETS_FILE ((size_t)64 << 20)

static void probe_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: czctl postgres tls probe --host HOST[,HOST...] [--port PORT[,PORT...]] [--ca "
	    "FILE]\n"
	    "                                [--user NAME]\n"
	    "       czctl postgres tls probe --targets FILE [flags]\n"
	    "\n"
	    "Reports what TLS a PostgreSQL box speaks, without a password: the SSLRequest\n"
	    "answer; which of TLS 1.3/1.2/1.1/1.0 it accepts and, for each, which cipher\n"
	    "suites and whether its own preference order wins; key exchange groups; the\n"
	    "certificate chain (subject, issuer, SANs, key, signature, days left), whether it\n"
	    "matches --host as verify-full would and verifies against --ca; whether a\n"
	    "plaintext startup is accepted or refused; the SASL mechanisms offered over TLS\n"
	    "(SCRAM-SHA-256-PLUS = channel binding); direct TLS (PostgreSQL 17) and GSSAPI\n"
	    "encryption requests.  Then findings, each info/low/medium/high.  All the\n"
	    "connections run at once on one thread.\n"
	    "\n"
	    "  --host HOST              server name or IP; a list a,b is one box under\n"
	    "                           alternative names, as libpq's host=a,b: the names are\n"
	    "                           tried in order, each address of each, and the first\n"
	    "                           that accepts the connection is probed (a fleet of boxes\n"
	    "                           is --targets)\n"
	    "  --port PORT              default 5432 (also the default for --targets lines); a\n"
	    "                           list p1,p2 gives each name of --host its own port\n"
	    "  --ca FILE                PEM CA certificate(s): also check the chain (verify-full)\n"
	    "  --user NAME              user name in the startup messages (default postgres);\n"
	    "                           no password is ever sent\n"
	    "  --targets FILE           fleet mode: one host[:port] or [v6]:port per line,\n"
	    "                           '#' comments, blank lines skipped ('-' = stdin)\n"
	    "  --concurrency N          targets probed at once (default 64)\n"
	    "  --target-timeout SEC     per-target deadline, and each connection step's\n"
	    "                           timeout (default 10)\n"
	    "  --quick                  lighter probe: default handshake, plaintext, verify,\n"
	    "                           and TLS 1.2/1.1/1.0 acceptance only (no suite, group,\n"
	    "                           order, direct TLS or GSSAPI checks); default with\n"
	    "                           --targets unless --full\n"
	    "  --full                   the whole probe for every target of --targets\n"
	    "  --json                   one JSON object (per target, one per line; fleet mode\n"
	    "                           ends with a {\"summary\": ...} line)\n"
	    "\n"
	    "Findings: high = plaintext accepted, TLS off, TLS 1.0/1.1, weak (non-AEAD or\n"
	    "non-PFS) suites, expired certificate, name mismatch; medium = TLS 1.2, expires\n"
	    "within 30 days, chain does not verify against --ca; low = no channel binding.\n"
	    "\n"
	    "Exit codes: 0 no finding above low, 1 a medium or high finding (fleet: on any\n"
	    "target), 2 usage error, 3 could not probe (fleet: some target could not be probed\n"
	    "and none had a medium/high finding).\n");
}

/* What the callbacks keep between targets. */
struct fleet {
	bool json;
	bool progress;
	struct czpg_probe_row *rows; /* by target index */
	struct czpg_probe_tally tally;
	uint64_t last_progress;
	struct czpg_probe_result *single; /* single-target mode */
};

static void on_result(const struct czpg_probe_result *r, size_t index, void *user)
{
	struct fleet *f = user;

	if (f->single != NULL) {
		memcpy(f->single, r, sizeof(*r));
		return;
	}
	if (f->json)
		czpg_probe_print_json(stdout, r, czpg_probe_outcome(r));
	czpg_probe_row_fill(&f->rows[index], r);
	czpg_probe_tally_add(&f->tally, r);
}

/* At most ten progress lines a second, and always the last. */
static void on_progress(size_t done, size_t total, size_t running, void *user)
{
	struct fleet *f = user;
	uint64_t now = czpg_engine_now_ns();

	if (!f->progress || (done < total && now - f->last_progress < 100000000ull))
		return;
	f->last_progress = now;
	czpg_probe_print_progress(stderr, done, total, running);
}

static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL, *grown;
	size_t cap = 0, n = 0, got;

	if (fp == NULL) {
		snprintf(err, errlen, "cannot open --targets file %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > MAX_TARGETS_FILE + 1) {
				snprintf(err, errlen, "--targets file %s is larger than %zu MiB",
					 path, MAX_TARGETS_FILE >> 20);
				free(buf);
				buf = NULL;
				break;
			}
			grown = realloc(buf, cap);
			if (grown == NULL) {
				snprintf(err, errlen, "out of memory reading %s", path);
				free(buf);
				buf = NULL;
				break;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0) {
			if (ferror(fp)) {
				snprintf(err, errlen, "cannot read --targets file %s", path);
				free(buf);
				buf = NULL;
			}
			break;
		}
	}
	if (fp != stdin)
		fclose(fp);
	*len = n;
	return buf;
}

/*
 * --host (a libpq-style list, already split-checked by connflags) and its
 * --port or --port list as the names of one box, in order.  0, or -1 with
 * one sentence in err.
 */
static int host_alternatives(const struct czpg_connflags *cf, struct czpg_probe_target *alts,
			     size_t *n, char *err, size_t errlen)
{
	struct czpg_engine_hosts hosts;
	char spec[CZPG_ENGINE_HOST_MAX + 16], why[300];
	const char *h;
	size_t i;

	*n = 0;
	if (czpg_engine_split_hosts(*cf->host, &hosts, why, sizeof(why)) < 0) {
		czpg_errf(err, errlen, "--host '%s': %s", *cf->host, why);
		return -1;
	}
	for (i = 0; i < hosts.n; i++) {
		h = hosts.name[i];
		if (strchr(h, '[') != NULL ||
		    (strchr(h, ':') != NULL && strchr(strchr(h, ':') + 1, ':') == NULL)) {
			czpg_errf(err, errlen,
				  "--host takes a name or address without brackets or port; give "
				  "the port with --port");
			return -1;
		}
		snprintf(spec, sizeof(spec), strchr(h, ':') != NULL ? "[%s]:%u" : "%s:%u", h,
			 czpg_connflags_port_of(cf, i));
		if (czpg_probe_parse_target(spec, 0, &alts[i], why, sizeof(why)) < 0) {
			czpg_errf(err, errlen, "--host: %s", why);
			return -1;
		}
	}
	*n = hosts.n;
	return 0;
}

/* Many sockets at once: lift the soft descriptor limit to the hard one. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int czpg_cmd_probe(int argc, char **argv)
{
	static const struct option own[] = {
	    {"targets", required_argument, NULL, 'T'},
	    {"concurrency", required_argument, NULL, 'n'},
	    {"target-timeout", required_argument, NULL, 't'},
	    {"quick", no_argument, NULL, 'q'},
	    {"full", no_argument, NULL, 'F'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, '?' + 256},
	    {NULL, 0, NULL, 0},
	};
	struct option longopts[sizeof(own) / sizeof(own[0]) + CZPG_CONNFLAGS_COUNT];
	struct czpg_probe_options opt = {0};
	struct czpg_probe_target *targets = NULL, alts[CZPG_PROBE_MAX_ALTERNATIVES];
	struct czpg_probe_result *res = NULL;
	struct fleet f = {0};
	const char *host = NULL, *targets_file = NULL;
	unsigned long v;
	unsigned port = 5432, ports[CZPG_ENGINE_MAX_HOSTS];
	size_t nports = 0;
	/* probe takes no password, database, channel binding, TLS floor or --timeout. */
	const struct czpg_connflags cf = {
	    .host = &host,
	    .port = &port,
	    .ports = ports,
	    .nports = &nports,
	    .user = &opt.user,
	    .ca_file = &opt.ca_file,
	};
	bool json = false, quick = false, full = false;
	char err[CZPG_CONNFLAGS_ERR_MAX], *text = NULL;
	size_t n = 0, len = 0;
	uint64_t t0;
	int ch, taken, rc = CZPG_EXIT_ERROR;

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
		case 'T':
			targets_file = optarg;
			break;
		case 'n':
			if (czpg_parse_uint(optarg, 1, 4096, &v) < 0)
				return czpg_cli_usage_error(
				    VERB, "--concurrency '%s' is not a number 1-4096", optarg);
			opt.concurrency = (unsigned)v;
			break;
		case 't':
			if (czpg_parse_uint(optarg, 1, 3600, &v) < 0)
				return czpg_cli_usage_error(
				    VERB,
				    "--target-timeout '%s' is not a number of seconds (1-3600)",
				    optarg);
			opt.target_timeout_ms = (unsigned)v * 1000u;
			break;
		case 'q':
			quick = true;
			break;
		case 'F':
			full = true;
			break;
		case 'j':
			json = true;
			break;
		case '?' + 256:
			probe_usage(stdout);
			return CZPG_EXIT_OK;
		default:
			return czpg_cli_usage_error(
			    VERB, "unknown or incomplete flag '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return czpg_cli_usage_error(VERB, "unexpected argument '%s'", argv[optind]);
	if ((host == NULL || host[0] == '\0') && targets_file == NULL)
		return czpg_cli_usage_error(VERB, "--host or --targets is required");
	if (host != NULL && targets_file != NULL)
		return czpg_cli_usage_error(VERB, "give --host or --targets, not both");
	if (quick && full)
		return czpg_cli_usage_error(VERB, "give --quick or --full, not both");
	if (opt.user != NULL && (opt.user[0] == '\0' || strlen(opt.user) > 63))
		return czpg_cli_usage_error(VERB, "--user must be 1 to 63 characters");
	if (czpg_connflags_check(&cf, 0, NULL, err, sizeof(err)) < 0)
		return czpg_cli_usage_error(VERB, "%s", err);

	if (targets_file != NULL) {
		text = read_all(targets_file, &len, err, sizeof(err));
		if (text == NULL) {
			fprintf(stderr, "czctl postgres tls %s: %s\n", VERB, err);
			return CZPG_EXIT_USAGE;
		}
		if (czpg_probe_parse_targets(text, len, port, &targets, &n, err, sizeof(err)) < 0) {
			free(text);
			return czpg_cli_usage_error(VERB, "--targets %s: %s", targets_file, err);
		}
		free(text);
		opt.quick = !full;
		f.rows = calloc(n, sizeof(*f.rows));
		if (f.rows == NULL) {
			fprintf(stderr, "czctl postgres tls %s: out of memory\n", VERB);
			goto out;
		}
		f.progress = czpg_cli_isatty(stderr);
	} else {
		if (host_alternatives(&cf, alts, &n, err, sizeof(err)) < 0)
			return czpg_cli_usage_error(VERB, "%s", err);
		opt.quick = quick;
		res = calloc(1, sizeof(*res));
		if (res == NULL)
			goto out;
		f.single = res;
	}
	f.json = json;
	opt.on_result = on_result;
	opt.on_progress = on_progress;
	opt.cb_user = &f;
	raise_nofile();
	t0 = czpg_engine_now_ns();
	if ((res != NULL ? czpg_probe_run_alternatives(&opt, alts, n, err, sizeof(err))
			 : czpg_probe_run(&opt, targets, n, err, sizeof(err))) < 0) {
		fprintf(stderr, "czctl postgres tls %s: could not probe: %s\n", VERB, err);
		rc = CZPG_EXIT_ERROR;
		goto out;
	}
	if (res != NULL) {
		if (json)
			czpg_probe_print_json(stdout, res, czpg_probe_outcome(res));
		else
			czpg_probe_print(stdout, res);
		rc = czpg_cli_exit_code(czpg_probe_outcome(res));
		goto out;
	}
	if (json)
		czpg_probe_print_fleet_json(stdout, &f.tally, n,
					    (double)(czpg_engine_now_ns() - t0) / 1e6);
	else
		czpg_probe_print_fleet(stdout, f.rows, n, &f.tally,
				       (double)(czpg_engine_now_ns() - t0) / 1e6);
	rc = czpg_cli_exit_code(czpg_probe_tally_outcome(&f.tally, n));
out:
	free(targets);
	free(res);
	free(f.rows);
	return rc;
}
