/*
 * supervisor — the master's main loop (see supervisor.h).
 *
 * Signals are blocked and read from a signalfd watched in the event loop
 * (loop.h) that the HTTP side runs on, so a signal only sets a flag; the
 * loop acts on the flags after each loop_poll() round, in one place:
 *
 *   SIGTERM/SIGINT  drain: close the listener, /healthz 503, CTL_DRAIN to
 *                   the dispatcher; CTL_STOP at drain_timeout or on a second
 *                   signal; exit 0 once the dispatcher and HTTP are done
 *   SIGHUP          reload (config_build; keep the old one if invalid)
 *   SIGUSR1         reopen the log file
 *   SIGCHLD         reap; a dead dispatcher means: kill and reap the workers
 *                   it left (the master is their subreaper, so they are now
 *                   our children), rebuild the rings from the slot table,
 *                   fork a new dispatcher (throttled)
 *
 * Once a second the loop also looks for a slot the rings have lost (see
 * check_rings): a rewritten ring restarts the dispatcher, whose death
 * rebuilds both rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/child.h"
#include "common/clock.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/plural.h"
#include "common/proctitle.h"
#include "common/proto.h"
#include "server/httpd.h"
#include "server/listener.h"
#include "server/loop.h"
#include "server/supervisor.h"
#include "worker/dispatcher.h"
#include "worker/handler.h"

#define TICK_MS			250
#define STATUS_EVERY_NS		(5 * 1000000000LL)
#define RESPAWN_MIN_NS		(100 * 1000000LL)
#define RESPAWN_MAX_NS		(10 * 1000000000LL)
#define STABLE_NS		(10 * 1000000000LL)	/* a dispatcher this old was healthy */
#define HTTP_GRACE_NS		(5 * 1000000000LL)	/* in-flight HTTP after the drain */
#define RING_CHECK_NS		1000000000LL		/* how often check_rings looks */
#define LOST_NS			(3 * 1000000000LL)	/* a slot lost this long: rebuild */

enum stop_state { RUNNING, DRAINING, STOPPING };

struct master {
	struct supervisor_args *a;
	struct config *cfg;
	struct loop *loop;
	struct httpd *httpd;
	int sigfd;
	/* signal flags, set by on_signal, cleared by the loop */
	int sig_term, sig_hup, sig_usr1, sig_chld;
	/* the dispatcher */
	pid_t disp;
	int doorbell_wr, ctl_wr;
	int64_t disp_started;
	int orphans;			/* a dispatcher died: wait for its workers */
	int disp_clean;			/* ... or it exited 0 (drained, stopped) */
	pid_t orphan[SEG_SCORE_COUNT];	/* those workers, until reaped */
	unsigned norphans;
	int64_t respawn_at;		/* 0 = no respawn pending */
	struct backoff backoff;		/* reset by a life of STABLE_NS */
	/* shutdown */
	enum stop_state stop;
	int64_t drain_deadline;
	int stop_sent;
	int64_t next_status;
	/* check_rings: the slot found lost, since when; the dispatcher
	 * already asked to stop for a rebuild */
	int64_t next_ring_check, lost_since;
	uint32_t lost_slot;
	uint64_t lost_id;
	pid_t rebuild_asked;
};

/* Read every pending signal from the signalfd and set its flag. */
static void on_signal(void *arg, int fd, unsigned ready)
{
	struct master *m = arg;
	struct signalfd_siginfo si;
	ssize_t n;

	(void)fd;
	(void)ready;
	for (;;) {
		n = read(m->sigfd, &si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return;		/* EAGAIN: all read */
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			m->sig_term++;
			break;
		case SIGHUP:
			m->sig_hup = 1;
			break;
		case SIGUSR1:
			m->sig_usr1 = 1;
			break;
		case SIGCHLD:
			m->sig_chld = 1;
			break;
		}
	}
}

/* One line of STATUS= for systemd. */
static void send_status(struct master *m)
{
	struct seg_header *h = segment_header(m->a->seg);
	struct seg_census c;

	segment_census(m->a->seg, 0, &c);
	notify_send("STATUS=%s: queue %u/%u, workers %u busy, %u idle, %llu accepted",
	    m->stop != RUNNING ? "draining" : "serving",
	    c.queued, segment_capacity(m->a->seg), c.workers[SCORE_BUSY],
	    c.workers[SCORE_IDLE], (unsigned long long)atomic_load(&h->accepted));
}

