#!/usr/bin/env bash
# Fuzzes the request-body parsers (fuzz/fuzz_targets/request_bodies.rs) for a bounded time:
# `scripts/fuzz.sh [SECONDS]` (default 60). Installs cargo-fuzz and the nightly toolchain when
# they are missing. The corpus lives outside the tree (MAWID_FUZZ_CORPUS, default
# ${TMPDIR:-/tmp}/mawid-fuzz-corpus) and is kept small (inputs of at most 4 KiB).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
corpus=${MAWID_FUZZ_CORPUS:-${TMPDIR:-/tmp}/mawid-fuzz-corpus}

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz

mkdir -p "$corpus"
# Seed with the shapes of real bodies, once.
[ -n "$(ls -A "$corpus")" ] || {
  echo '{"email":"a@example.org","password":"correct horse battery","full_name":"Amal","preferred_language":"ar"}' >"$corpus/register"
  echo '{"applicant":{"full_name":"Amal Haddad","date_of_birth":"1990-05-17","passport_number":"N0123"}}' >"$corpus/request"
  echo '{"page":9223372036854775807,"per_page":-1}' >"$corpus/page"
}
cd fuzz
cargo +nightly fuzz run request_bodies "$corpus" -- \
  -max_total_time="$seconds" -max_len=4096 -timeout=10
