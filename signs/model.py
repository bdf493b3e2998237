"""The sign catalogue's types and the pure rules on them: warning levels and derivation formulas."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Level(IntEnum):
    """One colour scale for the whole wall (catalogue-reference §3.0)."""

    NORMAL = 0
    BLUE = 1
    YELLOW = 2
    ORANGE = 3
    RED = 4

    @property
    def zh(self) -> str:
        return ("正常", "蓝", "黄", "橙", "红")[self]

    @property
    def en(self) -> str:
        return ("normal", "blue", "yellow", "orange", "red")[self]


class Direction(StrEnum):
    HIGH_IS_BAD = "high"
    LOW_IS_BAD = "low"


class DeriveOp(StrEnum):
    SUM = "sum"
    MAX = "max"
    MIN = "min"
    MEAN = "mean"
    WEIGHTED_MEAN = "wmean"
    CAMERA_ONLINE_RATE = "camera_online_rate"
    CAMERA_ONLINE_COUNT = "camera_online_count"


# The MQTT feeds the 15 modules draw on: the {feed} level of cityeye/v1/{feed}/{adcode}/{source_id}. Defined
# here, not in feeds.contract, because feeds imports signs and the catalogue loader checks sources against it;
# feeds.contract re-exports both names. "video" carries per-camera status; all others carry readings.
FEEDS = (
    "population", "hotline", "opinion",
    "water", "power", "gas", "video", "flood",
    "traffic", "transit",
    "weather", "environment", "events",
)  # fmt: skip
FEED_VIDEO = "video"


@dataclass(frozen=True, slots=True)
class MqttSource:
    """A sign read straight from a feed: topic cityeye/v1/{feed}/{adcode}/{source_id}, field in its readings."""

    feed: str
    adcode: str
    source_id: str
    field: str


@dataclass(frozen=True, slots=True)
class Derivation:
    """A sign computed from other signs or from the camera registry.

    `inputs` and `weights` are the resolved sign ids (globs are expanded at load). For the camera
    operations, `camera_kind` is fixed/mobile/all and `adcode` is a district or the whole city.
    """

    op: DeriveOp
    expression: str
    inputs: tuple[str, ...] = ()
    weights: tuple[str, ...] = ()
    camera_kind: str = ""
    adcode: str = ""


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Module:
    code: str
    category: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Sign:
    id: str
    name_zh: str
    name_en: str
    unit: str
    category: str
    module: str
    core: str
    dimension: str
    cadence_s: float
    direction: Direction
    # Blue, yellow, orange, red; None where the level is not used by the standard.
    thresholds: tuple[float | None, float | None, float | None, float | None]
    definition: str
    owner: str
    source: MqttSource | Derivation

    @property
    def is_core(self) -> bool:
        return self.dimension == "city" and self.id == core_sign_id(self.category, self.module, self.core)

    @property
    def district(self) -> str | None:
        """The district adcode for signs with a district dimension."""
        kind, _, value = self.dimension.partition(":")
        return value if kind == "dist" else None


def core_sign_id(category: str, module: str, core: str) -> str:
    return f"XY.{category}.{module}.{core}"


def level_of(value: float, thresholds: tuple[float | None, ...], direction: Direction) -> Level:
    """The highest level whose bound the value reaches (>= for high-is-bad, < for low-is-bad)."""
    if math.isnan(value):
        return Level.NORMAL
    reached = Level.NORMAL
    for level, bound in zip((Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED), thresholds, strict=True):
        if bound is None:
            continue
        hit = value >= bound if direction is Direction.HIGH_IS_BAD else value < bound
        if hit:
            reached = level
    return reached


def derive_value(op: DeriveOp, values: list[float], weights: list[float] | None = None) -> float | None:
    """Aggregate the inputs that have values; None when nothing is known yet."""
    if not values:
        return None
    if op is DeriveOp.SUM:
        return math.fsum(values)
    if op is DeriveOp.MAX:
        return max(values)
    if op is DeriveOp.MIN:
        return min(values)
    if op is DeriveOp.MEAN:
        return math.fsum(values) / len(values)
    if op is DeriveOp.WEIGHTED_MEAN:
        if weights is None or len(weights) != len(values):
            raise ValueError("a weighted mean needs one weight per value")
        total = math.fsum(weights)
        if total <= 0:
            return math.fsum(values) / len(values)
        return math.fsum(v * w for v, w in zip(values, weights, strict=True)) / total
    raise ValueError(f"{op} is computed from the camera registry, not from sign values")


@dataclass
class Catalogue:
    categories: dict[str, Category]
    modules: dict[str, Module]
    signs: dict[str, Sign]
    units: frozenset[str]
    # (feed, adcode, source_id) -> {field: sign id}; the worker's routing table.
    routes: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)

    @property
    def core_signs(self) -> list[Sign]:
        return [s for s in self.signs.values() if s.is_core]

    def derived_signs(self) -> list[Sign]:
        return [s for s in self.signs.values() if isinstance(s.source, Derivation)]

    def summary(self) -> dict[str, int]:
        return {
            "categories": len(self.categories),
            "modules": len(self.modules),
            "core": len(self.core_signs),
            "signs": len(self.signs),
        }
