/*
 * test_segment — Check suite for common/segment.c.
 *
 *   ids       jobid_make/slot/format/parse tables; segment_lookup on id 0,
 *             bad slot bits, a stale id after the slot is reused
 *   recover   every assignment of the seven slot states to six slots, with
 *             keep_filling 0 and 1, from dirty rings, gauges and scoreboard;
 *             a crash after each step of an enqueue and of a completion
 *   attach    wrong magic, version, size, layout; same geometry re-attached;
 *             resized with and without pending jobs; SEG_BUSY from this
 *             process and from a forked child, free again once it dies
 *   trust     a segment of another user or open to others is refused and
 *             left alone, root included; one of the user we run as is
 *             ours; new ones are 0600 under any umask; one unlinked by an
 *             exiting predecessor between our open and our lock (a flock
 *             wrapper runs the predecessor there) is not adopted; bad ring
 *             entries, ring headers, header sizes and payload_len after
 *             the open are dropped or ignored; enqueue on a full ring
 *   journal   assign/publish, the finished slots seen on the free ring,
 *             restore of a job in its own slot and the sequence above it
 *   kill      a child SIGKILLed while enqueueing as fast as it can: every
 *             id it reported is queued after recovery
 *   transitions  segment_run / requeue / finish through a job's life, the
 *             gauges and counters they keep; each refused from every wrong
 *             state with nothing changed; the census, exact and by gauges;
 *             cancel and retry (each ring holds a slot once, either order
 *             of a stale free entry's pop and the next finish), the list,
 *             expired ids; a cancel race against a dispatcher thread
 *             (segment_run never finds a taken slot canceled); delayed
 *             jobs: published scheduled, canceled on the ready ring or in
 *             the dispatcher's timers (pushed back for it to free),
 *             against the timer, retried before the free; and a race of
 *             cancels against a dispatcher thread with a timer heap
 *
 * Segments are named /jobqd-test-<pid>-<test pid>-<n>; every test unlinks
 * its names, and main() sweeps the ones a failed check left behind.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/child.h"
#include "common/clock.h"
#include "common/ring.h"
#include "common/segment.h"
#include "worker/timers.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- helpers -------------------------------------------------------------- */

static long main_pid;	/* the runner's; every name starts with it */

/* A fresh segment name: /jobqd-test-<runner pid>-<test pid>-<n>.  Tests
 * unlink their names; main() sweeps what a failed test left behind. */
static const char *
seg_name(void)
{
	static char names[16][64];
	static unsigned n;
	char *name;

	ck_assert_uint_lt(n, NELEM(names));
	name = names[n];
	snprintf(name, sizeof(names[0]), "/jobqd-test-%ld-%ld-%u", main_pid,
	    (long)getpid(), n);
	n++;
	segment_unlink(name);
	return name;
}

/* Unlink every /dev/shm/jobqd-test-<main_pid>-*. */
static void
sweep_names(void)
{
	char prefix[64], path[300];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	if (d == NULL)
		return;
	snprintf(prefix, sizeof(prefix), "jobqd-test-%ld-", main_pid);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(path, sizeof(path), "/%s", e->d_name);
			segment_unlink(path);
		}
	closedir(d);
}

/* Create a new segment, failing the test otherwise. */
static struct segment *
seg_create(const char *name, uint32_t cap, uint32_t max_payload)
{
	struct segment *s = NULL;
	char err[256];
	int r = segment_open(name, cap, max_payload, 0, geteuid(), &s, err, sizeof(err));

	ck_assert_msg(r == SEG_CREATED, "segment_open %s: got %d (%s), want SEG_CREATED",
	    name, r, err);
	return s;
}

/* Pop everything from r into out (at most max); returns the count. */
static uint32_t
drain(struct ring *r, uint32_t *out, uint32_t max)
{
	uint32_t n = 0, v;

	while (n < max && ring_pop(r, &v) == 0)
		out[n++] = v;
	return n;
}

/* Reserve, write a payload, enqueue: the master's whole enqueue. */
static uint64_t
enqueue_job(struct segment *s, const char *payload)
{
	long i = segment_reserve(s);
	size_t len = strlen(payload);

	ck_assert_msg(i >= 0, "segment_reserve: queue full");
	memcpy(segment_payload(s, (uint32_t)i), payload, len);
	return segment_enqueue(s, (uint32_t)i, (uint32_t)len);
}


/* --- idempotency keys ------------------------------------------------------- */

/* The key table of s (2 x capacity entries, rounded up to a power of 2). */
static uint32_t *idem_table(struct segment *s)
{
	return (uint32_t *)(void *)((char *)segment_header(s) + segment_header(s)->idem_off);
}

/* Enqueue payload with key k (its hash: the payload's). */
static uint64_t enqueue_keyed(struct segment *s, const char *payload, uint64_t k)
{
	uint64_t id = enqueue_job(s, payload);

	ck_assert_int_eq(segment_idem_add(s, jobid_slot(id), k,
	    segment_hash(payload, strlen(payload))), 0);
	return id;
}

/* Run and finish job id, so its slot can be reused. */
static void finish_job(struct segment *s, uint64_t id)
{
	uint32_t i = jobid_slot(id);

	while (segment_next_ready(s) != (long)i)
		;
	ck_assert_int_eq(segment_run(s, i, 1), 0);
	ck_assert_int_eq(segment_finish(s, i, SLOT_DONE), 0);
}

/* Insert and find, colliding keys (one home in a table of 8 entries),
 * a key forgotten when its slot is reused while the keys probed past it
 * stay found, a slot whose key was rewritten, a payload hash mismatch. */
START_TEST(test_idem_insert_lookup)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	uint64_t a, b, c, k1 = 0x1001, k2 = 0x2001, k3 = 0x3001;	/* home 1 */
	uint32_t *t = idem_table(s);
	long r;

	ck_assert_uint_ne(segment_hash("", 0), 0);
	ck_assert_int_eq(segment_idem_find(s, k1), -1);
	a = enqueue_keyed(s, "a", k1);
	b = enqueue_keyed(s, "b", k2);
	c = enqueue_keyed(s, "c", k3);
	ck_assert_int_eq(segment_idem_find(s, k1), jobid_slot(a));
	ck_assert_int_eq(segment_idem_find(s, k2), jobid_slot(b));
	ck_assert_int_eq(segment_idem_find(s, k3), jobid_slot(c));
	ck_assert_int_eq(segment_idem_find(s, 0x4001), -1);
	ck_assert_uint_eq(t[1], jobid_slot(a) + 1);
	ck_assert_uint_eq(t[2], jobid_slot(b) + 1);
	ck_assert_uint_eq(t[3], jobid_slot(c) + 1);
	r = segment_idem_find(s, k2);
	ck_assert_uint_eq(segment_slot(s, (uint32_t)r)->idem_body, segment_hash("b", 1));
	ck_assert_uint_ne(segment_slot(s, (uint32_t)r)->idem_body, segment_hash("B", 1));
	/* finished jobs keep their keys; a reuse of a's slot forgets k1 and
	 * moves b and c back */
	finish_job(s, a);
	ck_assert_int_eq(segment_idem_find(s, k1), jobid_slot(a));
	enqueue_job(s, "d");	/* the free slot */
	while (segment_slot(s, jobid_slot(a))->id == a)
		enqueue_job(s, "e"), finish_job(s, segment_slot(s, jobid_slot(a))->id);
	ck_assert_int_eq(segment_idem_find(s, k1), -1);
	ck_assert_int_eq(segment_idem_find(s, k2), jobid_slot(b));
	ck_assert_int_eq(segment_idem_find(s, k3), jobid_slot(c));
	ck_assert_uint_eq(t[1], jobid_slot(b) + 1);
	ck_assert_uint_eq(t[2], jobid_slot(c) + 1);
	ck_assert_uint_eq(t[3], 0);
	/* a rewritten key, a slot index beyond the queue: not found */
	segment_slot(s, jobid_slot(b))->idem_key = 7;
	ck_assert_int_eq(segment_idem_find(s, k2), -1);
	t[2] = 1000;
	ck_assert_int_eq(segment_idem_find(s, k3), -1);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* segment_recover rebuilds the table from the slots: keys of queued and
 * finished jobs are found again, a dropped FILLING slot's is not. */
START_TEST(test_idem_rebuild)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	struct seg_recovery rec;
	uint64_t a, b;
	long f;

	a = enqueue_keyed(s, "a", 11);
	b = enqueue_keyed(s, "b", 12);
	finish_job(s, a);
	f = segment_reserve(s);
	ck_assert_int_ge(f, 0);
	segment_slot(s, (uint32_t)f)->idem_key = 13;	/* never published */
	memset(idem_table(s), 0xff, 8 * sizeof(uint32_t));
	ck_assert_int_eq(segment_idem_find(s, 11), -1);
	ck_assert_int_eq(segment_recover(s, 0, &rec), 0);
	ck_assert_int_eq(segment_idem_find(s, 11), jobid_slot(a));
	ck_assert_int_eq(segment_idem_find(s, 12), jobid_slot(b));
	ck_assert_int_eq(segment_idem_find(s, 13), -1);
	ck_assert_uint_eq(segment_slot(s, (uint32_t)f)->idem_key, 0);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* A full table (only a rewritten one can be): lookups end, an add says
 * no and leaves the job without a key; recovery makes room again. */
START_TEST(test_idem_full)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	struct seg_recovery rec;
	uint64_t a = enqueue_job(s, "a");
	uint32_t *t = idem_table(s);

	for (int k = 0; k < 8; k++)
		t[k] = 3;	/* slot 2, which has no key */
	ck_assert_int_eq(segment_idem_find(s, 5), -1);
	ck_assert_int_eq(segment_idem_add(s, jobid_slot(a), 5, 1), -1);
	ck_assert_uint_eq(segment_slot(s, jobid_slot(a))->idem_key, 0);
	ck_assert_int_eq(segment_recover(s, 0, &rec), 0);
	for (int k = 0; k < 8; k++)
		ck_assert_uint_eq(t[k], 0);
	ck_assert_int_eq(segment_idem_add(s, jobid_slot(a), 5, 1), 0);
	ck_assert_int_eq(segment_idem_find(s, 5), jobid_slot(a));
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST


/* --- ids ------------------------------------------------------------------ */

static const struct {
	unsigned node;
	uint64_t seq;
	uint32_t slot;
	uint64_t id;
	const char *str;
} ids[] = {
	{ 0, 1, 0, 0x100000, "0000000000100000" },
	{ 0, 1, 5, 0x100005, "0000000000100005" },
	{ 0, 2, 0xfffff, 0x2fffff, "00000000002fffff" },
	{ 0, 0xabc, 0x12, 0xabc00012, "00000000abc00012" },
	{ 0, (1ULL << 36) - 1, 0x12345, 0xfffffffff12345ULL, "00fffffffff12345" },
	/* the sequence wraps to 1, never to 0, and never into the node */
	{ 0, 1ULL << 36, 0, 0x100000, "0000000000100000" },
	{ 7, (1ULL << 36) + 4, 3, 0x0700000000500003ULL, "0700000000500003" },
	{ 0x12, 0xabc, 0x12, 0x12000000abc00012ULL, "12000000abc00012" },
	{ 255, 1, 0, 0xff00000000100000ULL, "ff00000000100000" },
	{ 255, (1ULL << 36) - 1, 0xfffff, UINT64_MAX, "ffffffffffffffff" },
};

START_TEST(test_jobid)
{
	char buf[JOBID_STRLEN + 1], upper[JOBID_STRLEN + 1];
	uint64_t id = jobid_make(ids[_i].node, ids[_i].seq, ids[_i].slot), parsed = 0;

	ck_assert_msg(id == ids[_i].id, "jobid_make(%u, %#llx, %#x): got %#llx, want %#llx",
	    ids[_i].node, (unsigned long long)ids[_i].seq, ids[_i].slot,
	    (unsigned long long)id, (unsigned long long)ids[_i].id);
	ck_assert_msg(jobid_node(id) == ids[_i].node, "jobid_node(%#llx): got %u, want %u",
	    (unsigned long long)id, jobid_node(id), ids[_i].node);
	ck_assert_msg(jobid_slot(id) == ids[_i].slot, "jobid_slot(%#llx): got %#x, want %#x",
	    (unsigned long long)id, jobid_slot(id), ids[_i].slot);
	memset(buf, 'X', sizeof(buf));
	jobid_format(id, buf);
	ck_assert_msg(strcmp(buf, ids[_i].str) == 0, "jobid_format(%#llx): got \"%s\", want \"%s\"",
	    (unsigned long long)id, buf, ids[_i].str);
	ck_assert_msg(jobid_parse(ids[_i].str, JOBID_STRLEN, &parsed) == 0 && parsed == id,
	    "jobid_parse(\"%s\"): got %#llx, want %#llx", ids[_i].str,
	    (unsigned long long)parsed, (unsigned long long)id);
	for (int k = 0; k < JOBID_STRLEN + 1; k++)
		upper[k] = (char)(ids[_i].str[k] >= 'a' ? ids[_i].str[k] - 32 : ids[_i].str[k]);
	parsed = 0;
	ck_assert_msg(jobid_parse(upper, JOBID_STRLEN, &parsed) == 0 && parsed == id,
	    "jobid_parse(\"%s\"): got %#llx, want %#llx", upper,
	    (unsigned long long)parsed, (unsigned long long)id);
}
END_TEST

static const struct {
	const char *name;
	const char *str;
	size_t len;
} bad_ids[] = {
	{ "empty", "", 0 },
	{ "short", "000000000010000", 15 },
	{ "long", "00000000001000000", 17 },
	{ "prefix of a good one", "0000000000100000", 8 },
	{ "non-hex digit", "000000000010000g", 16 },
	{ "0x prefix", "0x00000000100000", 16 },
	{ "leading space", " 000000000100000", 16 },
	{ "trailing newline", "000000000010000\n", 16 },
	{ "sign", "+000000000100000", 16 },
	{ "NUL inside", "0000000\0000100000", 16 },
	{ "slash", "/000000000100000", 16 },
};

