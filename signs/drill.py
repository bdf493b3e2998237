"""The drill-down's domain rules, pure: history buckets and alert periods, a sign's siblings in other districts,
a district against the city and the others, its active alerts, sign lists with sparklines, and search.

Nothing here reads Redis or builds components: callbacks read, these functions decide, layouts draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from geo.admin import CITY_ADCODE, DISTRICTS
from signs.history import downsample
from signs.keys import Latest
from signs.model import (
    Catalogue,
    Derivation,
    Direction,
    Level,
    MqttSource,
    Sign,
    core_sign_id,
    is_stale,
    level_of,
    thresholds_at,
    thresholds_over,
)
from signs.store import latest_level
from signs.storyclock import StoryClock

# History -------------------------------------------------------------------------------------------------

# A history chart never gets more buckets than this (each bucket: min, max, mean).
MAX_BUCKETS = 400
# Bucket widths are one of these (seconds), so that buckets start on round Beijing times.
NICE_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400)


def bucket_width(span_s: float, cadence_s: float, max_buckets: int = MAX_BUCKETS) -> float:
    """The smallest round width giving at most `max_buckets` over the span, and never finer than the cadence."""
    want = max(span_s / max_buckets, cadence_s)
    for width in NICE_WIDTHS:
        if width >= want:
            return float(width)
    return math.ceil(want / 86_400) * 86_400.0


def history_window(span_s: float, end: float, width: float) -> tuple[float, float]:
    """[start, stop) on bucket boundaries (stable across refreshes) covering [end - span, end]."""
    return math.floor((end - span_s) / width) * width, math.floor(end / width) * width + width


@dataclass(frozen=True)
class Series:
    """Buckets of equal width from `start`; None where a bucket holds no point (drawn as a gap)."""

    start: float
    width: float
    low: list[float | None]
    high: list[float | None]
    mean: list[float | None]
    count: list[int]

    def __len__(self) -> int:
        return len(self.mean)

    @property
    def points(self) -> int:
        return sum(self.count)


def _sig(value: float, digits: int = 6) -> float:
    """Rounded to `digits` significant digits: what a chart can show, a third of the JSON."""
    return float(f"{value:.{digits}g}")


def _sorted(ts: np.ndarray) -> bool:
    return bool(len(ts) < 2 or (ts[1:] >= ts[:-1]).all())


def bucket_series(points: np.ndarray, start: float, end: float, width: float) -> Series:
    """Min, max and mean per bucket (as signs.history.downsample computes them) laid out on the full grid of
    buckets. Points sorted by time, as the store returns them, take a fast path: each bucket is one contiguous
    slice, reduced with ufunc.reduceat instead of scattered with ufunc.at."""
    n = max(1, round((end - start) / width))
    stop = start + n * width
    if not _sorted(points["ts"]):
        return _bucket_series_unsorted(points, start, n, width)
    low: list[float | None] = [None] * n
    high: list[float | None] = [None] * n
    mean: list[float | None] = [None] * n
    count = [0] * n
    edges = np.searchsorted(points["ts"], start + width * np.arange(n + 1), side="left")
    edges[-1] = np.searchsorted(points["ts"], stop, side="left")
    counts = np.diff(edges)
    present = np.flatnonzero(counts)
    if len(present) == 0:
        return Series(start=start, width=width, low=low, high=high, mean=mean, count=count)
    values = np.ascontiguousarray(points["value"][edges[0] : edges[-1]])
    first = edges[present] - edges[0]  # where each non-empty bucket begins in `values`
    lows = np.minimum.reduceat(values, first)
    highs = np.maximum.reduceat(values, first)
    means = np.add.reduceat(values, first) / counts[present]
    for i, lo, hi, mu, c in zip(
        present.tolist(), lows.tolist(), highs.tolist(), means.tolist(), counts[present].tolist(), strict=True
    ):
        low[i], high[i], mean[i], count[i] = _sig(lo), _sig(hi), _sig(mu), int(c)
    return Series(start=start, width=width, low=low, high=high, mean=mean, count=count)


def _bucket_series_unsorted(points: np.ndarray, start: float, n: int, width: float) -> Series:
    buckets = downsample(points, start, start + n * width, n)
    low: list[float | None] = [None] * n
    high: list[float | None] = [None] * n
    mean: list[float | None] = [None] * n
    count = [0] * n
    for ts, lo, hi, mu, c in zip(buckets.ts, buckets.low, buckets.high, buckets.mean, buckets.count, strict=True):
        i = min(n - 1, int(round((ts - start) / width)))
        low[i], high[i], mean[i], count[i] = _sig(lo), _sig(hi), _sig(mu), int(c)
    return Series(start=start, width=width, low=low, high=high, mean=mean, count=count)


def levels_of(sign: Sign, ts: np.ndarray, values: np.ndarray, clock: StoryClock | None = None) -> np.ndarray:
    """value_level for a whole series at once (NaN is normal): each point against the bounds at its own source
    time (its story time while `clock` runs), so an hour-of-week sign's night-time dip is as normal here as it is
    to the alert engine."""
    values = np.asarray(values, dtype=np.float64)
    bounds = thresholds_over(sign, np.asarray(ts, dtype=np.float64), clock)
    out = np.zeros(values.shape, dtype=np.int8)
    for level, scaled in zip((1, 2, 3, 4), bounds, strict=True):
        if scaled is None:
            continue
        hit = values >= scaled if sign.direction is Direction.HIGH_IS_BAD else values < scaled
        out = np.where(hit, np.int8(level), out)
    return out


@dataclass(frozen=True, slots=True)
class Period:
    """A stretch in alert: from the first reading at a level above normal to the first normal reading after
    it (or `until` while it lasts), with the highest level reached."""

    start: float
    end: float
    level: int
    ongoing: bool = False


def alert_periods(ts: np.ndarray, levels: np.ndarray, until: float, merge_gap_s: float = 0.0) -> list[Period]:
    """Runs of readings above normal; runs separated by less than merge_gap_s of normal are merged, so that a
    value flickering around a threshold makes one period rather than hundreds. Vectorised: a week at 5 s
    cadence has thousands of runs."""
    if len(ts) == 0:
        return []
    alert = levels > 0
    edges = np.diff(alert.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)  # index of the first normal reading after each run
    if len(starts) == 0:
        return []
    ongoing = stops[-1] >= len(ts)
    run_start = ts[starts].astype(np.float64)
    run_end = np.append(ts[stops[:-1]], until if ongoing else ts[stops[-1]]).astype(np.float64)
    run_level = np.maximum.reduceat(levels.astype(np.int8), starts)
    # A run joins the previous one when the normal stretch between them is short enough.
    new_group = np.ones(len(starts), dtype=bool)
    new_group[1:] = run_start[1:] - run_end[:-1] > merge_gap_s
    firsts = np.flatnonzero(new_group)
    lasts = np.append(firsts[1:], len(starts)) - 1
    peaks = np.maximum.reduceat(run_level, firsts)
    return [
        Period(float(run_start[a]), float(run_end[b]), int(level), bool(ongoing and b == len(starts) - 1))
        for a, b, level in zip(firsts.tolist(), lasts.tolist(), peaks.tolist(), strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Since:
    """Since when the newest readings have been at `level` or above; `before_range` when that is already so
    at the first reading looked at."""

    level: int
    start: float
    before_range: bool


def since(ts: np.ndarray, levels: np.ndarray, level: int) -> Since | None:
    """The start of the trailing run of readings at `level` or above; None when the newest is below it."""
    if level <= 0 or len(ts) == 0 or levels[-1] < level:
        return None
    below = np.flatnonzero(levels < level)
    first = int(below[-1]) + 1 if len(below) else 0
    return Since(level=level, start=float(ts[first]), before_range=first == 0)


def next_threshold(
    sign: Sign, value: float, ts: float, clock: StoryClock | None = None
) -> tuple[int, float] | None:
    """The next level above the value's and the bound that reaches it at time ts (its story time while `clock`
    runs); None at red or without thresholds."""
    bounds = thresholds_at(sign, ts, clock)
    current = int(level_of(value, bounds, sign.direction))
    for level in range(current + 1, 5):
        bound = bounds[level - 1]
        if bound is not None:
            return level, bound
    return None


# Where a sign belongs -------------------------------------------------------------------------------------


def sign_district(sign: Sign) -> str | None:
    """The district a sign describes or is measured in; None for the city as a whole."""
    if sign.district:
        return sign.district
    source = sign.source
    adcode = source.adcode if isinstance(source, MqttSource | Derivation) else ""
    return adcode if adcode in DISTRICTS else None


def district_name(adcode: str | None, lang: str) -> str:
    if not adcode or adcode == CITY_ADCODE:
        return "City" if lang == "en" else "全市"
    zh, en = DISTRICTS.get(adcode, (adcode, adcode))
    return en if lang == "en" else zh


def short_district_name(adcode: str, lang: str) -> str:
    """襄城 for 襄城区, Xiangcheng for Xiangcheng District: table headers."""
    zh, en = DISTRICTS.get(adcode, (adcode, adcode))
    if lang == "en":
        return en.rsplit(" ", 1)[0]
    return zh[:-1] if len(zh) > 2 else zh


def sign_name(sign: Sign, lang: str) -> str:
    return sign.name_en if lang == "en" else sign.name_zh


def parent_core(cat: Catalogue, sign: Sign) -> Sign:
    return cat.signs.get(core_sign_id(sign.category, sign.module, sign.core), sign)


def siblings(cat: Catalogue, sign: Sign) -> list[Sign]:
    """The same sign elsewhere: for a city core or a district sign, the city and every district; for a station
    or any other located sign, the same measurement at the other places. The sign itself is left out."""
    kind = sign.dimension.partition(":")[0]
    same_core = [s for s in cat.signs.values() if s.module == sign.module and s.core == sign.core]
    if sign.is_core or kind == "dist":
        members = [s for s in same_core if s.is_core or s.district]
    else:
        members = [s for s in same_core if s.dimension.partition(":")[0] == kind]
    order = {adcode: i for i, adcode in enumerate(DISTRICTS)}
    members.sort(key=lambda s: (not s.is_core, order.get(sign_district(s) or "", -1), s.id))
    return [s for s in members if s.id != sign.id]


# A district against the city -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    sign_id: str
    value: float | None
    level: int
    stale: bool
    source_ts: float | None


def cell(sign: Sign, latest: Latest | None, now: float, clock: StoryClock | None = None) -> Cell:
    if latest is None:
        return Cell(sign.id, None, 0, True, None)
    level = int(latest_level(sign, latest, clock))
    stale = is_stale(sign, latest.source_ts, now)
    return Cell(sign.id, latest.value, level, stale, latest.source_ts)


def pressure(sign: Sign, value: float) -> float:
    """How close a value is to the sign's first threshold (1.0 = on it, above 1 beyond it), so districts of
    different sizes compare fairly: each district's thresholds are scaled to its own share."""
    bound = next((b for b in sign.thresholds if b is not None), None)
    if bound is None or bound == 0 or math.isnan(value):
        return value if sign.direction is Direction.HIGH_IS_BAD else -value
    return value / bound if sign.direction is Direction.HIGH_IS_BAD else (bound / value if value else math.inf)


