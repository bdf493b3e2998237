"""The wall's events read model (views/wall_events.py): open events by state, the late ones, the most pressing few,
markers with and without a point, and what a wall's held audit id may be."""

from __future__ import annotations

from dispatch import lifecycle
from dispatch.library import library
from dispatch.matching import locate, match
from dispatch.model import Event, Location, Report, Source
from views.wall_events import PANEL_EVENTS, held_events_audit_of, wall_events

LIB = library()
NOW = 1_791_520_380.0
BRANCH = "0500101"  # 30 min / 2 h / 24 h
FANCHENG = Location(32.04, 112.14)


def _reported(at: float, where: Location = FANCHENG) -> Event:
    located = locate(LIB, where, "420606" if where.lat is not None else "")
    return lifecycle.report(Report(BRANCH, located, "", Source.GRID), LIB.types[BRANCH], at)[0]


def _dispatched(at: float, where: Location = FANCHENG) -> Event:
    event = _reported(at, where)
    return lifecycle.dispatch(event, match(LIB.types[BRANCH], event.location, LIB), at, "hub")[0]


def test_open_events_by_state_late_first_with_their_markers() -> None:
    late = _dispatched(NOW - 3600)  # its 30-minute response ran out half an hour ago
    fresh = _dispatched(NOW - 60)
    signed = lifecycle.sign_for(_dispatched(NOW - 600), NOW - 300, "zhujian")[0]
    waiting = _reported(NOW - 10, Location(township="420625102"))  # no point: listed, not on the map
    returned = lifecycle.give_back(_dispatched(NOW - 900), NOW - 800, "zhujian", "不属本单位")[0]
    doc = wall_events([fresh, waiting, signed, late, returned], LIB, "5-0", NOW)

    assert doc["audit"] == "5-0" and doc["open"] == 5 and doc["late"] == 1
    assert doc["counts"] == {
        "reported": 1, "dispatched": 2, "signed_for": 1, "in_progress": 0, "handled": 0, "returned": 1,
    }  # fmt: skip
    first = doc["list"][0]
    assert first["id"] == late.id and first["late"] and first["status"] == "dispatched"
    assert first["type"] == [LIB.types[BRANCH].name_zh, LIB.types[BRANCH].name_en]
    assert first["place"][0].startswith("樊城区") and first["place"][1].startswith("Fancheng")
    assert first["due"] == late.dispatched_at + late.limits.response_s  # type: ignore[operator]
    points = {p[0]: p for p in doc["points"]}
    assert points[late.id][1:4] == [32.04, 112.14, "05"] and points[late.id][5] is True
    assert points[waiting.id][1] is None  # no point: listed, not drawn
    assert points[waiting.id][4] == waiting.reported_at + 86_400  # waiting at the centre: only feedback runs
    assert points[fresh.id][5] is False and points[fresh.id][4] == fresh.dispatched_at + 1800  # type: ignore[operator]


def test_the_panel_lists_a_few_and_the_map_all() -> None:
    events = [_dispatched(NOW - 60 * i) for i in range(PANEL_EVENTS + 4)]
    doc = wall_events(events, LIB, "9-0", NOW)
    assert len(doc["list"]) == PANEL_EVENTS and len(doc["points"]) == len(events)
    empty = wall_events([], LIB, "", NOW)
    assert empty["open"] == 0 and empty["list"] == [] and set(empty["counts"].values()) == {0}


def test_a_held_audit_id_is_a_short_string_or_nothing() -> None:
    assert held_events_audit_of("1791520380000-0") == "1791520380000-0"
    for junk in (None, 7, "", "x" * 65, ["1-0"], {"a": 1}):
        assert held_events_audit_of(junk) is None
