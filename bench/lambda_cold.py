#!/usr/bin/env python3
"""Cold start of each Lambda bootstrap under the emulated Runtime API (tests/e2e/lambda_runtime.py).

For every function, N fresh processes: exec → first poll for an invocation (Lambda's init) and
exec → the answer to a first request (an HTTP API event for the HTTP functions, a `$connect` of
an anonymous viewer for chat-ws), the process's peak RSS (VmHWM) after that answer, and the
bootstrap's size. Prints medians and ranges.
  bench/lambda_cold.py [runs, default 10]   (LAIT_LAMBDA_DIR: cargo-lambda's output directory)
"""
import os
import statistics
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "e2e"))
from lambda_runtime import Connections, Runtime, bootstrap, http_event, lambda_env, ws_event  # noqa: E402

FIRST = {
    "auth": lambda: http_event("GET", "/api/users/00000000-0000-7000-8000-000000000000"),
    "channels": lambda: http_event("GET", "/api/lives"),
    "chat-api": lambda: http_event("GET", "/api/channels/00000000-0000-7000-8000-000000000000/chat"),
    "chat-ws": lambda: ws_event(f"c{uuid.uuid4().hex[:12]}=", "$connect", "CONNECT", query={"channel": "00000000-0000-7000-8000-000000000000"}),
}


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one(name, connections):
    rt = Runtime(name)
    env = lambda_env(name, rt, connections)
    start = time.monotonic()
    proc = subprocess.Popen([bootstrap(name)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        kind, _ = rt.invoke(FIRST[name]())
        answered = time.monotonic()
        rss = peak_rss_kb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        rt.server.shutdown()
        rt.server.server_close()
    if kind != "response":
        raise SystemExit(f"{name}: the first invocation failed")
    return (rt.first_poll - start) * 1000, (answered - start) * 1000, rss / 1024


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    connections = Connections()
    print(f"bootstraps: {os.environ.get('LAIT_LAMBDA_DIR') or 'workspace build (not cargo-lambda)'}; {runs} cold starts each")
    for name in FIRST:
        samples = [one(name, connections) for _ in range(runs)]
        init, first, rss = zip(*samples)
        size = os.path.getsize(bootstrap(name)) / 1e6
        print(
            f"{name:9} size {size:5.1f} MB | init median {statistics.median(init):5.1f} ms ({min(init):.1f}–{max(init):.1f})"
            f" | exec → first answer median {statistics.median(first):5.1f} ms ({min(first):.1f}–{max(first):.1f})"
            f" | peak RSS median {statistics.median(rss):4.1f} MB (max {max(rss):.1f})"
        )


if __name__ == "__main__":
    main()
