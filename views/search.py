"""The search page's read model: the signs matching the URL's query, best first, as list rows with values and
sparklines; and the index the header's search box matches against in the browser (the same entries)."""

from __future__ import annotations

from functools import cache

import redis

from geo.admin import DISTRICTS
from signs.catalogue import catalogue
from signs.drill import IndexEntry, search, search_index, search_index_rows
from signs.model import Catalogue
from signs.urlstate import SearchView, parse_url
from views.grid import Row
from views.signlist import read_rows

MAX_RESULTS = 200


def view_of(href: object) -> SearchView | None:
    view = parse_url(href) if isinstance(href, str) else None
    return view if isinstance(view, SearchView) else None


@cache
def index() -> list[IndexEntry]:
    return search_index(catalogue())


def search_rows(client: redis.Redis, cat: Catalogue, view: SearchView, now: float) -> list[Row]:
    hits = search(index(), view.q, limit=MAX_RESULTS)
    if not hits:
        return []
    return read_rows(client, cat, [cat.signs[h.id] for h in hits], now, view.lang, abnormal=False)


def index_document(cat: Catalogue) -> dict[str, object]:
    """What the browser's search box matches against: every sign's index row, module and district names."""
    return {
        "signs": search_index_rows(search_index(cat)),
        "modules": {code: [m.name_zh, m.name_en] for code, m in cat.modules.items()},
        "districts": {code: list(names) for code, names in DISTRICTS.items()},
    }
