/*
 * log — err(3)-shaped logging (see log.h).
 *
 * Each line is formatted into one buffer and written with a single write(2)
 * so lines from the master, the dispatcher and the workers sharing a file
 * or stderr never interleave (O_APPEND, under PIPE_BUF for the usual line).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

enum log_target { TARGET_STDERR, TARGET_FILE, TARGET_SYSLOG };

static enum log_target target = TARGET_STDERR;
static enum log_level threshold = LOG_LEVEL_INFO;
static int file_fd = -1;
static char file_path[1024];
static char role[64] = "master";
static unsigned seen_generation;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* Open a log file for appending, close-on-exec. */
static int open_file(const char *path)
{
	int fd;

	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	while (fd == -1 && errno == EINTR);
	return fd;
}

int log_open(const char *t, enum log_level level)
{
	if (strcmp(t, "stderr") == 0) {
		if (target == TARGET_SYSLOG)
			closelog();
		if (file_fd != -1)
			close(file_fd);
		file_fd = -1;
		target = TARGET_STDERR;
	} else if (strcmp(t, "syslog") == 0) {
		if (file_fd != -1)
			close(file_fd);
		file_fd = -1;
		openlog("jobqd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		target = TARGET_SYSLOG;
	} else {
		int fd = open_file(t);

		if (fd == -1)
			return -1;
		if (strlen(t) >= sizeof(file_path)) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		if (target == TARGET_SYSLOG)
			closelog();
		if (file_fd != -1)
			close(file_fd);
		file_fd = fd;
		strcpy(file_path, t);
		target = TARGET_FILE;
	}
	threshold = level;
	return 0;
}

int log_reopen(void)
{
	int fd;

	if (target != TARGET_FILE)
		return 0;
	if ((fd = open_file(file_path)) == -1)
		return -1;
	close(file_fd);
	file_fd = fd;
	return 0;
}

int log_reopen_if(unsigned generation)
{
	if (generation == seen_generation)
		return 0;
	seen_generation = generation;
	return log_reopen();
}

void log_set_level(enum log_level level)
{
	threshold = level;
}

void log_set_role(const char *r)
{
	snprintf(role, sizeof(role), "%s", r);
}

int log_fd(void)
{
	return target == TARGET_FILE ? file_fd : -1;
}

void log_after_fork(void)
{
	if (target == TARGET_SYSLOG)
		closelog();
}

int log_enabled(enum log_level level)
{
	return level <= threshold;
}

/* Format one line and write it to the target; errnum >= 0 appends strerror. */
static void vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024], line[1280];
	int saved = errno, n, fd;

	if (level > threshold)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (target == TARGET_SYSLOG) {
		if (errnum >= 0)
			syslog(syslog_prio[level], "%s: %s: %s", role, msg, strerror(errnum));
		else
			syslog(syslog_prio[level], "%s: %s", role, msg);
		errno = saved;
		return;
	}
	if (target == TARGET_FILE) {
		struct timespec ts;
		struct tm tm;
		char stamp[32] = "";

		if (clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
		    localtime_r(&ts.tv_sec, &tm) != NULL)
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z ", &tm);
		n = snprintf(line, sizeof(line), "%sjobqd[%ld]: %s: %s: %s%s%s\n",
		    stamp, (long)getpid(), role, level_names[level], msg,
		    errnum >= 0 ? ": " : "", errnum >= 0 ? strerror(errnum) : "");
		fd = file_fd;
	} else {
		n = snprintf(line, sizeof(line), "jobqd[%ld]: %s: %s: %s%s%s\n",
		    (long)getpid(), role, level_names[level], msg,
		    errnum >= 0 ? ": " : "", errnum >= 0 ? strerror(errnum) : "");
		fd = STDERR_FILENO;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(fd, line + off, (size_t)(n - off));

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;	/* nowhere left to report a logging failure */
		off += w;
	}
	errno = saved;
}

#define LOGFN(name, level, withErrno)				\
	void name(const char *fmt, ...)				\
	{							\
		va_list ap;					\
		int e = errno;					\
		va_start(ap, fmt);				\
		vlog(level, withErrno ? e : -1, fmt, ap);	\
		va_end(ap);					\
	}

LOGFN(log_errorx, LOG_LEVEL_ERROR, 0)
LOGFN(log_warn, LOG_LEVEL_WARN, 1)
LOGFN(log_warnx, LOG_LEVEL_WARN, 0)
LOGFN(log_info, LOG_LEVEL_INFO, 0)
LOGFN(log_debug, LOG_LEVEL_DEBUG, 0)

void fatal(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, -1, fmt, ap);
	va_end(ap);
	exit(1);
}
