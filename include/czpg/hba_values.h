/*
 * hba_values.h - the values czctl writes into pg_hba.conf: the managed
 * block's mode, the application's CIDR, role and database names (checked,
 * and quoted the way PostgreSQL's pg_hba lexer reads them back).  Pure text.
 */
#ifndef CZPG_HBA_VALUES_H
#define CZPG_HBA_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CZPG_HBA_NAME_MAX 63 /* NAMEDATALEN - 1 */

enum czpg_hba_mode {
	CZPG_HBA_MODE_NONE = 0,   /* no managed block */
	CZPG_HBA_MODE_TRANSITION, /* hostssl + host lines */
	CZPG_HBA_MODE_HARDEN,     /* hostssl + hostnossl reject */
	CZPG_HBA_MODE_UNKNOWN,    /* a block whose contents match neither */
};

/*
 * "none", "transition", "harden", "unknown".  Inline: a name table the
 * report layer uses without linking the server library.
 */
static inline const char *czpg_hba_mode_name(enum czpg_hba_mode m)
{
	switch (m) {
	case CZPG_HBA_MODE_NONE:
		return "none";
	case CZPG_HBA_MODE_TRANSITION:
		return "transition";
	case CZPG_HBA_MODE_HARDEN:
		return "harden";
	case CZPG_HBA_MODE_UNKNOWN:
		break;
	}
	return "unknown";
}
/* Parses "transition" / "harden"; returns 0, or -1 for anything else. */
int czpg_hba_mode_parse(const char *s, enum czpg_hba_mode *out);

/* An IPv4 or IPv6 network. */
struct czpg_hba_cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network address (4 bytes used for AF_INET) */
	unsigned prefix;  /* prefix length, 0..32 or 0..128 */
};

/*
 * Parses "a.b.c.d/n" or "ipv6/n".  The prefix length is required and must be
 * in range; host bits below it must be zero: "10.20.1.2/24" is refused with a
 * sentence naming 10.20.1.0/24 (the network) and 10.20.1.2/32 (the host).
 * Returns 0 or -1 with err set.
 */
int czpg_hba_cidr_parse(const char *text, struct czpg_hba_cidr *out, char *err, size_t errlen);

/* Writes the canonical text ("10.20.1.2/32", "::1/128") into buf; returns
 * 0, or -1 when len is too small (use 64). */
int czpg_hba_cidr_format(const struct czpg_hba_cidr *c, char *buf, size_t len);

/*
 * Checks a role or database name for the managed block: not empty, at most
 * CZPG_HBA_NAME_MAX bytes, and no whitespace, comma, double quote or other
 * control character (newline, NUL can't be in a C string).  Returns 0 or -1
 * with err naming the value's problem.
 */
int czpg_hba_name_check(const char *name, char *err, size_t errlen);

/*
 * Writes name as a pg_hba token that means exactly that role/database:
 * double-quoted when it is not all lower-case [a-z0-9_$] starting with a
 * letter or underscore, or when it is a keyword (all, sameuser, samerole,
 * samegroup, replication) or starts with + or @ (group / file syntax).
 * Returns the length written, or -1 when name fails czpg_hba_name_check or
 * outlen is too small (CZPG_HBA_NAME_MAX + 3 is always enough).
 */
int czpg_hba_quote_name(const char *name, char *out, size_t outlen);

#endif
