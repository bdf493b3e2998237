"""The duty log page (/duty-log, 值班日志): for a shift window (the last 12 hours unless ?from=&to= say otherwise,
Beijing time), who was on duty, what happened to which alert and when, and what was still open at handover,
with its CSV and Excel exports. The log itself is alerts/dutylog.py's; this draws it. No I/O. A district leader
reads their own district's entries only (auth.scope), and the page says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import dash
from dash import dcc, html
from dash.development.base_component import Component

from alerts.dutylog import (
    COUNTED_EVENTS,
    EVENT_LABELS,
    LEVEL_LABELS,
    STATUS_LABELS,
    WINDOW,
    DutyLog,
    stage_label,
    transition_note,
    window_text,
)
from alerts.officer import RECENT_DEFAULT
from auth.model import User
from auth.scope import scope_of
from auth.web import current_user
from layouts.alerts import ALERTS_PATH, DUTY_LOG_PATH, ROOT_CLASS, beijing_time, officer_header
from layouts.nav import level_chip
from layouts.titles import tab_title
from signs.drill import district_name

# Component ids: callbacks/dutylog.py uses these names and no others.
STATE = "duty-log-state"  # {"from", "to", "lang"} as the URL gave them
TICK = "duty-log-tick"
BODY = "duty-log-body"
EXPORT_CSV = "duty-log-export-csv"
EXPORT_XLSX = "duty-log-export-xlsx"

DUTY_LOG_API = "/api/v1/duty-log"
# A shift still running (no `to`) grows: the log is read again this often.
LIVE_REFRESH_MS = 30_000

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "值班日志", "from": "从", "to": "至", "show": "查看", "now": "现在", "default": "最近12小时",
        "export": "导出 CSV",
        "export_xlsx": "导出 Excel", "on_duty": "值班人员", "person": "人员", "signed_in": "登录", "signed_out": "退出",
        "before": "班前已登录", "still": "仍在线", "actions": "操作数", "story": "经过", "time": "时间",
        "event": "事件", "by": "人员", "alert": "告警 / 指标", "district": "区县", "level": "级别", "note": "说明",
        "handover": "交接时仍未关闭", "status": "状态", "escalation": "升级", "raised": "产生时间",
        "acknowledged_by": "确认人", "nobody": "无", "none_open": "交接时没有未关闭的告警", "quiet": "本时段没有记录",
        "truncated": "记录过多，只显示前一部分；请缩小时段", "window_hint": "格式 2026-05-24T08:00（北京时间）",
        "loading": "加载中…", "scoped": "只显示{district}的告警与处置记录",
    },
    "en": {
        "title": "Duty log", "from": "From", "to": "to", "show": "Show", "now": "now", "default": "Last 12 hours",
        "export": "Export CSV",
        "export_xlsx": "Export Excel", "on_duty": "On duty", "person": "Person", "signed_in": "Signed in",
        "signed_out": "Signed out", "before": "before the shift", "still": "still signed in", "actions": "Actions",
        "story": "What happened", "time": "Time", "event": "Event", "by": "By", "alert": "Alert / sign",
        "district": "District", "level": "Level", "note": "Note", "handover": "Open at handover", "status": "Status",
        "escalation": "Escalation", "raised": "Raised", "acknowledged_by": "Acknowledged by", "nobody": "none",
        "none_open": "No alert was open at handover", "quiet": "Nothing recorded in this window",
        "truncated": "Too many entries: only the first are shown; choose a shorter window",
        "window_hint": "like 2026-05-24T08:00 (Beijing time)", "loading": "Loading…",
        "scoped": "Only {district}'s alerts and actions are shown",
    },
}  # fmt: skip


def text(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "zh"]


@dataclass(frozen=True, slots=True)
class DutyLogView:
    start_text: str = ""  # alerts.dutylog.WINDOW, Beijing; empty: 12 hours before the end
    end_text: str = ""  # empty: now, and the page follows the present
    lang: str = "zh"

    @classmethod
    def from_query(cls, query: Mapping[str, object]) -> DutyLogView:
        def value(key: str) -> str:
            raw = query.get(key)
            return raw[:16] if isinstance(raw, str) else ""

        return cls(value("from"), value("to"), "en" if query.get("lang") == "en" else "zh")

    def query(self) -> dict[str, str]:
        values = {"from": self.start_text, "to": self.end_text, "lang": "en" if self.lang == "en" else ""}
        return {key: value for key, value in values.items() if value}

    def href(self, lang: str | None = None) -> str:
        query = {**self.query(), "lang": lang or self.lang}
        if query["lang"] != "en":
            del query["lang"]
        return DUTY_LOG_PATH + (f"?{urlencode(query)}" if query else "")

    def export_href(self, fmt: str = "csv") -> str:
        return f"{DUTY_LOG_API}?{urlencode({**self.query(), 'format': fmt})}"

    def as_data(self) -> dict[str, str]:
        return {"from": self.start_text, "to": self.end_text, "lang": self.lang}


def layout(view: DutyLogView, user: User | None) -> html.Div:
    t = text(view.lang)
    window_form = html.Form(
        method="GET",
        action=DUTY_LOG_PATH,
        className="window-form",
        children=[
            html.Label(
                [
                    t["from"],
                    dcc.Input(
                        name="from",
                        type="text",
                        value=view.start_text,
                        placeholder=WINDOW.example,
                        pattern=WINDOW.pattern,
                        className="window-input",
                    ),
                ]
            ),
            html.Label(
                [
                    t["to"],
                    dcc.Input(
                        name="to",
                        type="text",
                        value=view.end_text,
                        placeholder=t["now"],
                        pattern=WINDOW.pattern,
                        className="window-input",
                    ),
                ]
            ),
            *([dcc.Input(name="lang", type="hidden", value="en")] if view.lang == "en" else []),
            html.Button(t["show"], type="submit", className="button"),
            dcc.Link(t["default"], href=DutyLogView(lang=view.lang).href(), className="seg"),
            html.Span(t["window_hint"], className="muted window-hint"),
        ],
    )
    body: list[Component] = [
        html.Div(
            className="toolbar duty-toolbar",
            children=[
                html.H1(t["title"], className="page-title"),
                window_form,
                html.A(t["export"], id=EXPORT_CSV, href=view.export_href(), className="button export-csv", download=""),
                html.A(
                    t["export_xlsx"],
                    id=EXPORT_XLSX,
                    href=view.export_href("xlsx"),
                    className="button export-xlsx",
                    download="",
                ),
            ],
        ),
        *_scope_note(user, view.lang),
        html.Div(id=BODY, className="duty-log", children=html.P(t["loading"], className="muted")),
        dcc.Store(id=STATE, data=view.as_data()),
        dcc.Interval(id=TICK, interval=LIVE_REFRESH_MS, disabled=bool(view.end_text)),
    ]
    return html.Div(
        className=ROOT_CLASS,
        lang=view.lang,
        children=[
            officer_header(DUTY_LOG_PATH, view.lang, view.href("zh" if view.lang == "en" else "en"), user),
            html.Main(body, className="drill-body"),
        ],
    )


def _scope_note(user: User | None, lang: str) -> list[Component]:
    scope = scope_of(user)
    if scope.whole_city:
        return []
    note = text(lang)["scoped"].format(district=district_name(scope.district, lang))
    return [html.P(note, className="muted scope-note")]


def _table(headers: list[str], rows: Sequence[Sequence[Component | str]], class_name: str) -> html.Table:
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in headers])),
            html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows]),
        ],
        className=f"duty-table {class_name}",
    )


def _alert_link(alert_id: str, label: str, lang: str) -> Component | str:
    if not alert_id:
        return label
    # Closed alerts too: the story mentions alerts long resolved.
    query = {"alert": alert_id, "recent": str(RECENT_DEFAULT), **({"lang": "en"} if lang == "en" else {})}
    return dcc.Link(label or alert_id, href=f"{ALERTS_PATH}?{urlencode(query)}", title=alert_id)


def log_children(log: DutyLog, sign_names: Mapping[str, str], lang: str) -> list[Component]:
    """The shift's summary, people, handover list and story; `sign_names` names the signs the story mentions."""
    lang = "en" if lang == "en" else "zh"
    t, events, statuses, levels = text(lang), EVENT_LABELS[lang], STATUS_LABELS[lang], LEVEL_LABELS[lang]
    summary = html.Div(
        className="duty-summary",
        children=[
            html.Span(f"{window_text(log.start)} – {window_text(log.end)}", className="window num"),
            *(
                html.Span([events[e], html.B(str(log.counts[e.value]))], className=f"count-chip event-{e.value}")
                for e in COUNTED_EVENTS
            ),
        ],
    )
    people = [
        [
            f"{p.display_name} ({p.username})" if p.display_name != p.username else p.username,
            beijing_time(p.signed_in) if p.signed_in else t["before"],
            beijing_time(p.signed_out) if p.signed_out else t["still"],
            str(p.actions),
        ]
        for p in log.on_duty
    ]
    handover = [
        [
            level_chip(int(a.level), lang),
            _alert_link(a.id, sign_names.get(a.sign_id, a.name), lang),
            district_name(a.district, lang),
            statuses[a.status],
            stage_label(a.escalation, lang),
            beijing_time(a.raised_at),
            a.acknowledged.by if a.acknowledged else t["nobody"],
        ]
        for a in log.open_at_handover
    ]
    story = [
        [
            beijing_time(tr.at),
            events[tr.event],
            tr.by,
            _alert_link(tr.alert_id, sign_names.get(tr.sign_id, tr.sign_id), lang),
            district_name(tr.district, lang) if tr.district else "",
            levels.get(tr.level, ""),
            transition_note(tr, lang),
        ]
        for tr in log.transitions
    ]
    return [
        summary,
        *([html.P(t["truncated"], className="error")] if log.truncated else []),
        html.Div(
            className="duty-grid",
            children=[
                html.Section(
                    className="card duty-people",
                    children=[
                        html.H2(t["on_duty"]),
                        _table([t["person"], t["signed_in"], t["signed_out"], t["actions"]], people, "people")
                        if people
                        else html.P(t["nobody"], className="muted"),
                    ],
                ),  # fmt: skip
                html.Section(
                    className="card duty-handover",
                    children=[
                        html.H2(t["handover"]),
                        _table(
                            [
                                t["level"],
                                t["alert"],
                                t["district"],
                                t["status"],
                                t["escalation"],
                                t["raised"],
                                t["acknowledged_by"],
                            ],
                            handover,
                            "handover",
                        )
                        if handover
                        else html.P(t["none_open"], className="muted"),
                    ],
                ),  # fmt: skip
            ],
        ),
        html.Section(
            className="card duty-story",
            children=[
                html.H2(t["story"]),
                _table(
                    [t["time"], t["event"], t["by"], t["alert"], t["district"], t["level"], t["note"]], story, "story"
                )
                if story
                else html.P(t["quiet"], className="muted"),
            ],
        ),
    ]


def register_pages() -> None:
    def page(**query: object) -> html.Div:
        return layout(DutyLogView.from_query(query), current_user())

    dash.register_page(
        "duty-log", path=DUTY_LOG_PATH, layout=page, title=lambda: tab_title(TEXT["zh"]["title"], TEXT["en"]["title"])
    )