@dataclass(frozen=True)
class CoreRow:
    """One of the 55 core indicators: the city's value and each district's (None where it has no district
    breakdown), with the districts ranked worst first."""

    core: Sign
    city: Cell
    districts: dict[str, Cell]
    district_signs: dict[str, Sign]
    ranking: list[str]  # adcodes with a value, worst first

    def rank(self, adcode: str) -> int | None:
        return self.ranking.index(adcode) + 1 if adcode in self.ranking else None


def district_cores(cat: Catalogue) -> dict[str, dict[str, Sign]]:
    """core sign id -> {adcode: that district's sign of it}."""
    out: dict[str, dict[str, Sign]] = {s.id: {} for s in cat.core_signs}
    for sign in cat.signs.values():
        if sign.district:
            out.setdefault(core_sign_id(sign.category, sign.module, sign.core), {})[sign.district] = sign
    return out


def comparison_sign_ids(cat: Catalogue) -> list[str]:
    """Every sign the district comparison reads: the 55 cores and their district signs."""
    ids = []
    for core_id, by_district in district_cores(cat).items():
        ids.append(core_id)
        ids.extend(s.id for s in by_district.values())
    return ids


def core_rows(
    cat: Catalogue, latest: Mapping[str, Latest], now: float, clock: StoryClock | None = None
) -> list[CoreRow]:
    rows = []
    by_core = district_cores(cat)
    for core in cat.core_signs:
        signs = by_core.get(core.id, {})
        cells = {adcode: cell(sign, latest.get(sign.id), now, clock) for adcode, sign in signs.items()}

        def badness(adcode: str, cells: dict[str, Cell] = cells, signs: dict[str, Sign] = signs) -> tuple[int, float]:
            c = cells[adcode]
            return c.level, pressure(signs[adcode], c.value if c.value is not None else math.nan)

        ranked = sorted((a for a, c in cells.items() if c.value is not None), key=badness, reverse=True)
        rows.append(CoreRow(core, cell(core, latest.get(core.id), now, clock), cells, signs, ranked))
    return rows


