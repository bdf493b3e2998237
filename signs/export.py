"""Exports of what a drill-down page shows: a table in, CSV or Excel bytes out. Pure.

CSV is UTF-8 with a byte-order mark, so that Excel opens Chinese text correctly, and CRLF line ends. Values
keep full precision (Python's shortest round-trip form), so a number read back equals the one in Redis; Excel
files carry 16 significant digits (openpyxl writes "%.16g"), one short of a double's last bit.
Times are Beijing time (Asia/Shanghai): text in CSV, real date-times in Excel. Every export names its units
in the header and, in Excel, carries a second sheet describing what it is.

Every text cell of every export, CSV or Excel, passes `inert_text` (OWASP's rule against CSV/formula injection):
an officer's note or a name starting with `=`, `+`, `-`, `@`, a tab or a carriage return would otherwise run as
a formula in the spreadsheet of whoever opens the file. Numbers are never text here, so a negative value stays a
number.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from signs.citytime import city_text, city_time
from signs.model import Level, Sign

BOM = "\ufeff"
EXCEL_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
CSV_MIMETYPE = "text/csv"  # Flask adds "; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A text cell starting with one of these is a formula (or becomes one once a spreadsheet trims it): OWASP's list.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Prefixed to such a cell, it makes the spreadsheet read the whole cell as text.
TEXT_PREFIX = "'"


@dataclass(frozen=True)
class Moment:
    """A timestamp cell: written as Beijing time."""

    ts: float


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[tuple[str, str]] = field(default_factory=list)


def beijing_text(ts: float) -> str:
    return city_text(ts)


def _beijing_naive(ts: float) -> datetime:
    # Excel has no time zones: the wall clock in Beijing, as the header says.
    return city_time(round(ts)).replace(tzinfo=None)


def inert_text(text: str) -> str:
    """Text that no spreadsheet runs as a formula: prefixed with a quote when it starts like one. For text cells
    only: numbers are written as numbers, so -3.5 stays a number."""
    return TEXT_PREFIX + text if text.startswith(FORMULA_TRIGGERS) else text


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Moment):
        return beijing_text(value.ts)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    return inert_text(str(value))


def csv_bytes(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([inert_text(name) for name in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return (BOM + out.getvalue()).encode("utf-8")


def _xlsx_text(value: Any) -> str:
    # Control characters other than tab, LF and CR are not allowed in an .xlsx file: openpyxl refuses them.
    return ILLEGAL_CHARACTERS_RE.sub("", inert_text(str(value)))


def _xlsx_value(value: Any) -> Any:
    """A cell's value as openpyxl should store it: numbers and booleans as such, non-finite numbers as empty
    cells, everything else as inert text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return _xlsx_text(value)


