/*
 * probe_targets.h - the targets of `czctl postgres tls probe`: one box given
 * as "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal, or a
 * fleet file of them, one per line.
 *
 * Pure functions over text: no I/O and no resolver (names are resolved when
 * a target is probed).  They need only the protocol core (czpg/parse.h), so
 * the fuzz target for them links nothing else.
 */
#ifndef CZPG_PROBE_TARGETS_H
#define CZPG_PROBE_TARGETS_H

#include <stddef.h>

#define CZPG_PROBE_MAX_TARGETS 100000 /* lines of a targets file */

struct czpg_probe_target {
	char host[256]; /* no brackets */
	unsigned port;
	char label[300]; /* host:port, [v6]:port */
};

/*
 * Parses one target, "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6
 * literal (two or more colons: no port).  default_port applies when none is
 * given.  0, or -1 with a sentence in err.
 */
int czpg_probe_parse_target(const char *text, unsigned default_port, struct czpg_probe_target *t,
			    char *err, size_t errlen);

/*
 * Parses a targets file's text: one target per line, '#' starts a comment,
 * blank lines are skipped.  *out (free with free()) gets *n targets.  At most
 * CZPG_PROBE_MAX_TARGETS.  0, or -1 with "line N: ..." in err (then *out is
 * NULL and *n is 0).
 */
int czpg_probe_parse_targets(const char *text, size_t len, unsigned default_port,
			     struct czpg_probe_target **out, size_t *n, char *err, size_t errlen);

#endif
