#!/usr/bin/env bash
# The long run of the OpenAPI document under schemathesis (issue #26): --checks all with
# GRANTLEDGER_FUZZ_EXAMPLES (default 200) examples per operation, against a live server with
# the sample programme, once per role (GRANTLEDGER_FUZZ_ROLES, default all four), through the
# test suite's own OpenAPIFuzzTests (deploy/test.sh sets up PostgreSQL and schemathesis).
# Prints the cases generated per role, and what schemathesis found when it found anything;
# the whole output is kept in .pgdata/openapi-fuzz.log. Exits non-zero on any finding.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export GRANTLEDGER_FUZZ_EXAMPLES="${GRANTLEDGER_FUZZ_EXAMPLES:-200}"
export GRANTLEDGER_FUZZ_ROLES="${GRANTLEDGER_FUZZ_ROLES:-viewer,manager,auditor,grantee}"
mkdir -p "$repo/.pgdata"
log="$repo/.pgdata/openapi-fuzz.log"
echo "==> schemathesis --checks all, $GRANTLEDGER_FUZZ_EXAMPLES examples per operation, roles $GRANTLEDGER_FUZZ_ROLES"
start=$(date +%s)
"$repo/deploy/test.sh" --filter OpenAPIFuzzTests >"$log" 2>&1
status=$?
grep -E '^schemathesis, |Test run with' "$log"
if [ "$status" -ne 0 ]; then
    # The findings: schemathesis's failure sections, as the test's expectations quote them.
    grep -E '^_{5,} |^- ST[0-9]|^\[[0-9]{3}\]|^    curl ' "$log" | head -60
    echo "full output: $log"
fi
echo "wall time: $(( $(date +%s) - start )) s"
exit "$status"