def xlsx_bytes(table: Table, sheet: str = "Data", about_sheet: str = "About") -> bytes:
    """An .xlsx workbook (openpyxl, write-only: constant memory for long histories)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    data = book.create_sheet(sheet[:31])
    bold = Font(bold=True)
    header = []
    for name in table.columns:
        c = WriteOnlyCell(data, value=_xlsx_text(name))
        c.font = bold
        header.append(c)
    data.append(header)
    for row in table.rows:
        cells: list[Any] = []
        for value in row:
            if isinstance(value, Moment):
                c = WriteOnlyCell(data, value=_beijing_naive(value.ts))
                c.number_format = EXCEL_TIME_FORMAT
                cells.append(c)
            else:
                cells.append(_xlsx_value(value))
        data.append(cells)
    about = book.create_sheet(about_sheet[:31])
    about.append([_xlsx_text(table.title)])
    for key, value in table.notes:
        about.append([_xlsx_text(key), _xlsx_text(value)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# What each page exports ---------------------------------------------------------------------------------------

TEXT = {
    "zh": {
        "id": "指标编号", "name": "指标名称", "time": "时间(北京时间)", "value": "数值", "unit": "单位",
        "level": "级别", "district": "区县", "city": "全市", "rank": "本区排名(1=最严重)", "age": "数据时间(北京时间)",
        "module": "模块", "stale": "陈旧", "exported": "导出时间(北京时间)", "range": "时间范围", "sign": "指标",
        "definition": "定义", "source": "数据来源", "owner": "责任部门", "thresholds": "阈值(蓝/黄/橙/红)",
        "direction": "方向", "high": "越高越严重", "low": "越低越严重", "filter": "筛选", "abnormal": "仅非正常",
        "all": "全部", "points": "读数", "redis": "来源: 城市之眼 Redis 实时库",
    },
    "en": {
        "id": "Sign id", "name": "Name", "time": "Time (Beijing)", "value": "Value", "unit": "Unit", "level": "Level",
        "district": "District", "city": "City", "rank": "District rank (1 = worst)", "age": "Reading time (Beijing)",
        "module": "Module", "stale": "Stale", "exported": "Exported at (Beijing)", "range": "Time range",
        "sign": "Sign", "definition": "Definition", "source": "Source", "owner": "Owner",
        "thresholds": "Thresholds (blue/yellow/orange/red)", "direction": "Direction", "high": "higher is worse",
        "low": "lower is worse", "filter": "Filter", "abnormal": "not normal only", "all": "all",
        "points": "readings", "redis": "Source: City Eye live Redis",
    },
}  # fmt: skip


def _t(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "zh"]


def level_text(level: int, lang: str) -> str:
    return Level(level).en if lang == "en" else Level(level).zh


def _thresholds(sign: Sign) -> str:
    return " / ".join("—" if b is None else f"{b:g}" for b in sign.thresholds)


def history_table(
    series: Sequence[tuple[Sign, np.ndarray]],
    levels: Sequence[np.ndarray],
    lang: str,
    start: float,
    end: float,
    exported_at: float,
    source_text: Sequence[str] = (),
) -> Table:
    """Every reading of each sign in [start, end]: the sign first, then the ones compared with it."""
    t = _t(lang)

    def name(s: Sign) -> str:
        return s.name_in(lang)

    rows: list[list[Any]] = []
    for (sign, points), lv in zip(series, levels, strict=True):
        for ts, value, level in zip(points["ts"].tolist(), points["value"].tolist(), lv.tolist(), strict=True):
            rows.append([sign.id, name(sign), Moment(ts), value, sign.unit_in(lang), level_text(level, lang)])
    main = series[0][0]
    notes = [
        (t["sign"], f"{name(main)} ({main.id})"),
        (t["definition"], main.definition_in(lang)),
        (t["unit"], main.unit_in(lang)),
        (t["thresholds"], _thresholds(main)),
        (t["direction"], t["high"] if main.direction.value == "high" else t["low"]),
        (t["source"], source_text[0] if source_text else ""),
        (t["owner"], main.owner_in(lang)),
        (t["range"], f"{beijing_text(start)} — {beijing_text(end)}"),
        (t["points"], str(len(rows))),
        (t["exported"], beijing_text(exported_at)),
        ("", t["redis"]),
    ]
    if len(series) > 1:
        notes.insert(1, ("+", ", ".join(f"{name(s)} ({s.id})" for s, _ in series[1:])))
    return Table(
        title=f"{name(main)} · {t['range']} {beijing_text(start)} — {beijing_text(end)}",
        columns=[t["id"], t["name"], t["time"], f"{t['value']}", t["unit"], t["level"]],
        rows=rows,
        notes=notes,
    )


def comparison_table(
    title: str,
    rows: Sequence[dict[str, Any]],
    districts: Sequence[tuple[str, str]],
    lang: str,
    exported_at: float,
    notes: Sequence[tuple[str, str]] = (),
) -> Table:
    """The district page's table: each core indicator for the district, the city, its rank and every district.

    `rows` are the grid's rows (callbacks.district.grid_rows); `districts` (adcode, name) in column order."""
    t = _t(lang)
    columns = [t["id"], t["name"], t["unit"], t["level"], title, t["city"], t["rank"], *(n for _, n in districts)]
    out = []
    for row in rows:
        level = row.get("level")
        out.append(
            [
                row["id"],
                row["name"],
                row["unit"],
                "" if level is None else level_text(level, lang),
                row.get("value"),
                row.get("city"),
                row.get("rank_text") or "",
                *(row.get(f"d_{adcode}") for adcode, _ in districts),
            ]
        )
    return Table(
        title=title,
        columns=columns,
        rows=out,
        notes=[*notes, (t["exported"], beijing_text(exported_at)), ("", t["redis"])],
    )


def list_table(
    title: str, rows: Sequence[dict[str, Any]], lang: str, exported_at: float, notes: Sequence[tuple[str, str]] = ()
) -> Table:
    """A module's or category's signs: id, name, district, value, unit, level, reading time."""
    t = _t(lang)
    columns = [t["id"], t["name"], t["module"], t["district"], t["value"], t["unit"], t["level"], t["age"], t["stale"]]
    out = []
    for row in rows:
        out.append(
            [
                row["id"],
                row["name"],
                row["module"],
                row["district"],
                row.get("value"),
                row["unit"],
                level_text(row["level"], lang) if row.get("value") is not None else "",
                Moment(row["ts"]) if row.get("ts") else None,
                bool(row.get("stale")),
            ]
        )
    return Table(
        title=title,
        columns=columns,
        rows=out,
        notes=[*notes, (t["exported"], beijing_text(exported_at)), ("", t["redis"])],
    )
