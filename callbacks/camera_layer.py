"""The camera layer's callbacks: a status poll that sends the bitmaps only when their version changed, the
clientside hook that turns them into the layer's hideout, and the card of a clicked camera.

In steady state a poll answers with the status's age and nothing else (~200 bytes). The status document is
maintained by the roll-up (KEY_CAMERA_STATUS); one GET per poll, whatever the number of cameras. A clicked
camera arrives as its inventory row (api/geo.py serves no ids) and is looked up in the registry by its id.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import redis
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from config import settings
from layouts import camera_layer as ids
from layouts.camera_layer import TEXT, CameraCard, age_text, clock_text, detail_children, rates_rows
from signs.keys import KEY_CAMERA_STATUS, CameraState, camera_key
from signs.store import shared_redis

AGE_CLASS = "cameras-age"
DETAIL_CLASS = "cameras-detail"


def stale_after_s() -> float:
    """A status older than three roll-up periods plus one poll is stale (the roll-up has stopped)."""
    cfg = settings()
    return 3 * cfg.camera_rollup_interval_s + cfg.camera_status_poll_ms / 1000.0


def map_status(doc: dict[str, Any]) -> dict[str, Any]:
    """What the map needs of the status document: version, row count and the two bitmaps."""
    return {"v": doc["version"], "n": doc["n"], "off": doc["offline"], "flt": doc["fault"]}


def status_update(
    doc: dict[str, Any] | None, held_version: str | None, now: float, lang: str, stale_s: float, error: bool = False
) -> tuple[Any, Any, Any, str, str, dict[str, Any]]:
    """Outputs of one poll: (STATUS data, VERSION data, RATES_BODY children, RATES_AGE children, RATES_AGE
    className, FRESH data). The first three are no_update unless the browser holds another version."""
    text = TEXT["en" if lang == "en" else "zh"]
    if doc is None:
        message = text["unavailable"] if error else text["no_data"]
        return no_update, no_update, no_update, message, f"{AGE_CLASS} stale", {"at": None, "stale": True}
    at = float(doc["at"])
    age = max(0.0, now - at)
    stale = age > stale_s
    label = f"{text['updated']} {clock_text(at)}"
    if stale:
        label = f"{text['stale']} · {label} ({age_text(age, lang)})"
    fresh = {"at": at, "stale": stale}
    age_class = f"{AGE_CLASS} stale" if stale else AGE_CLASS
    if doc["version"] == held_version:
        return no_update, no_update, no_update, label, age_class, fresh
    return map_status(doc), doc["version"], rates_rows(doc.get("rates"), lang), label, age_class, fresh


def camera_card(device_id: str, kind: str, raw: bytes | str | None, now: float, offline_after_s: float) -> CameraCard:
    """The card of one camera (kind from the inventory) from its registry entry (None: never heard from)."""
    adcode = device_id[:6]
    if raw is None:
        return CameraCard(device_id, adcode, kind, "offline", None, None)
    state = CameraState.decode(device_id, raw)
    status = state.effective_status(now, offline_after_s)
    if status not in ("online", "offline", "fault"):
        status = "offline"
    return CameraCard(
        device_id=device_id,
        adcode=adcode,
        kind=state.kind if state.kind in ("fixed", "mobile") else kind,
        status=status,
        heartbeat_ts=state.source_ts,
        age_s=max(0.0, now - state.source_ts),
    )


def clicked_row(click: dict[str, Any] | None, n_rows: int) -> int | None:
    """The inventory row of a clicked single camera; None for a cluster (dash-leaflet zooms into it), for
    nothing, or for a row outside the inventory."""
    if not click:
        return None
    props = click.get("properties") or {}
    row = props.get("i")
    if props.get("cluster") or not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < n_rows:
        return None
    return row


@functools.cache
def inventory_devices() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Device ids and kinds by inventory row, the order of /geo/cameras.pbf (built once per process)."""
    from geo.cameras import camera_inventory

    inventory = camera_inventory()
    return tuple(inventory["device_id"].tolist()), tuple(inventory["kind"].tolist())


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
    def poll_status(_n: int | None, held_version: str | None, lang: str | None) -> tuple[Any, ...]:
        try:
            raw = shared_redis().get(KEY_CAMERA_STATUS)
        except redis.RedisError:
            return status_update(None, held_version, time.time(), lang or "zh", stale_after_s(), error=True)
        doc = json.loads(raw) if raw is not None else None
        return status_update(doc, held_version, time.time(), lang or "zh", stale_after_s())

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
    def show_camera(click: dict[str, Any] | None, _closed: int | None, lang: str | None) -> tuple[Any, str]:
        if ctx.triggered_id == ids.DETAIL_CLOSE:
            return no_update, f"{DETAIL_CLASS} hidden"
        devices, kinds = inventory_devices()
        row = clicked_row(click, len(devices))
        if row is None:
            raise PreventUpdate
        lang = lang or "zh"
        device_id = devices[row]
        try:
            raw = shared_redis().hget(camera_key(device_id[:6]), device_id)
        except redis.RedisError:
            text = TEXT["en" if lang == "en" else "zh"]
            return [device_id, " · ", text["unavailable"]], DETAIL_CLASS
        card = camera_card(device_id, kinds[row], raw, time.time(), settings().camera_offline_after_s)
        return detail_children(card, lang), DETAIL_CLASS
