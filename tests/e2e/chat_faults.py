#!/usr/bin/env python3
"""Fault tests of chat and the stores: each scenario starts its own Redis and moto (from
LAIT_REDIS_SERVER, LAIT_MOTO_SERVER, LAIT_INIT_STORES, which scripts/test exports) and its own
lait-local, and breaks one of them while clients use it.

A. Redis killed (SIGKILL) and started again on the same port, without persistence (an empty
   Redis: registrations, streams, cursors, tickets, rate-limit state are gone), while 200
   WebSocket clients chat in 4 rooms (the chat-fleet tool: clients that behave as the web app's,
   a message every ~1.5 s each). Sends during the outage get an error event, every client
   reconnects and resumes, every acked message is in its room's history, every client saw every
   message of its room.
B. The path to DynamoDB cut, through a TCP proxy this test controls: refused (moto down), held
   (a partition: nothing answers), then the answers to writes lost (reads work; moto acts on each
   write, lait-local never hears back: a write of several calls stops after its first). API writes and reads answer 503 problem+json within a bound, never 500 or a hang;
   after the path is back, each write happened fully or not at all (a sign-up: its channel too,
   and searchable), the same writes succeed without restarting lait-local, and chat messages sent
   during the cut are acked and stored.
C. lait-local stopped (SIGTERM) and started again on the same port while 200 clients chat: they
   reconnect and resume, acked messages from before are in history, messages after flow.
"""
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from lait_e2e import PROCS, TARGET, Proxy, check, free_port, http, run, scene, spawn, wait_port, watch_log

TMP = tempfile.mkdtemp(prefix="lait-chat-faults.")
# The bound on any answer while a store is unreachable: DynamoDB calls give up after 8 s
# (shared/src/stores/aws.rs), plus a margin for a CPU-starved machine.
ANSWER_BOUND_S = 12


def say(text):
    print(f"     {text}", flush=True)


