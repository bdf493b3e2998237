"""The city simulator's pure parts: the value model, scenarios, camera statuses and pacing (no broker)."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feeds import simulator as sim
from feeds.contract import Readings, parse
from feeds.simulator import values
from signs.catalogue import CATALOGUE_DIR, load_catalogue
from signs.catalogue import catalogue as project_catalogue
from signs.citytime import CITY_TZ
from signs.model import Catalogue, Level, MqttSource, Sign, expected_value, level_of, thresholds_at

COLUMNS = (
    "id,name_zh,name_en,unit,category,module,core,dimension,cadence_s,direction,blue,yellow,orange,red,"
    "definition,owner,source"
).split(",")
DISTRICTS = ("420602", "420606", "420607", "420624", "420625", "420626", "420682", "420683", "420684")
# Monday 2025-11-24, 00:00 in Xiangyang.
MONDAY = datetime(2025, 11, 24, tzinfo=CITY_TZ).timestamp()


def _row(sign_id, zh, en, unit, module, core, dimension, direction, thresholds, source, cadence=60):
    category = module_category = {"M01": "P", "M02": "P", "M07": "T", "M08": "T", "M09": "D", "M13": "S", "M15": "S"}
    del module_category
    blue, yellow, orange, red = thresholds
    return dict(zip(COLUMNS, (sign_id, zh, en, unit, category[module], module, core, dimension, cadence, direction,
                              blue, yellow, orange, red, "definition", "owner", source), strict=True))  # fmt: skip


def _write_catalogue(directory: Path) -> Path:
    """A small catalogue shaped like the real one: district splits, rain windows, CMA signals, gauges."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "categories.csv").write_text(
        "code,name_zh,name_en\nP,人,People\nT,物,Things\nD,动,Movement\nS,态,State\n", encoding="utf-8"
    )
    (directory / "modules.csv").write_text(
        "code,category,name_zh,name_en\nM01,P,人口态势,Population\nM02,P,民生诉求,Citizen demands\n"
        "M07,T,城市之眼,Video\nM08,T,防汛水情,Flood\nM09,D,道路交通,Road traffic\nM13,S,气象,Weather\n"
        "M15,S,事件处置,Events\n",
        encoding="utf-8",
    )
    shutil.copy(CATALOGUE_DIR / "profiles.csv", directory / "profiles.csv")
    units = ("件", "%", "万人次/日", "m", "cm", "指数", "km/h", "起", "辆", "mm", "°C", "级")
    (directory / "units.csv").write_text("unit\n" + "\n".join(units) + "\n", encoding="utf-8")
    none = ("", "", "", "")
    rows = [
        _row("XY.P.M02.P05", "12345诉求受理量", "12345 tickets today", "件", "M02", "P05", "city", "high",
             (3400, 3900, 5200, 7800), "sum(XY.P.M02.P05.dist:*)"),
        _row("XY.P.M01.P02", "流入人次", "Inbound visitors", "万人次/日", "M01", "P02", "city", "high",
             (26, 32, 40, 50), "mqtt:population/420600/inbound#visitors", 300),
        _row("XY.P.M01.P02.dist:420625", "流入人次", "Inbound visitors", "万人次/日", "M01", "P02", "dist:420625",
             "high", (3, 4, 5, 6), "mqtt:population/420625/inbound#visitors", 300),
        _row("XY.T.M07.T23", "固定视频在线率", "Fixed camera online rate", "%", "M07", "T23", "city", "low",
             (99, 98, 95, 90), "camera_online_rate(fixed,420600)", 5),
        _row("XY.T.M08.T26", "汉江襄阳站水位", "Han River level", "m", "M08", "T26", "city", "high",
             (65.5, 67, 69, 70), "mqtt:flood/420600/HJ-XY#level"),
        _row("XY.T.M08.T26.gauge:MH", "蛮河武安站水位", "Man River level", "m", "M08", "T26", "gauge:MH", "high",
             (72, 73.5, 75, 76), "mqtt:flood/420624/MH-WA#level"),
        _row("XY.T.M08.T28", "易涝点最大积水深度", "Max waterlogging depth", "cm", "M08", "T28", "city", "high",
             (5, 15, 25, 40), "mqtt:flood/420600/WL#depth_max"),
        _row("XY.D.M09.D29", "交通指数", "Traffic index", "指数", "M09", "D29", "city", "high", (4, 6, 8, 9),
             "mqtt:traffic/420600/network#tpi"),
        _row("XY.D.M09.D30", "路网平均车速", "Network speed", "km/h", "M09", "D30", "city", "low", (30, 20, 15, 10),
             "mqtt:traffic/420600/network#speed"),
        _row("XY.D.M09.D32", "道路交通事故数", "Accidents today", "起", "M09", "D32", "city", "high",
             (65, 90, 130, 200), "mqtt:traffic/420600/accidents#today"),
        _row("XY.D.M09.D32.dist:420625", "道路交通事故数", "Accidents today", "起", "M09", "D32", "dist:420625",
             "high", (8, 12, 18, 30), "mqtt:traffic/420625/accidents#today"),
        _row("XY.D.M09.D29.toll:SH", "石花收费站排队车辆", "Queued vehicles, Shihua toll", "辆", "M09", "D29",
             "toll:SH", "high", (200, 400, 800, 1500), "mqtt:traffic/420625/toll-shihua#queued", 30),
        _row("XY.S.M13.S44", "气温", "Air temperature", "°C", "M13", "S44", "city", "high", ("", 35, 37, 40),
             "mqtt:weather/420600/AWS00#temp"),
        _row("XY.S.M13.S45", "1小时降水量", "Rainfall 1 h", "mm", "M13", "S45", "city", "high", none,
             "mqtt:weather/420600/AWS00#rain_1h"),
        _row("XY.S.M13.S48", "生效预警信号", "Active CMA warning signals", "级", "M13", "S48", "city", "high",
             (1, 2, 3, 4), "max(XY.S.M13.S48.sig:*)"),
        _row("XY.S.M13.S48.sig:rainstorm", "暴雨预警信号", "Rainstorm signal", "级", "M13", "S48", "sig:rainstorm",
             "high", (1, 2, 3, 4), "mqtt:weather/420600/CMA#rainstorm"),
        _row("XY.S.M13.S48.sig:heat", "高温预警信号", "Heat signal", "级", "M13", "S48", "sig:heat", "high",
             (1, 2, 3, 4), "mqtt:weather/420600/CMA#heat"),
        _row("XY.S.M15.S53", "今日事件数", "Events today", "件", "M15", "S53", "city", "high", (4000, 4600, 6000, 9000),
             "mqtt:events/420600/hub#today"),
    ]  # fmt: skip
    for adcode in DISTRICTS:
        rows.append(_row(f"XY.P.M02.P05.dist:{adcode}", "12345诉求受理量", "12345 tickets today", "件", "M02", "P05",
                         f"dist:{adcode}", "high", (600, 700, 900, 1300),
                         f"mqtt:hotline/{adcode}/12345#today"))  # fmt: skip
        rows.append(_row(f"XY.D.M09.D29.dist:{adcode}", "交通指数", "Traffic index", "指数", "M09", "D29",
                         f"dist:{adcode}", "high", (4, 6, 8, 9), f"mqtt:traffic/{adcode}/network#tpi"))  # fmt: skip
    for adcode in ("420624", "420626", "420607"):
        station = f"AWS{adcode[-2:]}"
        rows.append(_row(f"XY.S.M13.S45.dist:{adcode}", "1小时降水量", "Rainfall 1 h", "mm", "M13", "S45",
                         f"dist:{adcode}", "high", (16, 30, 50, 80),
                         f"mqtt:weather/{adcode}/{station}#rain_1h"))  # fmt: skip
        for window, bounds in ((3, (50, 50, 50, 100)), (6, (40, 50, 70, 120)), (12, (50, 70, 100, 150))):
            rows.append(_row(f"XY.S.M13.S45.w{window}h.dist:{adcode}", f"{window}小时降水量", f"Rainfall {window} h",
                             "mm", "M13", "S45", f"dist:{adcode}", "high", bounds,
                             f"mqtt:weather/{adcode}/{station}#rain_{window}h"))  # fmt: skip
    with (directory / "signs.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return directory


def _catalogues() -> list[str]:
    names = ["fixture"]
    if (CATALOGUE_DIR / "signs.csv").exists():
        names.append("project")
    return names


@pytest.fixture(scope="module", params=_catalogues())
def catalogue(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    if request.param == "project":
        loaded = load_catalogue()
    else:
        loaded = load_catalogue(_write_catalogue(tmp_path_factory.mktemp("catalogue")))
    sim.prepare(loaded)
    return loaded


@pytest.fixture(scope="module")
def small() -> Catalogue:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        loaded = load_catalogue(_write_catalogue(Path(directory)))
    sim.prepare(loaded)
    return loaded


def _sourced(catalogue: Catalogue) -> list[Sign]:
    return [s for s in catalogue.signs.values() if isinstance(s.source, MqttSource)]


def _sign(catalogue: Catalogue, sign_id: str) -> Sign:
    return catalogue.signs[sign_id]


# The normal city -----------------------------------------------------------------------------------


def test_values_stay_in_physical_bounds_over_a_week(catalogue: Catalogue) -> None:
    times = MONDAY + np.arange(0, 7 * 24 * 60, 67, dtype=np.float64) * 60.0  # every 67 simulated minutes for a week
    for sign in _sourced(catalogue):
        for value in values.values_at(sign, times).tolist():
            assert math.isfinite(value), sign.id
            if sign.unit == "%" and sign.core != "D37":  # a load factor may pass 100 %
                assert 0.0 <= value <= 100.0, (sign.id, value)
            if sign.unit in values.COUNT_UNITS or sign.unit in ("mm", "cm", "万人次/日", "km/h"):
                assert value >= 0.0, (sign.id, value)
            if sign.core == "S44" and sign.unit == "°C":
                assert -20.0 < value < 30.0, (sign.id, value)  # November in Xiangyang


def test_a_normal_day_is_normal_but_for_its_injected_incidents(catalogue: Catalogue) -> None:
    """Every sensor sampled through a working day and a Sunday stands inside its bounds of the moment, unless one of
    the incidents the simulator declares for it is under way, and then no worse than that incident's level."""
    signs = [s for s in _sourced(catalogue) if any(b is not None for b in s.thresholds)]
    for day, every_min in ((MONDAY, 23), (MONDAY + 6 * 86_400, 61)):
        incidents = sim.incidents_between(catalogue, day, day + 86_400)
        assert len(incidents) <= 15 and all(i.level <= Level.YELLOW for i in incidents)
        times = day + np.arange(7, 24 * 60, every_min, dtype=np.float64) * 60.0
        for sign in signs:
            for t, value in zip(times.tolist(), values.values_at(sign, times).tolist(), strict=True):
                level = level_of(value, thresholds_at(sign, t), sign.direction)
                if level == Level.NORMAL:
                    continue
                under_way = [i for i in incidents if i.sign_id == sign.id and i.start <= t < i.end]
                assert under_way and level <= under_way[0].level, (sign.id, (t - day) / 60.0, level)


def test_incidents_are_pure_and_reach_their_level(catalogue: Catalogue) -> None:
    week = sim.incidents_between(catalogue, MONDAY, MONDAY + 7 * 86_400)
    assert week == sim.incidents_between(catalogue, MONDAY, MONDAY + 7 * 86_400)
    assert 0 < len(week) <= 7 * 15
    tuesday = sim.incidents_between(catalogue, MONDAY + 86_400, MONDAY + 2 * 86_400)
    assert set(tuesday) <= set(week)
    for incident in week:
        sign = catalogue.signs[incident.sign_id]
        middle = (incident.start + incident.end) / 2
        level = level_of(sim.value_at(sign, middle), thresholds_at(sign, middle), sign.direction)
        assert level == incident.level, incident
        before = incident.start - 1.0
        assert level_of(sim.value_at(sign, before), thresholds_at(sign, before), sign.direction) == Level.NORMAL


def test_level_value_puts_a_sign_at_the_level_asked_for(catalogue: Catalogue) -> None:
    """NORMAL is a normal value (it used to be the red bound), and each level's value stands at that level."""
    noon = MONDAY + 12 * 3600.0
    for sign in _sourced(catalogue):
        thresholds = thresholds_at(sign, noon)
        if all(b is None for b in thresholds):
            continue
        for level in Level:
            value = values.level_value(sign, level, noon)
            if value is None:
                continue
            # Where bounds coincide (3-hour rain: 50/50/50/100) the lower levels are reached together with the upper.
            bound = thresholds[level - 1] if level > Level.NORMAL else None
            same = [Level(i + 1) for i, b in enumerate(thresholds) if bound is not None and b == bound]
            assert level_of(value, thresholds, sign.direction) == max([level, *same]), (sign.id, level, value)
        assert values.at_least(sign, 0.0, Level.NORMAL, noon) == 0.0


def test_hour_of_week_signs_follow_the_catalogue_profile(tmp_path: Path) -> None:
    """The simulator keeps no copy of the curves: a profile edited in the catalogue moves the simulated values."""
    taxis_id = "XY.D.M11.D38.svc:taxi"
    taxis = project_catalogue().signs[taxis_id]
    assert sim.model_for(taxis).kind == "expected"
    for hour in (4, 8.5, 13, 22):
        t = MONDAY + 86_400 + hour * 3600.0
        assert sim.value_at(taxis, t) == pytest.approx(expected_value(taxis, t), rel=0.03)
    assert sim.value_at(taxis, MONDAY + 86_400 + 4 * 3600) < 0.6 * sim.value_at(taxis, MONDAY + 86_400 + 13 * 3600)
    edited = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, edited)
    profiles = (edited / "profiles.csv").read_text(encoding="utf-8").splitlines()
    flat = ",".join(["1"] * 25)
    profiles = [re.sub(r"^(taxi_fleet,[a-z-]+,[0-9.]*,)[0-9.,]+,", rf"\g<1>{flat},", line) for line in profiles]
    (edited / "profiles.csv").write_text("\n".join(profiles) + "\n", encoding="utf-8")
    changed = load_catalogue(edited).signs[taxis_id]
    night = sim.value_at(changed, MONDAY + 86_400 + 4 * 3600)
    assert night == pytest.approx(changed.expected_level, rel=0.03)  # a flat profile: no night-time dip


# Scenarios -------------------------------------------------------------------------------------------


def _rainstorm(start: float) -> sim.ScenarioState:
    return sim.ScenarioState(sim.SCENARIO_RAINSTORM, start)


def test_camera_effects_of_an_outage_follow_the_wall_clock_window(small: Catalogue) -> None:
    fleet = _fleet()
    start = MONDAY + 9 * 3600.0
    state = sim.ScenarioState(sim.SCENARIO_CAMERA_OUTAGE, start, district="420607", speed=2.0, outage_real_s=900)
    [city] = sim.camera_effects(small, fleet, state, start, start + 3 * 3600, step_s=300)
    assert city.sign_id == "XY.T.M07.T23" and city.level is Level.RED  # a ninth of the cameras silent: < 90 %
    assert city.start == start and city.end == start + 1800  # 900 real seconds at speed 2
    assert sim.camera_effects(small, fleet, sim.ScenarioState(sim.SCENARIO_HOLIDAY, start), start, start + 600) == []
    values = sim.camera_sign_values(small, fleet, sim.camera_statuses(fleet, start + 60, state))
    assert values["XY.T.M07.T23"] < 90.0


def test_a_replay_stamps_simulated_time_and_stops_at_the_wall_clock(small: Catalogue) -> None:
    recorder = _Recorder()
    engine = sim.Simulator(recorder, small, sim.SimClock(0.0, 0.0), stamp_simulated=True)  # type: ignore[arg-type]
    now = time.time()
    engine.clock = sim.SimClock(real_start=now, sim_start=now - 1_800.0, speed=1_800.0)  # catches up within a second
    engine.run(duration_s=20.0, tick_s=0.01)
    assert time.time() - now < 5.0, "the replay must stop once simulated time reaches the wall clock"
    stamps = [json.loads(payload)["ts"] for _, payload, _ in recorder.messages]
    assert stamps and min(stamps) < now - 1_700.0 and max(stamps) <= time.time()


def _fleet(n_per_district: int = 400, mobile_share: float = 0.07) -> sim.CameraFleet:
    rng = np.random.default_rng(1)
    rows = []
    for adcode in DISTRICTS:
        for serial in range(n_per_district):
            mobile = serial < n_per_district * mobile_share
            lat, lon = 32.0 + rng.normal(0, 0.05), 112.1 + rng.normal(0, 0.05)
            rows.append((f"{adcode}00{'08138' if mobile else '08132'}6{serial:06d}", adcode,
                         "mobile" if mobile else "fixed", lat, lon, "城管"))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["device_id", "adcode", "kind", "lat", "lon", "owner_group"])
    return sim.CameraFleet.from_frame(frame)


