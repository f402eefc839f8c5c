"""`python -m console.cli`: the core's commands without the console (tests, scripts)."""

import sys

from console.cli import main

sys.exit(main())
