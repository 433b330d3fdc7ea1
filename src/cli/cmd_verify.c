/*
 * cmd_verify.c - `czctl postgres tls verify`: the prove-TLS gate.
 */
#include <getopt.h>
#include <stdio.h>
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
	    "\n"
	    "Proves TLS is in force: a verify-full TLS handshake (chain against --ca, and\n"
	    "--host against the certificate's IP or DNS SAN), SCRAM-SHA-256[-PLUS]\n"
	    "authentication, and the server's own pg_stat_ssl row for this session,\n"
	    "which must agree with what the client negotiated.\n"
	    "\n"
	    "  --host HOST              server name or IP (must be in the certificate)\n"
	    "  --port PORT              default 5432\n"
	    "  --user USER              role to authenticate as\n"
	    "  --dbname DB              default: the user name\n"
	    "  --ca FILE                PEM CA certificate(s) to trust (a bundle works)\n"
	    "  --password PW            or CZ_PG_VERIFY_PASSWORD, or a prompt on a terminal\n"
	    "  --channel-binding MODE   disable | prefer (default) | require\n"
	    "                           require: only SCRAM-SHA-256-PLUS is accepted\n"
	    "  --expect-plaintext-refused  also try an unencrypted startup (the password\n"
	    "                           is never sent) and pass only if pg_hba refuses it\n"
	    "  --min-tls 1.2|1.3        lowest TLS version accepted (default 1.3)\n"
	    "  --sslnegotiation MODE    postgres (default): SSLRequest, then TLS; direct: the\n"
	    "                           TLS ClientHello at once with ALPN postgresql\n"
	    "                           (PostgreSQL 17+), which the server must select\n"
	    "  --timeout SECONDS        per phase (default 10)\n"
	    "  --client native|libpq    native wire client (default) or libpq as a cross-check\n"
	    "  --json                   one JSON object on stdout\n"
	    "\n"
	    "Exit codes: 0 PASS, 1 FAIL (TLS not proven, or plaintext accepted),\n"
	    "2 usage error, 3 could not run.\n");
}

int czpg_cmd_verify(int argc, char **argv)
{
	static const struct option own[] = {
	    {"expect-plaintext-refused", no_argument, NULL, 'x'},
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
	char err[CZPG_CONNFLAGS_ERR_MAX];
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
		if (taken == 0)
			continue;
		switch (ch) {
		case 'x':
			opt.expect_plaintext_refused = true;
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
