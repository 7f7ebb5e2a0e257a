"""Uploads the built web app (web/dist) and its config.json to the stack's web bucket and
invalidates what changes under a stable name. Run through scripts/deploy-web.sh.

    deploy_web.py --stack NAME                 # reads the stack's outputs
    deploy_web.py --bucket B --site-url URL --ws-url URL [--distribution ID] [--kakao]
"""
import argparse
import json
import mimetypes
import os
import sys
import time

import boto3

DIST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web", "dist")
# Vite names everything under assets/ by content hash: a new build is a new URL.
IMMUTABLE = "public, max-age=31536000, immutable"
# The rest (index.html, config.json, favicon) keeps its name across deploys.
REVALIDATE = "no-cache"


def stack_outputs(name):
    stack = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def web_config(site_url, ws_url, kakao):
    # Same origin as the page for the API and the media (CloudFront routes /api and /media).
    return {"api_base": site_url, "ws_url": ws_url, "cdn_base": "/media", "kakao": kakao}


def upload(s3, bucket, dist, config):
    """Hashed assets first, then the stable names, so a page never references a missing asset."""
    files = []
    for root, _, names in os.walk(dist):
        for n in names:
            path = os.path.join(root, n)
            files.append(os.path.relpath(path, dist).replace(os.sep, "/"))
    files.sort(key=lambda k: (not k.startswith("assets/"), k))
    for key in files:
        kind = mimetypes.guess_type(key)[0] or "application/octet-stream"
        with open(os.path.join(dist, key), "rb") as f:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=f.read(),
                ContentType=kind,
                CacheControl=IMMUTABLE if key.startswith("assets/") else REVALIDATE,
            )
    s3.put_object(
        Bucket=bucket,
        Key="config.json",
        Body=json.dumps(config).encode(),
        ContentType="application/json",
        CacheControl=REVALIDATE,
    )
    return files + ["config.json"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stack")
    p.add_argument("--bucket")
    p.add_argument("--site-url")
    p.add_argument("--ws-url")
    p.add_argument("--distribution")
    p.add_argument("--kakao", action="store_true")
    p.add_argument("--dist", default=DIST)
    a = p.parse_args()
    if a.stack:
        out = stack_outputs(a.stack)
        a.bucket, a.site_url = out["WebBucket"], out["SiteUrl"]
        a.ws_url, a.distribution = out["WebSocketUrl"], out["DistributionId"]
    if not (a.bucket and a.site_url and a.ws_url):
        p.error("give --stack, or --bucket, --site-url and --ws-url")
    if not os.path.isfile(os.path.join(a.dist, "index.html")):
        sys.exit(f"{a.dist} has no index.html: run web/build.sh first")
    keys = upload(boto3.client("s3"), a.bucket, a.dist, web_config(a.site_url, a.ws_url, a.kakao))
    print(f"uploaded {len(keys)} files to s3://{a.bucket}")
    if a.distribution:
        boto3.client("cloudfront").create_invalidation(
            DistributionId=a.distribution,
            InvalidationBatch={
                "Paths": {"Quantity": 2, "Items": ["/index.html", "/config.json"]},
                "CallerReference": str(time.time()),
            },
        )
        print(f"invalidated /index.html and /config.json on {a.distribution}")


if __name__ == "__main__":
    main()
