/*
 * httpd — the master's HTTP/1.1 server (see httpd.h), on the master's
 * event loop (loop.h): non-blocking accept, a state machine per
 * connection, the response writer and the connection timers.
 *
 * A connection is in one of three states:
 *   HEAD    reading a request head into the fixed input buffer (idle when
 *           the buffer is empty: the keep-alive timer runs; the header
 *           timer is armed once, at the first byte of a request); each
 *           read resumes the parser's scan where the last one stopped
 *   BODY    reading a request body: POST /payload's body goes straight
 *           into the reserved slot (Content-Length bodies are read into it
 *           with read(2) when no bytes are buffered; chunked ones are
 *           decoded into it); the Content-Length body of a request
 *           answered without it (another route, or a full queue's 503) is
 *           skipped when at most DISCARD_MAX bytes of it remain to be read
 *           from the socket, else (and for chunked bodies) the answer
 *           closes.  The body timer runs from the end of the head.
 *   LINGER  the last answer is written and our side is shut down; reads
 *           are drained until EOF or a short timeout, then the fd is
 *           closed, so the client reads the answer instead of an RST.
 * Pipelined requests are served from the input buffer in order; while the
 * output buffer holds OUT_CAP bytes or more, nothing more is parsed and
 * EPOLLIN is off: that bounds the memory a client can make us hold.
 *
 * Slots: after the head of a POST /payload the queue must have room (none:
 * 503 without waiting for the body, counted in header->rejected), but the slot
 * is reserved only when the first body byte arrives (none left by then:
 * the same 503), so a client that sends a head and nothing more holds no
 * slot.  A body holding a slot is slow when, BODY_GRACE_MS after the end
 * of its head, it has averaged less than min_body_rate bytes a second
 * since then (0: never).  When the queue is full, the slowest slow body
 * gives its slot up to a new one (answered 408, as at its body timeout),
 * so neither stalled nor trickling bodies can pin the queue; without that
 * pressure a slow body keeps its slot until body_timeout.  The
 * connection owns its slot until the body is complete (segment_enqueue,
 * then the doorbell).  A body that never completes
 * leaves its slot FILLING on a local stash, reused before the free ring:
 * only this process pops the free ring, and nobody pushes a slot that was
 * not enqueued.
 *
 * Connection cap: at max_connections a newcomer takes the place of the
 * connection idle longest (after a served request: waiting for the next
 * one or for the client to read its answers; or lingering), else of the
 * one whose current request has been arriving longest (not one that
 * began in this round: a newcomer is never taken before it is read); a
 * body holding a slot only when nothing else can be, and only the
 * slowest slow one.  With none to take, the listener
 * is not watched (the kernel's backlog holds newcomers) for
 * ACCEPT_PAUSE_MS or until one closes.  The same pause follows EMFILE and
 * friends.
 *
 * Timers: every connection has one deadline; a loop timer every TICK_MS
 * scans them all (bounded work, no timer syscalls).  While answers wait for the
 * client to read them (the output cap is reached), the idle timer runs
 * and every send that makes progress re-arms it; the header timer starts
 * afresh when the next head can be served.
 *
 * Closed connections are freed at the end of the loop's round (in its
 * hook, and after the tick), so that nothing of the round still holding
 * one (the journal's pending jobs) touches freed memory.
 *
 * Journal (httpd_set_journal; DURABILITY in jobqd(8)): a complete body
 * gets its id (segment_assign) and its record in the journal at once, and
 * its connection waits in COMMIT, reading and answering nothing.  After
 * the round's events, in the loop's round hook, one journal_commit (one
 * fdatasync) covers every job of the round (with jobs waiting, the hook
 * first asks the loop for the events that came meanwhile, a few passes
 * without waiting, so that one sync covers more jobs); then they are
 * published to the dispatcher and answered
 * 202 (or, if the commit failed, their slots are freed and they are
 * answered 503: they never existed), and the connections go on with what
 * they had pipelined; jobs these add are committed in the same way before
 * the round ends.  A job whose record cannot be written is answered 503
 * at once.  Completions go to the journal (unsynced) as the master sees
 * the dispatcher's finished slots on the free ring (segment_finished), at
 * the end of every round and before a slot is taken off that ring; they
 * ride the next commit, or the next tick's when no job comes (at most one
 * sync per TICK_MS for them).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/journal.h"
#include "common/log.h"
#include "server/http_parser.h"
#include "server/httpd.h"
#include "server/loop.h"
#include "server/obuf.h"
#include "server/routes.h"

#define IN_CAP		(32 * 1024)	/* request line + head + slack; never grows */
#define OUT_CAP		(64 * 1024)	/* stop reading while this much is pending */
#define TICK_MS		250
#define LINGER_MS	2000
#define ACCEPT_PAUSE_MS	250	/* ends at a tick */
#define ACCEPT_BATCH	64
#define BODY_GRACE_MS	1000	/* before a body can be slow (see the top) */
#define DISCARD_MAX	(16 * 1024)	/* unwanted body bytes read to keep a connection */
#define EMFILE_WARN_S	10
#define NS_PER_MS	1000000LL
#define NS_PER_S	1000000000LL
#define JOURNAL_WARN_NS	NS_PER_S	/* at most one journal warning a second */

enum conn_state { CS_HEAD, CS_BODY, CS_COMMIT, CS_LINGER };
enum conn_timer { T_NONE, T_IDLE, T_HEAD, T_BODY, T_LINGER };

struct conn {
	struct httpd *h;
	int fd;
	enum conn_state state;
	enum conn_timer timer;
	int64_t deadline;	/* CLOCK_MONOTONIC ns, with timer */
	int dead;		/* closed; freed at the end of the poll */
	int close_after;	/* shut down once the output is written */
	int peer_eof;
	int keep_alive;		/* of the request being served */
	int http10;		/* ... and whether it was HTTP/1.0 */
	int more;		/* stopped at the output cap with input left */
	int reused;		/* a request was served: idle means keep-alive */
	int64_t since;		/* when the current timer's phase began */
	/* the body being read */
	long slot;		/* reserved slot, or -1 (discarding) */
	int want_slot;		/* POST /payload: reserve at the first body byte */
	uint64_t idem_key;	/* POST /payload: its Idempotency-Key's hash, or 0 */
	uint32_t delay;		/* POST /payload?delay=: seconds, 0 none */
	int chunked;
	uint64_t body_left;	/* Content-Length bytes still to come */
	uint64_t body_got;
	struct http_chunked ch;
	struct http_head_scan scan;	/* the head in the input buffer so far */
	struct conn *prev, *next;
	struct obuf out;
	size_t in_len;
	char in[IN_CAP];
};

