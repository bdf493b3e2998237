"""The duty log (值班日志) of a shift: who was on duty, what was raised, acknowledged, resolved, escalated and
silenced, and which alerts were still open at handover, so that a leader asking "who did what, and when" gets
one answer on the page and in the export.

Built by pure functions from three records: the alerts' audit stream (alerts.store.read_audit), the sign-in log
(KEY_AUTH_LOG, written by auth.store.log_event) and the alert documents. `read_duty_log` is the one function
here that reads Redis; given a district leader's scope (auth.scope) it keeps only that district's alerts and
silences, and counts only what was done to them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

import redis

from alerts.escalation import Stage
from alerts.model import ENGINE_USER, Alert, AlertStatus, Event, Transition
from alerts.store import StreamEntry, list_active, list_recent, read_audit
from auth.scope import WHOLE_CITY, Scope
from auth.store import list_users
from signs.catalogue import catalogue
from signs.drill import district_name, sign_name
from signs.export import Moment, Table
from signs.keys import KEY_AUTH_LOG
from signs.urlstate import MomentFormat

DEFAULT_SHIFT_S = 12 * 3_600.0
LONGEST_WINDOW_S = 7 * 86_400.0
# A window holding more audit entries than this is cut (and says so): a busy day has about a thousand.
MAX_AUDIT_ENTRIES = 20_000
# Closed alerts changed after the handover are looked for among this many most recently changed ones.
HANDOVER_LOOKBACK = 2_000
# The URL's from/to: Beijing wall clock to the minute, as a datetime-local input writes it.
WINDOW = MomentFormat("%Y-%m-%dT%H:%M", r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}", "2026-05-24T08:00")
SIGN_IN, SIGN_OUT = "login", "logout"
# What the summary counts, in the order a shift's story is told.
COUNTED_EVENTS = (
    Event.RAISED,
    Event.ACKNOWLEDGED,
    Event.ASSIGNED,
    Event.RESOLVED,
    Event.ESCALATED,
    Event.CLEARED,
    Event.SILENCE_ADDED,
)

EVENT_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        Event.RAISED: "产生", Event.LEVEL_CHANGED: "级别变化", Event.CLEARED: "恢复正常", Event.ACKNOWLEDGED: "确认",
        Event.RESOLVED: "处置完毕", Event.ESCALATED: "升级", Event.SILENCED: "被静默", Event.UNSILENCED: "解除静默",
        Event.SILENCE_ADDED: "设置静默", Event.SILENCE_LIFTED: "提前解除静默", Event.SILENCE_EXPIRED: "静默到期",
        Event.ASSIGNED: "指派", SIGN_IN: "登录", SIGN_OUT: "退出",
    },
    "en": {
        Event.RAISED: "raised", Event.LEVEL_CHANGED: "level changed", Event.CLEARED: "back to normal",
        Event.ACKNOWLEDGED: "acknowledged", Event.RESOLVED: "resolved", Event.ESCALATED: "escalated",
        Event.SILENCED: "silenced", Event.UNSILENCED: "unsilenced", Event.SILENCE_ADDED: "silence set",
        Event.SILENCE_LIFTED: "silence lifted", Event.SILENCE_EXPIRED: "silence expired",
        Event.ASSIGNED: "assigned", SIGN_IN: "signed in", SIGN_OUT: "signed out",
    },
}  # fmt: skip
STATUS_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        AlertStatus.RAISED: "未确认", AlertStatus.ACKNOWLEDGED: "已确认", AlertStatus.CLEARED: "已恢复待确认",
        AlertStatus.RESOLVED: "已处置", AlertStatus.CLOSED: "已关闭",
    },
    "en": {
        AlertStatus.RAISED: "unacknowledged", AlertStatus.ACKNOWLEDGED: "acknowledged",
        AlertStatus.CLEARED: "recovered, unacknowledged", AlertStatus.RESOLVED: "resolved",
        AlertStatus.CLOSED: "closed",
    },
}  # fmt: skip
LEVEL_LABELS = {
    "zh": {"blue": "蓝", "yellow": "黄", "orange": "橙", "red": "红"},
    "en": {"blue": "blue", "yellow": "yellow", "orange": "orange", "red": "red"},
}
CSV_COLUMNS: dict[str, list[str]] = {
    "zh": ["时间", "类别", "事件", "人员", "告警编号", "指标", "区县", "级别", "状态", "说明"],
    "en": ["Time", "Section", "Event", "Person", "Alert", "Sign", "District", "Level", "Status", "Note"],
}
CSV_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "值班日志",
        "duty": "值班", "alert": "告警", "handover": "交接时未关闭", "window": "时段", "truncated": "记录过多，已截断",
    },
    "en": {
        "title": "Duty log",
        "duty": "duty", "alert": "alert", "handover": "open at handover", "window": "window",
        "truncated": "too many entries: cut",
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuthEvent:
    """One entry of the sign-in log."""

    at: float
    event: str
    username: str
    remote: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[bytes, bytes]) -> AuthEvent:
        text = {key.decode(): value.decode() for key, value in fields.items()}
        return cls(float(text["at"]), text["event"], text["username"], text.get("remote", ""))


@dataclass(frozen=True, slots=True)
class OnDuty:
    """A person who signed in, signed out or acted during the shift."""

    username: str
    display_name: str
    signed_in: float | None  # first sign-in within the shift; None: signed in before it
    signed_out: float | None  # last sign-out within the shift; None: still signed in at its end
    actions: int  # transitions they made: acknowledgements, resolutions, silences


@dataclass(frozen=True, slots=True)
class DutyLog:
    start: float
    end: float
    on_duty: list[OnDuty]
    sessions: list[AuthEvent]  # sign-ins and sign-outs, oldest first
    transitions: list[Transition]  # every alert and silence transition, oldest first
    counts: dict[str, int]  # per COUNTED_EVENTS value
    open_at_handover: list[Alert]  # most severe first, then the oldest
    truncated: bool  # more than MAX_AUDIT_ENTRIES in the window: the story is cut at its end


def parse_window(from_text: str | None, to_text: str | None, now: float) -> tuple[float, float]:
    """The shift window from the URL's from/to (Beijing time, WINDOW): by default the last DEFAULT_SHIFT_S, ending
    now; a `from` alone covers DEFAULT_SHIFT_S from it. Raises ValueError (a signs.urlstate.QueryError for a
    malformed time) for a malformed, empty, reversed or overlong window."""
    end: float | None = WINDOW.parse(to_text, "to") if to_text else None
    start: float | None = WINDOW.parse(from_text, "from") if from_text else None
    if end is None:
        end = min(now, start + DEFAULT_SHIFT_S) if start is not None else now
    if start is None:
        start = end - DEFAULT_SHIFT_S
    if not start < end:
        raise ValueError("the shift must start before it ends")
    if end - start > LONGEST_WINDOW_S:
        raise ValueError(f"a duty log covers at most {LONGEST_WINDOW_S / 86_400:.0f} days")
    return start, end


def window_text(ts: float) -> str:
    return WINDOW.format(ts)


def closed_at(alert: Alert) -> float | None:
    """When an alert became final: its resolution, or for a closed one the later of its acknowledgement and its
    clearing; None while it is open."""
    if alert.status is AlertStatus.RESOLVED and alert.resolved is not None:
        return alert.resolved.at
    if alert.status is AlertStatus.CLOSED:
        return max(alert.acknowledged.at if alert.acknowledged else 0.0, alert.cleared_at or 0.0) or alert.updated_at
    return None


def open_at(alert: Alert, moment: float) -> bool:
    closed = closed_at(alert)
    return alert.raised_at <= moment and (closed is None or closed > moment)


def build_duty_log(
    start: float,
    end: float,
    transitions: Iterable[Transition],
    auth_events: Iterable[AuthEvent],
    alerts: Iterable[Alert],
    display_names: Mapping[str, str],
    *,
    truncated: bool = False,
) -> DutyLog:
    """The shift's log. `alerts` are candidates for the handover list (open now, or changed since the shift
    ended); only those open at `end` are kept."""
    story = sorted((t for t in transitions if start <= t.at <= end), key=lambda t: (t.at, t.entry_id))
    sessions = sorted(
        (e for e in auth_events if start <= e.at <= end and e.event in (SIGN_IN, SIGN_OUT)), key=lambda e: e.at
    )
    actions = Counter(t.by for t in story if t.by != ENGINE_USER)
    people: dict[str, tuple[float | None, float | None]] = {}
    for event in sessions:
        signed_in, signed_out = people.get(event.username, (None, None))
        if event.event == SIGN_IN and signed_in is None:
            signed_in = event.at
        if event.event == SIGN_OUT:
            signed_out = event.at
        elif signed_out is not None and event.at > signed_out:
            signed_out = None  # signed in again after signing out: on duty at the end
        people[event.username] = (signed_in, signed_out)
    for username in actions:
        people.setdefault(username, (None, None))
    on_duty = [
        OnDuty(name, display_names.get(name, name), signed_in, signed_out, actions.get(name, 0))
        for name, (signed_in, signed_out) in sorted(people.items(), key=lambda item: (item[1][0] or start, item[0]))
    ]
    counted = Counter(t.event.value for t in story)
    unique = {alert.id: alert for alert in alerts}
    handover = sorted((a for a in unique.values() if open_at(a, end)), key=lambda a: (-int(a.level), a.raised_at))
    return DutyLog(
        start=start,
        end=end,
        on_duty=on_duty,
        sessions=sessions,
        transitions=story,
        counts={event.value: counted.get(event.value, 0) for event in COUNTED_EVENTS},
        open_at_handover=handover,
        truncated=truncated,
    )


def _sign_label(sign_id: str, lang: str) -> str:
    sign = catalogue().signs.get(sign_id)
    return sign_name(sign, lang) if sign is not None else sign_id


def stage_label(escalation: int, lang: str) -> str:
    """响应超时 / "response overdue"...; empty before any escalation."""
    stage = Stage(escalation)
    if stage is Stage.NONE:
        return ""
    return stage.en if lang == "en" else stage.zh


ASSIGNED_TO = {"zh": "指派给 {to}", "en": "assigned to {to}"}


def transition_note(transition: Transition, lang: str) -> str:
    """The note as a reader wants it: the officer's words, the stage an escalation reached, or who an alert was
    assigned to (with the officer's words)."""
    if transition.event is Event.ESCALATED:
        return stage_label(transition.escalation, lang)
    if transition.event is Event.ASSIGNED:
        to = ASSIGNED_TO["en" if lang == "en" else "zh"].format(to=transition.assignee)
        return f"{to} · {transition.note}" if transition.note else to
    return transition.note


def duty_log_table(log: DutyLog, lang: str) -> Table:
    """One flat table, filterable in a spreadsheet by its section column: people, transitions, handover."""
    lang = "en" if lang == "en" else "zh"
    words, events, statuses, levels = CSV_TEXT[lang], EVENT_LABELS[lang], STATUS_LABELS[lang], LEVEL_LABELS[lang]
    rows: list[list[object]] = []
    for session in log.sessions:
        rows.append(
            [
                Moment(session.at),
                words["duty"],
                events[session.event],
                session.username,
                "",
                "",
                "",
                "",
                "",
                session.remote,
            ]
        )
    for t in log.transitions:
        rows.append([
            Moment(t.at), words["alert"], events[t.event], t.by, t.alert_id or t.silence_id,
            _sign_label(t.sign_id, lang) if t.sign_id else "", district_name(t.district, lang) if t.district else "",
            levels.get(t.level, ""), statuses.get(t.status, ""), transition_note(t, lang),
        ])  # fmt: skip
    rows.sort(key=lambda row: cast(Moment, row[0]).ts)
    for alert in log.open_at_handover:
        rows.append([
            Moment(alert.raised_at), words["handover"], events[Event.RAISED],
            alert.acknowledged.by if alert.acknowledged else "", alert.id, _sign_label(alert.sign_id, lang),
            district_name(alert.district, lang), levels[alert.level.en], statuses[alert.status],
            stage_label(alert.escalation, lang),
        ])  # fmt: skip
    notes = [(words["window"], f"{window_text(log.start)} – {window_text(log.end)}")]
    if log.truncated:
        notes.append((words["truncated"], str(MAX_AUDIT_ENTRIES)))
    return Table(title=words["title"], columns=CSV_COLUMNS[lang], rows=rows, notes=notes)


def read_auth_events(client: redis.Redis, start: float, end: float) -> list[AuthEvent]:
    """Sign-in log entries written between start and end, oldest first (the stream's ids are its write times)."""
    entries = cast(
        list[StreamEntry],
        client.xrange(KEY_AUTH_LOG, f"{int(start * 1000)}-0", f"{int(end * 1000)}-18446744073709551615"),
    )
    return [AuthEvent.from_fields(fields) for _, fields in entries]


def read_duty_log(
    client: redis.Redis, start: float, end: float, *, now: float | None = None, scope: Scope = WHOLE_CITY
) -> DutyLog:
    """The log of [start, end] as `scope` may read it: sign-ins and sign-outs are everyone's, alerts, silences
    and the actions on them only those of the scope's district."""
    now = time.time() if now is None else now
    transitions = read_audit(client, start=start, end=end, count=MAX_AUDIT_ENTRIES)
    candidates = list_active(client)
    if end < now:
        # Alerts closed since the handover were open at it; the recent index holds them, newest change first.
        candidates += [a for a in list_recent(client, limit=HANDOVER_LOOKBACK) if a.updated_at > end]
    return build_duty_log(
        start,
        end,
        [t for t in transitions if scope.covers_transition(t)],
        read_auth_events(client, start, end),
        [a for a in candidates if scope.covers_alert(a)],
        {user.username: user.display_name for user in list_users(client)},
        truncated=len(transitions) >= MAX_AUDIT_ENTRIES,
    )
