"""The camera layer's data path against a real Redis: the roll-up's status bitmaps match the registry, the rates,
the summary and the camera signs are the same judgement, camera signs warm up from the feed workers' heartbeats,
and api/geo.py serves the static geometry with validators (a tiny Flask app with only its blueprint)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import geobuf
import numpy as np
import pandas as pd
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api.geo import CAMERAS_URL, DISTRICTS_URL, geo_blueprint
from config import Settings
from feeds.rollup import Rollup, decode_bitmap
from geo.admin import CITY_ADCODE, DISTRICTS
from geo.cameras import camera_inventory
from services.embedded import EmbeddedService
from signs.catalogue import catalogue
from signs.keys import (
    KEY_ALERTS_INGEST_UP,
    KEY_CAMERA_STATUS,
    KEY_CAMERA_SUMMARY,
    KEY_READINGS,
    Quality,
    camera_key,
    unpack_landed,
    worker_key,
)
from signs.model import Derivation, DeriveOp
from signs.replies import get_bytes, stream_range
from signs.store import read_all_latest, read_history

pytestmark = pytest.mark.integration

OFFLINE_AFTER_S = 180.0
HEARTBEAT_S = 60.0


@pytest.fixture(scope="module")
def inventory() -> pd.DataFrame:
    return camera_inventory()


@pytest.fixture
def rollup(redis_service: EmbeddedService, redis_client: redis.Redis) -> Iterator[Rollup]:
    settings = Settings(
        redis_url=redis_service.url, camera_offline_after_s=OFFLINE_AFTER_S, camera_heartbeat_s=HEARTBEAT_S
    )
    yield Rollup(settings)


def _beat(client: redis.Redis, inventory: pd.DataFrame, rows: np.ndarray, status: str, ts: float) -> None:
    """Heartbeats of the given inventory rows, written as a feed worker would, one HSET per district."""
    chosen = inventory.iloc[rows]
    pipe = client.pipeline(transaction=False)
    for adcode, cams in chosen.groupby("adcode"):
        fields = {
            device_id: f"{ts!r}|{ts!r}|{status}|{kind}|{lat}|{lon}"
            for device_id, kind, lat, lon in zip(cams.device_id, cams.kind, cams.lat, cams.lon, strict=True)
        }
        pipe.hset(camera_key(str(adcode)), mapping=fields)
    pipe.execute()


def _stored(client: redis.Redis, key: str) -> bytes:
    raw = get_bytes(client, key)
    assert raw is not None, f"nothing at {key}"
    return raw


def _status(client: redis.Redis) -> dict[str, Any]:
    """The roll-up's KEY_CAMERA_STATUS document (parsed JSON)."""
    doc: dict[str, Any] = json.loads(_stored(client, KEY_CAMERA_STATUS))
    return doc


