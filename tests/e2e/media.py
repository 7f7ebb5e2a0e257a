#!/usr/bin/env python3
"""End-to-end test of the media path: real nginx-rtmp, ffmpeg, the agent, lait-local, Redis, moto.

Publishes a synthetic 720p30 stream with ffmpeg (as OBS would), then checks through the CDN path
of lait-local that the live is listed, that master, rendition playlists and segments are served
with the right Content-Type and Cache-Control, that a wrong key is refused with nothing written,
that the stream key appears in no S3 key and no playlist, and that stopping the publisher ends the
live with a complete VOD.

Run by scripts/test with the venv's Python (boto3) and the store environment exported.
"""
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config

from lait_e2e import Stack, about, check, get_json, http, publisher, run, scene


def main():
    stack = Stack()
    base, rtmp, tmp = stack.base, stack.rtmp, stack.tmp

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"}))
    bucket = os.environ["LAIT_MEDIA_BUCKET"]

    def keys(prefix=""):
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    channel, _token, key = stack.streamer()

    # A wrong key: refused, nothing written.
    scene("a wrong key")
    before = set(keys())
    started = time.monotonic()
    bad = publisher(stack.rtmp_url("lait_not_a_key"), 10, f"{tmp}/bad-publisher.log")
    try:
        rc = bad.wait(timeout=8)
    except subprocess.TimeoutExpired:
        rc = None
    check("a wrong key is refused", rc not in (None, 0), f"rc={rc}")
    check("the refusal is quick", time.monotonic() - started < 5, f"{time.monotonic() - started:.1f} s")
    time.sleep(1)
    check("nothing is written for a refused publisher", set(keys()) == before, set(keys()) - before)

    # A valid key. Listed means playable: the moment the live appears in the directory, its
    # master, every rendition playlist and their segments answer 200.
    scene("a valid key", channel)
    pub = publisher(stack.rtmp_url(key), 40, f"{tmp}/publisher.log")
    t0 = time.monotonic()
    first, _ = stack.wait_listed(channel, 10, every=0.05)
    if check("the live is listed within 10 s", first):
        statuses = []
        status, _, m = http("GET", base + first["playlist_url"])
        statuses.append(status)
        froot = first["playlist_url"].rsplit("/", 1)[0]
        for r in re.findall(r"^(\S+)/index\.m3u8$", m.decode(), re.M):
            status, _, text = http("GET", f"{base}{froot}/{r}/index.m3u8")
            statuses.append(status)
            seg = re.search(r"^(seg_\S+\.ts)$", text.decode(), re.M)
            statuses.append(http("GET", f"{base}{froot}/{r}/{seg.group(1)}")[0] if seg else 404)
        check("at first listing the master, every rendition playlist and a segment of each answer 200", len(statuses) == 7 and all(s == 200 for s in statuses), statuses)
        _, detail = get_json(f"{base}/api/lives/{first['id']}")
        check("the listed live says ready", detail.get("ready") is True, detail)
    live = stack.wait_live(channel, timeout=10)
    ready = time.monotonic() - t0
    check("within 10 s the live is listed and its master playlist is served", live, f"after {ready:.1f} s")
    if not live:
        return stack
    status, headers, master = http("GET", base + live["playlist_url"])
    print(f"     master playlist after {ready:.1f} s")
    check("master playlist headers", headers.get("content-type") == "application/vnd.apple.mpegurl" and "max-age=1" in headers.get("cache-control", ""), headers)
    live_id = live["id"]
    about(live_id)
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
        segs = re.findall(r"^(seg_\d+_\d+ms(?:_d)?\.ts)$", text, re.M)
        for seg in segs:
            status, headers, body = http("GET", f"{base}{root}/{r}/{seg}")
            ok = status == 200 and headers.get("content-type") == "video/mp2t" and "immutable" in headers.get("cache-control", "") and len(body) > 1000
            if not ok:
                check(f"{r}/{seg} served", False, (status, headers))
                break
        else:
            check(f"{r}: all {len(segs)} listed segments served as video/mp2t, immutable", len(segs) > 0)

    # The thumbnail: the directory names it once the first one is in place (written at the
    # start of the stream), and then it is served.
    deadline = time.monotonic() + 12
    thumb = None
    while time.monotonic() < deadline:
        _, lives = get_json(f"{base}/api/lives?limit=100")
        url = next((l["thumbnail_url"] for l in lives["items"] if l["id"] == live["id"]), None)
        if url:
            status, headers, body = http("GET", f"{base}{url}")
            check("a thumbnail the directory names is there (no 404 window)", status == 200, status)
            thumb = (headers, body)
            break
        time.sleep(0.5)
    check("a thumbnail is served as image/jpeg", thumb and thumb[0].get("content-type") == "image/jpeg" and thumb[1][:2] == b"\xff\xd8")

    # Defect: `POST <agent>/hooks/publish_done name=<live id>` ended someone else's live while
    # the encoder kept publishing. The hooks need nginx's per-boot token now, and even with it the
    # agent ends only a stream it accepted (by its key), not a name it never issued.
    agent = f"http://127.0.0.1:{stack.agent_port}"
    form = urllib.parse.urlencode({"call": "publish_done", "name": live_id, "addr": "127.0.0.1"}).encode()

    def post_form(url):
        req = urllib.request.Request(url, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=5) as res:
                return res.status
        except urllib.error.HTTPError as e:
            return e.code

    def sequence():
        _, _, text = http("GET", f"{base}{root}/720p/index.m3u8")
        return int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text.decode()).group(1))

    seq0 = sequence()
    codes = [post_form(f"{agent}/hooks/publish_done"), post_form(f"{agent}/hooks/{'0' * 64}/publish_done")]
    check("hook calls without the per-boot token are refused (404)", codes == [404, 404], codes)
    code = post_form(f"{agent}/hooks/{stack.hook_token}/publish_done")
    time.sleep(4)
    _, still = get_json(f"{base}/api/lives/{live_id}")
    check(
        "a live id posted as a stream name ends nothing: the live stays live and keeps publishing",
        code == 200 and still["status"] == "live" and sequence() > seq0,
        (code, still.get("status")),
    )

    # Stop publishing: the live ends and its VOD is complete.
    scene("the end and the VOD", channel, live_id)
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
        vod_renditions = re.findall(r"^(\S+)/vod\.m3u8$", vod_master.decode(), re.M)
        check("the VOD master is served and names every rendition", status == 200 and sorted(vod_renditions) == ["360p", "480p", "720p"], (status, vod_renditions))
        missing = []
        for r in vod_renditions:
            _, _, text = http("GET", f"{base}{root}/{r}/vod.m3u8")
            text = text.decode()
            check(f"{r} VOD is a complete playlist", "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST"), text[-200:])
            for seg in re.findall(r"^(seg_\d+_\d+ms(?:_d)?\.ts)$", text, re.M):
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
    return stack


if __name__ == "__main__":
    run(main)
