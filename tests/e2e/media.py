#!/usr/bin/env python3
"""End-to-end test of the media path: real nginx-rtmp, ffmpeg, the agent, lait-local, Redis, moto.

Publishes a synthetic 720p30 stream with ffmpeg (as OBS would), then checks through the CDN path
of lait-local that the live is listed, that master, rendition playlists and segments are served
with the right Content-Type and Cache-Control, that a wrong key is refused with nothing written,
that the stream key appears in no S3 key and no playlist, and that stopping the publisher ends the
live with a complete VOD.

Run by scripts/test with the venv's Python (boto3) and the store environment exported.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/cache/lait/target")
RESULTS = []
PROCS = []


def check(name, cond, detail=""):
    RESULTS.append(bool(cond))
    print(f"{'ok  ' if cond else 'FAIL'} {name}{(' - ' + str(detail)[:600]) if detail and not cond else ''}", flush=True)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def spawn(args, log, env=None):
    p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env or os.environ)
    PROCS.append(p)
    return p


def http(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(url, token=None):
    status, _, body = http("GET", url, token=token)
    return status, (json.loads(body) if body else None)


def publisher(rtmp_url, seconds, log):
    return spawn(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-b:v", "2500k",
            "-c:a", "aac", "-b:a", "128k", "-f", "flv", rtmp_url,
        ],
        log,
    )


def main():
    tmp = tempfile.mkdtemp(prefix="lait-media-e2e.")
    port, rtmp, nginx_http, agent_port = free_port(), free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, LAIT_BIND=f"127.0.0.1:{port}", LAIT_WEB_DIR=os.path.join(REPO, "web", "dist"))
    spawn([f"{TARGET}/debug/lait-local"], f"{tmp}/lait-local.log", env)
    wait_port(port)

    prefix = f"{tmp}/nginx"
    subprocess.run(
        ["bash", f"{REPO}/media-node/render-nginx.sh", prefix, f"127.0.0.1:{rtmp}", str(nginx_http), f"127.0.0.1:{agent_port}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    agent_env = dict(
        os.environ,
        LAIT_CHANNELS_URL=base,
        LAIT_AGENT_BIND=f"127.0.0.1:{agent_port}",
        LAIT_RTMP_PORT=str(rtmp),
        LAIT_NGINX_HTTP_PORT=str(nginx_http),
        LAIT_SPOOL_DIR=f"{tmp}/spool",
        LAIT_HEARTBEAT_SECS="2",
    )
    spawn([f"{TARGET}/debug/lait-media-agent"], f"{tmp}/agent.log", agent_env)
    wait_port(agent_port)
    spawn(["nginx", "-p", prefix, "-c", f"{prefix}/nginx.conf", "-e", f"{prefix}/logs/error.log"], f"{tmp}/nginx.log")
    wait_port(rtmp)

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"}))
    bucket = os.environ["LAIT_MEDIA_BUCKET"]

    def keys(prefix=""):
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    tag = os.urandom(4).hex()
    email = f"media-{tag}@example.com"
    status, _, body = http("POST", f"{base}/api/auth/signup", {"email": email, "nickname": f"media_{tag}", "password": "correct horse battery"})
    assert status == 201, body
    channel = json.loads(body)["channel_id"]
    _, _, body = http("POST", f"{base}/api/auth/login", {"email": email, "password": "correct horse battery"})
    token = json.loads(body)["access_token"]
    _, mine = get_json(f"{base}/api/channels/mine", token)
    key = mine["stream_key"]

    # A wrong key: refused, nothing written.
    before = set(keys())
    started = time.monotonic()
    bad = publisher(f"rtmp://127.0.0.1:{rtmp}/live/lait_not_a_key", 10, f"{tmp}/bad-publisher.log")
    try:
        rc = bad.wait(timeout=8)
    except subprocess.TimeoutExpired:
        rc = None
    check("a wrong key is refused", rc not in (None, 0), f"rc={rc}")
    check("the refusal is quick", time.monotonic() - started < 5, f"{time.monotonic() - started:.1f} s")
    time.sleep(1)
    check("nothing is written for a refused publisher", set(keys()) == before, set(keys()) - before)

    # A valid key.
    pub = publisher(f"rtmp://127.0.0.1:{rtmp}/live/{key}", 40, f"{tmp}/publisher.log")
    t0 = time.monotonic()
    live = None
    master = None
    while time.monotonic() - t0 < 10:
        _, lives = get_json(f"{base}/api/lives?limit=100")
        live = next((l for l in lives["items"] if l["channel"]["id"] == channel), None)
        if live:
            status, headers, master = http("GET", base + live["playlist_url"])
            if status == 200:
                break
        time.sleep(0.25)
    ready = time.monotonic() - t0
    check("within 10 s the live is listed and its master playlist is served", live and master and b"#EXT-X-STREAM-INF" in master, f"after {ready:.1f} s")
    if not (live and master):
        return finish(tmp)
    print(f"     master playlist after {ready:.1f} s")
    check("master playlist headers", headers.get("content-type") == "application/vnd.apple.mpegurl" and "max-age=1" in headers.get("cache-control", ""), headers)
    live_id = live["id"]
    root = live["playlist_url"].rsplit("/", 1)[0]
    renditions = re.findall(r"^(\S+)/index\.m3u8$", master.decode(), re.M)
    check("three renditions for a 720p source", sorted(renditions) == ["360p", "480p", "720p"], renditions)
    check("master has BANDWIDTH, RESOLUTION, CODECS", all(k in master.decode() for k in ("BANDWIDTH=", "RESOLUTION=1280x720", "CODECS=")))

    time.sleep(4)
    for r in renditions:
        status, headers, text = http("GET", f"{base}{root}/{r}/index.m3u8")
        text = text.decode()
        check(f"{r} playlist served", status == 200 and headers.get("cache-control") == "public, max-age=1", (status, headers))
        target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text).group(1))
        durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text)]
        check(f"{r} segment durations ≤ TARGETDURATION", durations and all(d <= target for d in durations), (target, durations))
        segs = re.findall(r"^(seg_\d+\.ts)$", text, re.M)
        for seg in segs:
            status, headers, body = http("GET", f"{base}{root}/{r}/{seg}")
            ok = status == 200 and headers.get("content-type") == "video/mp2t" and "immutable" in headers.get("cache-control", "") and len(body) > 1000
            if not ok:
                check(f"{r}/{seg} served", False, (status, headers))
                break
        else:
            check(f"{r}: all {len(segs)} listed segments served as video/mp2t, immutable", len(segs) > 0)

    # The thumbnail (the first one is written at the start of the stream).
    deadline = time.monotonic() + 12
    thumb = None
    while time.monotonic() < deadline:
        status, headers, body = http("GET", f"{base}{live['thumbnail_url']}")
        if status == 200:
            thumb = (headers, body)
            break
        time.sleep(0.5)
    check("a thumbnail is served as image/jpeg", thumb and thumb[0].get("content-type") == "image/jpeg" and thumb[1][:2] == b"\xff\xd8")

    # Stop publishing: the live ends and its VOD is complete.
    pub.send_signal(signal.SIGINT)
    pub.wait(timeout=10)
    t1 = time.monotonic()
    ended = None
    while time.monotonic() - t1 < 20:
        _, ended = get_json(f"{base}/api/lives/{live_id}")
        if ended["status"] == "ended" and ended.get("playlist_url"):
            break
        time.sleep(0.5)
    check("stopping the publisher ends the live", ended and ended["status"] == "ended", ended)
    check("the live has a VOD", ended and (ended.get("playlist_url") or "").endswith("/vod.m3u8"), ended)
    if ended and ended.get("playlist_url"):
        status, _, vod_master = http("GET", base + ended["playlist_url"])
        missing = []
        for r in re.findall(r"^(\S+)/vod\.m3u8$", vod_master.decode(), re.M):
            _, _, text = http("GET", f"{base}{root}/{r}/vod.m3u8")
            text = text.decode()
            check(f"{r} VOD is a complete playlist", "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST"), text[-200:])
            for seg in re.findall(r"^(seg_\d+\.ts)$", text, re.M):
                status, _, _ = http("GET", f"{base}{root}/{r}/{seg}")
                if status != 200:
                    missing.append(f"{r}/{seg}")
        check("every VOD segment exists", not missing, missing)
        _, vods = get_json(f"{base}/api/channels/{channel}/vods")
        check("the VOD is listed on the channel", any(v["id"] == live_id for v in vods["items"]))

    # The key is nowhere in storage.
    all_keys = keys()
    check("the stream key appears in no S3 key", not any(key in k or key[5:] in k for k in all_keys))
    leaked = []
    for k in all_keys:
        if k.startswith(f"live/{channel}/") and k.endswith(".m3u8"):
            body = s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode()
            if key[5:] in body:
                leaked.append(k)
    check("the stream key appears in no playlist", not leaked, leaked)
    return finish(tmp)


def finish(tmp):
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
    for p in PROCS:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    if not all(RESULTS):
        for log in ("agent.log", "lait-local.log", "nginx/logs/error.log"):
            path = os.path.join(tmp, log)
            if os.path.exists(path):
                print(f"--- {log} (tail)")
                print("".join(open(path).readlines()[-25:]))
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    except Exception as e:  # noqa: BLE001 - report and fail, never hang
        check("the media e2e ran to the end", False, repr(e))
        finish(tempfile.gettempdir())
        rc = 1
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or rc else 0)
