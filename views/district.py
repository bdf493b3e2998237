"""The district page's read model: its 55 core indicators against the city and the other districts, its open
alerts, its summary and the map's colours; the district export is the same rows in the order the grid shows them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis

from alerts.model import Alert, AlertStatus
from alerts.store import list_active
from auth.model import User
from auth.scope import EventScope
from dispatch.library import Library
from geo.admin import DISTRICTS
from signs.drill import (
    ActiveAlert,
    CoreRow,
    comparison_sign_ids,
    core_rows,
    district_name,
    district_signs,
    short_district_name,
    sign_name,
)
from signs.export import comparison_table
from signs.keys import KEY_CAMERA_STATUS, Latest
from signs.model import Catalogue
from signs.recent import read_latest_many
from signs.replies import get_bytes
from signs.storyclock import StoryClock, read_story_clock
from signs.urlstate import DISTRICT_SORT_COLUMNS, FILTER_ABNORMAL, DistrictView, SignView, parse_url
from views.events import EventCard, card, pressing_order, scoped_open_events
from views.exports import Export, file_stamp
from views.grid import DEFAULT_SORT, Row, grid_sort, sorted_by


def view_of(href: object) -> DistrictView | None:
    """The district page's view in a URL; None for anything else (the browser may send anything)."""
    view = parse_url(href) if isinstance(href, str) else None
    return view if isinstance(view, DistrictView) and view.adcode in DISTRICTS else None


def home_district(user: User | None) -> str:
    """The signed-in leader's district, for /district without one; empty for anyone else."""
    return user.district if user is not None and user.district in DISTRICTS else ""


@dataclass(frozen=True)
class DistrictReads:
    latest: dict[str, Latest]
    camera_status: dict[str, Any] | None
    open_alerts: list[Alert]
    clock: StoryClock | None = None  # the simulator's, which the values' levels are judged by


def read_district(client: redis.Redis, cat: Catalogue, adcode: str) -> DistrictReads:
    ids = list(dict.fromkeys([*comparison_sign_ids(cat), *(s.id for s in district_signs(cat, adcode))]))
    latest = read_latest_many(client, ids)
    status = get_bytes(client, KEY_CAMERA_STATUS)
    camera_status = cast(dict[str, Any], json.loads(status)) if status else None
    return DistrictReads(latest, camera_status, list_active(client, district=adcode), read_story_clock(client))


def grid_rows(rows: list[CoreRow], adcode: str, lang: str, only_abnormal: bool = False) -> list[Row]:
    """The table's rows: the district's value and level, the city's, its rank, and every district's value.
    Not-normal filter: rows where the district is beyond a threshold, or, for indicators without a district
    breakdown, where the city is."""
    out = []
    for row in rows:
        own = row.districts.get(adcode)
        own_sign = row.district_signs.get(adcode)
        rank = row.rank(adcode)
        sign_id = own_sign.id if own_sign else row.core.id
        item: Row = {
            "id": row.core.id,
            "sign_id": sign_id,
            "href": SignView(sign_id, lang=lang).href(),  # type: ignore[arg-type]
            "name": sign_name(row.core, lang),
            "unit": row.core.unit_in(lang),
            "value": own.value if own else None,
            "level": own.level if own and own.value is not None else None,
            "level_stale": bool(own and own.stale),
            "city": row.city.value,
            "city_level": row.city.level if row.city.value is not None else None,
            "city_level_stale": row.city.stale,
            "rank": rank,
            "rank_text": f"{rank}/{len(row.ranking)}" if rank else "",
        }
        for code, c in row.districts.items():
            item[f"d_{code}"] = c.value
            item[f"l_{code}"] = c.level if c.value is not None else None
            item[f"l_{code}_stale"] = c.stale
        if only_abnormal:
            level = item["level"] if own is not None else item["city_level"]
            if not level:
                continue
        out.append(item)
    return out


def district_levels(rows: list[CoreRow]) -> dict[str, int]:
    """Per district, the worst level among its core indicators: the map's colour."""
    worst: dict[str, int] = {adcode: 0 for adcode in DISTRICTS}
    for row in rows:
        for adcode, c in row.districts.items():
            if c.value is not None:
                worst[adcode] = max(worst[adcode], c.level)
    return worst


