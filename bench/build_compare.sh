#!/usr/bin/env bash
# Benchmark: dev build time and binary sizes of two revisions, each in its own worktree and empty
# target dir, as the scripts build (dev profile, CARGO_INCREMENTAL=0): the cold
# `cargo build --workspace`, then one file touched and built again (shared/src/lib.rs, then
# functions/channels/src/lib.rs), and the size of each function's and service's binary. One run
# each; run it on an idle machine.
#   bench/build_compare.sh BEFORE_REV [AFTER_REV, default HEAD]
source "$(dirname "$0")/../scripts/lib.sh"
[ $# -ge 1 ] || { echo "usage: bench/build_compare.sh BEFORE_REV [AFTER_REV]" >&2; exit 2; }
bench_scratch build
say_machine
export CARGO_INCREMENTAL=0
seconds() { # command…: wall seconds of a quiet cargo build
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "build failed: $*" >&2; exit 1; }
  e=$(date +%s%N)
  echo $(((e - s) / 1000000000)).$(((e - s) / 100000000 % 10))
}
printf '%-10s %-9s %-9s %-14s %-14s %s\n' rev commit "cold s" "touch shared" "touch channels" "sizes MB (auth channels chat-api chat-ws lait-local agent)"
for rev in "$1" "${2:-HEAD}"; do
  wt="$TMP/wt-$rev"
  git -C "$REPO" worktree add -q --detach "$wt" "$rev"
  export CARGO_TARGET_DIR="$TMP/target-$rev"
  cd "$wt"
  cold=$(seconds cargo build --workspace)
  touch shared/src/lib.rs
  shared=$(seconds cargo build --workspace)
  touch functions/channels/src/lib.rs
  channels=$(seconds cargo build --workspace)
  sizes=""
  for b in auth channels chat-api chat-ws lait-local lait-media-agent; do
    sizes+=" $(awk -v b="$(stat -c %s "$CARGO_TARGET_DIR/debug/$b")" 'BEGIN{printf "%.1f", b/1e6}')"
  done
  printf '%-10s %-9s %-9s %-14s %-14s%s\n' "$rev" "$(git rev-parse --short HEAD)" "$cold" "$shared" "$channels" "$sizes"
  cd "$REPO"
  git worktree remove --force "$wt"
done
