"""Ground truth for the alert engine: simulated days through the real pipeline, alerts against what was injected.

Run by hand:  .venv/bin/python bench/alert_truth.py [--speed 240] [--hours 24] [--runs weekday,weekend,rainstorm,...]

Each run starts its own redis-server and mosquitto on free ports, then the real processes as `make run` does:
`python -m feeds worker`, `python -m feeds rollup`, `python -m alerts run` and `python -m feeds simulate`
(simulator -> broker -> worker -> Redis -> roll-up -> engine). The runs: a normal working day (`weekday`), a normal
Saturday (`weekend`) and each scenario (`rainstorm` and `camera-outage` on the working day, `holiday-congestion` on
the Saturday, each from its story's hour: the rainstorm at 10:00, the jam at 07:00), 24 simulated hours each at
`--speed` (240: six real minutes a day). A story's own date (24 May, 1 May) is months past, beyond what the ingest
takes, so the bench tells it on a day in reach.

Time. The simulator replays a past day with its own timestamps (`--stamp simulated --start <day>`), not with the wall
clock and its story clock (`make run SPEED=...`, signs/storyclock.py): the story clock puts hour-of-week bounds at the
simulated hour either way, but the rules' durations are measured in source time, and at speed 240 wall-clock stamps
would shrink a two-hour effect to 30 s of stamps, under the clear and hold durations. With simulated stamps the story
clock maps each stamp to itself. Consequences, all set below:
  * durations are measured in source time, so ALERT_RAISE_AFTER_S and ALERT_CLEAR_AFTER_S keep their meaning in
    simulated seconds and need no scaling; escalation limits (ALERT_TIME_SCALE) play no part in what is raised;
  * camera signs are computed by the roll-up from heartbeats that keep the wall clock (their period is real:
    the ingest judges liveness on it), so the camera rule's ALERT_CAMERA_RAISE_AFTER_S stays in real seconds, and
    camera alerts are put on the simulated clock through the simulator's logged clock origin;
  * the day is in the past, so ALERT_MAX_READING_AGE_S is raised to 9 days (a replayed reading is news), and the
    no-data rule, which compares source time with the wall clock, is switched off (ALERT_NODATA_MIN_S=1e9): it
    would find every replayed sensor silent; it has its own tests. The day must lie within INGEST_MAX_PAST_S (8
    days), so the runs replay the latest working day and Saturday that are over.
  * camera alerts raised in the fleet's first heartbeat period (CAMERA_HEARTBEAT_S from the simulator's first
    heartbeat, plus the camera rule's duration) are left out and counted apart: until every camera has reported
    once, the ones not yet heard count as offline. That warm-up is the roll-up's business (it waits one period from
    the ingest coming up, and the simulator starts a little later).

Ground truth is feeds.simulator's: `incidents_between` (injected incidents and the level each aims at), and for
scenarios `scenario_effects` and `camera_effects` (the signs a story moves and the level it drives each to): they
explain alerts. Recall is measured against the incidents and, for a scenario, its `declared_effects` (what the story
promises a viewer) and the camera signs it takes past a bound.

Prints per run: alerts raised by severity; precision = alerts explained by an incident or effect on the same sign
or on one of its inputs (its station, district...), under way from at most BEFORE_S after the alert's condition
began until AFTER_S before it; recall = incidents and effects (those that reach a level) that raised an alert on
their sign within that window, or found one already open on it; per severity. Targets: normal days precision
100 %, at most 30 alerts, none red; each scenario recall >= 95 % of its declared effects.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from alerts.model import Alert  # noqa: E402
from alerts.store import list_recent  # noqa: E402
from config import PROJECT_ROOT, Settings  # noqa: E402
from feeds import simulator as sim  # noqa: E402
from services.embedded import start_broker, start_redis  # noqa: E402
from signs.catalogue import catalogue  # noqa: E402
from signs.citytime import CITY_TZ  # noqa: E402
from signs.keys import KEY_READINGS, KEY_WORKER_PATTERN, alert_engine_key  # noqa: E402
from signs.model import Catalogue, Derivation, DeriveOp, Level  # noqa: E402

RUNS = ("weekday", "weekend", sim.SCENARIO_RAINSTORM, sim.SCENARIO_HOLIDAY, sim.SCENARIO_CAMERA_OUTAGE)
TAIL_S = 15 * 60.0  # simulated past the scored stretch, so that what begins near its end still lands and is evaluated
BEFORE_S = 15 * 60.0  # an alert's condition may begin this long before its cause's first sample (5 min apart)...
AFTER_S = 30 * 60.0  # ...and this long after the cause ended (the last readings of a ramp, a slow aggregate)
MAX_ALERTS_NORMAL_DAY = 30
RECALL_TARGET = 0.95
ENGINE_ID = "cityeye-alerts-1"
_CAMERA_OPS = (DeriveOp.CAMERA_ONLINE_RATE, DeriveOp.CAMERA_ONLINE_COUNT)
_CLOCK_ORIGIN = re.compile(r"clock origin: real ([0-9.]+) = simulated ([0-9.]+), speed ([0-9.]+)")


# Ground truth and scoring (pure) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cause:
    """Something the simulator did to a sign: an injected incident or a scenario's effect (simulated times)."""

    kind: str  # "incident" or the scenario's name
    sign_id: str
    level: Level  # NORMAL: moved without a breach; explains, but is not expected to raise
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Truth:
    """What explains an alert (every incident and effect), and what should raise one: the incidents that reach a
    level, and a scenario's declared effects (with the camera signs its cameras move)."""

    causes: list[Cause]
    expected: list[Cause]


