/*
 * test_cli.c - unit tests for the command-line layer (src/cli): the
 * connection flags verify, probe and bench share (connflags.h), run through
 * getopt_long as the verbs run them, and the top-level dispatch's exit codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "cli.h"
#include "connflags.h"

/*
 * Every field a verb can bind, named as in the verbs' options structs, with
 * the defaults a verb would start from.
 */
struct fields {
	const char *host, *user, *dbname, *ca_file;
	char *password;
	unsigned port;
	enum czpg_cb_policy channel_binding;
	int min_tls;
	unsigned timeout_ms;
	enum czpg_conn_opening sslnegotiation;
};

static void fields_init(struct fields *f)
{
	memset(f, 0, sizeof(*f));
	f->port = 5432;
	f->channel_binding = CZPG_CB_PREFER;
	f->min_tls = TLS1_3_VERSION;
	f->timeout_ms = 10000;
}

/* verify's and bench's binding: all ten flags. */
static struct czpg_connflags bind_all(struct fields *f)
{
	struct czpg_connflags cf = CZPG_CONNFLAGS_ALL(*f, f->password);

	return cf;
}

/* probe's binding: host, port, user, ca. */
static struct czpg_connflags bind_probe(struct fields *f)
{
	struct czpg_connflags cf = {
	    .host = &f->host, .port = &f->port, .user = &f->user, .ca_file = &f->ca_file};

	return cf;
}

#define OWN_JSON 'j'

static const struct option own[] = {
    {"json", no_argument, NULL, OWN_JSON},
    {"target-timeout", required_argument, NULL, 't'},
    {NULL, 0, NULL, 0},
};

/*
 * Runs argv (NULL-terminated, argv[0] the verb) through getopt_long as a
 * verb does.  Returns 0 when every flag was taken, the verb's own code
 * count in *own_seen; -1 on a bad value (sentence in err); '?' for a flag
 * getopt_long does not know.
 */
static int run(const struct czpg_connflags *cf, char **argv, int *own_seen, char *err,
	       size_t errlen)
{
	struct option longopts[sizeof(own) / sizeof(own[0]) + CZPG_CONNFLAGS_COUNT];
	int argc = 0, ch, taken;

	while (argv[argc] != NULL)
		argc++;
	assert_int_equal(
	    czpg_connflags_options(cf, own, longopts, sizeof(longopts) / sizeof(longopts[0])), 0);
	*own_seen = 0;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		taken = czpg_connflags_take(cf, ch, optarg, err, errlen);
		if (taken < 0)
			return -1;
		if (taken == 0)
			continue;
		if (ch == OWN_JSON || ch == 't') {
			(*own_seen)++;
			continue;
		}
		return '?';
	}
	return 0;
}

static void test_table_lists_own_then_bound_flags(void **state)
{
	struct fields f;
	struct czpg_connflags cf;
	struct option t[16];
	size_t n;

	(void)state;
	fields_init(&f);
	cf = bind_probe(&f);
	assert_int_equal(czpg_connflags_options(&cf, own, t, 16), 0);
	for (n = 0; t[n].name != NULL; n++)
		;
	assert_int_equal(n, 2 + 4);
	assert_string_equal(t[0].name, "json");
	assert_string_equal(t[1].name, "target-timeout");
	assert_string_equal(t[2].name, "host");
	assert_string_equal(t[3].name, "port");
	assert_string_equal(t[4].name, "user");
	assert_string_equal(t[5].name, "ca");
	assert_int_equal(t[2].has_arg, required_argument);
	assert_int_equal(t[6].val, 0);
	/* Exactly own + terminator + all ten fit; one entry fewer does not. */
	cf = bind_all(&f);
	assert_int_equal(czpg_connflags_options(&cf, own, t, 3 + CZPG_CONNFLAGS_COUNT), 0);
	assert_null(t[2 + CZPG_CONNFLAGS_COUNT].name);
	assert_int_equal(czpg_connflags_options(&cf, own, t, 2 + CZPG_CONNFLAGS_COUNT), -1);
	/* No own flags at all. */
	assert_int_equal(czpg_connflags_options(&cf, NULL, t, 16), 0);
	assert_string_equal(t[0].name, "host");
}

