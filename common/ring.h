/*
 * ring — a single-producer/single-consumer ring of slot indices, placed in
 * shared memory by its owner (the segment).
 *
 * One process pushes, one process pops; the indices live in a power-of-two
 * array after the header.  The producer's tail and the consumer's head sit
 * on separate cache lines; push publishes with a release store, pop
 * observes with an acquire load, so the slot a pushed index names is fully
 * written before the consumer can see the index.
 *
 *   ring_size(cap)        bytes needed for a ring of at least cap entries
 *   ring_init(r, cap)     format the memory at r (caller owns it)
 *   ring_push(r, v)       0, or -1 when full
 *   ring_pop(r, &v)       0, or -1 when empty
 *   ring_count(r)         entries in the ring (a snapshot)
 *   ring_capacity(r)      usable entries
 *   ring_reset(r)         empty it (only with no producer or consumer alive)
 */
#ifndef JOBQD_RING_H
#define JOBQD_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring;

size_t ring_size(uint32_t cap);
void ring_init(struct ring *r, uint32_t cap);
int ring_push(struct ring *r, uint32_t v);
int ring_pop(struct ring *r, uint32_t *v);
uint32_t ring_count(const struct ring *r);
uint32_t ring_capacity(const struct ring *r);
void ring_reset(struct ring *r);

#endif
