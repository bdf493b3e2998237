"""Roll-ups over what the workers wrote: derived signs (district and city aggregates) every second,
and the camera registry (status per inventory camera, online rates and counts) every few seconds.

A camera's status is judged once, here, per row of the camera inventory (camera_status_codes): never heard or
silent past CAMERA_OFFLINE_AFTER_S is offline. The map's bitmaps, the rates, the camera signs, the summary and so
the district cards and the alerts all read that one judgement. Camera signs are "warming up" until the ingest
has been up for one camera heartbeat period, derived signs "incomplete" until all their inputs have reported:
such values are stored with their Quality but never reach the alert engine.

It runs as its own process so that a 71,591-camera scan never pauses ingest. Several may run for
availability: the one holding the "rollup" lease (ops/lease.py) runs every job, the others stand by and take over
within the lease's time to live, starting with every job at once. Its writes are recomputed from the latest values
each tick, so a holder that paused past its lease and writes once more writes nothing a successor would not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import redis

from config import Settings
from feeds.board import publish_board, read_board
from geo.admin import CITY_ADCODE
from ops.lease import Lease
from ops.metrics import rollup_metrics, serve_metrics
from signs.catalogue import catalogue, derivation_order
from signs.citytime import city_time
from signs.keys import (
    KEY_CAMERA_STATUS,
    KEY_CAMERA_SUMMARY,
    KEY_CAMERAS,
    CameraState,
    Latest,
    Quality,
)
from signs.model import Catalogue, Derivation, DeriveOp, Sign, derive_value
from signs.store import ingest_up_since, open_redis, read_all_latest
from signs.write import SignWriter

log = logging.getLogger("cityeye.feeds.rollup")

_CAMERA_OPS = (DeriveOp.CAMERA_ONLINE_RATE, DeriveOp.CAMERA_ONLINE_COUNT)
ROLLUP_JOB = "rollup"


# Camera status per inventory row: what every consumer of camera status reads ------------------------------

# A camera never heard is offline like a silent one (the "offline" bitmap and every count say so); it has a code
# of its own only so that the summary can tell how many were never heard.
CAMERA_ONLINE, CAMERA_OFFLINE, CAMERA_FAULT, CAMERA_NEVER_HEARD = 0, 1, 2, 3
CAMERA_KINDS = ("fixed", "mobile", "all")
# The summary lists at most this many cameras heard that the inventory does not hold (it counts them all).
UNREGISTERED_LISTED = 100


@dataclass(frozen=True)
class CameraRows:
    """The inventory's row order (what the map's geometry is indexed by) and what each row is."""

    row_of: Mapping[str, int]  # device id -> row
    ids: np.ndarray  # str, one per row
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
        ids=np.asarray(ids, dtype=str),
        adcodes=inventory["adcode"].to_numpy(dtype=str),
        mobile=inventory["kind"].to_numpy() == "mobile",
    )


def camera_status_codes(
    row_of: Mapping[str, int], n: int, states: Iterable[CameraState], now: float, offline_after_s: float
) -> np.ndarray:
    """Status code per row (CAMERA_ONLINE/OFFLINE/FAULT/NEVER_HEARD). Silent cameras are offline, and any status
    other than online and fault counts as offline. Devices outside the rows are ignored (see camera_summary)."""
    codes = np.full(n, CAMERA_NEVER_HEARD, dtype=np.uint8)
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


def camera_quality(up_since: float | None, now: float, heartbeat_s: float) -> Quality:
    """Camera signs warm up until the ingest has been up for one full heartbeat period (CAMERA_HEARTBEAT_S): before
    that a camera not heard yet may just not have had its turn, and its district's rate would be a false alarm.
    While no feed worker is alive (up_since None) nothing is known of the cameras either."""
    if up_since is None or now - up_since < heartbeat_s:
        return Quality.WARMING_UP
    return Quality.OK


def encode_bitmap(mask: np.ndarray) -> str:
    """Base64 of the bits, row i at bit i % 8 (least significant first) of byte i // 8; padding bits are 0."""
    return base64.b64encode(np.packbits(mask.astype(bool), bitorder="little").tobytes()).decode("ascii")


