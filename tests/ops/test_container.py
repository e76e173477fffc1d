"""The container files, checked without a Docker engine: hadolint on the Dockerfile, the
compose file against the Compose specification's JSON schema (vendored by
check-jsonschema, so offline) and against what tuslog needs, .env.example against the
settings, and the entrypoint's health check against a real server."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import LiveServer
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


def test_dockerfile_copies_only_what_dockerignore_lets_through() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M)
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"
    assert re.search(r"^USER \d+:\d+$", dockerfile, re.M)  # numeric: runAsNonRoot works
    assert 'VOLUME ["/data"]' in dockerfile and "HEALTHCHECK" in dockerfile


@pytest.mark.slow
def test_entrypoint_health_check_against_a_real_server(live_server: LiveServer) -> None:
    script = str(ROOT / "deploy" / "docker-entrypoint.sh")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    healthy = subprocess.run(
        ["sh", script, "healthcheck"],
        env={**env, "TUSLOG_PORT": str(live_server.port)},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert healthy.returncode == 0, healthy.stderr
    live_server.stop()
    down = subprocess.run(
        ["sh", script, "healthcheck"],
        env={**env, "TUSLOG_PORT": str(live_server.port)},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert down.returncode != 0
