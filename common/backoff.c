/*
 * backoff — an exponential respawn delay (see backoff.h).
 */
#include "common/backoff.h"

void backoff_init(struct backoff *b, int64_t min, int64_t max)
{
	b->min = min > 0 ? min : 1;
	b->max = max >= b->min ? max : b->min;
	b->delay = 0;
}

int64_t backoff_step(struct backoff *b)
{
	if (b->delay == 0)
		b->delay = b->min;
	else if (b->delay > b->max / 2)	/* doubling would pass max (or overflow) */
		b->delay = b->max;
	else
		b->delay *= 2;
	return b->delay;
}

void backoff_reset(struct backoff *b)
{
	b->delay = 0;
}

int64_t backoff_delay(const struct backoff *b)
{
	return b->delay;
}
