/*
 * httpd — the master's HTTP/1.1 side: the connections on the master's
 * event loop (loop.h), the routes (POST /payload, GET /jobs/{id},
 * /healthz, /metrics, /status).
 *
 * The master's main owns the process (signals, the dispatcher, reloads)
 * and the loop, and drives this module: it hands over a listening socket
 * (listener.h), tells where the dispatcher's doorbell is, switches
 * draining on at shutdown, and runs loop_poll() in its loop.  The httpd
 * watches its sockets in the loop, arms one timer (its tick) and takes
 * the loop's round hook (the journal's group commit and the doorbell).
 *
 *   httpd_new(l, c, seg) / httpd_free   httpd_free leaves the loop to its
 *                              owner, without the httpd's fds, timer, hook
 *   httpd_set_listener(h, fd)  adopt a listener (the old one is closed;
 *                              open connections stay)
 *   httpd_close_listener(h)    stop accepting (shutdown)
 *   httpd_configure(h, c)      live settings: timeouts, max_connections
 *   httpd_set_doorbell(h, fd)  the dispatcher's doorbell write end, or -1
 *   httpd_set_draining(h, on)  /healthz and POST answer 503, keep-alive ends
 *   httpd_set_journal(h, j)    write every job to journal j (or NULL) and
 *                              answer 202 once a round's commit holds it;
 *                              httpd_free closes j
 *   httpd_connections(h)       open client connections
 */
#ifndef JOBQD_HTTPD_H
#define JOBQD_HTTPD_H

#include "common/config.h"
#include "common/segment.h"

struct httpd;
struct journal;
struct loop;

/* NULL with errno. */
struct httpd *httpd_new(struct loop *l, const struct config *c, struct segment *seg);
void httpd_free(struct httpd *h);
void httpd_set_listener(struct httpd *h, int fd);
void httpd_close_listener(struct httpd *h);
void httpd_configure(struct httpd *h, const struct config *c);
void httpd_set_doorbell(struct httpd *h, int fd);
void httpd_set_draining(struct httpd *h, int on);
void httpd_set_journal(struct httpd *h, struct journal *j);
unsigned httpd_connections(const struct httpd *h);

#endif
