/*
 * handler — the four job handlers (see handler.h).
 *
 *   sleep MS   nanosleep, then one info line "job ID done"
 *   noop       nothing, no log line (benchmarks)
 *   exec PROG  fork + execve per job, no shell, in a process group of its
 *              own.  The payload goes to the program's stdin; the first
 *              output_max bytes of its stdout are kept in the job's slot
 *              (the rest is read and dropped); its stderr (and its stdout
 *              too when output_max is 0) is logged line by line as
 *              "job ID: LINE".  The pipes and a pidfd are served by
 *              one poll() loop, so a program that never reads its stdin
 *              cannot block the worker (EPIPE is expected: the worker
 *              ignores SIGPIPE).  The job ends when the program exits, not
 *              when its output closes (a background child may hold the
 *              pipe): what is left of the output is read for at most
 *              EXIT_GRACE_MS, then the job's process group is SIGKILLed so
 *              nothing it started outlives it.  Lines longer than
 *              LINE_MAX_LOG are logged in pieces; after OUTPUT_MAX_LOG
 *              bytes the rest of the output is read and dropped, with one
 *              line saying so.
 *   spool DIR  DIR/tmp/ID.PID (O_EXCL | O_NOFOLLOW), fsync, rename to
 *              DIR/new/ID, fsync DIR/new (maildir): a reader of DIR/new
 *              sees whole files only.  A rerun of the same job replaces the
 *              file with the same bytes.  handler_clean() removes at
 *              start-up what killed workers left in DIR/tmp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/child.h"
#include "common/clock.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/plural.h"
#include "common/segment.h"
#include "worker/handler.h"

#define LINE_MAX_LOG	1000		/* bytes of output per log line */
#define OUTPUT_MAX_LOG	(64 * 1024)	/* bytes of output logged per job */
#define EXIT_GRACE_MS	200		/* output read after the program exited */
#define TMP_STALE_S	60		/* spool: a DIR/tmp file this old is a leftover */
#define ENV_ID		"JOBQD_JOB_ID="
#define ENV_ATTEMPT	"JOBQD_ATTEMPT="

extern char **environ;

struct handler {
	enum handler_kind kind;
	unsigned sleep_ms;
	char words[CONFIG_HANDLER_MAX];		/* copy of handler_words */
	char *argv[CONFIG_HANDLER_ARGS + 1];	/* exec: into words */
	char **envp;				/* exec: environ + 2 + NULL */
	size_t envc;				/* entries before ours */
	char env_id[sizeof(ENV_ID) + JOBID_STRLEN];
	char env_attempt[sizeof(ENV_ATTEMPT) + 12];
	char spool[CONFIG_HANDLER_MAX];		/* spool: the directory */
};

/* One job's output being cut into log lines. */
struct outbuf {
	const char *id;
	char line[LINE_MAX_LOG + 1];
	size_t len;
	size_t logged;		/* bytes logged so far */
	int truncated;
};

