/*
 * pidfile — the master's pid in a file, for init scripts.
 *
 *   pidfile_check(path, err, n)  refuse early if it names a live process
 *   pidfile_write(path, err, n)  refuse if it names a live process, else
 *                                (re)write it with our pid
 *   pidfile_remove(path)         at exit
 *   pidfile_make_parents(path, uid, gid, err, n)  create the missing
 *                                directories above path (a log file too)
 */
#ifndef JOBQD_PIDFILE_H
#define JOBQD_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

/* 0, or -1 with a reason in err (a live pid: "jobqd is already running"). */
int pidfile_write(const char *path, char *err, size_t errlen);
/* 0, or -1 if the file names a live process (checked before binding). */
int pidfile_check(const char *path, char *err, size_t errlen);
/* Create the missing directories above path, mode 0755, owned by
 * uid:gid (the daemon's user after the privilege drop can then remove
 * the pidfile, or create the log file again after a rotation).  Existing
 * directories are left as they are.  0, or -1 with a reason in err. */
int pidfile_make_parents(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Remove it if it still holds our pid; 0 or -1 with errno. */
int pidfile_remove(const char *path);

#endif
