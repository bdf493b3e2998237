"""Escalation and the alert lifecycle with an injected clock: deadlines, stages, countdowns, transitions."""

from __future__ import annotations

import pytest

from alerts import lifecycle
from alerts.escalation import EscalationPolicy, Limits, Stage, countdown, escalation_due, stage_reached
from alerts.lifecycle import InvalidTransition
from alerts.model import Alert, AlertStatus, Event, RuleKind, Silence, SilenceScope, retained_payload, severity_counts
from config import Settings
from signs.catalogue import catalogue
from signs.model import Level

T0 = 1_779_602_700.0  # raise time of the alerts below
MIN, HOUR = 60.0, 3_600.0
SIGN = catalogue().signs["XY.P.M01.P01.dist:420602"]
POLICY = EscalationPolicy.from_settings(Settings())


def _raised(level: Level = Level.YELLOW, policy: EscalationPolicy = POLICY, silence: Silence | None = None) -> Alert:
    alert, _ = lifecycle.raise_alert(
        alert_id="threshold-1-abc",
        rule=RuleKind.THRESHOLD,
        sign=SIGN,
        district="420602",
        level=level,
        value=63.0,
        since=T0 - 30,
        now=T0,
        due=policy.deadlines(T0, level),
        silence=silence,
    )
    return alert


# Deadlines --------------------------------------------------------------------------------------------------


def test_default_limits_are_those_of_linked_emergency_handling() -> None:
    due = _raised().due
    assert (due.response - T0, due.handling - T0, due.feedback - T0) == (30 * MIN, 2 * HOUR, 24 * HOUR)


def test_limits_are_configurable_per_severity() -> None:
    policy = EscalationPolicy.from_settings(Settings(alert_limits={"red": (10 * MIN, HOUR, 12 * HOUR)}))
    assert policy.deadlines(T0, Level.RED).response == T0 + 10 * MIN
    assert policy.deadlines(T0, Level.BLUE).response == T0 + 30 * MIN


def test_time_scale_accelerates_every_limit_for_demonstrations() -> None:
    policy = EscalationPolicy({Level.RED: Limits(30 * MIN, 2 * HOUR, 24 * HOUR)}, time_scale=60.0)
    assert policy.deadlines(T0, Level.RED).response == T0 + 30.0


def test_a_rise_in_level_brings_the_deadlines_of_the_new_level() -> None:
    policy = EscalationPolicy.from_settings(Settings(alert_limits={"red": (10 * MIN, HOUR, 12 * HOUR)}))
    alert = _raised(Level.YELLOW, policy)
    risen, transition = lifecycle.change_level(alert, Level.RED, 72.0, 70.1, policy.deadlines(T0, Level.RED), T0 + 60)
    assert risen.due.response == T0 + 10 * MIN and risen.peak_level is Level.RED
    assert (transition.event, transition.note) == (Event.LEVEL_CHANGED, "yellow -> red")


# Stages ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_s", "stage"),
    [
        (29 * MIN, Stage.NONE),
        (30 * MIN, Stage.RESPONSE),
        (2 * HOUR - 1, Stage.RESPONSE),
        (2 * HOUR, Stage.HANDLING),
        (24 * HOUR, Stage.FEEDBACK),
    ],
)
def test_an_unacknowledged_alert_escalates_at_each_limit(after_s: float, stage: Stage) -> None:
    assert stage_reached(_raised(), T0 + after_s) is stage


def test_acknowledging_in_time_prevents_the_response_escalation_but_not_handling() -> None:
    acknowledged, _ = lifecycle.acknowledge(_raised(), "wang", "on it", T0 + 10 * MIN)
    assert escalation_due(acknowledged, T0 + HOUR) is None
    assert escalation_due(acknowledged, T0 + 2 * HOUR) is Stage.HANDLING


def test_a_cleared_alert_still_needs_its_response_and_feedback_but_no_handling() -> None:
    cleared, _ = lifecycle.clear(_raised(), T0 + 5 * MIN)
    assert stage_reached(cleared, T0 + 3 * HOUR) is Stage.RESPONSE
    assert stage_reached(cleared, T0 + 24 * HOUR) is Stage.FEEDBACK


def test_escalation_only_goes_up_and_happens_once_per_stage() -> None:
    alert = _raised()
    stage = escalation_due(alert, T0 + 31 * MIN)
    assert stage is Stage.RESPONSE
    escalated, transition = lifecycle.escalate(alert, stage, T0 + 31 * MIN)
    assert (escalated.escalation, transition.event, transition.note) == (1, Event.ESCALATED, "response overdue")
    assert escalation_due(escalated, T0 + 32 * MIN) is None
    assert escalation_due(escalated, T0 + 25 * HOUR) is Stage.FEEDBACK


