/*
 * parse.c - numbers and IP literals from user text (see czpg/parse.h).
 *
 * <arpa/inet.h> is included here only for inet_pton, a text-to-bytes
 * conversion; nothing in the core opens or uses a socket.
 */
#include "czpg/parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int czpg_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int czpg_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	/*
	 * strtod alone would also take leading spaces, hexadecimal ("0x1p3"),
	 * "inf" and "nan": a decimal starts with a digit, a sign or a point.
	 */
	if (s == NULL || strchr("0123456789+-.", *s) == NULL || *s == '\0' ||
	    strpbrk(s, "xX") != NULL)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int czpg_parse_ip(const char *s, uint8_t addr[16])
{
	uint8_t tmp[16];
	uint8_t *dst = addr != NULL ? addr : tmp;

	memset(dst, 0, 16);
	if (s == NULL || s[0] == '\0')
		return 0;
	if (inet_pton(AF_INET, s, dst) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, dst) == 1)
		return 6;
	memset(dst, 0, 16);
	return 0;
}

int czpg_parse_ip_text(const uint8_t *addr, size_t len, char *out, size_t outlen)
{
	int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;

	if (family == 0 || addr == NULL || out == NULL ||
	    inet_ntop(family, addr, out, (socklen_t)outlen) == NULL) {
		if (out != NULL && outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

bool czpg_parse_is_ip(const char *s)
{
	return czpg_parse_ip(s, NULL) != 0;
}
