/*
 * harness — an in-process jobqd master for socket tests (see harness.h).
 *
 * The parent creates the segment before forking, so both sides share the
 * mapping and the locked file description.  The child watches a control
 * pipe in the loop: 'd'/'u' switch draining on/off (acknowledged
 * with a byte on the ack pipe once done), 'q' (or EOF) frees the httpd and
 * exits, so sanitizers see a clean shutdown.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/httpd.h"
#include "server/loop.h"
#include "tests/lib/harness.h"

static volatile int child_quit;
static struct httpd *child_httpd;
static int child_ack = -1;

void harness_config(struct config *c)
{
	config_defaults(c);
	snprintf(c->listen, sizeof c->listen, "127.0.0.1:0");
	c->queue = 4;
	c->max_payload = 1024;
	c->max_connections = 64;
	c->keepalive_timeout = 2;
	c->header_timeout = 1;
	c->body_timeout = 1;
	c->log_level = LOG_LEVEL_WARN;
}

/* Child: a control byte from the test. */
static void on_control(void *arg, int fd, unsigned ready)
{
	char b;
	ssize_t n = read(fd, &b, 1);

	(void)arg;
	(void)ready;
	if (n == -1 && errno == EINTR)
		return;
	if (n <= 0 || b == 'q')
		child_quit = 1;
	else if (b == 'd' || b == 'u') {
		httpd_set_draining(child_httpd, b == 'd');
		if (write(child_ack, "k", 1) != 1)
			perror("harness: ack");
	}
}

/* Child: serve until told to quit. */
static _Noreturn void child_main(const struct config *c, struct segment *seg,
    int lfd, int ctl, int bell, unsigned nfds)
{
	struct loop *loop;

	log_set_level(getenv("JOBQD_TEST_DEBUG") ? LOG_LEVEL_DEBUG : c->log_level);
	log_set_role("test-master");
	if ((loop = loop_new()) == NULL || (child_httpd = httpd_new(loop, c, seg)) == NULL) {
		perror("httpd_new");
		_exit(1);
	}
	httpd_set_listener(child_httpd, lfd);
	httpd_set_doorbell(child_httpd, bell);
	if (loop_watch(loop, ctl, LOOP_IN, on_control, NULL) == -1) {
		perror("loop_watch");
		_exit(1);
	}
	if (nfds > 0) {
		/* fill the holes below the highest fd, then allow nfds more */
		int top = 0, fd;
		struct rlimit rl;
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;

		if (d == NULL) {
			perror("harness: /proc/self/fd");
			_exit(1);
		}
		while ((e = readdir(d)) != NULL)
			if (atoi(e->d_name) > top && atoi(e->d_name) != dirfd(d))
				top = atoi(e->d_name);
		closedir(d);
		while ((fd = dup(0)) != -1 && fd < top)
			;	/* kept open: a hole filled */
		if (fd == -1 || close(fd) == -1 || getrlimit(RLIMIT_NOFILE, &rl) == -1) {
			perror("harness: fds");
			_exit(1);
		}
		rl.rlim_cur = (rlim_t)top + 1 + nfds;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			perror("harness: setrlimit");
			_exit(1);
		}
	}
	while (!child_quit)
		if (loop_poll(loop, 1000) == -1) {
			perror("loop_poll");
			_exit(1);
		}
	httpd_free(child_httpd);
	loop_free(loop);
	segment_close(seg);
	close(ctl);
	close(bell);
	exit(0);
}

int harness_start(struct harness *hs, const struct config *c)
{
	static const struct harness_opts none;

	return harness_start_opts(hs, c, &none);
}

