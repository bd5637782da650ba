/*
 * child — fork a helper process for a test.
 *
 * test_fork() forks (failing the test if it cannot) and makes the child
 * die with the test process: a Check timeout kills only the test's own
 * process, and a helper left running would disturb the next tests.
 */
#ifndef JOBQD_TEST_CHILD_H
#define JOBQD_TEST_CHILD_H

#include <sys/types.h>

/* 0 in the child, the child's pid in the parent. */
pid_t test_fork(void);

#endif
