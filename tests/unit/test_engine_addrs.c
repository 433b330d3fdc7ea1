/*
 * test_engine_addrs.c - the engine's address functions that need no
 * network: libpq-style host lists, IP literals resolved to endpoints (with
 * IPv4-mapped IPv6 shown as IPv4, as the server shows such a client), and
 * the sentence that lists failed connect attempts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "czpg/engine.h"

static void test_split_hosts(void **state)
{
	struct czpg_engine_hosts h;
	char err[200], many[400];
	int i;

	(void)state;
	assert_int_equal(czpg_engine_split_hosts("db1", &h, err, sizeof(err)), 0);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.name[0], "db1");
	assert_int_equal(czpg_engine_split_hosts("db1,::1,10.0.0.2", &h, err, sizeof(err)), 0);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.name[1], "::1");
	assert_string_equal(h.name[2], "10.0.0.2");

	assert_int_equal(czpg_engine_split_hosts("a,,b", &h, err, sizeof(err)), -1);
	assert_string_equal(err, "the host list \"a,,b\" has an empty name");
	assert_int_equal(czpg_engine_split_hosts("a,", &h, err, sizeof(err)), -1);
	assert_int_equal(czpg_engine_split_hosts("", &h, err, sizeof(err)), -1);
	assert_string_equal(err, "no host given");
	many[0] = '\0';
	for (i = 0; i <= CZPG_ENGINE_MAX_HOSTS; i++)
		strcat(many, i == 0 ? "h" : ",h");
	assert_int_equal(czpg_engine_split_hosts(many, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
}

static void test_resolve_literals(void **state)
{
	struct czpg_engine_addrs a;
	char err[200];

	(void)state;
	assert_int_equal(czpg_engine_resolve_all("127.0.0.1", 5432, &a, err, sizeof(err)), 0);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.addr[0].text, "127.0.0.1:5432");
	assert_string_equal(a.addr[0].ip, "127.0.0.1");
	assert_int_equal(a.addr[0].port, 5432);
	assert_int_equal(czpg_engine_resolve_all("::1", 6432, &a, err, sizeof(err)), 0);
	assert_string_equal(a.addr[0].text, "[::1]:6432");
	assert_int_equal(czpg_engine_resolve_all("::1", 0, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "port 0 is out of range (1-65535)");
}

static void test_endpoint_v4_mapped(void **state)
{
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(47230)};
	struct czpg_engine_endpoint ep;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr), 1);
	assert_int_equal(czpg_engine_endpoint_set(&ep, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_string_equal(ep.ip, "127.0.0.1");
	assert_string_equal(ep.text, "127.0.0.1:47230");
	assert_int_equal(ep.sa.ss_family, AF_INET);
}

static void test_route_describe(void **state)
{
	struct czpg_engine_route r;
	char out[200], tiny[24];
	size_t i;

	(void)state;
	czpg_engine_route_init(&r);
	assert_int_equal(r.answered, -1);
	assert_int_equal(czpg_engine_route_describe(&r, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	czpg_engine_route_add(&r, "[::1]:5432", "Connection refused");
	czpg_engine_route_add(&r, "127.0.0.1:5432", "");
	r.answered = 1;
	assert_int_equal(czpg_engine_route_describe(&r, out, sizeof(out)), 1);
	assert_string_equal(out, "[::1]:5432: Connection refused");
	czpg_engine_route_add(&r, "127.0.0.2:5432", "timed out after 10 ms");
	assert_int_equal(czpg_engine_route_describe(&r, out, sizeof(out)), 2);
	assert_string_equal(
	    out, "[::1]:5432: Connection refused; 127.0.0.2:5432: timed out after 10 ms");
	/* A cut list says so. */
	czpg_engine_route_describe(&r, tiny, sizeof(tiny));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_string_equal(tiny + sizeof(tiny) - 4, "...");
	/* Attempts past the array are counted, not lost. */
	for (i = r.ntried; i < CZPG_ENGINE_MAX_ADDRS + 2; i++)
		czpg_engine_route_add(&r, "10.0.0.1:5432", "No route to host");
	assert_int_equal(r.ntried, CZPG_ENGINE_MAX_ADDRS);
	assert_int_equal(r.nlost, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_hosts),
	    cmocka_unit_test(test_resolve_literals),
	    cmocka_unit_test(test_endpoint_v4_mapped),
	    cmocka_unit_test(test_route_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