/* snprintf into err. */
static void seterr(char *err, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

/* mkdir that accepts an existing directory. */
static int mkdir_ok(const char *path)
{
	struct stat st;

	if (mkdir(path, 0750) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* Copy environ minus our two variables, leaving room for them. */
static int build_env(struct handler *h)
{
	size_t n = 0, k = 0;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if ((h->envp = calloc(n + 3, sizeof(*h->envp))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], ENV_ID, sizeof(ENV_ID) - 1) == 0 ||
		    strncmp(environ[i], ENV_ATTEMPT, sizeof(ENV_ATTEMPT) - 1) == 0)
			continue;
		h->envp[k++] = environ[i];
	}
	h->envc = k;
	h->envp[k] = h->env_id;
	h->envp[k + 1] = h->env_attempt;
	h->envp[k + 2] = NULL;
	return 0;
}

struct handler *handler_create(const struct config *c, char *err, size_t errlen)
{
	struct handler *h = calloc(1, sizeof(*h));
	char path[CONFIG_HANDLER_MAX + 8];
	const char *w;

	if (h == NULL) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	h->kind = c->handler_kind;
	h->sleep_ms = c->sleep_ms;
	memcpy(h->words, c->handler_words, sizeof(h->words));
	h->words[sizeof(h->words) - 1] = '\0';
	switch (h->kind) {
	case HANDLER_SLEEP:
	case HANDLER_NOOP:
		return h;
	case HANDLER_EXEC:
		if (c->handler_argc < 1 || c->handler_argc > CONFIG_HANDLER_ARGS) {
			seterr(err, errlen, "exec: %u words", c->handler_argc);
			break;
		}
		w = h->words;
		for (unsigned i = 0; i < c->handler_argc; i++) {
			if (w >= h->words + sizeof(h->words)) {
				seterr(err, errlen, "exec: handler words overrun");
				goto fail;
			}
			h->argv[i] = (char *)w;
			w += strlen(w) + 1;
		}
		h->argv[c->handler_argc] = NULL;
		if (access(h->argv[0], X_OK) == -1) {
			seterr(err, errlen, "exec %s: %s", h->argv[0], strerror(errno));
			break;
		}
		if (build_env(h) == -1) {
			seterr(err, errlen, "out of memory");
			break;
		}
		return h;
	case HANDLER_SPOOL:
		snprintf(h->spool, sizeof(h->spool), "%s", h->words);
		if (h->spool[0] == '\0') {
			seterr(err, errlen, "spool: no directory");
			break;
		}
		if (mkdir_ok(h->spool) == -1) {
			seterr(err, errlen, "spool %s: %s", h->spool, strerror(errno));
			break;
		}
		snprintf(path, sizeof(path), "%s/tmp", h->spool);
		if (mkdir_ok(path) == -1) {
			seterr(err, errlen, "spool %s: %s", path, strerror(errno));
			break;
		}
		snprintf(path, sizeof(path), "%s/new", h->spool);
		if (mkdir_ok(path) == -1) {
			seterr(err, errlen, "spool %s: %s", path, strerror(errno));
			break;
		}
		return h;
	default:
		seterr(err, errlen, "unknown handler kind %d", (int)h->kind);
		break;
	}
fail:
	handler_free(h);
	return NULL;
}

/* Remove the non-directories in dir older than TMP_STALE_S; how many. */
static unsigned clean_stale(const char *dir)
{
	int64_t cutoff = clock_wall_ns() / 1000000000 - TMP_STALE_S;
	unsigned n = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;	/* none yet: the workers make it */
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    S_ISDIR(st.st_mode) || st.st_mtim.tv_sec >= cutoff)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			n++;
		else
			log_warn("spool: removing %s/%s", dir, de->d_name);
	}
	closedir(d);
	return n;
}

void handler_clean(const struct config *c)
{
	char tmp[CONFIG_HANDLER_MAX + 8];
	unsigned n;

	if (c->handler_kind != HANDLER_SPOOL || c->handler_words[0] == '\0')
		return;
	snprintf(tmp, sizeof(tmp), "%.*s/tmp", CONFIG_HANDLER_MAX - 1, c->handler_words);
	if ((n = clean_stale(tmp)) > 0)
		log_info("spool: removed %u file%s that killed workers left in %s",
		    n, plural(n), tmp);
}

void handler_free(struct handler *h)
{
	if (h == NULL)
		return;
	free(h->envp);
	free(h);
}

/* Sleep ms milliseconds, resuming after signals. */
static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Log the line collected so far (if any) and start a new one. */
static void out_flush(struct outbuf *o)
{
	if (o->len == 0)
		return;
	o->line[o->len] = '\0';
	if (o->logged < OUTPUT_MAX_LOG)
		log_info("job %s: %s", o->id, o->line);
	else if (!o->truncated) {
		log_info("job %s: output truncated after %d bytes", o->id, OUTPUT_MAX_LOG);
		o->truncated = 1;
	}
	o->logged += o->len;
	o->len = 0;
}

/* Cut n bytes of program output into lines. */
static void out_feed(struct outbuf *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (o->len == 0)
				o->logged++;	/* empty line: count, do not log */
			out_flush(o);
			continue;
		}
		o->line[o->len++] = p[i] == '\0' ? ' ' : p[i];
		if (o->len == LINE_MAX_LOG)
			out_flush(o);
	}
}

/* Exit status of a wait status: code, or 128 + signal (then the signal
 * in j->signal). */
static int wstatus(int st, struct handler_job *j)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st)) {
		j->signal = WTERMSIG(st);
		return 128 + WTERMSIG(st);
	}
	return 1;
}

