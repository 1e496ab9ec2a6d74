#!/usr/bin/env bash
# What a seal's hashing costs inside PostgreSQL (issue #24, the sealing row). A seal hashes
# each new event three times with PostgreSQL's sha256(): its chain hash, its Merkle leaf, and
# on average one interior node above it. This prints, for BENCH_HASHES (1,000,000) 32-byte
# inputs, the time per call of sha256() in one SQL statement and in a PL/pgSQL loop (the
# form seal_events() and merkle_extend() use), against the same statements without the hash
# and OpenSSL's own SHA-256 of the same input outside PostgreSQL (`openssl speed`), then
# merkle_extend() alone over as many leaves in a fresh tree (rolled back). The floor for a
# seal is three of the PostgreSQL figures, whatever else it does.
#
#   deploy/bench/seal-hash-cost.sh [BINARY]   (default: .build/release/grantledger, to migrate)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
database_up
bench_database grantledger_bench_seal_hashes "${1:-$repo/.build/release/grantledger}"
n=${BENCH_HASHES:-1000000}
# The superuser, whose sessions may make the temporary table of inputs (the project's roles
# may not); merkle_extend() runs as its caller, as inside a seal.
admin=${GRANTLEDGER_ADMIN_DATABASE_URL/\/postgres\?/\/$bench_db?}

# Milliseconds of the slowest statement given, as psql's \timing reports it.
timed() {
    psql -X -q "$admin" -v ON_ERROR_STOP=1 -v n="$n" 2>&1 <<SQL | awk '/^Time:/ && $2 + 0 > t + 0 {t = $2} END {print t}'
CREATE TEMP TABLE input AS
    SELECT pg_catalog.array_agg(i::bigint ORDER BY i) AS p,
           pg_catalog.array_agg(pg_catalog.sha256(pg_catalog.int8send(i)) ORDER BY i) AS h
    FROM pg_catalog.generate_series(1, :n) AS i;
\\timing on
$1
SQL
}
per_call() { awk -v ms="$1" -v n="$n" 'BEGIN { printf "%.2f", ms * 1000 / n }'; }

echo "| $n calls, inputs of 32 bytes | ms | µs per call |"
echo "|---|---:|---:|"
row() {
    local ms
    ms=$(timed "$2")
    echo "| $1 | $ms | $(per_call "$ms") |"
}
row "SQL: unnest alone" "SELECT pg_catalog.count(x) FROM input, pg_catalog.unnest(h) AS x;"
row "SQL: sha256(0x00 || x)" "SELECT pg_catalog.count(pg_catalog.sha256('\\x00'::bytea || x)) FROM input, pg_catalog.unnest(h) AS x;"
row "PL/pgSQL loop: element alone" "DO \$\$ DECLARE v bytea[]; x bytea; BEGIN SELECT h INTO v FROM input; FOR i IN 1 .. pg_catalog.cardinality(v) LOOP x := v[i]; END LOOP; END \$\$;"
row "PL/pgSQL loop: chain step sha256(head || x)" "DO \$\$ DECLARE v bytea[]; x bytea := '\\x'::bytea; BEGIN SELECT h INTO v FROM input; FOR i IN 1 .. pg_catalog.cardinality(v) LOOP x := pg_catalog.sha256(x || v[i]); END LOOP; END \$\$;"
row "merkle_extend() over n new leaves (a fresh tree, rolled back)" "BEGIN; SELECT public.merkle_extend(p, h) FROM input; ROLLBACK;"
if command -v openssl >/dev/null 2>&1; then
    # openssl speed reports thousands of bytes a second for 64-byte inputs (one SHA-256 block
    # and its padding, as for 33 bytes).
    rate=$(openssl speed -seconds 2 -bytes 64 -evp sha256 2>/dev/null | awk '/^sha256/ {print $2}' | tr -d k)
    [ -n "$rate" ] && echo "| OpenSSL's SHA-256 alone, 64-byte inputs (openssl speed) | | $(awk -v r="$rate" 'BEGIN { printf "%.2f", 64 / (r * 1000) * 1e6 }') |"
fi
