"""Where every lab box lives: its loopback address, ports and directories.

Pure data, no I/O: the lab's configs and its cluster.yaml are derived from one
LabLayout, so a test lab and a demo lab on different blocks never collide.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from console.errors import Exit, HotspareError

DEFAULT_BLOCK = "127.0.10"
SSH_PORT = 2222
SITE_PORT = 8080
NODE_PORT = 8000
PG_PORT = 5432
SMTP_PORT = 2525
MAX_WEB_NODES = 60
AB_WEB_NODES = 4
SIDE_A = "site"
SIDE_B = "site_b"
PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
ENGINES = ("postgres", "patroni")
PATRONI_PORT = 8008
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
PATRONI_NAMESPACE = "/hotspare/"  # the lab Patroni's keys in etcd are under it
DB_PRIMARY_PORT = 5000  # HAProxy's listener for the primary, by Patroni's /primary check
DB_REPLICA_PORT = 5001  # and for the replicas, by /replica


class LayoutError(HotspareError, ValueError):
    """The lab cannot be laid out as asked (bad block, no PostgreSQL)."""

    exit = Exit.FAILED


def check_block(block: str) -> str:
    """Return BLOCK if it is three octets inside 127.0.0.0/8, else raise LayoutError."""
    parts = block.split(".")
    try:
        address = ipaddress.ip_address(f"{block}.1")
    except ValueError:
        address = None
    if len(parts) != 3 or address is None or not address.is_loopback:
        raise LayoutError(
            f"lab block {block!r} is not a loopback /24 like 127.0.10; "
            "every lab box needs its own 127.X.Y.Z address"
        )
    return block


def find_pg_bin() -> str:
    """Return the directory holding PostgreSQL's server programs."""
    for candidate in PG_BIN_CANDIDATES:
        if (Path(candidate) / "pg_ctl").exists():
            return candidate
    raise LayoutError(
        "PostgreSQL server programs not found in "
        + ", ".join(PG_BIN_CANDIDATES)
        + "; run `make deps` (or apt-get install postgresql)"
    )


LAB_USER = "hotspare-lab"


def _lab_user() -> str:
    """Who the lab's servers run as and log in as over SSH: the invoking user, or LAB_USER for root.

    A lab started by root runs sshd, HAProxy and PostgreSQL as LAB_USER:
    PostgreSQL refuses root, and an unprivileged login with a plain /bin/sh
    keeps each SSH session cheap. The demo sites and the SMTP sink stay the
    invoking user (the project's Python may be readable by that user only),
    so files they create later (a warm log, a mail log) belong to it.
    """
    return LAB_USER if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name


