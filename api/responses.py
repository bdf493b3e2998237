"""How City Eye's HTTP endpoints answer, written once for every blueprint in api/: errors as JSON
`{"error", "status"}` (never a 500 for a request we can name the fault of), the query parameters each endpoint
takes (read by signs.urlstate; any other, or one given twice, is a 400 naming it), and a table sent as a CSV or
Excel download.

    400 a parameter or a body not understood     401 not signed in     403 not allowed, or outside the user's scope
    404 no such thing                            503 Redis unavailable
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import redis
from flask import Blueprint, Response, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from auth.web import NotAllowed, current_user
from signs.export import CSV_MIMETYPE, XLSX_MIMETYPE, Table, csv_bytes, xlsx_bytes
from signs.urlstate import LANGS, Lang, Query, QueryError, check_params, parse_choice
from views.exports import Export

EXPORT_FORMATS = {"csv": CSV_MIMETYPE, "xlsx": XLSX_MIMETYPE}
SHEET_NAMES = {"zh": ("数据", "说明"), "en": ("Data", "About")}

View = TypeVar("View", bound=Callable[..., Any])


def json_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status}), status


def _not_allowed(error: NotAllowed) -> tuple[Response, int]:
    if current_user() is None:
        return json_error(401, "sign in first")
    return json_error(403, f"not allowed: {error}")


def _bad_query(error: QueryError) -> tuple[Response, int]:
    return json_error(400, str(error))


def _redis_down(error: redis.RedisError) -> tuple[Response, int]:
    return json_error(503, f"Redis unavailable: {error}")


def _http_error(error: HTTPException) -> tuple[Response, int]:
    """abort() and the request guard's refusals (cross-origin, not signed in) in the same JSON as ours."""
    return json_error(error.code or 500, error.description or error.name)


def answer_errors_as_json(blueprint: Blueprint) -> Blueprint:
    """Register the error answers every API blueprint shares (a blueprint adds its own, e.g. 404 for an alert)."""
    blueprint.register_error_handler(QueryError, _bad_query)
    blueprint.register_error_handler(NotAllowed, _not_allowed)
    blueprint.register_error_handler(redis.RedisError, _redis_down)
    blueprint.register_error_handler(HTTPException, _http_error)
    return blueprint


def query() -> Query:
    """The request's query string as signs.urlstate reads it: a value per name, a list for a repeated one."""
    return {name: values[0] if len(values) == 1 else values for name, values in request.args.lists()}


def requested_lang() -> Lang:
    """?lang=zh|en (any case; zh when absent or empty); anything else is a QueryError naming it."""
    return "en" if parse_choice((request.args.get("lang") or "zh").lower(), "lang", LANGS) == "en" else "zh"


def takes(*names: str) -> Callable[[View], View]:
    """The query parameters an endpoint takes: any other, or one of them given twice, is refused with a 400
    before the endpoint runs, so that the endpoint may read each with request.args.get."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check_params(request.args, names)
            for name, values in request.args.lists():
                if len(values) > 1:
                    raise QueryError(f"{name} is given {len(values)} times: give it once")
            return view(*args, **kwargs)

        return cast(View, checked)

    return decorate


def send_table(table: Table, fmt: str, ascii_name: str, display_name: str, lang: str) -> Response:
    """The table as a download: `fmt` one of EXPORT_FORMATS, the file named `display_name` (any script; with
    `ascii_name` for clients that cannot read that), never cached."""
    if fmt == "csv":
        data = csv_bytes(table)
    else:
        sheet, about = SHEET_NAMES["en" if lang == "en" else "zh"]
        data = xlsx_bytes(table, sheet=sheet, about_sheet=about)
    response = send_file(
        io.BytesIO(data), mimetype=EXPORT_FORMATS[fmt], as_attachment=True, download_name=f"{display_name}.{fmt}"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Export-Name"] = f"{ascii_name}.{fmt}"
    return response


def send_export(export: Export, fmt: str, lang: str) -> Response:
    return send_table(export.table, fmt, export.ascii_name, export.display_name, lang)
