/*
 * errf.h - the one way modules report an error sentence to a caller-supplied
 * buffer (`char *err, size_t errlen`), as most czpg functions take.
 */
#ifndef CZPG_ERRF_H
#define CZPG_ERRF_H

#include <stddef.h>

/* snprintf into err; does nothing when err is NULL or errlen is 0. */
void czpg_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
