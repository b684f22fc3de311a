#!/usr/bin/env bash
# Runs every test of the workspace on SQLite and PostgreSQL, and the
# storage suite, the Rocket integration's tests, the command's tests and
# the example's HTTP tests on MariaDB too.
#
# Set-up included: when run as root, installs what the tests need from
# Debian's packages (a C compiler, PostgreSQL, Node, Chromium and
# chromedriver) if missing, makes sure a PostgreSQL server answers on
# $HITCOUNT_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/postgres), and starts
# PgBouncer in transaction pooling mode in front of it on
# $HITCOUNT_TEST_PGBOUNCER_URL (default port 6432; built from Debian's
# source package when no PgBouncer 1.21 or later is installed), and makes
# sure MariaDB answers on $HITCOUNT_TEST_MYSQL_URL (default
# mysql://root@127.0.0.1:3306; installed from Debian's packages if
# missing). Tests create their own databases and drop them.
#
#   bash scripts/test.sh [cargo test arguments]
#   bash scripts/test.sh --setup      # the set-up only
set -euo pipefail
cd "$(dirname "$0")/.."

export HITCOUNT_TEST_POSTGRES_URL="${HITCOUNT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export HITCOUNT_TEST_PGBOUNCER_URL="${HITCOUNT_TEST_PGBOUNCER_URL:-postgres://postgres@127.0.0.1:6432/postgres}"
export HITCOUNT_TEST_MYSQL_URL="${HITCOUNT_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"

postgres_answers() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$HITCOUNT_TEST_POSTGRES_URL"
}

