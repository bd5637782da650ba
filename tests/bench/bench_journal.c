/*
 * bench_journal — how many jobs per second the journal takes with group
 * commit (one fdatasync per batch of 1, 16, 64 jobs) next to journal_sync
 * no, on the machine's real disk: a temporary directory under
 * $JOBQD_BENCH_DIR, default /var/tmp (the file system type is printed;
 * a tmpfs makes the fdatasync numbers meaningless).
 *
 * Each round appends a batch of JOB records (256-byte payloads) plus the
 * END records of the previous round's jobs, as the master would, then
 * commits.  Each mode runs for about a second.  Printed: jobs/s, commits
 * (fdatasyncs) per second, jobs and records per commit.
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/journal.h"
#include "common/segment.h"

#define CAPACITY	4096
#define MAX_PAYLOAD	1024
#define PAYLOAD		256
#define RUN_NS		1000000000LL
#define TMPFS_MAGIC	0x01021994

static char base[256], dir[300];

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb, (void)flag, (void)f;
	return remove(path);
}

/* Remove the journal directory (each run starts empty). */
static void
rm_journal(void)
{
	if (nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) == -1)
		perror(dir);
}

static int
run(int sync, uint32_t batch)
{
	struct journal_config c = { .path = dir, .capacity = CAPACITY,
	    .max_payload = MAX_PAYLOAD, .sync = sync };
	uint64_t prev[64], cur[64], jobs = 0, records = 0, commits = 0, seq = 1;
	unsigned char payload[PAYLOAD];
	struct journal_stats st;
	struct journal *j;
	char err[256];
	int64_t t0, t;
	uint32_t nprev = 0;

	memset(payload, 'x', sizeof(payload));
	if (journal_open(&c, &j, err, sizeof(err)) == -1) {
		fprintf(stderr, "bench_journal: %s\n", err);
		return -1;
	}
	t0 = clock_mono_ns();
	do {
		for (uint32_t k = 0; k < nprev; k++)
			if (journal_append_end(j, prev[k], JOURNAL_DONE) == -1)
				goto fail;
		for (uint32_t k = 0; k < batch; k++, seq++) {
			cur[k] = jobid_make(0, seq, (uint32_t)(seq % CAPACITY));
			if (journal_append_job(j, cur[k], 0, payload, PAYLOAD) == -1)
				goto fail;
		}
		if (journal_commit(j) == -1)
			goto fail;
		records += nprev + batch;
		jobs += batch;
		commits++;
		memcpy(prev, cur, batch * sizeof(*cur));
		nprev = batch;
		t = clock_mono_ns() - t0;
	} while (t < RUN_NS);
	journal_stats(j, &st);
	printf("  %-8s batch %2" PRIu32 ": %9.0f jobs/s  %7.0f commits/s"
	    "  %5.1f jobs/commit  %5.1f records/commit  (fdatasyncs %" PRIu64
	    ", reclaimed files %" PRIu64 ")\n",
	    sync ? "fsync" : "no sync", batch, jobs * 1e9 / (double)t,
	    commits * 1e9 / (double)t, (double)jobs / (double)commits,
	    (double)records / (double)commits, st.commits, st.reclaimed);
	journal_close(j);
	rm_journal();
	return 0;
fail:
	perror("bench_journal");
	journal_close(j);
	rm_journal();
	return -1;
}

int
main(void)
{
	static const uint32_t batches[] = { 1, 16, 64 };
	const char *where = getenv("JOBQD_BENCH_DIR");
	struct statfs sf;
	int rc = 0;

	snprintf(base, sizeof(base), "%s/bench_journal.XXXXXX",
	    where != NULL ? where : "/var/tmp");
	if (mkdtemp(base) == NULL || statfs(base, &sf) == -1) {
		perror(base);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/j", base);	/* journal_open makes it */
	printf("bench_journal: %s (%s), %d-byte payloads, queue %d\n", dir,
	    sf.f_type == TMPFS_MAGIC ? "tmpfs: fdatasync is free here" :
	    "real file system", PAYLOAD, CAPACITY);
	for (int sync = 1; sync >= 0 && rc == 0; sync--)
		for (size_t i = 0; i < sizeof(batches) / sizeof(*batches) && rc == 0; i++)
			rc = run(sync, batches[i]);
	rmdir(base);
	return rc == 0 ? 0 : 1;
}
