"""Alert engine benchmark, on its own redis-server and mosquitto (the shipped configuration) on free ports.

Run by hand:  .venv/bin/python bench/alerts.py [--readings 200000] [--per-entry 100] [--samples 100] [--burst 1000]

Prints:
  * throughput: readings evaluated per second by one engine draining a backlog of the readings stream (every
    watched sign in turn, 95 % normal values, 5 % breaches that raise, step and clear alerts), and its CPU
    per reading;
  * latency from a threshold-crossing publish over MQTT to the alert visible in Redis, p50/p95/max, through
    the real processes (feed worker, roll-up, simulator at normal speed, `python -m alerts`):
      - at the simulator's normal rate, one breach at a time;
      - a burst of simultaneous breaches on different signs (a citywide rainstorm).
    "Visible" is the Redis time of the MULTI that wrote the alert: the id of its audit entry, written in the
    same transaction, is Redis' own millisecond clock.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from alerts.engine import ENGINE_PREFIX, AlertEngine  # noqa: E402
from alerts.model import Event, RuleKind  # noqa: E402
from alerts.rules import value_rule  # noqa: E402
from alerts.store import list_active  # noqa: E402
from config import PROJECT_ROOT, Settings  # noqa: E402
from feeds.contract import encode_readings, topic  # noqa: E402
from feeds.mqtt import broker_address, new_client  # noqa: E402
from services.embedded import start_broker, start_redis  # noqa: E402
from signs.catalogue import catalogue  # noqa: E402
from signs.keys import (  # noqa: E402
    KEY_ALERTS_AUDIT,
    KEY_READINGS,
    alert_engine_key,
    pack_landed,
    unpack_landed,
    worker_key,
)
from signs.model import Direction, Level, MqttSource, Sign, level_of  # noqa: E402
from signs.replies import stream_range, stream_read, stream_revrange  # noqa: E402

BREACH_SHARE = 0.05


def value_at(sign: Sign, level: Level) -> float:
    """A value clearly at `level` (NORMAL or the sign's highest defined level)."""
    bounds = [b for b in sign.thresholds if b is not None]
    bound = bounds[0] if level == Level.NORMAL else bounds[-1]
    step = abs(bound) * 0.5 + 1.0
    inward = level == Level.NORMAL
    value = bound - step if (sign.direction is Direction.HIGH_IS_BAD) == inward else bound + step
    assert (level_of(value, sign.thresholds, sign.direction) == Level.NORMAL) == inward
    return value


# Throughput --------------------------------------------------------------------------------------------------


def throughput(redis_url: str, readings: int, per_entry: int) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    engine = AlertEngine(Settings(redis_url=redis_url, alert_read_count=100), client=client)
    engine.join_group()
    signs = [s for s in catalogue().signs.values() if value_rule(s) is not None]
    start = time.time() - readings / len(signs) - 60
    with client.pipeline(transaction=False) as pipe:
        for first in range(0, readings, per_entry):
            rows = []
            for i in range(first, min(first + per_entry, readings)):
                sign = signs[i % len(signs)]
                level = Level.RED if (i * 7919) % 100 < BREACH_SHARE * 100 else Level.NORMAL
                rows.append((sign.id, start + i / len(signs), value_at(sign, level)))
            pipe.xadd(KEY_READINGS, {"r": pack_landed(rows)})
        pipe.execute()

    usage0, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    while engine.read_new(1):
        pass
    seconds = time.perf_counter() - began
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    stats = engine.stats
    print(f"throughput: {stats.readings:,} readings in {stats.entries:,} entries of {per_entry} ({len(signs)} signs)")
    print(f"  {stats.readings / seconds:,.0f} readings/s by one engine, {cpu / stats.readings * 1e6:.1f} µs CPU each")
    print(f"  {stats.raised:,} alerts raised, {stats.transitions:,} transitions written")


# Latency through the real processes ---------------------------------------------------------------------------


class Children:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *argv: str) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen([sys.executable, *argv], env=self.env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
        self.processes.append((name, process))

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            process.terminate()
        for _, process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


class AlertFollower:
    """Reads the audit stream: when each sign's alert first stood at red (Redis time of its transaction)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        newest = stream_revrange(client, KEY_ALERTS_AUDIT, count=1)
        self.last_id = newest[0][0] if newest else b"0-0"
        self.red_at: dict[str, float] = {}

    def poll(self, block_ms: int = 50) -> None:
        for _, entries in stream_read(self.client, {KEY_ALERTS_AUDIT: self.last_id}, block=block_ms, count=10_000):
            for entry_id, fields in entries:
                self.last_id = entry_id
                event, level = fields[b"event"].decode(), fields.get(b"level", b"").decode()
                if event in (Event.RAISED, Event.LEVEL_CHANGED) and level == Level.RED.en:
                    self.red_at.setdefault(fields[b"sign_id"].decode(), int(entry_id.split(b"-")[0]) / 1000)

    def wait(self, sign_ids: list[str], timeout_s: float) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline and not all(s in self.red_at for s in sign_ids):
            self.poll()
        missing = [s for s in sign_ids if s not in self.red_at]
        if missing:
            raise RuntimeError(f"{len(missing)} alerts never became visible, e.g. {missing[:3]}")


def landed_at(client: redis.Redis, since: float, sign_ids: set[str]) -> dict[str, float]:
    """When each sign's reading landed: the Redis time of the feed worker's stream entry that carried it."""
    out: dict[str, float] = {}
    for entry_id, fields in stream_range(client, KEY_READINGS, f"{int(since * 1000)}-0", "+"):
        for sign_id, _, _ in unpack_landed(fields[b"r"]):
            if sign_id in sign_ids:
                out.setdefault(sign_id, int(entry_id.split(b"-")[0]) / 1000)
    return out


def _message(sign: Sign) -> tuple[str, bytes]:
    source = sign.source
    assert isinstance(source, MqttSource)
    return topic(source.feed, source.adcode, source.source_id), encode_readings(
        time.time(), {source.field: value_at(sign, Level.RED)}
    )


def _percentiles(label: str, latencies: list[float]) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"  {label}: n={len(ms)}  p50 {statistics.median(ms):.0f} ms  p95 {p95:.0f} ms  max {ms[-1]:.0f} ms")


def latency(redis_url: str, mqtt_url: str, samples: int, burst: int, log_dir: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    env = {**os.environ, "REDIS_URL": redis_url, "MQTT_URL": mqtt_url, "PYTHONPATH": str(PROJECT_ROOT)}
    children = Children(env, log_dir)
    try:
        children.start("worker", "-m", "feeds", "worker", "--name", "1")
        children.start("rollup", "-m", "feeds", "rollup")
        children.start("alerts", "-m", "alerts", "run")
        _wait(
            lambda: client.get(worker_key("cityeye-feed-1")) and client.get(alert_engine_key(f"{ENGINE_PREFIX}-1")), 30
        )
        children.start("simulator", "-m", "feeds", "simulate")
        warmup_s = 20.0
        print(f"latency: worker, roll-up, simulator (speed 1), `python -m alerts`, {warmup_s:.0f} s warm-up")
        time.sleep(warmup_s)

        alerting = {a.sign_id for a in list_active(client)}
        candidates = [
            s for s in catalogue().signs.values()
            if isinstance(s.source, MqttSource) and value_rule(s) is RuleKind.THRESHOLD and s.thresholds[3] is not None
            and s.id not in alerting
        ]  # fmt: skip
        if len(candidates) < samples + burst:
            raise RuntimeError(f"only {len(candidates)} signs free to breach, {samples + burst} needed")
        follower = AlertFollower(client)
        host, port = broker_address(mqtt_url)
        publisher = new_client(f"bench-alerts-{os.getpid()}", mqtt_url)
        publisher.max_inflight_messages_set(1_000)
        publisher.connect(host, port)
        publisher.loop_start()

        published: dict[str, float] = {}
        for sign in candidates[:samples]:
            name, payload = _message(sign)
            published[sign.id] = time.time()
            publisher.publish(name, payload, qos=1)
            follower.wait([sign.id], 10)
            time.sleep(0.05)
        _percentiles("normal rate, one breach at a time", [follower.red_at[s] - t for s, t in published.items()])

        storm = candidates[samples : samples + burst]
        messages = [_message(sign) for sign in storm]
        began = time.time()
        sent: dict[str, float] = {}
        for sign, (name, payload) in zip(storm, messages, strict=True):
            sent[sign.id] = time.time()
            publisher.publish(name, payload, qos=1)
        published_in = time.time() - began
        follower.wait([s.id for s in storm], 60)
        _percentiles(f"burst of {burst} simultaneous breaches", [follower.red_at[s] - t for s, t in sent.items()])
        landed = landed_at(client, began, set(sent))
        _percentiles("  of which publish -> landed in the readings stream", [landed[s] - t for s, t in sent.items()])
        _percentiles("  of which landed -> alert visible", [follower.red_at[s] - landed[s] for s in sent])
        last_visible = max(follower.red_at[s.id] for s in storm)
        print(f"  burst published in {published_in * 1000:.0f} ms; all visible after {last_visible - began:.2f} s")
        publisher.loop_stop()
        publisher.disconnect()
    finally:
        children.stop()


def _wait(predicate: Callable[[], object], timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while not predicate():
        if time.time() > deadline:
            raise RuntimeError("the processes did not start; see their logs")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--per-entry", type=int, default=100, help="readings per stream entry (a feed-worker batch)")
    parser.add_argument("--samples", type=int, default=100, help="breaches measured one at a time at the normal rate")
    parser.add_argument("--burst", type=int, default=1_000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        redis_service = start_redis(Path(tmp) / "redis")
        broker = start_broker(Path(tmp) / "mqtt")
        try:
            throughput(redis_service.url, args.readings, args.per_entry)
            latency(redis_service.url, broker.url, args.samples, args.burst, Path(tmp))
        finally:
            broker.stop()
            redis_service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
