#!/usr/bin/env bash
# Runs the whole test suite against a real, local PostgreSQL that this script starts.
# Extra arguments go to `swift test` (e.g. --filter TamperTests).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

database_up
# The OpenAPI document is checked by the reference validator (a PyPI package).
if ! python3 -c "import openapi_spec_validator" 2>/dev/null; then
    python3 -m pip install -q openapi-spec-validator >/dev/null 2>&1 || echo "could not install openapi-spec-validator" >&2
fi
# Each test suite creates its own database; drop what an earlier run left behind.
psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -Atc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'gl\_test\_%'" |
    while read -r name; do
        psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$name\""
    done

cd "$repo"
swift build --build-tests
swift test --skip-build "$@"
