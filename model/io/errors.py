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

    Every user-facing refusal is one of these, so the CLI can print one clear line and exit with
    status 2 without a traceback.

    Parameters
    ----------
    file
        The file, or the option (e.g. ``--site``) or request the input came from.
    problem
        What is wrong, in plain words.
    row
        Spreadsheet row: the header is row 1, the first record row 2.
    column
        The column the value is in.
    value
        The offending value, echoed (clipped to :data:`ECHO_CHARS` characters).
    allowed
        What would have been accepted.
    """

    file: str
    problem: str
    row: int | None = None
    column: str | None = None
    value: object | None = None
    allowed: str | None = None

    def __str__(self) -> str:
        """The one-line message: 'FILE, row R, column 'C': problem (got V); allowed: A'.

        Long values and column names are clipped, and line breaks a cell held are folded, so the message
        always fits one terminal line.
        """
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
    """A fit file (FIT.nc) that is missing, corrupt or from an incompatible version.

    A :class:`LesionInputError` (same fields, same one-line message), so callers that handle bad input
    handle a bad fit file too.
    """


class LesionWarning(UserWarning):
    """A value that was accepted but changed (e.g. an impossible age treated as not recorded)."""


class ConvergenceError(RuntimeError):
    """The sampler did not converge (R-hat, ESS or divergences out of bounds)."""
