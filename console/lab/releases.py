"""The demo site's releases, side by side on each web node, for hotspare's rolling upgrade.

Each web node gets ``releases/`` with one directory per release, each holding
its ``release.json`` manifest, and ``current``, a relative link to the one the
site runs. hotspare reads a manifest's ``release`` and ``migration`` keys; the
site reads the rest. Two scripts in the node's ``bin/`` are what the lab's
upgrade and restart hooks call over SSH, as the lab's SSH user.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
from pathlib import Path

from console.lab.layout import LabLayout

FIRST_RELEASE = "v1"

MANIFESTS: dict[str, dict[str, object]] = {
    "v1": {"release": "v1"},
    "v2": {
        "release": "v2",
        "migration": {"sql": "migrate.sql", "when": "before", "transaction": True},
        "features": ["words"],
    },
    "v3-broken": {"release": "v3-broken", "health": "fail"},
}
"""Every release by its directory name, with its manifest."""

MIGRATE_SQL = """\
-- v2's migration: expand only, so v1 keeps working beside it (v1 never names the column).
ALTER TABLE notes ADD COLUMN IF NOT EXISTS words integer;
"""

FILES: dict[str, dict[str, str]] = {"v2": {"migrate.sql": MIGRATE_SQL}}
"""Files a release carries besides its manifest."""

SITE_RELEASE = """\
#!/bin/sh
# Select release $1 of the demo site on {node}: `current` -> $1, switched atomically
# (a new link renamed over the old one). The lab's `upgrade` hook calls it; the site
# runs the new release once it restarts (bin/site-restart). Written by `hotspare lab up`.
set -eu
cd {releases}
release=${{1-}}
case $release in
  '' | */* | . | .. | current | .current.*)
    echo "site-release: '$release' is not a release name" >&2; exit 2 ;;
esac
if [ ! -d "$release" ]; then
  echo "site-release: no release '$release' on {node} (in $PWD: $(ls -m -I current))" >&2
  exit 1
fi
ln -sfn "$release" .current.$$
mv -T .current.$$ current
echo "{node}: current -> $release"
"""

SITE_RESTART = """\
#!/bin/sh
# Ask the demo site on {node} to restart onto releases/current, and return at once.
# It writes a new token to run/restart-request, which the site polls: the site then
# stops serving and re-executes itself (same pid), resolving `current` anew; a request
# made during a restart is taken after it. This script does not wait: hotspare proves
# the restart by polling the health URL and /version (its release, and a `started`
# later than the request). Written by `hotspare lab up` (console/lab/releases.py).
set -eu
pid=$(cat {pid_file} 2>/dev/null || true)
if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then
  echo "site-restart: the site on {node} is not running (no live pid in {pid_file});" \\
    "nothing can take the request: start it with hotspare lab up" >&2
  exit 1
fi
printf '%s %s\\n' "$(date +%s.%N)" "$$" > {request}.$$
mv -f {request}.$$ {request}
echo "{node}: restart requested (site pid $pid)"
"""


def install(lab: LabLayout) -> None:
    """Write every release and the hook scripts on every web node of LAB.

    The releases' contents are rewritten each time; an existing `current` is
    kept, so a lab brought up again after an upgrade runs the release it had.
    """
    for node in lab.web_names:
        _install_releases(lab, node)
        _install_scripts(lab, node)


def _install_releases(lab: LabLayout, node: str) -> None:
    for name, manifest in MANIFESTS.items():
        folder = lab.releases_dir(node) / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "release.json").write_text(json.dumps(manifest, indent=1) + "\n")
        for file, text in FILES.get(name, {}).items():
            (folder / file).write_text(text)
    current = lab.current_release(node)
    if not os.path.lexists(current):
        current.symlink_to(FIRST_RELEASE)
        if lab.as_root:  # the lab's chown follows links: the link itself is given here
            entry = pwd.getpwnam(lab.user)
            os.lchown(current, entry.pw_uid, entry.pw_gid)


def _install_scripts(lab: LabLayout, node: str) -> None:
    q = shlex.quote
    names = {
        "node": node,
        "releases": q(str(lab.releases_dir(node))),
        "request": q(str(lab.restart_request(node))),
        "pid_file": q(str(lab.site_pid_file(node))),
    }
    lab.bin_dir(node).mkdir(parents=True, exist_ok=True)
    for script, text in (("site-release", SITE_RELEASE), ("site-restart", SITE_RESTART)):
        _write_script(lab.bin_dir(node) / script, text.format(**names))


def _write_script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)
