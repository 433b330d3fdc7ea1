/*
 * test_pgconf.c - cz-tls.conf rendering, postgresql.conf value parsing, path
 * normalisation and the include_dir / override check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "czpg/pgconf.h"

#include <stdlib.h>
#include <string.h>

static const struct czpg_pgconf_tls tls_ok = {"/etc/cz-tls/server.crt", "/etc/cz-tls/server.key",
					      "/etc/cz-tls/ca.crt", false, 0};

/* Value of the one setting named name in text (asserts there is exactly one). */
static char *setting(const char *text, const char *name)
{
	struct czpg_pgconf_setting *s = NULL;
	size_t n = 0, i, hits = 0;
	char err[256], *v = NULL;

	if (czpg_pgconf_parse(text, strlen(text), &s, &n, err, sizeof(err)) < 0)
		fail_msg("parse failed: %s", err);
	for (i = 0; i < n; i++) {
		if (strcmp(s[i].name, name) == 0) {
			hits++;
			free(v);
			v = strdup(s[i].value);
		}
	}
	czpg_pgconf_settings_free(s, n);
	assert_int_equal(hits, 1);
	return v;
}

static void expect_setting(const char *text, const char *name, const char *want)
{
	char *v = setting(text, name);

	assert_string_equal(v, want);
	free(v);
}

static void test_render_defaults(void **state)
{
	char *out = NULL, err[256];
	size_t n = 0;

	(void)state;
	assert_int_equal(czpg_pgconf_render_tls(&tls_ok, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, strlen(out));
	assert_true(strncmp(out, "# ", 2) == 0);
	assert_non_null(strstr(out, "managed by czctl"));
	assert_non_null(strstr(out, "overwrites"));
	assert_non_null(strstr(out, "only affects TLS 1.2"));
	/* read back through the parser: the values are what we asked for */
	expect_setting(out, "ssl", "on");
	expect_setting(out, "ssl_cert_file", "/etc/cz-tls/server.crt");
	expect_setting(out, "ssl_key_file", "/etc/cz-tls/server.key");
	expect_setting(out, "ssl_ca_file", "/etc/cz-tls/ca.crt");
	expect_setting(out, "ssl_min_protocol_version", "TLSv1.3");
	expect_setting(out, "ssl_ciphers",
		       "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-"
		       "SHA384:ECDHE-ECDSA-CHACHA20-POLY1305");
	expect_setting(out, "ssl_prefer_server_ciphers", "on");
	expect_setting(out, "ssl_ecdh_curve", "prime256v1");
	assert_non_null(strstr(out, "\nssl_ecdh_curve = 'prime256v1'\n"));
	assert_int_equal(out[n - 1], '\n');
	free(out);
}

static void test_render_fallback_and_quoting(void **state)
{
	struct czpg_pgconf_tls t = {"/etc/o'brien/cert.pem", "C:\\keys\\k.pem", "/ca.pem", true, 0};
	char *out = NULL, err[256];

	(void)state;
	assert_int_equal(czpg_pgconf_render_tls(&t, &out, NULL, err, sizeof(err)), 0);
	expect_setting(out, "ssl_min_protocol_version", "TLSv1.2");
	assert_non_null(strstr(out, "ssl_cert_file = '/etc/o''brien/cert.pem'\n"));
	assert_non_null(strstr(out, "ssl_key_file = 'C:\\\\keys\\\\k.pem'\n"));
	/* and the PostgreSQL-style reading gives the original path back */
	expect_setting(out, "ssl_cert_file", "/etc/o'brien/cert.pem");
	expect_setting(out, "ssl_key_file", "C:\\keys\\k.pem");
	free(out);
}

static void test_render_refuses_bad_paths(void **state)
{
	const char *bad[] = {"/etc/a\nssl = off", "/etc/a\rb", "/etc/\tx", "", NULL};
	char *out = (char *)1, err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct czpg_pgconf_tls t = tls_ok;

		t.key_file = bad[i];
		err[0] = '\0';
		assert_int_equal(czpg_pgconf_render_tls(&t, &out, NULL, err, sizeof(err)), -1);
		assert_null(out);
		assert_non_null(strstr(err, "ssl_key_file"));
	}
	assert_int_equal(czpg_pgconf_render_tls(NULL, &out, NULL, err, sizeof(err)), -1);
}

