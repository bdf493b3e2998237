"""Roll-ups over what the workers wrote: derived signs (district and city aggregates) every second,
and the camera registry (online rates, counts, the offline list) every few seconds.

It runs as its own process so that a 71,591-camera scan never pauses ingest. Several may run for
availability: a short Redis lock lets one of them do each tick.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import redis

from config import Settings
from feeds.board import publish_board
from geo.admin import CITY_ADCODE
from signs.catalogue import catalogue, derivation_order
from signs.keys import (
    HISTORY_POINT,
    KEY_CAMERA_STATUS,
    KEY_CAMERA_SUMMARY,
    KEY_CAMERAS,
    KEY_LATEST,
    KEY_READINGS,
    LANDED_AT_FIELD,
    LANDED_READINGS_FIELD,
    NEWEST_WINS_LUA,
    CameraState,
    Latest,
    history_day,
    history_key,
    landed_minid,
    lock_key,
    pack_landed,
)
from signs.model import Catalogue, Derivation, DeriveOp, Sign, derive_value
from signs.store import read_all_latest

log = logging.getLogger("cityeye.feeds.rollup")

_CAMERA_OPS = (DeriveOp.CAMERA_ONLINE_RATE, DeriveOp.CAMERA_ONLINE_COUNT)


@dataclass
class CameraCounts:
    total: int = 0
    online: int = 0
    fault: int = 0

    def add(self, other: CameraCounts) -> None:
        self.total += other.total
        self.online += other.online
        self.fault += other.fault


@dataclass
class CameraRollup:
    """Per district and kind, plus the whole city under CITY_ADCODE; kind "all" sums fixed and mobile."""

    counts: dict[str, dict[str, CameraCounts]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(CameraCounts)))
    offline_ids: list[str] = field(default_factory=list)

    def value(self, op: DeriveOp, kind: str, adcode: str) -> float | None:
        counts = self.counts.get(adcode, {}).get(kind)
        if counts is None or counts.total == 0:
            return None
        if op is DeriveOp.CAMERA_ONLINE_COUNT:
            return float(counts.online)
        return round(100.0 * counts.online / counts.total, 3)

    def as_json(self, at: float) -> dict[str, object]:
        return {
            "at": at,
            "districts": {
                adcode: {kind: vars(c) for kind, c in kinds.items()} for adcode, kinds in sorted(self.counts.items())
            },
            "offline_ids": self.offline_ids,
        }


def roll_up_cameras(states: list[CameraState], now: float, offline_after_s: float) -> CameraRollup:
    """Counts by district and kind; a camera silent for longer than offline_after_s counts as offline."""
    rollup = CameraRollup()
    for state in states:
        adcode = state.device_id[:6]
        status = state.effective_status(now, offline_after_s)
        for where in (adcode, CITY_ADCODE):
            for kind in (state.kind, "all"):
                counts = rollup.counts[where][kind]
                counts.total += 1
                counts.online += status == "online"
                counts.fault += status == "fault"
        if status != "online":
            rollup.offline_ids.append(state.device_id)
    rollup.offline_ids.sort()
    return rollup


# The wall's camera layer: status per inventory row, as bitmaps (KEY_CAMERA_STATUS) ------------------------

CAMERA_ONLINE, CAMERA_OFFLINE, CAMERA_FAULT = 0, 1, 2
CAMERA_KINDS = ("fixed", "mobile", "all")


@dataclass(frozen=True)
class CameraRows:
    """The inventory's row order (what the map's geometry is indexed by) and what each row is."""

    row_of: Mapping[str, int]  # device id -> row
    adcodes: np.ndarray  # str, one per row
    mobile: np.ndarray  # bool, one per row

    @property
    def n(self) -> int:
        return len(self.adcodes)


@lru_cache(maxsize=1)
def inventory_rows() -> CameraRows:
    """Rows of geo.cameras.camera_inventory(), the same order /geo/cameras.pbf is served in. Built once."""
    from geo.cameras import camera_inventory  # geopandas: only processes that publish the status pay for it

    inventory = camera_inventory()
    ids = inventory["device_id"].tolist()
    return CameraRows(
        row_of={device_id: row for row, device_id in enumerate(ids)},
        adcodes=inventory["adcode"].to_numpy(dtype=str),
        mobile=inventory["kind"].to_numpy() == "mobile",
    )


def camera_status_codes(
    row_of: Mapping[str, int], n: int, states: Iterable[CameraState], now: float, offline_after_s: float
) -> np.ndarray:
    """Status code per row (CAMERA_ONLINE/OFFLINE/FAULT). Rows never heard from are offline, so are silent
    cameras; any status other than online and fault counts as offline. Devices outside the rows are ignored."""
    codes = np.full(n, CAMERA_OFFLINE, dtype=np.uint8)
    rows: list[int] = []
    values: list[int] = []
    for state in states:
        row = row_of.get(state.device_id)
        if row is None:
            continue
        status = state.effective_status(now, offline_after_s)
        rows.append(row)
        values.append(CAMERA_ONLINE if status == "online" else CAMERA_FAULT if status == "fault" else CAMERA_OFFLINE)
    codes[np.asarray(rows, dtype=np.int64)] = np.asarray(values, dtype=np.uint8)
    return codes


def encode_bitmap(mask: np.ndarray) -> str:
    """Base64 of the bits, row i at bit i % 8 (least significant first) of byte i // 8; padding bits are 0."""
    return base64.b64encode(np.packbits(mask.astype(bool), bitorder="little").tobytes()).decode("ascii")


