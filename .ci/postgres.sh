#!/usr/bin/env bash
# Throw-away PostgreSQL server for CI.
#
#   .ci/postgres.sh start   install PostgreSQL from Debian packages if needed, initialise a fresh
#                           cluster in a temporary directory, start it on 127.0.0.1 and create the
#                           database "atomloop_test". The last line on stdout is the SQLAlchemy URL:
#                             postgresql+psycopg://postgres@127.0.0.1:PORT/atomloop_test
#                           Everything else goes to stderr.
#   .ci/postgres.sh stop    stop that server (no error if it is not running).
#
# Environment:
#   ATOMLOOP_CI_PG_PORT   TCP port to listen on (default 54329)
#   TMPDIR                parent of the working directory atomloop-ci-pg (default /tmp)
#
# The cluster is owned by the "postgres" system user (initdb refuses to run as root); it uses
# trust authentication, listens on 127.0.0.1 only, and is not durable (fsync off): test data only.
set -euo pipefail

# stdout is reserved for the URL; send everything else to stderr.
exec 3>&1 1>&2

PORT="${ATOMLOOP_CI_PG_PORT:-54329}"
BASE="${TMPDIR:-/tmp}"
BASE="${BASE%/}/atomloop-ci-pg"
DATA="$BASE/data"
SOCK="$BASE/socket"
LOG="$BASE/server.log"
DB="atomloop_test"
PG_USER="postgres"   # system user owning the cluster, also the database superuser

log() { echo "postgres.sh: $*"; }
die() { echo "postgres.sh: ERROR: $*"; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ ]] || die "ATOMLOOP_CI_PG_PORT must be a number, got '$PORT'"

# Newest Debian PostgreSQL bin directory (/usr/lib/postgresql/<version>/bin), or empty.
find_bindir() {
    local initdb
    initdb=$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$initdb" && -x "$initdb" ]] && dirname "$initdb"
    return 0
}

# Run a command as the cluster owner (directly when we already are that user, or not root).
# fd 3 (our real stdout) is not passed on: only the URL goes there.
as_pg() {
    if [[ "$(id -u)" -ne 0 ]]; then
        "$@" 3>&-
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$PG_USER" -- "$@") 3>&-
    else
        local cmd
        cmd=$(printf '%q ' "$@")
        (cd / && su -s /bin/sh "$PG_USER" -c "$cmd") 3>&-
    fi
}

# Like as_pg, for a command that leaves a daemon behind (pg_ctl start): close every inherited file
# descriptor above 2 first. Otherwise the server would keep our caller's pipes open (for instance
# the $(...) that captures the URL), and the caller would wait for it forever.
as_pg_detached() {
    (
        local fd
        for fd in /proc/self/fd/* /dev/fd/*; do
            fd=${fd##*/}
            if [[ "$fd" =~ ^[0-9]+$ ]] && (( fd > 2 )); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        exec 3>&-
        as_pg "$@"
    )
}

# Stop a server running on our data directory, if any. Never fails.
stop_server() {
    local bindir="$1"
    [[ -f "$DATA/postmaster.pid" ]] || return 0
    if [[ -z "$bindir" ]]; then
        log "a server may be running on $DATA but no pg_ctl was found"
        return 0
    fi
    log "stopping server on $DATA"
    as_pg "$bindir/pg_ctl" -D "$DATA" -m fast -w -t 60 stop \
        || as_pg "$bindir/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop \
        || log "(no server was running)"
    return 0
}

cmd_start() {
    local bindir
    bindir=$(find_bindir)

    if [[ -z "$bindir" ]]; then
        log "no PostgreSQL found under /usr/lib/postgresql; installing the Debian package"
        [[ "$(id -u)" -eq 0 ]] || die "PostgreSQL is not installed and we are not root, cannot apt-get install it"
        command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends postgresql
        bindir=$(find_bindir)
        [[ -n "$bindir" ]] || die "installed the postgresql package but found no /usr/lib/postgresql/*/bin/initdb"
    fi
    log "using PostgreSQL binaries in $bindir ($("$bindir/postgres" --version 2>/dev/null || echo 'unknown version'))"

    if [[ "$(id -u)" -eq 0 ]]; then
        if ! id -u "$PG_USER" >/dev/null 2>&1; then
            log "creating system user $PG_USER"
            useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
                --shell /bin/bash "$PG_USER"
        fi
    else
        PG_USER=$(id -un)
    fi

    # A server left over from a previous run: stop it before wiping its directory.
    stop_server "$bindir"

    rm -rf -- "$BASE"
    mkdir -p -- "$SOCK" "$DATA"
    chmod 700 "$DATA"
    if [[ "$(id -u)" -eq 0 ]]; then
        chown -R "$PG_USER:" "$BASE"
        as_pg test -w "$DATA" \
            || die "user $PG_USER cannot write to $DATA (is a parent of $BASE closed to other users? set TMPDIR)"
    fi
    # Unix socket paths are limited to ~107 bytes.
    (( ${#SOCK} + 20 < 107 )) || die "socket directory path too long: $SOCK (set a shorter TMPDIR)"

    # Is something else already listening on the port?
    if (exec 4<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "port $PORT on 127.0.0.1 is already in use (set ATOMLOOP_CI_PG_PORT to another port)"
    fi

    log "initialising cluster in $DATA"
    as_pg "$bindir/initdb" -D "$DATA" -U "$PG_USER" --auth=trust --encoding=UTF8 --no-locale >/dev/null

    # Trust on loopback only: local socket (which lives in our private dir) and 127.0.0.1 / ::1.
    cat >"$DATA/pg_hba.conf" <<EOF
# atomloop CI: throw-away cluster, trust authentication on loopback only.
local   all           all                  trust
host    all           all    127.0.0.1/32  trust
host    all           all    ::1/128       trust
local   replication   all                  trust
host    replication   all    127.0.0.1/32  trust
EOF
    cat >>"$DATA/postgresql.conf" <<EOF

# --- atomloop CI settings ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 100
# Test data only: trade durability for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    [[ "$(id -u)" -ne 0 ]] || chown "$PG_USER:" "$DATA/pg_hba.conf" "$DATA/postgresql.conf"

    log "starting server on 127.0.0.1:$PORT (log: $LOG)"
    if ! as_pg_detached "$bindir/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start; then
        log "server failed to start; its log follows"
        cat "$LOG" 2>/dev/null || true
        stop_server "$bindir"
        die "could not start PostgreSQL"
    fi

    log "creating database $DB"
    if ! as_pg "$bindir/createdb" -h 127.0.0.1 -p "$PORT" -U "$PG_USER" "$DB"; then
        stop_server "$bindir"
        die "could not create database $DB"
    fi

    log "ready"
    echo "postgresql+psycopg://$PG_USER@127.0.0.1:$PORT/$DB" >&3
}

cmd_stop() {
    if [[ "$(id -u)" -ne 0 ]]; then PG_USER=$(id -un); fi
    local bindir
    bindir=$(find_bindir)
    if [[ -z "$bindir" ]]; then
        # Fall back to any pg_ctl on PATH.
        bindir=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")
        [[ -x "$bindir/pg_ctl" ]] || bindir=""
    fi
    stop_server "$bindir"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    *) echo "usage: $0 start|stop"; exit 2 ;;
esac
