"""Load and validate the sign catalogue from the CSV files in signs/catalogue/.

A broken catalogue must stop the system at start with a message naming the file and line, so every
check below raises CatalogueError with that location.

signs.csv has one row per sign; its optional column `bounds` says how the sign's bounds apply (the rule
kind, docs/alerts.md): empty or `absolute`, `hour_of_week(PROFILE, LEVEL)` with a profile of profiles.csv and
the sign's expected value where the profile's factor is 1, or `first_occurrence(LEVEL)` for event counts where
one occurrence already raises at that level (blue, yellow, orange or red).

Every text a screen shows has an English form (docs/catalogue.md): signs.csv's name_en, optional short_zh /
short_en for the wall's tiles and definition_en; units.csv's symbol_en where the unit is Chinese; owners.csv gives
each owner's English name. No *_en text may contain a Chinese character.

The optional column `map` says, for each core indicator, whether the wall map colours the districts by it
(`district`: it has a row `<core id>.dist:<adcode>` for each of the nine districts, with the same unit, direction and
rule kind and bounds of the same kind, see _check_district_rows) or why it is citywide (`citywide: 理由 / reason`).
"""

from __future__ import annotations

import csv
import fnmatch
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from geo.admin import DISTRICTS
from signs.model import (
    DAYS,
    FEED_VIDEO,
    FEEDS,
    HOURS_PER_DAY,
    BoundsKind,
    Catalogue,
    Category,
    Derivation,
    DeriveOp,
    Direction,
    HourProfile,
    HubMeasure,
    HubScope,
    HubSource,
    Level,
    Module,
    MqttSource,
    Sign,
    core_sign_id,
)

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
CAMERA_KINDS = ("fixed", "mobile", "all")
SIGN_COLUMNS = (
    "id", "name_zh", "name_en", "unit", "category", "module", "core", "dimension", "cadence_s",
    "direction", "blue", "yellow", "orange", "red", "definition", "owner", "source",
)  # fmt: skip
BOUNDS_COLUMN = "bounds"  # optional: empty means absolute
# Optional columns, in this order after SIGN_COLUMNS; a file that has one fills it on every row it needs it on.
MAP_COLUMN = "map"  # optional: core indicators only, `district` or `citywide: <reason in Chinese> / <in English>`
OPTIONAL_SIGN_COLUMNS = (BOUNDS_COLUMN, "definition_en", "short_zh", "short_en", MAP_COLUMN)
KNOT_COLUMNS = tuple(f"h{hour:02d}" for hour in range(HOURS_PER_DAY + 1))
PROFILE_COLUMNS = ("profile", "days", "floor", *KNOT_COLUMNS, "description")
LEVEL_NAMES = {level.en: level for level in Level if level != Level.NORMAL}

# Matched whole (fullmatch) with ASCII classes: \d and \w take any script's digits and letters, $ a trailing newline.
_MQTT_SOURCE = re.compile(
    r"mqtt:(?P<feed>[a-z]+)/(?P<adcode>[0-9]{6})/(?P<source_id>[A-Za-z0-9_.-]+)#(?P<field>[A-Za-z0-9_]+)"
)
# A sign the dispatcher computes from the event hub: hub:MEASURE(city | none | district=ADCODE | category=CC |
# items=CCIII+CCIII...), the codes those of the event library (dispatch/library/), checked against it by dispatch.signs.
_HUB_SOURCE = re.compile(
    r"hub:(?P<measure>[a-z_]+)\((?P<scope>city|none|district=[0-9]{6}|category=[0-9]{2}|items=[0-9]{5}(\+[0-9]{5})*)\)"
)
_HUB_UNITS = {False: "件", True: "%"}  # by HubMeasure.is_rate
_DERIVATION = re.compile(r"(?P<op>[a-z_]+)\((?P<args>.*)\)")
_BOUNDS = re.compile(r"(?P<kind>[a-z_]+)\((?P<args>[^()]*)\)")


class CatalogueError(ValueError):
    """The catalogue is unusable; the message says where."""


