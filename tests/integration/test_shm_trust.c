/*
 * test_shm_trust — the shared-memory segment as a hostile local user or a
 * rogue process of the daemon's user would treat it, against the real
 * jobqd binary.
 *
 *   refuse    a segment name taken first by an object of another user, or
 *             open to others (mode 0666, the squatter keeping its fd
 *             open): jobqd exits 1 with one line naming the segment, its
 *             owner and mode, and leaves the object alone
 *   corrupt   entries of the free ring and of the ready ring of a live
 *             daemon rewritten (through the segment.h layout, as root)
 *             where no process is using them: the master keeps answering,
 *             the good entries are still used, the daemon stays alive, and
 *             each process logs the first bad value once; slots the
 *             rewritten rings lost (every free entry, or queued jobs'
 *             ready entries) come back within seconds: the master restarts
 *             the dispatcher to rebuild the rings; a queued job's
 *             payload_len rewritten beyond max_payload fails its attempt.  (Rewritten ring
 *             headers are test_segment's: on a live daemon they race with
 *             a pop in progress.)
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/ring.h"
#include "common/segment.h"
#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NOBODY 65534

/* Sleep ms milliseconds (between polls of a condition). */
static void nap(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Lines of the daemon's log that contain s. */
static int log_count(const struct daemon *d, const char *s)
{
	FILE *fp = fopen(d->log, "r");
	char line[2048];
	int n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, s) != NULL;
	fclose(fp);
	return n;
}

/* One request on a fresh connection: the status, or -1; the body in body. */
static int http(int port, const char *method, const char *path, const char *payload,
    char *body, size_t bodylen)
{
	char req[1024];
	struct hc_resp r;
	int status;

	snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, payload ? strlen(payload) : 0, payload ? payload : "");
	status = hc_once(port, req, &r);
	if (body != NULL)
		snprintf(body, bodylen, "%s", r.body != NULL ? r.body : "");
	hc_resp_free(&r);
	return status;
}

/* POST a payload: the status; the job id in id. */
static int post(int port, char id[JOBID_STRLEN + 1])
{
	char body[512];
	int st = http(port, "POST", "/payload", "x", body, sizeof(body));
	char *p = strstr(body, "\"id\":\"");

	id[0] = '\0';
	if (st == 202 && p != NULL)
		snprintf(id, JOBID_STRLEN + 1, "%.16s", p + 6);
	return st;
}

/* Wait up to secs for GET /jobs/id to contain want; 1 if it does. */
static int job_is(int port, const char *id, const char *want, int secs)
{
	char path[64], body[2048];

	snprintf(path, sizeof(path), "/jobs/%s", id);
	for (int i = 0; i < secs * 20; i++, nap(50))
		if (http(port, "GET", path, NULL, body, sizeof(body)) == 200 &&
		    strstr(body, want) != NULL)
			return 1;
	return 0;
}

static int job_done(int port, const char *id, int secs)
{
	return job_is(port, id, "\"state\":\"done\"", secs);
}

/* Wait up to secs for process pid to be stopped (T in /proc/pid/stat). */
static int stopped(pid_t pid, int secs)
{
	char path[64], buf[512];

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	for (int i = 0; i < secs * 20; i++, nap(50)) {
		FILE *fp = fopen(path, "r");
		char *r;
		int ok = 0;

		if (fp == NULL)
			return 0;
		if (fgets(buf, sizeof(buf), fp) != NULL && (r = strrchr(buf, ')')) != NULL)
			ok = r[2] == 'T' || r[2] == 't';
		fclose(fp);
		if (ok)
			return 1;
	}
	return 0;
}

/* --- refuse ----------------------------------------------------------------- */

static const struct {
	const char *name;
	uid_t uid;		/* NOBODY, or 0 for ours */
	mode_t mode;
} squats[] = {
	{ "ours, mode 0666", 0, 0666 },
	{ "nobody's, mode 0600", NOBODY, 0600 },
};

