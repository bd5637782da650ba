/*
 * main — jobqd's entry point: the command line, the configuration, and the
 * start-up steps that need privileges, in this order:
 *
 *   options -> config (exit 78 when invalid, or when the daemon's user
 *   could not write the pidfile's or the log's directory; -t stops here) ->
 *   missing pidfile and log directories, owned by that user -> log ->
 *   listening socket -> shared-memory segment (wait for a previous run's
 *   processes, recover its jobs) -> -d daemonize -> pidfile ->
 *   drop privileges -> supervisor_run() (the master's loop)
 *
 * With -d, errors and warnings also go to the terminal until the start-up
 * steps have succeeded (the command then exits 0, or 1 after printing why),
 * as nginx does; only then is stderr closed.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/proctitle.h"
#include "common/segment.h"
#include "server/durable.h"
#include "server/listener.h"
#include "server/pidfile.h"
#include "server/routes.h"
#include "server/supervisor.h"

#define EX_CONFIG	78
#define SEG_WAIT_NS	(60 * 1000000000LL)

static const char usage_text[] =
    "usage: jobqd [-dhtV] [-c file] [-o key=value] [-p pidfile]\n";

/* Print the usage to fp and exit with status. */
static _Noreturn void usage(FILE *fp, int status)
{
	fputs(usage_text, fp);
	exit(status);
}

/* Open the segment, waiting while a previous run's processes still hold
 * it; recover what they left.  Exits on failure.  A segment left by a
 * crash belongs to the user we ran as (drop_privileges). */
static struct segment *open_segment(const struct config *c, uid_t user)
{
	struct segment *seg = NULL;
	char err[512];
	int64_t until = clock_mono_ns() + SEG_WAIT_NS;
	int r, waited = 0;

	while ((r = segment_open(c->shm_name, c->queue, c->max_payload, c->max_output, user, &seg,
	    err, sizeof(err))) == SEG_BUSY) {
		if (clock_mono_ns() >= until)
			fatalx("%s: another jobqd uses it, or the processes of a "
			    "previous run did not exit", err);
		if (!waited++)
			log_warnx("%s: waiting for the processes of a previous run to exit", err);
		usleep(100000);
	}
	if (r < 0)
		fatalx("%s", err);
	if (err[0] != '\0')
		log_warnx("%s", err);
	segment_set_node(seg, c->node);
	if (r == SEG_ATTACHED) {
		struct seg_recovery rec;

		if (segment_recover(seg, 0, &rec) == -1)
			fatal("recovering shared memory %s", c->shm_name);
		log_info("recovered shared memory %s: %u queued and %u interrupted jobs "
		    "will run, %u partial uploads dropped", c->shm_name,
		    rec.requeued, rec.orphaned, rec.dropped);
		/* /healthz: the old dispatcher's beat; ours comes soon */
		atomic_store(&segment_header(seg)->dispatcher_beat, clock_mono_ns());
	}
	return seg;
}

/* Become a background daemon, keeping stderr for start-up errors; returns
 * the fd to write a byte to once serving (the first parent waits for it
 * and exits 0, or 1 without it). */
static int daemonize(void)
{
	int p[2];
	char c;
	ssize_t n;

	if (fd_pipe(p, 0) == -1)
		fatal("pipe");
	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n == -1 && errno == EINTR);
		_exit(n == 1 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() == -1)
		fatal("setsid");
	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		_exit(0);
	}
	if (chdir("/") == -1)
		fatal("chdir /");
	if (fd_devnull_stdio(1) == -1)
		fatal("/dev/null");
	return p[1];
}

/* Connections, pipes and workers all need fds: take the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE)");
	}
}

/* Switch every later process to uid/gid (after binding and the segment). */
static void drop_privileges(const struct config *c, struct segment *seg, uid_t uid, gid_t gid)
{
	if (c->user[0] == '\0' && c->group[0] == '\0')
		return;
	/* Started as that user already (systemd's User=): nothing to drop. */
	if (getuid() == uid && geteuid() == uid && getgid() == gid && getegid() == gid)
		return;
	/* The segment and a log file stay usable after a restart as the user. */
	if (fchown(segment_fd(seg), uid, gid) == -1)
		log_warn("chown shared memory %s", c->shm_name);
	if (log_fd() >= 0 && fchown(log_fd(), uid, gid) == -1)
		log_warn("chown log %s", c->log);
	if (setgroups(1, &gid) == -1)
		fatal("setgroups");
	if (setgid(gid) == -1)
		fatal("setgid %ld", (long)gid);
	if (setuid(uid) == -1)
		fatal("setuid %ld", (long)uid);
	if (uid != 0 && setuid(0) != -1)
		fatalx("could regain root after dropping privileges");
	log_info("running as uid %ld gid %ld", (long)uid, (long)gid);
}

