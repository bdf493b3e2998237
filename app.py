"""City Eye's web app: wires screens, callbacks and HTTP endpoints together. Served by `gunicorn app:server`.

Every screen reads Redis only; no worker process keeps state of its own, so gunicorn may run any number.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Dash
from flask import request

from api.alerts import alerts_blueprint
from api.drilldown import drilldown_blueprint
from api.events import events_blueprint
from api.geo import geo_blueprint
from api.metrics import install_request_metrics, metrics_blueprint
from api.open311 import open311_blueprint
from api.signs import signs_blueprint
from auth.headers import install_security_headers
from auth.web import init_auth
from callbacks import alerts as alerts_callbacks
from callbacks import camera_layer as camera_layer_callbacks
from callbacks import dispatch as dispatch_guard
from callbacks import drilldown as drilldown_callbacks
from callbacks import dutylog as dutylog_callbacks
from callbacks import events as events_callbacks
from callbacks import wall as wall_callbacks
from config import settings
from geo.districts import city_bounds, district_bounds
from layouts import alerts, drilldown, dutylog, events, wall
from layouts.nav import DrillContext
from layouts.titles import tab_title
from signs.catalogue import catalogue

WALL_PATH = "/"
GRID_SCRIPT = "/dash_ag_grid/"


def wall_context() -> wall.WallContext:
    cfg = settings()
    return wall.WallContext(
        catalogue=catalogue(),
        district_bounds=district_bounds(),
        city_bounds=city_bounds(),
        canvas=cfg.wall_canvas_size,
        poll_ms=cfg.wall_poll_ms,
        dwell_s={
            "overview": cfg.wall_dwell_overview_s,
            "category": cfg.wall_dwell_category_s,
            "district": cfg.wall_dwell_district_s,
            "cameras": cfg.wall_dwell_cameras_s,
            "events": cfg.wall_dwell_events_s,
            "alert": cfg.wall_dwell_alert_s,
        },
        tile_url=cfg.wall_tile_url,
        tile_attribution=cfg.wall_tile_attribution,
    )


def drill_context() -> DrillContext:
    cfg = settings()
    return DrillContext(
        catalogue=catalogue(),
        district_bounds=district_bounds(),
        city_bounds=city_bounds(),
        tile_url=cfg.wall_tile_url,
        tile_attribution=cfg.wall_tile_attribution,
    )


class CityEyeDash(Dash):
    """Dash, minus the data-grid library on the wall's own page.

    Every page of a Dash app loads every component library, and the grid's is the largest (1.3 MB of script to
    parse on each cold start of a wall) while the wall shows no grid. The wall leaves by full page loads only
    (assets/drilldown_links.js), so a page without the grid's script never has to render one.
    """

    def interpolate_index(
        self,
        metas: str = "",
        title: str = "",
        css: str = "",
        config: str = "",
        scripts: str = "",
        app_entry: str = "",
        favicon: str = "",
        renderer: str = "",
    ) -> str:
        if request.path == WALL_PATH:
            scripts = "\n".join(line for line in scripts.split("\n") if GRID_SCRIPT not in line)
        return str(
            super().interpolate_index(
                metas=metas,
                title=title,
                css=css,
                config=config,
                scripts=scripts,
                app_entry=app_entry,
                favicon=favicon,
                renderer=renderer,
            )
        )


def create_app() -> Dash:
    app = CityEyeDash(
        __name__,
        use_pages=True,
        pages_folder="",
        title="城市之眼 · City Eye",
        update_title=None,  # type: ignore[arg-type]  # documented as "None: no 'Updating...' title", typed str
        compress=True,
        suppress_callback_exceptions=True,
    )
    context = wall_context()

    def wall_page(lang: str = "zh", kiosk: str = "", **_query: Any) -> Any:
        return wall.layout(context, lang="en" if lang == "en" else "zh", kiosk=kiosk in ("1", "true", "yes"))

    dash.register_page("wall", path=WALL_PATH, layout=wall_page, title=tab_title)
    drilldown.register_pages(drill_context())
    alerts.register_pages()
    dutylog.register_pages()
    events.register_pages()
    app.layout = dash.page_container
    wall_callbacks.register(app)
    camera_layer_callbacks.register(app)
    drilldown_callbacks.register(app)
    alerts_callbacks.register(app)
    dutylog_callbacks.register(app)
    events_callbacks.register(app)
    dispatch_guard.install(app)  # malformed callback requests are 400s before Dash's dispatch sees them
    install_request_metrics(app.server)  # first, so that its clock also times what the sign-in guard answers
    init_auth(app.server, settings())
    app.server.register_blueprint(signs_blueprint)
    app.server.register_blueprint(metrics_blueprint)
    app.server.register_blueprint(geo_blueprint)
    app.server.register_blueprint(drilldown_blueprint)
    app.server.register_blueprint(alerts_blueprint)
    app.server.register_blueprint(events_blueprint)
    app.server.register_blueprint(open311_blueprint)
    # Every response: CSP with the hashes of Dash's inline scripts, frame, sniffing and referrer rules.
    install_security_headers(app.server, settings(), app.csp_hashes)
    return app


app = create_app()
server = app.server
