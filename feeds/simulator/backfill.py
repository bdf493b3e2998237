"""A week of history on the first start: every sign's history before the simulator goes live, written straight into
Redis from the value model, so that sparklines, sign pages and the 7-day view are full from the first page load.

What is written is what the live simulator would have published at those times: the same value model (values_at,
the array form of value_at), incidents included, at each sign's cadence on a grid of multiples of it, stamped as
the live simulator stamps (the wall clock, or simulated time with ``--stamp simulated``). A story changes nothing
before its start (ScenarioState.apply and rain_rate), and the window ends at the start, so the week before a
scenario is the normal city's. Derived signs are computed from the backfilled inputs with the roll-up's own
derivation (signs.model.derive_value), at their cadence, from the newest input point at or before each moment; a
moment at which some input has no point yet is left out, as the roll-up keeps no incomplete value in history.
Camera signs come from the fleet's statuses (cameras.camera_statuses, camera_sign_values), one point per
``CAMERA_STEP_S``: at their 5-second cadence a week is 120,960 evaluations of all 71,591 cameras, ~50 ms each.

History only: neither the latest values nor the alert engine's stream of landed readings (a week of readings must
not raise a week of alerts). The marker KEY_HISTORY_BACKFILL records the window written (backfilled points are
simulated, never ingested) and makes a second run skip.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import redis

from feeds.simulator.cameras import CameraFleet, camera_sign_values, camera_statuses
from feeds.simulator.clock import SimClock
from feeds.simulator.scenarios import ScenarioState
from feeds.simulator.values import prepare, values_at
from signs.catalogue import derivation_order
from signs.keys import KEY_HISTORY_BACKFILL
from signs.model import Catalogue, Derivation, DeriveOp, MqttSource, Sign, Times, derive_value
from signs.storyclock import StoryClock
from signs.write import SignWriter

log = logging.getLogger(__name__)

CAMERA_STEP_S = 1_800.0
_CAMERA_OPS = (DeriveOp.CAMERA_ONLINE_RATE, DeriveOp.CAMERA_ONLINE_COUNT)
_SIGNS_PER_ROUND_TRIP = 64  # bounds the pipeline's memory (a week of a 60-s sign is 160 KB)
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0}


def parse_duration(text: str) -> float:
    """Seconds in '7d', '12h', '90m', '3600s' or '3600'."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (e.g. 7d, 12h, 90m)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass(frozen=True)
class Window:
    """Source times [start, end) to fill, and how a source time maps to the simulated moment whose value it
    carries: the story clock's, as the alert engine and the wall judge it (the story's past at speed 1, so a week
    of stamps is a week of the city before the story starts, whatever SPEED the live story runs at)."""

    start: float
    end: float
    clock: SimClock
    stamp_simulated: bool

    def simulated(self, stamps: Times) -> Times:
        story = StoryClock(
            story="",
            story_start=self.clock.sim_start,
            real_start=self.clock.real_start,
            speed=self.clock.speed,
            stamps="simulated" if self.stamp_simulated else "real",
        )
        return story.story_times(stamps)


def backfill_window(clock: SimClock, seconds: float, stamp_simulated: bool) -> Window:
    """The `seconds` before the live simulator's first reading."""
    end = clock.sim_start if stamp_simulated else clock.real_start
    return Window(end - seconds, end, clock, stamp_simulated)


def cadence_grid(window: Window, cadence_s: float) -> Times:
    """Multiples of the cadence in [start, end): the same moments on every run."""
    first, stop = math.ceil(window.start / cadence_s), math.ceil(window.end / cadence_s)
    return np.arange(first, stop, dtype=np.float64) * cadence_s


@dataclass
class Series:
    source_ts: Times
    values: Times


def sensor_series(sign: Sign, window: Window) -> Series:
    stamps = cadence_grid(window, sign.cadence_s)
    return Series(stamps, values_at(sign, window.simulated(stamps)))


def derived_series(sign: Sign, source: Derivation, window: Window, inputs: dict[str, Series]) -> Series | None:
    """The roll-up's derivation over the backfilled inputs: at each moment of the sign's cadence, the inputs'
    newest points so far; the point carries the newest of their source times, one per cadence period."""
    names = [*source.inputs, *source.weights]
    if not names or any(name not in inputs for name in names):
        return None
    moments = cadence_grid(window, sign.cadence_s)
    at = {name: np.searchsorted(inputs[name].source_ts, moments, side="right") - 1 for name in names}
    complete = np.all([at[name] >= 0 for name in names], axis=0)
    if not complete.any():
        return None
    rows = {name: index[complete] for name, index in at.items()}
    newest = np.max([inputs[name].source_ts[rows[name]] for name in names], axis=0)
    values = np.array([inputs[name].values[rows[name]] for name in source.inputs]).T.tolist()
    weights = np.array([inputs[name].values[rows[name]] for name in source.weights]).T.tolist() or None
    derived = [
        derive_value(source.op, row, weights[k] if weights is not None else None) for k, row in enumerate(values)
    ]
    series = Series(newest, np.array([math.nan if v is None else v for v in derived], dtype=np.float64))
    period = np.floor(series.source_ts / sign.cadence_s)
    keep = np.r_[True, period[1:] != period[:-1]] & np.isfinite(series.values)
    return Series(series.source_ts[keep], series.values[keep])


