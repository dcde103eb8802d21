"""Sessions, login routes and the server-side checks every page and callback goes through.

The cookie holds a random session id; the session itself lives in the store (user,
created, last seen, address), so logout, `ioc users sessions --revoke`, a password,
role or province change and a disable end it for every worker at once. The user is
resolved once per request (flask.g). Every Dash callback is decorated with
`guard(permission)`: it takes that user (a disabled account stops at its next request), checks the
role's permission and hands the user to the callback, which then narrows every
query with `scope()`. Requests without a session never reach a callback: the
before_request hook answers 401 (API) or redirects to /login (pages).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

import flask
from werkzeug.exceptions import Forbidden, Unauthorized

from dashboards.i18n import normalise_language
from dashboards.services import services
from ioc.auth import AuthError, LoginPolicy, LoginThrottled, authenticate, can, province_scope
from ioc.store import Alarm, User

logger = logging.getLogger(__name__)

SESSION_ID = "sid"  # random token; the store keeps only its hash
SESSION_LANG = "lang"
SESSION_CSRF = "csrf"
CSRF_COOKIE = "_csrf_token"  # the name dash-renderer reads and echoes as X-CSRFToken
CSRF_HEADER = "X-CSRFToken"
LOGIN_PATH = "/login"
ROUTER_OUTPUT = "_pages_content.children"
USER_MEMO_S = 1.0  # how long callbacks of one session share its user lookup
SLOW_CALLBACK_S = 0.5  # Dash pages' router; each page layout is guarded

# Paths anyone may fetch: the login page and the static code and styles it needs.
PUBLIC_PREFIXES = (
    "/assets/",
    "/_dash-component-suites/",
    "/auth/",
)
PUBLIC_PATHS = frozenset(
    {
        LOGIN_PATH,
        "/healthz",
        "/_dash-layout",
        "/_dash-dependencies",
        "/_favicon.ico",
        "/_reload-hash",
    }
)

P = ParamSpec("P")
R = TypeVar("R")


class AccessDenied(Forbidden):
    """A request outside the user's role or province scope (HTTP 403)."""


def current_user() -> User | None:
    """The signed-in, active user of this request, read once per request.

    A page fires several callbacks each second; they share one store lookup per session
    per USER_MEMO_S. A revoke, disable or role change made through this process's store
    applies at the next request; one made by another process (`ioc users disable`, another
    app worker) within USER_MEMO_S.
    """
    if "ioc_user" in flask.g:
        return flask.g.ioc_user
    user = None
    token = flask.session.get(SESSION_ID)
    if isinstance(token, str) and token:
        svc = services()
        settings = svc.settings

        def lookup() -> User | None:
            return svc.store.session_user(
                token,
                idle=timedelta(minutes=settings.session_idle_minutes),
                max_age=timedelta(hours=settings.session_max_hours),
            )

        key = (*_session_memo_key(token), svc.store.session_changes)
        user = svc.memo.get(key, lookup, ttl=USER_MEMO_S)
    flask.g.ioc_user = user
    return user


def _session_memo_key(token: str) -> tuple[str, str]:
    # A digest, so the memo never holds a usable cookie token.
    return ("session", hashlib.sha256(token.encode()).hexdigest())


def forget_session(token: str) -> None:
    """Drop this process's memo of a session (logout)."""
    key = _session_memo_key(token)
    services().memo.drop(lambda k: k[:2] == key)


def current_lang() -> str:
    """The session's language, else the configured default."""
    default = services().settings.language
    return normalise_language(flask.session.get(SESSION_LANG), default)


def audit_denial(user: User | None, what: str, details: dict[str, Any]) -> None:
    """Write an access_denied row (never raising: a refusal must not turn into a 500)."""
    try:
        # Filed under the user's own province: their admin should see what they tried.
        services().store.append_audit(
            user.username if user else "anonymous",
            "access_denied",
            target=what,
            details=details,
            province=user.province if user else None,
        )
    except Exception:
        logger.exception("could not audit a denied request")


def deny(user: User | None, what: str, **details: Any) -> AccessDenied:
    """Audit a refused request and return the exception to raise."""
    audit_denial(user, what, details)
    return AccessDenied(f"not allowed: {what}")


