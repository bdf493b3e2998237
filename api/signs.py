"""The read API beside the wall: what the wall shows, as JSON, for other systems and for the tests.

GET /api/v1/signs/{id}                         one sign: catalogue entry and its latest value
GET /api/v1/snapshot?category=&district=       every sign of a category and/or district with its value
GET /healthz                                   Redis, the MQTT broker (and what it dropped), feed workers and the board;
                                               503 when not all well

Sign values are read city-wide by whoever may read (auth.scope); errors are api.responses' JSON.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from flask import Blueprint, Response, abort, request

from api.responses import answer_errors_as_json, takes
from config import settings
from feeds.board import read_board
from feeds.mqtt import broker_address
from feeds.sink import read_broker_drops
from geo.admin import CITY_ADCODE, DISTRICTS
from services.embedded import mqtt_connect_ok
from signs.catalogue import catalogue
from signs.keys import KEY_WORKER_PATTERN, Latest
from signs.model import Sign
from signs.store import read_all_latest, read_latest, shared_redis, sign_value
from signs.urlstate import QueryError

signs_blueprint = answer_errors_as_json(Blueprint("signs_api", __name__))

# A board older than this means the roll-up (and so every derived value on the wall) has stopped.
BOARD_LATE_AFTER_S = 5.0
BROKER_TIMEOUT_S = 1.0


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def sign_json(sign: Sign, latest: Latest | None, now: float) -> dict[str, Any]:
    """A sign's catalogue entry merged with its current value; value fields are null before the first reading.
    "quality" is "ok", or "warming-up" / "incomplete" for a value that is shown but not judged (level normal)."""
    doc: dict[str, Any] = {
        "id": sign.id,
        "name_zh": sign.name_zh,
        "name_en": sign.name_en,
        "unit": sign.unit,
        "category": sign.category,
        "module": sign.module,
        "dimension": sign.dimension,
        "cadence_s": sign.cadence_s,
    }
    if latest is None:
        return doc | {
            "value": None, "level": None, "source_ts": None, "receive_ts": None, "age_s": None, "stale": True,
            "quality": None,
        }  # fmt: skip
    return doc | sign_value(sign, latest, now).as_json()


def select_signs(signs: dict[str, Sign], category: str | None, district: str | None) -> list[Sign]:
    """Signs of a category (code P/T/D/S or 人/物/动/态) and of a district (adcode; the city's code selects
    the city-wide signs). QueryError for a category or a district that is none."""
    cat = catalogue()
    if category:
        by_name = {c.name_zh: code for code, c in cat.categories.items()}
        category = by_name.get(category, category.upper())
        if category not in cat.categories:
            raise QueryError(f"unknown category {category[:40]!r}; one of {', '.join(cat.categories)}")
    if district and district not in DISTRICTS and district != CITY_ADCODE:
        raise QueryError(f"unknown district {district[:40]!r}; a district's adcode or the city's, {CITY_ADCODE}")
    chosen = []
    for sign in signs.values():
        if category and sign.category != category:
            continue
        if district and not _in_district(sign, district):
            continue
        chosen.append(sign)
    return chosen


def _in_district(sign: Sign, adcode: str) -> bool:
    return sign.district == adcode or (sign.dimension == "city" and adcode == CITY_ADCODE)


@signs_blueprint.get("/api/v1/signs/<sign_id>")
@takes()
def get_sign(sign_id: str) -> Response:
    sign = catalogue().signs.get(sign_id)
    if sign is None:
        abort(404, description=f"no sign {sign_id!r} in the catalogue")
    return _json(sign_json(sign, read_latest(shared_redis(), sign_id), time.time()))


@signs_blueprint.get("/api/v1/snapshot")
@takes("category", "district")
def get_snapshot() -> Response:
    chosen = select_signs(catalogue().signs, request.args.get("category"), request.args.get("district"))
    latest = read_all_latest(shared_redis())
    now = time.time()
    return _json({"at": now, "count": len(chosen), "signs": [sign_json(s, latest.get(s.id), now) for s in chosen]})


def _broker_check() -> dict[str, Any]:
    host, port = broker_address(settings().mqtt_url)
    try:
        accepted = mqtt_connect_ok(host, port, BROKER_TIMEOUT_S)
    except OSError as error:
        return {"ok": False, "error": str(error)}
    return {"ok": accepted} | ({} if accepted else {"error": "broker refused the connection"})


def _feeds_check(client: redis.Redis, now: float) -> dict[str, Any]:
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


@signs_blueprint.get("/healthz")
def healthz() -> Response:
    now = time.time()
    client = shared_redis()
    checks: dict[str, Any] = {}
    try:
        client.ping()
        checks["redis"] = {"ok": True}
        checks["feeds"] = _feeds_check(client, now)
    except redis.RedisError as error:
        checks["redis"] = {"ok": False, "error": str(error)}
        checks["feeds"] = {"ok": False, "error": "unknown while Redis is down"}
    checks["broker"] = _broker_check()
    # Whether the broker dropped messages (its $SYS counters, as the feed workers heard them): "known" false when the
    # broker publishes no counters; drops within the hour make the broker unwell, as the wall's banner says.
    try:
        checks["broker"]["dropped"] = read_broker_drops(client, now).as_json()
    except redis.RedisError:
        checks["broker"]["dropped"] = {"known": False, "error": "unknown while Redis is down"}
    if checks["broker"]["dropped"].get("recent"):
        checks["broker"]["ok"] = False
    healthy = all(check["ok"] for check in checks.values())
    return _json({"ok": healthy, "at": now, **checks}, status=200 if healthy else 503)
