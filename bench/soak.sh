#!/usr/bin/env bash
# Benchmark: a 10-minute soak of the whole platform in the build scripts/run uses: 2 live 720p30
# streams, 500 chat clients (50 of them sending, 20 msg/s in all), viewers' API and playlist
# traffic; the RSS of every process sampled every 10 s, its trend, CPU seconds and every error.
# Method: bench/soak.py. Exits non-zero when a process died, the API answered 5xx or a live
# dropped.
#   bench/soak.sh   (LAIT_SOAK_SECONDS, LAIT_SOAK_STREAMS, LAIT_SOAK_CHATTERS, LAIT_SOAK_RATE)
source "$(dirname "$0")/../scripts/lib.sh"
bench_scratch soak
install_all
build_run_profile
ulimit -n "$(ulimit -Hn)"
start_stores "$TMP"
export LAIT_BENCH_REDIS_PID="$REDIS_PID" LAIT_BENCH_MOTO_PID="$MOTO_PID"
say_machine
"$VENV/bin/python" "$REPO/bench/soak.py"
