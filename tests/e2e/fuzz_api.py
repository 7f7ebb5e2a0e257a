#!/usr/bin/env python3
"""API fuzzing: schemathesis against the OpenAPI document lait-local serves (`/api/openapi.json`).

Starts its own Redis and moto (LAIT_REDIS_SERVER, LAIT_MOTO_SERVER, LAIT_INIT_STORES, as
scripts/test exports them; standalone it falls back to redis-server and the venv's moto) and
lait-local against them, seeds what the operations need through the API (an owner with a notice,
a chat word and a moderator; a viewer; a live and a VOD through the signed media hooks), then runs
`schemathesis run` over every operation twice: anonymous, and with the owner's
`Authorization: Bearer` token. Each pass runs the coverage phase (schema-valid and schema-invalid
values at the edges of every parameter), fuzzing (positive and negative data) and the stateful
phase (links schemathesis infers from the responses). The seeded ids are offered to the path
parameters half of the time (schemathesis dictionaries), so the fuzzer gets past "no such channel"
into the handlers; the other half is generated.

Checks: all of schemathesis' (no 5xx; every status, content type, header and body as documented;
schema-invalid input refused; secured operations refused without credentials; a deleted resource
is gone; a 405 names the allowed methods), except `positive_data_acceptance` (see CHECKS). Also
checked: lait-local logged no panic and no 5xx.

Bounded: LAIT_FUZZ_EXAMPLES examples per operation and phase (default 50: about 2 minutes on 2
cores); bench/fuzz_api.sh runs it longer, one tag at a time on a fresh token (it lives 15 minutes).
Every pass prints its seed; LAIT_FUZZ_SEED=<seed> generates the same requests again. A failure
prints each failing request as a curl line and keeps the run's logs, configs and reports.
Exits non-zero on any failure.
"""
import atexit
import hashlib
import hmac
import json
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.request

from lait_e2e import REPO, RESULTS, TARGET, check, free_port, get_json, http, run, spawn, wait_port

VENV = os.environ.get("LAIT_VENV", os.path.join(os.environ.get("LAIT_CACHE", "/var/cache/lait"), "venv"))
EXAMPLES = int(os.environ.get("LAIT_FUZZ_EXAMPLES", "50"))
SEED = os.environ.get("LAIT_FUZZ_SEED")
# One worker: as fast on 2 cores (the server side is the work), and hypothesis parsing lambdas
# from two threads at once trips a CPython 3.11 bug ("AST constructor recursion depth mismatch",
# python/cpython#106905) that failed a pass with a tool error.
WORKERS = os.environ.get("LAIT_FUZZ_WORKERS", "1")
PASSWORD = "correct horse battery"

# Every check schemathesis has, but one. `positive_data_acceptance` wants every schema-valid
# request accepted, and the API rightly refuses some that no JSON Schema can tell apart: an
# opaque pagination cursor of another list, an upload key that is not the caller's, a password
# equal to the email, a nickname that folds to a taken one, text outside the Unicode policy. What
# a schema can say (lengths, ranges, id and message-id patterns) the document says; the check
# itself would only be noise. Its mirror, `negative_data_rejection`, stays on.
CHECKS = "all"
EXCLUDED_CHECKS = "positive_data_acceptance"


def command(var, default):
    return shlex.split(os.environ.get(var) or default)


