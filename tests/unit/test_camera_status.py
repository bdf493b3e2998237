"""The camera layer's status: bitmaps over the inventory rows, their version, and the callbacks' pure parts."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy as np
import pytest
from dash import no_update
from flask import Flask

from api.geo import CAMERAS_URL, StaticBody, accepts_gzip, static_response
from callbacks.camera_layer import status_update
from config import PROJECT_ROOT, settings
from feeds.rollup import (
    CAMERA_FAULT,
    CAMERA_NEVER_HEARD,
    CAMERA_OFFLINE,
    CAMERA_ONLINE,
    camera_status_codes,
    camera_status_doc,
    decode_bitmap,
    encode_bitmap,
)
from geo.admin import CITY_ADCODE, DISTRICTS
from layouts import camera_layer
from layouts.nav import LEVEL_COLOURS
from signs.catalogue import catalogue
from signs.keys import CameraState
from signs.model import Level
from tests.web import dash_prop
from views.camera_layer import camera_card, clicked_row, map_status, rate_levels

NOW = 1_800_000_000.0
OFFLINE_AFTER_S = 180.0
ROWS = {"420602000000000000a": 0, "420602000000000000b": 1, "420602000000000000c": 2,
        "420606000000000000d": 3, "420606000000000000e": 4, "420606000000000000f": 5}  # fmt: skip
ADCODES = np.array(["420602"] * 3 + ["420606"] * 3)
MOBILE = np.array([False, False, True, False, True, False])


def _state(device_id: str, status: str = "online", age_s: float = 10.0, kind: str = "fixed") -> CameraState:
    return CameraState(device_id, NOW - age_s, NOW - age_s, status, kind, 32.0, 112.0)


def _codes(*states: CameraState) -> np.ndarray:
    return camera_status_codes(ROWS, len(ROWS), states, NOW, OFFLINE_AFTER_S)


# Bitmaps --------------------------------------------------------------------------------------------------


def test_never_heard_silent_and_unknown_statuses_are_offline() -> None:
    codes = _codes(
        _state("420602000000000000a"),
        _state("420602000000000000b", "fault"),
        _state("420602000000000000c", "online", age_s=OFFLINE_AFTER_S + 1),  # silent: offline whatever it said
        _state("420606000000000000d", "offline"),
        _state("420606000000000000e", "rebooting"),
        _state("999999000000000000z"),  # not in the inventory: no row, ignored
    )  # row 5 never heard from: offline, with a code of its own so that it can be counted
    assert codes.tolist() == [
        CAMERA_ONLINE,
        CAMERA_FAULT,
        CAMERA_OFFLINE,
        CAMERA_OFFLINE,
        CAMERA_OFFLINE,
        CAMERA_NEVER_HEARD,
    ]


def test_bit_i_is_bit_i_mod_8_of_byte_i_div_8_least_significant_first() -> None:
    mask = np.zeros(17, dtype=bool)
    mask[[0, 9, 16]] = True
    assert base64.b64decode(encode_bitmap(mask)) == bytes([0b0000_0001, 0b0000_0010, 0b0000_0001])


@pytest.mark.parametrize("n", [1, 7, 8, 9, 71_591])
def test_bitmaps_round_trip_and_pad_with_zeros(n: int) -> None:
    mask = np.random.default_rng(n).random(n) < 0.3
    text = encode_bitmap(mask)
    assert decode_bitmap(text, n).tolist() == mask.tolist()
    assert len(base64.b64decode(text)) == (n + 7) // 8
    padded = np.unpackbits(np.frombuffer(base64.b64decode(text), np.uint8), bitorder="little")
    assert not padded[n:].any()


def test_document_bitmaps_decode_to_the_codes() -> None:
    codes = np.array([0, 2, 1, 3, 0, 2], dtype=np.uint8)
    doc = camera_status_doc(codes, ADCODES, MOBILE, NOW)
    assert doc["n"] == 6 and doc["at"] == NOW and doc["quality"] == "ok" and doc["unregistered"] == 0
    offline, fault = decode_bitmap(doc["offline"], 6), decode_bitmap(doc["fault"], 6)
    assert offline.tolist() == [False, False, True, True, False, False]  # never heard is offline on the map too
    assert fault.tolist() == (codes == CAMERA_FAULT).tolist()
    assert not (offline & fault).any()
    json.dumps(doc)  # plain JSON, no numpy scalars


def test_version_changes_exactly_when_a_status_changes() -> None:
    codes = np.array([0, 2, 1, 1, 0, 2], dtype=np.uint8)
    version = camera_status_doc(codes, ADCODES, MOBILE, NOW)["version"]
    assert camera_status_doc(codes.copy(), ADCODES, MOBILE, NOW + 5)["version"] == version  # time alone: same
    for row, code in [
        (0, CAMERA_OFFLINE),
        (1, CAMERA_OFFLINE),
        (2, CAMERA_ONLINE),
        (5, CAMERA_ONLINE),
        (0, CAMERA_NEVER_HEARD),
    ]:
        changed = codes.copy()
        changed[row] = code
        assert camera_status_doc(changed, ADCODES, MOBILE, NOW)["version"] != version, (row, code)
    assert re.fullmatch(r"[0-9a-f]{16}", version)


def test_rates_per_district_and_city_for_fixed_mobile_and_all() -> None:
    codes = np.array([0, 2, 3, 1, 0, 2], dtype=np.uint8)
    rates = camera_status_doc(codes, ADCODES, MOBILE, NOW)["rates"]
    assert set(rates) == {"420602", "420606", CITY_ADCODE}
    assert rates["420602"]["fixed"] == {"n": 2, "online": 1, "fault": 1, "never_heard": 0, "rate": 50.0}
    assert rates["420602"]["mobile"] == {"n": 1, "online": 0, "fault": 0, "never_heard": 1, "rate": 0.0}
    assert rates["420606"]["all"] == {"n": 3, "online": 1, "fault": 1, "never_heard": 0, "rate": 33.33}
    assert rates[CITY_ADCODE]["all"] == {"n": 6, "online": 2, "fault": 2, "never_heard": 1, "rate": 33.33}
    assert rates[CITY_ADCODE]["mobile"] == {"n": 2, "online": 1, "fault": 0, "never_heard": 1, "rate": 50.0}


def test_a_district_without_mobile_cameras_has_no_mobile_rate() -> None:
    doc = camera_status_doc(np.zeros(2, np.uint8), np.array(["420602", "420602"]), np.array([False, False]), NOW)
    assert doc["rates"]["420602"]["mobile"] == {"n": 0, "online": 0, "fault": 0, "never_heard": 0, "rate": None}


def test_the_status_of_the_whole_inventory_is_small() -> None:
    n = 71_591
    rng = np.random.default_rng(1)
    codes = rng.choice(
        [CAMERA_ONLINE, CAMERA_OFFLINE, CAMERA_FAULT, CAMERA_NEVER_HEARD], size=n, p=[0.96, 0.02, 0.005, 0.015]
    ).astype(np.uint8)
    adcodes = rng.choice(list(DISTRICTS), size=n)
    doc = camera_status_doc(codes, adcodes, rng.random(n) < 0.064, NOW)
    assert len(json.dumps(doc, separators=(",", ":"))) < 30_000  # two 8.9 KB bitmaps in base64 and the rates
    assert len(json.dumps(map_status(doc), separators=(",", ":"))) < 24_500


# The poll callback ----------------------------------------------------------------------------------------


def _doc(version: str = "00112233aabbccdd", at: float = NOW - 2) -> dict[str, Any]:
    doc = camera_status_doc(np.array([0, 1, 2], np.uint8), np.array(["420602"] * 3), np.zeros(3, bool), at)
    doc["version"] = version
    return doc


def test_a_poll_sends_the_bitmaps_only_when_the_version_differs() -> None:
    doc = _doc()
    status, version, rows, label, age_class, fresh = status_update(doc, None, NOW, "zh", 20.0)
    assert status == {"v": doc["version"], "n": 3, "off": doc["offline"], "flt": doc["fault"]}
    assert version == doc["version"]
    assert len(rows) == 1 + len(DISTRICTS)
    assert label.startswith("更新于 ") and age_class == "cameras-age" and fresh == {"at": NOW - 2, "stale": False}

    held = status_update(doc, doc["version"], NOW, "zh", 20.0)
    assert held[:3] == (no_update, no_update, no_update)
    assert held[3:] == (label, age_class, fresh)


def test_an_old_status_is_marked_stale_and_a_missing_one_says_so() -> None:
    _, _, _, label, age_class, fresh = status_update(_doc(at=NOW - 125), "x", NOW, "en", 20.0)
    assert label.startswith("Stale · Updated ") and label.endswith("(2 min ago)")
    assert age_class == "cameras-age stale" and fresh["stale"] is True

    missing = status_update(None, None, NOW, "zh", 20.0)
    assert missing[:3] == (no_update, no_update, no_update)
    assert missing[3:] == ("暂无视频状态", "cameras-age stale", {"at": None, "stale": True})
    assert status_update(None, None, NOW, "en", 20.0, error=True)[3] == "Camera status unavailable"


# A clicked camera -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("click", "row"),
    [
        (None, None),
        ({"properties": {"cluster": True, "cluster_id": 71_600, "point_count": 12}}, None),
        ({"properties": {"i": 5, "k": "f", "cluster": False}}, 5),
        ({"properties": {"i": 0, "k": "m", "cluster": False}}, 0),
        ({"properties": {"i": 10, "cluster": False}}, None),  # outside the inventory
        ({"properties": {"i": True}}, None),
        ({"properties": {"i": "3"}}, None),
    ],
)
def test_clicked_row(click: dict[str, object] | None, row: int | None) -> None:
    assert clicked_row(click, 10) == row


def test_camera_card_judges_status_as_the_roll_up_does() -> None:
    device = "42060200001320000001"
    card = camera_card(device, "fixed", f"{NOW - 30}|{NOW - 29}|fault|fixed|32.0|112.1", NOW, OFFLINE_AFTER_S)
    assert (card.adcode, card.kind, card.status, card.heartbeat_ts, card.age_s) == (
        "420602",
        "fixed",
        "fault",
        NOW - 30,
        30.0,
    )
    silent = camera_card(
        device, "fixed", f"{NOW - 600}|{NOW - 600}|online|fixed|32.0|112.1".encode(), NOW, OFFLINE_AFTER_S
    )
    assert silent.status == "offline" and silent.age_s == 600.0
    never = camera_card(device, "mobile", None, NOW, OFFLINE_AFTER_S)
    assert (never.status, never.kind, never.heartbeat_ts) == ("offline", "mobile", None)


def test_card_text_in_both_languages() -> None:
    card = camera_layer.CameraCard("42060600001320000007", "420606", "mobile", "fault", NOW - 3700, 3700.0)
    zh = json.dumps(
        [c.to_plotly_json() for c in camera_layer.detail_children(card, "zh")], ensure_ascii=False, default=str
    )
    assert all(word in zh for word in ("42060600001320000007", "樊城区", "移动", "故障", "1 小时前"))
    en = json.dumps([c.to_plotly_json() for c in camera_layer.detail_children(card, "en")], default=str)
    assert all(word in en for word in ("Fancheng District", "Mobile", "fault", "1 h ago"))
    never = camera_layer.CameraCard("42060600001320000007", "420606", "fixed", "offline", None, None)
    assert "从未上报" in json.dumps(
        camera_layer.detail_children(never, "zh")[1].to_plotly_json(), ensure_ascii=False, default=str
    )


# The layout ----------------------------------------------------------------------------------------------


def test_layer_loads_geometry_by_url_and_starts_without_status() -> None:
    layer = camera_layer.camera_layer("en")
    assert (layer.id, layer.url, layer.format, layer.cluster) == (camera_layer.LAYER, CAMERAS_URL, "geobuf", True)
    assert "data" not in layer.to_plotly_json()["props"]  # geometry never travels through the layout
    assert layer.hideout["status"] is None and layer.hideout["lang"] == "en" and layer.hideout["basis"] == "fixed"
    assert camera_layer.camera_layer("fr").hideout["lang"] == "zh"
    poll = camera_layer.camera_polls()[0]
    assert dash_prop(poll, "id") == camera_layer.POLL
    assert dash_prop(poll, "interval") == settings().camera_status_poll_ms


def test_rate_card_lists_the_city_and_every_district() -> None:
    rows = camera_layer.rates_rows(None, "zh")
    names = [row.children[0].children for row in rows]
    assert names == ["全市", *(zh for zh, _ in DISTRICTS.values())]
    assert all(cell.children == "—" for row in rows for cell in row.children[1:])
    full = camera_layer.rates_rows({CITY_ADCODE: {"fixed": {"n": 10, "online": 9, "fault": 0, "rate": 90.0}}}, "en")
    assert full[0].children[1].children == "90.0%" and full[0].children[0].children == "City"


def test_a_rate_is_coloured_by_the_level_of_the_sign_that_judges_it_and_only_then() -> None:
    at = 1_790_000_000.0
    # 96 % of fixed cameras online is below the fixed-camera sign's yellow bound (98 %); 63 % of mobile units is an
    # ordinary day's figure (off duty by design), which no sign judges; nor the mix of all cameras.
    rates = {CITY_ADCODE: {"fixed": {"rate": 96.0}, "mobile": {"rate": 63.0}, "all": {"rate": 92.0}},
             "420624": {"fixed": {"rate": 99.5}}}  # fmt: skip
    levels = rate_levels(catalogue(), rates, at)
    assert levels == {(CITY_ADCODE, "fixed"): Level.YELLOW, ("420624", "fixed"): Level.NORMAL}
    city, *districts = camera_layer.rates_rows(rates, "zh", levels)
    fixed, mobile, everything = city.children[1:]
    assert fixed.className == "rate level-yellow" and fixed.style == {"color": LEVEL_COLOURS[Level.YELLOW]}
    assert mobile.className == everything.className == "rate unjudged" and not getattr(mobile, "style", None)
    nanzhang = next(row for row in districts if row.children[0].children == "南漳县")
    assert nanzhang.children[1].className == "rate level-normal"


def test_ids_are_unique_and_the_script_defines_what_the_layout_names() -> None:
    ids = [v for k, v in vars(camera_layer).items() if k.isupper() and isinstance(v, str) and v.startswith("cameras-")]
    assert len(ids) == len(set(ids)) >= 10
    script = (PROJECT_ROOT / "assets" / "camera_layer.js").read_text(encoding="utf-8")
    layer = camera_layer.camera_layer()
    for prop in ("pointToLayer", "clusterToLayer", "style"):
        namespace, name = getattr(layer, prop)["variable"].rsplit(".", 1)
        assert namespace == "cityeye.cameras" and re.search(rf"\b{name}: {name}\b", script), prop
    assert f'"{CAMERAS_URL}"' in script
    assert "cityeye_cameras: { applyStatus: applyStatus }" in script


# api/geo.py without building any geometry -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "gzip"),
    [("gzip, deflate, br", True), ("br", False), ("", False), ("gzip;q=0", False), ("*", True), ("GZIP; q=0.5", True)],
)
def test_accepts_gzip(header: str, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


def test_static_response_validators() -> None:
    asset = StaticBody.build(b"{}" * 1000, "application/json")
    app = Flask(__name__)
    with app.test_request_context(headers={"Accept-Encoding": "gzip"}):
        from flask import request

        first = static_response(asset, request)
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip"
    assert first.headers["ETag"] == f'"{asset.etag}:gzip"' and "no-cache" in first.headers["Cache-Control"]
    for held in (f'"{asset.etag}:gzip"', f'"{asset.etag}"', f'W/"{asset.etag}:br"', "*"):
        with app.test_request_context(headers={"If-None-Match": held}):
            from flask import request

            again = static_response(asset, request)
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == f'"{asset.etag}"', held
    with app.test_request_context(headers={"If-None-Match": '"something-else"'}):
        from flask import request

        plain = static_response(asset, request)
    assert plain.status_code == 200 and plain.data == asset.body and "Content-Encoding" not in plain.headers
