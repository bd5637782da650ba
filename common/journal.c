/*
 * journal — see journal.h for the format and the promises.
 *
 * In memory: the files on disk, oldest first, the last one being the
 * active file (appends go there), each with its size and its count of live
 * jobs; and one entry per slot (capacity entries, the only memory that
 * grows with the configuration) naming the live job of that slot and where
 * its JOB record is.  An END or a newer JOB in the slot makes the entry's
 * job dead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/journal.h"
#include "common/segment.h"

#define REC_JOB		1
#define REC_END		2
#define REC_VERSION	1
#define NAME_LEN	20	/* 16 hex digits + ".jnl" */

struct jfile {
	uint64_t seq;		/* the number in its name */
	uint64_t size;		/* bytes (the active file: the write offset) */
	uint32_t live;		/* live jobs whose JOB record is here */
	int fd;			/* read-only; the active file read-write */
};

struct jslot {
	uint64_t id;		/* live job, 0 = none */
	uint64_t seq;		/* file of its JOB record */
	uint64_t off;		/* offset of the record there */
	uint32_t len;		/* payload bytes */
};

struct journal {
	int dirfd;		/* locked */
	int sync;
	uint32_t capacity, max_payload;
	uint64_t roll_at;	/* new bytes per file before a new file */
	struct jfile *files;	/* oldest first; files[nfiles - 1] active */
	uint32_t nfiles, files_cap;
	struct jslot *slots;
	uint32_t live;
	uint64_t fresh;		/* bytes appended to the active file, not copies */
	uint64_t committed;	/* durable prefix of the active file */
	uint32_t pending;	/* records appended since the last commit */
	int broken;		/* a cut failed: truncate before writing again */
	uint64_t max_id;
	uint64_t commits, reclaimed, copied;
	unsigned char *buf;	/* one record: JOURNAL_REC_HDR + max_payload */
};

/* --- CRC-32C ------------------------------------------------------------ */

static uint32_t crc_tab[8][256];

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			crc_tab[k][i] = (crc_tab[k - 1][i] >> 8) ^
			    crc_tab[0][crc_tab[k - 1][i] & 0xff];
}

uint32_t
journal_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (crc_tab[0][1] == 0)
		crc_init();
	crc = ~crc;
	if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
		for (; len >= 8; p += 8, len -= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			w ^= crc;
			crc = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^
			    crc_tab[5][(w >> 16) & 0xff] ^ crc_tab[4][(w >> 24) & 0xff] ^
			    crc_tab[3][(w >> 32) & 0xff] ^ crc_tab[2][(w >> 40) & 0xff] ^
			    crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
		}
	}
	while (len--)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* --- records ------------------------------------------------------------- */

struct rec {
	uint32_t len;
	uint8_t type, version, state;
	uint64_t id;
	int64_t run_at;
};

static void
rec_encode(unsigned char h[JOURNAL_REC_HDR], const struct rec *r,
    const void *payload)
{
	uint32_t crc, zero = 0;

	memset(h, 0, JOURNAL_REC_HDR);
	memcpy(h + 4, &r->len, 4);
	h[8] = r->type;
	h[9] = r->version;
	h[10] = r->state;
	memcpy(h + 12, &zero, 4);
	memcpy(h + 16, &r->id, 8);
	memcpy(h + 24, &r->run_at, 8);
	crc = journal_crc32c(0, h + 4, JOURNAL_REC_HDR - 4);
	crc = journal_crc32c(crc, payload, r->len);
	memcpy(h, &crc, 4);
}

/* Decode the record at p (avail bytes there).  1: a whole record with a
 * good CRC; 0: torn or corrupt. */
static int
rec_decode(const unsigned char *p, uint64_t avail, struct rec *r)
{
	uint32_t crc;

	if (avail < JOURNAL_REC_HDR)
		return 0;
	memcpy(&r->len, p + 4, 4);
	if (r->len > avail - JOURNAL_REC_HDR)
		return 0;
	memcpy(&crc, p, 4);
	if (crc != journal_crc32c(0, p + 4, JOURNAL_REC_HDR - 4 + (size_t)r->len))
		return 0;
	r->type = p[8];
	r->version = p[9];
	r->state = p[10];
	memcpy(&r->id, p + 16, 8);
	memcpy(&r->run_at, p + 24, 8);
	return 1;
}

/* --- files --------------------------------------------------------------- */