static void test_parse_forms(void **state)
{
	const char *text = "# comment\n"
			   "  \n"
			   "Shared_Buffers = 128MB   # trailing comment\n"
			   "port 5433\n"
			   "listen_addresses='*'\n"
			   "ssl_ciphers = 'a''b\\'c#d'\n"
			   "escaped = 'x\\ty\\101'\n"
			   "plugin.opt = -1.5\r\n"
			   "empty = ''";
	struct czpg_pgconf_setting *s = NULL;
	size_t n = 0;
	char err[256];

	(void)state;
	assert_int_equal(czpg_pgconf_parse(text, strlen(text), &s, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 7);
	assert_string_equal(s[0].name, "shared_buffers");
	assert_string_equal(s[0].value, "128MB");
	assert_int_equal(s[0].line, 3);
	assert_string_equal(s[1].name, "port");
	assert_string_equal(s[1].value, "5433");
	assert_string_equal(s[2].value, "*");
	assert_string_equal(s[3].value, "a'b'c#d");
	assert_string_equal(s[4].value, "x\tyA");
	assert_string_equal(s[5].name, "plugin.opt");
	assert_string_equal(s[5].value, "-1.5");
	assert_string_equal(s[6].value, "");
	assert_int_equal(s[6].line, 9);
	czpg_pgconf_settings_free(s, n);
}

static void test_parse_errors(void **state)
{
	const char *bad[] = {"a = 'unterminated\n", "= 5\n", "name\n", "a = b c\n", "a = 'x' y\n"};
	const char *line[] = {"line 1", "line 1", "line 1", "line 1", "line 1"};
	struct czpg_pgconf_setting *s = NULL;
	size_t n = 0, i;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    czpg_pgconf_parse(bad[i], strlen(bad[i]), &s, &n, err, sizeof(err)), -1);
		assert_null(s);
		assert_non_null(strstr(err, line[i]));
	}
	assert_int_equal(czpg_pgconf_parse("ok = 1\nx = 'a\0b'\n", 17, &s, &n, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "line 2"));
	assert_int_equal(
	    czpg_pgconf_parse("x", CZPG_PGCONF_MAX_BYTES + 1, &s, &n, err, sizeof(err)), -1);
}

static void test_normalize(void **state)
{
	struct {
		const char *in, *want;
	} c[] = {
	    {"/etc//postgresql/./15/main/", "/etc/postgresql/15/main"},
	    {"/etc/postgresql/15/main/../main/conf.d", "/etc/postgresql/15/main/conf.d"},
	    {"/..", "/"},
	    {"/a/../../b", "/b"},
	    {"/", "/"},
	    {"a/./b/..", "a"},
	    {"a/..", "."},
	    {"../x/./y", "../x/y"},
	    {"../../", "../.."},
	    {"conf.d", "conf.d"},
	};
	size_t i;
	char *o;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		assert_int_equal(czpg_pgconf_normalize_path(c[i].in, &o), 0);
		assert_string_equal(o, c[i].want);
		free(o);
	}
	assert_int_equal(czpg_pgconf_normalize_path("", &o), -1);
	assert_null(o);
}

static void test_include_found_forms(void **state)
{
	const char *dir = "/etc/postgresql/15/main";
	const char *confd = "/etc/postgresql/15/main/conf.d";
	const char *texts[] = {
	    "include_dir = 'conf.d'\n",
	    "include_dir 'conf.d'\n",
	    "INCLUDE_DIR='conf.d' # ours\n",
	    "include_dir = './conf.d/'\n",
	    "include_dir = '/etc/postgresql/15/main/conf.d'\n",
	    "include_dir = '/etc//postgresql/15/x/../main/conf.d'\n",
	    "\tinclude_dir\t=\t'conf.d'\n",
	};
	size_t i;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct czpg_pgconf_check c;

		assert_int_equal(czpg_pgconf_check_include(texts[i], strlen(texts[i]), dir, confd,
							   NULL, &c, err, sizeof(err)),
				 0);
		if (!c.included)
			fail_msg("not found in: %s", texts[i]);
		assert_int_equal(c.include_line, 1);
		assert_null(c.line_to_add);
		czpg_pgconf_check_free(&c);
	}
}