def decode_bitmap(text: str, n: int) -> np.ndarray:
    """The n-row boolean mask encode_bitmap wrote."""
    packed = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return np.unpackbits(packed, count=n, bitorder="little").astype(bool)


def camera_status_doc(codes: np.ndarray, adcodes: np.ndarray, mobile: np.ndarray, at: float) -> dict[str, object]:
    """The KEY_CAMERA_STATUS document (encoding in signs/keys.py): bitmaps, version and online rates over the
    whole inventory, per district and for the city, for fixed, mobile and all cameras."""
    offline_bits = np.packbits(codes == CAMERA_OFFLINE, bitorder="little").tobytes()
    fault_bits = np.packbits(codes == CAMERA_FAULT, bitorder="little").tobytes()
    digest = hashlib.blake2b(len(codes).to_bytes(8, "little"), digest_size=8)
    digest.update(offline_bits)
    digest.update(fault_bits)
    areas, area_of = np.unique(adcodes, return_inverse=True)
    # Counts per (area, kind, code) in one pass: bin = (area * 2 + mobile) * 3 + code.
    bins = (area_of.astype(np.int64) * 2 + mobile.astype(np.int64)) * 3 + codes.astype(np.int64)
    counts = np.bincount(bins, minlength=len(areas) * 6).reshape(len(areas), 2, 3)  # area, fixed|mobile, code
    by_area = {str(a): counts[i] for i, a in enumerate(areas)}
    by_area[CITY_ADCODE] = counts.sum(axis=0)
    rates: dict[str, dict[str, dict[str, object]]] = {}
    for area, c in by_area.items():
        per_kind = {"fixed": c[0], "mobile": c[1], "all": c[0] + c[1]}
        rates[area] = {}
        for kind in CAMERA_KINDS:
            total, n_online = int(per_kind[kind].sum()), int(per_kind[kind][CAMERA_ONLINE])
            rates[area][kind] = {
                "n": total,
                "online": n_online,
                "fault": int(per_kind[kind][CAMERA_FAULT]),
                "rate": round(100.0 * n_online / total, 2) if total else None,
            }
    return {
        "version": digest.hexdigest(),
        "at": at,
        "n": len(codes),
        "offline": base64.b64encode(offline_bits).decode("ascii"),
        "fault": base64.b64encode(fault_bits).decode("ascii"),
        "rates": rates,
    }


def camera_signs(cat: Catalogue, rollup: CameraRollup, now: float) -> dict[str, Latest]:
    """Values of the signs computed from the camera registry, stamped with the roll-up time."""
    out = {}
    for sign in cat.signs.values():
        source = sign.source
        if isinstance(source, Derivation) and source.op in _CAMERA_OPS:
            value = rollup.value(source.op, source.camera_kind, source.adcode)
            if value is not None:
                out[sign.id] = Latest(value=value, source_ts=now, receive_ts=now)
    return out


def derive_signs(cat: Catalogue, order: list[str], latest: dict[str, Latest], now: float) -> dict[str, Latest]:
    """New values of derived signs, computed in dependency order from the latest values.

    A derived value carries the newest source time of its inputs. Only values that changed (or got
    newer) are returned. Camera-registry signs come from camera_signs() and are inputs here.
    """
    current = dict(latest)
    changed: dict[str, Latest] = {}
    for sign_id in order:
        source = cat.signs[sign_id].source
        assert isinstance(source, Derivation)
        if source.op in _CAMERA_OPS:
            continue
        value, source_ts = _aggregate(source, current)
        if value is None or not math.isfinite(value):
            continue
        held = current.get(sign_id)
        if held is not None and held.value == value and held.source_ts >= source_ts:
            continue
        new = Latest(value=value, source_ts=source_ts, receive_ts=now)
        current[sign_id] = changed[sign_id] = new
    return changed


