#!/usr/bin/env bash
# The image takes a real call. livekit-server runs on this machine; the LLM server, the
# control plane and the worker run inside the image (one buildah container, chroot isolation:
# this machine's network, one SQLite store in the container's /data); a simulated caller on
# this machine starts a call through the API and must hear the greeting and an answer.
#   scripts/image/test.sh [IMAGE]     (`make image-test`; after `make image` and `make setup`)
# Ports (not the ones `make run` or the test suite use): IMAGE_TEST_LIVEKIT_PORT (7990),
# IMAGE_TEST_LIVEKIT_UDP_PORT (7992), IMAGE_TEST_LLM_PORT (8198), IMAGE_TEST_WORKER_PORT (8191),
# IMAGE_TEST_CONTROL_PLANE_PORT (8196).
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${1:-voice-agents:latest}
LIVEKIT_PORT=${IMAGE_TEST_LIVEKIT_PORT:-7990}
LIVEKIT_UDP_PORT=${IMAGE_TEST_LIVEKIT_UDP_PORT:-7992}
LLM_PORT=${IMAGE_TEST_LLM_PORT:-8198}
WORKER_PORT=${IMAGE_TEST_WORKER_PORT:-8191}
CONTROL_PLANE_PORT=${IMAGE_TEST_CONTROL_PLANE_PORT:-8196}
AGENT_NAME=image-test-agent
PY=${PYTHON:-.venv/bin/python}
LIVEKIT_BIN=${LIVEKIT_SERVER_BIN:-.cache/bin/livekit-server-v1.13.5}
LOGS=.cache/logs/image-test
BUILDAH=(buildah --storage-driver vfs)

container=""
pids=()

# Each background process leads its own process group (job control), so stopping the group
# stops what `buildah run` started inside the image too.
set -m
cleanup() {
  set +e
  local pid
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for _ in $(seq 15); do
    local alive=""
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  [ -n "$container" ] && "${BUILDAH[@]}" rm "$container" >/dev/null 2>&1
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "image-test: FAILED: $*" >&2
  exit 1
}

