#!/usr/bin/env bash
# Starts Mawid for local use: a PostgreSQL kept under .data/ (unless DATABASE_URL is set),
# migrations, the sample data, a dev admin, and mail written as .eml files under var/mail.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

export MAWID_ENV=${MAWID_ENV:-dev}
export MAWID_BIND=${MAWID_BIND:-127.0.0.1:8080}
export MAWID_MAIL_DIR=${MAWID_MAIL_DIR:-$PWD/var/mail}
export MAWID_BOOTSTRAP_ADMIN_EMAIL=${MAWID_BOOTSTRAP_ADMIN_EMAIL:-admin@mawid.local}
export MAWID_BOOTSTRAP_ADMIN_PASSWORD=${MAWID_BOOTSTRAP_ADMIN_PASSWORD:-mawid-dev-admin}

if [ -z "${DATABASE_URL:-}" ]; then
  data="$PWD/.data/pg"
  mkdir -p "$PWD/.data"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$PWD/.data"; then
    # The postgres user cannot reach into this checkout (e.g. a private home): keep the
    # cluster in a world-traversable place instead, named after the checkout.
    data="/var/tmp/mawid-pg-$(echo "$PWD" | cksum | cut -d' ' -f1)/data"
    mkdir -p "$(dirname "$data")" && chown postgres: "$(dirname "$data")"
  fi
  port=${MAWID_PG_PORT:-54329}
  if ! pg_running "$data"; then
    pg_start "$data" "$port"
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL: $data (port $port, kept between runs; stop it with: scripts/pg-stop.sh)"
fi

cargo build -p mawid-server --bin mawid
"${CARGO_TARGET_DIR:-target}/debug/mawid" migrate
"${CARGO_TARGET_DIR:-target}/debug/mawid" seed
cat <<TXT

Mawid is starting on http://$MAWID_BIND  (API under /api/v1, contract at /openapi.yaml)
  dev admin:  $MAWID_BOOTSTRAP_ADMIN_EMAIL / $MAWID_BOOTSTRAP_ADMIN_PASSWORD
  mail:       written as .eml files to $MAWID_MAIL_DIR
TXT
exec "${CARGO_TARGET_DIR:-target}/debug/mawid" serve
