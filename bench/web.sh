#!/usr/bin/env bash
# Benchmark: the web app's performance budget, in the build scripts/run serves (web/dist from
# web/build.sh, lait-local in the dev profile with optimized dependencies) with a live stream on the
# box: gzipped JavaScript the home and watch pages load, navigation → first video frame on the
# watch page, and the chat panel's frame rate and long tasks while a 100 msg/s room streams in.
# Every process's CPU over the chat flood is printed too. Method: bench/web/probe.mjs.
#   bench/web.sh [runs of the first-frame probe, default 7]
source "$(dirname "$0")/../scripts/lib.sh"
bench_scratch webbench
prepare_browser_bench
"$VENV/bin/python" "$REPO/bench/web.py" "${1:-7}"
