#!/usr/bin/env bash
# The main job, on a fresh machine: local PostgreSQL, migrations, the sample programme,
# the I.3 report. Safe to run again: the sample's commands carry command ids, so a second
# run records nothing new.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

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
