"""The district page: a district's 55 core indicators against the city and the other districts (a sortable
table), its active alerts, and the map zoomed to it with its cameras. No I/O.

The table's sort is written back into the URL (replaceState, no new history entry) so that a copied link
sorts the same way; the not-normal filter and the district itself are links. A district leader may open their
own district's page only (auth.scope); another district's says so and links to theirs.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
import dash_leaflet as dl
from dash import dcc, html
from dash.development.base_component import Component
from dash_extensions.javascript import Namespace

from api.geo import DISTRICTS_URL
from auth.scope import WHOLE_CITY, Scope, scope_of
from auth.web import current_user
from geo.admin import DISTRICTS
from layouts import camera_layer, nav
from layouts.events import STATUS_LABELS
from layouts.nav import DrillContext, format_value, level_chip, text
from layouts.titles import tab_title
from signs.citytime import TimeFormat, city_text
from signs.drill import ActiveAlert, district_name, short_district_name, sign_name
from signs.urlstate import FILTER_ABNORMAL, FILTER_ALL, DistrictView, SignView, district_view
from views.events import EventCard, EventFilter
from views.grid import DEFAULT_SORT

# Component ids: callbacks/district.py and assets/drilldown.js use these names and no others.
STATE = "district-state"  # the view's canonical URL
URL = "district-url"  # the URL after a sort, for replaceState
TICK = "district-tick"
GRID = "district-grid"
ALERTS = "district-alerts"
EVENTS = "district-events"  # the district's open events, read-only (views.district.district_events)
SUMMARY = "district-summary"
MAP = "district-map"
LAYER = "district-layer"
LEVELS = "district-levels"  # worst level per district, for the map (assets/drilldown.js applyLevels)
EXPORT_CSV = "district-export-csv"
EXPORT_XLSX = "district-export-xlsx"

GRID_HEIGHT_PX = 520
ns = Namespace("cityeye", "drill")

TEXT = {
    "zh": {
        "title": "{name} · 城市体征", "alerts": "当前告警", "no_alerts": "本区当前没有告警",
        "raised": "未确认", "acknowledged": "已确认 · {by}", "cleared": "已恢复 · 待确认", "escalated": "超时 {n} 级",
        "silenced": "静默中", "table": "55 项核心指标 · 本区与全市、各区县对比", "value": "本区", "rank": "排名",
        "rank_tip": "按超阈程度排名，1 = 最严重",
        "cameras": "视频在线率", "cores_abnormal": "核心指标非正常", "none": "—", "more": "另有 {n} 项",
        "unknown": "未知区县", "pick": "选择区县", "only_district": "仅全市口径",
        "out_of_scope": "{name}的区县详情只对本区县开放", "own": "查看{name}",
        "events": "本区在办事件", "no_events": "本区当前没有在办事件", "events_count": "共 {n} 件，超时 {late} 件",
        "late": "超时", "due": "时限 {at}", "unit": "承办 {unit}", "centre": "城运中心待派",
    },
    "en": {
        "title": "{name} · city signs", "alerts": "Open alerts",
        "no_alerts": "No open alerts in this district",
        "raised": "unacknowledged", "acknowledged": "acknowledged · {by}", "cleared": "recovered · unacknowledged",
        "escalated": "overdue ×{n}", "silenced": "silenced",
        "table": "The 55 core signs · this district against the city and the others",
        "value": "District", "rank": "Rank", "rank_tip": "Ranked by how far beyond its thresholds, 1 = worst",
        "cameras": "Cameras online", "cores_abnormal": "core signs not normal", "none": "—", "more": "{n} more",
        "unknown": "Unknown district", "pick": "Pick a district", "only_district": "city-wide only",
        "out_of_scope": "The district detail of {name} is for its own leaders", "own": "Open {name}",
        "events": "Open events in this district", "no_events": "No open events in this district",
        "events_count": "{n} open, {late} overdue", "late": "overdue", "due": "due {at}", "unit": "by {unit}",
        "centre": "waiting at the centre",
    },
}  # fmt: skip


def _t(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "zh"]


def theme() -> dict[str, str]:
    """ag-grid's Quartz theme in the wall's dark colours (Theming API, dash-ag-grid >= 33)."""
    return {
        "function": "themeQuartz.withParams({backgroundColor: '#0d1729', foregroundColor: '#e6f1ff', "
        "headerBackgroundColor: '#12213a', headerTextColor: '#9fd0ff', borderColor: '#1d3454', "
        "rowHoverColor: '#16294a', oddRowBackgroundColor: '#0b1424', accentColor: '#5fc8ff', "
        "fontSize: 14, headerFontSize: 13, spacing: 5, wrapperBorderRadius: 6, "
        "fontFamily: ['Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', 'PingFang SC', 'sans-serif']})"
    }


def level_class_rules(field: str) -> dict[str, str]:
    return {f"lvl-cell-{n}": f"params.data.{field} === {n}" for n in range(1, 5)} | {
        "stale-cell": f"params.data.{field}_stale === true"
    }


def grid_columns(view: DistrictView) -> list[dict[str, Any]]:
    t, d = text(view.lang), _t(view.lang)
    sort_col, sort_dir = (view.sort.column, view.sort.direction) if view.sort else DEFAULT_SORT

    def sorted_(col: str) -> dict[str, Any]:
        return {"sort": sort_dir} if col == sort_col else {}

    columns: list[dict[str, Any]] = [
        {"field": "level", "colId": "level", "headerName": t["level"], "width": 84, "pinned": "left",
         "cellRenderer": "LevelChip", "cellRendererParams": {"names": list(nav.LEVEL_NAMES[view.lang])},
         **sorted_("level")},
        {"field": "name", "colId": "name", "headerName": t["name"], "width": 190, "pinned": "left",
         "cellRenderer": "DrillLink", "tooltipField": "id", **sorted_("name")},
        {"field": "value", "colId": "value", "headerName": d["value"], "width": 96, "type": "rightAligned",
         "valueFormatter": {"function": "cityeyeNumber(params.value)"}, "cellClassRules": level_class_rules("level"),
         **sorted_("value")},
        {"field": "unit", "colId": "unit", "headerName": t["unit"], "width": 78, **sorted_("unit")},
        {"field": "city", "colId": "city", "headerName": t["city"], "width": 96, "type": "rightAligned",
         "valueFormatter": {"function": "cityeyeNumber(params.value)"},
         "cellClassRules": level_class_rules("city_level"), **sorted_("city")},
        {"field": "rank", "colId": "rank", "headerName": d["rank"], "headerTooltip": d["rank_tip"], "width": 74,
         "valueFormatter": {"function": "params.data.rank_text"}, **sorted_("rank")},
    ]  # fmt: skip
    for adcode in DISTRICTS:
        columns.append(
            {
                "field": f"d_{adcode}", "colId": adcode, "headerName": short_district_name(adcode, view.lang),
                "headerTooltip": district_name(adcode, view.lang), "width": 82, "type": "rightAligned",
                "valueFormatter": {"function": "cityeyeNumber(params.value)"},
                "cellClassRules": level_class_rules(f"l_{adcode}"),
                "headerClass": "own-district" if adcode == view.adcode else "",
                "cellClass": "own-district" if adcode == view.adcode else "",
                **sorted_(adcode),
            }
        )  # fmt: skip
    return columns


def _map(ctx: DrillContext, view: DistrictView) -> html.Div:
    west, south, east, north = ctx.district_bounds[view.adcode]
    tiles = [dl.TileLayer(url=ctx.tile_url, attribution=ctx.tile_attribution)] if ctx.tile_url else []
    return html.Div(
        className="district-map card",
        children=[
            dl.Map(
                id=MAP,
                center=[(south + north) / 2, (west + east) / 2],
                zoom=9,
                # Fitted once the map knows its size (the initial `bounds` prop breaks prop updates).
                viewport={"bounds": [[south, west], [north, east]], "transition": "fitBounds"},
                zoomSnap=0.25,
                attributionControl=bool(ctx.tile_url),
                className="map",
                children=[
                    *tiles,
                    dl.GeoJSON(
                        id=LAYER,
                        url=DISTRICTS_URL,
                        style=ns("districtStyle"),
                        onEachFeature=ns("districtFeature"),
                        hideout={
                            "selected": view.adcode,
                            "levels": {},
                            "lang": view.lang,
                            "search": view.href().partition("?")[2],
                        },
                    ),
                    camera_layer.camera_layer(view.lang),
                ],
            ),
            # The camera layer's poll fills these; the district's own rate is in the summary instead.
            html.Div(camera_layer.camera_rates(view.lang), className="hidden-rates"),
            camera_layer.camera_detail(view.lang),
            *camera_layer.camera_polls(),
        ],
    )


def _filter_links(view: DistrictView) -> html.Div:
    t = text(view.lang)
    return html.Div(
        className="segmented",
        children=[
            dcc.Link(
                t["all"],
                href=view.with_(filter=FILTER_ALL).href(),
                className="seg active" if view.filter == FILTER_ALL else "seg",
            ),
            dcc.Link(
                t["abnormal"],
                href=view.with_(filter=FILTER_ABNORMAL).href(),
                className="seg active" if view.filter == FILTER_ABNORMAL else "seg",
                id="district-filter-abnormal",
            ),
        ],
    )


def out_of_scope(ctx: DrillContext, view: DistrictView, scope: Scope) -> html.Div:
    """Another district's page, for a leader of one district: refused, with the way to their own."""
    d = _t(view.lang)
    refusal: list[Component] = [
        html.H1(d["out_of_scope"].format(name=district_name(view.adcode, view.lang))),
    ]
    if scope.district in DISTRICTS:
        own = view.with_(adcode=scope.district)
        refusal.append(dcc.Link(d["own"].format(name=district_name(scope.district, view.lang)), href=own.href()))
    return nav.page(ctx, view, [html.Div(className="not-found out-of-scope", children=refusal)])


