"""The simulated departments' plans: most steps within the type's limits and a few late, played at the event's own
time scale; a few returned and dispatched again; the stories' scripted steps; people's events never planned; the
photo a real image the evidence check accepts."""

from __future__ import annotations

from dataclasses import replace

from dispatch import lifecycle
from dispatch.evidence import image_type
from dispatch.library import Limits, library
from dispatch.matching import match
from dispatch.model import Clock, Event, Location, Report, Source
from dispatch.simulate import (
    ACTOR_PREFIX,
    CENTRE_ACTOR,
    LATE_SHARE,
    RETURN_SHARE,
    PlannedStep,
    is_simulated,
    plan_for,
    sample_photo,
    time_scale,
)
from feeds.simulator.events import FALLEN_BRANCH, SIMULATED_PREFIX

NOW = 1_790_000_000.0
HANDLED = ("sign_for", "handle", "close")


def _dispatched(
    type_code: str, scale: float = 1.0, reporter: str = f"{SIMULATED_PREFIX}grid-1", ref: str = "x"
) -> Event:
    lib = library()
    event_type = lib.types[type_code]
    where = Location(32.06, 112.14, "", "420606", "420606003")
    event, _ = lifecycle.report(Report(type_code, where, "", Source.GRID, ref, reporter), event_type, NOW)
    limits = event.limits
    event = replace(
        event, limits=Limits(limits.response_s / scale, limits.handling_s / scale, limits.feedback_s / scale)
    )
    dispatched, _ = lifecycle.dispatch(event, match(event_type, event.location, lib), NOW + 1.0, "hub")
    return dispatched


def _at(plan: list[PlannedStep], action: str) -> float:
    return next(s.at for s in plan if s.action == action)


def test_most_steps_are_within_limits_and_a_few_late() -> None:
    lib = library()
    events = [_dispatched("0500101", scale=60.0) for _ in range(2_000)]
    plans = [plan_for(e, lib) for e in events]
    returned = [p for p in plans if p[0].action == "return"]
    assert abs(len(returned) / len(plans) - RETURN_SHARE) < 0.015
    worked = [p for p in plans if p[0].action != "return"]
    late_response = late_handling = 0
    for event, plan in zip(events, plans, strict=True):
        if plan[0].action == "return":
            assert [s.action for s in plan] == ["return", "dispatch"] and plan[1].by == CENTRE_ACTOR
            continue
        actions = [s.action for s in plan]
        assert [a for a in actions if a != "progress"] == list(HANDLED)
        assert [s.at for s in plan] == sorted(s.at for s in plan)
        assert plan[0].by == f"{ACTOR_PREFIX}{event.unit}" and plan[-1].by == CENTRE_ACTOR
        due_response = lifecycle.clock_due(event, Clock.RESPONSE)
        due_handling = lifecycle.clock_due(event, Clock.HANDLING)
        assert due_response is not None and due_handling is not None
        late_response += _at(plan, "sign_for") > due_response
        late_handling += _at(plan, "handle") > due_handling
        # At a 60 times faster scale, even a late step comes within a few real minutes.
        assert _at(plan, "close") - NOW < 3 * 7200 / 60 + 90 * 60 / 60
    assert abs(late_response / len(worked) - LATE_SHARE) < 0.02
    assert abs(late_handling / len(worked) - LATE_SHARE) < 0.02
    assert time_scale(events[0], lib) == 60.0


def test_a_returned_event_is_worked_once_dispatched_again() -> None:
    lib = library()
    event = next(e for e in (_dispatched("0100101") for _ in range(1_000)) if plan_for(e, lib)[0].action == "return")
    again, _ = lifecycle.give_back(event, NOW + 60, "x", "not ours")
    again, _ = lifecycle.dispatch(again, match(lib.types["0100101"], again.location, lib), NOW + 600, "y")
    assert again.returns == 1 and plan_for(again, lib)[0].action == "sign_for"


def test_the_fallen_branch_follows_its_script_within_its_limits() -> None:
    lib = library()
    event = _dispatched("0500101", scale=600.0, ref=FALLEN_BRANCH.ref)
    plan = plan_for(event, lib)
    assert [s.action for s in plan] == ["sign_for", "progress", "handle", "close"]
    reported_local = 12 * 60 + 33  # minutes of the day
    minutes = {s.action: reported_local + (s.at - event.reported_at) * 600 / 60 for s in plan}
    assert round(minutes["close"]) == 14 * 60 + 39 and minutes["handle"] <= 14 * 60 + 39
    handling_due = lifecycle.clock_due(event, Clock.HANDLING)
    assert handling_due is not None and _at(plan, "handle") < handling_due
    assert all("（模拟）" in s.note for s in plan)


def test_events_people_filed_are_never_planned() -> None:
    lib = library()
    person = _dispatched("0500101", reporter="citizen-app")
    assert not is_simulated(person) and plan_for(person, lib) == []
    reported, _ = lifecycle.report(
        Report("0500101", Location(district="420606"), "", Source.GRID, "x", f"{SIMULATED_PREFIX}g"),
        lib.types["0500101"],
        NOW,
    )
    assert plan_for(reported, lib) == []  # waits for the dispatcher first


def test_the_generated_photo_is_a_small_png() -> None:
    photo = sample_photo(42)
    assert image_type(photo) == "image/png" and len(photo) < 2_000
    assert sample_photo(42) == photo != sample_photo(43)
