"""``hyperrace dashboard`` and ``hyperrace plot``: see a study (the ``dashboard`` extra).

Both only read the storage. ``plot`` writes one view of a study to a PNG, SVG or PDF picture
(drawn with matplotlib) or a self-contained HTML file (Plotly.js inlined), chosen by the suffix
of ``--out``. ``dashboard`` says that its port is taken before anything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyperrace.cli._commands import find, open_existing
from hyperrace.exceptions import ConfigurationError
from hyperrace.storage import mask_url

__all__ = ["cmd_dashboard", "cmd_plot"]


def cmd_dashboard(args: argparse.Namespace) -> int:
    from hyperrace.dashboard import TOKEN_ENV, is_loopback, reachable_url, require_token, serve

    token, generated = require_token(args.host, args.token)
    storage = open_existing(args.storage)

    def listening(url: str) -> None:
        out = sys.stdout
        out.write(
            f"hyperrace dashboard of {mask_url(storage.url)} on {url} "
            "(read-only; Ctrl-C stops it)\n"
        )
        if token is not None:
            where = "off loopback" if not is_loopback(args.host) else "on loopback"
            url = reachable_url(args.host, args.port)
            if generated:
                out.write(
                    f"served {where} with a token: every request needs it; open "
                    f"{url}/?token={token} (a token generated for this run: choose one with "
                    f"{TOKEN_ENV}=... or --token)\n"
                )
            else:
                out.write(
                    f"served {where} with a token: every request needs the one given "
                    f"({'--token' if args.token is not None else TOKEN_ENV}); open "
                    f"{url}/?token=TOKEN, or send the header 'Authorization: Bearer TOKEN'\n"
                )
        out.flush()

    serve(
        storage,
        host=args.host,
        port=args.port,
        refresh_seconds=args.refresh,
        on_listen=listening,
        token=token,
    )
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from hyperrace.visual import IMAGE_SUFFIXES, read, write_html, write_image

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (*IMAGE_SUFFIXES, ".html"):
        raise ConfigurationError(
            f"--out {args.out} must end in .png, .svg or .pdf (a picture) or .html (an "
            "interactive page)"
        )
    if not out.parent.is_dir():
        raise ConfigurationError(f"--out {args.out}: the folder {out.parent} does not exist")
    storage = open_existing(args.storage)
    find(storage, args.name)
    snap = read(storage, args.name)
    if suffix == ".html":
        write_html(snap, args.view, out)
    else:
        write_image(snap, args.view, out)
    sys.stdout.write(f"wrote the {args.view} view of {args.name!r} to {out}\n")
    return 0
