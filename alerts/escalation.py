"""Escalation: an alert's deadlines from its raise and severity, the stage it has reached, and its countdown.

The limits are those of linked emergency handling (30-minute response, 2-hour handling, 24-hour feedback),
configurable per severity. Every function takes `now`, so the clock is the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from alerts.model import LEVEL_BY_NAME, Alert, Deadlines
from config import Settings
from signs.model import Level


class Stage(IntEnum):
    """How far an alert has escalated; it never goes back."""

    NONE = 0
    RESPONSE = 1  # not acknowledged within the response limit
    HANDLING = 2  # the condition still holds past the handling limit
    FEEDBACK = 3  # still open past the feedback limit

    @property
    def zh(self) -> str:
        return ("", "响应超时", "处置超时", "反馈超时")[self]

    @property
    def en(self) -> str:
        return ("none", "response overdue", "handling overdue", "feedback overdue")[self]


@dataclass(frozen=True, slots=True)
class Limits:
    response_s: float
    handling_s: float
    feedback_s: float


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    limits: Mapping[Level, Limits]
    # Demonstrations only: limits pass this many times faster.
    time_scale: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EscalationPolicy:
        limits = {LEVEL_BY_NAME[name]: Limits(*seconds) for name, seconds in settings.alert_limits.items()}
        return cls(limits=limits, time_scale=settings.alert_time_scale)

    def deadlines(self, raised_at: float, level: Level) -> Deadlines:
        """Deadlines of an alert raised at `raised_at` whose severity reached `level` (its peak, so that a value
        easing off does not relax them)."""
        limits = self.limits[level]
        return Deadlines(
            response=raised_at + limits.response_s / self.time_scale,
            handling=raised_at + limits.handling_s / self.time_scale,
            feedback=raised_at + limits.feedback_s / self.time_scale,
        )


def stage_reached(alert: Alert, now: float) -> Stage:
    """The furthest stage whose limit has passed for this alert as it stands. Handling concerns an alert whose
    condition still holds; feedback (an officer's closing word) any alert still open."""
    stage = Stage.NONE
    if alert.status.is_open and alert.acknowledged is None and now >= alert.due.response:
        stage = Stage.RESPONSE
    if alert.status.condition_holds and now >= alert.due.handling:
        stage = Stage.HANDLING
    if alert.status.is_open and now >= alert.due.feedback:
        stage = Stage.FEEDBACK
    return stage


def escalation_due(alert: Alert, now: float) -> Stage | None:
    """The stage to escalate the alert to now, or None. A silenced alert is not escalated while its silence
    lasts; once it ends, any limit passed in the meantime escalates it at the next tick."""
    if alert.silence is not None and now < alert.silence.until:
        return None
    reached = stage_reached(alert, now)
    return reached if reached > alert.escalation else None


@dataclass(frozen=True, slots=True)
class Countdown:
    stage: Stage  # the stage that passing `due_at` leads to
    due_at: float
    remaining_s: float  # negative once overdue


def countdown(alert: Alert, now: float) -> Countdown | None:
    """The next deadline the alert faces, for the wall's and the alerts page's countdown: the earliest one still
    ahead, or the last one, overdue, when all have passed. None for closed alerts."""
    if not alert.status.is_open:
        return None
    ahead: list[tuple[Stage, float]] = []
    if alert.acknowledged is None:
        ahead.append((Stage.RESPONSE, alert.due.response))
    if alert.status.condition_holds:
        ahead.append((Stage.HANDLING, alert.due.handling))
    ahead.append((Stage.FEEDBACK, alert.due.feedback))
    stage, due_at = next(((s, t) for s, t in ahead if t > now), ahead[-1])
    return Countdown(stage, due_at, due_at - now)
