#!/usr/bin/env bash
# The web app's own checks (run by scripts/test after web/build.sh, which type-checks):
# the API types are what openapi-typescript makes of web/openapi.json (itself checked against the
# Rust code by `cargo test`), and the unit tests pass.
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npx --no-install openapi-typescript openapi.json -o "$tmp/schema.d.ts" --silent
if ! cmp -s "$tmp/schema.d.ts" src/api/schema.d.ts; then
  diff -u src/api/schema.d.ts "$tmp/schema.d.ts" | head -40 >&2 || true
  echo "web/src/api/schema.d.ts is stale: run \`npm run gen:api\` in web/" >&2
  exit 1
fi
npx --no-install vitest run --reporter=dot
