"""What the wall's alert strip receives from the alert engine's open alerts."""

from __future__ import annotations

from dataclasses import replace

from alerts.lifecycle import raise_alert
from alerts.model import Action, Alert, AlertStatus, Deadlines, RuleKind
from callbacks.wall import pressing_first, wall_alert
from signs.catalogue import catalogue
from signs.model import Level

RAIN = "XY.S.M13.S45.rain3h:420624"
NOW = 1_800_000_000.0


def _alert(alert_id: str, level: Level, raised_at: float, status: AlertStatus = AlertStatus.RAISED) -> Alert:
    alert, _ = raise_alert(
        alert_id=alert_id, rule=RuleKind.THRESHOLD, sign=catalogue().signs[RAIN], district="420624", level=level,
        value=60.0, since=raised_at, now=raised_at, due=Deadlines(raised_at + 1800, raised_at + 7200, raised_at + 86400),
        silence=None,
    )
    return replace(alert, status=status)


def test_the_most_severe_come_first_then_unacknowledged_then_newest() -> None:
    orange_old = _alert("a", Level.ORANGE, NOW - 600)
    red_acked = _alert("b", Level.RED, NOW - 300, AlertStatus.ACKNOWLEDGED)
    red_new = _alert("c", Level.RED, NOW - 10)
    red_old = _alert("d", Level.RED, NOW - 900)
    orange_new = _alert("e", Level.ORANGE, NOW - 5)
    order = [a.id for a in pressing_first([orange_old, red_acked, red_new, red_old, orange_new])]
    assert order == ["c", "d", "b", "e", "a"]


def test_a_strip_entry_carries_state_deadlines_and_who_acknowledged() -> None:
    alert = replace(
        _alert("x", Level.RED, NOW, AlertStatus.ACKNOWLEDGED), acknowledged=Action("duty1", NOW + 60, "on it"), escalation=1
    )
    entry = wall_alert(alert)
    assert entry["level"] == 4 and entry["status"] == "acknowledged" and entry["ackBy"] == "duty1"
    assert entry["due"] == [NOW + 1800, NOW + 7200, NOW + 86400] and entry["escalation"] == 1
    assert entry["sign"] == RAIN and entry["district"] == "420624" and entry["silenced"] is False
