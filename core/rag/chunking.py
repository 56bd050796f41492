"""Split loaded sections into chunks sized in the embedding model's own tokens.

Two strategies, chosen per collection:

- ``recursive``: each page's text is tokenized once, then cut into windows of
  at most ``size`` tokens; each cut moves back to the strongest boundary in
  the second half of the window (paragraph, then line, then sentence, then
  word), and the next window starts ``overlap`` tokens earlier, on a word.
- ``markdown``: one chunk per heading section (split the same way when too
  long), the heading path written at the top of the chunk, and sections too
  small to be useful merged into their neighbours.

Counting with the model's tokenizer (not characters) is what guarantees a
chunk is never silently truncated by the embedder.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from core.rag.loaders import Section

__all__ = ["STRATEGIES", "Chunk", "chunk_sections"]

STRATEGIES = {
    "recursive": "Token windows with overlap (any document)",
    "markdown": "By heading, small sections merged (Markdown, HTML, Word)",
}
_SEPARATORS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


@dataclass(slots=True)
class Chunk:
    text: str
    index: int
    tokens: int
    page: int | None = None
    heading: str | None = None


def chunk_sections(
    sections: list[Section],
    tokenizer: Any,
    *,
    strategy: str = "recursive",
    size: int = 200,
    overlap: int = 30,
    min_tokens: int = 40,
) -> list[Chunk]:
    """Chunks of at most `size` tokens (by `tokenizer`, a Hugging Face fast tokenizer)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown chunking '{strategy}'; choose one of {', '.join(STRATEGIES)}.")
    if size < 16:
        raise ValueError("Chunk size must be at least 16 tokens.")
    overlap = max(0, min(overlap, size // 2))
    if strategy == "markdown":
        pieces = _by_heading(sections, tokenizer, size, overlap)
        pieces = _merge_small(pieces, size, min_tokens)
    else:
        pieces = _by_page(sections, tokenizer, size, overlap)
    return [
        Chunk(text=p.text, index=i, tokens=p.tokens, page=p.page, heading=p.heading)
        for i, p in enumerate(pieces)
        if p.text.strip()
    ]


def _by_page(sections: list[Section], tokenizer: Any, size: int, overlap: int) -> list[Chunk]:
    """Sections of one page joined, headings kept inline, then windowed."""
    out: list[Chunk] = []
    groups: list[list[Section]] = []
    for s in sections:
        if groups and groups[-1][0].page == s.page:
            groups[-1].append(s)
        else:
            groups.append([s])
    for group in groups:
        text, starts, heads = "", [], []
        for s in group:
            if text:
                text += "\n\n"
            starts.append(len(text))
            heads.append(s.heading)
            if s.heading:
                text += s.heading.rsplit(" > ", 1)[-1] + "\n"
            text += s.text
        for start, end, tokens in _windows(text, tokenizer, size, overlap):
            heading = heads[max(bisect_right(starts, start) - 1, 0)]
            out.append(Chunk(text[start:end], 0, tokens, group[0].page, heading))
    return out


def _by_heading(sections: list[Section], tokenizer: Any, size: int, overlap: int) -> list[Chunk]:
    out: list[Chunk] = []
    for s in sections:
        prefix = f"{s.heading}\n" if s.heading else ""
        budget = size - (_count(tokenizer, prefix) if prefix else 0)
        if budget < size // 2:  # an absurdly long heading: don't let it eat the chunk
            prefix, budget = "", size
        for start, end, tokens in _windows(s.text, tokenizer, budget, overlap):
            text = prefix + s.text[start:end]
            out.append(Chunk(text, 0, tokens + size - budget, s.page, s.heading))
    return out


def _merge_small(pieces: list[Chunk], size: int, min_tokens: int) -> list[Chunk]:
    merged: list[Chunk] = []
    for p in pieces:
        last = merged[-1] if merged else None
        if (
            last is not None
            and (last.tokens < min_tokens or p.tokens < min_tokens)
            and last.tokens + p.tokens <= size
            and last.page == p.page
        ):
            last.text = f"{last.text}\n\n{p.text}"
            last.tokens += p.tokens
        else:
            merged.append(Chunk(p.text, 0, p.tokens, p.page, p.heading))
    return merged


def _count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _windows(
    text: str, tokenizer: Any, size: int, overlap: int
) -> list[tuple[int, int, int]]:
    """(start char, end char, tokens) of each window over `text`."""
    # verbose=False: windows longer than the model limit are the point here.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = [(a, b) for a, b in enc["offset_mapping"] if b > a]
    n = len(offsets)
    if n == 0:
        return []
    if n <= size:
        return [(offsets[0][0], offsets[-1][1], n)]
    starts = [a for a, _ in offsets]
    out = []
    s = 0
    while s < n:
        e = min(s + size, n)
        if e < n:
            lo, hi = offsets[s + size // 2][0], offsets[e][0]
            for sep in _SEPARATORS:
                at = text.rfind(sep, lo, hi)
                if at >= 0:
                    e = max(bisect_left(starts, at + len(sep)), s + 1)
                    break
        out.append((offsets[s][0], offsets[e - 1][1], e - s))
        if e >= n:
            break
        nxt = max(e - overlap, s + 1)
        # Start the overlap on a word, not inside one.
        while nxt < e and nxt > 0 and not text[offsets[nxt][0] - 1].isspace():
            nxt += 1
        s = nxt
    return out
