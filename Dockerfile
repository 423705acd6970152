# syntax=docker/dockerfile:1
#
# fitboard's container image: one image for every process (`serve`, `worker`, `db upgrade`,
# the maintenance commands). Without arguments it runs the API in embedded mode (SQLite
# under /var/lib/fitboard), so `docker run -p 8000:8000 fitboard` just works; compose.yaml
# runs it in production mode against PostgreSQL, Redis and RabbitMQ.
# See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------- build
# Builds fitboard's wheel (the Alembic migrations ship inside it) and installs it with its
# pinned dependencies into a virtualenv at /opt/venv, the only thing the runtime stage takes.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src

RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install /wheels/fitboard-*.whl \
 && /opt/venv/bin/python -c "import fitboard.entrypoints.api.app, fitboard.entrypoints.worker.runner, fitboard.adapters.sql.migrate"

# -------------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="fitboard" \
      org.opencontainers.image.description="Fitness backend: workouts accepted instantly; calories, live leaderboards and badges a second later." \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FITBOARD_DATA_DIR=/var/lib/fitboard

# An unprivileged user that owns only the data directory (embedded mode's SQLite files and
# generated JWT secret). A named volume mounted there starts with this ownership.
RUN groupadd --system --gid 10001 fitboard \
 && useradd --system --uid 10001 --gid fitboard --home-dir /var/lib/fitboard \
      --no-create-home --shell /usr/sbin/nologin fitboard \
 && mkdir -p /var/lib/fitboard \
 && chown fitboard:fitboard /var/lib/fitboard

COPY --from=builder /opt/venv /opt/venv

USER fitboard:fitboard
WORKDIR /var/lib/fitboard
VOLUME ["/var/lib/fitboard"]

EXPOSE 8000

# Liveness of the API process (slim images have no curl). Only `serve` listens: compose.yaml
# disables this check for `worker` and the one-shot `migrate`.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('FITBOARD_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

# Exec form: fitboard is PID 1 and receives SIGTERM itself (uvicorn shuts down gracefully;
# a worker finishes the messages in hand, settles them, and exits).
ENTRYPOINT ["fitboard"]
CMD ["serve", "--host", "0.0.0.0"]
