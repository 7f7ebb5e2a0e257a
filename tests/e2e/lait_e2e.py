"""Helpers shared by the end-to-end suites: processes, HTTP, the media stack, results."""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Binaries of this cargo profile (benches use "perf").
TARGET = os.path.join(os.environ.get("CARGO_TARGET_DIR", "/var/cache/lait/target"), os.environ.get("LAIT_E2E_PROFILE", "debug"))
RESULTS = []
PROCS = []
# Every log a suite's processes write (name → path): a failed check shows what they wrote in the
# scenario it belongs to.
LOGS = {}
# The scenario under way: its name, where each log stood when it began, the ids (live, channel)
# its lines carry, and what was already shown for it.
SCENE = {"name": "start", "offsets": {}, "ids": [], "shown": {}}
# Lines of one log shown for one failure, at most.
SHOWN_LINES = 40


def check(name, cond, detail=""):
    RESULTS.append(bool(cond))
    print(f"{'ok  ' if cond else 'FAIL'} {name}{(' - ' + str(detail)[:600]) if detail and not cond else ''}", flush=True)
    if not cond:
        show_scene()
    return cond


def watch_log(path, name=None):
    """Adds a log to those a failed check shows (every `spawn`ed process's is added)."""
    name = name or os.path.basename(path)
    if LOGS.get(name, path) != path:
        name = path
    LOGS[name] = path


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def scene(name, *ids):
    """A new scenario begins: a failed check from now on shows what every log wrote since, the
    lines naming `ids` (see `about`) first."""
    SCENE.update(name=name, offsets={n: _size(p) for n, p in LOGS.items()}, ids=[str(i) for i in ids if i], shown={})


def about(*ids):
    """Ids (a live's, a channel's) the current scenario's log lines carry."""
    SCENE["ids"] += [str(i) for i in ids if i and str(i) not in SCENE["ids"]]


