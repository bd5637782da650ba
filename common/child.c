/*
 * child — set up a forked jobqd process (see child.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/child.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/proctitle.h"

void child_setup(const char *role, const int *keep, size_t n)
{
	int fds[CHILD_KEEP_MAX + 1];

	if (n > CHILD_KEEP_MAX)
		fatalx("%s: %zu fds to keep, at most %d", role, n, CHILD_KEEP_MAX);
	log_set_role(role);
	for (size_t i = 0; i < n; i++)
		fds[i] = keep[i];
	if (log_fd() >= 0)
		fds[n++] = log_fd();
	log_after_fork();
	if (fd_keep_only(fds, n) == -1)
		fatal("%s: closing inherited fds", role);
	proctitle_set("jobqd: %s", role);	/* last: named = holds nothing else */
}

/* child_sched_batch changed the policy (inherited by its forks) */
static int sched_changed;

void child_sched_batch(void)
{
	struct sched_param none = { 0 };

	if (sched_getscheduler(0) == SCHED_OTHER && sched_setscheduler(0, SCHED_BATCH, &none) == 0)
		sched_changed = 1;
}

void child_sched_restore(void)
{
	struct sched_param none = { 0 };

	if (sched_changed)
		(void)sched_setscheduler(0, SCHED_OTHER, &none);
}

int child_kill(pid_t pid)
{
	char path[64], buf[256], *p, *end;
	ssize_t n = 0;
	int fd, r = 0, saved;

	/* Its children first, while it still has them: read, then kill. */
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {	/* else PDEATHSIG remains */
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (killpg(pid, SIGKILL) == -1 && kill(pid, SIGKILL) == -1)
		r = -1;
	saved = errno;
	buf[n > 0 ? n : 0] = '\0';
	for (p = buf;; p = end) {
		long c = strtol(p, &end, 10);

		if (end == p)
			break;
		if (c > 0)
			(void)killpg((pid_t)c, SIGKILL);	/* ESRCH: not its group yet, died with pid's */
	}
	errno = saved;
	return r;
}