int harness_start_opts(struct harness *hs, const struct config *c,
    const struct harness_opts *o)
{
	static int n;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof sin;
	char err[256];
	int lfd, ctl[2], bell[2], ack[2];

	memset(hs, 0, sizeof *hs);
	snprintf(hs->shm, sizeof hs->shm, "/jobqd-test-%d-%d", (int)getpid(), n++);
	segment_unlink(hs->shm);
	if (segment_open(hs->shm, c->queue, c->max_payload, c->max_output, geteuid(), &hs->seg, err, sizeof err) != SEG_CREATED) {
		fprintf(stderr, "harness: segment_open: %s\n", err);
		return -1;
	}
	segment_unlink(hs->shm);	/* the mapping stays; nothing leaks if we crash */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* accepted sockets inherit the listener's SO_SNDBUF */
	if (lfd == -1 || (o->sndbuf > 0 && setsockopt(lfd, SOL_SOCKET, SO_SNDBUF,
	    &o->sndbuf, sizeof o->sndbuf) == -1) ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, 128) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1) {
		perror("harness: listener");
		return -1;
	}
	hs->port = ntohs(sin.sin_port);
	if (pipe2(ctl, O_CLOEXEC) == -1 || pipe2(bell, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pipe2(ack, O_CLOEXEC) == -1) {
		perror("harness: pipe");
		return -1;
	}
	hs->pid = fork();
	if (hs->pid == -1) {
		perror("harness: fork");
		return -1;
	}
	if (hs->pid == 0) {
		close(ctl[1]);
		close(bell[0]);
		close(ack[0]);
		child_ack = ack[1];
		child_main(c, hs->seg, lfd, ctl[0], bell[1], o->nfds);
	}
	close(lfd);
	close(ctl[0]);
	close(bell[1]);
	close(ack[1]);
	hs->ctl = ctl[1];
	hs->bell = bell[0];
	hs->ack = ack[0];
	return 0;
}

int harness_stop(struct harness *hs)
{
	int status, rc = 0;

	if (hs->pid <= 0)
		return 0;
	if (write(hs->ctl, "q", 1) != 1)
		kill(hs->pid, SIGKILL);
	close(hs->ctl);
	while (waitpid(hs->pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "harness: server exited with status %#x\n", status);
		rc = -1;
	}
	close(hs->bell);
	close(hs->ack);
	segment_close(hs->seg);
	hs->pid = 0;
	return rc;
}

unsigned harness_drain(struct harness *hs, unsigned n)
{
	struct seg_header *h = segment_header(hs->seg);
	unsigned done = 0;
	uint32_t i;

	while (done < n && ring_pop(segment_ready(hs->seg), &i) == 0) {
		struct slot *sl = segment_slot(hs->seg, i);

		sl->attempts++;
		sl->t_started = clock_wall_ns();
		sl->worker_pid = 4242;
		sl->t_finished = clock_wall_ns();
		sl->exit_status = 0;
		atomic_store(&sl->state, SLOT_DONE);
		atomic_fetch_sub(&h->queued, 1);
		atomic_fetch_add(&h->completed, 1);
		ring_push(segment_free(hs->seg), i);
		done++;
	}
	return done;
}

int harness_draining(struct harness *hs, int on)
{
	struct pollfd p = { .fd = hs->ack, .events = POLLIN };
	char b;

	if (write(hs->ctl, on ? "d" : "u", 1) != 1 ||
	    poll(&p, 1, HARNESS_WAIT_MS) != 1 || read(hs->ack, &b, 1) != 1)
		return -1;
	return 0;
}

unsigned harness_doorbell(struct harness *hs)
{
	char b[64];
	ssize_t n;

	while ((n = read(hs->bell, b, sizeof b)) > 0)
		hs->rung += (unsigned)n;
	return hs->rung;
}

unsigned harness_doorbell_wait(struct harness *hs, unsigned n)
{
	long long deadline = clock_mono_ns() + HARNESS_WAIT_MS * 1000000LL;

	while (harness_doorbell(hs) < n) {
		struct pollfd p = { .fd = hs->bell, .events = POLLIN };
		long long left = (deadline - clock_mono_ns()) / 1000000;

		if (left <= 0)
			break;
		poll(&p, 1, (int)left);
	}
	return hs->rung;
}
