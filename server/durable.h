/*
 * durable — the journal (common/journal.h) wired into the master's
 * start-up: open it, make the segment and the journal agree, log what came
 * back.  The per-round group commit is httpd's (httpd_set_journal).
 *
 *   durable_open(c, seg)   NULL when c->journal is empty; else the open
 *                          journal, the segment's slot table reconciled
 *                          with it; exits on failure (78 when the queue or
 *                          max_payload is too small for a journaled job)
 */
#ifndef JOBQD_DURABLE_H
#define JOBQD_DURABLE_H

#include "common/config.h"
#include "common/journal.h"
#include "common/segment.h"

/* After segment_open and its recovery, before the dispatcher starts. */
struct journal *durable_open(const struct config *c, struct segment *seg);

#endif
