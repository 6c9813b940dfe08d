# Slim, non-root image running the Slack app and the scheduler: `aispend serve`.
#
# Reproducible: the base is pinned to one CPython patch release on one Debian release, and every
# Python package comes from the hash-pinned locks in the repository (requirements*.lock, made by
# pip-compile; see README "Production"). Dependencies are installed in their own layer before the
# source is copied, so a source change rebuilds only the last small layers.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/aispend
COPY requirements.lock requirements-build.lock /tmp/
RUN /opt/aispend/bin/python -m pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && python -m venv /opt/build \
    && /opt/build/bin/python -m pip install --require-hashes --no-deps -r /tmp/requirements-build.lock
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN /opt/build/bin/python -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheel /src \
    && /opt/aispend/bin/python -m pip install --no-deps /tmp/wheel/aispend-*.whl

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/aispend/bin:$PATH \
    PORT=3000 \
    AISPEND_CONFIG=/config/aispend.yaml \
    DATABASE_URL=sqlite:////data/aispend.db
RUN groupadd --gid 10001 aispend \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin aispend \
    && mkdir -p /data /config \
    && chown 10001:10001 /data
COPY --from=build /opt/aispend /opt/aispend
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /home/aispend
VOLUME ["/data"]
EXPOSE 3000
# Liveness only: /readyz (database, migrations, poll freshness) is for the orchestrator's readiness.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["aispend"]
CMD ["serve"]
