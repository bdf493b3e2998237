"""The alerts page's callbacks. A refresh every few seconds costs one Redis read and sends nothing unless an
alert or a silence changed (the newest audit entry tells); countdowns tick in the browser (assets/alerts.js)
in between. What is read is what the user's scope covers (auth.scope), as in the API. Officers' actions
authorise server-side, as the API does, and act through the same functions, as the signed-in user."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from alerts import store
from alerts.incidents import IncidentView
from alerts.lifecycle import InvalidTransition
from alerts.model import SilenceScope
from alerts.officer import assignee_for, clean_note, silence_for
from auth.model import Permission, User
from auth.scope import current_scope
from auth.web import NotAllowed, authorize, current_user
from layouts import alerts as ids
from layouts.alerts import (
    AlertsView,
    beijing_time,
    counts_children,
    detail_children,
    incident_detail_children,
    incidents_children,
    list_children,
    may_act,
    out_of_scope,
    select_prompt,
    silences_children,
    text,
    view_of,
)
from signs.store import shared_redis
from views.alerts import Detail, alerts_page, newest_audit, read_detail

Action = Callable[[redis.Redis, User], str]
# The detail's buttons, in the order alert_action's actions are listed.
ALERT_BUTTONS = (ids.ACK_BUTTON, ids.RESOLVE_BUTTON, ids.SILENCE_BUTTON, ids.ASSIGN_BUTTON)
# The incident detail's buttons, in the order incident_action's actions are listed.
INCIDENT_BUTTONS = (ids.INCIDENT_ACK_BUTTON, ids.INCIDENT_RESOLVE_BUTTON, ids.INCIDENT_ASSIGN_BUTTON)


def detail_children_of(detail: Detail, view: AlertsView, may_act_now: bool, now: float) -> Any:
    """The detail pane drawn from views.alerts' Detail."""
    if detail.nothing_selected:
        return select_prompt(view.lang)
    if detail.out_of_scope:
        return out_of_scope(current_scope(), view.lang)
    if detail.is_incident:
        return incident_detail_children(detail.incident, detail.timeline, may_act_now, view, now)
    return detail_children(detail.alert, detail.history, may_act_now, now, view.lang)


def page_update(
    client: redis.Redis, view: AlertsView, held_audit: str | None, held_detail: str | None, acted: bool, now: float
) -> tuple[Any, ...]:
    """(counts, incidents, list, silences, detail, audit seen, detail seen) for the page, no_update where nothing
    changed. The detail is the selected alert's, else the selected incident's."""
    audit = newest_audit(client)
    if audit == held_audit and not acted:
        return (no_update,) * 7
    user_may_act = may_act(current_user())
    scope = current_scope()
    page = alerts_page(client, view.filter, scope, audit, now)
    found = read_detail(client, view.selected, view.incident, scope, held_detail, acted)
    detail = no_update if found is None else detail_children_of(found, view, user_may_act, now)
    seen_detail = held_detail if found is None else found.key
    return (
        counts_children(page.counts, view.lang),
        incidents_children(page.incidents, view),
        list_children(page.listed, view, now),
        silences_children(page.silences, user_may_act, view.lang),
        detail,
        page.audit,
        seen_detail,
    )


def run_action(action: Action, lang: str) -> html.Span:
    """Authorise, act, and say how it went: what the server refused is said, never swallowed."""
    t = text(lang)
    try:
        user = authorize(Permission.ACT)
        done = action(shared_redis(), user)
    except NotAllowed as error:
        return html.Span(f"{t['refused']}: {error}", className="error")
    except (store.AlertNotFound, store.SilenceNotFound, store.IncidentNotFound):
        return html.Span(f"{t['refused']}: {t['not_found']}", className="error")
    except (InvalidTransition, ValueError, redis.RedisError) as error:
        return html.Span(f"{t['refused']}: {error}", className="error")
    return html.Span(f"{t['done']}: {done}", className="ok")


