#!/usr/bin/env bash
# The store's append alone (issue #24): pgbench calls append_events() with one event to a
# random stream, then sends the notification that wakes readers, as EventStore.append does
# (two transactions; pgbench sends them one after the other where the store pipelines them),
# prepared, as the application role over TCP, at 1 and 8 clients, BENCH_RAW_SECONDS (10)
# each; then deploy/bench/raw-inserts.sh for the raw figures beside it.
#
#   deploy/bench/append-events.sh [BINARY]   (default: .build/release/grantledger, to migrate)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
database_up
bench_database grantledger_bench_append_events "${1:-$repo/.build/release/grantledger}"
cat >"$bench_dir/append.sql" <<'SQL'
\set s random(0, 999999999)
SELECT count(*) FROM append_events(NULL, '', '{}'::jsonb, jsonb_build_array(jsonb_build_object('streamId', 'grant-' || :s, 'eventId', gen_random_uuid(), 'type', 'GrantTrancheDisbursed', 'data', '{"grantId": "G-17", "amount": "12500.00", "paidOn": "2025-03-01"}'::jsonb, 'metadata', '{"actor": "bench", "commandId": null}'::jsonb)));
SELECT pg_notify('grantledger_events', ''), set_config('synchronous_commit', 'off', true);
SQL
pgbench_rates "$bench_dir/append.sql" "$app" "append_events() then NOTIFY, transactions/s"
"$repo/deploy/bench/raw-inserts.sh"