START_TEST(test_jobid_parse_bad)
{
	uint64_t id = 0;
	int r = jobid_parse(bad_ids[_i].str, bad_ids[_i].len, &id);

	ck_assert_msg(r == -1, "jobid_parse(%s): got %d (id %#llx), want -1",
	    bad_ids[_i].name, r, (unsigned long long)id);
}
END_TEST

/* lookup: id 0, bad slot bits, unknown sequence, FILLING, DONE, reuse. */
START_TEST(test_lookup)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 2, 16);
	uint64_t a, b, c, parsed;
	struct slot *sa;
	uint32_t ia, v;
	char str[JOBID_STRLEN + 1];
	long r;

	ck_assert_msg(segment_lookup(s, 0) == NULL, "lookup(0): got a slot, want NULL");
	a = enqueue_job(s, "a");
	ia = jobid_slot(a);
	sa = segment_slot(s, ia);
	ck_assert_msg(segment_lookup(s, a) == sa, "lookup(a): got %p, want slot %u",
	    (void *)segment_lookup(s, a), ia);
	ck_assert_msg(segment_lookup(s, a >> JOBID_SLOT_BITS << JOBID_SLOT_BITS | 2) == NULL,
	    "lookup(slot 2 of capacity 2): got a slot, want NULL");
	ck_assert_msg(segment_lookup(s, a | 0xfffff) == NULL,
	    "lookup(slot 0xfffff): got a slot, want NULL");
	ck_assert_msg(segment_lookup(s, a + (1u << JOBID_SLOT_BITS)) == NULL,
	    "lookup(next sequence, same slot): got a slot, want NULL");
	ck_assert_msg(segment_lookup(s, jobid_slot(a)) == NULL,
	    "lookup(sequence 0): got a slot, want NULL");

	/* the dispatcher runs a to DONE and frees the slot: still readable */
	ck_assert_int_eq(ring_pop(segment_ready(s), &v), 0);
	ck_assert_uint_eq(v, ia);
	atomic_store(&sa->state, SLOT_DONE);
	ck_assert_int_eq(ring_push(segment_free(s), ia), 0);
	ck_assert_msg(segment_lookup(s, a) == sa, "lookup(a) when DONE: got NULL, want slot");

	/* reuse: the other slot first, then a's */
	b = enqueue_job(s, "b");
	ck_assert_msg(jobid_slot(b) != ia, "b reused a's slot too early");
	r = segment_reserve(s);
	ck_assert_msg(r == (long)ia, "reserve: got %ld, want %u", r, ia);
	ck_assert_msg(segment_lookup(s, a) == NULL, "lookup(a) while FILLING: got a slot, want NULL");
	c = segment_enqueue(s, ia, 0);
	ck_assert_msg(c > b && b > a, "ids not increasing: %#llx %#llx %#llx",
	    (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
	ck_assert_msg(segment_lookup(s, a) == NULL, "lookup(stale a): got a slot, want NULL");
	ck_assert_msg(segment_lookup(s, c) == sa, "lookup(c): got %p, want slot %u",
	    (void *)segment_lookup(s, c), ia);

	jobid_format(c, str);
	ck_assert_int_eq(jobid_parse(str, strlen(str), &parsed), 0);
	ck_assert_msg(segment_lookup(s, parsed) == sa, "lookup(parse(format(c))): want slot %u", ia);
	jobid_format(a, str);
	ck_assert_int_eq(jobid_parse(str, strlen(str), &parsed), 0);
	ck_assert_msg(segment_lookup(s, parsed) == NULL, "lookup(parse(format(a))): want NULL");
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* The node set on the segment heads every id it makes; lookups find them. */
START_TEST(test_node_ids)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 2, 16);
	uint64_t a;

	ck_assert_uint_eq(segment_node(s), 0);
	ck_assert_uint_eq(jobid_node(enqueue_job(s, "a")), 0);
	segment_set_node(s, 0xa7);
	ck_assert_uint_eq(segment_node(s), 0xa7);
	a = enqueue_job(s, "b");
	ck_assert_msg(a >> 56 == 0xa7, "id %#llx: want node 0xa7 on top", (unsigned long long)a);
	ck_assert_msg(segment_lookup(s, a) == segment_slot(s, jobid_slot(a)),
	    "lookup(%#llx): want its slot", (unsigned long long)a);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* --- recover: every state combination ------------------------------------- */

#define RCAP	6
#define NSTATES	7	/* SLOT_FREE .. SLOT_CANCELED */

static const char *const state_names[] = {
	"FREE", "FILLING", "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELED",
};

/* Make slot states from combination c (base 6 digits), ids a permutation
 * depending on c, dirty rings, gauges and scoreboard. */
static void
setup_combo(struct segment *s, unsigned c, unsigned st[RCAP], uint64_t id[RCAP])
{
	struct seg_header *h = segment_header(s);
	unsigned x = c;

	for (uint32_t i = 0; i < RCAP; i++, x /= NSTATES) {
		struct slot *sl = segment_slot(s, i);

		st[i] = x % NSTATES;
		id[i] = jobid_make(0, 100 + (i * 5 + c) % RCAP, i);
		if (st[i] == SLOT_FREE && c % 2)
			id[i] = 0;		/* never used */
		atomic_store(&sl->state, st[i]);
		atomic_store(&sl->rings, (c + i) % 8);
		sl->id = id[i];
		sl->attempts = i + 1;
		sl->payload_len = i;
	}
	ring_reset(segment_ready(s));
	ring_reset(segment_free(s));
	for (uint32_t i = 0; i < RCAP; i += 2)
		ring_push(segment_ready(s), (i + c) % RCAP);
	for (uint32_t i = 0; i < 4; i++)
		ring_push(segment_free(s), (i * 3 + c) % RCAP);
	atomic_store(&h->queued, 99);
	atomic_store(&h->running, 77);
	atomic_store(&h->dispatcher_sleeping, 1);
	for (uint32_t k = 0; k < SEG_SCORE_COUNT; k += 311) {
		struct score *sc = segment_score(s, k);

		atomic_store(&sc->pid, 1000 + (int32_t)k);
		atomic_store(&sc->state, SCORE_BUSY);
		atomic_store(&sc->job_id, id[k % RCAP] | 1);
	}
}

/* Check the recovered segment; NULL or what is wrong (in msg). */
static const char *
check_combo(struct segment *s, int keep, const unsigned st[RCAP], const uint64_t id[RCAP],
    const struct seg_recovery *rec, char *msg, size_t n)
{
	struct seg_header *h = segment_header(s);
	uint32_t ready[RCAP + 1], freel[RCAP + 1], nr, nf, seen[RCAP] = { 0 };
	uint32_t want_q = 0, want_r = 0, want_free = 0, want_kept = 0;

	for (uint32_t i = 0; i < RCAP; i++) {
		want_q += st[i] == SLOT_QUEUED;
		want_r += st[i] == SLOT_RUNNING;
		want_kept += keep && st[i] == SLOT_FILLING;
	}
	want_free = RCAP - want_q - want_r - want_kept;
	if (rec->requeued != want_q || rec->orphaned != want_r || rec->freed != want_free ||
	    rec->kept != want_kept) {
		snprintf(msg, n, "counts: got requeued %u orphaned %u freed %u kept %u, "
		    "want %u %u %u %u", rec->requeued, rec->orphaned, rec->freed, rec->kept,
		    want_q, want_r, want_free, want_kept);
		return msg;
	}
	nr = drain(segment_ready(s), ready, RCAP + 1);
	nf = drain(segment_free(s), freel, RCAP + 1);
	if (nr != want_q + want_r || nf != want_free) {
		snprintf(msg, n, "ring sizes: got ready %u free %u, want %u %u",
		    nr, nf, want_q + want_r, want_free);
		return msg;
	}
	for (uint32_t k = 0; k < nr; k++) {
		uint32_t i = ready[k];
		struct slot *sl = segment_slot(s, i);

		if (i >= RCAP || seen[i]++) {
			snprintf(msg, n, "ready[%u]: slot %u out of range or twice", k, i);
			return msg;
		}
		if (st[i] != SLOT_QUEUED && st[i] != SLOT_RUNNING) {
			snprintf(msg, n, "ready[%u]: slot %u was %s, want QUEUED or RUNNING",
			    k, i, state_names[st[i]]);
			return msg;
		}
		if (atomic_load(&sl->state) != SLOT_QUEUED || sl->attempts != i + 1 ||
		    sl->id != id[i] || atomic_load(&sl->rings) != SLOT_ON_READY) {
			snprintf(msg, n, "ready slot %u: got state %u attempts %u, want QUEUED, %u",
			    i, atomic_load(&sl->state), sl->attempts, i + 1);
			return msg;
		}
		if (k > 0 && segment_slot(s, ready[k - 1])->id >= sl->id) {
			snprintf(msg, n, "ready[%u]: id %#llx after %#llx, want job-id order",
			    k, (unsigned long long)sl->id,
			    (unsigned long long)segment_slot(s, ready[k - 1])->id);
			return msg;
		}
	}
	for (uint32_t k = 0; k < nf; k++) {
		uint32_t i = freel[k];
		struct slot *sl = segment_slot(s, i);
		unsigned want = st[i] == SLOT_FILLING ? SLOT_FREE : st[i];

		if (i >= RCAP || seen[i]++) {
			snprintf(msg, n, "free[%u]: slot %u out of range or twice", k, i);
			return msg;
		}
		if (st[i] == SLOT_QUEUED || st[i] == SLOT_RUNNING ||
		    (keep && st[i] == SLOT_FILLING)) {
			snprintf(msg, n, "free[%u]: slot %u was %s, must not be freed",
			    k, i, state_names[st[i]]);
			return msg;
		}
		if (atomic_load(&sl->state) != want || atomic_load(&sl->rings) != 0) {
			snprintf(msg, n, "free slot %u: state got %u rings %u, want %s, 0", i,
			    atomic_load(&sl->state), atomic_load(&sl->rings), state_names[want]);
			return msg;
		}
		if (st[i] != SLOT_FILLING && sl->id != id[i]) {
			snprintf(msg, n, "free slot %u (%s): id changed", i, state_names[st[i]]);
			return msg;
		}
	}
	for (uint32_t i = 0; i < RCAP; i++) {
		if (keep && st[i] == SLOT_FILLING) {
			if (seen[i] || atomic_load(&segment_slot(s, i)->state) != SLOT_FILLING ||
			    segment_slot(s, i)->id != id[i]) {
				snprintf(msg, n, "kept FILLING slot %u: on a ring or changed", i);
				return msg;
			}
		} else if (!seen[i]) {
			snprintf(msg, n, "slot %u (%s) on neither ring", i, state_names[st[i]]);
			return msg;
		}
	}
	if (atomic_load(&h->queued) != want_q + want_r || atomic_load(&h->running) != 0 ||
	    atomic_load(&h->dispatcher_sleeping) != 0) {
		snprintf(msg, n, "gauges: got queued %u running %u sleeping %u, want %u 0 0",
		    atomic_load(&h->queued), atomic_load(&h->running),
		    atomic_load(&h->dispatcher_sleeping), want_q + want_r);
		return msg;
	}
	/* the entries setup_combo dirtied (the test scans all once at the end) */
	for (uint32_t k = 0; k < h->score_count; k += 311) {
		struct score *sc = segment_score(s, k);

		if (atomic_load(&sc->pid) != 0 || atomic_load(&sc->state) != SCORE_EMPTY ||
		    atomic_load(&sc->job_id) != 0) {
			snprintf(msg, n, "scoreboard %u: got pid %d state %u, want cleared", k,
			    atomic_load(&sc->pid), atomic_load(&sc->state));
			return msg;
		}
	}
	return NULL;
}

/* Loop index: keep_filling = _i / 7, slot 0's state = _i % 7; the other
 * five slots take every combination (16807 recoveries per index). */
START_TEST(test_recover_all_states)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, RCAP, 8);
	int keep = _i / NSTATES;
	unsigned total = 1;

	segment_unlink(name);
	for (int k = 0; k < RCAP - 1; k++)
		total *= NSTATES;
	for (unsigned rest = 0; rest < total; rest++) {
		unsigned c = rest * NSTATES + (unsigned)(_i % NSTATES), st[RCAP];
		uint64_t id[RCAP];
		struct seg_recovery rec;
		char msg[256];
		const char *bad;

		setup_combo(s, c, st, id);
		memset(&rec, 0xff, sizeof(rec));
		ck_assert_int_eq(segment_recover(s, keep, &rec), 0);
		if ((bad = check_combo(s, keep, st, id, &rec, msg, sizeof(msg))) != NULL)
			ck_abort_msg("keep_filling %d, states %s %s %s %s %s %s: %s", keep,
			    state_names[st[0]], state_names[st[1]], state_names[st[2]],
			    state_names[st[3]], state_names[st[4]], state_names[st[5]], bad);
	}
	for (uint32_t k = 0; k < segment_header(s)->score_count; k++)
		ck_assert_msg(atomic_load(&segment_score(s, k)->pid) == 0 &&
		    atomic_load(&segment_score(s, k)->state) == SCORE_EMPTY,
		    "scoreboard %u: got pid %d, want cleared", k,
		    atomic_load(&segment_score(s, k)->pid));
	segment_close(s);
}
END_TEST

/* A state word that is no state at all is freed as FREE. */
START_TEST(test_recover_garbage_state)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 2, 8);
	struct seg_recovery rec;
	uint32_t v[3];

	segment_unlink(name);
	atomic_store(&segment_slot(s, 1)->state, 0xdead);
	ck_assert_int_eq(segment_recover(s, 0, &rec), 0);
	ck_assert_msg(rec.freed == 2, "freed: got %u, want 2", rec.freed);
	ck_assert_msg(atomic_load(&segment_slot(s, 1)->state) == SLOT_FREE,
	    "state: got %#x, want FREE", atomic_load(&segment_slot(s, 1)->state));
	ck_assert_uint_eq(drain(segment_free(s), v, 3), 2);
	segment_close(s);
}
END_TEST

/* --- recover: a crash between steps --------------------------------------- */

