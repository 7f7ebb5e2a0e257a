#!/usr/bin/env bash
# Container entrypoint: renders nginx.conf (RTMP on all interfaces, hooks and stat on loopback),
# starts the agent, then nginx; if either exits, the container stops (and restarts under ECS).
# SIGTERM goes to the agent alone: it drains (lives go on until their publishers leave,
# LAIT_DRAIN_SECS at most), so nginx keeps ingesting until the agent is done, then quits.
set -euo pipefail
prefix=/var/lib/lait/nginx
# On ECS each task names itself by its task id (logs, publish calls).
if [ -z "${LAIT_NODE_ID:-}" ] && [ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ]; then
  LAIT_NODE_ID="$(curl -fsS "$ECS_CONTAINER_METADATA_URI_V4/task" | sed -n 's/.*"TaskARN": *"[^"]*\/\([^"]*\)".*/\1/p')"
  export LAIT_NODE_ID
fi
# A new hook secret every boot, known to nginx's config and the agent only.
LAIT_HOOK_TOKEN="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export LAIT_HOOK_TOKEN
bash /opt/lait/render-nginx.sh "$prefix" "0.0.0.0:${LAIT_RTMP_PORT}" "${LAIT_NGINX_HTTP_PORT}" "${LAIT_AGENT_BIND}" "$LAIT_HOOK_TOKEN" >/dev/null
lait-media-agent &
agent=$!
nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" &
nginx_pid=$!
trap 'kill -TERM $agent 2>/dev/null; wait $agent; kill -QUIT $nginx_pid 2>/dev/null; wait' TERM INT
wait -n "$agent" "$nginx_pid"
kill -TERM "$agent" "$nginx_pid" 2>/dev/null || true
wait