/* Run jobqd on d until it exits; the wait status, or -1 after secs. */
static int run_to_exit(struct daemon *d, int secs)
{
	const char *bin = getenv("JOBQD_BIN");
	char listen[64], shm[96], log[256];
	pid_t pid;

	ck_assert_ptr_nonnull(bin);
	snprintf(listen, sizeof(listen), "listen=127.0.0.1:%d", d->port);
	snprintf(shm, sizeof(shm), "shm_name=%s", d->shm);
	snprintf(log, sizeof(log), "log=%s", d->log);
	if ((pid = fork()) == 0) {
		execl(bin, bin, "-o", listen, "-o", shm, "-o", log, "-o", "handler=noop",
		    (char *)NULL);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	for (int i = 0; i < secs * 20; i++, nap(50)) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

START_TEST(test_refuse_squatted)
{
	struct daemon d;
	struct stat before, after;
	char want[160];
	int fd, st;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	/* the squatter creates the name first and keeps it open */
	fd = shm_open(d.shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_msg(fd != -1, "shm_open %s: %s", d.shm, strerror(errno));
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	ck_assert_int_eq(fchmod(fd, squats[_i].mode), 0);
	if (squats[_i].uid == NOBODY)
		ck_assert_int_eq(fchown(fd, NOBODY, NOBODY), 0);
	ck_assert_int_eq(fstat(fd, &before), 0);

	st = run_to_exit(&d, 30);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
	    "%s: jobqd status %#x, want exit 1", squats[_i].name, st);
	snprintf(want, sizeof(want), "error: shared memory %s belongs to uid %ld with mode %04o;",
	    d.shm, (long)before.st_uid, (unsigned)squats[_i].mode);
	ck_assert_msg(log_count(&d, want) == 1, "%s: want one log line with \"%s\"",
	    squats[_i].name, want);
	ck_assert_msg(log_count(&d, "error:") == 1, "%s: want exactly one error line",
	    squats[_i].name);
	ck_assert_int_eq(fstat(fd, &after), 0);
	ck_assert_msg(after.st_nlink == 1 && after.st_uid == before.st_uid &&
	    after.st_mode == before.st_mode && after.st_size == 4096,
	    "%s: jobqd changed the squatter's object", squats[_i].name);
	close(fd);
	daemon_cleanup(&d);
}
END_TEST

/* --- corrupt ------------------------------------------------------------- */

/* Wait up to secs for POST /payload to be accepted (retried on 503);
 * the job id in id. */
static int post_accepted(int port, char id[JOBID_STRLEN + 1], int secs)
{
	for (int i = 0; i < secs * 20; i++, nap(50)) {
		int st = post(port, id);

		if (st == 202)
			return 1;
		ck_assert_int_eq(st, 503);
	}
	return 0;
}

/* The live daemon's segment, mapped as the test (root) can. */
struct live {
	void *base;
	size_t size;
	struct seg_header *h;
	struct ring_shm *ready, *freer;
};

static void live_map(struct live *l, const char *name)
{
	int fd = shm_open(name, O_RDWR, 0);
	struct stat st;

	ck_assert_msg(fd != -1, "shm_open %s: %s", name, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	l->size = (size_t)st.st_size;
	l->base = mmap(NULL, l->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert(l->base != MAP_FAILED);
	close(fd);
	l->h = l->base;
	l->ready = (struct ring_shm *)((char *)l->base + l->h->ready_off);
	l->freer = (struct ring_shm *)((char *)l->base + l->h->free_off);
}

/* Rewrite every entry ring m holds with v. */
static void rewrite_all(struct ring_shm *m, uint32_t v)
{
	uint32_t head = atomic_load(&m->head), tail = atomic_load(&m->tail);

	ck_assert_uint_gt(tail - head, 0);
	for (uint32_t k = head; k != tail; k++)
		m->v[k & m->mask] = v;
}

/* Rewrite the next n entries of ring m (which must hold more than n). */
static void rewrite_entries(struct ring_shm *m, const uint32_t *vals, uint32_t n)
{
	uint32_t head = atomic_load(&m->head);

	ck_assert_uint_gt(atomic_load(&m->tail) - head, n);
	for (uint32_t k = 0; k < n; k++)
		m->v[(head + k) & m->mask] = vals[k];
}

START_TEST(test_corrupt_live)
{
	struct daemon d;
	struct live l;
	char id[JOBID_STRLEN + 1], ids[3][JOBID_STRLEN + 1];
	uint32_t cap;
	uint64_t job;
	struct slot *sl;
	pid_t disp;
	int st;

	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=noop",
	    "-o", "queue=8", "-o", "workers=1", "-o", "max_attempts=1",
	    "-o", "drain_timeout=1", NULL }), 0);
	live_map(&l, d.shm);
	cap = l.h->capacity;
	ck_assert_uint_eq(cap, 8);
	ck_assert_int_eq(post(d.port, id), 202);
	ck_assert(job_done(d.port, id, 10));

	/* free ring: the master pops two bad entries, then a good one */
	rewrite_entries(l.freer, (const uint32_t[]){ 0xfffffff0u, cap + 7 }, 2);
	ck_assert_int_eq(post(d.port, id), 202);
	ck_assert(job_done(d.port, id, 10));
	ck_assert(daemon_log_wait(&d, "master: warn: shared memory: free ring entry 4294967280", 5));
	rewrite_entries(l.freer, (const uint32_t[]){ cap, 0x80000000u }, 2);
	ck_assert_int_eq(post(d.port, id), 202);
	ck_assert(job_done(d.port, id, 10));

	/* every free entry rewritten: the queue seems full with no job in
	 * it, until the master has the rings rebuilt */
	disp = daemon_child_named(d.pid, "dispatcher");
	rewrite_all(l.freer, cap + 1);
	ck_assert_int_eq(post(d.port, id), 503);
	ck_assert(post_accepted(d.port, id, 30));
	ck_assert(job_done(d.port, id, 10));
	ck_assert_int_eq(log_count(&d, "restarting the dispatcher to rebuild them"), 1);
	ck_assert_int_ne(daemon_child_named(d.pid, "dispatcher"), disp);

	/* ready ring: with the dispatcher stopped, three jobs wait on it;
	 * the first two entries are rewritten, the third job still runs;
	 * the other two once the rings are rebuilt */
	disp = daemon_child_named(d.pid, "dispatcher");
	ck_assert_int_gt(disp, 0);
	ck_assert_int_eq(kill(disp, SIGSTOP), 0);
	ck_assert(stopped(disp, 10));
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(post(d.port, ids[k]), 202);
	rewrite_entries(l.ready, (const uint32_t[]){ 0xfffffff0u, cap + 3 }, 2);
	ck_assert_int_eq(kill(disp, SIGCONT), 0);
	ck_assert(job_done(d.port, ids[2], 10));
	ck_assert(daemon_log_wait(&d, "dispatcher: warn: shared memory: ready ring entry 4294967280", 5));
	ck_assert(job_done(d.port, ids[0], 30));
	ck_assert(job_done(d.port, ids[1], 10));
	ck_assert_int_eq(log_count(&d, "restarting the dispatcher to rebuild them"), 2);
	disp = daemon_child_named(d.pid, "dispatcher");
	ck_assert_int_gt(disp, 0);

	/* a queued job's payload_len rewritten: its attempt fails */
	ck_assert_int_eq(kill(disp, SIGSTOP), 0);
	ck_assert(stopped(disp, 10));
	ck_assert_int_eq(post(d.port, id), 202);
	ck_assert_int_eq(jobid_parse(id, JOBID_STRLEN, &job), 0);
	sl = (struct slot *)((char *)l.base + l.h->slots_off +
	    (uint64_t)jobid_slot(job) * l.h->slot_size);
	sl->payload_len = UINT32_MAX;
	ck_assert_int_eq(kill(disp, SIGCONT), 0);
	ck_assert(job_is(d.port, id, "\"state\":\"failed\"", 10));
	ck_assert(job_is(d.port, id, "\"exit_status\":-1", 1));
	ck_assert(daemon_log_wait(&d, "worker 0: warn: shared memory: slot", 5));
	ck_assert_int_eq(log_count(&d, "payload_len 4294967295"), 1);

	/* alive and answering; each process said it once */
	ck_assert_int_eq(http(d.port, "GET", "/healthz", NULL, NULL, 0), 200);
	ck_assert_int_eq(waitpid(d.pid, &st, WNOHANG), 0);
	ck_assert_int_eq(daemon_child_named(d.pid, "dispatcher"), disp);
	ck_assert_int_eq(log_count(&d, "master: warn: shared memory:"), 1);
	ck_assert_int_eq(log_count(&d, "dispatcher: warn: shared memory:"), 1);
	munmap(l.base, l.size);
	st = daemon_stop(&d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "stop: status %#x", st);
	daemon_cleanup(&d);
}
END_TEST

static Suite *shm_trust_suite(void)
{
	Suite *s = suite_create("shm_trust");
	TCase *tc = tcase_create("refuse");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_refuse_squatted, 0, (int)NELEM(squats));
	suite_add_tcase(s, tc);
	tc = tcase_create("corrupt");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_corrupt_live);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(shm_trust_suite());
	int failed;

	if (geteuid() != 0)
		fprintf(stderr, "test_shm_trust: not root: the cases need to chown and map "
		    "another user's segment\n");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
