/*
 * errf.c - error sentences into caller-supplied buffers (see czpg/errf.h).
 */
#include "czpg/errf.h"

#include <stdio.h>
#include <string.h>

void czpg_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
	int n;

	if (err == NULL || errlen == 0)
		return;
	n = vsnprintf(err, errlen, fmt, ap);
	if (n < 0) {
		err[0] = '\0';
		return;
	}
	/* Cut: say so rather than end mid-word as if that were the whole sentence. */
	if ((size_t)n >= errlen && errlen > 4)
		memcpy(err + errlen - 4, "...", 4);
}

void czpg_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	czpg_verrf(err, errlen, fmt, ap);
	va_end(ap);
}
