"""The camera layer's read model: the roll-up's status document (bitmaps sent only when their version changed, and
its freshness on every poll), and the card of one clicked camera.

The status document is maintained by the roll-up (KEY_CAMERA_STATUS); one GET per poll, whatever the number of
cameras. A clicked camera arrives as its inventory row (api/geo.py serves no ids) and is looked up in the registry
by its id. What the browser sends (the version it holds, the clicked feature) may be anything: a value of the wrong
type counts as none.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, cast

import redis

from config import settings
from signs.keys import KEY_CAMERA_STATUS, CameraState, camera_key
from signs.model import Catalogue, Derivation, DeriveOp, Level, value_level
from signs.replies import get_bytes, hget_bytes

STATUSES = ("online", "offline", "fault")
KINDS = ("fixed", "mobile")


def stale_after_s() -> float:
    """A status older than three roll-up periods plus one poll is stale (the roll-up has stopped)."""
    cfg = settings()
    return 3 * cfg.camera_rollup_interval_s + cfg.camera_status_poll_ms / 1000.0


def held_version_of(value: object) -> str | None:
    """The status version the browser says it holds; None (holds none: send the bitmaps) for anything else."""
    return value if isinstance(value, str) and len(value) <= 64 else None


def rate_levels(cat: Catalogue, rates: dict[str, dict[str, Any]], at: float) -> dict[tuple[str, str], Level]:
    """The level of every online rate in the status document's `rates` that a catalogue sign judges, by (adcode,
    camera kind): the fixed cameras' (XY.T.M07.T23 and its districts'). Mobile units are off duty a third of the day
    by design and "all" mixes both kinds: no sign sets bounds for them, so their rates have no level."""
    levels = {}
    for sign in cat.signs.values():
        source = sign.source
        if not isinstance(source, Derivation) or source.op is not DeriveOp.CAMERA_ONLINE_RATE:
            continue
        rate = rates.get(source.adcode, {}).get(source.camera_kind, {}).get("rate")
        if rate is not None:
            levels[(source.adcode, source.camera_kind)] = value_level(sign, float(rate), at)
    return levels


def read_status(client: redis.Redis) -> dict[str, Any] | None:
    raw = get_bytes(client, KEY_CAMERA_STATUS)
    return cast(dict[str, Any], json.loads(raw)) if raw is not None else None


def map_status(doc: dict[str, Any]) -> dict[str, Any]:
    """What the map needs of the status document: version, row count and the two bitmaps."""
    return {"v": doc["version"], "n": doc["n"], "off": doc["offline"], "flt": doc["fault"]}


@dataclass(frozen=True)
class StatusPoll:
    """One poll's answer: the document's time, age and staleness, and whether the browser needs its bitmaps and
    rates (it holds another version)."""

    doc: dict[str, Any]
    at: float
    age_s: float
    stale: bool
    changed: bool

    @property
    def fresh(self) -> dict[str, Any]:
        """What the map's style function needs to hatch a stale layer."""
        return {"at": self.at, "stale": self.stale}


def status_poll(doc: dict[str, Any], held_version: str | None, now: float, stale_s: float) -> StatusPoll:
    at = float(doc["at"])
    age = max(0.0, now - at)
    return StatusPoll(doc, at, age, age > stale_s, doc["version"] != held_version)


@dataclass(frozen=True)
class CameraCard:
    """What the card shows about one camera."""

    device_id: str
    adcode: str
    kind: str  # fixed | mobile
    status: str  # online | offline | fault, as the wall judges it now (silence is offline)
    heartbeat_ts: float | None  # source time of the last heartbeat; None: never heard from
    age_s: float | None


def camera_card(device_id: str, kind: str, raw: bytes | str | None, now: float, offline_after_s: float) -> CameraCard:
    """The card of one camera (kind from the inventory) from its registry entry (None: never heard from)."""
    adcode = device_id[:6]
    if raw is None:
        return CameraCard(device_id, adcode, kind, "offline", None, None)
    state = CameraState.decode(device_id, raw)
    status = state.effective_status(now, offline_after_s)
    if status not in STATUSES:
        status = "offline"
    return CameraCard(
        device_id=device_id,
        adcode=adcode,
        kind=state.kind if state.kind in KINDS else kind,
        status=status,
        heartbeat_ts=state.source_ts,
        age_s=max(0.0, now - state.source_ts),
    )


def clicked_row(click: object, n_rows: int) -> int | None:
    """The inventory row of a clicked single camera; None for a cluster (dash-leaflet zooms into it), for
    nothing, for a row outside the inventory, or for anything that is not a clicked feature."""
    if not isinstance(click, dict):
        return None
    props = click.get("properties") or {}
    if not isinstance(props, dict):
        return None
    row = props.get("i")
    if props.get("cluster") or not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < n_rows:
        return None
    return row


@functools.cache
def inventory_devices() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Device ids and kinds by inventory row, the order of /geo/cameras.pbf (built once per process)."""
    from geo.cameras import camera_inventory

    inventory = camera_inventory()
    return tuple(inventory["device_id"].tolist()), tuple(inventory["kind"].tolist())


def clicked_device(click: object) -> tuple[str, str] | None:
    """(device id, kind from the inventory) of the clicked camera; None when the click is not on one camera."""
    devices, kinds = inventory_devices()
    row = clicked_row(click, len(devices))
    return None if row is None else (devices[row], kinds[row])


def read_camera(client: redis.Redis, device_id: str, kind: str, now: float) -> CameraCard:
    raw = hget_bytes(client, camera_key(device_id[:6]), device_id)
    return camera_card(device_id, kind, raw, now, settings().camera_offline_after_s)
