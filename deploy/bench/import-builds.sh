#!/usr/bin/env bash
# `grantledger import` of the benchmark programme by several builds in turn, each into a
# fresh database migrated with its own sql/ (issue #24). Prints, per round and build, the
# wall time (process start included), the client's CPU (user, system) and commands/s.
#
#   deploy/bench/import-builds.sh BINARY... [ROUNDS=3 in the environment]
#
# Build an earlier commit in a worktree (`git worktree add /tmp/before <commit> &&
# swift build -c release --static-swift-stdlib --product grantledger`) and pass its .build/release/grantledger.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
[ $# -ge 1 ] || { echo "usage: $0 BINARY..." >&2; exit 64; }
database_up
commands=${BENCH_IMPORT_COMMANDS:-20000}
programme=$(mktemp -t grantledger-import-programme.XXXXXX)
times=$(mktemp -t grantledger-import-time.XXXXXX)
trap 'rm -f "$programme" "$times"' EXIT
python3 "$repo/deploy/bench/programme.py" "$commands" 0 | head -n "$commands" >"$programme"
db=grantledger_bench_import
echo "| round | build | wall ms | client user s | client sys s | commands/s |"
echo "|---:|---|---:|---:|---:|---:|"
for round in $(seq "${ROUNDS:-3}"); do
    for bin in "$@"; do
        psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" \
            -c "CREATE DATABASE $db OWNER grantledger" 2>/dev/null
        app=$(with_database "$GRANTLEDGER_DATABASE_URL" $db)
        owner=$(with_database "$GRANTLEDGER_MIGRATION_DATABASE_URL" $db)
        GRANTLEDGER_MIGRATIONS=$(migrations_of "$bin") GRANTLEDGER_MIGRATION_DATABASE_URL=$owner "$bin" migrate >/dev/null
        start=$(date +%s%N)
        TIMEFORMAT='%U %S'
        { time GRANTLEDGER_DATABASE_URL="$app" "$bin" import "$programme" >/dev/null; } 2>"$times"
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        read -r user sys <"$times"
        echo "| $round | $bin | $ms | $user | $sys | $(( commands * 1000 / ms )) |"
    done
done