def camera_series(catalogue: Catalogue, fleet: CameraFleet, window: Window, state: ScenarioState) -> dict[str, Series]:
    stamps = cadence_grid(window, CAMERA_STEP_S)
    columns: dict[str, list[float]] = {}
    for moment in window.simulated(stamps).tolist():
        for sign_id, value in camera_sign_values(catalogue, fleet, camera_statuses(fleet, moment, state)).items():
            columns.setdefault(sign_id, []).append(value)
    return {sign_id: Series(stamps, np.asarray(values)) for sign_id, values in columns.items()}


@dataclass(frozen=True)
class Outcome:
    skipped: bool
    points: int
    signs: int
    seconds: float


def history_backfilled(client: redis.Redis) -> bool:
    return bool(client.exists(KEY_HISTORY_BACKFILL))


def backfill(
    client: redis.Redis,
    catalogue: Catalogue,
    window: Window,
    writer: SignWriter,
    *,
    state: ScenarioState,
    fleet: CameraFleet | None = None,
    only: Iterable[str] | None = None,
) -> Outcome:
    """Write the window's history of every sign (or of the signs `only` names and what they derive from), unless
    a backfill was done before. Returns what was written."""
    began = time.perf_counter()
    if history_backfilled(client):
        log.info("history backfill skipped: %s is there", KEY_HISTORY_BACKFILL)
        return Outcome(True, 0, 0, time.perf_counter() - began)
    prepare(catalogue)
    chosen = _with_inputs(catalogue, set(only)) if only is not None else set(catalogue.signs)
    series: dict[str, Series] = {}
    for sign in catalogue.signs.values():
        if sign.id in chosen and isinstance(sign.source, MqttSource):
            series[sign.id] = sensor_series(sign, window)
    if fleet is not None and any(_is_camera_sign(catalogue.signs[i]) for i in chosen):
        cameras = camera_series(catalogue, fleet, window, state)
        series.update({i: s for i, s in cameras.items() if i in chosen})
    for sign_id in derivation_order(catalogue.signs):
        sign = catalogue.signs[sign_id]
        source = sign.source
        if sign_id in chosen and isinstance(source, Derivation) and source.op not in _CAMERA_OPS:
            derived = derived_series(sign, source, window, series)
            if derived is not None:
                series[sign_id] = derived
    points = _write(client, writer, series)
    marker = {
        "start": window.start,
        "end": window.end,
        "points": points,
        "signs": len(series),
        "at": time.time(),
        "scenario": state.name or "",
    }
    client.set(KEY_HISTORY_BACKFILL, json.dumps(marker), exat=int(window.end + writer.history_ttl_s + 86_400))
    seconds = time.perf_counter() - began
    log.info("history backfilled: %d points of %d signs in %.1f s", points, len(series), seconds)
    return Outcome(False, points, len(series), seconds)


def _is_camera_sign(sign: Sign) -> bool:
    return isinstance(sign.source, Derivation) and sign.source.op in _CAMERA_OPS


def _with_inputs(catalogue: Catalogue, chosen: set[str]) -> set[str]:
    """The chosen signs and, for derived ones, everything they are derived from."""
    found, todo = set(), list(chosen)
    while todo:
        sign_id = todo.pop()
        if sign_id in found or sign_id not in catalogue.signs:
            continue
        found.add(sign_id)
        source = catalogue.signs[sign_id].source
        if isinstance(source, Derivation):
            todo += [*source.inputs, *source.weights]
    return found


def _write(client: redis.Redis, writer: SignWriter, series: dict[str, Series]) -> int:
    points = 0
    items = list(series.items())
    for first in range(0, len(items), _SIGNS_PER_ROUND_TRIP):
        with client.pipeline(transaction=False) as pipe:
            for sign_id, one in items[first : first + _SIGNS_PER_ROUND_TRIP]:
                writer.history_series(pipe, sign_id, one.source_ts, one.values)
                points += len(one.source_ts)
            pipe.execute()
    return points


def backfill_redis(
    catalogue: Catalogue,
    clock: SimClock,
    seconds: float,
    *,
    state: ScenarioState,
    fleet: CameraFleet | None,
    stamp_simulated: bool,
) -> Outcome:
    """`python -m feeds simulate --backfill 7d`: the backfill into REDIS_URL, before the simulator goes live."""
    from config import settings
    from signs.store import open_redis

    config = settings()
    client = open_redis()
    try:
        writer = SignWriter(retention_days=config.history_retention_days, readings_keep_s=config.alert_readings_keep_s)
        window = backfill_window(clock, seconds, stamp_simulated)
        return backfill(client, catalogue, window, writer, state=state, fleet=fleet)
    finally:
        client.close()
