"""What the wall's alert strip receives: incidents of the alert engine's open alerts, in the one pressing order."""

from __future__ import annotations

from dataclasses import replace

from alerts.incidents import GroupKey, IncidentView, assigned, join, open_incident
from alerts.lifecycle import raise_alert
from alerts.model import Action, Alert, AlertStatus, Assignment, Deadlines, RuleKind, pressing_first
from signs.catalogue import catalogue
from signs.model import Level
from views.wall import wall_incident

RAIN = "XY.S.M13.S45.rain3h:420624"
NOW = 1_800_000_000.0


def _alert(alert_id: str, level: Level, raised_at: float, status: AlertStatus = AlertStatus.RAISED) -> Alert:
    alert, _ = raise_alert(
        alert_id=alert_id, rule=RuleKind.THRESHOLD, sign=catalogue().signs[RAIN], district="420624", level=level,
        value=60.0, since=raised_at, now=raised_at, silence=None,
        due=Deadlines(raised_at + 1800, raised_at + 7200, raised_at + 86400),
    )  # fmt: skip
    return replace(alert, status=status)


def test_unacknowledged_first_then_acknowledged_then_recovered_each_by_severity_then_newest() -> None:
    orange_old = _alert("a", Level.ORANGE, NOW - 600)
    red_acked = _alert("b", Level.RED, NOW - 300, AlertStatus.ACKNOWLEDGED)
    red_new = _alert("c", Level.RED, NOW - 10)
    red_old = _alert("d", Level.RED, NOW - 900)
    orange_new = _alert("e", Level.ORANGE, NOW - 5)
    red_recovered = _alert("f", Level.RED, NOW - 1, AlertStatus.CLEARED)
    blue_acked = _alert("g", Level.BLUE, NOW - 2, AlertStatus.ACKNOWLEDGED)
    order = [
        a.id for a in pressing_first([red_recovered, orange_old, blue_acked, red_acked, red_new, red_old, orange_new])
    ]
    # A stale red (recovered, never acknowledged) never pushes a live one off the strip.
    assert order == ["c", "d", "e", "a", "b", "g", "f"]


def test_a_strip_entry_is_an_incident_with_its_title_count_assignee_and_most_pressing_deadline() -> None:
    first = replace(
        _alert("x", Level.RED, NOW, AlertStatus.ACKNOWLEDGED),
        acknowledged=Action("duty1", NOW + 60, "on it"),
        escalation=1,
    )
    second = _alert("y", Level.ORANGE, NOW + 30)
    incident = open_incident(GroupKey("420624", "signal:rainstorm"), first, NOW)
    incident = join(incident, second, NOW + 30)
    incident = assigned(incident, Assignment("duty2", "duty1", NOW + 90, ""))
    entry = wall_incident(IncidentView(incident, (first, second)))
    assert entry["title"] == ["南漳县 · 暴雨 · 2 条告警", "Nanzhang County · Rainstorm · 2 alerts"]
    assert entry["level"] == 4 and entry["status"] == "raised" and entry["count"] == 2 and entry["open"] == 2
    assert entry["assignee"] == "duty2" and entry["ackBy"] == "duty1" and entry["escalation"] == 1
    # One member is still unacknowledged: the strip counts down to its response limit.
    assert entry["due"] == NOW + 30 + 1800 and entry["dueKind"] == "response"
    assert entry["sign"] == RAIN and entry["district"] == "420624" and entry["silenced"] is False
