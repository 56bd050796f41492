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


_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
#: Words too common to say where a sentence came from.
_COMMON = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "was",
        "were",
        "with",
        "that",
        "this",
        "from",
        "have",
        "has",
        "had",
        "not",
        "but",
        "you",
        "your",
        "our",
        "they",
        "their",
        "them",
        "its",
        "it's",
        "can",
        "will",
        "would",
        "should",
        "could",
        "may",
        "might",
        "about",
        "into",
        "than",
        "then",
        "there",
        "which",
        "what",
        "when",
        "where",
        "who",
        "how",
        "also",
        "each",
        "any",
        "all",
        "one",
        "two",
        "per",
        "more",
        "most",
        "some",
        "such",
    ]
)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _COMMON


def attribute(text: str, sources: list[str], *, min_overlap: float = 0.5) -> str:
    """Add a marker [n] after each sentence that mostly repeats source n.

    Small models seldom write the markers they are asked for; without them a
    reader cannot tell which listed source backs which claim. A sentence is
    attributed to the source sharing the largest share of its content words,
    when that share reaches `min_overlap` and the sentence has at least three
    such words. Text that already cites a listed source is returned unchanged.
    """
    if not text or not sources or cited(text, len(sources)):
        return text
    bags = [_words(s) for s in sources]

    def mark_sentence(match: re.Match[str]) -> str:
        sentence = match.group(0)
        words = _words(sentence)
        if len(words) < 3:
            return sentence
        share, n = max(((len(words & bag) / len(words), -n) for n, bag in enumerate(bags, start=1)))
        if share < min_overlap:
            return sentence
        body = sentence.rstrip()
        stem = body.rstrip(".!?")
        return f"{stem} [{-n}]{body[len(stem) :]}{sentence[len(body) :]}"

    return _SENTENCE.sub(mark_sentence, text)
