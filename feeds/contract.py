"""The MQTT contract, written once: topics, payload schemas and the pure parse() every worker, the
simulator and the tests share. docs/mqtt.md is its description for outside integrators.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, TypeVar, cast

import msgspec

# The feed names are defined with the sign catalogue, whose loader checks every source against them and must
# not import feeds (feeds imports signs). They are part of this contract, so they are re-exported here.
from geo.admin import CITY_ADCODE, DISTRICTS
from signs.citytime import in_city_time
from signs.model import FEED_VIDEO as FEED_VIDEO
from signs.model import FEEDS as FEEDS

TOPIC_ROOT = "cityeye/v1"
# Namespaces under the root that City Eye itself publishes (worker and engine status, alert states; later event
# states): never ingested, and nobody else may publish there. Each of City Eye's messages on them is signed
# (sign_owned); a message without a good signature is forged and dead-lettered as forbidden_topic.
OWNED_NAMESPACES = ("status", "alerts", "events-state")
# Where an empty payload is City Eye's own too: it deletes a closed alert's retained state, or a removed event's
# (the dispatcher's retention). It cannot carry a signature, so the alert engine, which knows every alert's state,
# checks each one and restores a forged deletion; on events-state the broker's ACL is the only guard.
EMPTY_ALLOWED_NAMESPACES = ("alerts", "events-state")
# The feed whose topics that no sign is sourced from carry event reports, which the dispatcher validates and
# dead-letters itself (dispatch/contract.py): the feed workers leave them alone.
EVENT_REPORTS_FEED = "events"

# ASCII digits only, matched whole (fullmatch): \d would take full-width and Arabic-Indic digits too, and $ would
# let a trailing newline through.
CAMERA_ID = re.compile(r"[0-9]{20}")
# The adcodes a topic may carry: the city's own (city-wide sources) and its districts', nothing from outside.
CITY_ADCODES = frozenset({CITY_ADCODE, *DISTRICTS})


class Reason(StrEnum):
    """Why a message went to the dead-letter record."""

    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    ABSURD_TIMESTAMP = "absurd_timestamp"
    EMPTY = "empty"
    FORBIDDEN_TOPIC = "forbidden_topic"
    INVALID_UTF8 = "invalid_utf8"
    TOO_DEEP = "too_deep"
    # A fault of City Eye's own, never of the message: the last-resort guard of parse() and of the worker.
    INTERNAL_ERROR = "internal_error"


# Payload schemas ---------------------------------------------------------------------------------


class ReadingsPayload(msgspec.Struct, forbid_unknown_fields=True):
    """{"ts": ISO-8601 or epoch seconds, "readings": {field: number}}"""

    ts: float | str
    readings: dict[str, float]


class SenMLRecord(msgspec.Struct, forbid_unknown_fields=False):
    """One RFC 8428 record. Only numeric values (v) are accepted; names resolve as bn + n."""

    bn: str = ""
    bt: float = 0.0
    n: str = ""
    v: float | None = None
    vs: str | None = None
    vb: bool | None = None
    vd: str | None = None
    s: float | None = None
    u: str | None = None
    t: float = 0.0


class CameraStatusPayload(msgspec.Struct, forbid_unknown_fields=True):
    """Heartbeat of one GB/T 28181 camera on cityeye/v1/video/{adcode}/{20-digit device id}."""

    ts: float | str
    status: Literal["online", "offline", "fault"]
    kind: Literal["fixed", "mobile"]
    lat: float
    lon: float


_READINGS_DECODER = msgspec.json.Decoder(ReadingsPayload | list[SenMLRecord])
_CAMERA_DECODER = msgspec.json.Decoder(CameraStatusPayload)
_ENCODER = msgspec.json.Encoder()


# Parse results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    sign_id: str
    value: float
    source_ts: float


@dataclass(frozen=True, slots=True)
class Readings:
    readings: list[Reading]


@dataclass(frozen=True, slots=True)
class CameraStatus:
    adcode: str
    device_id: str
    source_ts: float
    status: str
    kind: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """City Eye's own message under an owned namespace (worker status, alerts), or an event report, which is the
    dispatcher's: not the feed workers' input, not an error."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 65_536
    max_future_s: float = 300.0
    max_past_s: float = 8 * 86_400.0
    # Every accepted payload nests two levels deep at most; msgspec recurses on nesting (and raises RecursionError
    # near 1,000 levels, even inside a field it skips), so deeper payloads are refused before decoding.
    max_depth: int = 32


