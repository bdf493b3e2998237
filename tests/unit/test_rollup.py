"""Aggregation of derived signs and the camera roll-up, as pure functions: one camera status for every sign, a
warm-up judged on an injected clock, and derived values marked incomplete until all their inputs have reported."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from feeds.rollup import (
    CAMERA_FAULT,
    CAMERA_NEVER_HEARD,
    CAMERA_OFFLINE,
    CAMERA_ONLINE,
    camera_quality,
    camera_signs,
    camera_status_codes,
    camera_status_doc,
    camera_summary,
    derive_signs,
    unregistered_ids,
)
from geo.admin import CITY_ADCODE
from signs.catalogue import derivation_order, load_catalogue
from signs.citytime import CITY_TZ
from signs.keys import CameraState, Latest, Quality
from signs.model import Level, value_level

HEADER = (
    "id,name_zh,name_en,unit,category,module,core,dimension,cadence_s,direction,blue,yellow,orange,red,definition,"
    "owner,source\n"
)


def _row(sign_id: str, core: str, dimension: str, source: str) -> str:
    return f'{sign_id},名,name,%,P,M01,{core},{dimension},60,high,1,2,3,4,def,部门,"{source}"\n'


@pytest.fixture
def small_catalogue(tmp_path: Path):
    (tmp_path / "categories.csv").write_text("code,name_zh,name_en\nP,人,People\n", encoding="utf-8")
    (tmp_path / "modules.csv").write_text("code,category,name_zh,name_en\nM01,P,人口,Population\n", encoding="utf-8")
    (tmp_path / "units.csv").write_text("unit,description\n%,percent\n", encoding="utf-8")
    rows = [
        _row("XY.P.M01.P01", "P01", "city", "sum(XY.P.M01.P01.dist:*)"),
        _row("XY.P.M01.P01.dist:420602", "P01", "dist:420602", "mqtt:population/420602/DIST#count"),
        _row("XY.P.M01.P01.dist:420606", "P01", "dist:420606", "mqtt:population/420606/DIST#count"),
        _row("XY.P.M01.P02", "P02", "city", "wmean(XY.P.M01.P02.dist:* by XY.P.M01.P01.dist:*)"),
        _row("XY.P.M01.P02.dist:420602", "P02", "dist:420602", "mqtt:population/420602/DIST#rate"),
        _row("XY.P.M01.P02.dist:420606", "P02", "dist:420606", "mqtt:population/420606/DIST#rate"),
        _row("XY.P.M01.P03", "P03", "city", "max(XY.P.M01.P03.dist:*)"),
        _row("XY.P.M01.P03.dist:420602", "P03", "dist:420602", "camera_online_rate(fixed,420602)"),
        _row("XY.P.M01.P03.dist:420606", "P03", "dist:420606", "camera_online_count(all,420606)"),
    ]
    (tmp_path / "signs.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    return load_catalogue(tmp_path)


OK, WARMING, INCOMPLETE = Quality.OK, Quality.WARMING_UP, Quality.INCOMPLETE


def _derive(cat, latest: dict[str, Latest], now: float = 20.0) -> dict[str, Latest]:
    return derive_signs(cat, derivation_order(cat.signs), latest, now)


# Derived signs ---------------------------------------------------------------------------------------------


def test_sum_and_weighted_mean_of_all_inputs_are_ok(small_catalogue) -> None:
    latest = {
        "XY.P.M01.P01.dist:420602": Latest(100, 10.0, 10.5),
        "XY.P.M01.P01.dist:420606": Latest(300, 12.0, 12.5),
        "XY.P.M01.P02.dist:420602": Latest(90, 11.0, 11.5),
        "XY.P.M01.P02.dist:420606": Latest(98, 13.0, 13.5),
    }
    changed = _derive(small_catalogue, latest)
    assert changed["XY.P.M01.P01"] == Latest(400, 12.0, 20.0, OK)
    # Weighted by the district volumes: (90*100 + 98*300) / 400 = 96.
    assert changed["XY.P.M01.P02"].value == pytest.approx(96.0)
    assert changed["XY.P.M01.P02"].source_ts == 13.0 and changed["XY.P.M01.P02"].quality is OK
    assert "XY.P.M01.P03" not in changed  # its inputs come from the camera registry, not yet rolled up


def test_a_derived_sign_is_incomplete_until_every_input_has_reported(small_catalogue) -> None:
    one_district = {
        "XY.P.M01.P01.dist:420602": Latest(100, 10.0, 10.5),
        "XY.P.M01.P02.dist:420602": Latest(90, 11.0, 11.5),
    }
    first = _derive(small_catalogue, one_district)
    assert first["XY.P.M01.P01"] == Latest(100, 10.0, 20.0, INCOMPLETE)  # what is known, marked so
    assert first["XY.P.M01.P02"].quality is INCOMPLETE  # a weight missing is an input missing
    # The missing district reports: the same derivation, now complete, is written again.
    both = one_district | first | {"XY.P.M01.P01.dist:420606": Latest(300, 12.0, 12.5)}
    second = _derive(small_catalogue, both, now=21.0)
    assert second["XY.P.M01.P01"] == Latest(400, 12.0, 21.0, OK)
    assert "XY.P.M01.P02" not in second  # its rate for 420606 is still missing: held, still incomplete


def test_an_input_that_is_not_ok_makes_its_derivations_incomplete(small_catalogue) -> None:
    latest = {
        "XY.P.M01.P03.dist:420602": Latest(97.0, 10.0, 10.0, WARMING),
        "XY.P.M01.P03.dist:420606": Latest(40.0, 10.0, 10.0, OK),
    }
    assert _derive(small_catalogue, latest)["XY.P.M01.P03"] == Latest(97.0, 10.0, 20.0, INCOMPLETE)
    latest["XY.P.M01.P03.dist:420602"] = Latest(97.0, 10.0, 10.0, OK)
    assert _derive(small_catalogue, latest)["XY.P.M01.P03"].quality is OK


def test_unchanged_derived_values_are_not_rewritten(small_catalogue) -> None:
    latest = {
        "XY.P.M01.P01.dist:420602": Latest(100, 10.0, 10.5),
        "XY.P.M01.P01.dist:420606": Latest(300, 10.0, 10.5),
        "XY.P.M01.P01": Latest(400, 10.0, 11.0),
    }
    assert "XY.P.M01.P01" not in _derive(small_catalogue, latest)
    # The same value and time held as incomplete is rewritten once it is complete.
    latest["XY.P.M01.P01"] = Latest(400, 10.0, 11.0, INCOMPLETE)
    assert _derive(small_catalogue, latest)["XY.P.M01.P01"].quality is OK


# The warm-up --------------------------------------------------------------------------------------------------

HEARTBEAT_S = 60.0
UP = 1_000.0


@pytest.mark.parametrize(
    ("up_since", "now", "quality"),
    [
        (None, UP + 10_000, WARMING),  # no feed worker alive: nothing is known of the cameras
        (UP, UP, WARMING),
        (UP, UP + HEARTBEAT_S - 0.001, WARMING),
        (UP, UP + HEARTBEAT_S, OK),  # one full heartbeat period: every live camera has had its turn
        (UP, UP + 10 * HEARTBEAT_S, OK),
    ],
)
def test_camera_signs_warm_up_for_one_heartbeat_period_of_the_ingest(
    up_since: float | None, now: float, quality: Quality
) -> None:
    assert camera_quality(up_since, now, HEARTBEAT_S) is quality


# One camera status for every consumer --------------------------------------------------------------------------

ROW_OF = {
    "42060200081326000001": 0, "42060200081326000002": 1, "42060200081326000003": 2, "42060200081326000004": 3,
    "42060600081386000005": 4, "42060600081326000006": 5, "42060600081326000007": 6, "42060600081386000008": 7,
}  # fmt: skip
IDS = np.array(list(ROW_OF))
ADCODES = np.array([i[:6] for i in IDS])
MOBILE = np.array([i[10:13] == "138" for i in IDS])  # type 138: mobile, in this fixture


def _camera(device_id: str, ts: float, status: str = "online") -> CameraState:
    kind = "mobile" if MOBILE[ROW_OF.get(device_id, 0)] else "fixed"
    return CameraState(device_id, ts, ts, status, kind, 32.0, 112.0)


def _heard(now: float) -> list[CameraState]:
    return [
        _camera("42060200081326000001", now - 10),
        _camera("42060200081326000002", now - 10),
        _camera("42060200081326000003", now - 10, status="fault"),
        _camera("42060200081326000004", now - 500),  # silent: offline whatever it said
        _camera("42060600081386000005", now - 5),
        _camera("42060600081326000006", now - 5, status="offline"),
        _camera("42060699999999999999", now - 5),  # heard, but not in the inventory
    ]  # 42060600081326000007 and 42060600081386000008 were never heard


def test_never_heard_and_silent_cameras_are_offline_in_the_rates_and_the_signs(small_catalogue) -> None:
    now = UP + 2 * HEARTBEAT_S
    states = _heard(now)
    codes = camera_status_codes(ROW_OF, len(ROW_OF), states, now, offline_after_s=180)
    assert codes.tolist() == [CAMERA_ONLINE, CAMERA_ONLINE, CAMERA_FAULT, CAMERA_OFFLINE,
                              CAMERA_ONLINE, CAMERA_OFFLINE, CAMERA_NEVER_HEARD, CAMERA_NEVER_HEARD]  # fmt: skip
    quality = camera_quality(UP, now, HEARTBEAT_S)
    doc = camera_status_doc(codes, ADCODES, MOBILE, now, quality, len(unregistered_ids(ROW_OF, states)))
    assert doc["quality"] == "ok" and doc["unregistered"] == 1
    assert doc["rates"]["420602"]["fixed"] == {"n": 4, "online": 2, "fault": 1, "never_heard": 0, "rate": 50.0}
    assert doc["rates"]["420606"]["all"] == {"n": 4, "online": 1, "fault": 0, "never_heard": 2, "rate": 25.0}
    assert doc["rates"]["420606"]["mobile"] == {"n": 2, "online": 1, "fault": 0, "never_heard": 1, "rate": 50.0}
    assert doc["rates"][CITY_ADCODE]["all"]["rate"] == 37.5  # 3 of the inventory's 8; the stranger counts nowhere

    values = camera_signs(small_catalogue, doc["rates"], now, quality)
    assert values["XY.P.M01.P03.dist:420602"] == Latest(50.0, now, now, OK)
    assert values["XY.P.M01.P03.dist:420606"] == Latest(1.0, now, now, OK)  # online count over all kinds
    # ...and the city sign derives from them in the next derivation pass.
    assert _derive(small_catalogue, values, now)["XY.P.M01.P03"] == Latest(50.0, now, now, OK)


def test_a_district_never_heard_at_all_reads_zero_once_warm(small_catalogue) -> None:
    """The camera-outage scenario on a fresh Redis: 420606's cameras never report. It used to have no rate at all
    (only heard cameras counted) while the map showed it dark; now both say 0."""
    now = UP + HEARTBEAT_S
    states = [s for s in _heard(now) if s.device_id.startswith("420602")]
    codes = camera_status_codes(ROW_OF, len(ROW_OF), states, now, offline_after_s=180)
    doc = camera_status_doc(codes, ADCODES, MOBILE, now, camera_quality(UP, now, HEARTBEAT_S))
    assert doc["rates"]["420606"]["all"] == {"n": 4, "online": 0, "fault": 0, "never_heard": 4, "rate": 0.0}
    values = camera_signs(small_catalogue, doc["rates"], now, Quality(doc["quality"]))
    assert values["XY.P.M01.P03.dist:420606"] == Latest(0.0, now, now, OK)


def test_camera_signs_during_the_warm_up_carry_its_quality(small_catalogue) -> None:
    now = UP + 5
    codes = camera_status_codes(ROW_OF, len(ROW_OF), _heard(now)[:1], now, offline_after_s=180)
    quality = camera_quality(UP, now, HEARTBEAT_S)
    doc = camera_status_doc(codes, ADCODES, MOBILE, now, quality)
    values = camera_signs(small_catalogue, doc["rates"], now, quality)
    assert doc["quality"] == "warming-up"
    assert values["XY.P.M01.P03.dist:420602"] == Latest(25.0, now, now, WARMING)
    assert values["XY.P.M01.P03.dist:420606"] == Latest(0.0, now, now, WARMING)
    assert _derive(small_catalogue, values, now)["XY.P.M01.P03"].quality is INCOMPLETE


def test_summary_counts_as_the_status_does_and_lists_the_unregistered() -> None:
    now = UP + 2 * HEARTBEAT_S
    states = _heard(now)
    codes = camera_status_codes(ROW_OF, len(ROW_OF), states, now, offline_after_s=180)
    unregistered = unregistered_ids(ROW_OF, states)
    doc = camera_status_doc(codes, ADCODES, MOBILE, now, OK, len(unregistered))
    summary = camera_summary(doc, IDS, codes, unregistered)
    assert summary["districts"] is doc["rates"] and summary["at"] == now and summary["quality"] == "ok"
    assert summary["offline_ids"] == ["42060200081326000003", "42060200081326000004", "42060600081326000006"]
    assert summary["unregistered"] == {"n": 1, "ids": ["42060699999999999999"]}


def test_a_count_since_midnight_sums_only_what_was_counted_today() -> None:
    """Past midnight, a district still holding yesterday's total of 12345 calls has begun again from 0: the city's
    count is today's known part, marked incomplete until every district has reported today, never yesterday's
    total judged at today's early bounds (which paged red at every midnight)."""
    cat = load_catalogue()
    city = cat.signs["XY.P.M02.P05"]
    districts = [i for i in city.source.inputs]  # type: ignore[union-attr]
    assert city.profile is not None and city.profile.counts_since_midnight
    assert not cat.signs["XY.P.M01.P02"].profile.counts_since_midnight  # type: ignore[union-attr]  # visitors
    midnight = datetime(2026, 12, 2, tzinfo=CITY_TZ).timestamp()
    latest = {i: Latest(230.0, midnight - 60, midnight - 59) for i in districts}
    latest[districts[0]] = Latest(3.0, midnight + 60, midnight + 61)
    derived = derive_signs(cat, derivation_order(cat.signs), latest, midnight + 62)["XY.P.M02.P05"]
    assert derived == Latest(3.0, midnight + 60, midnight + 62, INCOMPLETE)
    assert value_level(city, derived.value, derived.source_ts) is Level.NORMAL
    everyone_today = {i: Latest(3.0, midnight + 60, midnight + 61) for i in districts}
    complete = derive_signs(cat, derivation_order(cat.signs), everyone_today, midnight + 62)["XY.P.M02.P05"]
    assert complete == Latest(3.0 * len(districts), midnight + 60, midnight + 62, OK)
    before_midnight = derive_signs(cat, derivation_order(cat.signs), {i: Latest(230.0, midnight - 60, midnight - 59)
                                   for i in districts}, midnight - 58)["XY.P.M02.P05"]  # fmt: skip
    assert before_midnight.value == 230.0 * len(districts) and before_midnight.quality is OK
