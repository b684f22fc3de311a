#!/usr/bin/env bash
# Cleanup at scale: fills a database with BENCH_ROWS hit rows (10 million by
# default), 90% of them expired, then runs `hitcount cleanup` (release
# build) while wrk loads the counting route of the benchmark app on the
# same database. Prints rows removed per second, the cleanup's peak memory
# (RSS), and the counting route's p99 latency without and during cleanup.
#
#   bash scripts/bench_cleanup.sh                  # SQLite
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench_cleanup bash scripts/bench_cleanup.sh
#
# The PostgreSQL database is dropped and created again. BENCH_ROWS, and
# BENCH_ROUNDS (5-second wrk rounds without cleanup, default 4), tune it;
# BENCH_CLEANUP_ARGS passes options to the cleanup ("--batch-ms 2 --pause-ms 5").
# Latencies are the median of the rounds' p99s.
set -euo pipefail
cd "$(dirname "$0")/.."

rows="${BENCH_ROWS:-10000000}"
rounds="${BENCH_ROUNDS:-4}"
read -r -a cleanup_args <<<"${BENCH_CLEANUP_ARGS:-}"
port="${BENCH_PORT:-8766}"
url="${BENCH_DATABASE_URL:-sqlite://$(mktemp -d)/cleanup-bench.db}"

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need /usr/bin/time time
cargo build --release -q -p hitcount-cli
cargo build --release -q -p rocket_hitcount --features mysql --example bench_app
hitcount=target/release/hitcount
app=target/release/examples/bench_app

# sql STATEMENT: runs one statement on the database.
case "$url" in
    postgres*)
        need psql postgresql-client
        admin="${url%/*}/postgres"
        name="${url##*/}"
        psql -q "$admin" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
        sql() { psql -q "$url" -c "$1"; }
        generate="INSERT INTO hitcount_hit (hit_count_id, created_at, session_key, user_agent)
                  SELECT 1 + i % 100, now() - CASE WHEN i % 10 = 0 THEN interval '1 day' ELSE interval '60 days' END
                                     - i * interval '1 millisecond', 'bulk-' || i, 'Mozilla/5.0 (bulk)'
                  FROM generate_series(1, $rows) i"
        ;;
    sqlite*)
        need sqlite3 sqlite3
        file="${url#sqlite://}"
        sql() { sqlite3 "$file" "$1"; }
        generate="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
                  INSERT INTO hitcount_hit (hit_count_id, created_at, session_key, user_agent)
                  SELECT 1 + i % 100,
                         strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', CASE WHEN i % 10 = 0 THEN '-1 day' ELSE '-60 days' END),
                         'bulk-' || i, 'Mozilla/5.0 (bulk)' FROM n"
        ;;
    *) echo "BENCH_DATABASE_URL must be sqlite://... or postgres://..." >&2; exit 1 ;;
esac

echo "== schema and $rows rows on ${url%%:*}"
"$hitcount" --database-url "$url" cleanup --create >/dev/null   # hitcount's tables
for i in $(seq 1 100); do
    sql "INSERT INTO hitcount_hit_count (kind, object_id, created_at, modified_at)
         VALUES ('bench.object', '$i', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)" >/dev/null
done
start=$(date +%s)
sql "$generate" >/dev/null
echo "generated in $(( $(date +%s) - start )) s"

BENCH_DATABASE_URL="$url" ROCKET_PORT="$port" ROCKET_ADDRESS=127.0.0.1 "$app" &
app_pid=$!
trap 'kill "$app_pid" 2>/dev/null; wait "$app_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/bare" >/dev/null 2>&1 && break; sleep 0.1; done

# p99: five seconds of wrk on the counting route, new visitors; prints the
# p99 latency in ms.
p99() {
    wrk -t1 -c16 -d5s --latency -s scripts/bench/new_visitor.lua "http://127.0.0.1:$port/post/1" |
        awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'
}

# median: the middle of the numbers on standard input.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== counting route without cleanup: $rounds rounds of 5 s"
quiet=$(for _ in $(seq 1 "$rounds"); do p99; done | median)

echo "== cleanup of 90% while the route is loaded, 5 s rounds until it ends"
report=$(mktemp)
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$report.rss" "$hitcount" --database-url "$url" cleanup ${cleanup_args[@]+"${cleanup_args[@]}"} --json >"$report" &
cleanup_pid=$!
busy_rounds=$(mktemp)
while kill -0 "$cleanup_pid" 2>/dev/null; do p99 >>"$busy_rounds"; done
wait "$cleanup_pid"
end=$(date +%s.%N)
busy=$(median <"$busy_rounds")
removed=$(sed -E 's/.*"removed":([0-9]+).*/\1/' "$report")
rss_kib=$(cat "$report.rss")

awk -v removed="$removed" -v start="$start" -v end="$end" -v rss="$rss_kib" -v quiet="$quiet" -v busy="$busy" \
    -v rounds="$(wc -l <"$busy_rounds")" 'BEGIN {
    seconds = end - start
    printf "%-38s %d\n", "rows removed", removed
    printf "%-38s %.1f s (%.0f rows/s)\n", "cleanup took", seconds, removed / seconds
    printf "%-38s %.1f MiB\n", "cleanup peak memory (RSS)", rss / 1024
    printf "%-38s %.2f ms\n", "counting p99 without cleanup (median)", quiet
    printf "%-38s %.2f ms (%.2fx, %d rounds)\n", "counting p99 during cleanup (median)", busy, busy / quiet, rounds
}'
