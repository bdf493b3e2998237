"""Alerts as data: rule kinds, lifecycle states, the alert document, its transitions, silences and rule state.

Everything here is a frozen value with its own encoding; docs/alerts.md shows the encodings and
signs/keys.py the Redis keys that hold them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import orjson

from auth.names import check_username
from feeds.contract import TOPIC_ROOT
from signs.model import Level

# `by` of the transitions the engine makes on its own (raise, level change, clear, escalation, expiry).
ENGINE_USER = "engine"
TOPIC_ALERTS = f"{TOPIC_ROOT}/alerts"
LEVEL_BY_NAME: dict[str, Level] = {level.en: level for level in Level}


class RuleKind(StrEnum):
    THRESHOLD = "threshold"  # the catalogue's 蓝/黄/橙/红 bounds, with hysteresis and minimum durations
    CAMERA = "camera"  # a district's camera online rate: the same bounds, raised only once a dip lasts
    CMA = "cma"  # a CMA weather warning signal (0 none, 1 blue ... 4 red), raised and lifted as issued
    NO_DATA = "nodata"  # a sensor silent for several of its cadences


class AlertStatus(StrEnum):
    RAISED = "raised"  # the condition holds and nobody has acknowledged it
    ACKNOWLEDGED = "acknowledged"  # the condition holds and an officer has acknowledged it
    CLEARED = "cleared"  # the value returned to normal before anyone acknowledged: open until someone does
    RESOLVED = "resolved"  # an officer resolved it with a note
    CLOSED = "closed"  # cleared and acknowledged, in either order

    @property
    def is_open(self) -> bool:
        """Open alerts are the ones on the wall and in the active list."""
        return self in (AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED, AlertStatus.CLEARED)

    @property
    def condition_holds(self) -> bool:
        return self in (AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED)


class Event(StrEnum):
    """What an audit entry records."""

    RAISED = "raised"
    LEVEL_CHANGED = "level-changed"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    SILENCED = "silenced"
    UNSILENCED = "unsilenced"
    SILENCE_ADDED = "silence-added"
    SILENCE_LIFTED = "silence-lifted"
    SILENCE_EXPIRED = "silence-expired"
    ASSIGNED = "assigned"


class SilenceScope(StrEnum):
    SIGN = "sign"
    DISTRICT = "district"


@dataclass(frozen=True, slots=True)
class Deadlines:
    """When the response, handling and feedback limits of an alert pass (epoch seconds)."""

    response: float
    handling: float
    feedback: float


@dataclass(frozen=True, slots=True)
class Action:
    """An officer's act on an alert: who, when, and the note they wrote."""

    by: str
    at: float
    note: str


@dataclass(frozen=True, slots=True)
class Assignment:
    """Who an alert (or an incident) is assigned to, by whom, when, and the note they wrote."""

    to: str
    by: str
    at: float
    note: str

    def as_json(self) -> dict[str, Any]:
        return {"to": self.to, "by": self.by, "at": self.at, "note": self.note}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> Assignment | None:
        return cls(doc["to"], doc["by"], float(doc["at"]), doc["note"]) if doc else None


@dataclass(frozen=True, slots=True)
class Silence:
    """A bounded silence of one sign or one district, for maintenance. Silenced alerts are recorded and shown
    as silenced; they are only spared escalation."""

    id: str
    scope: SilenceScope
    target: str  # a sign id or a district adcode
    until: float
    reason: str
    by: str
    created_at: float

    def covers(self, sign_id: str, district: str, now: float) -> bool:
        if now >= self.until:
            return False
        return self.target == (sign_id if self.scope is SilenceScope.SIGN else district)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope.value,
            "target": self.target,
            "until": self.until,
            "reason": self.reason,
            "by": self.by,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Silence:
        return cls(
            id=doc["id"],
            scope=SilenceScope(doc["scope"]),
            target=doc["target"],
            until=float(doc["until"]),
            reason=doc["reason"],
            by=doc["by"],
            created_at=float(doc["created_at"]),
        )


