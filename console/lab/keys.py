"""SSH keys of the lab: one host key per box, one client key, pinned known_hosts."""

from __future__ import annotations

import asyncssh

from console.lab.layout import SSH_PORT, LabLayout


def _new_key(path_private: str, comment: str) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    key.write_private_key(path_private)
    key.write_public_key(path_private + ".pub")
    return key


def ensure_keys(lab: LabLayout) -> None:
    """Create missing keys and (re)write authorized_keys and known_hosts.

    Existing keys are kept, so a lab brought up again keeps its host keys and
    the operator's pinned known_hosts stays valid.
    """
    lab.ssh_dir.mkdir(parents=True, exist_ok=True)
    client = lab.client_key
    if client.exists():
        client_key = asyncssh.read_private_key(str(client))
    else:
        client_key = _new_key(str(client), f"hotspare-lab-{lab.block}")
    client.chmod(0o600)
    public = client_key.export_public_key("openssh").decode()
    lab.authorized_keys.write_text(public)

    lines = []
    for box in lab.boxes:
        key_dir = lab.box_dir(box) / "ssh"
        key_dir.mkdir(parents=True, exist_ok=True)
        host_key_path = key_dir / "host_ed25519"
        if host_key_path.exists():
            host_key = asyncssh.read_private_key(str(host_key_path))
        else:
            host_key = _new_key(str(host_key_path), box)
        host_key_path.chmod(0o600)
        host_public = host_key.export_public_key("openssh").decode().split()
        lines.append(f"[{lab.address(box)}]:{SSH_PORT} {host_public[0]} {host_public[1]}\n")
    lab.known_hosts.write_text("".join(lines))
