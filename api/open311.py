"""Open311 GeoReport v2 at /open311/v2/, JSON only, for outside reporting apps (docs/dispatch.md#open311).

The specification's methods with its field names and its error format (a JSON array of {code, description}; 400
bad request, 403 missing or bad api_key, 404 unknown service, request or jurisdiction). Reading needs no key; POST
needs an api_key made with `python -m auth open311-key NAME`. One jurisdiction, JURISDICTION_ID, which may be left
out. Only the library's non-emergency types are services (open311=yes): emergencies arrive by other intakes. The
GET methods take `lang` (zh, the default, or en) for the names and notes they answer with.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request

from api.responses import requested_lang
from auth.store import open311_client
from auth.web import OPEN311_PREFIX
from config import settings
from dispatch.hub import agency_name, file_report
from dispatch.library import EventType, Library, library
from dispatch.lifecycle import clock_due
from dispatch.model import Clock, Event, Location, Report, Source, Status
from dispatch.store import get_event, get_events, list_reported
from feeds.contract import parse_timestamp
from geo.districts import district_of
from signs.citytime import city_iso
from signs.store import shared_redis
from signs.urlstate import Lang, QueryError

open311_blueprint = Blueprint("open311", __name__, url_prefix=OPEN311_PREFIX.rstrip("/"))

JURISDICTION_ID = "xiangyang.gov.cn"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
DESCRIPTION_MAX = 4_000
LIST_MAX = 1_000
LIST_DAYS = 90
# What a request's status means to the citizen's system, in each language `lang` may ask for (zh by default).
_STATUS_NOTES: dict[Lang, dict[Status, str]] = {
    "zh": {
        Status.REPORTED: "已受理，等待派单",
        Status.DISPATCHED: "已派单",
        Status.SIGNED_FOR: "责任单位已签收",
        Status.IN_PROGRESS: "处置中",
        Status.HANDLED: "已处置，待核查",
        Status.CLOSED: "已结案",
        Status.RETURNED: "重新派单中",
    },
    "en": {
        Status.REPORTED: "received, being dispatched",
        Status.DISPATCHED: "dispatched",
        Status.SIGNED_FOR: "accepted by the responsible unit",
        Status.IN_PROGRESS: "in progress",
        Status.HANDLED: "handled, being verified",
        Status.CLOSED: "closed",
        Status.RETURNED: "being dispatched again",
    },
}


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@open311_blueprint.errorhandler(Open311Error)
def _error(error: Open311Error) -> tuple[Response, int]:
    return jsonify([{"code": error.status, "description": error.description}]), error.status


@open311_blueprint.errorhandler(redis.RedisError)
def _redis_down(_error: redis.RedisError) -> tuple[Response, int]:
    return jsonify([{"code": 503, "description": "the service is temporarily unavailable"}]), 503


@open311_blueprint.errorhandler(404)
def _not_found(_error: Exception) -> tuple[Response, int]:
    return jsonify([{"code": 404, "description": "no such resource"}]), 404


@open311_blueprint.errorhandler(405)
def _wrong_method(_error: Exception) -> tuple[Response, int]:
    return jsonify([{"code": 405, "description": "method not allowed"}]), 405


def _check_jurisdiction(values: Any) -> None:
    jurisdiction = (values.get("jurisdiction_id") or "").strip()
    if jurisdiction and jurisdiction != JURISDICTION_ID:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction!r} is not served here; use {JURISDICTION_ID}")


def _lang() -> Lang:
    """The language of names and notes in an answer (`lang`, zh or en; zh by default), refused in Open311's way."""
    try:
        return requested_lang()
    except QueryError as error:
        raise Open311Error(400, str(error)) from None


def _iso(ts: float | None) -> str | None:
    return city_iso(ts) if ts is not None else None


def _services(lib: Library) -> Iterable[EventType]:
    return (t for t in lib.types.values() if t.open311)


def _service(lib: Library, code: str) -> EventType:
    event_type = lib.types.get(code)
    if event_type is None or not event_type.open311:
        raise Open311Error(404, f"service_code {code!r} is not a service of this jurisdiction")
    return event_type


@open311_blueprint.get("/discovery.json")
def discovery() -> Response:
    return jsonify(
        {
            "changeset": "2026-12-01T00:00:00+08:00",
            "contact": "襄阳市城市运行管理中心 (City Operations Management Centre)",
            "key_service": "api_key from the centre's administrators (python -m auth open311-key NAME)",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": request.host_url.rstrip("/") + OPEN311_PREFIX.rstrip("/"),
                    "changeset": "2026-12-01T00:00:00+08:00",
                    "type": "production",
                    "formats": ["application/json"],
                }
            ],
        }
    )


@open311_blueprint.get("/services.json")
def services() -> Response:
    _check_jurisdiction(request.args)
    lib, english = library(), _lang() == "en"
    return jsonify(
        [
            {
                "service_code": t.code,
                "service_name": t.name_en if english else t.name_zh,
                "description": f"Closed when: {t.closure_en}" if english else f"结案标准：{t.closure}",
                "metadata": False,
                "type": "realtime",
                "keywords": ",".join((item.name_en, category.name_en) if english else (item.name_zh, category.name_zh)),
                "group": category.name_en if english else category.name_zh,
            }
            for t in _services(lib)
            for item, category in [(lib.items[t.item], lib.categories[t.category])]
        ]
    )


