#!/usr/bin/env bash
# Benchmark-length API fuzzing: tests/e2e/fuzz_api.py (schemathesis over every operation of the
# OpenAPI document, anonymous and with a bearer token, against lait-local on its own Redis and
# moto) with many more examples per operation than scripts/test gives it. The dev build, as
# scripts/test's: debug assertions on, so an integer overflow is a panic the suite reports.
# Prints each pass's operations, test cases, failures and seed; exits non-zero on any failure.
#   bench/fuzz_api.sh [examples per operation and phase, default 500]
#   LAIT_FUZZ_SEED=<seed from a run> bench/fuzz_api.sh 500   replays that run's generation
source "$(dirname "$0")/../scripts/lib.sh"
bench_scratch fuzz
install_all
say "building lait-local (dev profile, as scripts/test)"
(cd "$REPO" && cargo build -q -p lait-local --bins)
say_machine
export LAIT_E2E_PROFILE=debug
export LAIT_REDIS_SERVER="$(command -v redis-server)"
export LAIT_MOTO_SERVER="$VENV/bin/python $REPO/localstack/moto_server.py"
export LAIT_INIT_STORES="$VENV/bin/python $REPO/localstack/init/ready.d/10-lait-resources.py"
start=$SECONDS rc=0
LAIT_FUZZ_EXAMPLES="${1:-500}" "$VENV/bin/python" "$REPO/tests/e2e/fuzz_api.py" || rc=$?
say "took $((SECONDS - start)) s"
exit "$rc"
