#!/usr/bin/env bash
# Benchmark: GET /api/lives through lait-local with 200 live channels, 1,000 req/s for 30 s.
# Starts its own Redis, moto and lait-local (perf profile: release code, thin LTO) on free ports,
# seeds through the real API, prints the figures, stops everything.
#   bench/lives.sh [--seed N] [--rate R] [--seconds S]
source "$(dirname "$0")/../scripts/lib.sh"

bench_scratch lives
install_all
build_perf

start_stores "$TMP"
# Seeding signs up N users from one address.
export LAIT_SIGNUP_LIMIT="1000000/60"
# No media node sends heartbeats here; keep the reaper off the seeded lives.
export LAIT_HEARTBEAT_TIMEOUT_SECS=86400
start_perf_local

say_machine
"$CARGO_TARGET_DIR/perf/lives-load" --base "http://127.0.0.1:$PORT" "$@"
