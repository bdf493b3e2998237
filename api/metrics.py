"""The web tier's Prometheus endpoint and its request timing.

GET /metrics    every gunicorn worker's request latency by route template (ops.metrics), in Prometheus' text format

The route is Flask's URL rule ("/api/v1/signs/<sign_id>"), never the raw path, so that a sign id or a scanner's
guesses cannot grow the label set; a request no rule matched is "(unmatched)".
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ops.metrics import request_seconds, web_registry

metrics_blueprint = Blueprint("metrics", __name__)
UNMATCHED_ROUTE = "(unmatched)"


@metrics_blueprint.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(web_registry() or REGISTRY), mimetype=CONTENT_TYPE_LATEST)


def install_request_metrics(server: Flask) -> None:
    """Time every request from before the first hook to the response (errors included: Flask still finalises them)."""
    histogram = request_seconds()

    @server.before_request
    def _start_clock() -> None:
        g.request_started = time.perf_counter()

    @server.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("request_started", None)
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
            histogram.labels(route, request.method, str(response.status_code)).observe(time.perf_counter() - started)
        return response
