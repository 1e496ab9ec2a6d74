#!/usr/bin/env bash
# Runs the whole test suite against a real, local PostgreSQL that this script starts.
# --fast leaves out the SystemTests target (killed processes and clusters, a hot standby,
# a real browser, systemd): what a change to the domain, the store or the API needs.
# Other arguments go to `swift test` (e.g. --filter TamperTests).
set -euo pipefail
fast=()
if [ "${1:-}" = "--fast" ]; then
    shift
    fast=(--skip '^SystemTests\.')
fi
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

database_up
# The OpenAPI document is checked by the reference validator (a PyPI package).
if ! python3 -c "import openapi_spec_validator" 2>/dev/null; then
    python3 -m pip install -q openapi-spec-validator >/dev/null 2>&1 || echo "could not install openapi-spec-validator" >&2
fi
# The export tests check the files with real validators: xmllint for the IATI schema, a
# headless browser for the HTML report, systemd-analyze for the units (Debian packages), and Python's jsonschema with
# rfc3339-validator for the 360Giving schema (Debian's python3-jsonschema cannot check
# date-time formats), in a virtual environment of the repository's own.
missing=()
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "installing ${missing[*]} ..." >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 ||
            echo "could not install ${missing[*]}" >&2
    else
        echo "missing ${missing[*]}: install them (apt-get install ${missing[*]})" >&2
    fi
fi
venv="$repo/.venv-tests"
# schemathesis: the OpenAPI document under a schema-driven fuzzer (Tests/SystemTests/OpenAPIFuzzTests).
if ! "$venv/bin/python3" -c "import jsonschema, rfc3339_validator, schemathesis" 2>/dev/null; then
    python3 -m venv "$venv" &&
        "$venv/bin/pip" install -q jsonschema rfc3339-validator schemathesis==4.32.5 >/dev/null 2>&1 ||
        echo "could not set up $venv with jsonschema, rfc3339-validator and schemathesis" >&2
fi
export GRANTLEDGER_TEST_PYTHON="$venv/bin/python3"

# Each test suite creates its own database; drop what an earlier run left behind.
psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -Atc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'gl\_test\_%' OR datname LIKE 'gl\_template\_%'" |
    while read -r name; do
        psql -X -q "$GRANTLEDGER_ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
    done

cd "$repo"
swift build --build-tests
swift test --skip-build "${fast[@]}" "$@"
