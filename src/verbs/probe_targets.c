/*
 * probe_targets.c - the targets of a probe (see czpg/probe_targets.h): one
 * box, or a fleet file of one target per line.
 *
 * Forms: "host", "host:port", "[v6]", "[v6]:port" (the bracket form of RFC
 * 3986 section 3.2.2), or a bare IPv6 literal (RFC 4291 section 2.2), which
 * then has no port.  Host names keep to letters, digits, '.', '-', '_' (and
 * ':' and '%' for IPv6 zone identifiers, RFC 6874); anything else is a typo
 * or a hostile file, refused with its line number.
 */
#include "czpg/probe_targets.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/errf.h"
#include "czpg/parse.h"
#include "czpg/pgwire.h"

/*
 * The first max bytes of s as an error may quote them: a targets file is
 * text from elsewhere, and its control bytes must not reach the terminal
 * (czpg_pgwire_sanitize writes them as escapes).
 */
static const char *quoted(char *out, size_t cap, const char *s, int max)
{
	char cut[128];

	snprintf(cut, sizeof(cut), "%.*s", max, s);
	czpg_pgwire_sanitize(cut, out, cap);
	return out;
}

int czpg_probe_parse_target(const char *text, unsigned default_port, struct czpg_probe_target *t,
			    char *err, size_t errlen)
{
	const char *host = text, *port = NULL, *end;
	size_t hlen;
	unsigned long p = default_port;
	const char *colon;
	bool v6 = false;
	char q[400], qp[100];
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (text == NULL || text[0] == '\0') {
		czpg_errf(err, errlen, "empty target");
		goto out;
	}
	if (text[0] == '[') {
		end = strchr(text, ']');
		if (end == NULL) {
			czpg_errf(err, errlen, "target \"%s\" has '[' without ']'",
				  quoted(q, sizeof(q), text, 80));
			goto out;
		}
		host = text + 1;
		hlen = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			czpg_errf(err, errlen, "target \"%s\" has text after ']' that is not :port",
				  quoted(q, sizeof(q), text, 80));
			goto out;
		}
		v6 = true;
	} else {
		colon = strchr(text, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			hlen = strlen(text); /* a bare IPv6 literal: no port */
			v6 = true;
		} else if (colon != NULL) {
			hlen = (size_t)(colon - text);
			port = colon + 1;
		} else {
			hlen = strlen(text);
		}
	}
	if (hlen == 0) {
		czpg_errf(err, errlen, "target \"%s\" has no host", quoted(q, sizeof(q), text, 80));
		goto out;
	}
	if (hlen >= sizeof(t->host)) {
		czpg_errf(err, errlen, "target host is longer than %zu characters",
			  sizeof(t->host) - 1);
		goto out;
	}
	memcpy(t->host, host, hlen);
	t->host[hlen] = '\0';
	if (v6 && czpg_parse_ip(t->host, NULL) != 6) {
		czpg_errf(err, errlen, "target \"%s\" is not a valid IPv6 address",
			  quoted(q, sizeof(q), t->host, 80));
		goto out;
	}
	if (strspn(t->host,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:%_") != hlen) {
		czpg_errf(err, errlen, "target host \"%s\" has characters a host name cannot have",
			  quoted(q, sizeof(q), t->host, 80));
		goto out;
	}
	if (port != NULL && czpg_parse_uint(port, 1, 65535, &p) < 0) {
		czpg_errf(err, errlen, "target \"%s\" has port \"%s\", not a number 1-65535",
			  quoted(q, sizeof(q), text, 80), quoted(qp, sizeof(qp), port, 20));
		goto out;
	}
	if (p == 0 || p > 65535) {
		czpg_errf(err, errlen, "target \"%s\" has no port and no default port",
			  quoted(q, sizeof(q), text, 80));
		goto out;
	}
	t->port = (unsigned)p;
	if (v6)
		snprintf(t->label, sizeof(t->label), "[%s]:%u", t->host, t->port);
	else
		snprintf(t->label, sizeof(t->label), "%s:%u", t->host, t->port);
	rc = 0;
out:
	return rc;
}

int czpg_probe_parse_targets(const char *text, size_t len, unsigned default_port,
			     struct czpg_probe_target **out, size_t *n, char *err, size_t errlen)
{
	struct czpg_probe_target *list = NULL, *grown;
	size_t cap = 0, count = 0, pos = 0, lineno = 0;
	char line[1024], why[256];
	int rc = -1;

	*out = NULL;
	*n = 0;
	while (pos < len) {
		size_t start = pos, l, b, e;
		const char *hash;

		while (pos < len && text[pos] != '\n')
			pos++;
		l = pos - start;
		pos++; /* the newline */
		lineno++;
		if (memchr(text + start, '\0', l) != NULL) {
			czpg_errf(err, errlen, "line %zu: contains a NUL byte (not a text file?)",
				  lineno);
			goto out;
		}
		if (l >= sizeof(line)) {
			czpg_errf(err, errlen, "line %zu: longer than %zu characters", lineno,
				  sizeof(line) - 1);
			goto out;
		}
		memcpy(line, text + start, l);
		line[l] = '\0';
		hash = strchr(line, '#');
		if (hash != NULL)
			line[hash - line] = '\0';
		l = strlen(line);
		for (b = 0; b < l && (line[b] == ' ' || line[b] == '\t' || line[b] == '\r'); b++)
			;
		for (e = l;
		     e > b && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r');
		     e--)
			;
		if (e == b)
			continue;
		line[e] = '\0';
		if (count == CZPG_PROBE_MAX_TARGETS) {
			czpg_errf(err, errlen, "line %zu: more than %d targets in one file", lineno,
				  CZPG_PROBE_MAX_TARGETS);
			goto out;
		}
		if (count == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			grown = realloc(list, cap * sizeof(*list));
			if (grown == NULL) {
				czpg_errf(err, errlen, "out of memory reading targets");
				goto out;
			}
			list = grown;
		}
		if (czpg_probe_parse_target(line + b, default_port, &list[count], why,
					    sizeof(why)) < 0) {
			czpg_errf(err, errlen, "line %zu: %s", lineno, why);
			goto out;
		}
		count++;
	}
	if (count == 0) {
		czpg_errf(err, errlen, "no targets (only blank lines and comments)");
		goto out;
	}
	*out = list;
	*n = count;
	list = NULL;
	rc = 0;
out:
	free(list);
	return rc;
}
