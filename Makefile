# Encore: two commands set up a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
DB ?= encore.duckdb
OUT ?= out
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck bench clean chromium java

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch==2.13.0 named in the same command takes the CPU build (see README)
	$(BIN)/pip install -q torch==2.13.0 -e '.[ml,serve,audio,text,spark,lake,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m encore.demo --data $(DATA) --db $(DB) --out $(OUT)

test: $(STAMP) chromium java
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)
	$(BIN)/mypy
	@# pytest exits 5 when it collected nothing: that is a failure here, said plainly
	$(BIN)/pytest -n 2 -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo 'pytest collected no tests' >&2; exit 1; fi; exit $$rc

# the dashboard's browser tests drive Debian's chromium (Playwright's own download is not used)
chromium:
	@command -v chromium >/dev/null || { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q && \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q chromium; }

# the Spark engine (pyspark, the `spark` extra) runs on a Java 17 runtime
java:
	@command -v java >/dev/null || { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q && \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q openjdk-17-jre-headless; }

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --data $(DATA)

clean:
	rm -rf $(VENV) $(OUT) $(DB) .pytest_cache .mypy_cache
