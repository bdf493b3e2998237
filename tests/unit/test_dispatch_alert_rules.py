"""The alert rules table: checked at load, and which alert transitions call for an event."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.model import Event as AlertEvent
from alerts.model import Transition as AlertTransition
from dispatch.alert_rules import load_rules, rule_for
from dispatch.library import LibraryError, library
from signs.catalogue import catalogue

HEADER = "signs,level,type,basis\n"


def _rules(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "alert_rules.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("XY.T.M08.T28.wl:*,crimson,0600101,x\n", r"alert_rules.csv:2: level 'crimson' is not one of blue, yellow"),
        ("XY.T.M08.T28.wl:*,red,0699999,x\n", r"alert_rules.csv:2: unknown event type '0699999'"),
        ("XY.T.M99.*,red,0600101,x\n", r"alert_rules.csv:2: signs 'XY.T.M99.\*' names no sign of the catalogue"),
        (
            "XY.T.M08.T28.wl:*,red,0600101,x\nXY.T.M08.T28.wl:*,red,0600102,y\n",
            r"alert_rules.csv:3: a rule for XY.T.M08.T28.wl:\* at red is already at alert_rules.csv:2",
        ),
        ("XY.T.M08.T28.wl:*,red,,x\n", r"alert_rules.csv:2: type must not be empty"),
    ],
)
def test_a_broken_rule_stops_the_load_naming_file_and_line(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(LibraryError, match=message):
        load_rules(catalogue(), library(), _rules(tmp_path, rows))


def _transition(event: AlertEvent, sign_id: str, level: str) -> AlertTransition:
    return AlertTransition(event, 1.0, "engine", alert_id="A1", sign_id=sign_id, level=level)


def test_a_rule_applies_to_its_signs_raised_at_or_rising_to_its_level() -> None:
    [rule] = load_rules(catalogue(), library())
    point = "XY.T.M08.T28.wl:WL07"
    assert rule_for((rule,), _transition(AlertEvent.RAISED, point, "red")) == rule
    assert rule_for((rule,), _transition(AlertEvent.LEVEL_CHANGED, point, "red")) == rule
    assert rule_for((rule,), _transition(AlertEvent.RAISED, point, "orange")) is None
    assert rule_for((rule,), _transition(AlertEvent.ACKNOWLEDGED, point, "red")) is None
    assert rule_for((rule,), _transition(AlertEvent.RAISED, "XY.T.M08.T28", "red")) is None  # the city's, not a point's