/* Send a control message (and its payload) to the dispatcher. */
static void send_ctl(struct master *m, enum ctl_type type, const void *body, uint32_t len)
{
	struct msg_ctl msg = { .type = type, .len = len };

	if (m->ctl_wr == -1)
		return;
	if (proto_write(m->ctl_wr, &msg, sizeof(msg)) == -1 ||
	    (len > 0 && proto_write(m->ctl_wr, body, len) == -1))
		log_warn("cannot send control message %d to the dispatcher", type);
}

/* Fork the dispatcher with fresh pipes. */
static void spawn_dispatcher(struct master *m)
{
	int bell[2], ctl[2];
	pid_t pid;

	if (fd_pipe(bell, O_NONBLOCK) == -1) {
		log_warn("dispatcher pipe");
		m->respawn_at = clock_mono_ns() + RESPAWN_MAX_NS;
		return;
	}
	if (fd_pipe(ctl, 0) == -1) {
		log_warn("dispatcher pipe");
		close(bell[0]);
		close(bell[1]);
		m->respawn_at = clock_mono_ns() + RESPAWN_MAX_NS;
		return;
	}
	switch ((pid = fork())) {
	case -1:
		log_warn("fork dispatcher");
		close(bell[0]);
		close(bell[1]);
		close(ctl[0]);
		close(ctl[1]);
		m->respawn_at = clock_mono_ns() + RESPAWN_MAX_NS;
		return;
	case 0:
		/* Out of the terminal's process group: ^C reaches the master
		 * only, which then drains in order.  dispatcher_run() sets up
		 * the rest (fds, log) at its entry. */
		if (setpgid(0, 0) == -1)
			log_warn("setpgid");
		dispatcher_run(m->cfg, m->a->seg, bell[0], ctl[0]);
	}
	close(bell[0]);
	close(ctl[0]);
	/* /healthz: a new dispatcher has as long to beat as a stalled one */
	atomic_store(&segment_header(m->a->seg)->dispatcher_beat, clock_mono_ns());
	m->disp = pid;
	m->doorbell_wr = bell[1];
	m->ctl_wr = ctl[1];
	m->disp_started = clock_mono_ns();
	m->respawn_at = 0;
	httpd_set_doorbell(m->httpd, m->doorbell_wr);
	log_info("dispatcher started (pid %ld)", (long)pid);
	if (m->stop == DRAINING)
		send_ctl(m, m->stop_sent ? CTL_STOP : CTL_DRAIN, NULL, 0);
}

/* The parent pid of pid from /proc, or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *r;
	FILE *fp;
	long ppid = -1;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses */
	if (fgets(buf, sizeof(buf), fp) != NULL && (r = strrchr(buf, ')')) != NULL &&
	    sscanf(r + 1, " %*c %ld", &ppid) != 1)
		ppid = -1;
	fclose(fp);
	return (pid_t)ppid;
}

/* Kill the workers a dead dispatcher left and remember them until they
 * are reaped.  Only processes that are our children now (reparented to
 * us, the subreaper) are touched: a stale scoreboard pid may belong to
 * anyone.  Each goes with its exec job's process group (child_kill);
 * strays that left that group are reaped but not waited for. */
static void kill_orphans(struct master *m)
{
	struct segment *seg = m->a->seg;

	m->norphans = 0;
	for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++) {
		pid_t pid = atomic_load(&segment_score(seg, i)->pid);

		if (pid <= 0 || parent_of(pid) != getpid())
			continue;
		if (child_kill(pid) == -1)
			continue;
		m->orphan[m->norphans++] = pid;
	}
	if (m->norphans > 0)
		log_info("killing %u worker%s of the dead dispatcher", m->norphans,
		    plural(m->norphans));
}

/* A reaped pid: cross it off the orphans we wait for. */
static void orphan_reaped(struct master *m, pid_t pid)
{
	for (unsigned i = 0; i < m->norphans; i++)
		if (m->orphan[i] == pid) {
			m->orphan[i] = m->orphan[--m->norphans];
			return;
		}
}

