/*
 * segment — the POSIX shared-memory segment: header, slot table, the ready
 * and free rings, the worker scoreboard.  The slot table is the truth; the
 * rings are indexes derived from it and can always be rebuilt
 * (segment_recover).
 *
 * Layout (offsets in the header, every part 64-byte aligned):
 *   struct seg_header | ready ring | free ring | scoreboard | key table | slots
 *
 * Slot life cycle (who writes the state):
 *   FREE/DONE/FAILED --master pops free ring--> FILLING (master)
 *   FILLING --master: payload, id, QUEUED, push ready--> QUEUED
 *   FILLING --master: the same with a delay (run_at)--> SCHEDULED, on the
 *       ready ring; the dispatcher pops it into its timers
 *   QUEUED --dispatcher pops ready, assigns--> RUNNING (attempts + 1)
 *   RUNNING --dispatcher on a result--> DONE | FAILED, push free ring
 *   RUNNING --worker died, attempts left--> QUEUED (dispatcher's retry list)
 *   RUNNING --failed attempt, attempts left--> SCHEDULED (its backoff, in
 *       the dispatcher's timers)
 *   SCHEDULED --dispatcher: run_at came (CAS)--> QUEUED (retry list)
 *   QUEUED or SCHEDULED --master: DELETE, still on the ready ring-->
 *       CANCELED (ON_READY swapped for CANCELING); the dispatcher pops it
 *       (segment_next_ready) onto the free ring
 *   SCHEDULED --master: DELETE, in the dispatcher's timers (CAS, which
 *       the timer's CAS to QUEUED races: one wins)--> CANCELED, pushed on
 *       the ready ring with CANCELING: the dispatcher pops it, drops its
 *       timer (segment_on_pop) and frees it; a dispatcher death before
 *       that leaves it CANCELED, which recovery frees
 *   FAILED/CANCELED --master: retry--> QUEUED, attempts 0, on the ready
 *       ring again (a stale free ring entry of it is dropped by the master)
 * A DONE, FAILED or CANCELED slot keeps its result, readable by id, until
 * reused.
 * The dispatcher makes its changes only through segment_run,
 * segment_requeue and segment_finish, which keep the queued and running
 * gauges.  A RUNNING slot is assigned to a worker; the worker writes
 * t_started when it starts the job (0 until then: it waits in the
 * worker's batch) and t_finished and exit_status when it is done.
 *
 * Ownership: the master is the only producer of the ready ring and the only
 * consumer of the free ring; the dispatcher is the other end of both.
 * Every process of one daemon holds the segment's open file description,
 * locked with flock(LOCK_EX): while any of them lives, another open fails
 * with SEG_BUSY — that is how a new master knows the old generation is gone
 * and how two daemons are kept off one segment.
 *
 * Library code: errors go to the caller's buffer; nothing is logged.
 */
#ifndef JOBQD_SEGMENT_H
#define JOBQD_SEGMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/ring.h"

#define SEG_MAGIC	0x6a6f627164534547ULL	/* "jobqdSEG" */
#define SEG_VERSION	7
#define SEG_SCORE_COUNT	2048	/* scoreboard entries: two worker generations */
#define SEG_HIST_BUCKETS 20	/* latency histogram buckets incl. +Inf */
#define JOBID_SLOT_BITS	20	/* capacity <= 2^20 */
#define JOBID_SEQ_BITS	36	/* sequence part: ids repeat after 2^36 - 1 jobs */
#define JOBID_NODE_MAX	255	/* the node, the top 8 bits: two hex digits */
#define JOBID_STRLEN	16	/* hex digits */

enum slot_state {
	SLOT_FREE = 0,
	SLOT_FILLING,		/* held by the master while a body arrives */
	SLOT_QUEUED,
	SLOT_RUNNING,
	SLOT_DONE,
	SLOT_FAILED,
	SLOT_CANCELED,		/* by the master while QUEUED; finished, reusable */
	SLOT_SCHEDULED,		/* waits for run_at (a delay, a retry's backoff), then QUEUED */
};

/* Why the last failed attempt failed (struct slot's reason); NONE until
 * one has.  EXIT: the program exited non-zero; SIGNAL: it was killed by
 * a signal not from us (the handler says which, exit_status 128 +
 * signal); TIMEOUT: we killed it for job_timeout; LOST: its worker or
 * the dispatcher died under it, or there is no known result (status
 * -1). */
enum slot_reason {
	SLOT_REASON_NONE = 0,
	SLOT_REASON_EXIT,
	SLOT_REASON_SIGNAL,
	SLOT_REASON_TIMEOUT,
	SLOT_REASON_LOST,
};