def test_cameras_mostly_online_with_clustered_outages() -> None:
    fleet = _fleet(n_per_district=2_000, mobile_share=0.0)
    shares = []
    for hour in range(0, 48, 3):
        status = sim.camera_statuses(fleet, MONDAY + hour * 3600.0)
        shares.append(np.mean(status != sim.CAMERA_ONLINE))
        assert np.mean(status == sim.CAMERA_FAULT) < 0.01
    assert 0.0005 < np.mean(shares) < 0.005  # ~0.25 %: a normal district stays above the 99 % blue bound
    # Clustered: a camera is far more likely to be down when its street neighbour is.
    status = np.stack([sim.camera_statuses(fleet, MONDAY + h * 3600.0) for h in range(0, 240, 7)])
    down = status != sim.CAMERA_ONLINE
    same_street: dict[int, list[int]] = {}
    for index, street in enumerate(fleet.street.tolist()):
        same_street.setdefault(street, []).append(index)
    pairs = [(v[0], v[1]) for v in same_street.values() if len(v) >= 2]
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    both = (down[:, a] & down[:, b]).sum()
    assert both / max(1, down[:, a].sum()) > 20 * down.mean()


def test_mobile_units_are_on_duty_by_day_and_few_at_night() -> None:
    fleet = _fleet(n_per_district=510, mobile_share=1.0)  # 4,590 mobile units
    day = np.sum(sim.camera_statuses(fleet, MONDAY + 11 * 3600.0) == sim.CAMERA_ONLINE)
    night = np.sum(sim.camera_statuses(fleet, MONDAY + 3 * 3600.0) == sim.CAMERA_ONLINE)
    assert 1_500 <= day <= 3_500
    assert 300 <= night <= 900


