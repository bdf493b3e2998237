"""What the whole-system benchmarks share: the system under test as `make run` starts it, and their statistics.

`running_system()` starts `python -m services run` with its own temporary RUN_DIR on a free WEB_PORT, with its own
embedded Redis and broker (or the benchmark's own, given in `services`), waits for GET /healthz to answer 200, and
stops it in order at the end (also on Ctrl-C or an error).
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from config import PROJECT_ROOT
from services.embedded import die_with_parent, free_port

HTTP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 90.0
LOG_TAIL_LINES = 12


class BenchError(RuntimeError):
    """The benchmark could not measure: the message says why, with the logs that show it."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass
class System:
    """`python -m services run` with its own RUN_DIR and WEB_PORT."""

    run_dir: Path
    url: str
    process: subprocess.Popen[bytes]
    redis_url: str = ""


@contextlib.contextmanager
def running_system(name: str, start_timeout_s: float, services: dict[str, str] | None = None) -> Iterator[System]:
    """`services`: settings of servers the benchmark started itself (REDIS_URL, REDIS_CLUSTER...)."""
    with tempfile.TemporaryDirectory(prefix=f"cityeye-{name}-bench-", ignore_cleanup_errors=True) as tmp:
        run_dir = Path(tmp)
        port = free_port()
        env = dict(os.environ, RUN_DIR=str(run_dir), WEB_HOST="127.0.0.1", WEB_PORT=str(port), PYTHONUNBUFFERED="1")
        for key in ("REDIS_URL", "MQTT_URL", "REDIS_CLUSTER", "REDIS_SENTINELS"):
            env.pop(key, None)  # never a Redis or broker someone uses
        env.update(services or {})
        with (run_dir / "services.out").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "services", "run"],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the benchmark, which stops the system in order
                preexec_fn=die_with_parent,
            )
        system = System(run_dir, f"http://127.0.0.1:{port}", process)
        try:
            wait_healthy(system, start_timeout_s)
            yield system
        finally:
            stop_system(system)


def wait_healthy(system: System, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if system.process.poll() is not None:
            raise BenchError(
                f"`python -m services run` exited with code {system.process.returncode}{log_tails(system.run_dir)}"
            )
        try:
            response = requests.get(system.url + "/healthz", timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as error:
            last = str(error)
        else:
            if response.status_code == 200:
                system.redis_url = read_env_file(system.run_dir / "env")["REDIS_URL"]
                return
            last = f"HTTP {response.status_code} {response.text[:600]}"
        time.sleep(1.0)
    raise BenchError(
        f"GET /healthz did not answer 200 within {timeout_s:.0f} s; last answer: {last}{log_tails(system.run_dir)}"
    )


def read_env_file(path: Path) -> dict[str, str]:
    """The `export KEY=value` lines that `python -m services run` writes to RUN_DIR/env."""
    pairs = [shlex.split(line)[1] for line in path.read_text().splitlines() if line.startswith("export ")]
    return dict(pair.split("=", 1) for pair in pairs)


def log_tails(run_dir: Path) -> str:
    logs = [run_dir / "services.out", *sorted((run_dir / "logs").glob("*.log"))]
    parts = []
    for path in logs:
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            parts.append(f"\n--- {path.name} (last {len(lines)} lines)\n" + "\n".join(lines))
    return "".join(parts)


def stop_system(system: System) -> None:
    """SIGTERM to the orchestrator, which stops its children and services in order; SIGKILL if it hangs."""
    if system.process.poll() is None:
        print("Stopping the system...", flush=True)
        system.process.send_signal(signal.SIGTERM)
        try:
            system.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(system.process.pid, signal.SIGKILL)  # its children die with it (PR_SET_PDEATHSIG)
            system.process.wait()
