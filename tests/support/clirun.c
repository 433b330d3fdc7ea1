/*
 * clirun.c - running czctl from integration tests (see clirun.h).
 */
#include "clirun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "childproc.h"

int czpg_clirun(struct czpg_clirun *r, const char *dir, const char *const *args, unsigned limit_ms)
{
	static unsigned seq;
	const char *czctl = getenv("CZCTL");
	char out[600], err[600];
	struct czpg_child child;
	char *argv[64];
	size_t k = 0, i;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	if (czctl == NULL || czctl[0] == '\0') {
		fprintf(stderr, "CZCTL is not set (run through ctest)\n");
		return -1;
	}
	argv[k++] = (char *)czctl;
	for (i = 0; args[i] != NULL && k < sizeof(argv) / sizeof(argv[0]) - 1; i++)
		argv[k++] = (char *)args[i];
	argv[k] = NULL;
	snprintf(out, sizeof(out), "%s/czctl-%u.out", dir, seq);
	snprintf(err, sizeof(err), "%s/czctl-%u.err", dir, seq);
	seq++;
	if (czpg_child_start(&child, argv, out, err) < 0)
		return -1;
	czpg_child_wait(&child, limit_ms);
	r->exit_code = czpg_child_exit_code(&child);
	r->killed = child.killed;
	r->ms = czpg_child_elapsed_ms(&child);
	r->out = czpg_child_slurp(out, NULL);
	r->err = czpg_child_slurp(err, NULL);
	remove(out);
	remove(err);
	if (r->out == NULL || r->err == NULL) {
		czpg_clirun_free(r);
		return -1;
	}
	printf("--- czctl");
	for (i = 1; i < k; i++)
		printf(" %s", argv[i]);
	printf(": exit %d in %.0f ms\n%s%s", r->exit_code, r->ms, r->out, r->err);
	return 0;
}

void czpg_clirun_free(struct czpg_clirun *r)
{
	if (r == NULL)
		return;
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int czpg_clirun_tls(struct czpg_clirun *r, const char *dir, const char *verb,
		    const struct czpg_clirun_target *t, const char *const *extra, unsigned limit_ms)
{
	const char *args[60];
	char port[16];
	size_t k = 0, i;

	args[k++] = "postgres";
	args[k++] = "tls";
	args[k++] = verb;
#define CLIRUN_FLAG(flag, value)                                                                   \
	do {                                                                                       \
		if ((value) != NULL) {                                                             \
			args[k++] = (flag);                                                        \
			args[k++] = (value);                                                       \
		}                                                                                  \
	} while (0)
	snprintf(port, sizeof(port), "%d", t->port);
	CLIRUN_FLAG("--host", t->host);
	CLIRUN_FLAG("--port", t->port != 0 ? port : NULL);
	CLIRUN_FLAG("--user", t->user);
	CLIRUN_FLAG("--dbname", t->dbname);
	CLIRUN_FLAG("--ca", t->ca);
	CLIRUN_FLAG("--password", t->password);
#undef CLIRUN_FLAG
	for (i = 0; extra != NULL && extra[i] != NULL && k < sizeof(args) / sizeof(args[0]) - 1;
	     i++)
		args[k++] = extra[i];
	args[k] = NULL;
	return czpg_clirun(r, dir, args, limit_ms);
}

bool czpg_clirun_clean(const struct czpg_clirun *r)
{
	return !r->killed && r->exit_code >= 0 && strstr(r->err, "Sanitizer") == NULL &&
	       strstr(r->err, "runtime error") == NULL;
}

bool czpg_clirun_has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

bool czpg_clirun_line(const char *text, const char *prefix, char *out, size_t cap)
{
	const char *p = text;
	size_t n = strlen(prefix);

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '\n');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len >= n && strncmp(p, prefix, n) == 0) {
			snprintf(out, cap, "%.*s", (int)len, p);
			return true;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return false;
}

/* Whether q (inside json) sits directly in the top-level object, not in a string. */
static bool at_top_level(const char *json, const char *q)
{
	bool in_str = false;
	int depth = 0;
	const char *s;

	for (s = json; s < q; s++) {
		if (in_str) {
			if (*s == '\\')
				s++;
			else if (*s == '"')
				in_str = false;
		} else if (*s == '"') {
			in_str = true;
		} else if (*s == '{' || *s == '[') {
			depth++;
		} else if (*s == '}' || *s == ']') {
			depth--;
		}
	}
	return depth == 1 && !in_str;
}

bool czpg_clirun_json(const char *json, const char *obj, const char *key, char *out, size_t cap)
{
	char pat[128];
	const char *p = json, *end = NULL, *q;
	size_t k = 0;

	if (obj != NULL) {
		snprintf(pat, sizeof(pat), "\"%s\":{", obj);
		p = strstr(json, pat);
		if (p == NULL)
			return false;
		p += strlen(pat);
		end = strchr(p, '}');
		if (end == NULL)
			return false;
	}
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (;;) {
		q = strstr(p, pat);
		if (q == NULL || (end != NULL && q >= end))
			return false;
		if (obj != NULL || at_top_level(json, q))
			break;
		p = q + 1;
	}
	p = q + strlen(pat);
	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"' && k + 1 < cap; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			out[k++] = *p;
		}
		out[k] = '\0';
		return *p == '"';
	}
	while (*p != '\0' && *p != ',' && *p != '}' && k + 1 < cap)
		out[k++] = *p++;
	out[k] = '\0';
	return k > 0;
}

bool czpg_clirun_json_is(const char *json, const char *obj, const char *key, const char *want)
{
	char v[2048];

	if (!czpg_clirun_json(json, obj, key, v, sizeof(v))) {
		printf("JSON has no %s%s%s\n", obj != NULL ? obj : "", obj != NULL ? "." : "", key);
		return false;
	}
	if (strcmp(v, want) != 0) {
		printf("JSON %s%s%s is \"%s\", not \"%s\"\n", obj != NULL ? obj : "",
		       obj != NULL ? "." : "", key, v, want);
		return false;
	}
	return true;
}
