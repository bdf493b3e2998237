"""Rule evaluation as pure functions: which rule watches a sign, hysteresis, minimum durations, no-data."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from alerts.model import QUIET, Alert, AlertStatus, Deadlines, RuleKind, RuleState, new_alert_id
from alerts.rules import (
    CMA_PARAMS,
    ChangeKind,
    RuleBook,
    RuleParams,
    district_of,
    evaluate,
    evaluate_silence,
    is_silent,
    observed_level,
    route_readings,
    sign_at,
    value_rule,
    watched_for_silence,
    watches,
)
from config import Settings
from geo.admin import CITY_ADCODE
from signs.catalogue import catalogue
from signs.citytime import CITY_TZ
from signs.model import Derivation, Direction, Level, MqttSource, Sign, expected_value, thresholds_at

RISING = (10.0, 20.0, 30.0, 50.0)  # high is bad: gaps 10, 10, 10, 20
FALLING = (99.0, 98.0, 95.0, 90.0)  # low is bad, like a camera online rate


def _sign(
    thresholds: tuple[float | None, float | None, float | None, float | None] = RISING,
    direction: Direction = Direction.HIGH_IS_BAD,
    cadence_s: float = 60.0,
    dimension: str = "stn:T1",
    source: MqttSource | Derivation | None = None,
) -> Sign:
    return Sign(
        id="XY.T.M99.T01.stn:T1",
        name_zh="测试",
        name_en="test",
        unit="mm",
        category="T",
        module="M99",
        core="T01",
        dimension=dimension,
        cadence_s=cadence_s,
        direction=direction,
        thresholds=thresholds,
        definition="",
        owner="",
        source=source or MqttSource("weather", "420624", "AWS01", "rain"),
    )


PLAIN = RuleParams(hysteresis=0.2, raise_after_s=0.0, clear_after_s=0.0)
T0 = 1_779_602_700.0  # readings in these tests are given in seconds after T0


def _fold(readings: list[tuple[float, float]], params: RuleParams = PLAIN, state: RuleState = QUIET):
    return evaluate(state, [(T0 + t, v) for t, v in readings], _sign(), RuleKind.THRESHOLD, params)


# Which rule watches which sign ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sign_id", "rule"),
    [
        ("XY.S.M13.S48.sig:rainstorm", RuleKind.CMA),  # one CMA signal type, citywide
        ("XY.S.M13.S48.dist:420624", RuleKind.CMA),  # the highest signal issued for one district
        ("XY.S.M13.S48", None),  # the citywide maximum would repeat each signal's alert
        ("XY.T.M07.T23.dist:420607", RuleKind.CAMERA),  # a district's fixed-camera online rate
        ("XY.T.M07.T23", RuleKind.CAMERA),
        ("XY.T.M07.T24.dist:420607", RuleKind.THRESHOLD),  # a count of cameras is an ordinary sign
        ("XY.P.M01.P01.dist:420602", RuleKind.THRESHOLD),
        ("XY.P.M01.P01", RuleKind.THRESHOLD),  # derived signs have thresholds too
    ],
)
def test_each_catalogue_sign_gets_its_rule(sign_id: str, rule: RuleKind | None) -> None:
    assert value_rule(catalogue().signs[sign_id]) is rule


def test_signs_without_thresholds_are_not_watched() -> None:
    assert value_rule(_sign(thresholds=(None, None, None, None))) is None


def test_only_sensors_raise_no_data() -> None:
    cat = catalogue()
    assert watched_for_silence(cat.signs["XY.S.M13.S48.sig:rainstorm"])
    assert not watched_for_silence(cat.signs["XY.P.M01.P01"])
    assert not watched_for_silence(cat.signs["XY.T.M07.T23.dist:420607"])


def test_district_of_a_sign() -> None:
    cat = catalogue()
    assert district_of(cat.signs["XY.P.M01.P01.dist:420602"]) == "420602"
    assert district_of(cat.signs["XY.T.M07.T23.dist:420607"]) == "420607"
    assert district_of(cat.signs["XY.P.M01.P01"]) == CITY_ADCODE
    assert district_of(_sign()) == "420624"  # a station: its source's district


def test_readings_are_routed_per_rule_and_old_ones_left_out() -> None:
    cat = catalogue()
    watched = watches(cat, RuleBook.from_settings(Settings(alert_max_reading_age_s=600)))
    now = 10_000.0
    routed = route_readings(
        [
            ("XY.P.M01.P01.dist:420602", now - 5, 1.0),
            ("XY.P.M01.P01.dist:420602", now - 1, 2.0),
            ("XY.S.M13.S48.sig:rainstorm", now - 601, 3.0),  # older than the limit and than 2 cadences
            ("NO.SUCH.SIGN", now, 1.0),
            ("XY.S.M13.S48", now, 4.0),  # unwatched
        ],
        watched,
        now,
    )
    assert routed == {(RuleKind.THRESHOLD, "XY.P.M01.P01.dist:420602"): [(now - 5, 1.0), (now - 1, 2.0)]}


# Hysteresis ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "current", "expected"),
    [
        (25.0, Level.NORMAL, Level.YELLOW),  # rising is plain level_of
        (55.0, Level.BLUE, Level.RED),
        (19.0, Level.YELLOW, Level.YELLOW),  # within 0.2 x 10 below the yellow bound: still yellow
        (18.0, Level.YELLOW, Level.YELLOW),  # exactly at the band's edge
        (17.9, Level.YELLOW, Level.BLUE),
        (8.5, Level.BLUE, Level.BLUE),
        (7.9, Level.BLUE, Level.NORMAL),
        (47.0, Level.RED, Level.RED),  # red's gap is to orange: 20, so the band is 4
        (45.9, Level.RED, Level.ORANGE),
        (21.0, Level.RED, Level.YELLOW),  # a big fall skips the levels it clearly left
    ],
)
def test_a_level_is_left_only_beyond_the_band(value: float, current: Level, expected: Level) -> None:
    assert observed_level(value, _sign(), current, 0.2, T0) is expected


@pytest.mark.parametrize(
    ("value", "current", "expected"),
    [
        (98.5, Level.NORMAL, Level.BLUE),  # low is bad: below 99 is blue
        (99.1, Level.BLUE, Level.BLUE),  # gap 1 to 98, band 0.2: 99.1 is still within
        (99.2, Level.BLUE, Level.NORMAL),
        (89.0, Level.NORMAL, Level.RED),
        (90.5, Level.RED, Level.RED),  # red's gap is 5 (to 95), band 1
        (91.0, Level.RED, Level.ORANGE),
    ],
)
def test_hysteresis_for_low_is_bad_signs(value: float, current: Level, expected: Level) -> None:
    assert observed_level(value, _sign(FALLING, Direction.LOW_IS_BAD), current, 0.2, T0) is expected


def test_a_value_hovering_at_a_bound_raises_once_and_does_not_flap() -> None:
    hovering = [(10.0 * i, 10.0 + (0.5 if i % 2 else -0.5)) for i in range(60)]
    outcome = _fold(hovering)
    assert [c.kind for c in outcome.changes] == [ChangeKind.RAISE]
    assert outcome.state.level is Level.BLUE


def test_without_hysteresis_the_same_values_flap() -> None:
    hovering = [(10.0 * i, 10.0 + (0.5 if i % 2 else -0.5)) for i in range(6)]
    outcome = _fold(hovering, RuleParams(0.0, 0.0, 0.0))
    assert [c.kind for c in outcome.changes].count(ChangeKind.RAISE) == 3


# Minimum durations -------------------------------------------------------------------------------------------


def test_raise_waits_for_the_breach_to_last() -> None:
    params = RuleParams(hysteresis=0.0, raise_after_s=30.0, clear_after_s=0.0)
    assert _fold([(0.0, 25.0), (20.0, 25.0)], params).changes == ()
    outcome = _fold([(0.0, 25.0), (20.0, 25.0), (30.0, 35.0)], params)
    [raised] = outcome.changes
    assert (raised.kind, raised.state.level, raised.since - T0, raised.at - T0) == (
        ChangeKind.RAISE,
        Level.ORANGE,
        0,
        30,
    )


def test_a_short_spike_is_not_raised_when_a_duration_is_required() -> None:
    params = RuleParams(hysteresis=0.0, raise_after_s=30.0, clear_after_s=0.0)
    outcome = _fold([(0.0, 55.0), (10.0, 1.0), (20.0, 55.0), (40.0, 1.0)], params)
    assert outcome.changes == ()
    assert outcome.state.is_quiet


def test_a_rise_of_an_active_alert_applies_at_once_and_a_fall_waits() -> None:
    params = RuleParams(hysteresis=0.0, raise_after_s=0.0, clear_after_s=120.0)
    outcome = _fold([(0.0, 12.0), (10.0, 55.0), (20.0, 12.0), (100.0, 12.0), (140.0, 12.0)], params)
    assert [(c.kind, c.state.level, c.at - T0) for c in outcome.changes] == [
        (ChangeKind.RAISE, Level.BLUE, 0.0),
        (ChangeKind.LEVEL, Level.RED, 10.0),
        (ChangeKind.LEVEL, Level.BLUE, 140.0),  # 120 s after the fall began at 20
    ]


def test_returning_to_the_level_cancels_a_pending_fall() -> None:
    params = RuleParams(hysteresis=0.0, raise_after_s=0.0, clear_after_s=120.0)
    outcome = _fold([(0.0, 55.0), (60.0, 1.0), (100.0, 55.0), (200.0, 1.0), (300.0, 1.0)], params)
    assert [c.kind for c in outcome.changes] == [ChangeKind.RAISE]
    assert outcome.state.level is Level.RED and outcome.state.since == T0 + 200


def test_clear_waits_and_releases_the_alert() -> None:
    params = RuleParams(hysteresis=0.0, raise_after_s=0.0, clear_after_s=60.0)
    outcome = _fold([(0.0, 25.0), (30.0, 1.0), (90.0, 1.0)], params)
    assert [c.kind for c in outcome.changes] == [ChangeKind.RAISE, ChangeKind.CLEAR]
    assert outcome.state.is_quiet


def test_a_breach_raised_and_cleared_within_one_batch_is_still_an_alert() -> None:
    signal = catalogue().signs["XY.S.M13.S48.sig:rainstorm"]
    outcome = evaluate(QUIET, [(T0, 3.0), (T0 + 60, 0.0)], signal, RuleKind.CMA, CMA_PARAMS)
    raised, cleared = outcome.changes
    assert raised.kind is ChangeKind.RAISE and raised.state.level is Level.ORANGE
    assert cleared.kind is ChangeKind.CLEAR


def test_readings_are_folded_in_source_order_and_late_ones_ignored() -> None:
    first = _fold([(50.0, 35.0), (10.0, 1.0)])
    assert first.state.level is Level.ORANGE and first.state.last_ts == T0 + 50
    late = _fold([(40.0, 1.0), (50.0, 1.0)], state=first.state)
    assert late.changes == () and late.state == first.state


def test_alert_ids_come_from_the_raising_reading() -> None:
    [raised] = _fold([(0.25, 25.0)]).changes
    assert raised.state.alert_id == new_alert_id(RuleKind.THRESHOLD, _sign().id, T0 + 0.25)
    assert re.fullmatch(r"[a-z0-9-]+", raised.state.alert_id)


def test_a_level_rise_after_an_officer_resolved_raises_a_new_alert() -> None:
    resolved_while_holding = RuleState(Level.YELLOW, 0.0, T0 + 100, 25.0, alert_id="")
    assert _fold([(110.0, 25.0), (120.0, 12.0)], state=resolved_while_holding).changes == ()
    [raised] = _fold([(110.0, 35.0)], state=resolved_while_holding).changes
    assert raised.kind is ChangeKind.RAISE and raised.state.level is Level.ORANGE


def test_write_is_needed_only_when_something_is_remembered() -> None:
    normal = _fold([(10.0, 1.0)])
    assert not normal.needs_write(QUIET)
    assert _fold([(10.0, 25.0)]).needs_write(QUIET)


# Rule kinds: bounds that know the hour, and the first occurrence -----------------------------------------------

TUESDAY = datetime(2025, 11, 25, tzinfo=CITY_TZ).timestamp()  # a working day in Xiangyang
NIGHT, RUSH_HOUR, EVENING = TUESDAY + 4 * 3600, TUESDAY + 8.5 * 3600, TUESDAY + 22 * 3600
BOOK = RuleBook.from_settings(Settings())


def _readings(at: float, *values: float) -> list[tuple[float, float]]:
    """One reading a minute from `at`."""
    return [(at + 60.0 * i, v) for i, v in enumerate(values)]


def _expected(sign: Sign, ts: float) -> float:
    expected = expected_value(sign, ts)
    assert expected is not None, f"{sign.id} has no hour-of-week profile"
    return expected


def _bound(sign: Sign, ts: float, level: Level) -> float:
    bound = thresholds_at(sign, ts)[level - 1]
    assert bound is not None
    return bound


def test_a_night_time_taxi_dip_is_normal_and_the_same_value_at_rush_hour_raises() -> None:
    taxis = catalogue().signs["XY.D.M11.D38"]  # bounds 80/70/60/50 % of the expected fleet online
    night_fleet = _expected(taxis, NIGHT)
    assert night_fleet < _bound(taxis, TUESDAY + 12 * 3600, Level.RED)  # below even the red bound of daytime
    params = BOOK.params(RuleKind.THRESHOLD, taxis)
    at_night = evaluate(QUIET, _readings(NIGHT, night_fleet, night_fleet), taxis, RuleKind.THRESHOLD, params)
    assert at_night.changes == () and at_night.state.is_quiet
    at_rush_hour = evaluate(QUIET, _readings(RUSH_HOUR, night_fleet), taxis, RuleKind.THRESHOLD, params)
    [raised] = at_rush_hour.changes
    assert raised.kind is ChangeKind.RAISE and raised.state.level is Level.RED


def test_a_surge_relative_to_the_hour_raises_though_it_is_far_below_the_daily_bound() -> None:
    tickets = catalogue().signs["XY.P.M02.P05.dist:420606"]  # 樊城 12345 tickets since midnight
    two_pm = TUESDAY + 14 * 3600
    normal, surge = _expected(tickets, two_pm), 2.2 * _expected(tickets, two_pm)
    assert surge < _bound(tickets, TUESDAY + 86_399, Level.BLUE)  # by the day's bounds, nothing to see yet
    params = BOOK.params(RuleKind.THRESHOLD, tickets)
    assert evaluate(QUIET, _readings(two_pm, normal), tickets, RuleKind.THRESHOLD, params).changes == ()
    [raised] = evaluate(QUIET, _readings(two_pm, surge), tickets, RuleKind.THRESHOLD, params).changes
    assert raised.state.level is Level.ORANGE  # ×2 of the expected count is orange, ×3 would be red


def test_an_hour_of_week_alert_records_the_bound_of_its_hour() -> None:
    taxis = catalogue().signs["XY.D.M11.D38"]
    at_night = sign_at(taxis, NIGHT)
    assert at_night.thresholds == thresholds_at(taxis, NIGHT)
    assert _bound(at_night, NIGHT, Level.BLUE) < _bound(taxis, TUESDAY + 12 * 3600, Level.BLUE)
    assert sign_at(taxis, TUESDAY + 12 * 3600).thresholds == pytest.approx(taxis.thresholds)
    rain = catalogue().signs["XY.S.M13.S45.rain3h:420624"]
    assert sign_at(rain, NIGHT) is rain


def test_hysteresis_and_durations_hold_against_moving_bounds() -> None:
    """A value hovering at the hour's blue bound raises once, and clears only once it has clearly left."""
    load = catalogue().signs["XY.T.M05.T17"]  # high is bad; bounds +20/+27/+33/+40 % of the expected load
    params = RuleParams(hysteresis=0.2, raise_after_s=0.0, clear_after_s=300.0)
    at = TUESDAY + 13 * 3600  # a flat stretch of the working day
    blue = _bound(load, at, Level.BLUE)
    hovering = [blue * 1.001, blue * 0.999, blue * 1.001, blue * 0.999, blue * 1.002, blue * 0.998]
    outcome = evaluate(QUIET, _readings(at, *hovering), load, RuleKind.THRESHOLD, params)
    assert [(c.kind, c.state.level, c.at - at) for c in outcome.changes] == [(ChangeKind.RAISE, Level.BLUE, 0.0)]
    assert outcome.state.level is Level.BLUE  # held within the band below the hour's bound
    at_night = evaluate(outcome.state, _readings(NIGHT + 86_400, blue * 0.999), load, RuleKind.THRESHOLD, params)
    assert at_night.state.level is Level.RED  # the same load at night is far above the night's bounds
    normal = _expected(load, at)
    back = _readings(at + 600, *[normal] * 7)
    cleared = evaluate(outcome.state, back, load, RuleKind.THRESHOLD, params)
    assert [(c.kind, c.at - at - 600) for c in cleared.changes] == [(ChangeKind.CLEAR, 300.0)]


