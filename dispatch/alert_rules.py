"""Events raised by rule: catalogue signs whose alerts become events of the hub without an officer's action
(dispatch/library/alert_rules.csv, docs/dispatch.md#events-raised-by-rule).

A rule names signs (a pattern over sign ids, as fnmatch reads it), the alert level from which it applies and the
event type to file. The dispatcher's tick follows the alert engine's audit stream from its own cursor: an alert
raised at, or rising to, a rule's level or above is filed once, as an officer's "raise from alert" would file it
(dispatch.hub.raise_from_alert: placed in the alert's district, linked both ways); the store refuses a second event
for the same alert, so a replayed entry, a second dispatcher or an officer who was quicker never make two.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import redis

from alerts import store as alert_store
from alerts.model import Event as AlertEvent
from alerts.model import Transition as AlertTransition
from dispatch import hub
from dispatch.library import LIBRARY_DIR, Library, LibraryError, read_rows
from dispatch.lifecycle import LifecycleError
from signs.keys import KEY_ALERTS_AUDIT, KEY_EVENTS_RULES_CURSOR
from signs.model import Catalogue, Level
from signs.replies import stream_range

log = logging.getLogger("cityeye.dispatch.rules")

RULES_FILE = LIBRARY_DIR / "alert_rules.csv"
RULE_ACTOR = "hub:rule"  # who raised an event by rule, in its history and as its reporter
_COLUMNS = ("signs", "level", "type", "basis")
_BATCH = 500
_RISING = (AlertEvent.RAISED.value, AlertEvent.LEVEL_CHANGED.value)
_LEVELS = {level.en: level for level in Level if level is not Level.NORMAL}  # as alert transitions name them


@dataclass(frozen=True, slots=True)
class AlertRule:
    signs: str  # fnmatch pattern over sign ids
    level: Level  # the lowest alert level it applies to
    type_code: str
    where: str  # file:line, for messages

    def applies(self, sign_id: str, level: Level) -> bool:
        return level >= self.level and fnmatch.fnmatchcase(sign_id, self.signs)


def load_rules(catalogue: Catalogue, library: Library, path: Path = RULES_FILE) -> tuple[AlertRule, ...]:
    """The rules, checked: a known alert level (blue, yellow, orange, red), a type of the library, a pattern naming
    at least one sign of the catalogue, and no two rules for the same signs and level."""
    rules: list[AlertRule] = []
    seen: dict[tuple[str, Level], str] = {}
    for where, row in read_rows(path, _COLUMNS):
        if row["level"] not in _LEVELS:
            raise LibraryError(f"{where}: level {row['level']!r} is not one of {', '.join(_LEVELS)}")
        if row["type"] not in library.types:
            raise LibraryError(f"{where}: unknown event type {row['type']!r}")
        if not any(fnmatch.fnmatchcase(sign_id, row["signs"]) for sign_id in catalogue.signs):
            raise LibraryError(f"{where}: signs {row['signs']!r} names no sign of the catalogue")
        rule = AlertRule(row["signs"], _LEVELS[row["level"]], row["type"], where)
        key = (rule.signs, rule.level)
        if key in seen:
            raise LibraryError(f"{where}: a rule for {rule.signs} at {row['level']} is already at {seen[key]}")
        seen[key] = where
        rules.append(rule)
    return tuple(rules)


def rule_for(rules: tuple[AlertRule, ...], transition: AlertTransition) -> AlertRule | None:
    """The first rule a transition of the audit calls for: an alert raised or changing level, at a rule's level."""
    level = _LEVELS.get(transition.level)
    if transition.event.value not in _RISING or level is None:
        return None
    return next((r for r in rules if r.applies(transition.sign_id, level)), None)


def follow_alerts(
    client: redis.Redis, library: Library, rules: tuple[AlertRule, ...], now: float, *, time_scale: float = 1.0
) -> list[str]:
    """File the events the alerts audit calls for since the cursor, and move it on; the ids of the events filed."""
    if not rules:
        return []
    cursor = cast(bytes | None, client.get(KEY_EVENTS_RULES_CURSOR)) or b"0-0"
    entries = stream_range(client, KEY_ALERTS_AUDIT, b"(" + cursor, "+", count=_BATCH)
    filed = []
    for _, fields in entries:
        transition = AlertTransition.from_fields(fields)
        rule = rule_for(rules, transition)
        if rule is None:
            continue
        alert = alert_store.get_alert(client, transition.alert_id)
        if alert is None or not alert.status.is_open:
            continue  # closed before its turn came: nothing left to handle
        try:
            event = hub.raise_from_alert(
                client, library, rule.type_code, alert.id, RULE_ACTOR, now, time_scale=time_scale
            )
        except LifecycleError as error:
            log.info("rule %s, alert %s: %s", rule.where, alert.id, error)  # already an event
            continue
        log.info("rule %s: alert %s filed as event %s", rule.where, alert.id, event.id)
        filed.append(event.id)
    if entries:
        client.set(KEY_EVENTS_RULES_CURSOR, entries[-1][0])
    return filed
