"""The servers bench/peers.py compares: tuslog and its peers, each started on its own
fresh folder, with where each keeps an upload's bytes (to check and delete them) and the
per-process-tree counters (CPU, RSS) read from /proc.

The peers live in the benchmark's own environments, made by bench/peers/setup.sh:
tuspyserver (FastAPI, uvicorn) in bench/.peers-venv, @tus/server + @tus/file-store in
bench/.peers-node. They are never project dependencies.
"""

import asyncio
import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_client import Payload, _window
from bench_procs import (
    BENCH_DIR,
    PYTHON,
    Server,
    cpu_seconds,
    free_port,
    issue_token,
    memory_kib,
    tuslog_server,
)

PEERS_VENV = BENCH_DIR / ".peers-venv"
PEERS_NODE = BENCH_DIR / ".peers-node"
SERVERS = ("tuslog", "tuspyserver", "tus-node", "bare-durable")
ALL_SERVERS = (*SERVERS, "bare")  # "bare": no hash, no sync (bench/patch_cost.py)


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (a gunicorn master and its worker, …)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def tree_cpu(pid: int) -> float:
    """utime + stime of the process tree, all threads, in seconds."""
    total = 0.0
    for member in tree_pids(pid):
        try:
            total += cpu_seconds(member)
        except OSError:  # exited meanwhile
            continue
    return total


def tree_rss_kib(pid: int) -> int:
    total = 0
    for member in tree_pids(pid):
        try:
            total += memory_kib(member)["VmRSS"]
        except (OSError, KeyError):
            continue
    return total


@dataclass
class Contender:
    """One server under test: its process, a token if it wants one, and its files."""

    name: str
    label: str
    server: Server
    work: Path
    data_path: Callable[[str], Path]
    sidecars: tuple[str, ...] = ()
    token: str | None = None
    declares_sha256: bool = False
    serial: int = 0
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def root_pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    def files(self, upload_id: str) -> list[Path]:
        data = self.data_path(upload_id)
        return [data] + [data.with_name(data.name + suffix) for suffix in self.sidecars]

    def next_upload(self, nominal: int, digests: "Digests") -> tuple[int, dict[str, str], str]:
        """Length, creation headers and SHA-256 of this server's next upload."""
        self.serial += 1
        serial = self.serial % Digests.SERIALS
        sha256 = digests.get(nominal, serial)
        if not self.declares_sha256:
            return nominal - serial, {}, sha256
        meta = "sha256 " + base64.b64encode(sha256.encode()).decode()
        return nominal - serial, {"Upload-Metadata": meta}, sha256


class Digests:
    """SHA-256 of the first ``nominal - serial`` bytes of the client's endless payload.

    tuslog hands a creation with the same token, length and declared SHA-256 back as the
    same upload (a lost ``201`` asked again), so every upload of the benchmark is a few
    bytes shorter than the one before (``serial`` < ``SERIALS``) and has its own hash.
    The hash of the common prefix is computed once per nominal length."""

    SERIALS = 4096

    def __init__(self, payload: Payload) -> None:
        self.payload = payload
        self._prefix: dict[int, Any] = {}  # hashlib objects

    def get(self, nominal: int, serial: int = 0) -> str:
        assert 0 <= serial < self.SERIALS < nominal
        base = nominal - self.SERIALS
        if nominal not in self._prefix:
            digest = hashlib.sha256()
            for part in _window(self.payload, 0, base):
                digest.update(part)
            self._prefix[nominal] = digest
        digest = self._prefix[nominal].copy()
        for part in _window(self.payload, base, self.SERIALS - serial):
            digest.update(part)
        return str(digest.hexdigest())


def _tuslog(work: Path) -> Contender:
    server = tuslog_server(work)
    data = work / "uploads"
    version = importlib.metadata.version("tuslog")
    return Contender(  # the token is issued after start (the CLI migrates the database)
        "tuslog",
        f"tuslog {version} (SQLite, 1 worker)",
        server,
        work,
        lambda uid: data / uid[:2] / uid,
        declares_sha256=True,
        versions={"tuslog": version},
    )


