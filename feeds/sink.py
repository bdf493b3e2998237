"""The Redis side of ingest: one pipelined round trip per batch of parsed MQTT messages.

Per batch, latest values and camera states go through one newest-wins script per hash, history is
appended per sign and day, the batch's sign readings go to the alert engine's stream as one entry (all three
through signs.write, the writer the roll-up uses too), and rejected messages land in the dead-letter stream with
their reason.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import cast

import redis
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from feeds.contract import BrokerCounter, CameraStatus, Reading, Rejected
from signs.keys import (
    BROKER_COUNTERS_LUA,
    KEY_BROKER,
    KEY_BROKER_DROPS,
    KEY_CAMERA_HEARD,
    KEY_DEADLETTER,
    KEY_DEADLETTER_COUNTS,
    KEY_INGEST_COUNTS,
    Latest,
    camera_key,
    landed_minid,
)
from signs.pipelined import run_script
from signs.write import SignWriter

Entry = tuple[bytes, dict[bytes, bytes]]  # a stream entry as redis-py returns it


@dataclass
class Batch:
    """What one flush writes. Filled by the worker as messages arrive."""

    readings: list[Reading] = field(default_factory=list)
    cameras: list[CameraStatus] = field(default_factory=list)
    rejected: list[tuple[str, bytes, Rejected]] = field(default_factory=list)
    receive_ts: float = 0.0
    messages: int = 0  # MQTT messages in the batch; one may carry many readings
    # The broker's $SYS counters heard, with when: not feed messages (never counted as such), but written alike.
    broker: list[tuple[BrokerCounter, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return self.messages

    def __bool__(self) -> bool:
        return bool(self.messages or self.broker)


class RedisSink:
    def __init__(
        self,
        client: redis.Redis,
        *,
        retention_days: int,
        deadletter_keep: int,
        deadletter_payload_bytes: int,
        readings_keep_s: float,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1_000,
    ) -> None:
        self._client = client
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        self._signs = SignWriter(retention_days=retention_days, readings_keep_s=readings_keep_s)
        self._deadletter_keep = deadletter_keep
        self._deadletter_payload_bytes = deadletter_payload_bytes

    def write(self, batch: Batch) -> None:
        """Write the whole batch or raise; the caller acknowledges the messages only after this returns. With
        wait_replicas, only once that many replicas hold it too (Redis WAIT, in the same round trip), so that a
        failover to one of them loses nothing acknowledged; fewer in time raise ReplicasBehind, and the batch,
        unacknowledged, is written again."""
        pipe = self._client.pipeline(transaction=False)
        receive = repr(batch.receive_ts)
        if batch.readings:
            newest: dict[str, Reading] = {}
            for reading in batch.readings:
                held = newest.get(reading.sign_id)
                if held is None or reading.source_ts > held.source_ts:
                    newest[reading.sign_id] = reading
            self._signs.latest(
                pipe, {r.sign_id: Latest(r.value, r.source_ts, batch.receive_ts) for r in newest.values()}
            )
            points = [(r.sign_id, r.source_ts, r.value) for r in batch.readings]
            self._signs.history(pipe, points)
            pipe.hincrby(KEY_INGEST_COUNTS, "readings", len(batch.readings))
            # One stream entry per batch, not per message: the alert engine sees every reading at no cost to ingest.
            self._signs.landed(pipe, points, batch.receive_ts)
        if batch.cameras:
            by_district: dict[str, list[EncodableT]] = defaultdict(list)
            for camera in batch.cameras:
                by_district[camera.adcode] += (
                    camera.device_id,
                    repr(camera.source_ts),
                    f"{receive}|{camera.status}|{camera.kind}|{camera.lat!r}|{camera.lon!r}",
                )
            for adcode, args in by_district.items():
                self._signs.newest_wins(pipe, camera_key(adcode), args)
            pipe.hincrby(KEY_INGEST_COUNTS, "camera_heartbeats", len(batch.cameras))
            pipe.set(KEY_CAMERA_HEARD, receive)
        for topic, payload, rejected in batch.rejected:
            queue_deadletter(
                pipe, topic, payload, rejected, batch.receive_ts, self._deadletter_keep, self._deadletter_payload_bytes
            )
        if batch.broker:
            counters = [landed_minid(batch.receive_ts or time.time(), BROKER_DROPS_KEEP_S)]
            for counter, heard_at in batch.broker:
                counters += (counter.kind, counter.node, counter.value, repr(heard_at))
            run_script(pipe, BROKER_COUNTERS_LUA, [KEY_BROKER, KEY_BROKER_DROPS], counters)
        if self._wait_replicas:
            pipe.wait(self._wait_replicas, self._wait_timeout_ms)
        replies = pipe.execute()
        if self._wait_replicas and replies[-1] < self._wait_replicas:
            raise ReplicasBehind(
                f"{replies[-1]} of {self._wait_replicas} replicas hold the batch after {self._wait_timeout_ms} ms"
            )


class ReplicasBehind(redis.RedisError):
    """The batch is on the master but not yet on REDIS_WAIT_REPLICAS replicas: not to be acknowledged yet."""


def queue_deadletter(
    pipe: Pipeline, topic: str, payload: bytes, rejected: Rejected, at: float, keep: int, payload_bytes: int
) -> None:
    """One dead-letter record and its count, queued on a pipeline."""
    pipe.xadd(
        KEY_DEADLETTER, deadletter_fields(topic, payload, rejected, at, payload_bytes), maxlen=keep, approximate=True
    )
    pipe.hincrby(KEY_DEADLETTER_COUNTS, rejected.reason.value, 1)


def write_deadletter(
    client: redis.Redis, topic: str, payload: bytes, rejected: Rejected, at: float, keep: int, payload_bytes: int
) -> None:
    """One dead-letter record written on its own: for what City Eye rejects outside a worker's batch (the alert
    engine, on a forged deletion of an alert's retained state)."""
    pipe = client.pipeline(transaction=False)
    queue_deadletter(pipe, topic, payload, rejected, at, keep, payload_bytes)
    pipe.execute()


