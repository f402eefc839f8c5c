"""Both front ends show everything an outcome holds: steps, what was put back, the clean-up."""

from __future__ import annotations

from console.actions.plan import Plan
from console.actions.runner import Outcome, StepResult
from console.cli.actions import summary
from screens.action import outcome_lines


def _outcome() -> Outcome:
    plan = Plan("promote", "db2", "switch over to db2", (), way_back="hotspare promote db1")
    return Outcome(
        "failed",
        plan,
        (StepResult("Stop db1", True, "", "db1 is stopped", 0.1),),
        "stopped at step 2 (Check db2 caught up): NOT past the checkpoint",
        undone=(
            StepResult("Start db1 again", True, "", "db1 commits", 0.2),
            StepResult("Lift the read-only mode", False, "", "the balancer did not answer", 0.3),
        ),
        cleanup=(StepResult("Release the lock", True, "", "the lock is gone", 0.0),),
    )


def test_the_command_line_names_every_step_put_back_and_cleaned_up() -> None:
    text = summary(_outcome())
    assert text.startswith("promote db2: FAILED")
    assert "ok   Stop db1: db1 is stopped" in text
    assert "ok   put back: Start db1 again: db1 commits" in text
    assert "FAIL put back: Lift the read-only mode: the balancer did not answer" in text
    assert "ok   at the end: Release the lock: the lock is gone" in text
    assert "NOT past the checkpoint" in text


def test_the_console_names_every_step_put_back_and_cleaned_up() -> None:
    lines = outcome_lines(_outcome())
    assert lines[0] == "promote db2: FAILED"
    assert "✓ Stop db1: db1 is stopped" in lines
    assert "✓ put back: Start db1 again: db1 commits" in lines
    assert "✗ put back: Lift the read-only mode: the balancer did not answer" in lines
    assert "✓ at the end: Release the lock: the lock is gone" in lines
