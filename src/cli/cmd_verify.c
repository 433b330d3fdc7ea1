/*
 * cmd_verify.c - `czctl postgres tls verify`: the prove-TLS gate.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "cli.h"
#include "czpg/verify.h"

#define VERB "verify"

static void verify_usage(FILE *out)
{
	fprintf(out,
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
		"  --timeout SECONDS        per phase (default 10)\n"
		"  --client native|libpq    native wire client (default) or libpq as a cross-check\n"
		"  --json                   one JSON object on stdout\n"
		"\n"
		"Exit codes: 0 PASS, 1 FAIL (TLS not proven, or plaintext accepted),\n"
		"2 usage error, 3 could not run.\n");
}

int czpg_cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"user", required_argument, NULL, 'U'},
		{"dbname", required_argument, NULL, 'd'},
		{"ca", required_argument, NULL, 'c'},
		{"password", required_argument, NULL, 'W'},
		{"channel-binding", required_argument, NULL, 'b'},
		{"expect-plaintext-refused", no_argument, NULL, 'x'},
		{"min-tls", required_argument, NULL, 'm'},
		{"timeout", required_argument, NULL, 't'},
		{"client", required_argument, NULL, 'C'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, '?' + 256},
		{NULL, 0, NULL, 0},
	};
	struct czpg_verify_options opt = {
		.port = 5432,
		.channel_binding = CZPG_CB_PREFER,
		.min_tls = TLS1_3_VERSION,
		.timeout_ms = 10000,
	};
	struct czpg_verify_result res;
	char *password_flag = NULL, *password = NULL;
	unsigned long v;
	bool json = false;
	int ch, rc;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			opt.host = optarg;
			break;
		case 'p':
			if (czpg_parse_uint(optarg, 1, 65535, &v) < 0)
				return czpg_cli_usage_error(VERB, "--port '%s' is not a port (1-65535)",
							    optarg);
			opt.port = (unsigned)v;
			break;
		case 'U':
			opt.user = optarg;
			break;
		case 'd':
			opt.dbname = optarg;
			break;
		case 'c':
			opt.ca_file = optarg;
			break;
		case 'W':
			password_flag = optarg;
			break;
		case 'b':
			if (strcmp(optarg, "disable") == 0)
				opt.channel_binding = CZPG_CB_DISABLE;
			else if (strcmp(optarg, "prefer") == 0)
				opt.channel_binding = CZPG_CB_PREFER;
			else if (strcmp(optarg, "require") == 0)
				opt.channel_binding = CZPG_CB_REQUIRE;
			else
				return czpg_cli_usage_error(VERB,
							    "--channel-binding '%s' is not one of "
							    "disable, prefer, require",
							    optarg);
			break;
		case 'x':
			opt.expect_plaintext_refused = true;
			break;
		case 'm':
			if (strcmp(optarg, "1.3") == 0)
				opt.min_tls = TLS1_3_VERSION;
			else if (strcmp(optarg, "1.2") == 0)
				opt.min_tls = TLS1_2_VERSION;
			else
				return czpg_cli_usage_error(VERB, "--min-tls '%s' is not 1.2 or 1.3",
							    optarg);
			break;
		case 't':
			if (czpg_parse_uint(optarg, 1, 3600, &v) < 0)
				return czpg_cli_usage_error(
					VERB, "--timeout '%s' is not a number of seconds (1-3600)",
					optarg);
			opt.timeout_ms = (unsigned)v * 1000u;
			break;
		case 'C':
			if (strcmp(optarg, "native") == 0)
				opt.client = CZPG_VERIFY_NATIVE;
			else if (strcmp(optarg, "libpq") == 0)
				opt.client = CZPG_VERIFY_LIBPQ;
			else
				return czpg_cli_usage_error(VERB, "--client '%s' is not native or libpq",
							    optarg);
			break;
		case 'j':
			json = true;
			break;
		case '?' + 256:
			verify_usage(stdout);
			return CZPG_EXIT_OK;
		default:
			return czpg_cli_usage_error(VERB, "unknown or incomplete flag '%s' (see --help)",
						    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return czpg_cli_usage_error(VERB, "unexpected argument '%s'", argv[optind]);
	if (opt.host == NULL || opt.host[0] == '\0')
		return czpg_cli_usage_error(VERB, "--host is required");
	if (opt.user == NULL || opt.user[0] == '\0')
		return czpg_cli_usage_error(VERB, "--user is required");
	if (opt.ca_file == NULL)
		return czpg_cli_usage_error(VERB, "--ca is required: verify-full needs the CA that "
						  "signed the server certificate");
	if (access(opt.ca_file, R_OK) != 0)
		return czpg_cli_usage_error(VERB, "--ca '%s' is not a readable file", opt.ca_file);

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
