/*
 * child — fork a test helper that dies with the test (see child.h).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "tests/lib/child.h"

pid_t test_fork(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	ck_assert_msg(pid != -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);	/* the test died before the prctl */
	}
	return pid;
}
