"""Reducing a sign's history to what a screen can show: fixed time buckets with min, max and mean."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Buckets:
    """Equal-width buckets over [start, end); empty buckets are left out. `ts` is each bucket's start."""

    ts: np.ndarray
    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


def downsample(points: np.ndarray, start: float, end: float, buckets: int) -> Buckets:
    """Bucket points (structured array with ts and value, as signs.store.read_history returns) into at most
    `buckets` equal time slices."""
    if buckets < 1 or end <= start:
        raise ValueError("need at least one bucket over a non-empty time range")
    inside = points[(points["ts"] >= start) & (points["ts"] < end)]
    width = (end - start) / buckets
    index = np.minimum(((inside["ts"] - start) // width).astype(np.int64), buckets - 1)
    values = inside["value"]
    count = np.bincount(index, minlength=buckets)
    total = np.bincount(index, weights=values, minlength=buckets)
    low = np.full(buckets, np.inf)
    high = np.full(buckets, -np.inf)
    np.minimum.at(low, index, values)
    np.maximum.at(high, index, values)
    present = count > 0
    return Buckets(
        ts=(start + width * np.arange(buckets))[present],
        low=low[present],
        high=high[present],
        mean=total[present] / count[present],
        count=count[present],
    )