Routes = dict[tuple[str, str, str], dict[str, str]]
Parsed = Readings | CameraStatus | Rejected | Ignored


# Topics ------------------------------------------------------------------------------------------


def topic(feed: str, adcode: str, source_id: str) -> str:
    return f"{TOPIC_ROOT}/{feed}/{adcode}/{source_id}"


def worker_status_topic(worker_id: str) -> str:
    return f"{TOPIC_ROOT}/status/worker/{worker_id}"


# The city simulator's retained status: whether simulated data is being published, and its story clock.
SIMULATOR_STATUS_TOPIC = f"{TOPIC_ROOT}/status/simulator"


# The broker's own counters, where it publishes them ($SYS), so that messages it dropped (a full queue of a worker's
# session) are noticed: Mosquitto 2 (`$SYS/broker/...`, sys_interval) and EMQX 5 (`$SYS/brokers/{node}/...`,
# sys_msg_interval). Subscribed plainly, never shared: every worker hears them, and writing them twice is harmless.
SYS_FILTERS = (
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/publish/messages/dropped",
    "$SYS/brokers/+/version",
    "$SYS/brokers/+/uptime",
    "$SYS/brokers/+/metrics/delivery/dropped",
)
_SYS_TOPIC = re.compile(
    r"\$SYS/(?:broker|brokers/(?P<node>[^/]+))/(?P<what>version|uptime|publish/messages/dropped|metrics/delivery/dropped)"
)
_COUNT = re.compile(rb"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class BrokerCounter:
    """One $SYS message: which broker node ("" for a single Mosquitto) said what. `kind` is "version" (value: the
    broker's name and version), "uptime" (value unused: it says the broker publishes its tree) or "dropped" (value:
    the node's count of messages dropped since it started, in ASCII digits)."""

    node: str
    kind: Literal["version", "uptime", "dropped"]
    value: str


def parse_broker_counter(topic_name: str, payload: bytes) -> BrokerCounter | None:
    """The broker counter a $SYS message carries; None for any other topic or an unreadable value."""
    match = _SYS_TOPIC.fullmatch(topic_name)
    if match is None:
        return None
    node, what = match["node"] or "", match["what"]
    if what.endswith("dropped"):
        return BrokerCounter(node, "dropped", payload.decode()) if _COUNT.fullmatch(payload) else None
    kind: Literal["version", "uptime"] = "version" if what == "version" else "uptime"
    return BrokerCounter(node, kind, payload[:80].decode("utf-8", "replace"))


def subscription_filters(feeds: tuple[str, ...], shared_group: str) -> list[str]:
    """One filter for the whole tree when every feed is wanted, so that a misspelt feed is dead-lettered
    rather than silently unheard; otherwise one filter per feed."""
    filters = [f"{TOPIC_ROOT}/#"] if set(feeds) == set(FEEDS) else [f"{TOPIC_ROOT}/{f}/#" for f in feeds]
    return [f"$share/{shared_group}/{f}" for f in filters] if shared_group else filters


# Signing City Eye's own publications -------------------------------------------------------------

_SIGNATURE = re.compile(rb',?"sig":"([0-9a-f]{64})"\}\Z')


def _mac(key: bytes, topic_name: str, unsigned: bytes) -> str:
    # The topic is signed too, so that a signed message cannot be replayed onto another worker's or alert's topic.
    return hmac.new(key, topic_name.encode() + b"\n" + unsigned, hashlib.sha256).hexdigest()


def sign_owned(key: bytes, topic_name: str, payload: bytes) -> bytes:
    """A JSON object with its HMAC-SHA256 (over topic and object) added as its last key, "sig": what every City Eye
    process publishes on an owned topic. Followers read it as the same document with one more key."""
    if not (payload.startswith(b"{") and payload.endswith(b"}")):
        raise ValueError("only a JSON object can be signed")
    signature = _mac(key, topic_name, payload).encode()
    return payload[:-1] + (b"," if payload != b"{}" else b"") + b'"sig":"' + signature + b'"}'


def owned_signature_ok(key: bytes, topic_name: str, payload: bytes) -> bool:
    """Whether a payload on an owned topic was signed by City Eye (with this key, for this topic)."""
    match = _SIGNATURE.search(payload) if key else None
    if match is None:
        return False
    unsigned = payload[: match.start()] + b"}"
    return hmac.compare_digest(match.group(1).decode(), _mac(key, topic_name, unsigned))


def owned_namespace(topic_name: str) -> str | None:
    """The owned namespace a topic is under (cityeye/v1/status/... -> "status"), None when it is not."""
    parts = topic_name.split("/", 3)
    if len(parts) >= 3 and f"{parts[0]}/{parts[1]}" == TOPIC_ROOT and parts[2] in OWNED_NAMESPACES:
        return parts[2]
    return None


# Encoding (publishers: the simulator, tests, benchmarks) ------------------------------------------


def encode_readings(ts: float, readings: dict[str, float]) -> bytes:
    return _ENCODER.encode({"ts": ts, "readings": readings})


def encode_camera_status(ts: float, status: str, kind: str, lat: float, lon: float) -> bytes:
    return _ENCODER.encode({"ts": ts, "status": status, "kind": kind, "lat": lat, "lon": lon})


# Parsing -----------------------------------------------------------------------------------------


def parse_timestamp(ts: float | str) -> float:
    """Epoch seconds from epoch seconds or ISO-8601; a time without offset is Xiangyang local time (UTC+8)."""
    if isinstance(ts, str):
        return in_city_time(datetime.fromisoformat(ts)).timestamp()
    return float(ts)


def _check_time(ts: float | str, now: float, limits: Limits) -> float | Rejected:
    try:
        seconds = parse_timestamp(ts)
    except (ValueError, OverflowError, OSError):
        return Rejected(Reason.ABSURD_TIMESTAMP, f"ts {ts!r} is neither epoch seconds nor ISO-8601")
    if not math.isfinite(seconds):
        return Rejected(Reason.ABSURD_TIMESTAMP, f"ts {ts!r} is not finite")
    if seconds > now + limits.max_future_s:
        hint = " (epoch milliseconds? send seconds)" if seconds > 1e11 else ""
        return Rejected(Reason.ABSURD_TIMESTAMP, f"ts {ts!r} is {seconds - now:.0f} s in the future{hint}")
    if seconds < now - limits.max_past_s:
        return Rejected(Reason.ABSURD_TIMESTAMP, f"ts {ts!r} is older than {limits.max_past_s:.0f} s")
    return seconds


_OPENING, _CLOSING = frozenset(b"[{"), frozenset(b"]}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _OPENING | _CLOSING)


def nesting_depth_exceeds(payload: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, by a byte scan that does not parse.

    It must cost less than the decoding it protects: the common payload (a few brackets in all) is answered by two
    counts, and any other by one pass over its brackets only. Brackets inside strings are counted too, which can
    only err towards refusing (no payload City Eye accepts has 32 of them in a string); one that hides real depth
    behind "]" in strings still meets the RecursionError guard of the decoder.
    """
    if payload.count(b"[") + payload.count(b"{") <= limit:
        return False
    depth = 0
    for byte in payload.translate(None, _NOT_BRACKETS):
        if byte in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False


_Decoded = TypeVar("_Decoded")


def _decode(decoder: msgspec.json.Decoder[_Decoded], payload: bytes, limits: Limits) -> _Decoded | Rejected:
    """The decoded payload, or Rejected: whatever msgspec raises (it raises more than its own two error types)."""
    if nesting_depth_exceeds(payload, limits.max_depth):
        return Rejected(Reason.TOO_DEEP, f"arrays and objects nest more than {limits.max_depth} levels deep")
    try:
        return decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return _decode_error(error, payload)
    except UnicodeDecodeError as error:
        # msgspec checks UTF-8 only inside strings, and says so with Python's own error about that string.
        near = bytes(error.object[max(0, error.start - 16) : error.end + 16])
        return Rejected(Reason.INVALID_UTF8, f"a string is not UTF-8 ({error.reason}) near {near!r}")
    except RecursionError:
        return Rejected(Reason.TOO_DEEP, "nested too deep to decode")
    except (ValueError, TypeError, OverflowError, MemoryError) as error:
        return Rejected(Reason.MALFORMED_JSON, f"{type(error).__name__}: {error}")


def _decode_error(error: msgspec.DecodeError | msgspec.ValidationError, payload: bytes) -> Rejected:
    text = str(error)
    if isinstance(error, msgspec.ValidationError):
        # msgspec reports 1e999 and similar as out of range: they would be infinite as floats.
        reason = Reason.NOT_FINITE if "out of range" in text else Reason.WRONG_TYPE
        return Rejected(reason, text)
    # JSON has no NaN or Infinity; some publishers still send them.
    if re.search(rb"\b(NaN|-?Infinity)\b", payload):
        return Rejected(Reason.NOT_FINITE, "NaN or Infinity is not a JSON number")
    return Rejected(Reason.MALFORMED_JSON, text)


def _senml_readings(
    records: list[SenMLRecord], now: float, limits: Limits
) -> dict[str, tuple[float, float]] | Rejected:
    """{field: (value, ts)} from a SenML pack, resolving base name and base time (RFC 8428 §4)."""
    if not records:
        return Rejected(Reason.EMPTY, "empty SenML pack")
    base_name, base_time = "", 0.0
    out: dict[str, tuple[float, float]] = {}
    for record in records:
        base_name = record.bn or base_name
        base_time = record.bt or base_time
        name = (base_name + record.n).rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        # RFC 8428 §4.3: a record carries at most one value; City Eye takes the numeric one only.
        values = {"v": record.v, "vs": record.vs, "vb": record.vb, "vd": record.vd}
        kinds = [kind for kind, value in values.items() if value is not None]
        if record.v is None or len(kinds) > 1:
            got = " and ".join(kinds) or "no value"
            return Rejected(Reason.WRONG_TYPE, f"SenML record {name!r} must carry exactly one value, v (got {got})")
        when = base_time + record.t
        if when < 2**28:  # RFC 8428 §4.5.3: small times are relative to now
            when += now
        checked = _check_time(when, now, limits)
        if isinstance(checked, Rejected):
            return checked
        out[name] = (record.v, checked)
    return out


def parse(
    topic_name: str, payload: bytes, routes: Routes, now: float, limits: Limits = Limits(), owner_key: bytes = b""
) -> Parsed:
    """Turn one MQTT message into typed readings or camera status, or say precisely why not. Never raises: a
    message is input from anyone, and one that raised would stop the worker (and, redelivered, every restart).
    `owner_key` verifies City Eye's own messages on the topics it owns (without it, every one there is forbidden)."""
    try:
        return _parse(topic_name, payload, routes, now, limits, owner_key)
    except Exception as error:  # a bug of ours, not the sender's: still a dead-letter record, never a crash
        return Rejected(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}"[:500])


def _parse(topic_name: str, payload: bytes, routes: Routes, now: float, limits: Limits, owner_key: bytes) -> Parsed:
    if len(payload) > limits.max_payload_bytes:
        return Rejected(Reason.OVERSIZED, f"{len(payload)} bytes > {limits.max_payload_bytes}")
    namespace = owned_namespace(topic_name)
    if namespace is not None:
        if owned_signature_ok(owner_key, topic_name, payload):
            return Ignored()
        if not payload and namespace in EMPTY_ALLOWED_NAMESPACES:
            return Ignored()  # a retained state deleted: see EMPTY_ALLOWED_NAMESPACES
        detail = f"{TOPIC_ROOT}/{namespace}/ is City Eye's own, and this message is not signed by it"
        return Rejected(Reason.FORBIDDEN_TOPIC, detail)
    parts = topic_name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or parts[2] not in FEEDS:
        return Rejected(Reason.UNKNOWN_TOPIC, f"expected {TOPIC_ROOT}/{{feed}}/{{adcode}}/{{source_id}}")
    _, _, feed, adcode, source_id = parts
    if adcode not in CITY_ADCODES:
        return Rejected(Reason.UNKNOWN_TOPIC, f"{adcode!r} is not the adcode of the city or of one of its districts")
    if not payload:
        return Rejected(Reason.EMPTY, "empty payload")

    if feed == FEED_VIDEO:
        if not CAMERA_ID.fullmatch(source_id) or source_id[:6] != adcode:
            detail = "video source_id must be a 20-digit GB/T 28181 id starting with the adcode"
            return Rejected(Reason.UNKNOWN_TOPIC, detail)
        status = _decode(_CAMERA_DECODER, payload, limits)
        if isinstance(status, Rejected):
            return status
        assert isinstance(status, CameraStatusPayload)
        if not (math.isfinite(status.lat) and math.isfinite(status.lon)):
            return Rejected(Reason.NOT_FINITE, "lat/lon must be finite")
        if not (-90 <= status.lat <= 90 and -180 <= status.lon <= 180):
            return Rejected(Reason.WRONG_TYPE, f"lat/lon ({status.lat}, {status.lon}) out of range")
        checked = _check_time(status.ts, now, limits)
        if isinstance(checked, Rejected):
            return checked
        return CameraStatus(adcode, source_id, checked, status.status, status.kind, status.lat, status.lon)

    fields = routes.get((feed, adcode, source_id))
    if fields is None and feed == EVENT_REPORTS_FEED:
        return Ignored()  # an event report (a detection, a ticket, an alarm): the dispatcher's (dispatch/contract.py)
    if fields is None:
        return Rejected(Reason.UNKNOWN_TOPIC, f"no sign is sourced from {feed}/{adcode}/{source_id}")
    decoded = _decode(_READINGS_DECODER, payload, limits)
    if isinstance(decoded, Rejected):
        return decoded

    if isinstance(decoded, ReadingsPayload):
        if not decoded.readings:
            return Rejected(Reason.EMPTY, "readings is empty")
        checked = _check_time(decoded.ts, now, limits)
        if isinstance(checked, Rejected):
            return checked
        values = {name: (value, checked) for name, value in decoded.readings.items()}
    else:
        senml = _senml_readings(cast(list[SenMLRecord], decoded), now, limits)
        if isinstance(senml, Rejected):
            return senml
        values = senml

    readings = []
    for name, (value, ts) in values.items():
        sign_id = fields.get(name)
        if sign_id is None:
            return Rejected(Reason.UNKNOWN_FIELD, f"{name!r} is not a field of {feed}/{adcode}/{source_id}")
        if not math.isfinite(value):
            return Rejected(Reason.NOT_FINITE, f"{name!r} is {value}")
        readings.append(Reading(sign_id, value, ts))
    return Readings(readings)
