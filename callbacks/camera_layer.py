"""The camera layer's callbacks: a status poll that sends the bitmaps only when their version changed, the
clientside hook that turns them into the layer's hideout, and the card of a clicked camera. views.camera_layer
reads and judges; layouts.camera_layer words and draws.

In steady state a poll answers with the status's age and nothing else (~200 bytes).
"""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from layouts import camera_layer as ids
from layouts.camera_layer import TEXT, age_text, clock_text, detail_children, rates_rows
from signs.catalogue import catalogue
from signs.store import shared_redis
from views.camera_layer import (
    clicked_device,
    held_version_of,
    map_status,
    rate_levels,
    read_camera,
    read_status,
    stale_after_s,
    status_poll,
)

AGE_CLASS = "cameras-age"
DETAIL_CLASS = "cameras-detail"


def _lang(lang: object) -> str:
    return "en" if lang == "en" else "zh"


def status_update(
    doc: dict[str, Any] | None, held_version: str | None, now: float, lang: str, stale_s: float, error: bool = False
) -> tuple[Any, Any, Any, str, str, dict[str, Any]]:
    """Outputs of one poll: (STATUS data, VERSION data, RATES_BODY children, RATES_AGE children, RATES_AGE
    className, FRESH data). The first three are no_update unless the browser holds another version."""
    text = TEXT[_lang(lang)]
    if doc is None:
        message = text["unavailable"] if error else text["no_data"]
        return no_update, no_update, no_update, message, f"{AGE_CLASS} stale", {"at": None, "stale": True}
    poll = status_poll(doc, held_version, now, stale_s)
    label = f"{text['updated']} {clock_text(poll.at)}"
    if poll.stale:
        label = f"{text['stale']} · {label} ({age_text(poll.age_s, lang)})"
    age_class = f"{AGE_CLASS} stale" if poll.stale else AGE_CLASS
    if not poll.changed:
        return no_update, no_update, no_update, label, age_class, poll.fresh
    rates = doc.get("rates") or {}
    body = rates_rows(rates, lang, rate_levels(catalogue(), rates, poll.at))
    return map_status(doc), doc["version"], body, label, age_class, poll.fresh


def register(app: Dash) -> None:
    @app.callback(
        Output(ids.STATUS, "data"),
        Output(ids.VERSION, "data"),
        Output(ids.RATES_BODY, "children"),
        Output(ids.RATES_AGE, "children"),
        Output(ids.RATES_AGE, "className"),
        Output(ids.FRESH, "data"),
        Input(ids.POLL, "n_intervals"),
        State(ids.VERSION, "data"),
        State(ids.RATES, "lang"),
    )
    def poll_status(_n: object, held_version: object, lang: object) -> tuple[Any, ...]:
        held = held_version_of(held_version)
        try:
            doc = read_status(shared_redis())
        except redis.RedisError:
            return status_update(None, held, time.time(), _lang(lang), stale_after_s(), error=True)
        return status_update(doc, held, time.time(), _lang(lang), stale_after_s())

    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_cameras", function_name="applyStatus"),
        Output(ids.LAYER, "hideout"),
        Input(ids.STATUS, "data"),
        Input(ids.FRESH, "data"),
        State(ids.LAYER, "hideout"),
    )

    @app.callback(
        Output(ids.DETAIL_BODY, "children"),
        Output(ids.DETAIL, "className"),
        Input(ids.LAYER, "clickData"),
        Input(ids.DETAIL_CLOSE, "n_clicks"),
        State(ids.DETAIL, "lang"),
        prevent_initial_call=True,
    )
    def show_camera(click: object, _closed: object, lang: object) -> tuple[Any, str]:
        if ctx.triggered_id == ids.DETAIL_CLOSE:
            return no_update, f"{DETAIL_CLASS} hidden"
        device = clicked_device(click)
        if device is None:
            raise PreventUpdate
        device_id, kind = device
        try:
            card = read_camera(shared_redis(), device_id, kind, time.time())
        except redis.RedisError:
            return [device_id, " · ", TEXT[_lang(lang)]["unavailable"]], DETAIL_CLASS
        return detail_children(card, _lang(lang)), DETAIL_CLASS
