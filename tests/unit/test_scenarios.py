"""The scenarios' stories on the project catalogue, with injected times: rain accumulations integrated from the rain
rate, counties that differ (their rain, and their streets that flood with it), couplings that move exactly the signs
they select, the holiday jam's day, and declared effects that the value model does produce."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from feeds import simulator as sim
from feeds.simulator import scenarios, values
from signs.catalogue import catalogue as project_catalogue
from signs.citytime import CITY_TZ
from signs.model import Catalogue, Level, MqttSource, Sign, level_of, thresholds_at

HOUR = 3_600.0
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=CITY_TZ).timestamp()
STEP_S = 600.0  # scenario_effects' sampling here: coarser than the bench's, as fine as a held level needs


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    loaded = project_catalogue()
    sim.prepare(loaded)
    return loaded


def _state(name: str) -> sim.ScenarioState:
    return sim.ScenarioState(name, scenarios.STORIES[name].default_start(NOW))


@pytest.fixture(scope="module")
def effects(cat: Catalogue) -> dict[str, dict[str, sim.Effect]]:
    """Each story's effects over its first 20 hours, by sign."""
    found = {}
    for name in (sim.SCENARIO_RAINSTORM, sim.SCENARIO_HOLIDAY):
        state = _state(name)
        found[name] = {e.sign_id: e for e in sim.scenario_effects(cat, state, state.start, state.start + 20 * HOUR,
                                                                  step_s=STEP_S)}  # fmt: skip
    return found


def _level(sign: Sign, t: float, state: sim.ScenarioState) -> Level:
    return level_of(sim.value_at(sign, t, state), thresholds_at(sign, t), sign.direction)


def test_stories_start_on_their_own_date_in_the_latest_year_it_is_past() -> None:
    rainstorm, holiday = scenarios.STORIES[sim.SCENARIO_RAINSTORM], scenarios.STORIES[sim.SCENARIO_HOLIDAY]
    assert rainstorm.default_start(NOW) == datetime(2026, 5, 24, 10, tzinfo=CITY_TZ).timestamp()
    assert holiday.default_start(NOW) == datetime(2026, 5, 1, 7, tzinfo=CITY_TZ).timestamp()
    march = datetime(2026, 3, 1, tzinfo=CITY_TZ).timestamp()
    assert rainstorm.default_start(march) == datetime(2025, 5, 24, 10, tzinfo=CITY_TZ).timestamp()
    assert scenarios.STORIES[sim.SCENARIO_CAMERA_OUTAGE].default_start(NOW) == NOW


def test_the_rainstorm_happens_in_may_weather(cat: Catalogue) -> None:
    state = _state(sim.SCENARIO_RAINSTORM)
    stations = [s for s in cat.signs.values() if s.core == "S44" and s.dimension.startswith("stn:")]
    for hours in (0.0, 4.0, 8.0):
        for station in stations:
            assert 12.0 <= sim.value_at(station, state.start + hours * HOUR, state) <= 32.0, station.id


def _districts_with_accumulations(cat: Catalogue) -> list[str]:
    return sorted({s.dimension.partition(":")[2] for s in cat.signs.values() if s.dimension.startswith("rain3h:")})


def test_accumulations_are_consistent_and_rise_at_a_physical_pace_every_minute(cat: Catalogue) -> None:
    state = _state(sim.SCENARIO_RAINSTORM)
    for adcode in (*sim.RAIN_DISTRICTS, "420606"):
        windows = [cat.signs[f"XY.S.M13.S45.rain{h}h:{adcode}"] for h in (3, 6, 12)]
        stations = [s for s in cat.signs.values() if s.core == "S45" and s.dimension.startswith("stn:")
                    and isinstance(s.source, MqttSource) and s.source.adcode == adcode]  # fmt: skip
        assert stations, adcode
        previous: list[float] | None = None
        for minute in range(-60, 16 * 60):
            t = state.start + minute * 60.0
            hourly = [sim.value_at(s, t, state) for s in stations]
            accumulated = [sim.value_at(w, t, state) for w in windows]
            assert max(hourly) <= accumulated[0] <= accumulated[1] <= accumulated[2], (adcode, minute)
            if previous is not None:  # a minute adds at most a minute of the heaviest rain (~60 mm/h) and rounding
                assert all(now - before <= 1.2 for now, before in zip(accumulated, previous, strict=True)), minute
            previous = accumulated


