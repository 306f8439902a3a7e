#!/usr/bin/env bash
# Generated clients: fetches the contract a live `mawid serve` serves at /openapi.yaml, generates
# a Python client (openapi-python-client) and TypeScript types (openapi-typescript, used through
# openapi-fetch) from it, failing on any generator warning, and drives a citizen's flow with each
# (scripts/clients/flow.py and flow.ts): register, verify from the mail file, sign in,
# availability, book, reschedule, cancel, a document request, tracking, a 422 read as a problem.
#
# Needs DATABASE_URL to reach a PostgreSQL where it may create and drop a database (scripts/test.sh
# passes its throwaway one). The generators are installed once from PyPI into .data/clients-venv
# and from npm into .data/clients-npm; what they generate goes to a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/sample-server.sh

: "${DATABASE_URL:?DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)}"
PYTHON_CLIENT_VERSION=0.29.1
OPENAPI_TYPESCRIPT_VERSION=7.13.0
OPENAPI_FETCH_VERSION=0.17.0
TYPESCRIPT_VERSION=5.9.3

venv=$PWD/.data/clients-venv
if ! "$venv/bin/openapi-python-client" --version 2>/dev/null | grep -q "$PYTHON_CLIENT_VERSION"; then
  echo "clients: installing openapi-python-client $PYTHON_CLIENT_VERSION into $venv"
  mkdir -p .data
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$PYTHON_CLIENT_VERSION"
fi
npm_dir=$PWD/.data/clients-npm
npm_stamp="openapi-typescript@$OPENAPI_TYPESCRIPT_VERSION openapi-fetch@$OPENAPI_FETCH_VERSION typescript@$TYPESCRIPT_VERSION @types/node@20"
if [ "$(cat "$npm_dir/stamp" 2>/dev/null)" != "$npm_stamp" ]; then
  echo "clients: installing $npm_stamp into $npm_dir"
  rm -rf "$npm_dir"
  mkdir -p "$npm_dir"
  # shellcheck disable=SC2086 # one word per package
  (cd "$npm_dir" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund $npm_stamp)
  echo "$npm_stamp" >"$npm_dir/stamp"
fi

sample_server clients
curl -fsS "$url/openapi.yaml" -o "$tmp/openapi.yaml"

status=0
echo "clients: Python (openapi-python-client $PYTHON_CLIENT_VERSION)"
if (cd "$tmp" && "$venv/bin/openapi-python-client" generate --path openapi.yaml --meta none \
      --config "$OLDPWD/scripts/clients/python-config.yaml" --fail-on-warning >py-generate.log 2>&1) \
  && ! grep -qi warning "$tmp/py-generate.log"; then
  PYTHONPATH="$tmp" "$venv/bin/python" scripts/clients/flow.py "$url" "$tmp/mail" || status=1
else
  echo "clients: openapi-python-client warned or failed:" >&2
  cat "$tmp/py-generate.log" >&2
  status=1
fi

echo "clients: TypeScript (openapi-typescript $OPENAPI_TYPESCRIPT_VERSION, openapi-fetch $OPENAPI_FETCH_VERSION)"
ts=$tmp/ts
mkdir -p "$ts"
cp scripts/clients/flow.ts "$ts/"
ln -s "$npm_dir/node_modules" "$ts/node_modules"
echo '{ "type": "module" }' >"$ts/package.json"
if "$npm_dir/node_modules/.bin/openapi-typescript" "$tmp/openapi.yaml" -o "$ts/schema.d.ts" >"$tmp/ts-generate.log" 2>&1 \
  && ! grep -qiE "warn|error" "$tmp/ts-generate.log"; then
  # Strict type-checking of the flow against the generated types is part of the test.
  if (cd "$ts" && node_modules/.bin/tsc --strict --noEmitOnError --target es2022 --module nodenext \
        --moduleResolution nodenext --skipLibCheck --types node flow.ts); then
    node "$ts/flow.js" "$url" "$tmp/mail" || status=1
  else
    status=1
  fi
else
  echo "clients: openapi-typescript warned or failed:" >&2
  cat "$tmp/ts-generate.log" >&2
  status=1
fi

if [ "$status" != 0 ]; then
  echo "clients: FAILED (server log: last lines below)" >&2
  tail -40 "$tmp/server.log" >&2
fi
exit "$status"
