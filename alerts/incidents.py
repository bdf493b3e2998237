"""Incidents: alerts with one cause, grouped, in the spirit of Prometheus Alertmanager's grouping. Pure: no Redis,
no clock (`now` is an argument); alerts.store keeps incidents in Redis and calls these.

An alert is grouped when it is raised, by its district (the city's for city-wide signs) and a cause:
- under an active CMA warning signal, the weather-driven signs the signal's type covers (GroupingRules.signals:
  a red rainstorm signal groups a district's rain, river, reservoir and waterlogging alerts) share the cause
  `signal:<type>`; a signal issued for the city (XY.S.M13.S48.sig:<type>) is in force in every district;
- otherwise the sign's module (`M08`).
It joins the group's current incident while that incident is open and one of its members still holds or
changed within GroupingRules.window_s (group_interval, roughly); otherwise it opens a new one. An incident so
belongs to one district, or to the city, like its members: auth.scope reads it as it reads them.

An incident's status, severity and member count are derived from its members, never stored apart from them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from alerts.model import Alert, AlertStatus, Assignment, pressing_key
from alerts.rules import CMA_SIGNALS
from signs.catalogue import catalogue
from signs.drill import district_name
from signs.model import Level, Sign

SIGNAL_CAUSE_PREFIX = "signal:"
# What each CMA signal type groups when it is in force: module codes, or module.core for one core sign. The first
# signal in this order that covers a sign wins when several are in force. Settings.alert_group_signals replaces it.
DEFAULT_SIGNAL_COVERS: dict[str, tuple[str, ...]] = {
    # Rain, visibility and the signals themselves; rivers, reservoirs and waterlogging (防汛水情).
    "rainstorm": ("M13.S45", "M13.S47", "M13.S48", "M08"),
    "typhoon": ("M13.S45", "M13.S46", "M13.S48", "M08"),
    "gale": ("M13.S46", "M13.S48"),
    "snowstorm": ("M13.S44", "M13.S45", "M13.S48", "M09"),
    "roadIcing": ("M13.S44", "M13.S48", "M09"),
    "coldWave": ("M13.S44", "M13.S48"),
    "heatWave": ("M13.S44", "M13.S48", "M05"),
    "fog": ("M13.S47", "M13.S48"),
    "haze": ("M13.S47", "M13.S48", "M14"),
    "sandstorm": ("M13.S47", "M13.S48", "M14"),
    "lightning": ("M13.S48",),
    "hail": ("M13.S48",),
    "frost": ("M13.S44", "M13.S48"),
    "drought": ("M13.S48", "M04"),
}


class TimelineEvent(StrEnum):
    """What an incident's timeline records; each member's own audit entries tell the rest."""

    OPENED = "opened"  # with its first member
    JOINED = "joined"  # another member raised into it
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class GroupingRules:
    window_s: float
    signals: tuple[tuple[str, tuple[str, ...]], ...]  # (signal type, what it covers), in priority order

    @classmethod
    def build(cls, window_s: float, signals: Mapping[str, Sequence[str]] | None = None) -> GroupingRules:
        """Checked against the catalogue: an unknown signal type or module is a configuration error."""
        covers = signals or DEFAULT_SIGNAL_COVERS
        cat = catalogue()
        types = {sign.dimension.removeprefix("sig:") for sign in cat.signs.values() if _is_typed_signal(sign)}
        for signal, selectors in covers.items():
            if signal not in types:
                raise ValueError(f"alert_group_signals: no CMA signal {signal!r} (known: {', '.join(sorted(types))})")
            for selector in selectors:
                module, _, core = selector.partition(".")
                if module not in cat.modules or (
                    core and f"XY.{cat.modules[module].category}.{module}.{core}" not in cat.signs
                ):
                    raise ValueError(f"alert_group_signals[{signal}]: no module or core sign {selector!r}")
        return cls(window_s, tuple((signal, tuple(selectors)) for signal, selectors in covers.items()))

    @classmethod
    def from_settings(cls, settings: Any) -> GroupingRules:
        return cls.build(settings.alert_group_window_s, settings.alert_group_signals)


def _is_typed_signal(sign: Sign) -> bool:
    return (sign.category, sign.module, sign.core) == CMA_SIGNALS and sign.dimension.startswith("sig:")


def signal_type(sign: Sign) -> str | None:
    """The type of a city-wide CMA warning signal sign (XY.S.M13.S48.sig:rainstorm -> rainstorm); None otherwise."""
    return sign.dimension.removeprefix("sig:") if _is_typed_signal(sign) else None


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    district: str
    cause: str  # a module code, or SIGNAL_CAUSE_PREFIX + a signal type

    @property
    def text(self) -> str:
        return f"{self.district}:{self.cause}"


def group_key(sign: Sign, district: str, active_signals: Collection[str], rules: GroupingRules) -> GroupKey:
    """The group of an alert on `sign` in `district` while the signal types `active_signals` are in force."""
    for signal, selectors in rules.signals:
        if signal in active_signals and any(_selects(selector, sign) for selector in selectors):
            return GroupKey(district, SIGNAL_CAUSE_PREFIX + signal)
    return GroupKey(district, sign.module)


def _selects(selector: str, sign: Sign) -> bool:
    module, _, core = selector.partition(".")
    return sign.module == module and (not core or sign.core == core)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: float
    event: TimelineEvent
    by: str
    note: str = ""
    alert_id: str = ""
    detail: str = ""  # joined: the member's level name; assigned: who to

    def encode(self) -> bytes:
        return orjson.dumps({**self.as_json(), "event": self.event.value})

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at, "event": self.event.value, "by": self.by, "note": self.note,
            "alert_id": self.alert_id, "detail": self.detail,
        }  # fmt: skip

    @classmethod
    def decode(cls, raw: bytes | str) -> TimelineEntry:
        doc = orjson.loads(raw)
        return cls(
            float(doc["at"]), TimelineEvent(doc["event"]), doc["by"], doc["note"], doc["alert_id"], doc["detail"]
        )


@dataclass(frozen=True, slots=True)
class Incident:
    """What is stored of an incident (KEY_INCIDENT); the rest is derived from its members (IncidentView)."""

    id: str
    district: str
    cause: str
    opened_at: float
    updated_at: float
    members: tuple[str, ...]  # alert ids, in the order they joined
    assignee: Assignment | None = None
    version: int = 1

    @property
    def key(self) -> GroupKey:
        return GroupKey(self.district, self.cause)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "district": self.district, "cause": self.cause, "opened_at": self.opened_at,
            "updated_at": self.updated_at, "members": list(self.members),
            "assignee": self.assignee.as_json() if self.assignee else None, "version": self.version,
        }  # fmt: skip

    def encode(self) -> str:
        return orjson.dumps(self.as_json()).decode()

    @classmethod
    def decode(cls, raw: bytes | str) -> Incident:
        doc = orjson.loads(raw)
        return cls(
            id=doc["id"],
            district=doc["district"],
            cause=doc["cause"],
            opened_at=float(doc["opened_at"]),
            updated_at=float(doc["updated_at"]),
            members=tuple(doc["members"]),
            assignee=Assignment.from_json(doc["assignee"]),
            version=int(doc["version"]),
        )


def new_incident_id(first_member: str) -> str:
    """Named after the alert that opened it ([a-z0-9-], like alert ids): engines deciding alike derive the same."""
    return f"inc-{first_member}"


def open_incident(key: GroupKey, first: Alert, now: float) -> Incident:
    return Incident(new_incident_id(first.id), key.district, key.cause, now, now, (first.id,))


def join(incident: Incident, alert: Alert, now: float) -> Incident:
    return Incident(
        incident.id, incident.district, incident.cause, incident.opened_at, now, (*incident.members, alert.id),
        incident.assignee, incident.version + 1,
    )  # fmt: skip


def assigned(incident: Incident, assignment: Assignment) -> Incident:
    return Incident(
        incident.id, incident.district, incident.cause, incident.opened_at, assignment.at, incident.members,
        assignment, incident.version + 1,
    )  # fmt: skip


def incident_status(members: Iterable[Alert]) -> AlertStatus:
    """Derived from its members: raised while one holds unacknowledged, then acknowledged while one holds, then
    cleared (recovered, unacknowledged) while one is open; once none is open, resolved if every member was
    resolved, else closed."""
    statuses = {m.status for m in members}
    for status in (AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED, AlertStatus.CLEARED):
        if status in statuses:
            return status
    return AlertStatus.RESOLVED if statuses == {AlertStatus.RESOLVED} else AlertStatus.CLOSED


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident with its members: what screens, the API and the grouping decisions read."""

    incident: Incident
    members: tuple[Alert, ...]

    @property
    def id(self) -> str:
        return self.incident.id

    @property
    def district(self) -> str:
        return self.incident.district

    @property
    def status(self) -> AlertStatus:
        return incident_status(self.members)

    @property
    def open_members(self) -> list[Alert]:
        return [m for m in self.members if m.status.is_open]

    @property
    def level(self) -> Level:
        """Its worst open member's level; once none is open, its worst member's."""
        pool = self.open_members or list(self.members)
        return max((m.level for m in pool), default=Level.NORMAL)

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def latest_raise(self) -> float:
        return max((m.raised_at for m in self.members), default=self.incident.opened_at)

    @property
    def last_change(self) -> float:
        return max((m.updated_at for m in self.members), default=self.incident.updated_at)

    @property
    def silenced(self) -> bool:
        """Every open member silenced: the kiosk does not jump to it."""
        return bool(self.open_members) and all(m.silence is not None for m in self.open_members)

    def joinable(self, now: float, window_s: float) -> bool:
        """Whether an alert of its group raised now joins it rather than opening a new incident."""
        open_members = self.open_members
        if not open_members:
            return False
        return any(m.status.condition_holds for m in open_members) or now - self.last_change <= window_s

    def title(self, lang: str) -> str:
        return incident_title(self.incident.district, self.incident.cause, self.count, lang)

    def as_json(self, lang: str = "zh") -> dict[str, Any]:
        status = self.status
        return {
            **self.incident.as_json(),
            "title": self.title(lang),
            "cause_name": cause_name(self.incident.cause, lang),
            "status": status.value,
            "open": status.is_open,
            "level": self.level.en,
            "level_zh": self.level.zh,
            "count": self.count,
            "open_count": len(self.open_members),
            "silenced": self.silenced,
            "latest_raise": self.latest_raise,
        }


