/*
 * cmd_verify.c - `czctl postgres tls verify`: the prove-TLS gate.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "cli.h"
#include "connflags.h"
#include "czpg/verify.h"

#define VERB "verify"

static void verify_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: czctl postgres tls verify --host HOST --user USER --ca FILE [flags]\n"
	    "       czctl postgres tls verify --host HOST --user A --user B ... --ca FILE\n"
	    "\n"
	    "Proves TLS is in force end to end: a verify-full TLS handshake (chain against\n"
	    "--ca, and --host against the certificate's IP or DNS SAN), SCRAM-SHA-256[-PLUS]\n"
	    "authentication, and the server's own row for this session (pg_stat_ssl and\n"
	    "pg_stat_activity), which must agree with what the client negotiated and be\n"
	    "this client's own session: proven by channel binding, or by the same backend\n"
	    "pid and client endpoint at both ends.  A pooler or proxy in between is a FAIL\n"
	    "unless --allow-intermediary.\n"
	    "\n"
	    "With several --user: channel-binding readiness, the proof with\n"
	    "--channel-binding require for each role, one line a role and a summary.\n"
	    "\n"
	    "  --host HOST              server name or IP (must be in the certificate), or a\n"
	    "                           comma-separated list tried in order, as libpq does;\n"
	    "                           every address of a name is tried in order\n"
	    "  --port PORT              default 5432\n"
	    "  --user USER              role to authenticate as (repeat for readiness)\n"
	    "  --dbname DB              default: the user name\n"
	    "  --ca FILE                PEM CA certificate(s) to trust (a bundle works)\n"
	    "  --password PW            or CZ_PG_VERIFY_PASSWORD, or a prompt on a terminal\n"
	    "                           (one prompt per role for readiness)\n"
	    "  --channel-binding MODE   disable | prefer (default) | require\n"
	    "                           require: only SCRAM-SHA-256-PLUS is accepted\n"
	    "  --expect-plaintext-refused  also try an unencrypted startup (the password\n"
	    "                           is never sent) and pass only if it is refused\n"
	    "  --allow-intermediary     a known pooler or proxy is in between: PASS with\n"
	    "                           both legs reported and a warning\n"
	    "  --min-tls 1.2|1.3        lowest TLS version accepted (default 1.3)\n"
	    "  --sslnegotiation MODE    postgres (default): SSLRequest, then TLS; direct: the\n"
	    "                           TLS ClientHello at once with ALPN postgresql\n"
	    "                           (PostgreSQL 17+), which the server must select\n"
	    "  --timeout SECONDS        per phase and per address (default 10)\n"
	    "  --client native|libpq    native wire client (default) or libpq as a cross-check\n"
	    "  --json                   one JSON object on stdout\n"
	    "\n"
	    "Exit codes: 0 PASS (readiness: every role ready), 1 FAIL (TLS not proven,\n"
	    "plaintext accepted, a role not ready), 2 usage error, 3 could not run.\n");
}

/* Several --user: the readiness report (one password for all, or one prompt each). */
static int run_readiness(struct czpg_verify_options *opt, const char *const *users, size_t n,
			 char *password_flag, bool json)
{
	const char *env = getenv("CZ_PG_VERIFY_PASSWORD");
	bool shared = password_flag != NULL || (env != NULL && env[0] != '\0');
	char *pw[CZPG_VERIFY_MAX_ROLES] = {0};
	struct czpg_verify_readiness r;
	size_t i;
	int code = CZPG_EXIT_ERROR;

	pw[0] = czpg_cli_password(password_flag, "CZ_PG_VERIFY_PASSWORD", users[0]);
	for (i = 1; i < n; i++)
		pw[i] = shared ? pw[0] : czpg_cli_password(NULL, NULL, users[i]);
	if (czpg_verify_readiness_run(opt, users, (const char *const *)pw, n, &r) < 0) {
		fprintf(stderr, "czctl postgres tls verify: out of memory\n");
		goto out;
	}
	if (json)
		czpg_verify_readiness_print_json(stdout, opt, &r);
	else
		czpg_verify_readiness_print(stdout, opt, &r);
	code = r.could_not_run ? CZPG_EXIT_ERROR : r.nready == r.n ? CZPG_EXIT_OK : CZPG_EXIT_FAIL;
	czpg_verify_readiness_free(&r);
out:
	for (i = 0; i < n; i++)
		if (i == 0 || !shared)
			czpg_cli_password_free(pw[i]);
	return code;
}

