"""The simulated clock: simulated time runs `speed` times faster than the wall clock from a common origin, and
reads as Xiangyang's local time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from feeds.contract import CHINA_STANDARD_TIME

DAY_S = 86_400.0
_UTC_OFFSET_S = CHINA_STANDARD_TIME.utcoffset(None).total_seconds()


@dataclass
class SimClock:
    """Simulated time runs `speed` times faster than the wall clock from a common origin."""

    real_start: float
    sim_start: float
    speed: float = 1.0

    def sim(self, real_now: float) -> float:
        return self.sim_start + (real_now - self.real_start) * self.speed


def start_time(text: str | None, default: float) -> float:
    """The simulated start given on the command line (local ISO time unless it names its zone), else `default`."""
    if not text:
        return default
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_STANDARD_TIME)
    return moment.timestamp()


def local_time(t: float) -> datetime:
    return datetime.fromtimestamp(t, CHINA_STANDARD_TIME)


def local_hour(t: float) -> tuple[float, bool, datetime]:
    """The local hour of day (fractional), whether it is a weekend, and the local moment."""
    moment = local_time(t)
    hour = moment.hour + moment.minute / 60.0 + moment.second / 3600.0
    return hour, moment.weekday() >= 5, moment


def local_day(t: float) -> int:
    """Days since the epoch in local time: the key of what lasts a day (rain days, camera faults, today's counts)."""
    return math.floor((t + _UTC_OFFSET_S) / DAY_S)


def local_midnight(day: int) -> float:
    """The epoch time at which local day `day` (as local_day counts) begins."""
    return day * DAY_S - _UTC_OFFSET_S
