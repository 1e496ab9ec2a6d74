#!/usr/bin/env bash
# The write path's database side alone (issue #24): pgbench calls append_run() with one new
# organisation per transaction, as `serve` does for a group of one command, prepared, as
# the application role over TCP, then deploy/bench/raw-inserts.sh (single-row INSERT
# transactions into a plain table of the events' shape) for the raw figures beside it. 1 and
# 8 clients, BENCH_RAW_SECONDS (10) each.
# What POST /v1/commands can reach is bounded by the first figure (at about 1.8 commands
# per group), whatever the server does.
#
#   deploy/bench/append-run.sh [BINARY]   (default: .build/release/grantledger, to migrate)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
database_up
bench_database grantledger_bench_append "${1:-$repo/.build/release/grantledger}"
# The run a POST of one new organisation sends (its name sealed), ids made unique per call.
cat >"$bench_dir/append.sql" <<'SQL'
\set n random(1, 999999999999)
BEGIN;
SELECT count(*) FROM append_run(9223372036854775807, ('[{"keys": ["organisation-PB-' || :n || '"], "digest": "ba414c9dfcdcbb8730831ba380dfeaaf78c8b23beb48a419386bf0ad7643dcab", "events": [{"data": {"kind": "informalGroup", "name": {"key": "19f6db39-6801-46ca-969b-bc0d376eda1d", "encrypted": "6AE7dP7NPxaj1+E5Per4Wdcn8pFQfq2TwPsaMmyYACK8wgY="}, "country": "KZ", "regionCode": "KZ-43", "settlement": "rural", "organisationId": "PB-' || :n || '", "leadershipGender": "women", "registrationStatus": "unregistered"}, "type": "OrganisationRegistered", "eventId": "' || gen_random_uuid() || '", "metadata": {"actor": "bench", "commandId": "PB-' || :n || '", "correlationId": "346369b70718332d65e50efdade3f58"}, "streamId": "organisation-PB-' || :n || '"}], "expected": {"organisation-PB-' || :n || '": 0}, "commandId": "PB-' || :n || '"}]')::jsonb);
COMMIT;
SQL
pgbench_rates "$bench_dir/append.sql" "$app" "append_run() transactions/s, one command each"
"$repo/deploy/bench/raw-inserts.sh"
