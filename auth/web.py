"""Sessions, sign-in and the checks every request passes, for the Flask server under the Dash app.

The session cookie carries only a random id (HttpOnly, SameSite=Strict, Secure in production); the session is in
Redis (auth/sessions.py) and is checked on every request, so signing out, a changed or deleted user and a revoked
wall token end it at its next request. Signing in is throttled per account and per address (auth/signin.py).
Every state-changing request must come from our own origin (Origin or Referer), so a forged or replayed request
from another site is refused before any callback runs. Who may do what is checked again where it is done
(`authorize`), never only by hiding a button.
"""

from __future__ import annotations

import html
import math
from urllib.parse import quote, unquote, urlsplit

from flask import Blueprint, Flask, Response, abort, g, redirect, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse  # what flask.redirect returns

from auth.model import Permission, Role, User
from auth.sessions import Credential, Session, SessionKind, end_session, lookup_session, open_session, secret_digest
from auth.signin import Limits, Outcome, Scope, sign_in, sign_in_wall
from auth.store import log_event
from config import SECRET_MIN_LENGTH, Settings, run_dir_secret, settings
from geo.admin import DISTRICTS
from signs.store import shared_redis

auth_blueprint = Blueprint("auth", __name__)

SESSION_COOKIE = "cityeye_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reachable without a session even where reading needs one: exactly these paths, and the static files under
# these prefixes (the sign-in page's stylesheet, the app's scripts), which hold nothing of the city's.
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/readyz", "/metrics", "/favicon.ico", "/_favicon.ico"})
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
# Open311 (api/open311.py): an open standard for outside reporting apps, read without a session and written with an
# api_key in the form body, never with a cookie, so neither the session nor the origin check applies to it.
OPEN311_PREFIX = "/open311/v2/"
NEXT_MAX_LENGTH = 2048


class NotAllowed(PermissionError):
    pass


def secret_key(cfg: Settings) -> str:
    """WEB_SECRET_KEY; in development a random key kept in the run directory, so sessions survive restarts."""
    if cfg.environment == "production" and len(cfg.web_secret_key) < SECRET_MIN_LENGTH:
        raise RuntimeError(
            f"WEB_SECRET_KEY must be set to at least {SECRET_MIN_LENGTH} characters when ENVIRONMENT=production"
        )
    if cfg.web_secret_key:
        return cfg.web_secret_key
    return run_dir_secret(cfg.run_dir, "web-secret-key")


def same_origin(origin_or_referer: str, host_url: str) -> bool:
    theirs, ours = urlsplit(origin_or_referer), urlsplit(host_url)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


def request_origin_ok(method: str, origin: str | None, referer: str | None, host_url: str) -> bool:
    """A state-changing request must name our origin; browsers always send Origin on a cross-site POST."""
    if method in SAFE_METHODS:
        return True
    claimed = origin or referer
    return claimed is not None and same_origin(claimed, host_url)


def is_public(path: str) -> bool:
    """Exact paths, not prefixes: /loginx or /login/../alerts is not the sign-in page. A static prefix counts only
    for a path without dot segments or backslashes, which could climb out of it."""
    if path in PUBLIC_PATHS:
        return True
    return path.startswith(PUBLIC_PREFIXES) and "\\" not in path and not {".", ".."} & set(path.split("/"))


def _single_slash_path(path: str) -> bool:
    return path.startswith("/") and not path.startswith("//")


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None: the one rule for where a sign-in may lead.

    Browsers drop tabs and newlines inside a URL and read a backslash as '/', so "/\\t/evil.example" becomes
    "//evil.example", another site: only printable ASCII without a backslash is accepted, with no scheme, no host
    and a path starting with exactly one '/', and the path must still be such once percent-decoded."""
    if not target or len(target) > NEXT_MAX_LENGTH or not all("!" <= c <= "~" and c != "\\" for c in target):
        return None
    parts = urlsplit(target)
    decoded = unquote(parts.path)
    # The raw text too: urlsplit reads "///evil.example" as an empty host and the path "/evil.example".
    if parts.scheme or parts.netloc or not all(_single_slash_path(p) for p in (target, parts.path, decoded)):
        return None
    if any(not c.isprintable() or c.isspace() or c == "\\" for c in decoded) or parts.path == "/login":
        return None
    return target


def login_url(full_path: str) -> str:
    """The sign-in page, coming back to `full_path` (path and query) afterwards."""
    return "/login?next=" + quote(full_path.rstrip("?"), safe="/")


def current_user() -> User | None:
    return g.get("user")


def authorize(permission: Permission) -> User:
    """The signed-in user if they hold the permission; raises NotAllowed otherwise."""
    user = current_user()
    if user is None or not user.may(permission):
        raise NotAllowed(f"{permission.value} is not allowed for {user.username if user else 'anonymous'}")
    return user


def landing_page(user: User) -> str:
    if user.role is Role.OFFICER:
        return "/alerts"
    if user.role is Role.HANDLER:
        return "/inbox"
    if user.role is Role.LEADER and user.district:
        return f"/district/{user.district}"
    return "/"


def _remote() -> str:
    return request.remote_addr or ""


def _lifetime_s(kind: SessionKind, cfg: Settings) -> float:
    if kind is SessionKind.USER:
        return cfg.web_session_hours * 3_600
    return cfg.web_wall_session_idle_hours * 3_600


def _start_session(credential: Credential) -> bool:
    """Opens a session for the credential, to be set as this response's cookie; ends the one it replaces."""
    client, cfg = shared_redis(), settings()
    opened = open_session(client, credential, lifetime_s=_lifetime_s(credential.kind, cfg), remote=_remote())
    if opened is None:
        return False
    previous: Session | None = g.get("session")
    if previous is not None:
        end_session(client, previous)
    g.session_id, g.session = opened
    g.user = credential.user
    return True


