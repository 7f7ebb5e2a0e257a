"""Drives bench/soak.sh: the whole platform under steady load for a long time, watching memory.

One stack as scripts/run builds it (lait-local, nginx-rtmp, the media agent; Redis and moto from
the wrapper), K 720p30 publishers (ffmpeg, as OBS), a chat room of N WebSocket clients (the
chat-load tool: receivers plus senders at R msg/s, every send acked or refused), and API traffic
as viewers make it (the directory, channel pages, search, each live's master and rendition
playlists) for SECONDS. Every 10 s the resident memory (VmRSS) of every process is sampled.

Prints a table per process: RSS at the start of the steady state, at the end, the highest, and
the trend (least-squares slope over the second half, MB per minute), plus CPU seconds; then the
errors: API answers that were not 2xx, chat sends lost or unanswered (from chat-load), lives that
stopped being listed. Exits 1 when a process died, an API answer was 5xx, or a live dropped.
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from lait_e2e import PROCS, TARGET, Stack, child_pids, cpu_seconds, finish, get_json, http, pids, publisher  # noqa: E402

SECONDS = int(os.environ.get("LAIT_SOAK_SECONDS", "600"))
STREAMS = int(os.environ.get("LAIT_SOAK_STREAMS", "2"))
CHATTERS = int(os.environ.get("LAIT_SOAK_CHATTERS", "500"))
RATE = os.environ.get("LAIT_SOAK_RATE", "20")
EVERY = 10


def rss_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def slope(points):
    """Least-squares slope of (t seconds, MB) points, in MB per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / var if var else 0.0


def api_traffic(base, channels, stop, counts):
    """What viewers' browsers ask for, round after round."""
    paths = ["/api/lives?limit=20", "/api/search?q=e2e"] + [f"/api/channels/{c}" for c in channels]
    while not stop.is_set():
        _, lives = get_json(f"{base}/api/lives?limit=100")
        urls = list(paths)
        for live in (lives or {}).get("items", []):
            urls.append(f"/api/lives/{live['id']}")
            root = live["playlist_url"].rsplit("/", 1)[0]
            urls += [live["playlist_url"], f"{root}/360p/index.m3u8"]
        for path in urls:
            status, _, _ = http("GET", base + path)
            counts[status // 100] = counts.get(status // 100, 0) + 1
            if status >= 400:
                # Paths by class, without query strings: which routes answered what.
                counts.setdefault(f"{status}", set()).add(path.split("?")[0])
        time.sleep(0.2)


def main():
    redis_pid = int(os.environ["LAIT_BENCH_REDIS_PID"])
    moto_pid = int(os.environ["LAIT_BENCH_MOTO_PID"])
    stack = Stack(local_env={"LAIT_SIGNUP_LIMIT": "1000000/60"})
    chans = [stack.streamer() for _ in range(STREAMS)]
    pubs = [publisher(stack.rtmp_url(key), SECONDS + 120, f"{stack.tmp}/pub{i}.log") for i, (_, _, key) in enumerate(chans)]
    lives = [stack.wait_live(c, timeout=60) for c, _, _ in chans]
    if not all(lives):
        print(f"only {sum(1 for l in lives if l)} of {STREAMS} lives became ready", flush=True)
        return 1
    local_pid = next(p.pid for p in PROCS if p.args[0].endswith("lait-local"))
    chat_log = open(f"{stack.tmp}/chat-load.out", "w")
    chat = subprocess.Popen(
        [f"{TARGET}/chat-load", "--base", stack.base, "--clients", str(CHATTERS), "--senders", "50",
         "--rate", RATE, "--seconds", str(SECONDS)],
        stdout=chat_log, stderr=subprocess.STDOUT,
    )
    PROCS.append(chat)
    # Let the room fill before the steady state starts.
    time.sleep(30)
    groups = {
        "lait-local": lambda: [local_pid],
        "agent": lambda: [stack.agent.pid],
        "ladder ffmpeg": lambda: pids(f"ffmpeg.*{stack.tmp}/spool"),
        "nginx": lambda: [w for m in pids(f"nginx.*{stack.prefix}") for w in [m] + child_pids(m)],
        "redis": lambda: [redis_pid],
        "moto": lambda: [moto_pid],
        "publisher ffmpeg": lambda: [p.pid for p in pubs],
        f"chat-load ({CHATTERS} clients)": lambda: [chat.pid],
    }
    stop, counts = threading.Event(), {}
    traffic = threading.Thread(target=api_traffic, args=(stack.base, [c for c, _, _ in chans], stop, counts))
    traffic.start()
    samples = {name: [] for name in groups}
    cpu0 = {name: sum(cpu_seconds(p) for p in f()) for name, f in groups.items()}
    dropped, t0 = [], time.monotonic()
    while time.monotonic() - t0 < SECONDS - 40:
        t = time.monotonic() - t0
        for name, f in groups.items():
            mb = [rss_mb(p) for p in f()]
            samples[name].append((t, sum(m for m in mb if m is not None)))
        listed = [stack.listed(c) for c, _, _ in chans]
        dropped += [(round(t), c) for (c, _, _), l in zip(chans, listed) if not l]
        time.sleep(EVERY)
    wall = time.monotonic() - t0
    cpu1 = {name: sum(cpu_seconds(p) for p in f()) for name, f in groups.items()}
    stop.set()
    traffic.join()
    chat.wait(timeout=SECONDS + 120)
    chat_log.close()
    chat_out = open(f"{stack.tmp}/chat-load.out").read()

    print(f"soak: {STREAMS} streams, {CHATTERS} chat clients at {RATE} msg/s, API traffic; "
          f"{wall:.0f} s sampled every {EVERY} s ({len(next(iter(samples.values())))} samples)")
    print(f"  {'process':26s} {'RSS start':>10s} {'end':>8s} {'max':>8s} {'trend (2nd half)':>18s} {'CPU s':>8s}")
    died = []
    for name, pts in samples.items():
        half = [p for p in pts if p[0] >= wall / 2]
        start, end, top = pts[0][1], pts[-1][1], max(v for _, v in pts)
        if end == 0:
            died.append(name)
        print(f"  {name:26s} {start:8.1f}MB {end:6.1f}MB {top:6.1f}MB {slope(half):+12.2f} MB/min {cpu1[name] - cpu0[name]:8.1f}")
    api_total = sum(v for k, v in counts.items() if isinstance(k, int))
    print(f"  API answers: {api_total} ({', '.join(f'{k}xx {v}' for k, v in sorted((k, v) for k, v in counts.items() if isinstance(k, int)))}); "
          f"by status: {[(k, sorted(v)[:3]) for k, v in counts.items() if isinstance(k, str)]}")
    print(f"  lives dropped from the directory: {len(dropped)} {dropped[:5]}")
    print("  chat-load:")
    for line in chat_out.splitlines():
        if line.startswith("  ") or line.startswith("chat"):
            print("  " + line)
    finish(stack)
    return 1 if died or counts.get(5) or dropped or chat.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
