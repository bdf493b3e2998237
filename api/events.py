"""The event hub over HTTP (docs/dispatch.md#http): events with their history under the user's event scope, the
handling unit's steps (sign_for, progress, handle, return), its photos, and the centre's (dispatch by hand, close,
escalate, rate, an event from an alert). The pages (/inbox, /events) act through the same functions.

Every action authorises server-side. A handler's steps need Permission.HANDLE (handlers, officers, admins) and, for
a handler, an event their unit leads, checked inside the step's transaction; the centre's need Permission.ACT
(officers, admins). A handler asking for another department's event, or for a centre step, gets a 403, as does a
leader for any action; nobody signed in a 401. Errors as api.responses: 400, 401, 403, 404 unknown event, 409
refused by the lifecycle, 413 a photo too large.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request

from api.responses import answer_errors_as_json, json_error
from auth.model import Permission, User
from auth.scope import EventScope, current_event_scope, event_scope_of
from auth.web import authorize
from config import settings
from dispatch import hub
from dispatch.evidence import EvidenceError, evidence_for_handle, read_photo, store_photo
from dispatch.library import library
from dispatch.lifecycle import LifecycleError
from dispatch.model import Event
from dispatch.store import UnknownEvent, get_event, history
from signs.store import shared_redis
from views.events import scoped_open_events_json

events_blueprint = answer_errors_as_json(Blueprint("events_api", __name__, url_prefix="/api/v1/events"))
PHOTO_FIELD = "photo"
# Multipart framing around a photo at the size limit.
UPLOAD_OVERHEAD_BYTES = 16_384


@events_blueprint.errorhandler(UnknownEvent)
def _no_event(error: UnknownEvent) -> tuple[Response, int]:
    return json_error(404, f"no event {error}")


@events_blueprint.errorhandler(LifecycleError)
def _refused(error: LifecycleError) -> tuple[Response, int]:
    return json_error(409, str(error))


@events_blueprint.errorhandler(EvidenceError)
def _bad_photo(error: EvidenceError) -> tuple[Response, int]:
    return json_error(400, str(error))


def _body() -> Mapping[str, Any]:
    doc = request.get_json(silent=True)
    return doc if isinstance(doc, dict) else request.form


def _visible(event_id: str, scope: EventScope) -> Event:
    event = get_event(shared_redis(), event_id)
    if event is None:
        raise UnknownEvent(event_id)
    scope.require_sight(event)
    return event


def _evidence(body: Mapping[str, Any]) -> tuple[str, ...]:
    given = body.getlist("evidence") if hasattr(body, "getlist") else body.get("evidence") or ()
    return (given,) if isinstance(given, str) else tuple(str(u) for u in given)


@events_blueprint.get("")
def open_events() -> Response:
    return Response(scoped_open_events_json(shared_redis(), current_event_scope()), mimetype="application/json")


@events_blueprint.get("/<event_id>")
def one_event(event_id: str) -> Response:
    event = _visible(event_id, current_event_scope())
    return jsonify({"event": event.as_json(), "history": history(shared_redis(), event_id)})


def _handler_step(user: User, event_id: str, action: str, body: Mapping[str, Any]) -> Event:
    client = shared_redis()
    scope = event_scope_of(user)
    _visible(event_id, scope)  # another unit's event is a 403 before anything else is said about it
    evidence = evidence_for_handle(client, event_id, _evidence(body)) if action == "handle" else ()
    return hub.act(
        client, event_id, action, library(), user.username, time.time(),
        note=str(body.get("note") or ""), evidence=evidence, guard=scope.require_lead,
    )  # fmt: skip


def _score(body: Mapping[str, Any]) -> int:
    raw = body.get("score")
    try:
        return int(str(raw)) if raw is not None else 0
    except ValueError:
        return 0  # the lifecycle refuses it, saying what a rating is


@events_blueprint.post("/<event_id>/<action>")
def act(event_id: str, action: str) -> Response | tuple[Response, int]:
    body = _body()
    if action in hub.HANDLER_ACTIONS:
        return jsonify(_handler_step(authorize(Permission.HANDLE), event_id, action, body).as_json())
    if action != "dispatch" and action not in hub.CENTRE_ACTIONS:
        actions = ", ".join(("dispatch", *hub.ACTIONS))
        return json_error(404, f"no action {action!r}; actions: {actions}")
    user = authorize(Permission.ACT)
    client, lib, now, note = shared_redis(), library(), time.time(), str(body.get("note") or "")
    if action == "dispatch":
        department = str(body.get("department") or "")
        event = hub.dispatch_by_hand(client, event_id, lib, department, user.username, note, now)
    else:
        event = hub.act(client, event_id, action, lib, user.username, now, note=note, score=_score(body))
    return jsonify(event.as_json())


@events_blueprint.post("/<event_id>/evidence")
def upload_photo(event_id: str) -> Response | tuple[Response, int]:
    """One photo (multipart field `photo`) for an event the user's unit leads; answers its URL."""
    user = authorize(Permission.HANDLE)
    event_scope_of(user).require_lead(_visible(event_id, event_scope_of(user)))
    cfg = settings()
    if (request.content_length or 0) > cfg.evidence_photo_max_bytes + UPLOAD_OVERHEAD_BYTES:
        return json_error(413, f"a photo has at most {cfg.evidence_photo_max_bytes // 1000} kB")
    upload = request.files.get(PHOTO_FIELD)
    if upload is None:
        return json_error(400, f"send the photo as the multipart field {PHOTO_FIELD!r}")
    url = store_photo(
        shared_redis(), event_id, upload.read(cfg.evidence_photo_max_bytes + 1),
        max_bytes=cfg.evidence_photo_max_bytes, per_event=cfg.evidence_photos_per_event,
        keep_s=cfg.evidence_retention_days * 86_400,
    )  # fmt: skip
    return jsonify({"url": url})


@events_blueprint.get("/<event_id>/evidence/<photo_id>")
def photo(event_id: str, photo_id: str) -> Response | tuple[Response, int]:
    _visible(event_id, current_event_scope())
    found = read_photo(shared_redis(), event_id, photo_id)
    if found is None:
        return json_error(404, f"no photo {photo_id} of event {event_id}")
    response = Response(found.data, mimetype=found.content_type)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@events_blueprint.post("/from-alert")
def from_alert() -> Response:
    """An event raised from an alert or an incident (`alert`: its id) of the chosen `type`, by an officer."""
    user = authorize(Permission.ACT)
    body = _body()
    event = hub.raise_from_alert(
        shared_redis(), library(), str(body.get("type") or ""), str(body.get("alert") or ""), user.username,
        time.time(), time_scale=settings().dispatch_time_scale,
    )  # fmt: skip
    return jsonify(event.as_json())
