/*
 * notify — the systemd readiness protocol, spoken by hand (no libsystemd).
 *
 * notify_init() reads $NOTIFY_SOCKET once and removes it from the
 * environment, so no child ever inherits it (the unit says
 * NotifyAccess=main).  notify_send() sends one datagram: "READY=1",
 * "RELOADING=1\nMONOTONIC_USEC=…", "STOPPING=1", "STATUS=…".  A leading '@'
 * in the socket path means the abstract namespace.  Without NOTIFY_SOCKET
 * every call is a no-op.
 */
#ifndef JOBQD_NOTIFY_H
#define JOBQD_NOTIFY_H

/* 0; -1 with errno if NOTIFY_SOCKET is set but unusable. */
int notify_init(void);
/* 0 (also when not under systemd), or -1 with errno. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "RELOADING=1" with the MONOTONIC_USEC= systemd 253+ wants. */
int notify_reloading(void);
int notify_enabled(void);

#endif
