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

witness_pidfile="$state/witness.pid"

stop_server() {
    for file in "$pidfile" "$witness_pidfile"; do
        if [ -f "$file" ] && kill -0 "$(cat "$file")" 2>/dev/null; then
            kill -TERM "$(cat "$file")"
            for _ in $(seq 50); do kill -0 "$(cat "$file")" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$file"
    done
    if [ -f "$state/server.runtime" ]; then
        case "$(cat "$state/server.runtime")" in
            /var/tmp/grantledger-server.*) rm -rf "$(cat "$state/server.runtime")" ;;
        esac
        rm -f "$state/server.runtime"
    fi
}

if [ "${1:-}" = "stop" ]; then
    stop_server
    echo "server and witness stopped"
    exit 0
fi

database_up
cd "$repo"
echo "==> building grantledger (release)"
# Progress lines are left out; a failed build stops here rather than run an older binary.
if ! build_release grantledger >"$state/build.log" 2>&1; then
    grep -vE '^\[[0-9]+/[0-9]+\]' "$state/build.log" >&2 || true
    echo "build failed (full log: $state/build.log)" >&2
    exit 1
fi
grep -vE '^\[[0-9]+/[0-9]+\]|^(Fetching|Fetched|Creating working copy|Working copy|Computing|Computed) ' "$state/build.log" || true
bin="$repo/.build/release/grantledger"

echo "==> migrations"
"$bin" migrate
echo "==> sample programme (deploy/sample/programme.jsonl)"
"$bin" import deploy/sample/programme.jsonl
echo "==> integrity"
"$bin" audit verify
echo "==> transparency log: a signed checkpoint, an inclusion proof, checked offline"
# The log's signing key stays in .pgdata/ (mode 600, never overwritten); its verifier key
# is what auditors keep.
# The pseudonym key: what viewers see of confidential organisations (docs/domain.md §15).
if [ ! -f "$state/pseudonym.key" ]; then
    "$bin" keygen pseudonym --out "$state/pseudonym.key" >/dev/null
fi
if [ ! -f "$state/log.key" ]; then
    "$bin" audit keygen --name grantledger.local/log --out "$state/log.key" >"$state/log.pub"
fi
echo "verifier key: $(cat "$state/log.pub")"
"$bin" audit checkpoint --log-key "$state/log.key" | tee "$state/checkpoint"
# The award of the sample's late sub-grant SG-952: its position from its history (CSV, first
# column of the first row), its inclusion proof, and the exported event itself.
award=$("$bin" audit history sub-grant SG-952 --format csv | sed -n 2p | cut -d, -f1)
"$bin" audit prove --position "$award" | tee "$state/inclusion-SG-952.json"
"$bin" audit export | grep "^{\"position\":$award," >"$state/event-SG-952.json"
"$bin" audit check --verifier-key "$(cat "$state/log.pub")" --checkpoint "$state/checkpoint" \
    --inclusion "$state/inclusion-SG-952.json" --event "$state/event-SG-952.json"
echo "==> indicator I.3, 2024-01-01 to 2026-12-31"
"$bin" report i3 --from 2024-01-01 --to 2026-12-31 --format table
echo "==> progress against the I.3 targets"
"$bin" report i3 progress --format table
echo "==> what changed since the 2025 figure was signed off"
"$bin" report i3 restatement --report-id I3-2025-ANNUAL --format table
echo "==> III.6 for 2025, signed off before a retraction, and progress against every target"
"$bin" report restatement --report-id III6-2025-ANNUAL --format table
"$bin" report progress --format table
echo "==> the results framework, 2025: every indicator's value, targets and latest sign-off"
"$bin" report framework --from 2025-01-01 --to 2025-12-31 --format table
echo "==> the field's formats: the I.3 page, an IATI activity file, a 360Giving package"
out="$state/exports"
mkdir -p "$out"
"$bin" report i3 --from 2024-01-01 --to 2026-12-31 --format html >"$out/i3.html"
"$bin" report i3 --from 2024-01-01 --to 2026-12-31 --format html --lang kk >"$out/i3.kk.html"
"$bin" report i3 --from 2024-01-01 --to 2026-12-31 --format html --lang ru >"$out/i3.ru.html"
for lang in en kk ru; do
    "$bin" report framework --from 2025-01-01 --to 2025-12-31 --format html --lang "$lang" \
        >"$out/framework.$lang.html"
done
"$bin" export iati --reporting-org-ref XI-IATI-EC_INTPA --reporting-org-name "European Union" \
    --out "$out/iati.xml"
"$bin" export 360giving --funder-id XI-IATI-EC_INTPA --funder-name "European Union" \
    --prefix 360G-grantledger --out "$out/360giving.json"
cat <<MSG
  $out/i3.html       (also i3.kk.html and i3.ru.html: Kazakh and Russian)
  $out/framework.en.html (the results framework for 2025; also framework.kk.html, framework.ru.html)
  $out/iati.xml      (IATI 2.03)
  $out/360giving.json (360Giving 1.4)

The same report as JSON, CSV or a picture:
  eval "\$(deploy/db.sh env)"
  .build/release/grantledger report i3 --from 2024-01-01 --to 2026-12-31 --format json
  .build/release/grantledger report i3 --from 2024-01-01 --to 2026-12-31 --format csv --bom > i3.csv
  .build/release/grantledger report i3 --from 2024-01-01 --to 2026-12-31 --format svg --lang kk > i3.svg
