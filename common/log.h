/*
 * log — err(3)-shaped logging for the jobqd processes.
 *
 * One line per event: "jobqd[PID]: ROLE: LEVEL: message".  The target is
 * stderr (the default, what journald reads), a file (reopened on SIGUSR1)
 * or syslog.  When stderr is journald's stream (JOURNAL_STREAM), a line is
 * "<N>ROLE: LEVEL: message" with the sd-daemon(3) priority N instead.
 * Control bytes and '\' in the message are C-escaped, whatever the caller.
 * Only process code logs: library code in common/ reports errors to its
 * caller.
 *
 *   log_open(target, level)   choose the target ("stderr", "syslog", path)
 *   log_set_role(role)        "master", "dispatcher", "worker 3"
 *   log_reopen()              reopen a file target (SIGUSR1)
 *   log_tee_stderr(on)        -d start-up: errors and warnings to stderr too
 *   log_warn*, log_info, log_debug, fatal*   the verbs; *x forms omit errno
 */
#ifndef JOBQD_LOG_H
#define JOBQD_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Open a target; returns 0, or -1 with errno (the old target is kept). */
int log_open(const char *target, enum log_level level);
/* Reopen a file target after rotation; -1 with errno keeps the old one. */
int log_reopen(void);
/* Reopen when generation differs from the last one seen (the master bumps
 * a counter in shared memory on SIGUSR1; every process follows it). */
int log_reopen_if(unsigned generation);
void log_set_level(enum log_level level);
/* While on, errors and warnings also go to stderr as "jobqd: ROLE: LEVEL:
 * message" (-d until the daemon serves: the terminal sees why it failed). */
void log_tee_stderr(int on);
void log_set_role(const char *role);
/* The fd of a file target, or -1 (so a fork can keep it). */
int log_fd(void);
/* In a new child, before closing the fds it must not keep: drop the
 * syslog connection (glibc reconnects on the next line). */
void log_after_fork(void);

/* Before the log is open: "jobqd: message" on stderr, with the "<N>"
 * prefix when stderr is journald's stream. */
void log_early(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int log_enabled(enum log_level level);

#endif
