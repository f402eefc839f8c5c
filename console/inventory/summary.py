"""A one-screen plain-text summary of an inventory (for `hotspare check-config`)."""

from __future__ import annotations

from .model import Database, Inventory, WebNode

WIDTH = 80
HEIGHT = 24


def summary(inv: Inventory) -> str:
    """Describe the inventory in at most 24 lines of at most 80 characters.

    Long sections are cut short with an "... and N more" line; long lines
    end in "...". No colour, so it can go to a log or a ticket as is.
    """
    header = (
        f"cluster {inv.name}  environment {inv.environment.label} "
        f"({inv.environment.colour})  file {inv.path.name}"
    )
    width = max(len(name) for name in _names(inv)) if _names(inv) else 1
    width = min(width, 16)
    sections = [
        (f"boxes ({len(inv.boxes)})", [_box_row(inv, box.name, width) for box in inv.boxes]),
        (_balancer_line(inv), []),
        (_count("web nodes", len(inv.web_nodes)), [_web_row(inv, w, width) for w in inv.web_nodes]),
        (_count("databases", len(inv.databases)), [_db_row(d, width) for d in inv.databases]),
    ]
    lines = [header, *_fit(sections, HEIGHT - 1)]
    return "\n".join(_clip(line) for line in lines)


def _names(inv: Inventory) -> list[str]:
    return (
        [b.name for b in inv.boxes]
        + [w.name for w in inv.web_nodes]
        + [d.name for d in inv.databases]
    )


def _count(title: str, count: int) -> str:
    return f"{title} ({count})" if count else f"{title}: none"


def _box_row(inv: Inventory, name: str, width: int) -> str:
    box = inv.box(name)
    user = f"{box.user}@" if box.user else ""
    row = f"  {name:<{width}}  {user}{box.address}:{box.port or 22}"
    chain = inv.jump_chain(name)
    return row + ("  via " + " > ".join(chain) if chain else "")


def _balancer_line(inv: Inventory) -> str:
    lb = inv.balancer
    if lb is None:
        return "balancer: none"
    line = f"balancer on {lb.box}  frontend {lb.frontend}  backend {lb.backend}"
    if len(lb.backends) > 1:
        line += " (also " + ", ".join(lb.backends[1:]) + ")"
    return line + (f"  {lb.site_url}" if lb.site_url else "")


def _web_row(inv: Inventory, web: WebNode, width: int) -> str:
    marker = "scheduler" if web.scheduler else ""
    box = f"  (box {web.box})" if web.box != web.name else ""
    own = inv.balancer is not None and web.backend not in ("", inv.balancer.backend)
    backend = f"  (backend {web.backend})" if own else ""
    return f"  {web.name:<{width}}  {web.role:<4}  {marker:<9}  {web.health_url}{box}{backend}"


def _db_row(db: Database, width: int) -> str:
    box = f"on {db.box}  " if db.box != db.name else ""
    return f"  {db.name:<{width}}  {box}{db.host}:{db.port}/{db.dbname}  user {db.user}"


def _fit(sections: list[tuple[str, list[str]]], budget: int) -> list[str]:
    """Lay out titled sections, cutting the longest ones until they fit."""
    shown = [len(rows) for _title, rows in sections]
    while len(sections) + sum(shown) > budget and max(shown) > 1:
        shown[shown.index(max(shown))] -= 1
    lines: list[str] = []
    for (title, rows), count in zip(sections, shown, strict=True):
        lines.append(title)
        if count < len(rows):
            lines.extend(rows[: count - 1])
            lines.append(f"  ... and {len(rows) - count + 1} more")
        else:
            lines.extend(rows)
    return lines


def _clip(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."
