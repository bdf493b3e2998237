"""Browser tab titles in the page's language.

Dash calls a page's title function with the path's variables only, never the query, so the language is read from
the request being served: the page's own GET (`?lang=en`) or, for a navigation inside the app, the location that
Dash's router callback receives. Both are the same URL the layout was built from.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from flask import has_request_context, request

APP_NAME = {"zh": "城市之眼", "en": "City Eye"}
# The router callback's input: Dash's own location component (dash.dash._ID_LOCATION), read for its search.
_ROUTER_LOCATION = "_pages_location"


def _router_search(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for item in body.get("inputs") or []:
        if isinstance(item, dict) and item.get("id") == _ROUTER_LOCATION and item.get("property") == "search":
            value = item.get("value")
            return value if isinstance(value, str) else ""
    return ""


def page_lang() -> str:
    """en when the URL being served asks for English, zh otherwise (and outside a request)."""
    if not has_request_context():
        return "zh"
    if request.method == "GET":
        return "en" if request.args.get("lang") == "en" else "zh"
    search = _router_search(request.get_json(silent=True))
    return "en" if parse_qs(search.lstrip("?")).get("lang") == ["en"] else "zh"


def tab_title(zh: str | None = None, en: str | None = None) -> str:
    """`告警处置 · 城市之眼` / `Alerts · City Eye`; the app's name alone without a page name."""
    lang = page_lang()
    name = en if lang == "en" else zh
    return f"{name} · {APP_NAME[lang]}" if name else APP_NAME[lang]
