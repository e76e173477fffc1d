"""The README's "For customers" section shows exactly the commands this test runs: each
one is taken from the text, HOST/TOKEN/FILE/DIR are filled in, and it is run with
`sh -c` against a real server (the first two download the script from it)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tarfile
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
    return [line for line in lines if "uploader." in line and "pip install" not in line]


def test_docs_show_both_uploaders_and_streams() -> None:
    commands = documented_commands()
    assert commands == [
        "curl -fsSLO https://HOST/uploader.sh && sh uploader.sh HOST TOKEN FILE",
        "curl -fsSLO https://HOST/uploader.py && python3 uploader.py HOST TOKEN FILE",
        "sh uploader.sh HOST TOKEN DIR",
        "tar czf - DIR1 DIR2 | sh uploader.sh HOST TOKEN - --name logs.tar.gz",
    ]


def fill_in(line: str, server: Server, token: str, **paths: Path) -> str:
    line = line.replace("https://HOST", server.url).replace("HOST", server.url)
    line = line.replace("TOKEN", token)
    for name in sorted(paths, key=len, reverse=True):  # DIR1 before DIR
        line = line.replace(name, shlex.quote(str(paths[name])))
    return line


@pytest.mark.parametrize("index", [0, 1], ids=["uploader.sh", "uploader.py"])
def test_documented_command_works(
    index: int, server: Server, customer: Customer, tmp_path: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    archive = write_file(tmp_path / "host1 logs ü.tar.gz", 3 * 1024 * 1024 + 17)
    workdir = tmp_path / "work"
    workdir.mkdir()
    line = fill_in(documented_commands()[index], server, token, FILE=archive)
    result = customer.shell(line, cwd=workdir)
    assert result.returncode == 0, result.output[-3000:]
    script = "uploader.sh" if index == 0 else "uploader.py"
    assert (workdir / script).read_bytes() == (ROOT / "scripts" / script).read_bytes()
    assert "server:   verified" in result.stdout
    (upload,) = server.uploads(ticket)
    assert upload["sha256"] == sha256_of(archive)
    assert upload["filename"] == archive.name


@pytest.mark.parametrize("index", [2, 3], ids=["directory", "pipe"])
def test_documented_stream_command_works(
    index: int, server: Server, customer: Customer, tmp_path: Path
) -> None:
    """The directory and pipe examples, with the script as downloaded by the first one."""
    ticket = server.ticket()
    token = server.token(ticket)
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "uploader.sh").write_bytes((ROOT / "scripts" / "uploader.sh").read_bytes())
    dirs = {}
    for name in ("DIR", "DIR1", "DIR2"):
        folder = tmp_path / f"logs {name.lower()}"
        folder.mkdir()
        write_file(folder / "app.log", 300_000, seed=len(dirs))
        dirs[name] = folder
    line = fill_in(documented_commands()[index], server, token, **dirs)
    result = customer.shell(f"{line} --chunk-size 128K", cwd=workdir)
    assert result.returncode == 0, result.output[-3000:]
    assert "server:   verified" in result.stdout
    (upload,) = server.uploads(ticket)
    assert upload["state"] == "verified"
    assert upload["filename"] == ("logs dir.tar.gz" if index == 2 else "logs.tar.gz")
    with tarfile.open(server.stored(upload["id"]), "r:gz") as stored:
        names = sorted(Path(name).name for name in stored.getnames() if name.endswith(".log"))
    assert names == (["app.log"] if index == 2 else ["app.log", "app.log"])


@pytest.mark.parametrize("key", ["sh", "python", "sh_token_file", "python_token_file"])
def test_the_commands_support_sends_work_as_printed(
    key: str, server: Server, customer: Customer, tmp_path: Path
) -> None:
    """`tuslog token issue` prints forms that keep the token off the command line first:
    the uploader asks for it (here on standard input), or reads it from token.txt."""
    ticket = server.ticket()
    done = subprocess.run(
        [sys.executable, "-m", "tuslog", "token", "issue", ticket, "--json"],
        env={**server.env, "TUSLOG_PUBLIC_URL": server.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    issued = json.loads(done.stdout)
    archive = write_file(tmp_path / "logs.tar.gz", 2 * 1024 * 1024 + 3)
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "token.txt").write_text(issued["token"] + "\n")
    line = issued["commands"][key].replace("FILE", shlex.quote(str(archive)))
    if "token_file" in key:  # the scripts are downloaded by the first form
        script = "uploader.sh" if key.startswith("sh") else "uploader.py"
        line = f"curl -fsSLO {server.url}/{script} && {line}"
    assert issued["token"] not in line
    result = customer.shell(line, cwd=workdir, stdin=issued["token"] + "\n")
    assert result.returncode == 0, result.output[-3000:]
    assert "server:   verified" in result.stdout