/* The dispatcher is gone: forget its pipes and wait for its workers. */
static void dispatcher_died(struct master *m, int status)
{
	int64_t lived = clock_mono_ns() - m->disp_started;

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && m->stop != RUNNING)
		log_info("dispatcher (pid %ld) exited", (long)m->disp);
	else if (WIFEXITED(status))
		log_warnx("dispatcher (pid %ld) exited with status %d",
		    (long)m->disp, WEXITSTATUS(status));
	else
		log_warnx("dispatcher (pid %ld) killed by signal %d (%s)",
		    (long)m->disp, WTERMSIG(status), strsignal(WTERMSIG(status)));
	m->disp = 0;
	m->disp_clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	httpd_set_doorbell(m->httpd, -1);
	close(m->doorbell_wr);
	close(m->ctl_wr);
	m->doorbell_wr = m->ctl_wr = -1;
	m->orphans = 1;
	kill_orphans(m);
	/* Reset policy: a dispatcher that lived STABLE_NS was healthy, its
	 * death is news of its own (respawned at once); a shorter life steps
	 * the delay. */
	if (lived >= STABLE_NS)
		backoff_reset(&m->backoff);
	else
		backoff_step(&m->backoff);
}

/* Every worker is gone after a dispatcher death: rebuild the rings. */
static void recover(struct master *m)
{
	struct seg_recovery r;

	m->orphans = 0;
	if (segment_recover(m->a->seg, 1, &r) == -1)
		fatal("recovering the queue");
	/* after a clean exit (drained, stopped) this is bookkeeping only */
	(m->disp_clean ? log_debug : log_info)("queue recovered: %u queued, "
	    "%u interrupted job%s requeued, %u slot%s free", r.requeued, r.orphaned,
	    plural(r.orphaned), r.freed, plural(r.freed));
	/* A crash while draining gets a new dispatcher to finish the drain. */
	if (m->stop == RUNNING || (m->stop == DRAINING && !m->stop_sent && !m->disp_clean)) {
		int64_t delay = backoff_delay(&m->backoff);

		atomic_fetch_add(&segment_header(m->a->seg)->dispatcher_restarts, 1);
		m->respawn_at = clock_mono_ns() + delay;
		if (delay > 0)
			log_warnx("restarting the dispatcher in %lld ms",
			    (long long)(delay / 1000000));
	}
}

/* Reap every dead child; act on the dispatcher's death. */
static void reap(struct master *m)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if (pid == m->disp)
			dispatcher_died(m, status);
		else {
			orphan_reaped(m, pid);
			log_debug("reaped orphan pid %ld", (long)pid);
		}
	}
	if (m->orphans && m->norphans == 0)
		recover(m);
}

/* The first slot the rings have lost, or -1: with free_empty, one that
 * is reusable (FREE, DONE, FAILED or garbage: what recovery frees) while
 * the free ring is empty; with ready_idle, one that is QUEUED while the
 * ready ring is empty and a worker is idle.  A SCHEDULED one is in the
 * dispatcher's timers, on no ring.  A canceled one whose entry is still
 * on the ready ring (CANCELING) waits for the dispatcher to reach it,
 * however long the jobs before it run: lost only once the ready ring is
 * empty. */
static long lost_slot(struct segment *seg, int free_empty, int ready_idle)
{
	int ready_empty = ring_count(segment_ready(seg)) == 0;

	for (uint32_t i = 0; i < segment_capacity(seg); i++) {
		struct slot *sl = segment_slot(seg, i);
		uint32_t st = atomic_load(&sl->state);

		if (atomic_load(&sl->rings) & SLOT_CANCELING) {
			if (ready_empty)
				return i;
		} else if (st == SLOT_QUEUED ? ready_idle : st != SLOT_FILLING &&
		    st != SLOT_RUNNING && st != SLOT_SCHEDULED && free_empty)
			return i;
	}
	return -1;
}

/*
 * Once every RING_CHECK_NS while serving: a rewritten ring can lose slots
 * (entries overwritten or duplicated: the master drops what names no
 * reusable slot, the dispatcher what names no QUEUED one), and then POSTs
 * get 503 with the queue empty, or jobs stay queued, until the rings are
 * rebuilt.  Cheap first (the rings' counts and the gauges); only when the
 * free ring is empty while the gauges leave room, or the ready ring is
 * empty while jobs are queued and a worker is idle, the slot table is
 * scanned.  The same slot (and id) found lost for LOST_NS is no transient
 * (the dispatcher marks a slot DONE just before it pushes it; a requeued
 * job goes to an idle worker at once): the dispatcher is asked to stop
 * (SIGTERM: the jobs it cuts short are not charged an attempt), or
 * killed if it was asked already, and its death rebuilds both rings from
 * the slot table (recover) and starts a new one.
 */
