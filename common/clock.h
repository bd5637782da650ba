/*
 * clock — the two clocks jobqd reads: wall time for timestamps shown to
 * users, monotonic time for deadlines and timeouts.  Both in ns.
 */
#ifndef JOBQD_CLOCK_H
#define JOBQD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_REALTIME in ns (timestamps in job records and logs). */
static inline int64_t clock_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in ns (deadlines). */
static inline int64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
