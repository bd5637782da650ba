/*
 * log — err(3)-shaped logging (see log.h).
 *
 * Each line is formatted into one buffer and written with a single write(2)
 * so lines from the master, the dispatcher and the workers sharing a file
 * or stderr never interleave (O_APPEND, under PIPE_BUF for the usual line).
 *
 * The message is escaped here, once for every caller: control bytes
 * become C escapes (\x1b, \r, \n, \t) and a backslash becomes \\, so
 * text from a job or a client can neither forge nor hide a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
static int journal;	/* stderr is journald's stream: "<N>" prefixes */
static int tee_stderr;	/* also copy warnings and errors to stderr */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* 1 when JOURNAL_STREAM names stderr's device and inode (systemd.exec(5)). */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

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
		journal = stderr_is_journal();
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

void log_tee_stderr(int on)
{
	tee_stderr = on;
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

/* Copy src into dst (size n > 0) with control bytes and '\' escaped; an
 * escape that does not fit is left out whole. */
static void escape(char *dst, size_t n, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)src; *p != '\0'; p++) {
		char e[5] = { (char)*p, '\0' };

		if (*p == '\\' || *p == '\n' || *p == '\r' || *p == '\t') {
			e[0] = '\\';
			e[1] = *p == '\\' ? '\\' : *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
			e[2] = '\0';
		} else if (*p < 0x20 || *p == 0x7f) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[*p >> 4];
			e[3] = hex[*p & 15];
		}
		size_t len = strlen(e);

		if (o + len >= n)
			break;
		memcpy(dst + o, e, len);
		o += len;
	}
	dst[o] = '\0';
}

/* Write n bytes of line to fd, resuming after signals and short writes. */
static void write_all(int fd, const char *line, int n)
{
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(fd, line + off, (size_t)(n - off));

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;	/* nowhere left to report a logging failure */
		off += w;
	}
}

/* Format "PREFIXrole: level: msg[: strerror]\n" into line; its length. */
static int format_line(char *line, size_t size, const char *prefix,
    enum log_level level, const char *msg, int errnum)
{
	int n = snprintf(line, size, "%s%s: %s: %s%s%s\n", prefix, role,
	    level_names[level], msg, errnum >= 0 ? ": " : "",
	    errnum >= 0 ? strerror(errnum) : "");

	if (n < 0)
		return 0;
	if ((size_t)n >= size) {
		n = (int)size - 1;
		line[n - 1] = '\n';
	}
	return n;
}

/* Format one line and write it to the target; errnum >= 0 appends strerror. */
static void vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char raw[1024], msg[2048], line[2304], prefix[64];
	int saved = errno;

	if (level > threshold)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	escape(msg, sizeof(msg), raw);
	if (tee_stderr && level <= LOG_LEVEL_WARN)
		write_all(STDERR_FILENO, line, format_line(line, sizeof(line),
		    "jobqd: ", level, msg, errnum));
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
		snprintf(prefix, sizeof(prefix), "%sjobqd[%ld]: ", stamp, (long)getpid());
	} else if (journal)
		snprintf(prefix, sizeof(prefix), "<%d>", syslog_prio[level]);
	else
		snprintf(prefix, sizeof(prefix), "jobqd[%ld]: ", (long)getpid());
	write_all(target == TARGET_FILE ? file_fd : STDERR_FILENO, line,
	    format_line(line, sizeof(line), prefix, level, msg, errnum));
	errno = saved;
}

void log_early(enum log_level level, const char *fmt, ...)
{
	char raw[1024], msg[2048], line[2304], prefix[8] = "";
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	escape(msg, sizeof(msg), raw);
	if (stderr_is_journal())
		snprintf(prefix, sizeof(prefix), "<%d>", syslog_prio[level]);
	n = snprintf(line, sizeof(line), "%sjobqd: %s\n", prefix, msg);
	write_all(STDERR_FILENO, line, n < 0 ? 0 : n < (int)sizeof(line) ? n : (int)sizeof(line) - 1);
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
