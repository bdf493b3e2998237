"""The alerts page (/alerts) for duty officers on a laptop: open incidents and open alerts in the pressing order
with live countdowns to their limits, filters kept in the URL, one incident's members and timeline with the forms
to acknowledge, assign or resolve all its members with one note, one alert's history and the forms to acknowledge,
assign, resolve and silence it, and the silences in force. Also the header the officers' pages share. No I/O.

The filters and the selected incident or alert are links to other URLs (?level=red&incident=<id>&lang=en), so
back, forward and a copied link show exactly this view. The callbacks fill the page from Redis and act through
the same functions as the API; controls are drawn only for users who may act, and the server checks again. A
district leader sees their own district's alerts and silences only (auth.scope), and the page says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, TypedDict
from urllib.parse import parse_qsl, urlencode, urlsplit

import dash
from dash import dcc, html
from dash.development.base_component import Component

from alerts.display import alert_name, alert_unit
from alerts.dutylog import EVENT_LABELS, STATUS_LABELS, stage_label, transition_note
from alerts.escalation import Stage, countdown
from alerts.incidents import IncidentView, TimelineEntry, TimelineEvent
from alerts.model import Alert, AlertStatus, Silence, SilenceScope, Transition
from alerts.officer import RECENT_DEFAULT, SILENCE_MINUTES_MAX, SILENCE_MINUTES_MIN, AlertFilter
from auth.model import Permission, User
from auth.scope import Scope, scope_of
from auth.web import current_user
from geo.admin import CITY_ADCODE, DISTRICTS
from layouts.attrs import data_attrs
from layouts.nav import LEVEL_NAMES, WALL_PATH, format_value, level_chip
from layouts.titles import tab_title
from signs.citytime import TimeFormat, city_text
from signs.drill import district_name

ALERTS_PATH = "/alerts"
DUTY_LOG_PATH = "/duty-log"
EVENTS_PATH = "/events"  # the event hub's pages (layouts/events.py), in this header too
INBOX_PATH = "/inbox"
LOGOUT_PATH = "/logout"
ROOT_CLASS = "drill officer"

# Component ids: callbacks/alerts.py uses these names and no others.
STATE = "alerts-state"  # the view's query: filters, selected alert, language
TICK = "alerts-tick"
ACTED = "alerts-acted"  # bumped by every action, so that the page refreshes at once
AUDIT_SEEN = "alerts-audit-seen"  # the newest audit entry drawn: nothing changed, nothing to send
DETAIL_SEEN = "alerts-detail-seen"  # the selected alert's version drawn: its forms keep what is typed meanwhile
COUNTS = "alerts-counts"
LIST = "alerts-list"
DETAIL = "alerts-detail"
SILENCES = "alerts-silences"
ACTION_RESULT = "alerts-action-result"
ACK_NOTE = "alerts-ack-note"
ACK_BUTTON = "alerts-ack"
RESOLVE_NOTE = "alerts-resolve-note"
RESOLVE_BUTTON = "alerts-resolve"
SILENCE_SCOPE = "alerts-silence-scope"
SILENCE_MINUTES = "alerts-silence-minutes"
SILENCE_REASON = "alerts-silence-reason"
SILENCE_BUTTON = "alerts-silence"
LIFT_BUTTON = "alerts-lift"  # pattern-matching: {"type": LIFT_BUTTON, "silence": <id>}
ASSIGN_TO = "alerts-assign-to"
ASSIGN_NOTE = "alerts-assign-note"
ASSIGN_BUTTON = "alerts-assign"
INCIDENTS = "alerts-incidents"
INCIDENT_NOTE = "incident-note"  # the one note of an act on the whole incident
INCIDENT_ASSIGN_TO = "incident-assign-to"
INCIDENT_ACK_BUTTON = "incident-ack"
INCIDENT_ASSIGN_BUTTON = "incident-assign"
INCIDENT_RESOLVE_BUTTON = "incident-resolve"
EVENT_PANEL = "alerts-event-panel"  # the selection's event, or the form raising one (callbacks/events.py)

REFRESH_MS = 3_000
SILENCE_MINUTES_DEFAULT = 60
# The list shows this many alerts; the counters count them all.
LISTED = 200
LEVELS = ("red", "orange", "yellow", "blue")
OPEN_STATUSES = (AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED, AlertStatus.CLEARED)
FINAL_STATUSES = (AlertStatus.RESOLVED, AlertStatus.CLOSED)

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "brand": "城市之眼 · 值班", "alerts": "告警处置", "duty_log": "值班日志", "events": "事件中心",
        "inbox": "待办事件", "wall": "大屏", "lang": "English",
        "sign_out": "退出", "title": "告警处置", "all": "全部", "level": "级别", "status": "状态",
        "district": "区县", "everywhere": "全部区县", "recent": "含近期已关闭", "open_only": "只看未关闭",
        "sign": "指标", "value": "数值", "escalation": "升级", "countdown": "时限", "raised": "产生时间",
        "silenced": "静默中", "no_alerts": "没有符合条件的告警", "select": "选择一条告警查看经过并处置",
        "history": "处置经过", "time": "时间", "event": "事件", "by": "人员", "note": "说明", "after": "之后状态",
        "acknowledge": "确认", "ack_note": "确认说明（可选）", "resolve": "处置完毕",
        "resolve_note": "处置说明（必填）",
        "silence": "静默", "silence_sign": "本指标", "silence_district": "本区县", "minutes": "分钟",
        "reason": "原因（必填，如设备维护）", "silences": "静默中", "no_silences": "当前没有静默", "until": "至",
        "lift": "提前解除", "response": "响应时限", "handling": "处置时限", "feedback": "反馈时限", "due": "到期",
        "acknowledged_by": "确认人", "resolved_by": "处置人", "threshold": "阈值", "since": "开始于",
        "not_found": "告警不存在或已被清理", "read_only": "只读：当前账号不能处置告警", "done": "已完成",
        "refused": "未执行", "counts": "未关闭告警", "signed_in": "当前用户", "acknowledged_done": "已确认",
        "resolved_done": "已处置完毕", "silenced_done": "已静默至 {until}", "lifted_done": "已解除静默",
        "scoped": "只显示{district}的告警与静默", "out_of_scope": "该告警不属于{district}，无权查看",
        "incidents": "事件", "no_incidents": "没有未关闭的事件", "incident": "事件", "members": "告警数",
        "assignee": "负责人", "unassigned": "未指派", "assign": "指派", "assign_to": "指派给（留空为本人）",
        "assign_note": "指派说明（可选）", "assigned_done": "已指派给 {to}",
        "incident_note": "说明（处置完毕时必填，记入每条告警）",
        "ack_all": "全部确认", "assign_all": "全部指派", "resolve_all": "全部处置完毕", "timeline": "事件经过",
        "incident_members": "成员告警", "incident_not_found": "事件不存在或已被清理",
        "incident_acknowledged_done": "已确认 {n} 条告警", "incident_resolved_done": "已处置完毕 {n} 条告警",
        "open_member": "打开", "back_to_incident": "返回事件",
    },
    "en": {
        "brand": "City Eye · duty", "alerts": "Alerts", "duty_log": "Duty log", "events": "Events",
        "inbox": "Inbox", "wall": "Wall", "lang": "中文",
        "sign_out": "Sign out", "title": "Alerts", "all": "All", "level": "Level", "status": "Status",
        "district": "District", "everywhere": "All districts", "recent": "Include recently closed",
        "open_only": "Open only", "sign": "Sign", "value": "Value", "escalation": "Escalation",
        "countdown": "Limit", "raised": "Raised", "silenced": "silenced", "no_alerts": "No alert matches",
        "select": "Select an alert to see its history and act on it", "history": "History", "time": "Time",
        "event": "Event", "by": "By", "note": "Note", "after": "Status after", "acknowledge": "Acknowledge",
        "ack_note": "Note (optional)", "resolve": "Resolve", "resolve_note": "What was done (required)",
        "silence": "Silence", "silence_sign": "this sign", "silence_district": "this district", "minutes": "min",
        "reason": "Reason (required, e.g. maintenance)", "silences": "Silences in force",
        "no_silences": "No silence in force", "until": "until", "lift": "Lift", "response": "Response",
        "handling": "Handling", "feedback": "Feedback", "due": "due", "acknowledged_by": "Acknowledged by",
        "resolved_by": "Resolved by", "threshold": "threshold", "since": "since",
        "not_found": "No such alert (or it has been pruned)",
        "read_only": "Read only: this account cannot act on alerts",
        "done": "Done", "refused": "Not done", "counts": "Open alerts", "signed_in": "Signed in",
        "acknowledged_done": "acknowledged", "resolved_done": "resolved", "silenced_done": "silenced until {until}",
        "lifted_done": "silence lifted", "scoped": "Only {district}'s alerts and silences are shown",
        "out_of_scope": "This alert is not {district}'s: you may not read it",
        "incidents": "Incidents", "no_incidents": "No open incident", "incident": "Incident", "members": "Alerts",
        "assignee": "Assignee", "unassigned": "unassigned", "assign": "Assign",
        "assign_to": "Assign to (empty: yourself)", "assign_note": "Note (optional)",
        "assigned_done": "assigned to {to}",
        "incident_note": "Note (required to resolve; recorded on every alert)", "ack_all": "Acknowledge all",
        "assign_all": "Assign all", "resolve_all": "Resolve all", "timeline": "Timeline",
        "incident_members": "Member alerts", "incident_not_found": "No such incident (or it has been pruned)",
        "incident_acknowledged_done": "{n} alerts acknowledged", "incident_resolved_done": "{n} alerts resolved",
        "open_member": "open", "back_to_incident": "Back to the incident",
    },
}  # fmt: skip
OVERDUE = {"zh": "超时", "en": "overdue"}
STAGE_DEADLINE_KEYS = {Stage.RESPONSE: "response", Stage.HANDLING: "handling", Stage.FEEDBACK: "feedback"}


def text(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "zh"]


def beijing_time(ts: float) -> str:
    return city_text(ts, TimeFormat.DAY_SECOND)


# The view and its URL --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertsView:
    filter: AlertFilter = field(default_factory=AlertFilter)
    selected: str = ""  # the alert shown in detail
    lang: str = "zh"
    incident: str = ""  # the incident shown in detail when no alert is selected

    @classmethod
    def from_query(cls, query: Mapping[str, object]) -> AlertsView:
        """Tolerant, like every page's URL: a filter it does not understand shows everything."""
        values = {key: value for key, value in query.items() if isinstance(value, str)}
        try:
            wanted = AlertFilter.parse(values)
        except ValueError:
            wanted = AlertFilter()
        lang = "en" if values.get("lang") == "en" else "zh"
        return cls(wanted, values.get("alert", "")[:120], lang, values.get("incident", "")[:160])

    def href(self) -> str:
        query = {**self.filter.query(), **({"incident": self.incident} if self.incident else {})}
        if self.selected:
            query["alert"] = self.selected
        if self.lang == "en":
            query["lang"] = "en"
        return ALERTS_PATH + (f"?{urlencode(query)}" if query else "")

    def with_filter(self, **changes: str | int) -> AlertsView:
        return replace(self, filter=replace(self.filter, **changes))  # type: ignore[arg-type]