static void test_every_flag_stored(void **state)
{
	char a0[] = "verify", a1[] = "--host", a2[] = "db.example", a3[] = "--port=6543",
	     a4[] = "--user", a5[] = "app", a6[] = "--dbname", a7[] = "appdb", a8[] = "--ca",
	     a9[] = "ca.crt", a10[] = "--password", a11[] = "s3cret", a12[] = "--channel-binding",
	     a13[] = "require", a14[] = "--min-tls", a15[] = "1.2", a16[] = "--timeout",
	     a17[] = "3600", a18[] = "--json", a19[] = "--sslnegotiation", a20[] = "direct";
	char *argv[] = {a0,  a1,  a2,  a3,  a4,  a5,  a6,  a7,  a8,  a9,  a10,
			a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, NULL};
	struct fields f;
	struct czpg_connflags cf;
	char err[256];
	int seen;

	(void)state;
	fields_init(&f);
	cf = bind_all(&f);
	assert_int_equal(run(&cf, argv, &seen, err, sizeof(err)), 0);
	assert_int_equal(seen, 1);
	assert_string_equal(f.host, "db.example");
	assert_int_equal(f.port, 6543);
	assert_string_equal(f.user, "app");
	assert_string_equal(f.dbname, "appdb");
	assert_string_equal(f.ca_file, "ca.crt");
	/* The argv string itself, so that czpg_cli_password can wipe it. */
	assert_ptr_equal(f.password, a11);
	assert_int_equal(f.channel_binding, CZPG_CB_REQUIRE);
	assert_int_equal(f.min_tls, TLS1_2_VERSION);
	assert_int_equal(f.timeout_ms, 3600000u);
	assert_int_equal(f.sslnegotiation, CZPG_OPEN_DIRECT_TLS);
}

static void test_defaults_kept_when_not_given(void **state)
{
	char a0[] = "verify", a1[] = "--host", a2[] = "h";
	char *argv[] = {a0, a1, a2, NULL};
	struct fields f;
	struct czpg_connflags cf;
	char err[256];
	int seen;

	(void)state;
	fields_init(&f);
	f.timeout_ms = 1234; /* a verb's own default */
	cf = bind_all(&f);
	assert_int_equal(run(&cf, argv, &seen, err, sizeof(err)), 0);
	assert_int_equal(f.port, 5432);
	assert_int_equal(f.channel_binding, CZPG_CB_PREFER);
	assert_int_equal(f.min_tls, TLS1_3_VERSION);
	assert_int_equal(f.timeout_ms, 1234);
	assert_int_equal(f.sslnegotiation, CZPG_OPEN_DEFAULT);
	assert_null(f.user);
	assert_null(f.password);
}

