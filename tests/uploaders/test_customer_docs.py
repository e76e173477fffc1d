"""The README's "For customers" section shows exactly the
commands this test runs: each one is taken from the text, HOST/TOKEN/FILE are filled in,
and it is run with `sh -c` against a real server, downloading the script from it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.uploaders.conftest import ROOT, Customer, Server, sha256_of, write_file

README = ROOT / "README.md"


def customer_section() -> str:
    section = README.read_text().split("## For customers", 1)[1]
    return re.split(r"\n## ", section, maxsplit=1)[0]


def documented_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", customer_section(), re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if "uploader." in line and line.startswith("curl ")]


def test_docs_show_both_uploaders() -> None:
    commands = documented_commands()
    assert commands == [
        "curl -fsSLO https://HOST/uploader.sh && sh uploader.sh HOST TOKEN FILE",
        "curl -fsSLO https://HOST/uploader.py && python3 uploader.py HOST TOKEN FILE",
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["uploader.sh", "uploader.py"])
def test_documented_command_works(
    index: int, server: Server, customer: Customer, tmp_path: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    archive = write_file(tmp_path / "host1 logs ü.tar.gz", 3 * 1024 * 1024 + 17)
    workdir = tmp_path / "work"
    workdir.mkdir()
    line = documented_commands()[index]
    line = line.replace("https://HOST", server.url).replace("HOST", server.url)
    line = line.replace("TOKEN", token).replace("FILE", shlex.quote(str(archive)))
    result = customer.shell(line, cwd=workdir)
    assert result.returncode == 0, result.output[-3000:]
    script = "uploader.sh" if index == 0 else "uploader.py"
    assert (workdir / script).read_bytes() == (ROOT / "scripts" / script).read_bytes()
    assert "server:   verified" in result.stdout
    (upload,) = server.uploads(ticket)
    assert upload["sha256"] == sha256_of(archive)
    assert upload["filename"] == archive.name
