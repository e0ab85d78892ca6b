"""``python -m experiments``: the same command line as ``curvax``."""

from experiments.cli import console_main

if __name__ == "__main__":
    console_main()