def toml(value):
    """A TOML value (inline tables for dicts); JSON's string escapes are TOML's."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + " }"


def start_stores(tmp):
    """Redis and moto of this suite's own, tables and buckets created: the environment for them."""
    redis_port, moto_port = free_port(), free_port()
    spawn(
        command("LAIT_REDIS_SERVER", "redis-server")
        + ["--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        f"{tmp}/redis.log",
    )
    spawn(
        command("LAIT_MOTO_SERVER", f"{VENV}/bin/python {REPO}/localstack/moto_server.py")
        + ["-H", "127.0.0.1", "-p", str(moto_port)],
        f"{tmp}/moto.log",
    )
    wait_port(redis_port)
    wait_port(moto_port)
    env = dict(
        os.environ,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_port}",
        AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        AWS_REGION=os.environ.get("AWS_REGION", "us-east-1"),
        LAIT_TABLE_PREFIX=os.environ.get("LAIT_TABLE_PREFIX", "lait-"),
        LAIT_MEDIA_BUCKET=os.environ.get("LAIT_MEDIA_BUCKET", "lait-media"),
        LAIT_WEB_BUCKET=os.environ.get("LAIT_WEB_BUCKET", "lait-web"),
    )
    env.pop("AWS_PROFILE", None)
    init = command("LAIT_INIT_STORES", f"{VENV}/bin/python {REPO}/localstack/init/ready.d/10-lait-resources.py")
    subprocess.run(init, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return env


class Api:
    def __init__(self, base, media_secret):
        self.base = base
        self.media_secret = media_secret.encode()

    def call(self, method, path, body=None, token=None, expect=(200,)):
        status, _, raw = http(method, self.base + path, body, token)
        if status not in expect:
            raise RuntimeError(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def user(self, tag):
        """A new account: (user id, channel id, access token, email)."""
        email = f"fuzz-{tag}-{secrets.token_hex(4)}@example.com"
        me = self.call("POST", "/api/auth/signup", {"email": email, "nickname": f"fz_{tag}_{secrets.token_hex(3)}", "password": PASSWORD}, expect=(201,))
        login = self.call("POST", "/api/auth/login", {"email": email, "password": PASSWORD})
        return me["id"], me["channel_id"], login["access_token"], email

    def token(self, email):
        return self.call("POST", "/api/auth/login", {"email": email, "password": PASSWORD})["access_token"]

    def signed(self, path, body):
        """A media-node hook call, HMAC-signed as shared::signing does."""
        raw = json.dumps(body).encode()
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        canonical = f"v1\n{ts}\n{nonce}\nPOST\n{path}\n{hashlib.sha256(raw).hexdigest()}"
        sig = "v1=" + hmac.new(self.media_secret, canonical.encode(), hashlib.sha256).hexdigest()
        req = urllib.request.Request(self.base + path, data=raw, method="POST", headers={
            "content-type": "application/json", "x-lait-timestamp": ts, "x-lait-nonce": nonce, "x-lait-signature": sig,
        })
        with urllib.request.urlopen(req, timeout=10) as r:
            out = r.read()
        return json.loads(out) if out else None


def seed(api):
    """What the operations' path parameters can name ({dictionary name: values}), and the owner's
    email (each signed-in pass logs in afresh)."""
    owner, owner_channel, owner_token, owner_email = api.user("owner")
    viewer, viewer_channel, _viewer_token, _ = api.user("viewer")
    mine = api.call("GET", "/api/channels/mine", token=owner_token)
    notices = [
        api.call("POST", f"/api/channels/{owner_channel}/notices", {"title": f"notice {i}", "body": "seeded"}, owner_token, expect=(201,))["id"]
        for i in range(2)
    ]
    api.call("POST", f"/api/channels/{owner_channel}/chat/words", {"word": "spoiler"}, owner_token, expect=(201,))
    api.call("PUT", f"/api/channels/{owner_channel}/moderators/{viewer}", token=owner_token, expect=(204,))
    # A past live with its recording, then a live one (ready: listed in the directory).
    first = api.signed("/internal/media/publish", {"stream_key": mine["stream_key"], "node_id": "fuzz"})
    vod_key = f"live/{owner_channel}/{first['live_id']}/vod.m3u8"
    api.signed("/internal/media/unpublish", {"live_id": first["live_id"], "vod_playlist_key": vod_key, "duration_secs": 60.0})
    live = api.signed("/internal/media/publish", {"stream_key": mine["stream_key"], "node_id": "fuzz"})
    api.signed("/internal/media/heartbeat", {"live_id": live["live_id"], "health": {"ready": True}})
    return {
        "channels": [owner_channel, viewer_channel],
        "users": [owner, viewer],
        "notices": notices,
        "words": ["spoiler"],
        "lives": [live["live_id"], first["live_id"]],
    }, owner_email


def config(values, headers):
    """schemathesis.toml of one pass (with `headers` on every request)."""
    # Path parameters: a seeded id half of the time. Where several sections match an operation,
    # the first one's `parameters` apply as a whole: the nested paths come first, with all theirs.
    channel = {"path.id": "channels"}
    ops = [
        (r"^/api/channels/\{id\}/moderators/\{user_id\}$", {**channel, "path.user_id": "users"}),
        (r"^/api/channels/\{id\}/notices/\{notice_id\}$", {**channel, "path.notice_id": "notices"}),
        (r"^/api/channels/\{id\}/chat/words/\{word\}$", {**channel, "path.word": "words"}),
        (r"^/api/channels/\{id\}", channel),
        (r"^/api/(lives|vods)/\{id\}", {"path.id": "lives"}),
        (r"^/api/users/\{id\}$", {"path.id": "users"}),
        (r"^/api/chat/tickets$", {"body.channel_id": "channels"}),
    ]
    lines = [
        "max-failures = 50",
        "request-timeout = 20",
        "[cache]", "enabled = false",
        "[generation]", f"max-examples = {EXAMPLES}", 'database = "none"', 'mode = "all"',
        # Chains of valid calls linked by the ids responses carry (invalid data is the fuzzing
        # phase's); long chains of generated JSON only cost time (at 250 steps a pass spent its
        # minutes drawing bodies without sending any).
        "[phases.stateful]", "max-steps = 10",
        "[phases.stateful.generation]", 'mode = "positive"',
    ]
    if headers:
        # A token that stops working part-way (the pass would test nothing behind it) fails it.
        lines += ["[warnings]", 'fail-on = ["missing_auth"]',
                  "[headers]", *(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in headers.items())]
    for name, entries in values.items():
        lines += [f"[dictionaries.{name}]", f"values = {toml(entries)}"]
    for regex, params in ops:
        lines += ["[[operations]]", f"include-path-regex = {json.dumps(regex)}",
                  f"parameters = {toml({k: {'dictionary': v, 'probability': 0.5} for k, v in params.items()})}"]
    if headers:
        # The refresh token rides in the httpOnly cookie, not the bearer header: without a real
        # cookie the call is 401 whatever the token, so its "only 401s" warning says nothing
        # about the token, and whether a generated case happened to get another answer (a 400)
        # was chance: it failed one pass in several.
        lines += ["[[operations]]", 'include-path = "/api/auth/refresh"', "warnings.fail-on = false"]
    return "\n".join(lines) + "\n"


def fuzz(name, base, tmp, values, headers, op_headers=(), tag=None):
    """One schemathesis pass (of the operations tagged `tag`, else all): (exit code, its JSON
    report or None, seconds)."""
    path = f"{tmp}/{name}.toml"
    text = config(values, headers)
    for include, h in op_headers:
        text += f"[[operations]]\ninclude-path = {json.dumps(include)}\nheaders = {toml(h)}\n"
    with open(path, "w") as f:
        f.write(text)
    report = f"{tmp}/{name}.json"
    args = [
        f"{VENV}/bin/schemathesis", "--config-file", path, "run", f"{base}/api/openapi.json", "--url", base,
        "--checks", CHECKS, "--exclude-checks", EXCLUDED_CHECKS,
        "--phases", "examples,coverage,fuzzing,stateful", "--workers", WORKERS, "--continue-on-failure",
        "--no-color", "--report", "json", "--report-json-path", report,
    ]
    if tag:
        args += ["--include-tag", tag]
    if SEED:
        args += ["--seed", SEED]
    t0 = time.monotonic()
    proc = subprocess.run(args, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    took = time.monotonic() - t0
    with open(f"{tmp}/{name}.log", "w") as f:
        f.write(proc.stdout)
    try:
        with open(report) as f:
            result = json.load(f)
    except (OSError, ValueError):
        result = None
    if proc.returncode != 0:
        # The failures, each with its request as a curl line, and the warnings that failed it.
        out = proc.stdout
        start = out.rfind("\n", 0, max(out.find(" FAILURES "), 0))
        print(out[start + 1 if start >= 0 else -6000:][-20000:])
    return proc.returncode, result, took


def counts(result):
    """(operations tested, test cases, failures, errors) of a pass's report."""
    if not result:
        return 0, 0, 0, 1
    return (result["operations"]["tested"], result["test_cases"]["generated"],
            sum(f["count"] for f in result["failures"]), len(result["errors"]))


def main():
    tmp = tempfile.mkdtemp(prefix="lait-fuzz.")
    # Kept when something failed: every pass's output, config and report, lait-local's log.
    atexit.register(lambda: all(RESULTS) and shutil.rmtree(tmp, ignore_errors=True))
    env = start_stores(tmp)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    media_secret = secrets.token_hex(32)
    env.update(
        LAIT_BIND=f"127.0.0.1:{port}",
        LAIT_WEB_DIR=os.path.join(REPO, "web", "dist"),
        LAIT_JWT_SECRET=secrets.token_hex(32),
        LAIT_MEDIA_SECRET=media_secret,
        # The limits would answer 429 (documented) after a few requests and keep the fuzzer out of
        # the handlers; their own tests are in the Rust suites.
        LAIT_SIGNUP_LIMIT="1000000/60",
        LAIT_SEARCH_LIMIT="1000000/60",
        LAIT_CHAT_TICKET_LIMIT="1000000/60",
        LAIT_LOGIN_IP_LIMIT="1000000/60",
        # No media node sends heartbeats: the seeded live stays up.
        LAIT_HEARTBEAT_TIMEOUT_SECS="86400",
        RUST_LOG="warn",
    )
    log = f"{tmp}/lait-local.log"
    spawn([f"{TARGET}/lait-local"], log, env)
    wait_port(port)
    status, spec = get_json(f"{base}/api/openapi.json")
    operations = [op for item in spec["paths"].values() for m, op in item.items() if m in ("get", "put", "post", "patch", "delete")]
    check(f"the OpenAPI document is served ({len(operations)} operations)", status == 200 and operations)

    api = Api(base, media_secret)
    values, owner_email = seed(api)
    check("seeded: two users, notices, a word, a moderator, a live and a VOD", True)

    totals = {}

    def record(label, rc, result, took):
        n_ops, cases, failures, errors = counts(result)
        seed = result["seed"] if result else "-"
        print(f"     {label}: {n_ops} operations, {cases} test cases, {failures} failures, {errors} errors, "
              f"seed {seed}, {took:.0f} s", flush=True)
        total = totals.setdefault(label.split(" ")[0], [0, 0, 0, 0])
        for i, v in enumerate((n_ops, cases, failures, errors)):
            total[i] += v
        return rc == 0 and result is not None

    print(f"     schemathesis: {EXAMPLES} examples per operation and phase", flush=True)
    ok = record("anonymous", *fuzz("anonymous", base, tmp, values, {}))
    check("schemathesis, anonymous: no failures, no errors", ok)

    # An access token lives 15 minutes: a long run (the bench) fuzzes one tag at a time, each on
    # a fresh token. Logout and logout-all end their session (logout-all: all of the user's), so
    # each gets a user of its own and the owner's token lives through the pass.
    tags = [None] if EXAMPLES <= 100 else sorted({t for op in operations for t in op.get("tags", [])})
    good = True
    for tag in tags:
        token = api.token(owner_email)
        spare = [api.user(f"spare{i}")[2] for i in range(2)]
        name = f"bearer-{tag}" if tag else "bearer"
        rc, result, took = fuzz(
            name, base, tmp, values, {"Authorization": f"Bearer {token}"},
            [("/api/auth/logout", {"Authorization": f"Bearer {spare[0]}"}),
             ("/api/auth/logout-all", {"Authorization": f"Bearer {spare[1]}"})],
            tag,
        )
        good &= record(f"bearer ({tag})" if tag else "bearer", rc, result, took)
        alive = http("GET", f"{base}/api/channels/mine", token=token)[0] == 200
        good &= check(f"the owner's token lived through the pass{f' ({tag})' if tag else ''}", alive)
    check("schemathesis, with a bearer token: no failures, no errors", good)

    with open(log) as f:
        text = f.read()
    panics = [l for l in text.splitlines() if "panicked" in l]
    errors = [l for l in text.splitlines() if "response failed" in l or "request failed" in l]
    check("lait-local: no panic", not panics, "\n".join(panics[:5]))
    check("lait-local: no 5xx logged", not errors, "\n".join(errors[:5]))
    print("     fuzz: " + "; ".join(
        f"{label} {ops} operations, {cases} test cases, {failures} failures, {errors} errors"
        for label, (ops, cases, failures, errors) in totals.items()))
    if not all(RESULTS):
        print(f"     logs, configs and reports: {tmp}")


if __name__ == "__main__":
    run(main)