/* struct slot's rings bits; each ring holds at most one entry per slot.
 * The master sets ON_READY before it pushes a slot on the ready ring (and,
 * publishing a job, before its state: a dispatcher starting with a scan
 * of the table leaves a SCHEDULED slot with ON_READY to the ring); the
 * dispatcher clears it (and CANCELING) when it pops the entry, before it
 * reads the state: a QUEUED or SCHEDULED slot with ON_READY is not yet
 * the dispatcher's, and segment_cancel takes it by swapping ON_READY for
 * CANCELING.  A SCHEDULED slot without ON_READY is in the dispatcher's
 * timers: segment_cancel takes it by its state (CAS to CANCELED) and
 * pushes it on the ready ring with CANCELING: the entry of a finished
 * slot, which the dispatcher frees.  ON_FREE: the slot was retried while its entry was (or was
 * about to be) on the free ring: the next pop of it drops it (stale), or
 * the next push of it is skipped (it serves again), whichever comes
 * first. */
#define SLOT_ON_READY	1u
#define SLOT_CANCELING	2u
#define SLOT_ON_FREE	4u

struct slot {
	_Atomic uint32_t state;		/* enum slot_state */
	uint32_t attempts;		/* runs started */
	uint64_t id;			/* 0 while never used */
	int64_t t_queued;		/* CLOCK_REALTIME ns */
	int64_t t_started;
	int64_t t_finished;
	int32_t worker_pid;		/* of the last attempt */
	int32_t exit_status;		/* of the last attempt: exit code, 128+signal */
	uint32_t payload_len;
	uint32_t reason;		/* enum slot_reason, of the last failed attempt */
	int64_t run_at;			/* SCHEDULED: CLOCK_REALTIME ns it is due */
	_Atomic uint32_t rings;		/* SLOT_ON_READY ... */
	/* output: the worker's, of the last attempt (0 while it runs); the
	 * bytes follow the payload area (segment_output) */
	uint32_t output_len;
	/* Idempotency-Key: hashes of the key (0: none) and of the payload,
	 * indexed by the segment's key table (the master's) */
	uint32_t idem_spare;
	uint64_t idem_key;
	uint64_t idem_body;
	int64_t delayed_to;		/* its submission's run_at (a delay), else 0 */
};

enum score_state {
	SCORE_EMPTY = 0,
	SCORE_STARTING,		/* forked, not yet idle */
	SCORE_IDLE,
	SCORE_BUSY,
	SCORE_EXITING,		/* retired by a reload or shutdown */
};

/* A worker's entry.  The dispatcher sets it on each change of state and
 * assignment (job_id: the batch's first job, progress 0); while BUSY the
 * worker marks the job it starts (job_id, job_started) and counts the
 * jobs of its batch it finished (progress, after their slot's result). */
struct score {
	_Atomic int32_t pid;
	_Atomic uint32_t state;		/* enum score_state */
	_Atomic uint64_t job_id;	/* running job, 0 when none */
	_Atomic uint64_t jobs_done;
	uint32_t generation;		/* reload generation */
	_Atomic uint32_t progress;	/* jobs of the batch finished */
	_Atomic int64_t job_started;	/* CLOCK_MONOTONIC ns; 0 between jobs */
};

struct seg_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint32_t capacity;
	uint32_t max_payload;
	uint32_t max_output;
	uint32_t slot_size;
	uint32_t score_count;
	uint32_t spare;		/* 0 */
	uint64_t ready_off, free_off, score_off, slots_off, total_size;
	uint64_t idem_off;	/* the key table: uint32_t slot + 1, 0 empty */
	/* slot i's payload (max_payload bytes) and output (max_output) are
	 * at payload_off and output_off + i times those sizes rounded up to
	 * 64: apart from the slot array (128-byte slots), so that the slots
	 * a job's passage touches lie 32 to a 4 KiB page (fewer TLB misses
	 * per job) */
	uint64_t payload_off, output_off;
	int64_t created_at;

	_Atomic uint64_t next_seq;		/* job sequence (master) */
	_Atomic uint32_t dispatcher_sleeping;	/* doorbell wanted */
	_Atomic uint32_t draining;
	_Atomic uint32_t log_generation;	/* bumped by the master on SIGUSR1 */
	_Atomic uint32_t queued;		/* gauge: QUEUED slots */
	_Atomic uint32_t running;		/* gauge: RUNNING slots */
	_Atomic uint64_t accepted;		/* counters since creation */
	_Atomic uint64_t completed;
	_Atomic uint64_t failed;
	_Atomic uint64_t rejected;
	_Atomic uint64_t retried;		/* failed attempts requeued */
	_Atomic uint64_t worker_deaths;		/* not retired or stopped by us */
	_Atomic uint64_t job_timeouts;
	_Atomic uint64_t dispatcher_restarts;
	_Atomic uint64_t reloads_ok, reloads_failed;
	/* health (CLOCK_MONOTONIC ns): the dispatcher's last loop (0: none
	 * ever ran here), and the last loop that saw a worker idle or busy */
	_Atomic int64_t dispatcher_beat;
	_Atomic int64_t worker_seen;
	/* latency histograms (non-cumulative counts) and sums in µs */
	_Atomic uint64_t wait_hist[SEG_HIST_BUCKETS], run_hist[SEG_HIST_BUCKETS];
	_Atomic uint64_t wait_sum_us, run_sum_us;
	_Atomic uint64_t canceled;
	_Atomic uint64_t replayed;		/* Idempotency-Key replays */
	_Atomic uint64_t scheduled;		/* delayed submissions accepted */
	uint64_t first_seq;	/* the lowest sequence issued here (master) */
};