/* In the forked child: plumbing, clean signal state, execve.  Never
 * returns.  out -1: stdout goes where stderr does. */
static _Noreturn void exec_child(struct handler *h, pid_t parent, int in, int out, int err)
{
	sigset_t none;
	char msg[CONFIG_HANDLER_MAX + 128];
	int n;

	/* A group of its own: killpg(pid) at the end takes along whatever it
	 * started.  The parent makes the same call (whichever runs first). */
	if (setpgid(0, 0) == -1 || prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
	    getppid() != parent)
		_exit(127);
	if (dup2(in, STDIN_FILENO) == -1 || dup2(out != -1 ? out : err, STDOUT_FILENO) == -1 ||
	    dup2(err, STDERR_FILENO) == -1)
		_exit(127);
	/* The worker ignores SIGPIPE; everything else is already default. */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	child_sched_restore();
	execve(h->argv[0], h->argv, h->envp);
	n = snprintf(msg, sizeof(msg), "exec %s: %s\n", h->argv[0], strerror(errno));
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	_exit(127);
}

/* Read what fd holds into the log (o) or, with j, into j's output (the
 * bytes past output_max dropped); -1 when it is closed (or failed) now. */
static int exec_read(int fd, struct handler_job *j, struct outbuf *o)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0) {
		size_t keep;

		if (j == NULL) {
			out_feed(o, buf, (size_t)n);
			return fd;
		}
		keep = j->output_max - j->output_len;
		if (keep > (size_t)n)
			keep = (size_t)n;
		memcpy(j->output + j->output_len, buf, keep);
		j->output_len += keep;
		return fd;
	}
	if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Feed the payload to in_fd, keep out_fd (-1: none) and log err_fd until
 * both end, or for at most EXIT_GRACE_MS once pidfd says the program
 * exited (pidfd -1: until they end). */
static void exec_pump(struct handler_job *j, int in_fd, int out_fd, int err_fd, int pidfd,
    struct outbuf *o)
{
	size_t off = 0;
	int64_t until = 0;	/* set at the exit: stop reading then */

	if (j->len == 0) {
		close(in_fd);
		in_fd = -1;
	}
	while (out_fd != -1 || err_fd != -1) {
		struct pollfd p[4] = {	/* poll skips fd -1 */
			{ .fd = err_fd, .events = POLLIN },
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = in_fd, .events = POLLOUT },
			{ .fd = out_fd, .events = POLLIN },
		};
		int timeout = -1, r;

		if (until != 0) {
			int64_t left = until - clock_mono_ns();

			if (left <= 0)
				break;
			timeout = (int)((left + 999999) / 1000000);
		}
		r = poll(p, 4, timeout);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			log_warn("job %s: poll", o->id);
			break;
		}
		if (pidfd != -1 && p[1].revents != 0) {
			pidfd = -1;	/* exited: the rest of the output, briefly */
			until = clock_mono_ns() + EXIT_GRACE_MS * 1000000LL;
			if (in_fd != -1) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (in_fd != -1 && p[2].revents != 0) {
			ssize_t w = write(in_fd, j->payload + off, j->len - off);

			if (w > 0)
				off += (size_t)w;
			if ((w == -1 && errno != EINTR && errno != EAGAIN) || off == j->len) {
				close(in_fd);	/* done, or EPIPE: it stopped reading */
				in_fd = -1;
			}
		}
		if (err_fd != -1 && p[0].revents != 0)
			err_fd = exec_read(err_fd, NULL, o);
		if (out_fd != -1 && p[3].revents != 0)
			out_fd = exec_read(out_fd, j, o);
	}
	if (out_fd != -1)
		close(out_fd);
	if (err_fd != -1)
		close(err_fd);
	if (in_fd != -1)
		close(in_fd);
	out_flush(o);
}

