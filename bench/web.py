"""Drives the browser benches (bench/web.sh, bench/watch_requests.sh): a live on the stack
(lait-local, media node, ffmpeg publisher), then a browser probe in bench/web/ (probe.mjs by
default) with the CPU of every process sampled from /proc.

    python bench/web.py <runs> [probe file]"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from lait_e2e import REPO, Stack, finish, publisher  # noqa: E402

RUNS = sys.argv[1] if len(sys.argv) > 1 else "7"
PROBE = sys.argv[2] if len(sys.argv) > 2 else "probe.mjs"


def main():
    stack = Stack()
    channel, token, key = stack.streamer()
    publisher(stack.rtmp_url(key), 600, f"{stack.tmp}/publisher.log")
    live = stack.wait_live(channel, timeout=30)
    if not live:
        print("the live did not start")
        finish(stack)
        sys.exit(1)
    env = dict(os.environ, LAIT_BASE=stack.base, LAIT_CHANNEL=channel, LAIT_OWNER_TOKEN=token, LAIT_RUNS=RUNS)
    proc = subprocess.run(["node", "--experimental-websocket", os.path.join(REPO, "bench", "web", PROBE)], env=env, cwd=os.path.join(REPO, "web"))
    finish(stack)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
