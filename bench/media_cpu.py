"""Drives bench/media_cpu.sh: CPU of every process of the media path per live stream, and whether
every rendition kept real time, for K simultaneous 720p30 publishers.

For each K: a fresh stack (lait-local, nginx-rtmp, the agent; Redis and moto from the wrapper),
K publishers (ffmpeg, as OBS), wait until all K are listed (ready), then for SECONDS sample the
CPU time (utime + stime from /proc, children included for nginx workers) of: the agent, the ladder
ffmpegs, the publishers, moto, lait-local, nginx, Redis. Meanwhile every rendition playlist of
every live is polled each 250 ms: real time holds when each got a new segment at least every
1.5 × TARGETDURATION and the count of new segments is ≥ 90 % of SECONDS / segment length.
"""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from lait_e2e import PROCS, Stack, child_pids, cpu_seconds, finish, get_json, http, pids, publisher  # noqa: E402

SECONDS = int(sys.argv[1])
KS = [int(k) for k in sys.argv[2:]] or [1]
def group_cpu(groups):
    return {name: sum(cpu_seconds(p) for p in ps) for name, ps in groups.items()}


def watch_playlists(base, lives, stop, result):
    """Per rendition: when each new segment first appeared."""
    seen = {}
    while not stop.is_set():
        for live in lives:
            root = live["playlist_url"].rsplit("/", 1)[0]
            for r in ("720p", "480p", "360p"):
                status, _, text = http("GET", f"{base}{root}/{r}/index.m3u8")
                if status != 200:
                    continue
                last = re.findall(r"^(seg_\S+\.ts)$", text.decode(), re.M)[-1:]
                key = (live["id"], r)
                if last and (key not in seen or seen[key][-1][1] != last[0]):
                    seen.setdefault(key, []).append((time.monotonic(), last[0]))
        time.sleep(0.25)
    result.update(seen)


def run(k, redis_pid, moto_pid):
    stack = Stack()
    chans = [stack.streamer() for _ in range(k)]
    pubs = [publisher(stack.rtmp_url(key), SECONDS + 60, f"{stack.tmp}/pub{i}.log") for i, (_, _, key) in enumerate(chans)]
    lives = [stack.wait_live(c, timeout=40) for c, _, _ in chans]
    if not all(lives):
        print(f"K={k}: only {sum(1 for l in lives if l)} of {k} lives became ready", flush=True)
        return stack
    time.sleep(5)
    groups = {
        "agent": [stack.agent.pid],
        "ladder ffmpeg": pids(f"ffmpeg.*{stack.tmp}/spool"),
        "publisher ffmpeg": [p.pid for p in pubs],
        "moto": [moto_pid],
        "lait-local": [p.pid for p in PROCS if p.args[0].endswith("lait-local")],
        "nginx": [w for m in pids(f"nginx.*{stack.prefix}") for w in [m] + child_pids(m)],
        "redis": [redis_pid],
    }
    stop, seen = threading.Event(), {}
    watcher = threading.Thread(target=watch_playlists, args=(stack.base, lives, stop, seen))
    watcher.start()
    before, t0 = group_cpu(groups), time.monotonic()
    time.sleep(SECONDS)
    after, wall = group_cpu(groups), time.monotonic() - t0
    stop.set()
    watcher.join()
    seg = 0.5 if lives[0]["low_latency"] else 1.0
    target = 1 if seg == 0.5 else 2
    worst_gap, fewest = 0.0, None
    for key, events in seen.items():
        times = [t for t, _ in events]
        gaps = [b - a for a, b in zip(times, times[1:])]
        worst_gap = max([worst_gap] + gaps)
        fewest = len(events) if fewest is None else min(fewest, len(events))
    expected = wall / seg
    kept = len(seen) == 3 * k and fewest is not None and fewest >= 0.9 * expected and worst_gap <= 1.5 * target
    total = 0.0
    print(f"K={k} ({wall:.0f} s): cores used (per stream)", flush=True)
    for name in groups:
        used = (after[name] - before[name]) / wall
        total += used
        print(f"  {name:17s} {used:6.3f}  ({used / k:.3f} per stream)")
    print(f"  {'total':17s} {total:6.3f}  of {os.cpu_count()} cores")
    print(f"  real time: {'held' if kept else 'NOT held'} - renditions seen {len(seen)}/{3 * k}, "
          f"fewest new segments {fewest} (expected ~{expected:.0f}), worst gap {worst_gap:.2f} s (limit {1.5 * target:.1f} s)", flush=True)
    return stack


redis_pid = int(os.environ["LAIT_BENCH_REDIS_PID"])
moto_pid = int(os.environ["LAIT_BENCH_MOTO_PID"])
for k in KS:
    stack = run(k, redis_pid, moto_pid)
    finish(stack)
    PROCS.clear()
    time.sleep(3)