struct httpd {
	struct loop *loop;
	long long tick_timer;
	struct segment *seg;
	struct seg_header *hdr;
	uint32_t max_payload;
	/* live settings */
	unsigned max_connections;
	int64_t keepalive_ns, header_ns, body_ns;
	uint64_t min_body_rate;	/* bytes a second; 0: none */
	int64_t no_slow_until;	/* slowest_body: none can be slow before */
	uint32_t max_delay;	/* seconds */
	struct acl acl;

	int listen_fd;
	int64_t accept_paused_until;
	int64_t emfile_warned;	/* when we last warned of running out of fds */

	int doorbell_fd;
	int bell_pending;	/* jobs enqueued in this round: ring once at its end */
	int draining;

	struct conn *conns;	/* open connections */
	struct conn *graveyard;	/* closed, freed at the end of the poll */
	unsigned nconns;

	uint32_t *stash;	/* FILLING slots whose body never completed */
	uint32_t nstash, stash_cap;

	/* the journal; this round's jobs written to it, awaiting the commit
	 * (each holds a slot: at most stash_cap) */
	struct journal *journal;
	struct pending {
		struct conn *c;
		uint32_t slot;
		uint64_t id;
		uint64_t idem_key, idem_body;	/* Idempotency-Key, when idem_key != 0 */
	} *pending;
	uint32_t npending;
	int64_t journal_warned;

	uint64_t responses[ROUTES_MAX_STATUS];
	struct obuf body;	/* scratch for rendering a response body */
	time_t date_sec;
	char date[128];		/* the header lines around Date (add_date) */
	size_t date_len;
};

static void conn_close(struct httpd *h, struct conn *c);
static void send_error(struct httpd *h, struct conn *c, int status,
    const char *msg, const char *extra);
static void conn_flush(struct httpd *h, struct conn *c);
static void conn_expire(struct httpd *h, struct conn *c);
static void job_finished(void *arg, uint64_t id, enum slot_state st);
static void do_accept(void *arg, int fd, unsigned ready);
static void conn_event(void *arg, int fd, unsigned ready);

/* --- listener ------------------------------------------------------------ */

/* Watch the listener or not, as the pauses say. */
static void listener_update(struct httpd *h)
{
	if (h->listen_fd == -1)
		return;
	if (h->accept_paused_until != 0)
		loop_unwatch(h->loop, h->listen_fd);
	else if (loop_watch(h->loop, h->listen_fd, LOOP_IN, do_accept, h) == -1)
		log_warn("httpd: watching the listener");
}

void httpd_set_listener(struct httpd *h, int fd)
{
	httpd_close_listener(h);
	h->listen_fd = fd;
	h->accept_paused_until = 0;
	listener_update(h);
}

void httpd_close_listener(struct httpd *h)
{
	if (h->listen_fd == -1)
		return;
	/* unwatched first: a forked child may still hold the socket */
	loop_unwatch(h->loop, h->listen_fd);
	if (close(h->listen_fd) == -1)
		log_warn("httpd: close listener");
	h->listen_fd = -1;
}

/* --- connections --------------------------------------------------------- */

/* Arm the connection's one timer (a new kind starts a new phase). */
static void conn_timer(struct httpd *h, struct conn *c, enum conn_timer t)
{
	int64_t now = loop_now(h->loop);	/* every timer is seconds long */

	if (t != c->timer)
		c->since = now;
	c->timer = t;
	switch (t) {
	case T_IDLE:	c->deadline = now + h->keepalive_ns; break;
	case T_HEAD:	c->deadline = now + h->header_ns; break;
	case T_BODY:	c->deadline = now + h->body_ns; break;
	case T_LINGER:	c->deadline = now + LINGER_MS * NS_PER_MS; break;
	case T_NONE:	c->deadline = 0; break;
	}
}

/* Watch what the connection's state asks for. */
static void conn_update_events(struct httpd *h, struct conn *c)
{
	unsigned want = 0;

	if (c->dead || c->state == CS_COMMIT)	/* answered within the round */
		return;
	if (c->state == CS_LINGER) {
		want = obuf_pending(&c->out) ? LOOP_OUT : LOOP_IN;
	} else {
		if (!c->peer_eof && !c->close_after && c->in_len < IN_CAP &&
		    obuf_pending(&c->out) < OUT_CAP)
			want |= LOOP_IN;
		/* more: a writable socket calls us back to serve the rest */
		if (obuf_pending(&c->out) || c->more)
			want |= LOOP_OUT;
	}
	if (loop_watch(h->loop, c->fd, want, conn_event, c) == -1) {
		log_warn("httpd: watching a connection");
		conn_close(h, c);
	}
}

/* Log the first bad value the segment calls dropped (once per process). */
static void note_bad(struct httpd *h)
{
	const char *bad = segment_bad_once(h->seg);

	if (bad != NULL)
		log_warnx("shared memory: %s: dropped (later bad values are dropped silently)", bad);
}

/* Is a slot free for a new body?  Only this process takes slots, so the
 * answer holds until it takes one. */
static int slot_available(struct httpd *h)
{
	return h->nstash > 0 || ring_count(segment_free(h->seg)) > 0;
}

/* The average rate (bytes a second) of c's body since the end of its
 * head, if c holds a slot and is slow (see the top of this file); else
 * UINT64_MAX. */
