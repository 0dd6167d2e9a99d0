"""A driver process of a fault study: ``python driver.py --storage URL --study NAME ...`` runs
the study to its end with ``Study.optimize`` (:func:`faultkit.drive`; :meth:`faultkit.Setup.command`
writes the command line).

A script, not ``python -c``: Python puts this folder on the driver's path, so ``faultkit`` and
the objective it pickles import here, in its worker processes (which inherit the path) and in
Ray's workers (Ray adds the folder of a driver's script to their path)."""

import sys

from faultkit import drive

if __name__ == "__main__":
    sys.exit(drive(sys.argv[1:]))
