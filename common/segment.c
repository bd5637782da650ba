/*
 * segment — create, attach, validate and recover the shared-memory segment
 * (see segment.h for the layout, the slot life cycle and who owns what).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/segment.h"

#define ALIGN64(n) (((n) + 63) & ~(uint64_t)63)
#define JOBID_SEQ_MOD	((UINT64_C(1) << JOBID_SEQ_BITS) - 1)	/* sequences 1 .. MOD */
#define JOBID_NODE_SHIFT (JOBID_SEQ_BITS + JOBID_SLOT_BITS)

struct segment {
	int fd;
	void *base;
	size_t size;
	struct seg_header *h;
	unsigned node;		/* put in the job ids this process makes */
};

const uint64_t seg_hist_bounds_us[SEG_HIST_BUCKETS] = {
	1000, 5000, 10000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000, UINT64_MAX,
};

/* Offsets and sizes of every part for one geometry. */
static void geometry(uint32_t capacity, uint32_t max_payload, struct seg_header *g)
{
	memset(g, 0, sizeof(*g));
	g->capacity = capacity;
	g->max_payload = max_payload;
	g->header_size = (uint32_t)ALIGN64(sizeof(struct seg_header));
	g->slot_size = (uint32_t)ALIGN64(sizeof(struct slot) + (uint64_t)max_payload);
	g->score_count = SEG_SCORE_COUNT;
	g->ready_off = g->header_size;
	g->free_off = g->ready_off + ring_size(capacity);
	g->score_off = g->free_off + ring_size(capacity);
	g->slots_off = g->score_off + ALIGN64(sizeof(struct score) * SEG_SCORE_COUNT);
	g->total_size = g->slots_off + (uint64_t)g->slot_size * capacity;
}

/* snprintf into err when there is one. */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Map the segment's fd read-write. */
static int map(struct segment *s, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);

	if (p == MAP_FAILED)
		return -1;
	s->base = p;
	s->size = size;
	s->h = p;
	return 0;
}

/* A random first job sequence, so ids from an earlier segment of the same
 * name (before a clean stop unlinked it) are not handed out again. */
static uint64_t first_seq(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint64_t)clock_wall_ns();
	/* the lower half of the sequences: room to count up before a wrap */
	return (v & ((UINT64_C(1) << (JOBID_SEQ_BITS - 1)) - 1)) + 1;
}

/* Size the fd to the geometry, map it and format an empty segment. */
static int format(struct segment *s, const struct seg_header *g)
{
	struct seg_header *h;

	if (s->base != NULL) {
		munmap(s->base, s->size);
		s->base = NULL;
	}
	/* Shrink to zero first so no byte of an older layout survives; then
	 * reserve every page now: on tmpfs an ftruncate'd hole would fail
	 * later as SIGBUS in the middle of a request. */
	if (ftruncate(s->fd, 0) == -1 || ftruncate(s->fd, (off_t)g->total_size) == -1)
		return -1;
	if ((errno = posix_fallocate(s->fd, 0, (off_t)g->total_size)) != 0)
		return -1;
	if (map(s, g->total_size) == -1)
		return -1;
	h = s->h;
	*h = *g;
	h->magic = 0;
	h->version = SEG_VERSION;
	h->created_at = clock_wall_ns();
	atomic_init(&h->next_seq, first_seq());
	ring_init(segment_ready(s), g->capacity);
	ring_init(segment_free(s), g->capacity);
	for (uint32_t i = 0; i < g->capacity; i++) {
		atomic_init(&segment_slot(s, i)->state, SLOT_FREE);
		ring_push(segment_free(s), i);
	}
	/* The magic goes last: a crash while formatting leaves magic 0, which
	 * the next open formats again. */
	atomic_thread_fence(memory_order_release);
	h->magic = SEG_MAGIC;
	return 0;
}

