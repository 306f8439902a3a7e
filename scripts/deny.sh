#!/usr/bin/env bash
# Supply chain: `cargo deny check licenses bans sources` against deny.toml, installing cargo-deny
# when it is missing. Advisories need the RustSec database (a git clone): they are checked when
# the database can be fetched or is already present, and skipped with a note otherwise (offline
# machines); MAWID_DENY_ADVISORIES=1 makes them required.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deny --version >/dev/null 2>&1; then
  echo "deny: installing cargo-deny"
  cargo install --quiet --locked cargo-deny
fi

cargo deny --log-level error check licenses bans sources

if cargo deny --log-level error fetch db >/dev/null 2>&1; then
  cargo deny --log-level error check advisories
elif [ "${MAWID_DENY_ADVISORIES:-0}" = 1 ]; then
  echo "deny: the advisory database cannot be fetched and MAWID_DENY_ADVISORIES=1" >&2
  exit 1
else
  echo "deny: advisories skipped (the RustSec database cannot be fetched from here)"
fi
