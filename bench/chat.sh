#!/usr/bin/env bash
# Benchmark: chat fan-out. N WebSocket receivers + M senders in one room of lait-local, R msg/s
# in total for S seconds. Starts its own Redis, moto and lait-local (perf profile: release code,
# thin LTO) on free ports, prints latency, loss/duplicates/order, deliveries/s, frames/s and the
# CPU seconds of each process, stops everything.
#   bench/chat.sh [--clients N] [--senders M] [--rate R] [--seconds S]
source "$(dirname "$0")/../scripts/lib.sh"

bench_scratch chat
install_all
build_perf

# Two sockets per client (client and server side) plus the @connections pool.
ulimit -n "$(ulimit -Hn)"
start_stores "$TMP"
export LAIT_SIGNUP_LIMIT="1000000/60"
start_perf_local

say_machine
"$CARGO_TARGET_DIR/perf/chat-load" --base "http://127.0.0.1:$PORT" \
  --pids "lait-local=$LOCAL_PID,redis=$REDIS_PID,moto=$MOTO_PID" "$@"
