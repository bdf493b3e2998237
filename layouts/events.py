"""The event hub's pages. No I/O; views/events.py reads, callbacks/events.py wires.

* /inbox, for a department's handlers (处置部门), on a laptop and at phone width (360 px): their unit's events with
  live countdowns to the response, handling and feedback limits (red once late), and for the selected one the
  forms to sign for (签收), note progress, upload photos, finish (handled, with a note, and a photo where the type
  needs one) or return it (退单, with a reason).
* /events, for the centre's officers: every event, filters in the URL, and for the selected one the forms to
  dispatch it by hand, verify and close it (核查结案), escalate it, and rate the handling (事后评价, 1–5).
* A panel on /alerts: the selected alert's or incident's event, or the form to raise one from it.

The selected event is in the URL (?event=<id>), like every filter, so back, forward and a copied link show the same
view. Controls are drawn only for users who may use them; the server checks again (api/events.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlencode, urlsplit

import dash
from dash import dcc, html
from dash.development.base_component import Component

from auth.model import Permission, Role, User
from auth.web import current_user
from dispatch.library import Library, library
from dispatch.lifecycle import RATING_MAX, RATING_MIN
from dispatch.model import Status, Transition
from geo.admin import DISTRICTS
from layouts.alerts import (
    EVENTS_PATH,
    INBOX_PATH,
    ROOT_CLASS,
    beijing_time,
    countdown_span,
    kept_while_redrawn,
    officer_header,
)
from layouts.attrs import data_attrs
from layouts.titles import tab_title
from views.events import STATUS_CHOICES, ClockView, EventCard, EventDetail, EventFilter

# Component ids: callbacks/events.py uses these names and no others. One of the two pages is on screen at a time.
STATE = "events-state"  # {"page": "inbox" | "events", "href": the page's URL}
TICK = "events-tick"
ACTED = "events-acted"  # bumped by every action, so that the page refreshes at once
AUDIT_SEEN = "events-audit-seen"
DETAIL_SEEN = "events-detail-seen"
COUNTS = "events-counts"
LIST = "events-list"
DETAIL = "events-detail"
ACTION_RESULT = "events-action-result"
NOTE = "events-note"  # the one note of a step (progress, finish, return, close, escalate, dispatch, rating)
PHOTO_UPLOAD = "events-photo-upload"
SIGN_FOR_BUTTON = "events-sign-for"
PROGRESS_BUTTON = "events-progress"
HANDLE_BUTTON = "events-handle"
RETURN_BUTTON = "events-return"
DISPATCH_TO = "events-dispatch-to"
DISPATCH_BUTTON = "events-dispatch"
CLOSE_BUTTON = "events-close"
ESCALATE_BUTTON = "events-escalate"
RATING = "events-rating"
RATE_BUTTON = "events-rate"
# The panel on /alerts (its place there is layouts.alerts.EVENT_PANEL).
FROM_ALERT_TYPE = "events-from-alert-type"
FROM_ALERT_BUTTON = "events-from-alert-button"
FROM_ALERT_RESULT = "events-from-alert-result"

INBOX, EVENTS = "inbox", "events"
REFRESH_MS = 3_000
LISTED = 300
# What a page's upload box lets through before the server's own checks (dispatch/evidence.py).
PHOTO_ACCEPT = "image/jpeg,image/png,image/webp"

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "inbox": "待办事件", "events": "事件中心", "select": "选择一件事件查看并处置", "none": "没有事件",
        "reported": "上报", "type": "类型", "place": "地点", "unit": "承办单位", "co_units": "协办单位",
        "supervisor": "督办单位", "source": "来源", "description": "描述", "closure": "结案标准",
        "history": "处置经过", "time": "时间", "step": "环节", "by": "人员", "note": "说明",
        "note_placeholder": "说明（进展、完成情况或退单原因）", "sign_for": "签收", "progress": "记录进展",
        "handle": "处置完成", "return": "退单", "dispatch": "派单", "close": "核查结案", "escalate": "升级督办",
        "rate": "评价", "rating": "评分", "dispatch_to": "派给部门", "photo": "上传现场照片（JPEG、PNG、WebP）",
        "photos": "现场照片", "needs_photo": "此类事件完成时须附照片", "done": "已完成", "refused": "未执行",
        "not_found": "事件不存在", "out_of_scope": "该事件不属于你的单位，无权查看", "late": "超时",
        "on_time": "按时", "response": "响应", "handling": "处置", "feedback": "反馈", "left": "剩余",
        "late_count": "超时", "all": "全部", "open": "未结案", "district": "区县", "department": "承办部门",
        "category": "类别", "everywhere": "全部", "late_only": "只看超时", "filter": "筛选",
        "scoped": "只显示{unit}的事件", "read_only": "只读：当前账号不能处置事件", "from_alert": "转为事件",
        "from_alert_type": "事件类型", "raised_event": "已转为事件", "linked": "关联告警", "rating_done": "已评价",
        "uploaded": "照片已上传", "status": "状态", "id": "编号", "centre": "城运中心",
    },
    "en": {
        "inbox": "Inbox", "events": "Events", "select": "Select an event to see it and act on it",
        "none": "No events", "reported": "Reported", "type": "Type", "place": "Place", "unit": "Handled by",
        "co_units": "Also dispatched to", "supervisor": "Supervised by", "source": "Source",
        "description": "Description", "closure": "Closure standard", "history": "History", "time": "Time",
        "step": "Step", "by": "By", "note": "Note",
        "note_placeholder": "Note (progress, what was done, or why returned)",
        "sign_for": "Sign for", "progress": "Note progress", "handle": "Finish", "return": "Return",
        "dispatch": "Dispatch", "close": "Verify and close", "escalate": "Escalate", "rate": "Rate",
        "rating": "Rating", "dispatch_to": "Dispatch to", "photo": "Upload a photo (JPEG, PNG, WebP)",
        "photos": "Photos", "needs_photo": "Finishing this type needs a photo", "done": "Done", "refused": "Not done",
        "not_found": "No such event", "out_of_scope": "This event is not your unit's: you may not read it",
        "late": "late", "on_time": "on time", "response": "Response", "handling": "Handling", "feedback": "Feedback",
        "left": "left", "late_count": "Late", "all": "All", "open": "Open", "district": "District",
        "department": "Department", "category": "Category", "everywhere": "All", "late_only": "Late only",
        "filter": "Filter", "scoped": "Only {unit}'s events are shown",
        "read_only": "Read only: this account cannot act on events", "from_alert": "Raise an event",
        "from_alert_type": "Event type", "raised_event": "Raised as event", "linked": "From alert",
        "rating_done": "Rated", "uploaded": "Photo uploaded", "status": "Status", "id": "Id", "centre": "Centre",
    },
}  # fmt: skip
STATUS_LABELS: dict[str, dict[str, str]] = {
    "zh": {"reported": "待派单", "dispatched": "待签收", "signed_for": "已签收", "in_progress": "处置中",
           "handled": "待核查", "closed": "已结案", "returned": "已退单", "open": "未结案", "all": "全部"},
    "en": {"reported": "Reported", "dispatched": "Dispatched", "signed_for": "Signed for",
           "in_progress": "In progress", "handled": "Handled", "closed": "Closed", "returned": "Returned",
           "open": "Open", "all": "All"},
}  # fmt: skip
ACTION_LABELS: dict[str, dict[str, str]] = {
    "zh": {"reported": "上报", "dispatched": "派单", "signed_for": "签收", "progress": "进展", "handled": "处置完成",
           "closed": "结案", "returned": "退单", "escalated": "升级", "rated": "评价"},
    "en": {"reported": "reported", "dispatched": "dispatched", "signed_for": "signed for", "progress": "progress",
           "handled": "handled", "closed": "closed", "returned": "returned", "escalated": "escalated",
           "rated": "rated"},
}  # fmt: skip


def text(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "zh"]


def status_label(status: str, lang: str) -> str:
    return STATUS_LABELS["en" if lang == "en" else "zh"][status]


# The view and its URL --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventsView:
    page: str  # INBOX or EVENTS
    filter: EventFilter
    lang: str = "zh"

    @classmethod
    def from_query(cls, page: str, query: Mapping[str, object], lib: Library) -> EventsView:
        return cls(page, EventFilter.from_query(query, lib), "en" if query.get("lang") == "en" else "zh")

    @property
    def path(self) -> str:
        return INBOX_PATH if self.page == INBOX else EVENTS_PATH

    def href(self, lang: str | None = None) -> str:
        return self.path + self.filter.query_string(lang or self.lang)

    def selecting(self, event_id: str) -> str:
        return replace(self, filter=replace(self.filter, selected=event_id)).href()

    def as_data(self) -> dict[str, str]:
        return {"page": self.page, "href": self.href()}


def view_of(state: object, lib: Library) -> EventsView:
    """The view back from the state store (the inbox's default view for anything it does not understand)."""
    data = state if isinstance(state, dict) else {}
    page = EVENTS if data.get("page") == EVENTS else INBOX
    href = data.get("href")
    query = dict(parse_qsl(urlsplit(href).query)) if isinstance(href, str) else {}
    return EventsView.from_query(page, query, lib)


# Pieces ---------------------------------------------------------------------------------------------------------


def clock_chip(view: ClockView, lang: str, now: float) -> html.Span:
    """A running clock counts down (ticked by assets/alerts.js); a stopped one says whether it was on time."""
    t = text(lang)
    name = t[view.clock.value]
    if view.due_at is None:
        return html.Span(f"{name} —", className="clock-chip idle")
    if view.running:
        return html.Span(
            countdown_span(view.due_at, f"{name} {t['left']}", f"{name} {t['late']}", now),
            className="clock-chip running" + (" late" if view.late else ""),
        )
    verdict = t["late"] if view.late else t["on_time"]
    return html.Span(f"{name} {verdict}", className="clock-chip stopped" + (" late" if view.late else ""))


def clocks_row(c: EventCard, lang: str, now: float) -> html.Div:
    return html.Div([clock_chip(v, lang, now) for v in c.clocks], className="clocks")


def status_badge(status: Status, lang: str) -> html.Span:
    return html.Span(status_label(status.value, lang), className=f"event-status {status.value}")


def list_children(cards: list[EventCard], view: EventsView, now: float) -> list[Component]:
    """The events as cards (a phone's width stacks them; a laptop's lays them out in a grid)."""
    t, lang = text(view.lang), view.lang
    clock = html.Span(className="server-clock", **data_attrs(server_now=repr(now)))
    if not cards:
        return [clock, html.P(t["none"], className="muted empty")]
    items = [
        html.Div(
            className="event-card"
            + (" late" if c.late else "")
            + (" selected" if c.event.id == view.filter.selected else ""),
            **data_attrs(event_id=c.event.id),
            children=dcc.Link(
                href=view.selecting(c.event.id),
                className="event-card-link",
                children=[
                    html.Div(
                        className="event-card-top",
                        children=[html.B(c.type_name, className="event-type"), status_badge(c.event.status, lang)],
                    ),
                    html.Div(c.place, className="event-place muted"),
                    *([html.Div(c.unit, className="event-unit")] if view.page == EVENTS and c.unit else []),
                    clocks_row(c, lang, now),
                ],
            ),
        )
        for c in cards[:LISTED]
    ]
    return [clock, html.Div(items, className="event-cards")]


def counts_children(counts: Mapping[str, int], late: int, lang: str) -> list[Component]:
    shown = [s for s in Status if s is not Status.CLOSED and counts.get(s.value)]
    chips: list[Component] = [
        html.Span([status_label(s.value, lang), html.B(str(counts[s.value]))], className=f"count-chip status-{s.value}")
        for s in shown
    ]
    chips.append(html.Span([text(lang)["late_count"], html.B(str(late))], className="count-chip late-count"))
    return chips


def _facts(c: EventCard, lang: str) -> html.Dl:
    t, event = text(lang), c.event
    rows = [
        (t["id"], event.id),
        (t["place"], c.place),
        (t["reported"], beijing_time(event.reported_at)),
        (t["source"], f"{event.source.value} {event.source_ref}".strip()),
        (t["unit"], c.unit or t["centre"]),
        *([(t["co_units"], "、".join(c.co_units) if lang != "en" else ", ".join(c.co_units))] if c.co_units else []),
        *([(t["supervisor"], c.supervisor)] if c.supervisor else []),
        *([(t["linked"], ", ".join(event.linked))] if event.linked else []),
        *([(t["rating"], f"{event.rating}/{RATING_MAX} {event.rating_note}")] if event.rating else []),
        (t["closure"], c.closure),
    ]
    return html.Dl([part for key, value in rows for part in (html.Dt(key), html.Dd(value))], className="event-facts")


def history_table(entries: list[Transition], lang: str) -> html.Table:
    t, labels = text(lang), ACTION_LABELS["en" if lang == "en" else "zh"]
    header = html.Tr([html.Th(t[k]) for k in ("time", "step", "by", "note")])
    rows = [
        html.Tr([html.Td(beijing_time(e.at), className="num"), html.Td(labels.get(e.action, e.action)), html.Td(e.by),
                 html.Td(e.note)])
        for e in entries
    ]  # fmt: skip
    return html.Table([html.Thead(header), html.Tbody(rows)], className="history-table event-history")


def _photos(urls: tuple[str, ...], lang: str) -> list[Component]:
    if not urls:
        return []
    images = [html.A(html.Img(src=u, className="evidence-thumb", alt=text(lang)["photos"]), href=u, target="_blank")
              for u in urls]  # fmt: skip
    return [html.Div(images, className="evidence-photos")]


def _button(label: str, button_id: str, step: str, c: EventCard, kind: str = "") -> html.Button:
    return html.Button(label, id=button_id, className=f"action {kind}".strip(), disabled=step not in c.steps)


def handler_forms(c: EventCard, lang: str) -> html.Div:
    """Sign for, note progress, upload photos, finish, return: all drawn (disabled where the state does not allow
    them), since the callback that acts needs every one of its inputs on the page."""
    t, event_id = text(lang), c.event.id
    return html.Div(
        className="action-forms handler-forms",
        children=[
            dcc.Textarea(
                id=NOTE,
                **kept_while_redrawn(event_id),
                placeholder=t["note_placeholder"],
                maxLength=4000,
                className="note-input",
            ),  # fmt: skip
            *([html.P(t["needs_photo"], className="muted needs-photo")] if c.needs_photo else []),
            dcc.Upload(
                id=PHOTO_UPLOAD,
                accept=PHOTO_ACCEPT,
                multiple=False,
                className="photo-upload",
                disabled="handle" not in c.steps,
                children=html.Span(t["photo"]),
            ),  # fmt: skip
            html.Div(
                className="action-row",
                children=[
                    _button(t["sign_for"], SIGN_FOR_BUTTON, "sign_for", c, "primary"),
                    _button(t["progress"], PROGRESS_BUTTON, "progress", c),
                    _button(t["handle"], HANDLE_BUTTON, "handle", c, "primary"),
                    _button(t["return"], RETURN_BUTTON, "return", c, "danger"),
                ],
            ),
        ],
    )


def centre_forms(c: EventCard, lib: Library, lang: str) -> html.Div:
    """Dispatch by hand, verify and close, escalate, rate: all drawn, disabled where the state does not allow."""
    t, event_id = text(lang), c.event.id
    departments = [
        {"label": d.name_en if lang == "en" else d.short_zh, "value": d.id} for d in lib.departments.values()
    ]
    lead = c.event.unit.department if c.event.unit else lib.types[c.event.type_code].departments[0]
    return html.Div(
        className="action-forms centre-forms",
        children=[
            dcc.Textarea(
                id=NOTE, **kept_while_redrawn(event_id), placeholder=t["note"], maxLength=4000, className="note-input"
            ),  # fmt: skip
            html.Div(
                className="action-row",
                children=[
                    dcc.Dropdown(
                        id=DISPATCH_TO, options=departments, value=lead, clearable=False, className="dispatch-to"
                    ),  # fmt: skip
                    _button(t["dispatch"], DISPATCH_BUTTON, "dispatch", c, "primary"),
                ],
            ),
            html.Div(
                className="action-row",
                children=[
                    _button(t["close"], CLOSE_BUTTON, "close", c, "primary"),
                    _button(t["escalate"], ESCALATE_BUTTON, "escalate", c, "danger"),
                ],
            ),
            html.Div(
                className="action-row",
                children=[
                    dcc.RadioItems(
                        id=RATING,
                        options=[{"label": str(n), "value": n} for n in range(RATING_MIN, RATING_MAX + 1)],
                        value=c.event.rating or RATING_MAX,
                        inline=True,
                        className="rating",
                    ),  # fmt: skip
                    _button(t["rate"], RATE_BUTTON, "rate", c),
                ],
            ),
        ],
    )


def detail_children(detail: EventDetail, view: EventsView, now: float) -> list[Component]:
    t, lang = text(view.lang), view.lang
    if not detail.key:
        return [html.P(t["select"], className="muted")]
    if detail.out_of_scope:
        return [html.P(t["out_of_scope"], className="error")]
    c = detail.card
    if c is None:
        return [html.P(t["not_found"], className="muted")]
    forms: list[Component] = []
    if view.page == INBOX and any(s in c.steps for s in ("sign_for", "progress", "handle", "return")):
        forms = [handler_forms(c, lang)]
    elif view.page == EVENTS and c.steps:
        forms = [centre_forms(c, library(), lang)]
    return [
        html.Div(
            className="detail-head",
            children=[html.H2(c.type_name, className="detail-title"), status_badge(c.event.status, lang)],
        ),
        clocks_row(c, lang, now),
        *([html.P(c.event.description, className="event-description")] if c.event.description else []),
        *_photos(c.event.media, lang),
        *forms,
        *_photos(tuple(dict.fromkeys(c.event.evidence + c.photos)), lang),
        _facts(c, lang),
        html.H3(t["history"]),
        history_table(detail.history, lang),
    ]


def _select(name: str, options: list[tuple[str, str]], chosen: str) -> html.Select:
    return html.Select(
        name=name, className="filter-select",
        children=[html.Option(label, value=value, selected=value == chosen) for value, label in options],
    )  # fmt: skip


def _filters(view: EventsView, lib: Library) -> html.Form:
    """A GET form: the filters are the page's URL."""
    t, lang, f = text(view.lang), view.lang, view.filter
    en = lang == "en"
    return html.Form(
        method="GET",
        action=EVENTS_PATH,
        className="event-filters",
        children=[
            _select("status", [(s, status_label(s, lang)) for s in STATUS_CHOICES], f.status),
            _select("district", [("", t["everywhere"]), *((a, n[1] if en else n[0]) for a, n in DISTRICTS.items())],
                    f.district),
            _select("department", [("", t["everywhere"]),
                                   *((d.id, d.name_en if en else d.short_zh) for d in lib.departments.values())],
                    f.department),
            _select("category", [("", t["everywhere"]),
                                 *((k, c.name_en if en else c.name_zh) for k, c in lib.categories.items())],
                    f.category),
            _select("late", [("", t["all"]), ("1", t["late_only"])], "1" if f.late else ""),
            *([dcc.Input(name="lang", type="hidden", value="en")] if en else []),
            html.Button(t["filter"], type="submit", className="action"),
        ],
    )  # fmt: skip


def _scope_note(user: User | None, lang: str, lib: Library) -> list[Component]:
    if user is None or user.role is not Role.HANDLER:
        return []
    department = lib.departments.get(user.department)
    name = (department.name_en if lang == "en" else department.short_zh) if department else user.department
    if user.district:
        county = DISTRICTS[user.district][1 if lang == "en" else 0]
        name = f"{name}, {county}" if lang == "en" else f"{county}{name}"
    return [html.P(text(lang)["scoped"].format(unit=name), className="muted scope-note")]


def layout(view: EventsView, user: User | None) -> html.Div:
    t, lib = text(view.lang), library()
    may_act = user is not None and user.may(Permission.HANDLE if view.page == INBOX else Permission.ACT)
    body: list[Component] = [
        html.Div(
            className="title-row officer-title",
            children=[html.H1(t[view.page], className="page-title"), html.Div(id=COUNTS, className="severity-counts")],
        ),
        *([_filters(view, lib)] if view.page == EVENTS else []),
        *_scope_note(user, view.lang, lib),
        html.Div(
            className=f"events-grid {view.page}-grid" + (" has-selection" if view.filter.selected else ""),
            children=[
                html.Section(className="card event-list-card", children=html.Div(id=LIST, className="event-list")),
                html.Aside(
                    className="card event-detail-card",
                    children=[
                        *(
                            [
                                dcc.Link(
                                    "←",
                                    href=replace(view, filter=replace(view.filter, selected="")).href(),
                                    className="back-to-list",
                                )
                            ]
                            if view.filter.selected
                            else []
                        ),
                        html.Div(id=ACTION_RESULT, className="action-result", role="status"),
                        html.Div(id=DETAIL, className="event-detail"),
                        *([] if may_act else [html.P(t["read_only"], className="muted read-only")]),
                    ],
                ),  # fmt: skip
            ],
        ),
        dcc.Store(id=STATE, data=view.as_data()),
        dcc.Store(id=ACTED, data=0),
        dcc.Store(id=AUDIT_SEEN),
        dcc.Store(id=DETAIL_SEEN),
        dcc.Interval(id=TICK, interval=REFRESH_MS),
    ]
    return html.Div(
        className=f"{ROOT_CLASS} events-page",
        lang=view.lang,
        children=[
            officer_header(view.path, view.lang, view.href("zh" if view.lang == "en" else "en"), user),
            html.Main(body, className="drill-body"),
        ],
    )


# The panel on /alerts ---------------------------------------------------------------------------------------------


def from_alert_children(linked: str, event_id: str | None, may_act: bool, lang: str, lib: Library) -> list[Component]:
    """The selected alert's or incident's event as a link, else (for officers) the form raising one from it."""
    t = text(lang)
    if not linked:
        return []
    if event_id is not None:
        query = {"status": "all", "event": event_id, **({"lang": "en"} if lang == "en" else {})}
        href = f"{EVENTS_PATH}?{urlencode(query)}"
        return [html.Span(f"{t['raised_event']}: "), dcc.Link(event_id, href=href, className="event-link")]
    if not may_act:
        return []
    types = [{"label": f"{ty.code} {ty.name_en if lang == 'en' else ty.name_zh}", "value": ty.code}
             for ty in lib.types.values()]  # fmt: skip
    return [
        html.Div(
            className="action-row from-alert-form",
            children=[
                dcc.Dropdown(
                    id=FROM_ALERT_TYPE, options=types, placeholder=t["from_alert_type"], className="event-type-pick"
                ),
                html.Button(t["from_alert"], id=FROM_ALERT_BUTTON, className="action"),
            ],
        ),
        html.Div(id=FROM_ALERT_RESULT, role="status"),
    ]


def register_pages() -> None:
    def page_of(kind: str) -> object:
        def page(**query: object) -> html.Div:
            return layout(EventsView.from_query(kind, query, library()), current_user())

        return page

    dash.register_page(
        "inbox", path=INBOX_PATH, layout=page_of(INBOX),
        title=lambda: tab_title(TEXT["zh"]["inbox"], TEXT["en"]["inbox"]),
    )  # fmt: skip
    dash.register_page(
        "events", path=EVENTS_PATH, layout=page_of(EVENTS),
        title=lambda: tab_title(TEXT["zh"]["events"], TEXT["en"]["events"]),
    )  # fmt: skip
