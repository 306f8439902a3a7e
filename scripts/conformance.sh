#!/usr/bin/env bash
# Conformance: Schemathesis fuzzes every operation of the served openapi.yaml against a live
# `mawid serve`, once as an admin and once as a verified citizen, and fails on any 5xx, on any
# status code, content type or body the contract does not document, and on any Schemathesis
# warning (scripts/schemathesis.toml: `[warnings] fail-on`).
#
# Needs DATABASE_URL to reach a PostgreSQL where it may create and drop a database (scripts/test.sh
# passes its throwaway one). Schemathesis is installed from PyPI into .data/conformance-venv once.
# Tunables: CONFORMANCE_MAX_EXAMPLES (default 20 per operation), CONFORMANCE_SEED, CONFORMANCE_CHECKS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/sample-server.sh

: "${DATABASE_URL:?DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)}"
SCHEMATHESIS_VERSION=4.32.5
max_examples=${CONFORMANCE_MAX_EXAMPLES:-20}
seed=${CONFORMANCE_SEED:-20261123}

venv=$PWD/.data/conformance-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "conformance: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  mkdir -p .data
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
py="$venv/bin/python"
st_config=$PWD/scripts/schemathesis.toml

admin_email=admin@conformance.test
admin_password=conformance-admin-pass
citizen_email=citizen@conformance.test
citizen_password=conformance-citizen-pass
export MAWID_BOOTSTRAP_ADMIN_EMAIL=$admin_email MAWID_BOOTSTRAP_ADMIN_PASSWORD=$admin_password
# Thousands of requests from one address and two accounts: every rate limit far above what the
# run sends, so the fuzzer reaches the logic behind them (their tests are in tests/api).
for name in REGISTER LOGIN LOGIN_FAILURES LOGIN_ACCOUNT PASSWORD_RESET RESET_MAIL VERIFY VERIFY_MAIL \
  TRACK TRACK_FAILURES BOOKING WAITLIST DOCUMENT_REQUEST; do
  export "MAWID_LIMIT_$name=1000000/60"
done
# The sample data (offices, services, schedules) gives list and catalogue answers real content
# for the schema checks to read.
sample_server conformance

post() { curl -fsS -H 'content-type: application/json' -d "$2" "$url$1"; }
token_of() { "$py" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }

post /api/v1/auth/register \
  "{\"email\":\"$citizen_email\",\"password\":\"$citizen_password\",\"full_name\":\"Conformance Citizen\",\"preferred_language\":\"en\"}" >/dev/null
# The mail worker polls the outbox every second; the verification token is in the text part.
verify_token=""
for _ in $(seq 1 60); do
  verify_token=$("$py" - "$tmp/mail" <<'PY'
import email, email.policy, pathlib, re, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.eml")):
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    m = re.search(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])", text)
    if m:
        print(m.group(0))
        break
PY
) || true
  [ -n "$verify_token" ] && break
  sleep 0.5
done
[ -n "$verify_token" ] || { echo "conformance: no verification mail" >&2; cat "$tmp/server.log" >&2; exit 1; }
post /api/v1/auth/verify-email "{\"token\":\"$verify_token\"}" >/dev/null
citizen_token=$(post /api/v1/auth/login "{\"email\":\"$citizen_email\",\"password\":\"$citizen_password\"}" | token_of)
admin_token=$(post /api/v1/auth/login "{\"email\":\"$admin_email\",\"password\":\"$admin_password\"}" | token_of)

# What the schema cannot say, for scripts/schemathesis.toml: ids of the sample office and
# services, a date range within their advance limit, a free slot of each booked service, and rows
# for the id-taking operations to act on (an appointment in each staff step's starting status, a
# webhook delivery, a notification). The citizen keeps a passport number on the profile, as a
# booking needs one.
curl -fsS -X PATCH -H 'content-type: application/json' -H "Authorization: Bearer $citizen_token" \
  -d '{"passport_number":"N1234567"}' "$url/api/v1/me" >/dev/null
