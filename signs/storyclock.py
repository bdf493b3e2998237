"""The story clock: while the simulator runs, the moment of its story that a reading's time stamp stands for.

A simulated story (the 24 May rainstorm, the May Day jam) unfolds at its own date and `speed` times faster than the
wall clock, while its readings carry the wall clock (`python -m feeds simulate --stamp real`, the default). Bounds that
follow the hour of the week (`signs.model.thresholds_at`) must meet the story's hour, not the real one: a 14:00
reading of the storm stamped at 03:00 real time is judged at 14:00. The simulator keeps its clock in Redis
(KEY_STORY_CLOCK, refreshed while it runs, deleted when it stops, expiring STORY_CLOCK_TTL_S after a crash); the alert
engine, the board's roll-up and the read side (views/) read it with `read_story_clock` and judge every stamp at
`story_time(stamp)`. Without the key, stamps are judged as they are.

Before the simulator's real start, time ran at speed 1: a stamp `d` seconds before it stands for the story's moment
`d` seconds before the story start (a backfilled history of the days before the start is the story's own previous
days). With `--stamp simulated` the readings carry story time already, and it maps each stamp to itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal, cast

import numpy as np
import redis

from signs.citytime import TimeFormat, city_time
from signs.keys import KEY_STORY_CLOCK
from signs.model import Times

# The simulator rewrites its clock every STORY_CLOCK_REFRESH_S; a simulator that died without deleting it stops
# standing for the data STORY_CLOCK_TTL_S later.
STORY_CLOCK_REFRESH_S = 5.0
STORY_CLOCK_TTL_S = 20.0
# Below this gap between story time and the wall clock a nameless simulation is plainly "simulated": no story time.
SHIFT_SHOWN_S = 60.0

Stamps = Literal["real", "simulated"]


@dataclass(frozen=True, slots=True)
class StoryClock:
    """The simulator's clock: story time `story_start` at the wall clock's `real_start`, `speed` times faster
    from then on. `story` names the scenario ("" for the normal simulated city); `stamps` says what readings carry."""

    story: str
    story_start: float
    real_start: float
    speed: float
    stamps: Stamps = "real"

    def story_time(self, stamp: float) -> float:
        """The story's moment a reading stamped `stamp` stands for."""
        if self.stamps == "simulated":
            return stamp
        return self.at(stamp)

    def story_times(self, stamps: Times) -> Times:
        """story_time() over an array of stamps."""
        if self.stamps == "simulated":
            return stamps
        elapsed = stamps - self.real_start
        times: Times = self.story_start + elapsed * np.where(elapsed > 0, self.speed, 1.0)
        return times

    def at(self, real: float) -> float:
        """The story's moment at wall-clock time `real` (what its header clock shows)."""
        elapsed = real - self.real_start
        return self.story_start + elapsed * (self.speed if elapsed > 0 else 1.0)

    def shows_story_time(self, real: float) -> bool:
        """Whether the wall gives a story time: for a story, or wherever simulated time is not the wall clock."""
        return bool(self.story) or abs(self.at(real) - real) > SHIFT_SHOWN_S

    def label(self, real: float, lang: str) -> str:
        """"模拟 · 故事时间 05-24 14:00" / "Simulated · story time 24 May 14:00", or "模拟数据" / "Simulated data"."""
        if not self.shows_story_time(real):
            return "Simulated data" if lang == "en" else "模拟数据"
        moment = city_time(self.at(real))
        if lang == "en":
            return f"Simulated · story time {moment.day} {moment:%b %H:%M}"
        return f"模拟 · 故事时间 {moment.strftime(TimeFormat.DAY_MINUTE)}"

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: bytes | str) -> StoryClock:
        doc = json.loads(raw)
        stamps = doc.get("stamps", "real")
        if stamps not in ("real", "simulated"):
            raise ValueError(f"stamps must be real or simulated, not {stamps!r}")
        speed = float(doc["speed"])
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed!r}")
        return cls(
            story=str(doc.get("story") or ""),
            story_start=float(doc["story_start"]),
            real_start=float(doc["real_start"]),
            speed=speed,
            stamps=cast(Stamps, stamps),
        )


def read_story_clock(client: redis.Redis) -> StoryClock | None:
    """The running simulator's clock; None when no simulator runs (or what is stored cannot be read)."""
    raw = cast(bytes | None, client.get(KEY_STORY_CLOCK))
    if raw is None:
        return None
    try:
        return StoryClock.decode(raw)
    except (ValueError, KeyError, TypeError):
        return None


def write_story_clock(client: redis.Redis, clock: StoryClock) -> None:
    """Store (or refresh) the simulator's clock; it expires unless rewritten within STORY_CLOCK_TTL_S."""
    client.set(KEY_STORY_CLOCK, clock.encode(), px=int(STORY_CLOCK_TTL_S * 1000))


def clear_story_clock(client: redis.Redis, clock: StoryClock) -> None:
    """Delete the simulator's clock when it stops, unless another simulator's has replaced it meanwhile."""
    if client.get(KEY_STORY_CLOCK) == clock.encode().encode():
        client.delete(KEY_STORY_CLOCK)
