"""``python -m faults``: the same as ``agentsoak proxy``."""

from __future__ import annotations

import argparse
import sys

from .cli import add_arguments
from .server import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m faults", description="Embedded Toxiproxy-compatible server")
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
