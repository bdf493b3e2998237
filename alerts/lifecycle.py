"""The alert lifecycle as pure functions: each returns the alert's next version and the audit entry of the
transition, or refuses what the lifecycle does not allow.

    raised ──acknowledge──> acknowledged ──resolve──> resolved      (resolve also from raised and cleared)
      │                          │
    clear (value normal)       clear
      ▼                          ▼
    cleared ──acknowledge──>  closed

An alert that cleared without ever being acknowledged stays open, as cleared, until someone acknowledges it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from alerts.escalation import Stage
from alerts.model import (
    ENGINE_USER,
    Action,
    Alert,
    AlertStatus,
    Assignment,
    Deadlines,
    Event,
    RuleKind,
    Silence,
    Transition,
    alert_transition,
)
from auth.names import check_username
from signs.model import Level, Sign


class InvalidTransition(ValueError):
    """The alert's state does not allow this (acknowledging twice, resolving a closed alert...)."""


def _next(alert: Alert, now: float, **changes: Any) -> Alert:
    return replace(alert, updated_at=now, version=alert.version + 1, **changes)


def level_bound(sign: Sign, rule: RuleKind, level: Level) -> float | None:
    """The catalogue bound an alert at `level` has crossed; None for no-data alerts."""
    if rule is RuleKind.NO_DATA or level == Level.NORMAL:
        return None
    return sign.thresholds[level - 1]


def raise_alert(
    *,
    alert_id: str,
    rule: RuleKind,
    sign: Sign,
    district: str,
    level: Level,
    value: float,
    since: float,
    now: float,
    due: Deadlines,
    silence: Silence | None,
) -> tuple[Alert, Transition]:
    alert = Alert(
        id=alert_id,
        rule=rule,
        sign_id=sign.id,
        name=sign.name_zh,
        unit=sign.unit,
        district=district,
        level=level,
        peak_level=level,
        value=value,
        threshold=level_bound(sign, rule, level),
        since=since,
        raised_at=now,
        updated_at=now,
        status=AlertStatus.RAISED,
        due=due,
        silence=silence,
    )
    return alert, alert_transition(alert, Event.RAISED, now, ENGINE_USER)


def change_level(
    alert: Alert, level: Level, value: float, threshold: float | None, due: Deadlines, now: float
) -> tuple[Alert, Transition]:
    """A rise or fall of an active alert's level; `due` follows the peak level."""
    changed = _next(
        alert, now, level=level, peak_level=max(alert.peak_level, level), value=value, threshold=threshold, due=due
    )
    return changed, alert_transition(changed, Event.LEVEL_CHANGED, now, ENGINE_USER, f"{alert.level.en} -> {level.en}")


def clear(alert: Alert, now: float) -> tuple[Alert, Transition]:
    """The value returned to normal: closed if acknowledged, else left open as cleared."""
    status = AlertStatus.CLOSED if alert.acknowledged else AlertStatus.CLEARED
    cleared = _next(alert, now, status=status, cleared_at=now)
    return cleared, alert_transition(cleared, Event.CLEARED, now, ENGINE_USER)


def acknowledge(alert: Alert, user: str, note: str, now: float) -> tuple[Alert, Transition]:
    check_username(user)
    if alert.acknowledged is not None or not alert.status.is_open:
        raise InvalidTransition(f"alert {alert.id} is {alert.status.value} and was already acknowledged")
    status = AlertStatus.CLOSED if alert.status is AlertStatus.CLEARED else AlertStatus.ACKNOWLEDGED
    acknowledged = _next(alert, now, status=status, acknowledged=Action(user, now, note))
    return acknowledged, alert_transition(acknowledged, Event.ACKNOWLEDGED, now, user, note)


def resolve(alert: Alert, user: str, note: str, now: float) -> tuple[Alert, Transition]:
    """An officer closes the alert with a note; resolving counts as acknowledging when nobody had."""
    check_username(user)
    if not note.strip():
        raise ValueError("resolving an alert needs a note")
    if not alert.status.is_open:
        raise InvalidTransition(f"alert {alert.id} is already {alert.status.value}")
    action = Action(user, now, note)
    resolved = _next(
        alert, now, status=AlertStatus.RESOLVED, resolved=action, acknowledged=alert.acknowledged or action
    )
    return resolved, alert_transition(resolved, Event.RESOLVED, now, user, note)


def assign(alert: Alert, to: str, user: str, note: str, now: float) -> tuple[Alert, Transition]:
    """An officer hands an open alert to a named officer (themselves, often); reassigning replaces who it was."""
    check_username(user)
    check_username(to)
    if not alert.status.is_open:
        raise InvalidTransition(f"alert {alert.id} is already {alert.status.value}")
    if alert.assignee is not None and alert.assignee.to == to:
        raise InvalidTransition(f"alert {alert.id} is already assigned to {to}")
    assigned = _next(alert, now, assignee=Assignment(to, user, now, note))
    return assigned, alert_transition(assigned, Event.ASSIGNED, now, user, note)


def escalate(alert: Alert, stage: Stage, now: float) -> tuple[Alert, Transition]:
    escalated = _next(alert, now, escalation=int(stage))
    return escalated, alert_transition(escalated, Event.ESCALATED, now, ENGINE_USER, stage.en)


def silence(alert: Alert, covering: Silence, now: float, user: str) -> tuple[Alert, Transition]:
    silenced = _next(alert, now, silence=covering)
    return silenced, alert_transition(silenced, Event.SILENCED, now, user, covering.reason)


def unsilence(alert: Alert, now: float, user: str) -> tuple[Alert, Transition]:
    unsilenced = _next(alert, now, silence=None)
    return unsilenced, alert_transition(unsilenced, Event.UNSILENCED, now, user)
