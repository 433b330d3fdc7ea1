/*
 * cmd_provision.c - `czctl postgres tls provision`: flags, then
 * czpg_provision_plan / _apply (czpg/provision.h) and the printers
 * (czpg/provision_report.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "czpg/provision.h"
#include "czpg/provision_report.h"

#define VERB "provision"

static void provision_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: czctl postgres tls provision --ip IP --dns NAME --allow-cidr CIDR\n"
	    "         --role ROLE [--role ROLE ...] --cert-dir DIR\n"
	    "         (--pgdata DIR | --container NAME --hba-path FILE)\n"
	    "         [--export-ca FILE] [--mode transition|harden] [--apply] [flags]\n"
	    "\n"
	    "Turns a plaintext PostgreSQL box into a TLS 1.3 box without breaking it: an\n"
	    "ECDSA P-256 CA (10 years) and a 90-day leaf for --ip and --dns, the TLS block\n"
	    "in <conf.d>/cz-tls.conf, a managed pg_hba.conf block, a reload (never a\n"
	    "restart) checked against the server's own pg_hba_file_rules and\n"
	    "pg_file_settings (any error: every file restored), the CA exported, and a\n"
	    "verify-full self-check.  A DRY RUN unless --apply: it prints every file it\n"
	    "would write (keys are never shown) and writes nothing.\n"
	    "\n"
	    "what:\n"
	    "  --ip IP                  the address clients connect to (IP SAN of the leaf)\n"
	    "  --dns NAME               the DNS name clients connect to (DNS SAN of the leaf)\n"
	    "  --allow-cidr CIDR        the application box, e.g. 10.20.1.2/32\n"
	    "  --role ROLE              a role the application logs in as (repeatable)\n"
	    "  --mode transition|harden transition (default) keeps the plaintext host line\n"
	    "                           working; harden allows TLS only from --allow-cidr\n"
	    "  --allow-tls12-fallback   ssl_min_protocol_version TLSv1.2 instead of TLSv1.3\n"
	    "  --apply                  make the changes (default: dry run); one run at a\n"
	    "                           time per cert dir (a second one waits %d s, then\n"
	    "                           exits 3); an interrupted run is finished or rolled\n"
	    "                           back by the next one\n"
	    "  --add-include-dir        postgresql.conf has no include_dir (the official\n"
	    "                           image): create conf.d (the database user's, 0700),\n"
	    "                           then add include_dir = 'conf.d', in that order\n"
	    "  --rotate-leaf            new 90-day leaf from the existing CA (breaks no client)\n"
	    "  --force                  new CA and leaf; the old CA stays in ca-bundle.crt\n"
	    "                           for %d days so clients can move over\n"
	    "where:\n"
	    "  --cert-dir DIR           certificates and keys (created 0755 if missing)\n"
	    "  --server-cert-dir DIR    the cert dir as the server sees it, for a server\n"
	    "                           that sees other paths than this host (a container,\n"
	    "                           a chroot); default: --cert-dir, or --cert-dir\n"
	    "                           without --server-root\n"
	    "  --server-root DIR        the server's filesystem root on this host (a chroot,\n"
	    "                           /proc/<postmaster pid>/root): ssl_*_file are written\n"
	    "                           as the server sees them, and the socket directory\n"
	    "                           it names is found under DIR\n"
	    "  --export-ca FILE         copy of ca-bundle.crt for clients (0644)\n"
	    "  --pgdata DIR             PostgreSQL runs on this box with this data directory\n"
	    "  --container NAME         PostgreSQL runs in this container (docker on PATH)\n"
	    "  --hba-path FILE          pg_hba.conf (default <pgdata>/pg_hba.conf)\n"
	    "  --postgresql-conf FILE   default <pgdata>/postgresql.conf, or next to --hba-path\n"
	    "  --conf-dir DIR           the include_dir cz-tls.conf goes to (default: conf.d\n"
	    "                           next to postgresql.conf)\n"
	    "  --db-uid N, --db-gid N   owner of server.key (default: the data directory's\n"
	    "                           owner; %d:%d with --container, the official image)\n"
	    "  --pg-bin DIR             where pg_ctl and psql are (default: from PG_VERSION);\n"
	    "                           when they cannot run on this host (another C\n"
	    "                           library), this host's own client tools are used\n"
	    "  --socket-dir DIR         the server's Unix socket directory as this host sees\n"
	    "                           it (default: from postgresql[.auto].conf, under\n"
	    "                           --server-root, else /var/run/postgresql)\n"
	    "  --admin-user NAME        superuser for the reload checks (default postgres)\n"
	    "self-verify:\n"
	    "  --verify-host HOST       default --ip (in the certificate, needs no DNS)\n"
	    "  --verify-port PORT       default the server's port setting, else 5432\n"
	    "  --verify-user ROLE       default the first --role\n"
	    "  --verify-dbname DB       default postgres\n"
	    "  --password PW            or CZ_PG_VERIFY_PASSWORD, or a prompt on a terminal\n"
	    "  --skip-verify            skip the self-verify (TLS is then NOT proven)\n"
	    "  --timeout SECONDS        per phase (default 10)\n"
	    "  --json                   one JSON object on stdout\n"
	    "\n"
	    "Exit codes: 0 PASS (or dry run printed, or nothing to change), 1 FAIL (the\n"
	    "server rejected the change and everything was restored, or self-verify\n"
	    "failed), 2 bad input (nothing written), 3 could not finish (another run holds\n"
	    "the lock, server unreachable, I/O), 130/143/129 interrupted by SIGINT/SIGTERM/\n"
	    "SIGHUP after rolling back (before the commit point) or finishing (after it).\n",
	    CZPG_PROVISION_LOCK_WAIT_MS / 1000, CZPG_PROVISION_CA_OVERLAP_DAYS,
	    CZPG_PROVISION_CONTAINER_UID, CZPG_PROVISION_CONTAINER_UID);
}

enum {
	O_IP = 256,
	O_DNS,
	O_CIDR,
	O_ROLE,
	O_MODE,
	O_CERT_DIR,
	O_SERVER_CERT_DIR,
	O_SERVER_ROOT,
	O_ADD_INCLUDE,
	O_EXPORT,
	O_PGDATA,
	O_CONTAINER,
	O_HBA,
	O_PGCONF,
	O_CONF_DIR,
	O_DB_UID,
	O_DB_GID,
	O_PG_BIN,
	O_SOCKET_DIR,
	O_ADMIN,
	O_VHOST,
	O_VPORT,
	O_VUSER,
	O_VDB,
	O_PASSWORD,
	O_SKIP_VERIFY,
	O_TIMEOUT,
	O_APPLY,
	O_FORCE,
	O_ROTATE,
	O_TLS12,
	O_JSON,
	O_HELP,
};

int czpg_cmd_provision(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"ip", required_argument, NULL, O_IP},
	    {"dns", required_argument, NULL, O_DNS},
	    {"allow-cidr", required_argument, NULL, O_CIDR},
	    {"role", required_argument, NULL, O_ROLE},
	    {"mode", required_argument, NULL, O_MODE},
	    {"cert-dir", required_argument, NULL, O_CERT_DIR},
	    {"server-cert-dir", required_argument, NULL, O_SERVER_CERT_DIR},
	    {"server-root", required_argument, NULL, O_SERVER_ROOT},
	    {"add-include-dir", no_argument, NULL, O_ADD_INCLUDE},
	    {"export-ca", required_argument, NULL, O_EXPORT},
	    {"pgdata", required_argument, NULL, O_PGDATA},
	    {"container", required_argument, NULL, O_CONTAINER},
	    {"hba-path", required_argument, NULL, O_HBA},
	    {"postgresql-conf", required_argument, NULL, O_PGCONF},
	    {"conf-dir", required_argument, NULL, O_CONF_DIR},
	    {"db-uid", required_argument, NULL, O_DB_UID},
	    {"db-gid", required_argument, NULL, O_DB_GID},
	    {"pg-bin", required_argument, NULL, O_PG_BIN},
	    {"socket-dir", required_argument, NULL, O_SOCKET_DIR},
	    {"admin-user", required_argument, NULL, O_ADMIN},
	    {"verify-host", required_argument, NULL, O_VHOST},
	    {"verify-port", required_argument, NULL, O_VPORT},
	    {"verify-user", required_argument, NULL, O_VUSER},
	    {"verify-dbname", required_argument, NULL, O_VDB},
	    {"password", required_argument, NULL, O_PASSWORD},
	    {"skip-verify", no_argument, NULL, O_SKIP_VERIFY},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"apply", no_argument, NULL, O_APPLY},
	    {"force", no_argument, NULL, O_FORCE},
	    {"rotate-leaf", no_argument, NULL, O_ROTATE},
	    {"allow-tls12-fallback", no_argument, NULL, O_TLS12},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	struct czpg_provision_opts o = {
	    .mode = CZPG_HBA_MODE_TRANSITION,
	    .db_uid = -1,
	    .db_gid = -1,
	};
	const char *roles[CZPG_PROVISION_MAX_ROLES];
	struct czpg_provision_plan *plan = NULL;
	char *password_flag = NULL, *password = NULL, err[2048];
	unsigned long v;
	bool json = false;
	int ch, rc;
	enum czpg_result result;

	optind = 1;
	opterr = 0;
	o.roles = roles;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case O_IP:
			o.ip = optarg;
			break;
		case O_DNS:
			o.dns = optarg;
			break;
		case O_CIDR:
			o.allow_cidr = optarg;
			break;
		case O_ROLE:
			if (o.n_roles >= CZPG_PROVISION_MAX_ROLES)
				return czpg_cli_usage_error(VERB, "at most %d --role values",
							    CZPG_PROVISION_MAX_ROLES);
			roles[o.n_roles++] = optarg;
			break;
		case O_MODE:
			if (czpg_hba_mode_parse(optarg, &o.mode) < 0)
				return czpg_cli_usage_error(
				    VERB, "--mode '%s' is not transition or harden", optarg);
			break;
		case O_CERT_DIR:
			o.cert_dir = optarg;
			break;
		case O_SERVER_CERT_DIR:
			o.server_cert_dir = optarg;
			break;
		case O_SERVER_ROOT:
			o.server_root = optarg;
			break;
		case O_ADD_INCLUDE:
			o.add_include_dir = true;
			break;
		case O_EXPORT:
			o.export_ca = optarg;
			break;
		case O_PGDATA:
			o.pgdata = optarg;
			break;
		case O_CONTAINER:
			o.container = optarg;
			break;
		case O_HBA:
			o.hba_path = optarg;
			break;
		case O_PGCONF:
			o.postgresql_conf = optarg;
			break;
		case O_CONF_DIR:
			o.conf_dir = optarg;
			break;
		case O_DB_UID:
		case O_DB_GID:
			if (czpg_parse_uint(optarg, 0, 0x7fffffffUL, &v) < 0)
				return czpg_cli_usage_error(VERB, "--%s '%s' is not a numeric id",
							    ch == O_DB_UID ? "db-uid" : "db-gid",
							    optarg);
			if (ch == O_DB_UID)
				o.db_uid = (long)v;
			else
				o.db_gid = (long)v;
			break;
		case O_PG_BIN:
			o.pg_bin = optarg;
			break;
		case O_SOCKET_DIR:
			o.socket_dir = optarg;
			break;
		case O_ADMIN:
			o.admin_user = optarg;
			break;
		case O_VHOST:
			o.verify_host = optarg;
			break;
		case O_VPORT:
			if (czpg_parse_uint(optarg, 1, 65535, &v) < 0)
				return czpg_cli_usage_error(
				    VERB, "--verify-port '%s' is not a port (1-65535)", optarg);
			o.verify_port = (unsigned)v;
			break;
		case O_VUSER:
			o.verify_user = optarg;
			break;
		case O_VDB:
			o.verify_dbname = optarg;
			break;
		case O_PASSWORD:
			password_flag = optarg;
			break;
		case O_SKIP_VERIFY:
			o.skip_verify = true;
			break;
		case O_TIMEOUT:
			if (czpg_parse_uint(optarg, 1, 3600, &v) < 0)
				return czpg_cli_usage_error(
				    VERB, "--timeout '%s' is not a number of seconds (1-3600)",
				    optarg);
			o.timeout_ms = (unsigned)v * 1000u;
			break;
		case O_APPLY:
			o.apply = true;
			break;
		case O_FORCE:
			o.force = true;
			break;
		case O_ROTATE:
			o.rotate_leaf = true;
			break;
		case O_TLS12:
			o.allow_tls12_fallback = true;
			break;
		case O_JSON:
			json = true;
			break;
		case O_HELP:
			provision_usage(stdout);
			return CZPG_EXIT_OK;
		default:
			return czpg_cli_usage_error(
			    VERB, "unknown or incomplete flag '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return czpg_cli_usage_error(VERB, "unexpected argument '%s'", argv[optind]);

	/*
	 * Self-verify's password is asked for before the plan: with --apply the
	 * plan already takes the lock and may finish an interrupted run.
	 */
	if (o.apply && !o.skip_verify && o.n_roles > 0) {
		const char *user = o.verify_user != NULL ? o.verify_user : roles[0];

		password = czpg_cli_password(password_flag, "CZ_PG_VERIFY_PASSWORD", user);
		password_flag = NULL;
		if (password == NULL) {
			rc = czpg_cli_usage_error(
			    VERB,
			    "self-verify needs the password of '%s': pass --password, set "
			    "CZ_PG_VERIFY_PASSWORD, or run on a terminal (or --skip-verify); "
			    "nothing was written",
			    user);
			goto out;
		}
	}
	/* An apply is a transaction: a Ctrl-C or a TERM finishes or rolls it back, never cuts it.
	 */
	if (o.apply)
		czpg_provision_catch_signals();
	result = czpg_provision_plan(&o, &plan, err, sizeof(err));
	rc = czpg_cli_exit_code(result);
	if (result == CZPG_RESULT_BAD_INPUT) {
		czpg_cli_usage_error(VERB, "%s", err);
		goto out;
	}
	if (result != CZPG_RESULT_OK) {
		fprintf(stderr, "czctl postgres tls " VERB ": %s\n", err);
		goto out;
	}
	if (!o.apply) {
		if (json)
			czpg_provision_print_json(czpg_provision_plan_record(plan), stdout);
		else
			czpg_provision_print_plan(czpg_provision_plan_record(plan), stdout);
		rc = CZPG_EXIT_OK;
		goto out;
	}
	if (password != NULL)
		czpg_provision_set_password(plan, password);
	czpg_provision_apply(plan, json ? NULL : stdout);
	rc = czpg_provision_report_exit_code(czpg_provision_plan_record(plan));
	if (json)
		czpg_provision_print_json(czpg_provision_plan_record(plan), stdout);
out:
	if (password_flag != NULL)
		OPENSSL_cleanse(password_flag, strlen(password_flag));
	czpg_provision_plan_free(plan);
	czpg_cli_password_free(password);
	return rc;
}
