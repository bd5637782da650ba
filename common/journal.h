/*
 * journal — an append-only on-disk record of accepted and finished jobs, so
 * that the jobs answered 202 survive a reboot or a lost segment.
 *
 * The journal is a directory (created 0700) holding numbered files
 * "%016x.jnl" (created 0600, O_EXCL); journal_open takes flock(LOCK_EX) on
 * the directory, so a second open (another daemon) fails.  One writer: the
 * process that opened it.
 *
 * Record (host byte order, 32-byte header + payload):
 *   u32 crc     CRC-32C of every byte after this field (header + payload)
 *   u32 len     payload bytes (0 for END)
 *   u8  type    1 JOB (accepted), 2 END (finished)
 *   u8  version 1; a newer version found at open is an error, so a later
 *               format (issue 12's states) can extend the header safely
 *   u8  state   END: enum journal_end; JOB: 0
 *   u8, u32     reserved, 0
 *   u64 id      job id; its low JOBID_SLOT_BITS are the slot index
 *   i64 run_at  JOB: CLOCK_REALTIME ns when it may run, 0 = now
 *
 * A job is live from its JOB record until an END record with its id, or a
 * later JOB record in the same slot (the master reuses a slot only after
 * its job finished, so the older job is done even if its END was lost).
 *
 * Durability: appends are written at once (page cache); journal_commit is
 * one fdatasync covering every record appended since the previous commit
 * (group commit).  All or nothing: if commit fails, every record appended
 * since the previous commit is cut off the file again (ftruncate to the
 * last committed offset) and the caller must treat those jobs as never
 * accepted (503).  If a single append fails, only that record is cut off.
 * With sync off, commit writes nothing more and never fails.
 *
 * Bounded size, reclaim without stopping ingest: with R = 32 + max_payload
 * and C = capacity, the active file is closed once C*R/2 new bytes went
 * into it and a new one is started (at the first append after a commit,
 * so a round never spans two files).  The closed files are reclaimed at
 * once, inside that append: the JOB record of every job still live in
 * them is copied unchanged (same bytes, same CRC) to the start of the new
 * file, the new file is synced, and the closed files are unlinked, oldest
 * first.  A copy leaves the set of live jobs as it was (a later JOB with
 * the same id only moves the job), and only the oldest files ever go, so
 * no END record can disappear while the JOB it finishes stays.  On disk:
 * one file of at most C*R (copies) + C*R/2, and during a reclaim the old
 * file next to the copies: at most 2.5*C*R (journal_stats.limit), plus the
 * appends of one round.  Copies cost only the jobs still live, so a queue
 * that keeps up copies little; a full queue of long-lived jobs copies C*R
 * every C*R/2 bytes of new jobs.
 *
 * Open scans every file in order.  A record that is short, has a bad CRC
 * or a length past the end of its file is a torn or corrupt tail: the
 * callback gets the file and offset, the rest of that file is ignored
 * (left on disk until the file holds no live job: then open or a reclaim
 * removes it), nothing before it is lost.  A well-formed record open cannot honour (newer version, payload
 * over max_payload, slot beyond capacity) makes open fail: raising the
 * limit or moving the journal away is the operator's choice, not ours.
 * Every open starts a new file.
 *
 * Library code: errors go to the caller's buffer; nothing is logged.
 */
#ifndef JOBQD_JOURNAL_H
#define JOBQD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_REC_HDR		32	/* record overhead in bytes */

enum journal_end {
	JOURNAL_DONE = 1,
	JOURNAL_FAILED = 2,
	JOURNAL_CANCELED = 3,
};

struct journal;

struct journal_config {
	const char *path;		/* the directory */
	uint32_t capacity;		/* slots: ids' slot bits are below it */
	uint32_t max_payload;
	int sync;			/* 1: commit fdatasyncs; 0: it does not */
	/* A torn or corrupt tail: file path, offset, bytes ignored.  May be
	 * NULL. */
	void (*torn)(void *arg, const char *file, uint64_t offset,
	    uint64_t ignored);
	void *arg;
};

struct journal_stats {
	uint32_t files;		/* journal files on disk */
	uint32_t live;		/* jobs without an END */
	uint64_t bytes;		/* sum of the files' sizes */
	uint64_t limit;		/* the size bound, see above */
	uint64_t max_id;	/* highest job id ever seen (0: none) */
	uint64_t commits;	/* fdatasyncs done by journal_commit */
	uint64_t reclaimed;	/* files removed */
	uint64_t copied;	/* live records copied by reclaim */
};

/* Create or open the journal directory, lock it, scan it.  0, or -1 with a
 * message in err (ENOENT parents, EWOULDBLOCK "locked by another process",
 * an unreadable or foreign record). */
int journal_open(const struct journal_config *c, struct journal **out,
    char *err, size_t errlen);
/* Close (releasing the lock).  Uncommitted records stay in the file. */
void journal_close(struct journal *j);

/* Append an accepted job.  0, or -1 with errno (EINVAL: id 0, len over
 * max_payload or slot beyond capacity; ENOSPC, EIO, EFBIG...): this job is
 * not in the journal. */
int journal_append_job(struct journal *j, uint64_t id, int64_t run_at,
    const void *payload, uint32_t len);
/* Append a finished job (an id the journal does not hold live is a no-op).
 * 0, or -1 with errno: the END record is not written (the job may run again
 * after a restart: at-least-once). */
int journal_append_end(struct journal *j, uint64_t id, enum journal_end st);
/* Make every record appended since the last commit durable.  0; or -1 with
 * errno: none of them is (they are removed again), answer 503 for each job
 * appended since the last commit.  Later appends work again (once the disk
 * does). */
int journal_commit(struct journal *j);
/* Call journal_commit once per event-loop round even with sync off: a new
 * file is started only between rounds. */

/* The live job in slot (0: none), to reconcile with a segment that
 * survived: see the wiring notes. */
uint64_t journal_live_id(const struct journal *j, uint32_t slot);

/* Call fn for every live job, oldest id first (the order they were
 * queued).  Stops when fn returns non-zero and returns that value; 0 when
 * all were seen; -1 with errno if a file could not be read. */
typedef int journal_replay_fn(void *arg, uint64_t id, int64_t run_at,
    const void *payload, uint32_t len);
int journal_replay(struct journal *j, journal_replay_fn *fn, void *arg);

void journal_stats(const struct journal *j, struct journal_stats *st);

/* CRC-32C (Castagnoli), software, slicing by 8.  crc 0 to start. */
uint32_t journal_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
