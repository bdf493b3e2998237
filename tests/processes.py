"""Child processes, waiting and publishing for the tests that run City Eye's real processes."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import paho.mqtt.client as mqtt
import redis

from config import PROJECT_ROOT
from feeds.contract import worker_status_topic
from feeds.mqtt import broker_address, new_client
from signs.keys import Latest, worker_key
from signs.store import read_latest

LOG_DIR = PROJECT_ROOT / "test-artifacts" / "logs"


# One key for every process a test run starts, so that workers, the alert engine and the test's own followers agree
# on what City Eye signed (and never on what a test forges without it).
TEST_SIGNING_KEY = os.environ.get("INTERNAL_SIGNING_KEY") or secrets.token_urlsafe(32)


def feed_env(redis_url: str, mqtt_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        MQTT_URL=mqtt_url,
        PYTHONPATH=str(PROJECT_ROOT),
        INTERNAL_SIGNING_KEY=TEST_SIGNING_KEY,
        # The test servers are plain and open: processes under test in ENVIRONMENT=production may use them.
        ALLOW_INSECURE_TRANSPORT="1",
    )
    env.update(extra)
    return env


class ChildProcess:
    """One child process of the system under test, with its output in test-artifacts/logs."""

    def __init__(self, argv: list[str], env: dict[str, str], log_name: str) -> None:
        self.argv, self.env = argv, env
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{log_name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def signal(self, signum: int) -> None:
        """To the whole process group, so that gunicorn's workers get it too."""
        assert self.process is not None
        os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        assert self.process is not None
        self.signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class FeedProcess(ChildProcess):
    """`python -m feeds ARGS...`."""

    def __init__(self, args: list[str], env: dict[str, str], log_name: str) -> None:
        super().__init__([sys.executable, "-m", "feeds", *args], env, log_name)


T = TypeVar("T")


def wait_for(predicate: Callable[[], T | None], timeout: float = 15.0, what: str = "condition") -> T:
    """The predicate's first truthy result, polled every 50 ms."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stored_latest(client: redis.Redis, sign_id: str) -> Latest:
    """The sign's latest value as Redis holds it now; it must be there."""
    latest = read_latest(client, sign_id)
    assert latest is not None, f"no latest value of {sign_id} in Redis"
    return latest


def wait_worker_ready(client: redis.Redis, mqtt_url: str, worker_id: str, timeout: float = 20.0) -> None:
    """Ready = heartbeat in Redis and its retained 'online' status on the broker (it has subscribed)."""
    wait_for(lambda: client.get(worker_key(worker_id)), timeout, f"heartbeat of {worker_id}")
    host, port = broker_address(mqtt_url)
    seen = threading.Event()
    watcher = new_client(f"test-watch-{worker_id}-{time.monotonic_ns()}", mqtt_url)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if json.loads(message.payload).get("state") == "online":
            seen.set()

    watcher.on_message = on_message
    watcher.on_connect = lambda c, *_: c.subscribe(worker_status_topic(worker_id), qos=1)
    watcher.connect(host, port)
    watcher.loop_start()
    try:
        assert seen.wait(timeout), f"{worker_id} never announced itself online"
    finally:
        watcher.loop_stop()
        watcher.disconnect()


class Publisher:
    """A plain paho client publishing at QoS 1 and waiting for the broker's PUBACKs."""

    def __init__(self, mqtt_url: str) -> None:
        host, port = broker_address(mqtt_url)
        self.client = new_client(f"test-publisher-{time.monotonic_ns()}", mqtt_url)
        self.client.max_inflight_messages_set(200)
        self.client.connect(host, port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    def publish_all(self, messages: list[tuple[str, bytes]], qos: int = 1) -> None:
        infos = [self.publish(t, p, qos) for t, p in messages]
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()



def run_cli(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=Path(PROJECT_ROOT),
        capture_output=True,
        text=True,
        timeout=60,
    )
