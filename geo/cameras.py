"""The simulated city's camera inventory (67,000 fixed + 4,591 mobile, GB/T 28181 ids), deterministic per seed."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import geobuf
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.admin import DISTRICTS
from geo.districts import district_frame

FIXED_CAMERAS = 67_000
MOBILE_CAMERAS = 4_591
DEFAULT_SEED = 420600
COORD_DECIMALS = 6

# Seed populations, catalogue-reference §4.1 (thousands); cameras are shared out in proportion.
POPULATION_K: dict[str, int] = {
    "420602": 477, "420606": 780, "420607": 620, "420624": 460, "420625": 483,
    "420626": 230, "420682": 450, "420683": 889, "420684": 450,
}  # fmt: skip

# Where cameras cluster, WGS84: (lon, lat, share of the district's cameras, gaussian sigma in km). The first
# entry of each district is its government seat (DataV "center"); the others are approximate town centres
# picked by hand, so "realistic", not surveyed. Every centre lies inside its own district (tested).
# The rest of each district's cameras (RURAL_SHARE) scatter uniformly over it: roads, rivers, reservoirs.
TOWNS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "420602": (  # 襄城: old walled city and 檀溪/庞公, then 鱼梁洲, 尹集, 卧龙
        (112.1443, 32.0171, 0.62, 2.2), (112.1900, 32.0450, 0.10, 1.0),
        (112.0600, 31.9850, 0.08, 0.8), (111.9900, 31.9700, 0.06, 0.8),
    ),
    "420606": (  # 樊城: the urban core north of the Han, 柿铺/高新 to the north-west, 牛首
        (112.1335, 32.0606, 0.68, 2.8), (112.1000, 32.0850, 0.12, 1.2), (112.0300, 32.1250, 0.08, 0.8),
    ),
    "420607": (  # 襄州: 张湾 seat, 东津 new district, 双沟, 伙牌, 黄龙, 程河
        (112.1914, 32.0876, 0.50, 2.5), (112.2300, 32.0100, 0.14, 1.5), (112.3600, 32.2200, 0.06, 0.8),
        (112.1300, 32.2000, 0.05, 0.8), (112.4000, 32.0200, 0.05, 0.8), (112.4500, 32.3000, 0.04, 0.8),
    ),
    "420624": (  # 南漳: 城关, 武安, 李庙, 九集, 东巩
        (111.8387, 31.7791, 0.62, 1.6), (111.9900, 31.6000, 0.08, 0.7), (111.7400, 31.6700, 0.06, 0.7),
        (111.9600, 31.8200, 0.06, 0.7), (111.6000, 31.4600, 0.04, 0.6),
    ),
    "420625": (  # 谷城: 城关, 石花, 盛康
        (111.6344, 32.2650, 0.66, 1.6), (111.5100, 32.2600, 0.12, 0.8), (111.6200, 32.1200, 0.06, 0.7),
    ),
    "420626": (  # 保康: 城关 in its valley, 马桥, 寺坪, 过渡湾
        (111.2565, 31.8756, 0.66, 1.2), (111.0300, 31.6700, 0.06, 0.6), (111.2000, 31.6000, 0.06, 0.6),
        (111.3500, 31.8500, 0.05, 0.6),
    ),
    "420682": (  # 老河口: 光化/酂阳 urban area, 孟楼, 仙人渡
        (111.6699, 32.3877, 0.70, 1.8), (111.8300, 32.5200, 0.07, 0.8), (111.7800, 32.3000, 0.07, 0.8),
    ),
    "420683": (  # 枣阳: urban area, 吴店, 兴隆, 太平, 琚湾
        (112.7594, 32.1252, 0.62, 2.0), (112.5800, 32.0300, 0.07, 0.8), (112.9600, 32.1400, 0.06, 0.8),
        (112.9200, 32.2700, 0.05, 0.8), (112.5500, 32.2000, 0.05, 0.8),
    ),
    "420684": (  # 宜城: urban area, 小河, 郑集, 流水, 王集
        (112.2556, 31.7113, 0.64, 1.6), (112.3800, 31.8200, 0.07, 0.8), (112.1000, 31.7000, 0.06, 0.8),
        (112.4200, 31.5500, 0.05, 0.8), (112.1500, 31.6200, 0.05, 0.8),
    ),
}
# What the towns leave over goes to the rural scatter (~10-20 % per district).

OWNER_GROUPS = ("公安", "交管", "城管", "水务", "应急", "交通", "生态环境", "社会资源")
# Share of each owner group among fixed cameras, in towns and in the countryside (same order as OWNER_GROUPS).
_OWNER_P_URBAN = (0.34, 0.14, 0.12, 0.03, 0.03, 0.05, 0.03, 0.26)
_OWNER_P_RURAL = (0.30, 0.12, 0.04, 0.14, 0.08, 0.16, 0.10, 0.06)
# Mobile devices: body-worn (公安, 城管, 交管), vehicle, deployable dome, drone (应急, 交通, 生态环境).
_OWNER_P_MOBILE = (0.40, 0.20, 0.22, 0.02, 0.08, 0.05, 0.03, 0.00)

# GB/T 28181-2016 id: 8-digit centre (adcode + "00") + 2 industry + 3 type + 1 network + 6 serial (§3.9, §6).
# Industry per owner group, after the standard's Annex D: 00 社会治安路面, 01 社会治安社区, 03 社会治安其他,
# 04 交通路面, 07 交通其他, 08 城市管理, 09 卫生环保, 54 水利. Only 00-02 and 11 are verified [S]; the rest [K].
INDUSTRY = {"公安": "00", "交管": "04", "城管": "08", "水务": "54", "应急": "03", "交通": "07",
            "生态环境": "09", "社会资源": "01"}  # fmt: skip
# Network digit for fixed cameras: 0 video private network, 6 e-government, 8 social-resource network.
NETWORK_FIXED = {"公安": "0", "交管": "0", "城管": "6", "水务": "6", "应急": "6", "交通": "6",
                 "生态环境": "6", "社会资源": "8"}  # fmt: skip
TYPE_FIXED = "132"  # network camera (IPC)
TYPE_MOBILE = ("138", "132")  # mobile transmission device; some deployable domes register as cameras
_TYPE_MOBILE_P = (0.8, 0.2)
NETWORK_MOBILE = "8"

COLUMNS = ["device_id", "adcode", "kind", "lat", "lon", "owner_group"]
_KM_PER_DEG_LAT = 111.195


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to weights that sum exactly to total."""
    quota = total * weights / weights.sum()
    counts: np.ndarray = np.floor(quota).astype(np.int64)
    counts[np.argsort(-(quota - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def _sample_district(
    rng: np.random.Generator, poly: BaseGeometry, towns: tuple[tuple[float, float, float, float], ...], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n points strictly inside poly: gaussian clusters around the towns plus a uniform rural scatter.

    Returns lon, lat (rounded, so the rounded point is what was tested) and a rural flag.
    """
    centres = np.array(towns)
    shares = np.append(centres[:, 2], 1.0 - centres[:, 2].sum())
    component = rng.choice(len(shares), size=n, p=shares)
    rural = component == len(towns)
    lon, lat = np.empty(n), np.empty(n)
    west, south, east, north = poly.bounds
    km_per_deg_lon = _KM_PER_DEG_LAT * np.cos(np.radians((south + north) / 2))
    shapely.prepare(poly)
    todo = np.arange(n)
    while todo.size:  # rejection sampling: redraw only the points that fell outside
        comp, is_rural = component[todo], rural[todo]
        c = centres[np.minimum(comp, len(towns) - 1)]
        x = c[:, 0] + rng.standard_normal(todo.size) * c[:, 3] / km_per_deg_lon
        y = c[:, 1] + rng.standard_normal(todo.size) * c[:, 3] / _KM_PER_DEG_LAT
        x = np.where(is_rural, rng.uniform(west, east, todo.size), x).round(COORD_DECIMALS)
        y = np.where(is_rural, rng.uniform(south, north, todo.size), y).round(COORD_DECIMALS)
        # contains_xy is False on the border, so every point has exactly one district.
        ok = shapely.contains_xy(poly, x, y)
        lon[todo[ok]], lat[todo[ok]] = x[ok], y[ok]
        todo = todo[~ok]
    return lon, lat, rural


@lru_cache(maxsize=4)
def _inventory(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = district_frame("wgs84").set_index("adcode")
    codes = list(DISTRICTS)
    population = np.array([POPULATION_K[c] for c in codes], dtype=float)
    n_fixed = _largest_remainder(FIXED_CAMERAS, population)
    n_mobile = _largest_remainder(MOBILE_CAMERAS, population)
    owners = np.array(OWNER_GROUPS)
    parts = []
    for adcode, nf, nm in zip(codes, n_fixed, n_mobile, strict=True):
        lon, lat, rural = _sample_district(rng, frame.geometry[adcode], TOWNS[adcode], int(nf + nm))
        mobile = np.arange(nf + nm) >= nf
        owner = np.where(
            rural,
            rng.choice(owners, size=rural.size, p=_OWNER_P_RURAL),
            rng.choice(owners, size=rural.size, p=_OWNER_P_URBAN),
        )
        owner[mobile] = rng.choice(owners, size=int(nm), p=_OWNER_P_MOBILE)
        mobile_type = rng.choice(TYPE_MOBILE, size=rural.size, p=_TYPE_MOBILE_P)
        parts.append(pd.DataFrame({
            "adcode": adcode, "kind": np.where(mobile, "mobile", "fixed"), "lat": lat, "lon": lon,
            "owner_group": owner, "_type": np.where(mobile, mobile_type, TYPE_FIXED),
        }))  # fmt: skip
    inv = pd.concat(parts, ignore_index=True)
    network = np.where(inv["kind"] == "mobile", NETWORK_MOBILE, inv["owner_group"].map(NETWORK_FIXED))
    prefix = inv["adcode"] + "00" + inv["owner_group"].map(INDUSTRY) + inv["_type"] + network
    serial = prefix.groupby(prefix).cumcount() + 1  # unique per id prefix, in generation order
    inv["device_id"] = prefix + serial.map("{:06d}".format)
    inv = inv.sort_values("device_id", ignore_index=True)[COLUMNS]
    return inv


def camera_inventory(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """71,591 cameras: device_id, adcode, kind (fixed|mobile), lat, lon (WGS84), owner_group; sorted by id.

    The same seed always gives the same frame (built once per process, then copied).
    """
    return _inventory(seed).copy()


def camera_geojson(inventory: pd.DataFrame) -> dict[str, Any]:
    """Point FeatureCollection for the map; properties id, d (adcode), k ("f"|"m"), i (row position),
    so live status can travel separately as a small per-row delta keyed by i."""
    lon = inventory["lon"].to_numpy().tolist()
    lat = inventory["lat"].to_numpy().tolist()
    kind = np.where(inventory["kind"].to_numpy() == "mobile", "m", "f").tolist()
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"id": device_id, "d": adcode, "k": k, "i": i},
        }
        for i, (device_id, adcode, k, x, y) in enumerate(
            zip(inventory["device_id"].tolist(), inventory["adcode"].tolist(), kind, lon, lat, strict=True)
        )
    ]
    return {"type": "FeatureCollection", "features": features}


def camera_geobuf(inventory: pd.DataFrame) -> bytes:
    """Raw geobuf (protobuf) of camera_geojson, for dash-leaflet GeoJSON(url=..., format="geobuf").

    Passing it inline instead (data=...) needs base64: that is dash_leaflet.express.geojson_to_geobuf.
    """
    return bytes(geobuf.encode(camera_geojson(inventory), COORD_DECIMALS))
