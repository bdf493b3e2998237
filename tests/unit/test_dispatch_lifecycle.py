"""Matching and the event lifecycle with an injected clock: states, the three clocks, overdue stages, escalation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch import lifecycle
from dispatch.hub import HUB, note_text
from dispatch.library import Level, library
from dispatch.lifecycle import LifecycleError, clock_due, clock_late, newly_overdue
from dispatch.matching import locate, match, superior
from dispatch.model import Clock, Event, Location, Report, Source, Status, Transition, Unit

T0 = 1_791_520_380.0  # 9 October, 12:33 Beijing time: the grid worker's report of the branch
LIB = library()


def _dispatched(type_code: str = "0500101", location: Location | None = None) -> Event:
    """An event dispatched 5 s after its report; by default at a point in 樊城区."""
    event_type = LIB.types[type_code]
    where = locate(LIB, location, "") if location else locate(LIB, Location(32.04, 112.14), "420606")
    event, _ = lifecycle.report(
        Report(type_code, where, "树枝横出小区门口", Source.GRID, reporter="grid-07"), event_type, T0
    )
    event, _ = lifecycle.dispatch(event, match(event_type, where, LIB), T0 + 5, "hub")
    return event


def test_matching_by_type_and_place() -> None:
    central = locate(LIB, Location(32.0, 112.1), "420606")
    assert match(LIB.types["0500101"], central, LIB).unit == Unit("D02")  # city department in the centre
    county = locate(LIB, Location(32.3, 111.6), "420625")
    assert match(LIB.types["0500101"], county, LIB).unit == Unit("D02", "420625")  # its county counterpart
    township = locate(LIB, Location(township="420625102"), "")  # a township named, no point
    assert township.district == "420625"
    straw = match(LIB.types["0700101"], township, LIB)
    assert straw.level is Level.TOWNSHIP and straw.unit == Unit("D17", "420625102")
    assert straw.co_units == (Unit("D13", "420625102"), Unit("D09", "420625102"))
    # A typed township that the measured point contradicts is dropped; the point's district stays.
    assert locate(LIB, Location(32.0, 112.1, township="420625102"), "420606") == Location(32.0, 112.1, "", "420606", "")
    command = match(LIB.types["1200401"], county, LIB)
    assert command.level is Level.COMMAND and command.unit == Unit("D04") and len(command.co_units) == 2


def test_superiors_climb_to_the_city_centre() -> None:
    chain = [Unit("D17", "420625102")]
    while (above := superior(chain[-1])) is not None:
        chain.append(above)
    assert chain == [Unit("D17", "420625102"), Unit("CTR", "420625"), Unit("CTR")]
    assert superior(Unit("D01", "420606001")) == Unit("D01", "420606")
    assert superior(Unit("D01", "420606")) == Unit("D01") and superior(Unit("D01")) == Unit("CTR")


def test_the_whole_loop_and_its_clocks() -> None:
    event = _dispatched()
    assert event.status is Status.DISPATCHED and event.unit == Unit("D02")
    assert clock_due(event, Clock.RESPONSE) == T0 + 5 + 1800 and clock_due(event, Clock.FEEDBACK) == T0 + 86400
    event, step = lifecycle.sign_for(event, T0 + 600, "zhujian-duty")
    assert (step.action, step.from_status, step.to_status, step.by) == (
        "signed_for",
        "dispatched",
        "signed_for",
        "zhujian-duty",
    )
    event, _ = lifecycle.progress(event, T0 + 1200, "zhujian-duty", "绿化管理处已到场")
    assert event.status is Status.IN_PROGRESS
    with pytest.raises(LifecycleError, match="needs a photo"):
        lifecycle.handle(event, LIB.types["0500101"], T0 + 7000, "zhujian-duty", "已修剪")
    event, _ = lifecycle.handle(
        event, LIB.types["0500101"], T0 + 7560, "zhujian-duty", "已修剪", ("http://x/after.jpg",)
    )
    assert event.status is Status.HANDLED and event.evidence == ("http://x/after.jpg",)
    # 12:33 -> 14:39 is 2 h 06 min: the handling clock stopped late, the response clock in time.
    assert clock_late(event, Clock.HANDLING, T0 + 7560) and not clock_late(event, Clock.RESPONSE, T0 + 7560)
    event, step = lifecycle.close(event, T0 + 9000, "duty", "现场核实")
    assert event.status is Status.CLOSED and step.note == "现场核实"
    assert newly_overdue(event, T0 + 10 * 86400) == []
    with pytest.raises(LifecycleError, match="closed: it can be signed for only when dispatched"):
        lifecycle.sign_for(event, T0 + 9001, "zhujian-duty")


def test_a_return_needs_a_reason_and_restarts_the_clocks_on_dispatch() -> None:
    event = _dispatched()
    with pytest.raises(LifecycleError, match="reason"):
        lifecycle.give_back(event, T0 + 60, "zhujian-duty", "  ")
    event, step = lifecycle.give_back(event, T0 + 60, "zhujian-duty", "不属于住建职责")
    assert event.status is Status.RETURNED and event.returns == 1 and step.note == "不属于住建职责"
    assert newly_overdue(event, T0 + 3600) == []  # waiting at the centre: no handler's clock runs
    again, _ = lifecycle.dispatch(event, match(LIB.types["0500101"], event.location, LIB), T0 + 3600, "duty")
    assert again.status is Status.DISPATCHED and clock_due(again, Clock.RESPONSE) == T0 + 3600 + 1800


def test_overdue_stages_are_found_once_each_and_escalate_up_the_levels() -> None:
    event = _dispatched()
    assert newly_overdue(event, T0 + 1805) == []
    assert newly_overdue(event, T0 + 1806) == [Clock.RESPONSE]
    event, step = lifecycle.escalate(event, T0 + 1806, "hub", clock=Clock.RESPONSE)
    assert event.supervisor == Unit("CTR") and event.level is Level.COMMAND and step.clock == "response"
    assert step.unit == "CTR" and newly_overdue(event, T0 + 1900) == []
    assert newly_overdue(event, T0 + 7206) == [Clock.HANDLING]
    with pytest.raises(LifecycleError, match="no level above"):
        lifecycle.escalate(event, T0 + 7206, "hub", clock=Clock.HANDLING)
    # Signed for late, the handling and feedback clocks still run out in their turn.
    event, _ = lifecycle.sign_for(event, T0 + 2000, "zhujian-duty")
    assert newly_overdue(event, T0 + 90_000) == [Clock.HANDLING, Clock.FEEDBACK]


def test_a_township_event_escalates_township_county_city() -> None:
    event = _dispatched("0700101", Location(township="420625102"))
    assert event.level is Level.TOWNSHIP
    event, _ = lifecycle.escalate(event, T0 + 1900, "hub", clock=Clock.RESPONSE)
    assert (event.supervisor, event.level) == (Unit("CTR", "420625"), Level.COUNTY)
    event, _ = lifecycle.escalate(event, T0 + 7300, "hub", clock=Clock.HANDLING)
    assert (event.supervisor, event.level) == (Unit("CTR"), Level.CITY)


def test_an_event_survives_its_json() -> None:
    event = _dispatched("0700101", Location(township="420625102"))
    assert Event.from_json(event.as_json()) == event


def test_the_hubs_notes_read_in_the_readers_language_old_ones_too() -> None:
    dispatched = Transition("E1", "dispatched", "reported", "dispatched", 1.0, HUB, note_code="auto_dispatched")
    overdue = Transition("E1", "escalated", "dispatched", "dispatched", 2.0, HUB, clock="response", note_code="overdue")
    assert (note_text(dispatched, "zh"), note_text(dispatched, "en")) == ("自动派单", "dispatched automatically")
    assert (note_text(overdue, "zh"), note_text(overdue, "en")) == ("响应超时", "response limit overdue")
    stored_before_codes = Transition("E1", "escalated", "dispatched", "dispatched", 2.0, HUB, "handling 超时",
                                     clock="handling")  # fmt: skip
    assert note_text(stored_before_codes, "en") == "handling limit overdue"
    assert note_text(replace(dispatched, note="自动派单", note_code=""), "en") == "dispatched automatically"
    someones = Transition("E1", "handled", "in_progress", "handled", 3.0, "handler1", "树枝已清理 cleared")
    assert note_text(someones, "en") == "树枝已清理 cleared"
