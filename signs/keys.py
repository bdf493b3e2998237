"""Every Redis key family of City Eye, with the encoding of its values. docs/redis.md describes the same.

Keys carry a Redis Cluster hash tag ({...}) on the entity they belong to, so that one sign's days of
history, or one district's cameras, live in one slot while the whole keyspace spreads over the cluster.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np

PREFIX = "ce"

# Hash: sign id -> "src_ts|recv_ts|value", or "src_ts|recv_ts|value|quality" for a value whose Quality is not
# ok (see Latest). The newest source timestamp wins (see NEWEST_WINS_LUA).
KEY_LATEST = f"{PREFIX}:{{latest}}"
# String of packed HISTORY_POINT records, one key per sign per UTC day, expiring after the retention.
KEY_HISTORY = PREFIX + ":hist:{{{sign_id}}}:{day}"
# JSON {"start", "end", "points", "signs", "at", "scenario"}: the simulator's backfill wrote every sign's history
# points with source times in [start, end) from its value model (simulated, never ingested); its presence says the
# backfill was done, so a restart skips it. Expires with the history it describes.
KEY_HISTORY_BACKFILL = f"{PREFIX}:{{history}}:backfill"
# Hash per district: GB/T 28181 device id -> "src_ts|recv_ts|status|kind|lat|lon".
KEY_CAMERAS = PREFIX + ":cam:{{{adcode}}}"
# JSON document rebuilt by the camera roll-up (feeds.rollup.camera_summary): {"at", "quality" (Quality of the
# camera signs), "districts": the "rates" of KEY_CAMERA_STATUS, "offline_ids": sorted ids of the inventory's
# cameras that were heard and are not online (those never heard are counted, not listed: see the bitmaps),
# "unregistered": {"n", "online", "ids" (sorted, at most 100)} of cameras heard but not in the inventory, which
# no count or rate includes}.
KEY_CAMERA_SUMMARY = f"{PREFIX}:{{cameras}}:summary"
# JSON document rebuilt by the camera roll-up for the wall's camera layer (feeds.rollup.camera_status_doc):
# {"version": 16 hex digits, a digest of n and both bitmaps, so it changes exactly when some camera's status
# does; "at": roll-up time (epoch s); "n": inventory size; "offline", "fault": base64 bitmaps over the rows of
# geo.cameras.camera_inventory() (sorted device ids; row i is bit i % 8, least significant first, of byte
# i // 8); a camera is in at most one of them and online when in neither; "offline" includes cameras never
# heard from and silent ones; "rates": {adcode and the city's: {"fixed"|"mobile"|"all": {"n", "online",
# "fault", "never_heard", "rate" (percent online over the inventory, null when n is 0)}}}; "quality": the Quality
# of the camera signs ("warming-up" until the ingest has been up for CAMERA_HEARTBEAT_S); "unregistered": how
# many cameras were heard that the inventory does not hold}. Every consumer's camera status is this one.
KEY_CAMERA_STATUS = f"{PREFIX}:{{cameras}}:status"
# String: receive time (epoch seconds) of the newest camera heartbeat batch, so the wall can tell a silent
# video feed from a quiet one (camera signs are stamped by the roll-up, not by the cameras).
KEY_CAMERA_HEARD = f"{PREFIX}:{{cameras}}:heard"
# Stream of rejected messages: topic, payload (truncated), reason, detail, at. Capped length.
KEY_DEADLETTER = f"{PREFIX}:{{deadletter}}"
# Hash: reason -> count of rejected messages since the keyspace was created.
KEY_DEADLETTER_COUNTS = f"{PREFIX}:{{deadletter}}:counts"
# Hash: counter -> value, totals of the ingest path (accepted messages, readings, cameras...).
KEY_INGEST_COUNTS = f"{PREFIX}:{{ingest}}:counts"
# String (JSON) with a TTL, one per live feed worker: its heartbeat and figures.
KEY_WORKER = PREFIX + ":worker:{{{worker_id}}}"
KEY_WORKER_PATTERN = f"{PREFIX}:worker:*"
# The wall's board: every sign's value, level and source time as one JSON document (KEY_BOARD), and a
# stream of what changed per roll-up tick (KEY_BOARD_CHANGES, entry id "{seq}-0", field "d": JSON), so that
# a wall holding board seq n fetches only the ticks after n and the app keeps no state of its own.
KEY_BOARD = f"{PREFIX}:{{board}}"
KEY_BOARD_CHANGES = f"{PREFIX}:{{board}}:changes"
# People and access. Hash: username -> JSON user (role, district, scrypt password hash).
KEY_USERS = f"{PREFIX}:{{auth}}:users"
# Hash: SHA-256 of a wall token (hex) -> JSON {name, created, created_by}; the token itself is never stored.
KEY_WALL_TOKENS = f"{PREFIX}:{{auth}}:wall-tokens"
# Stream, capped: logins, failed logins, logouts, user and token changes (at, event, username, detail, remote).
KEY_AUTH_LOG = f"{PREFIX}:{{auth}}:log"
# Hash, one per open web session, keyed by the SHA-256 (hex) of the id in the browser's cookie (the id itself is
# never stored): kind ("user"|"wall"), principal (username, or the wall's "wall:<name>"), field (the record the
# session is bound to: the username in KEY_USERS, the token's SHA-256 in KEY_WALL_TOKENS), revision (SHA-1 of that
# record's stored bytes when the session opened: any change to the record ends the session), created, expires
# (epoch s; 0 for walls), remote. PEXPIRE: a user's session at its absolute end, a wall's
# WEB_WALL_SESSION_IDLE_HOURS after its latest request (auth/sessions.py).
KEY_SESSION = PREFIX + ":{{auth}}:session:{digest}"
# Set of the session digests opened by one principal, so that all of them can be ended at once: kind "user" with a
# username, kind "wall-token" with a token digest. Members may outlive their session; the set is pruned on use.
KEY_SESSIONS_OF = PREFIX + ":{{auth}}:sessions:{kind}:{name}"
# Failed sign-ins: a counter per account or remote address ("account"|"address", subject) living one window from
# its first failure, and the lock (string, the failure count) set when the counter reaches its maximum, living
# for the lock-out time.
KEY_SIGNIN_FAILURES = PREFIX + ":{{auth}}:signin-failures:{scope}:{subject}"
KEY_SIGNIN_LOCK = PREFIX + ":{{auth}}:signin-lock:{scope}:{subject}"
# The MQTT broker's own counters as the feed workers hear them on $SYS (feeds.contract.SYS_FILTERS). Hash: "heard"
# (epoch s of the newest $SYS message), "version" (the broker's name and version), per broker node ("" for one
# Mosquitto) "dropped:{node}" (the node's own count of dropped messages, since it started) and "dropped_at:{node}"
# (when that count was heard), and "dropped_total" (messages dropped since City Eye first heard the broker).
KEY_BROKER = f"{PREFIX}:{{broker}}"
# Stream, one entry per rise of a node's dropped count: "n" (messages dropped), "node"; trimmed by age to a day.
KEY_BROKER_DROPS = f"{PREFIX}:{{broker}}:drops"
# String, JSON of signs.storyclock.StoryClock {"story", "story_start", "real_start", "speed", "stamps"}: the running
# simulator's clock, which every judge of hour-of-week bounds (alert engine, board, views) maps reading stamps through.
# Written by `python -m feeds simulate` when it starts and every STORY_CLOCK_REFRESH_S, deleted when it stops, and
# expiring STORY_CLOCK_TTL_S after its last write (a simulator that crashed). Absent: no simulator runs.
KEY_STORY_CLOCK = f"{PREFIX}:{{simulator}}:story-clock"
# Leases (ops/lease.py): one active process per job among several started (roll-up, alert engine, dispatcher).
# String "{holder}|{token}" with a PX TTL, set NX by whoever finds it absent, extended only by a compare-and-extend
# of that exact value; the job's name is its hash tag, so a job's lease lives in the Redis Cluster slot of the data
# it guards ("alerts", "events") and a transaction may WATCH it beside that data.
KEY_LEASE = PREFIX + ":{{{job}}}:lease"
# Integer: the job's fencing token, INCR'd by each acquisition, so a later holder always has a larger token.
KEY_LEASE_FENCE = PREFIX + ":{{{job}}}:lease-fence"

# Stream of the sign readings that landed in ce:{latest}, for the alert engine's consumer group: one entry per
# feed-worker batch or roll-up write (never one per message), field "r" = one reading a line, "sign_id|src_ts|value"
# (pack_landed / unpack_landed), field "at" = the write time. Trimmed by age (landed_minid), not by count, so that
# its memory follows the ingest rate over ALERT_READINGS_KEEP_S and never a worst-case batch size.
KEY_READINGS = f"{PREFIX}:{{readings}}"
LANDED_READINGS_FIELD = "r"
LANDED_AT_FIELD = "at"
# The alert engine's keys share one hash tag, {alerts}, so that its WATCH/MULTI transactions stay in one slot.
# String, JSON of alerts.model.Alert, one per alert; the tick deletes closed ones after ALERT_KEEP_DAYS.
KEY_ALERT = PREFIX + ":{{alerts}}:alert:{alert_id}"
# List of one alert's transitions, JSON of alerts.model.Transition, oldest first; deleted with the alert.
KEY_ALERT_HISTORY = PREFIX + ":{{alerts}}:history:{alert_id}"
# String "level|since|last_ts|value|alert_id" per rule and sign (alerts.model.RuleState): what hysteresis, the
# minimum durations and "one alert per (sign, rule)" need to remember. Absent = normal with nothing pending.
KEY_ALERT_STATE = PREFIX + ":{{alerts}}:state:{rule}:{sign_id}"
# Sorted set: open alerts (raised, acknowledged, or cleared but never acknowledged), score = raised time.
KEY_ALERTS_OPEN = f"{PREFIX}:{{alerts}}:open"
# Sorted set: every kept alert, score = its last change.
KEY_ALERTS_RECENT = f"{PREFIX}:{{alerts}}:recent"
# Stream, append-only and never trimmed: every transition of every alert and silence (alerts.model.Transition).
KEY_ALERTS_AUDIT = f"{PREFIX}:{{alerts}}:audit"
# Hash: silence id -> JSON of alerts.model.Silence; the tick deletes a silence once it has expired.
KEY_ALERT_SILENCES = f"{PREFIX}:{{alerts}}:silences"
# String: since when (epoch s) the alert engine or the roll-up (signs.store.ingest_up_since) has seen feed workers
# alive without a break; absent while none is. Sensors count as silent only for time the ingest was up, so an
# outage is not a thousand no-data alerts, and camera signs warm up for CAMERA_HEARTBEAT_S from it.
KEY_ALERTS_INGEST_UP = f"{PREFIX}:{{alerts}}:ingest-up-since"
# String: id of the newest audit entry whose alert state was published on MQTT (cityeye/v1/alerts/{alert_id}).
KEY_ALERTS_PUBLISHED = f"{PREFIX}:{{alerts}}:published"
# String (JSON) with a TTL, one per live alert engine: its heartbeat and figures.
KEY_ALERT_ENGINE = PREFIX + ":{{alerts}}:engine:{engine_id}"
KEY_ALERT_ENGINE_PATTERN = f"{PREFIX}:{{alerts}}:engine:*"
# Incidents (alerts.incidents), in the same hash tag: grouped in the engine's transaction that raises the alert.
# String, JSON of alerts.incidents.Incident: its group, member alert ids, assignee; status and severity are
# derived from the members. Deleted with its timeline once every member is closed and pruned.
KEY_INCIDENT = PREFIX + ":{{alerts}}:incident:{incident_id}"
# List of the incident's timeline, JSON of alerts.incidents.TimelineEntry, oldest first.
KEY_INCIDENT_TIMELINE = PREFIX + ":{{alerts}}:incident-timeline:{incident_id}"
# String per group ("{district}:{cause}", alerts.incidents.GroupKey): the id of the group's newest incident,
# the one a new alert of the group may join.
KEY_INCIDENT_GROUP = PREFIX + ":{{alerts}}:incident-group:{group}"
# Sorted set: incidents with an open member (or not yet seen closed by the tick), score = opened time.
KEY_INCIDENTS_OPEN = f"{PREFIX}:{{alerts}}:incidents:open"
# Sorted set: every kept incident, score = its last change.
KEY_INCIDENTS_RECENT = f"{PREFIX}:{{alerts}}:incidents:recent"

# The event hub (dispatch/, docs/dispatch.md), one hash tag, {events}, so that a transition's WATCH/MULTI stays in
# one slot. String, JSON of dispatch.model.Event, one per event.
KEY_EVENT = PREFIX + ":{{events}}:event:{event_id}"
# List of one event's transitions, JSON of dispatch.model.Transition, oldest first.
KEY_EVENT_HISTORY = PREFIX + ":{{events}}:history:{event_id}"
# Sorted sets of event ids: every event (score = reported time), the open ones (score = reported time), and the
# open ones with a running clock (score = when the next one runs out), which the dispatcher's tick looks at.
KEY_EVENTS_ALL = f"{PREFIX}:{{events}}:all"
KEY_EVENTS_OPEN = f"{PREFIX}:{{events}}:open"
KEY_EVENTS_DUE = f"{PREFIX}:{{events}}:due"
# Sorted sets of open event ids by report time, one per scope an inbox reads (auth.scope.EventScope): a department's
# events ("D02"), a department's in a county ("D02@420606"; lead, co-dispatched or supervising unit alike), and the
# events located in a district ("district:420606"). Written in each step's transaction with KEY_EVENTS_OPEN.
KEY_EVENTS_OPEN_OF = PREFIX + ":{{events}}:open:{scope}"
# Sorted set of closed event ids, score = when closed (report time for events closed before it existed, put right
# when the dispatcher's retention looks at them): what retention prunes after DISPATCH_CLOSED_KEEP_DAYS. Rebuilt
# from KEY_EVENTS_ALL and KEY_EVENTS_OPEN through KEY_EVENTS_CLOSED_REBUILD, a scratch key inside one MULTI.
KEY_EVENTS_CLOSED = f"{PREFIX}:{{events}}:closed"
KEY_EVENTS_CLOSED_REBUILD = f"{PREFIX}:{{events}}:closed-rebuild"
# Stream, append-only, trimmed by age (DISPATCH_CLOSED_KEEP_DAYS): every transition of every event (fields of
# dispatch.model.Transition).
KEY_EVENTS_AUDIT = f"{PREFIX}:{{events}}:audit"
# Stream of reported events waiting to be matched and dispatched (field "event_id"), read by the dispatcher's
# consumer group EVENTS_INTAKE_GROUP; trimmed to about EVENTS_INTAKE_KEEP entries.
KEY_EVENTS_INTAKE = f"{PREFIX}:{{events}}:intake"
EVENTS_INTAKE_GROUP = "dispatcher"
EVENTS_INTAKE_KEEP = 100_000
# String: id of the newest audit entry whose event state was published on MQTT (cityeye/v1/events-state/{id}).
KEY_EVENTS_PUBLISHED = f"{PREFIX}:{{events}}:published"
# Notifications. String, JSON of dispatch.notify.Notice, one per notification not yet delivered; sorted set of
# their ids, score = when the next attempt is due (a dispatcher taking one pushes it to the end of its lease).
KEY_EVENT_NOTICE = PREFIX + ":{{events}}:notice:{notice_id}"
KEY_EVENT_OUTBOX = f"{PREFIX}:{{events}}:outbox"
# Stream, append-only: every delivery attempt (notice_id, event_id, unit, kind, attempt, status "delivered" |
# "failed" | "no_channel", detail, at); never the channel URLs, which hold the robots' secrets.
KEY_EVENT_DELIVERIES = f"{PREFIX}:{{events}}:deliveries"
# Hash: alert or incident id -> id of the event raised from it (the link back from an alert to its event).
KEY_EVENTS_FROM = f"{PREFIX}:{{events}}:from"
# String with a TTL, one per machine report filed from MQTT: its identity (dispatch.contract.report_identity, SHA-256
# hex) -> the id of its event. A redelivered report, or the copy a second dispatcher heard, is refused in the filing
# transaction (dispatch.store.create); kept as long as a copy could still be accepted (INGEST_MAX_PAST_S +
# INGEST_MAX_FUTURE_S after filing), since an older one is dead-lettered as an absurd timestamp.
KEY_EVENT_FILED = PREFIX + ":{{events}}:filed:{identity}"
# String: id of the newest KEY_ALERTS_AUDIT entry the dispatcher's alert rules (dispatch/alert_rules.py) looked at.
KEY_EVENTS_RULES_CURSOR = f"{PREFIX}:{{events}}:rules-cursor"
# Handlers' photos (dispatch/evidence.py): a hash per photo (type: the content type its bytes show, data: the
# bytes), and a list per event of its photos' ids in upload order; both expire EVIDENCE_RETENTION_DAYS after the
# newest upload.
KEY_EVENT_PHOTO = PREFIX + ":{{events}}:photo:{event_id}:{photo_id}"
KEY_EVENT_PHOTOS = PREFIX + ":{{events}}:photos:{event_id}"
# String (JSON) with a TTL, one per live dispatcher: its heartbeat and figures.
KEY_DISPATCHER = PREFIX + ":{{events}}:dispatcher:{dispatcher_id}"
# Hash: SHA-256 (hex) of an Open311 api_key -> JSON {name, created, created_by}; the key itself is never stored.
KEY_OPEN311_KEYS = f"{PREFIX}:{{auth}}:open311-keys"

# History point: source time (epoch seconds, float64) and value (float64), little-endian.
HISTORY_POINT = struct.Struct("<dd")
# The same record as a numpy dtype, for packing and reading many at once (HISTORY_RECORD.itemsize == 16).
HISTORY_RECORD = np.dtype([("ts", "<f8"), ("value", "<f8")])


def history_key(sign_id: str, day: str) -> str:
    return KEY_HISTORY.format(sign_id=sign_id, day=day)


def history_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")


def camera_key(adcode: str) -> str:
    return KEY_CAMERAS.format(adcode=adcode)


def worker_key(worker_id: str) -> str:
    return KEY_WORKER.format(worker_id=worker_id)


def lease_key(job: str) -> str:
    return KEY_LEASE.format(job=job)


def lease_fence_key(job: str) -> str:
    return KEY_LEASE_FENCE.format(job=job)


def session_key(digest: str) -> str:
    return KEY_SESSION.format(digest=digest)


def sessions_of_key(kind: str, name: str) -> str:
    return KEY_SESSIONS_OF.format(kind=kind, name=name)


def signin_failures_key(scope: str, subject: str) -> str:
    return KEY_SIGNIN_FAILURES.format(scope=scope, subject=subject)


def signin_lock_key(scope: str, subject: str) -> str:
    return KEY_SIGNIN_LOCK.format(scope=scope, subject=subject)


def alert_key(alert_id: str) -> str:
    return KEY_ALERT.format(alert_id=alert_id)


def alert_history_key(alert_id: str) -> str:
    return KEY_ALERT_HISTORY.format(alert_id=alert_id)


def alert_state_key(rule: str, sign_id: str) -> str:
    return KEY_ALERT_STATE.format(rule=rule, sign_id=sign_id)


def alert_engine_key(engine_id: str) -> str:
    return KEY_ALERT_ENGINE.format(engine_id=engine_id)


def incident_key(incident_id: str) -> str:
    return KEY_INCIDENT.format(incident_id=incident_id)


def incident_timeline_key(incident_id: str) -> str:
    return KEY_INCIDENT_TIMELINE.format(incident_id=incident_id)


def incident_group_key(group: str) -> str:
    return KEY_INCIDENT_GROUP.format(group=group)


def event_key(event_id: str) -> str:
    return KEY_EVENT.format(event_id=event_id)


def events_open_of_key(scope: str) -> str:
    """KEY_EVENTS_OPEN_OF of a department ("D02"), a department in a county ("D02@420606") or "district:<adcode>"."""
    return KEY_EVENTS_OPEN_OF.format(scope=scope)


def event_history_key(event_id: str) -> str:
    return KEY_EVENT_HISTORY.format(event_id=event_id)


def key_family(key: str) -> str:
    """Which family a key belongs to, for reports on the keyspace: the key up to and with its hash tag (ce:{alerts},
    ce:cam:{420602}...), every sign's days of history as one (KEY_HISTORY)."""
    if key.startswith(KEY_HISTORY.split("{")[0]):
        return KEY_HISTORY.replace("{{{sign_id}}}", "{sign}")
    return key.split("}")[0] + "}" if "}" in key else key


