#!/usr/bin/env bash
# Benchmark: chat fan-out. N WebSocket receivers + M senders in one room of lait-local, R msg/s
# in total for S seconds. Starts its own Redis, moto and lait-local (perf profile: release code,
# thin LTO) on free ports, prints latency, loss/duplicates/order, deliveries/s, frames/s and the
# CPU seconds of each process, stops everything.
#   bench/chat.sh [--clients N] [--senders M] [--rate R] [--seconds S]
source "$(dirname "$0")/../scripts/lib.sh"

TMP="$(mktemp -d /tmp/lait-bench.XXXXXX)"
trap 'rc=$?; [ $rc = 0 ] || tail -20 "$TMP/lait-local.log" >&2; [ -z "${KEEP_LOG:-}" ] || cp "$TMP/lait-local.log" "$KEEP_LOG"; stop_all; rm -rf "$TMP"' EXIT
trap 'exit 130' INT

install_all
say "building (profile perf)"
(cd "$REPO" && cargo build --profile perf -p lait-local -p lait-bench)

# Two sockets per client (client and server side) plus the @connections pool.
ulimit -n "$(ulimit -Hn)"
PORT="$(free_port)"
start_stores "$TMP"
export LAIT_SIGNUP_LIMIT="1000000/60"
LAIT_BIND="127.0.0.1:$PORT" RUST_LOG="${RUST_LOG:-warn}" "$CARGO_TARGET_DIR/perf/lait-local" >"$TMP/lait-local.log" 2>&1 &
LOCAL_PID=$!
PIDS+=("$LOCAL_PID")
wait_port "$PORT" lait-local

say_machine
"$CARGO_TARGET_DIR/perf/chat-load" --base "http://127.0.0.1:$PORT" \
  --pids "lait-local=$LOCAL_PID,redis=$REDIS_PID,moto=$MOTO_PID" "$@"
