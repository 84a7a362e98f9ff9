# genguard developer commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every extra the suite, the docs and the benchmarks need (one list for every Python).
EXTRAS := redis,prometheus,batch,testing,sdk,pil
# Dependency groups (pyproject.toml): the tools, never published with the package.
GROUPS := dev bench docs

.PHONY: demo test test-fast mutation lint typecheck bench bench-quick clean install docs smoke test-pythons

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]" $(foreach g,$(GROUPS),--group $(g))
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/genguard demo

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

# The edit loop: no process fleets, no redis-server, no Prometheus.
test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow and not redis and not prometheus"

# Flip key conditions in retry, rate limit, breaker, safety and hints; fails unless
# every mutant is applied and caught by its tests.
mutation: $(STAMP)
	$(PY) tools/mutation_check.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

smoke: $(STAMP)
	bash .ci/smoke-wheel

test-pythons:
	EXTRAS="$(EXTRAS)" GROUPS="$(GROUPS)" bash .ci/other-pythons

bench: $(STAMP)
	$(PY) -m benchmarks.run --out docs/benchmarks.md

bench-quick: $(STAMP)
	$(PY) -m benchmarks.run --quick --out /tmp/genguard-bench-quick.md

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .mypy_cache .ruff_cache build dist
