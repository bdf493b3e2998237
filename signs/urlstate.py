"""The drill-down pages' view state and its URL, both ways: every view is a URL, so a copied link reopens it.

Pure and tolerant: `parse(path, query)` never raises, it falls back to the defaults for anything it does not
understand; `view.href()` writes the canonical URL (defaults left out, parameters in a fixed order), and
`parse_url(view.href()) == view` for every valid view. Dash pages hand the layout functions the path variables
and the query string as keyword arguments (a repeated parameter as a list), which is what the `*_view`
functions take.

    /sign/<sign id>?range=1h|24h|7d&end=YYYYMMDDTHHMM&vs=<sign id>,...&lang=en
    /district/<adcode>?sort=<column>:asc|desc&filter=abnormal&lang=en
    /module/<code>?filter=abnormal&dist=<adcode>&sort=<column>:asc|desc&lang=en
    /category/<code>?filter=abnormal&dist=<adcode>&sort=<column>:asc|desc&lang=en
    /search?q=<text>&lang=en

`end` pins a history to a moment (Beijing time, to the minute); without it the view follows the present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from geo.admin import DISTRICTS

BEIJING = ZoneInfo("Asia/Shanghai")

Lang = Literal["zh", "en"]
Query = Mapping[str, str | list[str] | None]

RANGES: dict[str, float] = {"1h": 3_600.0, "24h": 86_400.0, "7d": 7 * 86_400.0}
DEFAULT_RANGE = "24h"
FILTER_ALL = "all"
FILTER_ABNORMAL = "abnormal"
FILTERS = (FILTER_ALL, FILTER_ABNORMAL)
SORT_DIRECTIONS = ("asc", "desc")
# At most this many signs overlaid on one history chart besides the sign itself.
MAX_COMPARE = 9
MAX_QUERY_CHARS = 100
END_FORMAT = "%Y%m%dT%H%M"

# Sortable columns per table (ag-grid colIds). The district table also sorts by each district's column.
DISTRICT_SORT_COLUMNS = frozenset({"name", "unit", "level", "value", "city", "rank", *DISTRICTS})
LIST_SORT_COLUMNS = frozenset({"name", "level", "value", "unit", "age", "district", "module", "id"})

PATH_SIGN = "/sign/"
PATH_DISTRICT = "/district/"
PATH_MODULE = "/module/"
PATH_CATEGORY = "/category/"
PATH_SEARCH = "/search"

_SAFE_PATH = ":.-_"
_SAFE_QUERY = ":,"
_SIGN_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,120}$")


# Parsing helpers ------------------------------------------------------------------------------------------


def _one(query: Query, key: str) -> str:
    """The parameter's value; the first of a repeated one; "" when absent."""
    value = query.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return (value or "").strip()


def _lang(query: Query) -> Lang:
    return "en" if _one(query, "lang").lower() == "en" else "zh"


def _filter(query: Query) -> str:
    value = _one(query, "filter").lower()
    return value if value in FILTERS else FILTER_ALL


def clean_sign_id(text: str | None) -> str:
    """A sign id from a path segment (percent-decoded); "" when it cannot be one."""
    sign_id = unquote(text or "").strip().strip("/")
    return sign_id if _SIGN_ID.match(sign_id) else ""


def parse_end(text: str) -> int | None:
    """`YYYYMMDDTHHMM` in Beijing time -> epoch seconds; None when absent or malformed."""
    try:
        moment = datetime.strptime(text, END_FORMAT)
    except ValueError:
        return None
    return int(moment.replace(tzinfo=BEIJING).timestamp())