def covering_silence(silences: Iterable[Silence], sign_id: str, district: str, now: float) -> Silence | None:
    """Of the silences covering a sign now, the one that lasts longest."""
    covering = [s for s in silences if s.covers(sign_id, district, now)]
    return max(covering, key=lambda s: (s.until, s.id)) if covering else None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, from raise to close. `version` grows by one with every transition."""

    id: str
    rule: RuleKind
    sign_id: str
    name: str  # the sign's Chinese name when raised, for MQTT followers; pages render alerts.display's instead
    unit: str
    district: str  # the sign's district adcode; the city's for citywide signs
    level: Level
    peak_level: Level
    value: float  # the reading that set the current level (for no-data: the last value heard)
    threshold: float | None  # the catalogue bound of `level`; None for no-data
    since: float  # source time at which the condition began
    raised_at: float
    updated_at: float
    status: AlertStatus
    due: Deadlines
    escalation: int = 0  # alerts.escalation.Stage reached: 0 none, 1 response, 2 handling, 3 feedback overdue
    acknowledged: Action | None = None
    resolved: Action | None = None
    cleared_at: float | None = None
    silence: Silence | None = None
    version: int = 1
    incident: str = ""  # the incident it was grouped into when raised (alerts.incidents); "" before grouping
    assignee: Assignment | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule.value,
            "sign_id": self.sign_id,
            "name": self.name,
            "unit": self.unit,
            "district": self.district,
            "level": self.level.en,
            "level_zh": self.level.zh,
            "peak_level": self.peak_level.en,
            "value": self.value,
            "threshold": self.threshold,
            "since": self.since,
            "raised_at": self.raised_at,
            "updated_at": self.updated_at,
            "status": self.status.value,
            "open": self.status.is_open,
            "due": {"response": self.due.response, "handling": self.due.handling, "feedback": self.due.feedback},
            "escalation": self.escalation,
            "acknowledged": _action_json(self.acknowledged),
            "resolved": _action_json(self.resolved),
            "cleared_at": self.cleared_at,
            "silence": self.silence.as_json() if self.silence else None,
            "version": self.version,
            "incident": self.incident,
            "assignee": self.assignee.as_json() if self.assignee else None,
        }

    def encode(self) -> str:
        return orjson.dumps(self.as_json()).decode()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Alert:
        due = doc["due"]
        return cls(
            id=doc["id"],
            rule=RuleKind(doc["rule"]),
            sign_id=doc["sign_id"],
            name=doc["name"],
            unit=doc["unit"],
            district=doc["district"],
            level=LEVEL_BY_NAME[doc["level"]],
            peak_level=LEVEL_BY_NAME[doc["peak_level"]],
            value=float(doc["value"]),
            threshold=None if doc["threshold"] is None else float(doc["threshold"]),
            since=float(doc["since"]),
            raised_at=float(doc["raised_at"]),
            updated_at=float(doc["updated_at"]),
            status=AlertStatus(doc["status"]),
            due=Deadlines(float(due["response"]), float(due["handling"]), float(due["feedback"])),
            escalation=int(doc["escalation"]),
            acknowledged=_action(doc["acknowledged"]),
            resolved=_action(doc["resolved"]),
            cleared_at=None if doc["cleared_at"] is None else float(doc["cleared_at"]),
            silence=Silence.from_json(doc["silence"]) if doc["silence"] else None,
            version=int(doc["version"]),
            incident=doc.get("incident") or "",  # alerts raised before incidents existed have neither
            assignee=Assignment.from_json(doc.get("assignee")),
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Alert:
        return cls.from_json(orjson.loads(raw))


def _action_json(action: Action | None) -> dict[str, Any] | None:
    return {"by": action.by, "at": action.at, "note": action.note} if action else None


def _action(doc: Mapping[str, Any] | None) -> Action | None:
    return Action(doc["by"], float(doc["at"]), doc["note"]) if doc else None


def new_alert_id(rule: RuleKind, sign_id: str, ts: float) -> str:
    """Stable and URL-safe ([a-z0-9-]): the rule, the microsecond of the reading (or tick) that raised it in hex,
    and a digest of the sign. Engines evaluating the same readings derive the same id."""
    digest = hashlib.blake2b(sign_id.encode(), digest_size=5).hexdigest()
    return f"{rule.value}-{int(ts * 1_000_000):x}-{digest}"


def alert_topic(alert_id: str) -> str:
    return f"{TOPIC_ALERTS}/{alert_id}"


def retained_payload(alert: Alert) -> bytes:
    """What stays retained on the alert's topic: its current state while open; nothing once it is closed (and
    so acknowledged), because an empty retained message deletes the retained one and the alert leaves the set a
    newly subscribing system receives. The audit stream keeps the whole story."""
    return alert.encode().encode() if alert.status.is_open else b""


# The order of the wall's strip, the alerts page and the API, for alerts and incidents alike: the condition
# holding and nobody acknowledged, then acknowledged, and only then recovered but unacknowledged, so that a
# stale red never pushes a live red off the strip; closed last. Within a rank: the most severe, then the newest.
PRESSING_RANK = {
    AlertStatus.RAISED: 0,
    AlertStatus.ACKNOWLEDGED: 1,
    AlertStatus.CLEARED: 2,
    AlertStatus.RESOLVED: 3,
    AlertStatus.CLOSED: 3,
}


def pressing_key(status: AlertStatus, level: Level, newest: float) -> tuple[int, int, float]:
    """Sort key of the one pressing order (PRESSING_RANK); `newest` is the raise (or latest raise) time, or for
    what is closed the last change: the most recently closed first, whatever its level."""
    rank = PRESSING_RANK[status]
    return rank, -int(level) if status.is_open else 0, -newest


def pressing_first(alerts: Iterable[Alert]) -> list[Alert]:
    """Alerts in the pressing order; closed ones by when they last changed, the most recent first."""
    return sorted(
        alerts,
        key=lambda a: pressing_key(a.status, a.level, a.raised_at if a.status.is_open else a.updated_at),
    )


def severity_counts(alerts: Iterable[Alert]) -> dict[str, int]:
    """Open alerts per level name, every level present, for the wall's counters."""
    counts = Counter(alert.level.en for alert in alerts if alert.status.is_open)
    return {level.en: counts.get(level.en, 0) for level in Level if level is not Level.NORMAL}