static void test_include_missing(void **state)
{
	const char *texts[] = {
	    "",
	    "#include_dir = 'conf.d'\n",
	    "include_dir = 'conf.d.old'\n",
	    "include_dir = '../conf.d'\n",
	    "include = 'conf.d'\n",
	    "ssl = on\n",
	};
	struct czpg_pgconf_check c;
	size_t i;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(czpg_pgconf_check_include(texts[i], strlen(texts[i]),
							   "/etc/pg/main/", "/etc/pg/main/conf.d",
							   NULL, &c, err, sizeof(err)),
				 0);
		assert_false(c.included);
		assert_int_equal(c.include_line, 0);
		assert_string_equal(c.line_to_add, "include_dir = 'conf.d'");
		assert_int_equal(c.n_overrides, 0);
		czpg_pgconf_check_free(&c);
	}
	/* conf.d outside the conf directory: an absolute line */
	assert_int_equal(czpg_pgconf_check_include("", 0, "/var/lib/pg/data", "/etc/cz/conf.d",
						   NULL, &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.line_to_add, "include_dir = '/etc/cz/conf.d'");
	czpg_pgconf_check_free(&c);
	/* a sibling whose name merely starts the same is not "under" */
	assert_int_equal(czpg_pgconf_check_include("", 0, "/etc/pg", "/etc/pg2/conf.d", NULL, &c,
						   err, sizeof(err)),
			 0);
	assert_string_equal(c.line_to_add, "include_dir = '/etc/pg2/conf.d'");
	czpg_pgconf_check_free(&c);
	/* syntax errors are reported, not guessed around */
	assert_int_equal(czpg_pgconf_check_include("include_dir = 'x\n", 17, "/a", "/a/conf.d",
						   NULL, &c, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "line 1"));
	czpg_pgconf_check_free(&c);
}

/*
 * Lines PostgreSQL itself refuses (checked against a real server: "syntax
 * error in file ... near token", then "configuration file contains
 * errors" and no restart) are errors here too, quoting the line, never
 * "included".
 */
static void test_include_malformed_forms(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"include_dir = conf.d\n",
	     "syntax error at line 1 near \"conf.d\": `include_dir = conf.d`; PostgreSQL refuses "
	     "this file; quote the value: include_dir = 'conf.d'"},
	    {"port = 5432\ninclude_dir conf.d # ours\n",
	     "at line 2 near \"conf.d\": `include_dir conf.d # ours`"},
	    {"include_dir = /etc/pg/main/conf.d\n", "quote the value: include_dir = "
						    "'/etc/pg/main/conf.d'"},
	    {"include = tail.conf\n", "quote the value: include = 'tail.conf'"},
	    {"include_if_exists = local.conf\n", "include_if_exists = 'local.conf'"},
	    {"include_dir = ''\n", "line 1: include_dir with an empty name"},
	    {"include_if_exists ''\n", "empty configuration file name"},
	    {"include_dir\n", "near the end of the line: `include_dir`; no value given"},
	    {"include_dir = 'conf.d' 'x'\n", "one value per line"},
	    {"include_dir = 'conf.d\n", "near \"'\": `include_dir = 'conf.d`"},
	    {"include_dir == 'conf.d'\n", "near \"=\""},
	    {"'include_dir' = 'conf.d'\n", "a line must start with a parameter name"},
	};
	struct czpg_pgconf_check c;
	size_t i;
	char err[512];

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(czpg_pgconf_check_include(bad[i].text, strlen(bad[i].text),
							   "/etc/pg/main", "/etc/pg/main/conf.d",
							   NULL, &c, err, sizeof(err)),
				 -1);
		if (strstr(err, bad[i].want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].text, err, bad[i].want);
		czpg_pgconf_check_free(&c);
	}
	/* Bare values PostgreSQL accepts: an identifier, an unquoted string with a slash. */
	assert_int_equal(czpg_pgconf_check_include("include_dir = conf/d\n", 21, "/etc/pg",
						   "/etc/pg/conf/d", NULL, &c, err, sizeof(err)),
			 0);
	assert_true(c.included);
	czpg_pgconf_check_free(&c);
	assert_int_equal(czpg_pgconf_check_include("include_dir = confd\n", 20, "/etc/pg",
						   "/etc/pg/confd", NULL, &c, err, sizeof(err)),
			 0);
	assert_true(c.included);
	czpg_pgconf_check_free(&c);
}

