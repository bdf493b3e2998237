"""How a wall catches up with the board: replay of missed ticks, or the whole board."""

from __future__ import annotations

from views.wall import REPLAY_LIMIT, merge_changes, replayable


def test_later_ticks_win_and_health_comes_from_the_newest() -> None:
    records = [
        {"seq": 4, "at": 1.0, "signs": {"a": [1, 0, 1.0], "b": [2, 0, 1.0]}, "silent": ["traffic"], "workers": 1},
        {"seq": 5, "at": 2.0, "signs": {"a": [3, 2, 2.0]}, "silent": [], "workers": 2},
    ]
    merged = merge_changes(records)
    assert merged["seq"] == 5 and merged["at"] == 2.0 and merged["silent"] == [] and merged["workers"] == 2
    assert merged["signs"] == {"a": [3, 2, 2.0], "b": [2, 0, 1.0]}


def test_a_new_wall_gets_the_whole_board() -> None:
    assert not replayable(0, first_kept=1, newest=10)


def test_a_wall_a_few_ticks_behind_replays_them() -> None:
    assert replayable(8, first_kept=1, newest=10)
    assert replayable(10, first_kept=1, newest=10)  # up to date: nothing to send


def test_a_wall_behind_the_kept_ticks_reloads() -> None:
    assert not replayable(3, first_kept=10, newest=20)
    assert not replayable(1, first_kept=1, newest=2 + REPLAY_LIMIT)


def test_a_wall_ahead_of_a_restarted_board_reloads() -> None:
    assert not replayable(500, first_kept=1, newest=3)


def test_an_empty_stream_means_reload() -> None:
    assert not replayable(5, first_kept=None, newest=None)
