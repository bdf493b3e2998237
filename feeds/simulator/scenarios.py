"""The scenarios: the stories of the brief overlaid on the normal city, and what each does to the signs (the ground
truth of a scenario run). ``rainstorm``, ``holiday-congestion`` and ``camera-outage`` ramp up over a few simulated
minutes from their start; ``scenario_effects`` lists the signs a scenario moves and the level it drives each to."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from feeds.simulator.noise import hash01
from feeds.simulator.values import (
    SignModel,
    at_least,
    ensure_prepared,
    mix_towards,
    sign_text,
    value_at,
)
from geo.admin import CITY_ADCODE
from signs.model import Catalogue, Level, MqttSource, Sign, level_of, thresholds_at

SCENARIOS = ("rainstorm", "holiday-congestion", "camera-outage")
SCENARIO_RAINSTORM, SCENARIO_HOLIDAY, SCENARIO_CAMERA_OUTAGE = SCENARIOS
RAIN_DISTRICTS = ("420624", "420626")  # 南漳, 保康: the southern mountains of the 24 May story
HOLIDAY_DISTRICT = "420625"  # 谷城: 石花 toll station on the 邓保 expressway
OUTAGE_DISTRICT = "420607"  # 襄州
OUTAGE_REAL_S = 900.0  # how long the district network stays down, in wall-clock seconds


@dataclass(frozen=True, slots=True)
class ScenarioState:
    """A running story. ``start`` is simulated time; the camera outage is measured on the wall clock."""

    name: str | None = None
    start: float = 0.0
    district: str = OUTAGE_DISTRICT
    speed: float = 1.0
    outage_real_s: float = OUTAGE_REAL_S
    ramp_s: float = 90.0  # e-folding time of the ramp, simulated seconds

    def elapsed(self, t: float) -> float:
        return t - self.start

    def intensity(self, t: float) -> float:
        """0 before the start, ~0.5 after a simulated minute, 1 after ~4.5 simulated minutes."""
        e = self.elapsed(t)
        if self.name is None or e <= 0:
            return 0.0
        return min(1.0, (1.0 - math.exp(-e / self.ramp_s)) / 0.95)

    def outage_active(self, t: float) -> bool:
        e = self.elapsed(t)
        return self.name == SCENARIO_CAMERA_OUTAGE and 0.0 <= e < self.outage_real_s * self.speed



    def apply(self, sign: Sign, model: SignModel, t: float, value: float) -> float:
        """The sign's value at t under this story, given its value in the normal city."""
        effect = SCENARIO_EFFECTS.get(self.name or "")
        return value if effect is None else effect(sign, model, t, self, value)

NO_SCENARIO = ScenarioState()


_TRIBUTARIES = ("蛮河", "南河", "清凉河", "manhe", "man river", "nanhe", "nan river")


