"""The wall's data path on a real Redis: the roll-up's board, what one wall poll returns, and the read API."""

from __future__ import annotations

import json
import time

import pytest
import redis
from flask import Flask

import api.signs
import views.health
from feeds.board import publish_board
from signs.catalogue import catalogue
from signs.keys import KEY_LATEST, KEY_WORKER_PATTERN, Latest
from views.wall import board_update

pytestmark = pytest.mark.integration

TEMPERATURE = "XY.S.M13.S44"
RAIN_3H = "XY.S.M13.S45"


def _land(client: redis.Redis, sign_id: str, value: float, at: float) -> None:
    client.hset(KEY_LATEST, sign_id, f"{at!r}|{Latest(value, at, at).encode_rest()}")


def test_a_wall_gets_the_whole_board_once_then_only_changes(redis_client: redis.Redis) -> None:
    cat = catalogue()
    now = time.time()
    _land(redis_client, TEMPERATURE, 20.5, now)
    _land(redis_client, RAIN_3H, 3.0, now)
    publish_board(redis_client, cat, now)

    first = board_update(redis_client, held_seq=0, spark_signs=[TEMPERATURE])
    assert first["full"] is True and first["seq"] == 1
    assert first["signs"][TEMPERATURE][0] == 20.5 and first["signs"][RAIN_3H][0] == 3.0
    assert TEMPERATURE in first["spark"]

    _land(redis_client, RAIN_3H, 60.0, now + 1)  # orange at 50 mm in 3 h
    publish_board(redis_client, cat, now + 1)
    publish_board(redis_client, cat, now + 2)  # a tick where nothing changed
    second = board_update(redis_client, held_seq=first["seq"], spark_signs=[TEMPERATURE])
    assert second["full"] is False and second["seq"] == 3
    assert second["signs"] == {RAIN_3H: [60.0, 3, now + 1]}
    assert len(json.dumps(second)) < 2_000

    idle = board_update(redis_client, held_seq=second["seq"], spark_signs=[TEMPERATURE])
    assert idle["signs"] == {} and idle.get("unchanged") is True


def test_a_wall_ahead_of_a_restarted_board_reloads_it(redis_client: redis.Redis) -> None:
    cat = catalogue()
    now = time.time()
    _land(redis_client, TEMPERATURE, 20.5, now)
    publish_board(redis_client, cat, now)
    update = board_update(redis_client, held_seq=999, spark_signs=[])
    assert update["full"] is True and update["seq"] == 1


@pytest.fixture
def api_client(redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(api.signs, "shared_redis", lambda: redis_client)
    app = Flask(__name__)
    app.register_blueprint(api.signs.signs_blueprint)
    return app.test_client()


def test_the_sign_api_returns_what_the_wall_shows(api_client, redis_client: redis.Redis) -> None:
    now = time.time()
    _land(redis_client, RAIN_3H, 60.0, now - 10)
    body = api_client.get(f"/api/v1/signs/{RAIN_3H}").get_json()
    assert body["value"] == 60.0 and body["unit"] == "mm" and body["level"] == "orange"
    assert body["source_ts"] == pytest.approx(now - 10) and 9 < body["age_s"] < 30 and body["stale"] is False
    assert api_client.get("/api/v1/signs/XY.NOPE").status_code == 404


def test_the_snapshot_filters_by_category_and_district(api_client, redis_client: redis.Redis) -> None:
    body = api_client.get("/api/v1/snapshot", query_string={"category": "态", "district": "420624"}).get_json()
    ids = {s["id"] for s in body["signs"]}
    assert body["count"] == len(ids) > 0
    assert all(i.startswith("XY.S.") for i in ids)
    assert all(s["dimension"] in ("dist:420624",) for s in body["signs"])
    assert api_client.get("/api/v1/snapshot", query_string={"category": "X"}).status_code == 400
    city = api_client.get("/api/v1/snapshot", query_string={"district": "420600"}).get_json()
    assert city["count"] == 55


def test_health_is_503_until_workers_and_board_are_alive(
    api_client, redis_client: redis.Redis, mqtt_service, monkeypatch
) -> None:
    monkeypatch.setattr(views.health, "settings", lambda: type("S", (), {"mqtt_url": mqtt_service.url})())
    down = api_client.get("/healthz")
    assert down.status_code == 503
    body = down.get_json()
    assert body["redis"]["ok"] is True and body["broker"]["ok"] is True and body["feeds"]["ok"] is False
    assert not list(redis_client.scan_iter(match=KEY_WORKER_PATTERN))
