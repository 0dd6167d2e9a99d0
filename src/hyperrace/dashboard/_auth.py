"""The dashboard's token: required off loopback, checked on every request.

A dashboard that listens on loopback (127.0.0.1, ::1, localhost) serves this machine only and
stays open. One that listens on any other interface shows every study to whoever reaches the
port, so it requires a token: given with ``--token`` (``serve(token=...)``) or the environment
variable ``HYPERRACE_DASHBOARD_TOKEN``, or else generated (:func:`secrets.token_urlsafe`) and
printed once, with the URL to open, when the dashboard starts.

A request carries the token in the header ``Authorization: Bearer TOKEN``, or as the query
parameter ``?token=TOKEN``: that sets an HttpOnly cookie, so that the page's own requests (its
scripts, its polls, its links) carry it as well; a page opened with it is redirected to its
address without the token. Tokens are compared with :func:`secrets.compare_digest`. A request
without a valid token gets 401 with a message that says how to give one.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from hyperrace.exceptions import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["COOKIE", "MIN_LENGTH", "TOKEN_ENV", "check_token", "is_loopback", "require_token"]

#: The environment variable a token is read from when ``--token`` is not given.
TOKEN_ENV = "HYPERRACE_DASHBOARD_TOKEN"
#: The cookie that ``?token=`` sets.
COOKIE = "hyperrace_token"
#: The shortest token accepted (a generated one has 43 characters).
MIN_LENGTH = 16
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or a host name) is of this machine only: a loopback
    address, or a name all of whose addresses are loopback ones."""
    with contextlib.suppress(ValueError):  # not an address: a host name, resolved below
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(found) and all(
        ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback for info in found
    )


def check_token(token: object, *, source: str = "the dashboard token") -> str:
    """``token`` if it can be used as the dashboard's token; the error never shows it.

    Raises:
        ConfigurationError: not a string, shorter than :data:`MIN_LENGTH`, or with characters
            other than letters, digits and ``-._~`` (it travels in a header, a URL and a cookie).
    """
    if not isinstance(token, str):
        raise ConfigurationError(f"{source} must be a string, not {type(token).__name__}")
    if len(token) < MIN_LENGTH:
        raise ConfigurationError(
            f"{source} has {len(token)} characters; a dashboard token needs at least "
            f"{MIN_LENGTH} (leave it out to have one generated, or make one with: python -c "
            "'import secrets; print(secrets.token_urlsafe())')"
        )
    bad = sorted({c for c in token if c not in _ALLOWED})
    if bad:
        raise ConfigurationError(
            f"{source} holds {len(bad)} character(s) that cannot travel in a URL or header "
            f"unescaped (e.g. {bad[0]!r}); use letters, digits and -._~ only, e.g. a token "
            "from secrets.token_urlsafe()"
        )
    return token


def require_token(address: str, token: str | None) -> tuple[str | None, bool]:
    """The token a dashboard listening on ``address`` requires, and whether it was generated.

    ``token`` (given by the user) is used wherever given; else :data:`TOKEN_ENV`; else, off
    loopback, a new one; on loopback without either, none (open).
    """
    if token is not None:
        return check_token(token), False
    from_env = os.environ.get(TOKEN_ENV)
    if from_env:
        return check_token(from_env, source=TOKEN_ENV), False
    if is_loopback(address):
        return None, False
    return secrets.token_urlsafe(32), True


def _matches(given: str | None, token: bytes) -> bool:
    return given is not None and secrets.compare_digest(given.encode("utf-8", "replace"), token)


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _refusal(path: str, wrong: bool) -> Any:
    from fastapi.responses import HTMLResponse, JSONResponse

    what = "the token given does not match" if wrong else "no token was given"
    message = (
        f"401 Unauthorized: this hyperrace dashboard requires its token, as it does whenever it "
        f"is served off loopback ({what}). Open the address it printed when it started (ending "
        "in /?token=...), or send the header 'Authorization: Bearer TOKEN'; the token is the "
        f"one printed then, or the one given with --token or {TOKEN_ENV}."
    )
    headers = {"WWW-Authenticate": 'Bearer realm="hyperrace"'}
    if path.startswith("/api/") or path == "/api":
        return JSONResponse({"detail": message}, status_code=401, headers=headers)
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>token required · "
        f"hyperrace</title></head><body><h1>Token required</h1><p>{html.escape(message)}</p>"
        "</body></html>"
    )
    return HTMLResponse(page, status_code=401, headers=headers)


def install(app: FastAPI, token: str) -> None:
    """Make every request to ``app`` require ``token`` (see the module docstring)."""
    from fastapi import Request
    from fastapi.responses import RedirectResponse, Response

    expected = check_token(token).encode()

    @app.middleware("http")
    async def _token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        path = request.url.path
        query = request.query_params.get("token")
        if _matches(query, expected):
            if request.method == "GET" and not path.startswith(("/api/", "/static/")):
                # a page: drop the token from its address (history, bookmarks, referrers)
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                response: Response = RedirectResponse(
                    path + ("?" + urlencode(rest) if rest else ""), status_code=303
                )
            else:
                response = await call_next(request)
            response.set_cookie(
                COOKIE,
                token,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
            return response
        given = [query, _bearer(request.headers.get("authorization")), request.cookies.get(COOKIE)]
        if any(_matches(g, expected) for g in given):
            return await call_next(request)
        return _refusal(path, wrong=any(g is not None for g in given))
