"""The release the site runs: read once at start from ``release.json`` where `current` points."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "release.json"


@dataclass(frozen=True)
class Release:
    """What the manifest of the running release says.

    Attributes:
        name: the release's name; None when the site was started without one.
        features: what this release does beyond v1 (``words``).
        fails_health: the release fails its health check on purpose.
        directory: the release directory `current` resolved to at start.
        problem: why the manifest could not be read; the site then still
            serves (so a restart back can reach it), but fails its health.
    """

    name: str | None
    features: frozenset[str] = frozenset()
    fails_health: bool = False
    directory: str | None = None
    problem: str | None = None

    def has(self, feature: str) -> bool:
        """Whether this release has FEATURE."""
        return feature in self.features

    def health_problem(self) -> str | None:
        """Why /healthz must fail because of the release itself; None when it need not."""
        if self.problem is not None:
            return self.problem
        if self.fails_health:
            return f"release {self.name} fails its health check on purpose"
        return None


def load(release_dir: Path | None) -> Release:
    """The release RELEASE_DIR stands for, resolving it (a `current` link) first."""
    if release_dir is None:
        return Release(None)
    real = Path(os.path.realpath(release_dir))
    where = real / MANIFEST
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Release(real.name, directory=str(real), problem=f"cannot read {where}: {exc}")
    problem = _problem(data)
    if problem is not None:
        return Release(real.name, directory=str(real), problem=f"{where}: {problem}")
    return Release(
        name=data["release"],
        features=frozenset(data.get("features", ())),
        fails_health=data.get("health") == "fail",
        directory=str(real),
    )


def _problem(data: object) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("release"), str):
        return 'expected a JSON object with a "release" name'
    features = data.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        return '"features" must be a list of names'
    if data.get("health", "ok") not in ("ok", "fail"):
        return '"health" must be "ok" or "fail"'
    return None
