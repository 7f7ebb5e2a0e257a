#!/usr/bin/env python3
"""The functions' Lambda bootstraps under an emulated Lambda Runtime API, against the real stores.

Each bootstrap (`main.rs` of auth, channels, chat-api, chat-ws, and the scheduled jobs
channels-reaper and chat-sweep) runs as Lambda runs it: its own
process with `AWS_LAMBDA_RUNTIME_API` pointing at a runtime server it polls for the next
invocation and posts answers to. The events are what API Gateway sends: HTTP API payload 2.0 for
the HTTP functions, WebSocket `$connect` / MESSAGE / `$disconnect` for chat-ws, whose replies go
to a fake `@connections` endpoint that records them. The flow: sign up → log in → the owner's
channel → a chat ticket → `$connect` → `send` → the message reaches every connection through
PostToConnection → `$disconnect`; the jobs answer an EventBridge Scheduler event, booted as the
template boots them (no token secret). Also timed: exec → first answer (cold start).

Bootstraps: the workspace's builds in $LAIT_E2E_PROFILE (debug) by default; LAIT_LAMBDA_DIR
points at cargo-lambda's output instead (`<dir>/<function>/bootstrap`). Standard library only.
"""
import json
import os
import queue
import random
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lait_e2e import TARGET, check, free_port, run, spawn

FUNCTIONS = ["auth", "channels", "chat-api", "chat-ws"]
# Scheduled jobs: store clients only, as template.yaml gives them no token secret.
JOBS = ["channels-reaper", "chat-sweep"]
PREFIX = "/2018-06-01/runtime"
# The caller's address as API Gateway reports it; one per run, so per-IP limits (sign-ups) start
# fresh even when runs share a Redis.
SOURCE_IP = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


class QuietServer(ThreadingHTTPServer):
    # A bootstrap killed while it waits for its next invocation breaks the pipe: not news.
    def handle_error(self, *_):
        pass


class Runtime:
    """One function's Runtime API: hands out queued events, collects what the bootstrap answers."""

    def __init__(self, name):
        self.name = name
        self.events = queue.Queue()
        self.answers = {}
        self.done = threading.Condition()
        self.first_poll = None
        self.init_error = None
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self.reply(404, b"{}")
                if runtime.first_poll is None:
                    runtime.first_poll = time.monotonic()
                request_id, event = runtime.events.get()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("lambda-runtime-aws-request-id", request_id)
                self.send_header("lambda-runtime-deadline-ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("lambda-runtime-invoked-function-arn", f"arn:aws:lambda:us-east-1:123456789012:function:{runtime.name}")
                self.send_header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
                body = json.dumps(event).encode()
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path == f"{PREFIX}/init/error":
                    runtime.init_error = body.decode(errors="replace")
                    return self.reply(202, b"{}")
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with runtime.done:
                        runtime.answers[parts[1]] = (parts[2], body)
                        runtime.done.notify_all()
                    return self.reply(202, b"{}")
                self.reply(404, b"{}")

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.port = free_port()
        self.server = QuietServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event, timeout=30):
        """Queues one event and waits for the bootstrap's answer: (kind, parsed body)."""
        request_id = str(uuid.uuid4())
        self.events.put((request_id, event))
        deadline = time.monotonic() + timeout
        with self.done:
            while request_id not in self.answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no answer to {request_id}")
                self.done.wait(left)
            kind, body = self.answers.pop(request_id)
        return kind, json.loads(body) if body else None


class Connections:
    """A fake `@connections` management endpoint: records every PostToConnection."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                connection = urllib.parse.unquote(self.path.rsplit("/", 1)[-1])
                with outer.lock:
                    outer.posts.append((connection, json.loads(body)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_DELETE(self):
                self.send_response(204)
                self.end_headers()

        self.port = free_port()
        self.server = QuietServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def frames(self, connection):
        with self.lock:
            return [f for c, f in self.posts if c == connection]


def http_event(method, path, body=None, token=None, query=""):
    """An API Gateway HTTP API (payload 2.0) event."""
    headers = {"host": "api.lait.test", "user-agent": "lambda-e2e"}
    if body is not None:
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "lait",
            "domainName": "api.lait.test",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": SOURCE_IP, "userAgent": "lambda-e2e"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def ws_event(connection, route, event_type, body=None, query=None):
    """An API Gateway WebSocket API event, as chat-ws receives it."""
    now = time.time()
    event = {
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "messageDirection": "IN",
            "stage": "prod",
            "apiId": "lait",
            "domainName": "ws.lait.test",
            "connectionId": connection,
            "connectedAt": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": SOURCE_IP},
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = json.dumps(body)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def answer(runtime, event):
    """An HTTP function's answer to an event: (status, parsed JSON body or None)."""
    kind, res = runtime.invoke(event)
    if kind != "response":
        return None, res
    body = res.get("body")
    if res.get("isBase64Encoded"):
        import base64

        body = base64.b64decode(body).decode()
    return res["statusCode"], json.loads(body) if body else None


def lambda_env(name, runtime, connections):
    """The environment Lambda gives a function, pointing at `runtime` and `connections`."""
    return dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{runtime.port}",
        AWS_LAMBDA_FUNCTION_NAME=name,
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{name}",
        AWS_LAMBDA_LOG_STREAM_NAME="e2e",
        LAIT_WS_CALLBACK_URL=f"http://127.0.0.1:{connections.port}",
        RUST_LOG="warn",
    )