def ground_truth(
    cat: Catalogue, state: sim.ScenarioState, t0: float, t1: float, fleet: sim.CameraFleet | None
) -> Truth:
    """Incidents and scenario effects of [t0, t1). A scenario's story takes over the signs it moves (a storm's
    visibility replaces the incident's): their incidents are left out. A declared effect the model does not produce
    is expected all the same, from the story's start: it counts as missed."""
    effects = sim.scenario_effects(cat, state, t0, t1)
    cameras = sim.camera_effects(cat, fleet, state, t0, t1) if fleet is not None else []
    moved = {e.sign_id for e in [*effects, *cameras]}
    incidents = [i for i in sim.incidents_between(cat, t0, t1) if i.sign_id not in moved]
    causes = [Cause("incident", i.sign_id, i.level, i.start, i.end) for i in incidents]
    causes += [Cause(e.scenario, e.sign_id, e.level, e.start, e.end) for e in [*effects, *cameras]]
    by_sign = {e.sign_id: e for e in effects}
    declared = []
    for promise in sim.declared_effects(state.name):
        seen = by_sign.get(promise.sign_id)
        start, end = (seen.start, seen.end) if seen is not None else (state.start, state.start)
        declared.append(Cause(state.name or "", promise.sign_id, promise.level, start, end))
    declared += [Cause(e.scenario, e.sign_id, e.level, e.start, e.end) for e in cameras if e.level > Level.NORMAL]
    expected = [c for c in causes if c.kind == "incident" and c.level > Level.NORMAL] + declared
    return Truth(causes, expected)


def inputs_of(cat: Catalogue, sign_id: str) -> set[str]:
    """The sign and every sign its value is computed from (not weights), down to the sensors."""
    found, todo = {sign_id}, [sign_id]
    while todo:
        source = cat.signs[todo.pop()].source
        if isinstance(source, Derivation):
            for input_id in source.inputs:
                if input_id not in found:
                    found.add(input_id)
                    todo.append(input_id)
    return found


@dataclass(frozen=True, slots=True)
class Raised:
    """An alert with the simulated times its condition began and (if it has) cleared."""

    alert: Alert
    at: float
    cleared: float | None = None


@dataclass
class Score:
    raised: list[Raised]
    explained: dict[str, Cause | None]  # alert id -> the cause found
    expected: list[Cause]  # causes that reach a level
    recalled: dict[Cause, Raised | None]
    left_out: list[Raised] = field(default_factory=list)  # camera alerts of the warm-up: out of the precision

    def by_level(self) -> dict[Level, tuple[int, int]]:
        """Per severity (peak level): (explained, raised)."""
        out: dict[Level, tuple[int, int]] = {}
        for r in self.raised:
            ok, n = out.get(r.alert.peak_level, (0, 0))
            out[r.alert.peak_level] = (ok + (self.explained[r.alert.id] is not None), n + 1)
        return out

    def recall_by_level(self) -> dict[Level, tuple[int, int]]:
        out: dict[Level, tuple[int, int]] = {}
        for cause, found in self.recalled.items():
            ok, n = out.get(cause.level, (0, 0))
            out[cause.level] = (ok + (found is not None), n + 1)
        return out

    @property
    def precision(self) -> float:
        return sum(c is not None for c in self.explained.values()) / len(self.raised) if self.raised else 1.0

    @property
    def recall(self) -> float:
        return sum(r is not None for r in self.recalled.values()) / len(self.recalled) if self.recalled else 1.0


