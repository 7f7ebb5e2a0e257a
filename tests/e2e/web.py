#!/usr/bin/env python3
"""Browser end-to-end test of the web app against the real stack: lait-local, Redis, moto,
nginx-rtmp, the media agent and an ffmpeg publisher, driven through Debian's Chromium by
playwright-core (web/e2e/app.mjs, which prints one line per check).

Run by scripts/test with the venv's Python and the store environment exported.
"""
import os
import subprocess

from lait_e2e import REPO, Stack, check, run, scene


def main():
    # Short-lived access tokens: every page of the suite lives through several silent refreshes,
    # so a refresh that fails shows up as a 401 in the happy-path check.
    stack = Stack(local_env={"LAIT_ACCESS_TOKEN_TTL_SECS": "20"})
    env = dict(
        os.environ,
        LAIT_BASE=stack.base,
        LAIT_RTMP_PORT=str(stack.rtmp),
        LAIT_E2E_TMP=stack.tmp,
    )
    proc = subprocess.Popen(
        ["node", os.path.join(REPO, "web", "e2e", "app.mjs")],
        env=env, cwd=os.path.join(REPO, "web"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    checks = 0
    for line in proc.stdout:
        line = line.rstrip("\n")
        if line.startswith("# section: "):
            scene(line[11:])
            print(line, flush=True)
        elif line.startswith("ok - "):
            check(line[5:], True)
            checks += 1
        elif line.startswith("not ok - "):
            name, _, detail = line[9:].partition(" :: ")
            check(name, False, detail)
            checks += 1
        else:
            print(line, flush=True)
    proc.wait(timeout=60)
    check("the browser suite finished", proc.returncode == 0 and checks > 0, f"exit {proc.returncode}")
    return stack


if __name__ == "__main__":
    run(main)
