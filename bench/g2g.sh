#!/usr/bin/env bash
# Benchmark: glass-to-glass latency in a real player (hls.js in headless Chromium) through the
# whole stack on loopback, for the default and the low-latency profile. Method: bench/g2g.py.
#   bench/g2g.sh [seconds of samples, default 60]   (G2G_ALL=1: also low latency with a 1 s GOP)
source "$(dirname "$0")/../scripts/lib.sh"
bench_scratch g2g
install_all
if [ ! -x /usr/bin/chromium ]; then
  say "apt: installing chromium"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
(cd "$REPO/bench/g2g" && npm install --no-audit --no-fund --silent)
build_run_profile
start_stores "$TMP"
say_machine
"$VENV/bin/python" "$REPO/bench/g2g.py" "${1:-60}"
