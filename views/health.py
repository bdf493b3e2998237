"""/healthz's model: Redis, the feed workers and the board, the MQTT broker and what it dropped; well only when
every part is."""

from __future__ import annotations

import json
from typing import Any

import redis

from config import settings
from feeds.board import read_board
from feeds.mqtt import broker, connack
from feeds.sink import read_broker_drops
from signs.catalogue import catalogue
from signs.keys import KEY_WORKER_PATTERN

# A board older than this means the roll-up (and so every derived value on the wall) has stopped.
BOARD_LATE_AFTER_S = 5.0
BROKER_TIMEOUT_S = 1.0


def broker_check() -> dict[str, Any]:
    try:
        refused = connack(broker(settings().mqtt_url), BROKER_TIMEOUT_S)
    except OSError as error:  # ssl.SSLError too: the broker's certificate, never a secret
        return {"ok": False, "error": str(error)}
    return {"ok": refused is None} | ({} if refused is None else {"error": refused})


def feeds_check(client: redis.Redis, now: float) -> dict[str, Any]:
    # One GET per key rather than MGET: worker keys live in different Redis Cluster slots.
    with client.pipeline(transaction=False) as pipe:
        for key in client.scan_iter(match=KEY_WORKER_PATTERN, count=100):
            pipe.get(key)
        workers = [json.loads(raw) for raw in pipe.execute() if raw]
    board = read_board(client)
    board_age = None if board is None else round(now - board.at, 1)
    return {
        "ok": bool(workers)
        and all(w.get("connected") for w in workers)
        and board is not None
        and board_age is not None
        and board_age <= BOARD_LATE_AFTER_S
        and not board.silent,
        "workers": [
            {"id": w["worker_id"], "connected": w["connected"], "age_s": round(now - w["at"], 1)} for w in workers
        ],
        "board_age_s": board_age,
        "silent_feeds": board.silent if board else None,
    }


def health(client: redis.Redis, now: float) -> dict[str, Any]:
    """Every check with "ok" overall; a part that cannot be known (Redis down) is not well."""
    checks: dict[str, Any] = {}
    try:
        client.ping()
        checks["redis"] = {"ok": True}
        checks["feeds"] = feeds_check(client, now)
    except redis.RedisError as error:
        checks["redis"] = {"ok": False, "error": str(error)}
        checks["feeds"] = {"ok": False, "error": "unknown while Redis is down"}
    checks["broker"] = broker_check()
    # Whether the broker dropped messages (its $SYS counters, as the feed workers heard them): "known" false when the
    # broker publishes no counters; drops within the hour make the broker unwell, as the wall's banner says.
    try:
        checks["broker"]["dropped"] = read_broker_drops(client, now).as_json()
    except redis.RedisError:
        checks["broker"]["dropped"] = {"known": False, "error": "unknown while Redis is down"}
    if checks["broker"]["dropped"].get("recent"):
        checks["broker"]["ok"] = False
    return {"ok": all(check["ok"] for check in checks.values()), "at": now, **checks}


def readiness(client: redis.Redis, now: float) -> dict[str, Any]:
    """/readyz: whether this web instance can serve the wall now: Redis answers, the sign catalogue is loaded, and the
    board is fresh (younger than BOARD_LATE_AFTER_S). A load balancer takes an instance out while it is not ready;
    /healthz says more, about the whole system."""
    checks: dict[str, Any] = {}
    try:
        checks["catalogue"] = {"ok": bool(catalogue().signs), "signs": len(catalogue().signs)}
    except Exception as error:  # a catalogue that does not load is this instance's fault, reported not raised
        checks["catalogue"] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
    try:
        client.ping()
        checks["redis"] = {"ok": True}
        board = read_board(client)
        age = None if board is None else round(now - board.at, 1)
        checks["board"] = {"ok": age is not None and age <= BOARD_LATE_AFTER_S, "age_s": age}
    except redis.RedisError as error:
        checks["redis"] = {"ok": False, "error": str(error)}
        checks["board"] = {"ok": False, "error": "unknown while Redis is down"}
    return {"ok": all(check["ok"] for check in checks.values()), "at": now, **checks}
