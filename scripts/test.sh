#!/usr/bin/env bash
# Runs every test of the workspace on SQLite and PostgreSQL.
#
# Set-up included: when run as root, installs what the tests need from
# Debian's packages (a C compiler, PostgreSQL, Node, Chromium and
# chromedriver) if missing, and makes sure a PostgreSQL server answers on
# $HITCOUNT_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/postgres). Tests create their
# own databases and drop them.
#
#   bash scripts/test.sh [cargo test arguments]
#   bash scripts/test.sh --setup      # the set-up only
set -euo pipefail
cd "$(dirname "$0")/.."

export HITCOUNT_TEST_POSTGRES_URL="${HITCOUNT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

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

ensure_packages
ensure_postgres
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