/* Upper bounds of the histogram buckets in µs; the last is +Inf. */
extern const uint64_t seg_hist_bounds_us[SEG_HIST_BUCKETS];

struct segment;

enum seg_open_result {
	SEG_CREATED = 0,	/* a new, empty segment */
	SEG_ATTACHED = 1,	/* one left by a previous run: recover it */
	SEG_BUSY = -1,		/* locked by live processes */
	SEG_MISMATCH = -2,	/* foreign (owner, mode, content), other version or sizes */
	SEG_ERROR = -3,		/* a system call failed */
};

/*
 * Create or attach the segment NAME for this geometry (each slot holds
 * max_payload bytes of payload and max_output of output) and lock it.  A new
 * object is created with mode 0600.  An existing one is used only when it
 * belongs to the effective user or to USER (the user the daemon runs as
 * after start-up) and has no group or other permission bits; otherwise
 * SEG_MISMATCH, and it is left alone.  An object removed between the open
 * and the lock (a predecessor's clean stop) is never adopted: the name is
 * opened again.
 */
/* Bytes a segment of this geometry takes (in /dev/shm). */
uint64_t segment_size(uint32_t capacity, uint32_t max_payload, uint32_t max_output);
int segment_open(const char *name, uint32_t capacity, uint32_t max_payload,
    uint32_t max_output, uid_t user, struct segment **out, char *err, size_t errlen);
/* Unmap and close (dropping this process's hold on the lock). */
void segment_close(struct segment *s);
/* The locked fd (children inherit it; it is what keeps the lock held). */
int segment_fd(const struct segment *s);
int segment_unlink(const char *name);

/*
 * After the open nothing read from shared memory is trusted: any process
 * of the daemon's user can rewrite it.  Sizes, offsets and bounds below
 * are this process's own copies; ring entries and payload lengths are
 * checked where they are read, and a bad one is dropped.
 */
struct seg_header *segment_header(const struct segment *s);
uint32_t segment_capacity(const struct segment *s);
uint32_t segment_max_payload(const struct segment *s);
/* i < segment_capacity(s) */
struct slot *segment_slot(const struct segment *s, uint32_t i);
/* This process's handles on the rings (see ring.h); a value popped from
 * them directly is unchecked: use segment_reserve / segment_next_ready. */
struct ring *segment_ready(struct segment *s);
struct ring *segment_free(struct segment *s);
/* i < SEG_SCORE_COUNT */
struct score *segment_score(const struct segment *s, uint32_t i);

/* The slot holding job id now, or NULL (bad slot bits or reused). */
struct slot *segment_lookup(const struct segment *s, uint64_t id);
/* For an id segment_lookup does not find: 1 when this segment issued
 * its sequence (between first_seq, the segment's first or the lowest it
 * restored, and the next) and its slot has since been reused (the slot
 * holds a later job, or is being filled for one), else 0 (never issued
 * here). */
int segment_expired(const struct segment *s, uint64_t id);

/* Master: take a reusable slot from the free ring and mark it FILLING;
 * returns its index, or -1 when the queue is full.  Entries that name no
 * slot, or a slot that is not FREE, DONE, FAILED or CANCELED (a retried
 * one), are dropped. */
long segment_reserve(struct segment *s);
/* Master: publish a FILLING slot whose payload_len bytes are written:
 * give it a job id, QUEUED, push it on the ready ring.  Returns the id, or
 * 0 when the ready ring is full (only a rewritten ring can be): then
 * nothing changed and the slot is still the caller's, FILLING. */
