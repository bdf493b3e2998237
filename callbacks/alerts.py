"""The alerts page's callbacks. A refresh every few seconds costs one Redis read and sends nothing unless an
alert or a silence changed (the newest audit entry tells); countdowns tick in the browser (assets/alerts.js)
in between. What is read is what the user's scope covers (auth.scope), as in the API. Officers' actions
authorise server-side, as the API does, and act through the same functions, as the signed-in user."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from dash import ALL, Dash, Input, State, html, no_update

from alerts import store
from alerts.incidents import IncidentView
from alerts.lifecycle import InvalidTransition
from alerts.model import SilenceScope
from alerts.officer import assignee_for, clean_note, silence_for
from auth.model import Permission, User
from auth.scope import current_scope
from auth.web import NotAllowed, authorize, current_user
from callbacks.audit_refresh import clicked_id, register_action, register_refresh, still_drawn
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
# What a button of a form asks for: from the button, the alert or incident acted on, the form's fields, the language.
FormAction = Callable[[str, str, dict[str, Any], str], Action]
# The detail's buttons, in the order alert_action's actions are listed.
ALERT_BUTTONS = (ids.ACK_BUTTON, ids.RESOLVE_BUTTON, ids.SILENCE_BUTTON, ids.ASSIGN_BUTTON)
# The incident detail's buttons, in the order incident_action's actions are listed.
INCIDENT_BUTTONS = (ids.INCIDENT_ACK_BUTTON, ids.INCIDENT_RESOLVE_BUTTON, ids.INCIDENT_ASSIGN_BUTTON)
# The fields of each detail's forms, by the name its actions read them by.
ALERT_FORM = {
    "ack_note": ids.ACK_NOTE, "resolve_note": ids.RESOLVE_NOTE, "scope": ids.SILENCE_SCOPE,
    "minutes": ids.SILENCE_MINUTES, "reason": ids.SILENCE_REASON, "assign_to": ids.ASSIGN_TO,
    "assign_note": ids.ASSIGN_NOTE,
}  # fmt: skip
INCIDENT_FORM = {"note": ids.INCIDENT_NOTE, "assign_to": ids.INCIDENT_ASSIGN_TO}


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
) -> tuple[Any, ...] | None:
    """(counts, incidents, list, silences, detail, audit seen, detail seen) for the page, no_update where nothing
    changed; None when nothing did. The detail is the selected alert's, else the selected incident's."""
    audit = newest_audit(client)
    if still_drawn(audit, held_audit, acted):
        return None
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


def lift_action(silence_id: str, lang: str) -> Action:
    def lift(client: redis.Redis, user: User) -> str:
        store.lift_silence(client, silence_id, user.username)
        return text(lang)["lifted_done"]

    return lift


def register_form(
    app: Dash,
    buttons: tuple[str, ...],
    form: dict[str, str],
    action: FormAction,
    target: Callable[[AlertsView], str],
    allow_duplicate: bool = False,
) -> None:
    """One of the detail's forms: the clicked button's action on the view's target, with the form's fields. Every
    form but the first allows duplicate outputs: all answer in the page's one result line."""

    @register_action(
        app,
        ids,
        *(Input(button, "n_clicks") for button in buttons),
        *(State(field, "value") for field in form.values()),
        allow_duplicate=allow_duplicate,
    )
    def act(*values: object) -> html.Span | None:
        *fields, href = values[len(buttons) :]
        trigger = clicked_id()
        if trigger not in buttons:
            return None
        view = view_of(href)
        filled = dict(zip(form, fields, strict=True))
        return run_action(action(str(trigger), target(view), filled, view.lang), view.lang)


def register(app: Dash) -> None:
    register_refresh(app, ids, (ids.COUNTS, ids.INCIDENTS, ids.LIST, ids.SILENCES, ids.DETAIL), view_of, page_update)

    register_form(app, ALERT_BUTTONS, ALERT_FORM, alert_action, lambda view: view.selected)
    register_form(
        app, INCIDENT_BUTTONS, INCIDENT_FORM, incident_action, lambda view: view.incident, allow_duplicate=True
    )

    @register_action(app, ids, Input({"type": ids.LIFT_BUTTON, "silence": ALL}, "n_clicks"), allow_duplicate=True)
    def lift(_clicks: list[int | None], href: str) -> html.Span | None:
        trigger = clicked_id()
        if not isinstance(trigger, dict):
            return None
        silence_id, lang = trigger.get("silence"), view_of(href).lang
        if not isinstance(silence_id, str):
            return None
        return run_action(lift_action(silence_id, lang), lang)