@dataclass(frozen=True, slots=True)
class Transition:
    """One audit entry: an alert's transition or a silence's. Fields that do not apply are empty."""

    event: Event
    at: float
    by: str
    note: str = ""
    alert_id: str = ""
    sign_id: str = ""
    rule: str = ""
    district: str = ""
    level: str = ""
    status: str = ""
    escalation: int = 0
    silence_id: str = ""
    incident_id: str = ""
    assignee: str = ""  # who the alert is assigned to after this transition
    entry_id: str = ""  # the audit stream's entry id once read back; never written

    def as_fields(self) -> dict[str, str]:
        """Flat text fields for XADD (entry_id is Redis' own)."""
        out = {name: str(getattr(self, name)) for name in _TRANSITION_FIELDS}
        out["event"] = self.event.value
        out["at"] = repr(self.at)
        return out

    @classmethod
    def from_fields(cls, doc: Mapping[bytes, bytes] | Mapping[str, str], entry_id: str = "") -> Transition:
        text = {_text(k): _text(v) for k, v in doc.items()}
        return cls(
            event=Event(text["event"]),
            at=float(text["at"]),
            by=text["by"],
            note=text.get("note", ""),
            alert_id=text.get("alert_id", ""),
            sign_id=text.get("sign_id", ""),
            rule=text.get("rule", ""),
            district=text.get("district", ""),
            level=text.get("level", ""),
            status=text.get("status", ""),
            escalation=int(text.get("escalation", "0")),
            silence_id=text.get("silence_id", ""),
            incident_id=text.get("incident_id", ""),
            assignee=text.get("assignee", ""),
            entry_id=entry_id,
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Transition:
        return cls.from_fields(orjson.loads(raw))

    def as_json(self) -> dict[str, Any]:
        return {**self.as_fields(), "at": self.at, "escalation": self.escalation, "entry_id": self.entry_id}


# What an audit entry stores: every field but the id Redis gives it.
_TRANSITION_FIELDS = tuple(f.name for f in fields(Transition) if f.name != "entry_id")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def alert_transition(alert: Alert, event: Event, at: float, by: str, note: str = "") -> Transition:
    """The audit entry of a transition that produced `alert`. `by` is a user name (auth.names), checked here
    because every record of who acted passes through here or silence_transition: none can carry markup."""
    return Transition(
        event=event,
        at=at,
        by=check_username(by),
        note=note,
        alert_id=alert.id,
        sign_id=alert.sign_id,
        rule=alert.rule.value,
        district=alert.district,
        level=alert.level.en,
        status=alert.status.value,
        escalation=alert.escalation,
        silence_id=alert.silence.id if alert.silence else "",
        incident_id=alert.incident,
        assignee=alert.assignee.to if alert.assignee else "",
    )


def silence_transition(silence: Silence, event: Event, at: float, by: str) -> Transition:
    on_sign = silence.scope is SilenceScope.SIGN
    return Transition(
        event=event,
        at=at,
        by=check_username(by),
        note=silence.reason,
        sign_id=silence.target if on_sign else "",
        district="" if on_sign else silence.target,
        silence_id=silence.id,
    )


@dataclass(frozen=True, slots=True)
class RuleState:
    """What one rule remembers about one sign between readings (KEY_ALERT_STATE).

    `level` is the level the condition stands at (what the alert shows); `since` is the source time at which
    a pending change began: a breach not yet lasting long enough to raise, or a fall not yet lasting long
    enough to step down or clear (0: nothing pending). `alert_id` is the active alert, empty when there is
    none, including after an officer resolved it while the condition still held.
    """

    level: Level = Level.NORMAL
    since: float = 0.0
    last_ts: float = 0.0
    value: float = 0.0
    alert_id: str = ""

    @property
    def is_quiet(self) -> bool:
        """Normal with nothing pending: nothing worth storing."""
        return self.level == Level.NORMAL and not self.since and not self.alert_id

    def encode(self) -> str:
        return f"{int(self.level)}|{self.since!r}|{self.last_ts!r}|{self.value!r}|{self.alert_id}"

    @classmethod
    def decode(cls, raw: bytes | str | None) -> RuleState:
        if raw is None:
            return QUIET
        level, since, last_ts, value, alert_id = _text(raw).split("|")
        return cls(Level(int(level)), float(since), float(last_ts), float(value), alert_id)


QUIET = RuleState()