def test_closed_and_silenced_alerts_do_not_escalate() -> None:
    resolved, _ = lifecycle.resolve(_raised(), "wang", "pump repaired", T0 + MIN)
    assert escalation_due(resolved, T0 + 25 * HOUR) is None
    hush = Silence("silence-1", SilenceScope.DISTRICT, "420602", T0 + HOUR, "maintenance", "li", T0)
    silenced = _raised(silence=hush)
    assert escalation_due(silenced, T0 + 45 * MIN) is None
    assert escalation_due(silenced, T0 + HOUR) is Stage.RESPONSE  # the silence is over


# Countdown ---------------------------------------------------------------------------------------------------


def test_countdown_shows_the_next_deadline_ahead() -> None:
    alert = _raised()
    left = countdown(alert, T0 + 10 * MIN)
    assert left is not None and (left.stage, left.remaining_s) == (Stage.RESPONSE, 20 * MIN)
    acknowledged, _ = lifecycle.acknowledge(alert, "wang", "", T0 + 11 * MIN)
    left = countdown(acknowledged, T0 + HOUR)
    assert left is not None and (left.stage, left.remaining_s) == (Stage.HANDLING, HOUR)


def test_countdown_is_negative_once_everything_is_overdue_and_gone_once_closed() -> None:
    left = countdown(_raised(), T0 + 25 * HOUR)
    assert left is not None and (left.stage, left.remaining_s) == (Stage.FEEDBACK, -HOUR)
    resolved, _ = lifecycle.resolve(_raised(), "wang", "done", T0 + MIN)
    assert countdown(resolved, T0 + 2 * MIN) is None


# Lifecycle ---------------------------------------------------------------------------------------------------


def test_acknowledge_then_clear_closes() -> None:
    acknowledged, transition = lifecycle.acknowledge(_raised(), "wang", "seen", T0 + MIN)
    assert acknowledged.status is AlertStatus.ACKNOWLEDGED and acknowledged.acknowledged is not None
    assert (transition.event, transition.by, transition.note) == (Event.ACKNOWLEDGED, "wang", "seen")
    closed, _ = lifecycle.clear(acknowledged, T0 + 2 * MIN)
    assert closed.status is AlertStatus.CLOSED and not closed.status.is_open
    assert closed.version == 3


def test_an_alert_cleared_without_acknowledgement_stays_open_until_acknowledged() -> None:
    cleared, _ = lifecycle.clear(_raised(), T0 + MIN)
    assert cleared.status is AlertStatus.CLEARED and cleared.status.is_open
    closed, _ = lifecycle.acknowledge(cleared, "wang", "saw it afterwards", T0 + 2 * MIN)
    assert closed.status is AlertStatus.CLOSED


def test_resolving_needs_a_note_and_counts_as_acknowledging() -> None:
    with pytest.raises(ValueError, match="note"):
        lifecycle.resolve(_raised(), "wang", "  ", T0 + MIN)
    resolved, transition = lifecycle.resolve(_raised(), "wang", "valve closed", T0 + MIN)
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.acknowledged == resolved.resolved
    assert transition.event is Event.RESOLVED


@pytest.mark.parametrize(
    "act",
    [
        lambda a: lifecycle.acknowledge(a, "li", "", T0 + 3 * MIN),
        lambda a: lifecycle.resolve(a, "li", "again", T0 + 3 * MIN),
    ],
)
def test_closed_alerts_refuse_further_officer_actions(act) -> None:
    resolved, _ = lifecycle.resolve(_raised(), "wang", "done", T0 + MIN)
    with pytest.raises(InvalidTransition):
        act(resolved)


def test_acknowledging_twice_is_refused() -> None:
    acknowledged, _ = lifecycle.acknowledge(_raised(), "wang", "", T0 + MIN)
    with pytest.raises(InvalidTransition):
        lifecycle.acknowledge(acknowledged, "li", "", T0 + 2 * MIN)


def test_an_officer_action_needs_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        lifecycle.acknowledge(_raised(), " ", "", T0 + MIN)


def test_retained_state_is_emptied_once_the_alert_is_closed() -> None:
    alert = _raised()
    assert b'"status":"raised"' in retained_payload(alert)
    cleared, _ = lifecycle.clear(alert, T0 + MIN)
    assert retained_payload(cleared) != b""  # open until acknowledged
    closed, _ = lifecycle.acknowledge(cleared, "wang", "", T0 + 2 * MIN)
    assert retained_payload(closed) == b""


def test_severity_counts_cover_open_alerts_of_every_level() -> None:
    red = _raised(Level.RED)
    closed, _ = lifecycle.resolve(_raised(Level.YELLOW), "wang", "done", T0 + MIN)
    assert severity_counts([red, red, closed]) == {"blue": 0, "yellow": 0, "orange": 0, "red": 2}