/*
 * The master's enqueue, step by step as segment_reserve and segment_enqueue
 * perform it; a crash after step k leaves exactly the steps < k done.
 */
enum {
	E_NONE,		/* nothing */
	E_POPPED,	/* free ring popped, state not yet written */
	E_FILLING,	/* FILLING */
	E_PAYLOAD,	/* payload bytes written */
	E_FIELDS,	/* id, length, times written, still FILLING */
	E_QUEUED,	/* state QUEUED published */
	E_GAUGES,	/* queued and accepted counted */
	E_PUSHED,	/* on the ready ring: segment_enqueue returned */
	E_STEPS
};

static const char *const e_names[] = {
	"nothing", "free ring popped", "FILLING", "payload written", "id set",
	"QUEUED", "gauges counted", "pushed",
};

/* Perform the first k steps of an enqueue of payload; *slot and *id. */
static void
enqueue_upto(struct segment *s, int k, const char *payload, uint32_t *slot, uint64_t *id)
{
	struct seg_header *h = segment_header(s);
	uint32_t i = UINT32_MAX, len = (uint32_t)strlen(payload);
	struct slot *sl;

	*slot = UINT32_MAX;
	*id = 0;
	if (k < E_POPPED)
		return;
	ck_assert_int_eq(ring_pop(segment_free(s), &i), 0);
	*slot = i;
	sl = segment_slot(s, i);
	if (k < E_FILLING)
		return;
	atomic_store(&sl->state, SLOT_FILLING);
	sl->payload_len = 0;
	if (k < E_PAYLOAD)
		return;
	memcpy(segment_payload(s, i), payload, len);
	if (k < E_FIELDS)
		return;
	*id = sl->id = jobid_make(0, atomic_fetch_add(&h->next_seq, 1), i);
	sl->payload_len = len;
	sl->attempts = 0;
	sl->t_queued = clock_wall_ns();
	if (k < E_QUEUED)
		return;
	atomic_store(&sl->state, SLOT_QUEUED);
	if (k < E_GAUGES)
		return;
	atomic_fetch_add(&h->queued, 1);
	atomic_fetch_add(&h->accepted, 1);
	if (k < E_PUSHED)
		return;
	ck_assert_int_eq(ring_push(segment_ready(s), i), 0);
}

/*
 * The dispatcher's side: pop ready, RUNNING, result, DONE, push free.
 */
enum {
	C_NONE, C_POPPED, C_RUNNING, C_RESULT, C_DONE, C_PUSHED, C_STEPS
};

static const char *const c_names[] = {
	"nothing", "ready popped", "RUNNING", "result written", "DONE", "pushed free",
};

static void
complete_upto(struct segment *s, int k, uint32_t *slot)
{
	struct seg_header *h = segment_header(s);
	struct slot *sl;
	uint32_t i;

	*slot = UINT32_MAX;
	if (k < C_POPPED)
		return;
	ck_assert_int_eq(ring_pop(segment_ready(s), &i), 0);
	*slot = i;
	sl = segment_slot(s, i);
	if (k < C_RUNNING)
		return;
	sl->attempts++;
	sl->worker_pid = 4242;
	sl->t_started = clock_wall_ns();
	atomic_store(&sl->state, SLOT_RUNNING);
	atomic_fetch_sub(&h->queued, 1);
	atomic_fetch_add(&h->running, 1);
	if (k < C_RESULT)
		return;
	sl->exit_status = 3;
	sl->t_finished = clock_wall_ns();
	if (k < C_DONE)
		return;
	atomic_store(&sl->state, SLOT_DONE);
	atomic_fetch_sub(&h->running, 1);
	atomic_fetch_add(&h->completed, 1);
	if (k < C_PUSHED)
		return;
	ck_assert_int_eq(ring_push(segment_free(s), i), 0);
}

#define XCAP 8

/* After recovery: the ready ring is exactly want[0..nwant) (slot order by
 * job id), the free ring the rest but `kept`, each slot once. */
static void
check_rings(struct segment *s, const uint64_t *want, uint32_t nwant, uint32_t kept,
    const char *what)
{
	uint32_t ready[XCAP + 1], freel[XCAP + 1], nr, nf, seen[XCAP] = { 0 };

	nr = drain(segment_ready(s), ready, XCAP + 1);
	ck_assert_msg(nr == nwant, "%s: ready ring got %u jobs, want %u", what, nr, nwant);
	for (uint32_t k = 0; k < nr; k++) {
		struct slot *sl = segment_slot(s, ready[k]);

		ck_assert_msg(sl->id == want[k], "%s: ready[%u] got id %#llx, want %#llx", what,
		    k, (unsigned long long)sl->id, (unsigned long long)want[k]);
		ck_assert_msg(atomic_load(&sl->state) == SLOT_QUEUED,
		    "%s: ready[%u] state got %u, want QUEUED", what, k, atomic_load(&sl->state));
		ck_assert_msg(seen[ready[k]]++ == 0, "%s: slot %u twice", what, ready[k]);
	}
	nf = drain(segment_free(s), freel, XCAP + 1);
	ck_assert_msg(nf == XCAP - nwant - kept, "%s: free ring got %u slots, want %u",
	    what, nf, XCAP - nwant - kept);
	for (uint32_t k = 0; k < nf; k++) {
		uint32_t st = atomic_load(&segment_slot(s, freel[k])->state);

		ck_assert_msg(seen[freel[k]]++ == 0, "%s: slot %u twice", what, freel[k]);
		ck_assert_msg(st == SLOT_FREE || st == SLOT_DONE || st == SLOT_FAILED,
		    "%s: free slot %u state got %u, want FREE, DONE or FAILED", what, freel[k], st);
	}
	ck_assert_msg(atomic_load(&segment_header(s)->queued) == nwant,
	    "%s: queued gauge got %u, want %u", what,
	    atomic_load(&segment_header(s)->queued), nwant);
	/* put them back as they were, for the caller's further checks */
	for (uint32_t k = 0; k < nr; k++)
		ring_push(segment_ready(s), ready[k]);
	for (uint32_t k = 0; k < nf; k++)
		ring_push(segment_free(s), freel[k]);
}

/* Three whole jobs, one finished job, then a crash after enqueue step _i;
 * restart recovery (keep_filling 0). */
START_TEST(test_crash_enqueue)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, XCAP, 32);
	uint64_t want[5], done, partial;
	struct seg_recovery rec;
	uint32_t slot, ignore;
	uint32_t n = 0;
	char what[64];

	snprintf(what, sizeof(what), "crash after \"%s\"", e_names[_i]);
	segment_unlink(name);
	done = enqueue_job(s, "done");
	complete_upto(s, C_PUSHED, &ignore);
	for (int k = 0; k < 3; k++) {
		char p[16];

		snprintf(p, sizeof(p), "job %d", k);
		want[n++] = enqueue_job(s, p);
	}
	enqueue_upto(s, _i, "partial", &slot, &partial);
	ck_assert_int_eq(segment_recover(s, 0, &rec), 0);
	if (_i >= E_QUEUED)		/* published: it is a job now */
		want[n++] = partial;
	ck_assert_msg(rec.kept == 0, "%s: kept got %u, want 0", what, rec.kept);
	ck_assert_msg(rec.requeued == n, "%s: requeued got %u, want %u", what, rec.requeued, n);
	check_rings(s, want, n, 0, what);
	if (_i >= E_FILLING && _i < E_QUEUED) {
		ck_assert_msg(atomic_load(&segment_slot(s, slot)->state) == SLOT_FREE,
		    "%s: partial slot state got %u, want FREE", what,
		    atomic_load(&segment_slot(s, slot)->state));
		ck_assert_msg(partial == 0 || segment_lookup(s, partial) == NULL,
		    "%s: partial job visible by id", what);
	}
	ck_assert_msg(segment_lookup(s, done) != NULL &&
	    atomic_load(&segment_lookup(s, done)->state) == SLOT_DONE,
	    "%s: finished job lost its result", what);
	/* the segment goes on: the next id is larger than every earlier one */
	{
		uint64_t next = enqueue_job(s, "after");

		ck_assert_msg(next > want[n - 1] && next > partial, "%s: next id %#llx not newest",
		    what, (unsigned long long)next);
	}
	segment_close(s);
}
END_TEST

/* A dispatcher dies while the master holds a FILLING slot (keep_filling 1):
 * the slot stays the master's, and its enqueue completes afterwards. */
START_TEST(test_crash_enqueue_keep)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, XCAP, 32);
	int k = E_FILLING + _i;		/* FILLING, payload written */
	uint64_t want[4], partial;
	struct seg_recovery rec;
	uint32_t slot;
	char what[64];

	snprintf(what, sizeof(what), "keep, stopped after \"%s\"", e_names[k]);
	segment_unlink(name);
	for (int j = 0; j < 3; j++)
		want[j] = enqueue_job(s, "job");
	enqueue_upto(s, k, "partial", &slot, &partial);
	ck_assert_int_eq(segment_recover(s, 1, &rec), 0);
	ck_assert_msg(rec.kept == 1, "%s: kept got %u, want 1", what, rec.kept);
	check_rings(s, want, 3, 1, what);
	ck_assert_msg(atomic_load(&segment_slot(s, slot)->state) == SLOT_FILLING,
	    "%s: kept slot state got %u, want FILLING", what,
	    atomic_load(&segment_slot(s, slot)->state));
	memcpy(segment_payload(s, slot), "partial", 7);
	want[3] = segment_enqueue(s, slot, 7);
	check_rings(s, want, 4, 0, what);
	segment_close(s);
}
END_TEST

/* Three jobs queued; the dispatcher crashes after completion step _i of
 * the first; restart recovery. */
START_TEST(test_crash_complete)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, XCAP, 32);
	uint64_t jobs[3];
	struct seg_recovery rec;
	struct slot *sl;
	uint32_t slot;
	char what[64];

	snprintf(what, sizeof(what), "crash after \"%s\"", c_names[_i]);
	segment_unlink(name);
	for (int k = 0; k < 3; k++)
		jobs[k] = enqueue_job(s, "job");
	complete_upto(s, _i, &slot);
	ck_assert_int_eq(segment_recover(s, 0, &rec), 0);
	sl = segment_lookup(s, jobs[0]);
	ck_assert_msg(sl != NULL, "%s: first job not found by id", what);
	if (_i < C_DONE) {
		check_rings(s, jobs, 3, 0, what);
		ck_assert_msg(sl->attempts == (_i >= C_RUNNING ? 1u : 0u),
		    "%s: attempts got %u, want %u", what, sl->attempts, _i >= C_RUNNING ? 1 : 0);
		ck_assert_msg(rec.orphaned == (_i >= C_RUNNING ? 1u : 0u),
		    "%s: orphaned got %u", what, rec.orphaned);
	} else {
		check_rings(s, jobs + 1, 2, 0, what);
		ck_assert_msg(atomic_load(&sl->state) == SLOT_DONE && sl->exit_status == 3,
		    "%s: got state %u status %d, want DONE 3", what,
		    atomic_load(&sl->state), sl->exit_status);
	}
	ck_assert_msg(atomic_load(&segment_header(s)->running) == 0,
	    "%s: running gauge got %u, want 0", what, atomic_load(&segment_header(s)->running));
	segment_close(s);
}
END_TEST

/* --- attach ---------------------------------------------------------------- */

enum corrupt {
	GARBAGE,	/* 64 KiB of 0x5a */
	TINY,		/* 16 bytes */
	EMPTY,		/* a 0-byte object */
	BAD_VERSION,	/* a real segment, version + 1 */
	BAD_SLOT_SIZE,	/* a real segment, slot_size changed */
	GROWN,		/* a real segment, file 4 KiB longer */
	NO_MAGIC,	/* a real segment whose format was interrupted */
};

#define STR_(x)	#x
#define STR(x)	STR_(x)
#define SEG_VERSION_NEXT 8	/* SEG_VERSION + 1, as BAD_VERSION writes it */
_Static_assert(SEG_VERSION_NEXT == SEG_VERSION + 1, "SEG_VERSION_NEXT");

static const struct {
	const char *name;
	enum corrupt how;
	int want;
	const char *err;	/* substring of the message */
} corrupts[] = {
	{ "garbage", GARBAGE, SEG_MISMATCH, "bad magic" },
	{ "too small", TINY, SEG_MISMATCH, "(16 bytes) is not a jobqd segment" },
	{ "empty object", EMPTY, SEG_CREATED, "" },
	{ "other version", BAD_VERSION, SEG_MISMATCH, "layout version " STR(SEG_VERSION_NEXT) ", this jobqd uses " STR(SEG_VERSION) },
	{ "other slot size", BAD_SLOT_SIZE, SEG_MISMATCH, "inconsistent layout" },
	{ "longer file", GROWN, SEG_MISMATCH, "inconsistent layout" },
	{ "interrupted format", NO_MAGIC, SEG_CREATED, "" },
};

