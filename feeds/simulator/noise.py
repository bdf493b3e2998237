"""Deterministic hashing and smooth noise: what makes the simulated city a pure function of (sign, time)."""

from __future__ import annotations

import functools

import numpy as np

from signs.model import Times

_MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 finaliser."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def hash01(*parts: int) -> float:
    """A uniform number in [0, 1) fixed by the integers `parts`."""
    h = 0x2545F4914F6CDD1D
    for part in parts:
        h = _mix(h ^ (part & _MASK64))
    return (h >> 11) / float(1 << 53)


def text_key(text: str) -> int:
    """A 64-bit key of a text (FNV-1a): the seed of a sign's, a district's or a story's noise."""
    h = 1469598103934665603
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) & _MASK64
    return h


_OCTAVES = ((600.0, 0.2), (2_700.0, 0.35), (10_800.0, 0.45))
_PERIODS = np.array([[period] for period, _ in _OCTAVES])
_WEIGHTS = np.array([[weight] for _, weight in _OCTAVES])
_KNOT_PAIR = np.array([[[0]], [[1]]], dtype=np.int64)  # each octave's knot before and after t


def smooth_noise(key: int, t: float) -> float:
    """Value noise in [-1, 1]: random knots joined by smoothstep, three octaves (10 min, 45 min, 3 h)."""
    return float(smooth_noise_over(key, np.array([t]))[0])


def smooth_noise_over(key: int, t: Times) -> Times:
    """smooth_noise at every time of an array (the one formula: smooth_noise is this at one time). The octaves'
    knots are hashed in one pass: a live reading is an array of one, and numpy's cost is per call."""
    x = t / _PERIODS
    k = np.floor(x)
    f = x - k
    s = f * f * (3.0 - 2.0 * f)
    # Arrays wrap around silently in uint64 arithmetic (only numpy scalars warn of overflow).
    knots = _hashed(_np_mix(_octave_seeds(key) ^ (k.astype(np.int64) + _KNOT_PAIR).astype(_U64)))
    a = knots[0] * 2.0 - 1.0
    b = knots[1] * 2.0 - 1.0
    terms = _WEIGHTS * (a + (b - a) * s)
    total: Times = terms[0] + terms[1] + terms[2]  # in the octaves' order, as one reading's sum
    return total


_U64 = np.uint64


def _np_mix(x: np.ndarray) -> np.ndarray:
    x = x + _U64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> _U64(31))
    return mixed


def np_hash01(keys: np.ndarray, salt: int, epoch: np.ndarray | int) -> np.ndarray:
    """Uniform numbers in [0, 1), one per uint64 key, fixed by (key, salt, epoch): hash01 over arrays."""
    with np.errstate(over="ignore"):
        x = _np_mix(keys ^ _U64(salt & _MASK64))
        x = _np_mix(x ^ np.asarray(epoch).astype(np.int64).astype(_U64))
    return (x >> _U64(11)).astype(np.float64) / float(1 << 53)


@functools.lru_cache(maxsize=65_536)
def _seed(parts: tuple[int, ...]) -> int:
    """hash01's state after `parts`, before its last part."""
    h = 0x2545F4914F6CDD1D
    for part in parts:
        h = _mix(h ^ (part & _MASK64))
    return h


@functools.lru_cache(maxsize=65_536)
def _octave_seeds(key: int) -> np.ndarray:
    return np.array([[_seed((key, int(period)))] for period, _ in _OCTAVES], dtype=_U64)


def _hashed(x: np.ndarray) -> Times:
    return (x >> _U64(11)).astype(np.float64) / float(1 << 53)


def hash01_over(epochs: np.ndarray, *parts: int) -> Times:
    """hash01(*parts, epoch) for every epoch of an array (integers, or floats holding integers): the same numbers."""
    return _hashed(_np_mix(_U64(_seed(parts)) ^ np.asarray(epochs, dtype=np.int64).astype(_U64)))
