"""The event hub's one event model, whatever the intake (Open311, MQTT detections, officers, alerts), and its units.

Stored as JSON in Redis (signs/keys.py, KEY_EVENT) and published retained on MQTT; times are epoch seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from dispatch.library import Level, Limits


class Status(StrEnum):
    REPORTED = "reported"  # 上报 / 受理
    DISPATCHED = "dispatched"  # 派单: the response and handling clocks start
    SIGNED_FOR = "signed_for"  # 签收: the response clock stops
    IN_PROGRESS = "in_progress"  # 处置中
    HANDLED = "handled"  # 处置完成, with a note and evidence: the handling clock stops
    CLOSED = "closed"  # 核查结案 by the centre: the feedback clock stops
    RETURNED = "returned"  # 退单 with a reason, back to the dispatching centre to be dispatched again

    @property
    def is_open(self) -> bool:
        return self is not Status.CLOSED


class Clock(StrEnum):
    RESPONSE = "response"  # dispatched -> signed for
    HANDLING = "handling"  # dispatched -> handled
    FEEDBACK = "feedback"  # reported -> closed


class Source(StrEnum):
    OPEN311 = "open311"  # an outside reporting app (Open311 GeoReport v2)
    CAMERA = "camera"  # an AI detection of a camera (MQTT)
    HOTLINE = "hotline"  # a 12345 ticket (MQTT)
    IOT = "iot"  # an IoT alarm (MQTT)
    GRID = "grid"  # a grid worker's report (MQTT, from 政务微信)
    OFFICER = "officer"  # entered by a duty officer
    ALERT = "alert"  # raised from an alert or incident


@dataclass(frozen=True, slots=True)
class Unit:
    """Who handles: a department of the library at a scope, "" (the city's own), a county adcode (6 digits) or a
    township code (9 digits). Written "D02", "D01@420606", "D17@420606001"."""

    department: str
    scope: str = ""

    def __str__(self) -> str:
        return f"{self.department}@{self.scope}" if self.scope else self.department

    @classmethod
    def parse(cls, text: str) -> Unit:
        department, _, scope = text.partition("@")
        if not department or (scope and (len(scope) not in (6, 9) or not scope.isdigit())):
            raise ValueError(f"{text!r} is not a unit like D02, D01@420606 or D17@420606001")
        return cls(department, scope)

    @property
    def county(self) -> str:
        return self.scope[:6]

    def lookups(self) -> tuple[str, ...]:
        """This unit and the wider ones that stand for it, most specific first: where its channels are looked up."""
        wider = [self.scope[:n] for n in (9, 6) if len(self.scope) >= n]
        return (*(f"{self.department}@{scope}" for scope in dict.fromkeys(wider)), self.department)


@dataclass(frozen=True, slots=True)
class Location:
    lat: float | None = None  # WGS84
    lon: float | None = None
    address: str = ""
    district: str = ""  # adcode, "" when unknown (no point and no township, or a point outside the city)
    township: str = ""  # 9-digit code, "" when the report gave none


@dataclass(frozen=True, slots=True)
class Report:
    """What an intake hands to the hub: everything the reporter said, nothing decided yet."""

    type_code: str
    location: Location
    description: str = ""
    source: Source = Source.OFFICER
    source_ref: str = ""  # camera id, hotline ticket, Open311 client name...
    reporter: str = ""
    media: tuple[str, ...] = ()
    linked: tuple[str, ...] = ()  # alert or incident ids
    confidence: float | None = None  # a machine detection's


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type_code: str
    location: Location
    description: str
    source: Source
    source_ref: str
    reporter: str
    media: tuple[str, ...]
    linked: tuple[str, ...]
    confidence: float | None
    limits: Limits
    status: Status
    level: Level
    reported_at: float
    updated_at: float
    unit: Unit | None = None  # the lead handler, once dispatched
    co_units: tuple[Unit, ...] = ()  # co-dispatched, informed and expected to help
    supervisor: Unit | None = None  # the level above it was escalated to
    dispatched_at: float | None = None  # the latest dispatch: the response and handling clocks run from it
    signed_at: float | None = None
    handled_at: float | None = None
    closed_at: float | None = None
    overdue: tuple[Clock, ...] = ()  # clocks that ran out, each escalated once
    escalations: int = 0
    returns: int = 0
    note: str = ""  # the newest status note
    evidence: tuple[str, ...] = ()  # URLs of the handler's photos
    rating: int | None = None  # 事后评价 by the centre once closed, 1 (poor) to 5 (excellent)
    rating_note: str = ""

    def as_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["unit"] = str(self.unit) if self.unit else None
        doc["co_units"] = [str(u) for u in self.co_units]
        doc["supervisor"] = str(self.supervisor) if self.supervisor else None
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Event:
        return cls(
            id=doc["id"],
            type_code=doc["type_code"],
            location=Location(**doc["location"]),
            description=doc["description"],
            source=Source(doc["source"]),
            source_ref=doc["source_ref"],
            reporter=doc["reporter"],
            media=tuple(doc["media"]),
            linked=tuple(doc["linked"]),
            confidence=doc["confidence"],
            limits=Limits(**doc["limits"]),
            status=Status(doc["status"]),
            level=Level(doc["level"]),
            reported_at=doc["reported_at"],
            updated_at=doc["updated_at"],
            unit=Unit.parse(doc["unit"]) if doc["unit"] else None,
            co_units=tuple(Unit.parse(u) for u in doc["co_units"]),
            supervisor=Unit.parse(doc["supervisor"]) if doc["supervisor"] else None,
            dispatched_at=doc["dispatched_at"],
            signed_at=doc["signed_at"],
            handled_at=doc["handled_at"],
            closed_at=doc["closed_at"],
            overdue=tuple(Clock(c) for c in doc["overdue"]),
            escalations=doc["escalations"],
            returns=doc["returns"],
            note=doc["note"],
            evidence=tuple(doc["evidence"]),
            rating=doc.get("rating"),
            rating_note=doc.get("rating_note", ""),
        )

    def with_changes(self, **changes: Any) -> Event:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Transition:
    """One audited step: who did what to which event, when, with which note; `unit` is the unit it concerns (the one
    dispatched to, or escalated to). The hub's own steps carry a `note_code` (dispatch.hub.HUB_NOTES) instead of a
    note, so each reader gets it in their language."""

    event_id: str
    action: str
    from_status: str
    to_status: str
    at: float
    by: str
    note: str = ""
    unit: str = ""
    clock: str = ""
    note_code: str = ""

    def fields(self) -> dict[str, str]:
        return {k: repr(v) if isinstance(v, float) else str(v) for k, v in asdict(self).items()}
