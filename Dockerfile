# tuslog: resumable uploads of diagnostic archives. Build: docker build -t tuslog .
# Two stages: the first installs the project into a virtualenv, the second copies only
# that virtualenv onto a slim Python (no pip, no build files, no compiler).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# binutils: strip, for the wheels' extension modules (below); only in this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python -m venv /opt/tuslog
COPY pyproject.toml README.md ./
COPY tuslog ./tuslog
# Smaller, not different: pip and setuptools are not needed at run time; the wheels'
# extension modules carry debug symbols (asyncpg's protocol: 7.5 MB, 0.8 MB stripped);
# of Bootstrap's dist files only the two the pages use are served (tuslog/web/assets.py).
# Then compiled once: the non-root user cannot write bytecode next to the sources, and
# every worker would otherwise compile them again at each start.
RUN /opt/tuslog/bin/pip install --no-compile . \
    && /opt/tuslog/bin/pip uninstall --yes pip setuptools \
    && find /opt/tuslog/lib -name '*.so' -exec strip --strip-unneeded {} + \
    && find /opt/tuslog/lib -path '*/site-packages/bootstrap/*' -type f \
       ! -name bootstrap.min.css ! -name bootstrap.bundle.min.js ! -name LICENSE -delete \
    && /opt/tuslog/bin/python -m compileall -q -j 0 /opt/tuslog/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tuslog" \
      org.opencontainers.image.description="Resumable (tus) uploads of diagnostic archives for support tickets" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 tuslog \
    && useradd --system --uid 10001 --gid tuslog --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin tuslog \
    && mkdir -p /data/uploads \
    && chown -R tuslog:tuslog /data
COPY --from=build /opt/tuslog /opt/tuslog
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/opt/tuslog/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TUSLOG_HOST=0.0.0.0 \
    TUSLOG_PORT=8080 \
    TUSLOG_DATABASE_URL=sqlite+aiosqlite:////data/tuslog.sqlite3 \
    TUSLOG_STORAGE_DIR=/data/uploads \
    TUSLOG_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# /healthz with the image's own Python: no curl or wget needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["docker-entrypoint.sh", "healthcheck"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["serve"]
