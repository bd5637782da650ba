/*
 * test_journal — the journal against the real binary (DURABILITY in
 * jobqd(8)): every job answered 202 survives SIGKILL of every process plus
 * the loss of the segment (a reboot), with its own id; a torn journal tail
 * is logged and what came before it runs; a full disk answers 503 and the
 * daemon takes jobs again once there is room.
 *
 * The exec handler appends its payload to OUT/$JOBQD_JOB_ID, then waits
 * until the file GO exists: until the test says go, every worker holds one
 * job and the rest stay queued, whatever the machine's speed.  The kill
 * is SIGKILL of every process of the daemon (kill_all); the reboot is the
 * segment's removal from /dev/shm.
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define NJOBS		300
#define WORKERS		4
#define WAIT_S		120	/* the bound of every wait for the daemon */

/* One request on a fresh connection: the status, or -1; the body and the
 * Retry-After header (either may be NULL) copied out. */
static int http(int port, const char *method, const char *path, const char *payload,
    char *body, size_t bodylen, char *retry, size_t retrylen)
{
	char req[8192];
	struct hc_resp r;
	const char *ra;
	int status;

	snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, payload ? strlen(payload) : 0, payload ? payload : "");
	status = hc_once(port, req, &r);
	if (body != NULL)
		snprintf(body, bodylen, "%s", r.body != NULL ? r.body : "");
	if (retry != NULL) {
		ra = status > 0 ? hc_header(&r, "Retry-After") : NULL;
		snprintf(retry, retrylen, "%s", ra != NULL ? ra : "");
	}
	hc_resp_free(&r);
	return status;
}

/* POST a payload: the status; the id (16 hex digits) in id on a 202. */
static int post(int port, const char *payload, char id[17])
{
	char body[512];
	int st = http(port, "POST", "/payload", payload, body, sizeof(body), NULL, 0);
	char *p = strstr(body, "\"id\":\"");

	id[0] = '\0';
	if (st == 202 && p != NULL)
		snprintf(id, 17, "%.16s", p + 6);
	return st;
}

/* GET /jobs/id: the status; the body in body. */
static int job_get(int port, const char *id, char *body, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/jobs/%.16s", id);
	return http(port, "GET", path, NULL, body, len, NULL, 0);
}

/* The parent pid of pid, or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *r;
	long ppid = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), fp) != NULL && (r = strrchr(buf, ')')) != NULL &&
	    sscanf(r + 2, "%*c %ld", &ppid) != 1)
		ppid = -1;
	fclose(fp);
	return (pid_t)ppid;
}

/*
 * SIGKILL the master and every process below it (dispatcher, workers,
 * handlers), as a power cut would end them: stop them all first, so none
 * forks or reaps meanwhile, collecting descendants until no new one shows
 * up; then kill them all and reap the master.
 */
static void kill_all(struct daemon *d)
{
	pid_t set[1024];
	size_t n = 0, before;

	ck_assert_int_gt(d->pid, 0);
	set[n++] = d->pid;
	kill(d->pid, SIGSTOP);
	do {
		DIR *dir = opendir("/proc");
		struct dirent *e;

		ck_assert_ptr_nonnull(dir);
		before = n;
		while ((e = readdir(dir)) != NULL && n < 1024) {
			pid_t pid = (pid_t)atol(e->d_name), pp;
			size_t k;
			int known = 0, child = 0;

			if (pid <= 0 || (pp = parent_of(pid)) <= 0)
				continue;
			for (k = 0; k < n; k++) {
				known |= set[k] == pid;
				child |= set[k] == pp;
			}
			if (!known && child) {
				kill(pid, SIGSTOP);
				set[n++] = pid;
			}
		}
		closedir(dir);
	} while (n != before);
	for (size_t k = 0; k < n; k++)
		kill(set[k], SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	/* the others are not our children: wait (bounded) until they are gone */
	for (size_t k = 1; k < n; k++)
		for (int t = 0; t < WAIT_S * 20 && kill(set[k], 0) == 0 &&
		    parent_of(set[k]) != -1; t++) {
			char path[64], st = 0, buf[512], *r;
			FILE *fp;

			snprintf(path, sizeof(path), "/proc/%ld/stat", (long)set[k]);
			if ((fp = fopen(path, "r")) == NULL)
				break;
			if (fgets(buf, sizeof(buf), fp) != NULL && (r = strrchr(buf, ')')) != NULL)
				st = r[2];
			fclose(fp);
			if (st == 'Z' || st == 'X')	/* dead, its fds closed */
				break;
			nap_ms(50);
		}
}

/* The file's content (up to len - 1 bytes), or "" when missing. */
static void slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd == -1 ? 0 : read(fd, buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd != -1)
		close(fd);
}