# CJK ideographs and radicals, CJK punctuation and full-width forms: none of them belongs in an English text.
_CJK = re.compile(r"[\u2e80-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def check_english(text: str, field: str, where: str) -> str:
    """The text itself, refused when it holds a Chinese character."""
    found = _CJK.search(text)
    if found:
        raise CatalogueError(f"{where}: {field} {text!r} contains the Chinese character {found.group()!r}")
    return text


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows with their 1-based line numbers in the file (the header is line 1)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for row in reader:
            if None in row:
                where = f"{path.name}:{reader.line_num}"
                raise CatalogueError(f"{where}: more fields than columns (quote text with commas)")
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


def _parse_hub_source(text: str, unit: str, where: str) -> HubSource:
    match = _HUB_SOURCE.fullmatch(text)
    if not match:
        raise CatalogueError(f"{where}: source {text!r} is not hub:MEASURE(city|none|district=ADCODE|category=CC|"
                             "items=CCIII+...)")  # fmt: skip
    try:
        measure = HubMeasure(match["measure"])
    except ValueError:
        known = ", ".join(m.value for m in HubMeasure)
        raise CatalogueError(f"{where}: unknown hub measure {match['measure']!r}; known: {known}") from None
    kind, _, codes = match["scope"].partition("=")
    source = HubSource(measure, HubScope(kind), tuple(codes.split("+")) if codes else ())
    if source.scope is HubScope.DISTRICT and source.codes[0] not in DISTRICTS:
        raise CatalogueError(f"{where}: source {text!r}: {source.codes[0]} is not one of the nine districts")
    if unit != _HUB_UNITS[measure.is_rate]:
        raise CatalogueError(f"{where}: {measure.value} is in {_HUB_UNITS[measure.is_rate]}, not {unit!r}")
    return source


def _parse_source(text: str, unit: str, where: str) -> MqttSource | Derivation | HubSource:
    if text.startswith("hub:"):
        return _parse_hub_source(text, unit, where)
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


def _days(text: str, where: str) -> list[int]:
    """Days written like mon-fri, sat,sun or sun, as weekday numbers (Monday 0)."""
    days: list[int] = []
    for part in (p.strip() for p in text.lower().split(",")):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS) or (last and DAYS.index(last) < DAYS.index(first)):
            raise CatalogueError(f"{where}: days {text!r} are not like mon-fri, sat,sun or sun")
        days += range(DAYS.index(first), DAYS.index(last or first) + 1)
    return days


