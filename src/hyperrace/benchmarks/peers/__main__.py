"""``python -m hyperrace.benchmarks.peers``: list the peers, or run one and print its record."""

import sys

from hyperrace.benchmarks.peers import _main

if __name__ == "__main__":
    sys.exit(_main())
