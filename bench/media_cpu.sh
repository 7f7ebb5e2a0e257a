#!/usr/bin/env bash
# Benchmark: CPU per live stream of every process on the media path (agent, ladder ffmpeg,
# publisher, moto, lait-local, nginx, Redis) and whether every rendition kept real time, for K
# simultaneous 720p30 publishers, in the build scripts/run uses. Method: bench/media_cpu.py.
#   bench/media_cpu.sh [seconds, default 30] [K ...; default 1]
# e.g. bench/media_cpu.sh 30 1 2 3   (capacity: the largest K whose line says "held")
source "$(dirname "$0")/../scripts/lib.sh"
bench_scratch mcpu
install_all
build_run_profile
start_stores "$TMP"
export LAIT_BENCH_REDIS_PID="$REDIS_PID" LAIT_BENCH_MOTO_PID="$MOTO_PID"
say_machine
"$VENV/bin/python" "$REPO/bench/media_cpu.py" "${1:-30}" "${@:2}"