def event_filed_key(identity: str) -> str:
    return KEY_EVENT_FILED.format(identity=identity)


def event_photo_key(event_id: str, photo_id: str) -> str:
    return KEY_EVENT_PHOTO.format(event_id=event_id, photo_id=photo_id)


def event_photos_key(event_id: str) -> str:
    return KEY_EVENT_PHOTOS.format(event_id=event_id)


def event_notice_key(notice_id: str) -> str:
    return KEY_EVENT_NOTICE.format(notice_id=notice_id)


def dispatcher_key(dispatcher_id: str) -> str:
    return KEY_DISPATCHER.format(dispatcher_id=dispatcher_id)


def pack_landed(readings: Iterable[tuple[str, float, float]]) -> str:
    """The KEY_READINGS field of (sign id, source time, value) triples: one "sign_id|src_ts|value" line each."""
    return "\n".join(f"{sign_id}|{source_ts!r}|{value!r}" for sign_id, source_ts, value in readings)


def landed_minid(now: float, keep_s: float) -> str:
    """The XADD MINID that drops KEY_READINGS entries written more than `keep_s` ago (entry ids are write times in
    ms)."""
    return f"{int((now - keep_s) * 1000)}-0"


def unpack_landed(raw: bytes | str) -> list[tuple[str, float, float]]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    out = []
    for line in text.split("\n"):
        sign_id, source_ts, value = line.split("|")
        out.append((sign_id, float(source_ts), float(value)))
    return out


