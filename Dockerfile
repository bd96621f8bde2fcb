# L2C Hub service image: the `l2c` command (API, worker, beat, migrations).
#   docker build -t l2c-hub .      — or let docker-compose.yml build it
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    L2C_DATA_DIR=/data \
    L2C_LOG_FORMAT=json

WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY connectors ./connectors
COPY mappings ./mappings
COPY scheduler ./scheduler
COPY api ./api
RUN pip install . && rm -rf /src

# Celery refuses to be comfortable as root; so do we.
RUN useradd --system --uid 10001 --home-dir /data --create-home l2c
USER l2c
WORKDIR /data

EXPOSE 8000
ENTRYPOINT ["l2c"]
CMD ["serve", "--host", "0.0.0.0"]