/* Start d with the journal in DIR/journal, the blocking handler, and extra
 * settings; the handler's files go to DIR/out. */
static void start(struct daemon *d, const char *journal, const char *workers,
    const char *queue)
{
	static char handler[1024], jkey[256], wkey[64], qkey[64];
	const char *extra[] = { "-o", handler, "-o", jkey, "-o", wkey, "-o", qkey, NULL };

	/* the wait ends after about 60 s anyway: no handler outlives a
	 * failed test for long */
	snprintf(handler, sizeof(handler), "handler=exec /bin/sh -c \"cat >> %s/out/$JOBQD_JOB_ID; "
	    "n=0; while [ ! -e %s/go ] && [ $n -lt 3000 ]; do sleep 0.02; n=$((n+1)); done\"",
	    d->dir, d->dir);
	snprintf(jkey, sizeof(jkey), "journal=%s", journal);
	snprintf(wkey, sizeof(wkey), "workers=%s", workers);
	snprintf(qkey, sizeof(qkey), "queue=%s", queue);
	ck_assert_int_eq(daemon_run(d, extra), 0);
}

/* Wait until no job is queued or running (GET /status). */
static int idle_wait(int port)
{
	char body[8192];

	for (int t = 0; t < WAIT_S * 10; t++) {
		if (http(port, "GET", "/status", NULL, body, sizeof(body), NULL, 0) == 200 &&
		    strstr(body, "\"depth\":0,\"running\":0") != NULL)
			return 1;
		nap_ms(100);
	}
	return 0;
}

/* A few hundred jobs answered 202, then SIGKILL of every process and the
 * segment removed (a reboot): all of them run after the restart, with
 * their ids; only the jobs running at the kill run twice. */
