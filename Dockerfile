# CPU image of the fill-mask server, for Azure ML managed online endpoints and any Kubernetes.
#   docker build -t bert-fill-mask .                                  # model downloaded at first start
#   docker build -t bert-fill-mask --build-arg BAKE_MODEL=bert-base-cased .   # model baked into the image
FROM python:3.11-slim

# torch's CPU wheels live on their own index; TORCH_INDEX_URL= (empty) uses PyPI or .wheels/.
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# A hub id to download at build time into /opt/model, which then becomes the served model.
ARG BAKE_MODEL=

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=5001 \
    HF_HOME=/home/app/.cache/huggingface

RUN useradd --create-home --uid 10001 app
WORKDIR /srv

# Optional local wheels (an offline torch, say) in .wheels/; .dockerignore always exists.
COPY .dockerignore .wheels* /tmp/wheels/
RUN pip install --find-links /tmp/wheels ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC" \
    && rm -rf /tmp/wheels

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

RUN if [ -n "$BAKE_MODEL" ]; then \
      python -c "import sys; from huggingface_hub import snapshot_download; \
snapshot_download(sys.argv[1], local_dir='/opt/model', \
allow_patterns=['*.json', '*.txt', '*.safetensors'])" "$BAKE_MODEL" \
      && chown -R app /opt/model; \
    fi
# Baked: serve /opt/model. Not baked: empty, so AZUREML_MODEL_DIR or bert-base-cased is used.
ENV MODEL_ID=${BAKE_MODEL:+/opt/model}

USER app
EXPOSE 5001
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('PORT', '5001'), timeout=4)"
CMD ["bert-fill-mask", "serve"]
