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
#define OPEN_TRIES 8	/* opens of a name removed under us before giving up */

/*
 * What a process knows of its segment.  g is the geometry computed from
 * the capacity and max_payload it asked for (the header was checked to
 * match at open); every offset, size and index bound comes from g and the
 * rings' private handles, never again from shared memory, which any
 * process of the daemon's user can rewrite.
 */
struct segment {
	int fd;
	void *base;
	size_t size;
	struct seg_header *h;
	unsigned node;		/* put in the job ids this process makes */
	struct seg_header g;
	struct ring ready, free;
	uint32_t *idem;		/* the key table, idem_mask + 1 entries */
	uint32_t idem_mask;
	uint32_t seen;		/* free ring: entries given to segment_finished */
	segment_popped_fn *popped;	/* ready ring entries popped (the dispatcher) */
	void *popped_arg;
	pid_t noted;		/* the process that noted a bad value */
	int note_new;		/* noted and not yet taken */
	char note[160];
};

const uint64_t seg_hist_bounds_us[SEG_HIST_BUCKETS] = {
	1000, 5000, 10000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
	/* up to job_timeout's maximum, a day */
	120000000, 300000000, 900000000, 3600000000, 14400000000, 86400000000, UINT64_MAX,
};

/* Entries of the key table: a power of two, at least 2 x capacity. */
static uint32_t idem_size(uint32_t capacity)
{
	uint32_t n = 2;

	while (n < 2 * (uint64_t)capacity)
		n <<= 1;
	return n;
}

/* Offsets and sizes of every part for one geometry. */
static void geometry(uint32_t capacity, uint32_t max_payload, uint32_t max_output,
    struct seg_header *g)
{
	memset(g, 0, sizeof(*g));
	g->capacity = capacity;
	g->max_payload = max_payload;
	g->max_output = max_output;
	g->header_size = (uint32_t)ALIGN64(sizeof(struct seg_header));
	g->slot_size = (uint32_t)ALIGN64(sizeof(struct slot));
	g->score_count = SEG_SCORE_COUNT;
	g->ready_off = g->header_size;
	g->free_off = g->ready_off + ring_size(capacity);
	g->score_off = g->free_off + ring_size(capacity);
	g->idem_off = g->score_off + ALIGN64(sizeof(struct score) * SEG_SCORE_COUNT);
	g->slots_off = g->idem_off + ALIGN64(sizeof(uint32_t) * (uint64_t)idem_size(capacity));
	g->payload_off = g->slots_off + (uint64_t)g->slot_size * capacity;
	g->output_off = g->payload_off + ALIGN64((uint64_t)max_payload) * capacity;
	g->total_size = g->output_off + ALIGN64((uint64_t)max_output) * capacity;
}

