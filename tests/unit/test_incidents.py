"""Grouping alerts into incidents, with an injected clock: by district and module within the window, under an
active CMA signal for the signs it covers; an incident's derived status, severity, title and order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts.incidents import (
    GroupingRules,
    GroupKey,
    IncidentView,
    group_key,
    incident_status,
    join,
    open_incident,
    pressing_incidents,
    standalone,
)
from alerts.lifecycle import acknowledge, clear, raise_alert, resolve
from alerts.model import Alert, AlertStatus, Deadlines, RuleKind, Silence, SilenceScope
from signs.catalogue import catalogue
from signs.model import Level

NOW = 1_800_000_000.0
RULES = GroupingRules.build(window_s=1_800.0)
RAIN = "XY.S.M13.S45.rain3h:420624"
RESERVOIR = "XY.T.M08.T27.res:R01"  # 三道河水库, a station in 南漳 with no district of its own
RESERVOIRS = "XY.T.M08.T27.dist:420624"
SIGNAL = "XY.S.M13.S48.dist:420624"
POWER = "XY.T.M05.T18.dist:420624"


def _alert(sign_id: str, raised_at: float, level: Level = Level.RED, alert_id: str = "") -> Alert:
    alert, _ = raise_alert(
        alert_id=alert_id or f"threshold-{sign_id}-{raised_at}", rule=RuleKind.THRESHOLD,
        sign=catalogue().signs[sign_id], district="420624", level=level, value=1.0, since=raised_at, now=raised_at,
        due=Deadlines(raised_at + 900, raised_at + 3600, raised_at + 86400), silence=None,
    )  # fmt: skip
    return alert


def _key(sign_id: str, signals: set[str]) -> GroupKey:
    return group_key(catalogue().signs[sign_id], "420624", signals, RULES)


def test_without_a_signal_alerts_group_by_district_and_module() -> None:
    assert _key(RAIN, set()) == GroupKey("420624", "M13")
    assert _key(RESERVOIR, set()) == _key(RESERVOIRS, set()) == GroupKey("420624", "M08")
    assert _key(POWER, set()) == GroupKey("420624", "M05")


def test_an_active_rainstorm_signal_groups_rain_river_reservoir_waterlogging_and_the_signal_itself() -> None:
    storm = {"rainstorm"}
    for sign_id in (RAIN, RESERVOIR, RESERVOIRS, SIGNAL, "XY.T.M08.T28.wl:WL01"):
        assert _key(sign_id, storm) == GroupKey("420624", "signal:rainstorm"), sign_id
    assert _key(POWER, storm) == GroupKey("420624", "M05")  # the power grid is not the rain's
    assert _key(RAIN, {"heatWave"}) == GroupKey("420624", "M13")  # a heat warning does not cover rain


def test_grouping_rules_are_configuration_checked_against_the_catalogue() -> None:
    rules = GroupingRules.build(600.0, {"heatWave": ["M05"]})
    assert group_key(catalogue().signs[POWER], "420624", {"heatWave"}, rules) == GroupKey("420624", "signal:heatWave")
    assert group_key(catalogue().signs[RAIN], "420624", {"rainstorm"}, rules) == GroupKey("420624", "M13")
    with pytest.raises(ValueError, match="no CMA signal"):
        GroupingRules.build(600.0, {"monsoon": ["M08"]})
    with pytest.raises(ValueError, match="no module or core sign"):
        GroupingRules.build(600.0, {"rainstorm": ["M99"]})


def test_an_alert_joins_while_a_member_holds_or_within_the_window_then_opens_a_new_incident() -> None:
    first = _alert(RAIN, NOW)
    incident = IncidentView(open_incident(GroupKey("420624", "M13"), first, NOW), (first,))
    assert incident.joinable(NOW + 5 * 3_600, RULES.window_s)  # the condition still holds: the same incident
    cleared, _ = clear(first, NOW + 600)
    recovered = IncidentView(incident.incident, (cleared,))
    assert recovered.joinable(NOW + 600 + RULES.window_s, RULES.window_s)
    assert not recovered.joinable(NOW + 600 + RULES.window_s + 1, RULES.window_s)
    closed, _ = acknowledge(cleared, "duty1", "", NOW + 700)
    assert not IncidentView(incident.incident, (closed,)).joinable(NOW + 701, RULES.window_s)  # closed: a new one


def test_status_severity_and_title_follow_the_members() -> None:
    red, orange = _alert(RAIN, NOW), _alert(RESERVOIR, NOW + 60, Level.ORANGE)
    key = GroupKey("420624", "signal:rainstorm")
    incident = join(open_incident(key, red, NOW), orange, NOW + 60)
    both = IncidentView(incident, (red, orange))
    assert (both.status, both.level, both.count) == (AlertStatus.RAISED, Level.RED, 2)
    assert (
        both.title("zh") == "南漳县 · 暴雨 · 2 条告警" and both.title("en") == "Nanzhang County · Rainstorm · 2 alerts"
    )
    red_acked, _ = acknowledge(red, "duty1", "", NOW + 120)
    assert IncidentView(incident, (red_acked, orange)).status is AlertStatus.RAISED  # one still unacknowledged
    orange_acked, _ = acknowledge(orange, "duty1", "", NOW + 120)
    assert IncidentView(incident, (red_acked, orange_acked)).status is AlertStatus.ACKNOWLEDGED
    red_closed, _ = clear(red_acked, NOW + 300)
    # Severity is the worst *open* member's: the red one is closed.
    assert IncidentView(incident, (red_closed, orange_acked)).level is Level.ORANGE
    cleared, _ = clear(orange, NOW + 300)
    assert incident_status([red_closed, cleared]) is AlertStatus.CLEARED
    resolved, _ = resolve(cleared, "duty1", "done", NOW + 400)
    assert (
        incident_status([resolved]) is AlertStatus.RESOLVED
        and incident_status([red_closed, resolved]) is AlertStatus.CLOSED
    )


def test_live_red_incidents_come_before_acknowledged_and_stale_red_ones() -> None:
    def single(sign_id: str, at: float, level: Level, status: AlertStatus, name: str) -> IncidentView:
        alert = replace(_alert(sign_id, at, level, alert_id=name), status=status)
        return IncidentView(open_incident(GroupKey("420624", name), alert, at), (alert,))

    stale_red = single(RAIN, NOW + 50, Level.RED, AlertStatus.CLEARED, "stale")
    live_blue = single(POWER, NOW, Level.BLUE, AlertStatus.RAISED, "blue")
    live_red = single(RESERVOIR, NOW - 100, Level.RED, AlertStatus.RAISED, "red")
    acked_red = single(SIGNAL, NOW + 10, Level.RED, AlertStatus.ACKNOWLEDGED, "acked")
    order = [v.incident.cause for v in pressing_incidents([stale_red, acked_red, live_blue, live_red])]
    assert order == ["red", "blue", "acked", "stale"]


def test_an_incident_is_silenced_only_when_every_open_member_is() -> None:
    silence = Silence("s1", SilenceScope.DISTRICT, "420624", NOW + 3_600, "maintenance", "duty1", NOW)
    quiet, loud = replace(_alert(RAIN, NOW), silence=silence), _alert(RESERVOIR, NOW)
    incident = join(open_incident(GroupKey("420624", "M13"), quiet, NOW), loud, NOW)
    assert not IncidentView(incident, (quiet, loud)).silenced
    assert IncidentView(incident, (quiet, replace(loud, silence=silence))).silenced


def test_an_alert_stored_before_incidents_existed_shows_as_an_incident_of_its_own() -> None:
    old = _alert(POWER, NOW)
    assert old.incident == ""
    shown = standalone(old)
    assert shown.id == f"inc-{old.id}" and shown.members == (old,) and shown.count == 1
    assert shown.district == "420624" and shown.level == Level.RED and shown.status is AlertStatus.RAISED
    assert shown.title("zh") == "南漳县 · 供电 · 1 条告警"
    unknown = replace(old, sign_id="XY.T.M05.T99", name="旧告警")  # a sign since removed from the catalogue
    assert standalone(unknown).title("zh") == "南漳县 · 旧告警 · 1 条告警"
