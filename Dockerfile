# tuslog: resumable uploads of diagnostic archives. Build: docker build -t tuslog .
# Two stages: Debian 13's own Python 3.13 installs the project into a virtualenv; the
# second stage copies only that virtualenv onto Google's distroless Python image, which is
# the same Debian 13 Python and the libraries it needs, without shell or package manager.
# The two Python builds must stay the same minor version (the virtualenv's compiled
# extension modules are built for it): change both FROM lines together.

FROM debian:13-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# python3-venv: /usr/bin/python3.13, the interpreter of the runtime image, with ensurepip.
# binutils: strip, for the wheels' extension modules (below). Only in this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# /data: the volume's mount point, owned by the runtime user below (that image has no shell
# to create or chown it; Docker gives a new named volume this owner and content).
RUN /usr/bin/python3.13 -m venv /opt/tuslog \
    && mkdir -p /data/uploads
COPY pyproject.toml README.md ./
COPY tuslog ./tuslog
# tuslog/uploaders/ links to these two (the uploader scripts tuslog serves).
COPY scripts/uploader.py scripts/uploader.sh ./scripts/
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

FROM gcr.io/distroless/python3-debian13:nonroot
LABEL org.opencontainers.image.title="tuslog" \
      org.opencontainers.image.description="Resumable (tus) uploads of diagnostic archives for support tickets" \
      org.opencontainers.image.licenses="Apache-2.0"
# Distroless ships the standard library without bytecode (Debian compiles it when a
# package is installed; distroless only unpacks them), so every start would compile what
# it imports: the health check took 0.20 s instead of 0.04 s, a worker's imports 1.1 s
# instead of 0.7 s. Compiled here, in place, by the image's own Python (no shell needed).
USER 0:0
RUN ["/usr/bin/python3.13", "-m", "compileall", "-q", "-j", "0", "/usr/lib/python3.13"]
COPY --from=build /opt/tuslog /opt/tuslog
COPY --from=build --chown=65532:65532 /data /data
ENV PATH=/opt/tuslog/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TUSLOG_HOST=0.0.0.0 \
    TUSLOG_PORT=8080 \
    TUSLOG_DATABASE_URL=sqlite+aiosqlite:////data/tuslog.sqlite3 \
    TUSLOG_STORAGE_DIR=/data/uploads \
    TUSLOG_LOG_FORMAT=json
# distroless's "nonroot" user.
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# No shell: the entry point is a Python module (serve, healthcheck, or a tuslog command).
# /healthz with the image's own Python: no curl or wget needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/tuslog/bin/python", "-m", "tuslog.container", "healthcheck"]
ENTRYPOINT ["/opt/tuslog/bin/python", "-m", "tuslog.container"]
CMD ["serve"]