uint64_t segment_size(uint32_t capacity, uint32_t max_payload, uint32_t max_output)
{
	struct seg_header g;

	geometry(capacity, max_payload, max_output, &g);
	return g.total_size;
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

/* A bad value read from the segment was dropped: describe the first one
 * of this process for segment_bad_once. */
static void note_bad(struct segment *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note_bad(struct segment *s, const char *fmt, ...)
{
	va_list ap;
	pid_t me = getpid();

	if (s->noted == me)
		return;
	s->noted = me;
	s->note_new = 1;
	va_start(ap, fmt);
	vsnprintf(s->note, sizeof(s->note), fmt, ap);
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

/* Use geometry g for the mapped segment: the private view. */
static void view(struct segment *s, const struct seg_header *g)
{
	s->g = *g;
	ring_attach(&s->ready, (char *)s->base + g->ready_off, g->capacity);
	ring_attach(&s->free, (char *)s->base + g->free_off, g->capacity);
	s->idem = (uint32_t *)(void *)((char *)s->base + g->idem_off);
	s->idem_mask = idem_size(g->capacity) - 1;
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
	view(s, g);
	h = s->h;
	*h = *g;
	h->magic = 0;
	h->version = SEG_VERSION;
	h->created_at = clock_wall_ns();
	atomic_init(&h->next_seq, first_seq());
	h->first_seq = atomic_load(&h->next_seq);
	ring_reset(&s->ready);
	ring_reset(&s->free);
	for (uint32_t i = 0; i < g->capacity; i++) {
		atomic_init(&segment_slot(s, i)->state, SLOT_FREE);
		ring_push(&s->free, i);
	}
	/* The magic goes last: a crash while formatting leaves magic 0, which
	 * the next open formats again. */
	atomic_thread_fence(memory_order_release);
	h->magic = SEG_MAGIC;
	return 0;
}

/* An existing object we must not use: owned by someone else than us or
 * the user we run as, or open to the group or others.  0 when ours. */
static int foreign(const char *name, const struct stat *st, uid_t user,
    char *err, size_t errlen)
{
	if ((st->st_uid == geteuid() || st->st_uid == user) && (st->st_mode & 077) == 0)
		return 0;
	seterr(err, errlen, "shared memory %s belongs to uid %ld with mode %04o; jobqd "
	    "uses only a segment of its own user (uid %ld) with mode 0600: remove it "
	    "or set another shm_name", name, (long)st->st_uid,
	    (unsigned)(st->st_mode & 07777), (long)user);
	return -1;
}

/* Take the lock of the open segment; the object's stat after it in *st.
 * 0, SEG_BUSY or SEG_ERROR. */
static int lock(struct segment *s, const char *name, struct stat *st, char *err, size_t errlen)
{
	int r;

	while ((r = flock(s->fd, LOCK_EX | LOCK_NB)) == -1 && errno == EINTR)
		;
	if (r == -1 && errno == EWOULDBLOCK) {
		seterr(err, errlen, "shared memory %s is in use by running processes", name);
		return SEG_BUSY;
	}
	if (r == -1 || fstat(s->fd, st) == -1) {
		seterr(err, errlen, "shared memory %s: %s", name, strerror(errno));
		return SEG_ERROR;
	}
	return 0;
}

/* Open NAME, creating it with mode 0600 when it does not exist, and take
 * its lock; the object's stat after the lock in *st.  The owner and mode
 * of an existing object are checked before the lock, so a squatter's lock
 * cannot make us wait.  A name removed between our open and our lock (a
 * predecessor's clean stop) is opened again.  0, or a SEG_ error. */
static int open_locked(struct segment *s, const char *name, uid_t user, int *created,
    struct stat *st, char *err, size_t errlen)
{
	for (int tries = 0; tries < OPEN_TRIES; tries++) {
		int r;

		*created = 1;
		s->fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (s->fd == -1 && errno == EEXIST) {
			*created = 0;
			s->fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
		}
		if (s->fd == -1) {
			seterr(err, errlen, "shm_open %s: %s", name, strerror(errno));
			return SEG_ERROR;
		}
		/* the umask can only have taken bits away: put back rw for us */
		if (fstat(s->fd, st) == -1 || (*created && fchmod(s->fd, 0600) == -1)) {
			seterr(err, errlen, "shared memory %s: %s", name, strerror(errno));
			r = SEG_ERROR;
		} else if (!*created && foreign(name, st, user, err, errlen) == -1)
			r = SEG_MISMATCH;
		else if ((r = lock(s, name, st, err, errlen)) == 0 && st->st_nlink > 0)
			return 0;
		if (*created && r != SEG_BUSY && r != 0)
			shm_unlink(name);	/* what we made and could not use */
		close(s->fd);
		s->fd = -1;
		if (r != 0)
			return r;
	}
	seterr(err, errlen, "shared memory %s was removed each time we opened it", name);
	return SEG_ERROR;
}

/* An existing, locked segment: SEG_ATTACHED (mapped, same geometry),
 * SEG_CREATED (to be formatted: empty, an interrupted format, or resized
 * without unfinished jobs; err may say why) or SEG_MISMATCH / SEG_ERROR. */
static int check_existing(struct segment *s, const char *name, const struct stat *st,
    const struct seg_header *g, char *err, size_t errlen)
{
	struct seg_header hd, old;
	struct seg_census c;

	if (st->st_size == 0)
		return SEG_CREATED;
	if ((size_t)st->st_size < sizeof(struct seg_header)) {
		seterr(err, errlen, "shared memory %s (%lld bytes) is not a jobqd segment",
		    name, (long long)st->st_size);
		return SEG_MISMATCH;
	}
	if (map(s, (size_t)st->st_size) == -1) {
		seterr(err, errlen, "mmap %s: %s", name, strerror(errno));
		return SEG_ERROR;
	}
	memcpy(&hd, s->h, sizeof(hd));	/* judge one snapshot */
	if (hd.magic == 0)
		return SEG_CREATED;	/* an interrupted format */
	if (hd.magic != SEG_MAGIC) {
		seterr(err, errlen, "shared memory %s is not a jobqd segment (bad magic)", name);
		return SEG_MISMATCH;
	}
	if (hd.version != SEG_VERSION) {
		seterr(err, errlen, "shared memory %s has layout version %" PRIu32
		    ", this jobqd uses %d", name, hd.version, SEG_VERSION);
		return SEG_MISMATCH;
	}
	if (hd.capacity == 0 || hd.capacity > (1u << JOBID_SLOT_BITS)) {
		seterr(err, errlen, "shared memory %s has an inconsistent layout", name);
		return SEG_MISMATCH;
	}
	geometry(hd.capacity, hd.max_payload, hd.max_output, &old);
	if (old.total_size != (uint64_t)st->st_size ||
	    memcmp(&old.header_size, &hd.header_size,
		offsetof(struct seg_header, created_at) -
		offsetof(struct seg_header, header_size)) != 0) {
		seterr(err, errlen, "shared memory %s has an inconsistent layout", name);
		return SEG_MISMATCH;
	}
	if (hd.capacity == g->capacity && hd.max_payload == g->max_payload &&
	    hd.max_output == g->max_output) {
		if ((errno = posix_fallocate(s->fd, 0, st->st_size)) != 0) {
			seterr(err, errlen, "cannot reserve %lld bytes of shared memory for %s: %s",
			    (long long)st->st_size, name, strerror(errno));
			return SEG_ERROR;
		}
		return SEG_ATTACHED;
	}
	view(s, &old);
	segment_census(s, 1, &c);
	if (c.queued + c.running > 0) {
		seterr(err, errlen, "shared memory %s holds %" PRIu32 " unfinished jobs "
		    "for queue = %" PRIu32 ", max_payload = %" PRIu32 " and max_output = %"
		    PRIu32 "; start with those values to finish them, or remove /dev/shm%s",
		    name, c.queued + c.running, hd.capacity, hd.max_payload, hd.max_output,
		    name);
		return SEG_MISMATCH;
	}
	seterr(err, errlen, "shared memory %s resized from queue = %" PRIu32
	    ", max_payload = %" PRIu32 " and max_output = %" PRIu32
	    " (it held no unfinished job)", name, hd.capacity, hd.max_payload,
	    hd.max_output);
	return SEG_CREATED;
}

int segment_open(const char *name, uint32_t capacity, uint32_t max_payload,
    uint32_t max_output, uid_t user, struct segment **out, char *err, size_t errlen)
{
	struct segment *s;
	struct seg_header g;
	struct stat st;
	int created, r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (capacity == 0 || capacity > (1u << JOBID_SLOT_BITS)) {
		seterr(err, errlen, "queue capacity %" PRIu32 " out of range", capacity);
		return SEG_MISMATCH;
	}
	geometry(capacity, max_payload, max_output, &g);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		seterr(err, errlen, "out of memory");
		return SEG_ERROR;
	}
	if ((r = open_locked(s, name, user, &created, &st, err, errlen)) != 0) {
		free(s);
		return r;
	}
	r = created ? SEG_CREATED : check_existing(s, name, &st, &g, err, errlen);
	if (r == SEG_CREATED && format(s, &g) == -1) {
		seterr(err, errlen, "cannot reserve %" PRIu64 " bytes of shared memory for %s "
		    "(queue x (max_payload + max_output); is /dev/shm big enough?): %s",
		    g.total_size, name, strerror(errno));
		r = SEG_ERROR;
	}
	if (r < 0) {
		if (s->base != NULL)
			munmap(s->base, s->size);
		if (created)
			shm_unlink(name);	/* what we made and could not use */
		close(s->fd);
		free(s);
		return r;
	}
	view(s, &g);
	*out = s;
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
	return s->g.capacity;
}

uint32_t segment_max_payload(const struct segment *s)
{
	return s->g.max_payload;
}

struct slot *segment_slot(const struct segment *s, uint32_t i)
{
	return (struct slot *)((char *)s->base + s->g.slots_off + (uint64_t)i * s->g.slot_size);
}

unsigned char *segment_payload(const struct segment *s, uint32_t i)
{
	return (unsigned char *)s->base + s->g.payload_off +
	    (uint64_t)i * ALIGN64((uint64_t)s->g.max_payload);
}

struct ring *segment_ready(struct segment *s)
{
	return &s->ready;
}

struct ring *segment_free(struct segment *s)
{
	return &s->free;
}

struct score *segment_score(const struct segment *s, uint32_t i)
{
	return (struct score *)((char *)s->base + s->g.score_off) + i;
}

struct slot *segment_lookup(const struct segment *s, uint64_t id)
{
	uint32_t i = jobid_slot(id);
	struct slot *sl;

	if (id == 0 || i >= s->g.capacity)
		return NULL;
	sl = segment_slot(s, i);
	if (sl->id != id || atomic_load_explicit(&sl->state, memory_order_acquire) == SLOT_FILLING)
		return NULL;
	return sl;
}

/* The sequence part of a job id, or of next_seq, folded into 1 .. MOD. */
static uint64_t seq_of(uint64_t id)
{
	return (id >> JOBID_SLOT_BITS) & JOBID_SEQ_MOD;
}

static uint64_t seq_fold(uint64_t seq)
{
	return (seq - 1) % JOBID_SEQ_MOD + 1;
}

int segment_expired(const struct segment *s, uint64_t id)
{
	uint32_t i = jobid_slot(id);
	uint64_t seq = seq_of(id), cur;
	struct slot *sl;

	if (id == 0 || i >= s->g.capacity || seq < s->h->first_seq ||
	    seq >= seq_fold(atomic_load_explicit(&s->h->next_seq, memory_order_relaxed)))
		return 0;
	sl = segment_slot(s, i);
	cur = sl->id;
	if (cur == id)	/* reserved for a new body: its id is not yet written */
		return atomic_load_explicit(&sl->state, memory_order_acquire) == SLOT_FILLING;
	return jobid_node(cur) == jobid_node(id) && seq_of(cur) > seq;
}

const char *segment_bad_once(struct segment *s)
{
	if (!s->note_new)
		return NULL;
	s->note_new = 0;
	return s->note;
}

/* Producer of the free ring: slot i is finished; push it unless the
 * entry it had before a retry is still there: that one serves.  0, or -1
 * when the ring is full (only a rewritten ring can be). */
static int push_free(struct segment *s, uint32_t i)
{
	struct slot *sl = segment_slot(s, i);

	if (atomic_load_explicit(&sl->rings, memory_order_relaxed) & SLOT_ON_FREE &&
	    atomic_fetch_and(&sl->rings, ~SLOT_ON_FREE) & SLOT_ON_FREE)
		return 0;
	return ring_push(&s->free, i);
}

/* Pop ring r (bit: its SLOT_ bits) until an entry names a slot in one of
 * the states in mask (1 << state); entries that do not are dropped, at
 * most capacity of them per call.  The index, or -1.  A canceled slot
 * popped from the ready ring goes on the free ring.  An entry of a slot in
 * a legal state (a retried slot's old free ring entry, a ready entry
 * segment_cancel took) is dropped silently; others are noted. */
static long pop_valid(struct segment *s, struct ring *r, uint32_t bit, unsigned mask,
    const char *what, uint32_t max)
{
	uint32_t i;

	for (uint32_t n = 0; n < max && ring_pop(r, &i) == 0; n++) {
		struct slot *sl;
		uint32_t st, had;

		if (i >= s->g.capacity) {
			note_bad(s, "%s ring entry %" PRIu32 " is not a slot (queue = %" PRIu32 ")",
			    what, i, s->g.capacity);
			continue;
		}
		sl = segment_slot(s, i);
		if (r == &s->ready && s->popped != NULL)
			s->popped(s->popped_arg, i);
		/* the bits before the state (acquire: a push_free that
		 * cleared ON_FREE comes with its state) */
		had = r == &s->free && !(atomic_load_explicit(&sl->rings,
		    memory_order_acquire) & bit) ? 0 : atomic_fetch_and(&sl->rings, ~bit);
		if (had & bit & SLOT_ON_FREE)
			continue;	/* the entry of a retried slot */
		if (had & bit & SLOT_CANCELING) {
			/* segment_cancel took it: its state is CANCELED or
			 * about to be, and it is finished */
			if (push_free(s, i) == -1)
				note_bad(s, "free ring full with canceled slot %" PRIu32
				    " to push", i);
			continue;
		}
		st = atomic_load_explicit(&sl->state, memory_order_acquire);
		if ((had & bit || r == &s->free) && st < 32 && (mask >> st & 1))
			return i;
		if (st <= SLOT_SCHEDULED)
			continue;	/* stale: a retried or taken slot */
		note_bad(s, "%s ring entry: slot %" PRIu32 " is in state %" PRIu32,
		    what, i, st);
	}
	return -1;
}

static void idem_forget(struct segment *s, uint32_t i);

long segment_reserve(struct segment *s)
{
	long i = pop_valid(s, &s->free, SLOT_ON_FREE, 1u << SLOT_FREE | 1u << SLOT_DONE |
	    1u << SLOT_FAILED | 1u << SLOT_CANCELED, "free", s->g.capacity + 1);
	struct slot *sl;
	uint32_t next;

	if (i < 0)
		return -1;
	/* The free ring hands out slots in the order they were freed, each
	 * last touched a whole queue ago: start loading the next one's head
	 * and first payload bytes while this one's request is answered. */
	if (ring_peek(&s->free, &next) == 0 && next < s->g.capacity) {
		for (uint32_t off = 0; off < sizeof(struct slot); off += 64)
			__builtin_prefetch((char *)segment_slot(s, next) + off, 1);
		__builtin_prefetch(segment_payload(s, next), 1);
	}
	sl = segment_slot(s, (uint32_t)i);
	atomic_store_explicit(&sl->state, SLOT_FILLING, memory_order_relaxed);
	sl->payload_len = 0;
	idem_forget(s, (uint32_t)i);
	return i;
}

long segment_next_ready(struct segment *s)
{
	return pop_valid(s, &s->ready, SLOT_ON_READY | SLOT_CANCELING,
	    1u << SLOT_QUEUED | 1u << SLOT_SCHEDULED, "ready", s->g.capacity + 1);
}

long segment_pop_ready(struct segment *s)
{
	return pop_valid(s, &s->ready, SLOT_ON_READY | SLOT_CANCELING,
	    1u << SLOT_QUEUED | 1u << SLOT_SCHEDULED, "ready", 1);
}

void segment_on_pop(struct segment *s, segment_popped_fn *fn, void *arg)
{
	s->popped = fn;
	s->popped_arg = arg;
}

uint64_t segment_assign(struct segment *s, uint32_t i, uint32_t len)
{
	struct slot *sl = segment_slot(s, i);
	uint64_t seq = atomic_fetch_add_explicit(&s->h->next_seq, 1, memory_order_relaxed);

	sl->id = jobid_make(s->node, seq, i);
	sl->payload_len = len;
	sl->attempts = 0;
	sl->t_queued = clock_wall_ns();
	sl->t_started = sl->t_finished = 0;
	sl->worker_pid = 0;
	sl->exit_status = 0;
	sl->output_len = 0;
	sl->reason = SLOT_REASON_NONE;
	sl->run_at = sl->delayed_to = 0;
	return sl->id;
}

void segment_delay(struct segment *s, uint32_t i, int64_t run_at)
{
	struct slot *sl = segment_slot(s, i);

	sl->run_at = sl->delayed_to = run_at;
}

int segment_publish(struct segment *s, uint32_t i)
{
	struct seg_header *h = s->h;
	struct slot *sl = segment_slot(s, i);
	int delayed = sl->run_at != 0;

	/* Publish: everything above is visible before the state and the
	 * index; ON_READY before the state, so that a dispatcher that finds
	 * the slot SCHEDULED in the table (at its start) also sees that it is
	 * on the ready ring, not yet its own. */
	atomic_fetch_or(&sl->rings, SLOT_ON_READY);
	atomic_store_explicit(&sl->state, delayed ? SLOT_SCHEDULED : SLOT_QUEUED,
	    memory_order_release);
	atomic_fetch_add_explicit(&h->queued, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->accepted, 1, memory_order_relaxed);
	if (delayed)
		atomic_fetch_add_explicit(&h->scheduled, 1, memory_order_relaxed);
	if (ring_push(&s->ready, i) == 0)
		return 0;
	/* Each slot is on a ring at most once, so only a rewritten ring is
	 * full: take it all back, the slot stays ours. */
	note_bad(s, "ready ring full (%" PRIu32 " entries) with slot %" PRIu32 " to push",
	    ring_count(&s->ready), i);
	atomic_fetch_and(&sl->rings, ~SLOT_ON_READY);
	atomic_store_explicit(&sl->state, SLOT_FILLING, memory_order_relaxed);
	atomic_fetch_sub_explicit(&h->queued, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&h->accepted, 1, memory_order_relaxed);
	if (delayed)
		atomic_fetch_sub_explicit(&h->scheduled, 1, memory_order_relaxed);
	return -1;
}

uint64_t segment_enqueue(struct segment *s, uint32_t i, uint32_t len)
{
	uint64_t id = segment_assign(s, i, len);

	return segment_publish(s, i) == 0 ? id : 0;
}

void segment_finished(struct segment *s, segment_finished_fn *fn, void *arg)
{
	struct ring_shm *m = s->free.m;
	uint32_t head = atomic_load_explicit(&m->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&m->tail, memory_order_acquire);

	/* Outside head..tail (entries popped meanwhile, a reset ring): start
	 * again from the head; an END written twice is harmless. */
	if (s->seen - head > tail - head)
		s->seen = head;
	if (tail - s->seen > s->g.capacity)	/* a rewritten tail */
		s->seen = tail - s->g.capacity;
	for (; s->seen != tail; s->seen++) {
		uint32_t i = m->v[s->seen & s->free.mask];
		struct slot *sl;
		uint32_t st;

		if (i >= s->g.capacity)
			continue;	/* segment_reserve drops it */
		sl = segment_slot(s, i);
		st = atomic_load_explicit(&sl->state, memory_order_acquire);
		if ((st == SLOT_DONE || st == SLOT_FAILED || st == SLOT_CANCELED) && sl->id != 0)
			fn(arg, sl->id, (enum slot_state)st);
	}
}

int segment_restore(struct segment *s, uint64_t id, int64_t run_at, const void *payload,
    uint32_t len)
{
	uint32_t i = jobid_slot(id);
	struct slot *sl;

	if (id == 0 || i >= s->g.capacity || len > s->g.max_payload) {
		errno = EINVAL;
		return -1;
	}
	sl = segment_slot(s, i);
	memcpy(segment_payload(s, i), payload, len);
	sl->id = id;
	sl->payload_len = len;
	sl->attempts = 0;
	sl->t_queued = clock_wall_ns();
	sl->t_started = sl->t_finished = 0;
	sl->worker_pid = 0;
	sl->exit_status = 0;
	sl->output_len = 0;
	sl->idem_key = 0;
	sl->reason = SLOT_REASON_NONE;
	sl->run_at = sl->delayed_to = run_at;
	atomic_store(&sl->state, run_at != 0 ? SLOT_SCHEDULED : SLOT_QUEUED);
	segment_seq_above(s, id);
	return 0;
}

void segment_seq_above(struct segment *s, uint64_t id)
{
	uint64_t seq = seq_of(id);
	uint64_t next = atomic_load(&s->h->next_seq);

	/* next_seq counts up from the lower half of the sequences (a
	 * fold is 2^35 jobs away): compare folded values */
	if (seq_fold(next) <= seq)
		atomic_store(&s->h->next_seq, seq + 1);
	if (seq < s->h->first_seq)	/* issued by an earlier segment */
		s->h->first_seq = seq;
}

long segment_payload_len(struct segment *s, uint32_t i)
{
	uint32_t len = segment_slot(s, i)->payload_len;

	if (len <= s->g.max_payload)
		return len;
	note_bad(s, "slot %" PRIu32 " has payload_len %" PRIu32 " (max_payload = %" PRIu32 ")",
	    i, len, s->g.max_payload);
	return -1;
}

/* --- output ------------------------------------------------------------- */

unsigned char *segment_output(const struct segment *s, uint32_t i, uint32_t *len)
{
	if (len != NULL) {
		*len = segment_slot(s, i)->output_len;
		if (*len > s->g.max_output)
			*len = s->g.max_output;
	}
	return (unsigned char *)s->base + s->g.output_off +
	    (uint64_t)i * ALIGN64((uint64_t)s->g.max_output);
}

uint32_t segment_max_output(const struct segment *s)
{
	return s->g.max_output;
}

/* --- idempotency keys ------------------------------------------------------ */

uint64_t segment_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t k = 0; k < n; k++)
		h = (h ^ b[k]) * UINT64_C(1099511628211);
	return h != 0 ? h : 1;
}

