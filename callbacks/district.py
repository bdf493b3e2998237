"""The district page's callbacks: the comparison table, the alert engine's open alerts, summary and map colours
(on load and every TICK), and the table's sort written back into the URL. Thin: Redis reads, then pure functions.
Nothing is read for a district the user's scope does not cover (auth.scope), whoever sends the request.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import redis
from dash import ClientsideFunction, Dash, Input, Output, State, html, no_update

from alerts.model import Alert, AlertStatus
from alerts.store import list_active
from auth.scope import current_scope
from auth.web import current_user
from callbacks.nav import sorted_links
from geo.admin import DISTRICTS
from layouts import district as ids
from layouts.district import DEFAULT_SORT, alerts_children, summary_children
from signs.catalogue import catalogue
from signs.drill import ActiveAlert, CoreRow, comparison_sign_ids, core_rows, district_signs, sign_name
from signs.keys import KEY_CAMERA_STATUS, KEY_LATEST, Latest
from signs.model import Catalogue
from signs.store import shared_redis
from signs.urlstate import DISTRICT_SORT_COLUMNS, FILTER_ABNORMAL, DistrictView, SignView, Sort, parse_url


def view_of(href: str | None) -> DistrictView | None:
    view = parse_url(href or "")
    return view if isinstance(view, DistrictView) and view.adcode in DISTRICTS else None


def home_district() -> str:
    """The signed-in leader's district, for /district without one."""
    user = current_user()
    return user.district if user is not None and user.district in DISTRICTS else ""


def grid_rows(rows: list[CoreRow], adcode: str, lang: str, only_abnormal: bool = False) -> list[dict[str, Any]]:
    """The table's rows: the district's value and level, the city's, its rank, and every district's value.
    Not-normal filter: rows where the district is beyond a threshold, or, for indicators without a district
    breakdown, where the city is."""
    out = []
    for row in rows:
        own = row.districts.get(adcode)
        own_sign = row.district_signs.get(adcode)
        rank = row.rank(adcode)
        item: dict[str, Any] = {
            "id": row.core.id,
            "sign_id": own_sign.id if own_sign else row.core.id,
            "href": SignView(own_sign.id if own_sign else row.core.id, lang=lang).href(),  # type: ignore[arg-type]
            "name": sign_name(row.core, lang),
            "unit": row.core.unit,
            "value": own.value if own else None,
            "level": own.level if own and own.value is not None else None,
            "level_stale": bool(own and own.stale),
            "city": row.city.value,
            "city_level": row.city.level if row.city.value is not None else None,
            "city_level_stale": row.city.stale,
            "rank": rank,
            "rank_text": f"{rank}/{len(row.ranking)}" if rank else "",
        }
        for code, c in row.districts.items():
            item[f"d_{code}"] = c.value
            item[f"l_{code}"] = c.level if c.value is not None else None
            item[f"l_{code}_stale"] = c.stale
        if only_abnormal:
            level = item["level"] if own is not None else item["city_level"]
            if not level:
                continue
        out.append(item)
    return out


def district_levels(rows: list[CoreRow]) -> dict[str, int]:
    """Per district, the worst level among its core indicators: the map's colour."""
    worst: dict[str, int] = {adcode: 0 for adcode in DISTRICTS}
    for row in rows:
        for adcode, c in row.districts.items():
            if c.value is not None:
                worst[adcode] = max(worst[adcode], c.level)
    return worst


def camera_rate(status: Mapping[str, Any] | None, adcode: str) -> float | None:
    """The district's share of cameras online (percent), from the roll-up's status document."""
    if not status:
        return None
    everything = (status.get("rates") or {}).get(adcode, {}).get("all") or {}
    rate = everything.get("rate")
    return float(rate) if rate is not None else None


def read_district(
    client: redis.Redis, cat: Catalogue, adcode: str
) -> tuple[dict[str, Latest], dict[str, Any] | None, list[Alert]]:
    ids_ = list(dict.fromkeys([*comparison_sign_ids(cat), *(s.id for s in district_signs(cat, adcode))]))
    with client.pipeline(transaction=False) as pipe:
        pipe.hmget(KEY_LATEST, ids_)
        pipe.get(KEY_CAMERA_STATUS)
        values, status = pipe.execute()
    latest = {i: Latest.decode(raw) for i, raw in zip(ids_, values, strict=True) if raw}
    return latest, (json.loads(status) if status else None), list_active(client, district=adcode)


