"""JSON requests as the text cells a lesion file would hold, validated exactly as the CLI validates a file.

A lesion in JSON is an object whose keys are canonical column names (``lesion_id``, ``morphology``,
...; see the README's table). Each value becomes the text a CSV cell would hold - strings as they
are, whole numbers without ``.0``, ``true``/``false`` for booleans, a list of words joined with
``|`` for morphology and distribution, ``null`` or ``""`` blank (= not recorded) - and the cells go
through :func:`microcalc.io.readers.validated_block` (the function behind ``validate_cells`` and
``read_lesions``) with ``file="request"``. So a bad value gets the CLI's own message, naming the
"row" the lesion would have in a CSV file (the first lesion is row 2) and what is allowed.

Problems a CSV file cannot have (not JSON, wrong types, unknown keys) get messages in the same
form, raised as :class:`~microcalc.io.errors.LesionInputError` with ``file="request"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import pandas as pd

from microcalc.io import schema
from microcalc.io.errors import LesionInputError

REQUEST = "request"  # the "file" named in messages about a JSON request
MAX_NESTING = 32  # JSON deeper than this is refused before parsing (json.loads recurses)


def parse_json(body: bytes) -> object:
    """The JSON document in a request body; NaN, Infinity and very deep nesting are refused."""
    if _nesting(body) > MAX_NESTING:
        raise LesionInputError(REQUEST, f"JSON nested more than {MAX_NESTING} levels deep")
    try:
        return json.loads(body.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise LesionInputError(REQUEST, "the body is not UTF-8 text; send JSON") from None
    except (ValueError, RecursionError) as err:  # json.JSONDecodeError is a ValueError
        raise LesionInputError(REQUEST, f"the body is not valid JSON ({err})") from None


def _nesting(body: bytes) -> int:
    """Deepest bracket nesting in the body (brackets inside strings count too: an upper bound, cheap)."""
    depth = deepest = 0
    for byte in body.translate(None, delete=bytes(set(range(256)) - set(b"[]{}"))):
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def request_object(document: object, allowed_keys: Sequence[str]) -> Mapping:
    """The top-level JSON object, refusing any other type or an unknown key."""
    if not isinstance(document, dict):
        raise LesionInputError(
            REQUEST,
            f"expected a JSON object, got {_json_type(document)}",
            allowed=", ".join(repr(k) for k in allowed_keys),
        )
    for key in document:
        if key not in allowed_keys:
            raise LesionInputError(REQUEST, "unknown key", value=key, allowed=", ".join(allowed_keys))
    return document


def lesion_cells(lesions: object, key: str = "lesions") -> pd.DataFrame:
    """A JSON list of lesion objects as a frame of text cells (string dtype, NA = blank), canonical columns.

    Columns appear in schema order; a column no lesion mentions is left out, as a file would leave it.
    """
    if not isinstance(lesions, list):
        raise LesionInputError(REQUEST, f"'{key}' must be a list of lesion objects, got {_json_type(lesions)}")
    if not lesions:
        raise LesionInputError(REQUEST, f"'{key}' is empty; send at least one lesion")
    rows = [lesion_row(lesion, i) for i, lesion in enumerate(lesions)]
    present = [c for c in schema.COLUMNS if any(c in row for row in rows)]
    return pd.DataFrame({c: pd.array([row.get(c) for row in rows], dtype="string") for c in present})


def lesion_row(lesion: object, index: int) -> dict[str, str | None]:
    """One lesion object as {canonical column: cell text or None}; ``index`` counts from 0 (CSV row index + 2)."""
    row = index + 2
    if not isinstance(lesion, dict):
        raise LesionInputError(REQUEST, f"each lesion must be a JSON object, got {_json_type(lesion)}", row=row)
    out = {}
    for column, value in lesion.items():
        if column not in schema.COLUMNS:
            raise LesionInputError(
                REQUEST, "unknown lesion field", row=row, value=column, allowed=", ".join(schema.COLUMNS)
            )
        out[column] = cell_text(value, column, row)
    return out


def cell_text(value: object, column: str, row: int) -> str | None:
    """The CSV cell text of one JSON value (None = blank), refusing types no cell could hold."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: True is an int in Python
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _wrong_type(value, column, row)
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, list) and column in schema.MULTI_VALUED:
        if not all(isinstance(word, str) for word in value):
            raise LesionInputError(
                REQUEST, f"a list of {column} words must hold only strings", row=row, column=column, value=value
            )
        return schema.MULTI_SEPARATOR.join(value)
    raise _wrong_type(value, column, row)


def _wrong_type(value: object, column: str, row: int) -> LesionInputError:
    several = " or a list of words" if column in schema.MULTI_VALUED else ""
    return LesionInputError(
        REQUEST,
        f"wrong type: {_json_type(value)}",
        row=row,
        column=column,
        value=value if isinstance(value, (int, float)) else None,
        allowed=f"a string, a number, true/false{several} or null",
    )


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def validated_lesions(cells: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Text cells as the canonical frame (the CLI's validation and messages) and its warnings as text.

    ``validated_block`` returns the warnings instead of issuing them, so that concurrent requests
    never catch each other's warnings.
    """
    from microcalc.io.readers import validated_block

    frame, notes = validated_block(cells, file=REQUEST, fmt="canonical")
    return frame, [str(note) for note in notes]


def json_float(value: object, name: str, low: float, high: float) -> float:
    """A number from a request (e.g. ``ci``) strictly between ``low`` and ``high``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
        raise LesionInputError(REQUEST, f"'{name}' must be a number strictly between {low:g} and {high:g}", value=value)
    return float(value)
