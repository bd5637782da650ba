/*
 * pidfile — write, check and remove the master's pidfile (see pidfile.h).
 *
 * A pidfile naming a dead process is stale and replaced; one naming a live
 * process other than us makes start-up refuse.  The file is locked while it
 * is checked and written so two starting daemons cannot both win.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/pidfile.h"

/* The pid in the file open at fd, or 0 if none can be read. */
static long read_pid(int fd)
{
	char buf[32];
	ssize_t n;
	char *end;
	long pid;

	do
		n = pread(fd, buf, sizeof(buf) - 1, 0);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 0 || (*end != '\n' && *end != '\0'))
		return 0;
	return pid;
}

int pidfile_check(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	long pid;

	if (fd == -1)
		return 0;	/* none yet; pidfile_write reports real errors */
	pid = read_pid(fd);
	close(fd);
	if (pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
		snprintf(err, errlen, "pidfile %s: jobqd is already running as pid %ld",
		    path, pid);
		return -1;
	}
	return 0;
}

int pidfile_write(const char *path, char *err, size_t errlen)
{
	char buf[32];
	long old;
	int fd, n, r;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) == -1) {
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	while ((r = flock(fd, LOCK_EX | LOCK_NB)) == -1 && errno == EINTR)
		;
	if (r == -1) {
		snprintf(err, errlen, "pidfile %s: locked by another starting jobqd", path);
		goto fail;
	}
	old = read_pid(fd);
	if (old > 0 && old != (long)getpid() &&
	    (kill((pid_t)old, 0) == 0 || errno == EPERM)) {
		snprintf(err, errlen, "pidfile %s: jobqd is already running as pid %ld",
		    path, old);
		goto fail;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	/* 0644 whatever the umask: init scripts read it as anyone, and we
	 * read it again at exit as the daemon's user to remove it */
	if (fchmod(fd, 0644) == -1 || ftruncate(fd, 0) == -1 ||
	    pwrite(fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);	/* drops the lock */
	return 0;
fail:
	close(fd);
	return -1;
}

int pidfile_remove(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	long pid;

	if (fd == -1)
		return -1;
	pid = read_pid(fd);
	close(fd);
	if (pid != (long)getpid()) {
		errno = ESRCH;
		return -1;
	}
	return unlink(path);
}

int pidfile_make_parents(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	char dir[4096], *name, *save = NULL, *slash;
	struct stat st;
	int fd, sub;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &st) == 0)
		return 0;
	if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	/* One component at a time from a directory fd: what we made is
	 * opened without following a link before it is given away. */
	for (name = strtok_r(dir, "/", &save); name != NULL; name = strtok_r(NULL, "/", &save)) {
		int made = mkdirat(fd, name, 0755) == 0;

		if (!made && errno != EEXIST)
			break;
		sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (made ? O_NOFOLLOW : 0));
		close(fd);
		if ((fd = sub) == -1 ||
		    (made && (fchown(fd, uid, gid) == -1 || fchmod(fd, 0755) == -1)))
			break;
	}
	if (name == NULL) {
		close(fd);
		return 0;
	}
	if (fd != -1)
		close(fd);
fail:
	snprintf(err, errlen, "creating the directory of %s: %s", path, strerror(errno));
	return -1;
}