# Polls `$2...` (a command) once a second for up to $1 seconds.
wait_for() {
  local seconds=$1
  shift
  for _ in $(seq "$seconds"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

http_ok() {
  "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"
}

port_free() {
  "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[2] == "udp" else socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, sys.argv[2] == "tcp")  # as servers do
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" "${2:-tcp}" 2>/dev/null || fail "port $1 is busy"
}

# Runs `$2...` in the background (its own process group), output to $LOGS/$1.log.
start() {
  local name=$1
  shift
  "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  pids+=($!)
}

in_image() {
  "${BUILDAH[@]}" run --isolation chroot --user app "$@"
}

[ -x "$PY" ] || fail "$PY not found: run \`make setup\`"
[ -x "$LIVEKIT_BIN" ] || fail "$LIVEKIT_BIN not found: run \`make setup\`"
"${BUILDAH[@]}" inspect --type image "$IMAGE" >/dev/null 2>&1 || fail "no image $IMAGE: run \`make image\`"
port_free "$LIVEKIT_PORT"
port_free "$LIVEKIT_UDP_PORT" udp
port_free "$LLM_PORT"
port_free "$WORKER_PORT"
port_free "$CONTROL_PLANE_PORT"
mkdir -p "$LOGS"
read -r KEY SECRET < <("$PY" -c 'from simulator.stack import livekit_keys; print(*livekit_keys())')
started=$(date +%s)

echo "livekit-server on 127.0.0.1:$LIVEKIT_PORT (udp $LIVEKIT_UDP_PORT) ..."
"$PY" - "$LIVEKIT_PORT" "$LIVEKIT_UDP_PORT" "$LOGS/livekit.yaml" <<'EOF'
import sys
from pathlib import Path

import yaml

conf = yaml.safe_load(Path("livekit.yaml").read_text())
conf["port"], conf["rtc"]["udp_port"] = int(sys.argv[1]), int(sys.argv[2])
Path(sys.argv[3]).write_text(yaml.safe_dump(conf))
EOF
start livekit "$LIVEKIT_BIN" --config "$LOGS/livekit.yaml"
wait_for 30 http_ok "http://127.0.0.1:$LIVEKIT_PORT/" || fail "livekit-server did not start ($LOGS/livekit.log)"

container=$("${BUILDAH[@]}" from --pull=never --name "image-test-$$" "$IMAGE")

echo "in the image: the worker's preflight ..."
in_image --env "LIVEKIT_URL=ws://127.0.0.1:$LIVEKIT_PORT" "$container" -- voice-agents check --livekit \
  || fail "the worker's preflight"
echo "in the image: every shared library of the venv finds what it links ..."
# site-packages/lib holds llama-cpp-python's build leftovers (CMake files, a libllama-common
# without its search path); llama_cpp loads its libraries from llama_cpp/lib.
missing=$(in_image "$container" -- sh -c 'find /opt/venv -name "*.so*" -type f \
  -not -path "*/site-packages/lib/*" -exec ldd {} + 2>/dev/null | grep "not found" | sort -u')
[ -z "$missing" ] || fail "libraries not found in the image: $missing"

echo "in the image: the LLM server on 127.0.0.1:$LLM_PORT ..."
start llm "${BUILDAH[@]}" run --isolation chroot --user app \
  --env LLM_HOST=127.0.0.1 --env "LLM_PORT=$LLM_PORT" "$container" -- voice-agents llm
wait_for 120 http_ok "http://127.0.0.1:$LLM_PORT/v1/models" \
  || fail "the LLM server did not answer ($LOGS/llm.log)"
in_image --env "LLM_PORT=$LLM_PORT" "$container" -- voice-agents healthcheck llm

echo "in the image: the control plane on 127.0.0.1:$CONTROL_PLANE_PORT (SQLite in /data) ..."
start control-plane "${BUILDAH[@]}" run --isolation chroot --user app \
  --env "LIVEKIT_URL=ws://127.0.0.1:$LIVEKIT_PORT" \
  --env "LIVEKIT_API_KEY=$KEY" --env "LIVEKIT_API_SECRET=$SECRET" \
  --env "VOICE_AGENT_NAME=$AGENT_NAME" \
  --env CONTROL_PLANE_HOST=127.0.0.1 --env "CONTROL_PLANE_PORT=$CONTROL_PLANE_PORT" \
  "$container" -- voice-agents control-plane
wait_for 120 http_ok "http://127.0.0.1:$CONTROL_PLANE_PORT/openapi.json" \
  || fail "the control plane did not answer ($LOGS/control-plane.log)"
in_image --env "CONTROL_PLANE_PORT=$CONTROL_PLANE_PORT" "$container" -- \
  voice-agents healthcheck control-plane
API_KEY=$(in_image "$container" -- voice-agents admin create-company "Image test" 2>/dev/null \
  | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["api_key"])') \
  || fail "admin create-company"

echo "in the image: the worker (health on 127.0.0.1:$WORKER_PORT) ..."
start worker "${BUILDAH[@]}" run --isolation chroot --user app \
  --env "LIVEKIT_URL=ws://127.0.0.1:$LIVEKIT_PORT" \
  --env "LIVEKIT_API_KEY=$KEY" --env "LIVEKIT_API_SECRET=$SECRET" \
  --env "VOICE_AGENT_NAME=$AGENT_NAME" \
  --env "LLM_BASE_URL=http://127.0.0.1:$LLM_PORT/v1" \
  --env "WORKER_HTTP_HOST=127.0.0.1" --env "WORKER_HTTP_PORT=$WORKER_PORT" \
  "$container" -- voice-agents worker
wait_for 180 grep -q "registered worker" "$LOGS/worker.log" \
  || fail "the worker did not register ($LOGS/worker.log)"
in_image --env "WORKER_HTTP_PORT=$WORKER_PORT" "$container" -- voice-agents healthcheck worker
in_image "$container" -- id -un | grep -qx app || fail "the image does not run as its user app"

echo "a call through the control plane, the caller on this machine ..."
"$PY" scripts/image/call.py "http://127.0.0.1:$CONTROL_PLANE_PORT" "$API_KEY" \
  || fail "the call (logs in $LOGS)"
echo "image-test: passed in $(($(date +%s) - started)) s (logs in $LOGS)"
