"""A webhook receiver on 127.0.0.1 for tests, in a thread of its own (so that it works for
in-process apps and for real server processes alike). Each request takes the next
behaviour from its script: an HTTP status, "drop" (close the connection without an
answer) or "hang" (answer after ``hang_seconds``); when the script runs out, 200."""

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class Receiver:
    script: list[int | str] = field(default_factory=list)
    hang_seconds: float = 5.0
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.changed:
                    receiver.attempts += 1
                    action = receiver.script.pop(0) if receiver.script else 200
                if action == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if action == "hang":
                    time.sleep(receiver.hang_seconds)
                    action = 200
                status = int(action)
                if status < 300:
                    with receiver.changed:
                        receiver.received.append(Received(dict(self.headers), body))
                        receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def types(self) -> list[str]:
        with self.changed:
            return [r.event["type"] for r in self.received]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` deliveries were accepted (bounded)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"only {len(self.received)} of {count} deliveries arrived"
                self.changed.wait(left)
            return list(self.received)
