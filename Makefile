# Every habit is one command. `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch; on a machine with a GPU, e.g. `make install TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install serve test lint format bench browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install:  ## create or refresh .venv with the package and the dev tools
	rm -f $(STAMP)
	$(MAKE) $(STAMP)

serve: $(STAMP)  ## serve bert-base-cased (or MODEL_ID / --model) on port 5001
	$(BIN)/python -m app serve

test: lint browser  ## lint, type-check and run the whole test suite
	$(BIN)/python -m pytest

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
browser:  ## Debian's Chromium for the playground's browser test (playwright downloads no browser)
	test -n "$(CHROMIUM)" || test -x /usr/bin/chromium || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

lint: $(STAMP)
	$(BIN)/ruff check app tests bench deploy
	$(BIN)/ruff format --check app tests bench deploy
	$(BIN)/mypy app

bench: $(STAMP)  ## baseline vs our server in fp32, bf16, int8 and a classifier (see README, Performance)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

format: $(STAMP)
	$(BIN)/ruff check --fix app tests bench deploy
	$(BIN)/ruff format app tests bench deploy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