def decode_bitmap(text: str, n: int) -> np.ndarray:
    """The n-row boolean mask encode_bitmap wrote."""
    packed = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return np.unpackbits(packed, count=n, bitorder="little").astype(bool)


def camera_status_doc(
    codes: np.ndarray,
    adcodes: np.ndarray,
    mobile: np.ndarray,
    at: float,
    quality: Quality = Quality.OK,
    unregistered: int = 0,
) -> dict[str, Any]:
    """The KEY_CAMERA_STATUS document (encoding in signs/keys.py): bitmaps, version and online rates over the
    whole inventory, per district and for the city, for fixed, mobile and all cameras."""
    offline_bits = np.packbits((codes == CAMERA_OFFLINE) | (codes == CAMERA_NEVER_HEARD), bitorder="little").tobytes()
    fault_bits = np.packbits(codes == CAMERA_FAULT, bitorder="little").tobytes()
    digest = hashlib.blake2b(len(codes).to_bytes(8, "little"), digest_size=8)
    digest.update(offline_bits)
    digest.update(fault_bits)
    areas, area_of = np.unique(adcodes, return_inverse=True)
    # Counts per (area, kind, code) in one pass: bin = (area * 2 + mobile) * 4 + code.
    bins = (area_of.astype(np.int64) * 2 + mobile.astype(np.int64)) * 4 + codes.astype(np.int64)
    counts = np.bincount(bins, minlength=len(areas) * 8).reshape(len(areas), 2, 4)  # area, fixed|mobile, code
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
                "never_heard": int(per_kind[kind][CAMERA_NEVER_HEARD]),
                "rate": round(100.0 * n_online / total, 2) if total else None,
            }
    return {
        "version": digest.hexdigest(),
        "at": at,
        "n": len(codes),
        "offline": base64.b64encode(offline_bits).decode("ascii"),
        "fault": base64.b64encode(fault_bits).decode("ascii"),
        "rates": rates,
        "quality": quality.value,
        "unregistered": unregistered,
    }


def unregistered_ids(row_of: Mapping[str, int], states: Iterable[CameraState]) -> list[str]:
    """Cameras heard that the inventory does not hold, sorted. They count in no total or rate of the city: its
    cameras are the inventory's, and a device nobody registered is a question for the video platform's owners."""
    return sorted(state.device_id for state in states if state.device_id not in row_of)


def camera_summary(
    status: Mapping[str, Any], ids: np.ndarray, codes: np.ndarray, unregistered: list[str]
) -> dict[str, Any]:
    """The KEY_CAMERA_SUMMARY document: the status document's counts, the heard cameras that are not online, and
    the unregistered cameras."""
    not_online = ids[(codes == CAMERA_OFFLINE) | (codes == CAMERA_FAULT)]
    return {
        "at": status["at"],
        "quality": status["quality"],
        "districts": status["rates"],
        "offline_ids": sorted(not_online.tolist()),
        "unregistered": {"n": len(unregistered), "ids": unregistered[:UNREGISTERED_LISTED]},
    }


def camera_signs(cat: Catalogue, rates: Mapping[str, Any], now: float, quality: Quality) -> dict[str, Latest]:
    """Values of the signs computed from the camera registry: the status document's rates and online counts over
    the inventory, stamped with the roll-up time and the camera quality."""
    out = {}
    for sign in cat.signs.values():
        source = sign.source
        if isinstance(source, Derivation) and source.op in _CAMERA_OPS:
            counts = rates.get(source.adcode, {}).get(source.camera_kind)
            if not counts or not counts["n"]:
                continue
            value = counts["online"] if source.op is DeriveOp.CAMERA_ONLINE_COUNT else counts["rate"]
            out[sign.id] = Latest(value=float(value), source_ts=now, receive_ts=now, quality=quality)
    return out