def camera_rate(status: Mapping[str, Any] | None, adcode: str) -> float | None:
    """The district's share of cameras online (percent), from the roll-up's status document."""
    if not status:
        return None
    everything = (status.get("rates") or {}).get(adcode, {}).get("all") or {}
    rate = everything.get("rate")
    return float(rate) if rate is not None else None


def district_alerts(cat: Catalogue, alerts: list[Alert]) -> list[ActiveAlert]:
    """The engine's open alerts of signs in the catalogue, unacknowledged first, then most severe, then newest."""
    out = [
        ActiveAlert(
            sign=cat.signs[a.sign_id],
            level=int(a.level),
            value=a.value,
            since=a.since,
            status=a.status.value,
            acknowledged_by=a.acknowledged.by if a.acknowledged else "",
            escalation=a.escalation,
            silenced=a.silence is not None,
        )
        for a in alerts
        if a.sign_id in cat.signs
    ]
    out.sort(key=lambda a: (a.status == AlertStatus.ACKNOWLEDGED, -a.level, -a.since))
    return out


@dataclass(frozen=True)
class DistrictPage:
    """Everything the district page shows: grid rows (unsorted: the grid sorts), alerts, the summary's figures and
    the map's worst level per district."""

    rows: list[Row]
    alerts: list[ActiveAlert]
    alert_counts: dict[int, int]
    cores_abnormal: int
    camera_rate: float | None
    levels: dict[str, int]


def district_page(cat: Catalogue, reads: DistrictReads, view: DistrictView, now: float) -> DistrictPage:
    rows = core_rows(cat, reads.latest, now, reads.clock)
    alerts = district_alerts(cat, reads.open_alerts)
    return DistrictPage(
        rows=grid_rows(rows, view.adcode, view.lang, view.filter == FILTER_ABNORMAL),
        alerts=alerts,
        alert_counts=dict(Counter(a.level for a in alerts)),
        cores_abnormal=sum(1 for r in rows if (r.districts.get(view.adcode) or r.city).level > 0),
        camera_rate=camera_rate(reads.camera_status, view.adcode),
        levels=district_levels(rows),
    )


def sorted_view(view: DistrictView, column_state: object) -> DistrictView:
    """The view with the grid's sort (the first sorted column); the default sort is left out of the URL."""
    return view.with_(sort=grid_sort(column_state, DISTRICT_SORT_COLUMNS))


# The grid's own columns; any other sort column is a district's adcode, whose values are under d_{adcode}.
_OWN_COLUMNS = ("level", "name", "value", "unit", "city", "rank")


def sorted_rows(rows: list[Row], view: DistrictView) -> list[Row]:
    """The rows in the order the grid shows them for this view (empty cells last)."""
    column, direction = (view.sort.column, view.sort.direction) if view.sort else DEFAULT_SORT
    return sorted_by(rows, column if column in _OWN_COLUMNS else f"d_{column}", direction)


def district_export(client: redis.Redis, cat: Catalogue, view: DistrictView, now: float) -> Export:
    page = district_page(cat, read_district(client, cat, view.adcode), view, now)
    name = district_name(view.adcode, view.lang)
    table = comparison_table(
        name, sorted_rows(page.rows, view), [(a, short_district_name(a, view.lang)) for a in DISTRICTS], view.lang,
        now, notes=[("district", f"{name} ({view.adcode})")],
    )  # fmt: skip
    return Export(table, f"district-{view.adcode}_{file_stamp(now)}", f"{name}_{file_stamp(now)}")


# The district's events (read-only: a leader reads them, officers act on /events) -----------------------------------

DISTRICT_EVENTS = 50  # listed at most, the most pressing first


def district_events(
    client: redis.Redis, library: Library, adcode: str, scope: EventScope, lang: str, now: float
) -> tuple[list[EventCard], int]:
    """The open events placed in the district that the scope sees, most pressing first (at most DISTRICT_EVENTS),
    and how many there are; no steps are offered (the cards are drawn for nobody who acts)."""
    events = [e for e in scoped_open_events(client, scope) if e.location.district == adcode]
    cards = pressing_order(card(e, library, None, lang, now) for e in events)
    return cards[:DISTRICT_EVENTS], len(cards)
