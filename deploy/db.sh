#!/usr/bin/env bash
# A throwaway local PostgreSQL cluster for grantledger.
#
#   deploy/db.sh up      install what is missing, create/start the cluster, roles and
#                        database, run the migrations, print the connection settings
#   deploy/db.sh env     print the settings as shell exports (cluster must be up)
#   deploy/db.sh down    stop the cluster
#   deploy/db.sh wipe    stop the cluster and delete its folder
#
# The cluster lives in .pgdata/ at the top of the repository (git-ignored), listens on
# 127.0.0.1 on the first free port from 54330, and runs as the OS user "postgres" when this
# script runs as root. Passwords are generated and kept in .pgdata/env (mode 600).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$repo/.pgdata"
# The cluster's folder: .pgdata/cluster, or a folder under /var/tmp when the postgres OS
# user cannot reach the repository (recorded in .pgdata/datadir).
data="$state/cluster"
[ -f "$state/datadir" ] && data=$(cat "$state/datadir")
envfile="$state/env"

log() { printf 'db: %s\n' "$*" >&2; }

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && bin="$dir"
    done
    [ -n "${bin:-}" ] || { log "PostgreSQL server binaries not found"; exit 1; }
    echo "$bin"
}

install_packages() {
    local missing=()
    [ -d /usr/lib/postgresql ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        if [ "$(id -u)" -ne 0 ]; then
            log "need root to install ${missing[*]}"
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

free_port() {
    local port=54330
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1))
    done
    echo "$port"
}

is_running() {
    [ -f "$data/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

random_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

up() {
    install_packages
    local bin
    bin=$(pg_bin)
    mkdir -p "$state"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$state"
        if ! runuser -u postgres -- test -w "$state" && [ ! -f "$state/datadir" ]; then
            local fallback
            fallback="/var/tmp/grantledger-$(printf '%s' "$repo" | md5sum | cut -c1-12)"
            mkdir -p "$fallback"
            chown postgres "$fallback"
            chmod 700 "$fallback"
            data="$fallback/cluster"
            echo "$data" >"$state/datadir"
            log "the postgres OS user cannot reach $state; the cluster lives in $fallback"
        fi
    fi
    if [ ! -f "$envfile" ]; then
        local port socket app_pw owner_pw
        port=$(free_port)
        socket="/tmp/grantledger-pg-$port"
        app_pw=$(random_secret)
        owner_pw=$(random_secret)
        umask 077
        cat >"$envfile" <<ENV
PGPORT_GRANTLEDGER=$port
PGSOCKET_GRANTLEDGER=$socket
APP_PASSWORD=$app_pw
OWNER_PASSWORD=$owner_pw
ENV
        umask 022
    fi
    # shellcheck disable=SC1090
    . "$envfile"
    local port=$PGPORT_GRANTLEDGER socket=$PGSOCKET_GRANTLEDGER
    if [ ! -f "$data/PG_VERSION" ]; then
        log "creating cluster in $data"
        as_pg "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    mkdir -p "$socket"
    [ "$(id -u)" -eq 0 ] && chown postgres "$socket"
    chmod 700 "$socket"
    if ! is_running; then
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            log "port $port is taken; run 'deploy/db.sh wipe' and try again"
            exit 1
        fi
        log "starting PostgreSQL on 127.0.0.1:$port"
        as_pg "$bin/pg_ctl" -D "$data" -l "$data/../postgres.log" -w -t 60 \
            -o "-p $port -k $socket -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
    fi
    local psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$socket" -p "$port" -U postgres)
    "${psql[@]}" -d postgres >/dev/null <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grantledger') THEN
        CREATE ROLE grantledger LOGIN CREATEDB;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grantledger_app') THEN
        CREATE ROLE grantledger_app LOGIN;
    END IF;
END
\$\$;
ALTER ROLE grantledger PASSWORD '$OWNER_PASSWORD';
ALTER ROLE grantledger_app LOGIN PASSWORD '$APP_PASSWORD';
SELECT 'CREATE DATABASE grantledger OWNER grantledger'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'grantledger') \gexec
SQL
    log "PostgreSQL is up: host 127.0.0.1 port $port database grantledger"
    log "  application role grantledger_app, migration role grantledger (passwords in $envfile)"
    log "  load the settings into a shell with: eval \"\$(deploy/db.sh env)\""
}

print_env() {
    [ -f "$envfile" ] || { log "no cluster; run 'deploy/db.sh up'"; exit 1; }
    # shellcheck disable=SC1090
    . "$envfile"
    cat <<ENV
export GRANTLEDGER_DATABASE_URL='postgresql://grantledger_app:$APP_PASSWORD@127.0.0.1:$PGPORT_GRANTLEDGER/grantledger'
export GRANTLEDGER_MIGRATION_DATABASE_URL='postgresql://grantledger:$OWNER_PASSWORD@127.0.0.1:$PGPORT_GRANTLEDGER/grantledger'
export GRANTLEDGER_ADMIN_DATABASE_URL='postgresql://postgres@/postgres?host=$PGSOCKET_GRANTLEDGER&port=$PGPORT_GRANTLEDGER'
ENV
}

down() {
    if is_running; then
        log "stopping PostgreSQL"
        as_pg "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
}

wipe() {
    down
    if [ -f "$envfile" ]; then
        # shellcheck disable=SC1090
        . "$envfile"
        rm -rf "$PGSOCKET_GRANTLEDGER"
    fi
    case "$data" in
        /var/tmp/grantledger-*) rm -rf "$(dirname "$data")" ;;
    esac
    rm -rf "$state"
    log "wiped $state"
}

case "${1:-}" in
    up) up ;;
    env) print_env ;;
    down) down ;;
    wipe) wipe ;;
    *) echo "usage: deploy/db.sh up|env|down|wipe" >&2; exit 2 ;;
esac
