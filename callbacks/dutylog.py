"""The duty log page's callback: the shift's log as far as the user's scope covers it (views.dutylog), drawn by
layouts.dutylog; a shift still running is read again every LIVE_REFRESH_MS."""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import Dash, Input, Output, State, html

from auth.scope import current_scope
from layouts import dutylog as ids
from layouts.dutylog import DutyLogView, log_children
from signs.catalogue import catalogue
from signs.store import shared_redis
from views.dutylog import shift_log


def register(app: Dash) -> None:
    @app.callback(Output(ids.BODY, "children"), Input(ids.TICK, "n_intervals"), State(ids.STATE, "data"))
    def draw(_n: object, state: object) -> list[Any]:
        view = DutyLogView.from_query(state if isinstance(state, dict) else {})
        try:
            shift = shift_log(
                shared_redis(), catalogue(), view.start_text, view.end_text, view.lang, time.time(), current_scope()
            )
        except (ValueError, redis.RedisError) as error:
            return [html.P(str(error), className="error")]
        return log_children(shift.log, shift.sign_names, view.lang)
