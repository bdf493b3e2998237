"""Typed reads of what the feed workers wrote to Redis, shared by the CLI, the app and the tests."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlsplit

import numpy as np
import redis
from redis.sentinel import Sentinel

from config import parse_sentinels, settings
from signs.keys import KEY_ALERTS_INGEST_UP, KEY_LATEST, KEY_WORKER_PATTERN, Latest, Quality, history_day, history_key
from signs.model import Level, Sign, is_stale, value_level
from signs.storyclock import StoryClock


def open_redis(url: str | None = None, *, timeout_s: float = 5.0, ca_file: Path | None = None) -> redis.Redis:
    """A client for REDIS_URL (or the given URL): every City Eye connection to Redis is made here, so rediss://
    (verified against ca_file or REDIS_CA_FILE, else the system's CAs) and user:password@ apply to all alike
    (docs/operations.md#transports). With REDIS_SENTINELS the client follows the master the sentinels name through a
    failover, the URL giving only its credentials, database and TLS (docs/operations.md#redis-sentinel); with
    REDIS_CLUSTER it is a Redis Cluster client seeded by the URL's node (docs/operations.md#redis-cluster). Raw bytes
    are returned; decode at the edges."""
    cfg = settings()
    url = url or cfg.redis_url
    ca_file = ca_file or cfg.redis_ca_file
    tls = {"ssl_ca_certs": str(ca_file)} if ca_file and url.startswith("rediss:") else {}
    timeouts = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    if cfg.redis_sentinels:
        parts = urlsplit(url)
        secure = {"ssl": True, **tls} if parts.scheme == "rediss" else {}
        # redis-py's sentinel module carries no type hints.
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            parse_sentinels(cfg.redis_sentinels), sentinel_kwargs={**timeouts, **secure}
        )
        master = sentinel.master_for(  # type: ignore[no-untyped-call]
            cfg.redis_sentinel_master,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            db=int(parts.path.strip("/") or 0),
            health_check_interval=30,
            **timeouts,
            **secure,
        )
        return cast(redis.Redis, master)
    if cfg.redis_cluster:
        # Typed as redis.Redis: City Eye calls only the commands both answer alike, its keys being hash-tagged so
        # that every multi-key command and transaction stays in one slot (signs/keys.py).
        cluster = redis.RedisCluster.from_url(url, **timeouts, **tls)
        return cast(redis.Redis, cluster)
    return redis.Redis.from_url(url, health_check_interval=30, **timeouts, **tls)


@functools.cache
def shared_redis() -> redis.Redis:
    """The process's client for REDIS_URL (a connection pool, safe across threads), made on first use so
    that gunicorn's workers each open their own after the fork."""
    return open_redis()


@dataclass(frozen=True, slots=True)
class SignValue:
    sign_id: str
    value: float
    unit: str
    level: Level
    source_ts: float
    receive_ts: float
    age_s: float
    stale: bool
    quality: Quality = Quality.OK

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.sign_id,
            "value": None if self.quality is Quality.NO_DATA else self.value,  # a rate over no events is none
            "unit": self.unit,
            "level": self.level.en,
            "level_zh": self.level.zh,
            "source_ts": self.source_ts,
            "receive_ts": self.receive_ts,
            "age_s": round(self.age_s, 3),
            "stale": self.stale,
            "quality": self.quality.value,
        }


def latest_level(sign: Sign, latest: Latest, clock: StoryClock | None = None) -> Level:
    """The warning level a stored value stands at (at its story time while the simulator tells a story); a value
    warming up or incomplete has none (it raises nothing)."""
    if latest.quality is not Quality.OK:
        return Level.NORMAL
    return value_level(sign, latest.value, latest.source_ts, clock)


def sign_value(sign: Sign, latest: Latest, now: float, clock: StoryClock | None = None) -> SignValue:
    age = max(0.0, now - latest.source_ts)
    return SignValue(
        sign_id=sign.id,
        value=latest.value,
        unit=sign.unit,
        level=latest_level(sign, latest, clock),
        source_ts=latest.source_ts,
        receive_ts=latest.receive_ts,
        age_s=age,
        stale=is_stale(sign, latest.source_ts, now),
        quality=latest.quality,
    )


def read_latest(client: redis.Redis, sign_id: str) -> Latest | None:
    raw = client.hget(KEY_LATEST, sign_id)
    return Latest.decode(raw) if raw is not None else None


def read_all_latest(client: redis.Redis) -> dict[str, Latest]:
    raw = cast(dict[bytes, bytes], client.hgetall(KEY_LATEST))  # the client returns bytes (open_redis)
    return {k.decode(): Latest.decode(v) for k, v in raw.items()}


def ingest_up_since(client: redis.Redis, now: float) -> float | None:
    """Since when feed workers have been alive without a break (a worker is alive while its heartbeat key lives);
    None while none is. Whoever looks first (the alert engine's tick, the camera roll-up) records it, so that it
    survives a change of leader and both judge from the same moment."""
    if next(client.scan_iter(match=KEY_WORKER_PATTERN, count=100), None) is None:
        client.delete(KEY_ALERTS_INGEST_UP)
        return None
    previous = client.set(KEY_ALERTS_INGEST_UP, repr(now), nx=True, get=True)
    return float(cast(bytes, previous)) if previous is not None else now


def read_history(client: redis.Redis, sign_id: str, start: float, end: float | None = None) -> np.ndarray:
    """Points of one sign between start and end, sorted by source time, one per timestamp.

    The ingest path appends; redelivered or out-of-order messages are resolved here, where it is cheap.
    Returns a structured array with fields ts and value.
    """
    end = time.time() if end is None else end
    days = sorted({history_day(t) for t in [*np.arange(start, end, 86_400), end]})
    with client.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.get(history_key(sign_id, day))
        blobs = [b for b in pipe.execute() if b]
    dtype = np.dtype([("ts", "<f8"), ("value", "<f8")])
    if not blobs:
        return np.empty(0, dtype=dtype)
    points = np.frombuffer(b"".join(blobs), dtype=dtype)
    points = points[(points["ts"] >= start) & (points["ts"] <= end)]
    order = np.argsort(points["ts"], kind="stable")
    points = points[order]
    # Keep the last-written point of each timestamp.
    keep = np.ones(len(points), dtype=bool)
    keep[:-1] = points["ts"][1:] != points["ts"][:-1]
    return points[keep]
