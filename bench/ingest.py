"""Ingest benchmark: MQTT (QoS 1) -> feed worker -> Redis, on this machine's real broker and Redis.

Run by hand:  .venv/bin/python bench/ingest.py [--messages 200000] [--rate 5000] [--seconds 10]

Prints, for a naive per-message writer (written here, as the baseline) and for the project's worker:
  * saturation throughput in msgs/s and worker CPU µs per message: the broker holds a backlog of
    realistic messages in the worker's persistent session, then the worker drains it;
  * publish -> Redis-written latency p50/p95/p99 at a paced rate (default 5,000 msgs/s).
Both use their own redis-server and mosquitto (the shipped configuration) on free ports.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt  # noqa: E402
import redis  # noqa: E402

from config import Settings  # noqa: E402
from feeds.contract import (  # noqa: E402
    CameraStatus,
    Ignored,
    Readings,
    Reason,
    Rejected,
    encode_camera_status,
    encode_readings,
    parse,
    topic,
)
from feeds.mqtt import broker_address, new_client  # noqa: E402
from feeds.worker import FeedWorker  # noqa: E402
from services.embedded import EmbeddedService, start_broker, start_redis  # noqa: E402
from signs.catalogue import catalogue  # noqa: E402
from signs.keys import KEY_LATEST, KEY_READINGS  # noqa: E402

CAMERA_SHARE = 0.85  # cameras dominate the city's message mix (perf-baselines §0)


def realistic_messages(count: int, seed: int = 7) -> list[tuple[str, bytes | None, dict[str, Any]]]:
    """(topic, payload-or-None, fields) tuples; the payload is stamped at publish time."""
    rng = random.Random(seed)
    routes = sorted(catalogue().routes.items())
    out: list[tuple[str, bytes | None, dict[str, Any]]] = []
    for i in range(count):
        if rng.random() < CAMERA_SHARE:
            adcode = rng.choice(
                ("420602", "420606", "420607", "420624", "420625", "420626", "420682", "420683", "420684")
            )
            device = f"{adcode}0008132{rng.choice('68')}{i % 999_999:06d}"
            fields = {
                "status": "online" if rng.random() > 0.03 else "offline",
                "kind": "fixed",
                "lat": 32.0 + rng.random() * 0.1,
                "lon": 112.1 + rng.random() * 0.1,
            }
            out.append((topic("video", adcode, device), None, fields))
        else:
            (feed, adcode, source_id), names = rng.choice(routes)
            out.append((topic(feed, adcode, source_id), None, {name: round(rng.uniform(0, 100), 2) for name in names}))
    return out


def encode(topic_name: str, fields: dict, ts: float) -> bytes:
    if "/video/" in topic_name:
        return encode_camera_status(ts, fields["status"], fields["kind"], fields["lat"], fields["lon"])
    return encode_readings(ts, fields)


def publish(mqtt_url: str, messages: list[tuple[str, bytes | None, dict]], rate: float | None, client_id: str) -> None:
    """QoS 1 publish from this thread (paho writes each PUBLISH at once when no loop thread runs), paced at
    `rate` msgs/s, each payload stamped at the moment it is written to the socket."""
    host, port = broker_address(mqtt_url)
    client = new_client(client_id, mqtt_url)
    client.max_inflight_messages_set(1000)
    client.connect(host, port)
    while not client.is_connected():
        client.loop(timeout=0.05)
    started = time.perf_counter()
    infos = []
    for i, (name, _, fields) in enumerate(messages):
        if rate:
            due = started + i / rate
            while (delay := due - time.perf_counter()) > 0:
                time.sleep(min(delay, 0.0005))
        infos.append(client.publish(name, encode(name, fields, time.time()), qos=1))
        if i % 64 == 0:
            client.loop(timeout=0)  # read PUBACKs so the in-flight window keeps moving
    while not all(info.is_published() for info in infos[-1000:]):
        client.loop(timeout=0.01)
    client.disconnect()


def parallel_publish(mqtt_url: str, messages: list, processes: int = 2) -> None:
    chunks = [messages[i::processes] for i in range(processes)]
    procs = [
        mp.Process(target=publish, args=(mqtt_url, chunk, None, f"bench-pub-{i}")) for i, chunk in enumerate(chunks)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


def _worker_settings(redis_url: str, mqtt_url: str) -> Settings:
    return Settings(redis_url=redis_url, mqtt_url=mqtt_url, mqtt_shared_group="", mqtt_client_prefix="bench")


PROJECT_SESSION, NAIVE_SESSION = "bench-1", "bench-naive"  # the worker's client id is prefix-name


class TimedWorker(FeedWorker):
    """The project's worker, instrumented: records when each batch's messages were written."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.latencies: list[float] = []
        self.first_receive = 0.0
        self.last_write = 0.0

    def _flush(self) -> bool:
        stamps = [r.source_ts for r in self._batch.readings] + [c.source_ts for c in self._batch.cameras]
        if stamps and not self.first_receive:
            self.first_receive = self._batch.receive_ts
        ok = super()._flush()
        if ok and stamps:
            self.last_write = time.time()
            self.latencies.extend(self.last_write - s for s in set(stamps))
        return ok


