# Shared helpers for scripts/run and scripts/test. Sourced, not executed.
# Everything the platform needs is installed here, idempotently, from Debian / PyPI / crates.io.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAIT_CACHE="${LAIT_CACHE:-/var/cache/lait}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$LAIT_CACHE/target}"
# The cache outlives every clone; incremental data would only grow it (tens of GB) for no gain in CI.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
VENV="${LAIT_VENV:-$LAIT_CACHE/venv}"
APT_PACKAGES=(redis-server nginx libnginx-mod-rtmp ffmpeg)

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# ---- install ----

install_apt() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v nginx >/dev/null || missing+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing+=(libnginx-mod-rtmp)
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v curl >/dev/null || missing+=(curl)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v pgrep >/dev/null || missing+=(procps)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt: installing ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root (or install them first)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

install_venv() {
  local stamp="$VENV/.lait-requirements"
  if [ -x "$VENV/bin/moto_server" ] && cmp -s "$REPO/localstack/requirements.txt" "$stamp"; then
    return
  fi
  say "python: installing $(grep -v '^#' "$REPO/localstack/requirements.txt" | tr '\n' ' ')into $VENV"
  mkdir -p "$LAIT_CACHE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REPO/localstack/requirements.txt"
  cp "$REPO/localstack/requirements.txt" "$stamp"
}

# What only the tests need: a second real encoder (GStreamer), a CPU hog, a browser.
install_test_tools() {
  local missing=()
  command -v gst-launch-1.0 >/dev/null && gst-inspect-1.0 rtmp2sink >/dev/null 2>&1 \
    && gst-inspect-1.0 x264enc >/dev/null 2>&1 && gst-inspect-1.0 avenc_aac >/dev/null 2>&1 \
    || missing+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
                 gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
  command -v stress-ng >/dev/null || missing+=(stress-ng)
  # The browser suite drives Debian's Chromium (playwright's own browsers cannot be downloaded).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # Hangul glyphs for the screenshots the browser suite takes.
  [ -d /usr/share/fonts/truetype/nanum ] || missing+=(fonts-nanum)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt: installing ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root (or install them first)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  # Unused-dependency check of the test command (built once into ~/.cargo/bin, its own target
  # dir so the workspace's stays as it is).
  if ! command -v cargo-machete >/dev/null; then
    say "cargo: installing cargo-machete"
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}-tools" \
      cargo install cargo-machete --version 0.9.2 --locked
  fi
}

build_rust() {
  say "cargo: building the workspace (target dir $CARGO_TARGET_DIR)"
  (cd "$REPO" && cargo build --workspace --bins "$@")
}

build_web() {
  say "web: building web/dist"
  bash "$REPO/web/build.sh"
}

install_all() {
  install_apt
  install_venv
}

# ---- processes ----

PIDS=()