/* Map the object name read-write; its size in *size. */
static unsigned char *
raw_map(const char *name, size_t *size)
{
	int fd = shm_open(name, O_RDWR, 0);
	struct stat st;
	void *p;

	ck_assert_msg(fd != -1, "shm_open %s: %s", name, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	*size = (size_t)st.st_size;
	if (*size == 0) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_msg(p != MAP_FAILED, "mmap: %s", strerror(errno));
	close(fd);
	return p;
}

/* Make name an object of the given kind. */
static void
corrupt_make(const char *name, enum corrupt how)
{
	size_t size;
	unsigned char *p;
	struct seg_header *h;
	int fd;

	if (how == GARBAGE || how == TINY || how == EMPTY) {
		size = how == GARBAGE ? 65536 : how == TINY ? 16 : 0;
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		ck_assert_msg(fd != -1, "shm_open %s: %s", name, strerror(errno));
		ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
		if (size > 0) {
			p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			ck_assert(p != MAP_FAILED);
			memset(p, 0x5a, size);
			munmap(p, size);
		}
		close(fd);
		return;
	}
	segment_close(seg_create(name, 4, 32));
	if (how == GROWN) {
		fd = shm_open(name, O_RDWR, 0);
		ck_assert(fd != -1);
		p = raw_map(name, &size);
		munmap(p, size);
		ck_assert_int_eq(ftruncate(fd, (off_t)size + 4096), 0);
		close(fd);
		return;
	}
	p = raw_map(name, &size);
	h = (struct seg_header *)p;
	if (how == BAD_VERSION)
		h->version = SEG_VERSION + 1;
	else if (how == BAD_SLOT_SIZE)
		h->slot_size += 64;
	else if (how == NO_MAGIC)
		h->magic = 0;
	munmap(p, size);
}

START_TEST(test_attach_corrupt)
{
	const char *name = seg_name();
	struct segment *s = NULL;
	char err[512];
	size_t size_before = 0, size_after;
	unsigned char *p;
	int r;

	corrupt_make(name, corrupts[_i].how);
	if ((p = raw_map(name, &size_before)) != NULL)
		munmap(p, size_before);
	memset(err, 'X', sizeof(err));
	r = segment_open(name, 4, 32, 0, geteuid(), &s, err, sizeof(err));
	ck_assert_msg(r == corrupts[_i].want, "%s: got %d (%s), want %d", corrupts[_i].name,
	    r, err, corrupts[_i].want);
	ck_assert_msg(strstr(err, corrupts[_i].err) != NULL, "%s: message \"%s\", want \"%s\" in it",
	    corrupts[_i].name, err, corrupts[_i].err);
	if (r == SEG_CREATED) {
		ck_assert_msg(ring_count(segment_free(s)) == 4, "%s: free ring got %u, want 4",
		    corrupts[_i].name, ring_count(segment_free(s)));
		segment_close(s);
	} else {
		ck_assert_msg(strstr(err, name) != NULL, "%s: message \"%s\" does not name %s",
		    corrupts[_i].name, err, name);
		/* a foreign object is left alone */
		p = raw_map(name, &size_after);
		ck_assert_msg(size_after == size_before, "%s: size got %zu, want %zu",
		    corrupts[_i].name, size_after, size_before);
		if (corrupts[_i].how == GARBAGE || corrupts[_i].how == TINY)
			for (size_t k = 0; k < size_after; k++)
				ck_assert_msg(p[k] == 0x5a, "%s: byte %zu changed", corrupts[_i].name, k);
		munmap(p, size_after);
	}
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

START_TEST(test_attach_bad_capacity)
{
	static const uint32_t caps[] = { 0, (1u << JOBID_SLOT_BITS) + 1, UINT32_MAX };
	struct segment *s = NULL;
	char err[256];

	for (size_t k = 0; k < NELEM(caps); k++) {
		int r = segment_open("/jobqd-test-never-created", caps[k], 32, 0, geteuid(), &s, err, sizeof(err));

		ck_assert_msg(r == SEG_MISMATCH && strstr(err, "out of range") != NULL,
		    "capacity %u: got %d (%s), want SEG_MISMATCH, out of range", caps[k], r, err);
	}
}
END_TEST

/* A queued, a running, a finished job and a half-filled slot survive a
 * close and re-open with the same geometry. */
START_TEST(test_attach_same)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 8, 32);
	uint64_t q, run, done, seq;
	uint32_t slot;
	long filling;
	struct slot *sl;
	char err[256];
	int r;

	done = enqueue_job(s, "finished");
	complete_upto(s, C_PUSHED, &slot);
	run = enqueue_job(s, "running");
	q = enqueue_job(s, "queued job");
	complete_upto(s, C_RESULT, &slot);	/* run is RUNNING */
	filling = segment_reserve(s);
	ck_assert(filling >= 0);
	seq = atomic_load(&segment_header(s)->next_seq);
	segment_close(s);

	r = segment_open(name, 8, 32, 0, geteuid(), &s, err, sizeof(err));
	ck_assert_msg(r == SEG_ATTACHED, "got %d (%s), want SEG_ATTACHED", r, err);
	ck_assert_msg(err[0] == '\0', "message \"%s\", want none", err);
	ck_assert_msg(atomic_load(&segment_header(s)->next_seq) == seq, "next_seq got %llu, want %llu",
	    (unsigned long long)atomic_load(&segment_header(s)->next_seq), (unsigned long long)seq);
	sl = segment_lookup(s, q);
	ck_assert_msg(sl && atomic_load(&sl->state) == SLOT_QUEUED && sl->payload_len == 10 &&
	    memcmp(segment_payload(s, jobid_slot(q)), "queued job", 10) == 0, "queued job not intact");
	sl = segment_lookup(s, run);
	ck_assert_msg(sl && atomic_load(&sl->state) == SLOT_RUNNING && sl->attempts == 1 &&
	    memcmp(segment_payload(s, jobid_slot(run)), "running", 7) == 0, "running job not intact");
	sl = segment_lookup(s, done);
	ck_assert_msg(sl && atomic_load(&sl->state) == SLOT_DONE && sl->exit_status == 3,
	    "finished job not intact");
	ck_assert_msg(atomic_load(&segment_slot(s, (uint32_t)filling)->state) == SLOT_FILLING,
	    "FILLING slot not intact");
	ck_assert_msg(ring_count(segment_ready(s)) == 1, "ready ring got %u, want 1",
	    ring_count(segment_ready(s)));
	ck_assert_msg(ring_count(segment_free(s)) == 5, "free ring got %u, want 5",
	    ring_count(segment_free(s)));
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

static const struct {
	const char *name;
	uint32_t cap, max_payload, max_output;
} resizes[] = {
	{ "more slots", 16, 32, 0 },
	{ "fewer slots", 2, 32, 0 },
	{ "larger payload", 8, 4096, 0 },
	{ "smaller payload", 8, 8, 0 },
	{ "output kept", 8, 32, 4 },	/* the slot size stays: 64 bytes */
	{ "more output", 8, 32, 4096 },
};

/* Another geometry with only finished jobs: reformatted, with a note. */
START_TEST(test_attach_resize_empty)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 8, 32);
	uint32_t slot;
	char err[512];
	int r;

	enqueue_job(s, "x");
	complete_upto(s, C_PUSHED, &slot);
	segment_reserve(s);			/* a FILLING slot is no job */
	segment_close(s);
	r = segment_open(name, resizes[_i].cap, resizes[_i].max_payload, resizes[_i].max_output,
	    geteuid(), &s, err, sizeof(err));
	ck_assert_msg(r == SEG_CREATED, "%s: got %d (%s), want SEG_CREATED", resizes[_i].name, r, err);
	ck_assert_msg(strstr(err, "resized from queue = 8, max_payload = 32 and max_output = 0") != NULL,
	    "%s: message \"%s\", want the old sizes", resizes[_i].name, err);
	ck_assert_msg(segment_capacity(s) == resizes[_i].cap &&
	    segment_max_payload(s) == resizes[_i].max_payload &&
	    segment_max_output(s) == resizes[_i].max_output, "%s: got %u/%u, want %u/%u",
	    resizes[_i].name, segment_capacity(s), segment_max_payload(s),
	    resizes[_i].cap, resizes[_i].max_payload);
	ck_assert_msg(ring_count(segment_free(s)) == resizes[_i].cap &&
	    ring_count(segment_ready(s)) == 0, "%s: rings got free %u ready %u",
	    resizes[_i].name, ring_count(segment_free(s)), ring_count(segment_ready(s)));
	for (uint32_t i = 0; i < resizes[_i].cap; i++)
		ck_assert_msg(atomic_load(&segment_slot(s, i)->state) == SLOT_FREE &&
		    segment_slot(s, i)->id == 0, "%s: slot %u not fresh", resizes[_i].name, i);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* Another geometry with a queued and a running job: refused, naming 2;
 * the jobs are still there for the old geometry. */
START_TEST(test_attach_resize_pending)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 8, 32);
	uint64_t a, b;
	uint32_t slot;
	char err[512];
	int r;

	a = enqueue_job(s, "a");
	b = enqueue_job(s, "b");
	complete_upto(s, C_RUNNING, &slot);
	segment_close(s);
	r = segment_open(name, resizes[_i].cap, resizes[_i].max_payload, resizes[_i].max_output,
	    geteuid(), &s, err, sizeof(err));
	ck_assert_msg(r == SEG_MISMATCH, "%s: got %d (%s), want SEG_MISMATCH", resizes[_i].name, r, err);
	ck_assert_msg(strstr(err, "holds 2 unfinished jobs") != NULL &&
	    strstr(err, "queue = 8, max_payload = 32 and max_output = 0") != NULL,
	    "%s: message \"%s\", want the count and the old sizes", resizes[_i].name, err);
	r = segment_open(name, 8, 32, 0, geteuid(), &s, err, sizeof(err));
	ck_assert_msg(r == SEG_ATTACHED, "%s: reopen got %d (%s), want SEG_ATTACHED",
	    resizes[_i].name, r, err);
	ck_assert_msg(segment_lookup(s, a) && segment_lookup(s, b), "%s: jobs lost", resizes[_i].name);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* A second open while the first is open: SEG_BUSY; free after close. */
START_TEST(test_busy_same_process)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16), *t = NULL;
	char err[256];
	int r;

	r = segment_open(name, 4, 16, 0, geteuid(), &t, err, sizeof(err));
	ck_assert_msg(r == SEG_BUSY, "second open: got %d (%s), want SEG_BUSY", r, err);
	ck_assert_msg(strstr(err, "in use") != NULL && strstr(err, name) != NULL,
	    "message \"%s\", want \"%s ... in use\"", err, name);
	r = segment_open(name, 8, 16, 0, geteuid(), &t, err, sizeof(err));
	ck_assert_msg(r == SEG_BUSY, "open with other sizes: got %d (%s), want SEG_BUSY", r, err);
	segment_close(s);
	r = segment_open(name, 4, 16, 0, geteuid(), &t, err, sizeof(err));
	ck_assert_msg(r == SEG_ATTACHED, "after close: got %d (%s), want SEG_ATTACHED", r, err);
	segment_close(t);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* A forked child holding the inherited fd keeps the segment busy after the
 * parent closed it; once the child is SIGKILLed, opening succeeds. */
START_TEST(test_busy_child)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16), *t = NULL;
	pid_t pid;
	int ready[2], r, st;
	char err[256], c;

	ck_assert_int_eq(pipe(ready), 0);
	if ((pid = test_fork()) == 0) {
		close(ready[0]);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	segment_close(s);
	r = segment_open(name, 4, 16, 0, geteuid(), &t, err, sizeof(err));
	ck_assert_msg(r == SEG_BUSY, "child alive: got %d (%s), want SEG_BUSY", r, err);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r = segment_open(name, 4, 16, 0, geteuid(), &t, err, sizeof(err));
	ck_assert_msg(r == SEG_ATTACHED, "child dead: got %d (%s), want SEG_ATTACHED", r, err);
	segment_close(t);
	close(ready[0]);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* --- kill during enqueue -------------------------------------------------- */

#define KCAP	65536u
#define KPAY	24

/* The child: enqueue as fast as possible, report each id after
 * segment_enqueue returned; stop (and wait to be killed) when full. */
static void
enqueue_forever(struct segment *s, int fd)
{
	for (uint64_t n = 0;; n++) {
		long i = segment_reserve(s);
		uint64_t id;

		if (i < 0)
			for (;;)
				pause();
		memset(segment_payload(s, (uint32_t)i), (int)(n & 0xff), KPAY);
		id = segment_enqueue(s, (uint32_t)i, KPAY);
		if (write(fd, &id, sizeof(id)) != sizeof(id))
			_exit(1);
	}
}

START_TEST(test_kill_during_enqueue)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, KCAP, KPAY);
	pid_t pid;
	uint64_t *got = malloc((KCAP + 1) * sizeof(*got));
	uint32_t *ready = malloc((KCAP + 1) * sizeof(*ready));
	unsigned char *seen = calloc(KCAP, 1);
	size_t have = 0, cap_bytes = (KCAP + 1) * sizeof(*got);
	struct seg_recovery rec;
	struct pollfd pfd;
	int p[2], r, st;
	int64_t kill_at = 0;
	unsigned delay_us;
	uint32_t nr, nf, v, nids;
	char err[256];
	ssize_t n;

	ck_assert(got && ready && seen);
	srand((unsigned)clock_mono_ns() ^ (unsigned)_i * 7919u);
	delay_us = 500 + (unsigned)rand() % 15000;
	ck_assert_int_eq(pipe(p), 0);
	if ((pid = test_fork()) == 0) {
		close(p[0]);
		enqueue_forever(s, p[1]);
	}
	close(p[1]);
	segment_close(s);	/* the child's inherited fd holds the lock */

	/* Read ids; delay_us after the first one, SIGKILL; then read to EOF. */
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	for (;;) {
		int64_t now = clock_mono_ns();
		int timeout = kill_at == 0 ? 5000 : (int)((kill_at - now) / 1000000);

		if (kill_at != 0 && now >= kill_at) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, timeout < 0 ? 0 : timeout) == 1) {
			n = read(p[0], (char *)got + have, cap_bytes - have);
			ck_assert_msg(n > 0, "child stopped before the kill");
			have += (size_t)n;
			if (kill_at == 0)
				kill_at = clock_mono_ns() + (int64_t)delay_us * 1000;
		} else {
			ck_assert_msg(kill_at != 0, "no id from the child in 5 s");
		}
	}
	while ((n = read(p[0], (char *)got + have, cap_bytes - have)) > 0)
		have += (size_t)n;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	    "child status %#x, want killed (queue full before the kill?)", st);
	ck_assert_msg(have % sizeof(uint64_t) == 0, "torn id in the pipe");
	nids = (uint32_t)(have / sizeof(uint64_t));

	r = segment_open(name, KCAP, KPAY, 0, geteuid(), &s, err, sizeof(err));
	ck_assert_msg(r == SEG_ATTACHED, "reopen after kill: got %d (%s), want SEG_ATTACHED", r, err);
	ck_assert_int_eq(segment_recover(s, 0, &rec), 0);
	ck_assert_msg(rec.kept == 0 && rec.orphaned == 0, "kept %u orphaned %u, want 0 0",
	    rec.kept, rec.orphaned);
	for (uint32_t k = 0; k < nids; k++) {
		struct slot *sl = segment_lookup(s, got[k]);

		ck_assert_msg(sl != NULL && atomic_load(&sl->state) == SLOT_QUEUED,
		    "reported id %u of %u (%#llx): not QUEUED after recovery (delay %u us)",
		    k, nids, (unsigned long long)got[k], delay_us);
	}
	nr = drain(segment_ready(s), ready, KCAP + 1);
	ck_assert_msg(nr == nids || nr == nids + 1,
	    "ready ring got %u jobs, want %u reported (+1 unreported at most)", nr, nids);
	for (uint32_t k = 0; k < nr; k++) {
		struct slot *sl = segment_slot(s, ready[k]);

		ck_assert_msg(seen[ready[k]]++ == 0, "slot %u twice", ready[k]);
		if (k < nids)
			ck_assert_msg(sl->id == got[k], "ready[%u]: got id %#llx, want %#llx", k,
			    (unsigned long long)sl->id, (unsigned long long)got[k]);
		ck_assert_msg(sl->payload_len == KPAY, "ready[%u]: payload_len %u", k, sl->payload_len);
	}
	nf = 0;
	while (ring_pop(segment_free(s), &v) == 0) {
		ck_assert_msg(seen[v]++ == 0, "slot %u on both rings or twice", v);
		ck_assert_msg(atomic_load(&segment_slot(s, v)->state) == SLOT_FREE,
		    "free slot %u: state %u, want FREE", v, atomic_load(&segment_slot(s, v)->state));
		nf++;
	}
	ck_assert_msg(nr + nf == KCAP, "ready %u + free %u, want %u", nr, nf, KCAP);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
	free(got);
	free(ready);
	free(seen);
}
END_TEST

