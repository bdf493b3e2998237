"""The event hub's read model and scope without Redis: who sees and leads which event, the steps a user is offered in
each state, the clocks as the pages show them, the pressing order, the events page's URL filters, and the photo
type checks by magic bytes."""

from __future__ import annotations

import pytest

from auth.model import Role, User
from auth.scope import EventScope, event_scope_of, may_handle
from dispatch import lifecycle
from dispatch.evidence import EvidenceError, image_type
from dispatch.library import library
from dispatch.matching import match
from dispatch.model import Clock, Event, Location, Report, Source, Status, Unit
from views.events import EventFilter, card, clock_views, pressing_order, status_counts, steps_for

T0 = 1_790_000_000.0
HANDLER = User("zhujian", Role.HANDLER, "住建", department="D02")
COUNTY_HANDLER = User("gucheng", Role.HANDLER, "谷城住建", district="420625", department="D02")
OTHER = User("chengguan", Role.HANDLER, "城管", department="D01")
OFFICER = User("duty", Role.OFFICER, "值班员")
LEADER = User("nanzhang", Role.LEADER, "南漳", district="420624")


def _dispatched(type_code: str = "0500101", district: str = "420606", at: float = T0) -> Event:
    lib = library()
    event, _ = lifecycle.report(
        Report(type_code, Location(district=district), "x", Source.OFFICER), lib.types[type_code], at
    )
    assignment = match(lib.types[type_code], event.location, lib)
    return lifecycle.dispatch(event, assignment, at + 10, "hub")[0]


def test_a_handler_sees_their_departments_units_and_leads_only_as_lead() -> None:
    dust = _dispatched("0101501")  # 工地扬尘, a county-level type: 樊城's D02 leads, its D01 co-dispatched
    assert dust.unit == Unit("D02", "420606") and Unit("D01", "420606") in dust.co_units
    assert event_scope_of(HANDLER).sees(dust) and event_scope_of(HANDLER).leads(dust)
    assert event_scope_of(OTHER).sees(dust) and not event_scope_of(OTHER).leads(dust)
    assert not event_scope_of(COUNTY_HANDLER).sees(dust)  # 樊城's unit, not 谷城's
    gucheng = _dispatched("0101501", "420625")
    assert gucheng.unit == Unit("D02", "420625")
    assert event_scope_of(COUNTY_HANDLER).leads(gucheng) and event_scope_of(HANDLER).leads(gucheng)
    assert not event_scope_of(LEADER).sees(gucheng) and event_scope_of(LEADER).sees(_dispatched(district="420624"))
    assert event_scope_of(OFFICER) == EventScope() and event_scope_of(OFFICER).leads(gucheng)
    with pytest.raises(PermissionError):
        event_scope_of(OTHER).require_lead(dust)


def test_a_supervising_unit_sees_the_escalated_event() -> None:
    gucheng = _dispatched("0101501", "420625")
    escalated, _ = lifecycle.escalate(gucheng, T0 + 5_000, "hub", clock=Clock.RESPONSE)
    assert escalated.supervisor == Unit("D02")
    city = User("city", Role.HANDLER, "市住建", department="D02")
    assert event_scope_of(city).sees(escalated)


def test_steps_offered_follow_the_state_the_role_and_the_unit() -> None:
    event = _dispatched()
    assert steps_for(event, HANDLER) == ("sign_for", "return")
    assert steps_for(event, OTHER) == ()
    assert steps_for(event, LEADER) == () and steps_for(event, None) == ()
    assert steps_for(event, OFFICER) == ("sign_for", "return", "escalate")
    signed, _ = lifecycle.sign_for(event, T0 + 60, "zhujian")
    assert steps_for(signed, HANDLER) == ("progress", "handle")
    handled, _ = lifecycle.handle(signed, library().types[event.type_code], T0 + 99, "zhujian", "ok", ("http://p/1",))
    assert steps_for(handled, HANDLER) == () and steps_for(handled, OFFICER) == ("close", "escalate")
    closed, _ = lifecycle.close(handled, T0 + 120, "duty")
    assert steps_for(closed, OFFICER) == ("rate",)
    assert may_handle(HANDLER, signed) and not may_handle(OTHER, signed) and not may_handle(LEADER, signed)