@dataclass(frozen=True)
class LabLayout:
    """Addresses, ports and paths of one lab.

    Attributes:
        block: the first three octets of the lab's loopback /24.
        root: the lab's directory; short, since it holds UNIX sockets.
        web_nodes: how many web nodes; the last one starts warm.
        user: the OS user every lab process runs as, and the SSH login user.
        ab: an A/B lab: web1, web2 hot in backend `site`, web3, web4 warm in
            backend `site_b`, the flags map's `live` entry picking one.
        engine: who runs PostgreSQL: "postgres" (the lab starts db1 and db2
            itself; hotspare promotes) or "patroni" (Patroni on db1, db2 and
            db3 over a three-member etcd on the same boxes).
    """

    block: str = DEFAULT_BLOCK
    root: Path = field(default=Path(f"/tmp/hotspare-lab-{DEFAULT_BLOCK}"))
    web_nodes: int = 3
    user: str = field(default_factory=_lab_user)
    ab: bool = False
    engine: str = "postgres"

    @classmethod
    def for_block(
        cls,
        block: str = DEFAULT_BLOCK,
        web_nodes: int = 3,
        ab: bool = False,
        engine: str = "postgres",
    ) -> LabLayout:
        """The layout for BLOCK with its default root under /tmp; AB: the A/B lab (4 nodes)."""
        check_block(block)
        if not 2 <= web_nodes <= MAX_WEB_NODES:
            raise LayoutError(f"web_nodes must be 2 to {MAX_WEB_NODES}, not {web_nodes}")
        if engine not in ENGINES:
            raise LayoutError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        nodes = AB_WEB_NODES if ab else web_nodes
        return cls(block, Path(f"/tmp/hotspare-lab-{block}"), nodes, _lab_user(), ab, engine)

    @property
    def patroni(self) -> bool:
        """Whether Patroni (over etcd) runs the lab's PostgreSQL."""
        return self.engine == "patroni"

    @property
    def as_root(self) -> bool:
        """Whether root manages the lab (and so must drop privileges to `user`)."""
        return os.getuid() == 0

    # Boxes and addresses -------------------------------------------------

    @property
    def host_address(self) -> str:
        """The lab host's own address: the SMTP sink listens here."""
        return f"{self.block}.1"

    @property
    def web_names(self) -> tuple[str, ...]:
        return tuple(f"web{i}" for i in range(1, self.web_nodes + 1))

    @property
    def warm_names(self) -> tuple[str, ...]:
        return self.web_names[2:] if self.ab else self.web_names[-1:]

    @property
    def backends(self) -> tuple[str, ...]:
        """HAProxy's backends: `site`, and `site_b` in an A/B lab."""
        return (SIDE_A, SIDE_B) if self.ab else (SIDE_A,)

    def backend(self, node: str) -> str:
        """The backend NODE's server is in: side B's nodes are the warm ones of an A/B lab."""
        return SIDE_B if self.ab and node in self.warm_names else SIDE_A

    @property
    def db_names(self) -> tuple[str, ...]:
        return ("db1", "db2", "db3") if self.patroni else ("db1", "db2")

    @property
    def boxes(self) -> tuple[str, ...]:
        return ("lb1", *self.web_names, *self.db_names)

    def address(self, box: str) -> str:
        """The loopback address of BOX."""
        if box == "lb1":
            return f"{self.block}.2"
        if box.startswith("web"):
            # web1-web9 at .11-.19 (beside db1 .21); larger labs go on at .110.
            number = int(box[3:])
            return f"{self.block}.{10 + number if number < 10 else 100 + number}"
        if box.startswith("db"):
            return f"{self.block}.{20 + int(box[2:])}"
        raise KeyError(box)

    # Paths ----------------------------------------------------------------

    def box_dir(self, box: str) -> Path:
        return self.root / "boxes" / box

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def client_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def authorized_keys(self) -> Path:
        return self.ssh_dir / "authorized_keys"

    @property
    def pgpass(self) -> Path:
        return self.root / "pg" / "pgpass"

    @property
    def archive_dir(self) -> Path:
        return self.root / "pg" / "archive"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def pid_dir(self) -> Path:
        return self.root / "pids"

    @property
    def cluster_file(self) -> Path:
        return self.root / "cluster.yaml"

    def data_dir(self, db: str) -> Path:
        return self.box_dir(db) / "data"

    def patroni_config(self, db: str) -> Path:
        return self.box_dir(db) / "etc" / "patroni.yml"

    def etcd_dir(self, db: str) -> Path:
        """The data directory of the etcd member on DB's box."""
        return self.box_dir(db) / "etcd"

    def haproxy_socket(self) -> Path:
        return self.box_dir("lb1") / "run" / "haproxy.sock"

    def flags_map(self) -> Path:
        return self.box_dir("lb1") / "etc" / "site-flags.map"

    def state_file(self) -> Path:
        return self.box_dir("lb1") / "etc" / "server-state"

    def role_file(self, node: str) -> Path:
        return self.box_dir(node) / "etc" / "node-role"

    def access_log_pattern(self, node: str) -> str:
        return str(self.box_dir(node) / "log" / "access.{role}.{node}.log")

    def error_log_pattern(self, node: str) -> str:
        return str(self.box_dir(node) / "log" / "error.{node}.log")

    def mail_log_pattern(self, node: str) -> str:
        return str(self.box_dir(node) / "log" / "mail.{node}.log")

    def site_pid_file(self, node: str) -> Path:
        return self.box_dir(node) / "run" / "site.pid"

    def releases_dir(self, node: str) -> Path:
        """One directory per release of the demo site, and `current`, the link to one."""
        return self.box_dir(node) / "releases"

    def current_release(self, node: str) -> Path:
        """The link the site resolves when it starts: `current` -> v1."""
        return self.releases_dir(node) / "current"

    def restart_request(self, node: str) -> Path:
        """The file whose new content asks the site to restart onto `current`."""
        return self.box_dir(node) / "run" / "restart-request"

    def bin_dir(self, node: str) -> Path:
        """The scripts the lab's upgrade and restart hooks call."""
        return self.box_dir(node) / "bin"

    # URLs -----------------------------------------------------------------

    @property
    def site_url(self) -> str:
        return f"http://{self.address('lb1')}:{SITE_PORT}/"

    def node_url(self, node: str) -> str:
        return f"http://{self.address(node)}:{NODE_PORT}/"

    def patroni_url(self, db: str) -> str:
        """Patroni's REST API on DB's box."""
        return f"https://{self.address(db)}:{PATRONI_PORT}/"

    def etcd_url(self, db: str) -> str:
        """The client URL of the etcd member on DB's box."""
        return f"http://{self.address(db)}:{ETCD_CLIENT_PORT}"

    @property
    def etcd_endpoints(self) -> tuple[str, ...]:
        """Every etcd member's client URL (a Patroni lab; none otherwise)."""
        return tuple(self.etcd_url(db) for db in self.db_names) if self.patroni else ()

    def site_dsn(self) -> str:
        """The demo site's libpq string: both members, follows a promotion."""
        hosts = ",".join(self.address(db) for db in self.db_names)
        ports = ",".join(str(PG_PORT) for _ in self.db_names)
        return (
            f"host={hosts} port={ports} dbname=site user=site "
            "target_session_attrs=primary connect_timeout=2"
        )

    def db_uri(self, db: str, user: str = "hotspare") -> str:
        """A libpq URI for one member (password from the lab's pgpass)."""
        return f"postgresql://{user}@{self.address(db)}:{PG_PORT}/site"
