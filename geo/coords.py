"""GCJ-02 <-> WGS84 conversion, vectorised over numpy arrays; points outside China pass through unchanged."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

# The published GCJ-02 ("Mars coordinates") parameters: Krasovsky 1940 semi-major axis and eccentricity².
_A = 6378245.0
_EE = 0.00669342162296594323
# The usual rough China rectangle of the public implementations: outside it GCJ-02 == WGS84.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
# The inverse is a fixed-point iteration; the offset's gradient is ~1e-5, so each step gains ~5 orders of
# magnitude: from ~6e-3 deg, 3 steps reach machine precision. A fixed count (no early exit on the batch's
# worst point) keeps each point's result independent of which other points share the array.
_INVERSE_ITER = 5

Coords = tuple[NDArray[np.float64], NDArray[np.float64]]


def _as_float(lon: ArrayLike, lat: ArrayLike) -> Coords:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x, y


def _d_lat(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    r += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return r


def _d_lon(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    r += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return r


def _offset(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Coords:
    """GCJ-02 minus WGS84, in degrees, at a WGS84 position (no China test)."""
    x, y = lon - 105.0, lat - 35.0
    rad = lat / 180.0 * np.pi
    m = 1.0 - _EE * np.sin(rad) ** 2
    sm = np.sqrt(m)
    dlon = _d_lon(x, y) * 180.0 / (_A / sm * np.cos(rad) * np.pi)
    dlat = _d_lat(x, y) * 180.0 / ((_A * (1.0 - _EE)) / (m * sm) * np.pi)
    return dlon, dlat


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where GCJ-02 applies (the conventional bounding rectangle; includes some neighbours, as AMap does)."""
    x, y = _as_float(lon, lat)
    return (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """WGS84 -> GCJ-02 (the forward, published formula). Returns (lon, lat) float arrays."""
    x, y = _as_float(lon, lat)
    dlon, dlat = _offset(x, y)
    inside = in_china(x, y)
    return np.where(inside, x + dlon, x), np.where(inside, y + dlat, y)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """GCJ-02 -> WGS84 by fixed-point inversion of the forward formula; round-trip error ~1e-14 deg.

    The China test is made on the GCJ-02 input, as the public implementations do.
    """
    gx, gy = _as_float(lon, lat)
    wx, wy = gx.copy(), gy.copy()
    for _ in range(_INVERSE_ITER):
        dlon, dlat = _offset(wx, wy)
        wx, wy = gx - dlon, gy - dlat
    inside = in_china(gx, gy)
    return np.where(inside, wx, gx), np.where(inside, wy, gy)