/* Does slot i hold a job with key? */
static int idem_holds(const struct segment *s, uint32_t i, uint64_t key)
{
	const struct slot *sl = segment_slot(s, i);
	uint32_t st = atomic_load_explicit(&sl->state, memory_order_relaxed);

	return sl->idem_key == key && key != 0 && st >= SLOT_QUEUED && st <= SLOT_SCHEDULED;
}

long segment_idem_find(const struct segment *s, uint64_t key)
{
	uint32_t k = (uint32_t)key & s->idem_mask;

	for (uint32_t n = 0; n <= s->idem_mask; n++, k = (k + 1) & s->idem_mask) {
		uint32_t e = s->idem[k];

		if (e == 0)
			return -1;
		if (e <= s->g.capacity && idem_holds(s, e - 1, key))
			return (long)(e - 1);
	}
	return -1;
}

/* Put slot i (its idem_key set) in the table; -1 when it is full. */
static int idem_insert(struct segment *s, uint32_t i)
{
	uint32_t k = (uint32_t)segment_slot(s, i)->idem_key & s->idem_mask;

	for (uint32_t n = 0; n <= s->idem_mask; n++, k = (k + 1) & s->idem_mask) {
		if (s->idem[k] == 0) {
			s->idem[k] = i + 1;
			return 0;
		}
	}
	return -1;
}

