#!/usr/bin/env bash
# The web app's unit tests (run by scripts/test after web/build.sh, which generates the API types
# from web/openapi.json, itself checked against the Rust code by `cargo test`, and type-checks).
set -euo pipefail
cd "$(dirname "$0")"
npx --no-install vitest run --reporter=dot
