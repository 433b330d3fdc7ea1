/*
 * clock.c - the monotonic clock (see czpg/clock.h).
 */
#include "czpg/clock.h"

#include <time.h>

uint64_t czpg_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