static uint64_t body_slow_rate(const struct httpd *h, const struct conn *c)
{
	int64_t took = loop_now(h->loop) - c->since;	/* the body phase's start */
	uint64_t got, rate;

	if (c->slot < 0 || c->state != CS_BODY || h->min_body_rate == 0 ||
	    took < BODY_GRACE_MS * NS_PER_MS)
		return UINT64_MAX;
	got = c->chunked ? c->ch.total : c->body_got;	/* <= max_payload */
	rate = got * NS_PER_S / (uint64_t)took;
	return rate < h->min_body_rate ? rate : UINT64_MAX;
}

/* The slowest slow body, or NULL.  Looked for only when the queue or the
 * connection table is full: under overload, by every refused request.  A
 * search that finds none also finds the first time a body holding a slot
 * could turn slow (were no byte more to come: BODY_GRACE_MS after its
 * head, or once its bytes / min_body_rate seconds have passed, if later);
 * until then the answer is NULL without a search.  Bytes arriving and
 * slots given up only make that time later; a slot taken (payload_claim)
 * or a new min_body_rate (httpd_configure) ends it. */
static struct conn *slowest_body(struct httpd *h)
{
	int64_t now = loop_now(h->loop), first = now + BODY_GRACE_MS * NS_PER_MS;
	struct conn *c, *best = NULL;
	uint64_t best_rate = UINT64_MAX;

	if (now < h->no_slow_until)
		return NULL;
	for (c = h->conns; c != NULL; c = c->next) {
		uint64_t rate = body_slow_rate(h, c);

		if (rate < best_rate) {
			best = c;
			best_rate = rate;
		} else if (c->slot >= 0 && c->state == CS_BODY && h->min_body_rate != 0) {
			uint64_t got = c->chunked ? c->ch.total : c->body_got;
			int64_t wait = (int64_t)(got * NS_PER_S / h->min_body_rate), at;

			at = c->since + (wait > BODY_GRACE_MS * NS_PER_MS ? wait : BODY_GRACE_MS * NS_PER_MS);
			if (at < first)
				first = at;
		}
	}
	if (best == NULL)
		h->no_slow_until = first;
	return best;
}

/* A reusable slot: the stash first, then the free ring; -1 when full. */
static long slot_reserve(struct httpd *h)
{
	long i;

	if (h->nstash > 0) {
		i = h->stash[--h->nstash];
		segment_slot(h->seg, (uint32_t)i)->payload_len = 0;
		return i;
	}
	/* the END of the job that leaves the slot goes to the journal first:
	 * finished slots up to this one */
	if (h->journal != NULL)
		segment_finished(h->seg, job_finished, h);
	i = segment_reserve(h->seg);
	note_bad(h);
	return i;
}

/* Keep a FILLING slot for the next body. */
static void stash_slot(struct httpd *h, uint32_t i)
{
	if (h->nstash < h->stash_cap)
		h->stash[h->nstash++] = i;
	else	/* cannot happen: a slot is reserved at most once */
		log_errorx("httpd: slot stash overflow (slot %" PRIu32 " lost)", i);
}

/* Give up the connection's slot (its body will never complete). */
static void conn_drop_slot(struct httpd *h, struct conn *c)
{
	if (c->slot < 0)
		return;
	stash_slot(h, (uint32_t)c->slot);
	c->slot = -1;
}

/* Close at once and queue the memory for freeing. */
static void conn_close(struct httpd *h, struct conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	conn_drop_slot(h, c);
	/* loop_close takes it out of the epoll set first: close(2) alone
	 * leaves it there while a dispatcher just forked still holds the
	 * socket. */
	if (loop_close(h->loop, c->fd) == -1)
		log_debug("httpd: close: %s", strerror(errno));
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = h->graveyard;
	h->graveyard = c;
	h->nconns--;
	h->accept_paused_until = 0;	/* a place and an fd are free again */
	listener_update(h);
}

/* When c was last active, if it waits on its client after a served
 * request (for the next one, or to read the answers) or is lingering;
 * else 0. */
static int64_t conn_idle_since(const struct httpd *h, const struct conn *c)
{
	if (c->state == CS_LINGER)
		return c->deadline - LINGER_MS * NS_PER_MS;
	if (c->timer == T_IDLE && c->reused)
		return c->deadline - h->keepalive_ns;
	return 0;
}

/* The connection a newcomer replaces when the table is full (see the top
 * of this file), or NULL. */
static struct conn *reclaim_victim(struct httpd *h)
{
	struct conn *c, *best = NULL;
	int64_t best_at = 0;
	int best_idle = 0;

	for (c = h->conns; c != NULL; c = c->next) {
		int64_t at = conn_idle_since(h, c);
		int idle = at != 0;

		if (c->slot >= 0 || c->state == CS_COMMIT)
			continue;
		if (!idle)
			at = c->since;
		if (!idle && at >= loop_now(h->loop))
			continue;	/* began in this round */
		if (best == NULL || idle > best_idle ||
		    (idle == best_idle && at < best_at)) {
			best = c;
			best_at = at;
			best_idle = idle;
		}
	}
	return best != NULL ? best : slowest_body(h);
}

/* Stop accepting for ACCEPT_PAUSE_MS (or until a connection closes). */
static void accept_pause(struct httpd *h, int64_t now)
{
	h->accept_paused_until = now + ACCEPT_PAUSE_MS * NS_PER_MS;
	listener_update(h);
}

