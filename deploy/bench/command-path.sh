#!/usr/bin/env bash
# Commands through the HTTP API, two builds of grantledger in turn on the same machine (issue
# #24: decisions from memory against decisions under locks). Each build serves a fresh
# database holding the benchmark programme (`import`), and wrk sends new organisations to
# POST /v1/commands at 8 and then 64 connections. Prints one table: commands/s and the
# latency's p50, p99 and p99.9 per build, round and connection count.
#
#   deploy/bench/command-path.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]
#
# Build the before binary from an earlier commit in a worktree
# (`git worktree add /tmp/before <commit> && swift build -c release --static-swift-stdlib --product grantledger`).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
before=$1
after=$2
rounds=${3:-2}
database_up
cd "$repo"
command -v wrk >/dev/null 2>&1 || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
commands=${BENCH_IMPORT_COMMANDS:-20000}
programme=$(mktemp -t grantledger-path-programme.XXXXXX)
python3 "$repo/deploy/bench/programme.py" "$commands" 0 | head -n "$commands" >"$programme"
trap 'rm -f "$programme"' EXIT

# One build, one round: prints a row per connection count.
measure() {
    local bin=$1 build=$2 round=$3 db=grantledger_bench_path
    psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" \
        -c "CREATE DATABASE $db OWNER grantledger"
    local app owner port token server out
    app=$(with_database "$GRANTLEDGER_DATABASE_URL" $db)
    owner=$(with_database "$GRANTLEDGER_MIGRATION_DATABASE_URL" $db)
    GRANTLEDGER_MIGRATIONS=$(migrations_of "$bin") GRANTLEDGER_MIGRATION_DATABASE_URL=$owner "$bin" migrate >/dev/null
    GRANTLEDGER_DATABASE_URL=$app "$bin" import "$programme" >/dev/null
    port=$(free_port 18280)
    token=$(GRANTLEDGER_DATABASE_URL=$app GRANTLEDGER_MIGRATION_DATABASE_URL=$owner \
        "$bin" token create --role manager --name "path-$(date +%s%N)")
    GRANTLEDGER_DATABASE_URL=$app "$bin" serve --port "$port" --log-level warning >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
    # Let the server's memory of the log load before measuring.
    sleep 3
    for connections in 8 64; do
        out=$(TOKEN=$token wrk -t2 -c"$connections" -d"${BENCH_HTTP_SECONDS:-15}"s --latency \
            -s "$repo/deploy/bench/post-commands.lua" "http://127.0.0.1:$port")
        local rps p50 p99 p999 non2xx
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        p50=$(echo "$out" | sed -n 's/.*p50=\([0-9.]*\).*/\1/p')
        p99=$(echo "$out" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p')
        p999=$(echo "$out" | sed -n 's/.*p99.9=\([0-9.]*\).*/\1/p')
        non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}' | grep . || echo 0)
        echo "| $round | $build | $connections | $rps | $p50 | $p99 | $p999 | $non2xx |"
    done
    kill -TERM "$server"
    wait "$server" 2>/dev/null || true
}

echo "| round | build | connections | POST new organisations: commands/s | p50 ms | p99 ms | p99.9 ms | non-2xx |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
    measure "$before" before "$round"
    measure "$after" after "$round"
done
