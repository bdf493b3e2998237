"""The duty log built from audit transitions, sign-in events and alert documents: who was on duty, the story,
what was open at handover, the window from the URL, and the CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

import pytest

from alerts.dutylog import (
    DEFAULT_SHIFT_S,
    AuthEvent,
    build_duty_log,
    closed_at,
    duty_log_table,
    open_at,
    parse_window,
    transition_note,
    window_text,
)
from alerts.model import ENGINE_USER, Action, Alert, AlertStatus, Deadlines, Event, RuleKind, Transition
from signs.export import csv_bytes
from signs.model import Level

START = 1_779_580_800.0  # 2026-05-24 08:00 Beijing
END = START + DEFAULT_SHIFT_S
SIGN = "XY.S.M13.S45.stn:AWS07"


def _alert(
    alert_id: str,
    raised_at: float,
    status: AlertStatus = AlertStatus.RAISED,
    level: Level = Level.RED,
    **changes: Any,
) -> Alert:
    alert = Alert(
        id=alert_id, rule=RuleKind.THRESHOLD, sign_id=SIGN, name="太平店自动站 1小时降水量", unit="mm",
        district="420606", level=level, peak_level=level, value=52.5, threshold=50.0, since=raised_at,
        raised_at=raised_at, updated_at=raised_at, status=status,
        due=Deadlines(raised_at + 1800, raised_at + 7200, raised_at + 86_400),
    )  # fmt: skip
    return replace(alert, **changes)


def _transition(
    event: Event, at: float, by: str = ENGINE_USER, alert_id: str = "a1", note: str = "", **extra: Any
) -> Transition:
    return Transition(
        event=event, at=at, by=by, note=note, alert_id=alert_id, sign_id=SIGN, district="420606", level="red", **extra
    )


def test_the_log_names_who_was_on_duty_and_what_they_did() -> None:
    transitions = [
        _transition(Event.RAISED, START + 60, status="raised"),
        _transition(Event.ACKNOWLEDGED, START + 300, "wang", note="crew sent", status="acknowledged"),
        _transition(Event.ESCALATED, START + 1900, alert_id="a2", escalation=1),
        _transition(Event.RESOLVED, START + 3600, "li", note="drain cleared", status="resolved"),
        _transition(Event.RAISED, START - 60),  # before the shift: not in its story
    ]
    sessions = [
        AuthEvent(START + 10, "login", "wang"),
        AuthEvent(START + 20, "login-failed", "mallory"),
        AuthEvent(START + 4000, "logout", "wang"),
        AuthEvent(START + 30, "login", "zhao"),
    ]
    log = build_duty_log(START, END, transitions, sessions, [], {"wang": "王值班"})
    assert [(p.username, p.display_name, p.signed_in, p.signed_out, p.actions) for p in log.on_duty] == [
        ("li", "li", None, None, 1),  # acted without signing in during the shift: signed in before it
        ("wang", "王值班", START + 10, START + 4000, 1),
        ("zhao", "zhao", START + 30, None, 0),
    ]
    assert [s.event for s in log.sessions] == ["login", "login", "logout"]
    assert [t.event for t in log.transitions] == [Event.RAISED, Event.ACKNOWLEDGED, Event.ESCALATED, Event.RESOLVED]
    assert log.counts == {
        "raised": 1,
        "acknowledged": 1,
        "assigned": 0,
        "resolved": 1,
        "escalated": 1,
        "cleared": 0,
        "silence-added": 0,
    }


def test_an_assignment_is_in_the_story_and_the_export_with_who_it_went_to() -> None:
    assigned = _transition(Event.ASSIGNED, START + 120, "wang", note="you know the area", assignee="li")
    log = build_duty_log(START, END, [assigned], [], [], {})
    assert log.counts["assigned"] == 1 and [p.username for p in log.on_duty] == ["wang"]
    assert transition_note(assigned, "zh") == "指派给 li · you know the area"
    assert transition_note(replace(assigned, note=""), "en") == "assigned to li"
    exported = csv_bytes(duty_log_table(log, "en")).decode("utf-8-sig")
    assert "assigned to li · you know the area" in exported and "assigned" in exported


def test_signing_in_again_after_signing_out_counts_as_still_on_duty() -> None:
    sessions = [
        AuthEvent(START + 10, "login", "wang"),
        AuthEvent(START + 20, "logout", "wang"),
        AuthEvent(START + 30, "login", "wang"),
    ]
    [wang] = build_duty_log(START, END, [], sessions, [], {}).on_duty
    assert (wang.signed_in, wang.signed_out) == (START + 10, None)


def test_handover_lists_what_was_open_at_the_end_of_the_shift() -> None:
    still_open = _alert("open", START + 100, level=Level.YELLOW)
    older_red = _alert("red", START - 3600)
    resolved_after = _alert("later", START + 200, AlertStatus.RESOLVED, resolved=Action("li", END + 600, "done"))
    resolved_before = _alert("done", START + 200, AlertStatus.RESOLVED, resolved=Action("li", END - 600, "done"))
    closed_after = _alert(
        "closed", START + 300, AlertStatus.CLOSED, acknowledged=Action("wang", START + 400, ""), cleared_at=END + 5
    )
    raised_after = _alert("new", END + 60)
    alerts = [still_open, older_red, resolved_after, resolved_before, closed_after, raised_after, still_open]
    log = build_duty_log(START, END, [], [], alerts, {})
    assert [a.id for a in log.open_at_handover] == ["red", "later", "closed", "open"]  # most severe, then oldest


def test_closed_at_is_the_moment_an_alert_became_final() -> None:
    assert closed_at(_alert("a", START)) is None
    assert closed_at(_alert("a", START, AlertStatus.RESOLVED, resolved=Action("li", START + 50, "x"))) == START + 50
    cleared_then_acknowledged = _alert(
        "a", START, AlertStatus.CLOSED, cleared_at=START + 10, acknowledged=Action("w", START + 90, "")
    )
    assert closed_at(cleared_then_acknowledged) == START + 90
    assert open_at(cleared_then_acknowledged, START + 89) and not open_at(cleared_then_acknowledged, START + 90)


def test_the_window_defaults_to_the_last_twelve_hours_and_refuses_nonsense() -> None:
    now = START + 5 * 86_400
    assert parse_window(None, None, now) == (now - DEFAULT_SHIFT_S, now)
    assert parse_window("2026-05-24T08:00", None, now) == (START, START + DEFAULT_SHIFT_S)
    assert parse_window("2026-05-24T08:00", "2026-05-24T20:00", now) == (START, END)
    assert window_text(START) == "2026-05-24T08:00"
    for start, end in [
        ("2026-05-24T20:00", "2026-05-24T08:00"),
        ("yesterday", None),
        ("2026-05-01T08:00", "2026-05-24T08:00"),
    ]:
        with pytest.raises(ValueError):
            parse_window(start, end, now)


def test_the_csv_export_is_utf8_with_a_bom_in_time_order_with_the_handover_last() -> None:
    transitions = [
        _transition(Event.ACKNOWLEDGED, START + 300, "wang", note='已派人, "抢修"', status="acknowledged"),
        _transition(Event.RAISED, START + 60, status="raised"),
        _transition(Event.ESCALATED, START + 1900, escalation=1, status="raised"),
    ]
    log = build_duty_log(
        START, END, transitions, [AuthEvent(START + 10, "login", "wang", "10.0.0.5")], [_alert("a1", START + 60)], {}
    )
    data = csv_bytes(duty_log_table(log, "zh"))
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["时间", "类别", "事件", "人员", "告警编号", "指标", "区县", "级别", "状态", "说明"]
    assert [(r[0], r[1], r[2], r[3]) for r in rows[1:]] == [
        ("2026-05-24 08:00:10", "值班", "登录", "wang"),
        ("2026-05-24 08:01:00", "告警", "产生", "engine"),
        ("2026-05-24 08:05:00", "告警", "确认", "wang"),
        ("2026-05-24 08:31:40", "告警", "升级", "engine"),
        ("2026-05-24 08:01:00", "交接时未关闭", "产生", ""),
    ]
    assert rows[3][9] == '已派人, "抢修"' and rows[3][6] == "樊城区" and rows[3][8] == "已确认"
    assert rows[4][9] == "响应超时"
    english = list(csv.reader(io.StringIO(csv_bytes(duty_log_table(log, "en")).decode("utf-8-sig"))))
    assert english[0][0] == "Time" and english[2][2] == "raised"
