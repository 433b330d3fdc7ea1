/*
 * errf.h - the one way modules report an error sentence to a caller-supplied
 * buffer (`char *err, size_t errlen`).
 *
 * Convention: stateful objects (a connection, an engine, a TLS session) keep
 * their error inside the object; every other function reports through
 * czpg_errf.  A sentence is lower case, has no final period, and names what
 * failed, against which host or file, and what to do.
 */
#ifndef CZPG_ERRF_H
#define CZPG_ERRF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * snprintf into err; does nothing when err is NULL or errlen is 0.  A
 * sentence longer than the buffer is never silently cut: its last three
 * bytes become "..." so the reader knows there was more.
 */
void czpg_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void czpg_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
