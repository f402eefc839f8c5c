"""Errors from reaching a box, each with a message an operator can act on."""

from __future__ import annotations

from console.errors import Exit, HotspareError


class BoxError(HotspareError):
    """A box could not be reached or did not answer.

    Attributes:
        box: the box's name in the inventory.
        reason: what went wrong and what to do, in an operator's words.
    """

    exit = Exit.FAILED

    def __init__(self, box: str, reason: str) -> None:
        super().__init__(f"{box}: {reason}")
        self.box = box
        self.reason = reason


class Unreachable(BoxError):
    """No SSH connection: refused, unresolvable, lost, or no answer in time."""


class AuthRefused(BoxError):
    """The box's sshd refused every key offered."""


class HostKeyRefused(BoxError):
    """The box's host key is unknown or differs from the recorded one.

    Attributes:
        fingerprint: the SHA256 fingerprint the box offered, if it could be read.
        changed: True when a different key is recorded (possible interception).
    """

    def __init__(self, box: str, reason: str, fingerprint: str | None, changed: bool) -> None:
        super().__init__(box, reason)
        self.fingerprint = fingerprint
        self.changed = changed
        if changed:  # not a failure to retry: hotspare refuses to talk to the box
            self.exit = Exit.REFUSED


class RemoteTimeout(BoxError):
    """A command or probe on the box did not finish in time."""


class RemoteFailed(BoxError):
    """A command on the box failed or a channel could not be opened."""
