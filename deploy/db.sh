#!/usr/bin/env bash
# A throwaway local PostgreSQL cluster for grantledger.
#
#   deploy/db.sh up      install what is missing, create/start the cluster, roles and
#                        database, run the migrations, print the connection settings
#   deploy/db.sh env     print the settings as shell exports (cluster must be up)
#   deploy/db.sh down    stop the cluster
#   deploy/db.sh kill    stop it the hard way (pg_ctl -m immediate), as a crash would
#   deploy/db.sh wipe    stop the cluster and delete its folder
#   deploy/db.sh replica up|down
#                        a hot standby of the cluster (pg_basebackup -R, streaming
#                        replication) on the next free port, for reads from a replica; `env`
#                        then also prints GRANTLEDGER_READ_DATABASE_URL
#
# GRANTLEDGER_PGDATA names another folder than .pgdata/ for the cluster's state: the tests
# make a second, throwaway cluster that way, to crash it without disturbing the first.
#
# The cluster lives in .pgdata/ at the top of the repository (git-ignored), listens on
# 127.0.0.1 on the first free port from 54330 (and on a socket in its own folder), and runs
# as the OS user "postgres" when this script runs as root.
#
# Roles (docs/architecture.md, "Roles"): grantledger owns the database and cannot log in;
# grantledger_migrator logs in and becomes the owner for migrations and token
# administration; grantledger_app is what the server and the CLI run as. Passwords are
# generated and kept in .pgdata/env (mode 600), in a folder only the invoking user can
# write, so that the postgres OS user can never change what this script reads.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deploy/lib.sh
. "$repo/deploy/lib.sh"
state="${GRANTLEDGER_PGDATA:-$repo/.pgdata}"
# The cluster's folder: .pgdata/cluster, or a fresh mktemp folder under /var/tmp when the
# postgres OS user cannot reach the repository (recorded in .pgdata/datadir).
data="$state/cluster"
[ -f "$state/datadir" ] && data=$(cat "$state/datadir")
envfile="$state/env"

log() { printf 'db: %s\n' "$*" >&2; }

