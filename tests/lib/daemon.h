/*
 * daemon — start and stop the real jobqd binary for integration tests.
 *
 * daemon_start() runs $JOBQD_BIN on 127.0.0.1 with a free ephemeral port,
 * a unique shm_name and a log file in a fresh temp directory, plus the
 * caller's extra arguments, and waits until the port accepts connections.
 *
 *   daemon_start(d, extra)     daemon_prepare + daemon_run; extra: NULL-
 *                              terminated argv words, e.g.
 *                              { "-o", "handler=noop", NULL }
 *   daemon_prepare(d)          temp dir, port, shm name; starts nothing
 *   daemon_run(d, extra)       start (again) with what d holds
 *   daemon_signal(d, sig)
 *   daemon_wait(d, secs)       the exit status (waitpid form), or -1
 *   daemon_stop(d)             SIGTERM + wait; the exit status
 *   daemon_cleanup(d)          SIGKILL if alive, unlink shm, remove the dir
 *   daemon_log_contains(d, s)  1 if the log file holds s
 */
#ifndef JOBQD_TEST_DAEMON_H
#define JOBQD_TEST_DAEMON_H

#include <sys/types.h>

struct daemon {
	pid_t pid;
	int port;
	int listen_in_file;	/* the test's config file says listen: no -o */
	char shm[64];
	char dir[128];
	char log[192];
};

/* A free TCP port on 127.0.0.1 (bound to 0, read back, closed). */
int test_free_port(void);
/* 0, or -1 (the reason printed on stderr). */
int daemon_start(struct daemon *d, const char *const *extra);
/* Make the temp dir, pick the port and shm name, start nothing. */
int daemon_prepare(struct daemon *d);
/* Start with what d holds (after daemon_prepare, or again after a stop). */
int daemon_run(struct daemon *d, const char *const *extra);
int daemon_signal(struct daemon *d, int sig);
int daemon_wait(struct daemon *d, int secs);
int daemon_stop(struct daemon *d);
void daemon_cleanup(struct daemon *d);
int daemon_log_contains(const struct daemon *d, const char *s);
/* Wait up to secs for the log to contain s; 1 if it did. */
int daemon_log_wait(const struct daemon *d, const char *s, int secs);
/* The pid of parent's child whose name (comm) is name, or -1 (read from
 * /proc: the master's dispatcher is "dispatcher"). */
pid_t daemon_child_named(pid_t parent, const char *name);
/* Connect to 127.0.0.1:port; the fd or -1. */
int test_connect(int port);
/* Sleep ms milliseconds (EINTR resumes): a test's pace between bounded
 * polls, never a wait for a condition. */
void nap_ms(long ms);
/* Write text to path with mode, replacing it at once (a rename), failing
 * the test when it cannot. */
void write_file(const char *path, const char *text, mode_t mode);

#endif
