#!/usr/bin/env bash
# Loads a small Rocket app (crates/rocket_hitcount/examples/bench_app.rs) in
# release mode with wrk, and prints requests/s and p99 latency of each
# scenario next to the app's bare route, measured in the same run.
#
#   bash scripts/bench.sh                     # SQLite
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench bash scripts/bench.sh
#   BENCH_DATABASE_URL=mysql://root@127.0.0.1/bench bash scripts/bench.sh   # MariaDB
#
#   BENCH_VISIT_COUNTS=true bash scripts/bench.sh       # cookie.visit_counts on
#
# Besides every new visitor on one object ("counted", a post that goes
# viral), "counted-1000" sends them to 1 000 objects in turn. On
# PostgreSQL and MariaDB a last run starts a second app instance on the same database
# and loads both at once with new visitors on one object, half the
# connections each: each instance's requests/s and their sum.
#
# Each scenario runs between two runs of the bare route by the same client
# (the scenario's wrk script: its headers, cookies and method), so that
# the ratio is what counting adds to the same request; BENCH_BARE=plain
# runs the bare route with wrk's plain GET instead, which also charges each
# scenario for Rocket parsing its headers and cookies (the returning
# browser sends its CSRF cookie either way).
# BENCH_DURATION (default 10s) and BENCH_CONNECTIONS (default 16) tune wrk;
# BENCH_ROUNDS (default 1) repeats the scenarios and prints median ratios.
# BENCH_APP runs another build of the app (say, a copy of main's, run in
# turns with this checkout's to compare the two) instead of building this
# checkout's.
# Figures on a 2-core machine are noisy: compare the ratios, not the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${BENCH_DURATION:-10s}"
connections="${BENCH_CONNECTIONS:-16}"
port="${BENCH_PORT:-8765}"
base="http://127.0.0.1:$port"

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
app_bin="${BENCH_APP:-}"
if [ -z "$app_bin" ]; then
    cargo build --release -q -p rocket_hitcount --features mysql --example bench_app
    app_bin=target/release/examples/bench_app
fi

# start_app PORT: starts the app on PORT (its pid in $started) and waits
# until it answers.
start_app() {
    ROCKET_PORT="$1" ROCKET_ADDRESS=127.0.0.1 "$app_bin" &
    started=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$1/bare" >/dev/null 2>&1 && break
        sleep 0.1
    done
}
start_app "$port"
app=$started
trap 'kill "$app" 2>/dev/null; wait "$app" 2>/dev/null || true' EXIT

# What the AJAX scenario's page would hand its script.
jar=$(mktemp)
vars=$(curl -fs -c "$jar" "$base/post/2/js")
export BENCH_PK BENCH_TOKEN BENCH_CSRF
BENCH_PK=$(echo "$vars" | sed -E 's/.*"pk":([0-9]+).*/\1/')
BENCH_TOKEN=$(echo "$vars" | sed -E 's/.*"token":"([^"]+)".*/\1/')
BENCH_CSRF=$(curl -fs -b "$jar" -c "$jar" "$base/hitcount/csrf" | sed -E 's/.*"csrftoken":"([^"]+)".*/\1/')
rm -f "$jar"
# What a returning browser sends: the cookies of its first visit, the
# visitor cookie and the CSRF cookie that every page hands out.
jar=$(mktemp)
curl -fs -c "$jar" -A "Mozilla/5.0 (bench returning browser)" "$base/post/4" >/dev/null
export BENCH_VISITOR
BENCH_VISITOR="hitcount_visitor=$(awk '$6 == "hitcount_visitor" { print $7 }' "$jar"); csrftoken=$(awk '$6 == "csrftoken" { print $7 }' "$jar")"
rm -f "$jar"

# run NAME PATH [LUA]: prints "NAME req/s p99_ms".
run() {
    local name=$1 path=$2 script=${3:-}
    local out
    out=$(BENCH_RUN="$(date +%s%N)" wrk -t1 -c"$connections" -d"$duration" --latency ${script:+-s "scripts/bench/$script"} "$base$path")
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$name: non-2xx answers; the scenario is broken" >&2
        echo "$out" >&2
        exit 1
    fi
    local rps p99
    rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    p99=$(echo "$out" | awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }')
    echo "$name $rps $p99"
}

