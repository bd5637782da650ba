/*
 * proctitle — what ps shows for each jobqd process ("jobqd: master",
 * "jobqd: dispatcher", "jobqd: worker 3").
 *
 * proctitle_init(argc, argv) once in main, before anything reads environ
 * again: it moves the environment out of the way so the argv area can be
 * rewritten.  proctitle_set(fmt, ...) then writes the title there (ps, top)
 * and the short name with prctl(PR_SET_NAME) (comm, killall, pgrep).
 */
#ifndef JOBQD_PROCTITLE_H
#define JOBQD_PROCTITLE_H

void proctitle_init(int argc, char **argv);
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
