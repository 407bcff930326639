# qidash: slim, non-root image with Debian's chromium for slide rendering.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 qidash
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY etl etl
COPY api api
COPY dashboards dashboards
COPY exports exports
COPY migrations migrations
COPY qidash qidash
# a regular install: the wheel carries the migrations, the dashboards' assets and the demo data
# (etl/demo_data); the sources are removed afterwards
RUN pip install . && cd / && rm -rf /app && mkdir /app && chown qidash /app
USER qidash
ENV QIDASH_HOST=0.0.0.0 QIDASH_PORT=8000 BROWSER_PATH=/usr/bin/chromium
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/v1/ready').status != 200)"
CMD ["qidash", "serve", "--workers", "2"]
