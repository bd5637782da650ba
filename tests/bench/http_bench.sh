#!/usr/bin/env bash
# HTTP benchmark of jobqd against nginx, in one run (issue 11).  Only
# 127.0.0.1 is ever contacted.  Every wrk run is a POST /payload with a
# 100-byte body, keep-alive, BENCH_CONNECTIONS connections.
#
# 1. ingest: jobqd (handler=noop workers=8 queue=65536 max_payload=1024)
#    against nginx (one worker, "return 202" with a job-like JSON body,
#    access log off), after one unmeasured warm-up run of each,
#    alternating (jobqd first in odd rounds, nginx in even ones), for
#    each wrk thread count: req/s, p50,
#    p99, socket errors, non-2xx answers, the ratio jobqd/nginx per round
#    and of the means.
# 2. context switches per job of the whole daemon (master, dispatcher and
#    workers: the master's descendants), measured around each jobqd ingest
#    run: voluntary + nonvoluntary switches of every process alive before
#    or after the run (a process that exited during it is counted as
#    "exited", its last switches unknown), divided by the jobs completed,
#    sampled once the run's jobs are all done; split master+dispatcher+workers;
#    and nginx's (master and worker) per request of its run, for reference.
# 3. overload: jobqd with the built-in defaults (100 workers x sleep 500 ms,
#    queue 200) under the same wrk load: answered requests/s (every
#    response, 2xx and 503) against the noop ingest rate of (1)'s daemon
#    measured right before or after each run (alternating), the share
#    of 503s, and the daemon's memory (PSS summed over its processes)
#    before and after each run.
# 4. for every jobqd run: accepted = completed (polled, bounded).
# Exits 1 when a run leaves jobs not completed.
#
#   JOBQD_BIN=./jobqd tests/bench/http_bench.sh [SECONDS] [ROUNDS]
#   BENCH_SECONDS (5), BENCH_ROUNDS (4: even, so that each server goes
#   first as often), BENCH_THREADS ("1 2": wrk -t values),
#   BENCH_CONNECTIONS (64); the arguments override the first two.
set -euo pipefail

secs=${1:-${BENCH_SECONDS:-5}}
rounds=${2:-${BENCH_ROUNDS:-4}}
threads=${BENCH_THREADS:-1 2}
conns=${BENCH_CONNECTIONS:-64}
bin=${JOBQD_BIN:-./jobqd}
here=$(cd "$(dirname "$0")" && pwd)
default_workers=100	# the built-in default of "workers" (jobqd.conf(5))

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "http_bench: installing $2 with apt-get"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
	else
		echo "http_bench: $1 is missing: install the Debian package $2"; exit 1
	fi
}
need wrk wrk
need nginx nginx-light
need curl curl

