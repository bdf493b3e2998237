"""The event hub's MQTT contract, written once: machine reports in, event states out. docs/mqtt.md describes it.

In: `cityeye/v1/events/{adcode}/{source_id}`, the `events` feed's topics whose source is not a sign's (the sign
catalogue's event-count sources, `CAT01`..., stay the feed workers'): AI camera detections, 12345 tickets, IoT alarms
and grid workers' reports, one report a message, validated with the same limits and dead-letter reasons as every feed
(feeds/contract.py). Out: `cityeye/v1/events-state/{event_id}`, each event's state, retained and signed.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Literal

import msgspec

from dispatch.library import Library
from dispatch.model import Location, Report, Source
from feeds.contract import (
    CITY_ADCODES,
    EVENT_REPORTS_FEED,
    TOPIC_ROOT,
    Limits,
    Reason,
    Rejected,
    _check_time,
    _decode,
)
from geo.admin import CITY_ADCODE

EVENTS_FEED = EVENT_REPORTS_FEED
STATE_NAMESPACE = "events-state"
INTAKE_FILTER = f"{TOPIC_ROOT}/{EVENTS_FEED}/#"
_SOURCE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TOWNSHIP = re.compile(r"[0-9]{9}")
_URL = re.compile(r"https?://[^\s]{1,2000}")
TEXT_MAX = 4_000


class EventReportPayload(msgspec.Struct, forbid_unknown_fields=True):
    """One report on cityeye/v1/events/{adcode}/{source_id}; `kind` says which intake it is."""

    ts: float | str
    kind: Literal["camera", "hotline", "iot", "grid"]
    type: str  # an event type code of the library, e.g. "0700101" straw burning
    lat: float | None = None  # WGS84
    lon: float | None = None
    township: str = ""  # 9-digit code; required without lat/lon
    address: str = ""
    description: str = ""
    confidence: float | None = None  # a detection's, 0..1
    snapshot_url: str = ""  # a camera's frame
    media: list[str] = []
    ref: str = ""  # the camera id, ticket number or alarm id at the source
    reporter: str = ""


_DECODER = msgspec.json.Decoder(EventReportPayload)
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Intake:
    """A report taken from MQTT, stamped with its source time."""

    report: Report
    source_ts: float


def report_identity(topic_name: str, payload: bytes) -> str:
    """What makes a message the same report again: its topic and its exact bytes (SHA-256, hex). A QoS 1 redelivery
    (a dispatcher killed before its acknowledgement) and the copy each dispatcher hears without a shared subscription
    are the broker's one message, byte for byte. Fields such as `ref` would not do: a camera's ref is the camera, and
    a source without refs may send two reports of one type in one second."""
    return hashlib.sha256(topic_name.encode() + b"\n" + payload).hexdigest()


def intake_topic(adcode: str, source_id: str) -> str:
    return f"{TOPIC_ROOT}/{EVENTS_FEED}/{adcode}/{source_id}"


def state_topic(event_id: str) -> str:
    return f"{TOPIC_ROOT}/{STATE_NAMESPACE}/{event_id}"


def encode_report(ts: float, kind: str, type_code: str, **fields: object) -> bytes:
    return _ENCODER.encode({"ts": ts, "kind": kind, "type": type_code, **fields})


def _wrong(detail: str) -> Rejected:
    return Rejected(Reason.WRONG_TYPE, detail)


def parse_report(topic_name: str, payload: bytes, library: Library, now: float, limits: Limits) -> Intake | Rejected:
    """Never raises: a message is anyone's input."""
    try:
        return _parse(topic_name, payload, library, now, limits)
    except Exception as error:  # a bug of ours: still a dead-letter record, never a crash
        return Rejected(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}"[:500])


def _parse(topic_name: str, payload: bytes, library: Library, now: float, limits: Limits) -> Intake | Rejected:
    if len(payload) > limits.max_payload_bytes:
        return Rejected(Reason.OVERSIZED, f"{len(payload)} bytes > {limits.max_payload_bytes}")
    parts = topic_name.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != f"{TOPIC_ROOT}/{EVENTS_FEED}":
        return Rejected(Reason.UNKNOWN_TOPIC, f"expected {TOPIC_ROOT}/{EVENTS_FEED}/{{adcode}}/{{source_id}}")
    adcode, source_id = parts[3], parts[4]
    if adcode not in CITY_ADCODES:
        return Rejected(Reason.UNKNOWN_TOPIC, f"{adcode!r} is not the adcode of the city or of one of its districts")
    if not _SOURCE_ID.fullmatch(source_id):
        return Rejected(Reason.UNKNOWN_TOPIC, "source_id must be 1-64 letters, digits, '_', '.' or '-'")
    if not payload:
        return Rejected(Reason.EMPTY, "empty payload")
    decoded = _decode(_DECODER, payload, limits)
    if isinstance(decoded, Rejected):
        return decoded
    assert isinstance(decoded, EventReportPayload)
    checked = _check_time(decoded.ts, now, limits)
    if isinstance(checked, Rejected):
        return checked
    if decoded.type not in library.types:
        return _wrong(f"type {decoded.type!r} is not an event type of the library")
    point = (decoded.lat, decoded.lon)
    if (point[0] is None) != (point[1] is None):
        return _wrong("lat and lon come together")
    if decoded.lat is not None and decoded.lon is not None:
        if not (math.isfinite(decoded.lat) and math.isfinite(decoded.lon)):
            return Rejected(Reason.NOT_FINITE, "lat/lon must be finite")
        if not (-90 <= decoded.lat <= 90 and -180 <= decoded.lon <= 180):
            return _wrong(f"lat/lon ({decoded.lat}, {decoded.lon}) out of range")
    elif not decoded.township:
        return _wrong("a report needs lat and lon, or a township")
    if decoded.township and decoded.township not in library.townships:
        return _wrong(f"township {decoded.township!r} is not a 9-digit code of the registry")
    district = "" if adcode == CITY_ADCODE else adcode
    if decoded.township and district and library.townships[decoded.township].county != district:
        return _wrong(f"township {decoded.township} is not in the topic's district {district}")
    if decoded.confidence is not None and not (math.isfinite(decoded.confidence) and 0.0 <= decoded.confidence <= 1.0):
        return _wrong(f"confidence {decoded.confidence} is not within 0..1")
    media = [decoded.snapshot_url] if decoded.snapshot_url else []
    media += decoded.media
    bad = [url for url in media if not _URL.fullmatch(url)]
    if bad:
        return _wrong(f"{bad[0][:80]!r} is not an http(s) URL")
    if max(len(decoded.description), len(decoded.address), len(decoded.reporter), len(decoded.ref)) > TEXT_MAX:
        return _wrong(f"a text field is longer than {TEXT_MAX} characters")
    report = Report(
        type_code=decoded.type,
        location=Location(decoded.lat, decoded.lon, decoded.address, district, decoded.township),
        description=decoded.description,
        source=Source(decoded.kind),
        source_ref=decoded.ref or source_id,
        reporter=decoded.reporter or source_id,
        media=tuple(media),
        confidence=decoded.confidence,
    )
    return Intake(report, checked)
