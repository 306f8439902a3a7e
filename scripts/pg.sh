# Sourced by run.sh and test.sh: start and stop a local PostgreSQL from the machine's own binaries.
# initdb refuses to run as root, so as root every server command runs as the `postgres` user.

# Explicit `return 0`: a bare `return` in an EXIT trap returns the status the script died with,
# so after a failure the trap's pg_stop gave up and left the cluster running.
pg_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return 0
  fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  echo "no PostgreSQL server binaries found (install postgresql)" >&2
  return 1
}

as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_start DATA_DIR PORT [extra server options]
pg_start() {
  local data=$1 port=$2 opts=${3:-} bin
  bin=$(pg_bindir) || return 1
  if [ ! -s "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    chmod 700 "$data"
    as_pg_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$data.initdb.log" 2>&1 \
      || { cat "$data.initdb.log" >&2; return 1; }
  fi
  as_pg_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' $opts" start >/dev/null \
    || { tail -20 "$data/server.log" >&2; return 1; }
}

pg_stop() {
  local data=$1 bin
  bin=$(pg_bindir) || return 1
  as_pg_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

pg_running() {
  local bin
  bin=$(pg_bindir) || return 1
  as_pg_owner "$bin/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# pg_throwaway [server options]: a cluster in a fresh temporary folder, removed when the calling
# script exits; exports DATABASE_URL for it.
pg_throwaway() {
  local opts=${1:-} port
  PG_THROWAWAY=$(mktemp -d /tmp/mawid-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres: "$PG_THROWAWAY"
  port=$(free_port)
  trap 'pg_stop "$PG_THROWAWAY/data"; rm -rf "$PG_THROWAWAY"' EXIT
  pg_start "$PG_THROWAWAY/data" "$port" "$opts"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# pg_restart DATA_DIR: `pg_ctl restart -m fast` (sessions terminated, then the same options),
# returning once the new server accepts connections.
pg_restart() {
  local data=$1 bin
  bin=$(pg_bindir) || return 1
  as_pg_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -m fast -w -t 60 restart >/dev/null \
    || { tail -20 "$data/server.log" >&2; return 1; }
}
