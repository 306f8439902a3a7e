#!/usr/bin/env bash
# The whole test suite. With DATABASE_URL unset it starts a throwaway PostgreSQL from the
# machine's own binaries, runs every test (each on its own fresh database) and removes it.
# For the whole suite, scripts/scale-out.sh (two servers behind nginx) runs next, counted as one
# test; MAWID_SKIP_SCALE_OUT=1 skips it. Then the conformance suite (scripts/conformance.sh:
# Schemathesis against a live server on the same PostgreSQL) runs, counted as one test;
# MAWID_SKIP_CONFORMANCE=1 skips it. With the whole suite, the generated clients
# (scripts/clients.sh: a Python and a TypeScript client driving a citizen's flow against a live
# server) run last, counted as one test; MAWID_SKIP_CLIENTS=1 skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

if [ -z "${DATABASE_URL:-}" ]; then
  # Durability is the production server's job; a throwaway test cluster skips fsync for speed.
  pg_throwaway "-c fsync=off -c full_page_writes=off -c max_connections=200"
  echo "test PostgreSQL at $DATABASE_URL"
fi

# The query macros check against the committed .sqlx data: the test cluster holds no tables until
# each test migrates its own database.
export SQLX_OFFLINE=${SQLX_OFFLINE:-true}

log=$(mktemp /tmp/mawid-test-log.XXXXXX)
status=0
# Every target by default; arguments narrow it (cargo would add --all-targets to a --test).
full=0
[ $# -eq 0 ] && { full=1; set -- --all-targets; }
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# Two servers behind nginx (scripts/scale-out.sh), counted as one test; with the whole suite
# only, and MAWID_SKIP_SCALE_OUT=1 skips it.
if [ "$full" = 1 ] && [ "${MAWID_SKIP_SCALE_OUT:-0}" != 1 ]; then
  if scripts/scale-out.sh; then
    echo "test result: ok. 1 passed; 0 failed (scale-out)" >>"$log"
  else
    echo "test result: FAILED. 0 passed; 1 failed (scale-out)" >>"$log"
    status=1
  fi
fi
if [ "${MAWID_SKIP_CONFORMANCE:-0}" != 1 ]; then
  if scripts/conformance.sh; then
    echo "test result: ok. 1 passed; 0 failed (conformance)" >>"$log"
  else
    echo "test result: FAILED. 0 passed; 1 failed (conformance)" >>"$log"
    status=1
  fi
fi
if [ "$full" = 1 ] && [ "${MAWID_SKIP_CLIENTS:-0}" != 1 ]; then
  if scripts/clients.sh; then
    echo "test result: ok. 1 passed; 0 failed (clients)" >>"$log"
  else
    echo "test result: FAILED. 0 passed; 1 failed (clients)" >>"$log"
    status=1
  fi
fi
# One closing line over every test binary (cargo's own last line is the last binary's only).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