# Active alerts of a district ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """One of the alert engine's open alerts, as a district page lists it."""

    sign: Sign
    level: int
    value: float
    since: float
    status: str  # raised | acknowledged | cleared (recovered, not yet acknowledged)
    acknowledged_by: str
    escalation: int
    silenced: bool


def district_signs(cat: Catalogue, adcode: str) -> list[Sign]:
    return [s for s in cat.signs.values() if sign_district(s) == adcode]


# Lists of signs -----------------------------------------------------------------------------------------------


SPARK_POINTS = 30
SPARK_MIN_WINDOW_S = 3_600.0
SPARK_MAX_WINDOW_S = 86_400.0


def spark_window(cadence_s: float) -> float:
    """An hour for fast signs, up to a day for slow ones: enough readings to show a trend."""
    return min(SPARK_MAX_WINDOW_S, max(SPARK_MIN_WINDOW_S, SPARK_POINTS * cadence_s))


def sparkline(points: np.ndarray, start: float, end: float, n: int = SPARK_POINTS) -> list[int | None]:
    """Bucket means scaled to 0..100 (None for empty buckets): all a 70-pixel sparkline needs."""
    series = bucket_series(points, start, end, (end - start) / n)
    present = [v for v in series.mean if v is not None]
    if not present:
        return []
    low, high = min(present), max(present)
    span = high - low
    return [None if v is None else (50 if span == 0 else round(100 * (v - low) / span)) for v in series.mean]


