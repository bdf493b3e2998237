"""A value's quality (ok, warming up, incomplete) from Redis to the wall: encoded in ce:{latest}, carried on the
board, answered by the read API, never judged, and shown in both languages."""

from __future__ import annotations

import re

import pytest

from config import PROJECT_ROOT
from feeds.board import Board, board_entries, next_board
from signs.catalogue import catalogue
from signs.keys import Latest, Quality
from signs.model import Level
from signs.store import latest_level, sign_value

NOW = 1_800_000_000.0
MOBILE_COUNT = "XY.T.M07.T24"  # low is bad: 0 online mobile cameras is red


@pytest.mark.parametrize("quality", list(Quality))
def test_quality_round_trips_through_the_latest_encoding(quality: Quality) -> None:
    latest = Latest(value=97.25, source_ts=NOW, receive_ts=NOW + 0.5, quality=quality)
    raw = f"{latest.source_ts!r}|{latest.encode_rest()}"
    assert Latest.decode(raw) == latest and Latest.decode(raw.encode()) == latest


def test_ok_values_keep_the_three_part_encoding() -> None:
    """Feed workers write "src|recv|value"; such a value, and only such, is OK."""
    assert Latest(1.5, NOW, NOW + 1).encode_rest() == f"{NOW + 1!r}|1.5"
    assert Latest.decode(f"{NOW!r}|{NOW!r}|1.5").quality is Quality.OK
    assert Latest(1.5, NOW, NOW, Quality.WARMING_UP).encode_rest() == f"{NOW!r}|1.5|warming-up"
    with pytest.raises(ValueError):
        Latest.decode(f"{NOW!r}|{NOW!r}|1.5|made-up")


def test_a_value_not_ok_has_no_level_anywhere() -> None:
    sign = catalogue().signs[MOBILE_COUNT]
    judged = Latest(0.0, NOW, NOW)
    assert latest_level(sign, judged) is Level.RED
    for quality in (Quality.WARMING_UP, Quality.INCOMPLETE):
        unjudged = Latest(0.0, NOW, NOW, quality)
        assert latest_level(sign, unjudged) is Level.NORMAL
        doc = sign_value(sign, unjudged, NOW + 1).as_json()
        assert doc["quality"] == quality.value and doc["level"] == "normal" and doc["value"] == 0.0
    assert sign_value(sign, judged, NOW + 1).as_json()["quality"] == "ok"


def test_the_board_carries_the_quality_and_round_trips_it() -> None:
    cat = catalogue()
    latest = {
        MOBILE_COUNT: Latest(0.0, NOW, NOW, Quality.WARMING_UP),
        f"{MOBILE_COUNT}.dist:420607": Latest(0.0, NOW, NOW),
    }
    entries = board_entries(cat, latest)
    assert entries[MOBILE_COUNT] == (0.0, 0, NOW, "warming-up")  # shown, marked, not red
    assert entries[f"{MOBILE_COUNT}.dist:420607"] == (0.0, 4, NOW)
    board, changes = next_board(cat, None, latest, None, 1, NOW)
    assert Board.from_json(board.as_json()).signs == entries == changes
    # Warming up ends: the same value, now judged, is a change the walls receive.
    warm = latest | {MOBILE_COUNT: Latest(0.0, NOW, NOW)}
    _, later = next_board(cat, board, warm, None, 1, NOW + 1)
    assert later == {MOBILE_COUNT: (0.0, 4, NOW)}


def test_the_wall_names_every_quality_in_both_languages() -> None:
    script = (PROJECT_ROOT / "assets" / "wall.js").read_text(encoding="utf-8")
    blocks = re.findall(r"quality: \{([^}]*)\}", script)
    assert len(blocks) == 2  # zh and en
    for block in blocks:
        named = set(re.findall(r'"?([a-z-]+)"?:', block))
        assert named == {q.value for q in Quality if q is not Quality.OK}