static void check_rings(struct master *m, int64_t now)
{
	struct segment *seg = m->a->seg;
	struct seg_census c;
	int free_empty, ready_idle;
	long i = -1;

	if (now < m->next_ring_check)
		return;
	m->next_ring_check = now + RING_CHECK_NS;
	if (m->stop == RUNNING && m->disp != 0) {
		segment_census(seg, 0, &c);
		free_empty = ring_count(segment_free(seg)) == 0 &&
		    (uint64_t)c.queued + c.running < segment_capacity(seg);
		ready_idle = ring_count(segment_ready(seg)) == 0 && c.queued > 0 &&
		    c.workers[SCORE_IDLE] > 0;
		if (free_empty || ready_idle)
			i = lost_slot(seg, free_empty, ready_idle);
	}
	if (i < 0) {
		m->lost_since = 0;
		return;
	}
	if (m->lost_since == 0 || m->lost_slot != (uint32_t)i ||
	    m->lost_id != segment_slot(seg, (uint32_t)i)->id) {
		m->lost_since = now;
		m->lost_slot = (uint32_t)i;
		m->lost_id = segment_slot(seg, (uint32_t)i)->id;
		return;
	}
	if (now - m->lost_since < LOST_NS)
		return;
	log_warnx("queue: slot %ld has been on neither ring for %lld s (a rewritten ring?): "
	    "restarting the dispatcher to rebuild them", i, (long long)(LOST_NS / 1000000000));
	if (kill(m->disp, m->rebuild_asked == m->disp ? SIGKILL : SIGTERM) == -1)
		log_warn("signalling the dispatcher");
	m->rebuild_asked = m->disp;
	m->lost_since = now;	/* SIGKILL after another LOST_NS */
}

/* Keys a reload cannot change (config_key_live() says which): keep the
 * running values, say so. */
static void keep_restart_keys(const struct config *old, struct config *nc)
{
	char derived_old[64], derived_new[64];

	/* A default name follows the port: a new port is no new shm_name. */
	snprintf(derived_old, sizeof(derived_old), "/jobqd-%d", config_listen_port(old));
	snprintf(derived_new, sizeof(derived_new), "/jobqd-%d", config_listen_port(nc));
	if (strcmp(old->shm_name, derived_old) == 0 && strcmp(nc->shm_name, derived_new) == 0)
		memcpy(nc->shm_name, old->shm_name, sizeof(nc->shm_name));
	for (const char *const *k = config_keys(); *k != NULL; k++)
		if (!config_key_live(*k) && config_key_restore(nc, old, *k) == 1)
			log_warnx("reload: %s changed; it takes effect at the next restart", *k);
}

/* A new listen address: bind it, then let the old socket go.  The same
 * port on another address cannot be bound while the old socket listens, so
 * then the old one is closed first and reopened if the new bind fails. */
static void rebind(struct master *m, struct config *nc)
{
	char err[512];
	int fd = listener_open(nc, err, sizeof(err));

	if (fd == -1 && errno == EADDRINUSE &&
	    config_listen_port(nc) == config_listen_port(m->cfg)) {
		httpd_close_listener(m->httpd);
		if ((fd = listener_open(nc, err, sizeof(err))) == -1) {
			char err2[512];
			int old = listener_open(m->cfg, err2, sizeof(err2));

			if (old == -1)
				fatalx("reload: %s, and the old address failed too: %s", err, err2);
			httpd_set_listener(m->httpd, old);
		}
	}
	if (fd == -1) {
		log_errorx("reload: %s; still listening on %s", err, m->cfg->listen);
		memcpy(nc->listen, m->cfg->listen, sizeof(nc->listen));
		return;
	}
	httpd_set_listener(m->httpd, fd);
	log_info("now listening on %s", nc->listen);
}