def derive_signs(cat: Catalogue, order: list[str], latest: dict[str, Latest], now: float) -> dict[str, Latest]:
    """New values of derived signs, computed in dependency order from the latest values.

    A derived value carries the newest source time of its inputs. It is computed from the inputs that have
    values, and is INCOMPLETE unless every input has reported and is itself OK (for a count since midnight, reported
    on the newest input's day: _of_the_newest_day). Only values that changed (or
    got newer, or complete) are returned. Camera-registry signs come from camera_signs() and are inputs here.
    """
    current = dict(latest)
    changed: dict[str, Latest] = {}
    for sign_id in order:
        source = cat.signs[sign_id].source
        assert isinstance(source, Derivation)
        if source.op in _CAMERA_OPS:
            continue
        value, source_ts, quality = _aggregate(source, _of_the_newest_day(cat.signs[sign_id], source, current))
        if value is None or not math.isfinite(value):
            continue
        held = current.get(sign_id)
        if held is not None and held.value == value and held.source_ts >= source_ts and held.quality is quality:
            continue
        new = Latest(value=value, source_ts=source_ts, receive_ts=now, quality=quality)
        current[sign_id] = changed[sign_id] = new
    return changed


def _of_the_newest_day(sign: Sign, source: Derivation, latest: dict[str, Latest]) -> dict[str, Latest]:
    """The latest values a derivation reads. For a count since midnight, an input last heard on an earlier city day
    than the newest input is taken as 0 and not OK: past midnight it has begun again from 0, and what it counts
    today is not known yet. Summing its yesterday's total into today's, judged at today's early bounds, would
    raise an alert at every midnight."""
    if sign.profile is None or not sign.profile.counts_since_midnight:
        return latest
    present = [latest[i] for i in source.inputs if i in latest]
    if not present:
        return latest
    today = city_time(max(p.source_ts for p in present)).date()
    earlier = {
        i: Latest(0.0, held.source_ts, held.receive_ts, Quality.INCOMPLETE)
        for i in source.inputs
        if (held := latest.get(i)) is not None and city_time(held.source_ts).date() < today
    }
    return {**latest, **earlier} if earlier else latest


def _aggregate(source: Derivation, latest: dict[str, Latest]) -> tuple[float | None, float, Quality]:
    """(value, newest source time, quality) of a derivation over the inputs present."""
    inputs = [*source.inputs, *source.weights]
    complete = all(i in latest and latest[i].quality is Quality.OK for i in inputs)
    quality = Quality.OK if complete else Quality.INCOMPLETE
    if source.op is DeriveOp.WEIGHTED_MEAN:
        pairs = [
            (latest[v], latest[w])
            for v, w in zip(source.inputs, source.weights, strict=True)
            if v in latest and w in latest
        ]
        if not pairs:
            return None, 0.0, quality
        values = [v.value for v, _ in pairs]
        weights = [w.value for _, w in pairs]
        newest = max(max(v.source_ts, w.source_ts) for v, w in pairs)
        return derive_value(source.op, values, weights), newest, quality
    present = [latest[i] for i in source.inputs if i in latest]
    if not present:
        return None, 0.0, quality
    return derive_value(source.op, [p.value for p in present]), max(p.source_ts for p in present), quality


def _history_due(sign: Sign, previous: Latest | None, new: Latest) -> bool:
    """Derived history is kept at the sign's cadence, not at the roll-up tick; a value held that was not OK was
    never kept, so the first OK one after it is."""
    if previous is None or previous.quality is not Quality.OK:
        return True
    return math.floor(new.source_ts / sign.cadence_s) != math.floor(previous.source_ts / sign.cadence_s)