/* Count QUEUED and RUNNING slots of a segment with a valid header. */
static uint32_t pending(const struct segment *s)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->h->capacity; i++) {
		uint32_t st = atomic_load(&segment_slot(s, i)->state);

		n += st == SLOT_QUEUED || st == SLOT_RUNNING;
	}
	return n;
}

int segment_open(const char *name, uint32_t capacity, uint32_t max_payload,
    struct segment **out, char *err, size_t errlen)
{
	struct segment *s;
	struct seg_header g;
	struct stat st;
	int created = 1, r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (capacity == 0 || capacity > (1u << JOBID_SLOT_BITS)) {
		seterr(err, errlen, "queue capacity %" PRIu32 " out of range", capacity);
		return SEG_MISMATCH;
	}
	geometry(capacity, max_payload, &g);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		seterr(err, errlen, "out of memory");
		return SEG_ERROR;
	}
	s->fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->fd == -1 && errno == EEXIST) {
		created = 0;
		s->fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	}
	if (s->fd == -1) {
		seterr(err, errlen, "shm_open %s: %s", name, strerror(errno));
		free(s);
		return SEG_ERROR;
	}
	while ((r = flock(s->fd, LOCK_EX | LOCK_NB)) == -1 && errno == EINTR)
		;
	if (r == -1) {
		if (errno == EWOULDBLOCK) {
			seterr(err, errlen, "shared memory %s is in use by running processes", name);
			r = SEG_BUSY;
		} else {
			seterr(err, errlen, "flock %s: %s", name, strerror(errno));
			r = SEG_ERROR;
		}
		goto fail;
	}
	if (fstat(s->fd, &st) == -1) {
		seterr(err, errlen, "fstat %s: %s", name, strerror(errno));
		r = SEG_ERROR;
		goto fail;
	}
	if (!created && geteuid() != 0 && st.st_uid != geteuid()) {
		seterr(err, errlen, "shared memory %s belongs to uid %ld, not to us",
		    name, (long)st.st_uid);
		r = SEG_MISMATCH;
		goto fail;
	}
	if (created || st.st_size == 0)
		goto fresh;
	if ((size_t)st.st_size < sizeof(struct seg_header)) {
		seterr(err, errlen, "shared memory %s (%lld bytes) is not a jobqd segment",
		    name, (long long)st.st_size);
		r = SEG_MISMATCH;
		goto fail;
	}
	if (map(s, (size_t)st.st_size) == -1) {
		seterr(err, errlen, "mmap %s: %s", name, strerror(errno));
		r = SEG_ERROR;
		goto fail;
	}
	if (s->h->magic == 0)
		goto fresh;	/* an interrupted format */
	if (s->h->magic != SEG_MAGIC) {
		seterr(err, errlen, "shared memory %s is not a jobqd segment (bad magic)", name);
		r = SEG_MISMATCH;
		goto fail;
	}
	if (s->h->version != SEG_VERSION) {
		seterr(err, errlen, "shared memory %s has layout version %" PRIu32
		    ", this jobqd uses %d", name, s->h->version, SEG_VERSION);
		r = SEG_MISMATCH;
		goto fail;
	}
	{
		struct seg_header old;

		geometry(s->h->capacity, s->h->max_payload, &old);
		if (old.total_size != (uint64_t)st.st_size ||
		    memcmp(&old.header_size, &s->h->header_size,
			offsetof(struct seg_header, created_at) -
			offsetof(struct seg_header, header_size)) != 0) {
			seterr(err, errlen, "shared memory %s has an inconsistent layout", name);
			r = SEG_MISMATCH;
			goto fail;
		}
	}
	if (s->h->capacity != capacity || s->h->max_payload != max_payload) {
		uint32_t n = pending(s);

		if (n > 0) {
			seterr(err, errlen, "shared memory %s holds %" PRIu32 " unfinished jobs "
			    "for queue = %" PRIu32 " and max_payload = %" PRIu32
			    "; start with those values to finish them, or remove /dev/shm%s",
			    name, n, s->h->capacity, s->h->max_payload, name);
			r = SEG_MISMATCH;
			goto fail;
		}
		seterr(err, errlen, "shared memory %s resized from queue = %" PRIu32
		    " and max_payload = %" PRIu32 " (it held no unfinished job)",
		    name, s->h->capacity, s->h->max_payload);
		goto fresh;
	}
	if ((errno = posix_fallocate(s->fd, 0, st.st_size)) != 0) {
		seterr(err, errlen, "cannot reserve %lld bytes of shared memory for %s: %s",
		    (long long)st.st_size, name, strerror(errno));
		r = SEG_ERROR;
		goto fail;
	}
	*out = s;
	return SEG_ATTACHED;
