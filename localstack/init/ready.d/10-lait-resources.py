#!/usr/bin/env python3
"""Creates Lait's DynamoDB tables and S3 buckets, idempotently.

Runs unchanged as a LocalStack `ready.d` init hook (LocalStack executes `.py` hooks with its own
Python, which has boto3) and against moto_server from `scripts/` (the project's venv). The endpoint
comes from the standard AWS_ENDPOINT_URL; inside LocalStack it defaults to the local edge port.
On AWS, template.yaml creates the same resources: keep the two in step.

Environment: AWS_ENDPOINT_URL, AWS_REGION, LAIT_TABLE_PREFIX (default "lait-"),
LAIT_MEDIA_BUCKET (default "lait-media"), LAIT_WEB_BUCKET (default "lait-web").
"""
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL") or "http://localhost:4566"
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
PREFIX = os.environ.get("LAIT_TABLE_PREFIX", "lait-")
MEDIA_BUCKET = os.environ.get("LAIT_MEDIA_BUCKET", "lait-media")
WEB_BUCKET = os.environ.get("LAIT_WEB_BUCKET", "lait-web")


def gsi(n):
    return {
        "IndexName": f"gsi{n}",
        "KeySchema": [
            {"AttributeName": f"gsi{n}pk", "KeyType": "HASH"},
            {"AttributeName": f"gsi{n}sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


# One table per bounded context, each with a generic pk/sk and two sparse GSIs, so new access
# patterns add item types rather than schema changes. `expires_at` (epoch seconds) is the TTL.
TABLES = {
    # users, unique email/nickname claims, refresh-token families
    "users": 2,
    # channels, stream-key hashes, follows, moderators, lives ("live now" index), VODs, notices
    "channels": 2,
    # chat archive (per channel/live, sorted by message id), bans, word lists
    "chat": 2,
}


def create_table(ddb, name, gsis):
    attrs = ["pk", "sk"] + [f"gsi{n}{k}" for n in range(1, gsis + 1) for k in ("pk", "sk")]
    try:
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[gsi(n) for n in range(1, gsis + 1)],
        )
        print(f"created table {name}")
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
        print(f"table {name} exists")
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )


def create_bucket(s3, name):
    try:
        s3.head_bucket(Bucket=name)
        print(f"bucket {name} exists")
        return
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs = {"Bucket": name}
    if REGION != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": REGION}
    s3.create_bucket(**kwargs)
    print(f"created bucket {name}")


def main():
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10, "mode": "standard"})
    session = boto3.session.Session(region_name=REGION)
    ddb = session.client("dynamodb", endpoint_url=ENDPOINT, config=cfg)
    s3 = session.client("s3", endpoint_url=ENDPOINT, config=cfg)

    # The emulator may still be starting; wait for it briefly rather than fail.
    for attempt in range(50):
        try:
            ddb.list_tables(Limit=1)
            break
        except Exception:  # noqa: BLE001 - any connection failure means "not up yet"
            if attempt == 49:
                raise
            time.sleep(0.2)

    for table, gsis in TABLES.items():
        create_table(ddb, PREFIX + table, gsis)
    for bucket in (MEDIA_BUCKET, WEB_BUCKET):
        create_bucket(s3, bucket)
    # Browsers upload avatars and channel images straight to the media bucket (presigned PUT).
    s3.put_bucket_cors(
        Bucket=MEDIA_BUCKET,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["GET", "HEAD", "PUT"],
                    "AllowedOrigins": ["*"],
                    "AllowedHeaders": ["*"],
                    "MaxAgeSeconds": 3000,
                }
            ]
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
