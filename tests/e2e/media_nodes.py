"""Two media nodes behind a load balancer, as on ECS behind the NLB: placement, refusal, scale-in
protection and draining, through the real parts (lait-local, two nginx-rtmp + agent pairs on
their own ports, ffmpeg publishers). Each node admits one live (LAIT_MAX_LIVES=1).

1. Placement: a publisher lands on a node; the node reports full on /ready; the balancer, which
   follows /ready as the NLB follows its health check, sends the next publisher to the other.
2. Refusal: a publisher that reaches a full node anyway (before the balancer noticed, or when
   every node is full) is turned away before any live starts, and its owner's studio says why.
3. Protection: a node holds ECS task scale-in protection while it carries a live (a stand-in for
   the ECS agent's endpoint records what the agent asks), and lets it go after.
4. Drain: SIGTERM to a node with a live does not cut it: the node takes no new publisher (503 on
   /ready, refusal "draining"), the live goes on until its publisher stops, then the agent exits.
5. Every VOD is complete: served, ended, every segment present, numbered without a gap, as long
   as the live.
"""
import json
import re
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lait_e2e import Balancer, Stack, check, free_port, get_json, http, poll, publisher, run, scene

PUBLISH_SECS = 600  # the publishers are stopped by the test


class FakeEcsAgent:
    """The ECS agent's task-protection endpoint, one path prefix per node: records each PUT."""

    def __init__(self):
        self.calls = {}
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):  # noqa: N802 - http.server's name
                node = self.path.strip("/").split("/")[0]
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                calls.setdefault(node, []).append(body)
                out = json.dumps({"protection": {"ProtectionEnabled": body.get("ProtectionEnabled")}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_):
                pass

        self.port = free_port()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def uri(self, node):
        return f"http://127.0.0.1:{self.port}/{node}"

    def protected(self, node):
        """What the node last asked for (True, False), or None before it asked."""
        calls = self.calls.get(node, [])
        return calls[-1].get("ProtectionEnabled") if calls else None


def node_env(ecs, name):
    return {"LAIT_MAX_LIVES": "1", "LAIT_DRAIN_SECS": "60", "ECS_AGENT_URI": ecs.uri(name), "LAIT_NODE_ID": name}


def lives_on(node):
    return (node.ready()[1] or {}).get("lives")


def refusal(stack, token):
    _, mine = get_json(f"{stack.base}/api/channels/mine", token)
    return mine.get("ingest_refusal")


def turned_away(stack, proc, channel, token, reason, node):
    """The publisher `proc` was refused: it exits, no live starts, and the owner's studio shows
    `reason` from `node`."""
    exited = poll(lambda: proc.poll() is not None or None, 15, 0.25)[0]
    shown = poll(lambda: (r := refusal(stack, token)) and r["reason"] == reason and r or None, 10, 0.5)[0]
    return bool(exited) and stack.listed(channel) is None and bool(shown) and shown.get("node_id") == node.name, (exited, shown)


def vod_complete(stack, live_id, want_secs):
    """Whether the live's VOD is whole: (ok, detail)."""
    _, live = get_json(f"{stack.base}/api/lives/{live_id}")
    url = live.get("playlist_url") or ""
    if live["status"] != "ended" or not url.endswith("/vod.m3u8"):
        return False, live
    root = url.rsplit("/", 1)[0]
    status, _, master = http("GET", stack.base + url)
    renditions = re.findall(r"^(\S+)/vod\.m3u8$", master.decode(), re.M)
    if status != 200 or not renditions:
        return False, (status, master[:200])
    problems = []
    for r in renditions:
        _, _, text = http("GET", f"{stack.base}{root}/{r}/vod.m3u8")
        text = text.decode()
        if not text.rstrip().endswith("#EXT-X-ENDLIST"):
            problems.append(f"{r}: not ended")
        segs = re.findall(r"^(seg_(\d+)_\d+ms(?:_d)?\.ts)$", text, re.M)
        numbers = [int(n) for _, n in segs]
        if numbers != list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True:
            problems.append(f"{r}: segment numbers {numbers[:3]}…{numbers[-3:]} have a gap")
        secs = sum(float(d) for d in re.findall(r"^#EXTINF:([\d.]+),", text, re.M))
        if secs < want_secs - 3:
            problems.append(f"{r}: {secs:.1f} s recorded of {want_secs:.1f} s")
        missing = [s for s, _ in segs if http("GET", f"{stack.base}{root}/{r}/{s}")[0] != 200]
        if missing:
            problems.append(f"{r}: {len(missing)} segments missing")
    return not problems, problems


def main():
    ecs = FakeEcsAgent()
    stack = Stack(agent_env=node_env(ecs, "node-a"))
    a = stack.node
    a.name = "node-a"
    b = stack.add_node("node-b", node_env(ecs, "node-b"))
    nodes = {"node-a": a, "node-b": b}
    lb = Balancer([a, b])
    (ch1, tok1, key1), (ch2, tok2, key2), (ch3, tok3, key3) = (stack.streamer() for _ in range(3))

    scene("placement", ch1, ch2)
    check("both nodes report room (/ready 200)", a.ready()[0] == 200 and b.ready()[0] == 200, (a.ready(), b.ready()))
    started1 = time.monotonic()
    p1 = publisher(lb.url(key1), PUBLISH_SECS, f"{stack.tmp}/publisher-1.log")
    live1 = stack.wait_live(ch1, timeout=30)
    check("the first publisher goes live through the balancer", live1, live1)
    first = next((n for n in (a, b) if lives_on(n) == 1), None)
    other = b if first is a else a
    check("it runs on one node, which then reports full (/ready 503)", first is not None and first.ready()[0] == 503 and first.ready()[1].get("refusing") == "node_full", (a.ready(), b.ready()))
    check("the balancer stops sending new publishers to the full node", poll(lambda: not lb.healthy[first.name] or None, 5, 0.25)[0], lb.healthy)
    started2 = time.monotonic()
    p2 = publisher(lb.url(key2), PUBLISH_SECS, f"{stack.tmp}/publisher-2.log")
    live2 = stack.wait_live(ch2, timeout=30)
    check("the next publisher goes live on the node with room", live2 and lives_on(other) == 1 and lb.picks[-1] == other.name, (lb.picks, a.ready(), b.ready()))
    if not (live1 and live2 and first):
        return stack

    scene("refusal", ch3)
    p3 = publisher(first.rtmp_url(key3), 30, f"{stack.tmp}/publisher-3.log")
    ok, detail = turned_away(stack, p3, ch3, tok3, "node_full", first)
    check("a publisher reaching a full node is turned away, and its studio says why", ok, detail)
    check("the full node still carries exactly its one live", lives_on(first) == 1, first.ready())
    check("a node with a live holds task scale-in protection", ecs.protected(first.name) is True and ecs.protected(other.name) is True, ecs.calls)

    scene("drain", ch2)
    other.agent.send_signal(signal.SIGTERM)
    draining = poll(lambda: (r := other.ready()) and r[0] == 503 and r[1].get("refusing") == "node_draining" or None, 5, 0.25)[0]
    check("SIGTERM: the node stops taking publishers (/ready 503 draining)", draining, other.ready())
    p3 = publisher(other.rtmp_url(key3), 30, f"{stack.tmp}/publisher-3b.log")
    ok, detail = turned_away(stack, p3, ch3, tok3, "node_draining", other)
    check("a publisher reaching a draining node is turned away as draining", ok, detail)

    def media_sequence():
        status, _, text = http("GET", stack.base + live2["playlist_url"].replace("master.m3u8", "720p/index.m3u8"))
        m = re.search(rb"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
        return int(m.group(1)) if status == 200 and m else None

    before = media_sequence()
    time.sleep(8)
    after = media_sequence()
    _, still = get_json(f"{stack.base}/api/lives/{live2['id']}")
    check("the draining node's live goes on (live, playlist advancing, agent running)",
          still["status"] == "live" and before is not None and after is not None and after > before and other.agent.poll() is None,
          (still["status"], before, after, other.agent.poll()))
    p2.send_signal(signal.SIGTERM)
    secs2 = time.monotonic() - started2
    ended2 = stack.wait_ended(live2["id"], 30)[0]
    check("its publisher stops: the live ends", ended2, ended2)
    exited = poll(lambda: other.agent.poll() is not None or None, 45, 0.5)[0]
    check("then the drained agent exits", exited, other.agent.poll())

    scene("release", ch1, ch3)
    p1.send_signal(signal.SIGTERM)
    secs1 = time.monotonic() - started1
    check("the first live ends with its publisher", stack.wait_ended(live1["id"], 30)[0])
    released = poll(lambda: ecs.protected(first.name) is False or None, 45, 0.5)[0]
    check("the node without lives lets its task protection go", released, ecs.calls.get(first.name))
    check("and reports room again (/ready 200)", poll(lambda: first.ready()[0] == 200 or None, 30, 0.5)[0], first.ready())
    check("the balancer sends publishers to it again", poll(lambda: lb.healthy[first.name] or None, 5, 0.25)[0], lb.healthy)
    started3 = time.monotonic()
    p3 = publisher(lb.url(key3), PUBLISH_SECS, f"{stack.tmp}/publisher-3c.log")
    live3 = stack.wait_live(ch3, timeout=30)
    check("the refused streamer, reconnecting through the balancer, goes live on the node with room", live3 and lb.picks[-1] == first.name, lb.picks)
    check("a live that started clears the studio's refusal notice", refusal(stack, tok3) is None, refusal(stack, tok3))
    time.sleep(8)
    p3.send_signal(signal.SIGTERM)
    secs3 = time.monotonic() - started3

    scene("recordings", ch1, ch2, ch3)
    for name, live, secs in (("first", live1, secs1), ("drained", live2, secs2), ("third", live3, secs3)):
        if not live:
            continue
        # The live's time on the node, less the publish handshake and the first segment.
        want = secs - 6
        whole = poll(lambda live=live, want=want: (r := vod_complete(stack, live["id"], want))[0] and r or None, 60, 1)[0]
        check(f"the {name} live's VOD is complete (every rendition ended, no gap, ≥ {want:.0f} s)", whole, vod_complete(stack, live["id"], want)[1])
    return stack


run(main)
