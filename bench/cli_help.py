"""`hotspare --help` before and after the lazy imports: what a jump host waits for.

BEFORE is a commit's tree (default dc11081, the last one that imported
asyncssh and psycopg to build the parser), exported with `git archive` into
a temporary directory; AFTER is this working tree. Each run spawns the
venv's Python on `from screens.main import main; main(["--help"])`, exactly
what the `hotspare` script does, with the tree first on sys.path, and times
it from just before the spawn to its exit. Runs alternate (before, after,
before, ...) after one uncounted warm-up of each, so a change in the
machine's load hits both alike; bytecode caches are on, as for an installed
program. Also printed per tree: which of asyncssh, psycopg, textual the
command imported.

Run: .venv/bin/python -m bench.cli_help [--runs 15] [--before dc11081]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "dc11081"
PROBE = (
    "import sys\n"
    "from screens.main import main\n"
    "try:\n"
    "    main(['--help'])\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('LOADED', sorted({m.split('.')[0] for m in sys.modules}"
    " & {'asyncssh', 'psycopg', 'textual'}), file=sys.stderr)\n"
)


def _export(rev: str, into: Path) -> Path:
    """REV's tree, unpacked into INTO; the repository itself is not touched."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _once(tree: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tree, env=env, capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - start
    loaded = next(line for line in done.stderr.splitlines() if line.startswith("LOADED"))
    return elapsed, loaded.removeprefix("LOADED ")


def main() -> int:
    """Time both trees, interleaved, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", default=BEFORE, help=f"commit to compare (default {BEFORE})")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotspare-help-") as tmp:
        trees = {"before": _export(opts.before, Path(tmp)), "after": ROOT}
        times: dict[str, list[float]] = {name: [] for name in trees}
        loaded = {name: _once(tree)[1] for name, tree in trees.items()}  # warm-up
        for _ in range(opts.runs):
            for name, tree in trees.items():
                times[name].append(_once(tree)[0])
    print(f"load average before the last run: {os.getloadavg()[0]:.2f}; runs: {opts.runs} each")
    print(f"{'tree':8} {'median':>8} {'min':>8} {'max':>8}  imports")
    for name, series in times.items():
        print(
            f"{name:8} {statistics.median(series):8.3f} {min(series):8.3f} "
            f"{max(series):8.3f}  {loaded[name]}"
        )
    ratio = statistics.median(times["before"]) / statistics.median(times["after"])
    print(f"before / after (medians): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