# Reads KEY=VALUE lines of the env file without executing it, after checking that only the
# invoking user can have written it.
load_env() {
    local owner mode key value
    owner=$(stat -c %u "$envfile")
    mode=$(stat -c %a "$envfile")
    if [ "$owner" != "$(id -u)" ] || [ $((8#$mode & 8#022)) -ne 0 ]; then
        log "$envfile must belong to you and not be writable by others; refusing to read it"
        exit 1
    fi
    while IFS='=' read -r key value; do
        case "$key" in
            PGPORT_GRANTLEDGER | PGSOCKET_GRANTLEDGER | APP_PASSWORD | OWNER_PASSWORD)
                [[ "$value" =~ ^[A-Za-z0-9/._-]+$ ]] || { log "bad value for $key in $envfile"; exit 1; }
                printf -v "$key" '%s' "$value"
                ;;
        esac
    done <"$envfile"
}

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

is_running() {
    [ -f "$data/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

random_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

up() {
    install_packages
    local bin
    bin=$(pg_bin)
    mkdir -p "$state"
    # Ours alone to write; others may only pass through to the cluster's folder.
    chown "$(id -u)" "$state"
    chmod 711 "$state"
    if [ "$(id -u)" -eq 0 ] && [ ! -f "$state/datadir" ] && ! runuser -u postgres -- test -x "$state"; then
        local fallback
        fallback=$(mktemp -d /var/tmp/grantledger.XXXXXXXX)
        chown postgres "$fallback"
        chmod 700 "$fallback"
        data="$fallback/cluster"
        echo "$data" >"$state/datadir"
        log "the postgres OS user cannot reach $state; the cluster lives in $fallback"
    fi
    if [ ! -f "$envfile" ]; then
        local port socket app_pw owner_pw
        # GRANTLEDGER_PORT_FROM: where the search for a free port starts (a test's scratch
        # cluster starts elsewhere, so that a standby scanning from 54330 never takes its
        # port while it is down).
        port=$(free_port "${GRANTLEDGER_PORT_FROM:-54330}")
        socket="$(dirname "$data")/socket"
        app_pw=$(random_secret)
        owner_pw=$(random_secret)
        (
            umask 077
            cat >"$envfile" <<ENV
PGPORT_GRANTLEDGER=$port
PGSOCKET_GRANTLEDGER=$socket
APP_PASSWORD=$app_pw
OWNER_PASSWORD=$owner_pw
ENV
        )
    fi
    load_env
    local port=$PGPORT_GRANTLEDGER socket=$PGSOCKET_GRANTLEDGER
    if [ ! -f "$data/PG_VERSION" ]; then
        log "creating cluster in $data"
        mkdir -p "$data"
        [ "$(id -u)" -eq 0 ] && chown postgres "$data"
        chmod 700 "$data"
        as_pg "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if [ ! -d "$socket" ]; then
        mkdir "$socket"
        [ "$(id -u)" -eq 0 ] && chown postgres "$socket"
    fi
    chmod 700 "$socket"
    if ! is_running; then
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            log "port $port is taken; run 'deploy/db.sh wipe' and try again"
            exit 1
        fi
        log "starting PostgreSQL on 127.0.0.1:$port"
        as_pg "$bin/pg_ctl" -D "$data" -l "$data/postgres.log" -w -t 60 \
            -o "-p $port -k $socket -c listen_addresses=127.0.0.1 -c max_connections=400" start >/dev/null
    fi
    local psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$socket" -p "$port" -U postgres)
    # Passwords travel on standard input (psql variables), never on a command line.
    "${psql[@]}" -d postgres -v app_pw="$APP_PASSWORD" -v migrator_pw="$OWNER_PASSWORD" >/dev/null <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grantledger') THEN
        CREATE ROLE grantledger NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grantledger_migrator') THEN
        CREATE ROLE grantledger_migrator LOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grantledger_app') THEN
        CREATE ROLE grantledger_app LOGIN;
    END IF;
END
$$;
-- The owner cannot log in; the migration role becomes it with SET ROLE.
ALTER ROLE grantledger NOLOGIN NOCREATEDB NOCREATEROLE PASSWORD NULL;
ALTER ROLE grantledger_migrator LOGIN NOINHERIT NOCREATEDB NOCREATEROLE PASSWORD :'migrator_pw';
GRANT grantledger TO grantledger_migrator;
ALTER ROLE grantledger_app LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'app_pw';
-- A session of the application role idle for 2 minutes is ended, and with it any session
-- lock it holds (an idle session holding the positions lock would stall every writer).
-- The pool closes connections idle for a minute first. Only a default: a compromised role
-- can SET it off in its own sessions (docs/architecture.md, "Threat model").
ALTER ROLE grantledger_app SET idle_session_timeout = '2min';
SELECT 'CREATE DATABASE grantledger OWNER grantledger'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'grantledger') \gexec
SQL
    # Read models that an earlier version let the application role create are dropped here
    # (as the superuser; they are rebuilt from the log), so that sql/015 can create them.
    "${psql[@]}" -d grantledger >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT format('DROP SCHEMA %I CASCADE', n.nspname)
FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
WHERE r.rolname = 'grantledger_app' AND n.nspname LIKE 'rm\_%' \gexec
SQL
    log "PostgreSQL is up: host 127.0.0.1 port $port database grantledger"
    log "  application role grantledger_app, migration role grantledger_migrator (passwords in $envfile)"
    log "  load the settings into a shell with: eval \"\$(deploy/db.sh env)\""
}

print_env() {
    [ -f "$envfile" ] || { log "no cluster; run 'deploy/db.sh up'"; exit 1; }
    load_env
    cat <<ENV
export GRANTLEDGER_DATABASE_URL='postgresql://grantledger_app:$APP_PASSWORD@127.0.0.1:$PGPORT_GRANTLEDGER/grantledger'
export GRANTLEDGER_MIGRATION_DATABASE_URL='postgresql://grantledger_migrator:$OWNER_PASSWORD@127.0.0.1:$PGPORT_GRANTLEDGER/grantledger'
export GRANTLEDGER_ADMIN_DATABASE_URL='postgresql://postgres@/postgres?host=$PGSOCKET_GRANTLEDGER&port=$PGPORT_GRANTLEDGER'
ENV
    if replica_running; then
        local port
        port=$(cat "$state/replica.port")
        cat <<ENV
export GRANTLEDGER_READ_DATABASE_URL='postgresql://grantledger_app:$APP_PASSWORD@127.0.0.1:$port/grantledger'
export GRANTLEDGER_REPLICA_ADMIN_DATABASE_URL='postgresql://postgres@/postgres?host=$(dirname "$data")/replica-socket&port=$port'
ENV
    fi
}

# The standby's folder, beside the primary's.
replica_data() { echo "$(dirname "$data")/replica"; }

replica_running() {
    local rdata
    rdata=$(replica_data)
    [ -f "$rdata/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$rdata" status >/dev/null 2>&1
}

# A hot standby: a base backup of the running cluster with -R (standby.signal and the
# primary's conninfo, over the primary's socket as the local superuser, which initdb's
# pg_hba trusts for replication), started on the next free port. Roles, passwords and
# databases are the primary's: the application role reads there with the same password.
replica_up() {
    is_running || { log "the primary is not running; run 'deploy/db.sh up'"; exit 1; }
    load_env
    local bin rdata rsocket port
    bin=$(pg_bin)
    rdata=$(replica_data)
    rsocket="$(dirname "$data")/replica-socket"
    # A standby copy that is not running is stale (an interrupted run left it): the WAL it
    # would need next may be recycled on the primary already. Start from a fresh backup.
    if [ -f "$rdata/PG_VERSION" ] && ! replica_running; then
        log "removing the stopped standby's stale copy"
        rm -rf "$rdata"
    fi
    if [ ! -f "$rdata/PG_VERSION" ]; then
        mkdir -p "$rdata"
        [ "$(id -u)" -eq 0 ] && chown postgres "$rdata"
        chmod 700 "$rdata"
        log "base backup of the primary into $rdata"
        as_pg "$bin/pg_basebackup" -h "$PGSOCKET_GRANTLEDGER" -p "$PGPORT_GRANTLEDGER" -U postgres -D "$rdata" \
            -R -X stream -c fast >/dev/null
        # The primary's log came along with its folder; the standby writes its own.
        rm -f "$rdata/postgres.log"
    fi
    if [ ! -d "$rsocket" ]; then
        mkdir "$rsocket"
        [ "$(id -u)" -eq 0 ] && chown postgres "$rsocket"
    fi
    chmod 700 "$rsocket"
    # The port is chosen as the standby starts, and again if another server took it meanwhile
    # or the address cannot be bound (54330+ lies in Linux's ephemeral range, so an outgoing
    # connection's local port can hold it without listening): each attempt starts past the
    # port that failed.
    local attempt next=$((PGPORT_GRANTLEDGER + 1))
    for attempt in 1 2 3 4 5; do
        replica_running && break
        port=$(free_port "$next")
        next=$((port + 1))
        log "starting the hot standby on 127.0.0.1:$port"
        if as_pg "$bin/pg_ctl" -D "$rdata" -l "$rdata/postgres.log" -w -t 60 \
            -o "-p $port -k $rsocket -c listen_addresses=127.0.0.1 -c max_connections=400 -c hot_standby=on" \
            start >/dev/null; then
            echo "$port" >"$state/replica.port"
            break
        fi
        [ "$attempt" -eq 5 ] && { log "the standby did not start; see $rdata/postgres.log"; exit 1; }
    done
    port=$(cat "$state/replica.port")
    log "hot standby up: host 127.0.0.1 port $port (reads: GRANTLEDGER_READ_DATABASE_URL in 'deploy/db.sh env')"
}

replica_down() {
    local rdata
    rdata=$(replica_data)
    if replica_running; then
        log "stopping the hot standby"
        as_pg "$(pg_bin)/pg_ctl" -D "$rdata" -m fast -w stop >/dev/null
    fi
    rm -rf "$rdata" "$(dirname "$data")/replica-socket" "$state/replica.port"
}

down() {
    replica_running && replica_down
    if is_running; then
        log "stopping PostgreSQL"
        as_pg "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
}

kill_hard() {
    if is_running; then
        log "stopping PostgreSQL immediately"
        as_pg "$(pg_bin)/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
    fi
}

wipe() {
    down
    if [ -f "$envfile" ]; then
        load_env
        case "$PGSOCKET_GRANTLEDGER" in
            "$(dirname "$data")"/socket) ;; # removed with the cluster's folder below
            /tmp/grantledger-pg-*) rm -rf "$PGSOCKET_GRANTLEDGER" ;; # an earlier version's
        esac
    fi
    case "$data" in
        /var/tmp/grantledger[.-]*) rm -rf "$(dirname "$data")" ;;
        "$state"/cluster) rm -rf "$data" "$state/socket" ;;
    esac
    rm -rf "$state"
    log "wiped $state"
}

case "${1:-}" in
    up) up ;;
    env) print_env ;;
    down) down ;;
    kill) kill_hard ;;
    wipe) wipe ;;
    replica)
        case "${2:-}" in
            up) replica_up ;;
            down) replica_down ;;
            *) echo "usage: deploy/db.sh replica up|down" >&2; exit 2 ;;
        esac
        ;;
    *) echo "usage: deploy/db.sh up|env|down|kill|wipe|replica up|down" >&2; exit 2 ;;
esac