/* Accept what is pending on the listener. */
static void do_accept(void *arg, int lfd, unsigned ready)
{
	struct httpd *h = arg;

	(void)lfd;
	(void)ready;
	for (int n = 0; n < ACCEPT_BATCH; n++) {
		struct conn *c, *victim = NULL;
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int fd, on = 1;

		if (h->nconns >= h->max_connections &&
		    (victim = reclaim_victim(h)) == NULL) {
			accept_pause(h, clock_mono_ns());
			return;
		}
		fd = accept4(h->listen_fd, (struct sockaddr *)&peer, &plen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
#if EAGAIN != EWOULDBLOCK
			case EWOULDBLOCK:
#endif
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
			case EPERM:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
			{
				int64_t now = clock_mono_ns();

				/* Linux fails accept before dequeuing when no fd is
				 * free, so this repeats until a connection closes:
				 * warn at most every EMFILE_WARN_S. */
				if (h->emfile_warned == 0 ||
				    now - h->emfile_warned >= EMFILE_WARN_S * NS_PER_S) {
					log_warn("httpd: accept (pausing %d ms at a time)",
					    ACCEPT_PAUSE_MS);
					h->emfile_warned = now;
				}
				accept_pause(h, now);
				return;
			}
			default:
				log_warn("httpd: accept");
				return;
			}
		}
		if (victim != NULL) {
			log_debug("httpd: connection table full: closing the %s",
			    conn_idle_since(h, victim) ? "longest idle connection" :
			    "longest incomplete request");
			conn_close(h, victim);
		}
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
			log_debug("httpd: TCP_NODELAY: %s", strerror(errno));
		if ((c = malloc(sizeof *c)) == NULL) {
			log_warnx("httpd: out of memory for a connection");
			close(fd);
			return;
		}
		memset(c, 0, offsetof(struct conn, in));
		c->h = h;
		c->fd = fd;
		c->slot = -1;
		http_head_init(&c->scan);
		if (loop_watch(h->loop, fd, LOOP_IN, conn_event, c) == -1) {
			log_warn("httpd: watching a connection");
			close(fd);
			free(c);
			return;
		}
		conn_timer(h, c, T_IDLE);
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		h->nconns++;
		/* Outside allow or inside deny: 403, then close as after any error. */
		if (!acl_peer_allowed(&h->acl, (struct sockaddr *)&peer)) {
			acl_log_denied(fd, 403, clock_mono_ns());
			send_error(h, c, 403, "forbidden", NULL);
			conn_flush(h, c);
			conn_update_events(h, c);
		}
	}
}

/* --- responses ----------------------------------------------------------- */

/* A string literal, without strlen. */
#define OBUF_LIT(o, s)	obuf_add((o), "" s, sizeof(s) - 1)

/* The header lines between the status line and the Content-Type value,
 * Date among them, formatted once per second. */
static void add_date(struct httpd *h, struct obuf *o)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != h->date_sec && gmtime_r(&now, &tm) != NULL) {
		h->date_len = strftime(h->date, sizeof h->date, "\r\nDate: %a, %d %b %Y "
		    "%H:%M:%S GMT\r\nServer: jobqd\r\nContent-Type: ", &tm);
		h->date_sec = now;
	}
	obuf_add(o, h->date, h->date_len);
}

/* Append a response to the connection's output; close after it when the
 * reply, the request or draining says so. */
static void send_reply(struct httpd *h, struct conn *c, struct reply *rep,
    int head_only)
{
	struct obuf *o = &c->out;
	size_t blen = obuf_pending(rep->body);

	if (rep->close || !c->keep_alive || h->draining)
		c->close_after = 1;
	if (rep->status >= 0 && rep->status < ROUTES_MAX_STATUS)
		h->responses[rep->status]++;
	/* Appends, not printf: this runs once per request. */
	OBUF_LIT(o, "HTTP/1.1 ");
	obuf_uint(o, (uint64_t)rep->status);
	OBUF_LIT(o, " ");
	obuf_str(o, http_status_text(rep->status));
	add_date(h, o);
	obuf_str(o, rep->ctype);
	OBUF_LIT(o, "\r\nContent-Length: ");
	obuf_uint(o, blen);
	OBUF_LIT(o, "\r\n");
	obuf_str(o, rep->extra);
	if (c->close_after)
		OBUF_LIT(o, "Connection: close\r\n\r\n");
	else if (c->http10)
		OBUF_LIT(o, "Connection: keep-alive\r\n\r\n");
	else
		OBUF_LIT(o, "\r\n");
	if (!head_only)
		obuf_add(o, rep->body->p + rep->body->off, blen);
	if (o->failed) {
		log_warnx("httpd: out of memory for a response");
		conn_close(h, c);
	}
}

/* Answer an error and close after it. */
static void send_error(struct httpd *h, struct conn *c, int status,
    const char *msg, const char *extra)
{
	struct reply rep = { .body = &h->body };

	routes_error(&rep, status, msg);
	if (extra)
		snprintf(rep.extra, sizeof rep.extra, "%s", extra);
	rep.close = 1;
	send_reply(h, c, &rep, 0);
}

/* Write what is pending; once all is out and the connection is closing,
 * shut our side down and linger. */
static void conn_flush(struct httpd *h, struct conn *c)
{
	struct obuf *o = &c->out;

	while (!c->dead && obuf_pending(o) > 0) {
		ssize_t n = send(c->fd, o->p + o->off, obuf_pending(o), MSG_NOSIGNAL);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_debug("httpd: send: %s", strerror(errno));
			conn_close(h, c);
			return;
		}
		obuf_consume(o, (size_t)n);
		/* a slow but steady reader of a long answer is not idle */
		if (c->timer == T_IDLE)
			conn_timer(h, c, T_IDLE);
	}
	if (c->dead || !c->close_after || c->state == CS_LINGER)
		return;
	conn_drop_slot(h, c);
	if (c->peer_eof) {	/* nothing left to drain */
		conn_close(h, c);
		return;
	}
	if (shutdown(c->fd, SHUT_WR) == -1) {
		log_debug("httpd: shutdown: %s", strerror(errno));
		conn_close(h, c);
		return;
	}
	c->state = CS_LINGER;
	c->in_len = 0;
	conn_timer(h, c, T_LINGER);
}

/* --- requests ------------------------------------------------------------ */

