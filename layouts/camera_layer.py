"""城市之眼 camera layer: 71,591 clustered cameras, their online rates and a clicked camera's card; no I/O.

The geometry is loaded once by URL (api/geo.py) and indexed by supercluster in the browser. Live status
reaches it only through the layer's `hideout` (bitmaps over the inventory rows, see KEY_CAMERA_STATUS), which
restyles the clusters without fetching or re-indexing anything (assets/camera_layer.js draws them).
"""

from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from dash.development.base_component import Component
from dash_extensions.javascript import Namespace

from api.geo import CAMERAS_URL
from config import settings
from geo.admin import CITY_ADCODE, DISTRICTS
from layouts.attrs import data_attrs
from layouts.nav import LEVEL_COLOURS
from signs.citytime import TimeFormat, city_text
from signs.model import Level
from views.camera_layer import CameraCard

# Component ids: callbacks/camera_layer.py and assets/camera_layer.js use these names and no others.
LAYER = "cameras-layer"
POLL = "cameras-poll"
STATUS = "cameras-status"  # the newest status document's map part: version, n and the two bitmaps
VERSION = "cameras-version"  # the version the browser holds, small, sent back on every poll
FRESH = "cameras-fresh"  # {"at", "stale"} of the status, refreshed on every poll
RATES = "cameras-rates"
RATES_BODY = "cameras-rates-body"
RATES_AGE = "cameras-rates-age"
DETAIL = "cameras-detail"
DETAIL_BODY = "cameras-detail-body"
DETAIL_CLOSE = "cameras-detail-close"

ns = Namespace("cityeye", "cameras")

# Share of a cluster's cameras that are not online -> colour: green up to the first break, then through
# amber (second break) to red (third break and above). assets/camera_layer.js reads the same numbers from
# the hideout, so the map and the rate card always agree.
SHARE_BREAKS = (0.03, 0.10, 0.25)
SHARE_COLOURS = ("#2ecc71", "#ffb020", "#ff3b30")
# What colours a cluster: "fixed" cameras only (mobile units are off duty a third of the day and most of
# the night by design, which would paint every cluster amber after dark), or "all" cameras.
DEFAULT_BASIS = "fixed"
# Supercluster: 80 px cells (about 30 clusters over the city at the wall's zoom 8.5); points stand alone from
# zoom 17 (a few hundred in a 1920x1080 view of the densest streets). Nothing below zoom 5 is shown on the wall.
SUPERCLUSTER_OPTIONS = {"radius": 80, "maxZoom": 16, "minZoom": 5}

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "城市之眼 · 视频在线率", "fixed": "固定", "mobile": "移动", "all": "全部", "city": "全市",
        "area": "区域", "updated": "更新于", "stale": "数据陈旧", "no_data": "暂无视频状态",
        "unavailable": "视频状态不可用", "share": "离线占比", "detail": "摄像机",
        "id": "编号", "district": "区县", "kind": "类型", "status": "状态", "heartbeat": "最后心跳",
        "never": "从未上报", "online": "在线", "offline": "离线", "fault": "故障",
        "ago_s": "{n} 秒前", "ago_m": "{n} 分钟前", "ago_h": "{n} 小时前", "ago_d": "{n} 天前",
        "offline_count": "离线 {n}", "legend": "聚合点颜色: 固定摄像机离线占比",
        "legend_all": "聚合点颜色: 摄像机离线占比", "close": "关闭",
    },
    "en": {
        "title": "City Eye · cameras online", "fixed": "Fixed", "mobile": "Mobile", "all": "All", "city": "City",
        "area": "Area", "updated": "Updated", "stale": "Stale", "no_data": "No camera status yet",
        "unavailable": "Camera status unavailable", "share": "offline share", "detail": "Camera",
        "id": "ID", "district": "District", "kind": "Kind", "status": "Status", "heartbeat": "Last heartbeat",
        "never": "never reported", "online": "online", "offline": "offline", "fault": "fault",
        "ago_s": "{n} s ago", "ago_m": "{n} min ago", "ago_h": "{n} h ago", "ago_d": "{n} d ago",
        "offline_count": "{n} offline", "legend": "Cluster colour: share of fixed cameras offline",
        "legend_all": "Cluster colour: share of cameras offline", "close": "Close",
    },
}  # fmt: skip


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "zh"


