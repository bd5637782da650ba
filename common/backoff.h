/*
 * backoff — an exponential respawn delay: none, then min, doubling up to
 * max.  The owner decides what resets it (a long enough life, a completed
 * job, a reload) and documents that where it calls backoff_reset().
 *
 *   backoff_init(b, min, max)  delay none; steps go min, 2 min, ... max (ns)
 *   backoff_step(b)            one more failure: the new delay
 *   backoff_reset(b)           success: no delay
 *   backoff_delay(b)           the current delay, 0 = none
 *
 * The struct is small and embedded by value; touch it only through these.
 */
#ifndef JOBQD_BACKOFF_H
#define JOBQD_BACKOFF_H

#include <stdint.h>

struct backoff {
	int64_t min, max;	/* ns, 0 < min <= max */
	int64_t delay;		/* ns, 0 = none */
};

void backoff_init(struct backoff *b, int64_t min, int64_t max);
int64_t backoff_step(struct backoff *b);
void backoff_reset(struct backoff *b);
int64_t backoff_delay(const struct backoff *b);

#endif