def _tuspyserver(work: Path) -> Contender:
    port = free_port()
    python = str(PEERS_VENV / "bin" / "python")
    argv = [python, str(BENCH_DIR / "peers" / "tuspy_app.py"), "--port", str(port)]
    argv += ["--dir", str(work / "files")]
    server = Server("tuspyserver", argv, port, dict(os.environ), work / "tuspyserver.log")
    versions = _venv_versions(python, ("tuspyserver", "fastapi", "uvicorn"))
    label = f"tuspyserver {versions['tuspyserver']} (FastAPI, uvicorn)"
    return Contender(
        "tuspyserver",
        label,
        server,
        work,
        lambda uid: work / "files" / uid,
        (".info",),
        versions=versions,
    )


def _tus_node(work: Path) -> Contender:
    port = free_port()
    argv = ["node", str(BENCH_DIR / "peers" / "tus_node.mjs"), str(port), str(work / "files")]
    (work / "files").mkdir(parents=True, exist_ok=True)
    server = Server("tus-node", argv, port, dict(os.environ), work / "tus-node.log")
    versions = {
        name: json.loads((PEERS_NODE / "node_modules" / name / "package.json").read_text())[
            "version"
        ]
        for name in ("@tus/server", "@tus/file-store")
    }
    versions["node"] = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    label = f"@tus/server {versions['@tus/server']} + file-store (Node {versions['node']})"
    return Contender(
        "tus-node",
        label,
        server,
        work,
        lambda uid: work / "files" / uid,
        (".json",),
        versions=versions,
    )


def _bare(work: Path, durable: bool = True) -> Contender:
    port = free_port()
    name = "bare-durable" if durable else "bare"
    argv = [PYTHON, str(BENCH_DIR / "bare_server.py"), "--port", str(port)]
    argv += ["--dir", str(work / "bare")] + (["--sha256", "--fdatasync"] if durable else [])
    server = Server(name, argv, port, dict(os.environ), work / "bare.log")
    label = "bare aiohttp, SHA-256 + fdatasync per PATCH" if durable else "bare aiohttp"
    versions = {"aiohttp": importlib.metadata.version("aiohttp")}
    return Contender(name, label, server, work, lambda uid: work / "bare" / uid, versions=versions)


def _venv_versions(python: str, names: tuple[str, ...]) -> dict[str, str]:
    code = "import importlib.metadata as m, sys; print(*(m.version(n) for n in sys.argv[1:]))"
    out = subprocess.run(
        [python, "-c", code, *names], capture_output=True, text=True, check=True
    ).stdout.split()
    return dict(zip(names, out, strict=True))


def check_setup(names: list[str]) -> None:
    missing = []
    if "tuspyserver" in names and not (PEERS_VENV / "bin" / "python").exists():
        missing.append(str(PEERS_VENV))
    if "tus-node" in names and not (PEERS_NODE / "node_modules" / "@tus" / "server").exists():
        missing.append(str(PEERS_NODE))
    if missing or ("tus-node" in names and shutil.which("node") is None):
        raise SystemExit(f"peers not installed ({', '.join(missing)}): run bench/peers/setup.sh")


async def start(names: list[str], root: Path, uploads: int) -> list[Contender]:
    """Start each named server in its own fresh folder under ``root``."""
    makers: dict[str, Callable[[Path], Contender]] = {
        "tuslog": _tuslog,
        "tuspyserver": _tuspyserver,
        "tus-node": _tus_node,
        "bare-durable": _bare,
        "bare": lambda w: _bare(w, durable=False),
    }
    contenders = []
    for name in names:
        work = root / name
        work.mkdir(parents=True)
        contender = makers[name](work)
        contenders.append(contender)
        await contender.server.start()
        if name == "tuslog":
            contender.token = await asyncio.to_thread(issue_token, work, uploads)
    return contenders
