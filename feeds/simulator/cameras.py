"""The camera fleet: the inventory as flat arrays, every camera's status at a simulated moment (the normal city's
failures, the mobile units' rota, a scenario's wash-out or outage), the camera signs those statuses make, and what a
scenario does to them (ground truth, as scenario_effects is for sensors)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from feeds.contract import FEED_VIDEO, topic
from feeds.simulator.clock import local_day, local_hour
from feeds.simulator.noise import np_hash01, smooth_noise, text_key
from feeds.simulator.scenarios import (
    EFFECT_STEP_S,
    NO_SCENARIO,
    RAIN_DISTRICTS,
    SCENARIO_CAMERA_OUTAGE,
    SCENARIO_RAINSTORM,
    Effect,
    ScenarioState,
    camera_washout_share,
    effect_from_samples,
    sample_times,
)
from feeds.simulator.values import shape_mobile
from geo.admin import CITY_ADCODE
from signs.model import Catalogue, Derivation, DeriveOp, Level, level_of, thresholds_at

if TYPE_CHECKING:
    import pandas as pd

CAMERA_ONLINE, CAMERA_OFFLINE, CAMERA_FAULT, CAMERA_SILENT = 0, 1, 2, 3
CAMERA_STATUS_NAMES = ("online", "offline", "fault")
_U64 = np.uint64


@dataclass
class CameraFleet:
    """The camera inventory as flat arrays, with topics precomputed: no pandas on the publish path."""

    device_ids: list[str]
    topics: list[str]
    adcodes: np.ndarray  # str
    mobile: np.ndarray  # bool
    home_lat: np.ndarray
    home_lon: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    keys: np.ndarray  # uint64, one per camera
    street: np.ndarray  # uint64, the street segment a camera shares with 4-16 neighbours
    phase: np.ndarray  # float in [0, 1): when in the heartbeat period this camera reports
    duty: np.ndarray  # float in [0, 1): mobile units with a low rank go on duty first

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, seed: int = 420600) -> CameraFleet:
        rng = np.random.default_rng(seed)
        n = len(frame)
        device_ids = [str(d) for d in frame["device_id"]]
        adcodes = frame["adcode"].astype(str).to_numpy()
        lat = frame["lat"].to_numpy(dtype=np.float64).copy()
        lon = frame["lon"].to_numpy(dtype=np.float64).copy()
        keys = rng.integers(0, np.iinfo(np.int64).max, size=n, dtype=np.int64).astype(_U64)
        # Street segments: neighbours in (district, ~500 m cell, latitude) order, cut into runs of 4-16.
        cell = (np.floor(lat / 0.005) * 100_000 + np.floor(lon / 0.005)).astype(np.int64)
        order = np.lexsort((lat, cell, adcodes))
        sizes = rng.integers(4, 17, size=n // 4 + 1)
        run = np.repeat(np.arange(len(sizes)), sizes)[:n]
        street = np.empty(n, dtype=_U64)
        street[order] = run.astype(_U64) * _U64(2654435761) + _U64(seed)
        return cls(
            device_ids=device_ids,
            topics=[topic(FEED_VIDEO, a, d) for a, d in zip(adcodes, device_ids, strict=True)],
            adcodes=adcodes,
            mobile=(frame["kind"].astype(str).to_numpy() == "mobile"),
            home_lat=lat.copy(),
            home_lon=lon.copy(),
            lat=lat,
            lon=lon,
            keys=keys,
            street=street,
            phase=rng.random(n),
            duty=rng.random(n),
        )

    def __len__(self) -> int:
        return len(self.device_ids)

    def jitter(self, indices: np.ndarray, rng: np.random.Generator) -> None:
        """Mobile units wander ~50-100 m per heartbeat around their beat, pulled back towards it."""
        moving = indices[self.mobile[indices]]
        if not len(moving):
            return
        step = rng.normal(0.0, 0.0006, size=(2, len(moving)))
        self.lat[moving] = self.home_lat[moving] + 0.85 * (self.lat[moving] - self.home_lat[moving]) + step[0]
        self.lon[moving] = self.home_lon[moving] + 0.85 * (self.lon[moving] - self.home_lon[moving]) + step[1]


# Normal camera failures: per camera-hour alone, per street segment and half-hour, per camera-day in fault.
CAMERA_SOLO_SHARE, CAMERA_STREET_SHARE, CAMERA_FAULT_SHARE = 0.0008, 0.00004, 0.0005


def camera_statuses(fleet: CameraFleet, t: float, state: ScenarioState = NO_SCENARIO) -> np.ndarray:
    """Status code of every camera at simulated time t (vectorised; pure given the fleet).

    Fixed cameras: ~0.08 % offline on their own (hour-long spells), ~0.1 % offline with their street segment of 4-16
    (30 min to 2 h), ~0.05 % in fault for the day: ~0.25 % not online at a time, so that even the smallest district's
    online rate (保康, 3,185 fixed cameras) stays above the 99 % blue bound of XY.T.M07.T23 on a normal day. Mobile
    units follow the duty rota: ~62 % on duty by day, ~13 % at night; the rest report offline.
    """
    n = len(fleet)
    status = np.zeros(n, dtype=np.int8)
    day = local_day(t)
    hours = np.floor(t / 3600.0 + fleet.phase).astype(np.int64)
    solo = np_hash01(fleet.keys, 1, hours) < CAMERA_SOLO_SHARE
    half_hour = math.floor(t / 1800.0)
    street_down = np.zeros(n, dtype=bool)
    for lag in range(4):
        starts = np_hash01(fleet.street, 2, half_hour - lag) < CAMERA_STREET_SHARE
        if starts.any():
            lasts = 1 + np.floor(np_hash01(fleet.street, 3, half_hour - lag) * 4)
            street_down |= starts & (lasts > lag)
    fault = np_hash01(fleet.keys, 4, day) < CAMERA_FAULT_SHARE
    hour, weekend, _ = local_hour(t)
    on_duty_share = shape_mobile(hour, weekend) * (1.0 + 0.06 * smooth_noise(text_key("duty"), t))
    off_duty = fleet.mobile & (fleet.duty >= on_duty_share)
    status[solo | street_down | off_duty] = CAMERA_OFFLINE
    status[fault & ~off_duty] = CAMERA_FAULT
    for adcode in RAIN_DISTRICTS:
        share = camera_washout_share(adcode, state, t)
        if share > 0.0:
            status[(fleet.adcodes == adcode) & (np_hash01(fleet.street, 5, 0) < share)] = CAMERA_OFFLINE
    if state.outage_active(t):
        status[fleet.adcodes == state.district] = CAMERA_SILENT
    return status


def camera_sign_values(catalogue: Catalogue, fleet: CameraFleet, status: np.ndarray) -> dict[str, float]:
    """The camera signs (online rates and counts by district and kind) that these statuses make, as the roll-up
    computes them from the heartbeats: a camera not online, or silent, is not counted online."""
    online = status == CAMERA_ONLINE
    values = {}
    for sign in catalogue.signs.values():
        source = sign.source
        if not isinstance(source, Derivation) or source.op not in (DeriveOp.CAMERA_ONLINE_RATE,
                                                                    DeriveOp.CAMERA_ONLINE_COUNT):  # fmt: skip
            continue
        mask = np.ones(len(fleet), dtype=bool) if source.adcode == CITY_ADCODE else fleet.adcodes == source.adcode
        if source.camera_kind != "all":
            mask &= fleet.mobile if source.camera_kind == "mobile" else ~fleet.mobile
        total = int(mask.sum())
        if not total:
            continue
        count = int((online & mask).sum())
        values[sign.id] = float(count) if source.op is DeriveOp.CAMERA_ONLINE_COUNT else round(100.0 * count / total, 3)
    return values


def camera_effects(
    catalogue: Catalogue,
    fleet: CameraFleet,
    state: ScenarioState,
    t0: float,
    t1: float,
    step_s: float = EFFECT_STEP_S,
) -> list[Effect]:
    """What a scenario does to the camera signs during [t0, t1), as scenario_effects() does for sensors: the
    statuses under the story against the normal city's, sampled every step_s."""
    if state.name not in (SCENARIO_RAINSTORM, SCENARIO_CAMERA_OUTAGE):
        return []
    samples: dict[str, list[tuple[float, bool, Level]]] = {}
    for t in sample_times(state, t0, t1, step_s):
        story = camera_sign_values(catalogue, fleet, camera_statuses(fleet, t, state))
        normal = camera_sign_values(catalogue, fleet, camera_statuses(fleet, t, NO_SCENARIO))
        for sign_id, value in story.items():
            sign = catalogue.signs[sign_id]
            level = level_of(value, thresholds_at(sign, t), sign.direction)
            samples.setdefault(sign_id, []).append((t, value != normal.get(sign_id), level))
    found = (effect_from_samples(state.name or "", sign_id, seen, step_s) for sign_id, seen in samples.items())
    return [effect for effect in found if effect is not None]



def load_fleet(seed: int = 420600) -> CameraFleet:
    """The camera inventory (geo.cameras) as a fleet."""
    from geo.cameras import camera_inventory  # imported late: the geo stack is heavy and optional here

    return CameraFleet.from_frame(camera_inventory(seed=seed), seed=seed)