# For each (field, src_ts, rest) triple in ARGV, store "src_ts|rest" in hash KEYS[1] unless the hash
# already holds a value with a newer or equal source time. This makes redelivered, duplicated and
# out-of-order messages harmless. One exception at an equal source time: an OK value ("recv|value") replaces one
# held with a quality ("recv|value|quality"), so a derived value completed at the moment it was incomplete lands at
# once rather than with its next newer input. Returns the number of fields written.
NEWEST_WINS_LUA = """
local written = 0
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  local newer = true
  if current then
    local current_ts = tonumber(string.match(current, '^([^|]*)'))
    local new_ts = tonumber(ARGV[i + 1])
    if current_ts and current_ts > new_ts then
      newer = false
    elseif current_ts and current_ts == new_ts then
      local _, held_parts = string.gsub(current, '|', '')
      local _, new_parts = string.gsub(ARGV[i + 2], '|', '')
      newer = held_parts == 3 and new_parts == 1
    end
  end
  if newer then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
    written = written + 1
  end
end
return written
"""

# Broker counters into KEY_BROKER (KEYS[1]) and KEY_BROKER_DROPS (KEYS[2]). ARGV[1] is the drops stream's MINID, then
# (kind, node, value, heard_at) quadruples in the order heard. A node's dropped count only grows while it runs, so a
# rise is that many new drops and a fall is a restart (every message of the new count is new); a count heard before
# the one kept (two workers flushing out of order) is ignored, and the first count of a node is only its baseline.
# Returns the messages newly counted as dropped.
BROKER_COUNTERS_LUA = """
local counted = 0
for i = 2, #ARGV, 4 do
  local kind, node, value, at = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local heard = tonumber(redis.call('HGET', KEYS[1], 'heard') or '0')
  if at > heard then redis.call('HSET', KEYS[1], 'heard', ARGV[i + 3]) end
  if kind == 'version' then
    redis.call('HSET', KEYS[1], 'version', value)
  elseif kind == 'dropped' then
    local count = tonumber(value)
    local kept = redis.call('HMGET', KEYS[1], 'dropped:' .. node, 'dropped_at:' .. node)
    if not kept[2] or tonumber(kept[2]) <= at then
      local new = 0
      if kept[1] then
        local previous = tonumber(kept[1])
        if count > previous then new = count - previous elseif count < previous then new = count end
      end
      redis.call('HSET', KEYS[1], 'dropped:' .. node, value, 'dropped_at:' .. node, ARGV[i + 3])
      if new > 0 then
        redis.call('HINCRBY', KEYS[1], 'dropped_total', new)
        redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[1], '*', 'n', tostring(new), 'node', node)
        counted = counted + new
      end
    end
  end
end
return counted
"""


