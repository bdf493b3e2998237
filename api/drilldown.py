"""HTTP endpoints of the drill-down pages beside the Dash app: exports, the search index and /district.

GET /export/sign/<id>.csv|xlsx?range=&end=&vs=&lang=          every reading of the history being viewed
GET /export/district/<adcode>.csv|xlsx?sort=&filter=&lang=      the district's comparison table, sorted as shown
GET /export/module|category/<code>.csv|xlsx?filter=&dist=&sort=&lang=   the listed signs with values
GET /api/v1/search-index                                       [id, name_zh, name_en, unit, module, district, core]
GET /district                                                  redirect to the signed-in leader's district

An export takes exactly the query string of the page it is on (signs.urlstate), so it holds what is on screen,
read afresh from Redis at the moment of the download by the same view (views/) the page's callbacks call; its time
is in the file. Unlike the page, an export reads its query strictly: a parameter it does not understand is a 400
naming it. A district's export is district detail: a leader of another district is refused (auth.scope).
"""

from __future__ import annotations

import json
import time
from functools import cache

from flask import Blueprint, Response, abort, redirect, request

from api.geo import StaticBody, static_response
from api.responses import EXPORT_FORMATS, answer_errors_as_json, query, send_export, takes
from auth.scope import current_scope
from auth.web import current_user
from geo.admin import DISTRICTS
from signs.catalogue import catalogue
from signs.store import shared_redis
from signs.urlstate import DistrictView, ListView, QueryError, SignView, district_view, parse
from views import district, search, sign, signlist

drilldown_blueprint = answer_errors_as_json(Blueprint("drilldown", __name__))

SEARCH_INDEX_URL = "/api/v1/search-index"


@cache
def search_index_body() -> StaticBody:
    """Built on first use, once per process (a second thread racing the first builds the same bytes)."""
    body = json.dumps(search.index_document(catalogue()), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return StaticBody.build(body, "application/json")


@drilldown_blueprint.get(SEARCH_INDEX_URL)
@takes()
def search_index_json() -> Response:
    return static_response(search_index_body(), request)


@drilldown_blueprint.get("/district")
def district_home() -> Response:
    """The leader's district page, with the district page's own parameters (tolerantly: it is a page)."""
    view = district_view(district.home_district(current_user()) or next(iter(DISTRICTS)), query())
    return redirect(view.href())  # type: ignore[return-value]


def _split(name: str) -> tuple[str, str]:
    """`XY.P.M01.P01.csv` -> ("XY.P.M01.P01", "csv"); 404 for anything else."""
    stem, _, fmt = name.rpartition(".")
    if fmt not in EXPORT_FORMATS or not stem:
        abort(404, description="export as .csv or .xlsx")
    return stem, fmt


@drilldown_blueprint.get("/export/sign/<path:name>")
def export_sign(name: str) -> Response:
    stem, fmt = _split(name)
    view = parse(f"/sign/{stem}", query(), strict=True)
    cat = catalogue()
    if not isinstance(view, SignView) or view.sign_id not in cat.signs:
        abort(404, description=f"no sign {stem!r}")
    unknown = [i for i in view.compare if i not in cat.signs]
    if unknown:
        raise QueryError(f"vs: no sign {unknown[0]!r}")
    return send_export(sign.history_export(shared_redis(), cat, view, time.time()), fmt, view.lang)


@drilldown_blueprint.get("/export/district/<path:name>")
def export_district(name: str) -> Response:
    stem, fmt = _split(name)
    view = parse(f"/district/{stem}", query(), strict=True)
    if not isinstance(view, DistrictView) or view.adcode not in DISTRICTS:
        abort(404, description=f"no district {stem!r}")
    current_scope().require(view.adcode)
    return send_export(district.district_export(shared_redis(), catalogue(), view, time.time()), fmt, view.lang)


@drilldown_blueprint.get("/export/<any(module, category):kind>/<path:name>")
def export_list(kind: str, name: str) -> Response:
    stem, fmt = _split(name)
    view = parse(f"/{kind}/{stem}", query(), strict=True)
    cat = catalogue()
    if not isinstance(view, ListView) or not signlist.known(cat, view):
        abort(404, description=f"no {kind} {stem!r}")
    return send_export(signlist.list_export(shared_redis(), cat, view, time.time()), fmt, view.lang)