int main(int argc, char **argv)
{
	struct supervisor_args a = { .ready_fd = -1 };
	char **overrides, err[1024];
	size_t nov = 0;
	int ch, test_only = 0, daemon_mode = 0, status;
	const char *pidfile_opt = NULL;
	uid_t uid;
	gid_t gid;

	if ((overrides = calloc((size_t)argc + 1, sizeof(*overrides))) == NULL)
		return 1;
	while ((ch = getopt(argc, argv, "c:dhto:p:V")) != -1) {
		switch (ch) {
		case 'c':
			a.config_path = optarg;
			break;
		case 'd':
			daemon_mode = 1;
			break;
		case 'h':
			usage(stdout, 0);
		case 't':
			test_only = 1;
			break;
		case 'o':
			overrides[nov++] = optarg;
			break;
		case 'p':
			pidfile_opt = optarg;
			break;
		case 'V':
			printf("jobqd %s\n", JOBQD_VERSION);
			exit(0);
		default:
			usage(stderr, EX_CONFIG);
		}
	}
	if (optind != argc)
		usage(stderr, EX_CONFIG);
	if (pidfile_opt != NULL) {
		static char kv[CONFIG_PATH_MAX + 16];

		snprintf(kv, sizeof(kv), "pidfile=%s", pidfile_opt);
		overrides[nov++] = kv;
	}
	if (config_build(&a.cfg, a.config_path, overrides, nov, err, sizeof(err)) == -1 ||
	    config_user_ids(&a.cfg, &uid, &gid, err, sizeof(err)) == -1 ||
	    config_check_paths(&a.cfg, err, sizeof(err)) == -1) {
		log_early(LOG_LEVEL_ERROR, "%s", err);
		free(overrides);
		return EX_CONFIG;
	}
	if (test_only) {
		printf("jobqd: configuration %s is valid\n",
		    a.config_path != NULL ? a.config_path : "(built-in defaults)");
		free(overrides);
		return 0;
	}
	/* proctitle_init() reuses the argv area: keep copies of what a reload
	 * reads again. */
	if (a.config_path != NULL && (a.config_path = strdup(a.config_path)) == NULL)
		fatal("strdup");
	for (size_t i = 0; i < nov; i++)
		if ((overrides[i] = strdup(overrides[i])) == NULL)
			fatal("strdup");
	a.overrides = overrides;
	a.noverrides = nov;
	if (notify_init() == -1)
		log_early(LOG_LEVEL_WARN, "NOTIFY_SOCKET is unusable; not notifying systemd");
	proctitle_init(argc, argv);
	if (daemon_mode && strcmp(a.cfg.log, "stderr") == 0)
		memcpy(a.cfg.log, "syslog", sizeof("syslog"));
	if (a.cfg.log[0] == '/' && pidfile_make_parents(a.cfg.log, uid, gid, err, sizeof(err)) == -1) {
		log_early(LOG_LEVEL_ERROR, "log: %s", err);
		exit(1);
	}
	if (log_open(a.cfg.log, a.cfg.log_level) == -1) {
		log_early(LOG_LEVEL_ERROR, "log %s: %s", a.cfg.log, strerror(errno));
		exit(1);
	}
	log_tee_stderr(daemon_mode);
	log_info("jobqd %s starting with %s", JOBQD_VERSION,
	    a.config_path != NULL ? a.config_path : "built-in defaults");
	umask(027);
	raise_fd_limit();
	if (a.cfg.pidfile[0] != '\0' &&
	    (pidfile_make_parents(a.cfg.pidfile, uid, gid, err, sizeof(err)) == -1 ||
	     pidfile_check(a.cfg.pidfile, err, sizeof(err)) == -1))
		fatalx("%s", err);
	/* A client may connect, and an operator signal us, as soon as the
	 * socket listens. */
	if (supervisor_block_signals() == -1)
		fatal("sigprocmask");
	if ((a.listen_fd = listener_open(&a.cfg, err, sizeof(err))) == -1)
		fatalx("%s", err);
	a.seg = open_segment(&a.cfg, uid);
	if (daemon_mode) {
		a.ready_fd = daemonize();
		a.daemonized = 1;
	}
	if (a.cfg.pidfile[0] != '\0' && pidfile_write(a.cfg.pidfile, err, sizeof(err)) == -1)
		fatalx("%s", err);
	drop_privileges(&a.cfg, a.seg, uid, gid);
	a.journal = durable_open(&a.cfg, a.seg);	/* as the daemon's user */
	if (daemon_mode) {
		log_tee_stderr(0);
		if (fd_devnull_stdio(0) == -1)
			fatal("/dev/null");
	}
	status = supervisor_run(&a);
	if (a.cfg.pidfile[0] != '\0' && pidfile_remove(a.cfg.pidfile) == -1 && errno != ENOENT)
		log_warn("removing pidfile %s", a.cfg.pidfile);
	segment_close(a.seg);
	for (size_t i = 0; i < nov; i++)
		free(overrides[i]);
	free(overrides);
	free((char *)a.config_path);
	return status;
}