class Quality(StrEnum):
    """Whether a value means what it says. Values that are not OK are stored and shown (marked), but never go to
    the alert engine (KEY_READINGS) nor into history, and have no warning level: they raise nothing."""

    OK = "ok"
    # A camera sign before the ingest has been up for one camera heartbeat period: a camera not heard yet may
    # simply not have had its turn.
    WARMING_UP = "warming-up"
    # A derived sign some of whose inputs have not reported yet, or are themselves not OK.
    INCOMPLETE = "incomplete"
    # A rate over no events (dispatch/signs.py): neither 0 % nor 100 %, there is nothing to measure; stored as 0.
    NO_DATA = "no-data"


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest value of a sign as stored in KEY_LATEST."""

    value: float
    source_ts: float
    receive_ts: float
    quality: Quality = Quality.OK

    def encode_rest(self) -> str:
        """Everything after the source time; the quality only when it is not OK (so feed workers' values, always
        OK, keep the three-part form)."""
        rest = f"{self.receive_ts!r}|{self.value!r}"
        return rest if self.quality is Quality.OK else f"{rest}|{self.quality.value}"

    @classmethod
    def decode(cls, raw: bytes | str) -> Latest:
        text = raw.decode() if isinstance(raw, bytes) else raw
        source_ts, receive_ts, value, *quality = text.split("|")
        return cls(
            value=float(value),
            source_ts=float(source_ts),
            receive_ts=float(receive_ts),
            quality=Quality(quality[0]) if quality else Quality.OK,
        )


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