fresh:
	if (format(s, &g) == -1) {
		seterr(err, errlen, "cannot reserve %" PRIu64 " bytes of shared memory for %s "
		    "(queue x max_payload; is /dev/shm big enough?): %s",
		    g.total_size, name, strerror(errno));
		r = SEG_ERROR;
		goto fail;
	}
	*out = s;
	return SEG_CREATED;
fail:
	if (s->base != NULL)
		munmap(s->base, s->size);
	if (created && r != SEG_BUSY)
		shm_unlink(name);	/* what we made and could not use */
	close(s->fd);
	free(s);
	return r;
}

void segment_close(struct segment *s)
{
	if (s == NULL)
		return;
	munmap(s->base, s->size);
	close(s->fd);
	free(s);
}

int segment_fd(const struct segment *s)
{
	return s->fd;
}

int segment_unlink(const char *name)
{
	return shm_unlink(name);
}

struct seg_header *segment_header(const struct segment *s)
{
	return s->h;
}

uint32_t segment_capacity(const struct segment *s)
{
	return s->h->capacity;
}

uint32_t segment_max_payload(const struct segment *s)
{
	return s->h->max_payload;
}

struct slot *segment_slot(const struct segment *s, uint32_t i)
{
	return (struct slot *)((char *)s->base + s->h->slots_off +
	    (uint64_t)i * s->h->slot_size);
}

struct ring *segment_ready(const struct segment *s)
{
	return (struct ring *)((char *)s->base + s->h->ready_off);
}

struct ring *segment_free(const struct segment *s)
{
	return (struct ring *)((char *)s->base + s->h->free_off);
}

struct score *segment_score(const struct segment *s, uint32_t i)
{
	return (struct score *)((char *)s->base + s->h->score_off) + i;
}

struct slot *segment_lookup(const struct segment *s, uint64_t id)
{
	uint32_t i = jobid_slot(id);
	struct slot *sl;

	if (id == 0 || i >= s->h->capacity)
		return NULL;
	sl = segment_slot(s, i);
	if (sl->id != id || atomic_load_explicit(&sl->state, memory_order_acquire) == SLOT_FILLING)
		return NULL;
	return sl;
}

long segment_reserve(struct segment *s)
{
	uint32_t i;
	struct slot *sl;

	if (ring_pop(segment_free(s), &i) == -1)
		return -1;
	sl = segment_slot(s, i);
	atomic_store_explicit(&sl->state, SLOT_FILLING, memory_order_relaxed);
	sl->payload_len = 0;
	return i;
}

uint64_t segment_enqueue(struct segment *s, uint32_t i, uint32_t len)
{
	struct seg_header *h = s->h;
	struct slot *sl = segment_slot(s, i);
	uint64_t seq = atomic_fetch_add_explicit(&h->next_seq, 1, memory_order_relaxed);

	sl->id = jobid_make(s->node, seq, i);
	sl->payload_len = len;
	sl->attempts = 0;
	sl->t_queued = clock_wall_ns();
	sl->t_started = sl->t_finished = 0;
	sl->worker_pid = 0;
	sl->exit_status = 0;
	/* Publish: everything above is visible before the state and the index. */
	atomic_store_explicit(&sl->state, SLOT_QUEUED, memory_order_release);
	atomic_fetch_add_explicit(&h->queued, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->accepted, 1, memory_order_relaxed);
	if (ring_push(segment_ready(s), i) == -1)
		abort();	/* each slot is on a ring at most once: cannot be full */
	return sl->id;
}

