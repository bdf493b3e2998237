"""The refresh of the pages that follow an audit stream: the alerts page, and the event hub's /inbox and /events.
Each polls and holds, in the browser, the newest audit entry it drew and its detail's version; it redraws only when
its stream has moved since or the user has just acted. A poll in which nothing changed then costs one Redis read
and sends nothing, however many pages are open. Every action bumps the page's counter, which refreshes the page at
once rather than at the next poll, so that the user sees what their action did."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import redis
from dash import Dash, Input, Output, State, ctx, html, no_update

from signs.store import shared_redis

View = TypeVar("View")

# What a page's refresh draws from its view, given the newest audit entry and the detail's version that the page
# holds, whether the user has just acted, and the time: the children of its parts, then the audit entry and the
# detail's version drawn; None when what is drawn still stands.
PageUpdate = Callable[[redis.Redis, View, str | None, str | None, bool, float], tuple[Any, ...] | None]
# An action of a page: from its inputs' and forms' values, then the page's view state, what it did, to be shown in
# the page's result line; None when nothing was asked of it (a form redrawn with new buttons calls it too).
PageAction = Callable[..., html.Span | None]


class FollowingPageIds(Protocol):
    """The component ids that a page following an audit stream names in its layouts module."""

    STATE: str  # the page's view: what it shows, for whom
    TICK: str  # the poll
    ACTED: str  # the action counter
    AUDIT_SEEN: str  # the newest audit entry drawn
    DETAIL_SEEN: str  # the detail's version drawn: its forms keep what is typed while it stays current
    LIST: str  # where a failed read says why the page stopped changing
    ACTION_RESULT: str  # what the last action did


def still_drawn(current: str, held: str | None, acted: bool) -> bool:
    """Whether what the page drew from `held` still stands: nothing moved since, and no action asks for a redraw."""
    return current == held and not acted


def redis_error(error: redis.RedisError) -> html.P:
    """What a page says where its read failed; the rest of what it shows stays as it was."""
    return html.P(f"Redis: {error}", className="error")


def clicked_id() -> str | dict[str, Any] | None:
    """The id of the button whose click called this action; None when Dash called it for a redrawn button."""
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        return None
    return ctx.triggered_id


def bumped(acted: object) -> int:
    """The page's action counter, one up (the browser holds it: anything but a number starts it again)."""
    return acted + 1 if isinstance(acted, int) else 1


def _held(seen: object) -> str | None:
    # The browser keeps what the refresh sent, but a request may carry anything: that is nothing drawn yet.
    return seen if isinstance(seen, str) else None


def register_refresh(
    app: Dash, ids: FollowingPageIds, drawn: Sequence[str], view_of: Callable[[object], View], update: PageUpdate[View]
) -> None:
    """The page's refresh, on every poll and after every action: `update` gives the children of `drawn`, in order."""

    @app.callback(
        *(Output(part, "children") for part in drawn),
        Output(ids.AUDIT_SEEN, "data"),
        Output(ids.DETAIL_SEEN, "data"),
        Input(ids.TICK, "n_intervals"),
        Input(ids.ACTED, "data"),
        State(ids.STATE, "data"),
        State(ids.AUDIT_SEEN, "data"),
        State(ids.DETAIL_SEEN, "data"),
    )
    def refresh(_n: object, _acted: object, state: object, held_audit: object, held_detail: object) -> tuple[Any, ...]:
        view = view_of(state)
        acted = ctx.triggered_id == ids.ACTED
        try:
            updated = update(shared_redis(), view, _held(held_audit), _held(held_detail), acted, time.time())
        except redis.RedisError as error:
            banner = redis_error(error)
            return *(banner if part == ids.LIST else no_update for part in drawn), no_update, no_update
        return (no_update,) * (len(drawn) + 2) if updated is None else updated


def register_action(
    app: Dash, ids: FollowingPageIds, *inputs_and_forms: Input | State, allow_duplicate: bool = False
) -> Callable[[PageAction], PageAction]:
    """Register the decorated function as an action of the page, called with the values of `inputs_and_forms` and
    the page's view state. What it says goes in the page's result line, and bumps the page's action counter. Every
    action of a page but the first is registered with `allow_duplicate`, as Dash wants of outputs shared."""

    def register(act: PageAction) -> PageAction:
        @app.callback(
            Output(ids.ACTION_RESULT, "children", allow_duplicate=allow_duplicate),
            Output(ids.ACTED, "data", allow_duplicate=allow_duplicate),
            *inputs_and_forms,
            State(ids.STATE, "data"),
            State(ids.ACTED, "data"),
            prevent_initial_call=True,
        )
        def run(*values: object) -> tuple[Any, Any]:
            *asked, acted = values
            said = act(*asked)
            return (no_update, no_update) if said is None else (said, bumped(acted))

        return act

    return register
