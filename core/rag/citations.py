"""Inline citation markers: which numbered sources an answer cites.

The retrieve stage numbers the context blocks [1], [2], … and asks the model to
cite them the same way; these helpers read the markers back so a page can show
which of the listed sources the answer used, and mark the ones that match.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: "[1]", "[2][3]" and "[1, 2]" (numbers inside one pair of brackets).
MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


def cited(text: str, sources: int) -> list[int]:
    """The source numbers (1..sources) the text cites, in order of first mention."""
    seen: list[int] = []
    for match in MARKER.finditer(text or ""):
        for part in match.group(1).split(","):
            n = int(part)
            if 1 <= n <= sources and n not in seen:
                seen.append(n)
    return seen


def mark(text: str, sources: int, render: Callable[[int], str]) -> str:
    """`text` with each marker that matches a source rewritten by `render(n)`;
    markers that match no listed source are left as the model wrote them."""

    def replace(match: re.Match[str]) -> str:
        numbers = [int(p) for p in match.group(1).split(",")]
        if not all(1 <= n <= sources for n in numbers):
            return match.group(0)
        return "".join(render(n) for n in numbers)

    return MARKER.sub(replace, text or "")
