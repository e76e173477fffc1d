"""schemathesis against a real `tuslog serve` from its own OpenAPI document: generated
requests for every operation (a bounded number each), zero server errors, every answer
a documented status and content type with a body that matches its schema.

Webhook creation and changes are left out: a generated URL may name a host to resolve,
and tests stay off the network; their validation is tested in test_webhooks.py."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import add_user, make_key
from tests.conftest import LiveServer, free_port, server_env, start_server
from tuslog.db.models import UserRole
from tuslog.settings import Settings

MAX_EXAMPLES = 12
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, postgres: Any
) -> Iterator[tuple[LiveServer, str]]:
    from tests import dbs
    from tests.conftest import make_settings

    tmp = tmp_path_factory.mktemp("schemathesis")
    url = asyncio.run(postgres.new()) if postgres is not None else asyncio.run(dbs.new_sqlite(tmp))
    settings: Settings = make_settings(url, tmp, api_auth_failure_limit=100000)
    asyncio.run(add_user(settings, "fuzz@example.com", UserRole.ADMIN))
    key = asyncio.run(make_key(settings, "fuzz@example.com", "admin"))
    env = server_env(settings, TUSLOG_API_AUTH_FAILURE_LIMIT="100000", TUSLOG_LOG_LEVEL="WARNING")
    live = start_server(env, free_port(), Path(tmp) / "server.log")
    live.cli("ticket", "create", "SR-1", "--title", "fuzz")
    yield live, key
    live.stop()
    log = (Path(tmp) / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.slow
def test_api_from_its_own_document(server: tuple[LiveServer, str], tmp_path: Path) -> None:
    live, key = server
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{live.url}/api/v1/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "20261205",
            "--phases",
            "examples,coverage,fuzzing",
            "--header",
            f"Authorization: Bearer {key}",
            "--exclude-operation-id",
            "webhooks_create_webhook",
            "--exclude-operation-id",
            "webhooks_update_webhook",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,  # its cache and reports stay out of the repository
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout or " passed" in done.stdout, done.stdout[-3000:]
