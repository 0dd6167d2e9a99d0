"""Storage URLs as they are shown: never with their password.

A storage URL may carry a password (``postgresql://user:PASSWORD@host/db``, or
``?password=...`` in its query). Every message, log line, table, page and ``repr`` that shows a
storage shows :func:`mask_url` of it; an error of the database driver is passed through
:func:`hide_password` before its text reaches a message. Only :attr:`Storage.url` keeps the
password, since other processes open the same storage with it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote

__all__ = [
    "MASK",
    "hide_password",
    "mask_url",
    "passwords_of",
    "shows_password",
    "without_password",
]

#: What a password is replaced with.
MASK = "***"

# user:password@ after the scheme (also in strings SQLAlchemy cannot parse)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^@\s]*)@")
# password=... in a query string or a libpq connection string
_QUERY = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^&\s]+)", re.IGNORECASE)


def _mask_query(text: str) -> str:
    return _QUERY.sub(lambda m: m["head"] + MASK, text)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: the form every output shows.

    A URL without a password, a bare SQLite path and ``memory://`` are returned unchanged.

    >>> mask_url("postgresql://postgres:s3cret@db.example:5432/studies")
    'postgresql://postgres:***@db.example:5432/studies'
    >>> mask_url("sqlite:///hyperrace.db")
    'sqlite:///hyperrace.db'
    """
    if not isinstance(url, str):
        return mask_url(str(url))
    if "://" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # not a URL SQLAlchemy reads: mask what looks like a password
        return _mask_query(_USERINFO.sub(lambda m: m["head"] + MASK + "@", url))
    if parsed.password is None:
        return _mask_query(url)
    return _mask_query(parsed.render_as_string(hide_password=True))


def passwords_of(url: str) -> tuple[str, ...]:
    """The password of ``url`` in the forms a message may hold it (as written, decoded,
    quoted); empty when the URL has none."""
    if not isinstance(url, str) or "://" not in url:
        return ()
    found: set[str] = set()
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        password = None
    if password:
        found.add(str(password))
    match = _USERINFO.search(url)
    if match and match["pw"]:
        found.add(match["pw"])
    for m in _QUERY.finditer(url):
        found.add(m["pw"].strip("'"))
    forms = set()
    for pw in found:
        if pw:
            forms.update({pw, unquote(pw), quote(pw, safe=""), quote_plus(pw)})
    # the longest first, so that a password inside another form is replaced whole
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def hide_password(text: str, url: str) -> str:
    """``text`` (e.g. an error of the database driver) with the password of ``url`` masked
    wherever it appears, and any URL or ``password=`` in it masked too."""
    text = str(text)
    if url and url in text:
        text = text.replace(url, mask_url(url))
    for pw in passwords_of(url):
        text = text.replace(pw, MASK)
    return _mask_query(_USERINFO.sub(lambda m: m["head"] + MASK + "@", text))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__]
        # exception groups, and errors that keep the driver's error (SQLAlchemy's .orig)
        todo += [x for x in getattr(e, "exceptions", ()) if isinstance(x, BaseException)]
        orig = getattr(e, "orig", None)
        if isinstance(orig, BaseException):
            todo.append(orig)
    return seen


def shows_password(exc: BaseException, url: str) -> bool:
    """Whether the text of ``exc``, or of any exception it was raised from, holds the password
    of ``url`` (in ``str``, ``repr``, arguments or notes)."""
    forms = passwords_of(url)
    if not forms:
        return False
    for e in _chain(exc):
        texts = [str(e), repr(e), *map(str, getattr(e, "__notes__", ()))]
        texts += [repr(a) for a in e.args]
        if any(pw in t for t in texts for pw in forms):
            return True
    return False


def without_password(exc: BaseException, url: str) -> BaseException:
    """``exc`` itself when nothing in it shows the password of ``url``; otherwise a new error
    of the same kind (a :class:`~hyperrace.StorageError` for a foreign one) whose message is
    masked and that is not chained to the original: raise it outside the ``except`` block."""
    if not shows_password(exc, url):
        return exc
    from hyperrace.exceptions import HyperraceError, StorageError

    text = hide_password(str(exc), url)
    if isinstance(exc, HyperraceError):
        try:
            return type(exc)(text)
        except Exception:  # an error class with another signature
            return StorageError(text)
    return StorageError(
        f"storage {mask_url(url)!r} failed: {hide_password(f'{type(exc).__name__}: {text}', url)}"
    )
