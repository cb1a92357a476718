#!/usr/bin/env bash
# Create the Pipecat peer's virtualenv and install requirements.txt into it, once.
#
#   benchmarks/peers/pipecat/setup.sh            # a no-op when already installed
#   PIPECAT_VENV=/some/dir benchmarks/peers/pipecat/setup.sh
#
# The venv is separate from the project's (.venv) because Pipecat pins its own livekit SDK. It is
# built from the same base interpreter as .venv (Python 3.11). A stamp file holds the hash of
# requirements.txt; a matching stamp and an importable pipecat mean there is nothing to do.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${PIPECAT_VENV:-$ROOT/.cache/peers/pipecat-venv}"
REQUIREMENTS="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"

want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
    && "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("pipecat") is None)'
then
    exit 0
fi

# The base interpreter of the project's venv, else any python3.11 on PATH.
base_python() {
    if [[ -x "$ROOT/.venv/bin/python" ]]; then
        local prefix
        prefix="$("$ROOT/.venv/bin/python" -c 'import sys; print(sys.base_prefix)')"
        for candidate in "$prefix/bin/python3.11" "$prefix/bin/python3"; do
            if [[ -x "$candidate" ]]; then
                echo "$candidate"
                return
            fi
        done
    fi
    command -v python3.11 || { echo "python3.11 not found" >&2; exit 1; }
}

if [[ ! -x "$VENV/bin/python" ]]; then
    python="$(base_python)"
    echo "creating $VENV with $python" >&2
    mkdir -p "$(dirname "$VENV")"
    "$python" -m venv "$VENV"
fi

started=$SECONDS
echo "installing the Pipecat peer's requirements into $VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
"$VENV/bin/python" -c 'import pipecat.transports.livekit.transport, pipecat.audio.vad.silero'
echo "$want" > "$STAMP"
echo "Pipecat peer installed in $((SECONDS - started)) s" >&2
