#!/usr/bin/env bash
# Where a POST /v1/commands spends the machine's CPU (issue #24): one build serves a fresh
# database holding the benchmark programme (`import`), wrk sends new organisations at 8 and
# then 64 connections for BENCH_HTTP_SECONDS (10) each, and /proc is read around each run.
# Prints, per connection count, the rate, how busy the machine was, and the CPU per command
# of the server, of PostgreSQL's processes together, and of wrk.
#
#   deploy/bench/post-cpu.sh [BINARY]   (default: .build/release/grantledger)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
bin=${1:-$repo/.build/release/grantledger}
[ -x "$bin" ] || { echo "no binary at $bin (deploy/run.sh builds it)" >&2; exit 1; }
command -v wrk >/dev/null 2>&1 || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
database_up
cd "$repo"
commands=${BENCH_IMPORT_COMMANDS:-20000}
seconds=${BENCH_HTTP_SECONDS:-10}
db=grantledger_bench_cpu
work=$(mktemp -d -t grantledger-post-cpu.XXXXXX)
server=
cleanup() {
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
    psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db"
}
trap cleanup EXIT
python3 "$repo/deploy/bench/programme.py" "$commands" 0 | head -n "$commands" >"$work/programme"
psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db OWNER grantledger"
app=$(with_database "$GRANTLEDGER_DATABASE_URL" $db)
owner=$(with_database "$GRANTLEDGER_MIGRATION_DATABASE_URL" $db)
GRANTLEDGER_MIGRATIONS=$(migrations_of "$bin") GRANTLEDGER_MIGRATION_DATABASE_URL=$owner "$bin" migrate >/dev/null
GRANTLEDGER_DATABASE_URL=$app "$bin" import "$work/programme" >/dev/null
token=$(GRANTLEDGER_DATABASE_URL=$app GRANTLEDGER_MIGRATION_DATABASE_URL=$owner \
    "$bin" token create --role manager --name "cpu-$(date +%s%N)")
port=$(free_port 18290)
GRANTLEDGER_DATABASE_URL=$app "$bin" serve --port "$port" --log-level warning >/dev/null 2>&1 &
server=$!
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
# Let the server's memory of the log load before measuring.
sleep 3

# CPU ticks (user + system) of every process: "pid name ticks" per line.
ticks() {
    local stat
    for stat in /proc/[0-9]*/stat; do
        cat "$stat" 2>/dev/null || true
        echo
    done | python3 -c '
import sys
for line in sys.stdin:
    line = line.strip()
    if not line: continue
    pid, rest = line.split(" ", 1)
    name, fields = rest[1:].rsplit(") ", 1)
    fields = fields.split()
    print(pid, name.replace(" ", "_"), int(fields[11]) + int(fields[12]))
'
}

echo "| connections | commands/s | machine busy | server, µs CPU a command | PostgreSQL, µs | wrk, µs |"
echo "|---:|---:|---:|---:|---:|---:|"
for connections in 8 64; do
    ticks >"$work/before"
    head -n 1 /proc/stat >"$work/stat-before"
    # wrk's own CPU, from its exit (it is gone before the second reading).
    TOKEN=$token /usr/bin/time -f "%U %S" -o "$work/wrk-time" wrk -t2 -c"$connections" -d"${seconds}"s \
        -s "$repo/deploy/bench/post-commands.lua" "http://127.0.0.1:$port" >"$work/wrk"
    ticks >"$work/after"
    head -n 1 /proc/stat >"$work/stat-after"
    python3 - "$work" "$server" "$(getconf CLK_TCK)" "$connections" <<'PY'
import sys
work, server, hz, connections = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def read(name):
    return {l.split()[0]: (l.split()[1], int(l.split()[2])) for l in open(f"{work}/{name}") if l.strip()}
before, after = read("before"), read("after")
requests = next(int(l.split()[0]) for l in open(f"{work}/wrk") if "requests in" in l)
rate = next(float(l.split()[1]) for l in open(f"{work}/wrk") if l.startswith("Requests/sec"))
cpu = {"server": 0, "postgres": 0}
for pid, (name, t) in after.items():
    used = t - before.get(pid, (name, 0))[1]
    if pid == server:
        cpu["server"] += used
    elif name.startswith("postgres"):
        cpu["postgres"] += used
wrk = sum(float(x) for x in open(f"{work}/wrk-time").read().split()[-2:])
s0 = list(map(int, open(f"{work}/stat-before").read().split()[1:]))
s1 = list(map(int, open(f"{work}/stat-after").read().split()[1:]))
d = [b - a for a, b in zip(s0, s1)]
busy = 100 - 100 * (d[3] + d[4]) / sum(d)
per = lambda seconds: f"{seconds * 1e6 / requests:.0f}"
print(f"| {connections} | {rate:.0f} | {busy:.0f}% | {per(cpu['server'] / hz)} | {per(cpu['postgres'] / hz)} | {per(wrk)} |")
PY
done
