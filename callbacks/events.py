"""The event hub pages' callbacks (/inbox, /events, and the event panel on /alerts). A refresh every few seconds
costs one Redis read and sends nothing unless an event changed (the newest audit entry tells); countdowns tick in
the browser (assets/alerts.js). Steps authorise server-side as api/events.py does and act through the same hub
functions, as the signed-in user; a handler's, inside the step's transaction, on an event their unit leads."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

import redis
from dash import Dash, Input, Output, State, html, no_update

from auth.model import Permission, User
from auth.scope import EventScope, event_scope_of
from auth.web import NotAllowed, authorize, current_user
from callbacks.audit_refresh import clicked_id, redis_error, register_action, register_refresh, still_drawn
from config import settings
from dispatch import hub
from dispatch.evidence import EvidenceError, evidence_for_handle, store_photo
from dispatch.library import library
from dispatch.lifecycle import LifecycleError
from dispatch.model import Event
from dispatch.store import UnknownEvent, get_event
from layouts import alerts as alert_ids
from layouts import events as ids
from layouts.events import (
    EventsView,
    counts_children,
    detail_children,
    from_alert_children,
    list_children,
    text,
    view_of,
)
from signs.store import shared_redis
from views.events import alert_event, event_detail, events_page, inbox_page

# A step acts as the user and answers what it did: a key of the page's texts (its name), or words of its own.
Step = Callable[[redis.Redis, User], str]
# The buttons of each page's forms and the hub step each asks for.
HANDLER_BUTTONS = {
    ids.SIGN_FOR_BUTTON: "sign_for", ids.PROGRESS_BUTTON: "progress", ids.HANDLE_BUTTON: "handle",
    ids.RETURN_BUTTON: "return",
}  # fmt: skip
CENTRE_BUTTONS = {
    ids.DISPATCH_BUTTON: "dispatch", ids.CLOSE_BUTTON: "close", ids.ESCALATE_BUTTON: "escalate",
    ids.RATE_BUTTON: "rate",
}  # fmt: skip


def page_update(
    client: redis.Redis, view: EventsView, held_audit: str | None, held_detail: str | None, acted: bool, now: float
) -> tuple[Any, ...] | None:
    """(counts, list, detail, audit seen, detail seen), no_update where nothing changed; None when nothing did."""
    user, lib = current_user(), library()
    if view.page == ids.INBOX:
        page = inbox_page(client, lib, user, view.lang, now)
        audit, cards, counts, late = page.audit, page.cards, page.counts, page.late
    else:
        listed = events_page(client, lib, view.filter, user, view.lang, now)
        audit, cards, counts, late = listed.audit, listed.listed, listed.counts, listed.late
    if still_drawn(audit, held_audit, acted):
        return None
    detail = event_detail(client, lib, view.filter.selected, user, view.lang, now)
    drawn = no_update if still_drawn(detail.key, held_detail, acted) else detail_children(detail, view, now)
    return counts_children(counts, late, view.lang), list_children(cards, view, now), drawn, audit, detail.key


def run_step(step: Step, permission: Permission, lang: str) -> html.Span:
    """Authorise, act, and say how it went: what the server refused is said, never swallowed."""
    t = text(lang)
    try:
        done = step(shared_redis(), authorize(permission))
    except UnknownEvent:
        return html.Span(f"{t['refused']}: {t['not_found']}", className="error")
    except (NotAllowed, LifecycleError, EvidenceError, redis.RedisError) as error:
        return html.Span(f"{t['refused']}: {error}", className="error")
    return html.Span(f"{t['done']}: {t.get(done, done)}", className="ok")


def scoped_event(client: redis.Redis, user: User, event_id: str) -> tuple[EventScope, Event]:
    """The scope the user sees events in, and the event a step asks for (UnknownEvent when there is none)."""
    event = get_event(client, event_id)
    if event is None:
        raise UnknownEvent(event_id)
    return event_scope_of(user), event


def handler_step(action: str, event_id: str, note: str) -> Step:
    def step(client: redis.Redis, user: User) -> str:
        scope, event = scoped_event(client, user, event_id)
        scope.require_sight(event)
        evidence = evidence_for_handle(client, event_id, ()) if action == "handle" else ()
        hub.act(client, event_id, action, library(), user.username, time.time(), note=note, evidence=evidence,
                guard=scope.require_lead)  # fmt: skip
        return action

    return step


def centre_step(action: str, event_id: str, note: str, department: str, score: int) -> Step:
    def step(client: redis.Redis, user: User) -> str:
        if action == "dispatch":
            hub.dispatch_by_hand(client, event_id, library(), department, user.username, note, time.time())
        else:
            hub.act(client, event_id, action, library(), user.username, time.time(), note=note, score=score)
        return action

    return step


def photo_step(event_id: str, contents: str) -> Step:
    """A photo from the page's upload box (a data: URL), size checked before it is decoded."""

    def step(client: redis.Redis, user: User) -> str:
        cfg = settings()
        scope, event = scoped_event(client, user, event_id)
        scope.require_lead(event)
        _, _, encoded = contents.partition(",")
        if len(encoded) * 3 // 4 > cfg.evidence_photo_max_bytes + 3:
            raise EvidenceError(f"a photo has at most {cfg.evidence_photo_max_bytes // 1000} kB")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise EvidenceError("the upload is not a file") from error
        store_photo(client, event_id, data, max_bytes=cfg.evidence_photo_max_bytes,
                    per_event=cfg.evidence_photos_per_event, keep_s=cfg.evidence_retention_days * 86_400)  # fmt: skip
        return "uploaded"

    return step


