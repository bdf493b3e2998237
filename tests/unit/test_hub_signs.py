"""The M15 signs computed from the hub's events with an injected clock: today's count in Beijing time, each rate's
decided clocks in the last 24 hours, no data over no events, scopes, and the catalogue's hub sources."""

from __future__ import annotations

import pytest

from dispatch import lifecycle
from dispatch.library import library
from dispatch.matching import locate, match
from dispatch.model import Event, Location, Report, Source
from dispatch.signs import HubSourceError, check_hub_sources, city_day_start, hub_values
from signs.catalogue import CatalogueError, catalogue
from signs.catalogue import _parse_source as parse_source
from signs.keys import Quality
from signs.model import HubMeasure, HubScope, HubSource, MqttSource

LIB = library()
CAT = catalogue()
FANCHENG = Location(32.04, 112.14)  # a point in 樊城区
MIDNIGHT = 1_791_475_200.0  # 9 October 00:00 Beijing time
NOON = MIDNIGHT + 12 * 3600
BRANCH = "0500101"  # 树枝横出/断枝, profile S1: 30 min / 2 h / 24 h
STRAW = "0700101"  # 秸秆焚烧


def _event(at: float, type_code: str = BRANCH, where: Location = FANCHENG, district: str = "420606") -> Event:
    event_type = LIB.types[type_code]
    located = locate(LIB, where, district)
    event, _ = lifecycle.report(Report(type_code, located, "", Source.GRID), event_type, at)
    event, _ = lifecycle.dispatch(event, match(event_type, located, LIB), at, "hub")
    return event


def _signed(event: Event, after_s: float) -> Event:
    return lifecycle.sign_for(event, event.reported_at + after_s, "handler")[0]


def _closed(event: Event, handled_after_s: float, closed_after_s: float) -> Event:
    event = _signed(event, 60)
    event = lifecycle.handle(event, LIB.types[event.type_code], event.reported_at + handled_after_s, "h", "done",
                             ("https://x/p.jpg",))[0]  # fmt: skip
    return lifecycle.close(event, event.reported_at + closed_after_s, "duty")[0]


def _values(events: list[Event], now: float, *ids: str) -> dict[str, tuple[float, Quality]]:
    signs = [CAT.signs[i] for i in ids]
    return {i: (v.value, v.quality) for i, v in hub_values(signs, events, LIB, now).items()}


def test_day_starts_at_beijing_midnight() -> None:
    assert city_day_start(NOON) == MIDNIGHT
    assert city_day_start(MIDNIGHT) == MIDNIGHT
    assert city_day_start(MIDNIGHT - 1) == MIDNIGHT - 86_400


def test_events_today_count_since_midnight_per_district_category_and_item() -> None:
    yesterday = _event(MIDNIGHT - 60)
    today = [_event(MIDNIGHT + 60), _event(NOON - 3600), _event(NOON - 600, STRAW, Location(township="420625102"), "")]
    later = _event(NOON + 60)  # not yet, at noon
    got = _values(
        [yesterday, *today, later], NOON,
        "XY.S.M15.S53.dist:420606", "XY.S.M15.S53.dist:420625", "XY.S.M15.S53.dist:420602",
        "XY.S.M15.S53.cat:05", "XY.S.M15.S53.item:0502", "XY.S.M15.S53.item:0706", "XY.S.M15.S53.cat:07",
    )  # fmt: skip
    assert got == {
        "XY.S.M15.S53.dist:420606": (2.0, Quality.OK),
        "XY.S.M15.S53.dist:420625": (1.0, Quality.OK),
        "XY.S.M15.S53.dist:420602": (0.0, Quality.OK),  # no events today is a count of zero
        "XY.S.M15.S53.cat:05": (2.0, Quality.OK),
        "XY.S.M15.S53.item:0502": (2.0, Quality.OK),  # 树枝断落 counts the library's 05001
        "XY.S.M15.S53.item:0706": (1.0, Quality.OK),
        "XY.S.M15.S53.cat:07": (1.0, Quality.OK),
    }


def test_rates_over_no_decided_event_are_no_data() -> None:
    ids = ("XY.S.M15.S54", "XY.S.M15.S54.dist:420606", "XY.S.M15.S55", "XY.S.M15.S55.cat:05")
    assert all(q is Quality.NO_DATA for _, q in _values([], NOON, *ids).values())
    # Dispatched ten minutes ago: no clock decided yet, still no data (not 100 %, not 0 %).
    assert all(q is Quality.NO_DATA for _, q in _values([_event(NOON - 600)], NOON, *ids).values())
    # An item the library has no type for is no data too, never a count of zero.
    assert _values([], NOON, "XY.S.M15.S53.item:1208")["XY.S.M15.S53.item:1208"][1] is Quality.NO_DATA


