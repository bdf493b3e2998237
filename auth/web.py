"""Sessions, sign-in and the checks every request passes, for the Flask server under the Dash app.

Cookies are HttpOnly and SameSite=Strict; every state-changing request must come from our own origin (Origin
or Referer), so a forged or replayed request from another site is refused before any callback runs. Who may do
what is checked again where it is done (`authorize`), never only by hiding a button.
"""

from __future__ import annotations

import html
from datetime import timedelta
from urllib.parse import quote, unquote, urlsplit

from flask import Blueprint, Flask, Response, abort, g, redirect, request, session

from auth.model import Permission, Role, User
from auth.store import authenticate, get_user, log_event, wall_for_token
from config import Settings, run_dir_secret, settings
from geo.admin import DISTRICTS
from signs.store import shared_redis

auth_blueprint = Blueprint("auth", __name__)

SESSION_COOKIE = "cityeye_session"
SESSION_USER = "user"
SESSION_WALL = "wall"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reachable without a session even where reading needs one: exactly these paths, and the static files under
# these prefixes (the sign-in page's stylesheet, the app's scripts), which hold nothing of the city's.
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/favicon.ico", "/_favicon.ico"})
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
NEXT_MAX_LENGTH = 2048


class NotAllowed(PermissionError):
    pass


def secret_key(cfg: Settings) -> str:
    """WEB_SECRET_KEY; in development a random key kept in the run directory, so sessions survive restarts."""
    if cfg.web_secret_key:
        return cfg.web_secret_key
    if cfg.environment == "production":
        raise RuntimeError("WEB_SECRET_KEY must be set when ENVIRONMENT=production")
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
    if user.role is Role.LEADER and user.district:
        return f"/district/{user.district}"
    return "/"


def _resolve_user() -> User | None:
    client = shared_redis()
    token = request.args.get("token")
    if token:
        wall = wall_for_token(client, token)
        if wall is not None:
            session.clear()
            session[SESSION_WALL] = wall.display_name
            session.permanent = True
            return wall
    if SESSION_WALL in session:
        return User(username=f"wall:{session[SESSION_WALL]}", role=Role.WALL, display_name=session[SESSION_WALL])
    username = session.get(SESSION_USER)
    # Read from Redis on every request, so a deleted user or a changed role takes effect at once.
    return get_user(client, username) if username else None


def _guard() -> Response | None:
    if not request_origin_ok(request.method, request.headers.get("Origin"), request.headers.get("Referer"), request.host_url):
        abort(403, description="cross-origin request refused")
    g.user = _resolve_user()
    if g.user is None and not settings().reads_are_open and not is_public(request.path):
        if request.method in SAFE_METHODS and not request.path.startswith(("/api/", "/_")):
            return redirect(login_url(request.full_path))
        abort(401, description="sign in first")
    return None


def init_auth(server: Flask, cfg: Settings) -> None:
    server.secret_key = secret_key(cfg)
    server.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=cfg.web_secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=cfg.web_session_hours),
    )
    server.before_request(_guard)
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


def _login_page(error: str = "", username: str = "", next_path: str = "", status: int = 200) -> Response:
    body = LOGIN_PAGE.format(error=html.escape(error), username=html.escape(username), next=html.escape(next_path))
    return Response(body, status=status, mimetype="text/html")


@auth_blueprint.get("/login")
def login_form() -> Response:
    return _login_page(next_path=safe_next(request.args.get("next")) or "")


@auth_blueprint.post("/login")
def login() -> Response:
    username = request.form.get("username", "").strip().lower()
    next_path = safe_next(request.form.get("next"))  # checked here, where it is followed, whatever the form held
    user = authenticate(shared_redis(), username, request.form.get("password", ""), remote=request.remote_addr or "")
    if user is None:
        return _login_page("用户名或密码错误 / Wrong username or password", username, next_path or "", 401)
    session.clear()
    session[SESSION_USER] = user.username
    session.permanent = True
    return redirect(next_path or landing_page(user))


@auth_blueprint.post("/logout")
def logout() -> Response:
    user = current_user()
    if user is not None:
        log_event(shared_redis(), "logout", user.username, remote=request.remote_addr or "")
    session.clear()
    return redirect("/login")


@auth_blueprint.get("/api/v1/me")
def me() -> Response | dict[str, object]:
    user = current_user()
    if user is None:
        abort(401, description="not signed in")
    return user.public() | {"district_name": DISTRICTS.get(user.district, ("", ""))[0]}