def clicked_step(buttons: dict[str, str]) -> str | None:
    """The step of the button that was clicked; None when the forms were only redrawn."""
    trigger = clicked_id()
    return buttons.get(trigger) if isinstance(trigger, str) else None


def events_view_of(state: object) -> EventsView:
    """The page's view from its state store, its filters checked against the library's departments and types."""
    return view_of(state, library())


def register(app: Dash) -> None:
    register_refresh(app, ids, (ids.COUNTS, ids.LIST, ids.DETAIL), events_view_of, page_update)

    @register_action(app, ids, *(Input(button, "n_clicks") for button in HANDLER_BUTTONS), State(ids.NOTE, "value"))
    def handle_step(*values: object) -> html.Span | None:
        note, state = values[len(HANDLER_BUTTONS) :]
        action = clicked_step(HANDLER_BUTTONS)
        if action is None:
            return None
        view = events_view_of(state)
        step = handler_step(action, view.filter.selected, note if isinstance(note, str) else "")
        return run_step(step, Permission.HANDLE, view.lang)

    @register_action(app, ids, Input(ids.PHOTO_UPLOAD, "contents"), allow_duplicate=True)
    def upload(contents: object, state: object) -> html.Span | None:
        if not isinstance(contents, str) or not contents:
            return None
        view = events_view_of(state)
        step = photo_step(view.filter.selected, contents)
        return run_step(step, Permission.HANDLE, view.lang)

    @register_action(
        app,
        ids,
        *(Input(button, "n_clicks") for button in CENTRE_BUTTONS),
        State(ids.NOTE, "value"),
        State(ids.DISPATCH_TO, "value"),
        State(ids.RATING, "value"),
        allow_duplicate=True,
    )
    def centre_act(*values: object) -> html.Span | None:
        note, department, score, state = values[len(CENTRE_BUTTONS) :]
        action = clicked_step(CENTRE_BUTTONS)
        if action is None:
            return None
        view = events_view_of(state)
        step = centre_step(
            action, view.filter.selected, note if isinstance(note, str) else "",
            department if isinstance(department, str) else "", score if isinstance(score, int) else 0,
        )  # fmt: skip
        return run_step(step, Permission.ACT, view.lang)

    @app.callback(Output(alert_ids.EVENT_PANEL, "children"), Input(alert_ids.STATE, "data"))
    def alert_panel(href: object) -> Any:
        view = alert_ids.view_of(href)
        linked = view.selected or view.incident
        user = current_user()
        try:
            found = alert_event(shared_redis(), linked)
        except redis.RedisError as error:
            return redis_error(error)
        may_act = user is not None and user.may(Permission.ACT)
        return from_alert_children(linked, found, may_act, view.lang, library())

    @app.callback(
        Output(alert_ids.EVENT_PANEL, "children", allow_duplicate=True),
        Input(ids.FROM_ALERT_BUTTON, "n_clicks"),
        State(ids.FROM_ALERT_TYPE, "value"),
        State(alert_ids.STATE, "data"),
        prevent_initial_call=True,
    )
    def raise_event(clicks: object, type_code: object, href: object) -> Any:
        if not clicks:
            return no_update
        view = alert_ids.view_of(href)
        linked = view.selected or view.incident
        raised: list[str] = []

        def step(client: redis.Redis, user: User) -> str:
            chosen = type_code if isinstance(type_code, str) else ""
            scale = settings().dispatch_time_scale
            now = time.time()
            event = hub.raise_from_alert(client, library(), chosen, linked, user.username, now, time_scale=scale)
            raised.append(event.id)
            return event.id

        said = run_step(step, Permission.ACT, view.lang)
        if not raised:
            return [said]
        return from_alert_children(linked, raised[0], True, view.lang, library())