/* SIGHUP: re-read the configuration and apply what can change live.  A
 * file that sets no key is refused: it is almost always a truncated write,
 * and its defaults would listen everywhere with no access control.  A
 * reload that empties allow, deny or auth_token_file applies, warning. */
static void reload(struct master *m)
{
	static const char *const lists[] = { [ACL_ALLOW] = "allow", [ACL_DENY] = "deny" };
	struct handler *h;
	struct config nc;
	char why[1024], err[CONFIG_HANDLER_MAX + sizeof(why) + 16];
	char was[ACL_RULES_MAX * 48], now[sizeof(was)];
	int nset;

	notify_reloading();
	log_info("reloading configuration");
	if ((nset = config_build(&nc, m->a->config_path, m->a->overrides,
	    m->a->noverrides, err, sizeof(err))) == -1)
		goto failed;
	if (nset == 0 && m->a->config_path != NULL) {
		snprintf(err, sizeof(err), "%s sets no key (restart to run on the "
		    "built-in defaults)", m->a->config_path);
		goto failed;
	}
	/* We run as the workers' user: what fails here would fail them all. */
	if ((h = handler_create(&nc, why, sizeof(why))) == NULL) {
		snprintf(err, sizeof(err), "handler \"%s\": %s", nc.handler, why);
		goto failed;
	}
	handler_free(h);
	for (enum acl_which w = ACL_ALLOW; w <= ACL_DENY; w++) {
		acl_format_list(&m->cfg->acl, w, was, sizeof(was));
		acl_format_list(&nc.acl, w, now, sizeof(now));
		if (was[0] != '\0' && now[0] == '\0')
			log_warnx("reload: %s turned off (was %s)", lists[w], was);
	}
	if (m->cfg->auth_token_file[0] != '\0' && nc.auth_token_file[0] == '\0')
		log_warnx("reload: auth_token_file turned off (was %s): requests "
		    "need no token", m->cfg->auth_token_file);
	keep_restart_keys(m->cfg, &nc);
	if (m->a->daemonized && strcmp(nc.log, "stderr") == 0)
		memcpy(nc.log, "syslog", sizeof("syslog"));	/* as at start-up */
	if (strcmp(nc.listen, m->cfg->listen) != 0)
		rebind(m, &nc);
	if (strcmp(nc.log, m->cfg->log) != 0 && log_open(nc.log, nc.log_level) == -1) {
		log_warn("reload: log %s; keeping %s", nc.log, m->cfg->log);
		memcpy(nc.log, m->cfg->log, sizeof(nc.log));
	}
	log_set_level(nc.log_level);
	httpd_configure(m->httpd, &nc);
	*m->cfg = nc;
	send_ctl(m, CTL_CONFIG, m->cfg, sizeof(*m->cfg));	/* it counts the result */
	log_info("configuration reloaded: %u worker%s, handler \"%s\"",
	    nc.workers, plural(nc.workers), nc.handler);
	notify_send("READY=1");
	send_status(m);
	return;
failed:
	log_errorx("reload failed: %s; keeping the running configuration", err);
	atomic_fetch_add(&segment_header(m->a->seg)->reloads_failed, 1);
	notify_send("READY=1");
}

/* SIGTERM/SIGINT: first drain, then (second signal) stop at once. */
static void begin_stop(struct master *m)
{
	struct seg_header *h = segment_header(m->a->seg);
	struct seg_census c;
	unsigned n;

	segment_census(m->a->seg, 0, &c);
	n = c.queued + c.running;
	if (m->stop == RUNNING) {
		m->stop = DRAINING;
		notify_send("STOPPING=1");
		log_info("shutting down: draining %u queued job%s (at most %u s)",
		    n, plural(n), m->cfg->drain_timeout);
		atomic_store(&h->draining, 1);
		httpd_close_listener(m->httpd);
		httpd_set_draining(m->httpd, 1);
		m->drain_deadline = clock_mono_ns() + (int64_t)m->cfg->drain_timeout * 1000000000;
		send_ctl(m, CTL_DRAIN, NULL, 0);
	} else if (m->stop == DRAINING) {
		m->stop = STOPPING;
		log_info("second stop signal: stopping now");
		m->stop_sent = 1;
		m->respawn_at = 0;
		send_ctl(m, CTL_STOP, NULL, 0);
	}
}