def _text(lang: str) -> dict[str, str]:
    return TEXT[_lang(lang)]


def district_name(adcode: str, lang: str, short: bool = False) -> str:
    """襄城区 / Xiangcheng District; short drops the English suffix (Xiangcheng) for the narrow rate card."""
    if adcode == CITY_ADCODE:
        return _text(lang)["city"]
    zh, en = DISTRICTS.get(adcode, (adcode, adcode))
    if _lang(lang) == "zh":
        return zh
    return en.rsplit(" ", 1)[0] if short else en


def age_text(age_s: float, lang: str) -> str:
    t = _text(lang)
    age = max(0, int(age_s))
    if age < 60:
        return t["ago_s"].format(n=age)
    if age < 3600:
        return t["ago_m"].format(n=age // 60)
    if age < 86_400:
        return t["ago_h"].format(n=age // 3600)
    return t["ago_d"].format(n=age // 86_400)


def clock_text(ts: float, with_date: bool = False) -> str:
    return city_text(ts, TimeFormat.SECOND if with_date else TimeFormat.CLOCK)


# The map layer ------------------------------------------------------------------------------------------


def camera_layer(lang: str = "zh", basis: str = DEFAULT_BASIS) -> dl.GeoJSON:
    """The clustered camera layer, a child of the wall's dl.Map. Its hideout starts without status: clusters
    are grey until the first poll answers."""
    return dl.GeoJSON(
        id=LAYER,
        url=CAMERAS_URL,
        format="geobuf",
        cluster=True,
        zoomToBoundsOnClick=True,
        spiderfyOnMaxZoom=True,
        superClusterOptions=SUPERCLUSTER_OPTIONS,
        pointToLayer=ns("pointToLayer"),
        clusterToLayer=ns("clusterToLayer"),
        style=ns("pointStyle"),
        hideout={
            "lang": _lang(lang),
            "basis": basis if basis in ("fixed", "all") else DEFAULT_BASIS,
            "breaks": list(SHARE_BREAKS),
            "colours": list(SHARE_COLOURS),
            "status": None,
            "stale": False,
        },
    )


def camera_polls(poll_ms: int | None = None) -> list[Component]:
    """The status poll and the stores it fills; place them anywhere in the page."""
    return [
        dcc.Interval(id=POLL, interval=poll_ms or settings().camera_status_poll_ms),
        dcc.Store(id=STATUS),
        dcc.Store(id=VERSION),
        dcc.Store(id=FRESH),
    ]


# The rate card ------------------------------------------------------------------------------------------


def _rate_cell(cell: dict[str, Any] | None, level: Level | None) -> html.Td:
    if not cell or cell.get("rate") is None:
        return html.Td("—", className="rate none")
    text = f"{float(cell['rate']):.1f}%"
    if level is None:  # no sign sets bounds for this rate: shown, never coloured as if it were judged
        return html.Td(text, className="rate unjudged")
    return html.Td(text, className=f"rate level-{level.en}", style={"color": LEVEL_COLOURS[level]})


def rates_rows(
    rates: dict[str, dict[str, Any]] | None, lang: str, levels: dict[tuple[str, str], Level] | None = None
) -> list[Component]:
    """The card's table body: the city, then each district; online rate of fixed, mobile and all cameras, each
    coloured by its level in `levels` (views.camera_layer.rate_levels) when a sign judges it. rates is the "rates"
    member of the status document; None draws the empty table."""
    t = _text(lang)
    rates, levels = rates or {}, levels or {}
    rows: list[Component] = []
    for adcode in (CITY_ADCODE, *DISTRICTS):
        kinds = rates.get(adcode, {})
        everything = kinds.get("all") or {}
        offline = (everything.get("n") or 0) - (everything.get("online") or 0)
        title = t["offline_count"].format(n=f"{offline:,}") if everything else None
        rows.append(
            html.Tr(
                className="city" if adcode == CITY_ADCODE else "district",
                title=title,
                children=[
                    html.Th(district_name(adcode, lang, short=True), scope="row"),
                    *(_rate_cell(kinds.get(kind), levels.get((adcode, kind))) for kind in ("fixed", "mobile", "all")),
                ],
                **data_attrs(adcode=adcode),
            )
        )
    return rows


def _legend(lang: str, basis: str) -> html.Div:
    t = _text(lang)
    low, mid, high = SHARE_BREAKS
    stops = ", ".join(
        [f"{SHARE_COLOURS[0]} 0%", f"{SHARE_COLOURS[0]} 12%", f"{SHARE_COLOURS[1]} 50%", f"{SHARE_COLOURS[2]} 88%"]
    )
    return html.Div(
        className="cameras-legend",
        children=[
            html.Div(t["legend"] if basis == "fixed" else t["legend_all"], className="legend-title"),
            html.Div(className="legend-bar", style={"background": f"linear-gradient(90deg, {stops})"}),
            html.Div(
                className="legend-ticks",
                children=[html.Span(f"≤{low:.0%}"), html.Span(f"{mid:.0%}"), html.Span(f"≥{high:.0%}")],
            ),
        ],
    )


def camera_rates(lang: str = "zh", basis: str = DEFAULT_BASIS) -> html.Div:
    """Per-district online rates with the cluster colour legend and the status's age; floats over the map."""
    t = _text(lang)
    return html.Div(
        id=RATES,
        className="cameras-rates",
        lang=_lang(lang),
        children=[
            html.Div(t["title"], className="cameras-title"),
            html.Table(
                className="cameras-table",
                children=[
                    html.Thead(html.Tr([html.Th(t["area"]), *(html.Th(t[k]) for k in ("fixed", "mobile", "all"))])),
                    html.Tbody(id=RATES_BODY, children=rates_rows(None, lang)),
                ],
            ),
            _legend(lang, basis),
            html.Div(t["no_data"], id=RATES_AGE, className="cameras-age stale"),
        ],
    )


# A clicked camera ---------------------------------------------------------------------------------------


def camera_detail(lang: str = "zh") -> html.Div:
    """The card of the clicked camera: hidden until a camera is clicked; floats over the map."""
    t = _text(lang)
    return html.Div(
        id=DETAIL,
        className="cameras-detail hidden",
        lang=_lang(lang),
        children=[
            html.Button("×", id=DETAIL_CLOSE, className="close", title=t["close"], n_clicks=0),
            html.Div(id=DETAIL_BODY),
        ],
    )


def detail_children(card: CameraCard, lang: str) -> list[Component]:
    t = _text(lang)
    if card.heartbeat_ts is None:
        heartbeat = t["never"]
    else:
        heartbeat = f"{clock_text(card.heartbeat_ts, with_date=True)} ({age_text(card.age_s or 0.0, lang)})"
    rows = [
        (t["id"], card.device_id, "id"),
        (t["district"], district_name(card.adcode, lang), "district"),
        (t["kind"], t[card.kind] if card.kind in ("fixed", "mobile") else card.kind, "kind"),
        (t["status"], t[card.status], f"status {card.status}"),
        (t["heartbeat"], heartbeat, "heartbeat"),
    ]
    return [
        html.Div(t["detail"], className="cameras-title"),
        html.Dl([part for label, value, cls in rows for part in (html.Dt(label), html.Dd(value, className=cls))]),
    ]
