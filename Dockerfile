# syntax=docker/dockerfile:1
# The API and the orchestration worker (CPU only). Built from uv.lock without the `train`
# extra: no torch, transformers or datasets (tests/deploy/test_lean_image.py holds that
# neither process imports them).
#   docker build -t bert-sweeps .
#   docker run -p 8000:8000 bert-sweeps                      # the API (the default command)
#   docker run bert-sweeps python -m workers.orchestration   # the orchestration worker
#   docker run bert-sweeps sweeps migrate                    # or any admin command
# Configuration: SWEEPS_* environment variables (README, "Configuration").

ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=uv /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /srv/bert-sweeps
# Dependencies first (a layer that changes with uv.lock only), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY workers ./workers
COPY migrations ./migrations
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# The runtime stage: the environment and the sources, no uv, no build cache.
FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 sweeps \
    && useradd --system --uid 10001 --gid sweeps --home-dir /var/lib/sweeps --create-home sweeps \
    && mkdir -p /artifacts && chown sweeps:sweeps /artifacts
COPY --from=build /srv/bert-sweeps /srv/bert-sweeps
ENV PATH=/srv/bert-sweeps/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SWEEPS_DATA_DIR=/var/lib/sweeps \
    SWEEPS_ARTIFACT_ROOT=/artifacts
WORKDIR /srv/bert-sweeps
USER sweeps
EXPOSE 8000
CMD ["uvicorn", "app.api.asgi:app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