@open311_blueprint.get("/services/<code>.json")
def service_definition(code: str) -> Response:
    _check_jurisdiction(request.args)
    event_type = _service(library(), code)
    return jsonify({"service_code": event_type.code, "attributes": []})


def _coordinate(text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Open311Error(400, f"{name} {text!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise Open311Error(400, f"{name} {text!r} is out of range")
    return value


@open311_blueprint.post("/requests.json")
def create_request() -> tuple[Response, int]:
    form = request.form
    client_name = open311_client(shared_redis(), (form.get("api_key") or "").strip())
    if client_name is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with create_request.")
    _check_jurisdiction(form)
    code = (form.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    event_type = _service(library(), code)
    lat_text, lon_text = (form.get("lat") or "").strip(), (form.get("long") or "").strip()
    address = (form.get("address_string") or "").strip()
    if bool(lat_text) != bool(lon_text):
        raise Open311Error(400, "lat and long must be given together")
    if not lat_text and not address and not (form.get("address_id") or "").strip():
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
    lat = _coordinate(lat_text, "lat", -90, 90) if lat_text else None
    lon = _coordinate(lon_text, "long", -180, 180) if lon_text else None
    district = str(district_of(lon, lat)) if lat is not None and lon is not None else ""
    if lat is not None and not district:
        raise Open311Error(400, "lat/long lie outside the jurisdiction (襄阳市)")
    description = (form.get("description") or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise Open311Error(400, f"description has more than {DESCRIPTION_MAX} characters")
    media = (form.get("media_url") or "").strip()
    if media and not media.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    # Contact details (email, phone) are not kept: the hub needs who filed it, not how to reach the citizen.
    person = " ".join(p for p in ((form.get("first_name") or "").strip(), (form.get("last_name") or "").strip()) if p)
    report = Report(
        type_code=event_type.code,
        location=Location(lat, lon, address),
        description=description,
        source=Source.OPEN311,
        source_ref=client_name,
        reporter=f"{client_name}: {person}" if person else client_name,
        media=(media,) if media else (),
    )
    cfg = settings()
    event = file_report(shared_redis(), report, library(), district, time.time(), time_scale=cfg.dispatch_time_scale)
    notice = f"已受理，编号 {event.id} / received as {event.id}"
    return jsonify([{"service_request_id": event.id, "service_notice": notice, "account_id": None}]), 200


def _request_doc(event: Event, lib: Library, lang: Lang) -> dict[str, Any]:
    """One request as the spec words it; the names and the status note in `lang` (the handlers' own note, as they
    wrote it, when there is one)."""
    event_type = lib.types[event.type_code]
    where = event.location
    return {
        "service_request_id": event.id,
        "status": "closed" if event.status is Status.CLOSED else "open",
        "status_notes": event.note or _STATUS_NOTES[lang][event.status],
        "service_name": event_type.name_en if lang == "en" else event_type.name_zh,
        "service_code": event_type.code,
        "description": event.description,
        "agency_responsible": agency_name(event, lib, lang),
        "service_notice": "",
        "requested_datetime": _iso(event.reported_at),
        "updated_datetime": _iso(event.updated_at),
        "expected_datetime": _iso(clock_due(event, Clock.HANDLING)),
        "address": where.address,
        "address_id": "",
        "zipcode": "",
        "lat": where.lat,
        "long": where.lon,
        "media_url": event.media[0] if event.media else "",
    }


def _published(event: Event, lib: Library) -> bool:
    """Requests of the jurisdiction's services only: emergencies are not listed to the public."""
    return lib.types[event.type_code].open311


def _date(text: str, name: str) -> float:
    try:
        return parse_timestamp(text)
    except ValueError:
        raise Open311Error(400, f"{name} {text!r} is not a W3C date-time") from None


@open311_blueprint.get("/requests.json")
def list_requests() -> Response:
    args = request.args
    _check_jurisdiction(args)
    lib, lang = library(), _lang()
    client = shared_redis()
    ids = [i.strip() for i in (args.get("service_request_id") or "").split(",") if i.strip()]
    if ids:  # the spec: a list of ids overrides every other filter
        events = get_events(client, ids[:LIST_MAX])
    else:
        now = time.time()
        end = _date(args["end_date"], "end_date") if args.get("end_date") else now
        start = _date(args["start_date"], "start_date") if args.get("start_date") else end - LIST_DAYS * 86_400
        if end - start > LIST_DAYS * 86_400 or end < start:
            raise Open311Error(400, f"start_date to end_date must span at most {LIST_DAYS} days, in order")
        codes = {c.strip() for c in (args.get("service_code") or "").split(",") if c.strip()}
        status = (args.get("status") or "").strip()
        if status and status not in ("open", "closed"):
            raise Open311Error(400, "status must be open or closed")
        events = [
            e
            for e in list_reported(client, start, end, LIST_MAX * 2)
            if (not codes or e.type_code in codes)
            and (not status or (e.status is Status.CLOSED) == (status == "closed"))
        ]
    return jsonify([_request_doc(e, lib, lang) for e in events if _published(e, lib)][:LIST_MAX])


@open311_blueprint.get("/requests/<request_id>.json")
def get_request(request_id: str) -> Response:
    _check_jurisdiction(request.args)
    lib, lang = library(), _lang()
    event = get_event(shared_redis(), request_id)
    if event is None or not _published(event, lib):
        raise Open311Error(404, f"service_request_id {request_id!r} is not known")
    return jsonify([_request_doc(event, lib, lang)])
