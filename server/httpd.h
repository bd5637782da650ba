/*
 * httpd — the master's HTTP/1.1 side: one epoll loop, the connections, the
 * routes (POST /payload, GET /jobs/{id}, /healthz, /metrics, /status).
 *
 * The master's main owns the process (signals, the dispatcher, reloads) and
 * drives this module: it hands over a listening socket, tells where the
 * dispatcher's doorbell is, switches draining on at shutdown, and calls
 * httpd_poll() in its loop.  Other fds the master waits on (its signalfd,
 * the dispatcher's pipes) join the same epoll set with httpd_watch().
 *
 *   listener_open(c, err, n)   a bound, listening, non-blocking socket
 *   httpd_new / httpd_free
 *   httpd_set_listener(h, fd)  adopt a listener (the old one is closed;
 *                              open connections stay)
 *   httpd_close_listener(h)    stop accepting (shutdown)
 *   httpd_configure(h, c)      live settings: timeouts, max_connections
 *   httpd_set_doorbell(h, fd)  the dispatcher's doorbell write end, or -1
 *   httpd_set_draining(h, on)  /healthz and POST answer 503, keep-alive ends
 *   httpd_set_journal(h, j)    write every job to journal j (or NULL) and
 *                              answer 202 once a round's commit holds it;
 *                              httpd_free closes j
 *   httpd_watch(h, fd, cb, arg)  call cb(arg) when fd is readable
 *   httpd_poll(h, timeout_ms)  wait for events and serve them
 *   httpd_connections(h)       open client connections
 */
#ifndef JOBQD_HTTPD_H
#define JOBQD_HTTPD_H

#include <stddef.h>

#include "common/config.h"
#include "common/segment.h"

struct httpd;
struct journal;

/* socket + SO_REUSEADDR + bind + listen, non-blocking and close-on-exec;
 * the fd, or -1 with "listen ADDR: reason" in err. */
int listener_open(const struct config *c, char *err, size_t errlen);

struct httpd *httpd_new(const struct config *c, struct segment *seg);
void httpd_free(struct httpd *h);
void httpd_set_listener(struct httpd *h, int fd);
void httpd_close_listener(struct httpd *h);
void httpd_configure(struct httpd *h, const struct config *c);
void httpd_set_doorbell(struct httpd *h, int fd);
void httpd_set_draining(struct httpd *h, int on);
void httpd_set_journal(struct httpd *h, struct journal *j);
/* 0, or -1 with errno. */
int httpd_watch(struct httpd *h, int fd, void (*cb)(void *arg), void *arg);
/* 0, or -1 with errno (an interrupted wait is 0). */
int httpd_poll(struct httpd *h, int timeout_ms);
unsigned httpd_connections(const struct httpd *h);

#endif
