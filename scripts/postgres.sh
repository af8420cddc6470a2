#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: its own cluster in a temporary folder, listening on a
# free loopback port, trust authentication, nothing else touched.
#
#   bash scripts/postgres.sh start   # start (or find running) and print its URL on stdout
#   bash scripts/postgres.sh url     # print the URL of the running server (exit 1 if none)
#   bash scripts/postgres.sh stop    # stop it and delete its folder
#
# The folder is $LANGCHAIN_CALIBRATE_PG_DIR (default: /tmp/langchain-calibrate-pg); use one per
# concurrent user. The server binaries come from $PG_BINDIR, else the newest
# /usr/lib/postgresql/*/bin, else pg_config; when none is installed and this runs as root on
# Debian/Ubuntu, `apt-get install postgresql-15` installs them (without creating or starting the
# distribution's own cluster). initdb refuses to run as root, so as root the cluster belongs to
# the `postgres` user (created if missing).
set -euo pipefail

STATE="${LANGCHAIN_CALIBRATE_PG_DIR:-${TMPDIR:-/tmp}/langchain-calibrate-pg}"
DATA="$STATE/data"
DBNAME="langchain_calibrate_test"
PG_VERSION="${PG_VERSION:-15}"

say() { printf '[postgres.sh] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

find_bindir() {
    if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/pg_ctl" ]; then
        echo "$PG_BINDIR"; return 0
    fi
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"; return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir)"
        if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    return 1
}

install_server() {
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL server binaries not found; install them (Debian: sudo apt-get install postgresql-$PG_VERSION) or set PG_BINDIR."
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL server binaries not found and apt-get is missing; install PostgreSQL $PG_VERSION, or set PG_BINDIR."
    say "installing postgresql-$PG_VERSION with apt-get (first use only)"
    # Keep the package from creating (and starting) its own cluster on port 5432.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        printf 'create_main_cluster = false\n' >/etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "postgresql-$PG_VERSION" >&2 || die "apt-get install postgresql-$PG_VERSION failed"
}

# Run a command as the cluster's owner: ourselves, or `postgres` when we are root.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ensure_owner() {
    [ "$(id -u)" -eq 0 ] || return 0
    if ! id postgres >/dev/null 2>&1; then
        say "creating the system user postgres (initdb refuses to run as root)"
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return 0
    fi
    local port
    for port in $(seq 54320 54420); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"; return 0
        fi
    done
    die "no free port in 54320-54420"
}

url() {
    printf 'postgresql://postgres@127.0.0.1:%s/%s\n' "$(cat "$STATE/port")" "$DBNAME"
}

running() {
    local bindir="$1"
    [ -f "$STATE/port" ] && [ -d "$DATA" ] && as_owner "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
    local bindir
    bindir="$(find_bindir)" || { install_server; bindir="$(find_bindir)" || die "PostgreSQL binaries still not found after installing"; }
    ensure_owner
    if running "$bindir"; then
        url; return 0
    fi
    mkdir -p "$STATE"
    chmod 0755 "$STATE"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$STATE"
        # Every folder above the state folder must be enterable by postgres.
        as_owner test -x "$STATE" || die "$STATE is not reachable by the postgres user; set LANGCHAIN_CALIBRATE_PG_DIR to a folder under /tmp"
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        rm -rf "$DATA"
        say "initdb $DATA ($("$bindir/postgres" --version))"
        as_owner "$bindir/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
            --no-locale >"$STATE/initdb.log" 2>&1 \
            || { cat "$STATE/initdb.log" >&2; die "initdb failed"; }
    fi
    local port
    port="$(free_port)"
    echo "$port" >"$STATE/port"
    # max_connections: 8 writer processes plus pools; fsync stays on (the tests kill writers).
    as_owner "$bindir/pg_ctl" -D "$DATA" -l "$STATE/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $STATE -c max_connections=200" start >&2 \
        || { tail -n 30 "$STATE/server.log" >&2 || true; die "pg_ctl start failed"; }
    if ! as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'" | grep -q 1; then
        as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DBNAME" \
            || die "createdb $DBNAME failed"
    fi
    say "PostgreSQL running on 127.0.0.1:$port (data $DATA, log $STATE/server.log)"
    url
}

stop() {
    local bindir
    if ! bindir="$(find_bindir)"; then
        rm -rf "$STATE"; return 0
    fi
    if [ -d "$DATA" ]; then
        as_owner "$bindir/pg_ctl" -D "$DATA" -m fast -w stop >&2 2>/dev/null || true
    fi
    rm -rf "$STATE"
    say "stopped and removed $STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url)
        bindir="$(find_bindir)" || die "PostgreSQL is not installed"
        running "$bindir" || die "no server running for $STATE (bash scripts/postgres.sh start)"
        url
        ;;
    *)
        echo "usage: bash scripts/postgres.sh start|stop|url" >&2
        exit 2
        ;;
esac