/* One bad value: the exact sentence the verb prints, and nothing stored. */
static void expect_bad(const char *flag, const char *value, const char *sentence)
{
	struct fields f;
	struct czpg_connflags cf;
	char err[256] = "";
	int ch;

	fields_init(&f);
	cf = bind_all(&f);
	if (strcmp(flag, "--port") == 0)
		ch = CZPG_CONNFLAG_PORT;
	else if (strcmp(flag, "--timeout") == 0)
		ch = CZPG_CONNFLAG_TIMEOUT;
	else if (strcmp(flag, "--min-tls") == 0)
		ch = CZPG_CONNFLAG_MIN_TLS;
	else if (strcmp(flag, "--sslnegotiation") == 0)
		ch = CZPG_CONNFLAG_SSLNEGOTIATION;
	else
		ch = CZPG_CONNFLAG_CHANNEL_BINDING;
	assert_int_equal(czpg_connflags_take(&cf, ch, (char *)value, err, sizeof(err)), -1);
	assert_string_equal(err, sentence);
	assert_int_equal(f.port, 5432);
	assert_int_equal(f.timeout_ms, 10000);
	assert_int_equal(f.min_tls, TLS1_3_VERSION);
	assert_int_equal(f.channel_binding, CZPG_CB_PREFER);
	assert_int_equal(f.sslnegotiation, CZPG_OPEN_DEFAULT);
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_bad("--port", "0", "--port '0' is not a port (1-65535)");
	expect_bad("--port", "65536", "--port '65536' is not a port (1-65535)");
	expect_bad("--port", "-1", "--port '-1' is not a port (1-65535)");
	expect_bad("--port", "54x", "--port '54x' is not a port (1-65535)");
	expect_bad("--port", "", "--port '' is not a port (1-65535)");
	expect_bad("--port", " 5432", "--port ' 5432' is not a port (1-65535)");
	expect_bad("--timeout", "0", "--timeout '0' is not a number of seconds (1-3600)");
	expect_bad("--timeout", "3601", "--timeout '3601' is not a number of seconds (1-3600)");
	expect_bad("--timeout", "1.5", "--timeout '1.5' is not a number of seconds (1-3600)");
	expect_bad("--min-tls", "1.1", "--min-tls '1.1' is not 1.2 or 1.3");
	expect_bad("--min-tls", "TLSv1.3", "--min-tls 'TLSv1.3' is not 1.2 or 1.3");
	expect_bad("--channel-binding", "Require",
		   "--channel-binding 'Require' is not one of disable, prefer, require");
	expect_bad("--channel-binding", "",
		   "--channel-binding '' is not one of disable, prefer, require");
	/* libpq's values only: not "require", not "Direct". */
	expect_bad("--sslnegotiation", "require",
		   "--sslnegotiation 'require' is not postgres or direct");
	expect_bad("--sslnegotiation", "Direct",
		   "--sslnegotiation 'Direct' is not postgres or direct");
}

static void test_bounds_accepted(void **state)
{
	struct fields f;
	struct czpg_connflags cf;
	char err[64];

	(void)state;
	fields_init(&f);
	cf = bind_all(&f);
	assert_int_equal(czpg_connflags_take(&cf, CZPG_CONNFLAG_PORT, "1", err, sizeof(err)), 0);
	assert_int_equal(f.port, 1);
	assert_int_equal(czpg_connflags_take(&cf, CZPG_CONNFLAG_PORT, "65535", err, sizeof(err)),
			 0);
	assert_int_equal(f.port, 65535);
	assert_int_equal(czpg_connflags_take(&cf, CZPG_CONNFLAG_TIMEOUT, "1", err, sizeof(err)), 0);
	assert_int_equal(f.timeout_ms, 1000);
	assert_int_equal(
	    czpg_connflags_take(&cf, CZPG_CONNFLAG_CHANNEL_BINDING, "disable", err, sizeof(err)),
	    0);
	assert_int_equal(f.channel_binding, CZPG_CB_DISABLE);
	assert_int_equal(
	    czpg_connflags_take(&cf, CZPG_CONNFLAG_CHANNEL_BINDING, "prefer", err, sizeof(err)), 0);
	assert_int_equal(f.channel_binding, CZPG_CB_PREFER);
	assert_int_equal(czpg_connflags_take(&cf, CZPG_CONNFLAG_MIN_TLS, "1.3", err, sizeof(err)),
			 0);
	assert_int_equal(f.min_tls, TLS1_3_VERSION);
	assert_int_equal(
	    czpg_connflags_take(&cf, CZPG_CONNFLAG_SSLNEGOTIATION, "direct", err, sizeof(err)), 0);
	assert_int_equal(f.sslnegotiation, CZPG_OPEN_DIRECT_TLS);
	assert_int_equal(
	    czpg_connflags_take(&cf, CZPG_CONNFLAG_SSLNEGOTIATION, "postgres", err, sizeof(err)),
	    0);
	assert_int_equal(f.sslnegotiation, CZPG_OPEN_DEFAULT);
	/* A code that is not a shared flag belongs to the verb. */
	assert_int_equal(czpg_connflags_take(&cf, 'j', NULL, err, sizeof(err)), 1);
	assert_int_equal(czpg_connflags_take(&cf, '?', NULL, err, sizeof(err)), 1);
}

