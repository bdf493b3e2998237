"""Load and validate the sign catalogue from the CSV files in signs/catalogue/.

A broken catalogue must stop the system at start with a message naming the file and line, so every
check below raises CatalogueError with that location.
"""

from __future__ import annotations

import csv
import fnmatch
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from signs.model import (
    FEED_VIDEO,
    FEEDS,
    Catalogue,
    Category,
    Derivation,
    DeriveOp,
    Direction,
    Module,
    MqttSource,
    Sign,
)

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
CAMERA_KINDS = ("fixed", "mobile", "all")
SIGN_COLUMNS = (
    "id", "name_zh", "name_en", "unit", "category", "module", "core", "dimension", "cadence_s",
    "direction", "blue", "yellow", "orange", "red", "definition", "owner", "source",
)  # fmt: skip

# Matched whole (fullmatch) with ASCII classes: \d and \w take any script's digits and letters, $ a trailing newline.
_MQTT_SOURCE = re.compile(
    r"mqtt:(?P<feed>[a-z]+)/(?P<adcode>[0-9]{6})/(?P<source_id>[A-Za-z0-9_.-]+)#(?P<field>[A-Za-z0-9_]+)"
)
_DERIVATION = re.compile(r"(?P<op>[a-z_]+)\((?P<args>.*)\)")


class CatalogueError(ValueError):
    """The catalogue is unusable; the message says where."""


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows with their 1-based line numbers in the file (the header is line 1)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for row in reader:
            if None in row:
                raise CatalogueError(f"{path.name}:{reader.line_num}: more fields than columns (quote text with commas)")
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
        return rows


def _threshold(text: str, where: str) -> float | None:
    if text in ("", "-", "—"):
        return None
    try:
        return float(text)
    except ValueError:
        raise CatalogueError(f"{where}: threshold {text!r} is not a number") from None


def _check_monotonic(thresholds: tuple[float | None, ...], direction: Direction, where: str) -> None:
    bounds = [b for b in thresholds if b is not None]
    if not bounds:
        return
    ordered = sorted(bounds) if direction is Direction.HIGH_IS_BAD else sorted(bounds, reverse=True)
    if bounds != ordered:
        kind = "rise" if direction is Direction.HIGH_IS_BAD else "fall"
        raise CatalogueError(f"{where}: thresholds {bounds} must {kind} from blue to red ({direction.value}-is-bad)")


def _parse_source(text: str, where: str) -> MqttSource | Derivation:
    if text.startswith("mqtt:"):
        match = _MQTT_SOURCE.fullmatch(text)
        if not match:
            raise CatalogueError(f"{where}: source {text!r} is not mqtt:feed/adcode/source_id#field")
        feed = match["feed"]
        if feed not in FEEDS:
            raise CatalogueError(f"{where}: source {text!r} names unknown feed {feed!r}; known: {', '.join(FEEDS)}")
        if feed == FEED_VIDEO:
            # Video messages are camera heartbeats, never routed to a sign: count cameras with a derivation.
            raise CatalogueError(
                f"{where}: source {text!r}: the {FEED_VIDEO} feed carries camera status, not readings; "
                "use camera_online_rate(...) or camera_online_count(...)"
            )
        return MqttSource(**match.groupdict())
    match = _DERIVATION.fullmatch(text)
    if not match:
        raise CatalogueError(f"{where}: source {text!r} is neither mqtt:... nor a derivation like sum(...)")
    try:
        op = DeriveOp(match["op"])
    except ValueError:
        raise CatalogueError(f"{where}: unknown derivation {match['op']!r}") from None
    args = match["args"].strip()
    if op in (DeriveOp.CAMERA_ONLINE_RATE, DeriveOp.CAMERA_ONLINE_COUNT):
        kind, _, adcode = (part.strip() for part in args.partition(","))
        if kind not in CAMERA_KINDS or not re.fullmatch(r"[0-9]{6}", adcode):
            raise CatalogueError(f"{where}: {op.value} takes (fixed|mobile|all, adcode), got ({args})")
        return Derivation(op=op, expression=text, camera_kind=kind, adcode=adcode)
    # Sign patterns stay unresolved here; _resolve_derivations expands them once every id is known.
    return Derivation(op=op, expression=text)


def _expand(pattern: str, ids: list[str], where: str) -> tuple[str, ...]:
    matched = tuple(fnmatch.filter(ids, pattern)) if any(c in pattern for c in "*?[") else ()
    if not matched and pattern in ids:
        matched = (pattern,)
    if not matched:
        raise CatalogueError(f"{where}: {pattern!r} matches no sign")
    return matched


def _resolve_derivation(sign: Sign, ids: list[str], where: str) -> Sign:
    derivation = sign.source
    assert isinstance(derivation, Derivation)
    if derivation.op in (DeriveOp.CAMERA_ONLINE_RATE, DeriveOp.CAMERA_ONLINE_COUNT):
        return sign
    args = _DERIVATION.fullmatch(derivation.expression)["args"]  # type: ignore[index]
    values_part, _, weights_part = args.partition(" by ")
    inputs = tuple(i for p in values_part.split(",") for i in _expand(p.strip(), ids, where))
    weights: tuple[str, ...] = ()
    if derivation.op is DeriveOp.WEIGHTED_MEAN:
        if not weights_part:
            raise CatalogueError(f"{where}: wmean needs 'VALUES by WEIGHTS'")
        weights = tuple(i for p in weights_part.split(",") for i in _expand(p.strip(), ids, where))
        if len(weights) != len(inputs):
            raise CatalogueError(f"{where}: wmean has {len(inputs)} values but {len(weights)} weights")
    elif weights_part:
        raise CatalogueError(f"{where}: only wmean takes 'by'")
    if sign.id in inputs or sign.id in weights:
        raise CatalogueError(f"{where}: {sign.id} is derived from itself")
    resolved = Derivation(op=derivation.op, expression=derivation.expression, inputs=inputs, weights=weights)
    return replace(sign, source=resolved)


