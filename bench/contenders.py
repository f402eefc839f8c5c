"""What `hotspare status` is measured against: a parallel OpenSSH loop and Ansible.

Both do the same reads as hotspare's probes, on the same boxes:
- each web node: the node probe script (console.probes.node.script);
- the balancer: `show stat`, `show servers state BACKEND` and `show map FLAGS`
  on HAProxy's runtime socket, one command per connection, by python3 on the
  box (the boxes have no socat);
- each database: the DB probe's own query (console.probes.postgres), by psql
  on the box, the password from the lab's pgpass.

The ssh loop is what an operator would type: one `ssh ... &` per box, then
`wait`; BatchMode, the lab's key and known_hosts, no ControlMaster. Ansible
is an ad-hoc `ansible all -m shell -a '{{ probe }}'` with each host's probe in
the inventory, ansible-core in a venv of its own (never a project dependency),
forks = number of boxes, ControlPersist in a directory new to each run.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.common import BenchError, Run, timed
from console.inventory import Inventory
from console.lab.layout import SSH_PORT, LabLayout
from console.probes import node as node_probe
from console.probes.postgres import _MEMBER_SQL as MEMBER_SQL

ANSIBLE_VENV = Path("/tmp/bench-venv")
ANSIBLE_REQUIREMENT = "ansible-core>=2.17,<2.20"
# JSON: a free-form "{{ probe }}" starts and ends with braces, which ansible 2.19 takes
# for JSON and fails on.
_ARGS = json.dumps({"cmd": "{{ probe }}"})

_HAPROXY_ASK = """\
import socket, sys
for command in sys.argv[2:]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(command.encode() + b"\\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    sys.stdout.write("=== " + command + "\\n" + data.decode(errors="replace"))
"""


def remote_commands(inv: Inventory) -> dict[str, str]:
    """Box name -> the shell command that reads on that box what hotspare reads."""
    commands: dict[str, list[str]] = {box.name: [] for box in inv.boxes}
    for node in inv.web_nodes:
        commands[node.box].append(node_probe.script(node))
    if inv.balancer is not None:
        lb = inv.balancer
        asks = ("show stat", f"show servers state {lb.backend}", f"show map {lb.flags_map}")
        argv = ["python3", "-c", _HAPROXY_ASK, lb.socket, *asks]
        commands[lb.box].append(shlex.join(argv))
    for db in inv.databases:
        psql = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
        psql += ["-h", db.host, "-p", str(db.port), "-U", db.user, "-d", db.dbname]
        env = f"PGPASSFILE={shlex.quote(str(db.passfile))} " if db.passfile else ""
        commands[db.box].append(env + shlex.join([*psql, "-c", MEMBER_SQL]))
    return {box: "\n".join(parts) for box, parts in commands.items() if parts}


def check_output(box: str, text: str, inv: Inventory) -> None:
    """Raise BenchError unless TEXT is a complete answer for BOX."""
    wanted: list[str] = []
    if any(n.box == box for n in inv.web_nodes):
        wanted += ["now ", "load ", "health 200", "role ", "site alive"]
    if inv.balancer is not None and inv.balancer.box == box:
        wanted += ["# pxname", "# be_id", "=== show map", " mode "]
    if any(d.box == box for d in inv.databases):
        wanted += ["|0/"]
    missing = [w for w in wanted if w not in text]
    if missing:
        raise BenchError(f"{box}: answer lacks {missing}:\n{text[:2000]}")


# The parallel ssh loop ----------------------------------------------------------


def ssh_options(lab: LabLayout) -> list[str]:
    """OpenSSH options as an operator would pin them for the lab: no multiplexing."""
    return [
        *("-F", "/dev/null"),
        *("-o", "BatchMode=yes"),
        *("-o", "IdentitiesOnly=yes"),
        *("-i", str(lab.client_key)),
        *("-o", f"UserKnownHostsFile={lab.known_hosts}"),
        *("-o", "StrictHostKeyChecking=yes"),
        *("-o", "ControlMaster=no"),
        *("-o", "ControlPath=none"),
        *("-o", "ConnectTimeout=5"),
        *("-p", str(SSH_PORT)),
        *("-l", lab.user),
    ]


def write_ssh_loop(lab: LabLayout, inv: Inventory, workdir: Path) -> Path:
    """A POSIX sh script: one `ssh ... &` per box, then wait; exit 1 if any failed.

    Each box's answer goes to WORKDIR/out/BOX, for the bench to check.
    """
    out = workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    ssh = shlex.join(["ssh", *ssh_options(lab)])
    lines = ["#!/bin/sh", "pids="]
    for box, command in remote_commands(inv).items():
        address = inv.box(box).address
        target = shlex.quote(str(out / box))
        lines.append(f"{ssh} {address} {shlex.quote(command)} >{target} 2>&1 </dev/null &")
        lines.append('pids="$pids $!"')
    lines += ["rc=0", 'for p in $pids; do wait "$p" || rc=1; done', 'exit "$rc"']
    path = workdir / "ssh_loop.sh"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def run_ssh_loop(script: Path, inv: Inventory) -> Run:
    """Run the loop once (a fresh process tree) and check every box's answer."""
    run = timed(["/bin/sh", str(script)])
    out = script.parent / "out"
    if run.returncode != 0:
        details = {p.name: p.read_text(errors="replace")[:500] for p in out.iterdir()}
        raise BenchError(f"the ssh loop exited {run.returncode}: {details}")
    for box in remote_commands(inv):
        check_output(box, (out / box).read_text(errors="replace"), inv)
    return run


# Ansible ad-hoc -----------------------------------------------------------------


def ensure_ansible(venv: Path = ANSIBLE_VENV) -> Path:
    """The `ansible` of a venv of its own, created with pip if missing."""
    ansible = venv / "bin" / "ansible"
    if not ansible.exists():
        print(f"installing {ANSIBLE_REQUIREMENT} into {venv} (not a project dependency)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, ANSIBLE_REQUIREMENT], check=True)
    return ansible


def write_ansible_inventory(lab: LabLayout, inv: Inventory, path: Path) -> None:
    """An Ansible YAML inventory of the lab's boxes, each with its probe as `probe`.

    The probes are tagged !unsafe so that Ansible never templates them (the
    node script holds braces and percent signs).
    """
    user = inv.boxes[0].user or lab.user
    common = f"-o UserKnownHostsFile={lab.known_hosts} -o StrictHostKeyChecking=yes"
    lines = [
        "all:",
        "  vars:",
        f"    ansible_user: {json.dumps(user)}",
        f"    ansible_port: {SSH_PORT}",
        f"    ansible_ssh_private_key_file: {json.dumps(str(lab.client_key))}",
        f"    ansible_ssh_common_args: {json.dumps(common)}",
        "    ansible_python_interpreter: /usr/bin/python3",
        # The lab's sshd runs unprivileged and cannot allocate a PTY (ssh -tt).
        "    ansible_ssh_use_tty: false",
        "  hosts:",
    ]
    for box, command in remote_commands(inv).items():
        lines.append(f"    {box}:")
        lines.append(f"      ansible_host: {inv.box(box).address}")
        lines.append(f"      probe: !unsafe {json.dumps(command)}")
    path.write_text("\n".join(lines) + "\n")


class Ansible:
    """`ansible all -m shell -a '{{ probe }}'` against the lab, one fresh run at a time."""

    def __init__(self, lab: LabLayout, inv: Inventory, workdir: Path, pipelining: bool) -> None:
        self.ansible = ensure_ansible()
        self.inv = inv
        self.workdir = workdir
        self.pipelining = pipelining
        self.inventory = workdir / "inventory.yml"
        write_ansible_inventory(lab, inv, self.inventory)
        (workdir / "ansible.cfg").write_text("[defaults]\n")
        self.remote_tmp = lab.root / "ansible-tmp"  # on the "boxes"; purged with the lab
        self.boxes = list(remote_commands(inv))

    def _env(self, control_dir: Path) -> dict[str, str]:
        home = self.workdir / "ansible-home"
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "ANSIBLE_CONFIG": str(self.workdir / "ansible.cfg"),
            "ANSIBLE_HOME": str(home),
            "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
            "ANSIBLE_REMOTE_TEMP": str(self.remote_tmp),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
            "ANSIBLE_PIPELINING": "True" if self.pipelining else "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
        }

    def run(self) -> Run:
        """One ad-hoc run in a fresh process tree; check every host answered in full."""
        with tempfile.TemporaryDirectory(prefix="cp-", dir=self.workdir) as control:
            argv = [str(self.ansible), "all", "-i", str(self.inventory)]
            argv += ["-f", str(len(self.boxes)), "-m", "shell", "-a", _ARGS]
            run = timed(argv, self._env(Path(control)))
            _close_masters(Path(control))
        if run.returncode != 0:
            raise BenchError(f"ansible exited {run.returncode}:\n{run.stdout}{run.stderr}")
        for box, text in _ansible_sections(run.stdout):
            check_output(box, text, self.inv)
        answered = {box for box, _ in _ansible_sections(run.stdout)}
        if answered != set(self.boxes):
            raise BenchError(f"ansible answered for {sorted(answered)}, not {self.boxes}")
        return run


def _ansible_sections(stdout: str) -> Iterator[tuple[str, str]]:
    """(host, its output) from the default ad-hoc output ("host | CHANGED | rc=0 >>")."""
    host: str | None = None
    body: list[str] = []
    for line in stdout.splitlines():
        if " | " in line and line.rstrip().endswith(">>"):
            if host is not None:
                yield host, "\n".join(body)
            host, body = line.split(" | ", 1)[0], []
            if "rc=0" not in line:
                raise BenchError(f"ansible: {line}")
        else:
            body.append(line)
    if host is not None:
        yield host, "\n".join(body)


def _close_masters(control_dir: Path) -> None:
    """Ask the ControlPersist masters this run left behind to exit (ssh -O exit)."""
    for socket_path in control_dir.iterdir():
        subprocess.run(
            ["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "unused"],
            capture_output=True,
            timeout=10,
            check=False,
        )