def list_signs(cat: Catalogue, kind: str, code: str, district: str = "") -> list[Sign]:
    """Signs of a module or a category (optionally of one district), cores first, then in catalogue order."""
    key = "module" if kind == "module" else "category"
    signs = [s for s in cat.signs.values() if getattr(s, key) == code]
    if district:
        signs = [s for s in signs if sign_district(s) == district]
    return sorted(signs, key=lambda s: (not s.is_core, s.module, s.core, not bool(s.district)))


def abnormal(cells: Iterable[Cell]) -> list[Cell]:
    return [c for c in cells if c.level > Level.NORMAL]


# Search -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """What the search box matches a sign by; the browser holds the same rows (search_index_rows)."""

    id: str
    name_zh: str
    name_en: str
    unit: str
    module: str
    district: str
    core: bool

    @property
    def haystack(self) -> str:
        return " ".join((self.id, self.name_zh, self.name_en, self.unit)).lower()


def search_index(cat: Catalogue) -> list[IndexEntry]:
    return [
        IndexEntry(s.id, s.name_zh, s.name_en, s.unit, s.module, sign_district(s) or "", s.is_core)
        for s in cat.signs.values()
    ]


def search_index_rows(index: list[IndexEntry]) -> list[list[object]]:
    """Compact rows for the browser: [id, name_zh, name_en, unit, module, district, core 0/1]."""
    return [[e.id, e.name_zh, e.name_en, e.unit, e.module, e.district, int(e.core)] for e in index]


def _score(entry: IndexEntry, terms: list[str], query: str) -> int:
    score = 0
    if entry.id.lower() == query:
        score += 1000
    if entry.name_zh.lower().startswith(query) or entry.name_en.lower().startswith(query):
        score += 100
    if entry.id.lower().startswith(query):
        score += 50
    if entry.unit.lower() == query:
        score += 40
    if entry.core:
        score += 20
    if not entry.district:
        score += 5
    return score


def search(index: list[IndexEntry], text: str, limit: int = 20) -> list[IndexEntry]:
    """Signs whose id, Chinese or English name or unit contain every whitespace-separated term
    (case-insensitive), best first: exact id, name prefix, id prefix, unit, core signs, city-wide signs.
    assets/drilldown.js ranks the same way in the browser."""
    query = " ".join(text.lower().split())
    if not query:
        return []
    terms = query.split(" ")
    hits = [e for e in index if all(t in e.haystack for t in terms)]
    hits.sort(key=lambda e: (-_score(e, terms, query), len(e.id), e.id))
    return hits[:limit]
