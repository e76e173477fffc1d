"""A loopback TCP proxy that cuts one chosen connection after an exact number of bytes.

Unlike ``flaky_proxy`` (which counts bytes across connections and aborts both sides), this
one is for assertions about *what the server kept*: it counts per connection, cuts only the
``skip + 1``-th connection whose client→server bytes reach ``cut_after`` (``cuts`` times),
hands the server exactly ``cut_after`` bytes of that connection followed by a clean FIN (so
every forwarded byte really reaches the server), and resets the client side (so the client
sees a dropped connection). Each connection's record tells how many request-head and body
bytes went through.

Listens on 127.0.0.1 only; every socket has a timeout and ``stop()`` closes everything, so
a broken test cannot leave threads behind for long.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

_READ = 64 * 1024
_HEAD_END = b"\r\n\r\n"


@dataclass
class ConnRecord:
    up_bytes: int = 0
    head: bytearray = field(default_factory=bytearray)
    head_bytes: int | None = None
    cut: bool = False

    @property
    def body_bytes(self) -> int:
        """Body bytes (of the connection's first request) forwarded to the server."""
        return self.up_bytes - (self.head_bytes if self.head_bytes is not None else self.up_bytes)

    @property
    def request_line(self) -> str:
        return bytes(self.head).split(b"\r\n", 1)[0].decode("latin-1")

    def _see(self, data: bytes) -> None:
        if self.head_bytes is None and len(self.head) < 64 * 1024:
            self.head += data
            end = self.head.find(_HEAD_END)
            if end >= 0:
                self.head_bytes = end + len(_HEAD_END)
                del self.head[self.head_bytes :]


class CutProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        cut_after: int,
        skip: int = 0,
        cuts: int = 1,
        upstream_host: str = "127.0.0.1",
        timeout: float = 30.0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.cut_after = cut_after
        self.skip = skip
        self.cuts = cuts
        self.timeout = timeout
        self.records: list[ConnRecord] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cut_records(self) -> list[ConnRecord]:
        return [record for record in self.records if record.cut]

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> CutProxy:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in [self._listener, *sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in list(self._threads):
            thread.join(5)

    def __enter__(self) -> CutProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        sock.settimeout(self.timeout)
        with self._lock:
            self._sockets.add(sock)
        return sock

    # -- forwarding ---------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, self._track(client))

    def _serve(self, client: socket.socket) -> None:
        record = ConnRecord()
        with self._lock:
            self.records.append(record)
        try:
            server = self._track(socket.create_connection(self.upstream, timeout=self.timeout))
        except OSError:
            _reset(client)
            return
        down = threading.Thread(target=self._pump_down, args=(server, client), daemon=True)
        self._threads.append(down)
        down.start()
        try:
            self._pump_up(client, server, record)
        finally:
            down.join(self.timeout)
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()

    def _decide_cut(self, record: ConnRecord, incoming: int) -> bool:
        if record.up_bytes + incoming < self.cut_after:
            return False
        with self._lock:
            if self.skip > 0:
                self.skip -= 1
                return False
            if self.cuts > 0:
                self.cuts -= 1
                return True
        return False

    def _pump_up(self, client: socket.socket, server: socket.socket, record: ConnRecord) -> None:
        decided = False
        while True:
            try:
                data = client.recv(_READ)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    server.shutdown(socket.SHUT_WR)
                return
            if not decided and record.up_bytes + len(data) >= self.cut_after:
                decided = True
                if self._decide_cut(record, len(data)):
                    head = data[: self.cut_after - record.up_bytes]
                    self._forward(server, head, record)
                    record.cut = True
                    with contextlib.suppress(OSError):
                        server.shutdown(socket.SHUT_WR)  # clean FIN: the server gets it all
                    _reset(client)  # the client sees a dropped connection
                    return
            if not self._forward(server, data, record):
                _reset(client)
                return

    def _forward(self, server: socket.socket, data: bytes, record: ConnRecord) -> bool:
        try:
            server.sendall(data)
        except OSError:
            return False
        record._see(data)
        record.up_bytes += len(data)
        return True

    def _pump_down(self, server: socket.socket, client: socket.socket) -> None:
        client_open = True
        while True:
            try:
                data = server.recv(_READ)
            except OSError:
                data = b""
            if not data:
                if client_open:
                    with contextlib.suppress(OSError):
                        client.shutdown(socket.SHUT_WR)
                return
            if client_open:
                try:
                    client.sendall(data)
                except OSError:
                    client_open = False  # cut: drain the server's answer, drop it


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
