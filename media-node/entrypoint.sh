#!/usr/bin/env bash
# Container entrypoint: renders nginx.conf (RTMP on all interfaces, hooks and stat on loopback),
# starts the agent, then nginx; if either exits, the container stops (and restarts under ECS).
set -euo pipefail
prefix=/var/lib/lait/nginx
bash /opt/lait/render-nginx.sh "$prefix" "0.0.0.0:${LAIT_RTMP_PORT}" "${LAIT_NGINX_HTTP_PORT}" "${LAIT_AGENT_BIND}" >/dev/null
lait-media-agent &
agent=$!
nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" &
nginx_pid=$!
trap 'kill -TERM $agent $nginx_pid 2>/dev/null; wait' TERM INT
wait -n "$agent" "$nginx_pid"
kill -TERM "$agent" "$nginx_pid" 2>/dev/null || true
wait