uint64_t segment_enqueue(struct segment *s, uint32_t i, uint32_t len);
/* The same in two steps, for a master that must write the job elsewhere
 * (the journal) before anyone may see it.  segment_assign: the slot gets
 * its id, length and times and stays FILLING (invisible); returns the id.
 * segment_delay, between the two: the job runs at or after run_at
 * (CLOCK_REALTIME ns, not 0), and is published SCHEDULED (counted in
 * scheduled).  segment_publish: QUEUED (or SCHEDULED) and on the ready
 * ring; 0, or -1 when the ready ring is full (a rewritten ring): the slot
 * is still FILLING and the caller's. */
uint64_t segment_assign(struct segment *s, uint32_t i, uint32_t len);
void segment_delay(struct segment *s, uint32_t i, int64_t run_at);
int segment_publish(struct segment *s, uint32_t i);
/* Master: call fn(arg, id, state) for every DONE, FAILED or CANCELED job
 * pushed on the free ring since the last call, without taking its slot
 * (its result stays readable): how the master learns of completions.  An
 * entry may be seen again after the ring was rebuilt or popped past the
 * cursor. */
typedef void segment_finished_fn(void *arg, uint64_t id, enum slot_state st);
void segment_finished(struct segment *s, segment_finished_fn *fn, void *arg);
/* Master at start-up, before segment_recover rebuilds the rings: put job
 * id back in its own slot, QUEUED with this payload (SCHEDULED when
 * run_at is not 0), attempts 0, and move the job sequence above it.  0,
 * or -1 (EINVAL: id 0, slot beyond the queue, len over max_payload). */
int segment_restore(struct segment *s, uint64_t id, int64_t run_at, const void *payload,
    uint32_t len);
/* Make sure no job id made from now on has the sequence of id or one
 * below it, and count id's as issued here (first_seq). */
void segment_seq_above(struct segment *s, uint64_t id);
/* Dispatcher: the next QUEUED or SCHEDULED (delayed: for its timers) slot
 * from the ready ring, or -1 when none; a canceled slot goes on the free
 * ring; entries that name no slot or a slot in another state are
 * dropped.  A slot returned is the dispatcher's: segment_cancel no longer
 * takes it by its ready entry.  segment_on_pop: fn(arg, i) is called
 * for each entry popped that names slot i, before the slot is returned
 * or freed: the dispatcher drops the timer of a slot canceled while in
 * its timers there (process-local; NULL: none). */
long segment_next_ready(struct segment *s);
/* The same for the entry at the head of the ready ring only: -1 also
 * when that one named no slot to return (it is freed or dropped as
 * above; the next entry stays on the ring). */
long segment_pop_ready(struct segment *s);
typedef void segment_popped_fn(void *arg, uint32_t i);
void segment_on_pop(struct segment *s, segment_popped_fn *fn, void *arg);
/* Slot i's payload area (max_payload bytes). */
unsigned char *segment_payload(const struct segment *s, uint32_t i);
/* Worker: slot i's payload_len, or -1 when it exceeds max_payload. */
long segment_payload_len(struct segment *s, uint32_t i);
/* Output: slot i's area of max_output bytes; *len (when not NULL) its
 * output_len, clamped to max_output. */
unsigned char *segment_output(const struct segment *s, uint32_t i, uint32_t *len);
uint32_t segment_max_output(const struct segment *s);
/*
 * Idempotency keys (the master's: it alone reads and writes them).  A
 * slot holding a job submitted with a key holds the key's hash and the
 * payload's; an open-addressing table of 2 x queue entries (a power of
 * two, linear probing) finds the slot by the key's hash in O(1).  A key
 * is remembered as long as its job is: segment_reserve forgets the key of
 * the slot it takes; segment_recover rebuilds the table from the slots.
 *   segment_hash          FNV-1a of n bytes, never 0
 *   segment_idem_find     the slot whose job (queued, running or
 *                         finished) has key; -1 when none
 *   segment_idem_add      slot i's job, published, has key and body;
 *                         -1 when the table has no room (only a
 *                         rewritten table can be full): then the key
 *                         is not remembered
 */
uint64_t segment_hash(const void *p, size_t n);
long segment_idem_find(const struct segment *s, uint64_t key);
int segment_idem_add(struct segment *s, uint32_t i, uint64_t key, uint64_t body);

/* Once per process: a line describing the first bad value these functions
 * dropped, for the caller to log; NULL before that and ever after. */
const char *segment_bad_once(struct segment *s);

