"""The security headers on every response of the web tier: pages, API, exports and static files alike.

The Content-Security-Policy allows scripts from our own origin only, plus the hashes of the inline scripts Dash
writes into its page (the renderer's start and the clientside callbacks; Dash's config is a JSON data block, which
CSP does not govern). Nothing of ours or of the component libraries we load needs eval. Styles must allow
'unsafe-inline': Leaflet and the data grid insert <style> elements and style attributes as they render, which
cannot be hashed in advance; styles cannot run script, so the script rule still holds. Images may come from the
basemap's tile server (WALL_TILE_URL) besides our own origin and data:/blob: URLs the map makes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from flask import Flask, Response

from config import Settings


def tile_source(tile_url: str) -> list[str]:
    """The CSP source of a tile URL template: its origin, a template's leading "{s}" label as a wildcard
    ("https://t{s}.example.cn/..." -> "https://*.example.cn"), or the scheme alone when the host is templated
    elsewhere. Nothing when no basemap is configured."""
    if not tile_url:
        return []
    parts = urlsplit(tile_url)
    host = re.sub(r"^[^.]*\{[^}]*\}[^.]*(?=\.)", "*", parts.netloc)
    if "{" in host or "}" in host or not parts.scheme:
        return [f"{parts.scheme or 'https'}:"]
    return [f"{parts.scheme}://{host}"]


@functools.lru_cache(maxsize=8)
def content_security_policy(script_hashes: tuple[str, ...], tile_url: str = "") -> str:
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *tile_source(tile_url)],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def security_headers(cfg: Settings, script_hashes: Iterable[str] = ()) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(tuple(script_hashes), cfg.wall_tile_url),
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
        "X-Content-Type-Options": "nosniff",
        # The wall's URL carries its token: never send it to another site, not even a tile server.
        "Referrer-Policy": "same-origin",
    }


def install_security_headers(server: Flask, cfg: Settings, script_hashes: Callable[[], Sequence[str]]) -> None:
    """Every response carries the headers. `script_hashes` (Dash's csp_hashes) is asked on each response,
    because Dash adds inline scripts as late as its first request (the pages router's title callback); the
    policy is rebuilt only when they change."""

    def add_headers(response: Response) -> Response:
        response.headers.update(security_headers(cfg, script_hashes()))
        return response

    server.after_request(add_headers)