def scheduled_event():
    """What EventBridge Scheduler sends a target on schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/lait"],
        "detail": {},
    }


def bootstrap(name):
    lambda_dir = os.environ.get("LAIT_LAMBDA_DIR")
    return os.path.join(lambda_dir, name, "bootstrap") if lambda_dir else os.path.join(TARGET, name)


def main():
    tmp = os.environ.get("TMPDIR", "/tmp")
    connections = Connections()
    runtimes, started = {}, {}
    for name in FUNCTIONS + JOBS:
        rt = runtimes[name] = Runtime(name)
        env = lambda_env(name, rt, connections)
        if name in JOBS:
            env.pop("LAIT_JWT_SECRET", None)
        started[name] = time.monotonic()
        spawn([bootstrap(name)], f"{tmp}/lambda-{name}-{os.getpid()}.log", env)

    # A first, cheap request (an unknown route is a 404 problem) to each HTTP function.
    for name in ("auth", "channels", "chat-api"):
        status, body = answer(runtimes[name], http_event("GET", "/api/no-such-route"))
        check(f"{name}: the bootstrap answers an HTTP API event (unknown route → 404 problem)", status == 404 and body and body.get("status") == 404, body)
    # Lambda's init duration: exec → the bootstrap's first poll for an invocation.
    print("     init (exec → first poll): " + ", ".join(
        f"{n} {(rt.first_poll - started[n]) * 1000:.0f} ms" for n, rt in runtimes.items() if rt.first_poll))
    for name, rt in runtimes.items():
        check(f"{name}: no init error reported", rt.init_error is None, rt.init_error)

    for name, field in (("channels-reaper", "ended"), ("chat-sweep", "flushed_rooms")):
        kind, res = runtimes[name].invoke(scheduled_event())
        check(f"{name}: the bootstrap runs its job on a scheduled event ({field})", kind == "response" and isinstance(res, dict) and isinstance(res.get(field), int), (kind, res))

    auth, channels, chat_api, chat_ws = (runtimes[n] for n in FUNCTIONS)
    email, password = f"lambda-{uuid.uuid4().hex[:10]}@lait.test", "correct horse battery"
    nickname = f"lam{uuid.uuid4().hex[:8]}"
    status, me = answer(auth, http_event("POST", "/api/auth/signup", {"email": email, "password": password, "nickname": nickname}))
    check("auth: sign-up through the bootstrap is 201", status == 201, me)
    status, tokens = answer(auth, http_event("POST", "/api/auth/login", {"email": email, "password": password}))
    check("auth: log-in answers an access token", status == 200 and tokens and tokens.get("access_token"), tokens)
    token = (tokens or {}).get("access_token")
    status, mine = answer(channels, http_event("GET", "/api/channels/mine", token=token))
    check("channels: the owner's channel, with its stream key, to its owner", status == 200 and mine and mine.get("stream_key"), status)
    channel = (mine or {}).get("id")
    if not channel:
        return None
    status, bad = answer(channels, http_event("GET", "/api/channels/mine"))
    check("channels: without a token it is a 401 problem", status == 401 and bad and bad.get("status") == 401, bad)
    status, ticket = answer(chat_api, http_event("POST", "/api/chat/tickets", {"channel_id": channel}, token=token))
    check("chat-api: a chat ticket for the channel", status == 201 and ticket and ticket.get("ticket"), (status, ticket))

    writer, reader = f"w{uuid.uuid4().hex[:12]}=", f"r{uuid.uuid4().hex[:12]}="
    kind, res = chat_ws.invoke(ws_event(writer, "$connect", "CONNECT", query={"channel": channel, "ticket": (ticket or {}).get("ticket", "")}))
    check("chat-ws: $connect with the ticket is accepted", kind == "response" and res and res.get("statusCode") == 200, res)
    kind, res = chat_ws.invoke(ws_event(reader, "$connect", "CONNECT", query={"channel": channel}))
    check("chat-ws: an anonymous $connect is accepted (read-only)", kind == "response" and res and res.get("statusCode") == 200, res)
    kind, res = chat_ws.invoke(ws_event(f"x{uuid.uuid4().hex[:12]}=", "$connect", "CONNECT", query={"channel": channel, "ticket": "forged"}))
    check("chat-ws: a forged ticket is refused at $connect", kind == "response" and res and res.get("statusCode", 200) >= 400, res)

    text = f"hello from a Lambda {uuid.uuid4().hex[:6]}"
    kind, res = chat_ws.invoke(ws_event(writer, "send", "MESSAGE", body={"action": "send", "text": text, "request_id": "r1"}))
    check("chat-ws: the send event is handled", kind == "response" and res and res.get("statusCode") == 200, res)

    def delivered(connection):
        return any(f.get("type") == "batch" and any(m.get("text") == text for m in f.get("messages", [])) for f in connections.frames(connection))

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (delivered(writer) and delivered(reader)):
        time.sleep(0.05)
    check("the message reaches the sender through PostToConnection", delivered(writer), connections.frames(writer))
    check("the message reaches the anonymous reader through PostToConnection", delivered(reader), connections.frames(reader))
    acks = [f for f in connections.frames(writer) if f.get("type") == "ack" and f.get("request_id") == "r1"]
    check("the sender gets its ack, once", len(acks) == 1, connections.frames(writer))

    kind, res = chat_ws.invoke(ws_event(reader, "send", "MESSAGE", body={"action": "send", "text": "anonymous?", "request_id": "r2"}))
    refused = [f for f in connections.frames(reader) if f.get("type") == "error" and f.get("request_id") == "r2"]
    check("an anonymous send is answered with an error frame", kind == "response" and refused, connections.frames(reader))
    for connection in (writer, reader):
        kind, res = chat_ws.invoke(ws_event(connection, "$disconnect", "DISCONNECT"))
        check("chat-ws: $disconnect is handled", kind == "response" and res and res.get("statusCode") == 200, res)
    return None


if __name__ == "__main__":
    run(main)
