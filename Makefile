# Every habit is one command. `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The lock (requirements/*.txt, exact versions with hashes) is for CPython 3.11 on Linux x86_64, the
# image's platform. Elsewhere `make install UNLOCKED=1` resolves pyproject.toml's ranges instead, with
# TORCH_SPEC (e.g. `TORCH_SPEC=torch` for a CUDA build).
UNLOCKED ?=
TORCH_SPEC ?= torch==2.13.0
# Where pip finds torch's CPU build (torch==2.13.0+cpu): this machine's pip config already knows a
# local folder; elsewhere TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
TORCH_INDEX_URL ?=
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL))

.PHONY: install lock proto capacity serve test test-fast lint format bench browser image image-test clean

$(STAMP): pyproject.toml requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifdef UNLOCKED
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[train,dev]"
else
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/build.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps --no-build-isolation $(TORCH_INDEX) \
		-r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
endif
	touch $(STAMP)

install:  ## create or refresh .venv from the lock: the package, its train extra and the dev tools
	rm -f $(STAMP)
	$(MAKE) $(STAMP)

# One lock file per install set, all from pyproject.toml: dev (everything; what `make install` and CI
# use) first, then the others constrained by it, so the image runs exactly the versions CI tested.
# `make lock` keeps the current pins where it can; `make lock UPGRADE=1` takes the newest allowed.
TORCH_FIND_LINKS ?= $(if $(wildcard /opt/wheels/torch-*.whl),/opt/wheels,https://download.pytorch.org/whl/cpu/torch/)
LOCK = $(BIN)/uv pip compile --quiet --native-tls --generate-hashes --custom-compile-command "make lock" \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28 --find-links $(TORCH_FIND_LINKS) \
	-c requirements/constraints.in $(if $(UPGRADE),--upgrade)
lock: $(STAMP)  ## requirements/{dev,serve,train,build}.txt from pyproject.toml (exact versions, hashes)
	$(LOCK) pyproject.toml --extra train --extra dev --group build -o requirements/dev.txt
	$(LOCK) -c requirements/dev.txt pyproject.toml -o requirements/serve.txt
	$(LOCK) -c requirements/dev.txt pyproject.toml --extra train -o requirements/train.txt
	$(LOCK) -c requirements/dev.txt --group pyproject.toml:build -o requirements/build.txt

PROTOS := app/serving/grpc_service/protos
proto: $(STAMP)  ## app/serving/grpc_service/generated/ from its .proto (the generated code is committed)
	$(BIN)/python -m grpc_tools.protoc -I $(PROTOS) --python_out=$(PROTOS)/../generated \
		--pyi_out=$(PROTOS)/../generated $(PROTOS)/open_inference.proto

# One replica's capacity within a p99 objective, the autoscaling settings that follow, and the hour of
# traffic simulated against them (docs/operations.md, "Scaling out").
SLO_P99_MS ?= 500
PRECISION ?= fp32
capacity: $(STAMP)  ## measure one replica (SLO_P99_MS, PRECISION), print KServe/KEDA/Azure settings, simulate autoscaling
	$(BIN)/python -m bench.capacity --slo-p99-ms $(SLO_P99_MS) --precision $(PRECISION)
	$(BIN)/python -m bench.autoscale_sim --capacity bench/results/capacity/$(PRECISION).json

serve: $(STAMP)  ## serve bert-base-cased (or MODEL_ID / --model) on port 5001
	$(BIN)/python -m app serve

test: lint browser  ## lint, type-check and run the whole test suite
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## the edit loop: pytest without live servers, the browser and torchrun (make test runs all)
	$(BIN)/python -m pytest -m "not e2e and not browser and not distributed"

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
browser:  ## Debian's Chromium for the playground's browser test (playwright downloads no browser)
	test -n "$(CHROMIUM)" || test -x /usr/bin/chromium || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

lint: $(STAMP)
	$(BIN)/ruff check app tests bench deploy
	$(BIN)/ruff format --check app tests bench deploy
	$(BIN)/mypy app

bench: $(STAMP)  ## baseline vs our server in fp32, bf16, int8 and a classifier, long and short loads; embeddings; Open Inference over REST vs gRPC (docs/performance.md)
	$(BIN)/python -m bench.run --sentences long $(BENCH_ARGS)
	$(BIN)/python -m bench.run --sentences short --out bench/results/short $(BENCH_ARGS)
	$(BIN)/python -m bench.embeddings $(EMBEDDINGS_ARGS)
	$(BIN)/python -m bench.grpc_load $(GRPC_ARGS)

# The images (Dockerfile): IMAGE serves, IMAGE:train adds the train extra. Where this machine has a
# local torch wheel (and no torch index can be reached), it goes into the build context's .wheels/.
IMAGE ?= bert-fill-mask
BASE_IMAGE ?= python:3.11-slim-bookworm
DOCKER_BUILD_FLAGS ?= --network host
LOCAL_TORCH := $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl)
DOCKER_BUILD = docker build $(DOCKER_BUILD_FLAGS) --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	$(if $(LOCAL_TORCH),--build-arg TORCH_INDEX_URL=)
image:  ## build IMAGE (serving) and IMAGE:train (BASE_IMAGE=..., the base image to build on)
	$(if $(LOCAL_TORCH),mkdir -p .wheels && cp -u $(LOCAL_TORCH) .wheels/)
	$(DOCKER_BUILD) --target train -t $(IMAGE):train .
	$(DOCKER_BUILD) -t $(IMAGE) .
	docker image ls $(IMAGE)

image-test: image $(STAMP)  ## build, then run the images on a tiny checkpoint and check them (README, Docker)
	$(BIN)/python -m tests.image_check --image $(IMAGE) --train-image $(IMAGE):train

format: $(STAMP)
	$(BIN)/ruff check --fix app tests bench deploy
	$(BIN)/ruff format app tests bench deploy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
