#!/usr/bin/env bash
# Builds the benchmark in release mode and runs it against the local cluster.
# BENCH_SECONDS (default 5) per write measurement; BENCH_READ_EVENTS (default 1000000).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

database_up
cd "$repo"
swift build -c release --product grantledger-benchmark
"$repo/.build/release/grantledger-benchmark"
