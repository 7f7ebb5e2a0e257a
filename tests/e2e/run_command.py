#!/usr/bin/env python3
"""End-to-end test of the README's run command (scripts/run).

Starts it on free ports in its own session, as a terminal would, waits for the base-URL line,
checks /health reports every dependency up, presses Ctrl-C (SIGINT to the process group) and
checks that nothing it started is left behind. Standard library only (and lait_e2e's helpers).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from lait_e2e import REPO, RESULTS, check, free_port, watch_log


def session_pids(sid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields[0] is state; session id is the 6th field after the command (index 3).
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return pids


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main():
    ports = {
        name: free_port()
        for name in ("LAIT_PORT", "LAIT_REDIS_PORT", "LAIT_MOTO_PORT", "LAIT_RTMP_PORT", "LAIT_AGENT_PORT", "LAIT_NGINX_HTTP_PORT")
    }
    state = tempfile.mkdtemp(prefix="lait-run-e2e.")
    # What the run command's processes log (a failed check shows their lines).
    for log in ("logs/lait-local.log", "logs/moto.log", "logs/demo-publisher.log", "media/agent.log", "media/nginx/logs/error.log"):
        watch_log(os.path.join(state, log), log)
    env = dict(os.environ, LAIT_STATE_DIR=state, **{k: str(v) for k, v in ports.items()})
    # The run command must not depend on the test harness's own store settings.
    for k in ("REDIS_URL", "AWS_ENDPOINT_URL"):
        env.pop(k, None)

    def child_setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(
        [os.path.join(REPO, "scripts", "run"), "--demo"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=child_setup,
    )
    base = f"http://127.0.0.1:{ports['LAIT_PORT']}"
    started = time.monotonic()
    seen_url = False
    output = []
    while time.monotonic() - started < 600:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.strip() == base:
            seen_url = True
            break
    elapsed = time.monotonic() - started
    check("run command prints the base URL on a line of its own", seen_url, "".join(output[-30:]))
    if not seen_url:
        proc.kill()
        return 1
    print(f"     up in {elapsed:.1f} s")

    status, body = get(base + "/health")
    check("GET /health is 200 with every dependency up", status == 200 and body["status"] == "ok", str(body))
    status, _ = get(base + "/api/nothing")
    check("unknown /api path is a 404", status == 404)
    index = urllib.request.urlopen(base + "/", timeout=10).read().decode()
    check("the web app is served", "Lait" in index)
    demo = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not demo:
        _, lives = get(base + "/api/lives")
        demo = next((l for l in lives["items"] if l["channel"]["name"] == "lait_demo"), None)
        time.sleep(0.5)
    check("--demo puts the demo channel live", demo is not None)
    if demo:
        status = 0
        while time.monotonic() < deadline + 10 and status != 200:
            try:
                status = urllib.request.urlopen(base + demo["playlist_url"], timeout=5).status
            except urllib.error.HTTPError:
                time.sleep(0.5)
        check("the demo stream's master playlist is served", status == 200)

    sid = os.getsid(proc.pid)
    before = session_pids(sid)
    check("run started its services in its session", len(before) >= 7, str(before))
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
        stopped = True
    except subprocess.TimeoutExpired:
        stopped = False
    check("Ctrl-C stops the run command", stopped)
    deadline = time.monotonic() + 10
    left = session_pids(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = session_pids(sid)
    check("no process is left behind", not left, f"left: {left}")
    busy = [p for p in ports.values() if socket.socket().connect_ex(("127.0.0.1", p)) == 0]
    check("every port is released", not busy, str(busy))
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    rc = main()
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or rc else 0)
