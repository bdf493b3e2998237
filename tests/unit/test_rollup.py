"""Aggregation of derived signs and the camera roll-up, as pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.rollup import CITY_ADCODE, camera_signs, derive_signs, roll_up_cameras
from signs.catalogue import derivation_order, load_catalogue
from signs.keys import CameraState, Latest
from signs.model import DeriveOp

HEADER = "id,name_zh,name_en,unit,category,module,core,dimension,cadence_s,direction,blue,yellow,orange,red,definition,owner,source\n"


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


def test_sum_and_weighted_mean_use_what_is_known(small_catalogue) -> None:
    latest = {
        "XY.P.M01.P01.dist:420602": Latest(100, 10.0, 10.5),
        "XY.P.M01.P01.dist:420606": Latest(300, 12.0, 12.5),
        "XY.P.M01.P02.dist:420602": Latest(90, 11.0, 11.5),
        "XY.P.M01.P02.dist:420606": Latest(98, 13.0, 13.5),
    }
    changed = derive_signs(small_catalogue, derivation_order(small_catalogue.signs), latest, now=20.0)
    assert changed["XY.P.M01.P01"] == Latest(400, 12.0, 20.0)
    # Weighted by the district volumes: (90*100 + 98*300) / 400 = 96.
    assert changed["XY.P.M01.P02"].value == pytest.approx(96.0)
    assert changed["XY.P.M01.P02"].source_ts == 13.0
    assert "XY.P.M01.P03" not in changed  # its inputs come from the camera registry, not yet rolled up


def test_unchanged_derived_values_are_not_rewritten(small_catalogue) -> None:
    latest = {"XY.P.M01.P01.dist:420602": Latest(100, 10.0, 10.5), "XY.P.M01.P01": Latest(100, 10.0, 11.0)}
    assert derive_signs(small_catalogue, derivation_order(small_catalogue.signs), latest, now=20.0) == {}


def _camera(device_suffix: str, adcode: str, ts: float, status: str = "online", kind: str = "fixed") -> CameraState:
    return CameraState(f"{adcode}{device_suffix}", ts, ts, status, kind, 32.0, 112.0)


def test_camera_rollup_counts_silence_as_offline(small_catalogue) -> None:
    now = 1_000.0
    states = [
        _camera("00081326000001", "420602", now - 10),
        _camera("00081326000002", "420602", now - 10),
        _camera("00081326000003", "420602", now - 10, status="fault"),
        _camera("00081326000004", "420602", now - 500),  # silent: offline whatever it said
        _camera("00081386000005", "420606", now - 5, kind="mobile"),
        _camera("00081326000006", "420606", now - 5, status="offline"),
    ]
    rollup = roll_up_cameras(states, now, offline_after_s=180)
    assert rollup.value(DeriveOp.CAMERA_ONLINE_RATE, "fixed", "420602") == 50.0
    assert rollup.value(DeriveOp.CAMERA_ONLINE_COUNT, "all", "420606") == 1.0
    assert rollup.value(DeriveOp.CAMERA_ONLINE_RATE, "all", CITY_ADCODE) == pytest.approx(100 * 3 / 6, abs=1e-3)
    assert rollup.counts["420602"]["fixed"].fault == 1
    assert rollup.offline_ids == sorted(["42060200081326000003", "42060200081326000004", "42060600081326000006"])
    values = camera_signs(small_catalogue, rollup, now)
    assert values["XY.P.M01.P03.dist:420602"] == Latest(50.0, now, now)
    assert values["XY.P.M01.P03.dist:420606"].value == 1.0
    # ...and the city sign derives from them in the next derivation pass.
    changed = derive_signs(small_catalogue, derivation_order(small_catalogue.signs), values, now)
    assert changed["XY.P.M01.P03"].value == 50.0