def run_project_worker(redis_url: str, mqtt_url: str, expect: int, results: mp.Queue) -> None:
    worker = TimedWorker(
        _worker_settings(redis_url, mqtt_url), "1", ("video", *sorted({f for f, _, _ in catalogue().routes}))
    )
    usage0 = resource.getrusage(resource.RUSAGE_SELF)

    def watch() -> None:
        while worker.stats.written < expect and not worker.stop_event.is_set():
            time.sleep(0.01)
        worker.stop_event.set()

    threading.Thread(target=watch, daemon=True).start()
    worker.run()
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    results.put(
        {
            "written": worker.stats.written,
            "seconds": worker.last_write - worker.first_receive,
            "cpu_s": cpu,
            "latencies": worker.latencies,
            "batches": worker.stats.batches,
        }
    )


def run_naive_worker(redis_url: str, mqtt_url: str, expect: int, results: mp.Queue) -> None:
    """Baseline: validate with the same contract, then one Redis write per message, acked by paho."""
    routes = catalogue().routes
    store = redis.Redis.from_url(redis_url)
    client = new_client(NAIVE_SESSION, mqtt_url, persistent=True)
    state: dict[str, Any] = {"n": 0, "first": 0.0, "last": 0.0, "lat": []}

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        if not state["first"]:
            state["first"] = now
        parsed = parse(message.topic, bytes(message.payload), routes, now)
        if isinstance(parsed, Ignored) or (isinstance(parsed, Rejected) and parsed.reason is Reason.FORBIDDEN_TOPIC):
            return  # City Eye's own topics (the project worker's retained status from an earlier run): not the bench's
        if isinstance(parsed, Readings):
            reading = parsed.readings[0]
            store.hset(KEY_LATEST, reading.sign_id, f"{reading.source_ts}|{now}|{reading.value}")
            stamp = reading.source_ts
        else:
            assert isinstance(parsed, CameraStatus), parsed  # the bench publishes only valid messages
            store.hset(f"naive:cam:{parsed.adcode}", parsed.device_id, f"{parsed.source_ts}|{parsed.status}")
            stamp = parsed.source_ts
        state["n"] += 1
        state["last"] = time.time()
        state["lat"].append(state["last"] - stamp)
        if state["n"] >= expect:
            client.disconnect()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("cityeye/v1/#", qos=1)
    host, port = broker_address(mqtt_url)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    client.connect(host, port)
    client.loop_forever()
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    results.put(
        {
            "written": state["n"],
            "seconds": state["last"] - state["first"],
            "cpu_s": cpu,
            "latencies": state["lat"],
            "batches": state["n"],
        }
    )