def deadletter_fields(
    topic: str, payload: bytes, rejected: Rejected, at: float, payload_bytes: int
) -> dict[FieldT, EncodableT]:
    """One dead-letter record, as bytes wherever the text came from outside: redis-py encodes str as strict UTF-8
    when the pipeline executes, and one lone surrogate in a topic or detail would fail the whole batch."""
    return {
        "topic": topic.encode("utf-8", "backslashreplace"),
        "payload": bytes(payload[:payload_bytes]),
        "bytes": len(payload),
        "reason": rejected.reason.value,
        "detail": rejected.detail.encode("utf-8", "backslashreplace"),
        "at": repr(at),
    }


def read_deadletters(client: redis.Redis, count: int = 20) -> list[dict[str, str]]:
    """The newest rejected messages, newest first."""
    entries = cast(list[Entry], client.xrevrange(KEY_DEADLETTER, count=count))
    out = []
    for entry_id, fields in entries:
        record = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
        record["id"] = entry_id.decode()
        record["at_iso"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(float(record["at"])))
        out.append(record)
    return out


def read_deadletter_counts(client: redis.Redis) -> dict[str, int]:
    counts = cast(dict[bytes, bytes], client.hgetall(KEY_DEADLETTER_COUNTS))
    return {k.decode(): int(v) for k, v in counts.items()}


# Drops are news for an hour (the wall's banner, /healthz); the record of each is kept a day.
BROKER_DROPS_RECENT_S = 3_600.0
BROKER_DROPS_KEEP_S = 86_400.0
# The broker's counters are current while some $SYS message came this recently: Mosquitto publishes its uptime every
# sys_interval (10 s by default), EMQX every sys_heartbeat_interval (30 s).
BROKER_COUNTERS_STALE_S = 120.0
# Brokers known to publish a dropped count, recognised by their version message before any count is heard (Mosquitto
# publishes the count only when it changes, and its retained copy expires after a minute).
_COUNTING_BROKERS = ("mosquitto",)


@dataclass(frozen=True, slots=True)
class BrokerDrops:
    """Messages the broker acknowledged and then dropped, as its own counters tell. `known` is False when the broker
    publishes no such counter (amqtt; Mosquitto with sys_interval 0) or none was heard for BROKER_COUNTERS_STALE_S:
    then nobody can say whether messages were dropped."""

    known: bool
    recent: int  # in the last BROKER_DROPS_RECENT_S
    total: int  # since City Eye first heard the broker
    last_at: float | None  # when a rise was last heard
    heard_at: float | None  # newest $SYS message
    broker: str

    def as_json(self) -> dict[str, object]:
        return {
            "known": self.known,
            "recent": self.recent if self.known else None,
            "recent_window_s": BROKER_DROPS_RECENT_S,
            "total": self.total,
            "last_at": self.last_at,
            "heard_at": self.heard_at,
            "broker": self.broker or None,
        }


def read_broker_drops(client: redis.Redis, now: float) -> BrokerDrops:
    with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(KEY_BROKER)
        pipe.xrange(KEY_BROKER_DROPS, min=f"{int((now - BROKER_DROPS_RECENT_S) * 1000)}-0")
        pipe.xrevrange(KEY_BROKER_DROPS, count=1)
        fields, recent_entries, last = cast(tuple[dict[bytes, bytes], list[Entry], list[Entry]], pipe.execute())
    state = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
    heard_at = float(state["heard"]) if "heard" in state else None
    broker = state.get("version", "")
    counts = any(key.startswith("dropped:") for key in state) or broker.lower().startswith(_COUNTING_BROKERS)
    fresh = heard_at is not None and now - heard_at <= BROKER_COUNTERS_STALE_S
    return BrokerDrops(
        known=counts and fresh,
        recent=sum(int(entry[b"n"]) for _, entry in recent_entries),
        total=int(state.get("dropped_total", 0)),
        last_at=int(last[0][0].split(b"-")[0]) / 1000 if last else None,
        heard_at=heard_at,
        broker=broker,
    )