# round: one pass over the scenarios, each between two runs of the bare
# route by the same client (see the top), printed as a table. Each
# scenario is compared with the mean of the two bare runs beside it,
# seconds apart, so that the machine's drift during a round (large on a
# shared 2-core machine) stays out of its ratio; each bare run is shown
# against the mean of the two, which tells how steady they were. Each scenario's line also goes to
# $ratios as "NAME PERCENT" for the medians.
ratios=$(mktemp)
trap 'kill "$app" 2>/dev/null; wait "$app" 2>/dev/null || true; rm -f "$ratios"' EXIT
# scenario NAME PATH [LUA]: the bare route, the scenario, the bare route.
scenario() {
    local bare_script=${3:-}
    [ "${BENCH_BARE:-}" = plain ] && bare_script=
    run bare /bare "$bare_script"
    run "$@"
    run bare /bare "$bare_script"
}
round() {
    local results
    results=$(
        scenario counted /post/1 new_visitor.lua
        scenario counted-1000 /post/1000 spread_visitor.lua
        scenario repeat /post/3 repeat_visitor.lua
        scenario returning /post/4 returning_visitor.lua
        scenario ajax /hitcount/hit/ajax ajax.lua
        scenario list-20-counts /list
    )
    echo "$results" | awk -v ratios="$ratios" '
        { name[NR] = $1; rps[NR] = $2; p99[NR] = $3 }
        END {
            printf "%-16s %12s %10s %10s\n", "scenario", "requests/s", "p99 ms", "vs bare"
            for (i = 1; i <= NR; i++) {
                if (name[i] == "bare") {
                    # Against the mean of its pair: how steady the two runs were.
                    other = (i % 3 == 1) ? i + 2 : i - 2
                    ratio = 100 * rps[i] / ((rps[i] + rps[other]) / 2)
                } else {
                    ratio = 100 * rps[i] / ((rps[i - 1] + rps[i + 1]) / 2)
                    printf "%s %.1f\n", name[i], ratio >> ratios
                }
                printf "%-16s %12.0f %10.2f %9.0f%%\n", name[i], rps[i], p99[i], ratio
            }
        }'
}

# BENCH_ROUNDS (default 1) passes over the scenarios, each against its own
# bare runs; then each scenario's median ratio, next to the aim it is held
# to (docs/performance.md, "Figures on a 2-core machine").
rounds="${BENCH_ROUNDS:-1}"
for i in $(seq 1 "$rounds"); do
    [ "$rounds" -gt 1 ] && echo "round $i of $rounds"
    round
done
echo "median of $rounds round(s), against the aims:"
printf "%-16s %9s %6s\n" scenario "vs bare" aim
for name in counted counted-1000 repeat returning ajax list-20-counts; do
    case "$name" in
        counted) aim=50 ;;
        repeat | returning) aim=80 ;;
        *) aim= ;;
    esac
    awk -v n="$name" '$1 == n { print $2 }' "$ratios" | sort -n |
        awk -v n="$name" -v aim="$aim" '{ v[NR] = $1 } END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            verdict = (aim == "") ? "" : (m >= aim ? "  met" : "  under")
            printf "%-16s %8.0f%% %5s%s\n", n, m, (aim == "") ? "-" : aim "%", verdict
        }'
done

# Two app instances on one PostgreSQL or MariaDB database, loaded at
# once: new visitors on one object, half the connections each.
case "${BENCH_DATABASE_URL:-}" in
postgres* | mysql*)
    second_port=$((port + 1))
    start_app "$second_port"
    second=$started
    trap 'kill "$app" "$second" 2>/dev/null; wait "$app" "$second" 2>/dev/null || true; rm -f "$ratios"' EXIT
    half=$((connections / 2))
    first_out=$(mktemp)
    second_out=$(mktemp)
    BENCH_RUN="$(date +%s%N)-1" wrk -t1 -c"$half" -d"$duration" -s scripts/bench/new_visitor.lua "$base/post/5" >"$first_out" &
    first_wrk=$!
    BENCH_RUN="$(date +%s%N)-2" wrk -t1 -c"$half" -d"$duration" -s scripts/bench/new_visitor.lua "http://127.0.0.1:$second_port/post/5" >"$second_out"
    wait "$first_wrk"
    one=$(awk '/^Requests\/sec:/ { print $2 }' "$first_out")
    two=$(awk '/^Requests\/sec:/ { print $2 }' "$second_out")
    rm -f "$first_out" "$second_out"
    echo "two instances, new visitors on one object ($half connections each):"
    awk -v a="$one" -v b="$two" 'BEGIN { printf "  instance 1 %10.0f requests/s\n  instance 2 %10.0f requests/s\n  both       %10.0f requests/s\n", a, b, a + b }'
    ;;
esac
