# The two commands of the README: `make demo` (the main job end to end) and `make test` (what CI runs).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv lock wheel demo test test-quality lint bench bench-peers clean docs

# The venv is rebuilt when a lock or the package metadata changes. It holds exactly requirements-dev.lock
# (runtime + dev + docs + postgres + spark, every file checked against its hash), then cxml itself, editable and
# without dependencies, so nothing outside the lock is ever resolved. uv installs it in ~20 s; plain pip
# (`make venv UV=0`) installs exactly the same files. Both write the bytecode at install time (uv only when asked):
# where PYTHONDONTWRITEBYTECODE is set, as on these machines, every process would otherwise compile what it
# imports from source, ~1.2 s per process that loads MLflow, BentoML and the boosters, and the tests start hundreds.
UV ?= 1
$(BIN)/.installed: requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(UV),1)
	$(BIN)/python -m pip install -q uv==0.13.9
	$(BIN)/python -m uv pip install --python $(BIN)/python --compile-bytecode --require-hashes -r requirements-dev.lock
	$(BIN)/python -m uv pip install --python $(BIN)/python --no-deps -e .
else
	$(BIN)/python -m pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
endif
	$(BIN)/python -m compileall -q src
	touch $@

# Regenerate both locks from pyproject.toml (needs the network). The runtime lock is what the Bento installs; the
# dev lock is constrained to it, so tests run on exactly the versions that are served.
LOCK := $(BIN)/python -m uv pip compile pyproject.toml --generate-hashes --python-version 3.11
lock: venv
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev --extra docs --extra postgres --extra spark -c requirements.lock -o requirements-dev.lock

# The wheel the Bento installs (cxml build stages its own; this one is for publishing or a look inside).
wheel: venv
	$(BIN)/python -m uv build --wheel --out-dir dist

venv: $(BIN)/.installed

demo: venv
	$(BIN)/cxml demo $(ARGS)

# The default suite: unit, integration (MLflow, BentoML over HTTP, PostgreSQL, Spark), e2e and notebooks, 13-15 min on
# 2 cores (20 min on a machine ~1.4x slower, bench/RESULTS.md). One worker more than the cores: with one per core
# 17 % of the CPU sat idle while tests waited on servers and subprocesses (3 workers: 13 min 56 s, 2: 17 min 14 s,
# same clone, quiet machine). The model-quality thresholds
# re-train on the public sets and simulated companies (6-8 min more) under tuning timeouts that load would cut
# short, so they keep one worker per core: `make test-quality`, which CI runs after it.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not quality" --durations=25 $(PYTEST_ARGS)

test-quality: venv
	$(BIN)/python -m pytest -n auto --dist loadfile -m quality --durations=15 $(PYTEST_ARGS)

# The documentation site (docs/, mkdocs.yml) into site/, offline; --strict fails on a broken link or reference.
docs: venv
	@test -x $(BIN)/mkdocs || { echo "make docs: mkdocs is not in $(VENV); install the docs extra: $(BIN)/python -m uv pip install --python $(BIN)/python -e '.[docs]'" >&2; exit 1; }
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: venv
	$(BIN)/ruff check src tests bench notebooks
	$(BIN)/ruff format --check src tests bench notebooks
	$(BIN)/mypy
	$(BIN)/lint-imports

# The peers every bench/*_peers.py measures cxml against, in virtualenvs of their own so .venv stays exactly the
# lock. .venv-peers: requirements.lock (hashes checked), then bench/peers-requirements.txt constrained to the lock
# (-c: no pinned version moves; bench/peers-overrides.txt keeps causalml from replacing xgboost-cpu). lifetimes and
# lifelines need pandas < 3, so lifecycle_peers.py runs them in a child process on .venv-peers-lifecycle. Each
# script runs with cxml from src/ and writes its report to bench/out/NAME.txt; the churn, price, lifecycle and uplift
# scripts also rewrite their generated block of bench/RESULTS.md (bench/results_section.py).
# PEERS_SCRIPTS="bench/churn_peers.py" runs one.
PEERS_VENV ?= .venv-peers
PEERS_LIFECYCLE_VENV ?= .venv-peers-lifecycle
PEERS_SCRIPTS ?= $(sort $(wildcard bench/*_peers.py))
$(PEERS_VENV)/.installed: requirements.lock bench/peers-requirements.txt bench/peers-overrides.txt | venv
	$(BIN)/python -m uv venv -q --allow-existing --python $(PYTHON) $(PEERS_VENV)
	$(BIN)/python -m uv pip install -q --python $(PEERS_VENV)/bin/python --require-hashes -r requirements.lock
	$(BIN)/python -m uv pip install -q --python $(PEERS_VENV)/bin/python -c requirements.lock \
		--override bench/peers-overrides.txt -r bench/peers-requirements.txt
	touch $@
$(PEERS_LIFECYCLE_VENV)/.installed: | venv
	$(BIN)/python -m uv venv -q --allow-existing --python $(PYTHON) $(PEERS_LIFECYCLE_VENV)
	$(BIN)/python -m uv pip install -q --python $(PEERS_LIFECYCLE_VENV)/bin/python \
		"pandas<3" "setuptools<81" lifetimes lifelines "numpy<2.3" scipy
	touch $@

bench-peers: $(PEERS_VENV)/.installed $(PEERS_LIFECYCLE_VENV)/.installed
	mkdir -p bench/out
	@for script in $(PEERS_SCRIPTS); do \
		name=$$(basename $$script .py); extra=""; \
		case $$name in \
			churn_peers) extra="--results bench/RESULTS.md";; \
			price_peers) extra="--results bench/RESULTS.md";; \
			uplift_peers) extra="--results bench/RESULTS.md";; \
			lifecycle_peers) extra="--peer-python $(PEERS_LIFECYCLE_VENV)/bin/python --results bench/RESULTS.md";; \
		esac; \
		echo "== $$script $$extra"; start=$$(date +%s); \
		PYTHONPATH=src $(PEERS_VENV)/bin/python $$script $$extra > bench/out/$$name.txt 2>&1; code=$$?; \
		cat bench/out/$$name.txt; test $$code = 0 || exit $$code; \
		echo "== $$script took $$(( $$(date +%s) - start )) s"; \
	done

clean:
	rm -rf .cxml build dist src/*.egg-info
