#!/usr/bin/env bash
# Journal ingest benchmark: wrk POSTs (~100-byte bodies, keep-alive, 64
# connections, noop handler) against jobqd without a journal and with one
# (journal_sync = yes, fdatasync per event-loop round) on the machine's real
# disk, and with journal_sync = no (the cost of the writes alone),
# alternating, in the same run.  Prints requests/s, p50 and p99 for each,
# the journal's fdatasyncs per second and jobs per fdatasync, and the ratio
# journal/memory.  Only 127.0.0.1 is ever contacted.
#
#   JOBQD_BIN=./jobqd tests/bench/journal_bench.sh [SECONDS] [ROUNDS]
#   JOURNAL_BENCH_DIR=/some/disk/dir  where the journal goes (/var/tmp)
set -euo pipefail

secs=${1:-5}
rounds=${2:-2}
conns=${BENCH_CONNECTIONS:-64}
bin=${JOBQD_BIN:-./jobqd}
base=${JOURNAL_BENCH_DIR:-/var/tmp}

command -v wrk >/dev/null 2>&1 || { echo "journal_bench: wrk is missing (Debian: apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d "$base/jobqd-jbench-XXXXXX")
fstype=$(stat -f -c %T "$tmp")
case $fstype in
tmpfs|ramfs)
	echo "journal_bench: $tmp is on $fstype, not a disk: set JOURNAL_BENCH_DIR"; rm -rf "$tmp"; exit 1;;
esac
jpid=
cleanup() {
	[ -n "$jpid" ] && kill -KILL "$jpid" 2>/dev/null && wait "$jpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("x", 100)
wrk.headers["Content-Type"] = "application/octet-stream"
done = function(summary, latency, requests)
	local errors = summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.status + summary.errors.timeout
	io.write(string.format("RESULT %.0f %.3f %.3f %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		errors, summary.requests))
end
LUA

# Start jobqd (journal: "" or a directory; journal_sync), run wrk, stop it; prints
# "RPS P50 P99 ERRORS ACCEPTED SYNCS".  The configuration is a file so
# that log_level can go to info for the shutdown line that counts the
# syncs (info would log every job during the run).
bench_one() {
	local journal=$1 sync=$2 conf=$tmp/jobqd.conf log=$tmp/jobqd.log rps p50 p99 errs reqs acc syncs
	rm -rf "$tmp/journal" "$log"
	printf 'listen = 127.0.0.1:%s\nhandler = noop\nworkers = 4\nqueue = 65536\nmax_payload = 1024\nshm_name = /jobqd-jbench-%s\nlog = %s\nlog_level = warn\njournal = "%s"\njournal_sync = %s\n' \
		"$port" $$ "$log" "$journal" "$sync" > "$conf"
	"$bin" -c "$conf" &
	jpid=$!
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
	read -r _ rps p50 p99 errs reqs < <(wrk -t2 -c"$conns" -d"${secs}s" -s "$tmp/post.lua" \
		"http://127.0.0.1:$port/payload" | grep '^RESULT')
	acc=$(curl -s "http://127.0.0.1:$port/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"]["accepted"])')
	sed -i 's/^log_level = warn/log_level = info/' "$conf"
	kill -HUP "$jpid"
	for _ in $(seq 100); do grep -q 'configuration reloaded' "$log" 2>/dev/null && break; sleep 0.1; done
	kill -TERM "$jpid"
	wait "$jpid" || true
	jpid=
	syncs=$(sed -n 's/.*journal: \([0-9]*\) syncs since the start.*/\1/p' "$log" | tail -1)
	echo "$rps $p50 $p99 $errs $acc ${syncs:-0}"
}

echo "journal on $(df --output=source "$tmp" | tail -1) ($fstype), journal_sync = yes; $conns connections, ${secs}s per run"
printf '%-6s %-8s %10s %9s %9s %7s %10s %9s\n' round mode 'req/s' 'p50 ms' 'p99 ms' errors 'syncs/s' 'jobs/sync'
msum=0 jsum=0 nsum=0
for r in $(seq "$rounds"); do
	for mode in memory journal nosync; do
		dir=$tmp/journal sync=yes
		[ $mode = memory ] && dir=
		[ $mode = nosync ] && sync=no
		read -r rps p50 p99 errs acc syncs < <(bench_one "$dir" $sync)
		if [ $mode = journal ]; then
			jsum=$((jsum + rps))
			sps=$(python3 -c "print(f'{$syncs/$secs:.0f}')")
			jps=$(python3 -c "print(f'{$acc/max($syncs,1):.1f}')")
		else
			[ $mode = memory ] && msum=$((msum + rps))
			[ $mode = nosync ] && nsum=$((nsum + rps))
			sps=- jps=-
		fi
		printf '%-6s %-8s %10s %9s %9s %7s %10s %9s\n' "$r" $mode "$rps" "$p50" "$p99" "$errs" "$sps" "$jps"
	done
done
printf 'mean req/s: memory %d, journal %d (without fsync %d), ratio journal/memory %s (goal >= 0.5)\n' \
	$((msum / rounds)) $((jsum / rounds)) $((nsum / rounds)) \
	"$(python3 -c "print(f'{$jsum/max($msum,1):.2f}')")"
