/*
 * test_llhttp_replay — replay llhttp's strict request corpus
 * (tests/llhttp/, MIT, see its README.md) against the real jobqd binary
 * ($JOBQD_BIN on a loopback port with its own shm name, handler=noop,
 * 2 workers) with tests/llhttp/replay.py, and require all 113 cases to run
 * with "0 failed".  A missing python3 or binary is a failure, not a skip.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/lib/daemon.h"

/* Run replay.py against port; its output's summary and last lines. */
static int replay(int port, char *summary, char *last, size_t len)
{
	const char *src = getenv("JOBQD_SRC");
	char cmd[1024], line[1024];
	FILE *p;
	int status;

	snprintf(cmd, sizeof cmd, "python3 '%s/tests/llhttp/replay.py' 127.0.0.1 %d --timeout 1.5 2>&1",
	    src ? src : ".", port);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	summary[0] = last[0] = '\0';
	while (fgets(line, sizeof line, p) != NULL) {
		fputs(line, stderr);
		if (strstr(line, " cases: ") != NULL)
			snprintf(summary, len, "%s", line);
		snprintf(last, len, "%s", line);
	}
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(llhttp_corpus)
{
	struct daemon d;
	char summary[1024], last[1024];
	int rc;

	ck_assert_msg(system("command -v python3 >/dev/null 2>&1") == 0,
	    "python3 is needed to replay the llhttp corpus");
	/* header/body timeouts above replay.py's own 1.5 s: it decides */
	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=noop",
	    "-o", "workers=2", "-o", "log_level=warn", "-o", "header_timeout=5",
	    "-o", "body_timeout=5", NULL }), 0);
	rc = replay(d.port, summary, last, sizeof last);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
	ck_assert_msg(strncmp(summary, "113 cases: ", 11) == 0, "replay.py summary: %s", summary);
	ck_assert_msg(strstr(last, " 0 failed") != NULL, "replay.py ended with: %s", last);
	ck_assert_int_eq(rc, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("llhttp_replay");
	TCase *tc = tcase_create("corpus");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, llhttp_corpus);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
