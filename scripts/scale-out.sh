#!/usr/bin/env bash
# Scale-out, for real: two `mawid serve` processes behind nginx (Debian's package, installed
# with apt-get when missing) on one PostgreSQL. Through the proxy it runs the booking race (exactly
# capacity 201s, checked in SQL), then a booking load during which one server is killed with
# SIGKILL, and shows the survivor serves and the guarantees hold (every 201 exists once, no slot
# over capacity, nothing booked that nobody got a 201 for once idempotent retries are in).
# With DATABASE_URL set (scripts/test.sh) it uses a scratch database on that server, else a
# throwaway cluster. Prints its figures; exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

ensure_nginx() {
  if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then return; fi
  echo "scale-out: installing nginx (Debian package)"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends nginx >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends nginx >/dev/null; }
}

ensure_nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PSQL="$(pg_bindir)/psql"

work=$(mktemp -d /tmp/mawid-scale.XXXXXX)
chmod 755 "$work"
pids=()
db=
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$db" ] && "$PSQL" -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [ -n "${PG_THROWAWAY:-}" ]; then pg_stop "$PG_THROWAWAY/data"; rm -rf "$PG_THROWAWAY"; fi
  rm -rf "$work"
}
[ -n "${DATABASE_URL:-}" ] || pg_throwaway "-c fsync=off -c max_connections=100"
# After pg_throwaway, whose own EXIT trap this replaces (cleanup stops its cluster too).
trap cleanup EXIT
admin_url=$DATABASE_URL
db="mawid_scale_$$"
"$PSQL" -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
base_url=${DATABASE_URL%%\?*}
export DB_URL="${base_url%/*}/$db"

cargo build -q -p mawid-server --bin mawid
BIN="${CARGO_TARGET_DIR:-target}/debug/mawid"

export MAWID_JWT_SECRET=scale-out-secret-that-is-at-least-32-bytes
TRACK_LIMIT=10
DATABASE_URL=$DB_URL RUST_LOG=warn "$BIN" seed

# start_server NAME: one `mawid serve` on a free port; its pid and port in SERVER_PID, SERVER_PORT.
start_server() {
  local name=$1 port
  port=$(free_port)
  # The citizens of the load all come through one address: their sign-up and sign-in limits
  # are raised, and so is the per-citizen booking limit, which the 60 citizens of the failover
  # load reach in its seconds once bookings are fast; the tracking limit is the one the proxy
  # check below measures.
  DATABASE_URL=$DB_URL MAWID_BIND=127.0.0.1:$port MAWID_TRUST_FORWARDED_FOR=1 \
    MAWID_LIMIT_REGISTER=1000/3600 MAWID_LIMIT_LOGIN=1000/900 MAWID_LIMIT_BOOKING=1000/3600 \
    MAWID_LIMIT_TRACK=$TRACK_LIMIT/600 \
    MAWID_MAIL_DIR="$work/mail" MAWID_DB_MAX_CONNECTIONS=5 MAWID_LOG_FORMAT=json RUST_LOG=info \
    "$BIN" serve >"$work/$name.log" 2>&1 &
  SERVER_PID=$!
  SERVER_PORT=$port
  pids+=("$SERVER_PID")
  local i
  for i in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && return
    sleep 0.1
  done
  echo "scale-out: server $name did not become ready" >&2
  cat "$work/$name.log" >&2
  return 1
}

start_server a
export A_PID=$SERVER_PID A_PORT=$SERVER_PORT
start_server b
export B_PID=$SERVER_PID B_PORT=$SERVER_PORT
PROXY_PORT=$(free_port)
export PROXY="http://127.0.0.1:$PROXY_PORT"

mkdir -p "$work/tmp"
chmod 777 "$work/tmp"
# nginx OSS checks upstreams passively: a refused connection marks the server failed for
# fail_timeout and the request goes to the next one (a POST only when it was never sent).
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  upstream mawid {
    server 127.0.0.1:$A_PORT max_fails=1 fail_timeout=30s;
    server 127.0.0.1:$B_PORT max_fails=1 fail_timeout=30s;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    location / {
      proxy_pass http://mawid;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      # Mawid (MAWID_TRUST_FORWARDED_FOR=1) counts the right-most entry: the peer nginx saw.
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;
    }
  }
}
EOF
"$NGINX" -p "$work" -c "$work/nginx.conf" -g 'daemon off;' &
pids+=("$!")
for i in $(seq 1 50); do
  curl -fsS -o /dev/null "$PROXY/healthz" 2>/dev/null && break
  sleep 0.1
done