def layout(ctx: DrillContext, view: DistrictView, scope: Scope = WHOLE_CITY) -> html.Div:
    d = _t(view.lang)
    if view.adcode not in DISTRICTS:
        return nav.not_found(ctx, view, view.adcode or d["pick"])
    if not scope.covers(view.adcode):
        return out_of_scope(ctx, view, scope)
    name = district_name(view.adcode, view.lang)
    body: list[Component] = [
        html.Section(
            className="title-row",
            children=[
                html.H1(d["title"].format(name=name), className="page-title"),
                html.Div(
                    id=SUMMARY, className="summary", children=html.Span(text(view.lang)["loading"], className="muted")
                ),
            ],
        ),
        html.Div(
            className="district-top",
            children=[
                html.Section(
                    className="card district-alerts",
                    children=[html.H2(d["alerts"]), html.Div(id=ALERTS, className="alert-list")],
                ),
                _map(ctx, view),
            ],
        ),
        html.Section(
            className="card district-events",
            children=[html.H2(d["events"]), html.Div(id=EVENTS, className="event-list")],
        ),
        html.Section(
            className="card table",
            children=[
                html.Div(
                    className="toolbar",
                    children=[
                        html.H2(d["table"]),
                        _filter_links(view),
                        nav.export_links(
                            nav.export_href(view.href(), "csv"),
                            nav.export_href(view.href(), "xlsx"),
                            view.lang,
                            ids=(EXPORT_CSV, EXPORT_XLSX),
                        ),
                    ],
                ),
                dag.AgGrid(
                    id=GRID,
                    columnDefs=grid_columns(view),
                    rowData=[],
                    getRowId="params.data.id",
                    defaultColDef={"sortable": True, "resizable": True, "suppressMovable": True},
                    dashGridOptions={
                        "theme": theme(),
                        "animateRows": False,
                        "tooltipShowDelay": 300,
                        "localeText": nav.grid_locale(view.lang),
                    },
                    style={"height": f"{GRID_HEIGHT_PX}px", "width": "100%"},
                    className="drill-grid",
                ),
            ],
        ),
        dcc.Store(id=STATE, data=view.href()),
        dcc.Store(id=URL),
        dcc.Store(id=LEVELS),
        dcc.Interval(id=TICK, interval=ctx.refresh_ms),
    ]
    return nav.page(ctx, view, body, active_district=view.adcode)


