"""Which cluster.yaml a command means: --cluster NAME|FILE, $HOTSPARE_CLUSTER, ./cluster.yaml.

Light on imports: `hotspare status` answered by the shared monitor finds
its socket from here before anything heavier is loaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CLUSTER_ENV = "HOTSPARE_CLUSTER"
DEFAULT_FILE = "cluster.yaml"
SUFFIX = ".yaml"

# A bare name as `--cluster` takes it: what a file name in the clusters folder
# can be, and nothing that reads as a path or a file with its suffix.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def clusters_dir() -> Path:
    """The folder of named inventories: $XDG_CONFIG_HOME/hotspare/clusters."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hotspare" / "clusters"


def is_name(given: str) -> bool:
    """Whether GIVEN is a bare cluster name rather than a path to a file."""
    return bool(_NAME.fullmatch(given)) and not given.endswith((".yaml", ".yml"))


def resolve(given: str) -> Path:
    """The file GIVEN means: an existing file, else a named inventory, else GIVEN as a path."""
    path = Path(given)
    if is_name(given) and not path.is_file():
        return clusters_dir() / f"{given}{SUFFIX}"
    return path


def wanted(given: str | None) -> str:
    """What the operator asked for: --cluster, then $HOTSPARE_CLUSTER, then ./cluster.yaml."""
    return given or os.environ.get(CLUSTER_ENV) or DEFAULT_FILE


def cluster_path(given: str | None) -> Path:
    """The inventory to use: --cluster, then $HOTSPARE_CLUSTER, then ./cluster.yaml."""
    return resolve(wanted(given))
