"""The drill-down header's callbacks, all in the browser (assets/drilldown.js): the search box answering as
you type from an index fetched once, Enter opening the search page, and the copy-link button."""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State

from layouts import nav as ids


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
