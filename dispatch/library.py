"""The event library (城市运行事件库) as data: categories, items, event types, departments, SLA profiles and the
township registry, loaded from the CSV files in dispatch/library/ and checked once at start.

A broken library must stop the dispatcher and the web tier at start with a message naming the file and line, as the
sign catalogue does (signs/catalogue.py), so every check raises LibraryError with that location. Provenance of each
file, and which values are sourced and which are placeholders: dispatch/library/SOURCE.md.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from geo.admin import DISTRICTS
from signs.catalogue import CatalogueError, check_english

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
# The seeds' structure (S:1): at least this many categories and items; types grow towards 958.
MIN_CATEGORIES = 12
MIN_ITEMS = 105

_CATEGORY_CODE = re.compile(r"[0-9]{2}")
_ITEM_CODE = re.compile(r"[0-9]{5}")
_TYPE_CODE = re.compile(r"[0-9]{7}")
_DEPARTMENT_ID = re.compile(r"D[0-9]{2}|CTR")
_TOWNSHIP_CODE = re.compile(r"[0-9]{9}")
# The city operations centre: where returned and unmatched events go, and the top of every escalation.
CENTRE = "CTR"


class LibraryError(ValueError):
    """The event library is unusable; the message says where."""


class Level(StrEnum):
    """Dispatch levels, lowest first: an escalation moves an event one step up this order."""

    TOWNSHIP = "township"  # 乡镇（街道）城运中心 with grid, community and village forces
    COUNTY = "county"  # a county or district department
    CITY = "city"  # a city department (in the counties, its county counterpart handles)
    COMMAND = "command"  # city-wide command at the city centre, wherever the event is

    def above(self) -> Level | None:
        order = list(Level)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


class Evidence(StrEnum):
    PHOTO = "photo"  # before and after photos
    FRAME = "frame"  # a machine frame counts as the "before" photo
    NOTE = "note"  # a note suffices

    @property
    def needs_media(self) -> bool:
        return self is not Evidence.NOTE


class Reach(StrEnum):
    """The lowest level at which a department has a unit of its own."""

    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    category: str
    name_zh: str
    name_en: str
    cls: str  # H 高频事项, L 联勤联动, F 融合指挥
    basis: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Seconds from dispatch to signing for (response) and to handled (handling), from the report to closed
    (feedback)."""

    response_s: float
    handling_s: float
    feedback_s: float


@dataclass(frozen=True, slots=True)
class SlaProfile:
    code: str
    name: str
    limits: Limits
    basis: str


@dataclass(frozen=True, slots=True)
class EventType:
    code: str
    item: str
    name_zh: str
    name_en: str
    departments: tuple[str, ...]  # the lead first, then those co-dispatched
    level: Level
    sla: str
    limits: Limits
    evidence: Evidence
    closure: str
    closure_en: str
    open311: bool
    source: str

    @property
    def category(self) -> str:
        return self.code[:2]


@dataclass(frozen=True, slots=True)
class Department:
    id: str
    name_zh: str
    short_zh: str
    name_en: str
    reaches: Reach
    name_check: str


@dataclass(frozen=True, slots=True)
class Township:
    code: str
    name: str
    county: str

    @property
    def administrative(self) -> bool:
        """A 街道, 镇 or 乡; codes 400-599 are development zones, farms and similar units."""
        return int(self.code[6:9]) < 400


@dataclass(frozen=True, slots=True)
class Library:
    categories: dict[str, Category]
    items: dict[str, Item]
    types: dict[str, EventType]
    departments: dict[str, Department]
    profiles: dict[str, SlaProfile]
    townships: dict[str, Township]

    def township_named(self, name: str, county: str = "") -> Township | None:
        """A township by its name, within a county when given; None when unknown or ambiguous."""
        found = [t for t in self.townships.values() if t.name == name and (not county or t.county == county)]
        return found[0] if len(found) == 1 else None


