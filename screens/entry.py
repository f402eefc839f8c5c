"""The `hotspare` command's first step: a plain `status` the shared monitor answers.

Everything else (and `status` when no monitor can answer) goes on to
screens/main.py, which loads the whole command line and the console.
"""

from __future__ import annotations

import sys


def main() -> int:
    """The `hotspare` console script."""
    from console.daemon import quick

    code = quick.status(sys.argv[1:])
    if code is not None:
        return code
    from screens.main import main as everything

    return everything()
