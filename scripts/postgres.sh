#!/usr/bin/env bash
# Throwaway PostgreSQL server for the test suite (no system service involved).
#
# Usage: scripts/postgres.sh start|stop|url|status
#
#   start   install PostgreSQL if missing (Debian package `postgresql`, via sudo
#           when not root), create a private cluster under $PG_DIR/data, start it
#           on 127.0.0.1:$PG_PORT and create database $PG_DB owned by $PG_USER.
#           Safe to run again: prints `postgresql ready on 127.0.0.1:$PG_PORT`.
#   stop    fast shutdown of that server, if it is running.
#   url     print the SQLAlchemy URL: postgresql+asyncpg://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB
#   status  exit 0 if the server is running and accepting connections, else 1.
#
# Environment:
#   PG_DIR   state directory (default: <repo>/.cache/postgres); holds data/,
#            postgres.log and the Unix socket
#   PG_PORT  TCP port on 127.0.0.1 (default: 55432)
#   PG_DB    database name (default: voice_agents_test)
#   PG_USER  superuser name, trust authentication (default: voice)
#
# The server is tuned for tests, not for durability (fsync, synchronous_commit
# and full_page_writes are off): never keep data you care about in it.
#
# initdb and postgres refuse to run as root. When run as root the cluster
# belongs to the `postgres` system user and every server command runs through
# `runuser -u postgres --`; if that user cannot reach $PG_DIR (a parent
# directory is not traversable), the state lives in
# /tmp/voice-agents-postgres-$PG_PORT instead. The default cluster that the
# Debian package creates on port 5432 is neither used nor touched.

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$SCRIPT_DIR")"

PG_DIR="${PG_DIR:-$REPO_ROOT/.cache/postgres}"
PG_PORT="${PG_PORT:-55432}"
PG_DB="${PG_DB:-voice_agents_test}"
PG_USER="${PG_USER:-voice}"

PROG="postgres.sh"
HOST="127.0.0.1"

# libpq/pg_ctl settings from the caller's environment must not redirect our commands.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSERVICE \
      PGSERVICEFILE PGSSLMODE PGREQUIRESSL PGGSSENCMODE PGOPTIONS PGTARGETSESSIONATTRS \
      PGDATA PGCLUSTER PGCONNECT_TIMEOUT 2>/dev/null || true

die() { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

usage() { echo "usage: $PROG start|stop|url|status" >&2; exit 2; }

case "$PG_PORT" in
    ''|*[!0-9]*) die "PG_PORT must be a number, got '$PG_PORT'" ;;
esac
if [ "$PG_PORT" -lt 1 ] || [ "$PG_PORT" -gt 65535 ]; then die "PG_PORT out of range: $PG_PORT"; fi
[ -n "$PG_DB" ] || die "PG_DB is empty"
[ -n "$PG_USER" ] || die "PG_USER is empty"

# Make PG_DIR absolute (commands may run as another user, from another directory).
case "$PG_DIR" in
    /*) ;;
    *) PG_DIR="$PWD/$PG_DIR" ;;
esac
PG_DIR="${PG_DIR%/}"
[ -n "$PG_DIR" ] || die "PG_DIR must not be /"

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

FALLBACK_DIR="/tmp/voice-agents-postgres-$PG_PORT"

# Set by resolve_base: BASE (state dir), DATA (cluster), LOG (server log).
BASE=""
DATA=""
LOG=""
# Set by find_bindir.
BINDIR=""

have_postgres_user() { id -u postgres >/dev/null 2>&1; }

# Run a PostgreSQL server command as the cluster owner.
as_owner() {
    if [ "$IS_ROOT" -eq 1 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Nearest existing ancestor of a path (the path itself if it exists).
existing_ancestor() {
    local p="$1"
    while [ ! -e "$p" ]; do
        p="$(dirname "$p")"
    done
    printf '%s\n' "$p"
}

# Choose the state directory. As root, it must be reachable by the postgres user.
resolve_base() {
    BASE="$PG_DIR"
    if [ "$IS_ROOT" -eq 1 ] && have_postgres_user; then
        local anc
        anc="$(existing_ancestor "$PG_DIR")"
        if ! runuser -u postgres -- test -x "$anc"; then
            BASE="$FALLBACK_DIR"
        fi
    fi
    case "$BASE" in
        *[\'\"\$\`\\]*|*$'\n'*) die "unsupported characters in state directory path: $BASE" ;;
    esac
    DATA="$BASE/data"
    LOG="$BASE/postgres.log"
}

# Major version reported by a bin dir ("15" for 15.14, "16" for 16beta1).
bindir_major() {
    local v
    v="$("$1/pg_ctl" --version 2>/dev/null | awk '{print $3}')" || return 1
    v="${v%%.*}"
    printf '%s\n' "${v%%[!0-9]*}"
}

# Find the server binaries: the version the cluster was made with, else the
# newest /usr/lib/postgresql/*/bin, else `pg_config --bindir`. Returns 1 if none.
find_bindir() {
    BINDIR=""
    local v cand
    if [ -n "$DATA" ] && [ -r "$DATA/PG_VERSION" ]; then
        v="$(cat "$DATA/PG_VERSION")"
        if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then
            BINDIR="/usr/lib/postgresql/$v/bin"
            return 0
        fi
    fi
    cand="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | grep -v '\*' | sort -V | tail -n 1 || true)"
    if [ -n "$cand" ] && [ -x "$cand" ]; then
        BINDIR="$(dirname "$cand")"
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        cand="$(pg_config --bindir 2>/dev/null || true)"
        if [ -n "$cand" ] && [ -x "$cand/initdb" ] && [ -x "$cand/pg_ctl" ]; then
            BINDIR="$cand"
            return 0
        fi
    fi
    return 1
}

