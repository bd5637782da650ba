#!/usr/bin/env bash
# HTTP ingest benchmark: wrk against jobqd (noop handler) and against nginx
# (one worker, "return 202" with the same JSON body), alternating, same
# request: POST /payload with a ~100-byte body, keep-alive, 64 connections.
# Prints requests/s, p50 and p99 for both, the ratio jobqd/nginx, and jobs
# accepted vs completed.  Only 127.0.0.1 is ever contacted.
#
#   JOBQD_BIN=./jobqd tests/bench/http_bench.sh [SECONDS] [ROUNDS]
set -euo pipefail

secs=${1:-10}
rounds=${2:-3}
conns=${BENCH_CONNECTIONS:-64}
bin=${JOBQD_BIN:-./jobqd}
here=$(cd "$(dirname "$0")" && pwd)

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
jpid= npid=
cleanup() {
	[ -n "$jpid" ] && kill -TERM "$jpid" 2>/dev/null && wait "$jpid" 2>/dev/null
	[ -n "$npid" ] && kill -QUIT "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
jport=$(free_port)
nport=$(free_port)
body='{"id":"0000000000100000","state":"queued"}'

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

"$bin" -o listen=127.0.0.1:$jport -o handler=noop -o workers=4 -o queue=100000 \
	-o shm_name=/jobqd-bench-$$ -o log_level=warn -o log="$tmp/jobqd.log" &
jpid=$!

for p in $jport $nport; do
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done

run() { wrk -t2 -c"$conns" -d"${secs}s" -s "$tmp/post.lua" "http://127.0.0.1:$1/payload" | grep '^RESULT'; }

printf '%-6s %-6s %10s %9s %9s %7s\n' round server 'req/s' 'p50 ms' 'p99 ms' errors
jsum=0 nsum=0
for r in $(seq "$rounds"); do
	for who in jobqd nginx; do
		port=$jport; [ $who = nginx ] && port=$nport
		read -r _ rps p50 p99 errs reqs < <(run $port)
		printf '%-6s %-6s %10s %9s %9s %7s\n' "$r" "$who" "$rps" "$p50" "$p99" "$errs"
		if [ $who = jobqd ]; then jsum=$((jsum + rps)); else nsum=$((nsum + rps)); fi
	done
done
printf 'mean req/s: jobqd %d, nginx %d, ratio jobqd/nginx %s\n' $((jsum / rounds)) $((nsum / rounds)) \
	"$(python3 -c "print(f'{$jsum/$nsum:.2f}')")"

# Every accepted job must complete.
for _ in $(seq 100); do
	st=$(curl -s "http://127.0.0.1:$jport/status")
	acc=$(echo "$st" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"]["accepted"])')
	done_=$(echo "$st" | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"]; print(j["completed"]+j["failed"])')
	[ "$acc" = "$done_" ] && break
	sleep 0.2
done
rej=$(echo "$st" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"]["rejected"])')
echo "jobs: accepted $acc, completed $done_, rejected $rej"
[ "$acc" = "$done_" ] || { echo "http_bench: accepted jobs did not all complete"; exit 1; }
