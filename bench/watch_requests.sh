#!/usr/bin/env bash
# Benchmark: what one viewer's watch page costs the API, in the build scripts/run serves, with a
# live on the box: a signed-in viewer in Chromium for N minutes, every request counted by path,
# shared-at-the-CDN vs uncached (reaching a function per viewer). Target: <= 1 uncached API request
# per viewer-minute in steady state. Exits non-zero past it. Method: bench/web/watch_requests.mjs.
#   bench/watch_requests.sh [minutes, default 5]
source "$(dirname "$0")/../scripts/lib.sh"
bench_scratch watchreq
prepare_browser_bench
LAIT_MINUTES="${1:-5}" "$VENV/bin/python" "$REPO/bench/web.py" 0 watch_requests.mjs