def alert_action(trigger: str, alert_id: str, form: dict[str, Any], lang: str) -> Action:
    """The action a button of the detail's forms asks for, on the selected alert; it says what it did."""
    t = text(lang)

    def acknowledge(client: redis.Redis, user: User) -> str:
        store.acknowledge(client, alert_id, user.username, clean_note(form["ack_note"], required=False))
        return t["acknowledged_done"]

    def resolve(client: redis.Redis, user: User) -> str:
        store.resolve(client, alert_id, user.username, clean_note(form["resolve_note"], required=True))
        return t["resolved_done"]

    def silence(client: redis.Redis, user: User) -> str:
        alert = store.get_alert(client, alert_id)
        if alert is None:
            raise store.AlertNotFound(alert_id)
        target = alert.sign_id if form["scope"] == SilenceScope.SIGN.value else alert.district
        created = silence_for(
            client, form["scope"], target, form["minutes"], form["reason"], user.username, now=time.time()
        )
        return t["silenced_done"].format(until=beijing_time(created.until))

    def assign(client: redis.Redis, user: User) -> str:
        to = assignee_for(client, form.get("assign_to"), user)
        store.assign(client, alert_id, to, user.username, clean_note(form.get("assign_note"), required=False))
        return t["assigned_done"].format(to=to)

    return dict(zip(ALERT_BUTTONS, (acknowledge, resolve, silence, assign), strict=True))[trigger]


def incident_action(trigger: str, incident_id: str, form: dict[str, Any], lang: str) -> Action:
    """The action a button of the incident's forms asks for: on every member, with the one note."""
    t = text(lang)

    def readable(client: redis.Redis) -> IncidentView:
        found = store.get_incident(client, incident_id)
        if found is None:
            raise store.IncidentNotFound(incident_id)
        current_scope().require(found.district)
        return found

    def unacknowledged(incident: IncidentView) -> int:
        return sum(a.acknowledged is None and a.status.is_open for a in incident.members)

    def acknowledge(client: redis.Redis, user: User) -> str:
        before = readable(client)
        note = clean_note(form.get("note"), required=False)
        done = store.acknowledge_incident(client, incident_id, user.username, note)
        return t["incident_acknowledged_done"].format(n=unacknowledged(before) - unacknowledged(done))

    def resolve(client: redis.Redis, user: User) -> str:
        before = readable(client)
        done = store.resolve_incident(client, incident_id, user.username, clean_note(form.get("note"), required=True))
        return t["incident_resolved_done"].format(n=len(before.open_members) - len(done.open_members))

    def assign(client: redis.Redis, user: User) -> str:
        readable(client)
        to = assignee_for(client, form.get("assign_to"), user)
        store.assign_incident(client, incident_id, to, user.username, clean_note(form.get("note"), required=False))
        return t["assigned_done"].format(to=to)

    return dict(zip(INCIDENT_BUTTONS, (acknowledge, resolve, assign), strict=True))[trigger]


def bumped(acted: object) -> int:
    """The page's action counter, one up (the browser holds it: anything but a number starts it again)."""
    return acted + 1 if isinstance(acted, int) else 1


def lift_action(silence_id: str, lang: str) -> Action:
    def lift(client: redis.Redis, user: User) -> str:
        store.lift_silence(client, silence_id, user.username)
        return text(lang)["lifted_done"]

    return lift