/* Drop n bytes from the front of the input buffer. */
static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* Ring the dispatcher's doorbell if it said it is going to sleep. */
static void doorbell(struct httpd *h)
{
	ssize_t n;

	/* Dekker with the dispatcher: our ring push must be visible before we
	 * read its flag, as its flag store is before its ring check. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_exchange(&h->hdr->dispatcher_sleeping, 0) || h->doorbell_fd == -1)
		return;
	do
		n = write(h->doorbell_fd, "x", 1);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
		log_warn("httpd: doorbell");
}

/* The request is served: wait for the next one. */
static void request_done(struct httpd *h, struct conn *c)
{
	c->state = CS_HEAD;
	c->slot = -1;
	c->want_slot = 0;
	c->reused = 1;
	c->timer = T_NONE;	/* the next request is a new phase */
	conn_timer(h, c, c->in_len > 0 ? T_HEAD : T_IDLE);
}

/* Would skipping a body of len bytes, from off in the input buffer, mean
 * reading more than DISCARD_MAX of it from the socket?  Then we close
 * rather than read it. */
static int skip_too_long(const struct conn *c, size_t off, uint64_t len)
{
	size_t have = c->in_len - off;

	return len > have && len - have > DISCARD_MAX;
}

/* Skip the next len bytes: the body of a request already answered. */
static void body_skip(struct httpd *h, struct conn *c, uint64_t len)
{
	c->state = CS_BODY;
	c->slot = -1;
	c->want_slot = 0;
	c->chunked = 0;
	c->body_left = len;
	conn_timer(h, c, T_BODY);
}

/* Answer 503 for a full queue.  The rest of the body (len bytes) is
 * skipped and the connection kept unless close says so (chunked, or
 * Expect) or the body is too long to skip. */
static void queue_full(struct httpd *h, struct conn *c, int close, uint64_t len)
{
	struct reply rep = { .body = &h->body };

	atomic_fetch_add_explicit(&h->hdr->rejected, 1, memory_order_relaxed);
	routes_error(&rep, 503, "queue full");
	snprintf(rep.extra, sizeof rep.extra, "Retry-After: 1\r\n");
	rep.close = close || skip_too_long(c, 0, len);
	send_reply(h, c, &rep, 0);
	if (len > 0 && !c->close_after)
		body_skip(h, c, len);
	else
		request_done(h, c);
}

/* The body's first byte is here, or the body is empty: reserve its slot.
 * 0, or -1 when the queue filled up meanwhile (answered 503; the body,
 * if any, is skipped or the connection closes). */
static int payload_claim(struct httpd *h, struct conn *c)
{
	struct conn *slow;

	c->want_slot = 0;
	if ((c->slot = slot_reserve(h)) >= 0) {
		h->no_slow_until = 0;	/* c may be slow already */
		return 0;
	}
	if ((slow = slowest_body(h)) != NULL) {
		log_debug("httpd: queue full: the slowest body gives its slot up");
		conn_expire(h, slow);	/* 408; the slot goes to the stash */
		c->slot = slot_reserve(h);
		return 0;
	}
	queue_full(h, c, c->chunked, c->body_left);
	return -1;
}

/* A journal operation failed: warn (at most once a second). */
static void journal_warn(struct httpd *h, const char *what)
{
	int64_t now = clock_mono_ns();

	if (h->journal_warned != 0 && now - h->journal_warned < JOURNAL_WARN_NS)
		return;
	h->journal_warned = now;
	log_warn("journal: %s (later failures within a second are not logged)", what);
}

/* 503 for a job the journal could not take: it does not exist. */
static void journal_refused(struct httpd *h, struct conn *c, const char *msg)
{
	struct reply rep = { .body = &h->body };

	routes_error(&rep, 503, msg);
	snprintf(rep.extra, sizeof rep.extra, "Retry-After: 1\r\n");
	send_reply(h, c, &rep, 0);
}

/* c's complete body of len bytes: its slot gets the job's id (returned)
 * and, with a delay, its run_at. */
static uint64_t job_assign(struct httpd *h, struct conn *c, uint32_t len)
{
	uint32_t i = (uint32_t)c->slot;
	uint64_t id = segment_assign(h->seg, i, len);

	if (c->delay > 0)
		segment_delay(h->seg, i, segment_slot(h->seg, i)->t_queued +
		    (int64_t)c->delay * NS_PER_S);
	return id;
}

/* With a journal: write the job; the answer waits for the round's commit. */
static void body_journal(struct httpd *h, struct conn *c, uint32_t len, uint64_t body)
{
	uint32_t i = (uint32_t)c->slot;
	uint64_t id = job_assign(h, c, len);
	struct slot *sl = segment_slot(h->seg, i);

	if (journal_append_job(h->journal, id, sl->run_at, segment_payload(h->seg, i), len) == -1) {
		journal_warn(h, "write failed, answering 503");
		conn_drop_slot(h, c);
		journal_refused(h, c, "journal write failed");
		request_done(h, c);
		return;
	}
	h->pending[h->npending++] = (struct pending){
		.c = c, .slot = i, .id = id, .idem_key = c->idem_key, .idem_body = body,
	};
	c->slot = -1;
	c->state = CS_COMMIT;
}

/* A POST with an Idempotency-Key whose job is retained: answered 202 as
 * the first time (plus Idempotent-Replayed), or 422 for another payload,
 * and the slot given back: 1.  Else 0, and *body the payload's hash. */
static int idem_replay(struct httpd *h, struct conn *c, uint32_t len, uint64_t *body,
    struct reply *rep)
{
	struct slot *sl = segment_slot(h->seg, (uint32_t)c->slot);
	long i;

	*body = segment_hash(segment_payload(h->seg, (uint32_t)c->slot), len);
	if ((i = segment_idem_find(h->seg, c->idem_key)) < 0)
		return 0;
	conn_drop_slot(h, c);
	sl = segment_slot(h->seg, (uint32_t)i);
	if (sl->idem_body != *body) {
		routes_error(rep, 422, "Idempotency-Key reused with another payload");
		return 1;
	}
	routes_accepted(rep, sl->id, sl->delayed_to);
	strcat(rep->extra, "Idempotent-Replayed: true\r\n");
	atomic_fetch_add_explicit(&segment_header(h->seg)->replayed, 1, memory_order_relaxed);
	return 1;
}

/* The whole body is here: enqueue the job (or finish skipping). */
static void body_complete(struct httpd *h, struct conn *c, uint64_t len)
{
	struct reply rep = { .body = &h->body };
	uint64_t id, body = 0;

	if (c->slot >= 0 && c->idem_key != 0 && idem_replay(h, c, (uint32_t)len, &body, &rep)) {
		send_reply(h, c, &rep, 0);
		request_done(h, c);
		return;
	}
	if (c->slot >= 0 && h->journal != NULL) {
		body_journal(h, c, (uint32_t)len, body);
		return;
	}
	if (c->slot >= 0) {
		id = job_assign(h, c, (uint32_t)len);
		if (segment_publish(h->seg, (uint32_t)c->slot) == -1) {
			/* a rewritten ready ring: the slot is still ours */
			note_bad(h);
			conn_drop_slot(h, c);
			routes_error(&rep, 503, "queue full");
		} else {
			if (c->idem_key != 0)
				(void)segment_idem_add(h->seg, (uint32_t)c->slot, c->idem_key, body);
			routes_accepted(&rep, id, segment_slot(h->seg, (uint32_t)c->slot)->delayed_to);
			c->slot = -1;
			h->bell_pending = 1;
		}
		send_reply(h, c, &rep, 0);
	}
	request_done(h, c);
}

/* POST /payload: decide from the head, reserve a slot, start the body. */
static void payload_start(struct httpd *h, struct conn *c,
    const struct http_request *req, size_t head_len)
{
	int expect = req->expect_continue && req->version_minor == 1;
	int has_body = req->chunked || req->content_length > 0;
	struct reply rep = { .body = &h->body };

	if (h->draining) {
		routes_error(&rep, 503, "draining");
		snprintf(rep.extra, sizeof rep.extra, "Retry-After: 1\r\n");
		rep.close = 1;
		goto answer;
	}
	if (!req->chunked && !req->has_content_length) {
		routes_error(&rep, 411, "length required");
		goto answer;
	}
	if (!req->chunked && req->content_length > h->max_payload) {
		routes_error(&rep, 413, "payload too large");
		rep.close = 1;
		goto answer;
	}
	conn_consume(c, head_len);
	if (!slot_available(h) && slowest_body(h) == NULL) {
		queue_full(h, c, req->chunked || (has_body && expect), req->content_length);
		return;
	}
	c->slot = -1;
	c->want_slot = 1;
	c->idem_key = req->idempotency_key == NULL ? 0 :
	    segment_hash(req->idempotency_key, req->idempotency_key_len);
	c->chunked = req->chunked;
	c->body_left = req->chunked ? 0 : req->content_length;
	c->body_got = 0;
	http_chunked_init(&c->ch);
	c->state = CS_BODY;
	conn_timer(h, c, T_BODY);
	if (!has_body) {
		if (payload_claim(h, c) == 0)
			body_complete(h, c, 0);
		return;
	}
	if (expect)
		OBUF_LIT(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	return;
answer:
	conn_consume(c, head_len);
	send_reply(h, c, &rep, 0);
	request_done(h, c);
}

/* A complete head of head_len bytes: route it. */
static void handle_head(struct httpd *h, struct conn *c,
    const struct http_request *req, size_t head_len)
{
	struct routes_ctx ctx = {
		.seg = h->seg, .draining = h->draining,
		.connections = h->nconns, .responses = h->responses,
		.acl = &h->acl,
	};
	struct reply rep = { .body = &h->body };
	enum route r = routes_find(req->path, req->path_len);
	int has_body = req->chunked || req->content_length > 0;
	int head_only = req->method == HTTP_HEAD;

	c->keep_alive = req->keep_alive;
	c->http10 = req->version_minor == 0;
	if (!routes_authorized(&ctx, r, req, &rep)) {
		acl_log_denied(c->fd, 401, clock_mono_ns());
	} else if (r == ROUTE_PAYLOAD && req->method == HTTP_POST) {
		if (routes_delay(req, h->max_delay, &c->delay, &rep)) {
			payload_start(h, c, req, head_len);
			return;
		}	/* else a 400 */
	} else if (r == ROUTE_NOT_FOUND) {
		routes_error(&rep, 404, "not found");
	} else if (!routes_allowed(r, req->method)) {
		routes_error(&rep, 405, "method not allowed");
		snprintf(rep.extra, sizeof rep.extra, "Allow: %s\r\n", routes_allow(r));
	} else {
		routes_answer(&ctx, r, req, &rep);
		/* a DELETE may hand the dispatcher a slot to free, a retry
		 * a job to run */
		h->bell_pending |= req->method == HTTP_DELETE || req->method == HTTP_POST;
	}
	/* A body we do not want: skip a short Content-Length one; close
	 * rather than read a long one, decode a chunked one or wait after an
	 * Expect. */
	if (req->chunked || (has_body && req->expect_continue) ||
	    skip_too_long(c, head_len, req->content_length))
		rep.close = 1;
	conn_consume(c, head_len);
	send_reply(h, c, &rep, head_only);
	if (has_body && !c->close_after)
		body_skip(h, c, req->content_length);
	else
		request_done(h, c);
}

/* Take body bytes from the input buffer. */
static void body_feed(struct httpd *h, struct conn *c)
{
	char *payload;

	if (c->want_slot && payload_claim(h, c) == -1 && c->state != CS_BODY)
		return;	/* answered; else its body is skipped */
	payload = c->slot >= 0 ? (char *)segment_payload(h->seg, (uint32_t)c->slot) : NULL;

	if (!c->chunked) {
		size_t n = c->in_len < c->body_left ? c->in_len : (size_t)c->body_left;

		if (payload)
			memcpy(payload + c->body_got, c->in, n);
		c->body_got += n;
		c->body_left -= n;
		conn_consume(c, n);
		if (c->body_left == 0)
			body_complete(h, c, c->body_got);
		return;
	}
	for (;;) {
		size_t used, made;
		int rc = http_chunked_decode(&c->ch, c->in, c->in_len, &used,
		    payload, h->max_payload, &made);

		conn_consume(c, used);
		if (rc == 1) {
			body_complete(h, c, c->ch.total);
			return;
		}
		if (rc == 0)
			return;
		conn_drop_slot(h, c);
		log_debug("httpd: chunked body: %d", -rc);
		send_error(h, c, -rc, rc == -413 ? "payload too large" : "bad chunked body", NULL);
		request_done(h, c);
		return;
	}
}

/* Serve what the input buffer holds, in order, while output has room. */
static void conn_process(struct httpd *h, struct conn *c)
{
	c->more = 0;
	while (!c->dead && !c->close_after && c->state != CS_LINGER &&
	    c->state != CS_COMMIT && obuf_pending(&c->out) < OUT_CAP) {
		struct http_request req;
		int rc;

		if (c->state == CS_BODY) {
			size_t before = c->in_len;

			if (c->in_len > 0)
				body_feed(h, c);
			if (c->state == CS_COMMIT)
				break;
			if (c->state == CS_BODY) {
				if (c->peer_eof) {	/* a partial body: never enqueued */
					conn_drop_slot(h, c);
					c->close_after = 1;
				}
				break;
			}
			if (before == 0 && c->in_len == 0)
				break;
			continue;
		}
		if (c->in_len == 0) {
			if (c->peer_eof)
				c->close_after = 1;
			else if (c->timer != T_IDLE)
				conn_timer(h, c, T_IDLE);
			break;
		}
		if (c->timer != T_HEAD)
			conn_timer(h, c, T_HEAD);
		/* resumes where the last read's scan stopped: the input
		 * only grows until the head is taken */
		rc = http_parse_head_more(&c->scan, c->in, c->in_len, &req);
		if (rc != 0)
			http_head_init(&c->scan);
		if (rc == 0) {
			if (c->in_len == IN_CAP)	/* the parser's limits fire first */
				send_error(h, c, 431, "request header fields too large", NULL);
			else if (c->peer_eof)
				c->close_after = 1;
			break;
		}
		if (rc < 0) {
			log_debug("httpd: bad request: %d %s", -rc, req.error ? req.error : "");
			send_error(h, c, -rc, req.error ? req.error : http_status_text(-rc), NULL);
			break;
		}
		handle_head(h, c, &req, (size_t)rc);
	}
	c->more = !c->dead && c->in_len > 0 && obuf_pending(&c->out) >= OUT_CAP;
	/* waiting for the client to read: the idle timer, which each send
	 * that makes progress re-arms (not the header timer: the next head
	 * is ours to take) */
	if (c->more && c->timer != T_IDLE)
		conn_timer(h, c, T_IDLE);
}

/* Read what the socket has: into the slot, the input buffer, or nowhere. */
static void conn_read(struct httpd *h, struct conn *c)
{
	char *dst;
	size_t room;
	ssize_t n;
	int direct = 0;

	if (c->state == CS_LINGER) {
		dst = c->in;
		room = IN_CAP;
	} else if (c->state == CS_BODY && !c->chunked && c->slot >= 0 && c->in_len == 0) {
		dst = (char *)segment_payload(h->seg, (uint32_t)c->slot) + c->body_got;
		room = c->body_left > SSIZE_MAX ? SSIZE_MAX : (size_t)c->body_left;
		direct = 1;
	} else {
		dst = c->in + c->in_len;
		room = IN_CAP - c->in_len;
		if (room == 0)
			return;
	}
	do
		n = read(c->fd, dst, room);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		log_debug("httpd: read: %s", strerror(errno));
		conn_close(h, c);
		return;
	}
	if (n == 0) {
		if (c->state == CS_LINGER)
			conn_close(h, c);
		else
			c->peer_eof = 1;
		return;
	}
	if (c->state == CS_LINGER)
		return;
	if (direct) {
		c->body_got += (uint64_t)n;
		c->body_left -= (uint64_t)n;
		if (c->body_left == 0)
			body_complete(h, c, c->body_got);
		return;
	}
	c->in_len += (size_t)n;
}

/* The connection's fd is ready. */
static void conn_event(void *arg, int fd, unsigned ready)
{
	struct conn *c = arg;
	struct httpd *h = c->h;

	(void)fd;
	if (ready & LOOP_ERR) {
		conn_close(h, c);
		return;
	}
	if (ready & (LOOP_IN | LOOP_HUP))
		conn_read(h, c);
	if (!c->dead && (ready & LOOP_OUT))
		conn_flush(h, c);
	if (!c->dead)
		conn_process(h, c);
	if (!c->dead)
		conn_flush(h, c);
	if (!c->dead)
		conn_update_events(h, c);
}

/* A connection's deadline passed. */
static void conn_expire(struct httpd *h, struct conn *c)
{
	enum conn_timer t = c->timer;

	conn_timer(h, c, T_NONE);
	if (t == T_IDLE || t == T_LINGER || obuf_pending(&c->out) > 0 ||
	    (c->state == CS_BODY && c->slot < 0 && !c->want_slot)) {
		/* idle, lingering, not reading its answers, or not sending the
		 * rest of a body already answered: close silently */
		conn_close(h, c);
		return;
	}
	log_debug("httpd: %s timeout", t == T_HEAD ? "header" : "body");
	conn_drop_slot(h, c);
	c->in_len = 0;
	send_error(h, c, 408, "request timeout", NULL);
	if (!c->dead)
		conn_flush(h, c);
	if (!c->dead)
		conn_update_events(h, c);
}

/* --- the journal ---------------------------------------------------------- */

/* segment_finished: a job the dispatcher finished. */
static void job_finished(void *arg, uint64_t id, enum slot_state st)
{
	struct httpd *h = arg;

	if (journal_append_end(h->journal, id, st == SLOT_FAILED ? JOURNAL_FAILED :
	    st == SLOT_CANCELED ? JOURNAL_CANCELED : JOURNAL_DONE) == -1)
		journal_warn(h, "writing a completion failed (the job may run again after "
		    "a reboot)");
}

/* The round's group commit: one journal_commit for the jobs written so
 * far, then publish and answer them, and serve what their connections
 * pipelined; repeat for the jobs that adds. */
static void journal_round(struct httpd *h)
{
	while (h->npending > 0) {
		uint32_t n = h->npending;
		int rc = journal_commit(h->journal);

		if (rc == -1)
			journal_warn(h, "sync failed, answering 503 to the jobs of the round");
		for (uint32_t k = 0; k < n; k++) {
			struct pending p = h->pending[k];
			struct conn *c = p.c;
			struct reply rep = { .body = &h->body };
			int ok = rc == 0 && segment_publish(h->seg, p.slot) == 0;

			if (ok) {
				h->bell_pending = 1;
				if (p.idem_key != 0)
					(void)segment_idem_add(h->seg, p.slot, p.idem_key,
					    p.idem_body);
			} else {
				if (rc == 0) {	/* a rewritten ready ring */
					note_bad(h);
					(void)journal_append_end(h->journal, p.id, JOURNAL_CANCELED);
				}
				stash_slot(h, p.slot);
			}
			if (c->dead)	/* the job stands (or not) all the same */
				continue;
			if (ok) {
				routes_accepted(&rep, p.id,
				    segment_slot(h->seg, p.slot)->delayed_to);
				send_reply(h, c, &rep, 0);
			} else {
				journal_refused(h, c, rc == 0 ? "queue full" : "journal sync failed");
			}
			request_done(h, c);
			conn_process(h, c);
			if (!c->dead)
				conn_flush(h, c);
			if (!c->dead)
				conn_update_events(h, c);
		}
		h->npending -= n;
		memmove(h->pending, h->pending + n, h->npending * sizeof(*h->pending));
	}
}

void httpd_set_journal(struct httpd *h, struct journal *j)
{
	h->journal = j;
	if (j != NULL && h->pending == NULL &&
	    (h->pending = calloc(h->stash_cap ? h->stash_cap : 1, sizeof(*h->pending))) == NULL)
		fatal("httpd: journal");
}

/* --- the round and the tick ---------------------------------------------- */

/* Free the connections closed in this round. */
static void bury(struct httpd *h)
{
	while (h->graveyard) {
		struct conn *c = h->graveyard;

		h->graveyard = c->next;
		obuf_free(&c->out);
		free(c);
	}
}

/* The loop's round hook: with jobs waiting for the sync, first take what
 * else has come meanwhile (the loop bounds it); then the journal's group
 * commit and one doorbell for every job the round enqueued. */
static int round_end(void *arg, int last)
{
	struct httpd *h = arg;

	if (!last && h->npending > 0)
		return 1;
	if (h->journal != NULL) {
		segment_finished(h->seg, job_finished, h);
		journal_round(h);
	}
	/* a syscall and a wake-up per round, not per request */
	if (h->bell_pending) {
		h->bell_pending = 0;
		doorbell(h);
	}
	bury(h);
	return 0;
}

/* Every TICK_MS: the connections' deadlines, the end of an accept pause,
 * and the completions seen while no job came (on disk within a tick). */
static int tick(void *arg)
{
	struct httpd *h = arg;
	int64_t now = loop_now(h->loop);
	struct conn *c, *next;

	if (h->journal != NULL && journal_commit(h->journal) == -1)
		journal_warn(h, "sync of completions failed (the jobs may run again "
		    "after a reboot)");
	for (c = h->conns; c != NULL; c = next) {
		next = c->next;
		if (c->timer != T_NONE && now >= c->deadline)
			conn_expire(h, c);
	}
	if (h->accept_paused_until != 0 && now >= h->accept_paused_until) {
		h->accept_paused_until = 0;
		listener_update(h);
	}
	bury(h);
	return TICK_MS;
}

/* --- settings -------------------------------------------------------------- */

struct httpd *httpd_new(struct loop *l, const struct config *c, struct segment *seg)
{
	struct httpd *h = calloc(1, sizeof *h);

	if (h == NULL)
		return NULL;
	h->loop = l;
	h->seg = seg;
	h->hdr = segment_header(seg);
	h->max_payload = segment_max_payload(seg);
	h->stash_cap = segment_capacity(seg);
	h->stash = calloc(h->stash_cap ? h->stash_cap : 1, sizeof *h->stash);
	if (h->stash == NULL || (h->tick_timer = loop_timer(l, TICK_MS, tick, h)) == -1) {
		free(h->stash);
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	loop_set_hook(l, round_end, h);
	h->listen_fd = -1;
	h->doorbell_fd = -1;
	httpd_configure(h, c);
	return h;
}

void httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	while (h->conns)
		conn_close(h, h->conns);
	bury(h);
	httpd_close_listener(h);
	loop_timer_cancel(h->loop, h->tick_timer);
	loop_set_hook(h->loop, NULL, NULL);
	obuf_free(&h->body);
	free(h->stash);
	if (h->journal != NULL) {
		struct journal_stats st;

		segment_finished(h->seg, job_finished, h);
		if (journal_commit(h->journal) == -1)
			log_warn("journal: the last sync");
		journal_stats(h->journal, &st);
		log_info("journal: %" PRIu64 " syncs since the start; %u files, %" PRIu64
		    " bytes", st.commits, st.files, st.bytes);
		journal_close(h->journal);
	}
	free(h->pending);
	free(h);
}

void httpd_configure(struct httpd *h, const struct config *c)
{
	h->max_connections = c->max_connections ? c->max_connections : 1;
	h->keepalive_ns = (int64_t)c->keepalive_timeout * NS_PER_S;
	h->header_ns = (int64_t)c->header_timeout * NS_PER_S;
	h->body_ns = (int64_t)c->body_timeout * NS_PER_S;
	h->min_body_rate = c->min_body_rate;
	h->no_slow_until = 0;
	h->max_delay = c->max_delay;
	h->acl = c->acl;
	listener_update(h);
}

void httpd_set_doorbell(struct httpd *h, int fd)
{
	h->doorbell_fd = fd;
}

void httpd_set_draining(struct httpd *h, int on)
{
	struct conn *c, *next;

	h->draining = on != 0;
	if (!on)
		return;
	/* Idle connections go now; busy ones after their current answer. */
	for (c = h->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != CS_HEAD || c->in_len > 0)
			continue;
		if (obuf_pending(&c->out) == 0) {
			conn_close(h, c);
		} else {
			c->close_after = 1;
			conn_update_events(h, c);
		}
	}
}

unsigned httpd_connections(const struct httpd *h)
{
	return h->nconns;
}
