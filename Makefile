# One command set for developers and CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the tests use, as tool=package: ffprobe checks the simulator's videos, chromium
# opens the HTML report, docker-compose validates the compose file, redis-server runs private Redis.
SYSTEM_TOOLS := ffprobe=ffmpeg chromium=chromium docker-compose=docker-compose redis-server=redis-server

.PHONY: help demo test lint typecheck pytest bench bytecode system-deps clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

system-deps: ## Install the Debian packages the tests need (as root, as CI runs)
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%=*} >/dev/null || missing="$$missing $${pair#*=}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# An installed wheel carries its bytecode; an editable install leaves it to the first import,
# which skips writing it under PYTHONDONTWRITEBYTECODE and compiles every module at every start.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q jobs worker ops

demo: bytecode ## Render manifests/examples/demo.yaml against the local simulator
	$(BIN)/kbatch demo

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy jobs worker tests ops

pytest: $(STAMP) system-deps
	$(BIN)/pytest

test: lint pytest ## Lint, type-check and run every test against the real services

bench: bytecode ## Side-by-side benchmark (ops/bench)
	$(BIN)/python -m ops.bench.compare

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
