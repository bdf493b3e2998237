"""The drill-down pages for district leaders, registered with Dash pages: /sign, /district, /module,
/category and /search (URL scheme in signs/urlstate.py, design in docs/drilldown.md)."""

from __future__ import annotations

from layouts import district, search, sign, signlist
from layouts.nav import DrillContext, drill_context


def register_pages(ctx: DrillContext | None = None) -> None:
    ctx = ctx or drill_context()
    sign.register_pages(ctx)
    district.register_pages(ctx)
    signlist.register_pages(ctx)
    search.register_pages(ctx)
