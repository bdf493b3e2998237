"""What every export of the pages is: a signs.export table and the names of its file, stamped with the moment it
holds (Beijing time to the minute)."""

from __future__ import annotations

from dataclasses import dataclass

from signs.citytime import TimeFormat, city_text
from signs.export import Table


@dataclass(frozen=True)
class Export:
    """A table to download with its file names: `ascii_name` for clients that cannot read `display_name`."""

    table: Table
    ascii_name: str
    display_name: str


def file_stamp(ts: float) -> str:
    return city_text(ts, TimeFormat.FILE_STAMP)
