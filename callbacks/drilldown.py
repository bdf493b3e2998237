"""Callbacks of the drill-down pages (one module per screen beside this one)."""

from __future__ import annotations

from dash import Dash

from callbacks import district, nav, search, sign, signlist


def register(app: Dash) -> None:
    for screen in (nav, sign, district, signlist, search):
        screen.register(app)