def _covers(r: Raised, cause: Cause) -> bool:
    """An alert on the cause's sign, raised during it or already open when it began (the sign was on the wall)."""
    if r.alert.sign_id != cause.sign_id or r.at > cause.end + AFTER_S:
        return False
    return r.at >= cause.start - BEFORE_S or (r.cleared is None or r.cleared >= cause.start)


def score(cat: Catalogue, raised: Iterable[Raised], truth: Truth, left_out: Iterable[Raised] = ()) -> Score:
    """Precision over the alerts raised (explained by any cause); recall of what is expected over them and the
    warm-up's (a true alert may come that early)."""
    causes = truth.causes
    raised, left_out = sorted(raised, key=lambda r: r.at), sorted(left_out, key=lambda r: r.at)
    explained: dict[str, Cause | None] = {}
    for r in raised:
        inputs = inputs_of(cat, r.alert.sign_id)
        explained[r.alert.id] = next(
            (c for c in causes if c.sign_id in inputs and c.start - BEFORE_S <= r.at <= c.end + AFTER_S), None
        )
    expected = truth.expected
    every = [*raised, *left_out]
    recalled = {c: next((r for r in every if _covers(r, c)), None) for c in expected}
    return Score(raised, explained, expected, recalled, list(left_out))


# Running the pipeline ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockOrigin:
    real: float
    simulated: float
    speed: float

    def simulated_at(self, real: float) -> float:
        return self.simulated + (real - self.real) * self.speed


@dataclass
class Replay:
    alerts: list[Alert]
    origin: ClockOrigin
    ingest_up: float  # wall-clock time the feed worker came up
    state: sim.ScenarioState
    evaluated: int  # readings the alert engine evaluated: the pipeline did carry the day


class _Children:
    def __init__(self, env: dict[str, str], log_dir: Path, tag: str) -> None:
        self.env, self.log_dir, self.tag = env, log_dir, tag
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{self.tag}-{name}.log").open("wb") as log:
            process = subprocess.Popen([sys.executable, *argv], env=self.env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.log_dir / f"{self.tag}-{name}.log").read_text(errors="replace")

    def check(self) -> None:
        for name, process in self.processes.items():
            if process.poll() not in (None, 0):
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)[-2000:]}")

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait(predicate: object, timeout_s: float, what: str, children: _Children) -> None:
    deadline = time.time() + timeout_s
    while not predicate():  # type: ignore[operator]
        children.check()
        if time.time() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def _drained(client: redis.Redis) -> bool:
    """The engine has evaluated and acknowledged every readings entry."""
    groups = client.xinfo_groups(KEY_READINGS)
    return all(g.get("pending", 0) == 0 and (g.get("lag") or 0) == 0 for g in groups)