def view_of(href: object) -> AlertsView:
    """The view back from the href the state store holds (the default view for anything that is no text)."""
    return AlertsView.from_query(dict(parse_qsl(urlsplit(href).query)) if isinstance(href, str) else {})


# The officers' header -----------------------------------------------------------------------------------------


def officer_header(active: str, lang: str, other_lang_href: str, user: User | None) -> html.Header:
    """Alerts, duty log, the wall, the language, and who is signed in with a sign-out button (a POST form: a
    link could be followed by a prefetch or another site)."""
    t = text(lang)
    suffix = "?lang=en" if lang == "en" else ""
    links = [(ALERTS_PATH, t["alerts"]), (DUTY_LOG_PATH, t["duty_log"]), (EVENTS_PATH, t["events"])]
    if user is not None and user.may(Permission.HANDLE):
        links.append((INBOX_PATH, t["inbox"]))
    who: list[Component] = []
    if user is not None:
        who = [
            html.Span(f"{user.display_name} ({user.username})", className="who", title=t["signed_in"]),
            html.Form(
                action=LOGOUT_PATH,
                method="POST",
                className="sign-out",
                children=html.Button(t["sign_out"], type="submit"),
            ),
        ]
    return html.Header(
        className="drill-header officer-header",
        children=[
            html.A(t["brand"], href=WALL_PATH + suffix, className="brand", title=t["wall"]),
            html.Nav(
                className="nav-categories officer-nav",
                children=[
                    *(
                        dcc.Link(
                            label, href=path + suffix, className="nav-link active" if path == active else "nav-link"
                        )
                        for path, label in links
                    ),
                    html.A(t["wall"], href=WALL_PATH + suffix, className="nav-link"),
                ],
            ),
            html.Div(className="header-fill"),
            html.A(t["lang"], href=other_lang_href, className="lang-link"),
            *who,
        ],
    )