def district_alerts(cat: Catalogue, alerts: list[Alert]) -> list[ActiveAlert]:
    """The engine's open alerts of signs in the catalogue, unacknowledged first, then most severe, then newest."""
    out = [
        ActiveAlert(
            sign=cat.signs[a.sign_id],
            level=int(a.level),
            value=a.value,
            since=a.since,
            status=a.status.value,
            acknowledged_by=a.acknowledged.by if a.acknowledged else "",
            escalation=a.escalation,
            silenced=a.silence is not None,
        )
        for a in alerts
        if a.sign_id in cat.signs
    ]
    out.sort(key=lambda a: (a.status == AlertStatus.ACKNOWLEDGED, -a.level, -a.since))
    return out


def district_update(
    cat: Catalogue,
    latest: Mapping[str, Latest],
    status: Mapping[str, Any] | None,
    open_alerts: list[Alert],
    view: DistrictView,
    now: float,
) -> tuple[Any, ...]:
    """(grid rows, alerts, summary, map hideout levels) of one district; pure."""
    rows = core_rows(cat, latest, now)
    alerts = district_alerts(cat, open_alerts)
    counts = Counter(a.level for a in alerts)
    table = grid_rows(rows, view.adcode, view.lang, view.filter == FILTER_ABNORMAL)
    cores_abnormal = sum(1 for r in rows if (r.districts.get(view.adcode) or r.city).level > 0)
    return (
        table,
        alerts_children(alerts, view),
        summary_children(dict(counts), cores_abnormal, camera_rate(status, view.adcode), view),
        district_levels(rows),
    )


def sorted_view(view: DistrictView, column_state: list[dict[str, Any]] | None) -> DistrictView:
    """The view with the grid's sort (the first sorted column); the default sort is left out of the URL."""
    sorted_cols = [c for c in (column_state or []) if c.get("sort") in ("asc", "desc")]
    sorted_cols.sort(key=lambda c: c.get("sortIndex") or 0)
    if not sorted_cols or sorted_cols[0].get("colId") not in DISTRICT_SORT_COLUMNS:
        return view.with_(sort=None)
    sort = Sort(sorted_cols[0]["colId"], sorted_cols[0]["sort"])
    return view.with_(sort=None if (sort.column, sort.direction) == DEFAULT_SORT else sort)


def _sort_key(row: dict[str, Any], column: str) -> Any:
    field = {"level": "level", "name": "name", "value": "value", "unit": "unit", "city": "city", "rank": "rank"}.get(
        column, f"d_{column}"
    )
    return row.get(field)


def sorted_rows(rows: list[dict[str, Any]], view: DistrictView) -> list[dict[str, Any]]:
    """The rows in the order the grid shows them for this view (empty cells last), for exports."""
    column, direction = (view.sort.column, view.sort.direction) if view.sort else DEFAULT_SORT
    present = [r for r in rows if _sort_key(r, column) is not None]
    empty = [r for r in rows if _sort_key(r, column) is None]
    present.sort(key=lambda r: _sort_key(r, column), reverse=direction == "desc")
    return present + empty


def on_tick(href: str | None, _n: int | None) -> tuple[Any, ...]:
    view = view_of(href)
    if view is None or not current_scope().covers(view.adcode):
        return no_update, no_update, no_update, no_update
    cat = catalogue()
    try:
        latest, status, open_alerts = read_district(shared_redis(), cat, view.adcode)
    except redis.RedisError as error:
        return no_update, [html.Span(f"Redis: {error}", className="error")], no_update, no_update
    table, alerts, summary, levels = district_update(cat, latest, status, open_alerts, view, time.time())
    return table, alerts, summary, levels


def on_sort(column_state: list[dict[str, Any]] | None, href: str | None) -> tuple[Any, Any, Any]:
    return sorted_links(view_of(href), column_state, sorted_view)


def register(app: Dash) -> None:
    app.callback(
        Output(ids.GRID, "rowData"),
        Output(ids.ALERTS, "children"),
        Output(ids.SUMMARY, "children"),
        Output(ids.LEVELS, "data"),
        Input(ids.STATE, "data"),
        Input(ids.TICK, "n_intervals"),
    )(on_tick)
    # In the browser, so the style function also has the levels when the layer finishes loading after them.
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_drill", function_name="applyLevels"),
        Output(ids.LAYER, "hideout"),
        Input(ids.LEVELS, "data"),
        State(ids.LAYER, "hideout"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.URL, "data"),
        Output(ids.EXPORT_CSV, "href"),
        Output(ids.EXPORT_XLSX, "href"),
        Input(ids.GRID, "columnState"),
        State(ids.STATE, "data"),
        prevent_initial_call=True,
    )(on_sort)
    # No output: the browser's address bar is the only thing it changes.
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_drill", function_name="replaceUrl"),
        Input(ids.URL, "data"),
        prevent_initial_call=True,
    )