def replay(
    redis_url: str,
    mqtt_url: str,
    start: float,
    hours: float,
    speed: float,
    scenario: str | None,
    log_dir: Path,
    *,
    cameras: bool = True,
    outage_s: float = 300.0,
    tag: str = "truth",
) -> Replay:
    """One simulated stretch through the real processes; every alert raised, with the simulator's clock origin."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "MQTT_URL": mqtt_url,
        "PYTHONPATH": str(PROJECT_ROOT),
        "MQTT_CLIENT_PREFIX": f"{tag}-{os.getpid()}",
        "MQTT_SHARED_GROUP": "",
        "ALERT_MAX_READING_AGE_S": str(9 * 86_400),
        "ALERT_NODATA_MIN_S": "1e9",
    }
    children = _Children(env, log_dir, tag)
    try:
        children.start("worker", "-m", "feeds", "worker", "--name", "1")
        children.start("rollup", "-m", "feeds", "rollup")
        children.start("alerts", "-m", "alerts", "run")
        worker_up = lambda: next(client.scan_iter(match=KEY_WORKER_PATTERN), None) is not None  # noqa: E731
        _wait(worker_up, 60, "the feed worker", children)
        ingest_up = time.time()
        _wait(lambda: client.get(alert_engine_key(ENGINE_ID)), 60, "the alert engine", children)
        local_start = datetime.fromtimestamp(start, CITY_TZ).isoformat(timespec="seconds")
        simulated_s = hours * 3600.0 + TAIL_S
        argv = ["-m", "feeds", "simulate", "--speed", f"{speed:g}", "--start", local_start, "--stamp", "simulated",
                "--duration", f"{simulated_s / speed:.3f}", "--outage-s", f"{outage_s:g}"]  # fmt: skip
        argv += ["--scenario", scenario] if scenario else []
        argv += [] if cameras else ["--no-cameras"]
        simulator = children.start("simulator", *argv)
        simulator.wait(simulated_s / speed + 180.0)
        if simulator.returncode != 0:
            tail = children.log("simulator")[-2000:]
            raise RuntimeError(f"the simulator exited with {simulator.returncode}:\n{tail}")
        match = _CLOCK_ORIGIN.search(children.log("simulator"))
        if match is None:
            raise RuntimeError("the simulator logged no clock origin")
        origin = ClockOrigin(float(match[1]), float(match[2]), float(match[3]))
        time.sleep(3.0)  # the last messages through the worker and a roll-up tick
        _wait(lambda: _drained(client), 60, "the alert engine to drain the readings stream", children)
        alerts = list_recent(client, limit=1_000_000)
        evaluated = int(json.loads(client.get(alert_engine_key(ENGINE_ID)) or b"{}").get("readings", 0))
    finally:
        children.stop()
    state = sim.ScenarioState(scenario, origin.simulated, sim.OUTAGE_DISTRICT, speed, outage_s)
    return Replay(alerts, origin, ingest_up, state, evaluated)


def is_camera_sign(cat: Catalogue, sign_id: str) -> bool:
    source = cat.signs[sign_id].source
    return isinstance(source, Derivation) and source.op in _CAMERA_OPS


def raised_on_the_simulated_clock(
    cat: Catalogue, run: Replay, settings: Settings, until: float
) -> tuple[list[Raised], list[Raised]]:
    """Every alert whose condition began before `until` (the end of the scored stretch), at that simulated time;
    camera alerts of the warm-up apart: those raised before the whole fleet has sent its first heartbeat (one period
    after the later of the ingest coming up and the simulator's first heartbeat), plus the camera rule's duration."""
    first_heartbeats = max(run.ingest_up, run.origin.real)
    warm_up_until = first_heartbeats + settings.camera_heartbeat_s + settings.alert_camera_raise_after_s + 10.0
    raised: list[Raised] = []
    left_out: list[Raised] = []
    for alert in run.alerts:
        # Clears are stamped by the engine's wall clock: on the simulated clock through the simulator's origin.
        cleared = None if alert.cleared_at is None else run.origin.simulated_at(alert.cleared_at)
        camera = is_camera_sign(cat, alert.sign_id)
        seen = Raised(alert, run.origin.simulated_at(alert.since) if camera else alert.since, cleared)
        if seen.at >= until:
            continue
        (left_out if camera and alert.raised_at < warm_up_until else raised).append(seen)
    return raised, left_out


# Reporting ---------------------------------------------------------------------------------------------------


def past_days(now: float) -> tuple[float, float]:
    """Midnight (Beijing) starting the latest working day (Tue-Thu) and the latest Saturday that are over."""
    today = datetime.fromtimestamp(now, CITY_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=n) for n in range(1, 8)]
    weekday = next(d for d in days if d.weekday() in (1, 2, 3))
    saturday = next(d for d in days if d.weekday() == 5)
    return weekday.timestamp(), saturday.timestamp()


def _levels(counts: dict[Level, tuple[int, int]]) -> str:
    parts = [f"{level.en} {ok}/{n}" for level, (ok, n) in sorted(counts.items())]
    return ", ".join(parts) if parts else "none"


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, CITY_TZ).strftime("%a %H:%M")


def report(name: str, cat: Catalogue, result: Score, normal: bool) -> list[tuple[str, bool]]:
    raised = result.raised
    levels = {level: sum(r.alert.peak_level == level for r in raised) for level in Level if level > Level.NORMAL}
    print(f"  alerts raised: {len(raised)} ({', '.join(f'{lv.en} {n}' for lv, n in levels.items())})"
          f"; {len(result.left_out)} camera alerts of the warm-up left out of the precision")  # fmt: skip
    explained = sum(c is not None for c in result.explained.values())
    print(f"  precision: {explained}/{len(raised)} = {100 * result.precision:.1f} %  [{_levels(result.by_level())}]")
    found = sum(r is not None for r in result.recalled.values())
    kinds = sorted({c.kind for c in result.expected})
    print(f"  recall: {found}/{len(result.recalled)} = {100 * result.recall:.1f} % of {' and '.join(kinds) or 'causes'}"
          f"  [{_levels(result.recall_by_level())}]")  # fmt: skip
    for r in raised:
        if result.explained[r.alert.id] is None:
            a = r.alert
            print(f"    unexplained: {_when(r.at)} {a.peak_level.en:6} {a.sign_id} {a.name} = {a.value:g} {a.unit}")
    for cause, hit in result.recalled.items():
        if hit is None:
            print(f"    missed: {_when(cause.start)}-{_when(cause.end)} {cause.kind} {cause.level.en} {cause.sign_id} "
                  f"{cat.signs[cause.sign_id].name_zh}")  # fmt: skip
    if normal:
        return [
            (f"{name}: precision 100 %", result.precision == 1.0),
            (f"{name}: at most {MAX_ALERTS_NORMAL_DAY} alerts", len(raised) <= MAX_ALERTS_NORMAL_DAY),
            (f"{name}: none red", levels[Level.RED] == 0),
        ]
    scenario_causes = {c: r for c, r in result.recalled.items() if c.kind != "incident"}
    share = sum(r is not None for r in scenario_causes.values()) / len(scenario_causes) if scenario_causes else 0.0
    print(f"  recall of the scenario's declared effects: {100 * share:.1f} % of {len(scenario_causes)}")
    return [(f"{name}: recall >= {100 * RECALL_TARGET:.0f} % of declared effects", share >= RECALL_TARGET)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=240.0, help="simulated seconds per real second")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours per run")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--outage-s", type=float, default=300.0, help="camera-outage length, real seconds")
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = set(runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    cat, settings = catalogue(), Settings()
    weekday, saturday = past_days(time.time())
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; speed {args.speed:g}, "
          f"{args.hours:g} simulated hours a run ({args.hours * 3600 / args.speed / 60:.1f} real minutes)")  # fmt: skip
    fleet = sim.load_fleet()
    verdicts: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="bench-alert-truth-") as tmp:
        redis_service = start_redis(Path(tmp) / "redis", appendfsync="no")
        broker = start_broker(Path(tmp) / "mqtt")
        try:
            for name in runs:
                start = saturday if name in ("weekend", sim.SCENARIO_HOLIDAY) else weekday
                scenario = name if name in sim.SCENARIOS else None
                story = sim.STORIES.get(scenario or "")
                start += story.hour * 3600.0 if story is not None else 0.0  # the story's hour on a day in reach
                print(f"\n{name}: {_when(start)[:3]} {datetime.fromtimestamp(start, CITY_TZ):%Y-%m-%d}"
                      f"{f', scenario {scenario}' if scenario else ''}", flush=True)  # fmt: skip
                began = time.time()
                run = replay(redis_service.url, broker.url, start, args.hours, args.speed, scenario, Path(tmp),
                             outage_s=args.outage_s, tag=name)  # fmt: skip
                end = start + args.hours * 3600.0
                raised, left_out = raised_on_the_simulated_clock(cat, run, settings, end)
                truth = ground_truth(cat, run.state, start, end, fleet)
                result = score(cat, raised, truth, left_out)
                print(f"  {time.time() - began:.0f} s real; the engine evaluated {run.evaluated:,} readings; "
                      f"{len(truth.causes)} causes in the ground truth")  # fmt: skip
                verdicts += report(name, cat, result, normal=scenario is None)
        finally:
            broker.stop()
            redis_service.stop()
    print("\nverdicts:")
    for what, ok in verdicts:
        print(f"  {'PASS' if ok else 'MISS'}  {what}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
