# Slim, non-root image running the Slack app and the scheduler: `aispend serve`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    AISPEND_CONFIG=/config/aispend.yaml \
    DATABASE_URL=sqlite:////data/aispend.db
COPY --from=build /install /usr/local
RUN useradd --create-home --uid 10001 aispend \
    && mkdir -p /data /config \
    && chown aispend:aispend /data
USER aispend
WORKDIR /home/aispend
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/healthz', timeout=4)"
ENTRYPOINT ["aispend"]
CMD ["serve"]