# The rate limits through the proxy. Every request reaches Mawid from nginx (127.0.0.1), so a
# per-address limit that holds per client proves Mawid reads the right-most X-Forwarded-For
# entry; clients connect from distinct loopback addresses and each invents its own
# X-Forwarded-For, which nginx's appended entry overrides. The counters live in PostgreSQL, so
# the limit holds across both servers.
rate_limits_through_proxy() {
  python3 - <<'PY'
import http.client, os, threading, urllib.parse, uuid
from concurrent.futures import ThreadPoolExecutor

proxy = urllib.parse.urlsplit(os.environ["PROXY"])
limit = int(os.environ["TRACK_LIMIT"])

def lookup(source, i):
    c = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=20, source_address=(source, 0))
    # A fresh unknown number each time: only the per-address limit is in play.
    c.request("GET", f"/api/v1/track/{uuid.uuid4().hex[:12].upper()}?date_of_birth=1990-01-01",
              headers={"X-Forwarded-For": f"198.51.100.{i % 250}"})
    r = c.getresponse()
    r.read()
    return r.status, r.getheader("Retry-After")

n = 3 * limit
barrier = threading.Barrier(n)
def burst(i):
    barrier.wait()
    return lookup("127.0.0.2", i)
with ThreadPoolExecutor(n) as ex:
    answers = list(ex.map(burst, range(n)))
limited = [a for a in answers if a[0] == 429]
if len(answers) - len(limited) != limit or any(not ra for _, ra in limited):
    raise SystemExit(f"scale-out: FAILED: {n} parallel lookups from one client through two servers: "
                     f"{len(answers) - len(limited)} let through for a limit of {limit}; {sorted(set(answers))}")
other = [lookup("127.0.0.3", i)[0] for i in range(3)]
if 429 in other:
    raise SystemExit(f"scale-out: FAILED: another client address was limited too: {other}")
print(f"scale-out: rate limit through nginx: {n} parallel lookups from one client with invented "
      f"X-Forwarded-For -> {n - len(limited)} answered, {len(limited)} x 429 with Retry-After "
      f"(limit {limit}); another client's lookups {other}")
PY
}
export TRACK_LIMIT
rate_limits_through_proxy

export PSQL WORK=$work
python3 - <<'PY'
import json, os, subprocess, threading, time, urllib.request, urllib.error, uuid, datetime
from concurrent.futures import ThreadPoolExecutor

PROXY, PSQL, DB = os.environ["PROXY"], os.environ["PSQL"], os.environ["DB_URL"]
A_PID = int(os.environ["A_PID"])

def sql(q):
    return subprocess.run([PSQL, "-qAt", DB, "-c", q], check=True, capture_output=True, text=True).stdout.strip()

def call(method, path, body=None, token=None, key=None, timeout=20):
    """(status, json body or None), or (None, error) when no answer came."""
    req = urllib.request.Request(PROXY + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if key:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"code": "not problem+json", "raw": raw[:80].decode(errors="replace")}
    except Exception as e:
        return None, str(e)

def check(cond, what):
    if not cond:
        raise SystemExit("scale-out: FAILED: " + what)

# Citizens, registered and signed in through the proxy.
n_citizens = 60
emails = [f"c{i}-{uuid.uuid4().hex[:8]}@example.test" for i in range(n_citizens)]
with ThreadPoolExecutor(8) as ex:
    regs = list(ex.map(lambda e: call("POST", "/api/v1/auth/register",
        {"email": e, "password": "correct horse battery", "full_name": "Amal Haddad",
         "preferred_language": "en"}), emails))
check(all(s is not None and 200 <= s < 300 for s, _ in regs), f"registration: {regs[:3]}")
sql("UPDATE users SET email_verified_at = now() WHERE role = 'citizen'")
with ThreadPoolExecutor(8) as ex:
    logins = list(ex.map(lambda e: call("POST", "/api/v1/auth/login",
        {"email": e, "password": "correct horse battery"}), emails))
check(all(s == 200 for s, _ in logins), f"login: {logins[:3]}")
tokens = [b["access_token"] for _, b in logins]

office = sql("SELECT id FROM offices LIMIT 1")
# Citizens see only the public desks: capacity minus the staff-reserved ones.
service, capacity = sql("SELECT service_id || ' ' || (capacity - reserved_capacity) FROM schedules "
                        "ORDER BY capacity - reserved_capacity DESC, service_id LIMIT 1").split()
capacity = int(capacity)
services = sql("SELECT service_id FROM schedules ORDER BY service_id").split()
today = datetime.date.today()
def slots_of(svc):
    s, b = call("GET", f"/api/v1/offices/{office}/availability?service_id={svc}&from={today}&to={today + datetime.timedelta(days=40)}")
    check(s == 200, f"availability {s} {b}")
    return b["slots"]

