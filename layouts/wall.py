"""The wall (城市之眼 big screen): component tree only, built once per page load from static context.

Live values never travel through this tree. The page holds one poll (TICK) whose server callback returns
what changed on the board; assets/wall.js merges it into the tiles, map colours and alert strip in the
browser. Tiles carry their sign id in data-sign so the script finds them without one Dash id per tile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace

from dispatch.library import library
from geo.admin import DISTRICTS
from layouts import camera_layer
from layouts.attrs import data_attrs
from layouts.events import STATUS_LABELS
from layouts.nav import LEVEL_NAMES
from signs.model import STALE_AFTER_CADENCES, Catalogue, Sign
from views.wall_events import OPEN_STATES

# Component ids: the wall's callbacks and assets/wall.js use these names and no others.
CANVAS = "wall-canvas"
TICK = "wall-tick"
CHANGES = "wall-changes"
SEQ = "wall-seq"
ALERTS_SEEN = "wall-alerts-seen"
CONTEXT = "wall-context"
MAP = "wall-map"
DISTRICT_LAYER = "wall-districts"
MAP_SIGN = "wall-map-sign"
BANNER = "wall-banner"
CLOCK = "wall-clock"
VIEW_TITLE = "wall-view-title"
# The events panel and map layer (views/wall_events.py, assets/wall_events.js).
EVENTS_SEEN = "wall-events-seen"
EVENTS_LAYER = "wall-events-layer"
EVENTS_PANEL = "wall-events-panel"

TITLE = {"zh": "襄阳市城市运行管理中心 · 城市之眼", "en": "Xiangyang City Operations Centre · City Eye"}
SILENCES_LABEL = {"zh": "静默中", "en": "Silences"}
# What the map is coloured by in each kiosk view, and before anyone picks a sign.
MAP_SIGN_FOR_VIEW = {
    "overview": "XY.S.M13.S48",
    "P": "XY.P.M01.P01",
    "T": "XY.T.M05.T18",
    "D": "XY.D.M09.D32",
    "S": "XY.S.M13.S45",
    "cameras": "XY.T.M07.T23",
    "events": "XY.S.M15.S53",
}
# One colour per category of the event library, for the events layer's markers and the panel's dots.
EVENT_CATEGORY_COLOURS = {
    "01": "#8bc34a", "02": "#ffb74d", "03": "#4fc3f7", "04": "#b0bec5", "05": "#66bb6a", "06": "#2979ff",
    "07": "#26a69a", "08": "#ffca28", "09": "#ff7043", "10": "#ab47bc", "11": "#f06292", "12": "#ef5350",
}  # fmt: skip
EVENTS_TEXT = {
    "zh": {"title": "一网协同 · 在办事件", "late": "超时", "open": "在办", "none": "暂无在办事件",
           "view": "一网协同 · 事件处置", "due": "时限"},
    "en": {"title": "Event hub · open events", "late": "Overdue", "open": "Open", "none": "No open events",
           "view": "Event hub · handling", "due": "due"},
}  # fmt: skip
FEED_NAMES = {
    "zh": {
        "population": "人口",
        "hotline": "12345热线",
        "opinion": "舆情",
        "water": "供水",
        "power": "供电",
        "gas": "燃气",
        "video": "视频",
        "flood": "防汛",
        "traffic": "交通",
        "transit": "公交",
        "weather": "气象",
        "environment": "环境",
        "events": "事件",
    },
    "en": {
        "population": "population", "hotline": "12345 hotline", "opinion": "public opinion", "water": "water",
        "power": "power", "gas": "gas", "video": "video", "flood": "flood", "traffic": "traffic", "transit": "transit",
        "weather": "weather", "environment": "environment", "events": "events",
    },
}
WARNING_SIGNAL_PREFIX = "XY.S.M13.S48.sig:"
HEADER_WEATHER = ("XY.S.M13.S44", "XY.S.M13.S45", "XY.S.M14.S49")
# The whole city fills the map at this zoom on the design canvas; kiosk views then fit bounds exactly.
CITY_ZOOM = 8.5
ns = Namespace("cityeye", "wall")
events_ns = Namespace("cityeye", "wallEvents")


@dataclass(frozen=True)
class WallContext:
    """Everything static the wall needs, gathered once by app.py."""

    catalogue: Catalogue
    district_bounds: dict[str, tuple[float, float, float, float]]  # adcode -> (west, south, east, north), WGS84
    city_bounds: tuple[float, float, float, float]
    canvas: tuple[int, int]
    poll_ms: int
    dwell_s: dict[str, float]
    tile_url: str
    tile_attribution: str


def _centre(bounds: tuple[float, float, float, float]) -> list[float]:
    west, south, east, north = bounds
    return [(south + north) / 2, (west + east) / 2]


def _leaflet_bounds(bounds: tuple[float, float, float, float]) -> list[list[float]]:
    west, south, east, north = bounds
    return [[south, west], [north, east]]


def sign_table(cat: Catalogue, lang: str) -> dict[str, list[Any]]:
    """Per sign what the browser needs to show and judge it: name, unit, cadence, category, module,
    core sign, district (or null)."""
    return {
        s.id: [s.name_in(lang), s.unit_in(lang), s.cadence_s, s.category, s.module, s.core, s.district]
        for s in cat.signs.values()
    }


def browser_context(ctx: WallContext, lang: str, kiosk: bool) -> dict[str, Any]:
    cat = ctx.catalogue
    return {
        "lang": lang,
        "kiosk": kiosk,
        "canvas": list(ctx.canvas),
        "pollMs": ctx.poll_ms,
        "dwell": ctx.dwell_s,
        "signs": sign_table(cat, lang),
        "categories": {code: (c.name_en if lang == "en" else c.name_zh) for code, c in cat.categories.items()},
        "modules": {code: (m.name_en if lang == "en" else m.name_zh) for code, m in cat.modules.items()},
        "districts": {
            adcode: {
                "name": names[1] if lang == "en" else names[0],
                "bounds": _leaflet_bounds(ctx.district_bounds[adcode]),
            }
            for adcode, names in DISTRICTS.items()
        },
        "cityBounds": _leaflet_bounds(ctx.city_bounds),
        "mapSignForView": MAP_SIGN_FOR_VIEW,
        # The core indicators the catalogue maps per district (its `map` column); each colours the districts by its
        # rows <id>.dist:<adcode>, which the catalogue guarantees for all nine.
        "mapSigns": [s.id for s in cat.map_signs],
        "levelNames": LEVEL_NAMES[lang],
        "feedNames": FEED_NAMES[lang],
        "warningPrefix": WARNING_SIGNAL_PREFIX,
        # signs.model.is_stale, the one staleness rule, as the browser judges it every second.
        "staleAfterCadences": STALE_AFTER_CADENCES,
        "ids": {"map": MAP, "districts": DISTRICT_LAYER, "mapSign": MAP_SIGN, "eventsLayer": EVENTS_LAYER},
        "events": events_context(lang),
    }


def events_context(lang: str) -> dict[str, Any]:
    """What assets/wall_events.js needs to draw the panel and the markers: texts, state names, category colours."""
    names = STATUS_LABELS["en" if lang == "en" else "zh"]
    return {
        "text": EVENTS_TEXT["en" if lang == "en" else "zh"],
        "states": {state: names[state] for state in OPEN_STATES},
        "colours": {code: EVENT_CATEGORY_COLOURS[code] for code in library().categories},
    }  # fmt: skip


def _events_panel(lang: str) -> html.Section:
    """Filled by assets/wall_events.js: the open events by state (each count data-state), overdue, the list."""
    words = EVENTS_TEXT["en" if lang == "en" else "zh"]
    names = STATUS_LABELS["en" if lang == "en" else "zh"]
    counts = [
        html.Div(
            className="events-count",
            **data_attrs(state=state),
            children=[html.Span(names[state], className="label"), html.Span("0", className="n")],
        )
        for state in OPEN_STATES
    ]
    late = html.Div(
        className="events-count late",
        children=[html.Span(words["late"], className="label"), html.Span("0", className="n")],
    )
    return html.Section(
        id=EVENTS_PANEL,
        className="events-panel",
        children=[
            html.H3(words["title"], className="events-title"),
            html.Div([*counts, late], className="events-counts"),
            html.Ul(className="events-list"),
        ],
    )


def _tile(sign: Sign, lang: str) -> html.Div:
    return html.Div(
        className="tile stale",
        **data_attrs(sign=sign.id),
        children=[
            html.Div(
                className="tile-head",
                children=[
                    html.Span(sign.short_name_in(lang), className="tile-name", title=sign.name_in(lang)),
                    html.Span("—", className="age"),
                ],
            ),
            html.Div(
                className="tile-body",
                children=[html.Span("—", className="v"), html.Span(sign.unit_in(lang), className="u")],
            ),
            html.Div(className="spark"),
        ],
    )


def _category_panel(cat: Catalogue, code: str, lang: str) -> html.Section:
    category = cat.categories[code]
    blocks = []
    for module in (m for m in cat.modules.values() if m.category == code):
        cores = [s for s in cat.signs.values() if s.is_core and s.module == module.code]
        blocks.append(
            html.Div(
                className="module",
                **data_attrs(module=module.code),
                children=[
                    html.Div(module.name_en if lang == "en" else module.name_zh, className="module-name"),
                    html.Div([_tile(s, lang) for s in cores], className="tiles"),
                ],
            )
        )
    title = category.name_en if lang == "en" else f"{category.name_zh} · {category.name_en}"
    return html.Section(
        className="panel",
        **data_attrs(category=code),
        children=[html.H2(title, className="panel-title"), *blocks],
    )


def _header(ctx: WallContext, lang: str) -> html.Header:
    signs = ctx.catalogue.signs
    weather = [
        html.Span(
            className="weather-item",
            **data_attrs(sign=sign_id),
            children=[
                html.Span(signs[sign_id].short_name_in(lang), className="label"),
                html.Span("—", className="v"),
                html.Span(signs[sign_id].unit_in(lang), className="u"),
            ],
        )
        for sign_id in HEADER_WEATHER
    ]
    return html.Header(
        className="wall-header",
        children=[
            html.H1(TITLE[lang]),
            html.Div(id=VIEW_TITLE, className="view-title"),
            html.Div(className="weather", children=[*weather, html.Span(className="signals")]),
            html.Div(className="live", children=[html.Span(className="live-dot"), html.Span(className="live-text")]),
            html.Div(id=CLOCK, className="clock"),
        ],
    )


def _map(ctx: WallContext, lang: str, kiosk: bool) -> html.Div:
    options = [{"label": s.name_in(lang), "value": s.id} for s in ctx.catalogue.map_signs]
    tiles = [dl.TileLayer(url=ctx.tile_url, attribution=ctx.tile_attribution)] if ctx.tile_url else []
    return html.Div(
        className="map-area",
        children=[
            dl.Map(
                id=MAP,
                center=_centre(ctx.city_bounds),
                zoom=CITY_ZOOM,
                zoomControl=not kiosk,
                attributionControl=bool(ctx.tile_url),
                zoomSnap=0.25,
                children=[
                    *tiles,
                    dl.GeoJSON(
                        id=DISTRICT_LAYER,
                        url="/geo/districts.json",
                        style=ns("districtStyle"),
                        onEachFeature=ns("districtLabel"),
                        hideout={"levels": {}, "selected": None},
                    ),
                    camera_layer.camera_layer(lang),
                    dl.GeoJSON(id=EVENTS_LAYER, data=None, pointToLayer=events_ns("eventPoint")),
                ],
                className="map",
            ),
            _events_panel(lang),
            html.Div(
                className="map-legend",
                children=[
                    dcc.Dropdown(
                        id=MAP_SIGN,
                        options=options,
                        value=MAP_SIGN_FOR_VIEW["overview"],
                        clearable=False,
                        className="map-sign",
                        style={"display": "none"} if kiosk else None,
                    ),
                    html.Div(className="map-sign-name"),
                    html.Ul(className="district-values"),
                ],
            ),
            camera_layer.camera_rates(lang),
            camera_layer.camera_detail(lang),
        ],
    )


def _alert_strip(lang: str) -> html.Footer:
    names = LEVEL_NAMES[lang]
    counts = [
        html.Div(
            className=f"count level-{level}",
            children=[html.Span(names[level], className="label"), html.Span("0", className="n")],
            **data_attrs(level=str(level)),
        )
        for level in (4, 3, 2, 1)
    ]
    # How many silences are in force: silenced alerts are on the strip too, marked, and spared escalation.
    silences = [html.Span(SILENCES_LABEL[lang], className="label"), html.Span("0", className="n")]
    counts.append(html.Div(className="count silences", children=silences))
    return html.Footer(
        className="alert-strip", children=[html.Div(counts, className="counts"), html.Div(className="alerts")]
    )


def layout(ctx: WallContext, lang: str = "zh", kiosk: bool = False) -> html.Div:
    width, height = ctx.canvas
    cat = ctx.catalogue
    classes = "wall kiosk" if kiosk else "wall"
    return html.Div(
        className="wall-screen",
        children=[
            html.Div(
                id=CANVAS,
                className=classes,
                style={"width": f"{width}px", "height": f"{height}px"},
                children=[
                    _header(ctx, lang),
                    html.Div(id=BANNER, className="banner hidden"),
                    html.Main(
                        className="wall-body",
                        children=[
                            html.Div(
                                [_category_panel(cat, "P", lang), _category_panel(cat, "T", lang)], className="column"
                            ),
                            _map(ctx, lang, kiosk),
                            html.Div(
                                [_category_panel(cat, "D", lang), _category_panel(cat, "S", lang)], className="column"
                            ),
                        ],
                    ),
                    _alert_strip(lang),
                ],
            ),
            dcc.Store(id=CONTEXT, data=browser_context(ctx, lang, kiosk)),
            dcc.Store(id=CHANGES),
            dcc.Store(id=SEQ, data=0),
            dcc.Store(id=ALERTS_SEEN),
            dcc.Store(id=EVENTS_SEEN),
            dcc.Interval(id=TICK, interval=ctx.poll_ms),
            *camera_layer.camera_polls(),
        ],
    )