int segment_idem_add(struct segment *s, uint32_t i, uint64_t key, uint64_t body)
{
	struct slot *sl = segment_slot(s, i);

	sl->idem_key = key;
	sl->idem_body = body;
	if (idem_insert(s, i) == 0)
		return 0;
	sl->idem_key = 0;
	return -1;
}

/* Take slot i out of the table (when it has a key) and close the gap:
 * later entries of the probe run move back where their home allows. */
static void idem_forget(struct segment *s, uint32_t i)
{
	struct slot *sl = segment_slot(s, i);
	uint32_t mask = s->idem_mask, k = (uint32_t)sl->idem_key & mask, n;

	if (sl->idem_key == 0)
		return;
	sl->idem_key = 0;
	for (n = 0; n <= mask && s->idem[k] != i + 1; n++, k = (k + 1) & mask)
		if (s->idem[k] == 0)
			return;		/* not there (a rewritten table) */
	if (n > mask)
		return;
	s->idem[k] = 0;
	for (uint32_t j = (k + 1) & mask, m = 0; m < mask; m++, j = (j + 1) & mask) {
		uint32_t e = s->idem[j], home;

		if (e == 0)
			return;
		if (e > s->g.capacity) {	/* garbage: drop it */
			s->idem[j] = 0;
			continue;
		}
		home = (uint32_t)segment_slot(s, e - 1)->idem_key & mask;
		if (((j - home) & mask) >= ((j - k) & mask)) {
			s->idem[k] = e;
			s->idem[j] = 0;
			k = j;
		}
	}
}