static bool same_if_link(const char *a, const char *b)
{
	/* Stands for realpath: /srv/pg/conf.d is a link to /etc/cz/conf.d. */
	return (strcmp(a, "/srv/pg/conf.d") == 0 && strcmp(b, "/etc/cz/conf.d") == 0) ||
	       (strcmp(b, "/srv/pg/conf.d") == 0 && strcmp(a, "/etc/cz/conf.d") == 0);
}

static void test_include_same_dir_callback(void **state)
{
	struct czpg_pgconf_check c;
	char err[256];

	(void)state;
	assert_int_equal(czpg_pgconf_check_include("include_dir = 'conf.d'\n", 23, "/srv/pg",
						   "/etc/cz/conf.d", NULL, &c, err, sizeof(err)),
			 0);
	assert_false(c.included);
	czpg_pgconf_check_free(&c);
	assert_int_equal(czpg_pgconf_check_include("include_dir = 'conf.d'\n", 23, "/srv/pg",
						   "/etc/cz/conf.d", same_if_link, &c, err,
						   sizeof(err)),
			 0);
	assert_true(c.included);
	assert_int_equal(c.include_line, 1);
	czpg_pgconf_check_free(&c);
}

static void test_lexer_token_classes(void **state)
{
	static const struct {
		const char *line, *value; /* NULL value: PostgreSQL refuses the line */
	} cases[] = {
	    {"a = 0x1F\n", "0x1F"},   {"a = 128MB\n", "128MB"}, {"a = 1.5e3\n", "1.5e3"},
	    {"a = -1\n", "-1"},       {"a = .5\n", ".5"},       {"a = on\n", "on"},
	    {"a = a.b.c\n", "a.b.c"}, {"a = a.b/c\n", "a.b/c"}, {"a = x:y-z\n", "x:y-z"},
	    {"a.b = 1\n", "1"},       {"a = a.b\n", NULL},      {"a = -\n", NULL},
	    {"a = 1.5e3MB\n", NULL},  {"a = \f1\n", NULL},      {"a = *\n", NULL},
	    {"a = 'x'#c\n", "x"},     {"a='b''c'\n", "b'c"},    {"a = 'x\\'\n", NULL},
	    {"a = /x\n", NULL},       {"9a = 1\n", NULL},
	};
	struct czpg_pgconf_setting *s = NULL;
	size_t n = 0, i;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = czpg_pgconf_parse(cases[i].line, strlen(cases[i].line), &s, &n, err,
					   sizeof(err));

		if (cases[i].value == NULL) {
			if (rc != -1)
				fail_msg("accepted: %s", cases[i].line);
			assert_non_null(strstr(err, "line 1"));
			continue;
		}
		if (rc != 0)
			fail_msg("refused: %s: %s", cases[i].line, err);
		assert_int_equal(n, 1);
		assert_string_equal(s[0].value, cases[i].value);
		czpg_pgconf_settings_free(s, n);
	}
}