def test_a_first_occurrence_raises_at_once_at_the_catalogue_level() -> None:
    blackout = catalogue().signs["XY.S.M15.S53.item:1208"]  # 大面积停电: one is orange, two red
    book = RuleBook.from_settings(Settings(alert_raise_after_s=600.0))  # noisy values must last ten minutes...
    params = book.params(RuleKind.THRESHOLD, blackout)
    assert params.raise_after_s == 0.0  # ...an occurrence needs not
    quiet = evaluate(QUIET, _readings(NIGHT, 0.0, 0.0), blackout, RuleKind.THRESHOLD, params)
    assert quiet.changes == ()
    outcome = evaluate(quiet.state, _readings(NIGHT + 120, 1.0, 1.0, 2.0), blackout, RuleKind.THRESHOLD, params)
    raised, worse = outcome.changes
    assert (raised.kind, raised.state.level, raised.at) == (ChangeKind.RAISE, Level.ORANGE, NIGHT + 120)
    assert (worse.kind, worse.state.level) == (ChangeKind.LEVEL, Level.RED)
    fire = catalogue().signs["XY.S.M15.S53.item:0901"]  # 火灾: one is blue
    [first_fire] = evaluate(QUIET, _readings(NIGHT, 1.0), fire, RuleKind.THRESHOLD, params).changes
    assert first_fire.state.level is Level.BLUE
    # An ordinary count keeps the configured duration.
    assert book.params(RuleKind.THRESHOLD, catalogue().signs["XY.D.M12.D43"]).raise_after_s == 600.0


