/*
 * hba_values.c - the values of the managed block: its mode, CIDRs, role and
 * database names (see czpg/hba_values.h).
 *
 * Quoting follows PostgreSQL's pg_hba lexer (src/backend/libpq/hba.c,
 * next_token): a double-quoted token is never a keyword, and +name / @file
 * mean group membership / an included list only when unquoted.
 */
#include "czpg/hba_values.h"
#include "czpg/errf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "czpg/parse.h"
#include "hba_internal.h"

int czpg_hba_mode_parse(const char *s, enum czpg_hba_mode *out)
{
	if (s != NULL && strcmp(s, "transition") == 0) {
		*out = CZPG_HBA_MODE_TRANSITION;
		return 0;
	}
	if (s != NULL && strcmp(s, "harden") == 0) {
		*out = CZPG_HBA_MODE_HARDEN;
		return 0;
	}
	return -1;
}

/* ---------------------------------------------------------------- addresses */

size_t czpg_hba_addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

void czpg_hba_prefix_mask(int family, unsigned prefix, uint8_t mask[16])
{
	size_t i, nb = czpg_hba_addr_len(family);

	memset(mask, 0, 16);
	for (i = 0; i < nb; i++) {
		if (prefix >= 8) {
			mask[i] = 0xff;
			prefix -= 8;
		} else {
			mask[i] = (uint8_t)(0xff << (8 - prefix));
			prefix = 0;
		}
	}
}

/* An IP literal's address family (AF_INET, AF_INET6) and bytes, or 0. */
int czpg_hba_ip_family(const char *s, uint8_t out[16])
{
	switch (czpg_parse_ip(s, out)) {
	case 4:
		return AF_INET;
	case 6:
		return AF_INET6;
	default:
		return 0;
	}
}

int czpg_hba_cidr_format(const struct czpg_hba_cidr *c, char *buf, size_t len)
{
	char a[CZPG_IP_TEXT_MAX];
	int n;

	if (czpg_parse_ip_text(c->addr, czpg_hba_addr_len(c->family), a, sizeof(a)) < 0)
		return -1;
	n = snprintf(buf, len, "%s/%u", a, c->prefix);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int czpg_hba_cidr_parse(const char *text, struct czpg_hba_cidr *out, char *err, size_t errlen)
{
	char a[INET6_ADDRSTRLEN + 1], net[80], host[80];
	const char *slash, *p;
	struct czpg_hba_cidr c = {0}, h;
	uint8_t mask[16];
	unsigned maxp, prefix = 0;
	size_t i;
	int rc = -1;

	if (text == NULL || text[0] == '\0') {
		czpg_errf(err, errlen,
			  "no CIDR given; pass the application's network, e.g. "
			  "10.20.1.2/32");
		goto out;
	}
	slash = strchr(text, '/');
	if (slash == NULL) {
		if (strlen(text) < sizeof(a) && czpg_hba_ip_family(text, c.addr) != 0)
			czpg_errf(
			    err, errlen,
			    "CIDR \"%.64s\" has no prefix length; write %.64s/%u for the single "
			    "host",
			    text, text, strchr(text, ':') ? 128u : 32u);
		else
			czpg_errf(
			    err, errlen,
			    "\"%.64s\" is not a CIDR; write an address and prefix length, e.g. "
			    "10.20.1.2/32",
			    text);
		goto out;
	}
	if ((size_t)(slash - text) >= sizeof(a)) {
		czpg_errf(err, errlen, "\"%.64s\" is not a CIDR: the address part is too long",
			  text);
		goto out;
	}
	memcpy(a, text, (size_t)(slash - text));
	a[slash - text] = '\0';
	c.family = czpg_hba_ip_family(a, c.addr);
	if (c.family == 0) {
		czpg_errf(err, errlen,
			  "\"%.64s\" is not a CIDR: \"%s\" is not an IPv4 or IPv6 address", text,
			  a);
		goto out;
	}
	maxp = c.family == AF_INET ? 32 : 128;
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 3) {
		czpg_errf(
		    err, errlen,
		    "\"%.64s\" is not a CIDR: the prefix length must be a number from 0 to %u",
		    text, maxp);
		goto out;
	}
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			czpg_errf(
			    err, errlen,
			    "\"%.64s\" is not a CIDR: the prefix length must be a number from 0 "
			    "to %u",
			    text, maxp);
			goto out;
		}
		prefix = prefix * 10 + (unsigned)(*p - '0');
	}
	if (prefix > maxp) {
		czpg_errf(
		    err, errlen,
		    "CIDR \"%.64s\": prefix length %u is out of range for an %s address (0-%u)",
		    text, prefix, c.family == AF_INET ? "IPv4" : "IPv6", maxp);
		goto out;
	}
	c.prefix = prefix;
	czpg_hba_prefix_mask(c.family, prefix, mask);
	h = c;
	for (i = 0; i < 16; i++)
		c.addr[i] &= mask[i];
	if (memcmp(c.addr, h.addr, 16) != 0) {
		h.prefix = maxp;
		if (czpg_hba_cidr_format(&c, net, sizeof(net)) < 0 ||
		    czpg_hba_cidr_format(&h, host, sizeof(host)) < 0)
			goto out;
		czpg_errf(
		    err, errlen,
		    "CIDR \"%.64s\" has host bits set; write %s for the network or %s for the "
		    "single host",
		    text, net, host);
		goto out;
	}
	*out = c;
	rc = 0;
