#!/usr/bin/env bash
# The resident memory of `grantledger serve` once its command memory has loaded (issue #24):
# for each binary given, start it on a database of the local cluster, wait until the metric
# grantledger_command_memory_ready is 1, let the warm-up settle, print the RSS, stop it.
#
#   deploy/bench/server-memory.sh BINARY...
#       BENCH_MEMORY_DATABASE (default grantledger_bench_projections, the log deploy/bench.sh
#       leaves behind), BENCH_MEMORY_SETTLE seconds after ready (default 20)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BINARY..." >&2; exit 64; }
eval "$("$repo/deploy/db.sh" env)"
database=${BENCH_MEMORY_DATABASE:-grantledger_bench_projections}
settle=${BENCH_MEMORY_SETTLE:-20}
export GRANTLEDGER_DATABASE_URL=${GRANTLEDGER_DATABASE_URL%/*}/$database
port=18123
metrics_port=18124
echo "| build | memory ready after, s | resident MiB ${settle} s later |"
echo "|---|---:|---:|"
for bin in "$@"; do
    start=$(date +%s)
    "$bin" serve --port "$port" --metrics-port "$metrics_port" --log-level warning >/dev/null 2>&1 &
    server=$!
    trap 'kill -TERM $server 2>/dev/null || true' EXIT
    ready=""
    for _ in $(seq 1 900); do
        if curl -fs "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | grep -q '^grantledger_command_memory_ready 1'; then
            ready=$(( $(date +%s) - start ))
            break
        fi
        kill -0 $server 2>/dev/null || { echo "$bin: the server stopped" >&2; exit 1; }
        sleep 1
    done
    [ -n "$ready" ] || { echo "$bin: the memory did not load in 900 s" >&2; exit 1; }
    sleep "$settle"
    echo "| $bin | $ready | $(( $(ps -o rss= -p $server) / 1024 )) |"
    kill -TERM $server
    wait $server 2>/dev/null || true
    trap - EXIT
done
