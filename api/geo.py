"""Static map geometry by URL: the camera inventory as geobuf and the district boundaries as GeoJSON (WGS84).

Each body is built once per process, gzip-compressed once, and served with a strong ETag and
`Cache-Control: no-cache`, so a browser keeps its copy and revalidates it with a 304 of a few hundred bytes.
Live status never travels here (see KEY_CAMERA_STATUS and callbacks/camera_layer.py).

The camera features carry only what the browser needs to draw them: "i", the inventory row (the status
bitmaps are indexed by it, and a click is resolved to the device from it on the server), and "k", "f" or
"m". Leaving out geo.cameras.camera_geojson's 20-digit id and adcode halves the geobuf (2.2 MB instead of
4.9 MB, 0.66 MB gzipped) and saves 100-250 ms of decoding on every wall load.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Request, Response, request

from api.responses import answer_errors_as_json, takes

log = logging.getLogger("cityeye.api.geo")

CAMERAS_URL = "/geo/cameras.pbf"
DISTRICTS_URL = "/geo/districts.json"
GEOBUF_MIMETYPE = "application/x-protobuf"
JSON_MIMETYPE = "application/json"
# Stored by the browser, revalidated on every use: a 304 costs one round trip, a changed inventory shows at once.
CACHE_CONTROL = "public, no-cache"
_GZIP_LEVEL = 6  # 9 saves 3 % of the 0.9 MB camera layer for 6x the build time

geo_blueprint = answer_errors_as_json(Blueprint("geo", __name__))


@dataclass(frozen=True)
class StaticBody:
    """One immutable response body with its gzip encoding and validators."""

    body: bytes
    gzipped: bytes
    etag: str  # strong, unquoted; the gzip representation's is etag + ":gzip" (Flask-Compress's convention)
    mimetype: str

    @classmethod
    def build(cls, body: bytes, mimetype: str) -> StaticBody:
        return cls(
            body=body,
            gzipped=gzip.compress(body, _GZIP_LEVEL, mtime=0),
            etag=hashlib.blake2b(body, digest_size=12).hexdigest(),
            mimetype=mimetype,
        )


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (q=0 refuses it)."""
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower().replace(" ", "")
            try:
                return not (q.startswith("q=") and float(q[2:]) == 0)
            except ValueError:
                return False
    return False


def _not_modified(req: Request, etag: str) -> bool:
    """If-None-Match (weak comparison, RFC 9110 §13.1.2) against either representation's tag; a ":br"-style
    suffix a compressing middleware may have added is ignored."""
    if req.if_none_match.star_tag:
        return True
    held = {tag.split(":", 1)[0] for tag in req.if_none_match.as_set(include_weak=True)}
    return etag in held


def static_response(asset: StaticBody, req: Request) -> Response:
    """200 with the body (gzip when accepted) or 304, with ETag, Cache-Control and Vary."""
    gz = accepts_gzip(req.headers.get("Accept-Encoding", ""))
    etag = f"{asset.etag}:gzip" if gz else asset.etag
    if _not_modified(req, asset.etag):
        response = Response(status=304)
    else:
        response = Response(asset.gzipped if gz else asset.body, mimetype=asset.mimetype)
        if gz:
            response.headers["Content-Encoding"] = "gzip"
    response.set_etag(etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Vary"] = "Accept-Encoding"
    return response


class _Once:
    """A body built on first use (or by warm()), once per process, whichever thread asks first."""

    def __init__(self, build: Callable[[], StaticBody]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: StaticBody | None = None

    def get(self) -> StaticBody:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value

    def reset_lock(self) -> None:
        """After fork: a lock held by a thread of the parent would never be released in the child."""
        self._lock = threading.Lock()


CAMERA_PROPERTIES = ("i", "k")


def camera_layer_geobuf() -> bytes:
    """The inventory's points as geobuf, in inventory row order, with CAMERA_PROPERTIES only."""
    import geobuf

    from geo.cameras import COORD_DECIMALS, camera_geojson, camera_inventory  # geopandas: only when first needed

    collection = camera_geojson(camera_inventory())
    for feature in collection["features"]:
        feature["properties"] = {key: feature["properties"][key] for key in CAMERA_PROPERTIES}
    return bytes(geobuf.encode(collection, COORD_DECIMALS))


def _build_cameras() -> StaticBody:
    return StaticBody.build(camera_layer_geobuf(), GEOBUF_MIMETYPE)


def _build_districts() -> StaticBody:
    from geo.districts import district_geojson

    text = json.dumps(district_geojson("wgs84"), ensure_ascii=False, separators=(",", ":"))
    return StaticBody.build(text.encode("utf-8"), JSON_MIMETYPE)


CAMERAS = _Once(_build_cameras)
DISTRICTS = _Once(_build_districts)


@geo_blueprint.get(CAMERAS_URL)
@takes()
def cameras_pbf() -> Response:
    return static_response(CAMERAS.get(), request)


@geo_blueprint.get(DISTRICTS_URL)
@takes()
def districts_json() -> Response:
    return static_response(DISTRICTS.get(), request)


def warm() -> None:
    """Build both bodies now (about 3 s for the 71,591-camera geobuf), so no wall waits for them."""
    try:
        CAMERAS.get()
        DISTRICTS.get()
    except Exception:  # a failed warm-up is retried by the first request, which reports the error
        log.exception("building the map geometry failed")


def _after_fork_in_child() -> None:
    CAMERAS.reset_lock()
    DISTRICTS.reset_lock()
    threading.Thread(target=warm, name="geo-warm", daemon=True).start()


_fork_hook_registered = False


@geo_blueprint.record_once
def _on_register(_state: object) -> None:
    """gunicorn --preload builds the app in its master and forks: each worker warms its own copy right after
    the fork (a thread started before it would not survive it). Unforked servers build on first request."""
    global _fork_hook_registered
    if not _fork_hook_registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_registered = True
