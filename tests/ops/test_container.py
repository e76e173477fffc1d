"""The container files, checked without a Docker engine: hadolint on the Dockerfile, the
compose file against the Compose specification's JSON schema (vendored by
check-jsonschema, so offline) and against what tuslog needs, .env.example against the
settings, and the image's entry point (tuslog.container) against real servers."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from ruamel.yaml import YAML

from tests.conftest import LiveServer, free_port
from tuslog.db.migrate import alembic_config
from tuslog.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(BIN))
    assert found, f"{name} is not installed (pip install -e '.[dev]')"
    return found


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [_tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_file_follows_the_compose_specification() -> None:
    done = subprocess.run(
        [
            _tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_wires_what_tuslog_needs() -> None:
    compose = _compose()
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    tuslog, nginx = services["tuslog"], services["nginx"]
    assert tuslog["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert nginx["depends_on"]["tuslog"]["condition"] == "service_healthy"
    environment = tuslog["environment"]
    assert environment["TUSLOG_DATABASE_URL"].startswith("postgresql+asyncpg://")
    frontend = compose["networks"]["frontend"]["ipam"]["config"][0]["subnet"]
    assert environment["TUSLOG_TRUSTED_PROXIES"] == frontend  # nginx's network
    assert set(nginx["networks"]) == {"frontend"}
    assert set(compose["volumes"]) == {"postgres", "uploads"}
    assert any(v.startswith("uploads:") for v in tuslog["volumes"])
    grace = int(tuslog["stop_grace_period"].rstrip("s"))
    assert grace > 30  # the workers' graceful timeout (tuslog.cli.workers)
    mounted = nginx["volumes"][0].split(":")[0]
    assert (ROOT / mounted).is_file()


def _directives(path: Path) -> set[str]:
    """The proxy directives of an nginx file (what long uploads depend on)."""
    wanted = re.compile(r"^\s*((?:proxy|client)_[a-z_]+|send_timeout)\s+([^;]*);", re.M)
    return {
        f"{name} {value.strip()}"
        for name, value in wanted.findall(path.read_text())
        if name not in ("proxy_pass", "proxy_bind")
    }


def test_the_compose_nginx_config_proxies_like_the_shipped_one() -> None:
    shipped = _directives(ROOT / "deploy" / "nginx.conf")
    assert {
        "client_max_body_size 0",
        "proxy_request_buffering off",
        "proxy_http_version 1.1",
        "proxy_set_header X-Forwarded-For $remote_addr",
    } <= shipped
    assert _directives(ROOT / "deploy" / "compose" / "nginx.conf") == shipped


def test_env_example_names_real_settings_and_loads() -> None:
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    tuslog = {k: v for k, v in values.items() if k.startswith("TUSLOG_")}
    unknown = {k for k in tuslog if k[len("TUSLOG_") :].lower() not in Settings.model_fields}
    assert not unknown
    overrides = {k[len("TUSLOG_") :].lower(): v for k, v in tuslog.items()}
    overrides["totp_keys"] = "k" * 64  # the example leaves secrets empty
    settings = load_settings(**overrides)
    assert settings.public_url == "https://logs.example.com" and settings.workers == 2
    referenced = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert referenced <= set(values)


def _instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"^\s*#.*\n", "", (ROOT / "Dockerfile").read_text(), flags=re.M)
    return [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def _copied_sources() -> list[str]:
    """What the COPY instructions take from the build context (not from another stage)."""
    sources: list[str] = []
    for line in _instructions():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += [word for word in line.split()[1:-1] if not word.startswith("--")]
    return sources


def test_dockerfile_copies_only_what_dockerignore_lets_through() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for source in _copied_sources():
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"
    assert re.search(r"^USER \d+:\d+$", dockerfile, re.M)  # numeric: runAsNonRoot works
    assert 'VOLUME ["/data"]' in dockerfile and "HEALTHCHECK" in dockerfile


def test_the_build_context_holds_what_the_package_links_to() -> None:
    """tuslog/uploaders/ holds links to scripts/: without their targets in the build
    context, building the wheel fails."""
    copied = [ROOT / source for source in _copied_sources()]
    links = [path for path in (ROOT / "tuslog").rglob("*") if path.is_symlink()]
    assert links
    for link in links:
        target = link.resolve()
        assert any(target == c or c in target.parents for c in copied), f"{link} -> {target}"


def test_the_image_needs_no_shell_and_builds_with_its_own_python() -> None:
    instructions = _instructions()
    stages = [i for i, line in enumerate(instructions) if line.startswith("FROM ")]
    build, runtime = (instructions[i].split()[1] for i in stages)
    release = re.fullmatch(r"gcr\.io/distroless/python3-debian(\d+):nonroot", runtime)
    assert release and build == f"debian:{release[1]}-slim"  # the same Debian, same Python
    assert len(set(re.findall(r"python3\.\d+", (ROOT / "Dockerfile").read_text()))) == 1
    for line in instructions[stages[1] :]:  # no /bin/sh in distroless: exec forms only
        keyword, _, rest = line.partition(" ")
        if keyword == "HEALTHCHECK":
            rest = rest.partition(" CMD ")[2]
        elif keyword not in ("RUN", "CMD", "ENTRYPOINT"):
            continue
        assert rest.strip().startswith("[") and rest.strip().endswith("]"), line
    entrypoint = next(line for line in instructions if line.startswith("ENTRYPOINT"))
    assert entrypoint == 'ENTRYPOINT ["/opt/tuslog/bin/python", "-m", "tuslog.container"]'


def _container(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The image's entry point (ENTRYPOINT ["python", "-m", "tuslog.container"])."""
    return subprocess.run(
        [sys.executable, "-m", "tuslog.container", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_container_health_check_against_a_real_server(live_server: LiveServer) -> None:
    env = {**live_server.env, "TUSLOG_PORT": str(live_server.port)}
    healthy = _container("healthcheck", env=env)
    assert (healthy.returncode, healthy.stdout, healthy.stderr) == (0, "", "")
    live_server.stop()
    down = _container("healthcheck", env=env)
    assert (down.returncode, down.stdout, down.stderr) == (1, "", "")


def test_container_health_check_wants_a_200() -> None:
    class Unavailable(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Unavailable) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env = {**os.environ, "TUSLOG_PORT": str(server.server_address[1])}
        unhealthy = _container("healthcheck", env=env)
        server.shutdown()
    assert (unhealthy.returncode, unhealthy.stderr) == (1, "")


def _schema_version(database: Path) -> str:
    with closing(sqlite3.connect(database)) as connection:
        return str(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])


@pytest.mark.slow
def test_container_default_command_migrates_a_fresh_database_then_serves(tmp_path: Path) -> None:
    database = tmp_path / "data" / "tuslog.sqlite3"
    database.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSLOG_")}
    env |= {
        "TUSLOG_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "TUSLOG_STORAGE_DIR": str(tmp_path / "data" / "uploads"),
        "TUSLOG_PORT": str(free_port()),
        "TUSLOG_MIN_FREE_SPACE": "0",
    }
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tuslog.container"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while _container("healthcheck", env=env).returncode != 0:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not answer /healthz"
            time.sleep(0.2)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert _schema_version(database) == head
        created = _container("ticket", "create", "SR-1", "--json", env=env)  # a tuslog command
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["number"] == "SR-1"
        server.terminate()  # what `docker stop` sends to PID 1: gunicorn's master stops
        assert server.wait(timeout=45) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
