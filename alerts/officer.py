"""What officers ask for, read the same way by the alerts page and the API: which alerts (the filters of the page
and of GET /api/v1/alerts, from a query string, in the order officers read alerts), their notes, and silences of
a bounded length. The callers authorise first; alerts.store does the work.

    status=raised|acknowledged|cleared|resolved|closed  level=blue|yellow|orange|red  district=<adcode>
    recent=N   also closed alerts, among the N most recently changed (at most RECENT_MAX)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis

from alerts.model import LEVEL_BY_NAME, Alert, AlertStatus, Silence, SilenceScope, pressing_first
from alerts.store import list_active, list_recent, silence
from auth.model import Permission, User
from auth.names import check_username
from auth.store import get_user
from geo.admin import CITY_ADCODE, DISTRICTS
from signs.model import Level
from signs.urlstate import QueryError, parse_choice, parse_int

RECENT_MAX = 1_000
# The alerts page's "include recently closed", and what asking for a final status alone looks through.
RECENT_DEFAULT = 100
MAX_NOTE_CHARS = 500
# A silence is for maintenance: long enough to matter, never open-ended.
SILENCE_MINUTES_MIN = 5
SILENCE_MINUTES_MAX = 1_440
STATUSES = frozenset(status.value for status in AlertStatus)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: str = ""  # an AlertStatus value; empty: any
    level: str = ""  # a level name (blue ... red); empty: any
    district: str = ""  # a district's adcode, the city's for citywide signs; empty: anywhere
    recent: int = 0  # 0: open alerts only; N: also closed ones among the N most recently changed

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> AlertFilter:
        """Raises QueryError (a ValueError) naming the first parameter it does not understand."""
        status = query.get("status", "")
        if status:
            parse_choice(status, "status", STATUSES)
        level = query.get("level", "")
        if level and (level not in LEVEL_BY_NAME or LEVEL_BY_NAME[level] is Level.NORMAL):
            raise QueryError("level must be blue, yellow, orange or red")
        district = query.get("district", "")
        if district and district not in DISTRICTS and district != CITY_ADCODE:
            raise QueryError(f"unknown district {district[:40]!r}: a district's adcode or the city's, {CITY_ADCODE}")
        recent = parse_int(query.get("recent", "") or "0", "recent", 0, RECENT_MAX)
        return cls(status, level, district, recent)

    @property
    def wants_closed(self) -> bool:
        return bool(self.recent) or (bool(self.status) and not AlertStatus(self.status).is_open)

    def matches(self, alert: Alert) -> bool:
        return (
            (not self.status or alert.status.value == self.status)
            and (not self.level or alert.level.en == self.level)
            and (not self.district or alert.district == self.district)
        )

    def query(self) -> dict[str, str]:
        """The non-default parameters, in a fixed order, for a canonical URL."""
        values = {
            "status": self.status,
            "level": self.level,
            "district": self.district,
            "recent": str(self.recent or ""),
        }
        return {key: value for key, value in values.items() if value}


def select_alerts(client: redis.Redis, wanted: AlertFilter) -> list[Alert]:
    district = wanted.district or None
    found = {a.id: a for a in list_active(client, district=district)}
    if wanted.wants_closed:
        for alert in list_recent(client, limit=wanted.recent or RECENT_DEFAULT, district=district):
            found.setdefault(alert.id, alert)
    return pressing_first(a for a in found.values() if wanted.matches(a))


def silence_minutes(raw: object) -> int:
    """The requested duration in whole minutes, within SILENCE_MINUTES_MIN..SILENCE_MINUTES_MAX."""
    try:
        minutes = int(str(raw).strip())
    except ValueError:
        raise ValueError("minutes must be a whole number") from None
    if not SILENCE_MINUTES_MIN <= minutes <= SILENCE_MINUTES_MAX:
        raise ValueError(f"a silence lasts {SILENCE_MINUTES_MIN} to {SILENCE_MINUTES_MAX} minutes")
    return minutes


def clean_note(raw: object, *, required: bool) -> str:
    note = str(raw or "").strip()
    if required and not note:
        raise ValueError("a note is required")
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"a note has at most {MAX_NOTE_CHARS} characters")
    return note


def assignee_for(client: redis.Redis, raw: object, actor: User) -> str:
    """Who an officer assigns to: a named officer (an account that may act on alerts), themselves when no name
    is given. Any other name is refused (ValueError): an alert is never handed to nobody, a leader or a wall."""
    name = str(raw or "").strip().lower() or actor.username
    check_username(name)
    named = actor if name == actor.username else get_user(client, name)
    if named is None or not named.may(Permission.ACT):
        raise ValueError(f"{name} is not an officer who may act on alerts")
    return name


def silence_for(
    client: redis.Redis, scope: object, target: str, minutes: object, reason: object, user: str, *, now: float
) -> Silence:
    """Silence a sign or a district for a bounded number of minutes, with a reason."""
    scope_text = str(scope or "")
    if scope_text not in {s.value for s in SilenceScope}:
        raise ValueError("scope must be sign or district")
    duration = silence_minutes(minutes)
    return silence(client, scope_text, target, now + duration * 60, clean_note(reason, required=True), user, now=now)
