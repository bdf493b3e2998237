"""Alerts over HTTP for duty officers and other systems: read alerts and incidents with their history,
acknowledge, assign, resolve (an alert or a whole incident with one note), silence, and the duty log (JSON, CSV
or Excel). docs/alerts.md#pages-and-api lists the endpoints.

Reading needs what every page needs (the request guard: a session or a wall token where reading is not open),
and reads only what the user's scope covers (auth.scope): a district leader gets their own district's alerts,
silences and duty-log entries, and a 403 for another district's. Every state-changing endpoint authorises
server-side (`authorize(Permission.ACT)`) and records the signed-in user as the actor: a body can say nothing
about who acted. The request guard of auth.web has already refused cross-origin requests. Errors are JSON
(api.responses): 400 bad input, 401 not signed in, 403 not allowed, 404 unknown alert or silence, 409 refused by
the lifecycle, 503 Redis unavailable. An incident belongs to one district or to the city, as its members do, and
is read under the same scope.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request

from alerts import store
from alerts.dutylog import parse_window
from alerts.incidents import IncidentView
from alerts.lifecycle import InvalidTransition
from alerts.model import Alert
from alerts.officer import RECENT_MAX, AlertFilter, assignee_for, clean_note, silence_for
from api.responses import answer_errors_as_json, json_error, requested_lang, send_export, takes
from auth.model import Permission
from auth.scope import current_scope
from auth.web import authorize
from signs.store import shared_redis
from signs.urlstate import parse_choice, parse_int
from views.alerts import scoped_alerts, scoped_incidents, scoped_silences
from views.dutylog import duty_log_export, read_shift

alerts_blueprint = answer_errors_as_json(Blueprint("alerts_api", __name__, url_prefix="/api/v1"))

# GET /api/v1/alerts answers with at most this many alerts: a laptop's list, not a data dump.
MAX_LISTED = 500
DUTY_LOG_FORMATS = ("json", "csv", "xlsx")


@alerts_blueprint.errorhandler(store.AlertNotFound)
def _no_alert(error: store.AlertNotFound) -> tuple[Response, int]:
    return json_error(404, f"no alert {error}")


@alerts_blueprint.errorhandler(store.SilenceNotFound)
def _no_silence(error: store.SilenceNotFound) -> tuple[Response, int]:
    return json_error(404, f"no silence {error}")


@alerts_blueprint.errorhandler(store.IncidentNotFound)
def _no_incident(error: store.IncidentNotFound) -> tuple[Response, int]:
    return json_error(404, f"no incident {error}")


@alerts_blueprint.errorhandler(InvalidTransition)
def _refused(error: InvalidTransition) -> tuple[Response, int]:
    return json_error(409, str(error))


@alerts_blueprint.errorhandler(ValueError)
def _bad_input(error: ValueError) -> tuple[Response, int]:
    return json_error(400, str(error))


def _body() -> Mapping[str, Any]:
    """A JSON object or a form: scripts send the one, HTML forms the other."""
    doc = request.get_json(silent=True)
    return doc if isinstance(doc, dict) else request.form


def _readable_alert(client: redis.Redis, alert_id: str) -> Alert:
    """The alert, if it exists and the user's scope covers its district."""
    alert = store.get_alert(client, alert_id)
    if alert is None:
        raise store.AlertNotFound(alert_id)
    current_scope().require(alert.district)
    return alert


def _readable_incident(client: redis.Redis, incident_id: str) -> IncidentView:
    """The incident, if it exists and the user's scope covers its district."""
    found = store.get_incident(client, incident_id)
    if found is None:
        raise store.IncidentNotFound(incident_id)
    current_scope().require(found.district)
    return found


@alerts_blueprint.get("/alerts")
@takes("status", "level", "district", "recent")
def list_alerts() -> Response:
    wanted = AlertFilter.parse(request.args)
    scope = current_scope()
    if wanted.district:
        scope.require(wanted.district)
    alerts = scoped_alerts(shared_redis(), wanted, scope)
    return jsonify({"now": time.time(), "count": len(alerts), "alerts": [a.as_json() for a in alerts[:MAX_LISTED]]})


@alerts_blueprint.get("/alerts/<alert_id>")
@takes()
def show_alert(alert_id: str) -> Response:
    client = shared_redis()
    alert = _readable_alert(client, alert_id)
    return jsonify({**alert.as_json(), "history": [t.as_json() for t in store.history(client, alert_id)]})


@alerts_blueprint.post("/alerts/<alert_id>/acknowledge")
@takes()
def acknowledge(alert_id: str) -> Response:
    user = authorize(Permission.ACT)
    client = shared_redis()
    _readable_alert(client, alert_id)
    alert = store.acknowledge(client, alert_id, user.username, clean_note(_body().get("note"), required=False))
    return jsonify(alert.as_json())


@alerts_blueprint.post("/alerts/<alert_id>/resolve")
@takes()
def resolve(alert_id: str) -> Response:
    user = authorize(Permission.ACT)
    client = shared_redis()
    _readable_alert(client, alert_id)
    alert = store.resolve(client, alert_id, user.username, clean_note(_body().get("note"), required=True))
    return jsonify(alert.as_json())