def format_end(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime(END_FORMAT)


def pin_minute(ts: float) -> int:
    """A moment rounded down to the minute, the precision an `end` in a URL keeps."""
    return int(ts // 60 * 60)


@dataclass(frozen=True, slots=True)
class Sort:
    column: str
    direction: str = "desc"

    def text(self) -> str:
        return f"{self.column}:{self.direction}"


def parse_sort(text: str, allowed: frozenset[str]) -> Sort | None:
    column, _, direction = text.partition(":")
    direction = direction or "desc"
    if column not in allowed or direction not in SORT_DIRECTIONS:
        return None
    return Sort(column, direction)


def _compare(text: str, own: str) -> tuple[str, ...]:
    seen: list[str] = []
    for part in text.split(","):
        sign_id = clean_sign_id(part)
        if sign_id and sign_id != own and sign_id not in seen:
            seen.append(sign_id)
    return tuple(seen[:MAX_COMPARE])


def _district(text: str) -> str:
    return text if text in DISTRICTS else ""


def _href(path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params, safe=_SAFE_QUERY, quote_via=quote)
    return f"{path}?{query}" if query else path


# Views ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignView:
    """One sign: its history over `range`, ending at `end` (None: now), with other signs overlaid."""

    sign_id: str
    range: str = DEFAULT_RANGE
    end: int | None = None
    compare: tuple[str, ...] = ()
    lang: Lang = "zh"

    def params(self) -> list[tuple[str, str]]:
        params = []
        if self.range != DEFAULT_RANGE:
            params.append(("range", self.range))
        if self.end is not None:
            params.append(("end", format_end(self.end)))
        if self.compare:
            params.append(("vs", ",".join(self.compare)))
        if self.lang == "en":
            params.append(("lang", "en"))
        return params

    def href(self) -> str:
        return _href(PATH_SIGN + quote(self.sign_id, safe=_SAFE_PATH), self.params())

    def with_(self, **changes: object) -> SignView:
        return replace(self, **changes)  # type: ignore[arg-type]

    def toggled(self, sign_id: str) -> SignView:
        """This view with `sign_id` added to the comparison, or taken out of it."""
        if sign_id in self.compare:
            return replace(self, compare=tuple(s for s in self.compare if s != sign_id))
        if sign_id == self.sign_id or len(self.compare) >= MAX_COMPARE:
            return self
        return replace(self, compare=(*self.compare, sign_id))

    @property
    def span_s(self) -> float:
        return RANGES[self.range]


def sign_view(sign_id: str | None = None, query: Query | None = None) -> SignView:
    query = query or {}
    own = clean_sign_id(sign_id)
    range_ = _one(query, "range").lower()
    end = parse_end(_one(query, "end"))
    return SignView(
        sign_id=own,
        range=range_ if range_ in RANGES else DEFAULT_RANGE,
        end=end,
        compare=_compare(_one(query, "vs"), own),
        lang=_lang(query),
    )


@dataclass(frozen=True, slots=True)
class DistrictView:
    """One district's core indicators against the city and the other districts."""

    adcode: str
    sort: Sort | None = None
    filter: str = FILTER_ALL
    lang: Lang = "zh"

    def params(self) -> list[tuple[str, str]]:
        params = []
        if self.sort is not None:
            params.append(("sort", self.sort.text()))
        if self.filter != FILTER_ALL:
            params.append(("filter", self.filter))
        if self.lang == "en":
            params.append(("lang", "en"))
        return params

    def href(self) -> str:
        return _href(PATH_DISTRICT + self.adcode, self.params())

    def with_(self, **changes: object) -> DistrictView:
        return replace(self, **changes)  # type: ignore[arg-type]


def district_view(adcode: str | None = None, query: Query | None = None) -> DistrictView:
    """The adcode is kept even when unknown, so that the page can say so; "" when absent."""
    query = query or {}
    return DistrictView(
        adcode=unquote(adcode or "").strip().strip("/")[:12],
        sort=parse_sort(_one(query, "sort"), DISTRICT_SORT_COLUMNS),
        filter=_filter(query),
        lang=_lang(query),
    )


@dataclass(frozen=True, slots=True)
class ListView:
    """The signs of a module or a category, optionally only those not normal, optionally of one district."""

    kind: Literal["module", "category"]
    code: str
    filter: str = FILTER_ALL
    district: str = ""
    sort: Sort | None = None
    lang: Lang = "zh"

    def params(self) -> list[tuple[str, str]]:
        params = []
        if self.filter != FILTER_ALL:
            params.append(("filter", self.filter))
        if self.district:
            params.append(("dist", self.district))
        if self.sort is not None:
            params.append(("sort", self.sort.text()))
        if self.lang == "en":
            params.append(("lang", "en"))
        return params

    def href(self) -> str:
        path = PATH_MODULE if self.kind == "module" else PATH_CATEGORY
        return _href(path + quote(self.code, safe=""), self.params())

    def with_(self, **changes: object) -> ListView:
        return replace(self, **changes)  # type: ignore[arg-type]


def list_view(kind: Literal["module", "category"], code: str | None = None, query: Query | None = None) -> ListView:
    query = query or {}
    clean = unquote(code or "").strip().strip("/")
    return ListView(
        kind=kind,
        code=clean.upper() if len(clean) <= 4 else clean[:4],
        filter=_filter(query),
        district=_district(_one(query, "dist")),
        sort=parse_sort(_one(query, "sort"), LIST_SORT_COLUMNS),
        lang=_lang(query),
    )


@dataclass(frozen=True, slots=True)
class SearchView:
    q: str = ""
    lang: Lang = "zh"

    def params(self) -> list[tuple[str, str]]:
        params = [("q", self.q)] if self.q else []
        if self.lang == "en":
            params.append(("lang", "en"))
        return params

    def href(self) -> str:
        return _href(PATH_SEARCH, self.params())


def search_view(query: Query | None = None) -> SearchView:
    query = query or {}
    return SearchView(q=_one(query, "q")[:MAX_QUERY_CHARS], lang=_lang(query))


View = SignView | DistrictView | ListView | SearchView


def parse(path: str, query: Query) -> View | None:
    """The view a path and query describe; None for a path that is no drill-down page."""
    if path.startswith(PATH_SIGN):
        return sign_view(path[len(PATH_SIGN) :], query)
    if path.startswith(PATH_DISTRICT):
        return district_view(path[len(PATH_DISTRICT) :], query)
    if path.startswith(PATH_MODULE):
        return list_view("module", path[len(PATH_MODULE) :], query)
    if path.startswith(PATH_CATEGORY):
        return list_view("category", path[len(PATH_CATEGORY) :], query)
    if path.rstrip("/") == PATH_SEARCH:
        return search_view(query)
    return None


def parse_url(url: str) -> View | None:
    """parse() of a whole URL or path with query, as a browser's address bar holds it."""
    parts = urlsplit(url)
    query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return parse(parts.path, query)


def lang_href(view: View, lang: Lang) -> str:
    """The same view in the other language."""
    return replace(view, lang=lang).href()  # type: ignore[type-var]