def test_response_rate_counts_signed_in_time_and_ran_out_unsigned() -> None:
    events = [
        _signed(_event(NOON - 7200), 600),  # in time
        _signed(_event(NOON - 7200), 2400),  # signed 40 minutes after: late
        _event(NOON - 3600),  # ran out at NOON - 1800, never signed: late
        _event(NOON - 600),  # still running: undecided
        _signed(_event(NOON - 2 * 86_400), 60),  # decided two days ago: outside the window
    ]
    got = _values(events, NOON, "XY.S.M15.S54", "XY.S.M15.S54.dist:420606", "XY.S.M15.S54.dist:420602")
    assert got["XY.S.M15.S54"] == (pytest.approx(33.3), Quality.OK)
    assert got["XY.S.M15.S54.dist:420606"] == got["XY.S.M15.S54"]
    assert got["XY.S.M15.S54.dist:420602"][1] is Quality.NO_DATA


def test_on_time_handling_with_feedback_and_feedback_alone() -> None:
    good = _closed(_event(NOON - 10 * 3600), handled_after_s=3600, closed_after_s=5 * 3600)
    slow = _closed(_event(NOON - 10 * 3600), handled_after_s=3 * 3600, closed_after_s=4 * 3600)  # handling late
    open_in_time = _signed(_event(NOON - 3600), 60)  # both clocks still running
    got = _values([good, slow, open_in_time], NOON, "XY.S.M15.S55", "XY.S.M15.S55.cat:05")
    assert got["XY.S.M15.S55"] == (50.0, Quality.OK)
    assert got["XY.S.M15.S55.cat:05"] == (100.0, Quality.OK)  # both were closed within 24 h
    # Handling ran out while still open: on-time handling is decided late before any closing.
    stuck = _signed(_event(NOON - 3 * 3600), 60)
    assert _values([stuck], NOON, "XY.S.M15.S55")["XY.S.M15.S55"] == (0.0, Quality.OK)


def test_urgent_handling_rate_only_judges_types_of_two_hours_or_less() -> None:
    assert LIB.types[BRANCH].limits.handling_s <= 7200
    routine = next(t for t in LIB.types.values() if t.code.startswith("05") and t.limits.handling_s > 7200)
    late_routine = _signed(_event(NOON - 10 * 3600, routine.code), 60)  # 8 h limit: not urgent, not judged
    urgent = _closed(_event(NOON - 5 * 3600), handled_after_s=1800, closed_after_s=3600)
    got = _values([late_routine, urgent], NOON, "XY.S.M15.S55.disp2h:05")
    assert got["XY.S.M15.S55.disp2h:05"] == (100.0, Quality.OK)


def test_catalogue_hub_sources_parse_and_are_checked() -> None:
    source = CAT.signs["XY.S.M15.S53.item:0307"].source
    assert source == HubSource(HubMeasure.EVENTS_TODAY, HubScope.ITEMS, ("03002", "12004"))
    assert str(source) == "hub:events_today(items=03002+12004)"
    assert CAT.signs["XY.S.M15.S54.dist:420624"].source.adcode == "420624"
    hub = check_hub_sources(CAT, LIB)
    assert {s.module for s in hub} == {"M15"} and len(hub) == 182
    # The simulator publishes MQTT-sourced rows only: no M15 row is one any more.
    assert not [s.id for s in CAT.signs.values() if s.module == "M15" and isinstance(s.source, MqttSource)]


@pytest.mark.parametrize(
    ("source", "unit", "complaint"),
    [
        ("hub:events_today(district=420699)", "件", "not one of the nine districts"),
        ("hub:response_rate(city)", "件", "is in %"),
        ("hub:events_today(city)", "%", "is in 件"),
        ("hub:queue_length(city)", "件", "unknown hub measure"),
        ("hub:events_today(items=0501)", "件", "is not hub:MEASURE"),
        ("hub:events_today(category=05", "件", "is not hub:MEASURE"),
    ],
)
def test_a_broken_hub_source_stops_the_catalogue(source: str, unit: str, complaint: str) -> None:
    with pytest.raises(CatalogueError, match=f"signs.csv:9: .*{complaint}"):
        parse_source(source, unit, "signs.csv:9")


def test_a_hub_source_naming_no_library_item_is_refused() -> None:
    from dataclasses import replace

    sign = CAT.signs["XY.S.M15.S53.item:0101"]
    broken = replace(sign, source=HubSource(HubMeasure.EVENTS_TODAY, HubScope.ITEMS, ("01999",)))
    cat = replace(CAT, signs={**CAT.signs, sign.id: broken})
    with pytest.raises(HubSourceError, match="01999"):
        check_hub_sources(cat, LIB)