def show_scene():
    """Prints, for the current scenario, each log's lines since it began (those naming its ids,
    and the last lines), and what is using the CPU: enough to tell why a check failed without
    re-running it."""
    windows = []
    for name, path in list(LOGS.items()):
        start = SCENE["offsets"].get(name, 0)
        end = _size(path)
        if end < start:  # rewritten since
            start = 0
        if end <= start:
            continue
        if SCENE["shown"].get(name) == end:
            windows.append((name, None))
            continue
        SCENE["shown"][name] = end
        with open(path, "rb") as f:
            f.seek(start)
            windows.append((name, f.read(end - start).decode(errors="replace").splitlines()))
    # A line naming the channel names its live too ("publish accepted"): follow that id.
    for _, lines in windows:
        for line in lines or []:
            if any(x in line for x in SCENE["ids"]):
                about(*re.findall(r"live_id[=:\s\"]+([0-9a-f-]{36})", line))
    ids = SCENE["ids"]
    print(f"     --- scenario [{SCENE['name']}], ids {ids or '-'}: the logs since it began", flush=True)
    for name, lines in windows:
        if lines is None:
            print(f"     --- {name}: nothing new since shown above")
            continue
        named = [i for i, l in enumerate(lines) if any(x in l for x in ids)] if ids else []
        keep = sorted(set(named[-SHOWN_LINES:]) | set(range(max(0, len(lines) - SHOWN_LINES // 2), len(lines))))
        print(f"     --- {name} ({len(lines)} lines in the scenario; {len(named)} name its ids; {len(keep)} shown)")
        last = -1
        for i in keep:
            if i != last + 1:
                print("     ...")
            print(f"     | {lines[i][:400]}")
            last = i
    print(f"     --- load {open('/proc/loadavg').read().strip()}; the busiest processes now (% of one core over 0.5 s):")
    for share, pid, cmd in busiest():
        print(f"     | {share:5.0f} % {pid:>7} {cmd[:180]}")
    print("     ---", flush=True)


def busiest(seconds=0.5, n=8):
    """(CPU % of one core over `seconds`, pid, command line) of the `n` busiest processes."""
    def sample():
        out = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            out[int(pid)] = cpu_seconds(int(pid))
        return out
    a = sample()
    time.sleep(seconds)
    b = sample()
    rows = []
    for pid, t in b.items():
        used = t - a.get(pid, t)
        if used > 0:
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                cmd = "?"
            rows.append((100 * used / seconds, pid, cmd))
    return sorted(rows, reverse=True)[:n]


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
    watch_log(log)
    return p


def http(method, url, body=None, token=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def poll(probe, timeout, every):
    """Calls `probe` every `every` seconds until it returns something true or `timeout` seconds
    have passed: (what it returned, the seconds that took), or (None, timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = probe()
        if value:
            return value, time.monotonic() - t0
        time.sleep(every)
    return None, timeout


def get_json(url, token=None):
    status, _, body = http("GET", url, token=token)
    return status, (json.loads(body) if body else None)


def publisher(rtmp_url, seconds, log):
    """What OBS sends: 720p30 H.264 with a keyframe every second, AAC, in real time."""
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


class Stack:
    """lait-local + nginx-rtmp + the media agent on free loopback ports."""

    def __init__(self, agent_env=None, local_env=None):
        self.tmp = tempfile.mkdtemp(prefix="lait-e2e.")
        self.port, self.rtmp, self.nginx_http, self.agent_port = free_port(), free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # Suites sign up several streamers from one address.
        env = dict(os.environ, LAIT_BIND=f"127.0.0.1:{self.port}", LAIT_WEB_DIR=os.path.join(REPO, "web", "dist"), LAIT_SIGNUP_LIMIT="1000/60",
                   LAIT_INGEST_URL=f"rtmp://127.0.0.1:{self.rtmp}/live")
        env.update(local_env or {})
        spawn([f"{TARGET}/lait-local"], f"{self.tmp}/lait-local.log", env)
        wait_port(self.port)
        self.node = MediaNode(self, "", agent_env, rtmp=self.rtmp)
        # The first node's parts, as the suites have always named them.
        self.rtmp, self.nginx_http, self.agent_port = self.node.rtmp, self.node.nginx_http, self.node.agent_port
        self.prefix, self.hook_token, self.agent_env, self.agent = self.node.prefix, self.node.hook_token, self.node.agent_env, self.node.agent

    def add_node(self, name, agent_env=None):
        """Another media node (nginx-rtmp + agent) on its own ports, reporting to the same API."""
        return MediaNode(self, name, agent_env)

    def streamer(self):
        """A new account; returns (channel id, access token, stream key)."""
        tag = os.urandom(4).hex()
        email = f"e2e-{tag}@example.com"
        status, _, body = http("POST", f"{self.base}/api/auth/signup", {"email": email, "nickname": f"e2e_{tag}", "password": "correct horse battery"})
        assert status == 201, body
        channel = json.loads(body)["channel_id"]
        _, _, body = http("POST", f"{self.base}/api/auth/login", {"email": email, "password": "correct horse battery"})
        token = json.loads(body)["access_token"]
        _, mine = get_json(f"{self.base}/api/channels/mine", token)
        return channel, token, mine["stream_key"]

    def rtmp_url(self, key):
        return f"rtmp://127.0.0.1:{self.rtmp}/live/{key}"

    def listed(self, channel):
        """The channel's entry in the directory (GET /api/lives), or None."""
        _, lives = get_json(f"{self.base}/api/lives?limit=100")
        return next((l for l in lives["items"] if l["channel"]["id"] == channel), None)

    def wait_listed(self, channel, timeout, every=0.25):
        """The channel's directory entry once listed and the seconds that took, or (None, timeout)."""
        return poll(lambda: self.listed(channel), timeout, every)

    def wait_live(self, channel, timeout=10):
        """The channel's live once its master playlist is served, or None."""
        def served():
            live = self.listed(channel)
            return live if live and http("GET", self.base + live["playlist_url"])[0] == 200 else None
        return poll(served, timeout, 0.25)[0]

    def wait_ended(self, live_id, timeout):
        """The live once ended and the seconds that took, or (None, timeout)."""
        def ended():
            _, live = get_json(f"{self.base}/api/lives/{live_id}")
            return live if live["status"] == "ended" else None
        return poll(ended, timeout, 0.5)


class MediaNode:
    """nginx-rtmp + the media agent on free loopback ports, reporting to `stack`'s lait-local.
    `name` ("" for a stack's first node) names its files and, when given, its node id; `/ready`
    is served on `ready_port`."""

    def __init__(self, stack, name, agent_env=None, rtmp=None):
        tag = f"-{name}" if name else ""
        self.name = name
        self.rtmp, self.nginx_http, self.agent_port, self.ready_port = rtmp or free_port(), free_port(), free_port(), free_port()
        self.prefix = f"{stack.tmp}/nginx{tag}"
        # The per-boot secret of the nginx → agent hooks.
        self.hook_token = secrets.token_hex(32)
        subprocess.run(
            ["bash", f"{REPO}/media-node/render-nginx.sh", self.prefix, f"127.0.0.1:{self.rtmp}", str(self.nginx_http), f"127.0.0.1:{self.agent_port}", self.hook_token],
            check=True, stdout=subprocess.DEVNULL,
        )
        self.agent_env = dict(
            os.environ,
            LAIT_HOOK_TOKEN=self.hook_token,
            LAIT_CHANNELS_URL=stack.base,
            LAIT_AGENT_BIND=f"127.0.0.1:{self.agent_port}",
            LAIT_READY_BIND=f"127.0.0.1:{self.ready_port}",
            LAIT_RTMP_PORT=str(self.rtmp),
            LAIT_NGINX_HTTP_PORT=str(self.nginx_http),
            LAIT_SPOOL_DIR=f"{stack.tmp}/spool{tag}",
            LAIT_HEARTBEAT_SECS="2",
        )
        if name:
            self.agent_env["LAIT_NODE_ID"] = name
        self.agent_env.update(agent_env or {})
        self.log = f"{stack.tmp}/agent{tag}.log"
        self.agent = spawn([f"{TARGET}/lait-media-agent"], self.log, self.agent_env)
        wait_port(self.agent_port)
        self.nginx = spawn(["nginx", "-p", self.prefix, "-c", f"{self.prefix}/nginx.conf", "-e", f"{self.prefix}/logs/error.log"], f"{stack.tmp}/nginx{tag}.log")
        watch_log(f"{self.prefix}/logs/error.log", f"nginx{tag} error.log")
        wait_port(self.rtmp)

    def rtmp_url(self, key):
        return f"rtmp://127.0.0.1:{self.rtmp}/live/{key}"

    def ready(self):
        """(status, body) of the agent's `/ready`, or (None, None) when it does not answer."""
        try:
            status, _, body = http("GET", f"http://127.0.0.1:{self.ready_port}/ready", timeout=2)
            return status, json.loads(body)
        except OSError:
            return None, None


class Balancer:
    """The network load balancer in front of media nodes: each new TCP connection goes to the
    next node (round robin) whose health check (`/ready`) answered 200 at its last probe, as an
    NLB target group with an HTTP health check does; when none is healthy it fails open (every
    node), as an NLB does. Probes every `every` s (an NLB: 10 s, two in a row)."""

    def __init__(self, nodes, every=0.5):
        self.nodes = list(nodes)
        self.healthy = {n.name: False for n in self.nodes}
        self.picks = []
        self.turn = 0
        self.port = free_port()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(64)
        self.every = every
        self.probe()
        threading.Thread(target=self._probing, daemon=True).start()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, key):
        return f"rtmp://127.0.0.1:{self.port}/live/{key}"

    def probe(self):
        for n in self.nodes:
            self.healthy[n.name] = n.ready()[0] == 200

    def _probing(self):
        while True:
            time.sleep(self.every)
            self.probe()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            targets = [n for n in self.nodes if self.healthy[n.name]] or self.nodes
            node = targets[self.turn % len(targets)]
            self.turn += 1
            self.picks.append(node.name)
            try:
                upstream = socket.create_connection(("127.0.0.1", node.rtmp))
            except OSError:
                client.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Proxy:
    """A TCP proxy to 127.0.0.1:target that can be paused (connections cut, new ones refused, as
    when the server is down), held (a partition: connections accepted and kept, nothing
    forwarded either way, as when packets are dropped) or made to lose answers (requests reach
    the server, which acts on them, and its answers are dropped; only the answers to requests
    containing one of `lose_answers(matching=…)`'s byte strings, if given)."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.paused = threading.Event()
        self.held = threading.Event()
        self.answers_lost = threading.Event()
        self.lost_matching = None
        # Seconds every answer is held before it is passed on (a slow server).
        self.delay = 0.0
        self.socks = set()
        self.lock = threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(256)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.server.accept()
            if self.paused.is_set():
                client.close()
                continue
            if self.held.is_set():
                with self.lock:
                    self.socks.add(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.socks |= {client, upstream}
            # Whether the answer to this connection's latest request is to be lost.
            lose = {"latest": True}
            for a, b, answers in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(a, b, answers, lose), daemon=True).start()

    def _pump(self, src, dst, answers, lose):
        try:
            while data := src.recv(65536):
                if not answers:
                    matching = self.lost_matching
                    lose["latest"] = matching is None or any(m in data for m in matching)
                if self.held.is_set() or answers and self.answers_lost.is_set() and lose["latest"]:
                    continue
                if answers and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def _cut(self):
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.socks.clear()

    def pause(self):
        self.paused.set()
        self._cut()

    def hold(self):
        self.held.set()

    def lose_answers(self, matching=None):
        self.lost_matching = matching
        self.answers_lost.set()

    def resume(self):
        """Back to forwarding; connections opened or stalled meanwhile are cut (their clients
        reconnect)."""
        if self.held.is_set() or self.answers_lost.is_set():
            self._cut()
        self.held.clear()
        self.answers_lost.clear()
        self.paused.clear()


def stop_procs():
    """Every process a suite spawned: SIGTERM, then SIGKILL after 10 s."""
    for p in PROCS:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in PROCS:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def finish(stack=None):
    stop_procs()
    if stack and not all(RESULTS):
        for log in ("agent.log", "lait-local.log", "nginx/logs/error.log"):
            path = os.path.join(stack.tmp, log)
            if os.path.exists(path):
                print(f"--- {log} (tail)")
                print("".join(open(path).readlines()[-30:]))


def run(main):
    """Runs a suite; prints the closing line; exits non-zero on any failure."""
    stack = None
    try:
        stack = main()
    except Exception as e:  # noqa: BLE001 - report and fail, never hang
        check("the suite ran to the end", False, repr(e))
    finish(stack)
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not RESULTS else 0)


# ---- processes as a benchmark sees them ----

TICK = os.sysconf("SC_CLK_TCK")


def pids(pattern):
    """Processes whose command line matches `pattern` (pgrep -f)."""
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def child_pids(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_seconds(pid):
    """User + system CPU seconds of `pid` so far (0 once it is gone)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TICK
    except (OSError, IndexError):
        return 0.0
