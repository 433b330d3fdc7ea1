/*
 * cmd_status.c - `czctl postgres tls status`: local, offline report on the
 * certificate directory and the managed pg_hba block, for people, cron and
 * monitoring (text, --json, or Prometheus text exposition format).
 */
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "czpg/fsutil.h"
#include "czpg/status.h"

#define VERB "status"

static void status_usage(FILE *out)
{
	fprintf(out,
		"usage: czctl postgres tls status --cert-dir DIR [flags]\n"
		"\n"
		"Reports, offline, on the certificates `provision` wrote and the managed\n"
		"pg_hba.conf block: the CA, the server leaf and every CA in the bundle\n"
		"(subject, SANs, serial, expiry, key type); whether the leaf is signed by the\n"
		"current CA and matches server.key; whether server.key's mode and owner\n"
		"satisfy PostgreSQL; whether the CA key is out of the database user's reach.\n"
		"\n"
		"  --cert-dir DIR           the certificate directory (ca.crt, server.crt, ...)\n"
		"  --hba-path FILE          also report the managed pg_hba.conf block's mode\n"
		"  --pgdata DIR             the server's data directory: report the version\n"
		"                           its PG_VERSION names (else: not known)\n"
		"  --expect-hba-mode MODE   none | transition | harden: fail on any other mode\n"
		"  --warn-days N            fail when the leaf or CA expires within N days\n"
		"                           (default 30; 0 fails only once expired)\n"
		"  --db-uid UID|USER        the user PostgreSQL runs as (default: server.key's\n"
		"                           owner); e.g. 999 for the official postgres image\n"
		"  --db-gid GID|GROUP       its group (default: server.key's group)\n"
		"  --json                   one JSON object on stdout\n"
		"  --prometheus             Prometheus text exposition format on stdout\n"
		"  --prometheus-file PATH   write that format to PATH atomically (for\n"
		"                           node_exporter's textfile collector); stdout keeps\n"
		"                           the text or --json report\n"
		"\n"
		"Exit codes: 0 every check passed, 1 a check failed or the leaf or CA expires\n"
		"within --warn-days (or has expired), 2 usage error, 3 could not read a\n"
		"required file or directory.\n");
}

/* A numeric id, or a name looked up with lookup; -1 when neither. */
static long parse_id(const char *s, bool group)
{
	unsigned long v;

	if (czpg_parse_uint(s, 0, 0x7ffffffeUL, &v) == 0)
		return (long)v;
	if (group) {
		struct group *g = getgrnam(s);

		return g != NULL ? (long)g->gr_gid : -1;
	} else {
		struct passwd *p = getpwnam(s);

		return p != NULL ? (long)p->pw_uid : -1;
	}
}

