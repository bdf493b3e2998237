"""The district page's open events as drawn (layouts/district.events_children): read-only rows, the late ones
marked, each a link to the event on /events in the page's language, and the empty district said in words."""

from __future__ import annotations

from dash import dcc

from dispatch import lifecycle
from dispatch.library import library
from dispatch.matching import locate, match
from dispatch.model import Event, Location, Report, Source
from layouts.district import events_children
from signs.urlstate import DistrictView
from views.events import card, pressing_order

LIB = library()
NOW = 1_791_520_380.0
BRANCH = "0500101"


def _dispatched(at: float) -> Event:
    where = locate(LIB, Location(32.04, 112.14, "檀溪路"), "420606")
    event = lifecycle.report(Report(BRANCH, where, "", Source.GRID), LIB.types[BRANCH], at)[0]
    return lifecycle.dispatch(event, match(LIB.types[BRANCH], where, LIB), at, "hub")[0]


def _text(component: object) -> str:
    children = getattr(component, "children", component)
    if isinstance(children, str):
        return children
    if isinstance(children, list):
        return " ".join(_text(c) for c in children)
    return "" if children is None else _text(children)


def test_rows_link_to_each_event_late_first_and_offer_nothing_to_do() -> None:
    late, fresh = _dispatched(NOW - 3600), _dispatched(NOW - 60)
    for lang in ("zh", "en"):
        cards = pressing_order(card(e, LIB, None, lang, NOW) for e in (fresh, late))
        assert all(c.steps == () for c in cards)
        rows = events_children(cards, 2, DistrictView("420606", lang=lang))
        links = [r for r in rows if isinstance(r, dcc.Link)]
        props = [r.to_plotly_json()["props"] for r in links]
        assert [p["title"] for p in props] == [late.id, fresh.id]
        assert "late" in props[0]["className"] and "late" not in props[1]["className"]
        suffix = "&lang=en" if lang == "en" else ""
        assert props[0]["href"] == f"/events?event={late.id}{suffix}"
        summary = _text(rows[0])
        assert summary == ("共 2 件，超时 1 件" if lang == "zh" else "2 open, 1 overdue")
        assert (LIB.types[BRANCH].name_zh if lang == "zh" else LIB.types[BRANCH].name_en) in _text(links[1])


def test_a_quiet_district_says_so() -> None:
    rows = events_children([], 0, DistrictView("420626", lang="en"))
    assert _text(rows[0]) == "No open events in this district"