/* exec: one program run per job. */
static int run_exec(struct handler *h, struct handler_job *j, const char *id)
{
	struct outbuf *o;
	siginfo_t si;
	int in[2], out[2] = { -1, -1 }, errp[2] = { -1, -1 }, st, pidfd;
	pid_t pid, self = getpid();

	snprintf(h->env_id, sizeof(h->env_id), ENV_ID "%s", id);
	snprintf(h->env_attempt, sizeof(h->env_attempt), ENV_ATTEMPT "%" PRIu32, j->attempt);
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		log_warnx("job %s: out of memory", id);
		return 1;
	}
	o->id = id;
	if (fd_pipe(in, 0) == -1) {
		log_warn("job %s: pipe", id);
		free(o);
		return 1;
	}
	if (fd_pipe(errp, 0) == -1 || (j->output_max > 0 && fd_pipe(out, 0) == -1)) {
		log_warn("job %s: pipe", id);
		goto fail;
	}
	if ((pid = fork()) == -1) {
		log_warn("job %s: fork", id);
		goto fail;
	}
	if (pid == 0)
		exec_child(h, self, in[0], out[1], errp[1]);
	(void)setpgid(pid, pid);	/* EACCES once it has exec'd: it did it */
	close(in[0]);
	close(errp[1]);
	if (out[1] != -1)
		close(out[1]);
	if (fd_nonblock(in[1], 1) == -1 || fd_nonblock(errp[0], 1) == -1 ||
	    (out[0] != -1 && fd_nonblock(out[0], 1) == -1))
		log_warn("job %s: O_NONBLOCK", id);	/* poll still guards us */
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) == -1)
		log_warn("job %s: pidfd_open: the job ends when its output does", id);
	exec_pump(j, in[1], out[0], errp[0], pidfd, o);
	free(o);
	if (pidfd != -1)
		close(pidfd);
	/* Exited (or closed its output): wait without reaping, so its pid
	 * and group id stay ours while the group is killed. */
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == -1 && errno == EINTR)
		;
	if (killpg(pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("job %s: killpg %ld", id, (long)pid);
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR) {
			log_warn("job %s: waitpid %ld", id, (long)pid);
			return 1;
		}
	}
	return wstatus(st, j);
fail:
	for (int k = 0; k < 2; k++) {
		close(in[k]);
		if (errp[k] != -1)
			close(errp[k]);
		if (out[k] != -1)
			close(out[k]);
	}
	free(o);
	return 1;
}

/* Write all n bytes to fd. */
static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync a directory by path. */
static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* spool: DIR/tmp/ID.PID -> fsync -> DIR/new/ID -> fsync DIR/new. */
static int run_spool(struct handler *h, const struct handler_job *j, const char *id)
{
	char tmp[CONFIG_HANDLER_MAX + 64], dst[CONFIG_HANDLER_MAX + 64];
	char newdir[CONFIG_HANDLER_MAX + 8];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/tmp/%s.%ld", h->spool, id, (long)getpid());
	snprintf(dst, sizeof(dst), "%s/new/%s", h->spool, id);
	snprintf(newdir, sizeof(newdir), "%s/new", h->spool);
	/* Never through a link, never into a file someone else made: a
	 * leftover of a killed worker with our pid (or a planted link) is
	 * removed, once. */
	for (int tries = 0; tries < 2; tries++) {
		do
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
		while (fd == -1 && errno == EINTR);
		if (fd != -1 || errno != EEXIST || unlink(tmp) == -1)
			break;
	}
	if (fd == -1) {
		log_warn("job %s: open %s", id, tmp);
		return 1;
	}
	if (write_all(fd, j->payload, j->len) == -1) {
		log_warn("job %s: write %s", id, tmp);
		goto fail;
	}
	if (fsync(fd) == -1) {
		log_warn("job %s: fsync %s", id, tmp);
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		log_warn("job %s: close %s", id, tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, dst) == -1) {
		log_warn("job %s: rename %s to %s", id, tmp, dst);
		goto fail;
	}
	if (fsync_dir(newdir) == -1) {
		log_warn("job %s: fsync %s", id, newdir);
		return 1;	/* renamed, but not known durable: rerun it */
	}
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return 1;
}

int handler_run(struct handler *h, struct handler_job *j)
{
	char id[JOBID_STRLEN + 1];

	j->output_len = 0;
	j->signal = 0;
	switch (h->kind) {
	case HANDLER_NOOP:
		return 0;
	case HANDLER_SLEEP:
		sleep_ms(h->sleep_ms);
		jobid_format(j->id, id);
		log_info("job %s done", id);
		return 0;
	case HANDLER_EXEC:
		jobid_format(j->id, id);
		return run_exec(h, j, id);
	case HANDLER_SPOOL:
		jobid_format(j->id, id);
		return run_spool(h, j, id);
	}
	return 1;
}