def _rainstorm(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    i = state.intensity(t)
    if i <= 0:
        return value
    e = state.elapsed(t)
    red = e >= 15 * 60.0  # the signal goes from orange to red after a quarter of an hour
    text = sign_text(sign)
    storm = model.adcode in RAIN_DISTRICTS
    wet = storm or model.adcode == CITY_ADCODE
    jitter = hash01(model.key, 17)
    if model.kind == "rain":
        if storm:
            hourly = 20.0 + 25.0 * jitter  # 20-45 mm/h at the mountain stations
            target = {1.0: hourly, 3.0: 58 + 20 * jitter, 6.0: 82 + 20 * jitter, 12.0: 105 + 25 * jitter}.get(
                model.window_h, hourly * min(model.window_h, 12.0) * 0.45
            )
            if red and model.window_h == 3.0 and jitter > 0.4:
                target = 100.0 + 15 * jitter
            level = Level.RED if red and model.window_h <= 3 else Level.ORANGE
            target = at_least(sign, target, level, t) if model.window_h > 1 else target
        elif model.adcode == CITY_ADCODE:
            target = 20.0 + 20 * jitter if model.window_h == 1 else 55.0 + 10 * model.window_h
        else:  # light to moderate rain elsewhere
            target = (1.0 + 4.0 * jitter) * min(model.window_h, 12.0) ** 0.8
        return mix_towards(value, max(value, target), i)
    if model.kind == "signal":
        if "rainstorm" in text or "暴雨" in text or "baoyu" in text:
            return float(Level.RED if red else Level.ORANGE) if i > 0.3 else value
        if sign.core == "S48" and model.adcode in RAIN_DISTRICTS and sign.dimension.startswith("dist"):
            return float(Level.RED if red else Level.ORANGE) if i > 0.3 else value  # worst signal there
        return value
    if model.kind == "temperature":
        return value - (3.0 if storm else 1.5) * i
    core = sign.core
    if core == "S47":  # visibility in heavy rain
        return mix_towards(value, (1_500 if storm else 5_000) + 1_000 * jitter, i)
    if core == "T28" or "积水" in text or "waterlog" in text:
        target = (18 + 14 * jitter) if storm or model.adcode == CITY_ADCODE else 3 + 10 * jitter  # urban: moderate rain
        return mix_towards(value, at_least(sign, target, Level.YELLOW, t) if storm else target, i)
    if any(name in text for name in _TRIBUTARIES):
        target = at_least(sign, value + 2.5, Level.YELLOW, t)
        return mix_towards(value, target, i)
    if core == "T26" and storm:
        return mix_towards(value, at_least(sign, value + 1.5, Level.BLUE, t), i)
    if core == "T27" and (storm or model.adcode == CITY_ADCODE):
        return value + round(i * (3 if model.adcode == CITY_ADCODE else 1 + 2 * jitter))
    if core in ("P05", "P09", "S53", "T25") and wet:
        factor = 1.0 + (0.8 if storm else 0.25) * i
        boosted = value * factor
        return at_least(sign, boosted, Level.BLUE, t) if storm and i > 0.8 and core in ("P05", "P09") else boosted
    if sign.module == "M15" and ("水务防汛" in text or "flood" in text) and wet:
        return value * (1.0 + 3.0 * i)
    return value


_QUEUE_WORDS = ("queue", "排队", "滞留", "queued")


def _holiday(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    i = state.intensity(t)
    if i <= 0:
        return value
    text = sign_text(sign)
    here = model.adcode == HOLIDAY_DISTRICT
    city = model.adcode == CITY_ADCODE
    jitter = hash01(model.key, 19)
    core = sign.core
    expressway = "class:exp" in sign.dimension or "expressway" in text or "高速" in text
    if core == "D29" and sign.unit != "s":
        if here:
            return mix_towards(value, at_least(sign, 8.6 + 0.6 * jitter, Level.ORANGE, t), i)
        if expressway:  # the jam on the 邓保 expressway spills into the expressway index
            return mix_towards(value, at_least(sign, 6.4, Level.YELLOW, t), i)
        return value + (1.0 if city else 0.3) * i
    if core == "D30" and (here or expressway):
        target = 12.0 + 3 * jitter if here else value * 0.6
        return mix_towards(value, at_least(sign, target, Level.ORANGE if here else Level.YELLOW, t), i)
    if core == "D31" and (here or city):
        return mix_towards(value, at_least(sign, 24.0 if here else 7.0, Level.ORANGE if here else Level.NORMAL, t), i)
    if core == "D33" and here:
        return mix_towards(value, at_least(sign, 1.05, Level.ORANGE, t), i)
    if any(w in text for w in _QUEUE_WORDS) and (here or "石花" in text or "shihua" in text):
        return mix_towards(value, max(value, 900 + 600 * jitter), i)
    if core == "D32" and (here or city):
        factor = 3.0 if here else 1.3
        return at_least(sign, value * (1 + (factor - 1) * i), Level.ORANGE, t) if here and i > 0.9 else value * (
            1 + (factor - 1) * i
        )
    if core == "P02" and (here or city):
        return value * (1.0 + i)  # inbound visitors x2
    if core in ("P03", "P04") and here:  # 承恩寺 and the other sights of 谷城 fill up
        return value * (1.0 + 0.6 * i)
    if core in ("D35", "D37", "D39", "D40", "P03", "P04") and (here or city):
        return value * (1.0 + 0.25 * i)
    if core in ("P05", "T25") and here:  # calls about the jam; cameras flag the queue
        return value * (1.0 + 0.8 * i)
    return value


SCENARIO_EFFECTS: dict[str, Callable[[Sign, SignModel, float, ScenarioState, float], float]] = {
    SCENARIO_RAINSTORM: _rainstorm,
    SCENARIO_HOLIDAY: _holiday,
}


# Scenario effects as ground truth ------------------------------------------------------------------------------

EFFECT_STEP_S = 300.0  # how finely scenario_effects samples the story (simulated seconds)
EFFECT_HOLD_S = 600.0  # a level is the one an effect drives its sign to once it holds that long


@dataclass(frozen=True, slots=True)
class Effect:
    """What a scenario does to one sign: it moves the sign away from the normal city from `start` until `end`
    (simulated time) and drives it to `level`, by the sign's bounds of the moment, held from `reached` on. NORMAL:
    the scenario moves the sign without taking it past a bound."""

    scenario: str
    sign_id: str
    level: Level
    start: float
    reached: float
    end: float


def effect_from_samples(
    scenario: str, sign_id: str, samples: list[tuple[float, bool, Level]], step_s: float
) -> Effect | None:
    """The effect seen in (time, moved, level) samples taken every step_s: the highest level held EFFECT_HOLD_S."""
    moved = [t for t, is_moved, _ in samples if is_moved]
    if not moved:
        return None
    needed = max(1, math.ceil(EFFECT_HOLD_S / step_s))
    for level in (Level.RED, Level.ORANGE, Level.YELLOW, Level.BLUE):
        run: list[float] = []
        for t, _, seen in samples:
            run = [*run, t] if seen >= level else []
            if len(run) >= needed:
                return Effect(scenario, sign_id, level, moved[0], run[0], moved[-1] + step_s)
    return Effect(scenario, sign_id, Level.NORMAL, moved[0], moved[0], moved[-1] + step_s)


def sample_times(state: ScenarioState, t0: float, t1: float, step_s: float) -> list[float]:
    first = max(t0, state.start)
    return [first + k * step_s for k in range(max(0, math.ceil((t1 - first) / step_s)))]


def scenario_effects(
    catalogue: Catalogue, state: ScenarioState, t0: float, t1: float, step_s: float = EFFECT_STEP_S
) -> list[Effect]:
    """The signs a scenario's story moves during [t0, t1) and the level it drives each to: the scenario's value
    model against the normal city's, sampled every step_s (pure; the ground truth of a scenario run). Sensor signs
    only; the camera signs' are camera_effects(), and aggregates follow their inputs."""
    effect = SCENARIO_EFFECTS.get(state.name or "")
    if effect is None:
        return []
    ensure_prepared(catalogue)
    times = sample_times(state, t0, t1, step_s)
    found = []
    for sign in catalogue.signs.values():
        if not isinstance(sign.source, MqttSource):
            continue
        samples = []
        for t in times:
            value = value_at(sign, t, state)
            level = level_of(value, thresholds_at(sign, t), sign.direction)
            samples.append((t, value != value_at(sign, t, NO_SCENARIO), level))
        found_effect = effect_from_samples(state.name or "", sign.id, samples, step_s)
        if found_effect is not None:
            found.append(found_effect)
    return found
