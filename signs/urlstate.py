"""The drill-down pages' view state and its URL, both ways: every view is a URL, so a copied link reopens it.
Also the one place query parameters are read, for the pages and for every HTTP endpoint.

`parse(path, query)` is tolerant: it never raises and falls back to the defaults for anything it does not
understand, as a page should for a person's typing or an old link. `parse(path, query, strict=True)` is what
exports and the API use: anything not understood raises QueryError, whose message names the parameter and what it
takes (the endpoint answers 400 with it). `view.href()` writes the canonical URL (defaults left out, parameters in
a fixed order), and `parse_url(view.href()) == view` for every valid view. Dash pages hand the layout functions
the path variables and the query string as keyword arguments (a repeated parameter as a list), which is what the
`*_view` functions take.

    /sign/<sign id>?range=1h|24h|7d&end=YYYYMMDDTHHMM&vs=<sign id>,...&lang=en
    /district/<adcode>?sort=<column>:asc|desc&filter=abnormal&lang=en
    /module/<code>?filter=abnormal&dist=<adcode>&sort=<column>:asc|desc&lang=en
    /category/<code>?filter=abnormal&dist=<adcode>&sort=<column>:asc|desc&lang=en
    /search?q=<text>&lang=en

`end` pins a history to a moment (Beijing time, to the minute); without it the view follows the present.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from geo.admin import DISTRICTS
from signs.citytime import CITY_TZ, city_time

Lang = Literal["zh", "en"]
Query = Mapping[str, str | list[str] | None]

RANGES: dict[str, float] = {"1h": 3_600.0, "24h": 86_400.0, "7d": 7 * 86_400.0}
DEFAULT_RANGE = "24h"
FILTER_ALL = "all"
FILTER_ABNORMAL = "abnormal"
FILTERS = (FILTER_ALL, FILTER_ABNORMAL)
SORT_DIRECTIONS = ("asc", "desc")
LANGS = ("zh", "en")
# At most this many signs overlaid on one history chart besides the sign itself.
MAX_COMPARE = 9
MAX_QUERY_CHARS = 100
# A moment in a URL must fall within these years: anything else is a typo or a probe (year 1 once overflowed
# the history reader into a 500). City Eye keeps days of history and months of alerts, nothing older.
YEARS = range(2000, 2100)
# auth.web takes a wall's token from any URL (?token=): every endpoint accepts it besides its own parameters.
TOKEN_PARAM = "token"

# Sortable columns per table (ag-grid colIds). The district table also sorts by each district's column.
DISTRICT_SORT_COLUMNS = frozenset({"name", "unit", "level", "value", "city", "rank", *DISTRICTS})
LIST_SORT_COLUMNS = frozenset({"name", "level", "value", "unit", "age", "district", "module", "id"})

PATH_SIGN = "/sign/"
PATH_DISTRICT = "/district/"
PATH_MODULE = "/module/"
PATH_CATEGORY = "/category/"
PATH_SEARCH = "/search"

SIGN_PARAMS = ("range", "end", "vs", "lang")
DISTRICT_PARAMS = ("sort", "filter", "lang")
LIST_PARAMS = ("filter", "dist", "sort", "lang")
SEARCH_PARAMS = ("q", "lang")

_SAFE_PATH = ":.-_"
_SAFE_QUERY = ":,"
_SIGN_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,120}")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


# Reading parameters, tolerantly or strictly ----------------------------------------------------------------


class QueryError(ValueError):
    """A query parameter an endpoint does not understand; the message names it and says what it takes."""


def check_params(query: Iterable[str], allowed: Collection[str]) -> None:
    """Refuse parameters the endpoint does not take (a misspelt `rnage` would otherwise be silently ignored)."""
    for name in query:
        if name not in allowed and name != TOKEN_PARAM:
            takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
            raise QueryError(f"unknown parameter {name!r}: {takes}")


def parse_int(text: str, name: str, low: int, high: int) -> int:
    """A whole number in ASCII digits within [low, high]."""
    if not _WHOLE_NUMBER.fullmatch(text) or not low <= int(text) <= high:
        raise QueryError(f"{name} must be a whole number from {low} to {high}, not {text[:40]!r}")
    return int(text)


def parse_choice(text: str, name: str, allowed: Collection[str]) -> str:
    if text not in allowed:
        raise QueryError(f"{name} must be one of {', '.join(sorted(allowed))}, not {text[:40]!r}")
    return text


@dataclass(frozen=True, slots=True)
class MomentFormat:
    """How a URL writes a moment: Beijing wall-clock time to the minute, in ASCII digits, within YEARS."""

    strftime: str
    pattern: str  # the whole text must match it (strptime alone would take other digits and one-digit months)
    example: str

    def parse(self, text: str, name: str) -> int:
        """Epoch seconds; QueryError for anything else."""
        try:
            if not re.fullmatch(self.pattern, text):
                raise ValueError
            moment = datetime.strptime(text, self.strftime)
        except ValueError:
            raise QueryError(f"{name} must be a Beijing time like {self.example}, not {text[:40]!r}") from None
        if moment.year not in YEARS:
            raise QueryError(f"{name} must fall in the years {YEARS.start} to {YEARS.stop - 1}, not {moment.year}")
        return int(moment.replace(tzinfo=CITY_TZ).timestamp())

    def format(self, ts: float) -> str:
        return city_time(ts).strftime(self.strftime)


END = MomentFormat("%Y%m%dT%H%M", r"[0-9]{8}T[0-9]{4}", "20260524T0800")
END_FORMAT = END.strftime


class _Params:
    """One URL's query as a page reads it (tolerant: anything not understood is the default) or as an endpoint
    does (strict: QueryError naming the parameter). An empty parameter is an absent one, as forms send them."""

    def __init__(self, query: Query | None, allowed: Collection[str], strict: bool) -> None:
        self.query: Query = query or {}
        self.strict = strict
        if strict:
            check_params(self.query, allowed)

    def text(self, key: str) -> str:
        """The parameter's value; "" when absent; a repeated one: the first, or refused when strict."""
        value = self.query.get(key)
        if isinstance(value, list):
            if self.strict and len(value) > 1:
                raise QueryError(f"{key} is given {len(value)} times: give it once")
            value = value[0] if value else None
        return (value or "").strip()

    def refuse(self, error: QueryError) -> None:
        """Strict: raise; tolerant: the caller falls back to its default."""
        if self.strict:
            raise error

    def choice(self, key: str, allowed: Collection[str], default: str) -> str:
        text = self.text(key).lower()
        if not text:
            return default
        try:
            return parse_choice(text, key, allowed)
        except QueryError as error:
            self.refuse(error)
            return default

    def lang(self) -> Lang:
        return "en" if self.choice("lang", LANGS, "zh") == "en" else "zh"

    def filter(self) -> str:
        return self.choice("filter", FILTERS, FILTER_ALL)

    def sort(self, allowed: frozenset[str]) -> Sort | None:
        text = self.text("sort")
        if not text:
            return None
        sort = parse_sort(text, allowed)
        if sort is None:
            columns = ", ".join(sorted(allowed))
            self.refuse(QueryError(f"sort must be <column>:asc or <column>:desc, the column one of {columns}"))
        return sort

    def district(self, key: str) -> str:
        return self.choice(key, DISTRICTS, "")

    def moment(self, key: str, form: MomentFormat) -> int | None:
        text = self.text(key)
        if not text:
            return None
        try:
            return form.parse(text, key)
        except QueryError as error:
            self.refuse(error)
            return None

    def compare(self, key: str, own: str) -> tuple[str, ...]:
        """Sign ids, comma-separated, in order, without repeats nor the sign itself; at most MAX_COMPARE."""
        seen: list[str] = []
        for part in self.text(key).split(","):
            sign_id = clean_sign_id(part)
            if not sign_id:
                if part.strip():
                    self.refuse(QueryError(f"{key}: {part[:40]!r} is not a sign id"))
                continue
            if sign_id != own and sign_id not in seen:
                seen.append(sign_id)
        if len(seen) > MAX_COMPARE:
            self.refuse(QueryError(f"{key}: at most {MAX_COMPARE} signs are compared with one"))
        return tuple(seen[:MAX_COMPARE])

    def search_text(self, key: str) -> str:
        text = self.text(key)
        if len(text) > MAX_QUERY_CHARS:
            self.refuse(QueryError(f"{key} has at most {MAX_QUERY_CHARS} characters"))
        return text[:MAX_QUERY_CHARS]