/* The table from the slots: each one holding a job with a key. */
static void idem_rebuild(struct segment *s)
{
	memset(s->idem, 0, sizeof(*s->idem) * ((size_t)s->idem_mask + 1));
	for (uint32_t i = 0; i < s->g.capacity; i++) {
		struct slot *sl = segment_slot(s, i);

		if (!idem_holds(s, i, sl->idem_key) || idem_insert(s, i) == -1)
			sl->idem_key = 0;
	}
}

/* Move slot i from state from to state to, or -1 when it is not in from. */
static int transition(struct slot *sl, uint32_t from, uint32_t to)
{
	return atomic_compare_exchange_strong_explicit(&sl->state, &from, to,
	    memory_order_release, memory_order_relaxed) ? 0 : -1;
}

int segment_run(struct segment *s, uint32_t i, pid_t worker)
{
	struct slot *sl = segment_slot(s, i);

	if (atomic_load_explicit(&sl->state, memory_order_relaxed) != SLOT_QUEUED)
		return -1;
	sl->attempts++;
	sl->t_started = sl->t_finished = 0;
	sl->worker_pid = (int32_t)worker;
	if (transition(sl, SLOT_QUEUED, SLOT_RUNNING) == -1)
		return -1;
	atomic_fetch_sub_explicit(&s->h->queued, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->h->running, 1, memory_order_relaxed);
	return 0;
}