# Filled by the callbacks -----------------------------------------------------------------------------------------


def alerts_children(alerts: list[ActiveAlert], view: DistrictView, limit: int = 200) -> list[Component]:
    d = _t(view.lang)
    if not alerts:
        return [html.Div(d["no_alerts"], className="muted empty-alerts")]
    rows: list[Component] = []
    for alert in alerts[:limit]:
        badges = [html.Span(d[alert.status].format(by=alert.acknowledged_by), className=f"alert-status {alert.status}")]
        if alert.escalation:
            badges.append(html.Span(d["escalated"].format(n=alert.escalation), className="alert-escalation"))
        if alert.silenced:
            badges.append(html.Span(d["silenced"], className="alert-silenced"))
        rows.append(
            dcc.Link(
                href=SignView(alert.sign.id, lang=view.lang).href(),
                className=f"alert-row lvl-border-{alert.level} {alert.status}",
                title=alert.sign.id,
                children=[
                    level_chip(alert.level, view.lang),
                    html.Span(sign_name(alert.sign, view.lang), className="alert-name"),
                    html.Span(
                        [format_value(alert.value), html.Small(f" {alert.sign.unit_in(view.lang)}")],
                        className="alert-value",
                    ),
                    *badges,
                ],
            )
        )
    if len(alerts) > limit:
        rows.append(html.Div(d["more"].format(n=len(alerts) - limit), className="muted"))
    return rows


