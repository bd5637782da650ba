/*
 * timers — a binary min-heap of slot indices by due time, with each slot's
 * position in it (see timers.h).
 */
#include <stdlib.h>

#include "worker/timers.h"

#define NOWHERE UINT32_MAX	/* pos[] of a slot not in the heap */

struct timer {
	int64_t at;
	uint32_t slot;
};

struct timers {
	uint32_t n, cap;
	uint32_t *pos;		/* by slot: its index in e[], or NOWHERE */
	struct timer e[];
};

struct timers *timers_create(uint32_t cap)
{
	struct timers *t = malloc(sizeof(*t) + (size_t)cap * sizeof(t->e[0]));

	if (t == NULL)
		return NULL;
	if ((t->pos = malloc((size_t)cap * sizeof(*t->pos) + 1)) == NULL) {
		free(t);
		return NULL;
	}
	for (uint32_t i = 0; i < cap; i++)
		t->pos[i] = NOWHERE;
	t->n = 0;
	t->cap = cap;
	return t;
}

void timers_free(struct timers *t)
{
	if (t != NULL)
		free(t->pos);
	free(t);
}

/* Put entry x at index k, and note where. */
static void place(struct timers *t, uint32_t k, struct timer x)
{
	t->e[k] = x;
	t->pos[x.slot] = k;
}

/* Put x in the hole at k, moving it up or down to where it belongs. */
static void settle(struct timers *t, uint32_t k, struct timer x)
{
	while (k > 0 && t->e[(k - 1) / 2].at > x.at) {
		place(t, k, t->e[(k - 1) / 2]);
		k = (k - 1) / 2;
	}
	for (;;) {
		uint32_t c = 2 * k + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n && t->e[c + 1].at < t->e[c].at)
			c++;
		if (t->e[c].at >= x.at)
			break;
		place(t, k, t->e[c]);
		k = c;
	}
	place(t, k, x);
}

int timers_push(struct timers *t, uint32_t slot, int64_t at)
{
	struct timer x = { .at = at, .slot = slot };

	if (slot >= t->cap)
		return -1;
	if (t->pos[slot] != NOWHERE)
		settle(t, t->pos[slot], x);
	else
		settle(t, t->n++, x);
	return 0;
}

int timers_remove(struct timers *t, uint32_t slot)
{
	uint32_t k;

	if (slot >= t->cap || (k = t->pos[slot]) == NOWHERE)
		return -1;
	t->pos[slot] = NOWHERE;
	if (k != --t->n)
		settle(t, k, t->e[t->n]);
	return 0;
}

int64_t timers_next(const struct timers *t)
{
	return t->n > 0 ? t->e[0].at : INT64_MAX;
}

int64_t timers_pop(struct timers *t, int64_t now)
{
	uint32_t slot;

	if (t->n == 0 || t->e[0].at > now)
		return -1;
	slot = t->e[0].slot;
	(void)timers_remove(t, slot);
	return slot;
}

uint32_t timers_count(const struct timers *t)
{
	return t->n;
}

int64_t timers_backoff(int64_t base, int64_t max, uint32_t n, uint32_t r)
{
	int64_t d = base;

	for (uint32_t k = 1; k < n && d < max; k++)
		d = d > max / 2 ? max : 2 * d;
	if (d > max)
		d = max;
	/* 16 bits of r: no overflow for d up to 2^47 ns (39 hours) * 4 */
	return d + (int64_t)(((uint64_t)(d / 4) * (r >> 16)) >> 16);
}
