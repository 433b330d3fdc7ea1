/*
 * test_bench_refusal.c - the bench's one line for a pool that pg_hba.conf
 * refuses (src/verbs/bench_refusal.h): which pool, the server's message,
 * what to do; and what is not such a refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bench_refusal.h"

#define HBA_PLAIN                                                                                  \
	"pg_hba.conf rejects connection for host \"127.0.0.1\", user \"app\", database \"app\", "  \
	"no encryption"

static void test_plain_pool_refused(void **state)
{
	char out[1024];

	(void)state;
	assert_true(czpg_bench_refusal("plain", false, "28000", HBA_PLAIN, out, sizeof(out)));
	assert_string_equal(out,
			    "the plain pool was refused by the server's pg_hba.conf (" HBA_PLAIN
			    "): the server lets this client in over TLS only, so there is no "
			    "plaintext to compare with; bench before hardening (provision "
			    "--mode harden), or from a host that pg_hba.conf still lets in "
			    "without TLS");
	/* libpq gives no SQLSTATE: its message decides. */
	assert_true(czpg_bench_refusal("plain", false, NULL,
				       "libpq could not connect (sslmode=disable): connection to "
				       "server failed: FATAL:  " HBA_PLAIN,
				       out, sizeof(out)));
	assert_non_null(strstr(out, "the plain pool was refused"));
}

static void test_tls_pool_refused(void **state)
{
	char out[1024];

	(void)state;
	assert_true(czpg_bench_refusal("tls", true, "28000",
				       "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", "
				       "database \"app\", SSL encryption",
				       out, sizeof(out)));
	assert_non_null(strstr(out, "the tls pool was refused by the server's pg_hba.conf (no "
				    "pg_hba.conf entry"));
	assert_non_null(strstr(out, "no hostssl line lets this user"));
	assert_null(strstr(out, "bench before hardening"));
}

static void test_other_refusals(void **state)
{
	char out[256] = "untouched";

	(void)state;
	/* 28000 without pg_hba.conf: a role that does not exist. */
	assert_false(czpg_bench_refusal("plain", false, "28000", "role \"app\" does not exist", out,
					sizeof(out)));
	/* pg_hba.conf in the text, another SQLSTATE: not this refusal. */
	assert_false(czpg_bench_refusal("plain", false, "28P01",
					"password authentication failed (see pg_hba.conf)", out,
					sizeof(out)));
	assert_false(czpg_bench_refusal("plain", false, "", NULL, out, sizeof(out)));
	assert_string_equal(out, "untouched");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_pool_refused),
	    cmocka_unit_test(test_tls_pool_refused),
	    cmocka_unit_test(test_other_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
