"""HTTP endpoints of the drill-down pages beside the Dash app: exports, the search index and /district.

GET /export/sign/<id>.csv|xlsx?range=&end=&vs=&lang=          every reading of the history being viewed
GET /export/district/<adcode>.csv|xlsx?sort=&filter=&lang=      the district's comparison table, sorted as shown
GET /export/module|category/<code>.csv|xlsx?filter=&dist=&sort=&lang=   the listed signs with values
GET /api/v1/search-index                                       [id, name_zh, name_en, unit, module, district, core]
GET /district                                                  redirect to the signed-in leader's district

An export takes exactly the query string of the page it is on (signs.urlstate), so it holds what is on screen,
read afresh from Redis at the moment of the download; its time is in the file. Unlike the page, an export reads
its query strictly: a parameter it does not understand is a 400 naming it. A district's export is district
detail: a leader of another district is refused (auth.scope).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from functools import cache

from flask import Blueprint, Response, abort, redirect, request

from api.geo import StaticBody, static_response
from api.responses import EXPORT_FORMATS, answer_errors_as_json, query, send_table, takes
from auth.scope import current_scope
from geo.admin import DISTRICTS
from signs.catalogue import catalogue
from signs.export import comparison_table, history_table, list_table
from signs.store import shared_redis
from signs.urlstate import (
    BEIJING,
    FILTER_ABNORMAL,
    DistrictView,
    ListView,
    QueryError,
    SignView,
    district_view,
    parse,
)

drilldown_blueprint = answer_errors_as_json(Blueprint("drilldown", __name__))

SEARCH_INDEX_URL = "/api/v1/search-index"


@cache
def search_index_body() -> StaticBody:
    """Built on first use, once per process (a second thread racing the first builds the same bytes)."""
    from signs.drill import search_index, search_index_rows

    cat = catalogue()
    doc = {
        "signs": search_index_rows(search_index(cat)),
        "modules": {code: [m.name_zh, m.name_en] for code, m in cat.modules.items()},
        "districts": {code: list(names) for code, names in DISTRICTS.items()},
    }
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return StaticBody.build(body, "application/json")


@drilldown_blueprint.get(SEARCH_INDEX_URL)
@takes()
def search_index_json() -> Response:
    return static_response(search_index_body(), request)


@drilldown_blueprint.get("/district")
def district_home() -> Response:
    """The leader's district page, with the district page's own parameters (tolerantly: it is a page)."""
    from callbacks.district import home_district

    view = district_view(home_district() or next(iter(DISTRICTS)), query())
    return redirect(view.href())  # type: ignore[return-value]


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y%m%d-%H%M")


def _split(name: str) -> tuple[str, str]:
    """`XY.P.M01.P01.csv` -> ("XY.P.M01.P01", "csv"); 404 for anything else."""
    stem, _, fmt = name.rpartition(".")
    if fmt not in EXPORT_FORMATS or not stem:
        abort(404, description="export as .csv or .xlsx")
    return stem, fmt


@drilldown_blueprint.get("/export/sign/<path:name>")
def export_sign(name: str) -> Response:
    from callbacks.sign import window_of
    from layouts.sign import source_text
    from signs.drill import levels_of
    from signs.recent import read_span

    stem, fmt = _split(name)
    view = parse(f"/sign/{stem}", query(), strict=True)
    cat = catalogue()
    if not isinstance(view, SignView) or view.sign_id not in cat.signs:
        abort(404, description=f"no sign {stem!r}")
    unknown = [i for i in view.compare if i not in cat.signs]
    if unknown:
        raise QueryError(f"vs: no sign {unknown[0]!r}")
    now = time.time()
    sign = cat.signs[view.sign_id]
    win = window_of(sign, view, now)
    client = shared_redis()
    shown = [sign, *(cat.signs[i] for i in view.compare)]
    series = [(s, read_span(client, s.id, win.start, win.end)) for s in shown]
    levels = [levels_of(s, p["ts"], p["value"]) for s, p in series]
    table = history_table(series, levels, view.lang, win.start, win.end, now, [source_text(sign)])
    base = f"{sign.id.replace(':', '-')}_{view.range}_{_stamp(win.end)}"
    display = f"{sign.name_en if view.lang == 'en' else sign.name_zh}_{view.range}_{_stamp(win.end)}"
    return send_table(table, fmt, base, display, view.lang)


@drilldown_blueprint.get("/export/district/<path:name>")
def export_district(name: str) -> Response:
    from callbacks.district import district_update, read_district, sorted_rows
    from signs.drill import district_name, short_district_name

    stem, fmt = _split(name)
    view = parse(f"/district/{stem}", query(), strict=True)
    if not isinstance(view, DistrictView) or view.adcode not in DISTRICTS:
        abort(404, description=f"no district {stem!r}")
    current_scope().require(view.adcode)
    cat = catalogue()
    now = time.time()
    latest, status, open_alerts = read_district(shared_redis(), cat, view.adcode)
    rows = sorted_rows(district_update(cat, latest, status, open_alerts, view, now)[0], view)
    name_ = district_name(view.adcode, view.lang)
    table = comparison_table(
        name_, rows, [(a, short_district_name(a, view.lang)) for a in DISTRICTS], view.lang, now,
        notes=[("district", f"{name_} ({view.adcode})")],
    )  # fmt: skip
    return send_table(table, fmt, f"district-{view.adcode}_{_stamp(now)}", f"{name_}_{_stamp(now)}", view.lang)


@drilldown_blueprint.get("/export/<any(module, category):kind>/<path:name>")
def export_list(kind: str, name: str) -> Response:
    from callbacks.signlist import read_rows, sorted_list_rows, view_signs

    stem, fmt = _split(name)
    view = parse(f"/{kind}/{stem}", query(), strict=True)
    cat = catalogue()
    groups = cat.modules if kind == "module" else cat.categories
    if not isinstance(view, ListView) or view.code not in groups:
        abort(404, description=f"no {kind} {stem!r}")
    now = time.time()
    signs = view_signs(cat, view)
    abnormal = view.filter == FILTER_ABNORMAL
    rows = sorted_list_rows(read_rows(shared_redis(), cat, signs, now, view.lang, abnormal, sparks=False), view)
    group = groups[view.code]
    title = group.name_en if view.lang == "en" else group.name_zh
    table = list_table(title, rows, view.lang, now, notes=[(kind, f"{title} ({view.code})")])
    return send_table(table, fmt, f"{kind}-{view.code}_{_stamp(now)}", f"{title}_{_stamp(now)}", view.lang)