def end_session(mqtt_url: str, client_id: str) -> None:
    """Discard a persistent session so the next scenario starts with nothing queued for it."""
    host, port = broker_address(mqtt_url)
    client = new_client(client_id, mqtt_url)  # clean session: the broker drops the stored one
    client.connect(host, port)
    client.loop(timeout=0.5)
    client.disconnect()


def register_session(mqtt_url: str, client_id: str) -> None:
    """Create the worker's persistent session so the broker queues the backlog for it."""
    host, port = broker_address(mqtt_url)
    client = new_client(client_id, mqtt_url, persistent=True)
    done = threading.Event()
    client.on_subscribe = lambda *_: done.set()
    client.on_connect = lambda c, *_: c.subscribe("cityeye/v1/#", qos=1)
    client.connect(host, port)
    client.loop_start()
    done.wait(5)
    client.loop_stop()
    client.disconnect()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def scenario(name: str, target, redis_url: str, mqtt_url: str, messages: list, rate: float | None) -> dict:
    redis.Redis.from_url(redis_url).flushall()
    session = NAIVE_SESSION if target is run_naive_worker else PROJECT_SESSION
    results: mp.Queue = mp.Queue()
    # The worker's persistent session exists before anything is published, so the broker queues every message for
    # it: a worker slow to start delays the first messages (their latency shows it) but never misses one and waits.
    register_session(mqtt_url, session)
    if rate is None:
        parallel_publish(mqtt_url, messages)
        proc = mp.Process(target=target, args=(redis_url, mqtt_url, len(messages), results))
        proc.start()
    else:
        proc = mp.Process(target=target, args=(redis_url, mqtt_url, len(messages), results))
        proc.start()
        time.sleep(1.5)  # the worker connects and subscribes before the pacer starts
        publish(mqtt_url, messages, rate, "bench-pacer")
    result = results.get(timeout=300)
    proc.join(10)
    end_session(mqtt_url, session)
    result["name"] = name
    return result


def report(result: dict, rate: float | None) -> None:
    n, seconds = result["written"], max(result["seconds"], 1e-9)
    lat = result["latencies"]
    if rate is None:
        print(
            f"  {result['name']:<16} {n:>8} msgs  {n / seconds:>9,.0f} msgs/s  "
            f"{result['cpu_s'] * 1e6 / n:>7.1f} µs CPU/msg  ({result['batches']} writes)"
        )
    else:
        print(
            f"  {result['name']:<16} {n:>8} msgs at {rate:,.0f}/s  latency p50 {percentile(lat, 0.5):6.2f} ms  "
            f"p95 {percentile(lat, 0.95):6.2f} ms  p99 {percentile(lat, 0.99):6.2f} ms  "
            f"max {percentile(lat, 1):6.2f} ms  "
            f"{result['cpu_s'] * 1e6 / n:>7.1f} µs CPU/msg"
        )


def history_memory(redis_url: str, hours: float) -> None:
    """Write `hours` of history for every sign at its native cadence through the sink; extrapolate to retention."""
    from feeds.contract import Reading
    from feeds.sink import Batch, RedisSink

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    before = client.info("memory")["used_memory"]
    sink = RedisSink(
        client,
        retention_days=8,
        deadletter_keep=10,
        deadletter_payload_bytes=512,
        readings_keep_s=Settings().alert_readings_keep_s,
    )
    signs = list(catalogue().signs.values())
    end = time.time()
    start = end - hours * 3600
    points = 0
    step = min(sign.cadence_s for sign in signs)  # one batch per tick of the fastest sign
    t = start
    while t < end:
        tick = round(t / step)
        batch = Batch(receive_ts=t)
        batch.readings = [Reading(s.id, 42.0, t) for s in signs if tick % round(s.cadence_s / step) == 0]
        points += len(batch.readings)
        if batch.readings:
            sink.write(batch)
        t += step
    stream = client.memory_usage(KEY_READINGS, samples=0) or 0
    used = client.info("memory")["used_memory"] - before - stream
    retention_days = Settings().history_retention_days
    print(
        f"  {points:,} points for {len(signs):,} signs over {hours:.0f} h: {used / 1e6:.1f} MB in Redis "
        f"({used / points:.1f} B/point)"
    )
    print(f"  -> {retention_days} days at native cadence: about {used * retention_days * 24 / hours / 1e6:.0f} MB")
    # The stream's entry ids are real write times, so here it held every simulated hour; scale to what it keeps.
    keep_h = Settings().alert_readings_keep_s / 3600
    print(
        f"  plus the alert engine's readings stream: {stream / points:.1f} B/reading, "
        f"{stream / 1e6 * keep_h / hours:.1f} MB for the {keep_h:g} h it keeps"
    )


