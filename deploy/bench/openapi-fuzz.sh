#!/usr/bin/env bash
# The long run of the OpenAPI document under schemathesis (issue #26): --checks all with
# GRANTLEDGER_FUZZ_EXAMPLES (default 200) examples per operation, against a live server with
# the sample programme, once per role (GRANTLEDGER_FUZZ_ROLES, default all four), through the
# test suite's own OpenAPIFuzzTests (deploy/test.sh sets up PostgreSQL and schemathesis).
# Prints the cases generated per role; exits non-zero on any finding.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export GRANTLEDGER_FUZZ_EXAMPLES="${GRANTLEDGER_FUZZ_EXAMPLES:-200}"
export GRANTLEDGER_FUZZ_ROLES="${GRANTLEDGER_FUZZ_ROLES:-viewer,manager,auditor,grantee}"
echo "==> schemathesis --checks all, $GRANTLEDGER_FUZZ_EXAMPLES examples per operation, roles $GRANTLEDGER_FUZZ_ROLES"
start=$(date +%s)
"$repo/deploy/test.sh" --filter OpenAPIFuzzTests 2>&1 | grep -E 'schemathesis, |✔|✘|passed after|failed after|issue|Expectation failed' || true
status=${PIPESTATUS[0]}
echo "wall time: $(( $(date +%s) - start )) s"
exit "$status"
