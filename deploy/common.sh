# Shared by deploy/*.sh: toolchain on PATH, packages installed, database up.
# shellcheck shell=bash

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deploy/lib.sh
. "$repo/deploy/lib.sh"

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "swift toolchain not found" >&2; exit 1; }

# Release builds link the Swift runtime and Foundation into the binary: a short command such
# as `report i3 --server` then starts in about half the time (docs/performance.md, "The
# CLI's start"). Every release build here uses the same flags, so that one build never
# undoes another's (SwiftPM rebuilds everything when they change).
release_build_flags=(-c release --static-swift-stdlib)
build_release() {
    swift build "${release_build_flags[@]}" --product "$1"
}

database_up() {
    "$repo/deploy/db.sh" up
    eval "$("$repo/deploy/db.sh" env)"
}

# The sql/ folder of the checkout a binary was built in (BIN under CHECKOUT/.build/…), so
# that each build of a comparison migrates with its own migrations; this checkout's otherwise.
migrations_of() {
    local dir
    dir=$(cd "$(dirname "$1")/../.." 2>/dev/null && pwd)/sql
    if [ -d "$dir" ]; then echo "$dir"; else echo "$repo/sql"; fi
}

# A benchmark's own database: `bench_database NAME BINARY` makes NAME afresh (owned by the
# project's owner role), migrates it with BINARY's migrations, sets `app` to its URL for the
# application role and `bench_dir` to a scratch directory, and removes both on exit (its
# EXIT trap replaces any other).
bench_database() {
    bench_db=$1
    local bin=$2 owner
    [ -x "$bin" ] || { echo "no binary at $bin (deploy/run.sh builds it)" >&2; exit 1; }
    psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $bench_db" -c "CREATE DATABASE $bench_db OWNER grantledger"
    owner=$(with_database "$GRANTLEDGER_MIGRATION_DATABASE_URL" "$bench_db")
    app=$(with_database "$GRANTLEDGER_DATABASE_URL" "$bench_db")
    GRANTLEDGER_MIGRATIONS=$(migrations_of "$bin") GRANTLEDGER_MIGRATION_DATABASE_URL=$owner "$bin" migrate >/dev/null
    bench_dir=$(mktemp -d -t "$bench_db.XXXXXX")
    trap 'rm -rf "$bench_dir"; psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $bench_db"' EXIT
}

# `pgbench_rates SCRIPT URL LABEL`: pgbench runs SCRIPT prepared against URL at 1 and 8
# clients, BENCH_RAW_SECONDS (10) each, and prints "LABEL, N client(s): transactions/s".
pgbench_rates() {
    local script=$1 url=$2 label=$3 clients tps
    command -v pgbench >/dev/null 2>&1 || { echo "pgbench is needed (postgresql-contrib)" >&2; exit 1; }
    for clients in 1 8; do
        tps=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "${BENCH_RAW_SECONDS:-10}" -f "$script" "$url" 2>/dev/null |
            awk '/^tps/ {print int($3); exit}')
        echo "$label, $clients client(s): $tps"
    done
}
