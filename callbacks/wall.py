"""The wall's one server callback per tick (views.wall), and the clientside hooks into assets/wall.js."""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import ClientsideFunction, Dash, Input, Output, State

from dispatch.library import library
from layouts import wall
from signs.catalogue import catalogue
from signs.store import shared_redis
from views.wall import wall_tick
from views.wall_events import events_update


def register(app: Dash) -> None:
    core_signs = [s.id for s in catalogue().signs.values() if s.is_core]

    @app.callback(
        Output(wall.CHANGES, "data"),
        Input(wall.TICK, "n_intervals"),
        State(wall.SEQ, "data"),
        State(wall.ALERTS_SEEN, "data"),
        State(wall.EVENTS_SEEN, "data"),
    )
    def tick(_n: object, held_seq: object, held_audit: object, held_events: object) -> dict[str, Any]:
        try:
            now, client = time.time(), shared_redis()
            events = events_update(client, library(), held_events, now)
            return wall_tick(client, held_seq, held_audit, core_signs, now) | ({"events": events} if events else {})
        except redis.RedisError as error:
            # The wall shows this in its banner; its values stay on screen, ageing visibly.
            return {"now": time.time(), "error": f"Redis: {error}"}

    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_wall", function_name="apply"),
        Output(wall.SEQ, "data"),
        Output(wall.ALERTS_SEEN, "data"),
        Output(wall.DISTRICT_LAYER, "hideout"),
        Input(wall.CHANGES, "data"),
        Input(wall.MAP_SIGN, "value"),
        State(wall.CONTEXT, "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_wall_events", function_name="apply"),
        Output(wall.EVENTS_SEEN, "data"),
        Input(wall.CHANGES, "data"),
        State(wall.CONTEXT, "data"),
    )