/* --- trust: the segment as a hostile local user could leave it ----------- */

/* Set in a test: run once by the next flock(2) segment_open makes, between
 * its open and its lock (the window an exiting predecessor can unlink in). */
static void (*flock_hook)(void);

/* segment.o's flock resolves here (the test links libjobqd.a statically). */
int
flock(int fd, int op)
{
	void (*hook)(void) = flock_hook;

	flock_hook = NULL;
	if (hook != NULL)
		hook();
	return (int)syscall(SYS_flock, fd, op);
}

/* Make the existing object name owned by uid / mode. */
static void
set_owner_mode(const char *name, uid_t uid, mode_t mode)
{
	int fd = shm_open(name, O_RDWR, 0);

	ck_assert_msg(fd != -1, "shm_open %s: %s", name, strerror(errno));
	ck_assert_msg(fchown(fd, uid, (gid_t)-1) == 0, "fchown: %s", strerror(errno));
	ck_assert_msg(fchmod(fd, mode) == 0, "fchmod: %s", strerror(errno));
	close(fd);
}

static void
stat_name(const char *name, struct stat *st)
{
	int fd = shm_open(name, O_RDONLY, 0);

	ck_assert_msg(fd != -1, "shm_open %s: %s", name, strerror(errno));
	ck_assert_int_eq(fstat(fd, st), 0);
	close(fd);
}

#define NOBODY 65534

static const struct {
	const char *name;
	uid_t uid;	/* NOBODY, or 0 for the test's own euid */
	mode_t mode;
	const char *msg;
} foreigns[] = {
	{ "other owner", NOBODY, 0600, "belongs to uid 65534 with mode 0600" },
	{ "mode 0666", 0, 0666, "with mode 0666" },
	{ "mode 0660", 0, 0660, "with mode 0660" },
	{ "mode 0604", 0, 0604, "with mode 0604" },
	{ "other owner, 0666", NOBODY, 0666, "belongs to uid 65534 with mode 0666" },
};

/* An existing segment of another user, or open to others, is refused with
 * one line naming it, its owner and mode (root included), and left as it
 * was. */
START_TEST(test_foreign)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	struct stat before, after;
	uid_t uid = foreigns[_i].uid == NOBODY ? NOBODY : geteuid();
	char err[512];
	int r;

	enqueue_job(s, "secret");
	segment_close(s);
	set_owner_mode(name, uid, foreigns[_i].mode);
	stat_name(name, &before);
	r = segment_open(name, 4, 32, 0, geteuid(), &s, err, sizeof(err));
	ck_assert_msg(r == SEG_MISMATCH, "%s: got %d (%s), want SEG_MISMATCH",
	    foreigns[_i].name, r, err);
	ck_assert_msg(strstr(err, name) != NULL && strstr(err, foreigns[_i].msg) != NULL &&
	    strchr(err, '\n') == NULL, "%s: message \"%s\", want %s and \"%s\" on one line",
	    foreigns[_i].name, err, name, foreigns[_i].msg);
	stat_name(name, &after);
	ck_assert_msg(after.st_ino == before.st_ino && after.st_uid == uid &&
	    (after.st_mode & 07777) == foreigns[_i].mode && after.st_size == before.st_size &&
	    after.st_mtim.tv_nsec == before.st_mtim.tv_nsec, "%s: the object was changed",
	    foreigns[_i].name);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* A segment that belongs to the user we run as (left by a crash after the
 * privileges were dropped) is ours. */
START_TEST(test_run_as_user)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	uint64_t id;
	char err[256];
	int r;

	id = enqueue_job(s, "kept");
	segment_close(s);
	set_owner_mode(name, NOBODY, 0600);
	r = segment_open(name, 4, 32, 0, NOBODY, &s, err, sizeof(err));
	ck_assert_msg(r == SEG_ATTACHED, "got %d (%s), want SEG_ATTACHED", r, err);
	ck_assert_msg(segment_lookup(s, id) != NULL, "job lost");
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* A new segment is 0600 whatever the umask took away. */
START_TEST(test_create_mode)
{
	const char *name = seg_name();
	mode_t old = umask(0277);
	struct segment *s = seg_create(name, 4, 32);
	struct stat st;

	umask(old);
	ck_assert_int_eq(fstat(segment_fd(s), &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0600 && st.st_uid == geteuid(),
	    "mode %04o uid %ld, want 0600 and %ld", (unsigned)(st.st_mode & 07777),
	    (long)st.st_uid, (long)geteuid());
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

static int removed_go;
static pid_t removed_holder;

/* The predecessor's clean stop, between our open and our lock: it unlinks
 * the name and exits, releasing the lock. */
static void
predecessor_exits(void)
{
	int st;

	ck_assert_int_eq(write(removed_go, "x", 1), 1);
	ck_assert_int_eq(waitpid(removed_holder, &st, 0), removed_holder);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "holder status %#x", st);
}

/* A segment unlinked by an exiting predecessor after we opened it is not
 * adopted: we get a fresh one under the name. */
START_TEST(test_removed_before_lock)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32), *t = NULL;
	struct stat mine, named;
	int go[2], r;
	char err[256], c;

	enqueue_job(s, "old");
	ck_assert_int_eq(pipe(go), 0);
	if ((removed_holder = test_fork()) == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1 || segment_unlink(name) != 0)
			_exit(1);
		_exit(0);	/* the inherited fd, and the lock, go with us */
	}
	close(go[0]);
	segment_close(s);
	removed_go = go[1];
	flock_hook = predecessor_exits;
	r = segment_open(name, 4, 32, 0, geteuid(), &t, err, sizeof(err));
	ck_assert_msg(flock_hook == NULL, "the hook did not run");
	ck_assert_msg(r == SEG_CREATED, "got %d (%s), want SEG_CREATED (a fresh segment)", r, err);
	ck_assert_int_eq(fstat(segment_fd(t), &mine), 0);
	stat_name(name, &named);
	ck_assert_msg(mine.st_nlink == 1 && mine.st_ino == named.st_ino,
	    "the segment in use (ino %lu, %lu links) is not the one named %s (ino %lu)",
	    (unsigned long)mine.st_ino, (unsigned long)mine.st_nlink, name,
	    (unsigned long)named.st_ino);
	ck_assert_uint_eq(ring_count(segment_free(t)), 4);
	close(go[1]);
	segment_close(t);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* Free-ring entries out of range or naming a slot in use are dropped, the
 * first one described once; the good entries are still handed out. */
START_TEST(test_bad_free_entries)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	struct ring_shm *m = segment_free(s)->m;
	const char *bad;
	long i;

	/* entries 0..3 in order: two out of range, a good one, it again */
	m->v[0] = 0xfffffff0u;
	m->v[1] = 4;
	m->v[2] = 2;
	m->v[3] = 2;
	ck_assert_ptr_null(segment_bad_once(s));
	i = segment_reserve(s);
	ck_assert_msg(i == 2, "reserve: got %ld, want 2", i);
	bad = segment_bad_once(s);
	ck_assert_msg(bad != NULL && strstr(bad, "free ring entry 4294967280") != NULL,
	    "note \"%s\", want the first bad entry", bad ? bad : "(null)");
	ck_assert_ptr_null(segment_bad_once(s));
	i = segment_reserve(s);		/* slot 2 again: FILLING, dropped */
	ck_assert_msg(i == -1, "reserve: got %ld, want -1 (nothing usable)", i);
	ck_assert_ptr_null(segment_bad_once(s));
	ck_assert_uint_eq(atomic_load(&segment_slot(s, 2)->state), SLOT_FILLING);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* Ready-ring entries out of range or naming a slot not QUEUED are dropped. */
START_TEST(test_bad_ready_entries)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	struct ring_shm *m = segment_ready(s)->m;
	uint64_t c;
	const char *bad;
	long i;

	enqueue_job(s, "a");
	enqueue_job(s, "b");
	c = enqueue_job(s, "c");
	m->v[0] = 1u << 20;			/* out of range */
	m->v[1] = 3;				/* a FREE slot */
	ck_assert_uint_eq(atomic_load(&segment_slot(s, 3)->state), SLOT_FREE);
	i = segment_next_ready(s);
	ck_assert_msg(i == (long)jobid_slot(c), "next_ready: got %ld, want %u", i, jobid_slot(c));
	bad = segment_bad_once(s);
	ck_assert_msg(bad != NULL && strstr(bad, "ready ring entry 1048576") != NULL,
	    "note \"%s\", want the first bad entry", bad ? bad : "(null)");
	ck_assert_msg(segment_next_ready(s) == -1, "next_ready on an empty ring: want -1");
	ck_assert_ptr_null(segment_bad_once(s));
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* Rewritten ring headers (capacity, mask, counters far away): pushes and
 * pops stay inside the array and keep the private capacity. */
START_TEST(test_bad_ring_header)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	struct ring *rings[2] = { segment_free(s), segment_ready(s) };
	uint32_t v;

	for (int k = 0; k < 2; k++) {
		struct ring_shm *m = rings[k]->m;

		m->cap = m->mask = UINT32_MAX;
		atomic_store(&m->head, 0x40000000u);
		atomic_store(&m->tail, 0x40000000u);
		m->head_cache = m->tail_cache = 0x40000000u;
		for (uint32_t n = 0; n < 4; n++)
			ck_assert_msg(ring_push(rings[k], n) == 0, "ring %d: push %u failed", k, n);
		ck_assert_msg(ring_push(rings[k], 9) == -1, "ring %d: a fifth push fit", k);
		for (uint32_t n = 0; n < 4; n++) {
			ck_assert_int_eq(ring_pop(rings[k], &v), 0);
			ck_assert_uint_eq(v, n);
		}
		ck_assert_int_eq(ring_pop(rings[k], &v), -1);
	}
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* Every size and offset in the header rewritten after the open: the
 * process goes on with its own copies. */
START_TEST(test_bad_header_fields)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	struct seg_header *h = segment_header(s);
	struct seg_recovery rec;
	uint64_t a, b;

	a = enqueue_job(s, "a");
	h->capacity = h->score_count = UINT32_MAX;
	h->max_payload = h->max_output = h->slot_size = UINT32_MAX;
	h->ready_off = h->free_off = h->score_off = h->slots_off = UINT64_MAX / 2;
	ck_assert_uint_eq(segment_capacity(s), 4);
	ck_assert_uint_eq(segment_max_payload(s), 32);
	ck_assert_uint_eq(segment_max_output(s), 0);
	ck_assert_msg(segment_lookup(s, a) != NULL, "lookup: job lost");
	ck_assert_msg(segment_lookup(s, jobid_make(0, 1, 1000)) == NULL, "lookup: slot 1000 found");
	ck_assert_int_eq(segment_recover(s, 0, &rec), 0);
	ck_assert_uint_eq(rec.requeued, 1);
	ck_assert_uint_eq(rec.freed, 3);
	b = enqueue_job(s, "b");
	ck_assert_msg(segment_next_ready(s) == (long)jobid_slot(a), "a not first");
	ck_assert_msg(segment_next_ready(s) == (long)jobid_slot(b), "b not second");
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* A full ready ring (only a rewritten one can be): enqueue fails without
 * a change and the slot stays the caller's. */
START_TEST(test_enqueue_ring_full)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	struct ring_shm *m = segment_ready(s)->m;
	struct seg_header *h = segment_header(s);
	long i = segment_reserve(s);

	ck_assert(i >= 0);
	atomic_store(&m->tail, atomic_load(&m->head) + 4);
	ck_assert_msg(segment_enqueue(s, (uint32_t)i, 1) == 0, "enqueue on a full ring: want 0");
	ck_assert_uint_eq(atomic_load(&segment_slot(s, (uint32_t)i)->state), SLOT_FILLING);
	ck_assert_uint_eq(atomic_load(&h->queued), 0);
	ck_assert_uint_eq(atomic_load(&h->accepted), 0);
	ck_assert_msg(segment_bad_once(s) != NULL, "no note of the full ring");
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* payload_len above max_payload is refused, noted once per process (a
 * forked child notes its own). */
