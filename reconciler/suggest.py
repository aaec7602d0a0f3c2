"""Did-you-mean suggestions for unknown names.

Lowest layer (stdlib only).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest known name, or '' when none is close."""
    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


def unknown_key(name: str, known: Iterable[str]) -> str:
    return f'unknown field "{name}"{did_you_mean(name, known)}'
