"""Server processes for the benchmarks, their /proc counters, and the dd baseline."""

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serving_pid(pid: int) -> int:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(children[0]) if len(children) == 1 else pid


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def system_busy_seconds() -> float:
    """CPU time all CPUs spent busy (user, nice, system, irq, softirq, steal), in seconds."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of the process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0, same user)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class RssSampler:
    """Polls VmRSS of a process while an async block runs; keeps the maximum."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, memory_kib(self.pid)["VmRSS"])
            self.samples += 1
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> "RssSampler":
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak_kib = max(self.peak_kib, memory_kib(self.pid)["VmRSS"])


class Server:
    """A server subprocess on a local port, stopped (and waited for) on exit."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        env: dict[str, str],
        log: Path,
        cwd: Path = REPO,
    ) -> None:
        self.name = name
        self.cwd = cwd
        self.argv = argv
        self.port = port
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process that serves: under gunicorn (``tuslog serve``) its one worker, not
        the master, which only watches it."""
        assert self.proc is not None
        return serving_pid(self.proc.pid)

    async def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log}")
            if await _healthy(self.port):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /healthz in {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


async def _healthy(port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout=1
        )
    except OSError:
        return False
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        line = await asyncio.wait_for(reader.readline(), timeout=2)
        return b" 200 " in line
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


def tuslog_env(work: Path, port: int, source: Path = REPO) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSLOG_")}
    if source != REPO:  # another checkout: its package first on the path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    env.update(
        TUSLOG_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'db.sqlite3'}",
        TUSLOG_STORAGE_DIR=str(work / "uploads"),
        TUSLOG_MIN_FREE_SPACE="0",
        TUSLOG_PORT=str(port),
        TUSLOG_WORKERS="1",
        TUSLOG_MAX_UPLOAD_SIZE="1T",
        TUSLOG_LOG_LEVEL="INFO",
    )
    return env


def tuslog_server(work: Path, source: Path = REPO) -> Server:
    """``python -m tuslog serve`` run from ``source`` (a checkout holding ``tuslog/``)."""
    port = free_port()
    argv = [PYTHON, "-m", "tuslog", "serve", "--port", str(port), "--workers", "1"]
    env = tuslog_env(work, port, source)
    return Server("tuslog", argv, port, env, work / "tuslog.log", cwd=source)


def bare_server(work: Path, sha256: bool = False) -> Server:
    port = free_port()
    name = "bare-sha256" if sha256 else "bare"
    argv = [PYTHON, str(BENCH_DIR / "bare_server.py"), "--port", str(port)]
    argv += ["--dir", str(work / "bare")] + (["--sha256"] if sha256 else [])
    return Server(name, argv, port, dict(os.environ), work / f"{name}.log")


def issue_token(work: Path, uploads: int, source: Path = REPO) -> str:
    """A ticket and an upload token in the benchmark's database (via the CLI)."""
    env = tuslog_env(work, 1, source)

    def cli(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [PYTHON, "-m", "tuslog", *args, "--json"],
            env=env,
            cwd=source,
            capture_output=True,
            timeout=120,
            check=True,
        )
        return dict(json.loads(done.stdout))

    cli("ticket", "create", "BENCH-1", "--title", "benchmark")
    return str(cli("token", "issue", "BENCH-1", "--uploads", str(uploads))["token"])


async def start_checkout(work: Path, source: str, uploads: int) -> tuple[Server, str]:
    """``tuslog serve`` from checkout ``source`` in a fresh ``work`` folder, and a token
    good for ``uploads`` uploads: one side of a before/after comparison."""
    work.mkdir()
    server = tuslog_server(work, Path(source).resolve())
    await server.start()
    token = await asyncio.to_thread(issue_token, work, uploads, Path(source).resolve())
    return server, token


_DD_RATE = re.compile(r"^(\d+) bytes .* copied, ([0-9.,]+) s", re.MULTILINE)


def dd(path: Path, size: int, block: int = 8 * 1024 * 1024, timeout: float = 600) -> float:
    """Durable sequential write rate of ``dd conv=fdatasync`` in bytes per second."""
    count = max(1, size // block)
    try:
        done = subprocess.run(
            ["dd", "if=/dev/zero", f"of={path}", f"bs={block}", f"count={count}", "conv=fdatasync"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            env={**os.environ, "LC_ALL": "C"},
        )
    finally:
        path.unlink(missing_ok=True)
    match = _DD_RATE.search(done.stderr)
    if match is None:
        raise RuntimeError(f"cannot parse dd output: {done.stderr!r}")
    return int(match.group(1)) / float(match.group(2).replace(",", "."))


def prefault(folder: Path, size: int, block: int = 16 * 1024 * 1024) -> None:
    """Write ``size`` bytes into a scratch file in ``folder`` (page cache or tmpfs, never
    synced) and delete it, right before a timed run.

    On a VM with free page reporting (Firecracker, virtio-balloon) guest memory that stays
    free for about two seconds is handed back to the host, and the next touch of each page
    faults at host speed: a first write into tmpfs then runs at a third of its usual rate,
    and which server meets cold memory depends on how long the pause before it was. The
    pages freed here are the ones the timed run gets next, so every run starts warm."""
    path = folder / ".prefault"
    zeros = bytes(block)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        while written < size:
            written += os.write(fd, zeros[: min(block, size - written)])
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
