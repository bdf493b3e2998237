"""What every drill-down grid shares: its rows (plain dicts, ag-grid's rowData and the exports' input), the column
state the browser sends back when it is sorted, and the order a sort puts rows in."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from signs.urlstate import Sort

# One grid row: field name -> value, as ag-grid and signs.export read it.
Row = dict[str, Any]
SORT_DIRECTIONS = ("asc", "desc")
# Every grid's order when the URL names none: the worst first.
DEFAULT_SORT = ("level", "desc")


def sorted_columns(column_state: object) -> list[dict[str, Any]]:
    """The grid's sorted columns as ag-grid sends them, in sort order, keeping only well-formed ones (the browser
    may send anything)."""
    if not isinstance(column_state, list):
        return []
    columns = [
        c
        for c in column_state
        if isinstance(c, dict)
        and isinstance(c.get("colId"), str)
        and c.get("sort") in SORT_DIRECTIONS
        and isinstance(c.get("sortIndex"), int | None)
    ]
    return sorted(columns, key=lambda c: c.get("sortIndex") or 0)


def grid_sort(column_state: object, columns: Collection[str]) -> Sort | None:
    """The sort the URL keeps for the grid's state: its first sorted column when it is one of `columns`; None for
    the default sort (left out of the URL) and for anything else."""
    chosen = sorted_columns(column_state)
    if not chosen or chosen[0]["colId"] not in columns:
        return None
    sort = Sort(chosen[0]["colId"], chosen[0]["sort"])
    return None if (sort.column, sort.direction) == DEFAULT_SORT else sort


def sorted_by(rows: list[Row], field: str, direction: str) -> list[Row]:
    """The rows in the order the grid shows them sorted by `field`: empty cells last, whatever the direction."""
    present = [r for r in rows if r.get(field) is not None]
    empty = [r for r in rows if r.get(field) is None]
    present.sort(key=lambda r: r[field], reverse=direction == "desc")
    return present + empty
