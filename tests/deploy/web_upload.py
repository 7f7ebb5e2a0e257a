"""scripts/deploy_web.py against the test S3 (moto, through the standard AWS environment): every
file of web/dist lands under its own key with its type and caching, config.json names the
WebSocket API and the same-origin API and media, and nothing stale is served under a stable name
with a long cache.

    python tests/deploy/web_upload.py     (needs web/dist and AWS_ENDPOINT_URL)
"""
import json
import os
import subprocess
import sys
import uuid

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from lait_e2e import REPO, check, run  # noqa: E402

def main():
    dist = os.path.join(REPO, "web", "dist")
    s3 = boto3.client("s3")
    bucket = f"lait-web-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    run = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "deploy_web.py"), "--bucket", bucket,
         "--site-url", "https://lait.example.com", "--ws-url", "wss://abc.execute-api.us-east-1.amazonaws.com/live"],
        capture_output=True, text=True,
    )
    check("deploy_web.py succeeds", run.returncode == 0, run.stderr[-800:])

    local = sorted(
        os.path.relpath(os.path.join(root, n), dist).replace(os.sep, "/")
        for root, _, names in os.walk(dist) for n in names
    )
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    check("every built file and config.json are uploaded, nothing else", keys == sorted(local + ["config.json"]), (keys, local))

    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        cache = head.get("CacheControl", "")
        if key.startswith("assets/"):
            ok = "immutable" in cache and "max-age=31536000" in cache
        else:
            ok = cache == "no-cache"
        check(f"{key}: Cache-Control {cache!r}", ok)
        want = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".json": "application/json", ".svg": "image/svg+xml"}.get(os.path.splitext(key)[1])
        check(f"{key}: Content-Type {head['ContentType']!r}", want is None or head["ContentType"].startswith(want) or (want == "text/javascript" and "javascript" in head["ContentType"]))
        if key != "config.json":
            with open(os.path.join(dist, key), "rb") as f:
                check(f"{key}: same bytes as web/dist", s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f.read())

    config = json.loads(s3.get_object(Bucket=bucket, Key="config.json")["Body"].read())
    check(
        "config.json: the site's API, the WebSocket API, media under /media, no external login",
        config == {"api_base": "https://lait.example.com", "ws_url": "wss://abc.execute-api.us-east-1.amazonaws.com/live", "cdn_base": "/media", "kakao": False},
        config,
    )

    bad = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "deploy_web.py"), "--bucket", bucket], capture_output=True, text=True)
    check("without the URLs it refuses, with a usage error", bad.returncode == 2 and "--site-url" in bad.stderr, bad.stderr[-300:])


run(main)
