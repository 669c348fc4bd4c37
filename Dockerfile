# CPU images of the server, installed from the lock files in requirements/ (exact versions, hashes).
#   docker build -t bert-fill-mask .                                   # serving image (the default target)
#   docker build -t bert-fill-mask:train --target train .              # + the train extra, for finetune/evaluate
#   docker build -t bert-fill-mask --build-arg BAKE_MODEL=bert-base-cased .   # model baked into the image
# The base image is one argument; pin it by digest in production (README, Docker).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- build: every package into /opt/venv, by a pinned pip; nothing of this stage ships but the venv.
FROM ${BASE_IMAGE} AS build
# torch's CPU wheels live on their own index; TORCH_INDEX_URL= (empty) takes torch from .wheels/.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The tools venv: the lock's pip and setuptools, so the base image's own pip decides nothing.
COPY requirements/build.txt requirements/
RUN python -m venv /opt/tools \
    && /opt/tools/bin/pip install --quiet --require-hashes --no-deps -r requirements/build.txt \
    && /opt/tools/bin/python -m venv --without-pip /opt/venv
ENV PIP="/opt/tools/bin/pip --python /opt/venv/bin/python"
# Optional local wheels (an offline torch, say) in .wheels/; .dockerignore always exists.
COPY .dockerignore .wheels* /tmp/wheels/
COPY requirements/serve.txt requirements/
# torch's wheel carries C++ test binaries (test/, bin/ but its torch_shm_manager) and headers (include/,
# for building extensions with a compiler the image does not have): 195 MB that nothing here runs. The
# test suites of sympy, networkx, mpmath and numpy (63 MB) are not run here either. torch's two
# libraries and uvloop's extension ship their symbol tables: `strip --strip-unneeded` (binutils, in
# this stage only) drops 110 MB and keeps the dynamic symbols that compiled models link against.
# No bytecode at install (--no-compile): pip would compile every module of the venv (240 MB); see below.
RUN $PIP install --quiet --no-compile --require-hashes --no-deps --only-binary :all: --find-links /tmp/wheels \
        ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r requirements/serve.txt \
    && cd /opt/venv/lib/python3*/site-packages && (cd torch && rm -rf test include \
    && find bin -type f ! -name torch_shm_manager -delete) \
    && find sympy networkx mpmath numpy -type d -name tests -prune -exec rm -rf {} + \
    && apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
    && strip --strip-unneeded torch/lib/libtorch_cpu.so torch/lib/libtorch_python.so uvloop/*.so
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/tools/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
    && $PIP install --quiet --no-compile --no-deps /tmp/dist/*.whl
# Bytecode for what a start imports (the server, batch, BERT's heads, int8), written by importing it:
# the imports take 4 s with it and 10-12 s without, and the rest of the venv stays source only.
# From /, so that `app` is the installed package, not /src/app.
RUN cd / && /opt/venv/bin/python -c "import app.cli, app.serving.app, app.batch.cli, app.batch.job, app.tasks.checkpoint; \
import uvicorn.loops.auto, uvicorn.protocols.http.auto, uvicorn.protocols.websockets.auto, uvicorn.lifespan.on; \
import torch.ao.nn.quantized.dynamic, torch.ao.quantization; \
from transformers import AutoConfig, AutoTokenizer, BertTokenizer, BertTokenizerFast, BertForMaskedLM, \
BertForPreTraining, BertForSequenceClassification, BertForTokenClassification, BertForQuestionAnswering, \
BertForNextSentencePrediction, TokenClassificationPipeline"

# --- build-train: the serving venv plus the train extra; sdists (seqeval) build with the lock's
# setuptools and setuptools-scm, installed into the venv, never fetched unpinned.
FROM build AS build-train
COPY requirements/train.txt requirements/
RUN $PIP install --quiet --require-hashes --no-deps -r requirements/build.txt \
    && $PIP install --quiet --require-hashes --no-deps --no-build-isolation --find-links /tmp/wheels \
        ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r requirements/train.txt

# --- runtime: the base image, a non-root user and a venv copied in: no pip cache, no build tools.
FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=5001 \
    HF_HOME=/home/app/.cache/huggingface
RUN useradd --create-home --uid 10001 app
WORKDIR /home/app

# --- train: finetune and evaluate jobs (Azure ML command jobs name their command).
FROM runtime AS train
COPY --from=build-train /opt/venv /opt/venv
USER app
CMD ["bert-fill-mask", "finetune", "--help"]

# --- serve (the default target, so last): the serving set only.
FROM runtime AS serve
COPY --from=build /opt/venv /opt/venv
# A hub id to download at build time into /opt/model, which then becomes the served model.
ARG BAKE_MODEL=
RUN if [ -n "$BAKE_MODEL" ]; then \
      python -c "import sys; from huggingface_hub import snapshot_download; \
snapshot_download(sys.argv[1], local_dir='/opt/model', \
allow_patterns=['*.json', '*.txt', '*.safetensors'])" "$BAKE_MODEL" \
      && chmod -R a+rX /opt/model && rm -rf /root/.cache; \
    fi
# Baked: serve /opt/model. Not baked: empty, so AZUREML_MODEL_DIR or bert-base-cased is used.
ENV MODEL_ID=${BAKE_MODEL:+/opt/model}
# The Open Inference Protocol over gRPC on 8081, as KServe's servers (GRPC_PORT= turns it off).
ENV GRPC_PORT=8081
USER app
EXPOSE 5001 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('PORT', '5001'), timeout=4)"
CMD ["bert-fill-mask", "serve"]