def derivation_order(signs: dict[str, Sign], locations: Mapping[str, str] | None = None) -> list[str]:
    """Derived sign ids so that every input comes before the signs computed from it.

    `locations` maps sign ids to "file:line"; a cycle error then starts with the place of a sign in the cycle.
    """
    derived = {s.id: s.source for s in signs.values() if isinstance(s.source, Derivation)}
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(sign_id: str, path: list[str]) -> None:
        if state.get(sign_id) == 2:
            return
        if state.get(sign_id) == 1:
            cycle = [*path[path.index(sign_id) :], sign_id]
            where = f"{locations[sign_id]}: " if locations and sign_id in locations else ""
            raise CatalogueError(f"{where}derivation cycle: {' -> '.join(cycle)}")
        state[sign_id] = 1
        source = derived[sign_id]
        for dependency in (*source.inputs, *source.weights):
            if dependency in derived:
                visit(dependency, [*path, sign_id])
        state[sign_id] = 2
        order.append(sign_id)

    for sign_id in derived:
        visit(sign_id, [])
    return order


def load_catalogue(directory: Path = CATALOGUE_DIR) -> Catalogue:
    categories_path, modules_path = directory / "categories.csv", directory / "modules.csv"
    units_path, signs_path = directory / "units.csv", directory / "signs.csv"

    categories = {}
    for line, row in _rows(categories_path):
        if row["code"] in categories:
            raise CatalogueError(f"{categories_path.name}:{line}: duplicate category {row['code']}")
        categories[row["code"]] = Category(row["code"], row["name_zh"], row["name_en"])

    modules = {}
    for line, row in _rows(modules_path):
        where = f"{modules_path.name}:{line}"
        if row["code"] in modules:
            raise CatalogueError(f"{where}: duplicate module {row['code']}")
        if row["category"] not in categories:
            raise CatalogueError(f"{where}: unknown category {row['category']!r}")
        modules[row["code"]] = Module(row["code"], row["category"], row["name_zh"], row["name_en"])

    units = frozenset(row["unit"] for _, row in _rows(units_path))

    signs: dict[str, Sign] = {}
    lines: dict[str, int] = {}
    sign_rows = _rows(signs_path)
    if sign_rows and tuple(sign_rows[0][1]) != SIGN_COLUMNS:
        raise CatalogueError(f"{signs_path.name}:1: columns must be {','.join(SIGN_COLUMNS)}")
    for line, row in sign_rows:
        where = f"{signs_path.name}:{line}"
        sign_id = row["id"]
        if not sign_id:
            raise CatalogueError(f"{where}: empty id")
        if sign_id in signs:
            raise CatalogueError(f"{where}: duplicate id {sign_id} (first on line {lines[sign_id]})")
        if row["category"] not in categories:
            raise CatalogueError(f"{where}: unknown category {row['category']!r}")
        module = modules.get(row["module"])
        if module is None or module.category != row["category"]:
            raise CatalogueError(f"{where}: module {row['module']!r} is not in category {row['category']!r}")
        if row["unit"] not in units:
            raise CatalogueError(f"{where}: unit {row['unit']!r} is not in {units_path.name}")
        try:
            direction = Direction(row["direction"])
        except ValueError:
            raise CatalogueError(f"{where}: direction must be 'high' or 'low', not {row['direction']!r}") from None
        try:
            cadence = float(row["cadence_s"])
        except ValueError:
            cadence = 0.0
        if cadence <= 0:
            raise CatalogueError(f"{where}: cadence_s must be a positive number of seconds")
        thresholds = tuple(_threshold(row[c], where) for c in ("blue", "yellow", "orange", "red"))
        _check_monotonic(thresholds, direction, where)
        if not row["name_zh"] or not row["name_en"] or not row["definition"] or not row["owner"]:
            raise CatalogueError(f"{where}: name_zh, name_en, definition and owner are required")
        signs[sign_id] = Sign(
            id=sign_id,
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            unit=row["unit"],
            category=row["category"],
            module=row["module"],
            core=row["core"],
            dimension=row["dimension"],
            cadence_s=cadence,
            direction=direction,
            thresholds=thresholds,  # type: ignore[arg-type]
            definition=row["definition"],
            owner=row["owner"],
            source=_parse_source(row["source"], where),
        )
        lines[sign_id] = line

    core_ids = {s.core: s for s in signs.values() if s.is_core}
    ids = sorted(signs)
    routes: dict[tuple[str, str, str], dict[str, str]] = {}
    for sign_id, sign in list(signs.items()):
        where = f"{signs_path.name}:{lines[sign_id]}"
        parent = core_ids.get(sign.core)
        if parent is None or parent.module != sign.module:
            raise CatalogueError(f"{where}: parent core indicator {sign.core!r} does not exist in {sign.module}")
        if isinstance(sign.source, Derivation):
            signs[sign_id] = _resolve_derivation(sign, ids, where)
        else:
            source = sign.source
            fields = routes.setdefault((source.feed, source.adcode, source.source_id), {})
            if source.field in fields:
                raise CatalogueError(f"{where}: {sign.source} already feeds {fields[source.field]}")
            fields[source.field] = sign_id
    derivation_order(signs, {sign_id: f"{signs_path.name}:{line}" for sign_id, line in lines.items()})
    return Catalogue(categories=categories, modules=modules, signs=signs, units=units, routes=routes)


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The project's catalogue, loaded once per process."""
    return load_catalogue()
