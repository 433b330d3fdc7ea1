/*
 * test_provision_rotation.c - certificate rotation under load: a leaf-only
 * rotation (--rotate-leaf), then a CA rotation (--force), each applied by
 * reload while libpq TLS connections (sslmode=verify-full) run queries and
 * new TLS connections keep being opened.  None may fail; afterwards new
 * connections must see the new leaf (serial from `czctl verify --json`
 * against server.crt), and after --force the bundle must hold both CAs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>

#include "czpg/pki.h"
#include "provision_testutil.h"

#define NCONN 4

static struct czpg_sandbox sb;
static char tls_dir[400], bundle[512], leaf[512], ca[512], ca_prev[512], port[16], pwenv[256];

struct load {
	PGconn *c[NCONN];
	long queries, failures, new_conns;
};

static void tick(void *arg)
{
	struct load *l = arg;
	char v[16];
	PGconn *n;
	int i;

	for (i = 0; i < NCONN; i++) {
		if (pt_query(l->c[i], "SELECT 1", v, sizeof(v)))
			l->queries++;
		else
			l->failures++;
	}
	/* A client connecting right now, trusting the bundle on disk. */
	n = pt_connect(&sb, "localhost", "verify-full", bundle);
	if (PQstatus(n) == CONNECTION_OK && pt_query(n, "SELECT 1", v, sizeof(v))) {
		l->new_conns++;
	} else {
		printf("new TLS connection failed: %s", PQerrorMessage(n));
		l->failures++;
	}
	PQfinish(n);
}

static void provision(const char *extra, struct load *l, struct pt_run *r)
{
	const char *args[] = {PT_BOX_ARGS, "--pgdata",        sb.data, "--cert-dir",
			      tls_dir,     "--verify-dbname", sb.db,   "--mode",
			      "harden",    "--apply",         extra,   NULL};
	const char *env[] = {pwenv, NULL};

	pt_czctl(args, env, -1, -1, l != NULL ? tick : NULL, l, r);
	pt_show(extra != NULL ? extra : "provision", r);
}

static void normalise_serial(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	while (*in == '0')
		in++;
	while (*in != '\0' && *in != '"' && o + 1 < outlen)
		out[o++] = (char)toupper((unsigned char)*in++);
	out[o] = '\0';
}

/* The serial a new connection sees, from czctl verify --json. */
static void served_serial(char *out, size_t outlen)
{
	const char *args[] = {"verify", "--host", "localhost", "--port", port,
			      "--user", sb.user,  "--dbname",  sb.db,    "--ca",
			      bundle,   "--json", NULL};
	const char *env[] = {pwenv, NULL};
	struct pt_run r;
	const char *p;

	pt_czctl(args, env, -1, -1, NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	p = strstr(r.out, "\"serial\":\"");
	assert_non_null(p);
	normalise_serial(p + strlen("\"serial\":\""), out, outlen);
	pt_run_free(&r);
}

static void file_serial(const char *path, char *out, size_t outlen)
{
	struct czpg_cert_info info;
	X509 *x = NULL;

	assert_int_equal(czpg_pki_load_cert_file(path, &x, NULL, 0), 0);
	assert_int_equal(czpg_certinfo_read(x, time(NULL), &info, NULL, 0), 0);
	normalise_serial(info.serial, out, outlen);
	X509_free(x);
}

static size_t bundle_count(void)
{
	STACK_OF(X509) *sk = NULL;
	size_t n;

	assert_int_equal(czpg_pki_load_certs_file(bundle, &sk, NULL, 0), 0);
	n = (size_t)sk_X509_num(sk);
	sk_X509_pop_free(sk, X509_free);
	return n;
}

static void test_rotation_under_load(void **state)
{
	struct load l = {0};
	struct pt_run r;
	char s0[128], s1[128], s2[128], served[128];
	char *ca_before, *ca_after, *prev;
	int i;

	(void)state;
	provision(NULL, NULL, &r);
	assert_int_equal(r.rc, 0);
	pt_run_free(&r);
	file_serial(leaf, s0, sizeof(s0));
	for (i = 0; i < NCONN; i++) {
		l.c[i] =
		    pt_connect(&sb, i % 2 == 0 ? "localhost" : "127.0.0.1", "verify-full", bundle);
		assert_int_equal(PQstatus(l.c[i]), CONNECTION_OK);
		assert_int_equal(PQsslInUse(l.c[i]), 1);
	}
	ca_before = pt_slurp(ca);

	/* Leaf-only rotation: same CA, new leaf, by reload. */
	provision("--rotate-leaf", &l, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "CA reused"));
	assert_non_null(strstr(r.out, "leaf new (--rotate-leaf)"));
	pt_run_free(&r);
	file_serial(leaf, s1, sizeof(s1));
	assert_string_not_equal(s0, s1);
	served_serial(served, sizeof(served));
	printf("leaf serial before %s, after --rotate-leaf %s, served %s\n", s0, s1, served);
	assert_string_equal(served, s1);
	ca_after = pt_slurp(ca);
	assert_string_equal(ca_before, ca_after);
	free(ca_after);
	assert_int_equal(bundle_count(), 1);

	/* CA rotation: new CA and leaf; the old CA stays in the bundle. */
	provision("--force", &l, &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "CA new (--force)"));
	pt_run_free(&r);
	file_serial(leaf, s2, sizeof(s2));
	assert_string_not_equal(s1, s2);
	served_serial(served, sizeof(served));
	printf("leaf serial after --force %s, served %s\n", s2, served);
	assert_string_equal(served, s2);
	prev = pt_slurp(ca_prev);
	assert_string_equal(prev, ca_before);
	free(prev);
	assert_int_equal(bundle_count(), 2);

	for (i = 0; i < NCONN; i++) {
		char v[16];

		assert_true(pt_query(l.c[i], "SELECT 1", v, sizeof(v)));
		PQfinish(l.c[i]);
	}
	printf("under load: %ld queries on %d open TLS connections, %ld new TLS connections, %ld "
	       "failures\n",
	       l.queries, NCONN, l.new_conns, l.failures);
	assert_int_equal(l.failures, 0);
	assert_true(l.queries > 0);
	assert_true(l.new_conns > 0);
	free(ca_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rotation_under_load),
	};

	if (!czpg_sandbox_from_env(&sb))
		return 1;
	snprintf(tls_dir, sizeof(tls_dir), "%s/cz-tls", sb.dir);
	snprintf(bundle, sizeof(bundle), "%s/ca-bundle.crt", tls_dir);
	snprintf(leaf, sizeof(leaf), "%s/server.crt", tls_dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", tls_dir);
	snprintf(ca_prev, sizeof(ca_prev), "%s/ca-previous.crt", tls_dir);
	snprintf(port, sizeof(port), "%d", sb.port);
	snprintf(pwenv, sizeof(pwenv), "CZ_PG_VERIFY_PASSWORD=%s", sb.password);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
