/*
 * fuzz_probe_targets.c - libFuzzer target for the probe's target parser
 * (probe_targets.c): a fleet file of any bytes, and its first line as one
 * target.  Nothing may crash, leak or read out of bounds, and what the
 * parser promises must hold whatever the file holds:
 *   - success gives 1..CZPG_PROBE_MAX_TARGETS targets, each with a host of
 *     host-name characters, a port 1-65535, and the label "host:port" or
 *     "[v6]:port" that parses back to the same target;
 *   - failure gives no list and one sentence, "line N: ..." (or "no
 *     targets ..."), with no control byte from the file in it (the command
 *     line prints it on a terminal).
 *
 * The parser needs only the protocol core (czpg/parse.h): this target links
 * czpg_core and the parser's own source, nothing else.
 *
 * Input format (the seed corpus in corpus/probe_targets/ follows it):
 *   byte 0: bit 0 set: no default port (every line must give one); else 5432
 *   then the file's text
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/probe_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char host_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:%_";

static void check_sentence(const char *err, size_t cap)
{
	size_t i, n = strnlen(err, cap);

	if (n == 0 || n == cap)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] == 0x7f)
			abort();
}

static void check_target(const struct czpg_probe_target *t)
{
	struct czpg_probe_target again;
	char label[sizeof(t->label)], err[256];
	size_t hlen = strnlen(t->host, sizeof(t->host));

	if (hlen == 0 || hlen == sizeof(t->host) || strspn(t->host, host_chars) != hlen)
		abort();
	if (t->port < 1 || t->port > 65535)
		abort();
	snprintf(label, sizeof(label), strchr(t->host, ':') != NULL ? "[%s]:%u" : "%s:%u", t->host,
		 t->port);
	if (strncmp(label, t->label, sizeof(label)) != 0)
		abort();
	/* The label is a target: it parses back to the same one, port included. */
	if (czpg_probe_parse_target(t->label, 0, &again, err, sizeof(err)) != 0 ||
	    strcmp(again.host, t->host) != 0 || again.port != t->port ||
	    strcmp(again.label, t->label) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct czpg_probe_target *list = (struct czpg_probe_target *)1, one;
	unsigned port;
	size_t n = 7, i, l;
	char err[512], line[400];
	const char *text;
	int rc;

	if (size == 0)
		return 0;
	port = (data[0] & 1) != 0 ? 0 : 5432;
	text = (const char *)data + 1;
	size--;

	err[0] = '\0';
	rc = czpg_probe_parse_targets(text, size, port, &list, &n, err, sizeof(err));
	if (rc == 0) {
		if (list == NULL || n == 0 || n > CZPG_PROBE_MAX_TARGETS)
			abort();
		for (i = 0; i < n; i++)
			check_target(&list[i]);
	} else if (rc == -1) {
		if (list != NULL || n != 0)
			abort();
		check_sentence(err, sizeof(err));
		if (strncmp(err, "line ", 5) != 0 && strncmp(err, "no targets", 10) != 0)
			abort();
	} else {
		abort();
	}
	free(list);

	/* The first line (or what fits) alone, as --host/--port would pass it. */
	for (l = 0; l < size && l < sizeof(line) - 1 && text[l] != '\n' && text[l] != '\0'; l++)
		line[l] = text[l];
	line[l] = '\0';
	err[0] = '\0';
	rc = czpg_probe_parse_target(line, port, &one, err, sizeof(err));
	if (rc == 0)
		check_target(&one);
	else if (rc == -1)
		check_sentence(err, sizeof(err));
	else
		abort();
	return 0;
}