/* probe binds four flags: the other six are unknown to it, as before. */
static void test_unbound_flags_are_unknown(void **state)
{
	static const char *const others[] = {"--dbname",  "--password", "--channel-binding",
					     "--min-tls", "--timeout",  "--sslnegotiation"};
	struct fields f;
	struct czpg_connflags cf;
	char err[64], a0[] = "probe", a2[] = "x", a1[32];
	char *argv[] = {a0, a1, a2, NULL};
	size_t i;
	int seen;

	(void)state;
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		fields_init(&f);
		cf = bind_probe(&f);
		snprintf(a1, sizeof(a1), "%s", others[i]);
		argv[1] = a1;
		argv[2] = a2;
		assert_int_equal(run(&cf, argv, &seen, err, sizeof(err)), '?');
	}
	/* The flags probe does take work next to its own. */
	{
		char b0[] = "probe", b1[] = "--port", b2[] = "6000", b3[] = "--target-timeout",
		     b4[] = "5", b5[] = "--ca", b6[] = "x.crt";
		char *bv[] = {b0, b1, b2, b3, b4, b5, b6, NULL};

		fields_init(&f);
		cf = bind_probe(&f);
		assert_int_equal(run(&cf, bv, &seen, err, sizeof(err)), 0);
		assert_int_equal(seen, 1);
		assert_int_equal(f.port, 6000);
		assert_string_equal(f.ca_file, "x.crt");
	}
	/* Taking a code probe does not bind is the verb's business too. */
	fields_init(&f);
	cf = bind_probe(&f);
	assert_int_equal(czpg_connflags_take(&cf, CZPG_CONNFLAG_TIMEOUT, "5", err, sizeof(err)), 1);
	assert_int_equal(f.timeout_ms, 10000);
}