# The page -----------------------------------------------------------------------------------------------------


def layout(view: AlertsView, user: User | None, may_act: bool) -> html.Div:
    t = text(view.lang)
    other = replace(view, lang="zh" if view.lang == "en" else "en").href()
    scope = scope_of(user)
    body: list[Component] = [
        html.Div(
            className="title-row officer-title",
            children=[html.H1(t["title"], className="page-title"), html.Div(id=COUNTS, className="severity-counts")],
        ),
        _filters(view, scope),
        *([] if scope.whole_city else [html.P(scope_text("scoped", scope, view.lang), className="muted scope-note")]),
        html.Div(
            className="officer-grid",
            children=[
                html.Div(
                    className="officer-lists",
                    children=[
                        html.Section(
                            className="card incident-list-card",
                            children=[html.H2(t["incidents"]), html.Div(id=INCIDENTS, className="officer-incidents")],
                        ),
                        html.Section(
                            className="card alert-list-card", children=html.Div(id=LIST, className="officer-alerts")
                        ),
                    ],
                ),
                html.Aside(
                    className="side",
                    children=[
                        html.Section(
                            className="card alert-detail-card",
                            children=[
                                html.Div(id=ACTION_RESULT, className="action-result", role="status"),
                                html.Div(id=DETAIL, className="alert-detail"),
                                *([] if may_act else [html.P(t["read_only"], className="muted read-only")]),
                            ],
                        ),
                        html.Section(className="card event-panel-card", children=html.Div(id=EVENT_PANEL)),
                        html.Section(
                            className="card silences-card", children=[html.H2(t["silences"]), html.Div(id=SILENCES)]
                        ),
                    ],
                ),
            ],
        ),
        dcc.Store(id=STATE, data=view.href()),
        dcc.Store(id=ACTED, data=0),
        dcc.Store(id=AUDIT_SEEN),
        dcc.Store(id=DETAIL_SEEN),
        dcc.Interval(id=TICK, interval=REFRESH_MS),
    ]
    return html.Div(
        className=ROOT_CLASS,
        lang=view.lang,
        children=[officer_header(ALERTS_PATH, view.lang, other, user), html.Main(body, className="drill-body")],
    )