def read_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[str, dict[str, str]]]:
    """Rows with their "file:line" (the header is line 1); the header must be exactly `columns`."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != columns:
            raise LibraryError(f"{path.name}:1: columns must be {','.join(columns)}, not {reader.fieldnames}")
        rows = []
        for row in reader:
            where = f"{path.name}:{reader.line_num}"
            if None in row:
                raise LibraryError(f"{where}: more fields than columns (quote text with commas)")
            values = {k: (v or "").strip() for k, v in row.items()}
            empty = [k for k in columns if not values[k]]
            if empty:
                raise LibraryError(f"{where}: {', '.join(empty)} must not be empty")
            rows.append((where, values))
        return rows


def _unique(code: str, seen: dict[str, str], where: str, what: str) -> None:
    if code in seen:
        raise LibraryError(f"{where}: {what} {code} is already defined at {seen[code]}")
    seen[code] = where


def _code(text: str, pattern: re.Pattern[str], where: str, what: str) -> str:
    if not pattern.fullmatch(text):
        raise LibraryError(f"{where}: {what} {text!r} is not of the form {pattern.pattern}")
    return text


def _choice(text: str, enum: type[StrEnum], where: str, what: str) -> str:
    allowed = [member.value for member in enum]
    if text not in allowed:
        raise LibraryError(f"{where}: {what} {text!r} is not one of {', '.join(allowed)}")
    return text


def _english(text: str, field: str, where: str) -> str:
    """An English text of the library, refused like the sign catalogue's when it holds a Chinese character."""
    try:
        return check_english(text, field, where)
    except CatalogueError as error:
        raise LibraryError(str(error)) from None