def scope(user: User, requested: str | None) -> str | None:
    """The province a query may cover; a scoped user asking for another one is refused."""
    if requested in ("", "all"):
        requested = None
    try:
        return province_scope(user, requested)
    except AuthError:
        raise deny(user, "province", requested=requested, allowed=user.province) from None


def check_place(user: User, province: str | None, what: str) -> None:
    """Refuse an object (alarm, event, device) outside the user's province."""
    if user.province is not None and province != user.province:
        raise deny(user, what, province=province, allowed=user.province)


def visible_alarm(user: User, alarm_id: int) -> Alarm | None:
    """The alarm if it is in the user's scope; another province's alarm looks missing.

    Answering it differently (403 vs nothing) would tell a scoped user which ids exist
    elsewhere; the attempt is still audited.
    """
    alarm = services().store.get_alarm(alarm_id)
    if alarm is not None and user.province is not None and alarm.province != user.province:
        audit_denial(user, "alarm", {"alarm": alarm_id, "allowed": user.province})
        return None
    return alarm


def guard(permission: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Decorate a callback: refuse without session or permission, then call fn(user, *args)."""

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(fn)
        def wrapper(*args: Any) -> R:
            user = current_user()
            if user is None:
                raise Unauthorized("sign in first")
            if not can(user, permission):
                raise deny(user, permission, callback=fn.__name__)
            began = time.perf_counter()
            try:
                return fn(user, *args)
            finally:
                took = time.perf_counter() - began
                # A callback slower than the 1 s poll makes the page fall behind: say so.
                if took > SLOW_CALLBACK_S:
                    logger.warning("slow callback %s: %.0f ms", fn.__name__, took * 1000)

        wrapper.ioc_permission = permission  # type: ignore[attr-defined]
        return wrapper

    return decorate


def page(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a page layout: send strangers to /login, refuse other roles, else fn(user, lang, **kw)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            from dashboards.components.shell import denied_notice, login_redirect

            user = current_user()
            lang = current_lang()
            if user is None:
                return login_redirect(flask.request.args.get("next") or _page_path())
            if not can(user, permission):
                audit_denial(user, permission, {"page": fn.__module__})
                return denied_notice(lang)
            return fn(user, lang, **kwargs)

        return wrapper

    return decorate


def _page_path() -> str:
    # Inside the router callback the page path is in the request body, not the URL.
    body = flask.request.get_json(silent=True) or {}
    for item in body.get("inputs", []):
        if isinstance(item, dict) and item.get("property") == "pathname":
            return str(item.get("value") or "/")
    return flask.request.path


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else becomes /live."""
    if not target:
        return "/live"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/live"
    if target.startswith(("/auth/", LOGIN_PATH)):
        return "/live"
    return target


def _is_router_request() -> bool:
    body = flask.request.get_json(silent=True) or {}
    return ROUTER_OUTPUT in str(body.get("output", ""))


def _malformed_callback() -> str | None:
    """Why a callback body is not what dash-renderer sends, else None (checked before Dash)."""
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return "callback body must be an object with an output"
    for key in ("inputs", "state"):
        items = body.get(key, [])
        if not isinstance(items, list) or not all(
            isinstance(i, dict) or isinstance(i, list) for i in items
        ):
            return f"callback {key} must be a list"
    if ROUTER_OUTPUT in body["output"]:
        # The pages router calls str methods on these: anything else would be a 500.
        for item in body.get("inputs", []):
            if isinstance(item, dict) and item.get("property") in ("pathname", "search"):
                value = item.get("value")
                if value is not None and not isinstance(value, str):
                    return f"{item.get('property')} must be a string"
    return None


def _before_request() -> Any:
    path = flask.request.path
    if path == "/":
        # Signed out, the front door is the login page (200 for browsers, probes and curl alike).
        return flask.redirect("/live" if current_user() is not None else LOGIN_PATH)
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    user = current_user()
    if path == "/_dash-update-component":
        problem = _malformed_callback() if flask.request.method == "POST" else None
        if problem is not None:
            return flask.jsonify(error=problem), 400
        if user is not None:
            _check_csrf()
            return None
        if _is_router_request():
            return None  # the page's own guard renders the login redirect
        return flask.jsonify(error="sign in first"), 401
    if user is None:
        if flask.request.method == "GET" and "text/html" in flask.request.headers.get("Accept", ""):
            return flask.redirect(f"{LOGIN_PATH}?next={quote(path)}")
        return flask.jsonify(error="sign in first"), 401
    return None


def _check_csrf() -> None:
    # Double submit: the cookie is readable by our own page only, and dash-renderer echoes it.
    expected = flask.session.get(SESSION_CSRF, "")
    sent = flask.request.headers.get(CSRF_HEADER, "")
    if not expected or not hmac.compare_digest(expected, sent):
        raise Forbidden("missing or wrong CSRF token")


def _login() -> Any:
    form = flask.request.form
    target = safe_next(form.get("next"))
    username = (form.get("username") or "").strip()
    svc = services()
    addr = flask.request.remote_addr or ""
    policy = LoginPolicy(
        free_failures=svc.settings.login_free_failures,
        cap=timedelta(seconds=svc.settings.login_backoff_max_s),
    )
    try:
        user = authenticate(
            svc.store, username, form.get("password") or "", source=addr, policy=policy
        )
    except LoginThrottled as exc:
        return flask.redirect(
            f"{LOGIN_PATH}?error=throttled&wait={exc.retry_after_s}&next={quote(target)}",
            code=303,
        )
    except AuthError:
        return flask.redirect(f"{LOGIN_PATH}?error=1&next={quote(target)}", code=303)
    lang = flask.session.get(SESSION_LANG)
    flask.session.clear()  # a fresh session on login: no fixation
    flask.session.permanent = True
    sid = secrets.token_urlsafe(32)
    svc.store.create_session(sid, user.username, client_addr=addr or None)
    flask.session[SESSION_ID] = sid
    if lang:
        flask.session[SESSION_LANG] = lang
    token = secrets.token_urlsafe(32)
    flask.session[SESSION_CSRF] = token
    response = flask.redirect(target, code=303)
    _set_csrf_cookie(response, token)
    return response


def _set_csrf_cookie(response: flask.Response, token: str) -> None:
    cfg = flask.current_app.config
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=False,  # dash-renderer must read it to echo it in a header
        samesite="Lax",
        secure=bool(cfg.get("SESSION_COOKIE_SECURE")),
        max_age=int(cfg["PERMANENT_SESSION_LIFETIME"].total_seconds()),
    )


