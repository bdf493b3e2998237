"""How City Eye's HTTP endpoints answer, written once for every blueprint in api/: a table sent as a CSV or Excel
download."""

from __future__ import annotations

import io

from flask import Response, send_file

from signs.export import CSV_MIMETYPE, XLSX_MIMETYPE, Table, csv_bytes, xlsx_bytes

EXPORT_FORMATS = {"csv": CSV_MIMETYPE, "xlsx": XLSX_MIMETYPE}
SHEET_NAMES = {"zh": ("数据", "说明"), "en": ("Data", "About")}


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