def view(incident: Incident, alerts: Mapping[str, Alert]) -> IncidentView:
    """The incident with those of its members still kept (pruned closed alerts drop out)."""
    return IncidentView(incident, tuple(alerts[m] for m in incident.members if m in alerts))


def standalone(alert: Alert) -> IncidentView:
    """An open alert raised before incidents existed, shown as an incident of its own (of its district and its
    sign's module) until it closes: an upgrade must never hide an alert from the wall. Never stored."""
    sign = catalogue().signs.get(alert.sign_id)
    cause = sign.module if sign else alert.name
    members = (alert.id,)
    incident = Incident(new_incident_id(alert.id), alert.district, cause, alert.raised_at, alert.updated_at, members)
    return IncidentView(incident, (alert,))


def pressing_incidents(views: Iterable[IncidentView]) -> list[IncidentView]:
    """Incidents in the one pressing order of alerts (alerts.model.pressing_key), by their derived status and
    severity and their latest member's raise."""

    def key(v: IncidentView) -> tuple[int, int, float]:
        status = v.status
        return pressing_key(status, v.level, v.latest_raise if status.is_open else v.last_change)

    return sorted(views, key=key)


_TITLE = {"zh": "{district} · {cause} · {count} 条告警", "en": "{district} · {cause} · {count} alerts"}
_TITLE_ONE = {"zh": "{district} · {cause} · 1 条告警", "en": "{district} · {cause} · 1 alert"}


def cause_name(cause: str, lang: str) -> str:
    """暴雨 / Rainstorm for a signal's incident, the module's name (防汛水情 / Flood & hydrology) otherwise."""
    cat = catalogue()
    en = lang == "en"
    if cause.startswith(SIGNAL_CAUSE_PREFIX):
        signal = cause.removeprefix(SIGNAL_CAUSE_PREFIX)
        sign = next((s for s in cat.signs.values() if signal_type(s) == signal), None)
        if sign is None:
            return signal
        return sign.name_en.removesuffix(" warning signal") if en else sign.name_zh.removesuffix("预警信号")
    module = cat.modules.get(cause)
    if module is None:
        return cause
    return module.name_en if en else module.name_zh


def incident_title(district: str, cause: str, count: int, lang: str) -> str:
    """`南漳县 · 暴雨 · 14 条告警` / `Nanzhang · Rainstorm · 14 alerts`."""
    lang = "en" if lang == "en" else "zh"
    template = (_TITLE_ONE if count == 1 else _TITLE)[lang]
    return template.format(district=district_name(district, lang), cause=cause_name(cause, lang), count=count)
