#!/usr/bin/env bash
# Benchmark: upload lag — a segment closed by ffmpeg → the segment and the playlist naming it are
# in S3 and so visible through the CDN path. Publishes a 720p30 stream for 60 s through the real
# stack (nginx-rtmp, agent, lait-local, moto on loopback) and prints p50/p99/max over every
# segment of every rendition, as the agent measures it (from the moment its recorder sees
# ffmpeg's playlist name the segment to the moment its own playlist upload returns).
#   bench/upload_lag.sh [seconds]
source "$(dirname "$0")/../scripts/lib.sh"
bench_scratch lag
install_all
build_run_profile
start_stores "$TMP"
say_machine
"$VENV/bin/python" "$REPO/bench/upload_lag.py" "${1:-60}"
