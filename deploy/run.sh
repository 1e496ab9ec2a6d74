#!/usr/bin/env bash
# The main job, on a fresh machine: local PostgreSQL, migrations, the sample programme,
# the I.3 report, and the HTTP API left running in the background with a token to try it.
# Safe to run again: the sample's commands carry command ids, so a second run records
# nothing new, and a server started earlier is replaced.
#
#   deploy/run.sh          everything above
#   deploy/run.sh stop     stop the server it started (deploy/db.sh down stops PostgreSQL)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

state="$repo/.pgdata"
pidfile="$state/server.pid"

stop_server() {
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        kill -TERM "$(cat "$pidfile")"
        for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
}

if [ "${1:-}" = "stop" ]; then
    stop_server
    echo "server stopped"
    exit 0
fi

database_up
cd "$repo"
echo "==> building grantledger (release)"
swift build -c release --product grantledger 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
bin="$repo/.build/release/grantledger"
[ -x "$bin" ] || { echo "build failed" >&2; exit 1; }

echo "==> migrations"
"$bin" migrate
echo "==> sample programme (deploy/sample/programme.jsonl)"
"$bin" import deploy/sample/programme.jsonl
echo "==> integrity"
"$bin" audit verify
echo "==> indicator I.3, 2024-01-01 to 2026-12-31"
"$bin" report i3 --from 2024-01-01 --to 2026-12-31 --format table
cat <<MSG

The same report as JSON or CSV:
  eval "\$(deploy/db.sh env)"
  .build/release/grantledger report i3 --from 2024-01-01 --to 2026-12-31 --format json
  .build/release/grantledger report i3 --from 2024-01-01 --to 2026-12-31 --format csv > i3.csv
As the log stood at an earlier point: add --as-of POSITION (or an RFC 3339 time).
MSG

echo "==> HTTP API"
stop_server
port=8080
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
token=$("$bin" token create --role viewer --name "quickstart-$(date +%Y%m%d%H%M%S)")
nohup "$bin" serve --host 127.0.0.1 --port "$port" >"$state/server.log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server did not start; see $state/server.log" >&2; exit 1; }
cat <<MSG
grantledger is serving on http://127.0.0.1:$port (log: .pgdata/server.log)
A viewer token, shown once (create more: grantledger token create --role manager|auditor|viewer --name NAME):
  $token
Try:
  curl -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/indicators/i3?from=2024-01-01&to=2026-12-31"
  curl http://127.0.0.1:$port/openapi.json
Stop it with: deploy/run.sh stop
MSG