START_TEST(test_payload_len)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	uint32_t i = jobid_slot(enqueue_job(s, "12345"));
	pid_t pid;
	int st;

	ck_assert_int_eq(segment_payload_len(s, i), 5);
	segment_slot(s, i)->payload_len = 32;
	ck_assert_int_eq(segment_payload_len(s, i), 32);
	segment_slot(s, i)->payload_len = 33;
	ck_assert_int_eq(segment_payload_len(s, i), -1);
	ck_assert_msg(segment_bad_once(s) != NULL, "no note");
	segment_slot(s, i)->payload_len = UINT32_MAX;
	ck_assert_int_eq(segment_payload_len(s, i), -1);
	ck_assert_ptr_null(segment_bad_once(s));
	if ((pid = test_fork()) == 0)
		_exit(segment_payload_len(s, i) == -1 && segment_bad_once(s) != NULL ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child noted nothing");
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* --- transitions ---------------------------------------------------------- */

/* The gauges and counters a transition may move, in one comparable row. */
struct gauges {
	uint32_t queued, running;
	uint64_t completed, failed, retried, canceled, waits, runs;
};

static void
gauges(struct segment *s, struct gauges *g)
{
	struct seg_header *h = segment_header(s);

	memset(g, 0, sizeof(*g));
	g->queued = atomic_load(&h->queued);
	g->running = atomic_load(&h->running);
	g->completed = atomic_load(&h->completed);
	g->failed = atomic_load(&h->failed);
	g->retried = atomic_load(&h->retried);
	g->canceled = atomic_load(&h->canceled);
	for (int k = 0; k < SEG_HIST_BUCKETS; k++) {
		g->waits += atomic_load(&h->wait_hist[k]);
		g->runs += atomic_load(&h->run_hist[k]);
	}
}

/* A failed attempt waits SCHEDULED (counted queued, not on the ready
 * ring, kept by recovery with its run_at), then QUEUED when due. */
START_TEST(test_transition_schedule)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	uint64_t a = enqueue_job(s, "a");
	uint32_t ia = jobid_slot(a);
	struct slot *sl = segment_slot(s, ia);
	struct seg_census c;
	struct seg_recovery r;
	struct gauges g;

	ck_assert_int_eq(segment_schedule(s, ia, 1234), -1);	/* not running */
	ck_assert_int_eq(segment_next_ready(s), ia);
	ck_assert_int_eq(segment_run(s, ia, 7), 0);
	ck_assert_int_eq(segment_due(s, ia), -1);		/* not scheduled */
	ck_assert_int_eq(segment_schedule(s, ia, 1234), 0);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_SCHEDULED);
	ck_assert_int_eq(sl->run_at, 1234);
	ck_assert_uint_eq(sl->attempts, 1);
	gauges(s, &g);
	ck_assert_uint_eq(g.queued, 1);
	ck_assert_uint_eq(g.running, 0);
	ck_assert_uint_eq(g.retried, 1);
	segment_census(s, 1, &c);
	ck_assert_uint_eq(c.queued, 1);
	ck_assert_int_eq(segment_run(s, ia, 7), -1);
	ck_assert_int_eq(segment_schedule(s, ia, 99), -1);
	ck_assert_int_eq(segment_finish(s, ia, SLOT_FAILED), -1);
	ck_assert_int_eq(segment_retry(s, ia), -1);
	ck_assert_ptr_eq(segment_lookup(s, a), sl);
	/* recovery keeps it, off the ready ring */
	ck_assert_int_eq(segment_recover(s, 0, &r), 0);
	ck_assert_uint_eq(r.scheduled, 1);
	ck_assert_uint_eq(r.requeued + r.orphaned, 0);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_SCHEDULED);
	ck_assert_int_eq(sl->run_at, 1234);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->queued), 1);
	ck_assert_int_eq(segment_next_ready(s), -1);
	/* due: QUEUED, runs again */
	ck_assert_int_eq(segment_due(s, ia), 0);
	ck_assert_int_eq(segment_due(s, ia), -1);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_QUEUED);
	ck_assert_int_eq(segment_run(s, ia, 7), 0);
	ck_assert_uint_eq(sl->attempts, 2);
	ck_assert_int_eq(segment_finish(s, ia, SLOT_DONE), 0);
	gauges(s, &g);
	ck_assert_uint_eq(g.queued, 0);
	ck_assert_uint_eq(g.running, 0);
	ck_assert_ptr_null(segment_bad_once(s));
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* One job through run, a charged retry, an uncharged requeue, done. */
START_TEST(test_transition_life)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	struct gauges g;
	struct slot *sl;
	uint32_t free_before = ring_count(segment_free(s)), v;
	long i;

	enqueue_job(s, "a");
	i = segment_next_ready(s);
	ck_assert_int_ge(i, 0);
	sl = segment_slot(s, (uint32_t)i);
	ck_assert_int_eq(segment_run(s, (uint32_t)i, 4242), 0);
	gauges(s, &g);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_RUNNING);
	ck_assert_uint_eq(sl->attempts, 1);
	ck_assert_int_eq(sl->worker_pid, 4242);
	ck_assert_int_eq(sl->t_started, 0);	/* the worker sets it */
	ck_assert_uint_eq(g.queued, 0);
	ck_assert_uint_eq(g.running, 1);
	ck_assert_int_eq(segment_requeue(s, (uint32_t)i, 1), 0);	/* failed attempt */
	gauges(s, &g);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_QUEUED);
	ck_assert_uint_eq(sl->attempts, 1);
	ck_assert_uint_eq(g.retried, 1);
	ck_assert_uint_eq(g.queued, 1);
	ck_assert_uint_eq(g.running, 0);
	ck_assert_int_eq(segment_run(s, (uint32_t)i, 4243), 0);
	ck_assert_uint_eq(sl->attempts, 2);
	ck_assert_int_eq(segment_requeue(s, (uint32_t)i, 0), 0);	/* never ran */
	gauges(s, &g);
	ck_assert_uint_eq(sl->attempts, 1);
	ck_assert_uint_eq(g.retried, 1);
	ck_assert_uint_eq(g.queued, 1);
	ck_assert_int_eq(segment_run(s, (uint32_t)i, 4244), 0);
	sl->t_started = sl->t_queued + 2000000;		/* as a worker would */
	sl->t_finished = sl->t_started + 7000000;
	ck_assert_uint_eq(ring_count(segment_free(s)), free_before - 1);
	ck_assert_int_eq(segment_finish(s, (uint32_t)i, SLOT_DONE), 0);
	gauges(s, &g);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	ck_assert_uint_eq(sl->attempts, 2);
	ck_assert_uint_eq(g.queued, 0);
	ck_assert_uint_eq(g.running, 0);
	ck_assert_uint_eq(g.completed, 1);
	ck_assert_uint_eq(g.failed, 0);
	ck_assert_uint_eq(g.waits, 1);
	ck_assert_uint_eq(g.runs, 1);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->wait_sum_us), 2000);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->run_sum_us), 7000);
	/* back on the free ring, last */
	ck_assert_uint_eq(ring_count(segment_free(s)), free_before);
	while (ring_pop(segment_free(s), &v) == 0 && ring_count(segment_free(s)) > 0)
		;
	ck_assert_uint_eq(v, (uint32_t)i);
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* A job that never started (attempts exhausted before a crash) fails from
 * QUEUED: the queued gauge, the failed counter, no histogram. */
START_TEST(test_transition_fail_queued)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	struct gauges g;
	long i;

	enqueue_job(s, "a");
	i = segment_next_ready(s);
	ck_assert_int_eq(segment_finish(s, (uint32_t)i, SLOT_FAILED), 0);
	gauges(s, &g);
	ck_assert_uint_eq(atomic_load(&segment_slot(s, (uint32_t)i)->state), SLOT_FAILED);
	ck_assert_uint_eq(g.queued, 0);
	ck_assert_uint_eq(g.failed, 1);
	ck_assert_uint_eq(g.waits + g.runs, 0);
	segment_close(s);
	segment_unlink(name);
}
END_TEST

struct seen {
	uint64_t id[8];
	int failed[8];		/* enum slot_state */
	unsigned n;
};

static void
on_finished(void *arg, uint64_t id, enum slot_state failed)
{
	struct seen *v = arg;

	ck_assert_uint_lt(v->n, NELEM(v->id));
	v->id[v->n] = id;
	v->failed[v->n++] = failed;
}

/* cancel: QUEUED and not taken by the dispatcher -> CANCELED, the gauge
 * and the counter; the dispatcher passes it to the free ring and the
 * master learns of it there; recovery frees it. */
START_TEST(test_cancel)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	uint64_t a = enqueue_job(s, "a"), b = enqueue_job(s, "b");
	uint32_t ia = jobid_slot(a), ib = jobid_slot(b), free_n;
	struct slot *sl = segment_slot(s, ia);
	struct seen v = { .n = 0 };
	struct seg_census c;
	struct seg_recovery r;
	struct gauges g;

	ck_assert_int_eq(segment_cancel(s, ia), 0);
	gauges(s, &g);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_CANCELED);
	ck_assert_int_ne(sl->t_finished, 0);
	ck_assert_uint_eq(g.queued, 1);
	ck_assert_uint_eq(g.canceled, 1);
	ck_assert_int_eq(segment_cancel(s, ia), -1);
	segment_census(s, 1, &c);
	ck_assert_uint_eq(c.queued, 1);
	ck_assert_ptr_eq(segment_lookup(s, a), sl);
	/* the dispatcher: a onto the free ring, b for it; b is then its own */
	free_n = ring_count(segment_free(s));
	ck_assert_int_eq(segment_next_ready(s), ib);
	ck_assert_uint_eq(ring_count(segment_free(s)), free_n + 1);
	ck_assert_int_eq(segment_cancel(s, ib), -1);
	ck_assert_uint_eq(atomic_load(&segment_slot(s, ib)->state), SLOT_QUEUED);
	ck_assert_int_eq(segment_run(s, ib, 7), 0);
	segment_finished(s, on_finished, &v);
	ck_assert_uint_eq(v.n, 1);
	ck_assert(v.id[0] == a && v.failed[0] == SLOT_CANCELED);
	ck_assert_ptr_null(segment_bad_once(s));
	/* recovery: the canceled slot is free again (still readable) */
	ck_assert_int_eq(segment_recover(s, 0, &r), 0);
	ck_assert_uint_eq(r.freed, 3);
	ck_assert_uint_eq(r.orphaned, 1);
	ck_assert_uint_eq(segment_slot(s, ib)->reason, SLOT_REASON_LOST);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_CANCELED);
	/* a canceled slot the dispatcher never passed over, recovered */
	ck_assert_int_eq(segment_next_ready(s), ib);
	b = enqueue_job(s, "c");
	ck_assert_int_eq(segment_cancel(s, jobid_slot(b)), 0);
	ck_assert_int_eq(segment_recover(s, 0, &r), 0);
	ck_assert_uint_eq(r.requeued + r.orphaned, 1);
	ck_assert_int_eq(segment_next_ready(s), ib);
	ck_assert_int_eq(segment_next_ready(s), -1);
	ck_assert_ptr_null(segment_bad_once(s));
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* retry: each ring holds a retried slot at most once, whatever the order
 * of the master's pop of its old free entry and its next finish. */
START_TEST(test_retry_rings)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 2, 16);
	uint64_t a = enqueue_job(s, "a");
	uint32_t i = jobid_slot(a);
	struct slot *sl = segment_slot(s, i);
	struct gauges g;

	for (int order = 0; order < 2; order++) {
		ck_assert_int_eq(segment_next_ready(s), i);
		ck_assert_int_eq(segment_run(s, i, 1), 0);
		ck_assert_int_eq(segment_finish(s, i, SLOT_FAILED), 0);
		ck_assert_int_eq(segment_retry(s, i), 0);
		gauges(s, &g);
		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_QUEUED);
		ck_assert_uint_eq(sl->attempts, 0);
		ck_assert_uint_eq(sl->id, a);
		ck_assert_uint_eq(g.queued, 1);
		ck_assert_int_eq(segment_next_ready(s), i);
		ck_assert_int_eq(segment_run(s, i, 1), 0);
		ck_assert_uint_eq(sl->attempts, 1);
		if (order == 0) {
			/* the old entry popped first (after the other
			 * slot's): dropped, the finish pushes anew */
			ck_assert_int_eq(segment_reserve(s), 1 - i);
			ck_assert_int_eq(segment_reserve(s), -1);
		}
		/* else the finish comes first: the old entry serves */
		ck_assert_int_eq(segment_finish(s, i, SLOT_DONE), 0);
		ck_assert_uint_eq(ring_count(segment_free(s)), 1);
		ck_assert_ptr_null(segment_bad_once(s));
		ck_assert_int_eq(segment_reserve(s), i);
		ck_assert_int_eq(segment_reserve(s), -1);
		a = segment_enqueue(s, i, 1);
		ck_assert_uint_ne(a, 0);
	}
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* list: the newest first (by sequence), at most max, of one state. */
START_TEST(test_list)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 16, 16);
	uint64_t id[16], got[16];

	for (int k = 0; k < 16; k++)
		id[k] = enqueue_job(s, "x");
	for (int k = 0; k < 16; k += 3)
		ck_assert_int_eq(segment_cancel(s, jobid_slot(id[k])), 0);
	ck_assert_uint_eq(segment_list(s, SLOT_CANCELED, got, 16), 6);
	for (int k = 0; k < 6; k++)
		ck_assert_uint_eq(got[k], id[15 - 3 * k]);
	ck_assert_uint_eq(segment_list(s, SLOT_QUEUED, got, 4), 4);
	ck_assert_uint_eq(got[0], id[14]);
	ck_assert_uint_eq(got[1], id[13]);
	ck_assert_uint_eq(got[2], id[11]);
	ck_assert_uint_eq(got[3], id[10]);
	ck_assert_uint_eq(segment_list(s, SLOT_QUEUED, got, 1), 1);
	ck_assert_uint_eq(got[0], id[14]);
	ck_assert_uint_eq(segment_list(s, SLOT_DONE, got, 16), 0);
	ck_assert_uint_eq(segment_list(s, SLOT_QUEUED, got, 0), 0);
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* expired: issued and its slot reused; not: never issued. */
START_TEST(test_expired)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 1, 16);
	uint64_t a = enqueue_job(s, "a"), b, next;

	ck_assert_int_eq(segment_expired(s, a), 0);
	ck_assert_int_eq(segment_cancel(s, 0), 0);
	ck_assert_int_eq(segment_next_ready(s), -1);
	ck_assert_int_eq(segment_reserve(s), 0);
	ck_assert_ptr_null(segment_lookup(s, a));
	ck_assert_int_eq(segment_expired(s, a), 1);	/* FILLING */
	b = segment_enqueue(s, 0, 1);
	ck_assert_int_eq(segment_expired(s, a), 1);
	ck_assert_int_eq(segment_expired(s, b), 0);
	next = jobid_make(0, atomic_load(&segment_header(s)->next_seq), 0);
	ck_assert_int_eq(segment_expired(s, next), 0);
	ck_assert_int_eq(segment_expired(s, (a & ~(UINT64_C(0xff) << 56)) | UINT64_C(1) << 56), 0);
	ck_assert_int_eq(segment_expired(s, jobid_make(0, 1, 5)), 0);	/* no slot */
	ck_assert_int_eq(segment_expired(s, 0), 0);
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* The master cancels while the dispatcher takes and runs jobs, in two
 * threads: every job is either canceled or run, never both, and
 * segment_run never finds a slot it took canceled. */