def test_nanzhang_and_baokang_have_storms_of_their_own(cat: Catalogue) -> None:
    state = _state(sim.SCENARIO_RAINSTORM)
    totals = {}
    for adcode in sim.RAIN_DISTRICTS:
        three_hours = cat.signs[f"XY.S.M13.S45.rain3h:{adcode}"]
        series = [sim.value_at(three_hours, state.start + k * 900.0, state) for k in range(0, 14 * 4)]
        totals[adcode] = (max(series), series.index(max(series)))
    (nanzhang, when_nanzhang), (baokang, when_baokang) = totals["420624"], totals["420626"]
    assert nanzhang >= 100.0 > baokang >= 50.0  # red in 南漳, orange in 保康
    assert when_baokang > when_nanzhang  # the cell moves on to 保康
    elsewhere = cat.signs["XY.S.M13.S45.rain12h:420683"]
    assert sim.value_at(elsewhere, state.start + 12 * HOUR, state) < 50.0  # light to moderate rain elsewhere


def _published_waterlogging_maxima(cat: Catalogue) -> list[Sign]:
    """The districts' deepest waterlogging as the counties' platforms publish it (the central city derives its own)."""
    return [s for s in cat.signs.values()
            if s.core == "T28" and s.dimension.startswith("dist:") and isinstance(s.source, MqttSource)]  # fmt: skip


def test_the_counties_streets_flood_with_their_own_rain(cat: Catalogue) -> None:
    """A county's deepest water follows its last hour of rain: never deeper after less rain, dry in light rain, red
    under 南漳's cell and orange under 保康's weaker one, while their rain is that bad."""
    state = _state(sim.SCENARIO_RAINSTORM)
    moments = [state.start + k * 900.0 for k in range(-4, 16 * 4)]
    deepest = {}
    for sign in _published_waterlogging_maxima(cat):
        adcode = sign.dimension.partition(":")[2]
        depth = [sim.value_at(sign, t, state) for t in moments]
        rain = [values.rain_accumulation(adcode, t, 1.0, state) for t in moments]
        by_rain = [d for _, d in sorted(zip(rain, depth, strict=True))]
        assert by_rain == sorted(by_rain), sign.id
        assert depth[0] == 0.0, sign.id  # dry before the story
        deepest[adcode] = max(depth)
        if deepest[adcode] > 0.0:
            assert rain[depth.index(deepest[adcode])] == max(rain), sign.id  # deepest after the wettest hour
    assert deepest.pop(scenarios.NANZHANG) >= 40.0  # red, well past the 25 cm at which roads close
    assert 25.0 <= deepest.pop(scenarios.BAOKANG) < 40.0  # orange
    assert set(deepest.values()) == {0.0}  # light to moderate rain elsewhere: the drains carry it
    red_rain = cat.signs["XY.S.M13.S45.rain3h:420624"]
    flooded = cat.signs["XY.T.M08.T28.dist:420624"]
    red_water = [t for t in moments if _level(flooded, t, state) == Level.RED]
    assert red_water and all(_level(red_rain, t, state) >= Level.ORANGE for t in red_water)


def test_each_coupling_selects_its_signs_by_what_they_are(cat: Catalogue) -> None:
    selected = {
        coupling.name: {s.id for s in cat.signs.values() if coupling.select(s)}
        for story in scenarios.STORIES.values()
        for coupling in story.couplings
    }
    assert all(selected.values()), [name for name, ids in selected.items() if not ids]
    assert selected["rain → river stage"] == {"XY.T.M08.T26.gauge:MH", "XY.T.M08.T26.gauge:NH"}
    assert selected["rain → reservoir level"] == {"XY.T.M08.T27.res:R01", "XY.T.M08.T27.res:R10"}
    assert selected["jam → toll queue"] == {"XY.D.M09.D29.toll:SH"}
    assert selected["rain → waterlogging"] == {s.id for s in cat.signs.values() if s.dimension.startswith("wl:")}
    published = {s.id for s in _published_waterlogging_maxima(cat)}
    assert published == {f"XY.T.M08.T28.dist:{a}" for a in ("420624", "420625", "420626", "420682", "420683", "420684")}
    assert published <= selected["rain → district waterlogging"]
    assert "XY.S.M14.S52.nh3n:MH01" not in set().union(*selected.values())  # 蛮河's ammonia is water quality


