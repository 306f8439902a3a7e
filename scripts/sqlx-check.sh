#!/usr/bin/env bash
# Checks that the committed query data in .sqlx/ matches every query! macro and the migrations:
# `cargo sqlx prepare --workspace --check` against a scratch database migrated from migrations/.
# With DATABASE_URL unset it starts a throwaway PostgreSQL; with it set, it creates and drops a
# scratch database on that server. sqlx-cli is installed at the version of sqlx in Cargo.lock.
# `scripts/sqlx-check.sh --write` regenerates .sqlx/ instead of checking it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

sqlx_version=$(awk '/^name = "sqlx"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if ! sqlx --version 2>/dev/null | grep -qx "sqlx-cli $sqlx_version"; then
  echo "sqlx-check: installing sqlx-cli $sqlx_version"
  cargo install --quiet --locked sqlx-cli --version "$sqlx_version" \
    --no-default-features --features postgres,rustls
fi

[ -n "${DATABASE_URL:-}" ] || pg_throwaway "-c fsync=off"
db="mawid_sqlx_check_$$"
admin_url=$DATABASE_URL
base_url=${DATABASE_URL%%\?*}
psql="$(pg_bindir)/psql"
drop() { "$psql" -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; }
trap 'drop; if [ -n "${PG_THROWAWAY:-}" ]; then pg_stop "$PG_THROWAWAY/data"; rm -rf "$PG_THROWAWAY"; fi' EXIT
"$psql" -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="${base_url%/*}/$db"
cargo sqlx migrate run --source migrations >/dev/null

if [ "${1:-}" = --write ]; then
  SQLX_OFFLINE=false cargo sqlx prepare --workspace -- --all-targets
else
  SQLX_OFFLINE=false cargo sqlx prepare --workspace --check -- --all-targets
  echo "sqlx-check: .sqlx/ matches every query and the migrations"
fi
