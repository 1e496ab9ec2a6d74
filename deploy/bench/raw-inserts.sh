#!/usr/bin/env bash
# Raw PostgreSQL beside which the command rows are read (issue #24): pgbench's single-row
# INSERT transactions into a plain table of the events' shape, prepared, as the application
# role over TCP (as grantledger connects), at 1 and 8 clients, 10 s each
# (BENCH_RAW_SECONDS). Prints one line per client count.
#
#   deploy/bench/raw-inserts.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
database_up
db=grantledger_bench_raw
psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
admin=${GRANTLEDGER_ADMIN_DATABASE_URL/\/postgres\?/\/$db?}
psql -X -q "$admin" <<'SQL'
CREATE TABLE raw_events (
    position bigserial PRIMARY KEY, stream_id text NOT NULL, stream_version bigint NOT NULL,
    event_id uuid NOT NULL UNIQUE, type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, stream_version));
GRANT INSERT ON raw_events TO grantledger_app;
GRANT USAGE ON SEQUENCE raw_events_position_seq TO grantledger_app;
SQL
script=$(mktemp -t grantledger-raw.XXXXXX)
trap 'rm -f "$script"; psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db"' EXIT
cat >"$script" <<'SQL'
INSERT INTO raw_events (stream_id, stream_version, event_id, type, data, metadata)
VALUES ('organisation-' || gen_random_uuid(), 1, gen_random_uuid(), 'OrganisationRegistered',
        '{"organisationId": "x", "name": "Benchmark group", "country": "KZ", "regionCode": "KZ-43"}',
        '{"commandId": "c", "actor": "a"}');
SQL
app=$(with_database "$GRANTLEDGER_DATABASE_URL" $db)
pgbench_rates "$script" "$app" "raw INSERT transactions/s"