static void test_render_by_version(void **state)
{
	struct czpg_pgconf_tls t = {
	    .cert_file = "/c/server.crt", .key_file = "/c/server.key", .ca_file = "/c/ca.crt"};
	char *out = NULL, err[256];

	(void)state;
	t.server_major = 18;
	assert_int_equal(czpg_pgconf_render_tls(&t, &out, NULL, err, sizeof(err)), 0);
	assert_non_null(strstr(out, "\nssl_groups = 'prime256v1'\n"));
	assert_null(strstr(out, "ssl_ecdh_curve ="));
	free(out);
	t.server_major = 17;
	assert_int_equal(czpg_pgconf_render_tls(&t, &out, NULL, err, sizeof(err)), 0);
	assert_non_null(strstr(out, "\nssl_ecdh_curve = 'prime256v1'\n"));
	assert_null(strstr(out, "ssl_groups"));
	free(out);
}

static void test_overrides_after_include(void **state)
{
	const char *text = "ssl = off\n"                            /* 1: before: harmless */
			   "ssl_cert_file = '/old.crt'\n"           /* 2 */
			   "include_dir = 'conf.d'\n"               /* 3 */
			   "work_mem = 4MB\n"                       /* 4 */
			   "SSL_Min_Protocol_Version = 'TLSv1.2'\n" /* 5 */
			   "include 'tail.conf'\n"                  /* 6 */
			   "ssl = on # again\n"                     /* 7 */
			   "include_dir = 'conf.d'\n"               /* 8: the last one counts */
			   "ssl_ciphers = 'HIGH'\n"                 /* 9 */
			   "include_if_exists = 'local.conf'\n";    /* 10 */
	struct czpg_pgconf_check c;
	char err[256];

	(void)state;
	assert_int_equal(czpg_pgconf_check_include(text, strlen(text), "/d", "/d/conf.d", NULL, &c,
						   err, sizeof(err)),
			 0);
	assert_true(c.included);
	assert_int_equal(c.include_line, 8);
	assert_int_equal(c.n_overrides, 1);
	assert_int_equal(c.overrides[0].line, 9);
	assert_string_equal(c.overrides[0].name, "ssl_ciphers");
	assert_string_equal(c.overrides[0].value, "HIGH");
	assert_int_equal(c.n_later_includes, 1);
	assert_int_equal(c.later_includes[0], 10);
	czpg_pgconf_check_free(&c);

	/* lines 1-7 only: the first include_dir counts, lines 5 and 7 override it */
	assert_int_equal(czpg_pgconf_check_include(
			     text,
			     (size_t)(strstr(text, "include_dir = 'conf.d'\nssl_ciphers") - text),
			     "/d", "/d/conf.d", NULL, &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.include_line, 3);
	assert_int_equal(c.n_overrides, 2);
	assert_int_equal(c.overrides[0].line, 5);
	assert_string_equal(c.overrides[0].name, "ssl_min_protocol_version");
	assert_int_equal(c.overrides[1].line, 7);
	assert_int_equal(c.n_later_includes, 1);
	assert_int_equal(c.later_includes[0], 6);
	czpg_pgconf_check_free(&c);
}

static void test_tls_param_names(void **state)
{
	(void)state;
	assert_true(czpg_pgconf_is_tls_param("ssl"));
	assert_true(czpg_pgconf_is_tls_param("SSL_Cert_File"));
	assert_true(czpg_pgconf_is_tls_param("ssl_max_protocol_version"));
	assert_false(czpg_pgconf_is_tls_param("sslmode"));
	assert_false(czpg_pgconf_is_tls_param("shared_buffers"));
	assert_false(czpg_pgconf_is_tls_param(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_defaults),
	    cmocka_unit_test(test_render_fallback_and_quoting),
	    cmocka_unit_test(test_render_refuses_bad_paths),
	    cmocka_unit_test(test_parse_forms),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_include_found_forms),
	    cmocka_unit_test(test_include_missing),
	    cmocka_unit_test(test_include_malformed_forms),
	    cmocka_unit_test(test_include_same_dir_callback),
	    cmocka_unit_test(test_lexer_token_classes),
	    cmocka_unit_test(test_render_by_version),
	    cmocka_unit_test(test_overrides_after_include),
	    cmocka_unit_test(test_tls_param_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