def register(app: Dash) -> None:
    @app.callback(
        Output(ids.COUNTS, "children"),
        Output(ids.INCIDENTS, "children"),
        Output(ids.LIST, "children"),
        Output(ids.SILENCES, "children"),
        Output(ids.DETAIL, "children"),
        Output(ids.AUDIT_SEEN, "data"),
        Output(ids.DETAIL_SEEN, "data"),
        Input(ids.TICK, "n_intervals"),
        Input(ids.ACTED, "data"),
        State(ids.STATE, "data"),
        State(ids.AUDIT_SEEN, "data"),
        State(ids.DETAIL_SEEN, "data"),
    )
    def refresh(
        _n: int | None, _acted: int, href: str, held_audit: str | None, held_detail: str | None
    ) -> tuple[Any, ...]:
        view = view_of(href)
        try:
            return page_update(
                shared_redis(), view, held_audit, held_detail, ctx.triggered_id == ids.ACTED, time.time()
            )
        except redis.RedisError as error:
            # What is on screen stays, and says why it stopped changing.
            banner = html.P(f"Redis: {error}", className="error")
            return no_update, no_update, banner, no_update, no_update, no_update, no_update

    @app.callback(
        Output(ids.ACTION_RESULT, "children"),
        Output(ids.ACTED, "data"),
        Input(ids.ACK_BUTTON, "n_clicks"),
        Input(ids.RESOLVE_BUTTON, "n_clicks"),
        Input(ids.SILENCE_BUTTON, "n_clicks"),
        Input(ids.ASSIGN_BUTTON, "n_clicks"),
        State(ids.ACK_NOTE, "value"),
        State(ids.RESOLVE_NOTE, "value"),
        State(ids.SILENCE_SCOPE, "value"),
        State(ids.SILENCE_MINUTES, "value"),
        State(ids.SILENCE_REASON, "value"),
        State(ids.ASSIGN_TO, "value"),
        State(ids.ASSIGN_NOTE, "value"),
        State(ids.STATE, "data"),
        State(ids.ACTED, "data"),
        prevent_initial_call=True,
    )
    def act(
        _ack: int | None, _resolve: int | None, _silence: int | None, _assign: int | None,
        ack_note: str | None, resolve_note: str | None, scope: str | None, minutes: object, reason: str | None,
        assign_to: str | None, assign_note: str | None, href: str, acted: int | None,
    ) -> tuple[Any, Any]:  # fmt: skip
        trigger = ctx.triggered_id
        if not ctx.triggered or not ctx.triggered[0]["value"] or trigger not in ALERT_BUTTONS:
            return no_update, no_update
        view = view_of(href)
        form = {
            "ack_note": ack_note,
            "resolve_note": resolve_note,
            "scope": scope,
            "minutes": minutes,
            "reason": reason,
            "assign_to": assign_to,
            "assign_note": assign_note,
        }
        return run_action(alert_action(str(trigger), view.selected, form, view.lang), view.lang), bumped(acted)

    @app.callback(
        Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
        Output(ids.ACTED, "data", allow_duplicate=True),
        Input(ids.INCIDENT_ACK_BUTTON, "n_clicks"),
        Input(ids.INCIDENT_RESOLVE_BUTTON, "n_clicks"),
        Input(ids.INCIDENT_ASSIGN_BUTTON, "n_clicks"),
        State(ids.INCIDENT_NOTE, "value"),
        State(ids.INCIDENT_ASSIGN_TO, "value"),
        State(ids.STATE, "data"),
        State(ids.ACTED, "data"),
        prevent_initial_call=True,
    )
    def act_on_incident(
        _ack: int | None, _resolve: int | None, _assign: int | None, note: str | None, assign_to: str | None,
        href: str, acted: int | None,
    ) -> tuple[Any, Any]:  # fmt: skip
        trigger = ctx.triggered_id
        if not ctx.triggered or not ctx.triggered[0]["value"] or trigger not in INCIDENT_BUTTONS:
            return no_update, no_update
        view = view_of(href)
        form = {"note": note, "assign_to": assign_to}
        return run_action(incident_action(str(trigger), view.incident, form, view.lang), view.lang), bumped(acted)

    @app.callback(
        Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
        Output(ids.ACTED, "data", allow_duplicate=True),
        Input({"type": ids.LIFT_BUTTON, "silence": ALL}, "n_clicks"),
        State(ids.STATE, "data"),
        State(ids.ACTED, "data"),
        prevent_initial_call=True,
    )
    def lift(_clicks: list[int | None], href: str, acted: int | None) -> tuple[Any, Any]:
        # A list redrawn with new buttons triggers this too, with nothing clicked.
        trigger = ctx.triggered_id
        if not ctx.triggered or not ctx.triggered[0]["value"] or not isinstance(trigger, dict):
            return no_update, no_update
        silence_id, lang = trigger.get("silence"), view_of(href).lang
        if not isinstance(silence_id, str):
            return no_update, no_update
        return run_action(lift_action(silence_id, lang), lang), bumped(acted)
