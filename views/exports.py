"""What every export of the pages is: a signs.export table and the names of its file, stamped with the moment it
holds (Beijing time to the minute)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signs.export import Table
from signs.urlstate import BEIJING

FILE_STAMP_FORMAT = "%Y%m%d-%H%M"


@dataclass(frozen=True)
class Export:
    """A table to download with its file names: `ascii_name` for clients that cannot read `display_name`."""

    table: Table
    ascii_name: str
    display_name: str


def file_stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime(FILE_STAMP_FORMAT)
