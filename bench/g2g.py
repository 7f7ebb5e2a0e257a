"""Drives bench/g2g.sh: glass-to-glass latency of the default and the low-latency profile.

Ground truth starts at the publisher: ffmpeg draws 32 boxes encoding the wall clock (epoch ms mod
2^32) into each frame *before* encoding (drawbox filters whose `enable` depends on the frame time
t; the clock at t is the wall time the publisher started + t, with -re pacing frames in real time).
The player (hls.js in headless Chromium, through lait-local's CDN path) reads the boxes off the
displayed frame once a second: latency = now − the clock in the frame. Everything in between —
encode, RTMP ingest, nginx, probe, the ladder, segmenting, upload, playlist refresh, download,
buffer — is inside the measurement. The clock drawn at stream time t is `start + t`, where
`start` is taken when the publisher is spawned; its start-up (a few hundred ms, varying per run)
would count as latency, so it is calibrated away: the publisher reports its encoded stream time
(`-progress`), and the smallest `wall clock − stream time` seen over the run is when t = 0 left
the encoder. Samples are corrected by that offset; encoding itself stays inside the measurement.
"""
import json
import os
import statistics
import subprocess
import sys
import threading
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


class Publisher:
    """ffmpeg publishing the clock; tracks when stream time 0 left its encoder."""

    def __init__(self, url, seconds, log, gop):
        self.start_ms = time.time() * 1000
        self.zero_ms = None
        self.proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-progress", "pipe:1", "-stats_period", "0.1",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
             "-vf", clock_filter(int(self.start_ms) % 4294967296), "-t", str(seconds),
             "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", str(gop), "-b:v", "2500k",
             "-c:a", "aac", "-b:a", "128k", "-f", "flv", url],
            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
        )
        threading.Thread(target=self._progress, daemon=True).start()

    def _progress(self):
        for line in self.proc.stdout:
            if line.startswith("out_time_us="):
                try:
                    stream_ms = int(line.split("=", 1)[1]) / 1000
                except ValueError:
                    continue
                if stream_ms > 0:
                    zero = time.time() * 1000 - stream_ms
                    self.zero_ms = zero if self.zero_ms is None else min(self.zero_ms, zero)

    def correction_s(self):
        """How much later than `start` stream time 0 really left the encoder."""
        return max(0.0, (self.zero_ms - self.start_ms) / 1000) if self.zero_ms else 0.0


TICK = os.sysconf("SC_CLK_TCK")
GROUPS = {
    "publisher ffmpeg": r"ffmpeg .*-re -progress",
    "ladder ffmpeg": r"ffmpeg .*spool",
    "media agent": r"lait-media-agent",
    "nginx-rtmp": r"nginx",
    "lait-local": r"lait-local",
    "moto": r"moto_server",
    "redis": r"redis-server",
    "chromium": r"chromium",
    "playwright (node)": r"probe\.mjs",
}


class CpuSampler(threading.Thread):
    """Every process's CPU on the box during the measurement, by group (pids seen first after the
    start count from their first sample)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.first, self.last, self.group = {}, {}, {}
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def sample(self):
        for name, pattern in GROUPS.items():
            out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
            for pid in (int(p) for p in out.split()):
                if pid == os.getpid() or self.group.get(pid, name) != name:
                    continue
                try:
                    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                used = (int(f[11]) + int(f[12])) / TICK
                self.group[pid] = name
                self.first.setdefault(pid, used)
                self.last[pid] = used

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(1.0)

    def report(self):
        self.stop.set()
        self.sample()
        wall = time.monotonic() - self.t0
        cores = {}
        for pid, name in self.group.items():
            cores[name] = cores.get(name, 0.0) + (self.last[pid] - self.first[pid]) / wall
        parts = ", ".join(f"{n} {c:.2f}" for n, c in sorted(cores.items(), key=lambda x: -x[1]))
        return f"CPU (cores, {wall:.0f} s): {parts}; total {sum(cores.values()):.2f} of {os.cpu_count()}"


def measure(stack, low_latency, gop):
    channel, token, key = stack.streamer()
    status, _, _ = http("PATCH", f"{stack.base}/api/channels/{channel}", {"low_latency": low_latency}, token)
    if status != 200:
        sys.exit(f"could not set low_latency={low_latency}: {status}")
    pub = Publisher(stack.rtmp_url(key), SECONDS + 40, f"{stack.tmp}/pub-{low_latency}-{gop}.log", gop)
    PROCS.append(pub.proc)
    live = stack.wait_live(channel, timeout=20)
    if not live:
        sys.exit("the live did not start")
    # The profile took effect: the live says so, and its playlists carry that target duration.
    _, _, master = http("GET", stack.base + live["playlist_url"])
    first = next(l for l in master.decode().splitlines() if l.endswith(".m3u8"))
    _, _, media = http("GET", stack.base + live["playlist_url"].rsplit("/", 1)[0] + "/" + first)
    want = "#EXT-X-TARGETDURATION:1\n" if low_latency else "#EXT-X-TARGETDURATION:2\n"
    if live["low_latency"] != low_latency or want not in media.decode():
        sys.exit(f"the low_latency={low_latency} profile did not take effect: {live['low_latency']}, {media.decode()[:120]!r}")
    # hls.js distance from the live edge: 1.5 segments in both profiles.
    sync, max_latency = ("0.75", "2.5") if low_latency else ("1.5", "4")
    sampler = CpuSampler()
    sampler.start()
    out = subprocess.run(
        ["node", os.path.join(HERE, "g2g", "probe.mjs"), stack.base + live["playlist_url"], str(SECONDS), sync, max_latency],
        capture_output=True, text=True, check=True,
    ).stdout
    cpu = sampler.report()
    # Whether the node passed the source through as the top rendition (the studio's health).
    _, _, health = http("GET", f"{stack.base}/api/lives/{live['id']}/health", token=token)
    passthrough = (json.loads(health).get("health") or {}).get("passthrough")
    pub.proc.terminate()
    correction = pub.correction_s()
    result = json.loads(out.strip().splitlines()[-1])
    samples = [x - correction for x in result["samples"]]
    if not samples:
        sys.exit("the player read no frame")
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    name = "low-latency (0.5 s segments)" if low_latency else "default (1 s segments)"
    top = "passed through" if passthrough else "re-encoded"
    print(f"glass-to-glass, {name}, keyframe every {gop} frames (top rendition {top}): {len(samples)} samples over {SECONDS} s: "
          f"p50 {statistics.median(samples):.2f} s, p95 {p95:.2f} s, min {samples[0]:.2f} s, max {samples[-1]:.2f} s "
          f"stalls after warm-up: {result['stalls']} (publisher start-up {correction:.2f} s calibrated away)\n  {cpu}", flush=True)


stack = Stack()
try:
    # What the studio tells a streamer: a keyframe every segment (1 s, or 0.5 s for low
    # latency); then low latency with a 1 s keyframe interval, which the node must re-encode.
    measure(stack, False, 30)
    measure(stack, True, 15)
    if os.environ.get("G2G_ALL"):
        measure(stack, True, 30)
finally:
    finish(stack)