out:
	return rc;
}

int czpg_hba_name_check(const char *name, char *err, size_t errlen)
{
	size_t i, n;

	if (name == NULL || name[0] == '\0') {
		czpg_errf(err, errlen, "a role or database name is empty");
		return -1;
	}
	n = strlen(name);
	if (n > CZPG_HBA_NAME_MAX) {
		czpg_errf(
		    err, errlen,
		    "name \"%.20s...\" is %zu bytes long; PostgreSQL names are at most %d bytes",
		    name, n, CZPG_HBA_NAME_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '\n' || c == '\r') {
			czpg_errf(err, errlen, "name \"%.*s...\" holds a line break", (int)i, name);
			return -1;
		}
		if (c < 0x20 || c == 0x7f) {
			czpg_errf(err, errlen, "name \"%.*s...\" holds control character 0x%02x",
				  (int)i, name, c);
			return -1;
		}
		if (c == ' ') {
			czpg_errf(err, errlen,
				  "name \"%s\" holds a space; give each role as its own value",
				  name);
			return -1;
		}
		if (c == ',') {
			czpg_errf(err, errlen,
				  "name \"%s\" holds a comma; give each role as its own value",
				  name);
			return -1;
		}
		if (c == '"') {
			czpg_errf(
			    err, errlen,
			    "name \"%s\" holds a double quote, which pg_hba.conf cannot express "
			    "safely",
			    name);
			return -1;
		}
	}
	return 0;
}

static bool is_name_keyword(const char *s)
{
	static const char *const kw[] = {"all", "sameuser", "samerole", "samegroup", "replication"};
	size_t i;

	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (strcmp(s, kw[i]) == 0)
			return true;
	return false;
}

int czpg_hba_quote_name(const char *name, char *out, size_t outlen)
{
	bool plain;
	size_t i, n;
	int len;

	if (czpg_hba_name_check(name, NULL, 0) < 0)
		return -1;
	n = strlen(name);
	plain = (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_';
	for (i = 1; plain && i < n; i++) {
		char c = name[i];

		plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
	}
	if (plain && is_name_keyword(name))
		plain = false;
	len = snprintf(out, outlen, plain ? "%s" : "\"%s\"", name);
	if (len < 0 || (size_t)len >= outlen)
		return -1;
	return len;
}
