#!/usr/bin/env bash
# The booking benchmark: seeds 100,000 appointments across 10 offices on a fresh database and
# prints availability latency, staff search latency (p99 at the seeded citizens) and the time of
# a year of one office's statistics, HTTP booking throughput/latency with 32 clients, pgbench's
# throughput for the same transaction and for the database's ceiling (crates/bench/ceiling/, the
# minimal booking transaction in its own scratch database on the same server) with HTTP booking
# as a share of each, argon2 logins against the machine's hashing limit and availability during
# a login storm, a release storm against `mawid serve` run as its own process, and that
# process's memory and start-up; then grows the same database to 1,000,000 appointments with
# COPY, runs the size-dependent figures again and prints both sizes side by side
# (MAWID_BENCH_SCALES=100k: the first size only). Fails when the storm, a login or a booking
# breaks a rule. Uses a throwaway PostgreSQL unless DATABASE_URL is set (the benchmark
# creates and drops its own `mawid_bench` and `mawid_ceiling` databases there).
# MAWID_BENCH_SMOKE=1: a small seed grown to 10,000 and a few seconds per figure, to show the
# benchmark still runs (CI runs it); its figures mean nothing. MAWID_BENCH_PARTS=storm,logins (any
# of availability, counter, booking, storm, logins) runs only those parts after the seed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

if [ -z "${DATABASE_URL:-}" ]; then
  # A durable cluster (fsync on, synchronous_commit on), as production runs.
  pg_throwaway "-c max_connections=100 -c shared_buffers=256MB"
fi

# The smoke run only shows that the benchmark still runs, so it takes the debug build the test
# suite has mostly built already instead of a release build of its own.
if [ "${MAWID_BENCH_SMOKE:-}" = 1 ]; then
  cargo build -p mawid-bench -p mawid-server
  profile=debug
else
  cargo build --release -p mawid-bench -p mawid-server
  profile=release
fi
RUST_LOG=${RUST_LOG:-error} "${CARGO_TARGET_DIR:-target}/$profile/mawid-bench"