@alerts_blueprint.post("/alerts/<alert_id>/assign")
@takes()
def assign(alert_id: str) -> Response:
    """Body: `to` (an officer's user name; the signed-in officer when absent) and an optional `note`."""
    user = authorize(Permission.ACT)
    client = shared_redis()
    _readable_alert(client, alert_id)
    body = _body()
    to = assignee_for(client, body.get("to"), user)
    alert = store.assign(client, alert_id, to, user.username, clean_note(body.get("note"), required=False))
    return jsonify(alert.as_json())


@alerts_blueprint.get("/incidents")
@takes("district", "recent", "lang")
def list_incidents() -> Response:
    """Open incidents in the pressing order (as on the wall's strip); `recent=N` adds closed ones among the N
    most recently changed."""
    lang = requested_lang()
    wanted = AlertFilter.parse({k: v for k, v in request.args.items() if k in ("district",)})
    recent = parse_int(request.args.get("recent") or "0", "recent", 0, RECENT_MAX)
    scope = current_scope()
    if wanted.district:
        scope.require(wanted.district)
    found = scoped_incidents(shared_redis(), wanted.district, scope, recent=recent)
    listed = found[:MAX_LISTED]
    return jsonify({"now": time.time(), "count": len(found), "incidents": [i.as_json(lang) for i in listed]})


@alerts_blueprint.get("/incidents/<incident_id>")
@takes("lang")
def show_incident(incident_id: str) -> Response:
    client = shared_redis()
    found = _readable_incident(client, incident_id)
    return jsonify({
        **found.as_json(requested_lang()),
        "alerts": [a.as_json() for a in found.members],
        "timeline": [entry.as_json() for entry in store.incident_timeline(client, incident_id)],
    })  # fmt: skip


@alerts_blueprint.post("/incidents/<incident_id>/acknowledge")
@takes()
def acknowledge_incident(incident_id: str) -> Response:
    """Every open member nobody had acknowledged is acknowledged with the one note, each in its own audit entry."""
    user = authorize(Permission.ACT)
    client = shared_redis()
    _readable_incident(client, incident_id)
    note = clean_note(_body().get("note"), required=False)
    return jsonify(store.acknowledge_incident(client, incident_id, user.username, note).as_json())


@alerts_blueprint.post("/incidents/<incident_id>/resolve")
@takes()
def resolve_incident(incident_id: str) -> Response:
    user = authorize(Permission.ACT)
    client = shared_redis()
    _readable_incident(client, incident_id)
    note = clean_note(_body().get("note"), required=True)
    return jsonify(store.resolve_incident(client, incident_id, user.username, note).as_json())


@alerts_blueprint.post("/incidents/<incident_id>/assign")
@takes()
def assign_incident(incident_id: str) -> Response:
    """Body: `to` (an officer's user name; the signed-in officer when absent) and an optional `note`."""
    user = authorize(Permission.ACT)
    client = shared_redis()
    _readable_incident(client, incident_id)
    body = _body()
    to = assignee_for(client, body.get("to"), user)
    note = clean_note(body.get("note"), required=False)
    return jsonify(store.assign_incident(client, incident_id, to, user.username, note).as_json())


@alerts_blueprint.get("/silences")
@takes()
def list_silences() -> Response:
    silences = scoped_silences(shared_redis(), current_scope())
    return jsonify({"silences": [s.as_json() for s in silences]})


@alerts_blueprint.post("/silences")
@takes()
def add_silence() -> tuple[Response, int]:
    user = authorize(Permission.ACT)
    body = _body()
    created = silence_for(
        shared_redis(), body.get("scope"), str(body.get("target") or ""), body.get("minutes"), body.get("reason"),
        user.username, now=time.time(),
    )  # fmt: skip
    return jsonify(created.as_json()), 201


@alerts_blueprint.post("/silences/<silence_id>/lift")
@takes()
def lift_silence(silence_id: str) -> Response:
    user = authorize(Permission.ACT)
    return jsonify(store.lift_silence(shared_redis(), silence_id, user.username).as_json())


@alerts_blueprint.get("/duty-log")
@takes("from", "to", "format", "lang")
def duty_log() -> Response:
    now = time.time()
    from_text, to_text = request.args.get("from"), request.args.get("to")
    start, end = parse_window(from_text, to_text, now)
    fmt = parse_choice(request.args.get("format") or "json", "format", DUTY_LOG_FORMATS)
    lang = requested_lang()
    if fmt != "json":
        return send_export(duty_log_export(shared_redis(), from_text, to_text, lang, now, current_scope()), fmt, lang)
    log = read_shift(shared_redis(), start, end, now, current_scope())
    return jsonify({
        "from": start,
        "to": end,
        "on_duty": [asdict(person) for person in log.on_duty],
        "sessions": [asdict(event) for event in log.sessions],
        "transitions": [t.as_json() for t in log.transitions],
        "counts": log.counts,
        "open_at_handover": [a.as_json() for a in log.open_at_handover],
        "truncated": log.truncated,
    })  # fmt: skip
