# One job per target. Every target creates .venv on first use, so `make demo` and `make test`
# work as the first command on a fresh clone with only python3 installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pywb (replay tests, README) lives in its own venv: it needs brotlipy, whose `brotli` module
# would replace the Brotli that scraper uses (see pyproject.toml)
PYWB_VENV := .venv-pywb
PYWB := pywb==2.10.0
PYWB_STAMP := $(PYWB_VENV)/.installed-$(PYWB)
# Scrapy, the peer of bench-crawl: an extra of .venv (it pins nothing of ours; see pyproject.toml)
BENCH_STAMP := $(VENV)/.installed-bench
ARGS ?=

.PHONY: install demo test check lint format typecheck bench bench-extract bench-crawl bench-noise stress clean bench-scale

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,web,postgres]'
	touch $(STAMP)

$(PYWB_STAMP):
	test -x $(PYWB_VENV)/bin/python || $(PYTHON) -m venv $(PYWB_VENV)
	$(PYWB_VENV)/bin/python -m pip install --quiet '$(PYWB)'
	touch $(PYWB_STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,web,bench]'
	touch $(BENCH_STAMP)

install: $(STAMP) $(PYWB_STAMP)  ## .venv with scraper, its dev tools and the web extra; pywb in .venv-pywb

demo: $(STAMP)  ## serve the bundled demo site on 127.0.0.1, archive it, change it, show the diff
	$(BIN)/python -m scraper.demo

test: $(STAMP) $(PYWB_STAMP)  ## the test suite (pass pytest options in ARGS=...)
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check scraper tests
	$(BIN)/ruff format --check scraper tests

format: $(STAMP)
	$(BIN)/ruff format scraper tests
	$(BIN)/ruff check --fix scraper tests

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test  ## everything a change must pass

bench: bench-extract bench-crawl bench-noise  ## every benchmark, figures printed

bench-extract: $(STAMP)  ## extraction quality and speed vs plain trafilatura on ../shared/bench
	$(BIN)/python -m tests.benchmarks.bench_extract $(ARGS)

bench-crawl: $(BENCH_STAMP)  ## scraper vs Scrapy on a generated local site: pages/s, CPU by stage, RSS
	$(BIN)/python -m tests.benchmarks.bench_crawl $(ARGS)

bench-noise: $(STAMP)  ## crawl a local site full of noise 10 times, then edit it: versions, notifications
	$(BIN)/python -m tests.benchmarks.bench_noise

bench-scale: $(STAMP)  ## one frontier shared by 1, 2, 3 workers on a throwaway PostgreSQL, beside SQLite
	$(BIN)/python -m tests.benchmarks.bench_scale $(ARGS)

stress: $(STAMP)  ## the fault matrix, a 5,000-page crawl with faulty pages, 20+ random SIGKILLs
	$(BIN)/python -m tests.benchmarks.stress
	SCRAPER_SLOW_TESTS=1 $(BIN)/python -m pytest -q -m slow $(ARGS)

clean:
	rm -rf $(VENV) $(PYWB_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis data/*.db data/*.db-* data/demo
