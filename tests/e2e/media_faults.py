#!/usr/bin/env python3
"""Fault tests of the media node, with the real stack (nginx-rtmp, ffmpeg, agent, lait-local).

1. S3 unreachable for 20 s mid-stream: the agent reaches moto through a TCP proxy this test
   pauses (moto keeps data in memory, so the path is cut instead of the server). Afterwards every
   segment number is present and the playlists are consistent.
2. ffmpeg killed mid-stream: it is restarted, numbering continues, the gap is marked with
   #EXT-X-DISCONTINUITY.
3. The agent killed: the reaper ends the live.
4. The agent killed and restarted: the new process ends the live left in its spool at once.
5. A ladder behind real time (a starved transcoder, simulated by ffmpeg reading its input at
   0.6x): when the publisher stops, the VOD still holds everything it sent.
6. channels slow to answer the publish call (1.5 s), then the answer to the first call lost:
   the publisher goes live all the same, with the live that first call started.
"""
import os
import re
import signal
import subprocess
import time

import boto3
from botocore.config import Config

from lait_e2e import TARGET, Proxy, Stack, about, check, free_port, get_json, http, poll, publisher, run, scene, spawn, wait_port


SEGMENT = re.compile(r"^seg_(\d+)_\d+ms(?:_d)?\.ts$", re.M)


def seqs(playlist):
    return [int(n) for n in SEGMENT.findall(playlist)]


def wait_sequence(url, target, timeout, every):
    """Polls a live playlist until its newest segment number reaches `target`: (the seconds that
    took, or None; the playlist last read)."""
    last = ""

    def reached():
        nonlocal last
        _, _, text = http("GET", url)
        last = text.decode()
        return max(seqs(last)) >= target

    done, took = poll(reached, timeout, every)
    return (took if done else None), last


def uris(playlist):
    return [m.group(0) for m in SEGMENT.finditer(playlist)]


def s3_segments(s3, bucket, prefix):
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        names += [o["Key"].rsplit("/", 1)[1] for o in page.get("Contents", [])]
    return sorted((n for n in names if SEGMENT.match(n)), key=lambda n: int(n.split("_")[1]))


