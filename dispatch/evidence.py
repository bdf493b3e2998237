"""Handlers' photos of their work (evidence for `handle`), kept in Redis beside the event, so that every web worker
on any host serves them and nothing lives on one machine's disk.

A photo is accepted only when its first bytes are a JPEG, PNG or WebP signature (the type the client claims is
never trusted), within EVIDENCE_PHOTO_MAX_BYTES, and while the event holds fewer than EVIDENCE_PHOTOS_PER_EVENT;
it is served back with the type its bytes showed. Photos expire EVIDENCE_RETENTION_DAYS after the event's newest
upload. An uploaded photo is the event's evidence from then on: `handle` attaches every photo uploaded so far.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import cast

import redis
from redis.client import Pipeline

from alerts.store import transact, watch
from signs.keys import event_photo_key, event_photos_key

EVIDENCE_PATH = "/api/v1/events/{event_id}/evidence/{photo_id}"
# Links to photos kept elsewhere (a reporting app's, a camera's snapshot), given with `handle`.
LINKS_MAX = 10
# The signatures of the image types a phone's camera or screenshot gives: (prefix, offset of a second part, that
# part, content type). WebP is RIFF....WEBP.
_SIGNATURES: tuple[tuple[bytes, int, bytes, str], ...] = (
    (b"\xff\xd8\xff", 0, b"", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, b"", "image/png"),
    (b"RIFF", 8, b"WEBP", "image/webp"),
)
_TYPE_FIELD = b"type"
_DATA_FIELD = b"data"


class EvidenceError(ValueError):
    """A photo refused: not an image of an accepted type, too large, or one too many."""


@dataclass(frozen=True, slots=True)
class Photo:
    content_type: str
    data: bytes


def image_type(data: bytes) -> str:
    """The content type the bytes themselves show; EvidenceError for anything but JPEG, PNG or WebP."""
    for prefix, offset, second, content_type in _SIGNATURES:
        if data.startswith(prefix) and (not second or data[offset : offset + len(second)] == second):
            return content_type
    raise EvidenceError("a photo must be a JPEG, PNG or WebP image")


def photo_url(event_id: str, photo_id: str) -> str:
    return EVIDENCE_PATH.format(event_id=event_id, photo_id=photo_id)


def store_photo(
    client: redis.Redis, event_id: str, data: bytes, *, max_bytes: int, per_event: int, keep_s: float
) -> str:
    """The photo's URL once stored; EvidenceError when refused. The count is checked and the photo added in one
    transaction, so two uploads racing for the last place cannot both take it."""
    if not data:
        raise EvidenceError("the photo is empty")
    if len(data) > max_bytes:
        raise EvidenceError(f"a photo has at most {max_bytes // 1000} kB")
    content_type = image_type(data)
    photo_id = secrets.token_hex(8)
    listing = event_photos_key(event_id)
    photo_key = event_photo_key(event_id, photo_id)

    def attempt(pipe: Pipeline) -> None:
        watch(pipe, listing)
        if pipe.llen(listing) >= per_event:
            pipe.reset()
            raise EvidenceError(f"an event has at most {per_event} photos")
        pipe.multi()
        pipe.hset(photo_key, mapping={_TYPE_FIELD: content_type, _DATA_FIELD: data})
        pipe.rpush(listing, photo_id)
        pipe.expire(photo_key, int(keep_s))
        pipe.expire(listing, int(keep_s))

    transact(client, attempt)
    return photo_url(event_id, photo_id)


def photo_urls(client: redis.Redis, event_id: str) -> tuple[str, ...]:
    """The event's photos, in upload order."""
    ids = cast(list[bytes], client.lrange(event_photos_key(event_id), 0, -1))
    return tuple(photo_url(event_id, raw.decode()) for raw in ids)


def read_photo(client: redis.Redis, event_id: str, photo_id: str) -> Photo | None:
    if not photo_id.isalnum() or len(photo_id) > 32:
        return None
    fields = cast(dict[bytes, bytes], client.hgetall(event_photo_key(event_id, photo_id)))
    if _TYPE_FIELD not in fields or _DATA_FIELD not in fields:
        return None
    return Photo(fields[_TYPE_FIELD].decode(), fields[_DATA_FIELD])


def evidence_for_handle(client: redis.Redis, event_id: str, given: tuple[str, ...]) -> tuple[str, ...]:
    """What `handle` attaches: the links given (http or https, at most LINKS_MAX) and every photo uploaded for the
    event, each once, in that order. EvidenceError for a link of another kind."""
    links = tuple(u for u in given if u.strip())
    if len(links) > LINKS_MAX or not all(u.startswith(("http://", "https://")) for u in links):
        raise EvidenceError(f"evidence links are at most {LINKS_MAX} http(s) URLs")
    return tuple(dict.fromkeys((*links, *photo_urls(client, event_id))))