def test_camera_outage_silences_the_chosen_district_then_returns() -> None:
    fleet = _fleet()
    start = MONDAY + 9 * 3600.0
    state = sim.ScenarioState(sim.SCENARIO_CAMERA_OUTAGE, start, district="420607", speed=1.0, outage_real_s=600)
    during = sim.camera_statuses(fleet, start + 30, state)
    in_district = fleet.adcodes == "420607"
    assert np.all(during[in_district] == sim.CAMERA_SILENT)
    assert not np.any(during[~in_district] == sim.CAMERA_SILENT)
    after = sim.camera_statuses(fleet, start + 601, state)
    assert not np.any(after == sim.CAMERA_SILENT)
    assert np.mean(after[in_district] == sim.CAMERA_ONLINE) > 0.85
    # At speed 10 the same wall-clock outage spans ten times the simulated time.
    fast = sim.ScenarioState(sim.SCENARIO_CAMERA_OUTAGE, start, district="420607", speed=10.0, outage_real_s=600)
    assert fast.outage_active(start + 5_999) and not fast.outage_active(start + 6_001)


def test_rainstorm_takes_a_few_cameras_down_in_the_mountains() -> None:
    fleet = _fleet(n_per_district=2_000, mobile_share=0.0)
    start = MONDAY + 10 * 3600.0
    peak = start + 4.5 * 3600.0  # the heavy cell over 南漳, 保康's coming
    normal = sim.camera_statuses(fleet, peak)
    storm = sim.camera_statuses(fleet, peak, _rainstorm(start))
    mountains = np.isin(fleet.adcodes, sim.RAIN_DISTRICTS)
    extra = np.mean(storm[mountains] != 0) - np.mean(normal[mountains] != 0)
    assert 0.03 < extra < 0.15
    assert np.array_equal(storm[~mountains], normal[~mountains])


