"""The duty log's read model, for its page and its export alike: the shift's log (alerts.dutylog) as far as the
user's scope covers it, with the names of the signs it mentions in the page's language."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from alerts.dutylog import DutyLog, duty_log_table, parse_window, read_duty_log, window_text
from auth.scope import Scope
from signs.drill import sign_name
from signs.model import Catalogue
from views.exports import Export


@dataclass(frozen=True)
class ShiftLog:
    log: DutyLog
    sign_names: dict[str, str]  # sign id -> name in the page's language, for the signs the log mentions


def mentioned_sign_names(cat: Catalogue, log: DutyLog, lang: str) -> dict[str, str]:
    """Names of the signs the log mentions, in the page's language."""
    mentioned = {t.sign_id for t in log.transitions} | {a.sign_id for a in log.open_at_handover}
    return {sign_id: sign_name(cat.signs[sign_id], lang) for sign_id in mentioned if sign_id in cat.signs}


def read_shift(client: redis.Redis, start: float, end: float, now: float, scope: Scope) -> DutyLog:
    return read_duty_log(client, start, end, now=now, scope=scope)


def shift_log(
    client: redis.Redis, cat: Catalogue, from_text: str | None, to_text: str | None, lang: str, now: float, scope: Scope
) -> ShiftLog:
    """The log of the window the URL's from/to give (ValueError for a malformed one)."""
    start, end = parse_window(from_text, to_text, now)
    log = read_shift(client, start, end, now, scope)
    return ShiftLog(log, mentioned_sign_names(cat, log, lang))


def duty_log_export(
    client: redis.Redis, from_text: str | None, to_text: str | None, lang: str, now: float, scope: Scope
) -> Export:
    start, end = parse_window(from_text, to_text, now)
    name = f"duty-log_{window_text(start)}_{window_text(end)}".replace(":", "")
    return Export(duty_log_table(read_shift(client, start, end, now, scope), lang), name, name)
