# Small helpers shared by the scripts in deploy/ (sourced, never run).
# shellcheck shell=bash

# The first TCP port on 127.0.0.1 from $1 on that nothing listens on.
free_port() {
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1))
    done
    echo "$port"
}

# A libpq URI with its database name replaced: with_database URI NAME.
with_database() {
    local uri=$1 name=$2
    echo "${uri%/*}/$name"
}
