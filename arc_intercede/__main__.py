"""``python -m arc_intercede``: the ``arc-intercede`` command line."""

from __future__ import annotations

import sys

from arc_intercede.cli import main

if __name__ == "__main__":
    sys.exit(main())