class Redis:
    """A private redis-server on a fixed port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.runs = 0
        self.start()

    def start(self):
        self.runs += 1
        self.proc = spawn([os.environ["LAIT_REDIS_SERVER"], "--bind", "127.0.0.1", "--port", str(self.port),
                           "--save", "", "--appendonly", "no"], f"{TMP}/redis-{self.port}-{self.runs}.log")
        wait_port(self.port)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class Moto:
    """A private moto_server with Lait's tables and buckets."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = os.environ["LAIT_MOTO_SERVER"].split()
        spawn(command + ["-H", "127.0.0.1", "-p", str(self.port)], f"{TMP}/moto-{self.port}.log")
        wait_port(self.port)
        init = os.environ["LAIT_INIT_STORES"].split()
        subprocess.run(init, env=dict(os.environ, AWS_ENDPOINT_URL=self.url), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Local:
    """lait-local on a fixed port against the given stores; can be stopped and started again."""

    def __init__(self, redis_url, aws_url):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, LAIT_BIND=f"127.0.0.1:{self.port}", REDIS_URL=redis_url, AWS_ENDPOINT_URL=aws_url,
                        LAIT_SIGNUP_LIMIT="100000/60", LAIT_SEARCH_LIMIT="100000/60", LAIT_WEB_DIR=TMP,
                        RUST_LOG="warn", LAIT_REAPER_INTERVAL_SECS="2")
        self.runs = 0
        self.start()

    def start(self):
        self.runs += 1
        self.log = f"{TMP}/lait-local-{self.port}-{self.runs}.log"
        self.proc = spawn([f"{TARGET}/lait-local"], self.log, self.env)
        wait_port(self.port)

    def stop(self):
        """SIGTERM; the seconds it took to exit."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - t0

    def alive(self):
        return self.proc.poll() is None

    def tail(self, n=30):
        return "".join(open(self.log).readlines()[-n:])


def call(method, url, body=None, token=None, timeout=30):
    """(status, headers, parsed body or text, seconds); status 0 when no answer came in time."""
    t0 = time.monotonic()
    try:
        status, headers, raw = http(method, url, body, token, timeout)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        return 0, {}, repr(e), time.monotonic() - t0
    took = time.monotonic() - t0
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, headers, parsed, took


class Fleet:
    """tests' driver of bench's chat-fleet: N clients in K rooms until `stop`."""

    def __init__(self, base, clients, rooms, accounts=None, every_ms=1500):
        self.report_path = f"{TMP}/fleet-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen(
            [f"{TARGET}/chat-fleet", "--base", base, "--clients", str(clients), "--rooms", str(rooms),
             "--accounts", str(accounts or clients), "--every-ms", str(every_ms), "--report", self.report_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(f"{TMP}/fleet.log", "a"), text=True,
        )
        PROCS.append(self.proc)
        watch_log(f"{TMP}/fleet.log")
        self.clients = clients
        self.status = {}
        self.rooms = None
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                v = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if v.get("event") == "start":
                    self.rooms = v["rooms"]
                elif "ready" in v:
                    self.status = v

    def get(self, key):
        with self.lock:
            return self.status.get(key, 0)

    def wait_ready(self, timeout):
        """Seconds until every client is connected and resumed, or None."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.get("ready") == self.clients:
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                return None
            time.sleep(0.2)
        return None

    def wait_reconnected(self, since, timeout):
        """Seconds until every client has a connection ready after `since` (the count of ready
        connections then), or None."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.get("connections") >= since + self.clients and self.get("ready") == self.clients:
                return time.monotonic() - t0
            time.sleep(0.2)
        return None

    def stop(self):
        """Stops sending, lets the fleet drain and check the histories; its report."""
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        self.proc.wait(timeout=120)
        with open(self.report_path) as f:
            return json.load(f)


def ms(t):
    return int(t * 1000)


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def outcomes(some):
    """How many ended how: acked, each error code, dropped (the connection closed first), none."""
    counts = {}
    for s in some:
        key = s["value"] if s["outcome"] == "error" else s["outcome"]
        counts[key] = counts.get(key, 0) + 1
    return counts


def sends(report):
    for c in report["clients"]:
        for s in c["sends"]:
            yield c, s


def common_checks(name, report, fault_ms, back_ms):
    """What both client scenarios require: no acked message missing, every client back and
    caught up, messages flowing after the fault. Returns the reconnect times (s)."""
    all_sends = list(sends(report))
    acked = [s for _, s in all_sends if s["outcome"] == "ack"]
    say(f"{name}: {len(report['clients'])} clients, {len(all_sends)} sends, {len(acked)} acked, "
        f"history {sum(report['history'])} messages in {len(report['rooms'])} rooms")
    check(f"{name}: every acked message is in its room's history ({len(acked)} acked)",
          acked and not report["acked_missing"], report["acked_missing"][:5])
    # Each client's first connection ready after the fault was repaired.
    reconnect = []
    not_back = 0
    for c in report["clients"]:
        after = [t for t in c["ready"] if t > fault_ms]
        if after:
            reconnect.append((after[0] - back_ms) / 1000)
        else:
            not_back += 1
    check(f"{name}: every client reconnected and resumed after the fault", not_back == 0,
          f"{not_back} clients never came back")
    if reconnect:
        say(f"{name}: reconnected {len(reconnect)} clients, after the repair p50 {pct(reconnect, 0.5):.1f} s, "
            f"p90 {pct(reconnect, 0.9):.1f} s, max {max(reconnect):.1f} s")
    failed = {}
    for c in report["clients"]:
        for t, why in c["failed"]:
            if t > fault_ms:
                failed[why] = failed.get(why, 0) + 1
    again = sum(c["history_again"] for c in report["clients"])
    say(f"{name}: failed reconnection attempts {failed or 'none'}; history asked again (unavailable) {again} times")
    check(f"{name}: every client saw every message of its room from its first on (resume without gaps)",
          report["unseen_total"] == 0 and report["clients_behind"] == 0,
          f"{report['unseen_total']} unseen in {report['clients_with_unseen']} clients, "
          f"{report['clients_behind']} behind; e.g. {[c['unseen'] for c in report['clients'] if c['unseen']][:3]}")
    # Messages flow again: every client had a send acked after it came back.
    quiet = 0
    for c in report["clients"]:
        after = [t for t in c["ready"] if t > fault_ms]
        if not after or not any(s["outcome"] == "ack" and s["at"] > after[0] for s in c["sends"]):
            quiet += 1
    check(f"{name}: every client's messages are acked again after it reconnected", quiet == 0, f"{quiet} clients without")
    lost_shown = sum(c["seen_not_stored"] for c in report["clients"])
    say(f"{name}: messages shown to clients but not in history (admitted, never acked): {lost_shown} deliveries")
    return reconnect


# ---------------------------------------------------------------- A. Redis restarted


def redis_restart():
    """A. Redis killed and restarted empty under 200 chatting clients"""
    redis, moto = Redis(), Moto()
    local = Local(redis.url, moto.url)
    # A message every ~2 s each (100 a second in all): after the restart every client resumes
    # from the archive at once, and moto answers one request at a time, slower as the table
    # grows (~55 ms a query at 4,000 messages).
    fleet = Fleet(local.base, clients=200, rooms=4, accounts=50, every_ms=2000)
    took = fleet.wait_ready(120)
    if not check("A: 200 clients in 4 rooms connected", took is not None, fleet.status):
        return local
    say(f"A: 200 clients ready {took:.1f} s after start (sign-ups included)")
    time.sleep(8)
    acked_before = fleet.get("acked")
    connections = fleet.get("connections")
    kill_ms = ms(time.time())
    redis.kill()
    time.sleep(5)
    redis.start()
    back_ms = ms(time.time())
    say(f"A: Redis down for {(back_ms - kill_ms) / 1000:.1f} s (SIGKILL, restarted empty); {acked_before} acks before")
    # The search index lives in Redis only: the reaper rebuilds it from the table.
    names = [call("GET", f"{local.base}/api/channels/{ch}")[2]["name"] for ch in fleet.rooms]

    def found():
        hits = [call("GET", f"{local.base}/api/search?q={urllib.parse.quote(n)}")[2] for n in names]
        return all(isinstance(h, list) and any(x["channel_id"] == ch for x in h) for h, ch in zip(hits, fleet.rooms))
    searchable, _ = poll_ok(found, 15)
    check("A: search finds the rooms' channels again (the index rebuilt from the table)", searchable)
    if searchable:
        say(f"A: search index rebuilt {(ms(time.time()) - back_ms) / 1000:.1f} s after the restart (reaper every 2 s)")
    # Every client back (they learn of the lost registration at their next send or probe), then
    # 10 s more of chat.
    fleet.wait_reconnected(connections, 60)
    time.sleep(10)
    check("A: lait-local kept running", local.alive())
    report = fleet.stop()
    common_checks("A", report, kill_ms, back_ms)
    # What a client saw of its sends while Redis was away: an error event, not silence.
    during = [s for _, s in sends(report) if kill_ms <= s["at"] < back_ms]
    codes = outcomes(during)
    say(f"A: {len(during)} sends during the outage: {codes}")
    slow = [s for s in during if s["answered"] is None or s["answered"] - s["at"] > 10_000]
    check("A: every send during the outage was answered within 10 s", during and not slow, slow[:3])
    unexpected = [s for s in during if s["outcome"] != "error"]
    check("A: ... by an error event, none acked", not unexpected, unexpected[:3])
    wrong = {k: v for k, v in codes.items() if k not in ("unavailable", "reconnect")}
    check("A: ... saying unavailable (or reconnect, once it was back), not internal", not wrong, codes)
    # Sends in flight at the kill: admitted, then their flush failed with Redis; no answer comes,
    # but the client's probe (a ping while a send waits) finds the connection gone.
    at_kill = [s for _, s in sends(report) if kill_ms - 3000 <= s["at"] < kill_ms and s["outcome"] != "ack"]
    say(f"A: {len(at_kill)} sends in flight at the kill and not acked: {outcomes(at_kill)}")
    hung = [s for s in at_kill if s["answered"] is None or s["answered"] - s["at"] > 25_000]
    check("A: every send in flight at the kill was answered or its connection closed within 25 s", not hung, hung[:3])
    status, _, health, _ = call("GET", f"{local.base}/health")
    check("A: /health is ok again without a restart", status == 200 and health["status"] == "ok", health)
    return local


# ---------------------------------------------------------------- B. DynamoDB cut


# What a DynamoDB request that writes names in its X-Amz-Target header.
DYNAMODB_WRITES = [f"DynamoDB_20120810.{op}".encode() for op in
                   ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")]


def problem_503(status, headers, body, took):
    headers = {k.lower(): v for k, v in headers.items()}
    return (status == 503 and headers.get("content-type") == "application/problem+json" and "retry-after" in headers
            and isinstance(body, dict) and body.get("type") == "urn:lait:problem:unavailable"
            and took <= ANSWER_BOUND_S)


def signup(base, tag):
    email = f"cut-{tag}@example.com"
    status, _, body, _ = call("POST", f"{base}/api/auth/signup",
                              {"email": email, "nickname": f"cut_{tag}", "password": "correct horse battery"})
    assert status == 201, (status, body)
    status, _, login, _ = call("POST", f"{base}/api/auth/login", {"email": email, "password": "correct horse battery"})
    assert status == 200, (status, login)
    return body["channel_id"], login["access_token"], body["id"]


def dynamodb_cut():
    """B. the path to DynamoDB cut (refused, held, writes' answers lost) during API calls and chat"""
    redis, moto = Redis(), Moto()
    proxy = Proxy(moto.port)
    local = Local(redis.url, f"http://127.0.0.1:{proxy.port}")
    base = local.base
    owner_ch, owner, _ = signup(base, "owner")
    _, viewer, _ = signup(base, "viewer")
    fleet = Fleet(base, clients=8, rooms=1)
    if not check("B: chat clients connected", fleet.wait_ready(60) is not None, fleet.status):
        return local
    time.sleep(3)

    def writes(round_):
        """One round of writes: (name, method, path, body, token)."""
        tag = f"{''.join(c for c in round_ if c.isalpha())[:8]}{os.urandom(3).hex()}"
        return [
            ("PATCH channel (name + description)", "PATCH", f"/api/channels/{owner_ch}",
             {"name": f"name {tag}", "description": f"description {tag}"}, owner),
            ("POST notice", "POST", f"/api/channels/{owner_ch}/notices", {"title": f"notice {tag}", "body": f"body {tag}"}, owner),
            ("PUT follow", "PUT", f"/api/channels/{owner_ch}/follow", None, viewer),
            ("PATCH chat settings", "PATCH", f"/api/channels/{owner_ch}/chat/settings",
             {"slow_seconds": 0, "burst": 6 if round_ == "after" else 7}, owner),
            ("POST signup", "POST", "/api/auth/signup",
             {"email": f"cut-new-{tag}@example.com", "nickname": f"n{tag}", "password": "correct horse battery"}, None),
        ]

    reads = [
        ("GET channel", "GET", f"/api/channels/{owner_ch}", None, owner),
        ("GET notices", "GET", f"/api/channels/{owner_ch}/notices", None, None),
        ("GET following", "GET", "/api/users/me/following", None, viewer),
        ("GET chat settings", "GET", f"/api/channels/{owner_ch}/chat/settings", None, owner),
        ("POST login", "POST", "/api/auth/login", {"email": "cut-owner@example.com", "password": "correct horse battery"}, None),
        ("POST chat ticket", "POST", "/api/chat/tickets", {"channel_id": owner_ch}, viewer),
    ]
    before = call("GET", f"{base}/api/channels/{owner_ch}")[2]
    settings_before = call("GET", f"{base}/api/channels/{owner_ch}/chat/settings", token=owner)[2]
    cut_writes = {}
    answers_503 = 0
    cut_started = time.monotonic()
    lose_write_answers = functools.partial(proxy.lose_answers, DYNAMODB_WRITES)
    for mode, cut in (("refused", proxy.pause), ("held", proxy.hold), ("writes' answers lost", lose_write_answers)):
        t_cut = time.monotonic()
        cut()
        round_writes = writes(mode)
        # All at once, as clients would: each answer's time is its own.
        with ThreadPoolExecutor(len(round_writes) + len(reads)) as pool:
            answers = list(pool.map(lambda r: call(r[1], base + r[2], r[3], r[4]), round_writes + reads))
        for (name, _, _, body, _), (status, headers, answer, took) in zip(round_writes, answers):
            cut_writes.setdefault(name, []).append(body)
            check(f"B ({mode}): {name} → 503 problem+json with Retry-After in ≤ {ANSWER_BOUND_S} s",
                  problem_503(status, headers, answer, took), (status, answer, f"{took:.1f} s"))
        reads_work = mode == "writes' answers lost"
        for (name, *_), (status, headers, answer, took) in zip(reads, answers[len(round_writes):]):
            if reads_work:
                # Reads answer; a login also writes (its session), so it may be a 503.
                check(f"B ({mode}): {name} answers, or 503 problem+json if it writes, in ≤ {ANSWER_BOUND_S} s",
                      200 <= status < 300 and took <= ANSWER_BOUND_S or problem_503(status, headers, answer, took),
                      (status, answer, f"{took:.1f} s"))
                continue
            # A read may still be served from a cache in Redis (the room's facts, 10 s).
            check(f"B ({mode}): {name} → 503 problem+json (or 200 from a cache) in ≤ {ANSWER_BOUND_S} s",
                  problem_503(status, headers, answer, took) or status == 200 and took <= ANSWER_BOUND_S,
                  (status, answer, f"{took:.1f} s"))
        took = [a[3] for a in answers]
        n503 = sum(1 for a in answers if a[0] == 503)
        answers_503 += n503
        others = "2xx (reads)" if reads_work else "200 from a cache"
        cached = f" (the other {len(answers) - n503} {others})" if n503 < len(answers) else ""
        say(f"B ({mode}): {n503} of {len(answers)} answers 503{cached}; "
            f"time to answer p50 {statistics.median(took):.2f} s, max {max(took):.2f} s")
        if not reads_work:
            status, _, health, _ = call("GET", f"{base}/health")
            check(f"B ({mode}): /health names DynamoDB down",
                  status == 503 and health["dependencies"]["dynamodb"]["status"] == "down", health)
        proxy.resume()
        say(f"B ({mode}): path cut for {time.monotonic() - t_cut:.1f} s")
    say(f"B: DynamoDB cut for {time.monotonic() - cut_started:.1f} s in all, {answers_503} answers 503, none 500")

    # Back, without restarting lait-local: each write of the cut happened fully or not at all.
    back = time.monotonic()
    ok, _ = poll_ok(lambda: call("GET", f"{base}/health")[0] == 200, 30)
    check("B: /health is ok again without a restart", ok)
    say(f"B: healthy {time.monotonic() - back:.1f} s after the path came back")
    after = call("GET", f"{base}/api/channels/{owner_ch}")[2]
    states = [(before["name"], before["description"])] + [
        (b["name"], b["description"]) for b in cut_writes["PATCH channel (name + description)"]]
    check("B: the channel is as before or as one whole PATCH of the cut (never half)",
          (after["name"], after["description"]) in states, (after["name"], after["description"]))
    notices = call("GET", f"{base}/api/channels/{owner_ch}/notices")[2]["items"]
    posted = cut_writes["POST notice"]
    halves = [n for n in notices if any(n["title"] == b["title"] and n["body"] != b["body"] for b in posted)]
    check("B: no half-written notice", not halves, halves)
    # Search follows the table, even for writes whose answers were lost (the reaper rebuilds it).
    def searchable(name, channel):
        hits = call("GET", f"{base}/api/search?q={urllib.parse.quote(name)}")[2]
        return isinstance(hits, list) and any(h["channel_id"] == channel for h in hits)
    check("B: the channel is found under its name in the table",
          poll_ok(lambda: searchable(after["name"], owner_ch), 15)[0], after["name"])
    following = call("GET", f"{base}/api/users/me/following", token=viewer)[2]
    follows = any(c["id"] == owner_ch for c in following)
    check("B: follow and follower count agree", after["follower_count"] == (1 if follows else 0),
          (after["follower_count"], follows))
    settings = call("GET", f"{base}/api/channels/{owner_ch}/chat/settings", token=owner)[2]
    check("B: chat settings as before or as the cut's PATCH", settings["burst"] in (settings_before["burst"], 7), settings)
    for body in cut_writes["POST signup"]:
        st, _, login, _ = call("POST", f"{base}/api/auth/login", {"email": body["email"], "password": body["password"]})
        if st == 200:
            status, _, mine, _ = call("GET", f"{base}/api/channels/mine", token=login["access_token"])
            found = status == 200 and poll_ok(lambda: searchable(body["nickname"], mine["id"]), 15)[0]
            check(f"B: a sign-up of the cut that happened is whole: its channel ({status}), searchable ({found})",
                  status == 200 and found)
        else:
            again = call("POST", f"{base}/api/auth/signup", body)[0]
            check(f"B: a sign-up of the cut that did not happen left no claim (signing up again: {again})", again == 201)
    # The same writes work again.
    for name, method, path, body, token in writes("after"):
        status, _, answer, _ = call(method, base + path, body, token)
        check(f"B: after the cut, {name} succeeds", 200 <= status < 300, (status, answer))
    check("B: lait-local kept running (never restarted)", local.alive() and local.runs == 1)

    # Chat through the cut: nothing is delivered or acked unstored; a send whose room needs
    # DynamoDB is answered unavailable; one admitted before waits, and once DynamoDB is back the
    # sweep stores, delivers and acks it.
    time.sleep(8)
    report = fleet.stop()
    all_sends = [s for _, s in sends(report)]
    acked = [s for s in all_sends if s["outcome"] == "ack"]
    check(f"B: every acked chat message is in history ({len(acked)} acked)", acked and not report["acked_missing"],
          report["acked_missing"][:5])
    unanswered = [s for s in all_sends if s["outcome"] not in ("ack", "error")]
    check("B: every chat send was answered (acked or an error event)", not unanswered, unanswered[:3])
    wrong = {k: v for k, v in outcomes(all_sends).items() if k not in ("ack", "unavailable")}
    check("B: chat errors say unavailable, not internal", not wrong, outcomes(all_sends))
    check("B: chat clients saw every stored message", report["unseen_total"] == 0 and report["clients_behind"] == 0,
          (report["unseen_total"], report["clients_behind"]))
    waits = [(s["answered"] - s["at"]) / 1000 for s in acked]
    say(f"B: chat: {len(all_sends)} sends: {outcomes(all_sends)}; longest wait for an ack {max(waits):.1f} s "
        f"(a message admitted during the cut waits for the archive)")
    return local


def poll_ok(probe, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if probe():
            return True, time.monotonic() - t0
        time.sleep(0.2)
    return False, timeout


# ---------------------------------------------------------------- C. lait-local restarted


def local_restart():
    """C. lait-local restarted under 200 chatting clients"""
    redis, moto = Redis(), Moto()
    local = Local(redis.url, moto.url)
    fleet = Fleet(local.base, clients=200, rooms=4, accounts=50)
    took = fleet.wait_ready(120)
    if not check("C: 200 clients in 4 rooms connected", took is not None, fleet.status):
        return local
    time.sleep(10)
    connections = fleet.get("connections")
    stop_ms = ms(time.time())
    stopped = local.stop()
    check("C: lait-local exits within 5 s of SIGTERM", stopped <= 5, f"{stopped:.1f} s")
    local.start()
    back_ms = ms(time.time())
    say(f"C: lait-local stopped in {stopped:.1f} s, down for {(back_ms - stop_ms) / 1000:.1f} s in all")
    fleet.wait_reconnected(connections, 60)
    time.sleep(10)
    report = fleet.stop()
    common_checks("C", report, stop_ms, back_ms)
    kinds = {}
    for c in report["clients"]:
        why = next((w for t, w in c["closed"] if t >= stop_ms), "still open")
        kinds[why] = kinds.get(why, 0) + 1
    say(f"C: how the clients' connections ended at the stop: {kinds}")
    check("C: every connection was closed with 1001 (going away), none just dropped", kinds == {"closed 1001": 200}, kinds)
    return local


def main():
    started = time.monotonic()
    # LAIT_CHAT_FAULTS=AC runs only those scenarios (all by default).
    only = os.environ.get("LAIT_CHAT_FAULTS", "ABC")
    for scenario in (redis_restart, dynamodb_cut, local_restart):
        if scenario.__doc__[0] not in only:
            continue
        t0 = time.monotonic()
        print(f"== {scenario.__doc__}", flush=True)
        scene(scenario.__doc__)
        local = None
        try:
            local = scenario()
        finally:
            say(f"{scenario.__name__}: {time.monotonic() - t0:.0f} s")
            stop_all(local)
    say(f"all scenarios: {time.monotonic() - started:.0f} s")
    import lait_e2e
    if all(lait_e2e.RESULTS):
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        say(f"logs and fleet reports kept in {TMP}")


def stop_all(local):
    """Stops what one scenario started (the next starts its own)."""
    import lait_e2e
    if local is not None and not all(lait_e2e.RESULTS):
        print(f"--- {local.log} (tail)\n{local.tail()}")
    lait_e2e.stop_procs()
    PROCS.clear()


if __name__ == "__main__":
    run(main)
