"""The alerts page's read model and the alerts API's reads, under the user's scope (auth.scope): open alerts in
the pressing order with the severity counts, the incidents and silences, and the detail of the selected alert or
incident. A refresh reads one audit id and nothing more unless an alert or a silence changed since the page's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import redis

from alerts import store
from alerts.incidents import IncidentView, TimelineEntry
from alerts.model import Alert, Silence, Transition, pressing_first, severity_counts
from alerts.officer import AlertFilter, select_alerts
from auth.scope import Scope
from signs.keys import KEY_ALERTS_AUDIT
from signs.replies import stream_revrange


def newest_audit(client: redis.Redis) -> str:
    """Id of the newest audit entry: any change to any alert or silence writes one. Empty before the first."""
    newest = stream_revrange(client, KEY_ALERTS_AUDIT, count=1)
    return newest[0][0].decode() if newest else ""


def scoped_filter(wanted: AlertFilter, scope: Scope) -> AlertFilter:
    """The filter narrowed to the user's district when it names none: read only the district's, not the city's and
    then filter."""
    if scope.whole_city or wanted.district:
        return wanted
    return replace(wanted, district=scope.district)


def scoped_alerts(client: redis.Redis, wanted: AlertFilter, scope: Scope) -> list[Alert]:
    """The alerts the filter selects that the scope covers, in the pressing order."""
    return [a for a in select_alerts(client, scoped_filter(wanted, scope)) if scope.covers_alert(a)]


def scoped_incidents(client: redis.Redis, district: str, scope: Scope, recent: int = 0) -> list[IncidentView]:
    """Incidents of the district (the scope's when empty and the user is a leader) that the scope covers."""
    wanted = district or (None if scope.whole_city else scope.district)
    return [i for i in store.list_incidents(client, recent=recent, district=wanted) if scope.covers(i.district)]


def scoped_silences(client: redis.Redis, scope: Scope, now: float | None = None) -> list[Silence]:
    return [s for s in store.list_silences(client, now=now) if scope.covers_silence(s)]


@dataclass(frozen=True)
class AlertsPage:
    """The page's lists: every open alert the scope covers counted by severity, those the filter lists, the open
    incidents with a member it matches, and the silences."""

    audit: str
    counts: dict[str, int]
    listed: list[Alert]
    incidents: list[IncidentView]
    silences: list[Silence]


def alerts_page(client: redis.Redis, wanted: AlertFilter, scope: Scope, audit: str, now: float) -> AlertsPage:
    everything_open = [a for a in store.list_active(client) if scope.covers_alert(a)]
    narrowed = scoped_filter(wanted, scope)
    listed = (
        scoped_alerts(client, narrowed, scope)
        if narrowed.wants_closed
        else pressing_first(a for a in everything_open if narrowed.matches(a))
    )
    incidents = scoped_incidents(client, narrowed.district, scope)
    matching = [i for i in incidents if any(narrowed.matches(a) for a in i.open_members)]
    return AlertsPage(audit, severity_counts(everything_open), listed, matching, scoped_silences(client, scope, now))


@dataclass(frozen=True)
class Detail:
    """The detail pane: the selected alert with its history, else the selected incident with its timeline, else
    nothing selected. `key` is what the drawn pane depends on (versions), so an unchanged pane is not redrawn;
    `out_of_scope` when the selection exists but lies outside the user's district."""

    key: str
    alert: Alert | None = None
    history: list[Transition] = field(default_factory=list)
    incident: IncidentView | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    out_of_scope: bool = False

    @property
    def is_incident(self) -> bool:
        return self.key.startswith("incident:")

    @property
    def nothing_selected(self) -> bool:
        return not self.key


def detail_key(alert: Alert | None, selected: str) -> str:
    """What the drawn detail depends on: the selected alert and its version (every transition bumps it)."""
    return f"{selected}:{alert.version if alert else 0}"


def incident_detail_key(incident: IncidentView | None, selected: str) -> str:
    """What a drawn incident depends on: its version and every member's (a member's transition changes it)."""
    if incident is None:
        return f"incident:{selected}:0"
    return f"incident:{selected}:{incident.incident.version}:{sum(a.version for a in incident.members)}"


def read_detail(
    client: redis.Redis, selected: str, incident_id: str, scope: Scope, held_key: str | None, redraw: bool
) -> Detail | None:
    """The detail pane to draw; None when what is drawn (`held_key`) is still current and no redraw is asked."""
    if not selected and incident_id:
        incident = store.get_incident(client, incident_id)
        key = incident_detail_key(incident, incident_id)
        if incident is not None and not scope.covers(incident.district):
            return Detail(key, incident=incident, out_of_scope=True)
        if key == held_key and not redraw:
            return None
        timeline = store.incident_timeline(client, incident_id) if incident else []
        return Detail(key, incident=incident, timeline=timeline)
    if not selected:
        return Detail("")
    alert = store.get_alert(client, selected)
    key = detail_key(alert, selected)
    if alert is not None and not scope.covers_alert(alert):
        return Detail(key, alert=alert, out_of_scope=True)
    if key == held_key and not redraw:
        return None
    return Detail(key, alert=alert, history=store.history(client, selected) if alert else [])