# No data --------------------------------------------------------------------------------------------------


def test_a_sensor_is_silent_after_several_cadences() -> None:
    book = RuleBook.from_settings(Settings(alert_nodata_cadences=3.0, alert_nodata_min_s=30.0))
    assert not is_silent(_sign(cadence_s=60.0), heard_ts=1_000.0, now=1_180.0, book=book, ingest_up_since=0.0)
    assert is_silent(_sign(cadence_s=60.0), heard_ts=1_000.0, now=1_180.1, book=book, ingest_up_since=0.0)
    assert not is_silent(_sign(cadence_s=5.0), heard_ts=1_000.0, now=1_029.0, book=book, ingest_up_since=0.0)


def test_after_an_ingest_outage_every_sensor_gets_its_full_limit_again() -> None:
    book = RuleBook.from_settings(Settings(alert_nodata_cadences=3.0))
    sign = _sign(cadence_s=60.0)
    assert not is_silent(sign, heard_ts=1_000.0, now=5_100.0, book=book, ingest_up_since=5_000.0)
    assert is_silent(sign, heard_ts=1_000.0, now=5_181.0, book=book, ingest_up_since=5_000.0)


def test_no_data_is_raised_then_cleared_when_heard_again() -> None:
    sign = _sign()
    raised = evaluate_silence(QUIET, sign, True, heard_ts=900.0, heard_value=4.0, now=1_200.0, level=Level.BLUE)
    [change] = raised.changes
    assert (change.kind, change.since, raised.state.level, raised.state.value) == (
        ChangeKind.RAISE,
        900.0,
        Level.BLUE,
        4.0,
    )
    assert evaluate_silence(raised.state, sign, True, 900.0, 4.0, 1_300.0, Level.BLUE).changes == ()
    cleared = evaluate_silence(raised.state, sign, False, 1_290.0, 5.0, 1_300.0, Level.BLUE)
    assert [c.kind for c in cleared.changes] == [ChangeKind.CLEAR] and cleared.state.is_quiet


# Encodings -------------------------------------------------------------------------------------------------


def test_rule_state_round_trips() -> None:
    state = RuleState(Level.ORANGE, 12.5, 1_779_602_700.123, 31.25, "threshold-abc-0123456789")
    assert RuleState.decode(state.encode().encode()) == state
    assert RuleState.decode(None) == QUIET


def test_alert_round_trips_through_json() -> None:
    alert = Alert(
        id="threshold-1-2",
        rule=RuleKind.THRESHOLD,
        sign_id="XY.T.M99.T01.stn:T1",
        name="测试",
        unit="mm",
        district="420624",
        level=Level.RED,
        peak_level=Level.RED,
        value=55.0,
        threshold=50.0,
        since=1.0,
        raised_at=2.0,
        updated_at=2.0,
        status=AlertStatus.RAISED,
        due=Deadlines(3.0, 4.0, 5.0),
    )
    assert Alert.decode(alert.encode()) == alert
