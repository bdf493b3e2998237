"""The duty log page's callback: read the shift's log from Redis (alerts.dutylog), as far as the user's scope
covers it (auth.scope), and draw it; a shift still running is read again every LIVE_REFRESH_MS."""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import Dash, Input, Output, State, html

from alerts.dutylog import DutyLog, parse_window, read_duty_log
from auth.scope import current_scope
from layouts import dutylog as ids
from layouts.dutylog import DutyLogView, log_children
from signs.catalogue import catalogue
from signs.drill import sign_name
from signs.store import shared_redis


def mentioned_sign_names(log: DutyLog, lang: str) -> dict[str, str]:
    """Names of the signs the log mentions, in the page's language."""
    signs = catalogue().signs
    mentioned = {t.sign_id for t in log.transitions} | {a.sign_id for a in log.open_at_handover}
    return {sign_id: sign_name(signs[sign_id], lang) for sign_id in mentioned if sign_id in signs}


def register(app: Dash) -> None:
    @app.callback(Output(ids.BODY, "children"), Input(ids.TICK, "n_intervals"), State(ids.STATE, "data"))
    def draw(_n: int | None, state: object) -> list[Any]:
        view = DutyLogView.from_query(state if isinstance(state, dict) else {})
        lang = view.lang
        try:
            start, end = parse_window(view.start_text, view.end_text, time.time())
            log = read_duty_log(shared_redis(), start, end, scope=current_scope())
        except (ValueError, redis.RedisError) as error:
            return [html.P(str(error), className="error")]
        return log_children(log, mentioned_sign_names(log, lang), lang)
