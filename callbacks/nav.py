"""The drill-down header's callbacks, all in the browser (assets/drilldown.js): the search box answering as
you type from an index fetched once, Enter opening the search page, and the copy-link button. Also what every
drill-down grid does when it is sorted (sorted_links)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from layouts import nav as ids
from layouts.nav import export_href
from signs.urlstate import View

V = TypeVar("V", bound=View)


def sorted_links(
    view: V | None, column_state: object, sorted_view: Callable[[V, object], V]
) -> tuple[Any, Any, Any]:
    """A grid's new sort as (the page's URL, its CSV export, its Excel export): the sort is part of the view (the
    view's sorted_view reads the column state the browser sent, whatever it holds)."""
    if view is None or not column_state:
        return no_update, no_update, no_update
    target = sorted_view(view, column_state).href()
    return target, export_href(target, "csv"), export_href(target, "xlsx")


def register(app: Dash) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_drill", function_name="search"),
        Output(ids.SEARCH_RESULTS, "children"),
        Input(ids.SEARCH_INPUT, "value"),
        State(ids.SEARCH_CONFIG, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_drill", function_name="submitSearch"),
        Input(ids.SEARCH_INPUT, "n_submit"),
        State(ids.SEARCH_INPUT, "value"),
        State(ids.SEARCH_CONFIG, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_drill", function_name="copyLink"),
        Output(ids.COPY_LINK, "content"),
        Input(ids.COPY_LINK, "n_clicks"),
        prevent_initial_call=True,
    )
