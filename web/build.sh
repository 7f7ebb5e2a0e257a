#!/usr/bin/env bash
# Builds the web app into web/dist: npm ci (skipped when node_modules matches the lockfile), the API
# types generated from web/openapi.json (src/api/schema.d.ts, not tracked: it cannot go stale), then
# type-check and Vite's production build.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "web/build.sh: npm is missing (apt-get install nodejs npm)" >&2
  exit 1
fi
stamp=node_modules/.lait-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npx --no-install openapi-typescript openapi.json -o src/api/schema.d.ts --silent
npx --no-install tsc --noEmit
npx --no-install vite build --logLevel warn