class Rollup:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._catalogue = catalogue()
        self._order = derivation_order(self._catalogue.signs)
        self._redis = open_redis(settings.redis_url)
        self._signs = SignWriter(
            retention_days=settings.history_retention_days,
            readings_keep_s=settings.alert_readings_keep_s,
        )
        self.stop_event = threading.Event()
        holder = f"rollup-{socket.gethostname()}-{os.getpid()}"
        self.lease = Lease(self._redis, ROLLUP_JOB, holder, settings.lease_ttl_s)
        self._metrics = rollup_metrics()
        self._metrics.board_lag.set_function(self._board_lag)

    def _board_lag(self) -> float:
        """Seconds since the board in Redis was published (read when scraped); NaN when unknown."""
        try:
            board = read_board(self._redis)
        except redis.RedisError:
            return math.nan
        return math.nan if board is None else max(0.0, time.time() - board.at)

    def _timed(self, job: str, run: Callable[[float], object], now: float) -> None:
        with self._metrics.tick_seconds.labels(job).time():
            run(now)
        self._metrics.ticks.labels(job).inc()

    def camera_tick(self, now: float) -> dict[str, Any]:
        """Scan the registry, judge every inventory camera once, and publish from that judgement the map's status
        bitmaps and rates, the summary and the camera signs. Returns the status document."""
        rows = inventory_rows()  # without the inventory there is no status: the wall shows the camera data stale
        states: list[CameraState] = []
        pattern = KEY_CAMERAS.format(adcode="*")
        for key in self._redis.scan_iter(match=pattern, count=100):
            for device_id, raw in self._redis.hgetall(key).items():
                states.append(CameraState.decode(device_id, raw))
        codes = camera_status_codes(rows.row_of, rows.n, states, now, self._settings.camera_offline_after_s)
        quality = camera_quality(ingest_up_since(self._redis, now), now, self._settings.camera_heartbeat_s)
        unregistered = unregistered_ids(rows.row_of, states)
        status = camera_status_doc(codes, rows.adcodes, rows.mobile, now, quality, len(unregistered))
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(KEY_CAMERA_STATUS, json.dumps(status, separators=(",", ":")))
        pipe.set(KEY_CAMERA_SUMMARY, json.dumps(camera_summary(status, rows.ids, codes, unregistered)))
        pipe.execute()
        self._write(camera_signs(self._catalogue, status["rates"], now, quality), read_all_latest(self._redis))
        return status

    def derive_tick(self, now: float) -> int:
        latest = read_all_latest(self._redis)
        changed = derive_signs(self._catalogue, self._order, latest, now)
        self._write(changed, latest)
        return len(changed)

    def _board_tick(self, _due: float) -> None:
        publish_board(self._redis, self._catalogue)  # stamped when published, after the slower jobs of this turn

    def _write(self, changed: dict[str, Latest], latest: dict[str, Latest]) -> None:
        if not changed:
            return
        pipe = self._redis.pipeline(transaction=False)
        self._signs.latest(pipe, changed)
        # History keeps what the values meant: a warming-up rate or a partial sum would draw a false dip.
        ok = {i: new for i, new in changed.items() if new.quality is Quality.OK}
        due = [i for i, new in ok.items() if _history_due(self._catalogue.signs[i], latest.get(i), new)]
        self._signs.history(pipe, [(i, ok[i].source_ts, ok[i].value) for i in due])
        # Derived and camera signs raise alerts too: they land in the alert engine's stream like ingested ones,
        # but only once they are OK, so that a warm-up or a missing input raises nothing.
        self._signs.landed(pipe, [(i, new.source_ts, new.value) for i, new in ok.items()], time.time())
        pipe.execute()

    def run(self) -> None:
        settings = self._settings
        inventory_rows()  # before standing by: a successor's first camera tick must not wait for geopandas
        keeper = self.lease.start_keeper(self.stop_event)
        next_camera = next_derive = 0.0
        while not self.stop_event.wait(settings.board_interval_s):
            if not self.lease.held:
                next_camera = next_derive = 0.0  # whoever takes over runs every job at once
                continue
            now = time.time()
            try:
                if now >= next_camera:
                    self._timed("cameras", self.camera_tick, now)
                    next_camera = now + settings.camera_rollup_interval_s
                if now >= next_derive:
                    self._timed("derive", self.derive_tick, now)
                    next_derive = now + settings.derive_interval_s
                self._timed("board", self._board_tick, now)
            except redis.RedisError as error:
                log.warning("roll-up skipped, Redis unavailable: %s", error)
        keeper.join(timeout=2)


def run_rollup(settings: Settings) -> None:
    rollup = Rollup(settings)

    def _stop(_signum: int, _frame: object) -> None:
        rollup.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve_metrics(settings)
    log.info(
        "roll-up running: derived signs every %.1f s, cameras every %.1f s",
        settings.derive_interval_s,
        settings.camera_rollup_interval_s,
    )
    rollup.run()
