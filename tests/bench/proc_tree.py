#!/usr/bin/env python3
"""Sample a process and its descendants (found by ppid) from /proc.

  proc_tree.py ctx ROOT   one line per process: PID:STARTTIME DEPTH SWITCHES
                          (voluntary + nonvoluntary context switches; the
                          root is depth 0, its children 1, ...)
  proc_tree.py pss ROOT   PSS_KIB PROCESSES summed over the tree
                          (smaps_rollup Pss: shared pages counted once;
                          VmRSS where smaps_rollup is missing)

PID:STARTTIME names a process across two samples even if a pid is reused.
Processes that exit while being read are skipped.
"""
import os
import sys


def stat(pid):
    """(ppid, starttime) from /proc/PID/stat (comm may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[1]), rest[19]


def status_fields(pid, names):
    """Integer values of the named /proc/PID/status fields."""
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, v = line.partition(":")
            if key in names:
                vals[key] = int(v.split()[0])
    return vals


def tree(root):
    """[(pid, starttime, depth)] for root and its descendants."""
    kids, start = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid, st = stat(d)
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
        start[int(d)] = st
    out, todo = [], [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        if pid in start:
            out.append((pid, start[pid], depth))
            todo.extend((k, depth + 1) for k in kids.get(pid, []))
    return out


def ctx(root):
    names = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
    for pid, st, depth in tree(root):
        try:
            v = status_fields(pid, names)
        except OSError:
            continue
        print(f"{pid}:{st} {depth} {sum(v.values())}")


def pss(root):
    total = n = 0
    for pid, _, _ in tree(root):
        try:
            if os.path.exists("/proc/self/smaps_rollup"):
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    total += sum(int(l.split()[1]) for l in f if l.startswith("Pss:"))
            else:
                total += status_fields(pid, ("VmRSS",)).get("VmRSS", 0)
        except OSError:
            continue
        n += 1
    print(total, n)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("ctx", "pss"):
        sys.exit("usage: proc_tree.py ctx|pss ROOT_PID")
    {"ctx": ctx, "pss": pss}[sys.argv[1]](int(sys.argv[2]))
