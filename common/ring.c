/*
 * ring — SPSC ring of uint32 slot indices in shared memory (see ring.h).
 *
 * head and tail are free-running 32-bit counters; the entry for counter n
 * is at n & mask, with the handle's private mask, so whatever the shared
 * counters hold, every access stays inside the array.  Full is
 * tail - head >= capacity.  Each side caches the other's counter so the
 * common case touches only its own cache line.
 */
#include <stdatomic.h>
#include <stddef.h>

#include "common/ring.h"

_Static_assert(sizeof(struct ring_shm) == 3 * RING_CACHE_LINE, "ring header layout");

/* The smallest power of two >= cap (cap >= 1). */
static uint32_t pow2(uint32_t cap)
{
	uint32_t n = 1;

	while (n < cap)
		n <<= 1;
	return n;
}

size_t ring_size(uint32_t cap)
{
	size_t bytes = sizeof(struct ring_shm) + (size_t)pow2(cap) * sizeof(uint32_t);

	return (bytes + RING_CACHE_LINE - 1) & ~(size_t)(RING_CACHE_LINE - 1);
}

void ring_attach(struct ring *r, void *mem, uint32_t cap)
{
	r->m = mem;
	r->cap = cap;
	r->mask = pow2(cap) - 1;
}

void ring_reset(struct ring *r)
{
	r->m->cap = r->cap;
	r->m->mask = r->mask;
	atomic_init(&r->m->head, 0);
	atomic_init(&r->m->tail, 0);
	r->m->tail_cache = 0;
	r->m->head_cache = 0;
}

int ring_push(struct ring *r, uint32_t v)
{
	struct ring_shm *m = r->m;
	uint32_t tail = atomic_load_explicit(&m->tail, memory_order_relaxed);

	if (tail - m->head_cache >= r->cap) {
		m->head_cache = atomic_load_explicit(&m->head, memory_order_acquire);
		if (tail - m->head_cache >= r->cap)
			return -1;
	}
	m->v[tail & r->mask] = v;
	atomic_store_explicit(&m->tail, tail + 1, memory_order_release);
	return 0;
}

int ring_pop(struct ring *r, uint32_t *v)
{
	if (ring_peek(r, v) == -1)
		return -1;
	atomic_store_explicit(&r->m->head, atomic_load_explicit(&r->m->head,
	    memory_order_relaxed) + 1, memory_order_release);
	return 0;
}

int ring_peek(struct ring *r, uint32_t *v)
{
	struct ring_shm *m = r->m;
	uint32_t head = atomic_load_explicit(&m->head, memory_order_relaxed);

	if (head == m->tail_cache) {
		m->tail_cache = atomic_load_explicit(&m->tail, memory_order_acquire);
		if (head == m->tail_cache)
			return -1;
	}
	*v = m->v[head & r->mask];
	return 0;
}

uint32_t ring_count(const struct ring *r)
{
	uint32_t head = atomic_load_explicit(&r->m->head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r->m->tail, memory_order_acquire);

	return tail - head;
}

uint32_t ring_capacity(const struct ring *r)
{
	return r->cap;
}