def _segment(label: str, href: str, active: bool) -> dcc.Link:
    return dcc.Link(label, href=href, className="seg active" if active else "seg")


def scope_text(key: str, scope: Scope, lang: str) -> str:
    """What a district leader's scope leaves out ("Only 保康县's alerts..."), in the page's language."""
    return text(lang)[key].format(district=district_name(scope.district, lang))


def out_of_scope(scope: Scope, lang: str) -> list[Component]:
    """The detail of an alert the user's scope does not cover: only that it is refused."""
    return [html.P(scope_text("out_of_scope", scope, lang), className="error out-of-scope")]


def _filters(view: AlertsView, scope: Scope) -> html.Div:
    t, lang = text(view.lang), view.lang
    wanted = view.filter
    levels = [_segment(t["all"], view.with_filter(level="").href(), not wanted.level)]
    levels += [
        _segment(LEVEL_NAMES[lang][i], view.with_filter(level=name).href(), wanted.level == name)
        for i, name in zip((4, 3, 2, 1), LEVELS, strict=True)
    ]
    statuses = [_segment(t["all"], view.with_filter(status="").href(), not wanted.status)]
    shown = OPEN_STATUSES + (FINAL_STATUSES if wanted.recent else ())
    statuses += [
        _segment(STATUS_LABELS[lang][s], view.with_filter(status=s.value).href(), wanted.status == s.value)
        for s in shown
    ]
    districts = [dcc.Link(t["everywhere"], href=view.with_filter(district="").href(), className="menu-item")]
    districts += [
        dcc.Link(
            district_name(adcode, lang),
            href=view.with_filter(district=adcode).href(),
            className="menu-item active" if adcode == wanted.district else "menu-item",
        )
        for adcode in (CITY_ADCODE, *DISTRICTS)
        if scope.covers(adcode)
    ]
    district_label = district_name(wanted.district, lang) if wanted.district else t["everywhere"]
    recent = (
        view.with_filter(recent=0, status="" if wanted.status in {s.value for s in FINAL_STATUSES} else wanted.status)
        if wanted.recent
        else view.with_filter(recent=RECENT_DEFAULT)
    )
    return html.Div(
        className="toolbar alert-filters",
        children=[
            html.Span(t["level"], className="filter-label"),
            html.Div(levels, className="segmented levels"),
            html.Span(t["status"], className="filter-label"),
            html.Div(statuses, className="segmented statuses"),
            html.Details(
                className="nav-menu district-filter",
                children=[html.Summary(district_label), html.Div(districts, className="menu")],
            ),
            dcc.Link(
                t["open_only"] if wanted.recent else t["recent"],
                href=recent.href(),
                className="seg recent-toggle" + (" active" if wanted.recent else ""),
            ),
        ],
    )


# Filled by the callbacks ----------------------------------------------------------------------------------------


def counts_children(counts: Mapping[str, int], lang: str) -> list[Component]:
    t = text(lang)
    chips: list[Component] = [html.Span(t["counts"], className="muted")]
    for i, name in zip((4, 3, 2, 1), LEVELS, strict=True):
        chips.append(
            html.Span(
                [html.Span(LEVEL_NAMES[lang][i]), html.B(str(counts.get(name, 0)))],
                className=f"sev-chip sev-{i}",
                **data_attrs(level=name),
            )
        )
    return chips


def countdown_span(due_at: float, label: str, overdue_label: str, now: float) -> html.Span:
    """Drawn here with the server's time, then ticked every second by assets/alerts.js."""
    left = due_at - now
    return html.Span(
        f"{overdue_label if left < 0 else label} {clock_text(abs(left))}",
        className="countdown" + (" overdue" if left < 0 else ""),
        **data_attrs(due=repr(due_at), label=label, overdue=overdue_label),
    )


