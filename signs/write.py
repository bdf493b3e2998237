"""The one writer of sign values: the latest value (KEY_LATEST, newest source time wins), the history day strings
(KEY_HISTORY) and the alert engine's stream of landed readings (KEY_READINGS), queued on a caller's pipeline so
that a feed worker's batch or a roll-up tick is still one round trip. The feed workers' sink and the roll-up both
write through it; signs.store and signs.recent read what it wrote.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from redis.client import Pipeline
from redis.typing import EncodableT

from signs.keys import (
    HISTORY_POINT,
    HISTORY_RECORD,
    KEY_LATEST,
    KEY_READINGS,
    LANDED_AT_FIELD,
    LANDED_READINGS_FIELD,
    NEWEST_WINS_LUA,
    Latest,
    history_day,
    history_key,
    landed_minid,
    pack_landed,
)
from signs.pipelined import run_script

# (sign id, source time, value): one reading, as history and the landed stream hold it.
Point = tuple[str, float, float]


class SignWriter:
    def __init__(self, *, retention_days: int, readings_keep_s: float) -> None:
        self._history_ttl_s = retention_days * 86_400
        self._readings_keep_s = readings_keep_s

    @property
    def history_ttl_s(self) -> int:
        return self._history_ttl_s

    def newest_wins(self, pipe: Pipeline, key: str, args: Sequence[EncodableT]) -> None:
        """NEWEST_WINS_LUA on one hash: `args` are (field, source time, rest) triples. Also the camera registry's
        writer: its entries follow the same rule."""
        run_script(pipe, NEWEST_WINS_LUA, [key], args)

    def latest(self, pipe: Pipeline, values: Mapping[str, Latest]) -> None:
        """Latest values, each landing unless a newer one (or an equal one that is OK) is already held."""
        if not values:
            return
        args: list[EncodableT] = []
        for sign_id, value in values.items():
            args += (sign_id, repr(value.source_ts), value.encode_rest())
        self.newest_wins(pipe, KEY_LATEST, args)

    def history(self, pipe: Pipeline, points: Iterable[Point]) -> None:
        """Points appended to their sign's day string (UTC day of the source time), in the order given; the day
        expires after the retention from its last write. Readers sort and drop duplicates."""
        # Keyed by (sign, UTC day number) first: formatting a day per point is most of a batch's cost.
        days: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        pack = HISTORY_POINT.pack
        for sign_id, source_ts, value in points:
            days[sign_id, int(source_ts // 86_400)].append(pack(source_ts, value))
        for (sign_id, day), packed in days.items():
            key = history_key(sign_id, history_day(day * 86_400))
            pipe.append(key, b"".join(packed))
            pipe.expire(key, self._history_ttl_s)

    def history_series(self, pipe: Pipeline, sign_id: str, source_ts: np.ndarray, values: np.ndarray) -> None:
        """One sign's points as arrays (source times ascending, values), appended to their day strings in the same
        records as history() packs, one APPEND per day: the bulk writer of the simulator's backfill. Each day
        expires the retention after its own end, as if its last point had just been written."""
        records = np.empty(len(source_ts), dtype=HISTORY_RECORD)
        records["ts"], records["value"] = source_ts, values
        days = np.floor(source_ts / 86_400).astype(np.int64)
        cuts = np.flatnonzero(np.diff(days)) + 1
        for first, last in zip(np.r_[0, cuts], np.r_[cuts, len(records)], strict=True):
            if first == last:
                continue
            key = history_key(sign_id, history_day(float(source_ts[first])))
            pipe.append(key, records[first:last].tobytes())
            pipe.expireat(key, int((days[first] + 1) * 86_400 + self._history_ttl_s))

    def landed(self, pipe: Pipeline, points: Sequence[Point], at: float) -> None:
        """One stream entry for the alert engine holding every reading that landed (none: no entry), stamped with
        the write time; entries older than the stream's keep are trimmed by the same XADD."""
        if not points:
            return
        pipe.xadd(
            KEY_READINGS,
            {LANDED_READINGS_FIELD: pack_landed(points), LANDED_AT_FIELD: repr(at)},
            minid=landed_minid(at, self._readings_keep_s),
            approximate=True,
        )
