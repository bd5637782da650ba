/*
 * supervisor — the master process once it is set up: the signal loop, the
 * dispatcher's life (fork, death, recovery, throttled respawn), reloads,
 * the drain at shutdown, and systemd's notifications.
 *
 *   supervisor_run(sv)   serve until stopped; returns the exit status
 */
#ifndef JOBQD_SUPERVISOR_H
#define JOBQD_SUPERVISOR_H

#include <stddef.h>

#include "common/config.h"
#include "common/segment.h"

struct supervisor_args {
	struct config cfg;		/* the running configuration */
	const char *config_path;	/* -c FILE, or NULL: re-read on SIGHUP */
	char *const *overrides;		/* -o key=value, re-applied on SIGHUP */
	size_t noverrides;
	struct segment *seg;
	struct journal *journal;	/* or NULL; the HTTP side's from the start */
	int listen_fd;
	int ready_fd;			/* -d: write a byte when serving, or -1 */
	int daemonized;			/* -d: stderr is /dev/null, log=stderr means syslog */
};

/* Block the master's signals (SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD)
 * so one that arrives before supervisor_run reads them waits instead of
 * killing the process: call it before the listening socket opens. */
int supervisor_block_signals(void);
int supervisor_run(struct supervisor_args *a);

#endif
