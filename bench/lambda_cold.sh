#!/usr/bin/env bash
# Benchmark: Lambda cold start and size. Builds every function as Lambda runs it
# (`cargo lambda build --release`: the release profile, LTO, stripped) and starts each bootstrap
# fresh N times under the emulated Runtime API of tests/e2e/lambda_runtime.py, against its own
# Redis + moto: size, init (exec → first poll), exec → first answer, peak RSS. Method:
# bench/lambda_cold.py.
#   bench/lambda_cold.sh [runs per function, default 10]
source "$(dirname "$0")/../scripts/lib.sh"
bench_scratch lambda
install_all
install_cargo_lambda
build_lambdas
start_stores "$TMP"
say_machine
LAIT_LAMBDA_DIR="$CARGO_TARGET_DIR/lambda" "$VENV/bin/python" "$REPO/bench/lambda_cold.py" "${1:-10}"
