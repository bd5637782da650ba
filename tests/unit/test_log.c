/*
 * test_log — Check suite for common/log.c.
 *
 * escape    control bytes and '\' in a message (from a job or a client)
 *           come out as C escapes on every target, so no line can be
 *           forged, hidden or split; UTF-8 is kept; a long message is cut
 *           between escapes, never inside one.
 * journal   with JOURNAL_STREAM naming stderr's device:inode, lines start
 *           with the sd-daemon(3) priority and carry no "jobqd[PID]: ";
 *           without it, or when it names another file, they do not.
 * tee       log_tee_stderr copies errors and warnings, not info, to stderr.
 * early     log_early writes "jobqd: message", with the priority under
 *           journald.
 *
 * Each test runs in its own Check process (fork mode), so pointing fd 2
 * at a file and setting JOURNAL_STREAM stays inside the test.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

static char dir[64];

/* A fresh temp dir and the path of a file in it. */
static void tmp_path(char *path, size_t n, const char *name)
{
	snprintf(dir, sizeof(dir), "/tmp/jobqd-log-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, n, "%s/%s", dir, name);
}

/* The whole file at path (static buffer). */
static const char *slurp(const char *path)
{
	static char buf[16384];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ne(fd, -1);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

/* Point stderr at a new file path; journal: set JOURNAL_STREAM to it. */
static void stderr_to(const char *path, int journal)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	struct stat st;
	char js[64];

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (journal ? 0 : 1));
	ck_assert_int_eq(setenv("JOURNAL_STREAM", js, 1), 0);
}

static const struct {
	const char *in, *out;
} escapes[] = {
	{ "plain text", "plain text" },
	{ "\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m" },
	{ "ok\rjobqd[1]: master: error: forged", "ok\\rjobqd[1]: master: error: forged" },
	{ "one\ntwo", "one\\ntwo" },
	{ "a\tb\x7f\x01", "a\\tb\\x7f\\x01" },
	{ "back\\slash", "back\\\\slash" },
	{ "caf\xc3\xa9", "caf\xc3\xa9" },
};

START_TEST(test_escape_file)
{
	char path[128], want[256];

	tmp_path(path, sizeof(path), "log");
	ck_assert_int_eq(log_open(path, LOG_LEVEL_INFO), 0);
	log_info("job 1: %s", escapes[_i].in);
	snprintf(want, sizeof(want), "master: info: job 1: %s\n", escapes[_i].out);
	const char *got = slurp(path);
	size_t gl = strlen(got), wl = strlen(want);

	ck_assert_msg(gl >= wl && strcmp(got + gl - wl, want) == 0,
	    "logged \"%s\", want it to end with \"%s\"", got, want);
	ck_assert_int_eq(strchr(got, '\n') - got, (long)gl - 1);	/* one line */
	unlink(path);
	rmdir(dir);
}
END_TEST

/* A message of escapes only, far over the line size: one line, cut
 * between two escapes. */
START_TEST(test_escape_truncated)
{
	char path[128], big[1000];

	memset(big, '\x1b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tmp_path(path, sizeof(path), "log");
	ck_assert_int_eq(log_open(path, LOG_LEVEL_INFO), 0);
	log_info("%s", big);
	const char *got = slurp(path), *m = strstr(got, "info: ");
	size_t len = strlen(got);

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(got[len - 1], '\n');
	ck_assert_ptr_eq(strchr(got, '\n'), got + len - 1);
	m += strlen("info: ");
	ck_assert_int_eq((got + len - 1 - m) % 4, 0);
	for (const char *p = m; p < got + len - 1; p += 4)
		ck_assert_msg(strncmp(p, "\\x1b", 4) == 0, "cut inside an escape at %s", p);
	unlink(path);
	rmdir(dir);
}
END_TEST

static const struct {
	void (*fn)(const char *, ...);
	const char *prefix;
} prios[] = {
	{ log_errorx, "<3>master: error: " },
	{ log_warnx, "<4>master: warn: " },
	{ log_info, "<6>master: info: " },
	{ log_debug, "<7>master: debug: " },
};

START_TEST(test_journal_prefix)
{
	char path[128], want[128];

	tmp_path(path, sizeof(path), "stderr");
	stderr_to(path, 1);
	ck_assert_int_eq(log_open("stderr", LOG_LEVEL_DEBUG), 0);
	prios[_i].fn("hello \x1b");
	snprintf(want, sizeof(want), "%shello \\x1b\n", prios[_i].prefix);
	ck_assert_str_eq(slurp(path), want);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* JOURNAL_STREAM names another file (stderr was redirected): no prefix. */
START_TEST(test_not_journal)
{
	char path[128], want[128];

	tmp_path(path, sizeof(path), "stderr");
	stderr_to(path, 0);
	ck_assert_int_eq(log_open("stderr", LOG_LEVEL_INFO), 0);
	log_warnx("hello");
	snprintf(want, sizeof(want), "jobqd[%ld]: master: warn: hello\n", (long)getpid());
	ck_assert_str_eq(slurp(path), want);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_tee)
{
	char path[128], err[128], want[256];

	tmp_path(path, sizeof(path), "log");
	snprintf(err, sizeof(err), "%s/stderr", dir);
	stderr_to(err, 0);
	ck_assert_int_eq(log_open(path, LOG_LEVEL_INFO), 0);
	log_tee_stderr(1);
	log_info("starting");
	log_errorx("listen 127.0.0.1:1: busy\r");
	log_tee_stderr(0);
	log_errorx("after the start");
	snprintf(want, sizeof(want), "jobqd: master: error: listen 127.0.0.1:1: busy\\r\n");
	ck_assert_str_eq(slurp(err), want);
	ck_assert_ptr_nonnull(strstr(slurp(path), "info: starting\n"));
	ck_assert_ptr_nonnull(strstr(slurp(path), "error: after the start\n"));
	unlink(path);
	unlink(err);
	rmdir(dir);
}
END_TEST

START_TEST(test_early)
{
	char path[128];

	tmp_path(path, sizeof(path), "stderr");
	stderr_to(path, _i);
	log_early(LOG_LEVEL_ERROR, "%s", "/etc/jobqd.conf:3: workers: bad\x1b");
	ck_assert_str_eq(slurp(path), _i ? "<3>jobqd: /etc/jobqd.conf:3: workers: bad\\x1b\n"
	    : "jobqd: /etc/jobqd.conf:3: workers: bad\\x1b\n");
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

	tc = tcase_create("escape");
	tcase_add_loop_test(tc, test_escape_file, 0, (int)(sizeof(escapes) / sizeof(escapes[0])));
	tcase_add_test(tc, test_escape_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("journal");
	tcase_add_loop_test(tc, test_journal_prefix, 0, (int)(sizeof(prios) / sizeof(prios[0])));
	tcase_add_test(tc, test_not_journal);
	tcase_add_test(tc, test_tee);
	tcase_add_loop_test(tc, test_early, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
