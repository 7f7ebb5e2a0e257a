#!/usr/bin/env bash
# Renders nginx.conf.template into <prefix>/nginx.conf and creates the prefix's directories.
#   render-nginx.sh PREFIX RTMP_LISTEN HTTP_PORT AGENT_ADDR HOOK_TOKEN
# e.g. render-nginx.sh /tmp/lait-nginx 127.0.0.1:1935 1937 127.0.0.1:1936 "$LAIT_HOOK_TOKEN"
# HOOK_TOKEN is the agent's LAIT_HOOK_TOKEN (letters, digits, - and _; at least 32).
set -euo pipefail
prefix="$1" rtmp="$2" http="$3" agent="$4" token="$5"
[[ "$token" =~ ^[A-Za-z0-9_-]{32,}$ ]] || { echo "render-nginx.sh: HOOK_TOKEN must be 32+ of [A-Za-z0-9_-]" >&2; exit 2; }
mkdir -p "$prefix/logs" "$prefix/tmp"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@RTMP_LISTEN@|$rtmp|g" -e "s|@HTTP_PORT@|$http|g" -e "s|@AGENT@|$agent|g" \
  -e "s|@HOOK_TOKEN@|$token|g" \
  "$(dirname "$0")/nginx.conf.template" > "$prefix/nginx.conf"
echo "$prefix/nginx.conf"