/* The signals the master handles, read from its signalfd. */
static void master_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGCHLD);
}

int supervisor_block_signals(void)
{
	sigset_t set;

	master_signals(&set);
	return sigprocmask(SIG_BLOCK, &set, NULL);
}

/* Set up the signalfd for the signals the master handles (blocked since
 * supervisor_block_signals). */
static int signals_open(void)
{
	sigset_t set;

	master_signals(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int supervisor_run(struct supervisor_args *a)
{
	struct master m = { .a = a, .cfg = &a->cfg, .doorbell_wr = -1, .ctl_wr = -1 };
	struct seg_census census;
	uint32_t left;

	backoff_init(&m.backoff, RESPAWN_MIN_NS, RESPAWN_MAX_NS);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		fatal("prctl(PR_SET_CHILD_SUBREAPER)");
	if ((m.sigfd = signals_open()) == -1)
		fatal("signalfd");
	if ((m.loop = loop_new()) == NULL)
		fatal("event loop");
	if ((m.httpd = httpd_new(m.loop, m.cfg, a->seg)) == NULL)
		fatal("http server");
	httpd_set_listener(m.httpd, a->listen_fd);
	httpd_set_journal(m.httpd, a->journal);
	if (loop_watch(m.loop, m.sigfd, LOOP_IN, on_signal, &m) == -1)
		fatal("epoll");
	proctitle_set("jobqd: master");
	spawn_dispatcher(&m);
	log_info("serving on %s: node %u, %u worker%s, queue %u, handler \"%s\"",
	    m.cfg->listen, m.cfg->node, m.cfg->workers, plural(m.cfg->workers),
	    m.cfg->queue, m.cfg->handler);
	notify_send("READY=1");
	send_status(&m);
	if (a->ready_fd != -1) {
		(void)!write(a->ready_fd, "R", 1);
		close(a->ready_fd);
		a->ready_fd = -1;
	}
	m.next_status = clock_mono_ns() + STATUS_EVERY_NS;

	for (;;) {
		int64_t now;

		if (loop_poll(m.loop, TICK_MS) == -1)
			fatal("epoll_wait");
		on_signal(&m, m.sigfd, 0);	/* a signal that raced the poll */
		if (m.sig_chld) {
			m.sig_chld = 0;
			reap(&m);
		}
		if (m.sig_term) {
			m.sig_term = 0;
			begin_stop(&m);
		}
		if (m.sig_hup) {
			m.sig_hup = 0;
			if (m.stop == RUNNING)
				reload(&m);
		}
		if (m.sig_usr1) {
			m.sig_usr1 = 0;
			/* The dispatcher and the workers follow the counter. */
			if (log_reopen_if(atomic_fetch_add(&segment_header(a->seg)->log_generation, 1) + 1) == -1)
				log_warn("reopening the log %s", m.cfg->log);
			else
				log_info("log reopened");
		}
		now = clock_mono_ns();
		if (m.disp == 0 && !m.orphans && m.respawn_at != 0 && now >= m.respawn_at)
			spawn_dispatcher(&m);
		check_rings(&m, now);
		if (m.stop == DRAINING && !m.stop_sent && now >= m.drain_deadline) {
			log_warnx("drain timeout (%u s) reached: stopping",
			    m.cfg->drain_timeout);
			m.stop_sent = 1;
			m.respawn_at = 0;
			send_ctl(&m, CTL_STOP, NULL, 0);
		}
		if (m.stop != RUNNING && m.disp == 0 && !m.orphans && m.respawn_at == 0 &&
		    (httpd_connections(m.httpd) == 0 || m.stop == STOPPING ||
		     now >= m.drain_deadline + HTTP_GRACE_NS))
			break;
		if (now >= m.next_status) {
			send_status(&m);
			m.next_status = now + STATUS_EVERY_NS;
		}
	}
	httpd_free(m.httpd);
	loop_free(m.loop);
	segment_census(a->seg, 1, &census);
	left = census.queued + census.running;
	if (left == 0) {
		segment_unlink(m.cfg->shm_name);
		log_info("stopped: queue empty");
	} else {
		log_warnx("stopped: %u unfinished job%s kept in shared memory %s for the next start",
		    left, plural(left), m.cfg->shm_name);
	}
	close(m.sigfd);
	return 0;
}