# Pacing and the wire ------------------------------------------------------------------------------------


def test_speed_scales_publish_intervals_and_the_clock() -> None:
    assert sim.publish_interval(60.0, 1.0) == 60.0
    assert sim.publish_interval(60.0, 10.0) == 6.0
    assert sim.publish_interval(1.0, 100.0) == sim.MIN_INTERVAL_S
    clock = sim.SimClock(real_start=1_000.0, sim_start=MONDAY, speed=60.0)
    assert clock.sim(1_060.0) == MONDAY + 3_600.0


def test_groups_carry_every_sourced_sign_once_and_parse_back(catalogue: Catalogue) -> None:
    groups = sim.sign_groups(catalogue)
    carried = [sign.id for group in groups for _, sign in group.fields]
    assert sorted(carried) == sorted(s.id for s in _sourced(catalogue))
    now = MONDAY + 12 * 3600.0
    for group in groups:
        parsed = parse(group.topic, sim.group_payload(group, now, now), catalogue.routes, now)
        assert isinstance(parsed, Readings), (group.topic, parsed)
        assert {r.sign_id for r in parsed.readings} == {sign.id for _, sign in group.fields}


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, int]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> object:
        self.messages.append((topic, payload, qos))
        return type("Info", (), {"rc": 0})()


def test_publish_all_once_sends_one_qos1_message_per_group(small: Catalogue) -> None:
    recorder = _Recorder()
    sent = sim.publish_all_once(recorder, small, MONDAY + 3600.0)  # type: ignore[arg-type]
    assert sent == len(small.routes) == len(recorder.messages)
    assert {qos for _, _, qos in recorder.messages} == {1}