struct race {
	struct segment *s;
	_Atomic int done;
	_Atomic uint64_t runs, run_failed;
};

static void *
race_dispatcher(void *arg)
{
	struct race *x = arg;

	for (;;) {
		int done = atomic_load(&x->done);	/* before the pop */
		long i = segment_next_ready(x->s);

		if (i < 0) {
			if (done)
				return NULL;
			sched_yield();	/* a loaded machine: let the producer run */
			continue;
		}
		if (segment_run(x->s, (uint32_t)i, 1) == -1 ||
		    segment_finish(x->s, (uint32_t)i, i % 3 ? SLOT_DONE : SLOT_FAILED) == -1)
			atomic_fetch_add(&x->run_failed, 1);
		atomic_fetch_add(&x->runs, 1);
	}
}

START_TEST(test_cancel_race)
{
	enum { N = 20000 };
	const char *name = seg_name();
	struct race x = { .s = seg_create(name, 64, 16) };
	uint64_t canceled = 0, retried = 0, submitted = 0, refused = 0;
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, race_dispatcher, &x), 0);
	while (submitted < N) {
		long i = segment_reserve(x.s);

		if (i < 0) {
			sched_yield();
			continue;
		}
		ck_assert_uint_ne(segment_enqueue(x.s, (uint32_t)i, 0), 0);
		submitted++;
		/* cancel this one or an older one: it may be taken, running,
		 * done; a failed or canceled one is retried now and then */
		i = (long)((submitted * 7) % 64);
		if (segment_cancel(x.s, (uint32_t)i) == 0)
			canceled++;
		else
			refused++;
		if (submitted % 5 == 0 && segment_retry(x.s, (uint32_t)((submitted * 3) % 64)) == 0)
			retried++;
	}
	atomic_store(&x.done, 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(atomic_load(&x.run_failed), 0);
	ck_assert_uint_eq(atomic_load(&x.runs) + canceled, submitted + retried);
	ck_assert_uint_gt(canceled, 0);
	ck_assert_uint_gt(refused, 0);
	ck_assert_uint_eq(atomic_load(&segment_header(x.s)->queued), 0);
	/* every slot on the free ring, once */
	{
		uint32_t all[65], seen[64] = { 0 }, n = drain(segment_free(x.s), all, 65);

		ck_assert_uint_eq(n, 64);
		for (uint32_t k = 0; k < n; k++)
			ck_assert_uint_eq(seen[all[k]]++, 0);
	}
	ck_assert_ptr_null(segment_bad_once(x.s));
	segment_close(x.s);
	segment_unlink(name);
}
END_TEST

/* Slot i published delayed (run_at), with payload p; its id. */
static uint64_t
delay_job(struct segment *s, const char *payload, int64_t run_at)
{
	long i = segment_reserve(s);
	uint64_t id;

	ck_assert_msg(i >= 0, "segment_reserve: queue full");
	id = segment_assign(s, (uint32_t)i, (uint32_t)strlen(payload));
	segment_delay(s, (uint32_t)i, run_at);
	ck_assert_int_eq(segment_publish(s, (uint32_t)i), 0);
	return id;
}

/* segment_on_pop: the slots popped, in order. */
struct popped {
	uint32_t n, slot[16];
};

static void
on_popped(void *arg, uint32_t i)
{
	struct popped *p = arg;

	if (p->n < 16)
		p->slot[p->n++] = i;
}

/* A delayed job: published SCHEDULED on the ready ring (counted), popped
 * as such (the hook sees every entry); cancel on the ready ring (a), in
 * the dispatcher's hands (b: pushed back for it to free, CANCELING), a
 * cancel that loses to the timer (409), a retry before the dispatcher
 * frees it; restore with run_at; the key table finds a scheduled job. */
START_TEST(test_delay_cancel)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	struct popped p = { .n = 0 };
	uint64_t a = delay_job(s, "a", 1000), b;
	uint32_t ia = jobid_slot(a), ib, free_n;
	struct slot *sa = segment_slot(s, ia), *sb;
	struct seg_recovery r;
	struct gauges g;

	segment_on_pop(s, on_popped, &p);
	ck_assert_uint_eq(atomic_load(&sa->state), SLOT_SCHEDULED);
	ck_assert_int_eq(sa->run_at, 1000);
	ck_assert_int_eq(sa->delayed_to, 1000);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->scheduled), 1);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->accepted), 1);
	ck_assert_int_eq(segment_idem_add(s, ia, 77, 5), 0);
	ck_assert_int_eq(segment_idem_find(s, 77), ia);
	/* (a) on the ready ring */
	ck_assert_int_eq(segment_cancel(s, ia), 0);
	ck_assert_uint_eq(atomic_load(&sa->state), SLOT_CANCELED);
	gauges(s, &g);
	ck_assert_uint_eq(g.queued, 0);
	ck_assert_uint_eq(g.canceled, 1);
	free_n = ring_count(segment_free(s));
	ck_assert_int_eq(segment_next_ready(s), -1);
	ck_assert_uint_eq(ring_count(segment_free(s)), free_n + 1);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_uint_eq(p.slot[0], ia);

	/* (b) the dispatcher took it into its timers */
	b = delay_job(s, "b", 2000);
	ib = jobid_slot(b);
	sb = segment_slot(s, ib);
	ck_assert_int_eq(segment_next_ready(s), ib);
	ck_assert_uint_eq(atomic_load(&sb->state), SLOT_SCHEDULED);
	ck_assert_uint_eq(atomic_load(&sb->rings), 0);
	ck_assert_int_eq(segment_cancel(s, ib), 0);
	ck_assert_uint_eq(atomic_load(&sb->state), SLOT_CANCELED);
	ck_assert_uint_eq(atomic_load(&sb->rings), SLOT_CANCELING);
	ck_assert_int_eq(segment_due(s, ib), -1);	/* its timer lost */
	ck_assert_int_eq(segment_cancel(s, ib), -1);
	free_n = ring_count(segment_free(s));
	p.n = 0;
	ck_assert_int_eq(segment_next_ready(s), -1);	/* freed, the hook told */
	ck_assert_uint_eq(ring_count(segment_free(s)), free_n + 1);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_uint_eq(p.slot[0], ib);
	gauges(s, &g);
	ck_assert_uint_eq(g.queued, 0);
	ck_assert_uint_eq(g.canceled, 2);

	/* the timer wins: QUEUED, the dispatcher's; the cancel is refused */
	b = delay_job(s, "c", 3000);
	ib = jobid_slot(b);
	ck_assert_int_eq(segment_next_ready(s), ib);
	ck_assert_int_eq(segment_due(s, ib), 0);
	ck_assert_int_eq(segment_cancel(s, ib), -1);
	ck_assert_uint_eq(atomic_load(&segment_slot(s, ib)->state), SLOT_QUEUED);
	ck_assert_int_eq(segment_run(s, ib, 7), 0);
	ck_assert_int_eq(segment_finish(s, ib, SLOT_DONE), 0);

	/* (b), then a retry before the dispatcher pops the cancel: that entry
	 * serves again, the job is queued, runs once, and its slot goes on the
	 * free ring once */
	b = delay_job(s, "d", 4000);
	ib = jobid_slot(b);
	sb = segment_slot(s, ib);
	ck_assert_int_eq(segment_next_ready(s), ib);
	ck_assert_int_eq(segment_cancel(s, ib), 0);
	ck_assert_int_eq(segment_retry(s, ib), 0);
	ck_assert_uint_eq(atomic_load(&sb->rings), SLOT_ON_READY);
	p.n = 0;
	ck_assert_int_eq(segment_next_ready(s), ib);
	ck_assert_uint_eq(atomic_load(&sb->state), SLOT_QUEUED);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_int_eq(segment_run(s, ib, 7), 0);
	ck_assert_int_eq(segment_finish(s, ib, SLOT_DONE), 0);
	ck_assert_uint_eq(atomic_load(&sb->rings), 0);
	gauges(s, &g);
	ck_assert_uint_eq(g.queued, 0);
	ck_assert_uint_eq(g.running, 0);

	/* restore: scheduled again for its run_at, kept off the ready ring */
	ck_assert_int_eq(segment_restore(s, a, 5000, "a", 1), 0);
	ck_assert_uint_eq(atomic_load(&sa->state), SLOT_SCHEDULED);
	ck_assert_int_eq(sa->run_at, 5000);
	ck_assert_int_eq(segment_recover(s, 0, &r), 0);
	ck_assert_uint_eq(r.scheduled, 1);
	ck_assert_int_eq(segment_next_ready(s), -1);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->queued), 1);
	ck_assert_int_eq(segment_cancel(s, ia), 0);	/* (b) after a restart */
	ck_assert_int_eq(segment_next_ready(s), -1);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->queued), 0);
	ck_assert_uint_eq(ring_count(segment_free(s)), 4);
	/* (b), and the dispatcher dies before it pops the cancel: recovery
	 * frees the slot; its entry is gone with the old ring */
	b = delay_job(s, "e", 6000);
	ib = jobid_slot(b);
	ck_assert_int_eq(segment_next_ready(s), ib);
	ck_assert_int_eq(segment_cancel(s, ib), 0);
	ck_assert_int_eq(segment_recover(s, 1, &r), 0);
	ck_assert_uint_eq(r.scheduled + r.requeued, 0);
	ck_assert_uint_eq(atomic_load(&segment_slot(s, ib)->state), SLOT_CANCELED);
	ck_assert_uint_eq(atomic_load(&segment_slot(s, ib)->rings), 0);
	ck_assert_int_eq(segment_next_ready(s), -1);
	ck_assert_uint_eq(ring_count(segment_free(s)), 4);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->queued), 0);
	ck_assert_ptr_null(segment_bad_once(s));
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* The master submits delayed jobs (due at once) and cancels and retries
 * while a dispatcher thread pops them into a timer heap, drops the timer
 * of every slot the ready ring names (segment_on_pop), and runs the due
 * ones: every job is canceled or run, never both, and never run twice;
 * no run finds its slot taken; every slot ends on the free ring once. */
struct race_timed {
	struct segment *s;
	struct timers *t;
	_Atomic int done;
	_Atomic uint64_t runs, run_failed;
};

static void
race_forget(void *arg, uint32_t i)
{
	struct race_timed *x = arg;

	(void)timers_remove(x->t, i);
}

static void
race_run(struct race_timed *x, uint32_t i)
{
	if (segment_run(x->s, i, 1) == -1 || segment_finish(x->s, i, SLOT_DONE) == -1)
		atomic_fetch_add(&x->run_failed, 1);
	atomic_fetch_add(&x->runs, 1);
}

static void *
race_timed_dispatcher(void *arg)
{
	struct race_timed *x = arg;

	for (unsigned round = 0;; round++) {
		int done = atomic_load(&x->done);	/* before the pop */
		long i = segment_next_ready(x->s);
		int64_t j;

		if (i >= 0) {
			struct slot *sl = segment_slot(x->s, (uint32_t)i);
			uint32_t st = atomic_load(&sl->state);

			if (st == SLOT_QUEUED)
				race_run(x, (uint32_t)i);
			else if (st == SLOT_SCHEDULED)
				ck_assert_int_eq(timers_push(x->t, (uint32_t)i, sl->run_at), 0);
		}
		if (round % 5 == 0)	/* timers a little later: cancels meet them */
			while ((j = timers_pop(x->t, INT64_MAX)) >= 0)
				if (segment_due(x->s, (uint32_t)j) == 0)
					race_run(x, (uint32_t)j);
		if (i < 0 && done && timers_count(x->t) == 0)
			return NULL;
		if (i < 0)
			sched_yield();
	}
}

