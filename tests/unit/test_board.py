"""The wall's board: entries, changes between ticks and silent-feed detection, as pure functions."""

from __future__ import annotations

from feeds.board import (
    FEED_SILENT_MIN_S,
    Board,
    BoardEntry,
    change_record,
    changed_entries,
    feed_ages,
    feed_silence_limits,
    next_board,
    silent_feeds,
)
from signs.catalogue import catalogue
from signs.keys import Latest
from signs.model import Level

TEMPERATURE = "XY.S.M13.S44.dist:420602"  # weather feed, 60 s cadence, yellow at 35 °C
RAINSTORM_SIGNAL = "XY.S.M13.S48.sig:rainstorm"  # read straight from the weather feed
NOW = 1_800_000_000.0


def test_a_new_board_sends_every_entry_with_its_level() -> None:
    cat = catalogue()
    latest = {TEMPERATURE: Latest(value=36.0, source_ts=NOW - 5, receive_ts=NOW - 4)}
    board, changes = next_board(cat, None, latest, camera_heard=None, workers=1, now=NOW)
    assert board.seq == 1
    assert changes == {TEMPERATURE: (36.0, int(Level.YELLOW), NOW - 5)}


def test_a_tick_sends_only_what_changed() -> None:
    cat = catalogue()
    other = "XY.S.M13.S44.dist:420606"
    first = {TEMPERATURE: Latest(20.0, NOW - 5, NOW - 4), other: Latest(21.0, NOW - 5, NOW - 4)}
    board, _ = next_board(cat, None, first, None, 1, NOW)
    second = dict(first) | {other: Latest(21.5, NOW, NOW)}
    board2, changes = next_board(cat, board, second, None, 1, NOW + 1)
    assert board2.seq == board.seq + 1
    assert list(changes) == [other]
    record = change_record(board2, changes)
    assert record["signs"] == {other: (21.5, 0, NOW)} and record["seq"] == 2


def test_signs_unknown_to_the_catalogue_stay_off_the_board() -> None:
    board, changes = next_board(catalogue(), None, {"XY.NOPE": Latest(1.0, NOW, NOW)}, None, 1, NOW)
    assert board.signs == {} and changes == {}


def test_changed_entries_compares_value_level_and_time() -> None:
    previous: dict[str, BoardEntry] = {"a": (1.0, 0, 10.0), "b": (2.0, 1, 10.0)}
    current: dict[str, BoardEntry] = {"a": (1.0, 0, 11.0), "b": (2.0, 1, 10.0), "c": (3.0, 0, 10.0)}
    assert changed_entries(previous, current) == {"a": (1.0, 0, 11.0), "c": (3.0, 0, 10.0)}


def test_silence_limits_follow_the_fastest_sign_of_each_feed() -> None:
    limits = feed_silence_limits(catalogue())
    assert limits["weather"] == 120.0  # its fastest signs report every minute
    assert limits["opinion"] == 1200.0  # every ten minutes
    assert limits["video"] == FEED_SILENT_MIN_S
    assert all(limit >= FEED_SILENT_MIN_S for limit in limits.values())


def test_a_feed_never_heard_or_quiet_too_long_is_silent() -> None:
    cat = catalogue()
    latest = {RAINSTORM_SIGNAL: Latest(0.0, NOW - 1000, NOW - 1000)}
    ages = feed_ages(cat, latest, camera_heard=NOW - 2, now=NOW)
    assert ages["weather"] == 1000.0 and ages["video"] == 2.0 and ages["traffic"] is None
    silent = silent_feeds(ages, feed_silence_limits(cat))
    assert "weather" in silent and "traffic" in silent and "video" not in silent


def test_board_round_trips_through_json() -> None:
    board = Board(seq=7, at=NOW, signs={"a": (1.5, 2, NOW)}, feeds={"weather": 3.0}, silent=[], workers=2)
    assert Board.from_json(board.as_json()) == board
