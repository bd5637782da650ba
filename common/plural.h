/*
 * plural — "1 worker", "2 workers" in log lines: the suffix for a count.
 */
#ifndef JOBQD_PLURAL_H
#define JOBQD_PLURAL_H

/* "s" unless n is 1. */
static inline const char *plural(unsigned long n)
{
	return n == 1 ? "" : "s";
}

#endif
