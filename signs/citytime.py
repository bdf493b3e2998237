"""The city's time: Beijing time, and the few ways City Eye writes a moment for people and for file names.

Xiangyang keeps China Standard Time (UTC+8, without daylight saving since 1991), so a fixed offset is exact; it also
lets array code (hour-of-week bounds, the simulator's backfill) shift epoch seconds without a time-zone database.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import StrEnum

CITY_UTC_OFFSET_S = 8 * 3600
CITY_TZ = timezone(timedelta(seconds=CITY_UTC_OFFSET_S), "CST")


class TimeFormat(StrEnum):
    """strftime patterns of the moments pages, exports and terminals show."""

    SECOND = "%Y-%m-%d %H:%M:%S"
    MINUTE = "%Y-%m-%d %H:%M"
    DAY_SECOND = "%m-%d %H:%M:%S"
    DAY_MINUTE = "%m-%d %H:%M"
    CLOCK = "%H:%M:%S"
    FILE_STAMP = "%Y%m%d-%H%M"
    COMPACT = "%Y%m%d%H%M%S"


def city_time(ts: float) -> datetime:
    """Epoch seconds as an aware moment in the city's time."""
    return datetime.fromtimestamp(ts, CITY_TZ)


def city_text(ts: float, fmt: TimeFormat = TimeFormat.SECOND) -> str:
    return city_time(ts).strftime(fmt)


def city_iso(ts: float, timespec: str = "seconds") -> str:
    """ISO 8601 with the +08:00 offset, as machine readers (Open311, terminals' JSON) expect."""
    return city_time(ts).isoformat(timespec=timespec)


def in_city_time(moment: datetime) -> datetime:
    """A moment read from people or payloads: one without a zone is the city's wall clock."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CITY_TZ)