static void
file_name(uint64_t seq, char name[NAME_LEN + 1])
{
	snprintf(name, NAME_LEN + 1, "%016" PRIx64 ".jnl", seq);
}

/* 1 and *seq if name is a journal file's. */
static int
file_seq(const char *name, uint64_t *seq)
{
	uint64_t v = 0;

	if (strlen(name) != NAME_LEN || strcmp(name + 16, ".jnl") != 0)
		return 0;
	for (int i = 0; i < 16; i++) {
		int c = name[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	*seq = v;
	return 1;
}

static struct jfile *
active(struct journal *j)
{
	return &j->files[j->nfiles - 1];
}

static struct jfile *
file_of(struct journal *j, uint64_t seq)
{
	uint32_t lo = 0, hi = j->nfiles;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (j->files[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return &j->files[lo];	/* every live entry's file is in the list */
}

static int
files_add(struct journal *j, uint64_t seq, int fd, uint64_t size)
{
	if (j->nfiles == j->files_cap) {
		uint32_t cap = j->files_cap ? j->files_cap * 2 : 8;
		struct jfile *f = realloc(j->files, cap * sizeof(*f));

		if (f == NULL)
			return -1;
		j->files = f;
		j->files_cap = cap;
	}
	j->files[j->nfiles++] = (struct jfile){ .seq = seq, .size = size, .fd = fd };
	return 0;
}

/* Unlink the oldest file if no live job is left in it.  0, or -1. */
static int
drop_oldest(struct journal *j)
{
	char name[NAME_LEN + 1];

	file_name(j->files[0].seq, name);
	if (unlinkat(j->dirfd, name, 0) == -1 && errno != ENOENT)
		return -1;
	close(j->files[0].fd);
	j->nfiles--;
	memmove(j->files, j->files + 1, j->nfiles * sizeof(*j->files));
	j->reclaimed++;
	return 0;
}

/* Create the next file and make it the active one. */
static int
new_file(struct journal *j)
{
	uint64_t seq = j->nfiles ? active(j)->seq + 1 : 1;
	char name[NAME_LEN + 1];
	int fd, e;

	file_name(seq, name);
	fd = openat(j->dirfd, name,
	    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	/* the name must survive a power cut as much as the records in it */
	if ((j->sync && fsync(j->dirfd) == -1) || files_add(j, seq, fd, 0) == -1) {
		e = errno;
		close(fd);
		unlinkat(j->dirfd, name, 0);
		errno = e;
		return -1;
	}
	j->fresh = j->committed = 0;
	return 0;
}

/* Cut the active file back to off (a failed write or sync).  If even the
 * truncate fails, no write happens before it succeeds. */
static void
cut(struct journal *j, uint64_t off)
{
	struct jfile *a = active(j);

	a->size = off;
	j->broken = ftruncate(a->fd, (off_t)off) == -1;
}

static int
write_all(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwritev(fd, iov, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (uint64_t)w;
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Append one record to the active file.  0, or -1 with errno and the file
 * as it was. */
static int
put(struct journal *j, const unsigned char *hdr, const void *payload,
    uint32_t len)
{
	struct jfile *a = active(j);
	uint64_t off = a->size;
	struct iovec iov[2] = {
		{ .iov_base = (void *)hdr, .iov_len = JOURNAL_REC_HDR },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	int e;

	if (write_all(a->fd, iov, len ? 2 : 1, off) == -1) {
		e = errno;
		cut(j, off);
		errno = e;
		return -1;
	}
	a->size = off + JOURNAL_REC_HDR + len;
	j->fresh += JOURNAL_REC_HDR + len;
	j->pending++;
	return 0;
}

static void
slot_kill(struct journal *j, struct jslot *s)
{
	if (s->id != 0) {
		file_of(j, s->seq)->live--;
		j->live--;
		s->id = 0;
	}
}

static void
slot_set(struct journal *j, uint64_t id, uint64_t seq, uint64_t off,
    uint32_t len)
{
	struct jslot *s = &j->slots[jobid_slot(id)];

	slot_kill(j, s);
	*s = (struct jslot){ .id = id, .seq = seq, .off = off, .len = len };
	file_of(j, seq)->live++;
	j->live++;
}

/*
 * Reclaim: copy the JOB record of every live job still in a closed file,
 * byte for byte, to the end of the active file; sync it; then the closed
 * files hold no live job and are unlinked, oldest first.  A failure leaves
 * every entry where it was (the copies are cut off again).
 */
static int
reclaim(struct journal *j)
{
	struct jfile *a = active(j);
	uint64_t start = a->size, pos = start;
	uint32_t moved = 0;
	int e;

	for (uint32_t i = 0; i < j->capacity; i++) {
		struct jslot *s = &j->slots[i];
		size_t n = JOURNAL_REC_HDR + s->len;
		struct iovec iov = { .iov_base = j->buf, .iov_len = n };
		ssize_t r;

		if (s->id == 0 || s->seq == a->seq)
			continue;
		r = pread(file_of(j, s->seq)->fd, j->buf, n, (off_t)s->off);
		if (r != (ssize_t)n) {
			if (r >= 0)
				errno = EIO;
			goto fail;
		}
		if (write_all(a->fd, &iov, 1, pos) == -1)
			goto fail;
		pos += n;
		moved++;
	}
	if (moved > 0 && j->sync && fdatasync(a->fd) == -1)
		goto fail;
	a->size = j->committed = pos;
	for (uint32_t i = 0; i < j->capacity; i++) {
		struct jslot *s = &j->slots[i];

		if (s->id == 0 || s->seq == a->seq)
			continue;
		file_of(j, s->seq)->live--;
		s->seq = a->seq;
		s->off = start;
		start += JOURNAL_REC_HDR + s->len;
		a->live++;
	}
	j->copied += moved;
	while (j->nfiles > 1)
		if (drop_oldest(j) == -1)
			return -1;
	return 0;
fail:
	e = errno;
	cut(j, start);
	errno = e;
	return -1;
}

/* Before writing n bytes: repair a failed cut; start a new file if this
 * one has its share of new bytes and no round is open. */
static int
prepare(struct journal *j, uint64_t n)
{
	if (j->broken) {
		cut(j, active(j)->size);
		if (j->broken)
			return -1;
	}
	if (j->pending == 0 && j->fresh > 0 && j->fresh + n > j->roll_at)
		if (new_file(j) == -1 || reclaim(j) == -1)
			return -1;
	return 0;
}

int
journal_append_job(struct journal *j, uint64_t id, int64_t run_at,
    const void *payload, uint32_t len)
{
	unsigned char h[JOURNAL_REC_HDR];
	struct rec r = { .len = len, .type = REC_JOB, .version = REC_VERSION,
	    .id = id, .run_at = run_at };
	uint64_t off;

	if (id == 0 || len > j->max_payload || jobid_slot(id) >= j->capacity) {
		errno = EINVAL;
		return -1;
	}
	if (prepare(j, JOURNAL_REC_HDR + (uint64_t)len) == -1)
		return -1;
	rec_encode(h, &r, payload);
	off = active(j)->size;
	if (put(j, h, payload, len) == -1)
		return -1;
	slot_set(j, id, active(j)->seq, off, len);
	if (id > j->max_id)
		j->max_id = id;
	return 0;
}

int
journal_append_end(struct journal *j, uint64_t id, enum journal_end st)
{
	unsigned char h[JOURNAL_REC_HDR];
	struct rec r = { .type = REC_END, .version = REC_VERSION,
	    .state = (uint8_t)st, .id = id };
	struct jslot *s;

	if (jobid_slot(id) >= j->capacity || j->slots[jobid_slot(id)].id != id)
		return 0;
	if (prepare(j, JOURNAL_REC_HDR) == -1)
		return -1;
	rec_encode(h, &r, NULL);
	if (put(j, h, NULL, 0) == -1)
		return -1;
	/* prepare may have moved the slot's record; look it up afresh */
	s = &j->slots[jobid_slot(id)];
	slot_kill(j, s);
	return 0;
}

int
journal_commit(struct journal *j)
{
	struct jfile *a = active(j);
	int e;

	if (j->pending == 0)
		return 0;
	if (j->sync) {
		if (fdatasync(a->fd) == -1) {
			e = errno;
			/* forget the jobs of the round, cut them off the file */
			for (uint32_t i = 0; i < j->capacity; i++) {
				struct jslot *s = &j->slots[i];

				if (s->id != 0 && s->seq == a->seq &&
				    s->off >= j->committed)
					slot_kill(j, s);
			}
			cut(j, j->committed);
			j->pending = 0;
			errno = e;
			return -1;
		}
		j->commits++;
	}
	j->committed = a->size;
	j->pending = 0;
	return 0;
}

/* --- open ---------------------------------------------------------------- */

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	errno = e;
	return -1;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The sorted numbers of the journal files in the directory. */
static int
list_files(struct journal *j, uint64_t **out, size_t *n)
{
	DIR *d;
	struct dirent *de;
	uint64_t *v = NULL, seq;
	size_t cap = 0;
	int fd = dup(j->dirfd), e;

	*n = 0;
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!file_seq(de->d_name, &seq))
			continue;
		if (*n == cap) {
			uint64_t *nv;

			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				break;
			v = nv;
		}
		v[(*n)++] = seq;
	}
	e = errno;
	closedir(d);
	if (e != 0) {
		free(v);
		errno = e;
		return -1;
	}
	if (*n > 0)
		qsort(v, *n, sizeof(*v), cmp_u64);
	*out = v;
	return 0;
}

/* Apply the records of one file (mapped at p, size bytes). */
static int
scan_file(struct journal *j, const struct journal_config *c, const char *name,
    const unsigned char *p, uint64_t size, char *err, size_t errlen)
{
	uint64_t seq = active(j)->seq, off = 0;
	struct rec r;

	for (; off < size; off += JOURNAL_REC_HDR + r.len) {
		if (!rec_decode(p + off, size - off, &r))
			break;
		errno = EINVAL;
		if (r.version != REC_VERSION)
			return fail(err, errlen, "%s offset %" PRIu64
			    ": record version %u (this jobqd reads %u)",
			    name, off, r.version, REC_VERSION);
		if (r.id == 0 || jobid_slot(r.id) >= j->capacity)
			return fail(err, errlen, "%s offset %" PRIu64
			    ": job %016" PRIx64 " needs a queue of more than %u slots",
			    name, off, r.id, jobid_slot(r.id));
		if (r.id > j->max_id)
			j->max_id = r.id;
		if (r.type == REC_JOB && r.len > j->max_payload)
			return fail(err, errlen, "%s offset %" PRIu64
			    ": job %016" PRIx64 " has %u bytes, over max_payload",
			    name, off, r.id, r.len);
		if (r.type == REC_JOB)
			slot_set(j, r.id, seq, off, r.len);
		else if (r.type == REC_END && r.len == 0) {
			if (j->slots[jobid_slot(r.id)].id == r.id)
				slot_kill(j, &j->slots[jobid_slot(r.id)]);
		} else
			return fail(err, errlen, "%s offset %" PRIu64
			    ": unknown record type %u", name, off, r.type);
	}
	if (off < size && c->torn != NULL) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", c->path, name);
		c->torn(c->arg, path, off, size - off);
	}
	return 0;
}

/* Open a journal file read-only and map it (*p NULL when empty). */
static int
map_file(struct journal *j, const char *name, int *fd, void **p,
    uint64_t *size)
{
	struct stat st;
	int e;

	*p = NULL;
	if ((*fd = openat(j->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(*fd, &st) == -1)
		goto bad;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto bad;
	}
	*size = (uint64_t)st.st_size;
	if (*size > 0 && (*p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, *fd,
	    0)) == MAP_FAILED) {
		*p = NULL;
		goto bad;
	}
	return 0;
bad:
	e = errno;
	close(*fd);
	errno = e;
	return -1;
}

/* Open, map and apply every journal file, oldest first. */
static int
scan(struct journal *j, const struct journal_config *c, char *err,
    size_t errlen)
{
	uint64_t *seqs = NULL;
	size_t n;
	int rc = 0;

	if (list_files(j, &seqs, &n) == -1)
		return fail(err, errlen, "%s: %s", c->path, strerror(errno));
	for (size_t i = 0; i < n && rc == 0; i++) {
		char name[NAME_LEN + 1];
		uint64_t size;
		void *p;
		int fd;

		file_name(seqs[i], name);
		if (map_file(j, name, &fd, &p, &size) == -1) {
			rc = fail(err, errlen, "%s/%s: %s", c->path, name,
			    strerror(errno));
			break;
		}
		if (files_add(j, seqs[i], fd, size) == -1) {
			rc = fail(err, errlen, "%s", strerror(errno));
			close(fd);
		} else
			rc = scan_file(j, c, name, p, size, err, errlen);
		if (p != NULL)
			munmap(p, size);
	}
	free(seqs);
	return rc;
}

int
journal_open(const struct journal_config *c, struct journal **out, char *err,
    size_t errlen)
{
	struct journal *j;

	*out = NULL;
	if (c->capacity == 0 || c->capacity > (UINT32_C(1) << JOBID_SLOT_BITS) ||
	    c->max_payload == 0 || c->max_payload > UINT32_MAX - JOURNAL_REC_HDR) {
		errno = EINVAL;
		return fail(err, errlen, "journal: bad capacity or max_payload");
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return fail(err, errlen, "%s", strerror(errno));
	j->dirfd = -1;
	j->sync = c->sync;
	j->capacity = c->capacity;
	j->max_payload = c->max_payload;
	j->roll_at = (uint64_t)c->capacity * (JOURNAL_REC_HDR + c->max_payload) / 2;
	j->slots = calloc(c->capacity, sizeof(*j->slots));
	j->buf = malloc(JOURNAL_REC_HDR + (size_t)c->max_payload);
	if (j->slots == NULL || j->buf == NULL) {
		fail(err, errlen, "%s", strerror(errno));
		goto bad;
	}
	if (mkdir(c->path, 0700) == -1 && errno != EEXIST) {
		fail(err, errlen, "%s: %s", c->path, strerror(errno));
		goto bad;
	}
	j->dirfd = open(c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd == -1) {
		fail(err, errlen, "%s: %s", c->path, strerror(errno));
		goto bad;
	}
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) == -1) {
		fail(err, errlen, "%s: %s", c->path, errno == EWOULDBLOCK ?
		    "locked by another process (another jobqd?)" : strerror(errno));
		goto bad;
	}
	if (scan(j, c, err, errlen) == -1)
		goto bad;
	/* files without a live job at the old end are done with */
	while (j->nfiles > 0 && j->files[0].live == 0)
		if (drop_oldest(j) == -1) {
			fail(err, errlen, "%s: unlink: %s", c->path, strerror(errno));
			goto bad;
		}
	if (new_file(j) == -1) {
		fail(err, errlen, "%s: new file: %s", c->path, strerror(errno));
		goto bad;
	}
	*out = j;
	return 0;
bad:
	journal_close(j);
	return -1;
}

void
journal_close(struct journal *j)
{
	int e = errno;

	if (j == NULL)
		return;
	for (uint32_t i = 0; i < j->nfiles; i++)
		close(j->files[i].fd);
	if (j->dirfd != -1)
		close(j->dirfd);
	free(j->files);
	free(j->slots);
	free(j->buf);
	free(j);
	errno = e;
}

/* --- replay, stats ------------------------------------------------------- */

static int
cmp_slot_id(const void *a, const void *b, void *slots)
{
	const struct jslot *s = slots;
	uint64_t x = s[*(const uint32_t *)a].id, y = s[*(const uint32_t *)b].id;

	return (x > y) - (x < y);
}

int
journal_replay(struct journal *j, journal_replay_fn *fn, void *arg)
{
	uint32_t *order, n = 0;
	int rc = 0;

	if ((order = malloc(((size_t)j->live + 1) * sizeof(*order))) == NULL)
		return -1;
	for (uint32_t i = 0; i < j->capacity; i++)
		if (j->slots[i].id != 0)
			order[n++] = i;
	qsort_r(order, n, sizeof(*order), cmp_slot_id, j->slots);
	for (uint32_t k = 0; k < n && rc == 0; k++) {
		const struct jslot *s = &j->slots[order[k]];
		size_t len = JOURNAL_REC_HDR + s->len;
		struct rec r;

		if (pread(file_of(j, s->seq)->fd, j->buf, len, (off_t)s->off) !=
		    (ssize_t)len || !rec_decode(j->buf, len, &r) || r.id != s->id) {
			errno = EIO;
			rc = -1;
			break;
		}
		rc = fn(arg, r.id, r.run_at, j->buf + JOURNAL_REC_HDR, r.len);
	}
	free(order);
	return rc;
}

uint64_t
journal_live_id(const struct journal *j, uint32_t slot)
{
	return slot < j->capacity ? j->slots[slot].id : 0;
}

void
journal_stats(const struct journal *j, struct journal_stats *st)
{
	*st = (struct journal_stats){
		.files = j->nfiles,
		.live = j->live,
		.limit = 5 * j->roll_at,	/* 2*C*R + C*R/2 */
		.max_id = j->max_id,
		.commits = j->commits,
		.reclaimed = j->reclaimed,
		.copied = j->copied,
	};
	for (uint32_t i = 0; i < j->nfiles; i++)
		st->bytes += j->files[i].size;
}
