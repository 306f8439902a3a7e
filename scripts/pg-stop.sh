#!/usr/bin/env bash
# Stops the PostgreSQL that scripts/run.sh started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
for d in "$PWD/.data/pg" /var/tmp/mawid-pg-"$(echo "$PWD" | cksum | cut -d' ' -f1)"/data; do
  [ -d "$d" ] && pg_stop "$d"
done
echo stopped
