"""``python -m hyperrace``: the command line, the same as the ``hyperrace`` script."""

import sys

from hyperrace.cli import main

if __name__ == "__main__":
    sys.exit(main())