# Stops everything this script started: TERM, then KILL after 5 s.
stop_all() {
  local pid
  [ ${#PIDS[@]} -gt 0 ] || return 0
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

# A TCP port nobody listens on.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port name [seconds]
  local i
  for i in $(seq $((${3:-20} * 10))); do
    port_busy "$1" && return 0
    sleep 0.1
  done
  die "$2 did not open port $1"
}

# cargo-lambda (PyPI, pinned) in the venv: it builds the functions as `sam build` does.
install_cargo_lambda() {
  if ! "$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q '^cargo-lambda 1\.9\.2 '; then
    say "pip: installing cargo-lambda into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check cargo-lambda==1.9.2
  fi
}

# The AWS SAM CLI and cfn-lint (PyPI, pinned) in the venv: the templates are linted and built as
# a developer deploying them would. The SAM CLI pins aws-sam-translator (1.115.0), the transform
# tests/deploy/stack.py runs as CloudFormation would.
SAM_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
install_deploy_tools() {
  install_cargo_lambda
  if ! "$VENV/bin/sam" --version 2>/dev/null | grep -q " $SAM_VERSION\$" \
    || ! "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -q " $CFN_LINT_VERSION\$"; then
    say "pip: installing aws-sam-cli $SAM_VERSION and cfn-lint $CFN_LINT_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
      "aws-sam-cli==$SAM_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  fi
}

# `sam build` of template.yaml into $1: cargo-lambda builds each function (release profile) in the
# shared target dir. The production architecture is arm64; this machine's toolchain has only the
# x86_64 standard library, so the build here overrides the template's Architecture parameter.
sam_build() { # build dir
  (cd "$REPO" && SAM_CLI_TELEMETRY=0 CARGO_LAMBDA_COMPILER=cargo PATH="$VENV/bin:$PATH" \
    "$VENV/bin/sam" build --parameter-overrides "Architecture=$(lambda_arch)" --build-dir "$1")
}
lambda_arch() { [ "$(uname -m)" = aarch64 ] && echo arm64 || echo x86_64; }

# Every function's Lambda bootstrap (release profile), at $CARGO_TARGET_DIR/lambda/<name>/bootstrap.
# This machine is x86_64; AWS gets arm64 from `sam build` (cargo-lambda with zig).
build_lambdas() {
  say "cargo lambda: building the functions (release, $(uname -m))"
  (cd "$REPO" && PATH="$VENV/bin:$PATH" cargo lambda build --release --compiler cargo \
    -p lait-auth -p lait-channels -p lait-chat-api -p lait-chat-ws)
}

# The target dir outlives every clone; each dependency change leaves the old test binaries behind
# (hundreds of MB each), which once filled the disk. Keeps the newest of each name.
prune_target() {
  local deps
  for deps in "$CARGO_TARGET_DIR"/{debug,perf,release,x86_64-unknown-linux-gnu/release}/deps; do
    [ -d "$deps" ] || continue
    find "$deps" -maxdepth 1 -type f -perm -u+x ! -name '*.*' -printf '%T@ %f\n' |
      awk '{ name = $2; sub(/-[0-9a-f]+$/, "", name); print name, $1, $2 }' |
      sort -k1,1 -k2,2nr |
      awk -v dir="$deps" 'seen[$1]++ { print dir "/" $3 }' |
      xargs -r rm -f
  done
}

start_redis() { # port dir
  port_busy "$1" && die "port $1 (Redis) is already in use; set LAIT_REDIS_PORT"
  mkdir -p "$2"
  redis-server --bind 127.0.0.1 --port "$1" --dir "$2" --save "" --appendonly no \
    --logfile "$2/redis.log" --daemonize no &
  PIDS+=($!)
  wait_port "$1" redis
}

start_moto() { # port logfile
  port_busy "$1" && die "port $1 (moto) is already in use; set LAIT_MOTO_PORT"
  "$VENV/bin/python" "$REPO/localstack/moto_server.py" -H 127.0.0.1 -p "$1" >"$2" 2>&1 &
  PIDS+=($!)
  wait_port "$1" moto_server
}

# A bench's own stores: Redis and moto on free ports under <dir>, the environment pointing at
# them, tables and buckets created. Sets REDIS_PORT, MOTO_PORT, REDIS_PID and MOTO_PID.
start_stores() { # dir
  REDIS_PORT="$(free_port)"; MOTO_PORT="$(free_port)"
  start_redis "$REDIS_PORT" "$1/redis"; REDIS_PID="${PIDS[-1]}"
  start_moto "$MOTO_PORT" "$1/moto.log"; MOTO_PID="${PIDS[-1]}"
  export_env "$REDIS_PORT" "$MOTO_PORT"
  init_stores >/dev/null
}

# The line every bench prints first, so a figure says where it was measured.
say_machine() {
  say "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%F)"
}

# A bench's scratch dir, in $TMP: on exit, everything the bench started is stopped and the dir
# removed. If the bench started lait-local (start_perf_local), a failure shows the tail of its log
# and KEEP_LOG=<file> keeps a copy of it.
bench_scratch() { # name
  TMP="$(mktemp -d "/tmp/lait-$1.XXXXXX")"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
}

bench_cleanup() {
  local rc=$? log="$TMP/lait-local.log"
  if [ -f "$log" ]; then
    [ "$rc" = 0 ] || tail -20 "$log" >&2
    [ -z "${KEEP_LOG:-}" ] || cp "$log" "$KEEP_LOG"
  fi
  stop_all
  rm -rf "$TMP"
}

# The build and settings scripts/run uses (its profile: dev with optimized dependencies).
build_run_profile() {
  say "building (the scripts/run build)"
  build_rust -q
  export LAIT_E2E_PROFILE=debug
}

# What a browser bench needs before bench/web.py: the tools, the scripts/run build, the web app,
# its own stores, and the machine line.
prepare_browser_bench() {
  install_all
  install_test_tools
  build_run_profile
  build_web
  start_stores "$TMP"
  say_machine
}

# lait-local and the load generators in the perf profile (release code, thin LTO).
build_perf() {
  say "building (profile perf)"
  (cd "$REPO" && cargo build --profile perf -p lait-local -p lait-bench)
}

# The perf build of lait-local on a free port, against the stores of start_stores, its log in
# $TMP/lait-local.log. Sets PORT and LOCAL_PID.
start_perf_local() {
  PORT="$(free_port)"
  LAIT_BIND="127.0.0.1:$PORT" RUST_LOG="${RUST_LOG:-warn}" "$CARGO_TARGET_DIR/perf/lait-local" \
    >"$TMP/lait-local.log" 2>&1 &
  LOCAL_PID=$!
  PIDS+=("$LOCAL_PID")
  wait_port "$PORT" lait-local
}

init_stores() {
  "$VENV/bin/python" "$REPO/localstack/init/ready.d/10-lait-resources.py" >&2
}

# Exports the standard AWS + Lait environment for the given ports.
export_env() { # redis_port moto_port
  export REDIS_URL="redis://127.0.0.1:$1"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$2"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export LAIT_TABLE_PREFIX="${LAIT_TABLE_PREFIX:-lait-}"
  export LAIT_MEDIA_BUCKET="${LAIT_MEDIA_BUCKET:-lait-media}"
  export LAIT_WEB_BUCKET="${LAIT_WEB_BUCKET:-lait-web}"
  # Signing key for access tokens: random unless given (scripts/run keeps one per state dir).
  export LAIT_JWT_SECRET="${LAIT_JWT_SECRET:-$(head -c 48 /dev/urandom | base64 | tr -d '\n')}"
  # Shared by channels and the media node to sign /internal/media requests.
  export LAIT_MEDIA_SECRET="${LAIT_MEDIA_SECRET:-$(head -c 48 /dev/urandom | base64 | tr -d '\n')}"
}

# nginx-rtmp + the media agent, on loopback.
start_media() { # rtmp_port nginx_http_port agent_port channels_url state_dir
  local prefix="$5/nginx"
  for p in "$1" "$2" "$3"; do port_busy "$p" && die "port $p (media node) is already in use"; done
  # nginx → agent hooks carry a per-boot secret (nothing else on the host may drive the agent).
  local token
  token="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  bash "$REPO/media-node/render-nginx.sh" "$prefix" "127.0.0.1:$1" "$2" "127.0.0.1:$3" "$token" >/dev/null
  LAIT_CHANNELS_URL="$4" LAIT_AGENT_BIND="127.0.0.1:$3" LAIT_RTMP_PORT="$1" LAIT_NGINX_HTTP_PORT="$2" \
    LAIT_HOOK_TOKEN="$token" LAIT_SPOOL_DIR="$5/spool" \
    "$CARGO_TARGET_DIR/debug/lait-media-agent" >"$5/agent.log" 2>&1 &
  PIDS+=($!)
  wait_port "$3" "media agent"
  nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" &
  PIDS+=($!)
  wait_port "$1" nginx-rtmp
}
