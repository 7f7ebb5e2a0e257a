#!/usr/bin/env bash
# Benchmark: the transcoding ladder's cost. Encodes 30 s of a 720p30 source (H.264 + AAC, as OBS
# sends) through the exact ffmpeg arguments the agent uses (all three rungs + thumbnails) and
# prints the speed (× real time) and the CPU cores used (user + system CPU time / wall time).
#   bench/transcode.sh [seconds]
source "$(dirname "$0")/../scripts/lib.sh"
SECONDS_OF_VIDEO="${1:-30}"
bench_scratch transcode
install_apt

say "making the source: ${SECONDS_OF_VIDEO} s of 720p30"
ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$SECONDS_OF_VIDEO" \
  -c:v libx264 -preset veryfast -g 30 -b:v 2500k -c:a aac -b:a 128k "$TMP/source.flv"

# Both ways the agent runs the ladder: every rung encoded, and the source's H.264 passed through
# as the top rung (what a 720p publisher with keyframes every segment gets).
for MODE in encode pass-through; do
ARGS=$(cd "$REPO" && cargo run -q -p lait-media-node --example print_ladder_args -- "$TMP/source.flv" "$TMP/out" "$MODE")
rm -rf "$TMP/out"; mkdir -p "$TMP/out/720p" "$TMP/out/480p" "$TMP/out/360p"
say "transcoding through the ladder ($MODE)"
python3 - "$SECONDS_OF_VIDEO" "$ARGS" "$MODE" <<'PY'
import json, os, resource, subprocess, sys, time
seconds = float(sys.argv[1]); args = json.loads(sys.argv[2]); mode = sys.argv[3]
# -re: read the input in real time, as the agent reads a live RTMP stream.
args = args[:args.index("-i")] + ["-re"] + args[args.index("-i"):]
t = time.monotonic()
subprocess.run(["ffmpeg"] + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
print(f"[{mode}] ladder 720p/480p/360p + thumbnails, {seconds:.0f} s of 720p30 read in real time: "
      f"wall {wall:.1f} s, CPU {cpu:.1f} s -> {cpu / wall:.2f} cores per live stream")
PY
python3 - "$SECONDS_OF_VIDEO" "$ARGS" "$MODE" <<'PY'
import json, resource, subprocess, sys, time
seconds = float(sys.argv[1]); args = json.loads(sys.argv[2]); mode = sys.argv[3]
t = time.monotonic()
subprocess.run(["ffmpeg"] + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.monotonic() - t
print(f"[{mode}] as fast as possible: {seconds / wall:.2f}x real time")
PY
done