# 1. The race: every citizen at once for one slot of `capacity` desks.
slot = next(x for x in slots_of(service) if x["remaining"] == capacity)
barrier = threading.Barrier(n_citizens)
def race(i):
    barrier.wait()
    return call("POST", "/api/v1/appointments",
                {"office_id": office, "service_id": service, "start": slot["start"],
                 "applicant": {"passport_number": f"R{i:07d}"}},
                token=tokens[i], key=f"race-{i}")
with ThreadPoolExecutor(n_citizens) as ex:
    raced = list(ex.map(race, range(n_citizens)))
won = [b["id"] for s, b in raced if s == 201]
lost = [b.get("code") for s, b in raced if s != 201]
check(len(won) == capacity, f"race: {len(won)} 201s for {capacity} places; others {set(lost)}")
check(set(lost) <= {"slot_full"}, f"race: other answers {set(lost)}")
in_sql = int(sql(f"SELECT count(*) FROM appointments WHERE service_id = '{service}' AND status <> 'cancelled' "
                 f"AND slot_start = '{slot['start']}'::timestamptz"))
check(in_sql == capacity, f"race: {in_sql} rows in SQL for {capacity} places")
def served(name):
    with open(os.path.join(os.environ["WORK"], name + ".log")) as f:
        return sum(1 for l in f if "request completed" in l and "/api/v1/appointments" in l)
race_a, race_b = served("a"), served("b")
check(race_a > 0 and race_b > 0, f"both servers took bookings: a={race_a} b={race_b}")
print(f"scale-out: race through nginx: {n_citizens} citizens, {capacity} places -> {len(won)} x 201, "
      f"{len(lost)} x 409 slot_full; {in_sql} rows in SQL; bookings served a={race_a} b={race_b}")

# 2. A booking load through the proxy; server a is killed with SIGKILL one second in.
slots = {s: slots_of(s) for s in services}
records, lock = [], threading.Lock()
stop = threading.Event()
def client(c):
    n = 0
    while not stop.is_set():
        j = n * 8 + c
        svc = services[(j // n_citizens) % len(services)]
        start = slots[svc][j % len(slots[svc])]["start"]
        body = {"office_id": office, "service_id": svc, "start": start,
                "applicant": {"passport_number": f"L{j % n_citizens:07d}"}}
        key = f"load-{c}-{n}"
        t = time.monotonic()
        s, b = call("POST", "/api/v1/appointments", body, token=tokens[j % n_citizens], key=key)
        with lock:
            records.append((t, s, b, body, j % n_citizens, key))
        n += 1
threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
for t in threads: t.start()
time.sleep(1.0)
killed_at = time.monotonic()
os.kill(A_PID, 9)
time.sleep(3.0)
stop.set()
for t in threads: t.join()

def label(s, b):
    return "no answer" if s is None else f"{s} {b.get('code', '') if isinstance(b, dict) else ''}".strip()
tally = {}
for _, s, b, *_ in records:
    tally[label(s, b)] = tally.get(label(s, b), 0) + 1
after = [(s, b) for t, s, b, *_ in records if t > killed_at + 0.5]
check(after and all(s in (201, 409, 422) for s, _ in after),
      f"the survivor answers everything once a is gone: {[label(s, b) for s, b in after if s not in (201, 409, 422)][:5]}")
# Requests the dead server took and never answered: the proxy says 502; their retry with the same
# key answers the first outcome, or books now.
created, retried = list(won), 0
for t, s, b, body, citizen, key in records:
    if s is None or s >= 500:
        retried += 1
        s, b = call("POST", "/api/v1/appointments", body, token=tokens[citizen], key=key)
        check(s in (201, 409, 422), f"retry of {key}: {label(s, b)}")
    if s == 201:
        created.append(b["id"])
check(len(created) == len(set(created)), "one 201 per booking")
stored = set(sql("SELECT id FROM appointments").split())
check(stored == set(created), f"SQL holds {len(stored)} bookings, {len(set(created))} got a 201")
over = sql("SELECT count(*) FROM (SELECT 1 FROM appointments a JOIN schedules s USING (office_id, service_id) "
           "WHERE a.status <> 'cancelled' GROUP BY a.service_id, a.slot_start, s.capacity "
           "HAVING count(*) > s.capacity) x")
check(over == "0", f"{over} slots over capacity")
for _ in range(5):
    s, _b = call("GET", "/readyz")
    check(s == 200, f"readyz through the proxy after the kill: {s}")
print(f"scale-out: load through nginx, server a SIGKILLed 1 s in: {len(records)} bookings sent "
      f"{dict(sorted(tally.items()))}; {len(after)} sent after the kill all answered by b; "
      f"{retried} retried with their key; {len(stored)} bookings in SQL = the 201s; 0 slots over capacity")
PY

echo "scale-out: ok"