install_postgres() {
    local sudo=() logf
    if [ "$IS_ROOT" -ne 1 ]; then
        command -v sudo >/dev/null 2>&1 || die "PostgreSQL is not installed and sudo is unavailable: install the 'postgresql' package"
        # Without a terminal, fail instead of waiting for a password.
        if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
    fi
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is unavailable: install PostgreSQL server binaries"
    note "PostgreSQL not found: installing the Debian package 'postgresql'"
    logf="$(mktemp)"
    local apt=(${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get)
    if ! "${apt[@]}" install -y -q postgresql >"$logf" 2>&1; then
        # Package lists may be missing or stale (fresh containers): refresh once.
        if ! { "${apt[@]}" update -q && "${apt[@]}" install -y -q postgresql; } >>"$logf" 2>&1; then
            tail -n 5 "$logf" >&2
            rm -f "$logf"
            die "apt-get install postgresql failed"
        fi
    fi
    rm -f "$logf"
}

# 0 if the cluster in $DATA has a live postmaster.
server_running() {
    [ -n "$BINDIR" ] || return 1
    as_owner test -f "$DATA/PG_VERSION" 2>/dev/null || return 1
    as_owner "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# Port the running server was started with (line 4 of postmaster.pid).
running_port() {
    as_owner sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true
}

accepting() {
    if "$BINDIR/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -t 3 >/dev/null 2>&1; then
        return 0
    fi
    return 1
}

# Wait up to $1 seconds for connections; give up early once the server is gone.
wait_accepting() {
    local i=0
    while [ "$i" -lt $(( $1 * 4 )) ]; do
        accepting && return 0
        server_running || return 1
        sleep 0.25
        i=$(( i + 1 ))
    done
    return 1
}

# 0 if anything accepts TCP connections on 127.0.0.1:$PG_PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/$HOST/$PG_PORT") 2>/dev/null
}

socket_dir() {
    # Unix socket paths are limited to 107 bytes; beyond that, TCP only.
    local sock="$BASE/.s.PGSQL.$PG_PORT.lock"
    if [ "${#sock}" -lt 100 ]; then
        printf '%s\n' "$BASE"
    fi
}

# Serialise concurrent start/stop on the same state directory.
take_lock() {
    if command -v flock >/dev/null 2>&1; then
        exec 9>>"$BASE/.lock"
        flock -w 120 9 || die "timed out waiting for another $PROG on $BASE"
    fi
}

last_log_error() {
    as_owner grep -E 'FATAL|PANIC|ERROR' "$LOG" 2>/dev/null | tail -n 1 || true
}

cmd_start() {
    if ! find_bindir; then
        install_postgres
        find_bindir || die "PostgreSQL installed, but no initdb found under /usr/lib/postgresql/*/bin"
    fi
    if [ "$IS_ROOT" -eq 1 ]; then
        have_postgres_user || die "running as root needs the 'postgres' system user (created by the Debian package 'postgresql')"
        command -v runuser >/dev/null 2>&1 || die "running as root needs runuser (util-linux)"
    fi

    resolve_base
    if [ "$BASE" != "$PG_DIR" ]; then
        note "user postgres cannot traverse to $PG_DIR; using $BASE instead"
    fi

    # Traversable intermediate directories, private state directory.
    (umask 022 && mkdir -p "$BASE") || die "cannot create $BASE"
    if [ "$IS_ROOT" -eq 1 ]; then
        chown postgres:postgres "$BASE" || die "cannot chown $BASE to postgres"
        chmod 700 "$BASE"
        runuser -u postgres -- test -w "$BASE" || die "user postgres cannot write to $BASE"
    fi
    take_lock

    # The bin dir must match an existing cluster's version.
    find_bindir || true
    if as_owner test -f "$DATA/PG_VERSION"; then
        local want have
        want="$(as_owner cat "$DATA/PG_VERSION")"
        have="$(bindir_major "$BINDIR")"
        [ "$want" = "$have" ] || die "cluster in $DATA is PostgreSQL $want but only $have binaries ($BINDIR) were found: run '$0 stop' and remove $BASE"
    else
        if as_owner test -e "$DATA"; then
            die "$DATA exists but is not a PostgreSQL cluster: remove it"
        fi
        local locale=C locales out
        locales="$(locale -a 2>/dev/null || true)"
        if printf '%s\n' "$locales" | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
        if ! out="$(as_owner "$BINDIR/initdb" -D "$DATA" -A trust -U "$PG_USER" -E UTF8 \
                        --locale="$locale" --no-sync 2>&1)"; then
            printf '%s\n' "$out" | tail -n 5 >&2
            die "initdb failed for $DATA"
        fi
    fi

    if server_running; then
        local rport
        rport="$(running_port)"
        [ "$rport" = "$PG_PORT" ] || die "server in $DATA is already running on port ${rport:-?}, not $PG_PORT: run '$0 stop' with that PG_PORT first"
        # It may still be starting up, or be dying (e.g. killed a moment ago).
        wait_accepting 10 || true
    fi
    if ! server_running; then
        if port_in_use; then
            die "port $PG_PORT on $HOST is in use by another process (not the server in $DATA): stop it or set PG_PORT"
        fi
        local sdir opts
        sdir="$(socket_dir)"
        opts="-p $PG_PORT -c listen_addresses=$HOST -k '$sdir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        # fd 9 (the lock) must not be inherited by the long-lived server.
        if ! as_owner "$BINDIR/pg_ctl" start -w -s -t 60 -D "$DATA" -l "$LOG" -o "$opts" >/dev/null 2>&1 9>&-; then
            die "server failed to start (log: $LOG): $(last_log_error)"
        fi
        wait_accepting 5 || die "server in $DATA started but does not accept connections on $HOST:$PG_PORT (log: $LOG)"
    elif ! accepting; then
        die "server in $DATA is running but not accepting connections on $HOST:$PG_PORT (log: $LOG)"
    fi

    local psql=("$BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres)
    local exists err
    if ! exists="$("${psql[@]}" -v db="$PG_DB" 2>&1 <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
)"; then
        die "cannot query the server as '$PG_USER' (cluster made with another PG_USER? remove $BASE): $(printf '%s' "$exists" | tail -n 1)"
    fi
    if [ "$exists" != "1" ]; then
        if ! err="$("$BINDIR/createdb" -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -O "$PG_USER" "$PG_DB" 2>&1)"; then
            # Lost a race with a concurrent creator?
            exists="$("${psql[@]}" -v db="$PG_DB" 2>/dev/null <<'SQL' || true
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
)"
            [ "$exists" = "1" ] || die "createdb $PG_DB failed: $(printf '%s' "$err" | tail -n 1)"
        fi
    fi

    echo "postgresql ready on $HOST:$PG_PORT"
}

cmd_stop() {
    if [ "$IS_ROOT" -eq 1 ] && ! have_postgres_user; then
        return 0
    fi
    resolve_base
    [ -d "$BASE" ] || return 0
    find_bindir || return 0
    server_running || return 0
    take_lock
    if server_running; then
        if ! as_owner "$BINDIR/pg_ctl" stop -w -s -m fast -D "$DATA" >/dev/null 2>&1 && server_running; then
            die "could not stop the server in $DATA (log: $LOG)"
        fi
    fi
    return 0
}

cmd_status() {
    if [ "$IS_ROOT" -eq 1 ] && ! have_postgres_user; then
        return 1
    fi
    resolve_base
    [ -d "$BASE" ] || return 1
    find_bindir || return 1
    server_running || return 1
    [ "$(running_port)" = "$PG_PORT" ] || return 1
    accepting
}

[ $# -eq 1 ] || usage

# Server commands may run as another user: do not depend on the caller's cwd.
cd /

case "$1" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) echo "postgresql+asyncpg://$PG_USER@$HOST:$PG_PORT/$PG_DB" ;;
    *) usage ;;
esac
