"""Notifications to departments through Apprise, with an outbox in Redis so that none is lost silently.

A notice is queued in the same transaction as the transition that calls for it (dispatch/store.py). The dispatcher
delivers due notices to the unit's Apprise URLs (DISPATCH_CHANNELS_FILE; the most specific entry of the unit wins:
"D01@420606001", then "D01@420606", then "D01"). Every attempt is recorded in the deliveries stream: "delivered",
"failed" (retried with exponential backoff, for ever, at most DISPATCH_RETRY_MAX_S apart) or "no_channel" (nothing
configured for the unit: recorded, not retried). SLA escalation never waits for a delivery.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import apprise
import redis
from redis.client import Pipeline

from dispatch.model import Unit
from signs.keys import KEY_EVENT_DELIVERIES, KEY_EVENT_OUTBOX, event_notice_key
from signs.replies import StreamEntry, stream_range

log = logging.getLogger("cityeye.dispatch.notify")

# How long a dispatcher holds a notice it took before another may take it (a dispatcher that died mid-delivery).
LEASE_S = 120.0
DELIVERIES_KEEP = 1_000_000

# The due notices, each pushed to the end of its lease: KEYS[1] outbox, ARGV now, lease end, how many.
_CLAIM_LUA = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class ChannelsError(ValueError):
    """The channels file is unusable; the message says why."""


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    event_id: str
    unit: str
    kind: str  # "dispatched", "overdue:{clock}", "escalated"
    title: str
    body: str
    created_at: float
    attempts: int = 0

    @classmethod
    def new(cls, event_id: str, unit: Unit, kind: str, title: str, body: str, now: float) -> Notice:
        return cls(f"N{int(now * 1000)}{secrets.token_hex(4)}", event_id, str(unit), kind, title, body, now)


@dataclass(frozen=True, slots=True)
class Channels:
    """Apprise URLs per unit key ("D02", "D01@420606", "D17@420625102")."""

    urls: Mapping[str, tuple[str, ...]]

    def for_unit(self, unit: Unit) -> tuple[str, ...]:
        for key in unit.lookups():
            if self.urls.get(key):
                return self.urls[key]
        return ()


def load_channels(path: Path | None) -> Channels:
    """The channels file: a JSON object of unit -> list of Apprise URLs. None (not configured): no channel at all,
    and every notice is recorded as "no_channel"."""
    if path is None:
        return Channels({})
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ChannelsError(f"{path}: {error}") from None
    if not isinstance(doc, dict):
        raise ChannelsError(f"{path}: must be a JSON object of unit -> list of Apprise URLs")
    urls: dict[str, tuple[str, ...]] = {}
    for key, value in doc.items():
        try:
            Unit.parse(key)
        except ValueError as error:
            raise ChannelsError(f"{path}: {error}") from None
        if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
            raise ChannelsError(f"{path}: {key} must map to a list of Apprise URLs")
        for url in value:
            if not apprise.Apprise().add(url):
                raise ChannelsError(f"{path}: {key}: Apprise does not accept the URL {url.split('://')[0]}://...")
        urls[key] = tuple(value)
    return Channels(urls)


def queue_notice(pipe: Pipeline, notice: Notice) -> None:
    pipe.set(event_notice_key(notice.id), json.dumps(asdict(notice), ensure_ascii=False))
    pipe.zadd(KEY_EVENT_OUTBOX, {notice.id: notice.created_at})


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Wait before attempt `attempts` + 1: base, twice that, four times... at most max_s."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))


def _record(client: redis.Redis, notice: Notice, status: str, detail: str, now: float) -> None:
    fields = {
        "notice_id": notice.id,
        "event_id": notice.event_id,
        "unit": notice.unit,
        "kind": notice.kind,
        "attempt": str(notice.attempts),
        "status": status,
        "detail": detail[:500],
        "at": repr(now),
    }
    client.xadd(KEY_EVENT_DELIVERIES, cast(dict[Any, Any], fields), maxlen=DELIVERIES_KEEP, approximate=True)


def send(urls: tuple[str, ...], notice: Notice) -> tuple[bool, str]:
    """(delivered to every URL, what happened): one Apprise call for the unit's URLs."""
    sender = apprise.Apprise()
    for url in urls:
        sender.add(url)
    result = sender.notify(title=notice.title, body=notice.body, notify_type=apprise.NotifyType.WARNING)
    ok = bool(result)
    return ok, "delivered" if ok else f"{len(urls)} channel(s), at least one refused or unreachable"


def deliver_due(
    client: redis.Redis, channels: Channels, now: float, *, base_s: float, max_s: float, limit: int = 50
) -> int:
    """Deliver what is due; returns how many notices were attempted."""
    ids = cast(list[bytes], client.eval(_CLAIM_LUA, 1, KEY_EVENT_OUTBOX, now, now + LEASE_S, limit))
    for raw_id in ids:
        notice_id = raw_id.decode()
        raw = cast(bytes | None, client.get(event_notice_key(notice_id)))
        if raw is None:
            client.zrem(KEY_EVENT_OUTBOX, notice_id)
            continue
        notice = Notice(**json.loads(raw))
        notice = replace(notice, attempts=notice.attempts + 1)
        urls = channels.for_unit(Unit.parse(notice.unit))
        if not urls:
            _record(client, notice, "no_channel", "no Apprise URL is configured for this unit", now)
            ok = True
        else:
            try:
                ok, detail = send(urls, notice)
            except Exception as error:  # a plugin's own fault must not stop the outbox
                ok, detail = False, f"{type(error).__name__}: {error}"
            retry_at = now if ok else now + backoff_s(notice.attempts, base_s, max_s)
            _record(
                client, notice, "delivered" if ok else "failed", detail if ok else f"{detail}; next {retry_at}", now
            )
        with client.pipeline(transaction=True) as pipe:
            if ok:
                pipe.delete(event_notice_key(notice.id))
                pipe.zrem(KEY_EVENT_OUTBOX, notice.id)
            else:
                pipe.set(event_notice_key(notice.id), json.dumps(asdict(notice), ensure_ascii=False))
                pipe.zadd(KEY_EVENT_OUTBOX, {notice.id: retry_at})
            pipe.execute()
        if not ok:
            log.warning("notice %s to %s failed (attempt %d), retried later", notice.id, notice.unit, notice.attempts)
    return len(ids)


def read_deliveries(client: redis.Redis, count: int | None = None) -> list[dict[str, str]]:
    entries: list[StreamEntry] = stream_range(client, KEY_EVENT_DELIVERIES, count=count)
    return [
        {k.decode(): v.decode() for k, v in fields.items()} | {"id": entry_id.decode()} for entry_id, fields in entries
    ]
