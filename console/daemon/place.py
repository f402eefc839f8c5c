"""Where a cluster's shared monitor listens, and how a client knows it reads the same file.

One socket per cluster.yaml (by its resolved path; `hotspare monitor
status` says which cluster it serves), in a directory only the
user can enter: $XDG_RUNTIME_DIR/hotspare/ (a tmpfs the login owns), else
~/.cache/hotspare/run/. The monitor says the digest of the cluster.yaml it
read; a client whose file now differs does not use it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from console.errors import HotspareError

ENV = "HOTSPARE_MONITOR"  # "own": never use nor start a shared monitor
SOCKET_MAX = 107  # sockaddr_un.sun_path, less its terminating NUL


def wanted() -> bool:
    """Whether commands may use a shared monitor (HOTSPARE_MONITOR=own says no)."""
    return os.environ.get(ENV, "").strip().lower() != "own"


def run_dir() -> Path:
    """The directory of the user's monitor sockets (made, 0700, by the monitor)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "hotspare"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hotspare" / "run"


def socket_for(cluster_file: Path) -> Path:
    """The socket of the monitor of CLUSTER_FILE: one per file, by its resolved path.

    Raises:
        HotspareError: the path would be too long for a Unix socket.
    """
    where = str(cluster_file.resolve())
    tag = hashlib.sha256(where.encode()).hexdigest()[:16]
    path = run_dir() / f"cluster-{tag}.sock"
    if len(os.fsencode(path)) > SOCKET_MAX:
        raise HotspareError(
            f"the monitor's socket path is too long for a Unix socket ({path}); "
            "set XDG_RUNTIME_DIR to a shorter directory, or give --socket"
        )
    return path


def digest(cluster_file: Path) -> str:
    """The SHA-256 of CLUSTER_FILE's bytes, or "" when it cannot be read."""
    try:
        return hashlib.sha256(cluster_file.read_bytes()).hexdigest()
    except OSError:
        return ""
