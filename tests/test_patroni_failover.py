"""The leader's box dies on the Patroni lab: Patroni elects, the console tells it in order.

Under a committing writer, the leader's Patroni and postmaster are killed
with SIGKILL (console/lab/faults.py). Nobody types anything: Patroni's leader
key runs out, the replicas elect, the site writes again. What must hold:
the console shows the new leader within a refresh of Patroni's promotion,
the event timeline tells the story in order (the key not renewed, expired,
taken; the old leader gone; the new leader and timeline with what may be
lost; the old leader back, fenced, as a replica), never two writable members,
and every commit lost is one the loss estimate put at risk. Then `hotspare
failover` through Patroni brings the leader back, losing nothing.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from console.lab import faults, patroni
from console.lab.layout import LabLayout
from console.state import codec
from tests.support.dbwatch import Watch, Writer
from tests.support.following import pictures, timeline
from tests.support.labclient import eventually, hotspare

pytestmark = pytest.mark.lab

REFRESH = 1.0  # the watchers' --interval


def test_the_leader_dies_patroni_elects_and_the_console_tells_the_story_in_order(
    patroni_lab: LabLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = patroni_lab
    old = eventually(lambda: patroni.leader(lab), timeout=30)
    epoch = time.time() - time.monotonic()  # the writer stamps its acks on the monotonic clock
    writer, watch = Writer(lab, seconds=150).start(), Watch(lab, seconds=150).start()
    events, states = timeline(lab), pictures(lab)
    try:
        eventually(lambda: len(writer.acked) > 50 and len(states.documents) > 2, timeout=30)
        killed_at = time.time()
        faults.kill_member(lab, old)
        new = eventually(partial(_another_leads, lab, old), timeout=60)
        # The site writes again without anyone typing.
        eventually(lambda: writer.acked[-1][1] + epoch > killed_at + 1, timeout=30)
        eventually(lambda: _takeover(states, new) is not None, timeout=10)
        eventually(lambda: (_takeover(states, new) or {}).get("fork_lsn"), timeout=30)
        patroni.start_member(lab, old)
        eventually(lambda: old in patroni.streaming(lab), timeout=90)
        eventually(lambda: _said(events, old, "fenced"), timeout=10)
        # Back through hotspare: Patroni's failover to a named member, the leader alive.
        back_from = time.monotonic()
        code, answer = hotspare(lab, capsys, "failover", old, "--confirm", old)
        assert code == 0, answer
        eventually(lambda: patroni.leader(lab) == old, timeout=30)
        eventually(lambda: new in patroni.streaming(lab), timeout=90)
        eventually(lambda: writer.acked[-1][1] > back_from + 1, timeout=30)
    finally:
        writer.stop()
        watch.stop()
        events.stop()
        states.stop()

    takeover = _takeover(states, new)
    assert takeover is not None and takeover["old"] == old and not takeover["demoted"], takeover
    # The snapshot that tells it survives the trip a shared monitor or a history makes.
    told = next(p for p in reversed(states.documents) if p["patroni"]["takeover"])
    assert json.loads(json.dumps(codec.encode(codec.decode(told)))) == told
    # Within one refresh of Patroni's promotion (its history's timestamp), and the probe's time.
    elected = _epoch(takeover["elected"])
    assert takeover["seen_at"] - elected < 2 * REFRESH + 1.5, (takeover["seen_at"], elected)
    story = [
        _index(events, old, "ALARM", "not renewed Patroni's leader key"),
        _index(events, None, "leader key expired", "elected once"),
        _index(events, new, "leads "),
        _index(events, new, "began at", "leads timeline", must=_forked),
        _index(events, old, "back among Patroni's members as a replica", "fenced"),
    ]
    assert story == sorted(story), [events.documents[i]["text"] for i in story]
    assert _index(events, old, "left Patroni's members") < story[2]

    lost = writer.missing_on(new)
    acked = dict(writer.acked)
    print(
        f"{len(writer.acked)} commits acknowledged; killed {old}, {new} elected "
        f"{elected - killed_at:.1f} s later, seen {takeover['seen_at'] - elected:.2f} s after; "
        f"lost {len(lost)} {[round(acked[i] + epoch - killed_at, 3) for i in lost]} s after kill"
    )
    assert watch.both_writable() == [], watch.both_writable()[:3]
    # Every lost commit is one the estimate put at risk: acknowledged after the console last
    # saw the old leader writing. Nothing acknowledged before it is ever lost.
    assert all(acked[i] + epoch >= takeover["old_seen_at"] for i in lost), (lost, takeover)
    # The failover back, with the leader alive, lost nothing.
    assert [i for i in writer.missing_on(old) if acked[i] >= back_from] == []


def _another_leads(lab: LabLayout, old: str) -> str | None:
    leader = patroni.leader(lab)
    return leader if leader not in (None, old) else None


def _takeover(states: Any, new: str) -> dict[str, Any] | None:
    for picture in reversed(states.documents):
        found = (picture.get("patroni") or {}).get("takeover")
        if found and found["new"] == new:
            return dict(found)
    return None


def _forked(text: str) -> bool:
    """Where the new timeline began: in the takeover's own line, or in its follow-up."""
    return "began at" in text or (text.startswith("leads timeline") and " from " in text)


def _said(events: Any, subject: str | None, *words: str) -> bool:
    return _index(events, subject, *words, must=False) >= 0


def _index(
    events: Any, subject: str | None, *words: str, must: bool | Callable[[str], bool] = True
) -> int:
    """The first event about SUBJECT (any, if None) whose text has one of WORDS (and passes
    MUST, when it is a test); -1 if none and MUST is False, else an AssertionError."""
    for n, event in enumerate(events.documents):
        if subject is not None and subject not in event["subject"].split(", "):
            continue
        text = event["text"]
        if any(w in text for w in words) and (not callable(must) or must(text)):
            return n
    if must is False:
        return -1
    said = "\n".join(f"{e['subject']}: {e['text']}" for e in events.documents)
    raise AssertionError(f"no event about {subject} with {words}:\n{said}")


def _epoch(stamp: str) -> float:
    """Patroni's history timestamp ('2026-12-07T15:25:04.246153+00:00') as epoch seconds."""
    moment = time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    assert stamp.endswith("+00:00"), stamp  # the lab runs in UTC
    return calendar.timegm(moment) + float("0" + stamp[19:].split("+")[0])
