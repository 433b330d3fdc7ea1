/*
 * fuzz_pgconf.c - libFuzzer target for the postgresql.conf scanner
 * (czpg/pgconf.h): czpg_pgconf_parse, czpg_pgconf_check_include, and the
 * socket and port discovery built on it (czpg_reload_conf_socket).
 *
 * The input is the file.  When it parses: line numbers increase and stay
 * within the file; names are lower-case and non-empty; every value without
 * control characters survives czpg_pgconf_quote and parses back to itself;
 * the include check agrees with the parser (it also refuses an empty
 * include name) and its answer is consistent
 * (included with a line, or a line to add and no overrides).  The first
 * line, used as a path, normalises to a fixed point.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/pgconf.h"
#include "czpg/reload.h"

static void check_round_trip(const struct czpg_pgconf_setting *s)
{
	struct czpg_pgconf_setting *back = NULL;
	char *quoted = NULL, *line = NULL;
	size_t n = 0;
	int len;

	if (czpg_pgconf_quote(s->value, &quoted, NULL, 0) < 0)
		return; /* empty, too long, or a control character: not expressible */
	len = asprintf(&line, "%s = %s\n", s->name, quoted);
	if (len < 0)
		abort();
	if (czpg_pgconf_parse(line, (size_t)len, &back, &n, NULL, 0) < 0 || n != 1 ||
	    strcmp(back[0].name, s->name) != 0 || strcmp(back[0].value, s->value) != 0)
		abort();
	czpg_pgconf_settings_free(back, n);
	free(line);
	free(quoted);
}

static void check_path(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl != NULL ? (size_t)(nl - data) : size;
	char *path, *a = NULL, *b = NULL;

	if (n == 0 || memchr(data, '\0', n) != NULL ||
	    (path = strndup((const char *)data, n)) == NULL)
		return;
	if (czpg_pgconf_normalize_path(path, &a) == 0) {
		if (czpg_pgconf_normalize_path(a, &b) < 0 || strcmp(a, b) != 0 ||
		    strstr(a, "//") != NULL || strstr(a, "/./") != NULL ||
		    (strlen(a) > 1 && a[strlen(a) - 1] == '/') || (path[0] == '/') != (a[0] == '/'))
			abort();
	}
	free(a);
	free(b);
	free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct czpg_pgconf_setting *v = NULL;
	struct czpg_pgconf_check chk;
	size_t n = 0, i, j, lines = 1;
	unsigned last = 0, port = 0;
	char err[512], sock[256] = "";
	int rc, rc2;

	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			lines++;
	rc = czpg_pgconf_parse(text, size, &v, &n, err, sizeof(err));
	if (rc == 0) {
		for (i = 0; i < n; i++) {
			if (v[i].line <= last || v[i].line > lines || v[i].name == NULL ||
			    v[i].name[0] == '\0' || v[i].value == NULL)
				abort();
			last = v[i].line;
			for (j = 0; v[i].name[j] != '\0'; j++)
				if (isupper((unsigned char)v[i].name[j]))
					abort();
			check_round_trip(&v[i]);
		}
	} else if (v != NULL || n != 0) {
		abort();
	}
	czpg_pgconf_settings_free(v, n);

	rc2 = czpg_pgconf_check_include(text, size, "/etc/postgresql/15/main",
					"/etc/postgresql/15/main/conf.d", NULL, &chk, err,
					sizeof(err));
	/* The include check is stricter only about empty include names. */
	if (rc2 != rc && !(rc == 0 && strstr(err, "with an empty name") != NULL))
		abort();
	if (rc2 == 0) {
		if (chk.included != (chk.include_line > 0) ||
		    chk.included != (chk.line_to_add == NULL) ||
		    (!chk.included && (chk.n_overrides > 0 || chk.n_later_includes > 0)))
			abort();
		for (i = 0; i < chk.n_overrides; i++)
			if (chk.overrides[i].line <= chk.include_line ||
			    !czpg_pgconf_is_tls_param(chk.overrides[i].name))
				abort();
		for (i = 0; i < chk.n_later_includes; i++)
			if (chk.later_includes[i] <= chk.include_line)
				abort();
	}
	czpg_pgconf_check_free(&chk);

	/* the same text as postgresql.conf and as postgresql.auto.conf */
	czpg_reload_conf_socket(text, size, text, size, sock, sizeof(sock), &port, err,
				sizeof(err));
	if (memchr(sock, '\0', sizeof(sock)) == NULL)
		abort();
	check_path(data, size);
	return 0;
}