START_TEST(test_cancel_scheduled_race)
{
	enum { N = 20000, CAP = 64 };
	const char *name = seg_name();
	struct race_timed x = { .s = seg_create(name, CAP, 16), .t = timers_create(CAP) };
	uint64_t canceled = 0, retried = 0, submitted = 0;
	pthread_t t;

	segment_on_pop(x.s, race_forget, &x);
	ck_assert_int_eq(pthread_create(&t, NULL, race_timed_dispatcher, &x), 0);
	while (submitted < N) {
		long i = segment_reserve(x.s);

		if (i < 0) {
			sched_yield();
			continue;
		}
		(void)segment_assign(x.s, (uint32_t)i, 0);
		if (submitted % 4 != 0)		/* some plain queued ones too */
			segment_delay(x.s, (uint32_t)i, 1);
		ck_assert_int_eq(segment_publish(x.s, (uint32_t)i), 0);
		submitted++;
		if (segment_cancel(x.s, (uint32_t)((submitted * 7) % CAP)) == 0)
			canceled++;
		if (segment_cancel(x.s, (uint32_t)i) == 0)
			canceled++;
		if (submitted % 5 == 0 && segment_retry(x.s, (uint32_t)((submitted * 3) % CAP)) == 0)
			retried++;
	}
	atomic_store(&x.done, 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(atomic_load(&x.run_failed), 0);
	ck_assert_uint_eq(atomic_load(&x.runs) + canceled, submitted + retried);
	ck_assert_uint_gt(canceled, 0);
	ck_assert_uint_eq(atomic_load(&segment_header(x.s)->queued), 0);
	{
		uint32_t all[CAP + 1], seen[CAP] = { 0 }, n = drain(segment_free(x.s), all, CAP + 1);

		ck_assert_uint_eq(n, CAP);
		for (uint32_t k = 0; k < n; k++)
			ck_assert_uint_eq(seen[all[k]]++, 0);
	}
	ck_assert_ptr_null(segment_bad_once(x.s));
	timers_free(x.t);
	segment_close(x.s);
	segment_unlink(name);
}
END_TEST

/* Each transition from each state: refused (-1, nothing changed) unless
 * the state is the expected one.  _i: the state. */
START_TEST(test_transition_wrong_state)
{
	static const struct {
		const char *what;
		unsigned ok;	/* 1 << state accepted */
	} ops[] = {
		{ "run", 1u << SLOT_QUEUED },
		{ "requeue charged", 1u << SLOT_RUNNING },
		{ "requeue", 1u << SLOT_RUNNING },
		{ "finish done", 1u << SLOT_QUEUED | 1u << SLOT_RUNNING },
		{ "finish failed", 1u << SLOT_QUEUED | 1u << SLOT_RUNNING },
		{ "finish to queued", 0 },
		{ "cancel", 1u << SLOT_QUEUED },
		{ "retry", 1u << SLOT_FAILED | 1u << SLOT_CANCELED },
		{ "state 99", 0 },
	};
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 16);
	uint32_t st = (uint32_t)_i;

	for (unsigned k = 0; k < NELEM(ops); k++) {
		struct slot *sl = segment_slot(s, 0);
		struct gauges before, after;
		uint32_t attempts = 5, free_n, all[4];
		int r = -2;

		atomic_store(&sl->state, k == NELEM(ops) - 1 ? 99 : st);
		atomic_store(&sl->rings, SLOT_ON_READY);	/* cancel: not taken */
		sl->attempts = attempts;
		drain(segment_free(s), all, 4);	/* room for a finish */
		free_n = ring_count(segment_free(s));
		gauges(s, &before);
		switch (k) {
		case 0: r = segment_run(s, 0, 1); break;
		case 1: r = segment_requeue(s, 0, 1); break;
		case 2: r = segment_requeue(s, 0, 0); break;
		case 3: r = segment_finish(s, 0, SLOT_DONE); break;
		case 4: r = segment_finish(s, 0, SLOT_FAILED); break;
		case 5: r = segment_finish(s, 0, SLOT_QUEUED); break;
		case 6: r = segment_cancel(s, 0); break;
		case 7: r = segment_retry(s, 0); break;
		case 8: r = segment_run(s, 0, 1); break;
		}
		if (k != NELEM(ops) - 1 && (ops[k].ok >> st & 1)) {
			ck_assert_msg(r == 0, "%s from state %u: got %d, want 0", ops[k].what, st, r);
			continue;
		}
		gauges(s, &after);
		ck_assert_msg(r == -1, "%s from state %u: got %d, want -1", ops[k].what, st, r);
		ck_assert_msg(memcmp(&before, &after, sizeof(before)) == 0,
		    "%s from state %u: gauges changed", ops[k].what, st);
		ck_assert_uint_eq(atomic_load(&sl->state), k == NELEM(ops) - 1 ? 99 : st);
		ck_assert_uint_eq(sl->attempts, attempts);
		ck_assert_uint_eq(ring_count(segment_free(s)), free_n);
	}
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* The census: exact counts the slot table, otherwise the gauges; workers
 * by scoreboard state, garbage states left out. */
START_TEST(test_census)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 8, 16);
	struct seg_header *h = segment_header(s);
	static const uint32_t states[8] = {
		SLOT_QUEUED, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE,
		SLOT_FAILED, SLOT_FILLING, SLOT_FREE, SLOT_RUNNING,
	};
	struct seg_census c;

	for (uint32_t i = 0; i < 8; i++)
		atomic_store(&segment_slot(s, i)->state, states[i]);
	atomic_store(&h->queued, 7);
	atomic_store(&h->running, 9);
	atomic_store(&segment_score(s, 0)->state, SCORE_BUSY);
	atomic_store(&segment_score(s, 3)->state, SCORE_IDLE);
	atomic_store(&segment_score(s, 4)->state, SCORE_BUSY);
	atomic_store(&segment_score(s, 9)->state, SCORE_EXITING);
	atomic_store(&segment_score(s, 10)->state, 77);
	segment_census(s, 1, &c);
	ck_assert_uint_eq(c.queued, 2);
	ck_assert_uint_eq(c.running, 2);
	ck_assert_uint_eq(c.workers[SCORE_BUSY], 2);
	ck_assert_uint_eq(c.workers[SCORE_IDLE], 1);
	ck_assert_uint_eq(c.workers[SCORE_EXITING], 1);
	ck_assert_uint_eq(c.workers[SCORE_STARTING], 0);
	ck_assert_uint_eq(c.workers[SCORE_EMPTY], SEG_SCORE_COUNT - 5);
	segment_census(s, 0, &c);
	ck_assert_uint_eq(c.queued, 7);
	ck_assert_uint_eq(c.running, 9);
	ck_assert_uint_eq(c.workers[SCORE_BUSY], 2);
	segment_close(s);
	segment_unlink(name);
}
END_TEST

/* --- the calls the journal wiring makes ----------------------------------- */

/* assign gives the id and keeps the slot FILLING (invisible); publish
 * queues it; enqueue is the two. */
START_TEST(test_assign_publish)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	long i = segment_reserve(s);
	uint64_t id;

	ck_assert_int_ge(i, 0);
	id = segment_assign(s, (uint32_t)i, 5);
	ck_assert_uint_eq(jobid_slot(id), (uint32_t)i);
	ck_assert_uint_eq(atomic_load(&segment_slot(s, (uint32_t)i)->state), SLOT_FILLING);
	ck_assert_ptr_null(segment_lookup(s, id));
	ck_assert_uint_eq(ring_count(segment_ready(s)), 0);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->accepted), 0);
	ck_assert_int_eq(segment_publish(s, (uint32_t)i), 0);
	ck_assert_ptr_eq(segment_lookup(s, id), segment_slot(s, (uint32_t)i));
	ck_assert_uint_eq(segment_slot(s, (uint32_t)i)->payload_len, 5);
	ck_assert_int_eq(segment_next_ready(s), i);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->accepted), 1);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* The finished slots pushed on the free ring are reported once each, and
 * stay on the ring (their results readable); again after a rebuild. */
START_TEST(test_finished)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	struct seen v = { .n = 0 };
	struct seg_recovery r;
	uint64_t a, b;
	long i, k;

	/* the fresh segment's free ring holds FREE slots: nothing to report */
	segment_finished(s, on_finished, &v);
	ck_assert_uint_eq(v.n, 0);
	i = segment_reserve(s);
	a = segment_enqueue(s, (uint32_t)i, 1);
	k = segment_reserve(s);
	b = segment_enqueue(s, (uint32_t)k, 1);
	ck_assert_int_ge(segment_reserve(s), 0);	/* the free ring empty */
	ck_assert_int_ge(segment_reserve(s), 0);
	ck_assert_int_eq(segment_next_ready(s), i);
	ck_assert_int_eq(segment_next_ready(s), k);
	atomic_store(&segment_slot(s, (uint32_t)i)->state, SLOT_DONE);
	ck_assert_int_eq(ring_push(segment_free(s), (uint32_t)i), 0);
	atomic_store(&segment_slot(s, (uint32_t)k)->state, SLOT_FAILED);
	ck_assert_int_eq(ring_push(segment_free(s), (uint32_t)k), 0);
	ck_assert_int_eq(ring_push(segment_free(s), 999), 0);	/* no slot: skipped */
	segment_finished(s, on_finished, &v);
	ck_assert_uint_eq(v.n, 2);
	ck_assert(v.id[0] == a && v.failed[0] == SLOT_DONE && v.id[1] == b &&
	    v.failed[1] == SLOT_FAILED);
	ck_assert_ptr_nonnull(segment_lookup(s, a));
	segment_finished(s, on_finished, &v);
	ck_assert_uint_eq(v.n, 2);
	/* the master took entries past the cursor: no harm, nothing new */
	while (segment_reserve(s) >= 0)
		;
	segment_finished(s, on_finished, &v);
	ck_assert_uint_eq(v.n, 2);
	/* a rebuilt ring is seen afresh (an END written twice is a no-op) */
	atomic_store(&segment_slot(s, (uint32_t)i)->state, SLOT_DONE);
	ck_assert_int_eq(segment_recover(s, 0, &r), 0);
	segment_finished(s, on_finished, &v);
	ck_assert_uint_eq(v.n, 3);
	ck_assert(v.id[2] == a);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

/* restore puts a job back in its own slot with its id; recover queues it;
 * new ids come after it. */
START_TEST(test_restore)
{
	const char *name = seg_name();
	struct segment *s = seg_create(name, 4, 32);
	uint64_t id = jobid_make(0, UINT64_C(1) << 34, 2), next;
	struct seg_recovery r;
	long i;

	ck_assert_int_eq(segment_restore(s, id, 0, "hello", 5), 0);
	ck_assert_int_eq(segment_restore(s, jobid_make(0, 7, 4), 0, "x", 1), -1);	/* slot 4 */
	ck_assert_int_eq(segment_restore(s, id, 0, "0123456789012345678901234567890123", 33), -1);
	ck_assert_int_eq(segment_restore(s, 0, 0, "x", 1), -1);
	ck_assert_int_eq(segment_recover(s, 0, &r), 0);
	ck_assert_uint_eq(r.requeued, 1);
	ck_assert_ptr_eq(segment_lookup(s, id), segment_slot(s, 2));
	ck_assert_int_eq(memcmp(segment_payload(s, 2), "hello", 5), 0);
	ck_assert_int_eq(segment_next_ready(s), 2);
	i = segment_reserve(s);
	ck_assert_int_ne(i, 2);
	next = segment_enqueue(s, (uint32_t)i, 0);
	ck_assert_uint_gt(next >> JOBID_SLOT_BITS, id >> JOBID_SLOT_BITS);
	/* an id below the sequence changes nothing */
	segment_seq_above(s, jobid_make(0, 3, 1));
	i = segment_reserve(s);
	ck_assert_uint_gt(segment_enqueue(s, (uint32_t)i, 0) >> JOBID_SLOT_BITS,
	    next >> JOBID_SLOT_BITS);
	segment_close(s);
	ck_assert_int_eq(segment_unlink(name), 0);
}
END_TEST

static Suite *
segment_suite(void)
{
	Suite *s = suite_create("segment");
	TCase *tc;

	tc = tcase_create("ids");
	tcase_add_loop_test(tc, test_jobid, 0, (int)NELEM(ids));
	tcase_add_loop_test(tc, test_jobid_parse_bad, 0, (int)NELEM(bad_ids));
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_node_ids);
	suite_add_tcase(s, tc);

	tc = tcase_create("recover");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_recover_all_states, 0, 2 * NSTATES);
	tcase_add_test(tc, test_recover_garbage_state);
	tcase_add_loop_test(tc, test_crash_enqueue, 0, E_STEPS);
	tcase_add_loop_test(tc, test_crash_enqueue_keep, 0, 2);
	tcase_add_loop_test(tc, test_crash_complete, 0, C_STEPS);
	suite_add_tcase(s, tc);

	tc = tcase_create("attach");
	tcase_add_loop_test(tc, test_attach_corrupt, 0, (int)NELEM(corrupts));
	tcase_add_test(tc, test_attach_bad_capacity);
	tcase_add_test(tc, test_attach_same);
	tcase_add_loop_test(tc, test_attach_resize_empty, 0, (int)NELEM(resizes));
	tcase_add_loop_test(tc, test_attach_resize_pending, 0, (int)NELEM(resizes));
	tcase_add_test(tc, test_busy_same_process);
	tcase_add_test(tc, test_busy_child);
	suite_add_tcase(s, tc);

	tc = tcase_create("trust");
	tcase_add_loop_test(tc, test_foreign, 0, (int)NELEM(foreigns));
	tcase_add_test(tc, test_run_as_user);
	tcase_add_test(tc, test_create_mode);
	tcase_add_test(tc, test_removed_before_lock);
	tcase_add_test(tc, test_bad_free_entries);
	tcase_add_test(tc, test_bad_ready_entries);
	tcase_add_test(tc, test_bad_ring_header);
	tcase_add_test(tc, test_bad_header_fields);
	tcase_add_test(tc, test_enqueue_ring_full);
	tcase_add_test(tc, test_payload_len);
	suite_add_tcase(s, tc);

	tc = tcase_create("transitions");
	tcase_add_test(tc, test_transition_life);
	tcase_add_test(tc, test_transition_fail_queued);
	tcase_add_loop_test(tc, test_transition_wrong_state, SLOT_FREE, SLOT_CANCELED + 1);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_transition_schedule);
	tcase_add_test(tc, test_retry_rings);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_expired);
	tcase_add_test(tc, test_cancel_race);
	tcase_add_test(tc, test_delay_cancel);
	tcase_add_test(tc, test_cancel_scheduled_race);
	tcase_add_test(tc, test_census);
	suite_add_tcase(s, tc);

	tc = tcase_create("idem");
	tcase_add_test(tc, test_idem_insert_lookup);
	tcase_add_test(tc, test_idem_rebuild);
	tcase_add_test(tc, test_idem_full);
	suite_add_tcase(s, tc);

	tc = tcase_create("journal");
	tcase_add_test(tc, test_assign_publish);
	tcase_add_test(tc, test_finished);
	tcase_add_test(tc, test_restore);
	suite_add_tcase(s, tc);

	tc = tcase_create("kill");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_kill_during_enqueue, 0, 5);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(segment_suite());
	int failed;

	main_pid = (long)getpid();
	srunner_run_all(sr, CK_NORMAL);
	sweep_names();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
