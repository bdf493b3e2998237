"""The read API beside the wall: what the wall shows, as JSON, for other systems and for the tests.

GET /api/v1/signs/{id}?lang=en                 one sign: catalogue entry and its latest value
GET /api/v1/snapshot?category=&district=&lang= every sign of a category and/or district with its value
(lang: zh, the default, or en: the language of each sign's name, unit label, definition and owner)
GET /healthz                                   Redis, the MQTT broker (and what it dropped), feed workers and the board;
                                               503 when not all well
GET /readyz                                    whether this instance can serve: Redis, the catalogue, a fresh board;
                                               503 when not

Sign values are read city-wide by whoever may read (auth.scope); errors are api.responses' JSON. What each answer
holds is views.snapshot's and views.health's.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, abort, request

from api.responses import answer_errors_as_json, requested_lang, takes
from signs.catalogue import catalogue
from signs.store import shared_redis
from views.health import health, readiness
from views.snapshot import one_sign, snapshot

signs_blueprint = answer_errors_as_json(Blueprint("signs_api", __name__))


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


@signs_blueprint.get("/api/v1/signs/<sign_id>")
@takes("lang")
def get_sign(sign_id: str) -> Response:
    lang = requested_lang()
    sign = catalogue().signs.get(sign_id)
    if sign is None:
        abort(404, description=f"no sign {sign_id!r} in the catalogue")
    return _json(one_sign(shared_redis(), sign, time.time(), lang))


@signs_blueprint.get("/api/v1/snapshot")
@takes("category", "district", "lang")
def get_snapshot() -> Response:
    args, lang = request.args, requested_lang()
    return _json(snapshot(shared_redis(), catalogue(), args.get("category"), args.get("district"), time.time(), lang))


@signs_blueprint.get("/healthz")
def healthz() -> Response:
    doc = health(shared_redis(), time.time())
    return _json(doc, status=200 if doc["ok"] else 503)


@signs_blueprint.get("/readyz")
def readyz() -> Response:
    doc = readiness(shared_redis(), time.time())
    return _json(doc, status=200 if doc["ok"] else 503)