def _aggregate(source: Derivation, latest: dict[str, Latest]) -> tuple[float | None, float]:
    if source.op is DeriveOp.WEIGHTED_MEAN:
        pairs = [(latest[v], latest[w]) for v, w in zip(source.inputs, source.weights, strict=True) if v in latest and w in latest]
        if not pairs:
            return None, 0.0
        values = [v.value for v, _ in pairs]
        weights = [w.value for _, w in pairs]
        return derive_value(source.op, values, weights), max(max(v.source_ts, w.source_ts) for v, w in pairs)
    present = [latest[i] for i in source.inputs if i in latest]
    if not present:
        return None, 0.0
    return derive_value(source.op, [p.value for p in present]), max(p.source_ts for p in present)


def _history_due(sign: Sign, previous: Latest | None, new: Latest) -> bool:
    """Derived history is kept at the sign's cadence, not at the roll-up tick."""
    return previous is None or math.floor(new.source_ts / sign.cadence_s) != math.floor(previous.source_ts / sign.cadence_s)


class Rollup:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._catalogue = catalogue()
        self._order = derivation_order(self._catalogue.signs)
        self._redis = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
        self._newest_wins = self._redis.register_script(NEWEST_WINS_LUA)
        self.stop_event = threading.Event()

    def _hold(self, name: str, period_s: float) -> bool:
        return bool(self._redis.set(lock_key(name), "1", nx=True, px=max(1, int(period_s * 900))))

    def camera_tick(self, now: float) -> CameraRollup:
        """Scan the registry, publish the summary and the map's status bitmaps, and write the camera signs."""
        states: list[CameraState] = []
        pattern = KEY_CAMERAS.format(adcode="*")
        for key in self._redis.scan_iter(match=pattern, count=100):
            for device_id, raw in self._redis.hgetall(key).items():
                states.append(CameraState.decode(device_id, raw))
        offline_after_s = self._settings.camera_offline_after_s
        rollup = roll_up_cameras(states, now, offline_after_s)
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(KEY_CAMERA_SUMMARY, json.dumps(rollup.as_json(now)))
        try:
            rows = inventory_rows()
        except Exception:  # the map's status must never cost the camera signs; the wall shows it as stale
            log.exception("camera inventory unavailable: %s not written", KEY_CAMERA_STATUS)
        else:
            codes = camera_status_codes(rows.row_of, rows.n, states, now, offline_after_s)
            status = camera_status_doc(codes, rows.adcodes, rows.mobile, now)
            pipe.set(KEY_CAMERA_STATUS, json.dumps(status, separators=(",", ":")))
        pipe.execute()
        self._write(camera_signs(self._catalogue, rollup, now), read_all_latest(self._redis))
        return rollup

    def derive_tick(self, now: float) -> int:
        latest = read_all_latest(self._redis)
        changed = derive_signs(self._catalogue, self._order, latest, now)
        self._write(changed, latest)
        return len(changed)

    def _write(self, changed: dict[str, Latest], latest: dict[str, Latest]) -> None:
        if not changed:
            return
        pipe = self._redis.pipeline(transaction=False)
        args: list[object] = []
        for sign_id, new in changed.items():
            args += (sign_id, repr(new.source_ts), new.encode_rest())
            sign = self._catalogue.signs[sign_id]
            if _history_due(sign, latest.get(sign_id), new):
                key = history_key(sign_id, history_day(new.source_ts))
                pipe.append(key, HISTORY_POINT.pack(new.source_ts, new.value))
                pipe.expire(key, self._settings.history_retention_days * 86_400)
        self._newest_wins(keys=[KEY_LATEST], args=args, client=pipe)
        # Derived and camera signs raise alerts too: they land in the alert engine's stream like ingested ones.
        landed = pack_landed((sign_id, new.source_ts, new.value) for sign_id, new in changed.items())
        written_at = time.time()
        pipe.xadd(
            KEY_READINGS,
            {LANDED_READINGS_FIELD: landed, LANDED_AT_FIELD: repr(written_at)},
            minid=landed_minid(written_at, self._settings.alert_readings_keep_s),
            approximate=True,
        )
        pipe.execute()

    def run(self) -> None:
        settings = self._settings
        next_camera = next_derive = 0.0
        while not self.stop_event.wait(settings.board_interval_s):
            now = time.time()
            try:
                if now >= next_camera and self._hold("cameras", settings.camera_rollup_interval_s):
                    self.camera_tick(now)
                    next_camera = now + settings.camera_rollup_interval_s
                if now >= next_derive and self._hold("derive", settings.derive_interval_s):
                    self.derive_tick(now)
                    next_derive = now + settings.derive_interval_s
                if self._hold("board", settings.board_interval_s):
                    publish_board(self._redis, self._catalogue)
            except redis.RedisError as error:
                log.warning("roll-up skipped, Redis unavailable: %s", error)


def run_rollup(settings: Settings) -> None:
    rollup = Rollup(settings)

    def _stop(_signum: int, _frame: object) -> None:
        rollup.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("roll-up running: derived signs every %.1f s, cameras every %.1f s", settings.derive_interval_s, settings.camera_rollup_interval_s)
    rollup.run()
