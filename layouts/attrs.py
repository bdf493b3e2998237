"""HTML attributes that Dash components take beyond their declared props."""

from __future__ import annotations

from typing import Any


def data_attrs(**values: str) -> dict[str, Any]:
    """`data-*` attributes to pass as `**data_attrs(alert_id=a.id)`: {"data-alert-id": a.id}.

    Dash components accept `data-*` wildcard props at run time, but their signatures name only the declared
    props; typed as Any values, the unpacked dict type-checks against those."""
    return {"data-" + name.replace("_", "-"): value for name, value in values.items()}
