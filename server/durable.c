/*
 * durable — open the journal and reconcile it with the segment (see
 * durable.h and DURABILITY in jobqd(8)).
 *
 * The segment, when it survived, is the truth; the journal fills in what
 * the segment lost.  For each job the journal holds live (oldest first):
 *   - its slot holds it QUEUED or SCHEDULED: nothing to do (RUNNING was
 *     requeued by segment_recover before);
 *   - its slot holds it DONE, FAILED or CANCELED, or holds another job:
 *     it finished while no master was there to write the END: write it
 *     now (CANCELED: a cancel whose END was not yet written);
 *   - its slot holds nothing (a new segment after a reboot or a removed
 *     /dev/shm file; or a body whose record was committed but the master
 *     died before it was published): put it back, with its own id, and
 *     SCHEDULED for its record's run_at when it has one (a delayed job:
 *     the run_at of its 202).
 * Then every QUEUED or SCHEDULED job of the segment that the journal lacks
 * (the journal was just turned on, or moved away) is written (a scheduled
 * one with its run_at), and all of it synced before the first client is
 * answered.  A retry's backoff is not in the journal: a job put back
 * from it runs at once, with attempts 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "common/log.h"
#include "server/durable.h"

#define EX_CONFIG	78

struct reconcile {
	struct segment *seg;
	struct journal *j;
	uint32_t restored, ended;
};

/* A torn or corrupt tail found by journal_open. */
static void torn(void *arg, const char *file, uint64_t off, uint64_t n)
{
	(void)arg;
	log_warnx("journal %s: torn or corrupt record at offset %" PRIu64 ", %" PRIu64
	    " bytes ignored", file, off, n);
}

/* One live job of the journal against its slot. */
static int reconcile_one(void *arg, uint64_t id, int64_t run_at, const void *payload,
    uint32_t len)
{
	struct reconcile *r = arg;
	struct slot *sl = segment_slot(r->seg, jobid_slot(id));
	uint32_t st = atomic_load(&sl->state);

	if (sl->id == id && (st == SLOT_QUEUED || st == SLOT_RUNNING || st == SLOT_SCHEDULED))
		return 0;
	if (sl->id != 0 && st != SLOT_FREE) {
		if (journal_append_end(r->j, id, sl->id != id ? JOURNAL_DONE :
		    st == SLOT_FAILED ? JOURNAL_FAILED :
		    st == SLOT_CANCELED ? JOURNAL_CANCELED : JOURNAL_DONE) == -1)
			fatal("journal: writing the end of job %016" PRIx64, id);
		r->ended++;
		return 0;
	}
	if (segment_restore(r->seg, id, run_at, payload, len) == -1)
		fatal("journal: restoring job %016" PRIx64, id);
	r->restored++;
	return 0;
}

struct journal *durable_open(const struct config *c, struct segment *seg)
{
	struct journal_config jc = {
		.path = c->journal, .capacity = c->queue, .max_payload = c->max_payload,
		.sync = c->journal_sync, .torn = torn,
	};
	struct reconcile r = { .seg = seg };
	struct journal_stats st;
	struct seg_recovery rec;
	uint32_t added = 0;
	char err[1024];

	if (c->journal[0] == '\0')
		return NULL;
	if (journal_open(&jc, &r.j, err, sizeof(err)) == -1) {
		log_errorx("journal %s", err);
		exit(errno == EINVAL ? EX_CONFIG : 1);
	}
	if (journal_replay(r.j, reconcile_one, &r) == -1)
		fatal("journal %s: reading", c->journal);
	for (uint32_t i = 0; i < segment_capacity(seg); i++) {
		struct slot *sl = segment_slot(seg, i);
		uint32_t state = atomic_load(&sl->state);
		long len;

		if ((state != SLOT_QUEUED && state != SLOT_SCHEDULED) ||
		    journal_live_id(r.j, i) == sl->id || (len = segment_payload_len(seg, i)) < 0)
			continue;
		if (journal_append_job(r.j, sl->id, state == SLOT_SCHEDULED ? sl->run_at : 0,
		    segment_payload(seg, i), (uint32_t)len) == -1)
			fatal("journal %s: writing job %016" PRIx64, c->journal, sl->id);
		added++;
	}
	if (journal_commit(r.j) == -1)
		fatal("journal %s: sync", c->journal);
	if (r.restored > 0 && segment_recover(seg, 0, &rec) == -1)
		fatal("recovering shared memory %s", c->shm_name);
	journal_stats(r.j, &st);
	segment_seq_above(seg, st.max_id);
	log_info("journal %s: %u jobs recovered from the journal, %u finished while "
	    "stopped, %u queued jobs added to it; %u files, %" PRIu64 " bytes (at most %"
	    PRIu64 ")", c->journal, r.restored, r.ended, added, st.files, st.bytes, st.limit);
	return r.j;
}
