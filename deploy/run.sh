#!/usr/bin/env bash
# The main job: local PostgreSQL, migrations, the sample programme, the I.3 report.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

database_up
cd "$repo"
swift build -c release --product grantledger
bin="$repo/.build/release/grantledger"
"$bin" migrate
"$bin" audit verify
