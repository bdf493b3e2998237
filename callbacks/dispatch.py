"""What Dash's own routes accept from a browser, checked before Dash handles them: a malformed request is a 400
(or a 404), never the 500 Dash's dispatch would answer it with.

POST /_dash-update-component must carry the renderer's body: a JSON object naming a registered callback in
`output`, with as many `inputs` and `state` entries as that callback has, each an {"id", "property", "value"}
object (a list of them for a pattern-matching one), and string `changedPropIds`. The pages' router callback
also needs a path and a query string where its location goes. What a callback then does with the values is the
callback's business: each treats a value of the wrong type as no value (see view_of in each callbacks module).

GET /_dash-component-suites/<package>/<path> for a package or file Dash does not serve is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash
from dash.exceptions import DependencyException
from flask import Flask, Response, jsonify, request

DISPATCH_PATH = "/_dash-update-component"
# dash.page_container's location component: the router callback turns its pathname and search into a page.
PAGES_LOCATION = "_pages_location"


def _entry_problem(entry: object, where: str) -> str | None:
    items = entry if isinstance(entry, list) else [entry]
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("property"), str):
            return f"{where}: each entry is an object with an id and a property"
        if not isinstance(item.get("id"), str | dict):
            return f"{where}: an id is a string or an object"
        if item.get("id") == PAGES_LOCATION:
            value = item.get("value")
            if item["property"] == "pathname" and not (isinstance(value, str) and value.startswith("/")):
                return f"{where}: the page's path must start with /"
            if item["property"] == "search" and not (value is None or isinstance(value, str)):
                return f"{where}: the page's query string must be a string"
    return None


def request_problem(body: object, callback_map: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why this body is not one the renderer sends for a registered callback; None when it is."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        return "output must name a registered callback"
    spec = callback_map[output]
    for key in ("inputs", "state"):
        entries = body.get(key, [])
        if not isinstance(entries, list) or len(entries) != len(spec.get(key, [])):
            return f"{key} must list the callback's {len(spec.get(key, []))} {key}"
        for entry in entries:
            if problem := _entry_problem(entry, key):
                return problem
    outputs = body.get("outputs", [])
    if not isinstance(outputs, list | dict):
        return "outputs must be an object or a list of them"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(prop, str) for prop in changed):
        return "changedPropIds must be a list of strings"
    return None


def _no_such_file(error: DependencyException) -> tuple[Response, int]:
    return jsonify({"error": str(error), "status": 404}), 404


def install(app: Dash) -> None:
    """Check every callback request before Dash dispatches it, and answer unknown component files with 404."""
    server: Flask = app.server

    def check_dispatch() -> tuple[Response, int] | None:
        if request.path != DISPATCH_PATH or request.method != "POST":
            return None
        problem = request_problem(request.get_json(silent=True), app.callback_map)
        return (jsonify({"error": problem, "status": 400}), 400) if problem else None

    server.before_request(check_dispatch)
    server.register_error_handler(DependencyException, _no_such_file)
