"""Alerts for the tests, raised by the real alert engine from red readings on the test's Redis."""

from __future__ import annotations

import time
from typing import cast

import redis

from alerts import store
from alerts.engine import READINGS_GROUP, AlertEngine
from alerts.model import Alert, RuleKind
from alerts.rules import district_of, value_rule
from config import Settings
from signs.catalogue import catalogue
from signs.keys import KEY_READINGS
from signs.model import Direction, Level, MqttSource, Sign, level_of


def red_sign(district: str | None = None) -> Sign:
    """A sign read from MQTT with a red threshold the engine alerts on, in `district` (an adcode, the city's for
    city-wide signs) when given."""
    return next(
        s
        for s in catalogue().signs.values()
        if isinstance(s.source, MqttSource)
        and value_rule(s) is RuleKind.THRESHOLD
        and s.thresholds[3] is not None
        and (district is None or district_of(s) == district)
    )


def stored_alert(client: redis.Redis, alert_id: str) -> Alert:
    """The alert as Redis holds it now; it must be there."""
    alert = store.get_alert(client, alert_id)
    assert alert is not None, f"alert {alert_id} is not in Redis"
    return alert


def red_value(sign: Sign) -> float:
    red = sign.thresholds[3]
    assert red is not None
    value = red * 1.5 + 1.0 if sign.direction is Direction.HIGH_IS_BAD else red * 0.5 - 1.0
    assert level_of(value, sign.thresholds, sign.direction) is Level.RED
    return value


def engines_progress(client: redis.Redis) -> tuple[int, int]:
    """The alert engines' group on the landed readings: when (epoch ms) the newest entry it was given was written,
    and how many entries given are not judged yet (pending). (t, 0): every reading landed before t is judged."""
    groups = cast(list[dict[str, object]], client.xinfo_groups(KEY_READINGS))
    [group] = [g for g in groups if g["name"] == READINGS_GROUP.encode()]
    return int(cast(bytes, group["last-delivered-id"]).split(b"-")[0]), int(cast(int, group["pending"]))


class AlertRaiser:
    """The real engine on the test's Redis; raise_red(sign) evaluates one red reading of it."""

    def __init__(self, redis_url: str, client: redis.Redis) -> None:
        self.client = client
        self.engine = AlertEngine(Settings(redis_url=redis_url), client=client)
        self.engine.join_group()

    def raise_red(self, sign: Sign) -> Alert:
        self.engine.evaluate([(sign.id, time.time(), red_value(sign))])
        [alert] = [a for a in store.list_active(self.client) if a.sign_id == sign.id]
        return alert