def test_the_story_moves_only_its_rain_and_the_targets_of_its_couplings(
    cat: Catalogue, effects: dict[str, dict[str, sim.Effect]]
) -> None:
    for name, found in effects.items():
        story = scenarios.STORIES[name]
        rain = {s.id for s in cat.signs.values() if isinstance(s.source, MqttSource) and s.core == "S45"}
        for coupling in story.couplings:
            targets = {s.id for s in cat.signs.values() if coupling.select(s) and isinstance(s.source, MqttSource)}
            assert targets & set(found), f"{coupling.name} moved none of its signs"
        reach = set().union(*({s.id for s in cat.signs.values() if c.select(s)} for c in story.couplings))
        assert set(found) <= reach | (rain if story.rain else set()), set(found) - reach - rain


def test_a_sign_named_like_a_target_is_not_moved(cat: Catalogue) -> None:
    """Renaming a water-quality sign after the river and the storm changes nothing: couplings do not read names."""
    state = _state(sim.SCENARIO_RAINSTORM)
    ammonia = cat.signs["XY.S.M14.S52.nh3n:MH01"]
    renamed = dataclasses.replace(ammonia, id="XY.S.M14.S52.nh3n:TEST", name_zh="蛮河 暴雨 积水 水位",
                                  name_en="Man River rainstorm waterlogging level")  # fmt: skip
    for hours in range(0, 16):
        t = state.start + hours * HOUR
        assert sim.value_at(ammonia, t, state) == sim.value_at(ammonia, t)
        assert sim.value_at(renamed, t, state) == sim.value_at(renamed, t)


def test_the_holiday_queue_builds_turns_red_and_eases(cat: Catalogue) -> None:
    state = _state(sim.SCENARIO_HOLIDAY)
    for sign_id in ("XY.D.M09.D29.toll:SH", "XY.D.M09.D29.wait:SH"):
        sign = cat.signs[sign_id]
        morning = [sim.value_at(sign, state.start + k * 900.0, state) for k in range(2, 15)]  # 07:30 to 10:30
        assert morning == sorted(morning) and morning[-1] > 3 * morning[0], sign_id
        assert _level(sign, state.start - HOUR, state) == Level.NORMAL
        assert all(_level(sign, state.start + h * HOUR, state) == Level.RED for h in (4.0, 5.0, 6.0)), sign_id
        assert _level(sign, state.start + 12 * HOUR, state) == Level.NORMAL  # eased by the evening
    speed = cat.signs["XY.D.M09.D30.speed:DB"]
    assert sim.value_at(speed, state.start + 5 * HOUR, state) < 0.3 * sim.value_at(speed, state.start + 5 * HOUR)


def test_declared_effects_are_what_the_value_model_does(
    cat: Catalogue, effects: dict[str, dict[str, sim.Effect]]
) -> None:
    for name, found in effects.items():
        declared = scenarios.declared_effects(name)
        assert declared
        for effect in declared:
            assert effect.sign_id in found, (name, effect)
            assert found[effect.sign_id].level >= effect.level, (name, effect, found[effect.sign_id])
        promised = {d.sign_id for d in declared}
        undeclared = [e for e in found.values() if e.level >= Level.ORANGE and e.sign_id not in promised]
        assert undeclared == [], f"{name} drives signs to orange or red without declaring it: {undeclared}"
    assert scenarios.declared_effects(None) == ()


def test_no_story_before_its_start(cat: Catalogue) -> None:
    for name in (sim.SCENARIO_RAINSTORM, sim.SCENARIO_HOLIDAY):
        state = _state(name)
        assert sim.scenario_effects(cat, state, state.start - 2 * HOUR, state.start) == []
    assert values.rain_accumulation("420624", _state(sim.SCENARIO_RAINSTORM).start, 12.0,
                                    _state(sim.SCENARIO_RAINSTORM)) < 20.0  # fmt: skip
