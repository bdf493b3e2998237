"""The read API's model of what the wall shows: one sign's catalogue entry with its latest value, and the snapshot
of every sign of a category and/or district."""

from __future__ import annotations

from typing import Any

import redis

from geo.admin import CITY_ADCODE, DISTRICTS
from signs.keys import Latest
from signs.model import Catalogue, Sign
from signs.store import read_all_latest, read_latest, sign_value
from signs.storyclock import StoryClock, read_story_clock
from signs.urlstate import Lang, QueryError


def sign_json(
    sign: Sign, latest: Latest | None, now: float, lang: Lang = "zh", clock: StoryClock | None = None
) -> dict[str, Any]:
    """A sign's catalogue entry merged with its current value; value fields are null before the first reading.
    "quality" is "ok", or "warming-up" / "incomplete" for a value that is shown but not judged (level normal).
    "unit" is the catalogue's unit, the one values carry; "name", "unit_label", "definition" and "owner" are the
    texts a page in `lang` shows."""
    doc: dict[str, Any] = {
        "id": sign.id,
        "name_zh": sign.name_zh,
        "name_en": sign.name_en,
        "name": sign.name_in(lang),
        "unit": sign.unit,
        "unit_label": sign.unit_in(lang),
        "definition": sign.definition_in(lang),
        "owner": sign.owner_in(lang),
        "category": sign.category,
        "module": sign.module,
        "dimension": sign.dimension,
        "cadence_s": sign.cadence_s,
    }
    if latest is None:
        return doc | {
            "value": None, "level": None, "source_ts": None, "receive_ts": None, "age_s": None, "stale": True,
            "quality": None,
        }  # fmt: skip
    return doc | sign_value(sign, latest, now, clock).as_json()


def _in_district(sign: Sign, adcode: str) -> bool:
    return sign.district == adcode or (sign.dimension == "city" and adcode == CITY_ADCODE)


def select_signs(cat: Catalogue, category: str | None, district: str | None) -> list[Sign]:
    """Signs of a category (code P/T/D/S or 人/物/动/态) and of a district (adcode; the city's code selects
    the city-wide signs). QueryError for a category or a district that is none."""
    if category:
        by_name = {c.name_zh: code for code, c in cat.categories.items()}
        category = by_name.get(category, category.upper())
        if category not in cat.categories:
            raise QueryError(f"unknown category {category[:40]!r}; one of {', '.join(cat.categories)}")
    if district and district not in DISTRICTS and district != CITY_ADCODE:
        raise QueryError(f"unknown district {district[:40]!r}; a district's adcode or the city's, {CITY_ADCODE}")
    return [
        sign
        for sign in cat.signs.values()
        if (not category or sign.category == category) and (not district or _in_district(sign, district))
    ]


def one_sign(client: redis.Redis, sign: Sign, now: float, lang: Lang = "zh") -> dict[str, Any]:
    return sign_json(sign, read_latest(client, sign.id), now, lang, read_story_clock(client))


def snapshot(
    client: redis.Redis, cat: Catalogue, category: str | None, district: str | None, now: float, lang: Lang = "zh"
) -> dict[str, Any]:
    chosen = select_signs(cat, category, district)
    latest = read_all_latest(client)
    clock = read_story_clock(client)
    signs = [sign_json(s, latest.get(s.id), now, lang, clock) for s in chosen]
    return {"at": now, "count": len(chosen), "signs": signs}