tmp=$(mktemp -d /tmp/jobqd-bench-XXXXXX)
jpid='' ipid='' npid='' nstarted=0 failed=0
cleanup() {
	[ -n "$jpid" ] && kill -TERM "$jpid" 2>/dev/null && wait "$jpid" 2>/dev/null
	[ -n "$ipid" ] && kill -TERM "$ipid" 2>/dev/null && wait "$ipid" 2>/dev/null
	[ -n "$npid" ] && kill -QUIT "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Floating-point arithmetic: calc FORMAT EXPR.
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
body='{"id":"0000000000100000","state":"queued"}'

# RESULT req/s p50-ms p99-ms socket-errors non-2xx requests.  wrk counts
# every answer in requests; errors.status is its count of status >= 400.
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("x", 100)
wrk.headers["Content-Type"] = "application/octet-stream"
done = function(summary, latency, requests)
	local errors = summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout
	io.write(string.format("RESULT %.0f %.3f %.3f %d %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		errors, summary.errors.status, summary.requests))
end
LUA

nport=$(free_port)
mkdir -p "$tmp/nginx/logs"
cat > "$tmp/nginx/nginx.conf" <<NGX
worker_processes 1;
error_log $tmp/nginx/logs/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	keepalive_requests 100000000;
	server {
		listen 127.0.0.1:$nport;
		location /payload {
			default_type application/json;
			return 202 '$body';
		}
	}
}
NGX
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
npid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$nport/" && break; sleep 0.1; done

# GET /status of the running jobqd -> "accepted completed failed rejected idle".
jobqd_status() {
	curl -sf "http://127.0.0.1:$jport/status" | python3 -c 'import json, sys
s = json.load(sys.stdin); j = s["jobs"]
print(j["accepted"], j["completed"], j["failed"], j["rejected"], s["workers"]["idle"])'
}

# jobqd_start WORKERS [-o key=value ...]: a fresh jobqd on a free port
# (jpid, jport), up once WORKERS workers are idle.
jobqd_start() {
	local want=$1 idle=
	shift
	jport=$(free_port)
	nstarted=$((nstarted + 1))
	"$bin" -o listen=127.0.0.1:"$jport" -o shm_name=/jobqd-bench-$$-$nstarted \
		-o log_level=warn -o log="$tmp/jobqd.log" "$@" &
	jpid=$!
	for _ in $(seq 300); do
		read -r _ _ _ _ idle < <(jobqd_status 2>/dev/null || echo)
		[ "${idle:-0}" -ge "$want" ] && return 0
		sleep 0.1
	done
	echo "http_bench: jobqd ($*) did not get $want idle workers"; exit 1
}

jobqd_stop() {
	kill -TERM "$jpid"
	wait "$jpid" || true
	jpid=
}

# jobqd_drained: wait (bounded) until completed + failed = accepted; set
# acc, comp, fail, rej from /status; flag the run unless comp = acc.
jobqd_drained() {
	for _ in $(seq 600); do
		read -r acc comp fail rej _ < <(jobqd_status)
		[ $((comp + fail)) = "$acc" ] && break
		sleep 0.1
	done
	[ "$comp" = "$acc" ] || failed=1
}

# run_wrk THREADS PORT: "req/s p50 p99 socket-errors non-2xx requests".
run_wrk() {
	local out
	out=$(wrk -t"$1" -c"$conns" -d"${secs}s" -s "$tmp/post.lua" "http://127.0.0.1:$2/payload")
	grep '^RESULT' <<<"$out" | cut -d' ' -f2- || { echo "http_bench: wrk: $out" >&2; exit 1; }
}

# ctx_sample FILE [ROOT]: the daemon's (or ROOT's) processes and their
# context switches.
ctx_sample() { python3 "$here/proc_tree.py" ctx "${2:-$jpid}" > "$1"; }

# ctx_delta BEFORE AFTER: "total master dispatcher workers new exited":
# switches between the samples by depth (0 master, 1 dispatcher, 2+
# workers); a process only in AFTER counts whole, one only in BEFORE is
# counted as exited.
ctx_delta() {
	awk 'NR == FNR { b[$1] = $3; next }
	{ d = $2 > 2 ? 2 : $2; s[d] += $3 - ($1 in b ? b[$1] : 0)
	  if ($1 in b) delete b[$1]; else born++ }
	END { for (k in b) gone++
	      printf "%d %d %d %d %d %d\n", s[0] + s[1] + s[2], s[0], s[1], s[2], born, gone }' "$1" "$2"
}

# nginx_run THREADS: one run against nginx; nrps np50 np99 nerr nbad
# nreq, and nsw, the context switches of nginx's processes meanwhile (the
# same count as jobqd's, for reference: the load generator preempts a
# server too).
nginx_run() {
	ctx_sample "$tmp/nctx0" "$npid"
	read -r nrps np50 np99 nerr nbad nreq < <(run_wrk "$1" "$nport")
	ctx_sample "$tmp/nctx1" "$npid"
	read -r nsw _ < <(ctx_delta "$tmp/nctx0" "$tmp/nctx1")
}

# pss_sample: the daemon's PSS in MiB and its number of processes.
pss_sample() { python3 "$here/proc_tree.py" pss "$jpid" | awk '{ printf "%.1f (%d)", $1 / 1024, $2 }'; }

# Table rows of sections 1+2 and 3.
row() { printf '%-3s %-5s %-6s %9s %8s %8s %6s %7s %7s  %s\n' "$@"; }
orow() { printf '%-3s %-5s %10s %8s %8s %6s %8s %7s %6s %10s %6s  %s\n' "$@"; }

echo "== 1+2. ingest: POST 100 B, keep-alive, -c$conns, ${secs}s x $rounds rounds;" \
	"jobqd handler=noop workers=8 queue=65536 max_payload=1024 vs nginx return 202"
jobqd_start 8 -o handler=noop -o workers=8 -o queue=65536 -o max_payload=1024
# Warm-up, not measured: one short run against each server, so that no
# round pays for first touches (the segment's pages, in every process that
# maps it; nginx's buffers) that a long-running daemon pays once.
run_wrk 1 "$jport" >/dev/null
run_wrk 1 "$nport" >/dev/null
row '-t' round server 'req/s' 'p50 ms' 'p99 ms' errors non2xx ratio \
	'ctxsw/job = master + dispatcher + workers'
for t in $threads; do
	jsum=0 nsum=0 rsum=0 swsum=0 jobsum=0 nswsum=0 nreqsum=0
	for r in $(seq "$rounds"); do
		# every other round nginx goes first: neither server always
		# runs right after the other
		if [ $((r % 2)) = 0 ]; then
			nginx_run "$t"
		fi
		jobqd_drained
		a0=$acc d0=$((comp + fail))
		ctx_sample "$tmp/ctx0"
		read -r jrps jp50 jp99 jerr jbad _ < <(run_wrk "$t" "$jport")
		jobqd_drained
		ctx_sample "$tmp/ctx1"
		read -r sw sm sd sc born gone < <(ctx_delta "$tmp/ctx0" "$tmp/ctx1")
		jobs=$((comp + fail - d0))
		if [ $((r % 2)) = 1 ]; then
			nginx_run "$t"
		fi
		ratio=$(calc %.2f "$jrps / $nrps")
		perjob=$(calc '%.2f = %.2f + %.2f + %.2f' "$sw/$jobs, $sm/$jobs, $sd/$jobs, $sc/$jobs")
		row "$t" "$r" jobqd "$jrps" "$jp50" "$jp99" "$jerr" "$jbad" "$ratio" \
			"$perjob (accepted $((acc - a0)), completed $jobs; processes new $born, exited $gone)"
		row "$t" "$r" nginx "$nrps" "$np50" "$np99" "$nerr" "$nbad" '' \
			"$(calc %.2f "$nsw / $nreq") (its processes' switches per request)"
		jsum=$((jsum + jrps)) nsum=$((nsum + nrps)) swsum=$((swsum + sw)) jobsum=$((jobsum + jobs))
		nswsum=$((nswsum + nsw)) nreqsum=$((nreqsum + nreq))
		rsum=$(calc %.4f "$rsum + $ratio")
	done
	row "$t" mean jobqd "$((jsum / rounds))" '' '' '' '' "$(calc %.2f "$jsum / $nsum")" \
		"$(calc %.2f "$swsum / $jobsum") (ratio: of the means; mean of the rounds' $(calc %.2f "$rsum / $rounds"))"
	row "$t" mean nginx "$((nsum / rounds))" '' '' '' '' '' "$(calc %.2f "$nswsum / $nreqsum")"
done
jobqd_drained
echo "jobs (ingest daemon so far): accepted $acc, completed $comp, failed $fail, rejected $rej"
# The ingest daemon stays up: section 3 measures its rate again next to
# each overload run.
ipid=$jpid iport=$jport jpid=

echo
echo "== 3. overload: jobqd built-in defaults ($default_workers workers x sleep 500 ms, queue 200), same wrk load;"
echo "   ingest/s: the noop daemon of (1) right before or after (alternating), the reference of the ratio"
jobqd_start "$default_workers"
orow '-t' round 'answered/s' \
	'p50 ms' 'p99 ms' errors 2xx 503 '503 %' 'ingest/s' ratio 'PSS MiB (processes) before -> after'
for t in $threads; do
	osum=0 isum=0
	for r in $(seq "$rounds"); do
		if [ $((r % 2)) = 0 ]; then
			read -r irps _ < <(run_wrk "$t" "$iport")
		fi
		jobqd_drained
		r0=$rej m0=$(pss_sample)
		read -r rps p50 p99 err bad reqs < <(run_wrk "$t" "$jport")
		m1=$(pss_sample)
		jobqd_drained
		if [ $((r % 2)) = 1 ]; then
			read -r irps _ < <(run_wrk "$t" "$iport")
		fi
		orow "$t" "$r" "$rps" "$p50" "$p99" \
			"$err" "$((reqs - bad))" "$((rej - r0))" "$(calc %.1f "100 * $bad / $reqs")" \
			"$irps" "$(calc %.2f "$rps / $irps")" \
			"$m0 -> $m1"
		osum=$((osum + rps)) isum=$((isum + irps))
	done
	orow "$t" mean "$((osum / rounds))" '' '' '' '' '' '' "$((isum / rounds))" \
		"$(calc %.2f "$osum / $isum")" ''
done
jobqd_drained
echo "jobs (overload daemon): accepted $acc, completed $comp, failed $fail, rejected $rej" \
	"(503 = jobqd's rejected counter; 2xx = wrk's answers below 400)"
jobqd_stop
jpid=$ipid jport=$iport ipid=
jobqd_drained
echo "jobs (ingest daemon): accepted $acc, completed $comp, failed $fail, rejected $rej"
jobqd_stop

[ "$failed" = 0 ] || { echo "http_bench: accepted jobs did not all complete"; exit 1; }
echo "http_bench: every accepted job completed"