/* qsort order of slot indices by job id. */
static const struct segment *sort_seg;
static int by_id(const void *a, const void *b)
{
	uint64_t x = segment_slot(sort_seg, *(const uint32_t *)a)->id;
	uint64_t y = segment_slot(sort_seg, *(const uint32_t *)b)->id;

	return (x > y) - (x < y);
}

int segment_recover(struct segment *s, int keep_filling, struct seg_recovery *r)
{
	uint32_t cap = s->h->capacity, n = 0;
	uint32_t *order = malloc(sizeof(*order) * (cap ? cap : 1));
	struct ring *ready = segment_ready(s), *freer = segment_free(s);

	if (order == NULL)
		return -1;
	memset(r, 0, sizeof(*r));
	ring_reset(ready);
	ring_reset(freer);
	for (uint32_t i = 0; i < cap; i++) {
		struct slot *sl = segment_slot(s, i);

		switch (atomic_load(&sl->state)) {
		case SLOT_RUNNING:
			atomic_store(&sl->state, SLOT_QUEUED);
			r->orphaned++;
			order[n++] = i;
			break;
		case SLOT_QUEUED:
			r->requeued++;
			order[n++] = i;
			break;
		case SLOT_FILLING:
			if (keep_filling) {
				r->kept++;
				break;
			}
			atomic_store(&sl->state, SLOT_FREE);
			sl->id = 0;
			r->dropped++;
			/* fall through */
		default:	/* FREE, DONE, FAILED, or garbage: reusable */
			if (atomic_load(&sl->state) > SLOT_FAILED)
				atomic_store(&sl->state, SLOT_FREE);
			ring_push(freer, i);
			r->freed++;
			break;
		}
	}
	sort_seg = s;
	qsort(order, n, sizeof(*order), by_id);
	for (uint32_t k = 0; k < n; k++)
		ring_push(ready, order[k]);
	free(order);
	atomic_store(&s->h->queued, n);
	atomic_store(&s->h->running, 0);
	atomic_store(&s->h->dispatcher_sleeping, 0);
	for (uint32_t i = 0; i < s->h->score_count; i++) {
		struct score *sc = segment_score(s, i);

		atomic_store(&sc->pid, 0);
		atomic_store(&sc->state, SCORE_EMPTY);
		atomic_store(&sc->job_id, 0);
	}
	return 0;
}

void segment_set_node(struct segment *s, unsigned node)
{
	s->node = node;
}

unsigned segment_node(const struct segment *s)
{
	return s->node;
}

uint64_t jobid_make(unsigned node, uint64_t seq, uint32_t slot)
{
	return (uint64_t)(node & JOBID_NODE_MAX) << JOBID_NODE_SHIFT |
	    ((seq - 1) % JOBID_SEQ_MOD + 1) << JOBID_SLOT_BITS | slot;
}

uint32_t jobid_slot(uint64_t id)
{
	return (uint32_t)(id & ((1u << JOBID_SLOT_BITS) - 1));
}

unsigned jobid_node(uint64_t id)
{
	return (unsigned)(id >> JOBID_NODE_SHIFT);
}

void jobid_format(uint64_t id, char buf[JOBID_STRLEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = JOBID_STRLEN - 1; i >= 0; i--, id >>= 4)
		buf[i] = hex[id & 0xf];
	buf[JOBID_STRLEN] = '\0';
}

int jobid_parse(const char *str, size_t len, uint64_t *id)
{
	uint64_t v = 0;

	if (len != JOBID_STRLEN)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = str[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		v = v << 4 | d;
	}
	*id = v;
	return 0;
}
