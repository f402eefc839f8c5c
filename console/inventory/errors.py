"""Problems found in an inventory file and the one exception that carries them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from console.errors import Exit, HotspareError
from console.text import shown

# At most this many problems are printed: past that the file is most likely
# not an inventory at all, and the rest would only scroll the first away.
SHOWN = 50


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an inventory file, at a place an editor can jump to.

    Attributes:
        path: The file name as the operator gave it.
        line: 1-based line number.
        column: 1-based column number.
        key: Dotted path of the offending key, e.g. ``boxes.web1.port``
            (list elements as ``jump[0]``); empty for file-level problems.
        message: What was found and what was expected.
    """

    path: str
    line: int
    column: int
    key: str
    message: str

    def __post_init__(self) -> None:
        # Keys and values come from the file as written: a right-to-left
        # override or an escape sequence in a name is shown, never obeyed.
        for name in ("path", "key", "message"):
            object.__setattr__(self, name, shown(getattr(self, name)))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        if self.key:
            return f"{where}: {self.key}: {self.message}"
        return f"{where}: {self.message}"


class InventoryError(HotspareError):
    """The inventory could not be loaded; ``problems`` says every reason found."""

    exit = Exit.USAGE

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [str(p) for p in self.problems[:SHOWN]]
        path = self.problems[0].path if self.problems else "FILE"
        count = len(self.problems)
        what = "this problem" if count == 1 else f"these {count} problems"
        if count > SHOWN:
            lines.append(f"... and {count - SHOWN} more; is this the right file?")
            what = f"the first {SHOWN} problems"
        lines.append(f"Fix {what} and run `hotspare check-config {path}` again.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render()
