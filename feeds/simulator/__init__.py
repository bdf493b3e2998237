"""The city simulator: every MQTT-sourced sign at its cadence and 71,591 camera heartbeats, over the contract.

One module per job: ``clock`` (the simulated clock and local time), ``noise`` (deterministic hashing and smooth
noise), ``values`` (the pure value model and its injected incidents), ``scenarios`` (the stories and what they do to
the signs), ``cameras`` (the camera fleet and its statuses), ``publisher`` (the MQTT publishing loop) and ``cli``
(``python -m feeds simulate``). This package exports what the rest of City Eye uses.

Time. The model runs on a *simulated* clock; payloads carry *real* wall-clock time. With ``--speed N``
the simulated clock advances N times faster than the wall clock and every sign group is published N
times more often (``cadence_s / N``, never faster than ``MIN_INTERVAL_S``), so a day of city life
plays in 24/N hours. Payload timestamps stay the wall-clock moment of publishing because the ingest
rejects readings more than 5 minutes in the future (and history is keyed by source time): a sped-up
demo therefore shows a compressed day in real time rather than readings stamped in the future. The
simulator keeps its story clock in Redis (``signs.storyclock``; ``publisher.StoryAnnouncer``), through which the
alert engine, the board and the pages map each stamp to simulated time, so such a demo's simulated night meets the
night's bounds; ``--stamp simulated --start <a past moment>`` replays a past day with its own timestamps
instead (what bench/alert_truth.py does, durations then in simulated time too), and stops when simulated time
reaches the wall clock.

Camera heartbeats keep their *real* period (``--camera-heartbeat``, default 60 s) and real timestamps
whatever the speed: the ingest judges camera liveness on the wall clock (``camera_offline_after_s``), and
speeding the heartbeats up would multiply the load. Their *status* follows the simulated clock (mobile
units go off duty at simulated night, outages come and go in simulated time).

Stories. ``rainstorm`` (24 May, 南漳 and 保康) and ``holiday-congestion`` (1 May, the 石花 toll station) start on
their own date unless ``--start`` says otherwise, and unfold at a physical pace in simulated time.

Ground truth. Injected incidents and scenario effects are pure functions of sign and time:
``incidents_between(catalogue, t0, t1)`` lists the incidents with the level each aims at, ``scenario_effects`` and
``camera_effects`` list the signs a scenario moves and the level it drives each to, ``declared_effects`` what each
story promises a viewer. A normal simulated day raises exactly its incidents' alerts.
"""

from feeds.simulator.cameras import (
    CAMERA_FAULT,
    CAMERA_OFFLINE,
    CAMERA_ONLINE,
    CAMERA_SILENT,
    CameraFleet,
    camera_effects,
    camera_sign_values,
    camera_statuses,
    load_fleet,
)
from feeds.simulator.cli import main
from feeds.simulator.clock import SimClock
from feeds.simulator.publisher import (
    MIN_INTERVAL_S,
    Group,
    Simulator,
    group_payload,
    publish_all_once,
    publish_interval,
    sign_groups,
)
from feeds.simulator.scenarios import (
    EFFECT_HOLD_S,
    NO_SCENARIO,
    OUTAGE_DISTRICT,
    RAIN_DISTRICTS,
    SCENARIO_CAMERA_OUTAGE,
    SCENARIO_HOLIDAY,
    SCENARIO_RAINSTORM,
    SCENARIOS,
    STORIES,
    Declared,
    Effect,
    ScenarioState,
    Story,
    declared_effects,
    scenario_effects,
)
from feeds.simulator.values import Incident, Profile, incidents_between, model_for, prepare, value_at

__all__ = [
    "CAMERA_FAULT",
    "CAMERA_OFFLINE",
    "CAMERA_ONLINE",
    "CAMERA_SILENT",
    "EFFECT_HOLD_S",
    "MIN_INTERVAL_S",
    "NO_SCENARIO",
    "OUTAGE_DISTRICT",
    "RAIN_DISTRICTS",
    "SCENARIOS",
    "SCENARIO_CAMERA_OUTAGE",
    "SCENARIO_HOLIDAY",
    "SCENARIO_RAINSTORM",
    "STORIES",
    "CameraFleet",
    "Declared",
    "Effect",
    "Group",
    "Incident",
    "Profile",
    "ScenarioState",
    "SimClock",
    "Simulator",
    "Story",
    "camera_effects",
    "camera_sign_values",
    "camera_statuses",
    "declared_effects",
    "group_payload",
    "incidents_between",
    "load_fleet",
    "main",
    "model_for",
    "prepare",
    "publish_all_once",
    "publish_interval",
    "scenario_effects",
    "sign_groups",
    "value_at",
]