int czpg_cmd_verify(int argc, char **argv)
{
	static const struct option own[] = {
	    {"expect-plaintext-refused", no_argument, NULL, 'x'},
	    {"allow-intermediary", no_argument, NULL, 'I'},
	    {"client", required_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, '?' + 256},
	    {NULL, 0, NULL, 0},
	};
	struct option longopts[sizeof(own) / sizeof(own[0]) + CZPG_CONNFLAGS_COUNT];
	struct czpg_verify_options opt = {
	    .port = 5432,
	    .channel_binding = CZPG_CB_PREFER,
	    .min_tls = TLS1_3_VERSION,
	    .timeout_ms = 10000,
	};
	struct czpg_verify_result res;
	char *password_flag = NULL, *password = NULL;
	const struct czpg_connflags cf = CZPG_CONNFLAGS_ALL(opt, password_flag);
	const char *users[CZPG_VERIFY_MAX_ROLES];
	char err[CZPG_CONNFLAGS_ERR_MAX];
	size_t nusers = 0;
	bool json = false;
	int ch, taken, rc;

	if (czpg_connflags_options(&cf, own, longopts, sizeof(longopts) / sizeof(longopts[0])) < 0)
		return CZPG_EXIT_ERROR;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		taken = czpg_connflags_take(&cf, ch, optarg, err, sizeof(err));
		if (taken < 0)
			return czpg_cli_usage_error(VERB, "%s", err);
		if (taken == 0) {
			/* --user repeats: each one is a role of the readiness report. */
			if (ch == CZPG_CONNFLAG_USER && optarg[0] != '\0') {
				if (nusers == CZPG_VERIFY_MAX_ROLES)
					return czpg_cli_usage_error(VERB,
								    "more than %d --user flags",
								    CZPG_VERIFY_MAX_ROLES);
				users[nusers++] = optarg;
			}
			continue;
		}
		switch (ch) {
		case 'x':
			opt.expect_plaintext_refused = true;
			break;
		case 'I':
			opt.allow_intermediary = true;
			break;
		case 'C':
			if (strcmp(optarg, "native") == 0)
				opt.client = CZPG_VERIFY_NATIVE;
			else if (strcmp(optarg, "libpq") == 0)
				opt.client = CZPG_VERIFY_LIBPQ;
			else
				return czpg_cli_usage_error(
				    VERB, "--client '%s' is not native or libpq", optarg);
			break;
		case 'j':
			json = true;
			break;
		case '?' + 256:
			verify_usage(stdout);
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
		"verify-full needs the CA that signed the server certificate", err,
		sizeof(err)) < 0)
		return czpg_cli_usage_error(VERB, "%s", err);
	if (nusers > 1) {
		if (opt.channel_binding == CZPG_CB_DISABLE)
			return czpg_cli_usage_error(VERB,
						    "several --user check channel-binding "
						    "readiness, which runs with --channel-binding "
						    "require, not disable");
		return run_readiness(&opt, users, nusers, password_flag, json);
	}

	password = czpg_cli_password(password_flag, "CZ_PG_VERIFY_PASSWORD", opt.user);
	opt.password = password;
	rc = czpg_verify_run(&opt, &res);
	czpg_cli_password_free(password);
	if (json)
		czpg_verify_print_json(stdout, &opt, &res);
	else
		czpg_verify_print(stdout, &opt, &res);
	if (rc < 0)
		return CZPG_EXIT_ERROR;
	return res.pass ? CZPG_EXIT_OK : CZPG_EXIT_FAIL;
}