int czpg_cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"cert-dir", required_argument, NULL, 'd'},
	    {"hba-path", required_argument, NULL, 'H'},
	    {"pgdata", required_argument, NULL, 'D'},
	    {"expect-hba-mode", required_argument, NULL, 'E'},
	    {"warn-days", required_argument, NULL, 'w'},
	    {"db-uid", required_argument, NULL, 'u'},
	    {"db-gid", required_argument, NULL, 'g'},
	    {"json", no_argument, NULL, 'j'},
	    {"prometheus", no_argument, NULL, 'p'},
	    {"prometheus-file", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, '?' + 256},
	    {NULL, 0, NULL, 0},
	};
	struct czpg_status_opts opt = {
	    .warn_days = CZPG_STATUS_DEFAULT_WARN_DAYS,
	    .db_uid = CZPG_STATUS_ID_UNSET,
	    .db_gid = CZPG_STATUS_ID_UNSET,
	};
	struct czpg_status_report *rep = NULL;
	struct czpg_wbuf prom;
	const char *prom_file = NULL;
	bool json = false, prom_stdout = false;
	unsigned long v;
	char err[512];
	int ch, code;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			opt.cert_dir = optarg;
			break;
		case 'H':
			opt.hba_path = optarg;
			break;
		case 'D':
			opt.pgdata = optarg;
			break;
		case 'E':
			if (strcmp(optarg, "none") != 0 && strcmp(optarg, "transition") != 0 &&
			    strcmp(optarg, "harden") != 0)
				return czpg_cli_usage_error(
				    VERB,
				    "--expect-hba-mode '%s' is not one of none, transition, harden",
				    optarg);
			opt.expect_hba_mode = optarg;
			break;
		case 'w':
			if (czpg_parse_uint(optarg, 0, CZPG_STATUS_MAX_WARN_DAYS, &v) < 0)
				return czpg_cli_usage_error(
				    VERB, "--warn-days '%s' is not a number of days (0-%d)", optarg,
				    CZPG_STATUS_MAX_WARN_DAYS);
			opt.warn_days = (long)v;
			break;
		case 'u':
			opt.db_uid = parse_id(optarg, false);
			if (opt.db_uid < 0)
				return czpg_cli_usage_error(
				    VERB, "--db-uid '%s' is neither a uid nor a known user name",
				    optarg);
			break;
		case 'g':
			opt.db_gid = parse_id(optarg, true);
			if (opt.db_gid < 0)
				return czpg_cli_usage_error(
				    VERB, "--db-gid '%s' is neither a gid nor a known group name",
				    optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'p':
			prom_stdout = true;
			break;
		case 'P':
			if (optarg[0] == '\0')
				return czpg_cli_usage_error(VERB, "--prometheus-file needs a path");
			prom_file = optarg;
			break;
		case '?' + 256:
			status_usage(stdout);
			return CZPG_EXIT_OK;
		default:
			return czpg_cli_usage_error(
			    VERB, "unknown or incomplete flag '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return czpg_cli_usage_error(VERB, "unexpected argument '%s'", argv[optind]);
	if (opt.cert_dir == NULL || opt.cert_dir[0] == '\0')
		return czpg_cli_usage_error(VERB, "--cert-dir is required");
	if (json && prom_stdout)
		return czpg_cli_usage_error(VERB, "--json and --prometheus both want stdout; "
						  "pick one (--prometheus-file works with --json)");

	if (czpg_status_collect(&opt, &rep, err, sizeof(err)) < 0) {
		fprintf(stderr, "czctl postgres tls %s: %s\n", VERB, err);
		return CZPG_EXIT_ERROR;
	}
	code = czpg_cli_exit_code(czpg_status_outcome(rep));

	czpg_wbuf_init(&prom, 0);
	if (prom_stdout || prom_file != NULL) {
		if (czpg_status_prometheus(rep, &prom) < 0) {
			fprintf(stderr, "czctl postgres tls %s: the metrics do not fit in memory\n",
				VERB);
			code = CZPG_EXIT_ERROR;
			goto out;
		}
	}
	if (prom_file != NULL &&
	    czpg_fs_write_atomic(prom_file, prom.data, prom.len, 0644, CZPG_FS_KEEP_OWNER,
				 CZPG_FS_KEEP_OWNER, err, sizeof(err)) < 0) {
		fprintf(stderr, "czctl postgres tls %s: %s\n", VERB, err);
		code = CZPG_EXIT_ERROR;
	}
	if (prom_stdout) {
		fwrite(prom.data, 1, prom.len, stdout);
		fflush(stdout);
	} else if (json) {
		czpg_status_print_json(stdout, rep);
	} else if (rep->dir_error[0] == '\0') {
		czpg_status_print_text(stdout, rep);
	}
	/* Without a directory there is no report: say why on stderr, once. */
	if (rep->dir_error[0] != '\0')
		fprintf(stderr, "czctl postgres tls %s: %s\n", VERB, rep->dir_error);
out:
	czpg_wbuf_free(&prom);
	czpg_status_report_free(rep);
	return code;
}
