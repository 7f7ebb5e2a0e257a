"""Drives bench/g2g.sh: glass-to-glass latency of the default and the low-latency profile.

Ground truth starts at the publisher: ffmpeg draws 32 boxes encoding the wall clock (epoch ms mod
2^32) into each frame *before* encoding (drawbox filters whose `enable` depends on the frame time
t; the clock at t is the wall time the publisher started + t, with -re pacing frames in real time).
The player (hls.js in headless Chromium, through lait-local's CDN path) reads the boxes off the
displayed frame once a second: latency = now − the clock in the frame. Everything in between —
encode, RTMP ingest, nginx, probe, the ladder, segmenting, upload, playlist refresh, download,
buffer — is inside the measurement. The publisher's start-up time is counted as latency too
(the clock in the frame is set when the process is spawned), so figures err high, not low.
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from lait_e2e import PROCS, Stack, finish, http  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60


def clock_filter(start_ms):
    boxes = ["drawbox=x=0:y=0:w=1180:h=52:color=black:t=fill"]
    for k in range(32):
        bit = f"mod(floor(mod({start_ms}+t*1000\\,4294967296)/{2 ** k})\\,2)"
        boxes.append(f"drawbox=x={10 + k * 36}:y=10:w=32:h=32:color=white:t=fill:enable='{bit}'")
    return ",".join(boxes)


def publish(url, seconds, log):
    start_ms = int(time.time() * 1000) % 4294967296
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-vf", clock_filter(start_ms), "-t", str(seconds),
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-b:v", "2500k",
         "-c:a", "aac", "-b:a", "128k", "-f", "flv", url],
        stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )


def measure(stack, low_latency):
    channel, token, key = stack.streamer()
    http("PATCH", f"{stack.base}/api/channels/{channel}", {"low_latency": low_latency}, token)
    pub = publish(stack.rtmp_url(key), SECONDS + 40, f"{stack.tmp}/pub-{low_latency}.log")
    PROCS.append(pub)
    live = stack.wait_live(channel, timeout=20)
    if not live:
        sys.exit("the live did not start")
    sync, max_latency = ("1.0", "3") if low_latency else ("1.5", "4")
    out = subprocess.run(
        ["node", os.path.join(HERE, "g2g", "probe.mjs"), stack.base + live["playlist_url"], str(SECONDS), sync, max_latency],
        capture_output=True, text=True, check=True,
    ).stdout
    pub.terminate()
    samples = json.loads(out.strip().splitlines()[-1])
    if not samples:
        sys.exit("the player read no frame")
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    name = "low-latency (0.5 s segments)" if low_latency else "default (1 s segments)"
    print(f"glass-to-glass, {name}: {len(samples)} samples over {SECONDS} s: "
          f"p50 {statistics.median(samples):.2f} s, p95 {p95:.2f} s, min {samples[0]:.2f} s, max {samples[-1]:.2f} s", flush=True)


stack = Stack()
try:
    measure(stack, False)
    measure(stack, True)
finally:
    finish(stack)
