"""``python -m experiments``: the same command line as ``curvax``."""

import sys

from experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
