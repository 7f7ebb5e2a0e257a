#!/usr/bin/env bash
# Builds the web app and publishes it to a deployed stack: web/dist and a config.json naming the
# stack's WebSocket API go to its web bucket, CloudFront forgets index.html and config.json.
# Uses the standard AWS environment (credentials, region).
#   scripts/deploy-web.sh <stack name> [--kakao]
source "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || { echo "usage: scripts/deploy-web.sh <stack name> [--kakao]" >&2; exit 2; }
install_all
build_web
"$VENV/bin/python" "$REPO/scripts/deploy_web.py" --stack "$@"
