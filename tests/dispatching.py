"""What the event hub's integration tests share: a local HTTP receiver standing for the departments' robots (Apprise
json://), a channels file pointing at it, and the dispatcher as a real child process."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from feeds.mqtt import broker_address, new_client
from tests.processes import ChildProcess, feed_env


class Receiver:
    """Records every JSON POST as (path, body); answers 503 to the first `fail_first` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.refused = 0
        self._fail_first = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    if receiver.refused < receiver._fail_first:
                        receiver.refused += 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    receiver.received.append((self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def to(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for p, body in self.received if p == f"/{path}"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def receiving(fail_first: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(fail_first)
    try:
        yield receiver
    finally:
        receiver.close()


def channels_file(directory: Path, receiver: Receiver, units: list[str]) -> Path:
    """Each unit's channel is the receiver's path named after it ("D02" -> /D02)."""
    path = directory / "channels.json"
    path.write_text(json.dumps({unit: [receiver.url(unit)] for unit in units}), encoding="utf-8")
    return path


def start_dispatcher(redis_url: str, mqtt_url: str, name: str, **env: str) -> ChildProcess:
    settings = {"DISPATCH_TICK_S": "0.1", "DISPATCH_RETRY_BASE_S": "0.2", **env}
    return ChildProcess(
        [sys.executable, "-m", "dispatch", "run", "--name", name], feed_env(redis_url, mqtt_url, **settings), name
    )


@contextmanager
def following_states(mqtt_url: str, name: str) -> Iterator[dict[str, bytes]]:
    """The newest payload of each event-state topic, retained ones first, while inside."""
    states: dict[str, bytes] = {}
    follower = new_client(name, mqtt_url)
    follower.on_message = lambda _c, _u, m: states.__setitem__(m.topic, bytes(m.payload))
    follower.connect(*broker_address(mqtt_url))
    follower.subscribe("cityeye/v1/events-state/#", 1)
    follower.loop_start()
    try:
        yield states
    finally:
        follower.loop_stop()
        follower.disconnect()
