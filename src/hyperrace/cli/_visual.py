"""``hyperrace dashboard`` and ``hyperrace plot``: see a study (the ``dashboard`` extra).

Both only read the storage. ``plot`` writes one view of a study to a PNG (drawn with matplotlib)
or a self-contained HTML file (Plotly.js inlined), chosen by the suffix of ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyperrace.cli._commands import open_existing
from hyperrace.exceptions import ConfigurationError

__all__ = ["cmd_dashboard", "cmd_plot"]


def cmd_dashboard(args: argparse.Namespace) -> int:
    from hyperrace.dashboard import serve

    storage = open_existing(args.storage)
    sys.stdout.write(
        f"hyperrace dashboard of {storage.url} on http://{args.host}:{args.port} "
        "(read-only; Ctrl-C stops it)\n"
    )
    sys.stdout.flush()
    serve(storage, host=args.host, port=args.port, refresh_seconds=args.refresh)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from hyperrace.visual import read, write_html, write_png

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".html"):
        raise ConfigurationError(
            f"--out {args.out} must end in .png (a picture) or .html (an interactive page)"
        )
    if not out.parent.is_dir():
        raise ConfigurationError(f"--out {args.out}: the folder {out.parent} does not exist")
    snap = read(open_existing(args.storage), args.name)
    if suffix == ".png":
        write_png(snap, args.view, out)
    else:
        write_html(snap, args.view, out)
    sys.stdout.write(f"wrote the {args.view} view of {args.name!r} to {out}\n")
    return 0
