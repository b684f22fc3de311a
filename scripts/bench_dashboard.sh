#!/usr/bin/env bash
# The dashboard at scale: fills a fresh database with 10 000 objects and
# 1 000 000 hits over the last 90 days (bulk SQL), then times, on the last
# 7 and 30 days, the core reads of the overview (period_report and
# top_visitors) and the overview page through Rocket's local client, and
# the hit log's first page and page 100; prints min/median/p95 latency and
# the SQL statements each makes, and whether the overview met its aim
# (under 100 ms, the same statements whatever the objects shown).
# Release build of crates/rocket_hitcount/examples/bench_dashboard.rs.
#
#   bash scripts/bench_dashboard.sh             # SQLite, in a temporary folder
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench_dashboard bash scripts/bench_dashboard.sh
#
# The PostgreSQL database is dropped and created again; an SQLite file
# given as sqlite://path is removed first. BENCH_OBJECTS, BENCH_HITS,
# BENCH_DAYS, BENCH_RUNS (default 20) and BENCH_WARMUPS (default 2) tune
# it; BENCH_KEEP=1 keeps the temporary SQLite file (its path is printed),
# and BENCH_REUSE=1 with BENCH_DATABASE_URL measures a database an earlier
# run loaded, without loading it again (to try an index, say).
# BENCH_SQLITE_PRAGMAS=mmap_size=1073741824 opens the app's SQLite pool with
# other PRAGMAs (name=value, comma-separated).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p rocket_hitcount --example bench_dashboard
exec target/release/examples/bench_dashboard
