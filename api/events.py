"""The event hub over HTTP for the centre's officers (docs/dispatch.md#http): read events with their history, and act
on one: sign_for, progress, handle (note and evidence URLs), close, return (with a reason), escalate, or dispatch by
hand to a department.

Reading follows the request guard like every API (a session or a wall token where reading is not open). Every action
authorises server-side (`authorize(Permission.ACT)`: officers and admins; a leader gets a 403, nobody signed in a
401) and records the signed-in user as the actor. Department handlers' own accounts, scoped to their department,
come with their inbox page. Errors as api.responses: 400, 401, 403, 404 unknown event, 409 refused by the lifecycle.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request

from api.responses import answer_errors_as_json, json_error
from auth.model import Permission
from auth.web import authorize
from dispatch import hub
from dispatch.library import library
from dispatch.lifecycle import LifecycleError
from dispatch.store import UnknownEvent, get_event, history, list_open
from signs.store import shared_redis

events_blueprint = answer_errors_as_json(Blueprint("events_api", __name__, url_prefix="/api/v1/events"))
EVIDENCE_MAX = 10


@events_blueprint.errorhandler(UnknownEvent)
def _no_event(error: UnknownEvent) -> tuple[Response, int]:
    return json_error(404, f"no event {error}")


@events_blueprint.errorhandler(LifecycleError)
def _refused(error: LifecycleError) -> tuple[Response, int]:
    return json_error(409, str(error))


def _body() -> Mapping[str, Any]:
    doc = request.get_json(silent=True)
    return doc if isinstance(doc, dict) else request.form


@events_blueprint.get("")
def open_events() -> Response:
    return jsonify([event.as_json() for event in list_open(shared_redis())])


@events_blueprint.get("/<event_id>")
def one_event(event_id: str) -> Response | tuple[Response, int]:
    client = shared_redis()
    event = get_event(client, event_id)
    if event is None:
        return json_error(404, f"no event {event_id}")
    return jsonify({"event": event.as_json(), "history": history(client, event_id)})


@events_blueprint.post("/<event_id>/<action>")
def act(event_id: str, action: str) -> Response | tuple[Response, int]:
    user = authorize(Permission.ACT)
    body = _body()
    note = str(body.get("note") or "")
    client, lib, now = shared_redis(), library(), time.time()
    if action == "dispatch":
        event = hub.dispatch_by_hand(client, event_id, lib, str(body.get("department") or ""), user.username, note, now)
        return jsonify(event.as_json())
    if action not in hub.ACTIONS:
        return json_error(404, f"no action {action!r}; actions: dispatch, {', '.join(hub.ACTIONS)}")
    evidence = body.get("evidence") or ()
    if isinstance(evidence, str):
        evidence = (evidence,)
    urls = tuple(str(u) for u in evidence)
    if len(urls) > EVIDENCE_MAX or not all(u.startswith(("http://", "https://")) for u in urls):
        return json_error(400, f"evidence is at most {EVIDENCE_MAX} http(s) URLs")
    event = hub.act(client, event_id, action, lib, user.username, now, note=note, evidence=urls)
    return jsonify(event.as_json())