START_TEST(test_jobs_survive_kill_and_lost_segment)
{
	static char ids[NJOBS][17];
	struct daemon d;
	char journal[256], path[512], buf[256], want[64], body[1024];
	int dups = 0;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(journal, sizeof(journal), "%s/journal", d.dir);
	snprintf(path, sizeof(path), "%s/out", d.dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	start(&d, journal, "4", "512");
	for (int i = 0; i < NJOBS; i++) {
		snprintf(buf, sizeof(buf), "job-%d.", i);
		ck_assert_int_eq(post(d.port, buf, ids[i]), 202);
	}
	kill_all(&d);
	ck_assert_int_eq(shm_unlink(d.shm), 0);

	start(&d, journal, "4", "512");
	snprintf(want, sizeof(want), ": %d jobs recovered from the journal", NJOBS);
	ck_assert_msg(daemon_log_wait(&d, want, WAIT_S), "no \"%s\" in the log", want);
	/* the ids are the ones answered, before a job of them runs again */
	for (int i = 0; i < NJOBS; i += 37)
		ck_assert_int_eq(job_get(d.port, ids[i], body, sizeof(body)), 200);
	snprintf(path, sizeof(path), "%s/go", d.dir);
	close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	ck_assert_msg(idle_wait(d.port), "the jobs never finished");
	for (int i = 0; i < NJOBS; i++) {
		char once[64], got[256];

		snprintf(once, sizeof(once), "job-%d.", i);
		snprintf(path, sizeof(path), "%s/out/%s", d.dir, ids[i]);
		slurp(path, got, sizeof(got));
		snprintf(buf, sizeof(buf), "%s%s", once, once);
		ck_assert_msg(strcmp(got, once) == 0 || strcmp(got, buf) == 0,
		    "job %d (%s) ran as \"%s\"", i, ids[i], got);
		dups += strcmp(got, buf) == 0;
		ck_assert_int_eq(job_get(d.port, ids[i], body, sizeof(body)), 200);
		ck_assert_msg(strstr(body, "\"state\":\"done\"") != NULL, "job %s: %s", ids[i], body);
	}
	ck_assert_msg(dups <= WORKERS, "%d jobs ran twice; at most %d were running", dups, WORKERS);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* The highest-numbered journal file in dir (its path), and its size. */
static off_t last_file(const char *dir, char *path, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char best[256] = "";
	struct stat st;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".jnl") != NULL && strcmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	closedir(d);
	snprintf(path, len, "%s/%s", dir, best);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* A journal cut in the middle of its last record (a power cut during the
 * write): start-up says where, and the jobs before it run. */
START_TEST(test_torn_tail)
{
	struct daemon d;
	char journal[256], path[512], file[512], buf[64], want[768], body[1024];
	char ids[10][17];
	off_t size;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(journal, sizeof(journal), "%s/journal", d.dir);
	snprintf(path, sizeof(path), "%s/out", d.dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	start(&d, journal, "1", "16");
	for (int i = 0; i < 10; i++) {
		snprintf(buf, sizeof(buf), "job-%d.", i);
		ck_assert_int_eq(post(d.port, buf, ids[i]), 202);
	}
	kill_all(&d);
	ck_assert_int_eq(shm_unlink(d.shm), 0);
	/* the last record: 32 bytes of header + "job-9." */
	size = last_file(journal, file, sizeof(file));
	ck_assert_int_eq(truncate(file, size - 10), 0);

	start(&d, journal, "1", "16");
	snprintf(want, sizeof(want), "journal %s: torn or corrupt record at offset %lld, "
	    "28 bytes ignored", file, (long long)(size - 38));
	ck_assert_msg(daemon_log_wait(&d, want, WAIT_S), "no \"%s\" in the log", want);
	ck_assert(daemon_log_contains(&d, ": 9 jobs recovered from the journal"));
	snprintf(path, sizeof(path), "%s/go", d.dir);
	close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	ck_assert_msg(idle_wait(d.port), "the jobs never finished");
	for (int i = 0; i < 9; i++) {
		ck_assert_int_eq(job_get(d.port, ids[i], body, sizeof(body)), 200);
		ck_assert_msg(strstr(body, "\"state\":\"done\"") != NULL, "job %s: %s", ids[i], body);
	}
	ck_assert_int_eq(job_get(d.port, ids[9], body, sizeof(body)), 404);
	snprintf(path, sizeof(path), "%s/out/%s", d.dir, ids[9]);
	ck_assert_int_eq(access(path, F_OK), -1);	/* it was never queued */
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* Requests pipelined on one connection and spread over several: each job
 * is committed before its 202, the answers come in order, every job runs
 * once. */
START_TEST(test_pipelined)
{
	struct daemon d;
	char journal[256], jkey[300], req[64 * 128], id[17], body[1024];
	const char *extra[] = { "-o", "handler=noop", "-o", jkey, "-o", "queue=256",
	    "-o", "workers=2", NULL };
	struct hc *c[4];
	size_t len = 0;
	int n = 0;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(journal, sizeof(journal), "%s/journal", d.dir);
	snprintf(jkey, sizeof(jkey), "journal=%s", journal);
	ck_assert_int_eq(daemon_run(&d, extra), 0);
	for (int i = 0; i < 64; i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len, "POST /payload HTTP/1.1\r\n"
		    "Host: t\r\nContent-Length: 2\r\n\r\n%02d", i);
	for (int k = 0; k < 4; k++) {
		ck_assert_ptr_nonnull(c[k] = hc_open(d.port));
		ck_assert_int_eq(hc_send(c[k], req, len), 0);
	}
	for (int i = 0; i < 64; i++)
		for (int k = 0; k < 4; k++) {
			struct hc_resp r;
			char *p;

			ck_assert_int_eq(hc_read(c[k], &r, 0, 10000), 0);
			ck_assert_int_eq(r.status, 202);
			ck_assert_ptr_nonnull(p = strstr(r.body, "\"id\":\""));
			snprintf(id, sizeof(id), "%.16s", p + 6);
			hc_resp_free(&r);
			if (i == 63)	/* the last ones: known and finished below */
				n += job_get(d.port, id, body, sizeof(body)) == 200;
		}
	for (int k = 0; k < 4; k++)
		hc_close(c[k]);
	ck_assert_int_eq(n, 4);
	ck_assert_msg(idle_wait(d.port), "the jobs never finished");
	ck_assert_int_eq(http(d.port, "GET", "/status", NULL, body, sizeof(body), NULL, 0), 200);
	ck_assert_msg(strstr(body, "\"accepted\":256,\"completed\":256,") != NULL, "%s", body);
	ck_assert_int_eq(daemon_stop(&d), 0);
	/* a clean stop: every completion is in the journal, nothing comes back */
	ck_assert_int_eq(shm_unlink(d.shm) == 0 || errno == ENOENT, 1);
	ck_assert_int_eq(daemon_run(&d, extra), 0);
	ck_assert(daemon_log_wait(&d, ": 0 jobs recovered from the journal", WAIT_S));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* --- a full disk: a small tmpfs under the journal ------------------------- */

static char full_dir[128];	/* the mount point (parent process's fixture) */

static void full_setup(void)
{
	snprintf(full_dir, sizeof(full_dir), "/tmp/jobqd-test-jfull-%ld", (long)getpid());
	if (mkdir(full_dir, 0700) == -1 ||
	    mount("tmpfs", full_dir, "tmpfs", 0, "size=256k,mode=0700") == -1) {
		fprintf(stderr, "test_journal: mount tmpfs on %s: %s\n", full_dir, strerror(errno));
		full_dir[0] = '\0';
	}
}

/* Runs in the parent even when the test failed: the mount never stays. */
static void full_teardown(void)
{
	if (full_dir[0] == '\0')
		return;
	if (umount2(full_dir, MNT_DETACH) == -1)
		fprintf(stderr, "test_journal: umount %s: %s\n", full_dir, strerror(errno));
	rmdir(full_dir);
}

/* The disk fills: 503 with Retry-After, the job does not exist, the log
 * says why; space comes back: 202 again and the jobs run. */
START_TEST(test_disk_full)
{
	struct daemon d;
	char journal[256], filler[256], jkey[300], payload[1501], id[17], body[1024],
	    retry[32], want[64];
	const char *extra[] = { "-o", "handler=noop", "-o", jkey, "-o", "queue=8",
	    "-o", "max_payload=2048", "-o", "workers=2", NULL };
	int accepted = 0, st = 0, fd;
	static char block[4096];

	if (geteuid() != 0 || full_dir[0] == '\0') {
		fprintf(stderr, "test_disk_full: skipped (needs root to mount a tmpfs)\n");
		return;
	}
	snprintf(journal, sizeof(journal), "%s/journal", full_dir);
	snprintf(jkey, sizeof(jkey), "journal=%s", journal);
	snprintf(filler, sizeof(filler), "%s/filler", full_dir);
	memset(payload, 'p', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	ck_assert_int_eq(daemon_start(&d, extra), 0);
	/* fill every free page of the file system */
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ne(fd, -1);
	while (write(fd, block, sizeof(block)) > 0)
		;
	ck_assert_int_eq(errno, ENOSPC);
	close(fd);
	/* what is left of the journal file's last page goes, then 503 */
	for (int i = 0; i < 100 && (st = http(d.port, "POST", "/payload", payload, body,
	    sizeof(body), retry, sizeof(retry))) == 202; i++)
		accepted++;
	ck_assert_int_eq(st, 503);
	ck_assert_msg(strstr(body, "journal write failed") != NULL, "got %s", body);
	ck_assert_str_eq(retry, "1");
	ck_assert(daemon_log_wait(&d, "journal: write failed", WAIT_S));
	ck_assert_msg(idle_wait(d.port), "the accepted jobs never finished");
	/* the refused job never existed: only the 202s were accepted */
	snprintf(want, sizeof(want), "\"accepted\":%d,", accepted);
	ck_assert_int_eq(http(d.port, "GET", "/status", NULL, body, sizeof(body), NULL, 0), 200);
	ck_assert_msg(strstr(body, want) != NULL, "want %s in %s", want, body);
	/* room again: the daemon takes jobs at once, and they run */
	ck_assert_int_eq(unlink(filler), 0);
	ck_assert_int_eq(post(d.port, payload, id), 202);
	ck_assert_msg(idle_wait(d.port), "the job never finished");
	ck_assert_int_eq(job_get(d.port, id, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"done\"") != NULL, "job %s: %s", id, body);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("restart");
	TCase *full = tcase_create("disk_full");

	tcase_set_timeout(tc, 2 * WAIT_S);
	tcase_add_test(tc, test_jobs_survive_kill_and_lost_segment);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_pipelined);
	suite_add_tcase(s, tc);
	tcase_set_timeout(full, 2 * WAIT_S);
	tcase_add_unchecked_fixture(full, full_setup, full_teardown);
	tcase_add_test(full, test_disk_full);
	suite_add_tcase(s, full);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
