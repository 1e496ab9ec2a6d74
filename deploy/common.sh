# Shared by deploy/*.sh: toolchain on PATH, packages installed, database up.
# shellcheck shell=bash

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deploy/lib.sh
. "$repo/deploy/lib.sh"

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "swift toolchain not found" >&2; exit 1; }

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
