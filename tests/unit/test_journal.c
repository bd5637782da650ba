/*
 * test_journal — Check suite for common/journal.c.
 *
 * Every case works in its own temporary directory.  Failures are real or
 * injected without a hook in the library: a 64 KiB tmpfs fills up (ENOSPC;
 * the test needs root to mount it), RLIMIT_FSIZE (SIGXFSZ ignored) makes a
 * write fail with EFBIG part-way through a record, and this file
 * defines fdatasync(), which the static library's calls bind to, so a
 * commit can be made to fail with EIO.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/journal.h"
#include "common/segment.h"

#define CAP		64
#define MAXP		1000
#define REC(len)	(JOURNAL_REC_HDR + (uint64_t)(len))

/* --- fdatasync injection ------------------------------------------------- */

static int sync_errno;		/* 0: the real call */
static unsigned sync_calls;

int
fdatasync(int fd)
{
	sync_calls++;
	if (sync_errno != 0) {
		errno = sync_errno;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

/* --- helpers -------------------------------------------------------------- */

static char top[64];		/* the suite's directory (main makes it) */
static char fs[96];		/* top/fs: the tmpfs mount point */
static char base[96];		/* the case's directory inside top */
static char jdir[128];		/* the journal directory inside that */

static void
setup(void)
{
	snprintf(base, sizeof(base), "%s/case.XXXXXX", top);
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(jdir, sizeof(jdir), "%s/j", base);
	sync_errno = 0;
	sync_calls = 0;
}

static void
rm_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char p[512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (unlink(p) == -1 && errno == EISDIR)
			rm_dir(p);
	}
	closedir(d);
	rmdir(path);
}

/* A failed case skips this: main removes everything at the end. */
static void
teardown(void)
{
	rm_dir(base);
}

struct torn_seen {
	unsigned n;
	char file[512];
	uint64_t offset, ignored;
};

static void
on_torn(void *arg, const char *file, uint64_t offset, uint64_t ignored)
{
	struct torn_seen *t = arg;

	t->n++;
	snprintf(t->file, sizeof(t->file), "%s", file);
	t->offset = offset;
	t->ignored = ignored;
}

static struct journal *
jopen_at(const char *path, uint32_t cap, int sync, struct torn_seen *t)
{
	struct journal_config c = { .path = path, .capacity = cap,
	    .max_payload = MAXP, .sync = sync, .torn = on_torn, .arg = t };
	struct journal *j;
	char err[256] = "";

	if (t != NULL)
		memset(t, 0, sizeof(*t));
	else
		c.torn = NULL;
	ck_assert_msg(journal_open(&c, &j, err, sizeof(err)) == 0,
	    "journal_open: %s", err);
	return j;
}

static struct journal *
jopen(int sync)
{
	return jopen_at(jdir, CAP, sync, NULL);
}

/* A deterministic payload for job id: len bytes derived from the id. */
static uint32_t
payload_of(uint64_t id, unsigned char *buf)
{
	uint32_t len = (uint32_t)(id * 7919 % MAXP) + 1;

	for (uint32_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(id >> (i % 8 * 8) ^ i);
	return len;
}

static void
append(struct journal *j, uint64_t id)
{
	unsigned char buf[MAXP];
	uint32_t len = payload_of(id, buf);

	ck_assert_int_eq(journal_append_job(j, id, (int64_t)id * 3, buf, len), 0);
}

/* What replay reported: ids in order; payloads and run_at are checked. */
struct seen {
	unsigned n;
	uint64_t ids[4 * CAP];
};

static int
collect(void *arg, uint64_t id, int64_t run_at, const void *payload,
    uint32_t len)
{
	struct seen *s = arg;
	unsigned char want[MAXP];

	ck_assert_uint_lt(s->n, 4 * CAP);
	ck_assert_uint_eq(len, payload_of(id, want));
	ck_assert_int_eq(memcmp(payload, want, len), 0);
	ck_assert_int_eq(run_at, (int64_t)id * 3);
	s->ids[s->n++] = id;
	return 0;
}

static void
replay(struct journal *j, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(journal_replay(j, collect, s), 0);
}

static void
expect_ids(const struct seen *s, const uint64_t *ids, unsigned n)
{
	ck_assert_uint_eq(s->n, n);
	for (unsigned i = 0; i < n; i++)
		ck_assert_msg(s->ids[i] == ids[i], "replay[%u] = %016" PRIx64
		    ", want %016" PRIx64, i, s->ids[i], ids[i]);
}

/* Sum of the sizes of the journal files; *n their count. */
static uint64_t
disk_bytes(unsigned *n)
{
	DIR *d = opendir(jdir);
	struct dirent *de;
	uint64_t sum = 0;
	struct stat st;
	char p[512];

	ck_assert_ptr_nonnull(d);
	*n = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", jdir, de->d_name);
		ck_assert_int_eq(stat(p, &st), 0);
		sum += (uint64_t)st.st_size;
		(*n)++;
	}
	closedir(d);
	return sum;
}

/* The one journal file in jdir (fails if there is not exactly one). */
static void
only_file(char *path, size_t len)
{
	DIR *d = opendir(jdir);
	struct dirent *de;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(path, len, "%s/%s", jdir, de->d_name);
			n++;
		}
	closedir(d);
	ck_assert_uint_eq(n, 1);
}

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	struct stat st;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	*len = (size_t)st.st_size;
	b = malloc(*len + 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

/* A fresh journal directory whose only file holds bytes[0..len). */
static void
write_journal(const char *dir, const unsigned char *bytes, size_t len)
{
	char p[512];
	FILE *f;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/0000000000000001.jnl", dir);
	f = fopen(p, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* --- cases ---------------------------------------------------------------- */

START_TEST(crc32c_vectors)
{
	unsigned char zeros[32] = { 0 };
	const char *s = "123456789";

	ck_assert_uint_eq(journal_crc32c(0, s, 9), 0xe3069283u);
	ck_assert_uint_eq(journal_crc32c(0, zeros, 32), 0x8a9136aau);
	/* in pieces, unaligned */
	ck_assert_uint_eq(journal_crc32c(journal_crc32c(0, s, 3), s + 3, 6),
	    0xe3069283u);
}
END_TEST

START_TEST(append_commit_reopen_replay)
{
	uint64_t ids[10];
	struct journal_stats st;
	struct journal *j = jopen(1);
	struct seen s;
	struct stat sb;
	char path[512];

	for (unsigned i = 0; i < 10; i++) {
		/* slots out of order, sequence rising: replay is by id */
		ids[i] = jobid_make(1000 + i, (i * 37) % CAP);
		append(j, ids[i]);
	}
	sync_calls = 0;
	ck_assert_int_eq(journal_commit(j), 0);
	ck_assert_uint_eq(sync_calls, 1);	/* one fdatasync for the round */
	ck_assert_int_eq(journal_commit(j), 0);
	ck_assert_uint_eq(sync_calls, 1);	/* nothing pending: no sync */
	journal_close(j);

	ck_assert_int_eq(stat(jdir, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	only_file(path, sizeof(path));
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);

	j = jopen(1);
	replay(j, &s);
	expect_ids(&s, ids, 10);
	journal_stats(j, &st);
	ck_assert_uint_eq(st.live, 10);
	ck_assert_uint_eq(st.max_id, ids[9]);
	journal_close(j);
}
END_TEST

START_TEST(end_hides_job)
{
	uint64_t a = jobid_make(5, 1), b = jobid_make(6, 2), c = jobid_make(7, 3);
	uint64_t want[] = { a, c }, again = jobid_make(8, 2);
	uint64_t want2[] = { a, c, again };
	struct journal *j = jopen(1);
	struct seen s;

	append(j, a);
	append(j, b);
	append(j, c);
	ck_assert_int_eq(journal_append_end(j, b, JOURNAL_DONE), 0);
	/* unknown ids and a second END are no-ops */
	ck_assert_int_eq(journal_append_end(j, b, JOURNAL_FAILED), 0);
	ck_assert_int_eq(journal_append_end(j, jobid_make(9, 9), JOURNAL_DONE), 0);
	ck_assert_int_eq(journal_commit(j), 0);
	replay(j, &s);
	expect_ids(&s, want, 2);
	ck_assert_uint_eq(journal_live_id(j, 1), a);
	ck_assert_uint_eq(journal_live_id(j, 2), 0);
	ck_assert_uint_eq(journal_live_id(j, CAP), 0);
	journal_close(j);

	j = jopen(1);
	replay(j, &s);
	expect_ids(&s, want, 2);
	/* slot 2 reused by a new job; an END of the old one does not hide it */
	append(j, again);
	ck_assert_int_eq(journal_append_end(j, b, JOURNAL_DONE), 0);
	ck_assert_int_eq(journal_commit(j), 0);
	replay(j, &s);
	expect_ids(&s, want2, 3);
	journal_close(j);
	j = jopen(1);
	replay(j, &s);
	expect_ids(&s, want2, 3);
	journal_close(j);
}
END_TEST

/* A new JOB in a slot whose job has no END (it was lost) replaces it. */
START_TEST(slot_reuse_supersedes)
{
	uint64_t a = jobid_make(5, 4), b = jobid_make(9, 4), want[] = { b };
	struct journal *j = jopen(0);
	struct seen s;

	append(j, a);
	append(j, b);
	ck_assert_int_eq(journal_commit(j), 0);
	journal_close(j);
	j = jopen(0);
	replay(j, &s);
	expect_ids(&s, want, 1);
	journal_close(j);
}
END_TEST

/* Three records; returns the file's bytes and the offsets of the 2nd and
 * 3rd record. */
static unsigned char *
three_records(uint64_t ids[3], size_t *len, uint64_t *off2, uint64_t *off3)
{
	unsigned char buf[MAXP];
	struct journal *j = jopen(1);
	char path[512];

	ids[0] = jobid_make(11, 0);
	ids[1] = jobid_make(12, 1);
	ids[2] = jobid_make(13, 2);
	for (int i = 0; i < 3; i++)
		append(j, ids[i]);
	ck_assert_int_eq(journal_commit(j), 0);
	journal_close(j);
	only_file(path, sizeof(path));
	*off2 = REC(payload_of(ids[0], buf));
	*off3 = *off2 + REC(payload_of(ids[1], buf));
	return read_file(path, len);
}

START_TEST(torn_tail_every_offset)
{
	uint64_t ids[3], off2, off3;
	size_t len;
	unsigned char *bytes = three_records(ids, &len, &off2, &off3);
	char dir[256];

	ck_assert_uint_eq(len, off3 + REC(payload_of(ids[2], (unsigned char[MAXP]){ 0 })));
	for (uint64_t cut = off3; cut <= len; cut++) {
		struct torn_seen t;
		struct journal *j;
		struct seen s;

		snprintf(dir, sizeof(dir), "%s/cut%" PRIu64, base, cut);
		write_journal(dir, bytes, cut);
		j = jopen_at(dir, CAP, 1, &t);
		replay(j, &s);
		if (cut == len) {
			expect_ids(&s, ids, 3);
			ck_assert_uint_eq(t.n, 0);
		} else {
			expect_ids(&s, ids, 2);	/* nothing before the tear lost */
			ck_assert_uint_eq(t.n, cut > off3);
			if (cut > off3) {
				ck_assert_uint_eq(t.offset, off3);
				ck_assert_uint_eq(t.ignored, cut - off3);
				ck_assert_ptr_nonnull(strstr(t.file,
				    "/0000000000000001.jnl"));
			}
		}
		/* the journal goes on after the tail */
		append(j, jobid_make(20, 9));
		ck_assert_int_eq(journal_commit(j), 0);
		journal_close(j);
		j = jopen_at(dir, CAP, 1, NULL);
		replay(j, &s);
		ck_assert_uint_eq(s.n, cut == len ? 4 : 3);
		journal_close(j);
	}
	free(bytes);
}
END_TEST

START_TEST(flipped_byte_every_offset)
{
	uint64_t ids[3], off2, off3;
	size_t len;
	unsigned char *bytes = three_records(ids, &len, &off2, &off3);
	char dir[256];

	for (uint64_t at = off2; at < off3; at++) {
		struct torn_seen t;
		struct journal *j;
		struct seen s;

		bytes[at] ^= 0x5a;
		snprintf(dir, sizeof(dir), "%s/flip%" PRIu64, base, at);
		write_journal(dir, bytes, len);
		bytes[at] ^= 0x5a;
		j = jopen_at(dir, CAP, 1, &t);
		replay(j, &s);
		/* the record and the rest of its file are ignored, not before */
		expect_ids(&s, ids, 1);
		ck_assert_uint_eq(t.n, 1);
		ck_assert_uint_eq(t.offset, off2);
		ck_assert_uint_eq(t.ignored, len - off2);
		journal_close(j);
		rm_dir(dir);
	}
	free(bytes);
}
END_TEST

/*
 * A long run of append + END with a few jobs that never finish: the files
 * on disk never exceed the bound, finished files are removed, and the
 * long-lived jobs survive every reclaim (their records are copied).
 */
START_TEST(bounded_size_and_reclaim)
{
	uint64_t keep[4], seq = 1;
	uint64_t bound;
	struct journal_stats st;
	struct journal *j = jopen(0);
	struct seen s;

	for (unsigned i = 0; i < 4; i++) {
		keep[i] = jobid_make(seq++, i);
		append(j, keep[i]);
	}
	ck_assert_int_eq(journal_commit(j), 0);
	journal_stats(j, &st);
	/* about 2 * C * R (+ the appends of one round: 8 records here) */
	bound = st.limit + 8 * REC(MAXP);
	ck_assert_uint_le(st.limit, (uint64_t)5 * CAP * REC(MAXP) / 2);
	for (unsigned round = 0; round < 3000; round++) {
		uint64_t ids[8];
		uint64_t bytes;
		unsigned files;

		for (unsigned k = 0; k < 8; k++) {
			ids[k] = jobid_make(seq++, 4 + (round * 8 + k) % (CAP - 4));
			append(j, ids[k]);
		}
		ck_assert_int_eq(journal_commit(j), 0);
		for (unsigned k = 0; k < 8; k++)
			ck_assert_int_eq(journal_append_end(j, ids[k], JOURNAL_DONE), 0);
		ck_assert_int_eq(journal_commit(j), 0);
		bytes = disk_bytes(&files);
		journal_stats(j, &st);
		ck_assert_uint_eq(st.bytes, bytes);
		ck_assert_uint_eq(st.files, files);
		ck_assert_msg(bytes <= bound, "round %u: %" PRIu64 " bytes on disk,"
		    " bound %" PRIu64, round, bytes, bound);
	}
	journal_stats(j, &st);
	ck_assert_uint_eq(st.live, 4);
	ck_assert_uint_gt(st.reclaimed, 10);	/* finished files went away */
	ck_assert_uint_ge(st.copied, 4 * 10);	/* the long jobs moved along */
	ck_assert_uint_le(st.files, 2);
	journal_close(j);

	j = jopen(0);
	replay(j, &s);
	expect_ids(&s, keep, 4);
	journal_close(j);
}
END_TEST

START_TEST(write_failure_not_durable)
{
	uint64_t a = jobid_make(1, 1), b = jobid_make(2, 2), c = jobid_make(3, 3);
	uint64_t d = jobid_make(4, 4), e = jobid_make(5, 5), f = jobid_make(6, 6);
	uint64_t want[] = { a, b, c, f };
	unsigned char buf[MAXP];
	struct journal_stats st;
	struct journal *j = jopen(1);
	struct rlimit rl;
	struct seen s;

	signal(SIGXFSZ, SIG_IGN);
	append(j, a);
	ck_assert_int_eq(journal_commit(j), 0);
	/* room for b and a part of c */
	journal_stats(j, &st);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = st.bytes + REC(payload_of(b, buf)) + 10;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	append(j, b);
	errno = 0;
	ck_assert_int_eq(journal_append_job(j, c, (int64_t)c * 3, buf,
	    payload_of(c, buf)), -1);
	ck_assert_int_eq(errno, EFBIG);
	journal_stats(j, &st);	/* the part of c written is cut off again */
	ck_assert_uint_eq(st.bytes, disk_bytes(&(unsigned){ 0 }));
	ck_assert_int_eq(journal_commit(j), 0);	/* b is durable */
	journal_stats(j, &st);
	ck_assert_uint_eq(st.live, 2);
	ck_assert_uint_eq(st.bytes, REC(payload_of(a, buf)) + REC(payload_of(b, buf)));

	/* space is back: c goes in */
	rl.rlim_cur = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	append(j, c);
	ck_assert_int_eq(journal_commit(j), 0);

	/* the sync fails: d and e are not durable */
	append(j, d);
	append(j, e);
	sync_errno = EIO;
	errno = 0;
	ck_assert_int_eq(journal_commit(j), -1);
	ck_assert_int_eq(errno, EIO);
	sync_errno = 0;
	journal_stats(j, &st);
	ck_assert_uint_eq(st.live, 3);
	ck_assert_uint_eq(st.bytes, disk_bytes(&(unsigned){ 0 }));
	append(j, f);
	ck_assert_int_eq(journal_commit(j), 0);
	journal_close(j);

	j = jopen(1);
	replay(j, &s);
	expect_ids(&s, want, 4);
	journal_close(j);
}
END_TEST

/*
 * The sync of a reclaim fails: the append that started the new file fails
 * (its job is not in the journal), no job is lost, and the next roll
 * reclaims.  Capacity 4 makes a file hold about two records.
 */
START_TEST(reclaim_failure_keeps_jobs)
{
	uint64_t keep = jobid_make(1, 0), seq = 2, want[] = { keep };
	struct journal_stats st;
	struct journal *j = jopen_at(jdir, 4, 1, NULL);
	unsigned char buf[MAXP];
	unsigned failed = 0;
	struct seen s;

	append(j, keep);
	ck_assert_int_eq(journal_commit(j), 0);
	for (unsigned i = 0; i < 40; i++) {
		uint64_t id = jobid_make(seq++, 1 + i % 3);
		int r;

		sync_errno = failed ? 0 : EIO;	/* fail the first reclaim */
		r = journal_append_job(j, id, (int64_t)id * 3, buf,
		    payload_of(id, buf));
		sync_errno = 0;
		if (r == -1) {
			ck_assert_int_eq(errno, EIO);
			failed++;
			journal_stats(j, &st);
			ck_assert_uint_eq(st.live, 1);
			ck_assert_uint_eq(st.bytes, disk_bytes(&(unsigned){ 0 }));
			continue;
		}
		ck_assert_int_eq(journal_commit(j), 0);
		ck_assert_int_eq(journal_append_end(j, id, JOURNAL_DONE), 0);
		ck_assert_int_eq(journal_commit(j), 0);
	}
	ck_assert_uint_eq(failed, 1);
	journal_stats(j, &st);
	ck_assert_uint_gt(st.reclaimed, 3);
	ck_assert_uint_le(st.files, 2);
	journal_close(j);
	j = jopen_at(jdir, 4, 1, NULL);
	replay(j, &s);
	expect_ids(&s, want, 1);
	journal_close(j);
}
END_TEST

/*
 * A real full disk: a 64 KiB tmpfs (we are root).  The append that does
 * not fit fails with ENOSPC and leaves nothing behind; the jobs before it
 * stay; once the file system grows, appends work again.
 */
START_TEST(disk_full_tmpfs)
{
	uint64_t seq = 1, ids[4 * CAP];
	char dir[128];
	struct journal_stats st;
	struct journal *j;
	unsigned n = 0;
	struct seen s;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s/j", fs);
	ck_assert_int_eq(mkdir(fs, 0700), 0);
	ck_assert_msg(mount("tmpfs", fs, "tmpfs", 0, "size=64k,mode=0700") == 0,
	    "mount tmpfs on %s: %s (the test needs root)", fs, strerror(errno));
	j = jopen_at(dir, 4 * CAP, 1, NULL);
	while (n < 4 * CAP) {
		unsigned char buf[MAXP];
		uint64_t id = jobid_make(seq++, n);

		r = journal_append_job(j, id, (int64_t)id * 3, buf,
		    payload_of(id, buf));
		if (r == -1)
			break;
		ids[n++] = id;
		ck_assert_int_eq(journal_commit(j), 0);
	}
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_uint_gt(n, 10);
	journal_stats(j, &st);
	ck_assert_uint_eq(st.live, n);
	ck_assert_int_eq(journal_commit(j), 0);

	ck_assert_int_eq(mount(NULL, fs, NULL, MS_REMOUNT, "size=1m"), 0);
	append(j, ids[n] = jobid_make(seq++, n));
	n++;
	ck_assert_int_eq(journal_commit(j), 0);
	journal_close(j);
	j = jopen_at(dir, 4 * CAP, 1, NULL);
	replay(j, &s);
	expect_ids(&s, ids, n);
	journal_close(j);
}
END_TEST

START_TEST(lock_held)
{
	struct journal_config c = { .path = jdir, .capacity = CAP,
	    .max_payload = MAXP, .sync = 1 };
	struct journal *j = jopen(1), *j2;
	char err[256] = "";

	ck_assert_int_eq(journal_open(&c, &j2, err, sizeof(err)), -1);
	ck_assert_ptr_null(j2);
	ck_assert_msg(strstr(err, "locked by another process") != NULL, "%s", err);
	journal_close(j);
	ck_assert_int_eq(journal_open(&c, &j2, err, sizeof(err)), 0);
	journal_close(j2);
}
END_TEST

/* A job the new geometry cannot hold stops the open (no silent loss). */
START_TEST(geometry_too_small)
{
	struct journal_config c = { .path = jdir, .capacity = 8,
	    .max_payload = MAXP, .sync = 0 };
	struct journal *j = jopen(0);
	char err[256] = "";

	append(j, jobid_make(3, 40));
	ck_assert_int_eq(journal_commit(j), 0);
	journal_close(j);
	ck_assert_int_eq(journal_open(&c, &j, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "needs a queue of more than 40") != NULL, "%s", err);
	c.capacity = CAP;
	c.max_payload = 10;
	ck_assert_int_eq(journal_open(&c, &j, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "over max_payload") != NULL, "%s", err);
}
END_TEST

static Suite *
journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, crc32c_vectors);
	tcase_add_test(tc, append_commit_reopen_replay);
	tcase_add_test(tc, end_hides_job);
	tcase_add_test(tc, slot_reuse_supersedes);
	tcase_add_test(tc, torn_tail_every_offset);
	tcase_add_test(tc, flipped_byte_every_offset);
	tcase_add_test(tc, bounded_size_and_reclaim);
	tcase_add_test(tc, write_failure_not_durable);
	tcase_add_test(tc, reclaim_failure_keeps_jobs);
	tcase_add_test(tc, disk_full_tmpfs);
	tcase_add_test(tc, lock_held);
	tcase_add_test(tc, geometry_too_small);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	snprintf(top, sizeof(top), "/tmp/test_journal.XXXXXX");
	if (mkdtemp(top) == NULL) {
		perror(top);
		return EXIT_FAILURE;
	}
	snprintf(fs, sizeof(fs), "%s/fs", top);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	umount2(fs, MNT_DETACH);	/* if disk_full_tmpfs failed mounted */
	rm_dir(top);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
