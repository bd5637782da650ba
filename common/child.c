/*
 * child — set up a forked jobqd process (see child.h).
 */
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