def clock_text(seconds: float) -> str:
    """mm:ss under an hour, h:mm:ss beyond."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def next_countdown(alert: Alert, now: float, lang: str) -> Component:
    due = countdown(alert, now)
    if due is None:
        return html.Span("—", className="muted")
    t = text(lang)
    return countdown_span(due.due_at, t[STAGE_DEADLINE_KEYS[due.stage]], stage_label(due.stage, lang), now)


def status_badge(alert: Alert, lang: str) -> html.Span:
    label = STATUS_LABELS["en" if lang == "en" else "zh"][alert.status]
    if alert.acknowledged is not None and alert.status is AlertStatus.ACKNOWLEDGED:
        label = f"{label} · {alert.acknowledged.by}"
    return html.Span(label, className=f"status-badge {alert.status.value}")


def _badges(alert: Alert, lang: str) -> list[Component]:
    out: list[Component] = []
    if alert.escalation:
        out.append(
            html.Span(stage_label(alert.escalation, lang), className=f"escalation-badge stage-{alert.escalation}")
        )
    if alert.silence is not None:
        out.append(html.Span(text(lang)["silenced"], className="silenced-badge", title=alert.silence.reason))
    return out


def list_children(alerts: list[Alert], view: AlertsView, now: float) -> list[Component]:
    t, lang = text(view.lang), view.lang
    clock = html.Span(className="server-clock", **data_attrs(server_now=repr(now)))
    if not alerts:
        return [clock, html.P(t["no_alerts"], className="muted empty")]
    header = html.Tr(
        [
            html.Th(t[key])
            for key in ("level", "sign", "district", "value", "status", "escalation", "countdown", "raised")
        ]
    )
    rows = [
        html.Tr(
            className=f"officer-alert lvl-{int(a.level)} {a.status.value}"
            + (" selected" if a.id == view.selected else ""),
            **data_attrs(alert_id=a.id),
            children=[
                html.Td(level_chip(int(a.level), lang)),
                html.Td(
                    dcc.Link(
                        alert_name(a, lang),
                        href=replace(view, selected=a.id).href(),
                        className="alert-link",
                        title=a.sign_id,
                    )
                ),
                html.Td(district_name(a.district, lang)),
                html.Td(f"{format_value(a.value)} {alert_unit(a, lang)}", className=f"num lvl-text-{int(a.level)}"),
                html.Td(status_badge(a, lang)),
                html.Td(_badges(a, lang)),
                html.Td(next_countdown(a, now, lang)),
                html.Td(beijing_time(a.raised_at), className="num muted"),
            ],
        )
        for a in alerts[:LISTED]
    ]
    return [clock, html.Table([html.Thead(header), html.Tbody(rows)], className="alert-table")]


def _deadlines(alert: Alert, now: float, lang: str) -> html.Dl:
    t = text(lang)
    rows: list[Component] = []
    met = {
        Stage.RESPONSE: alert.acknowledged is not None,
        Stage.HANDLING: not alert.status.condition_holds,
        Stage.FEEDBACK: not alert.status.is_open,
    }
    for stage, due_at in (
        (Stage.RESPONSE, alert.due.response),
        (Stage.HANDLING, alert.due.handling),
        (Stage.FEEDBACK, alert.due.feedback),
    ):
        label = t[STAGE_DEADLINE_KEYS[stage]]
        value: Component = (
            html.Span(f"{t['due']} {beijing_time(due_at)}", className="muted")
            if met[stage]
            else html.Span(
                [
                    countdown_span(due_at, label, stage_label(stage, lang), now),
                    html.Span(f" · {t['due']} {beijing_time(due_at)}", className="muted"),
                ]
            )
        )
        rows += [html.Dt(label), html.Dd(value)]
    return html.Dl(rows, className="deadlines")


def history_table(transitions: list[Transition], lang: str) -> html.Table:
    t = text(lang)
    events, statuses = EVENT_LABELS["en" if lang == "en" else "zh"], STATUS_LABELS["en" if lang == "en" else "zh"]
    header = html.Tr([html.Th(t[key]) for key in ("time", "event", "by", "note", "after")])
    rows = [
        html.Tr(
            className=f"history-row {tr.event.value}",
            children=[
                html.Td(beijing_time(tr.at), className="num"),
                html.Td(events[tr.event]),
                html.Td(tr.by),
                html.Td(transition_note(tr, lang)),
                html.Td(statuses.get(tr.status, "")),
            ],
        )
        for tr in transitions
    ]
    return html.Table([html.Thead(header), html.Tbody(rows)], className="history-table")


def detail_children(
    alert: Alert | None, transitions: list[Transition], may_act: bool, now: float, lang: str
) -> list[Component]:
    t = text(lang)
    if alert is None:
        return [html.P(t["not_found"], className="muted")]
    facts: list[Component] = [
        html.Span(
            f"{format_value(alert.value)} {alert_unit(alert, lang)}", className=f"big-value lvl-text-{int(alert.level)}"
        ),
        level_chip(int(alert.level), lang),
        status_badge(alert, lang),
        *_badges(alert, lang),
    ]
    people: list[Component] = []
    if (ack := alert.acknowledged) is not None:
        people.append(
            html.P(f"{t['acknowledged_by']}: {ack.by} · {beijing_time(ack.at)} · {ack.note}", className="ack-line")
        )
    if alert.resolved is not None:
        people.append(
            html.P(
                f"{t['resolved_by']}: {alert.resolved.by} · {beijing_time(alert.resolved.at)} · {alert.resolved.note}",
                className="resolve-line",
            )
        )
    if alert.assignee is not None:
        a = alert.assignee
        note = f" · {a.note}" if a.note else ""
        people.append(
            html.P(f"{t['assignee']}: {a.to} · {a.by} · {beijing_time(a.at)}{note}", className="assignee-line")
        )
    if alert.silence is not None:
        s = alert.silence
        people.append(
            html.P(
                f"{t['silenced']}: {s.reason} · {s.by} · {t['until']} {beijing_time(s.until)}", className="silence-line"
            )
        )
    threshold = f" · {t['threshold']} {format_value(alert.threshold)}" if alert.threshold is not None else ""
    back: list[Component] = []
    if alert.incident:
        back = [dcc.Link(t["back_to_incident"], href=f"{ALERTS_PATH}?incident={alert.incident}", className="back-link")]
    return [
        *back,
        html.H2(alert_name(alert, lang), className="detail-title", title=alert.sign_id),
        html.P(
            f"{district_name(alert.district, lang)} · {t['since']} {beijing_time(alert.since)}{threshold}",
            className="muted",
        ),
        html.Div(facts, className="detail-facts"),
        *people,
        _deadlines(alert, now, lang),
        *([action_forms(alert, lang)] if may_act and alert.status.is_open else []),
        html.H2(t["history"], className="history-title"),
        history_table(transitions, lang),
    ]


class Persistence(TypedDict):
    """The persistence props of a dcc.Input, typed so that `**kept_while_redrawn(...)` checks against them."""

    persistence: str
    persistence_type: Literal["memory"]


def kept_while_redrawn(item_id: str) -> Persistence:
    """What an officer is typing survives the detail being redrawn (a member's level changed, another officer
    acted): Dash restores a user's edits to an input re-created with the same id and persistence key, and the key
    is the alert or incident, so a note never carries over to another one."""
    return {"persistence": item_id, "persistence_type": "memory"}


def action_forms(alert: Alert, lang: str) -> html.Div:
    """Acknowledge, resolve and silence, for users who may act on an open alert. The three are drawn together,
    acknowledge disabled once someone has: the callback that acts needs all its inputs on the page."""
    t = text(lang)
    return html.Div(
        className="action-forms",
        children=[
            html.Div(
                className="action-row",
                children=[
                    dcc.Input(
                        id=ACK_NOTE,
                        **kept_while_redrawn(alert.id),
                        type="text",
                        placeholder=t["ack_note"],
                        maxLength=500,
                        className="note-input",
                    ),
                    html.Button(
                        t["acknowledge"], id=ACK_BUTTON, className="action ack", disabled=alert.acknowledged is not None
                    ),
                ],
            ),
            html.Div(
                className="action-row",
                children=[
                    dcc.Input(
                        id=RESOLVE_NOTE,
                        **kept_while_redrawn(alert.id),
                        type="text",
                        placeholder=t["resolve_note"],
                        maxLength=500,
                        className="note-input",
                    ),
                    html.Button(t["resolve"], id=RESOLVE_BUTTON, className="action resolve"),
                ],
            ),
            html.Div(
                className="action-row assign-row",
                children=[
                    dcc.Input(
                        id=ASSIGN_TO,
                        **kept_while_redrawn(alert.id),
                        type="text",
                        placeholder=t["assign_to"],
                        maxLength=64,
                        className="who-input",
                    ),
                    dcc.Input(
                        id=ASSIGN_NOTE,
                        **kept_while_redrawn(alert.id),
                        type="text",
                        placeholder=t["assign_note"],
                        maxLength=500,
                        className="note-input",
                    ),
                    html.Button(t["assign"], id=ASSIGN_BUTTON, className="action assign"),
                ],
            ),
            html.Div(
                className="action-row silence-row",
                children=[
                    dcc.RadioItems(
                        id=SILENCE_SCOPE,
                        options=[
                            {"label": t["silence_sign"], "value": SilenceScope.SIGN.value},
                            {
                                "label": f"{t['silence_district']} ({district_name(alert.district, lang)})",
                                "value": SilenceScope.DISTRICT.value,
                            },
                        ],
                        value=SilenceScope.SIGN.value,
                        inline=True,
                        className="scope",
                    ),
                    dcc.Input(
                        id=SILENCE_MINUTES,
                        type="number",
                        min=SILENCE_MINUTES_MIN,
                        max=SILENCE_MINUTES_MAX,
                        step=5,
                        value=SILENCE_MINUTES_DEFAULT,
                        className="minutes-input",
                    ),  # fmt: skip
                    html.Span(t["minutes"], className="muted"),
                    dcc.Input(
                        id=SILENCE_REASON,
                        **kept_while_redrawn(alert.id),
                        type="text",
                        placeholder=t["reason"],
                        maxLength=500,
                        className="note-input",
                    ),
                    html.Button(t["silence"], id=SILENCE_BUTTON, className="action silence"),
                ],
            ),
        ],
    )


def assignee_text(incident_or_alert: IncidentView | Alert, lang: str) -> str:
    assignment = (
        incident_or_alert.incident.assignee
        if isinstance(incident_or_alert, IncidentView)
        else incident_or_alert.assignee
    )
    return assignment.to if assignment is not None else text(lang)["unassigned"]


def incident_status_badge(incident: IncidentView, lang: str) -> html.Span:
    status = incident.status
    return html.Span(STATUS_LABELS["en" if lang == "en" else "zh"][status], className=f"status-badge {status.value}")


def incidents_children(incidents: list[IncidentView], view: AlertsView) -> list[Component]:
    """The open incidents, in the pressing order; each links to its detail."""
    t, lang = text(view.lang), view.lang
    if not incidents:
        return [html.P(t["no_incidents"], className="muted empty")]
    header = html.Tr([html.Th(t[key]) for key in ("level", "incident", "status", "assignee", "raised")])
    rows = [
        html.Tr(
            className=f"officer-incident lvl-{int(i.level)} {i.status.value}"
            + (" selected" if i.id == view.incident and not view.selected else ""),
            **data_attrs(incident_id=i.id, count=str(i.count)),
            children=[
                html.Td(level_chip(int(i.level), lang)),
                html.Td(
                    dcc.Link(
                        i.title(lang), href=replace(view, incident=i.id, selected="").href(), className="incident-link"
                    )
                ),
                html.Td(incident_status_badge(i, lang)),
                html.Td(assignee_text(i, lang), className="assignee"),
                html.Td(beijing_time(i.latest_raise), className="num muted"),
            ],
        )
        for i in incidents[:LISTED]
    ]
    return [html.Table([html.Thead(header), html.Tbody(rows)], className="incident-table")]


TIMELINE_LABELS = {
    "zh": {
        TimelineEvent.OPENED: "开始", TimelineEvent.JOINED: "并入告警", TimelineEvent.ACKNOWLEDGED: "确认",
        TimelineEvent.ASSIGNED: "指派", TimelineEvent.RESOLVED: "处置完毕",
    },
    "en": {
        TimelineEvent.OPENED: "opened", TimelineEvent.JOINED: "alert joined",
        TimelineEvent.ACKNOWLEDGED: "acknowledged", TimelineEvent.ASSIGNED: "assigned",
        TimelineEvent.RESOLVED: "resolved",
    },
}  # fmt: skip


def _timeline_note(entry: TimelineEntry, members: Mapping[str, Alert], lang: str) -> str:
    if entry.event in (TimelineEvent.OPENED, TimelineEvent.JOINED):
        # The entry's note is the member's name as raised (Chinese): the member, where kept, names it in `lang`.
        member = members.get(entry.alert_id)
        name = alert_name(member, lang) if member else entry.note
        return f"{name} · {LEVEL_NAMES[lang][_LEVEL_INDEX.get(entry.detail, 0)]}"
    if entry.event is TimelineEvent.ASSIGNED:
        return " · ".join(part for part in (f"→ {entry.detail}", entry.note) if part)
    return entry.note


_LEVEL_INDEX = {"normal": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}


def incident_detail_children(
    incident: IncidentView | None, timeline: list[TimelineEntry], may_act: bool, view: AlertsView, now: float
) -> list[Component]:
    """One incident: its members (each opens to act on it alone), the forms acting on all of them, its timeline."""
    t, lang = text(view.lang), view.lang
    if incident is None:
        return [html.P(t["incident_not_found"], className="muted")]
    members = html.Table(
        className="alert-table incident-members",
        children=[
            html.Thead(html.Tr([html.Th(t[key]) for key in ("level", "sign", "value", "status", "countdown")])),
            html.Tbody(
                [
                    html.Tr(
                        className=f"officer-alert lvl-{int(a.level)} {a.status.value}",
                        **data_attrs(alert_id=a.id),
                        children=[
                            html.Td(level_chip(int(a.level), lang)),
                            html.Td(
                                dcc.Link(
                                    alert_name(a, lang),
                                    href=replace(view, selected=a.id).href(),
                                    className="alert-link",
                                )
                            ),
                            html.Td(f"{format_value(a.value)} {alert_unit(a, lang)}", className="num"),
                            html.Td(status_badge(a, lang)),
                            html.Td(next_countdown(a, now, lang)),
                        ],
                    )
                    for a in incident.members
                ]
            ),
        ],
    )
    members_by_id = {a.id: a for a in incident.members}
    timeline_rows = [
        html.Tr(
            className=f"timeline-row {entry.event.value}",
            children=[
                html.Td(beijing_time(entry.at), className="num"),
                html.Td(TIMELINE_LABELS[lang][entry.event]),
                html.Td(entry.by),
                html.Td(_timeline_note(entry, members_by_id, lang)),
            ],
        )
        for entry in timeline
    ]
    header = html.Tr([html.Th(t[key]) for key in ("time", "event", "by", "note")])
    return [
        html.H2(incident.title(lang), className="detail-title incident-title", **data_attrs(incident_id=incident.id)),
        html.Div(
            [
                level_chip(int(incident.level), lang),
                incident_status_badge(incident, lang),
                html.Span(f"{t['assignee']}: {assignee_text(incident, lang)}", className="assignee"),
            ],
            className="detail-facts",
        ),
        *([incident_forms(incident.id, lang)] if may_act and incident.status.is_open else []),
        html.H2(t["incident_members"], className="history-title"),
        members,
        html.H2(t["timeline"], className="history-title"),
        html.Table([html.Thead(header), html.Tbody(timeline_rows)], className="history-table incident-timeline"),
    ]


def incident_forms(incident_id: str, lang: str) -> html.Div:
    """One note for an act on every member: acknowledge all, assign all (to the named officer, or oneself),
    resolve all (the note required)."""
    t = text(lang)
    return html.Div(
        className="action-forms incident-forms",
        children=[
            dcc.Input(
                id=INCIDENT_NOTE,
                **kept_while_redrawn(incident_id),
                type="text",
                placeholder=t["incident_note"],
                maxLength=500,
                className="note-input",
            ),
            html.Div(
                className="action-row",
                children=[
                    html.Button(t["ack_all"], id=INCIDENT_ACK_BUTTON, className="action ack"),
                    html.Button(t["resolve_all"], id=INCIDENT_RESOLVE_BUTTON, className="action resolve"),
                ],
            ),
            html.Div(
                className="action-row assign-row",
                children=[
                    dcc.Input(
                        id=INCIDENT_ASSIGN_TO,
                        **kept_while_redrawn(incident_id),
                        type="text",
                        placeholder=t["assign_to"],
                        maxLength=64,
                        className="who-input",
                    ),
                    html.Button(t["assign_all"], id=INCIDENT_ASSIGN_BUTTON, className="action assign"),
                ],
            ),
        ],
    )


def select_prompt(lang: str) -> list[Component]:
    return [html.P(text(lang)["select"], className="muted")]


def silences_children(silences: list[Silence], may_act: bool, lang: str) -> list[Component]:
    t = text(lang)
    if not silences:
        return [html.P(t["no_silences"], className="muted")]
    rows: list[Component] = []
    for s in silences:
        target = district_name(s.target, lang) if s.scope is SilenceScope.DISTRICT else s.target
        rows.append(
            html.Div(
                className="silence-item",
                **data_attrs(silence_id=s.id),
                children=[
                    html.Span(target, className="silence-target", title=s.target),
                    html.Span(f"{t['until']} {beijing_time(s.until)}", className="num"),
                    html.Span(f"{s.reason} · {s.by}", className="muted silence-reason"),
                    *(
                        [html.Button(t["lift"], id={"type": LIFT_BUTTON, "silence": s.id}, className="action lift")]
                        if may_act
                        else []
                    ),
                ],
            )
        )
    return rows


def may_act(user: User | None) -> bool:
    return user is not None and user.may(Permission.ACT)


def register_pages() -> None:
    def page(**query: object) -> html.Div:
        user = current_user()  # the request's, resolved by auth.web's guard
        return layout(AlertsView.from_query(query), user, may_act(user))

    dash.register_page(
        "alerts", path=ALERTS_PATH, layout=page, title=lambda: tab_title(TEXT["zh"]["title"], TEXT["en"]["title"])
    )