def test_clocks_run_stop_and_turn_late() -> None:
    event = _dispatched()  # S1: 30 min response, 2 h handling, 24 h feedback
    running = {v.clock: v for v in clock_views(event, T0 + 100)}
    assert running[Clock.RESPONSE].running and not running[Clock.RESPONSE].late
    assert running[Clock.RESPONSE].due_at == pytest.approx(T0 + 10 + event.limits.response_s)
    late = {v.clock: v for v in clock_views(event, T0 + 10 + event.limits.response_s + 1)}
    assert late[Clock.RESPONSE].late and not late[Clock.HANDLING].late
    signed, _ = lifecycle.sign_for(event, T0 + 10 + event.limits.response_s + 5, "zhujian")
    stopped = {v.clock: v for v in clock_views(signed, T0 + 99_000)}
    assert not stopped[Clock.RESPONSE].running and stopped[Clock.RESPONSE].late  # signed for, too late


def test_the_pressing_order_puts_late_then_soonest_first_and_closed_last() -> None:
    lib = library()
    old = _dispatched(at=T0)
    fresh = _dispatched(at=T0 + 600)
    handled_at = T0 + 700
    signed, _ = lifecycle.sign_for(_dispatched(at=T0 + 300), T0 + 320, "z")
    done, _ = lifecycle.handle(signed, lib.types["0500101"], handled_at, "z", "ok", ("http://p/1",))
    closed, _ = lifecycle.close(done, handled_at + 10, "duty")
    now = T0 + 10 + old.limits.response_s + 1  # old's response ran out, fresh's not
    cards = [card(e, lib, OFFICER, "zh", now) for e in (closed, fresh, old)]
    assert [c.event.id for c in pressing_order(cards)] == [old.id, fresh.id, closed.id]
    assert status_counts([old, fresh, closed]) == {
        s.value: {"dispatched": 2, "closed": 1}.get(s.value, 0) for s in Status
    }


def test_event_cards_speak_the_pages_language() -> None:
    event = _dispatched(district="420625")
    zh, en = card(event, library(), HANDLER, "zh", T0), card(event, library(), HANDLER, "en", T0)
    assert zh.unit == "谷城县市住建局" and zh.place.startswith("谷城县")
    assert en.unit == "City Housing and Urban-Rural Development Bureau, Gucheng County" and en.place == "Gucheng County"
    assert en.type_name == library().types["0500101"].name_en and zh.needs_photo


def test_the_events_pages_filters_round_trip_through_the_url_and_ignore_junk() -> None:
    lib = library()
    wanted = EventFilter.from_query(
        {"status": "handled", "district": "420625", "department": "D02", "category": "05", "late": "1", "event": "E1"},
        lib,
    )
    assert EventFilter.from_query(wanted.query(), lib) == wanted
    assert wanted.query_string("en").endswith("&lang=en")
    junk = EventFilter.from_query({"status": "gone", "district": "999999", "department": "D99", "late": ["1"]}, lib)
    assert junk == EventFilter() and junk.query_string("zh") == ""
    event = _dispatched()
    now = T0 + 60
    assert EventFilter().matches(card(event, lib, OFFICER, "zh", now))
    assert not EventFilter(department="D01").matches(card(event, lib, OFFICER, "zh", now))
    assert not EventFilter(late=True).matches(card(event, lib, OFFICER, "zh", now))
    assert EventFilter(late=True).matches(card(event, lib, OFFICER, "zh", now + 99_999))


@pytest.mark.parametrize(
    ("head", "expected"),
    [(b"\xff\xd8\xff\xe0rest", "image/jpeg"), (b"\x89PNG\r\n\x1a\nrest", "image/png"),
     (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp")],
)  # fmt: skip
def test_photos_are_known_by_their_bytes(head: bytes, expected: str) -> None:
    assert image_type(head) == expected


@pytest.mark.parametrize("head", [b"GIF89a", b"<svg xmlns=", b"RIFF\x10\x00\x00\x00WAVE", b"%PDF-1.7", b""])
def test_other_files_are_refused_whatever_their_name(head: bytes) -> None:
    with pytest.raises(EvidenceError):
        image_type(head)