def start_replica(master: EmbeddedService, data_dir: Path) -> EmbeddedService:
    """A second redis-server replicating the bench's, in sync before this returns."""
    replica = start_redis(data_dir)
    address = urlsplit(master.url)
    redis.Redis.from_url(replica.url).replicaof(address.hostname, address.port)
    deadline = time.time() + 30
    while redis.Redis.from_url(master.url).info("replication").get("slave0", {}).get("state") != "online":
        if time.time() > deadline:
            raise RuntimeError("the replica did not sync in 30 s")
        time.sleep(0.1)
    return replica


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000, help="backlog size for the throughput run")
    parser.add_argument(
        "--naive-messages", type=int, default=30_000, help="backlog for the naive baseline (it is slow)"
    )
    parser.add_argument("--rate", type=float, default=5_000, help="paced rate for the latency run, msgs/s")
    parser.add_argument("--seconds", type=float, default=10, help="duration of the latency run")
    parser.add_argument(
        "--history-hours", type=float, default=24, help="simulated hours of history for the memory figure"
    )
    parser.add_argument(
        "--replica", action="store_true",
        help="give the Redis a replica (with REDIS_WAIT_REPLICAS=1 the worker waits for it before acknowledging)",
    )  # fmt: skip
    args = parser.parse_args()
    mp.set_start_method("spawn")
    with tempfile.TemporaryDirectory(prefix="cityeye-bench-") as tmp:
        redis_service = start_redis(Path(tmp) / "redis")
        broker = start_broker(Path(tmp) / "mqtt")
        replica = start_replica(redis_service, Path(tmp) / "replica") if args.replica else None
        try:
            print(
                f"Redis {redis_service.kind} {redis_service.url}, broker {broker.kind} {broker.url}, QoS 1, "
                f"{os.cpu_count()} CPUs, {'a replica' if replica else 'no replica'}, "
                f"REDIS_WAIT_REPLICAS={os.environ.get('REDIS_WAIT_REPLICAS', '0')}"
            )
            print(
                f"Throughput: drain a backlog held in the worker's persistent session "
                f"({CAMERA_SHARE:.0%} camera heartbeats, the rest multi-field readings)"
            )
            naive = scenario(
                "naive", run_naive_worker, redis_service.url, broker.url, realistic_messages(args.naive_messages), None
            )
            report(naive, None)
            project = scenario(
                "project worker",
                run_project_worker,
                redis_service.url,
                broker.url,
                realistic_messages(args.messages),
                None,
            )
            report(project, None)
            print(
                f"Latency: publish -> Redis write acknowledged, paced at {args.rate:,.0f} msgs/s "
                f"for {args.seconds:.0f} s"
            )
            paced = realistic_messages(int(args.rate * args.seconds), seed=11)
            report(scenario("naive", run_naive_worker, redis_service.url, broker.url, paced, args.rate), args.rate)
            report(
                scenario("project worker", run_project_worker, redis_service.url, broker.url, paced, args.rate),
                args.rate,
            )
            print("History memory (packed 16-byte points, one key per sign and day):")
            history_memory(redis_service.url, args.history_hours)
        finally:
            if replica is not None:
                replica.stop()
            broker.stop()
            redis_service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
