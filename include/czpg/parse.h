/*
 * parse.h - small parsers of text a user gives: whole numbers in a range,
 * decimals in a range, and IP literals.  Pure functions over strings; the
 * one place each rule is written.
 */
#ifndef CZPG_PARSE_H
#define CZPG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses a plain decimal (digits only: no sign, no space, no suffix) in
 * [min, max] into *out.  Returns 0, or -1 leaving *out untouched.
 */
int czpg_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/*
 * Parses a finite decimal number ("0.25", "-99", "+5", ".5", "1e3") in
 * [min, max] into *out: no space, no suffix, no hexadecimal, no inf or nan,
 * no overflow.  Returns 0, or -1 leaving *out untouched.
 */
int czpg_parse_double(const char *s, double min, double max, double *out);

/*
 * Is s an IPv4 dotted quad or an IPv6 literal (no brackets, no zone)?
 * Returns 4 or 6, and the 4 or 16 network-order bytes in addr (when not
 * NULL; the rest of its 16 bytes zeroed); 0 when s is anything else (a
 * host name, a CIDR, empty, NULL).
 */
int czpg_parse_ip(const char *s, uint8_t addr[16]);

/*
 * The text form of a 4- or 16-byte network-order address (inet_ntop), into
 * out (CZPG_IP_TEXT_MAX bytes suffice).  0, or -1 for another length or a
 * buffer too small.
 */
#define CZPG_IP_TEXT_MAX 46
int czpg_parse_ip_text(const uint8_t *addr, size_t len, char *out, size_t outlen);

/* True when czpg_parse_ip(s) would return 4 or 6. */
bool czpg_parse_is_ip(const char *s);

#endif