As the log stood at an earlier point: add --as-of POSITION (or an RFC 3339 time).
MSG

echo "==> HTTP API"
stop_server
port=$(free_port 8080)
token=$("$bin" token create --role viewer --name "quickstart-$(date +%Y%m%d%H%M%S)")

# A witness beside it (c2sp.org/tlog-witness), as the EU Delegation or a grantee would run
# one on its own machine: its key and state stay in .pgdata/, and the server publishes only
# checkpoints it cosigned (the policy file names the log, the witness and the quorum).
if [ ! -f "$state/witness.key" ]; then
    "$bin" witness keygen --name witness.local/w1 --out "$state/witness.key" >"$state/witness.pub"
fi
witness_port=$(free_port 8090)
cat >"$state/witness.policy" <<POLICY
# c2sp.org/tlog-policy: the log, its witness and the quorum (deploy/run.sh writes this file).
log $(cat "$state/log.pub")
witness w1 $(cat "$state/witness.pub") http://127.0.0.1:$witness_port
quorum w1
POLICY
mkdir -p "$state/witness-state"
witness=("$bin" witness serve --key "$state/witness.key" --log-verifier-key "$(cat "$state/log.pub")"
    --state "$state/witness-state" --host 127.0.0.1 --port "$witness_port")

# The server never runs as root: as root, it runs as the system user "grantledger" (created
# here if missing), from a copy of the binary, its resources and sql/ in a fresh folder that
# user can read but not change. The database URL reaches it through the environment only.
serve=("$bin" serve --host 127.0.0.1 --port "$port" --log-key "$state/log.key" --pseudonym-key "$state/pseudonym.key"
    --witness-policy "$state/witness.policy")
export GRANTLEDGER_MIGRATIONS="$repo/sql"
if [ "$(id -u)" -eq 0 ]; then
    if ! id grantledger >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin grantledger
    fi
    runtime=$(mktemp -d /var/tmp/grantledger-server.XXXXXXXX)
    cp "$bin" "$runtime/grantledger"
    cp -R "$repo/.build/release/grantledger_GrantLedgerHTTP.resources" "$runtime/" 2>/dev/null || true
    cp -R "$repo/sql" "$runtime/sql"
    cp "$state/witness.policy" "$runtime/witness.policy"
    chmod -R go-w,a+rX "$runtime"
    # The signing keys: copies only the server's user can read; the witness's state its own.
    install -m 600 -o grantledger "$state/log.key" "$runtime/log.key"
    install -m 600 -o grantledger "$state/pseudonym.key" "$runtime/pseudonym.key"
    install -m 600 -o grantledger "$state/witness.key" "$runtime/witness.key"
    chown -R grantledger "$state/witness-state"
    chmod 700 "$state/witness-state"
    echo "$runtime" >"$state/server.runtime"
    export GRANTLEDGER_MIGRATIONS="$runtime/sql"
    serve=(runuser -u grantledger -- "$runtime/grantledger" serve --host 127.0.0.1 --port "$port"
        --log-key "$runtime/log.key" --pseudonym-key "$runtime/pseudonym.key"
        --witness-policy "$runtime/witness.policy")
    witness=(runuser -u grantledger -- "$runtime/grantledger" witness serve --key "$runtime/witness.key"
        --log-verifier-key "$(cat "$state/log.pub")" --state "$state/witness-state" --host 127.0.0.1
        --port "$witness_port")
fi
(cd / && exec env -u GRANTLEDGER_DATABASE_URL -u GRANTLEDGER_MIGRATION_DATABASE_URL -u GRANTLEDGER_ADMIN_DATABASE_URL \
    nohup "${witness[@]}") >"$state/witness.log" 2>&1 &
echo $! >"$witness_pidfile"
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$witness_port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
# The server gets the application role's URL only: never the migration role's (which can
# rewrite history) nor the cluster administrator's.
(cd / && exec env -u GRANTLEDGER_MIGRATION_DATABASE_URL -u GRANTLEDGER_ADMIN_DATABASE_URL nohup "${serve[@]}") \
    >"$state/server.log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server did not start; see $state/server.log" >&2; exit 1; }
echo "==> the published checkpoint, cosigned by the local witness (http://127.0.0.1:$witness_port)"
for _ in $(seq 150); do
    curl -fs "http://127.0.0.1:$port/log/checkpoint" >"$state/cosigned.checkpoint" 2>/dev/null && break
    sleep 0.2
done
if [ -s "$state/cosigned.checkpoint" ]; then
    cat "$state/cosigned.checkpoint"
    "$bin" audit check --policy "$state/witness.policy" --checkpoint "$state/cosigned.checkpoint"
else
    echo "no cosigned checkpoint yet; see $state/witness.log and GET /v1/audit/checkpoint/pending" >&2
    exit 1
fi
cat <<MSG
grantledger is serving on http://127.0.0.1:$port (log: .pgdata/server.log), its witness on
http://127.0.0.1:$witness_port (log: .pgdata/witness.log, policy: .pgdata/witness.policy)
A viewer token, shown once (create more: grantledger token create --role manager|auditor|viewer --name NAME):
  $token
Try:
  curl -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/indicators/i3?from=2024-01-01&to=2026-12-31"
  curl http://127.0.0.1:$port/openapi.json
  curl http://127.0.0.1:$port/log/checkpoint             # the latest cosigned checkpoint, public
  curl http://127.0.0.1:$port/v1/audit/checkpoint/pending  # the newest one and its witnesses
Stop it with: deploy/run.sh stop
MSG