test_data=$("$py" - "$url" "$citizen_token" "$admin_token" <<'PY'
import base64, datetime, json, secrets, sys, time, urllib.request
url, citizen_token, admin_token = sys.argv[1:]
def call(method, path, token=None, body=None):
    request = urllib.request.Request(url + path, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    return json.load(urllib.request.urlopen(request))
def get(path, token=None):
    return call("GET", path, token)
office = get("/api/v1/offices")["items"][0]["id"]
services = {s["code"]: s["id"] for s in get("/api/v1/services")["items"]}
today = datetime.date.today()
start, end = today + datetime.timedelta(days=3), today + datetime.timedelta(days=30)
def slot(service, n=0):
    q = f"?service_id={service}&from={start}&to={end}"
    return get(f"/api/v1/offices/{office}/availability{q}")["slots"][n]["start"]
# The webhook first, so the bookings below give it deliveries to replay; nothing listens there.
secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
webhook = call("POST", "/api/v1/admin/webhooks", admin_token,
               {"url": "http://127.0.0.1:9/conformance", "secret": secret, "events": ["appointment.booked"]})["id"]
# One document request, so tracking has a real number and date of birth to look up and staff a
# request to move.
born = "1990-05-01"
birth = services["civil-registry-birth"]
document_request = call("POST", "/api/v1/document-requests", citizen_token,
                        {"office_id": office, "service_id": birth,
                         "applicant": {"full_name": "Conformance Citizen", "date_of_birth": born}})
# The citizen's own booking of the birth registration, with the confirmation window open from 30
# days before: the confirm operation confirms it, the reschedule moves it to the next free slot
# and a new document request may name it.
call("PATCH", f"/api/v1/admin/services/{birth}", admin_token,
     {"confirmation_required": True, "confirm_from_hours": 720})
own = call("POST", "/api/v1/appointments", citizen_token,
           {"office_id": office, "service_id": birth, "start": slot(birth)})["id"]
own_other_slot = slot(birth)
# Walk-ins for the staff steps: one booked (check-in), one checked in (complete), one booked for
# the staff cancel, the no-show (refused before the start) and the look-up. Slot 0 is left for
# the staff run's own booking.
legal = services["legalisation"]
def walk_in(letter):
    return call("POST", "/api/v1/admin/appointments", admin_token,
                {"office_id": office, "service_id": legal, "start": slot(legal, 1), "reason": "conformance",
                 "applicant": {"full_name": f"Conformance Walk-in {letter}", "passport_number": f"CNF0000{letter}"}})["id"]
to_check_in, to_complete, booked = walk_in("A"), walk_in("B"), walk_in("C")
call("POST", f"/api/v1/admin/appointments/{to_complete}/check-in", admin_token, {})
# An office of its own for the operations that change one, so the sample office stays active and
# its schedules as the bookings expect.
scratch = call("POST", "/api/v1/admin/offices", admin_token,
               {"code": "CNF", "name": {"ar": "مكتب المطابقة", "ru": "Офис проверки", "en": "Conformance office"},
                "address": {"ar": "عنوان", "ru": "Адрес", "en": "Address"}})["id"]
# A staff account for the role and deactivation changes: once the run has made a second admin,
# a change to the conformance admin itself would sign the rest of the run out.
staff_member = call("POST", "/api/v1/admin/staff", admin_token,
                    {"email": "officer@conformance.test", "password": "conformance-officer-pass",
                     "full_name": "Conformance Officer", "role": "officer"})["id"]
delivery = None
for _ in range(60):
    items = get(f"/api/v1/admin/webhooks/{webhook}/deliveries", admin_token)["items"]
    if items:
        delivery = items[0]["id"]
        break
    time.sleep(0.5)
assert delivery, "no webhook delivery"
values = {
    "OFFICE_ID": office,
    "SCRATCH_OFFICE_ID": scratch,
    "SERVICE_ID": services["power-of-attorney"],
    "SLOT": slot(services["power-of-attorney"]),
    "STAFF_SERVICE_ID": legal,
    "STAFF_SLOT": slot(legal),
    "DOCUMENT_SERVICE_ID": birth,
    "OWN_APPOINTMENT_ID": own,
    "OWN_OTHER_SLOT": own_other_slot,
    "WAITLIST_SERVICE_ID": services["civil-registry-marriage"],
    "SCHEDULE_SERVICE_ID": services["travel-document"],
    "CITIZEN_ID": get("/api/v1/me", citizen_token)["id"],
    "STAFF_MEMBER_ID": staff_member,
    "DOCUMENT_REQUEST_ID": document_request["id"],
    "TRACKING_NUMBER": document_request["tracking_number"],
    "CHECK_IN_ID": to_check_in,
    "COMPLETE_ID": to_complete,
    "BOOKED_ID": booked,
    "WEBHOOK_ID": webhook,
    "DELIVERY_ID": delivery,
    "NOTIFICATION_ID": get("/api/v1/admin/notifications", admin_token)["items"][0]["id"],
    "BORN": born,
    "FROM": start.isoformat(),
    "TO": end.isoformat(),
}
for name, value in values.items():
    print(f"export CONFORMANCE_{name}={value}")
PY
)
eval "$test_data"

# One worker: hypothesis's lambda-source parsing is not thread-safe on Python 3.11 and failed a
# run with "AST constructor recursion depth mismatch" under --workers 2.
checks=${CONFORMANCE_CHECKS:-not_a_server_error,negative_data_rejection,status_code_conformance,content_type_conformance,response_schema_conformance,unsupported_method,allow_header_conformance,ignored_auth,missing_required_header}
# The citizen goes first, so the staff run finds appointments and document requests to act on.
# Each run selects the operations its persona may call: the staff routes under /admin for the
# admin, the citizen's own resources for the citizen; the public and auth routes in both.
citizen_only='^/api/v1/((appointments|document-requests|waitlist)(/|$)|me/(export|access-log)$)'
staff_only='^/api/v1/admin/'
status=0
for who in citizen admin; do
  token_var="${who}_token"
  # Erasing an account is the citizen's own (staff are refused); the citizen run cannot erase its
  # account, as it never learns the password the erasure asks for.
  exclude_name=()
  if [ "$who" = admin ]; then
    exclude=$citizen_only
    exclude_name=(--exclude-name "DELETE /api/v1/me")
  else
    exclude=$staff_only
  fi
  echo "conformance: every operation as $who (max $max_examples examples each, seed $seed)"
  # Run from the scratch folder: hypothesis and schemathesis leave state in the working directory.
  (cd "$tmp" && "$venv/bin/schemathesis" --no-color --config-file "$st_config" \
    run "$url/openapi.yaml" \
    --checks "$checks" \
    --header "Authorization: Bearer ${!token_var}" \
    --exclude-path-regex "$exclude" \
    "${exclude_name[@]}" \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --workers 1 \
    --request-timeout 20 \
    --suppress-health-check too_slow \
    --generation-database none) \
    || status=1
done

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "conformance: the server died during the run" >&2
  status=1
fi
if [ "$status" != 0 ]; then
  echo "conformance: FAILED (server log: last lines below)" >&2
  tail -40 "$tmp/server.log" >&2
fi
exit "$status"
