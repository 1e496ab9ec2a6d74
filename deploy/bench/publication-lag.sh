#!/usr/bin/env bash
# Publication lag under load (issue #25): a server with a local witness and a 1-of-1 policy
# on a fresh database, BENCH_LAG_RATE (default 500) new organisations per second through
# POST /v1/commands for BENCH_LAG_SECONDS (default 60), and for each acknowledged command
# the time until a checkpoint its witness cosigned includes it, with checkpoints every
# BENCH_LAG_INTERVAL seconds (serve --checkpoint-interval, default 5). Prints one table row.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

database_up
cd "$repo"
build_release grantledger >/dev/null
bin="$repo/.build/release/grantledger"
work=$(mktemp -d -t grantledger-lag.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
db=grantledger_bench_lag
psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db OWNER grantledger"
app_url=$(with_database "$GRANTLEDGER_DATABASE_URL" $db)
GRANTLEDGER_MIGRATION_DATABASE_URL=$(with_database "$GRANTLEDGER_MIGRATION_DATABASE_URL" $db) "$bin" migrate >/dev/null
token=$(GRANTLEDGER_MIGRATION_DATABASE_URL=$(with_database "$GRANTLEDGER_MIGRATION_DATABASE_URL" $db) \
    GRANTLEDGER_DATABASE_URL=$app_url "$bin" token create --role manager --name "lag-$(date +%s)")
"$bin" audit keygen --name bench.local/log --out "$work/log.key" >"$work/log.pub"
"$bin" witness keygen --name witness.bench/w1 --out "$work/w.key" >"$work/w.pub"
witness_port=$(free_port 18090)
"$bin" witness serve --key "$work/w.key" --log-verifier-key "$(cat "$work/log.pub")" --state "$work/state" \
    --port "$witness_port" --log-level warning >"$work/witness.log" 2>&1 &
pids+=($!)
printf 'log %s\nwitness w1 %s http://127.0.0.1:%s\nquorum w1\n' "$(cat "$work/log.pub")" "$(cat "$work/w.pub")" \
    "$witness_port" >"$work/policy"
port=$(free_port 18180)
GRANTLEDGER_DATABASE_URL=$app_url "$bin" serve --port "$port" --log-key "$work/log.key" \
    --witness-policy "$work/policy" --checkpoint-interval "${BENCH_LAG_INTERVAL:-5}" --log-level warning >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
rate=${BENCH_LAG_RATE:-500}
seconds=${BENCH_LAG_SECONDS:-60}
figures=$(TOKEN=$token DATABASE_URL=$app_url python3 "$repo/deploy/bench/publication_lag.py" \
    "http://127.0.0.1:$port" "$rate" "$seconds")
field() { echo "$figures" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
echo "| publication lag, checkpoints every ${BENCH_LAG_INTERVAL:-5} s, at $rate commands/s for ${seconds} s (acknowledged → in a cosigned checkpoint): p50 / p99 / max ms | $(field lag_p50_ms) / $(field lag_p99_ms) / $(field lag_max_ms) | $(field rate) acknowledged, $(field refused) refused, $(field cosigned_checkpoints) cosigned checkpoints, longest gap $(field longest_gap_s) s, $(field never_cosigned) never cosigned | | p99 printed |"
