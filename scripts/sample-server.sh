# Sourced by conformance.sh and clients.sh: a live `mawid serve` with the sample data, on a
# database of its own made on the PostgreSQL that DATABASE_URL reaches.
source "$(dirname "${BASH_SOURCE[0]}")/pg.sh"

# sample_server NAME: builds the debug binary, creates the database mawid_NAME_PID and a scratch
# folder, seeds the sample offices, services and schedules, starts the server on a free port and
# waits until it is ready. Sets `tmp` (mail in $tmp/mail, logs in $tmp/*.log), `url` and
# `server_pid`, and exports DATABASE_URL for the new database; an EXIT trap stops the server,
# drops the database and removes the folder. Variables the caller exported before (rate limits,
# a bootstrap admin) reach both the seed and the server.
sample_server() {
  local name=$1 port base_url
  cargo build --quiet -p mawid-server --bin mawid

  tmp=$(mktemp -d "/tmp/mawid-$name.XXXXXX")
  sample_db="mawid_${name}_$$"
  sample_admin_url=$DATABASE_URL
  base_url=${DATABASE_URL%%\?*}
  sample_psql="$(pg_bindir)/psql"
  server_pid=""
  trap sample_server_cleanup EXIT
  "$sample_psql" -q "$sample_admin_url" -c "CREATE DATABASE $sample_db" >/dev/null

  port=$(free_port)
  url="http://127.0.0.1:$port"
  export DATABASE_URL="${base_url%/*}/$sample_db" \
    MAWID_BIND="127.0.0.1:$port" \
    MAWID_JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    MAWID_MAIL_DIR="$tmp/mail" \
    MAWID_SMTP_URL="" \
    RUST_LOG=warn
  "${CARGO_TARGET_DIR:-target}/debug/mawid" seed >"$tmp/seed.log" 2>&1 || { cat "$tmp/seed.log" >&2; exit 1; }
  "${CARGO_TARGET_DIR:-target}/debug/mawid" serve >"$tmp/server.log" 2>&1 &
  server_pid=$!

  # Start-up applies migrations and hashes any bootstrap password: give it up to a minute.
  for _ in $(seq 1 120); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
    sleep 0.5
  done
  curl -fsS "$url/readyz" >/dev/null || { echo "$name: server not ready" >&2; cat "$tmp/server.log" >&2; exit 1; }
}

sample_server_cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  "$sample_psql" -q "$sample_admin_url" -c "DROP DATABASE IF EXISTS $sample_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