def ffmpeg_pids(marker):
    out = subprocess.run(["pgrep", "-f", f"ffmpeg.*{marker}"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def main():
    moto_port = int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    proxy = Proxy(moto_port)
    stack = Stack(agent_env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}, local_env={"LAIT_REAPER_INTERVAL_SECS": "2"})
    base = stack.base
    stack.s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"}))
    stack.bucket = os.environ["LAIT_MEDIA_BUCKET"]

    channel, _, key = stack.streamer()
    scene("1. S3 unreachable", channel)
    pub = publisher(stack.rtmp_url(key), 75, f"{stack.tmp}/publisher.log")
    live = stack.wait_live(channel, timeout=15)
    if not check("the live starts", live):
        return stack
    about(live["id"])
    root = live["playlist_url"].rsplit("/", 1)[0]
    time.sleep(4)

    # 1. S3 unreachable for 20 s.
    _, _, before = http("GET", f"{base}{root}/720p/index.m3u8")
    last_before = max(seqs(before.decode()))
    proxy.pause()
    time.sleep(20)
    _, _, during = http("GET", f"{base}{root}/720p/index.m3u8")
    check("nothing new is published while S3 is unreachable", max(seqs(during.decode())) <= last_before + 1)
    proxy.resume()
    caught_up, text = wait_sequence(f"{base}{root}/720p/index.m3u8", last_before + 20, 20, every=0.5)
    check("after S3 returns the playlist catches up", caught_up is not None, text[-300:])
    if caught_up is not None:
        print(f"     caught up {caught_up:.1f} s after S3 came back")
    for r in ("720p", "480p", "360p"):
        _, _, text = http("GET", f"{base}{root}/{r}/index.m3u8")
        text = text.decode()
        numbers = seqs(text)
        # Media sequence numbers count listed segments; file numbers only increase.
        consistent = numbers and numbers == sorted(set(numbers)) and "#EXT-X-TARGETDURATION:2\n" in text
        check(f"{r} live playlist is consistent after the outage", consistent, text[-400:])

    # 2. ffmpeg killed.
    scene("2. ffmpeg killed", channel, live["id"])
    pids = ffmpeg_pids(live["id"])
    check("the agent's ffmpeg is running", pids, pids)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    _, _, text = http("GET", f"{base}{root}/720p/index.m3u8")
    last = max(seqs(text.decode()))
    resumed, _ = wait_sequence(f"{base}{root}/720p/index.m3u8", last + 3, 15, every=0.25)
    check("the stream resumes after ffmpeg is killed", resumed is not None)
    if resumed is not None:
        print(f"     resumed {resumed:.1f} s after the kill")
    time.sleep(3)

    pub.send_signal(signal.SIGINT)
    pub.wait(timeout=10)
    ended, _ = stack.wait_ended(live["id"], 20)
    check("the live ends", ended)
    deadline = time.monotonic() + 10
    while ended and not ended.get("playlist_url") and time.monotonic() < deadline:
        time.sleep(0.5)
        _, ended = get_json(f"{base}/api/lives/{live['id']}")
    if check("the live has a VOD", ended and ended.get("playlist_url")):
        status, _, _ = http("GET", base + ended["playlist_url"])
        check("the VOD master is served", status == 200, status)
        for r in ("720p", "480p", "360p"):
            status, _, text = http("GET", f"{base}{root}/{r}/vod.m3u8")
            text = text.decode()
            listed = uris(text)
            # The VOD is exactly what reached S3: nothing lost in the outage or the kill.
            stored = s3_segments(stack.s3, stack.bucket, f"{root.split('/media/', 1)[1]}/{r}/")
            check(f"{r} VOD lists every segment that reached S3, in order", status == 200 and listed and listed == stored,
                  (len(listed), len(stored), sorted(set(stored) ^ set(listed))[:5]))
            check(f"{r} VOD marks the ffmpeg restart", "#EXT-X-DISCONTINUITY" in text)
            missing = [u for u in listed if http("GET", f"{base}{root}/{r}/{u}")[0] != 200]
            check(f"{r} VOD: all {len(listed)} segments are served", not missing, missing[:5])

    # 3. The agent killed: the reaper ends the live.
    channel2, _, key2 = stack.streamer()
    scene("3. the agent killed", channel2)
    pub2 = publisher(stack.rtmp_url(key2), 60, f"{stack.tmp}/publisher2.log")
    live2 = stack.wait_live(channel2, timeout=15)
    if check("a second live starts", live2):
        about(live2["id"])
        stack.agent.send_signal(signal.SIGKILL)
        stack.agent.wait()
        ended, waited = stack.wait_ended(live2["id"], 45)
        check("the reaper ends the live of a dead agent", ended and ended.get("end_reason") == "heartbeat timeout", ended)
        print(f"     ended {waited:.1f} s after the agent died (heartbeat timeout 30 s)")
        # Not before the heartbeat timeout (the last heartbeat is ≤ 2 s old at the kill).
        check("... after the heartbeat timeout and within 35 s of the agent's death", ended and 27 <= waited <= 35, f"{waited:.1f} s")
    pub2.kill()
    for pid in ffmpeg_pids(stack.tmp):
        os.kill(pid, signal.SIGKILL)

    # 4. The agent killed and restarted: the new process ends the live it finds in its spool.
    channel3, _, key3 = stack.streamer()
    scene("4. the agent killed and restarted", channel3)
    stack.agent = spawn([f"{TARGET}/lait-media-agent"], f"{stack.tmp}/agent2.log", stack.agent_env)
    wait_port(stack.agent_port)
    pub3 = publisher(stack.rtmp_url(key3), 60, f"{stack.tmp}/publisher3.log")
    live3 = stack.wait_live(channel3, timeout=15)
    if check("a third live starts", live3):
        about(live3["id"])
        time.sleep(5)
        root3 = live3["playlist_url"].rsplit("/", 1)[0]
        stack.agent.send_signal(signal.SIGKILL)
        stack.agent.wait()
        stack.agent = spawn([f"{TARGET}/lait-media-agent"], f"{stack.tmp}/agent3.log", stack.agent_env)
        ended, waited = stack.wait_ended(live3["id"], 15)
        check("a restarted agent ends the lives it had at once", ended and waited < 10, f"{waited:.1f} s")
        # The recording survives the crash: a VOD of every segment that reached S3.
        vod_url = (ended or {}).get("playlist_url")
        if check("the crashed live has a VOD", vod_url and vod_url.endswith("/vod.m3u8"), ended):
            for r in ("720p", "480p", "360p"):
                status, _, text = http("GET", f"{base}{root3}/{r}/vod.m3u8")
                text = text.decode()
                stored = s3_segments(stack.s3, stack.bucket, f"{root3.split('/media/', 1)[1]}/{r}/")
                check(f"{r} crash VOD ends and lists every stored segment",
                      status == 200 and text.rstrip().endswith("#EXT-X-ENDLIST") and uris(text) == stored and len(stored) >= 3,
                      (status, len(stored), text[-200:]))
    pub3.kill()
    for pid in ffmpeg_pids(stack.tmp):
        os.kill(pid, signal.SIGKILL)

    # 5. A ladder behind real time: the publisher's last seconds are still in the ladder's input
    # when it leaves; the agent lets ffmpeg encode them before closing the recording.
    scene("5. a ladder behind real time")
    slow = f"{stack.tmp}/slow-ffmpeg.sh"
    with open(slow, "w") as f:
        f.write('#!/bin/sh\nexec ffmpeg -readrate 0.6 "$@"\n')
    os.chmod(slow, 0o755)
    stack.agent.send_signal(signal.SIGTERM)
    stack.agent.wait(timeout=30)
    stack.agent = spawn([f"{TARGET}/lait-media-agent"], f"{stack.tmp}/agent4.log", dict(stack.agent_env, LAIT_FFMPEG=slow))
    wait_port(stack.agent_port)
    channel4, _, key4 = stack.streamer()
    about(channel4)
    progress = f"{stack.tmp}/publisher4.progress"
    pub4 = spawn(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "20",
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-b:v", "1500k",
         "-c:a", "aac", "-b:a", "96k", "-progress", progress, "-f", "flv", stack.rtmp_url(key4)],
        f"{stack.tmp}/publisher4.log",
    )
    live4 = stack.wait_live(channel4, timeout=20)
    if check("a live with a slow ladder starts", live4):
        about(live4["id"])
        pub4.wait(timeout=40)
        sent = max(int(us) for us in re.findall(r"out_time_us=(\d+)", open(progress).read())) / 1e6
        # The live ends as the publisher leaves; the VOD follows once the ladder caught up.
        ended, _ = stack.wait_ended(live4["id"], 10)
        deadline = time.monotonic() + 45
        while ended and not ended.get("playlist_url") and time.monotonic() < deadline:
            time.sleep(0.5)
            _, ended = get_json(f"{base}/api/lives/{live4['id']}")
        root4 = live4["playlist_url"].rsplit("/", 1)[0]
        status, _, text = http("GET", f"{base}{root4}/720p/vod.m3u8")
        recorded = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text.decode()))
        print(f"     the publisher sent {sent:.1f} s; the VOD holds {recorded:.1f} s")
        # The ladder joins 1-2 s after the publisher starts (probe, first keyframe); stopping the
        # ladder at the publisher's exit instead would lose the ~8 s it is behind.
        check("the VOD holds what the publisher sent although the ladder was behind",
              ended and status == 200 and recorded >= sent - 3, (status, sent, recorded))

    # 6. The publish call is slow (a cold function, stores under load beside a busy encoder):
    # nginx keeps the publisher waiting while the agent asks channels, and the publisher must not
    # be refused for channels' slowness. The agent reaches channels through a proxy that delays
    # answers, then loses one.
    scene("6. channels slow at publish")
    channels = Proxy(stack.port)
    stack.agent.send_signal(signal.SIGTERM)
    stack.agent.wait(timeout=30)
    agent_log = f"{stack.tmp}/agent5.log"
    stack.agent = spawn([f"{TARGET}/lait-media-agent"], agent_log, dict(stack.agent_env, LAIT_CHANNELS_URL=f"http://127.0.0.1:{channels.port}"))
    wait_port(stack.agent_port)
    channel5, _, key5 = stack.streamer()
    about(channel5)
    channels.delay = 1.5
    pub5 = publisher(stack.rtmp_url(key5), 30, f"{stack.tmp}/publisher5.log")
    live5 = stack.wait_live(channel5, timeout=20)
    channels.delay = 0.0
    took = re.findall(r"publish accepted.* took_ms=(\d+)", open(agent_log).read())
    check("a publish whose call to channels takes 1.5 s goes live", live5 and took and int(took[-1]) >= 1500, took)
    pub5.send_signal(signal.SIGINT)
    pub5.wait(timeout=10)
    check("... and ends when its publisher stops", live5 and stack.wait_ended(live5["id"], 20)[0])

    # The first call started the live, its answer never came back: asked again with the live id
    # the agent chose, channels answers with that live instead of "already live".
    channel6, _, key6 = stack.streamer()
    about(channel6)
    channels.lose_answers(matching=[b"/internal/media/publish"])
    pub6 = publisher(stack.rtmp_url(key6), 30, f"{stack.tmp}/publisher6.log")
    local_log = f"{stack.tmp}/lait-local.log"
    started, _ = poll(lambda: any("live started" in l and channel6 in l for l in open(local_log)), 10, 0.05)
    channels.resume()
    live6 = stack.wait_live(channel6, timeout=20)
    again = [l for l in open(local_log) if "publish asked again" in l and channel6 in l]
    check("the first publish call's answer lost: asked again, the publisher goes live with that call's live",
          started and live6 and again and live6["id"] in again[0], (started, live6, again))
    pub6.send_signal(signal.SIGINT)
    pub6.wait(timeout=10)
    check("... and ends when its publisher stops", live6 and stack.wait_ended(live6["id"], 20)[0])
    return stack


if __name__ == "__main__":
    run(main)