def _logout() -> Any:
    user = current_user()
    sid = flask.session.get(SESSION_ID)
    if isinstance(sid, str) and sid:
        services().store.end_session(sid)  # the cookie, if replayed, now finds nothing
        forget_session(sid)
    if user is not None:
        services().store.append_audit(user.username, "logout", province=user.province)
    lang = flask.session.get(SESSION_LANG)
    flask.session.clear()
    if lang:
        flask.session[SESSION_LANG] = lang
    response = flask.redirect(LOGIN_PATH, code=303)
    response.delete_cookie(CSRF_COOKIE)
    return response


def _set_language(code: str) -> Any:
    flask.session[SESSION_LANG] = normalise_language(code)
    return flask.redirect(safe_next(flask.request.args.get("next")), code=303)


def _refresh_csrf_cookie(response: flask.Response) -> flask.Response:
    # Keep the cookie alive as long as the (refreshed) session, e.g. on a video wall.
    token = flask.session.get(SESSION_CSRF)
    if token and flask.request.path == "/_dash-layout":
        _set_csrf_cookie(response, token)
    return response


def install(server: flask.Flask) -> None:
    """Add the login/logout/language routes and the request guard to the Flask server."""
    server.add_url_rule("/auth/login", "ioc_login", _login, methods=["POST"])
    server.add_url_rule("/auth/logout", "ioc_logout", _logout, methods=["POST"])
    server.add_url_rule("/auth/lang/<code>", "ioc_lang", _set_language, methods=["GET"])
    server.before_request(_before_request)
    server.after_request(_refresh_csrf_cookie)