/* RUNNING slot i waits again, in state to (QUEUED or SCHEDULED). */
static int unrun(struct segment *s, uint32_t i, int charged, uint32_t to)
{
	struct slot *sl = segment_slot(s, i);

	if (atomic_load_explicit(&sl->state, memory_order_relaxed) != SLOT_RUNNING)
		return -1;
	if (charged)
		atomic_fetch_add_explicit(&s->h->retried, 1, memory_order_relaxed);
	else
		sl->attempts--;
	if (transition(sl, SLOT_RUNNING, to) == -1)
		return -1;
	atomic_fetch_sub_explicit(&s->h->running, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->h->queued, 1, memory_order_relaxed);
	return 0;
}

int segment_requeue(struct segment *s, uint32_t i, int charged)
{
	return unrun(s, i, charged, SLOT_QUEUED);
}

int segment_schedule(struct segment *s, uint32_t i, int64_t run_at)
{
	if (atomic_load_explicit(&segment_slot(s, i)->state, memory_order_relaxed) != SLOT_RUNNING)
		return -1;
	segment_slot(s, i)->run_at = run_at;
	return unrun(s, i, 1, SLOT_SCHEDULED);
}

int segment_due(struct segment *s, uint32_t i)
{
	return transition(segment_slot(s, i), SLOT_SCHEDULED, SLOT_QUEUED);
}

