"""The drill-down pages for district leaders, registered with Dash pages: /sign, /district, /module,
/category and /search (URL scheme in signs/urlstate.py, design in docs/drilldown.md)."""

from __future__ import annotations

from layouts import district, search, sign, signlist
from layouts.nav import DrillContext


def register_pages(ctx: DrillContext) -> None:
    sign.register_pages(ctx)
    district.register_pages(ctx)
    signlist.register_pages(ctx)
    search.register_pages(ctx)