static void test_check_required_in_order(void **state)
{
	const unsigned all =
	    CZPG_CONNFLAGS_NEED_HOST | CZPG_CONNFLAGS_NEED_USER | CZPG_CONNFLAGS_NEED_CA;
	const char *dir = getenv("CZ_BUILD_DIR"); /* set by ctest; else here */
	char path[4096];
	struct fields f;
	struct czpg_connflags cf;
	char err[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/czpg-test-cli-XXXXXX",
		 dir != NULL && dir[0] != '\0' ? dir : ".");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);

	fields_init(&f);
	cf = bind_all(&f);
	assert_int_equal(czpg_connflags_check(&cf, all, "verify-full needs it", err, sizeof(err)),
			 -1);
	assert_string_equal(err, "--host is required");
	f.host = ""; /* given but empty counts as missing */
	assert_int_equal(czpg_connflags_check(&cf, all, "why", err, sizeof(err)), -1);
	assert_string_equal(err, "--host is required");
	f.host = "h";
	assert_int_equal(czpg_connflags_check(&cf, all, "why", err, sizeof(err)), -1);
	assert_string_equal(err, "--user is required");
	f.user = "";
	assert_int_equal(czpg_connflags_check(&cf, all, "why", err, sizeof(err)), -1);
	assert_string_equal(err, "--user is required");
	f.user = "u";
	assert_int_equal(czpg_connflags_check(&cf, all,
					      "verify-full needs the CA that signed the server "
					      "certificate",
					      err, sizeof(err)),
			 -1);
	assert_string_equal(err, "--ca is required: verify-full needs the CA that signed the "
				 "server certificate");
	assert_int_equal(czpg_connflags_check(&cf, all, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "--ca is required");
	f.ca_file = "/nonexistent/czpg/ca.crt";
	assert_int_equal(czpg_connflags_check(&cf, all, "why", err, sizeof(err)), -1);
	assert_string_equal(err, "--ca '/nonexistent/czpg/ca.crt' is not a readable file");
	f.ca_file = path;
	assert_int_equal(czpg_connflags_check(&cf, all, "why", err, sizeof(err)), 0);

	/* Nothing required (probe): only a given --ca is checked. */
	fields_init(&f);
	cf = bind_probe(&f);
	assert_int_equal(czpg_connflags_check(&cf, 0, NULL, err, sizeof(err)), 0);
	f.ca_file = "";
	assert_int_equal(czpg_connflags_check(&cf, 0, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "--ca '' is not a readable file");
	unlink(path);
}

/* A value longer than the sentence buffer is marked as cut, never silently. */
static void test_long_value_marked_cut(void **state)
{
	struct fields f;
	struct czpg_connflags cf;
	char err[40], big[200];

	(void)state;
	memset(big, '9', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fields_init(&f);
	cf = bind_all(&f);
	assert_int_equal(czpg_connflags_take(&cf, CZPG_CONNFLAG_PORT, big, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_string_equal(err + sizeof(err) - 4, "...");
	/* The verbs' buffer holds a path of PATH_MAX bytes whole. */
	assert_true(CZPG_CONNFLAGS_ERR_MAX > PATH_MAX + sizeof("--ca '' is not a readable file"));
}

/* probe's binding of --port: one port, or a list matched to the --host list. */
struct port_list {
	struct fields f;
	unsigned ports[CZPG_ENGINE_MAX_HOSTS];
	size_t nports;
	struct czpg_connflags cf;
};

static void port_list_init(struct port_list *p)
{
	memset(p, 0, sizeof(*p));
	fields_init(&p->f);
	p->cf = bind_probe(&p->f);
	p->cf.ports = p->ports;
	p->cf.nports = &p->nports;
}

/* A bad --port list: its sentence, and nothing stored. */
static void expect_bad_ports(const char *value, const char *sentence)
{
	struct port_list p;
	char err[256] = "";

	port_list_init(&p);
	assert_int_equal(
	    czpg_connflags_take(&p.cf, CZPG_CONNFLAG_PORT, (char *)value, err, sizeof(err)), -1);
	assert_string_equal(err, sentence);
	assert_int_equal(p.nports, 0);
	assert_int_equal(p.f.port, 5432);
}

static void test_port_list(void **state)
{
	struct port_list p;
	char err[256], one[] = "5433", two[] = "5433,5434", nine[] = "1,2,3,4,5,6,7,8";

	(void)state;
	/* Not given: the verb's default for every name. */
	port_list_init(&p);
	p.f.host = "a,b";
	assert_int_equal(czpg_connflags_check(&p.cf, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(czpg_connflags_port_of(&p.cf, 0), 5432);
	assert_int_equal(czpg_connflags_port_of(&p.cf, 1), 5432);

	/* One port: for every name of the list. */
	assert_int_equal(czpg_connflags_take(&p.cf, CZPG_CONNFLAG_PORT, one, err, sizeof(err)), 0);
	assert_int_equal(p.nports, 1);
	assert_int_equal(p.f.port, 5433);
	assert_int_equal(czpg_connflags_check(&p.cf, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(czpg_connflags_port_of(&p.cf, 0), 5433);
	assert_int_equal(czpg_connflags_port_of(&p.cf, 1), 5433);

	/* One per name, in order. */
	assert_int_equal(czpg_connflags_take(&p.cf, CZPG_CONNFLAG_PORT, two, err, sizeof(err)), 0);
	assert_int_equal(p.nports, 2);
	assert_int_equal(p.f.port, 5433);
	assert_int_equal(czpg_connflags_check(&p.cf, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(czpg_connflags_port_of(&p.cf, 0), 5433);
	assert_int_equal(czpg_connflags_port_of(&p.cf, 1), 5434);

	/* The counts must match, as libpq matches port= to host=. */
	p.f.host = "a";
	assert_int_equal(czpg_connflags_check(&p.cf, 0, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "--port has 2 ports for the 1 name(s) of --host: give one port "
				 "for all, or one per name");
	p.f.host = "a,b,c";
	assert_int_equal(czpg_connflags_check(&p.cf, 0, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "--port has 2 ports for the 3 name(s) of --host: give one port "
				 "for all, or one per name");
	p.f.host = NULL;
	assert_int_equal(czpg_connflags_check(&p.cf, 0, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "a --port list needs a --host list of as many names");

	/* As many ports as a host list may have names. */
	port_list_init(&p);
	assert_int_equal(czpg_connflags_take(&p.cf, CZPG_CONNFLAG_PORT, nine, err, sizeof(err)), 0);
	assert_int_equal(p.nports, CZPG_ENGINE_MAX_HOSTS);
	assert_int_equal(p.ports[CZPG_ENGINE_MAX_HOSTS - 1], 8);

	expect_bad_ports("x", "--port 'x' is not a port (1-65535)");
	expect_bad_ports("5432,,5433", "--port '5432,,5433': the port list has an empty port");
	expect_bad_ports("5432,", "--port '5432,': the port list has an empty port");
	expect_bad_ports(",5432", "--port ',5432': the port list has an empty port");
	expect_bad_ports("5432,x", "--port '5432,x': 'x' is not a port (1-65535)");
	expect_bad_ports("5432,65536", "--port '5432,65536': '65536' is not a port (1-65535)");
	expect_bad_ports("5432,00000000000000005433",
			 "--port '5432,00000000000000005433': '00000000000000005433' is not a port "
			 "(1-65535)");
	expect_bad_ports("1,2,3,4,5,6,7,8,9",
			 "--port '1,2,3,4,5,6,7,8,9': the port list has more than 8 ports");
	/* A verb that binds no list keeps --port one port. */
	expect_bad("--port", "5432,5433", "--port '5432,5433' is not a port (1-65535)");
}

static void test_dispatch_exit_codes(void **state)
{
	char a0[] = "czctl", a1[] = "postgres", a2[] = "tls", a3[] = "nosuchverb",
	     v[] = "--version";
	char *unknown[] = {a0, a1, a2, a3, NULL};
	char *version[] = {a0, v, NULL};
	char *bare[] = {a0, NULL};

	(void)state;
	assert_int_equal(czpg_cli_main(4, unknown), CZPG_EXIT_USAGE);
	assert_int_equal(czpg_cli_main(2, version), CZPG_EXIT_OK);
	assert_int_equal(czpg_cli_main(1, bare), CZPG_EXIT_USAGE);
	/* docs/exit-codes.md: the same numbers for every verb. */
	assert_int_equal(czpg_cli_exit_code(CZPG_RESULT_OK), 0);
	assert_int_equal(czpg_cli_exit_code(CZPG_RESULT_FAIL), 1);
	assert_int_equal(czpg_cli_exit_code(CZPG_RESULT_BAD_INPUT), 2);
	assert_int_equal(czpg_cli_exit_code(CZPG_RESULT_ERROR), 3);
	assert_int_equal(czpg_cli_exit_code(CZPG_RESULT_INCONCLUSIVE), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_lists_own_then_bound_flags),
	    cmocka_unit_test(test_every_flag_stored),
	    cmocka_unit_test(test_defaults_kept_when_not_given),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_bounds_accepted),
	    cmocka_unit_test(test_unbound_flags_are_unknown),
	    cmocka_unit_test(test_check_required_in_order),
	    cmocka_unit_test(test_long_value_marked_cut),
	    cmocka_unit_test(test_port_list),
	    cmocka_unit_test(test_dispatch_exit_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
