#!/usr/bin/env bash
# What encrypting organisations' texts costs (docs/domain.md §15): two builds of grantledger,
# one before encryption and one with it, run in turn on the same machine, each into fresh
# databases: `import` of the benchmark programme, POST /v1/commands (new organisations) at
# 8 connections, and `audit replay` of the imported log. Prints one table.
#
#   deploy/bench/encryption-cost.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]
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
commands=${BENCH_IMPORT_COMMANDS:-20000}
programme=$(mktemp -t grantledger-enc-programme.XXXXXX)
python3 "$repo/deploy/bench/programme.py" "$commands" 0 | head -n "$commands" >"$programme"
trap 'rm -f "$programme"' EXIT
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# One measurement of one build: prints "import/s post/s post-p99 replay-events/s".
measure() {
    local bin=$1 db=grantledger_bench_enc
    psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" \
        -c "CREATE DATABASE $db OWNER grantledger"
    local app owner
    app=$(with_database "$GRANTLEDGER_DATABASE_URL" $db)
    owner=$(with_database "$GRANTLEDGER_MIGRATION_DATABASE_URL" $db)
    GRANTLEDGER_MIGRATIONS=$(migrations_of "$bin") GRANTLEDGER_MIGRATION_DATABASE_URL=$owner "$bin" migrate >/dev/null
    local start
    start=$(date +%s%N)
    GRANTLEDGER_DATABASE_URL=$app "$bin" import "$programme" >/dev/null
    local import_rate=$(( commands * 1000 / $(ms_since "$start") ))
    start=$(date +%s%N)
    local events
    events=$(GRANTLEDGER_DATABASE_URL=$app "$bin" audit replay --format json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["eventsReplayed"])')
    local replay_rate=$(( events * 1000 / $(ms_since "$start") ))
    local port token server out
    port=$(free_port 18180)
    token=$(GRANTLEDGER_DATABASE_URL=$app GRANTLEDGER_MIGRATION_DATABASE_URL=$owner \
        "$bin" token create --role manager --name "enc-$(date +%s%N)")
    GRANTLEDGER_DATABASE_URL=$app "$bin" serve --port "$port" --log-level warning >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
    out=$(TOKEN=$token wrk -t2 -c8 -d"${BENCH_HTTP_SECONDS:-15}"s --latency \
        -s "$repo/deploy/bench/post-commands.lua" "http://127.0.0.1:$port")
    kill -TERM "$server"
    wait "$server" 2>/dev/null || true
    echo "$import_rate $(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1 == "99%" {print $2}') $replay_rate"
}

echo "| round | build | import, $commands commands: commands/s | POST new organisations, 8 connections: commands/s | p99 | audit replay: events/s |"
echo "|---:|---|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
    for build in before after; do
        bin=$before
        [ "$build" = after ] && bin=$after
        read -r import post p99 replay < <(measure "$bin")
        echo "| $round | $build | $import | $post | $p99 | $replay |"
    done
done
