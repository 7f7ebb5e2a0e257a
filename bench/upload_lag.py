"""Drives bench/upload_lag.sh: one live stream, then the agent's per-segment lag figures."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from lait_e2e import Stack, finish, publisher  # noqa: E402

seconds = int(sys.argv[1])
stack = Stack(agent_env={"RUST_LOG": "info,lait_media_node=debug"})
channel, _, key = stack.streamer()
pub = publisher(stack.rtmp_url(key), seconds, f"{stack.tmp}/publisher.log")
pub.wait()
time.sleep(3)
log = open(f"{stack.tmp}/agent.log").read()
lags = sorted(int(m) for m in re.findall(r"segment published.*?lag_ms=(\d+)", log))
finish(stack)
if not lags:
    sys.exit("no segment was published")
q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))]  # noqa: E731
print(f"upload lag over {len(lags)} segments (3 renditions, {seconds} s): p50 {q(0.5)} ms, p99 {q(0.99)} ms, max {lags[-1]} ms")
