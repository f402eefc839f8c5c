"""cluster.yaml's alerts section: read as written, and every mistake named with its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.inventory import AlertHook, Alerts, Inventory, InventoryError, load

GOOD_LAB = Path(__file__).resolve().parent / "inventory_cases" / "good_lab.yaml"


def _load(tmp_path: Path, section: str) -> Inventory:
    path = tmp_path / "cluster.yaml"
    path.write_text(GOOD_LAB.read_text() + section)
    return load(path)


def _problems(tmp_path: Path, section: str) -> dict[str, str]:
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, section)
    return {p.key: p.message for p in caught.value.problems}


def test_without_the_section_there_are_no_hooks(tmp_path: Path) -> None:
    assert _load(tmp_path, "").alerts == Alerts(hooks=(), min_interval=60.0, max_per_minute=20)
    assert _load(tmp_path, "alerts:\n").alerts == Alerts()


def test_hooks_are_read_as_lists_or_split_lines(tmp_path: Path) -> None:
    alerts = _load(
        tmp_path,
        "alerts:\n"
        "  hooks:\n"
        "    - command: [/usr/local/bin/page-oncall, --team, web]\n"
        "      severities: [critical]\n"
        "    - command: logger -t 'hot spare' --id\n"
        "      timeout: 3\n"
        "    - command: [./hooks/chat, '#ops']\n"
        "  min_interval: 30\n"
        "  max_per_minute: 5\n",
    ).alerts
    assert alerts == Alerts(
        hooks=(
            AlertHook(("/usr/local/bin/page-oncall", "--team", "web"), ("critical",)),
            AlertHook(("logger", "-t", "hot spare", "--id"), timeout=3.0),
            AlertHook((str(tmp_path / "hooks" / "chat"), "#ops")),  # beside cluster.yaml
        ),
        min_interval=30.0,
        max_per_minute=5,
    )


def test_every_mistake_in_the_section_is_named_at_once(tmp_path: Path) -> None:
    said = _problems(
        tmp_path,
        "alerts:\n"
        "  hooks:\n"
        "    - command: page-oncall | logger\n"
        "      severities: [critcal]\n"
        "    - comand: x\n"
        "    - command: []\n"
        "    - command: echo $HOME\n"
        "      timeout: 0\n"
        "    - /bin/true\n"
        "  min_interval: -1\n"
        "  max_per_minute: 0\n"
        "  hook: x\n",
    )
    assert "no shell runs a hook, so '|'" in said["alerts.hooks[0].command"]
    assert "[/bin/sh, -c, '...']" in said["alerts.hooks[0].command"]
    assert "did you mean 'critical'?" in said["alerts.hooks[0].severities"]
    assert "did you mean 'command'?" in said["alerts.hooks[1].comand"]
    assert "alerts.hooks[1].command" not in said  # the near miss is said instead
    assert "it is empty" in said["alerts.hooks[2].command"]
    assert "$ or ` expansion" in said["alerts.hooks[3].command"]
    assert "from 1 to 300" in said["alerts.hooks[3].timeout"]
    assert "expected a mapping such as {command" in said["alerts.hooks[4]"]
    assert "from 0 to 86400" in said["alerts.min_interval"]
    assert "from 1 to 600" in said["alerts.max_per_minute"]
    assert "did you mean 'hooks'?" in said["alerts.hook"]


def test_hooks_must_be_a_list_and_a_line_must_split(tmp_path: Path) -> None:
    said = _problems(tmp_path, "alerts:\n  hooks: {command: x}\n")
    assert "expected a list of hooks" in said["alerts.hooks"]
    said = _problems(tmp_path, 'alerts:\n  hooks:\n    - command: "page \'oncall"\n')
    assert "cannot be split" in said["alerts.hooks[0].command"]