# Debian packages for the commands the build and the tests run.
ensure_packages() {
    local missing=()
    command -v cc >/dev/null 2>&1 || missing+=(build-essential)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v pg_isready >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing: ${missing[*]} (install them, or run as root); tests that need them are skipped" >&2
        return 0
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_postgres() {
    postgres_answers && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL does not answer at $HITCOUNT_TEST_POSTGRES_URL; start it or set HITCOUNT_TEST_POSTGRES_URL" >&2
        return 0
    fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "Installing PostgreSQL..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        # Trust local TCP connections: the default test URL has no password.
        for hba in /etc/postgresql/*/main/pg_hba.conf; do
            sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
        done
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do
        postgres_answers && return 0
        sleep 1
    done
    echo "PostgreSQL did not start" >&2
}

pgbouncer_answers() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$HITCOUNT_TEST_PGBOUNCER_URL"
}

# A PgBouncer that keeps sqlx's named prepared statements apart in
# transaction pooling: 1.21 or later (Debian bookworm packages 1.18).
pgbouncer_binary() {
    local candidate version
    for candidate in /usr/local/bin/pgbouncer "$(command -v pgbouncer || true)"; do
        [ -x "$candidate" ] || continue
        version=$("$candidate" --version | sed -n 's/^PgBouncer \([0-9.]*\).*/\1/p')
        if [ "$(printf '%s\n1.21\n' "$version" | sort -V | head -n 1)" = "1.21" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# Builds PgBouncer from Debian trixie's source package into /usr/local,
# leaving the system's package lists and cache alone. Its output goes to
# a log, whose end is shown when a step fails.
build_pgbouncer() {
    echo "Building PgBouncer from Debian's source package..."
    local work
    work=$(mktemp -d)
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        >"$work/sources.list"
    local apt=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists"
        -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
    local log="$work/build.log"
    {
        apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libevent-dev libssl-dev pkg-config \
            && apt-get "${apt[@]}" -qq update \
            && (cd "$work" && apt-get "${apt[@]}" -qq source --download-only pgbouncer) \
            && tar -xzf "$work"/pgbouncer_*.orig.tar.gz -C "$work" \
            && (cd "$work"/pgbouncer-*/ && ./configure --prefix=/usr/local --without-cares && make -j2 && make install)
    } >"$log" 2>&1 || {
        echo "building PgBouncer failed:" >&2
        tail -n 20 "$log" >&2
        rm -rf "$work"
        return 1
    }
    rm -rf "$work"
}

ensure_pgbouncer() {
    local dir=/run/hitcount-pgbouncer
    if pgbouncer_answers; then
        # Ours (the transaction pooling set-up below), or someone else's.
        if ! { [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; }; then
            echo "something else answers at $HITCOUNT_TEST_PGBOUNCER_URL: the tests expect PgBouncer 1.21+ in transaction mode there" >&2
        fi
        return 0
    fi
    postgres_answers || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "PgBouncer does not answer at $HITCOUNT_TEST_PGBOUNCER_URL; run as root to set it up, or set HITCOUNT_TEST_PGBOUNCER_URL" >&2
        return 0
    fi
    local binary
    binary=$(pgbouncer_binary) || { build_pgbouncer && binary=$(pgbouncer_binary); } || {
        echo "PgBouncer could not be built" >&2
        return 0
    }
    # Its settings: every database of the PostgreSQL server, pooled per
    # transaction, as deployments with many app instances run it.
    if ! id postgres >/dev/null 2>&1; then
        echo "PgBouncer is not started: it runs as the user postgres, which this machine lacks" >&2
        return 0
    fi
    local host server_port port
    read -r host server_port port < <(python3 -c 'import sys, urllib.parse as u
server, bouncer = u.urlparse(sys.argv[1]), u.urlparse(sys.argv[2])
print(server.hostname or "127.0.0.1", server.port or 5432, bouncer.port or 6432)' \
        "$HITCOUNT_TEST_POSTGRES_URL" "$HITCOUNT_TEST_PGBOUNCER_URL")
    install -d -o postgres -m 0700 "$dir"
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$host port=$server_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_prepared_statements = 200
ignore_startup_parameters = extra_float_digits
max_client_conn = 1000
default_pool_size = 10
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    echo '"postgres" ""' >"$dir/userlist.txt"
    chown postgres "$dir/pgbouncer.ini" "$dir/userlist.txt"
    # It refuses to run as root.
    "$binary" -d -u postgres "$dir/pgbouncer.ini"
    for _ in $(seq 1 30); do
        pgbouncer_answers && return 0
        sleep 0.2
    done
    echo "PgBouncer did not start; see $dir/pgbouncer.log" >&2
}

mariadb_answers() {
    command -v mariadb-admin >/dev/null 2>&1 || return 1
    local host port user
    read -r host port user < <(python3 -c 'import sys, urllib.parse as u
url = u.urlparse(sys.argv[1])
print(url.hostname or "127.0.0.1", url.port or 3306, url.username or "root")' "$HITCOUNT_TEST_MYSQL_URL")
    mariadb-admin --protocol=tcp -h "$host" -P "$port" -u "$user" status >/dev/null 2>&1
}

# MariaDB with its root user reachable over TCP without a password, as the
# default test URL has it (Debian's package lets root in through the local
# socket only).
ensure_mariadb() {
    mariadb_answers && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "MariaDB does not answer at $HITCOUNT_TEST_MYSQL_URL; start it or set HITCOUNT_TEST_MYSQL_URL" >&2
        return 0
    fi
    if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
        echo "Installing MariaDB..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
    fi
    install -d -o mysql -g mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 30); do
        mariadb -u root -e "SELECT 1" >/dev/null 2>&1 && break
        sleep 1
    done
    mariadb_answers && return 0
    mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" \
        >/dev/null 2>&1 || true
    mariadb_answers || echo "MariaDB did not start, or refuses root over TCP" >&2
}

ensure_packages
ensure_postgres
ensure_pgbouncer
ensure_mariadb
if [ "${1:-}" = "--setup" ]; then
    exit 0
fi

# Run the tests, then close with one line that adds up every test binary.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace "$@" 2>&1 | tee "$log" || status=$?
# The guide's app (docs/examples/blog), built as an app of the user's own:
# outside the workspace, on the workspace's versions and build folder.
cp Cargo.lock docs/examples/blog/Cargo.lock
CARGO_TARGET_DIR="$PWD/target" cargo test --manifest-path docs/examples/blog/Cargo.toml 2>&1 | tee -a "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$log"
# The failures again at the end, where a long log is read first.
grep -E '^test .* FAILED$|panicked at' "$log" | sed 's/^/failed: /' || true
exit "$status"