def _resolve_user() -> User | None:
    client, cfg = shared_redis(), settings()
    session_id = request.cookies.get(SESSION_COOKIE)
    session = lookup_session(client, session_id, wall_idle_s=_lifetime_s(SessionKind.WALL, cfg)) if session_id else None
    g.session = session
    g.drop_cookie = bool(session_id) and session is None
    token = request.args.get("token")
    same_wall = session is not None and session.kind is SessionKind.WALL and session.field == secret_digest(token or "")
    if token and not same_wall:
        outcome = sign_in_wall(client, token, _remote(), Limits.from_settings(cfg))
        if outcome.credential is not None and _start_session(outcome.credential):
            return outcome.credential.user
    return session.user if session is not None else None


def _guard() -> BaseResponse | None:
    if request.path.startswith(OPEN311_PREFIX):
        g.user = None
        return None
    headers = request.headers
    if not request_origin_ok(request.method, headers.get("Origin"), headers.get("Referer"), request.host_url):
        abort(403, description="cross-origin request refused")
    g.user = _resolve_user()
    if g.user is None and not settings().reads_are_open and not is_public(request.path):
        if request.method in SAFE_METHODS and not request.path.startswith(("/api/", "/_")):
            return redirect(login_url(request.full_path))
        abort(401, description="sign in first")
    return None


def _session_cookie(response: Response) -> Response:
    """Sets the cookie of a session opened by this request, or clears one naming a session that is no more.
    A live session's cookie is never re-sent: it is only an id."""
    secure = settings().secure_cookies
    new_id: str | None = g.get("session_id")
    if new_id is not None:
        session: Session = g.session
        # A user's cookie ends with the session; a wall's lasts while its browser runs (the session slides).
        max_age = math.ceil(_lifetime_s(SessionKind.USER, settings())) if session.kind is SessionKind.USER else None
        response.set_cookie(
            SESSION_COOKIE, new_id, max_age=max_age, path="/", secure=secure, httponly=True, samesite="Strict"
        )
    elif g.get("drop_cookie"):
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="Strict")
    return response


def init_auth(server: Flask, cfg: Settings) -> None:
    server.secret_key = secret_key(cfg)
    # Flask's own signed-cookie session holds nothing of ours; hardened all the same in case an extension uses it.
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=cfg.secure_cookies
    )
    if cfg.web_proxy_hops:
        # The address sign-ins are throttled by, and the scheme the origin check compares, as the proxies saw them.
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=cfg.web_proxy_hops, x_proto=cfg.web_proxy_hops)  # type: ignore[method-assign]
    server.before_request(_guard)
    server.after_request(_session_cookie)
    server.register_blueprint(auth_blueprint)


LOGIN_PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>登录 · 城市之眼</title>
<link rel="stylesheet" href="/assets/auth.css"></head>
<body class="auth-page"><form method="post" action="/login" class="login">
<h1>城市之眼 · City Eye</h1>
<p class="error">{error}</p>
<label>用户名 Username<input name="username" autocomplete="username" required autofocus value="{username}"></label>
<label>密码 Password<input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}">
<button type="submit">登录 Sign in</button>
</form></body></html>"""
WRONG_PASSWORD = "用户名或密码错误 / Wrong username or password"
LOCKED = {
    Scope.ACCOUNT: "登录失败次数过多，该账户已锁定，请 {minutes} 分钟后再试 / "
    "Too many failed sign-ins: this account is locked, try again in {minutes} min",
    Scope.ADDRESS: "此地址登录失败次数过多，已锁定，请 {minutes} 分钟后再试 / "
    "Too many failed sign-ins from this address: locked, try again in {minutes} min",
}


def _login_page(error: str = "", username: str = "", next_path: str = "", status: int = 200) -> Response:
    body = LOGIN_PAGE.format(error=html.escape(error), username=html.escape(username), next=html.escape(next_path))
    return Response(body, status=status, mimetype="text/html")


def _refused_page(outcome: Outcome, username: str, next_path: str) -> Response:
    if outcome.locked is None:
        return _login_page(WRONG_PASSWORD, username, next_path, 401)
    seconds = math.ceil(outcome.locked_for_s)
    response = _login_page(LOCKED[outcome.locked].format(minutes=math.ceil(seconds / 60)), username, next_path, 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@auth_blueprint.get("/login")
def login_form() -> Response:
    return _login_page(next_path=safe_next(request.args.get("next")) or "")


@auth_blueprint.post("/login")
def login() -> BaseResponse:
    username = request.form.get("username", "").strip().lower()
    next_path = safe_next(request.form.get("next"))  # checked here, where it is followed, whatever the form held
    password = request.form.get("password", "")
    outcome = sign_in(shared_redis(), username, password, _remote(), Limits.from_settings(settings()))
    if outcome.credential is None or not _start_session(outcome.credential):
        return _refused_page(outcome, username, next_path or "")
    return redirect(next_path or landing_page(outcome.credential.user))


@auth_blueprint.post("/logout")
def logout() -> BaseResponse:
    session: Session | None = g.get("session")
    if session is not None:
        end_session(shared_redis(), session)
        log_event(shared_redis(), "logout", session.user.username, remote=_remote())
    g.drop_cookie = True
    return redirect("/login")


@auth_blueprint.get("/api/v1/me")
def me() -> Response | dict[str, object]:
    user = current_user()
    if user is None:
        abort(401, description="not signed in")
    return user.public() | {"district_name": DISTRICTS.get(user.district, ("", ""))[0]}