def test_camera_tick_writes_bitmaps_that_match_the_registry(
    redis_client: redis.Redis, rollup: Rollup, inventory: pd.DataFrame
) -> None:
    n = len(inventory)
    now = time.time()
    rows = np.random.default_rng(7).permutation(n)
    online, fault, offline, silent = rows[:3000], rows[3000:3100], rows[3100:3300], rows[3300:3400]
    # rows[3400:] are never heard from
    _beat(redis_client, inventory, online, "online", now - 5)
    _beat(redis_client, inventory, fault, "fault", now - 5)
    _beat(redis_client, inventory, offline, "offline", now - 5)
    _beat(redis_client, inventory, silent, "online", now - OFFLINE_AFTER_S - 60)
    redis_client.hset(camera_key("420602"), "42060299999999999999", f"{now}|{now}|online|fixed|32.0|112.1")  # unknown

    rollup.camera_tick(now)
    doc = _status(redis_client)
    assert doc["n"] == n and doc["at"] == now and doc["unregistered"] == 1
    expected_offline = np.ones(n, dtype=bool)
    expected_offline[online] = expected_offline[fault] = False
    expected_fault = np.zeros(n, dtype=bool)
    expected_fault[fault] = True
    assert np.array_equal(decode_bitmap(doc["offline"], n), expected_offline)
    assert np.array_equal(decode_bitmap(doc["fault"], n), expected_fault)

    city = doc["rates"][CITY_ADCODE]
    expected = {"n": n, "online": 3000, "fault": 100, "never_heard": n - 3400, "rate": round(100 * 3000 / n, 2)}
    assert city["all"] == expected
    assert set(doc["rates"]) == {*DISTRICTS, CITY_ADCODE}
    for adcode in DISTRICTS:
        in_district = (inventory["adcode"] == adcode).to_numpy()
        counts = doc["rates"][adcode]
        assert counts["all"]["n"] == in_district.sum()
        assert counts["all"]["online"] == in_district[online].sum()
        assert counts["fixed"]["n"] + counts["mobile"]["n"] == counts["all"]["n"]

    summary = json.loads(_stored(redis_client, KEY_CAMERA_SUMMARY))
    assert summary["districts"] == doc["rates"]
    heard_not_online = np.concatenate([fault, offline, silent])
    assert summary["offline_ids"] == sorted(inventory["device_id"].iloc[heard_not_online])
    assert summary["unregistered"] == {"n": 1, "ids": ["42060299999999999999"]}
    print(f"\nKEY_CAMERA_STATUS: {len(_stored(redis_client, KEY_CAMERA_STATUS)):,} bytes for {n:,} cameras")


def test_version_moves_only_when_a_status_does(
    redis_client: redis.Redis, rollup: Rollup, inventory: pd.DataFrame
) -> None:
    now = time.time()
    rows = np.arange(0, len(inventory), 7)
    _beat(redis_client, inventory, rows, "online", now)
    rollup.camera_tick(now)
    first = _status(redis_client)
    rollup.camera_tick(now + 3)
    second = _status(redis_client)
    assert second["version"] == first["version"] and second["at"] == now + 3

    _beat(redis_client, inventory, rows[:1], "fault", now + 4)
    rollup.camera_tick(now + 5)
    third = _status(redis_client)
    assert third["version"] != first["version"]
    assert decode_bitmap(third["fault"], third["n"])[rows[0]]

    rollup.camera_tick(now + OFFLINE_AFTER_S + 10)  # everyone falls silent: offline
    silent = _status(redis_client)
    assert silent["version"] != third["version"] and decode_bitmap(silent["offline"], silent["n"]).all()


# api/geo.py ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def geo_client() -> FlaskClient:
    app = Flask(__name__)
    app.register_blueprint(geo_blueprint)
    return app.test_client()