def test_scheduler_publishes_cameras_smoothly_and_skips_silenced(small: Catalogue) -> None:
    fleet = _fleet()
    recorder = _Recorder()
    clock = sim.SimClock(real_start=1_000.0, sim_start=MONDAY + 9 * 3600.0, speed=1.0)
    state = sim.ScenarioState(sim.SCENARIO_CAMERA_OUTAGE, clock.sim_start, district="420607")
    engine = sim.Simulator(recorder, small, clock, state, fleet, heartbeat_s=60.0)  # type: ignore[arg-type]
    engine._camera_origin = 1_000.0
    engine._publish_cameras(1_030.0)  # half a period: half the fleet is due
    cameras = [m for m in recorder.messages if "/video/" in m[0]]
    assert abs(len(cameras) + engine.counters.silenced - len(fleet) / 2) <= 1
    assert not any(m[0].split("/")[3] == "420607" for m in cameras)
    assert {qos for _, _, qos in cameras} == {0}
    engine._publish_readings(1_000.0 + 61.0)  # every group is due once within its first cadence
    assert engine.counters.readings >= len(small.routes)


def test_a_ticks_readings_are_stamped_at_the_moment_their_values_stand_for(small: Catalogue) -> None:
    """However late the publisher runs, a value of the city at t carries the stamp of t: a day's count computed just
    before midnight never arrives stamped after it."""
    recorder = _Recorder()
    clock = sim.SimClock(real_start=1_000.0, sim_start=MONDAY + 9 * 3600.0, speed=1.0)
    engine = sim.Simulator(recorder, small, clock, sim.NO_SCENARIO, None, heartbeat_s=60.0)  # type: ignore[arg-type]
    tick = 1_000.0 + 61.0  # every group is due once within its first cadence
    engine._publish_readings(tick)
    parsed = [parse(topic, payload, small.routes, tick + 1) for topic, payload, _ in recorder.messages]
    assert parsed and all(isinstance(p, Readings) for p in parsed)
    stamps = {r.source_ts for p in parsed if isinstance(p, Readings) for r in p.readings}
    assert stamps == {tick}  # the wall-clock moment whose city (clock.sim(tick)) the values are
