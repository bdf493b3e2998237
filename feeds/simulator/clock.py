"""The simulated clock: simulated time runs `speed` times faster than the wall clock from a common origin, and
reads as Xiangyang's local time."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from signs.citytime import CITY_UTC_OFFSET_S, city_time, in_city_time
from signs.model import Times

DAY_S = 86_400.0


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
    return in_city_time(datetime.fromisoformat(text)).timestamp()


def local_hour(t: float) -> tuple[float, bool, datetime]:
    """The local hour of day (fractional), whether it is a weekend, and the local moment."""
    moment = city_time(t)
    hour = moment.hour + moment.minute / 60.0 + moment.second / 3600.0
    return hour, moment.weekday() >= 5, moment


def local_day(t: float) -> int:
    """Days since the epoch in local time: the key of what lasts a day (rain days, camera faults, today's counts)."""
    return math.floor((t + CITY_UTC_OFFSET_S) / DAY_S)


def local_midnight(day: int) -> float:
    """The epoch time at which local day `day` (as local_day counts) begins."""
    return day * DAY_S - CITY_UTC_OFFSET_S


def local_days(t: Times) -> npt.NDArray[np.int64]:
    """local_day at every time of an array."""
    return np.floor((t + CITY_UTC_OFFSET_S) / DAY_S).astype(np.int64)


class LocalCalendar:
    """local_hour at every time of an array, to the same bits (datetime's rounding to the microsecond included):
    the hour of day, whether it is a weekend, and (computed when asked) the month (1-12) and day of the month."""

    def __init__(self, t: Times) -> None:
        whole = np.floor(t)
        whole = whole + (np.rint((t - whole) * 1e6) >= 1e6)
        self._day, second_of_day = np.divmod(whole.astype(np.int64) + int(CITY_UTC_OFFSET_S), 86_400)
        hour, second_of_hour = np.divmod(second_of_day, 3600)
        minute, second = np.divmod(second_of_hour, 60)
        self.hour: Times = hour + minute / 60.0 + second / 3600.0
        self.weekend: npt.NDArray[np.bool_] = (self._day + 3) % 7 >= 5  # 1970-01-01 was a Thursday

    @functools.cached_property
    def _date(self) -> tuple[np.ndarray, np.ndarray]:
        date = self._day.astype("datetime64[D]")
        return date, date.astype("datetime64[M]")

    @property
    def month(self) -> npt.NDArray[np.int64]:
        month: npt.NDArray[np.int64] = self._date[1].astype(np.int64) % 12 + 1
        return month

    @property
    def day_of_month(self) -> npt.NDArray[np.int64]:
        date, month_start = self._date
        day: npt.NDArray[np.int64] = (date - month_start.astype("datetime64[D]")).astype(np.int64) + 1
        return day