def test_cameras_pbf_is_geobuf_of_the_inventory_with_etag_and_304(
    geo_client: FlaskClient, inventory: pd.DataFrame
) -> None:
    started = time.perf_counter()
    response = geo_client.get(CAMERAS_URL, headers={"Accept-Encoding": "gzip, deflate, br"})
    built_s = time.perf_counter() - started
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-protobuf"
    assert response.headers["Content-Encoding"] == "gzip" and "no-cache" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    body = gzip.decompress(response.data)
    features = geobuf.decode(body)["features"]
    assert len(features) == len(inventory)
    assert [f["properties"]["i"] for f in features] == list(range(len(inventory)))
    kinds = np.where(inventory["kind"].to_numpy() == "mobile", "m", "f").tolist()
    assert [f["properties"]["k"] for f in features] == kinds
    lon, lat = features[1234]["geometry"]["coordinates"]
    assert (round(lon, 6), round(lat, 6)) == (inventory["lon"].iloc[1234], inventory["lat"].iloc[1234])
    print(f"\n/geo/cameras.pbf: {len(body):,} bytes, {len(response.data):,} gzipped, built in {built_s:.2f} s")

    again = geo_client.get(CAMERAS_URL, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag

    plain = geo_client.get(CAMERAS_URL)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers and plain.data == body
    assert plain.headers["ETag"] != etag  # another representation, another strong validator
    assert geo_client.get(CAMERAS_URL, headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304
    assert geo_client.get(CAMERAS_URL, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_districts_json_is_wgs84_geojson_with_etag_and_304(geo_client: FlaskClient) -> None:
    response = geo_client.get(DISTRICTS_URL, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    doc = json.loads(gzip.decompress(response.data))
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(DISTRICTS)
    again = geo_client.get(
        DISTRICTS_URL, headers={"Accept-Encoding": "gzip", "If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""


# Camera signs: one judgement, and a warm-up ---------------------------------------------------------------


def _camera_signs() -> dict[str, Derivation]:
    return {
        s.id: s.source
        for s in catalogue().signs.values()
        if isinstance(s.source, Derivation)
        and s.source.op in (DeriveOp.CAMERA_ONLINE_RATE, DeriveOp.CAMERA_ONLINE_COUNT)
    }


def _landed(client: redis.Redis) -> set[str]:
    entries = stream_range(client, KEY_READINGS)
    return {sign_id for _, fields in entries for sign_id, _, _ in unpack_landed(fields[b"r"])}


def test_camera_signs_warm_up_then_read_what_the_map_shows(
    redis_client: redis.Redis, rollup: Rollup, inventory: pd.DataFrame
) -> None:
    """A fresh start of the camera-outage scenario: every camera reports except 襄州's, which were never heard."""
    start = time.time()
    heard = np.flatnonzero((inventory["adcode"] != "420607").to_numpy())
    _beat(redis_client, inventory, heard, "online", start)

    rollup.camera_tick(start)  # no feed worker alive: nothing is known yet
    assert _status(redis_client)["quality"] == "warming-up"
    assert redis_client.get(KEY_ALERTS_INGEST_UP) is None

    redis_client.set(worker_key("cityeye-feed-warmup"), "{}", ex=600)
    rollup.camera_tick(start + 1)  # the ingest is seen up from now
    assert float(_stored(redis_client, KEY_ALERTS_INGEST_UP)) == start + 1
    rollup.camera_tick(start + HEARTBEAT_S)  # one second short of a heartbeat period
    latest = read_all_latest(redis_client)
    signs = _camera_signs()
    assert set(signs) <= set(latest)
    assert {latest[i].quality for i in signs} == {Quality.WARMING_UP}
    xiangzhou = "XY.T.M07.T23.dist:420607"
    assert latest[xiangzhou].value == 0.0  # stored and shown as it is, but marked...
    assert not _landed(redis_client) & set(signs)  # ...and never handed to the alert engine
    assert not read_history(redis_client, xiangzhou, start - 10, start + 2 * HEARTBEAT_S).size

    _beat(redis_client, inventory, heard, "online", start + HEARTBEAT_S)
    rollup.camera_tick(start + HEARTBEAT_S + 1)  # warm: a full heartbeat period since the ingest came up
    doc = _status(redis_client)
    latest = read_all_latest(redis_client)
    assert doc["quality"] == "ok" and {latest[i].quality for i in signs} == {Quality.OK}
    for sign_id, source in signs.items():  # every camera sign is the status document's figure
        counts = doc["rates"][source.adcode][source.camera_kind]
        expected = counts["online"] if source.op is DeriveOp.CAMERA_ONLINE_COUNT else counts["rate"]
        assert latest[sign_id].value == expected, sign_id
    assert latest[xiangzhou].value == 0.0 and latest["XY.T.M07.T23"].value < 90.0  # the city feels the outage
    assert decode_bitmap(doc["offline"], doc["n"])[(inventory["adcode"] == "420607").to_numpy()].all()
    assert set(signs) <= _landed(redis_client)  # now the engine judges them
    assert read_history(redis_client, xiangzhou, start - 10, start + 2 * HEARTBEAT_S)["value"].tolist() == [0.0]

    redis_client.delete(worker_key("cityeye-feed-warmup"))  # the ingest stops: warming up again once it is back
    rollup.camera_tick(start + HEARTBEAT_S + 2)
    assert _status(redis_client)["quality"] == "warming-up" and redis_client.get(KEY_ALERTS_INGEST_UP) is None