def _factor(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CatalogueError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise CatalogueError(f"{where}: {column} {text!r} must be a finite number, 0 or more")
    return value


def load_profiles(path: Path) -> dict[str, HourProfile]:
    """profiles.csv: per profile, one row per group of weekdays with its 25 hourly factors; every weekday once."""
    if not path.exists():
        return {}
    rows = _rows(path)
    if rows and tuple(rows[0][1]) != PROFILE_COLUMNS:
        raise CatalogueError(f"{path.name}:1: columns must be {','.join(PROFILE_COLUMNS)}")
    days: dict[str, dict[int, tuple[tuple[float, ...], float]]] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        where = f"{path.name}:{line}"
        name = row["profile"]
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise CatalogueError(f"{where}: profile name {name!r} must be lower-case letters, digits and _")
        knots = tuple(_factor(row[c], c, where) for c in KNOT_COLUMNS)
        floor = _factor(row["floor"] or "0", "floor", where)
        if floor > 1:
            raise CatalogueError(f"{where}: floor {floor:g} must be between 0 and 1")
        seen = days.setdefault(name, {})
        first_line.setdefault(name, line)
        for day in _days(row["days"], where):
            if day in seen:
                raise CatalogueError(f"{where}: profile {name} gives {DAYS[day]} twice")
            seen[day] = (knots, floor)
    profiles = {}
    for name, seen in days.items():
        where = f"{path.name}:{first_line[name]}"
        missing = [DAYS[d] for d in range(len(DAYS)) if d not in seen]
        if missing:
            raise CatalogueError(f"{where}: profile {name} has no factors for {', '.join(missing)}")
        if not any(f > 0 for knots, _ in seen.values() for f in knots):
            raise CatalogueError(f"{where}: profile {name} is zero all week")
        ordered = [seen[d] for d in range(len(DAYS))]
        profiles[name] = HourProfile(name, tuple(k for k, _ in ordered), tuple(f for _, f in ordered))
    return profiles


def _parse_bounds(
    text: str,
    thresholds: tuple[float | None, ...],
    direction: Direction,
    profiles: Mapping[str, HourProfile],
    where: str,
) -> tuple[BoundsKind, HourProfile | None, float, tuple[float | None, ...]]:
    """The rule kind of a sign: (kind, profile, expected level, the thresholds it evaluates with)."""
    if text in ("", BoundsKind.ABSOLUTE.value):
        return BoundsKind.ABSOLUTE, None, 0.0, thresholds
    match = _BOUNDS.fullmatch(text)
    kinds = ", ".join(k.value for k in BoundsKind)
    if not match:
        raise CatalogueError(f"{where}: bounds {text!r} is not absolute, hour_of_week(PROFILE, LEVEL) or "
                             "first_occurrence(LEVEL)")  # fmt: skip
    try:
        kind = BoundsKind(match["kind"])
    except ValueError:
        raise CatalogueError(f"{where}: unknown rule kind {match['kind']!r} in bounds; known: {kinds}") from None
    args = [a.strip() for a in match["args"].split(",")]
    if kind is BoundsKind.HOUR_OF_WEEK:
        if len(args) != 2:
            raise CatalogueError(f"{where}: hour_of_week takes (PROFILE, LEVEL), got ({match['args']})")
        profile = profiles.get(args[0])
        if profile is None:
            known = ", ".join(sorted(profiles)) or "none"
            raise CatalogueError(f"{where}: profile {args[0]!r} is not in profiles.csv (known: {known})")
        try:
            level = float(args[1])
        except ValueError:
            level = math.nan
        if not (math.isfinite(level) and level > 0):
            raise CatalogueError(f"{where}: hour_of_week expected level {args[1]!r} must be a positive number")
        bounds = [b for b in thresholds if b is not None]
        if not bounds:
            raise CatalogueError(f"{where}: hour_of_week needs at least one bound")
        first = bounds[0]
        if (first <= level) if direction is Direction.HIGH_IS_BAD else (first >= level):
            side = "above" if direction is Direction.HIGH_IS_BAD else "below"
            raise CatalogueError(f"{where}: the first bound {first:g} must lie {side} the expected level {level:g} "
                                 f"({direction.value}-is-bad): the bounds hold at that level")  # fmt: skip
        if direction is Direction.LOW_IS_BAD and max(profile.floors) > profile.lowest:
            raise CatalogueError(f"{where}: profile {profile.name}'s floor lies above its lowest factor, which would "
                                 "put a low-is-bad sign's bounds above its expected value")  # fmt: skip
        return kind, profile, level, thresholds
    # First occurrence: 1 at the named level; the row may add higher levels from larger counts.
    if len(args) != 1 or args[0] not in LEVEL_NAMES:
        names = ", ".join(LEVEL_NAMES)
        raise CatalogueError(f"{where}: first_occurrence takes a level ({names}), got ({match['args']})")
    level_at = LEVEL_NAMES[args[0]]
    if direction is not Direction.HIGH_IS_BAD:
        raise CatalogueError(f"{where}: first_occurrence counts events: its direction must be high")
    filled = [Level(i + 1).en for i, b in enumerate(thresholds[:level_at]) if b is not None]
    if filled:
        raise CatalogueError(f"{where}: first_occurrence({level_at.en}) sets the {level_at.en} bound to 1; leave "
                             f"{', '.join(filled)} empty")  # fmt: skip
    higher = list(thresholds)
    higher[level_at - 1] = 1.0
    _check_monotonic(tuple(higher), direction, where)
    if any(b is not None and b <= 1 for b in thresholds[level_at:]):
        raise CatalogueError(f"{where}: bounds above first_occurrence({level_at.en}) must be more than 1")
    return kind, None, 0.0, tuple(higher)


def _check_sign_columns(columns: tuple[str, ...], file: str) -> None:
    extra = columns[len(SIGN_COLUMNS) :]
    optional = [c for c in OPTIONAL_SIGN_COLUMNS if c in extra]
    if columns[: len(SIGN_COLUMNS)] != SIGN_COLUMNS or list(extra) != optional:
        required, optional_text = ",".join(SIGN_COLUMNS), ",".join(OPTIONAL_SIGN_COLUMNS)
        raise CatalogueError(f"{file}:1: columns must be {required} then any of {optional_text}, in order")


_CITYWIDE = re.compile(r"citywide:\s*(?P<zh>[^/]*?)\s*/\s*(?P<en>.*)")


def _parse_map(row: Mapping[str, str], where: str) -> tuple[bool, str, str]:
    """The map column of a row: (coloured per district, why citywide in Chinese, in English)."""
    if MAP_COLUMN not in row:
        return False, "", ""
    text = row[MAP_COLUMN]
    is_core = row["dimension"] == "city" and row["id"] == core_sign_id(row["category"], row["module"], row["core"])
    if not is_core:
        if text:
            raise CatalogueError(f"{where}: map is for core indicators only; leave it empty")
        return False, "", ""
    if text == "district":
        return True, "", ""
    match = _CITYWIDE.fullmatch(text)
    if not match or not match["zh"] or not match["en"]:
        raise CatalogueError(f"{where}: map {text!r} is neither 'district' nor 'citywide: 理由 / reason'")
    return False, match["zh"], check_english(match["en"], "map's English reason", where)


# Derivations that add the districts up: their district rows are shares of the city, with bounds scaled to them.
_ADDITIVE = (DeriveOp.SUM, DeriveOp.CAMERA_ONLINE_COUNT)


def _check_map(core: Sign, signs: Mapping[str, Sign], where: str) -> None:
    rows = {adcode: signs.get(f"{core.id}.dist:{adcode}") for adcode in DISTRICTS}
    present = [sign for sign in rows.values() if sign is not None]
    if not core.on_map:
        if present:
            raise CatalogueError(f"{where}: {core.id} is marked citywide but has district rows ({present[0].id}); "
                                 "map it per district")  # fmt: skip
        return
    absent = [adcode for adcode, sign in rows.items() if sign is None]
    if absent:
        raise CatalogueError(f"{where}: {core.id} is mapped per district but has no row {core.id}.dist:{absent[0]} "
                             f"({len(absent)} of {len(rows)} districts missing)")  # fmt: skip
    for sign in present:
        _check_district_row(core, sign, where)


def _check_district_row(core: Sign, sign: Sign, where: str) -> None:
    """A district row is the city value's kind for one district: same unit, direction, cadence and rule kind, and
    bounds scaled to the district's share where the city adds the districts up (a count), else the city's own (a
    rate, level or maximum: a 3-hour maximum per district for a 3-hour city maximum)."""
    for attribute in ("unit", "direction", "cadence_s", "bounds"):
        if getattr(sign, attribute) != getattr(core, attribute):
            raise CatalogueError(f"{where}: {sign.id}'s {attribute} {getattr(sign, attribute)!s} differs from "
                                 f"{core.id}'s {getattr(core, attribute)!s}")  # fmt: skip
    additive = isinstance(core.source, Derivation) and core.source.op in _ADDITIVE
    if [b is None for b in sign.thresholds] != [b is None for b in core.thresholds]:
        raise CatalogueError(f"{where}: {sign.id} uses other levels than {core.id}")
    pairs = [(b, c) for b, c in zip(sign.thresholds, core.thresholds, strict=True) if b is not None and c is not None]
    if additive and any(abs(b) > abs(c) for b, c in pairs):
        raise CatalogueError(f"{where}: {core.id} adds the districts up: {sign.id}'s bounds {sign.thresholds} must "
                             f"be its share of {core.thresholds}, none above")  # fmt: skip
    if not additive and any(b != c for b, c in pairs):
        raise CatalogueError(f"{where}: {sign.id}'s bounds {sign.thresholds} must be {core.id}'s {core.thresholds}: "
                             "a rate, level or extreme per district is judged as the city's")  # fmt: skip


def load_units(path: Path) -> dict[str, str]:
    """units.csv: each unit with the symbol English pages show, its optional symbol_en or else the unit itself."""
    units: dict[str, str] = {}
    for line, row in _rows(path):
        where = f"{path.name}:{line}"
        unit = row["unit"]
        if unit in units:
            raise CatalogueError(f"{where}: duplicate unit {unit!r}")
        if "symbol_en" in row:
            # The file gives English symbols: a unit that needs one (a Chinese unit) must have it.
            symbol = row["symbol_en"] or unit
            units[unit] = check_english(symbol, "symbol_en (or the unit itself)", where)
        else:
            units[unit] = unit
    return units


OWNERS_FILE = "owners.csv"


def load_owners(path: Path) -> dict[str, str]:
    """owners.csv: each owner (responsible department) as signs.csv names it, with its English name; optional."""
    if not path.exists():
        return {}
    owners: dict[str, str] = {}
    for line, row in _rows(path):
        where = f"{path.name}:{line}"
        if row["owner"] in owners:
            raise CatalogueError(f"{where}: duplicate owner {row['owner']!r}")
        owners[row["owner"]] = check_english(row["name_en"], "name_en", where)
    return owners


def load_catalogue(directory: Path = CATALOGUE_DIR) -> Catalogue:
    categories_path, modules_path = directory / "categories.csv", directory / "modules.csv"
    units_path, signs_path = directory / "units.csv", directory / "signs.csv"

    categories = {}
    for line, row in _rows(categories_path):
        if row["code"] in categories:
            raise CatalogueError(f"{categories_path.name}:{line}: duplicate category {row['code']}")
        name_en = check_english(row["name_en"], "name_en", f"{categories_path.name}:{line}")
        categories[row["code"]] = Category(row["code"], row["name_zh"], name_en)

    modules = {}
    for line, row in _rows(modules_path):
        where = f"{modules_path.name}:{line}"
        if row["code"] in modules:
            raise CatalogueError(f"{where}: duplicate module {row['code']}")
        if row["category"] not in categories:
            raise CatalogueError(f"{where}: unknown category {row['category']!r}")
        name_en = check_english(row["name_en"], "name_en", where)
        modules[row["code"]] = Module(row["code"], row["category"], row["name_zh"], name_en)

    units_en = load_units(units_path)
    owners_en = load_owners(directory / OWNERS_FILE)
    profiles = load_profiles(directory / "profiles.csv")

    signs: dict[str, Sign] = {}
    lines: dict[str, int] = {}
    sign_rows = _rows(signs_path)
    if sign_rows:
        _check_sign_columns(tuple(sign_rows[0][1]), signs_path.name)
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
        if row["unit"] not in units_en:
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
        bounds, profile, expected_level, thresholds = _parse_bounds(
            row.get(BOUNDS_COLUMN, ""), thresholds, direction, profiles, where
        )
        if not row["name_zh"] or not row["name_en"] or not row["definition"] or not row["owner"]:
            raise CatalogueError(f"{where}: name_zh, name_en, definition and owner are required")
        if "definition_en" in row and not row["definition_en"]:
            raise CatalogueError(f"{where}: definition_en is required (the definition in English)")
        if owners_en and row["owner"] not in owners_en:
            raise CatalogueError(f"{where}: owner {row['owner']!r} is not in {OWNERS_FILE}")
        on_map, citywide_zh, citywide_en = _parse_map(row, where)
        signs[sign_id] = Sign(
            id=sign_id,
            name_zh=row["name_zh"],
            name_en=check_english(row["name_en"], "name_en", where),
            short_zh=row.get("short_zh", ""),
            short_en=check_english(row.get("short_en", ""), "short_en", where),
            unit=row["unit"],
            unit_en=units_en[row["unit"]],
            category=row["category"],
            module=row["module"],
            core=row["core"],
            dimension=row["dimension"],
            cadence_s=cadence,
            direction=direction,
            thresholds=thresholds,  # type: ignore[arg-type]
            definition=row["definition"],
            definition_en=check_english(row.get("definition_en", ""), "definition_en", where),
            owner=row["owner"],
            owner_en=owners_en.get(row["owner"], ""),
            source=_parse_source(row["source"], row["unit"], where),
            bounds=bounds,
            profile=profile,
            expected_level=expected_level,
            on_map=on_map,
            citywide_zh=citywide_zh,
            citywide_en=citywide_en,
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
        elif isinstance(sign.source, MqttSource):
            source = sign.source
            fields = routes.setdefault((source.feed, source.adcode, source.source_id), {})
            if source.field in fields:
                raise CatalogueError(f"{where}: {sign.source} already feeds {fields[source.field]}")
            fields[source.field] = sign_id
    derivation_order(signs, {sign_id: f"{signs_path.name}:{line}" for sign_id, line in lines.items()})
    if sign_rows and MAP_COLUMN in sign_rows[0][1]:
        for core in core_ids.values():
            _check_map(core, signs, f"{signs_path.name}:{lines[core.id]}")
    return Catalogue(
        categories=categories,
        modules=modules,
        signs=signs,
        units=frozenset(units_en),
        profiles=profiles,
        routes=routes,
        units_en=units_en,
    )


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The project's catalogue, loaded once per process."""
    return load_catalogue()
