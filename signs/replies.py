"""Typed replies of City Eye's Redis client, for code that reads raw keys and streams directly.

redis-py types each reply for either client setting, `bytes | str` (and a stream range as optional), but the
client City Eye opens (signs.store.open_redis, and every test and bench client) sets no decode_responses: it
always answers bytes. These helpers say so in one place instead of a cast at each call.
"""

from __future__ import annotations

from typing import cast

import redis
from redis.typing import KeyT, StreamIdT

# One stream entry: its id and its fields, as XRANGE/XREVRANGE/XREAD return them.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


def get_bytes(client: redis.Redis, key: KeyT) -> bytes | None:
    return cast(bytes | None, client.get(key))


def hget_bytes(client: redis.Redis, name: KeyT, field: str | bytes) -> bytes | None:
    return cast(bytes | None, client.hget(name, field))


def hgetall_bytes(client: redis.Redis, name: KeyT) -> dict[bytes, bytes]:
    return cast(dict[bytes, bytes], client.hgetall(name))


def smembers_bytes(client: redis.Redis, name: KeyT) -> set[bytes]:
    return cast(set[bytes], client.smembers(name))


def stream_range(
    client: redis.Redis, name: KeyT, low: StreamIdT = "-", high: StreamIdT = "+", count: int | None = None
) -> list[StreamEntry]:
    """XRANGE, oldest first."""
    return cast(list[StreamEntry], client.xrange(name, low, high, count=count) or [])


def stream_revrange(
    client: redis.Redis, name: KeyT, high: StreamIdT = "+", low: StreamIdT = "-", count: int | None = None
) -> list[StreamEntry]:
    """XREVRANGE, newest first."""
    return cast(list[StreamEntry], client.xrevrange(name, high, low, count=count) or [])


def stream_read(
    client: redis.Redis, streams: dict[KeyT, StreamIdT], count: int | None = None, block: int | None = None
) -> list[tuple[bytes, list[StreamEntry]]]:
    """XREAD: for each stream with new entries, its name and those entries (none when `block` ms pass)."""
    return cast(list[tuple[bytes, list[StreamEntry]]], client.xread(streams, count=count, block=block) or [])
