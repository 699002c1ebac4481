"""Errors and warnings about user input: one clear message, exit status 2 from the CLI."""

from __future__ import annotations

from dataclasses import dataclass

# Values echoed in messages are cut to this many characters, so a message stays one screen.
ECHO_CHARS = 80


def clip(text: object, limit: int = ECHO_CHARS) -> str:
    """Text of a value cut to ``limit`` characters (with an ellipsis and the full length) for messages."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"


@dataclass
class LesionInputError(Exception):
    """Malformed input: names the file and, where known, row, column, value and what is allowed.

    ``row`` counts like a spreadsheet: the header is row 1, the first record row 2.
    """

    file: str
    problem: str
    row: int | None = None
    column: str | None = None
    value: object | None = None
    allowed: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{clip(self.column)}'")
        msg = ", ".join(where) + f": {self.problem}"
        if self.value is not None:
            msg += f" (got {clip(repr(self.value))})"
        if self.allowed:
            msg += f"; allowed: {self.allowed}"
        return " ".join(msg.split()) if "\n" in msg or "\r" in msg else msg  # one line, whatever a cell held


class FitFileError(LesionInputError):
    """A fit file (FIT.nc) that is missing, corrupt or from an incompatible version."""


class LesionWarning(UserWarning):
    """A value that was accepted but changed (e.g. an impossible age treated as not recorded)."""


class ConvergenceError(RuntimeError):
    """The sampler did not converge (R-hat, ESS or divergences out of bounds)."""