/* Add the latency of one finished job to a histogram and its sum. */
static void observe(_Atomic uint64_t *hist, _Atomic uint64_t *sum, int64_t ns)
{
	uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
	int k = 0;

	while (k < SEG_HIST_BUCKETS - 1 && us > seg_hist_bounds_us[k])
		k++;
	atomic_fetch_add_explicit(&hist[k], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(sum, us, memory_order_relaxed);
}

int segment_finish(struct segment *s, uint32_t i, enum slot_state to)
{
	struct seg_header *h = s->h;
	struct slot *sl = segment_slot(s, i);
	uint32_t from = atomic_load_explicit(&sl->state, memory_order_relaxed);

	if ((to != SLOT_DONE && to != SLOT_FAILED) ||
	    (from != SLOT_QUEUED && from != SLOT_RUNNING) || transition(sl, from, to) == -1)
		return -1;
	atomic_fetch_sub_explicit(from == SLOT_QUEUED ? &h->queued : &h->running, 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(to == SLOT_DONE ? &h->completed : &h->failed, 1,
	    memory_order_relaxed);
	if (sl->t_started != 0) {
		observe(h->wait_hist, &h->wait_sum_us, sl->t_started - sl->t_queued);
		observe(h->run_hist, &h->run_sum_us, sl->t_finished - sl->t_started);
	}
	return push_free(s, i);
}

int segment_cancel(struct segment *s, uint32_t i)
{
	struct slot *sl = segment_slot(s, i);
	uint32_t st = atomic_load_explicit(&sl->state, memory_order_relaxed);
	uint32_t r = atomic_load(&sl->rings);

	if (st != SLOT_QUEUED && st != SLOT_SCHEDULED)
		return -1;
	/* On the ready ring: take its entry from the dispatcher first; once
	 * it has popped it, the slot is its own (segment_run expects it
	 * QUEUED, its timers hold it SCHEDULED). */
	while (r & SLOT_ON_READY) {
		if (atomic_compare_exchange_weak(&sl->rings, &r,
		    (r & ~SLOT_ON_READY) | SLOT_CANCELING)) {
			sl->t_finished = clock_wall_ns();
			atomic_store_explicit(&sl->state, SLOT_CANCELED, memory_order_release);
			goto canceled;
		}
	}
	/* The dispatcher's SCHEDULED slot (in its timers): CANCELED unless its
	 * timer made it QUEUED first; then a ready ring entry tells the
	 * dispatcher to drop the timer and free the slot.  (The master is the
	 * only reader of t_finished that could see it before it is set.) */
	if (st != SLOT_SCHEDULED || transition(sl, SLOT_SCHEDULED, SLOT_CANCELED) == -1)
		return -1;
	sl->t_finished = clock_wall_ns();
	atomic_fetch_or(&sl->rings, SLOT_CANCELING);
	if (ring_push(&s->ready, i) == -1) {
		/* only a rewritten ring is full: take it all back */
		note_bad(s, "ready ring full (%" PRIu32 " entries) with slot %" PRIu32 " to push",
		    ring_count(&s->ready), i);
		atomic_fetch_and(&sl->rings, ~SLOT_CANCELING);
		atomic_store_explicit(&sl->state, SLOT_SCHEDULED, memory_order_release);
		return -1;
	}
canceled:
	atomic_fetch_sub_explicit(&s->h->queued, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->h->canceled, 1, memory_order_relaxed);
	return 0;
}

int segment_retry(struct segment *s, uint32_t i)
{
	struct slot *sl = segment_slot(s, i);
	uint32_t st = atomic_load_explicit(&sl->state, memory_order_relaxed);
	uint32_t r = SLOT_CANCELING;

	if (st != SLOT_FAILED && st != SLOT_CANCELED)
		return -1;
	sl->attempts = 0;
	sl->t_queued = clock_wall_ns();
	sl->t_started = sl->t_finished = 0;
	sl->worker_pid = 0;
	sl->exit_status = 0;
	sl->reason = SLOT_REASON_NONE;
	atomic_store_explicit(&sl->state, SLOT_QUEUED, memory_order_release);
	atomic_fetch_add_explicit(&s->h->queued, 1, memory_order_relaxed);
	/* A canceled slot the dispatcher has not popped yet: its ready
	 * entry serves again.  Else it is (or is about to be) on the free
	 * ring, where that entry is now stale; and on the ready ring anew. */
	if (atomic_compare_exchange_strong(&sl->rings, &r, SLOT_ON_READY) ||
	    (r & SLOT_CANCELING && atomic_compare_exchange_strong(&sl->rings, &r,
	    (r & ~SLOT_CANCELING) | SLOT_ON_READY)))
		return 0;
	if (atomic_fetch_or(&sl->rings, SLOT_ON_FREE | SLOT_ON_READY) & SLOT_ON_READY)
		return 0;
	if (ring_push(&s->ready, i) == 0)
		return 0;
	note_bad(s, "ready ring full (%" PRIu32 " entries) with slot %" PRIu32 " to push",
	    ring_count(&s->ready), i);
	atomic_fetch_and(&sl->rings, ~SLOT_ON_READY);
	atomic_fetch_sub_explicit(&s->h->queued, 1, memory_order_relaxed);
	atomic_store_explicit(&sl->state, st, memory_order_release);
	return -1;
}

/* A min-heap of job ids (by sequence) of n entries: sift entry k down. */
static void heap_down(uint64_t *a, uint32_t n, uint32_t k)
{
	for (;;) {
		uint32_t m = k, l = 2 * k + 1, r = l + 1;
		uint64_t t;

		if (l < n && seq_of(a[l]) < seq_of(a[m]))
			m = l;
		if (r < n && seq_of(a[r]) < seq_of(a[m]))
			m = r;
		if (m == k)
			return;
		t = a[k];
		a[k] = a[m];
		a[m] = t;
		k = m;
	}
}

uint32_t segment_list(const struct segment *s, enum slot_state st, uint64_t *ids,
    uint32_t max)
{
	uint32_t n = 0;

	if (max == 0)
		return 0;
	/* keep the max newest in a min-heap, then sort it newest first */
	for (uint32_t i = 0; i < s->g.capacity; i++) {
		struct slot *sl = segment_slot(s, i);
		uint64_t id;

		if (atomic_load_explicit(&sl->state, memory_order_acquire) != st)
			continue;
		id = sl->id;
		if (id == 0)
			continue;
		if (n < max) {
			ids[n++] = id;
			if (n == max)
				for (uint32_t k = n / 2; k-- > 0;)
					heap_down(ids, n, k);
		} else if (seq_of(id) > seq_of(ids[0])) {
			ids[0] = id;
			heap_down(ids, n, 0);
		}
	}
	if (n < max)
		for (uint32_t k = n / 2; k-- > 0;)
			heap_down(ids, n, k);
	for (uint32_t m = n; m > 1; m--) {
		uint64_t t = ids[0];

		ids[0] = ids[m - 1];
		ids[m - 1] = t;
		heap_down(ids, m - 1, 0);
	}
	return n;
}

void segment_census(const struct segment *s, int exact, struct seg_census *c)
{
	memset(c, 0, sizeof(*c));
	if (exact) {
		for (uint32_t i = 0; i < s->g.capacity; i++) {
			uint32_t st = atomic_load(&segment_slot(s, i)->state);

			c->queued += st == SLOT_QUEUED || st == SLOT_SCHEDULED;
			c->running += st == SLOT_RUNNING;
		}
	} else {
		c->queued = atomic_load(&s->h->queued);
		c->running = atomic_load(&s->h->running);
	}
	for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++) {
		uint32_t st = atomic_load_explicit(&segment_score(s, i)->state,
		    memory_order_relaxed);

		if (st <= SCORE_EXITING)
			c->workers[st]++;
	}
}

/* qsort_r order of slot indices by job id. */
static int by_id(const void *a, const void *b, void *arg)
{
	const struct segment *s = arg;
	uint64_t x = segment_slot(s, *(const uint32_t *)a)->id;
	uint64_t y = segment_slot(s, *(const uint32_t *)b)->id;

	return (x > y) - (x < y);
}

static void idem_rebuild(struct segment *s);

int segment_recover(struct segment *s, int keep_filling, struct seg_recovery *r)
{
	uint32_t cap = s->g.capacity, n = 0;
	uint32_t *order = malloc(sizeof(*order) * cap);

	if (order == NULL)
		return -1;
	memset(r, 0, sizeof(*r));
	ring_reset(&s->ready);
	ring_reset(&s->free);
	for (uint32_t i = 0; i < cap; i++) {
		struct slot *sl = segment_slot(s, i);

		atomic_store(&sl->rings, 0);
		switch (atomic_load(&sl->state)) {
		case SLOT_RUNNING:
			atomic_store(&sl->state, SLOT_QUEUED);
			sl->reason = SLOT_REASON_LOST;	/* its attempt's, if its last */
			r->orphaned++;
			order[n++] = i;
			break;
		case SLOT_QUEUED:
			r->requeued++;
			order[n++] = i;
			break;
		case SLOT_SCHEDULED:	/* waits on: the dispatcher finds it */
			r->scheduled++;
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
		default:	/* FREE, DONE, FAILED, CANCELED, or garbage: reusable */
			if (atomic_load(&sl->state) > SLOT_SCHEDULED)
				atomic_store(&sl->state, SLOT_FREE);
			ring_push(&s->free, i);
			r->freed++;
			break;
		}
	}
	idem_rebuild(s);
	qsort_r(order, n, sizeof(*order), by_id, s);
	for (uint32_t k = 0; k < n; k++) {
		atomic_store(&segment_slot(s, order[k])->rings, SLOT_ON_READY);
		ring_push(&s->ready, order[k]);
	}
	free(order);
	atomic_store(&s->h->queued, n + r->scheduled);
	atomic_store(&s->h->running, 0);
	atomic_store(&s->h->dispatcher_sleeping, 0);
	for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++) {
		struct score *sc = segment_score(s, i);

		atomic_store(&sc->pid, 0);
		atomic_store(&sc->state, SCORE_EMPTY);
		atomic_store(&sc->job_id, 0);
		atomic_store(&sc->progress, 0);
		atomic_store(&sc->job_started, 0);
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
	    seq_fold(seq) << JOBID_SLOT_BITS | slot;
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
