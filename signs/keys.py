"""Every Redis key family of City Eye, with the encoding of its values. docs/redis.md describes the same.

Keys carry a Redis Cluster hash tag ({...}) on the entity they belong to, so that one sign's days of
history, or one district's cameras, live in one slot while the whole keyspace spreads over the cluster.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "ce"

# Hash: sign id -> "src_ts|recv_ts|value". The newest source timestamp wins (see NEWEST_WINS_LUA).
KEY_LATEST = f"{PREFIX}:{{latest}}"
# String of packed HISTORY_POINT records, one key per sign per UTC day, expiring after the retention.
KEY_HISTORY = PREFIX + ":hist:{{{sign_id}}}:{day}"
# Hash per district: GB/T 28181 device id -> "src_ts|recv_ts|status|kind|lat|lon".
KEY_CAMERAS = PREFIX + ":cam:{{{adcode}}}"
# JSON document rebuilt by the camera roll-up: per-district counts and the offline device ids.
KEY_CAMERA_SUMMARY = f"{PREFIX}:{{cameras}}:summary"
# Stream of rejected messages: topic, payload (truncated), reason, detail, at. Capped length.
KEY_DEADLETTER = f"{PREFIX}:{{deadletter}}"
# Hash: reason -> count of rejected messages since the keyspace was created.
KEY_DEADLETTER_COUNTS = f"{PREFIX}:{{deadletter}}:counts"
# Hash: counter -> value, totals of the ingest path (accepted messages, readings, cameras...).
KEY_INGEST_COUNTS = f"{PREFIX}:{{ingest}}:counts"
# String (JSON) with a TTL, one per live feed worker: its heartbeat and figures.
KEY_WORKER = PREFIX + ":worker:{{{worker_id}}}"
KEY_WORKER_PATTERN = f"{PREFIX}:worker:*"
# Short-lived locks so that one of several workers runs each periodic roll-up.
KEY_LOCK = PREFIX + ":lock:{{{name}}}"

# History point: source time (epoch seconds, float64) and value (float64), little-endian.
HISTORY_POINT = struct.Struct("<dd")


def history_key(sign_id: str, day: str) -> str:
    return KEY_HISTORY.format(sign_id=sign_id, day=day)


def history_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")


def camera_key(adcode: str) -> str:
    return KEY_CAMERAS.format(adcode=adcode)


def worker_key(worker_id: str) -> str:
    return KEY_WORKER.format(worker_id=worker_id)


def lock_key(name: str) -> str:
    return KEY_LOCK.format(name=name)


# For each (field, src_ts, rest) triple in ARGV, store "src_ts|rest" in hash KEYS[1] unless the hash
# already holds a value with a newer or equal source time. This makes redelivered, duplicated and
# out-of-order messages harmless. Returns the number of fields written.
NEWEST_WINS_LUA = """
local written = 0
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  local newer = true
  if current then
    local current_ts = tonumber(string.match(current, '^([^|]*)'))
    if current_ts and current_ts >= tonumber(ARGV[i + 1]) then newer = false end
  end
  if newer then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
    written = written + 1
  end
end
return written
"""


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest value of a sign as stored in KEY_LATEST."""

    value: float
    source_ts: float
    receive_ts: float

    def encode_rest(self) -> str:
        return f"{self.receive_ts!r}|{self.value!r}"

    @classmethod
    def decode(cls, raw: bytes | str) -> Latest:
        text = raw.decode() if isinstance(raw, bytes) else raw
        source_ts, receive_ts, value = text.split("|")
        return cls(value=float(value), source_ts=float(source_ts), receive_ts=float(receive_ts))


@dataclass(frozen=True, slots=True)
class CameraState:
    """One camera's last heartbeat as stored in KEY_CAMERAS."""

    device_id: str
    source_ts: float
    receive_ts: float
    status: str
    kind: str
    lat: float
    lon: float

    def effective_status(self, now: float, offline_after_s: float) -> str:
        """A camera whose heartbeats stopped is offline, whatever it last said."""
        return "offline" if now - self.source_ts > offline_after_s else self.status

    @classmethod
    def decode(cls, device_id: bytes | str, raw: bytes | str) -> CameraState:
        text = raw.decode() if isinstance(raw, bytes) else raw
        source_ts, receive_ts, status, kind, lat, lon = text.split("|")
        return cls(
            device_id=device_id.decode() if isinstance(device_id, bytes) else device_id,
            source_ts=float(source_ts),
            receive_ts=float(receive_ts),
            status=status,
            kind=kind,
            lat=float(lat),
            lon=float(lon),
        )