def _seconds(text: str, where: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LibraryError(f"{where}: {what} {text!r} is not a number of seconds") from None
    if not value > 0:
        raise LibraryError(f"{where}: {what} must be positive, not {text}")
    return value


def _categories(path: Path) -> dict[str, Category]:
    out: dict[str, Category] = {}
    seen: dict[str, str] = {}
    for where, row in read_rows(path, ("code", "name_zh", "name_en")):
        code = _code(row["code"], _CATEGORY_CODE, where, "category")
        _unique(code, seen, where, "category")
        out[code] = Category(code, row["name_zh"], _english(row["name_en"], "name_en", where))
    return out


def _items(path: Path, categories: dict[str, Category]) -> dict[str, Item]:
    out: dict[str, Item] = {}
    seen: dict[str, str] = {}
    for where, row in read_rows(path, ("code", "category", "name_zh", "name_en", "cls", "basis")):
        code = _code(row["code"], _ITEM_CODE, where, "item")
        _unique(code, seen, where, "item")
        if row["category"] not in categories or code[:2] != row["category"]:
            raise LibraryError(f"{where}: item {code} must start with its category, a known one ({row['category']})")
        if row["cls"] not in ("H", "L", "F"):
            raise LibraryError(f"{where}: class {row['cls']!r} is not H, L or F")
        name_en = _english(row["name_en"], "name_en", where)
        out[code] = Item(code, row["category"], row["name_zh"], name_en, row["cls"], row["basis"])
    return out


def _profiles(path: Path) -> dict[str, SlaProfile]:
    out: dict[str, SlaProfile] = {}
    seen: dict[str, str] = {}
    columns = ("profile", "name", "response_s", "handling_s", "feedback_s", "use_for", "basis")
    for where, row in read_rows(path, columns):
        code = row["profile"]
        _unique(code, seen, where, "profile")
        limits = Limits(*(_seconds(row[k], where, k) for k in ("response_s", "handling_s", "feedback_s")))
        if not limits.response_s <= limits.handling_s <= limits.feedback_s:
            raise LibraryError(f"{where}: limits must satisfy response <= handling <= feedback")
        out[code] = SlaProfile(code, row["name"], limits, row["basis"])
    return out


def _departments(path: Path) -> dict[str, Department]:
    out: dict[str, Department] = {}
    seen: dict[str, str] = {}
    for where, row in read_rows(path, ("id", "name_zh", "short_zh", "name_en", "reaches", "name_check")):
        dept_id = _code(row["id"], _DEPARTMENT_ID, where, "department")
        _unique(dept_id, seen, where, "department")
        reach = Reach(_choice(row["reaches"], Reach, where, "reaches"))
        name_en = _english(row["name_en"], "name_en", where)
        out[dept_id] = Department(dept_id, row["name_zh"], row["short_zh"], name_en, reach, row["name_check"])
    if CENTRE not in out:
        raise LibraryError(f"{path.name}: the city operations centre {CENTRE} must be listed")
    return out


_TYPE_COLUMNS = (
    "code", "item", "name_zh", "name_en", "departments", "level", "sla", "evidence", "closure", "closure_en", "open311",
    "source",
)  # fmt: skip


def _types(
    path: Path, items: dict[str, Item], departments: dict[str, Department], profiles: dict[str, SlaProfile]
) -> dict[str, EventType]:
    out: dict[str, EventType] = {}
    seen: dict[str, str] = {}
    for where, row in read_rows(path, _TYPE_COLUMNS):
        code = _code(row["code"], _TYPE_CODE, where, "type")
        _unique(code, seen, where, "type")
        if row["item"] not in items or code[:5] != row["item"]:
            raise LibraryError(f"{where}: type {code} must start with its item, a known one ({row['item']})")
        depts = tuple(d.strip() for d in row["departments"].split(";"))
        unknown = [d for d in depts if d not in departments]
        if unknown:
            raise LibraryError(f"{where}: unknown department(s) {', '.join(unknown)}")
        if len(set(depts)) != len(depts):
            raise LibraryError(f"{where}: a department is named twice in {row['departments']}")
        level = Level(_choice(row["level"], Level, where, "level"))
        if row["sla"] not in profiles:
            raise LibraryError(f"{where}: unknown SLA profile {row['sla']!r}; known: {', '.join(profiles)}")
        evidence = Evidence(_choice(row["evidence"], Evidence, where, "evidence"))
        if row["open311"] not in ("yes", "no"):
            raise LibraryError(f"{where}: open311 must be yes or no, not {row['open311']!r}")
        out[code] = EventType(
            code=code,
            item=row["item"],
            name_zh=row["name_zh"],
            name_en=_english(row["name_en"], "name_en", where),
            departments=depts,
            level=level,
            sla=row["sla"],
            limits=profiles[row["sla"]].limits,
            evidence=evidence,
            closure=row["closure"],
            closure_en=_english(row["closure_en"], "closure_en", where),
            open311=row["open311"] == "yes",
            source=row["source"],
        )
    missing = sorted(set(items) - {t.item for t in out.values()})
    if missing:
        raise LibraryError(f"{path.name}: items without any type: {', '.join(missing)}")
    return out


def _townships(path: Path) -> dict[str, Township]:
    out: dict[str, Township] = {}
    seen: dict[str, str] = {}
    for where, row in read_rows(path, ("code", "name", "county_code", "county_name")):
        code = _code(row["code"], _TOWNSHIP_CODE, where, "township")
        _unique(code, seen, where, "township")
        county = row["county_code"]
        if county not in DISTRICTS or code[:6] != county or DISTRICTS[county][0] != row["county_name"]:
            raise LibraryError(f"{where}: township {code} must lie in its county, one of the city's ({county})")
        out[code] = Township(code, row["name"], county)
    return out


def load_library(directory: Path = LIBRARY_DIR) -> Library:
    categories = _categories(directory / "categories.csv")
    if len(categories) < MIN_CATEGORIES:
        raise LibraryError(f"categories.csv: {len(categories)} categories, at least {MIN_CATEGORIES} expected")
    items = _items(directory / "items.csv", categories)
    if len(items) < MIN_ITEMS:
        raise LibraryError(f"items.csv: {len(items)} items, at least {MIN_ITEMS} expected")
    empty = sorted(set(categories) - {item.category for item in items.values()})
    if empty:
        raise LibraryError(f"items.csv: categories without any item: {', '.join(empty)}")
    departments = _departments(directory / "departments.csv")
    profiles = _profiles(directory / "sla_profiles.csv")
    types = _types(directory / "types.csv", items, departments, profiles)
    townships = _townships(directory / "townships.csv")
    return Library(categories, items, types, departments, profiles, townships)


@lru_cache(maxsize=1)
def library() -> Library:
    """The library of this checkout, loaded once per process."""
    return load_library()