def clean_sign_id(text: str | None) -> str:
    """A sign id from a path segment (percent-decoded); "" when it cannot be one."""
    sign_id = unquote(text or "").strip().strip("/")
    return sign_id if _SIGN_ID.fullmatch(sign_id) else ""


def parse_end(text: str) -> int | None:
    """`YYYYMMDDTHHMM` in Beijing time -> epoch seconds; None when absent, malformed or out of YEARS."""
    try:
        return END.parse(text, "end")
    except QueryError:
        return None


def format_end(ts: float) -> str:
    return END.format(ts)


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


def sign_view(sign_id: str | None = None, query: Query | None = None, *, strict: bool = False) -> SignView:
    params = _Params(query, SIGN_PARAMS, strict)
    own = clean_sign_id(sign_id)
    return SignView(
        sign_id=own,
        range=params.choice("range", RANGES, DEFAULT_RANGE),
        end=params.moment("end", END),
        compare=params.compare("vs", own),
        lang=params.lang(),
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


def district_view(adcode: str | None = None, query: Query | None = None, *, strict: bool = False) -> DistrictView:
    """The adcode is kept even when unknown, so that the page can say so; "" when absent."""
    params = _Params(query, DISTRICT_PARAMS, strict)
    return DistrictView(
        adcode=unquote(adcode or "").strip().strip("/")[:12],
        sort=params.sort(DISTRICT_SORT_COLUMNS),
        filter=params.filter(),
        lang=params.lang(),
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


def list_view(
    kind: Literal["module", "category"], code: str | None = None, query: Query | None = None, *, strict: bool = False
) -> ListView:
    params = _Params(query, LIST_PARAMS, strict)
    clean = unquote(code or "").strip().strip("/")
    return ListView(
        kind=kind,
        code=clean.upper() if len(clean) <= 4 else clean[:4],
        filter=params.filter(),
        district=params.district("dist"),
        sort=params.sort(LIST_SORT_COLUMNS),
        lang=params.lang(),
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


def search_view(query: Query | None = None, *, strict: bool = False) -> SearchView:
    params = _Params(query, SEARCH_PARAMS, strict)
    return SearchView(q=params.search_text("q"), lang=params.lang())


View = SignView | DistrictView | ListView | SearchView


def parse(path: str, query: Query, *, strict: bool = False) -> View | None:
    """The view a path and query describe; None for a path that is no drill-down page. Strict: QueryError for
    any parameter not understood."""
    if path.startswith(PATH_SIGN):
        return sign_view(path[len(PATH_SIGN) :], query, strict=strict)
    if path.startswith(PATH_DISTRICT):
        return district_view(path[len(PATH_DISTRICT) :], query, strict=strict)
    if path.startswith(PATH_MODULE):
        return list_view("module", path[len(PATH_MODULE) :], query, strict=strict)
    if path.startswith(PATH_CATEGORY):
        return list_view("category", path[len(PATH_CATEGORY) :], query, strict=strict)
    if path.rstrip("/") == PATH_SEARCH:
        return search_view(query, strict=strict)
    return None


def parse_url(url: object) -> View | None:
    """parse() of a whole URL or path with query, as a browser's address bar holds it; None for anything that is
    no text (a page's state store holds what the browser sends)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return parse(parts.path, query)


def lang_href(view: View, lang: Lang) -> str:
    """The same view in the other language."""
    return replace(view, lang=lang).href()