/*
 * Dispatcher: slot transitions.  Each checks the slot's state first and
 * changes nothing, returning -1, when it is not the expected one; 0 done.
 *   segment_run      QUEUED -> RUNNING: attempts + 1, assigned to pid,
 *                    t_started and t_finished 0 (the worker sets them)
 *   segment_requeue  RUNNING -> QUEUED.  charged: the attempt failed
 *                    (counted as retried); else it never ran or was cut
 *                    short by us: attempts - 1
 *   segment_schedule RUNNING -> SCHEDULED until run_at (CLOCK_REALTIME
 *                    ns): a failed attempt (counted as retried) that
 *                    waits for its backoff
 *   segment_due      SCHEDULED -> QUEUED: its run_at came
 *   segment_finish   RUNNING or QUEUED -> DONE or FAILED: the completed or
 *                    failed counter, the latency histograms (when it
 *                    started), then the free ring; -1 also when the free
 *                    ring is full (only a rewritten ring can be: the state
 *                    is then changed, the slot lost to the queue)
 * The queued gauge counts SCHEDULED slots too: jobs waiting to run.
 */
int segment_run(struct segment *s, uint32_t i, pid_t worker);
int segment_requeue(struct segment *s, uint32_t i, int charged);
int segment_schedule(struct segment *s, uint32_t i, int64_t run_at);
int segment_due(struct segment *s, uint32_t i);
int segment_finish(struct segment *s, uint32_t i, enum slot_state to);

/*
 * Master: what DELETE and retry change.  0 done; else -1 and nothing
 * changed.
 *   segment_cancel   QUEUED and on the ready ring (not taken by the
 *                    dispatcher: a requeued job on its retry list is
 *                    not), or SCHEDULED (on the ready ring, or in the
 *                    dispatcher's timers: then pushed on the ready ring
 *                    for it to free; -1 also when the ready ring is
 *                    full, a rewritten one) -> CANCELED: the queued
 *                    gauge - 1, the canceled counter + 1, t_finished
 *                    now; the caller rings the doorbell
 *   segment_retry    FAILED or CANCELED -> QUEUED: attempts 0, a new
 *                    t_queued, on the ready ring (-1 also when the ready
 *                    ring is full: only a rewritten ring can be)
 */
int segment_cancel(struct segment *s, uint32_t i);
int segment_retry(struct segment *s, uint32_t i);

/* Master: job ids of state st, newest first: at most max of them in
 * ids[], their count returned.  Scans the slot table: O(capacity x
 * log max). */
uint32_t segment_list(const struct segment *s, enum slot_state st, uint64_t *ids,
    uint32_t max);

/* Counts by state.  queued and running are the gauges, or with exact the
 * slot table counted (slow: capacity slots; for when no dispatcher runs). */
struct seg_census {
	uint32_t queued, running;
	unsigned workers[SCORE_EXITING + 1];	/* scoreboard entries by state */
};
void segment_census(const struct segment *s, int exact, struct seg_census *c);

struct seg_recovery {
	uint32_t requeued;	/* QUEUED jobs put back on the ready ring */
	uint32_t orphaned;	/* RUNNING jobs requeued (their attempt counted) */
	uint32_t scheduled;	/* SCHEDULED jobs kept (the dispatcher's timers) */
	uint32_t freed;		/* slots put on the free ring */
	uint32_t kept;		/* FILLING slots left to the master */
	uint32_t dropped;	/* FILLING slots freed (partial uploads) */
};

/* Rebuild both rings and the gauges from the slot states.  Only when no
 * dispatcher or worker is alive.  keep_filling: the calling master still
 * holds its FILLING slots (after a dispatcher death); otherwise they are
 * freed (start-up: a body that never completed).  0, or -1 with errno. */
int segment_recover(struct segment *s, int keep_filling, struct seg_recovery *r);

/* The node number (0..JOBID_NODE_MAX) this master puts in its job ids;
 * 0 until set.  Process-local: not stored in the segment. */
void segment_set_node(struct segment *s, unsigned node);
unsigned segment_node(const struct segment *s);

/* Job ids: node << 56 | sequence << JOBID_SLOT_BITS | slot, printed as 16
 * hex digits (the first two are the node).  The sequence part is seq
 * folded into 1 .. 2^36 - 1, so it is never 0 and repeats after
 * 2^36 - 1 jobs. */
uint64_t jobid_make(unsigned node, uint64_t seq, uint32_t slot);
uint32_t jobid_slot(uint64_t id);
unsigned jobid_node(uint64_t id);
void jobid_format(uint64_t id, char buf[JOBID_STRLEN + 1]);
/* 0 and *id, or -1 if s is not exactly 16 hex digits. */
int jobid_parse(const char *s, size_t len, uint64_t *id);

#endif
