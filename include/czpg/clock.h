/*
 * clock.h - the monotonic clock every deadline in czpg is measured on.
 */
#ifndef CZPG_CLOCK_H
#define CZPG_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t czpg_clock_ns(void);

#endif