def summary_children(
    counts: dict[int, int], cores_abnormal: int, camera_rate: float | None, view: DistrictView
) -> list[Component]:
    d = _t(view.lang)
    chips: list[Component] = [
        html.Span(
            [nav.level_name(level, view.lang), html.B(f" {counts.get(level, 0)}")], className=f"count-chip lvl-{level}"
        )
        for level in (4, 3, 2, 1)
    ]
    chips.append(html.Span(f"{d['cores_abnormal']} {cores_abnormal}/55", className="summary-item"))
    rate = "—" if camera_rate is None else f"{camera_rate:.1f}%"
    chips.append(html.Span(f"{d['cameras']} {rate}", className="summary-item"))
    return chips


# Dash pages -----------------------------------------------------------------------------------------------------


def register_pages(ctx: DrillContext) -> None:
    """/district/<adcode>. /district alone is a redirect to the signed-in leader's district (api/drilldown.py)."""

    def page(adcode: str = "", **query: Any) -> html.Div:
        return layout(ctx, district_view(adcode, query), scope_of(current_user()))

    def title(adcode: str = "") -> str:
        return (
            tab_title(district_name(adcode, "zh"), district_name(adcode, "en")) if adcode in DISTRICTS else tab_title()
        )

    dash.register_page("drill-district", path_template="/district/<adcode>", layout=page, title=title)


def events_children(cards: list[EventCard], total: int, view: DistrictView) -> list[Component]:
    """The district's open events, most pressing first, each linking to its page on /events; nothing to act on."""
    d = _t(view.lang)
    if not cards:
        return [html.Div(d["no_events"], className="muted empty-events")]
    states = STATUS_LABELS["en" if view.lang == "en" else "zh"]
    late = sum(c.late for c in cards)
    rows: list[Component] = [html.Div(d["events_count"].format(n=total, late=late), className="muted events-total")]
    for c in cards:
        due = c.next_due
        timing = d["late"] if c.late else ""
        if not c.late and due is not None and due.due_at is not None:
            timing = d["due"].format(at=city_text(due.due_at, TimeFormat.DAY_MINUTE))
        rows.append(
            dcc.Link(
                href="/events" + EventFilter(selected=c.event.id).query_string(view.lang),
                className=f"event-row{' late' if c.late else ''}",
                title=c.event.id,
                children=[
                    html.Span(states[c.event.status.value], className="event-state"),
                    html.Span(c.type_name, className="event-type"),
                    html.Span(c.place, className="event-place"),
                    html.Span(d["unit"].format(unit=c.unit) if c.unit else d["centre"], className="event-unit"),
                    html.Span(timing, className="event-due"),
                ],
            )
        )
    return rows
