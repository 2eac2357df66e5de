# syntax=docker/dockerfile:1
# SynapScale API image: `docker build -t synapscale .` (docker-compose.yml builds it too).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: compilers live here only --------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY requirements.txt requirements-local-model.txt ./
COPY deploy/install-local-model.sh deploy/
RUN pip install -r requirements.txt
# llama.cpp for the offline default model, compiled portably (the flags and why: the script).
# ~5-8 min on 2 cores.
RUN LOCAL_MODEL_WHEEL_CACHE=/tmp/wheels PYTHON=python sh deploy/install-local-model.sh \
 && rm -rf /tmp/wheels

# --- runtime: no compilers, no root ---------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin synapscale
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    APP_ENV=production \
    PORT=5000 \
    LOCAL_MODEL_PATH=/tmp/synapscale/local-model
WORKDIR /app
# The code stays owned by root: the service account can read it, not change it.
COPY . .
USER synapscale
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '5000'), timeout=4)"]
# gunicorn reads ./gunicorn.conf.py (worker class, timeouts, graceful shutdown).
CMD ["gunicorn", "app:create_app()"]
