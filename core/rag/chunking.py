"""Split loaded sections into chunks sized in the embedding model's own tokens.

Two strategies, chosen per collection:

- ``recursive``: each page's text is tokenized once, then cut into windows of
  at most ``size`` tokens; each cut moves back to the strongest boundary in
  the second half of the window (paragraph, then line, then sentence, then
  word), and the next window starts ``overlap`` tokens earlier, on a word.
  Record sections (CSV rows, one per line) are cut at line ends without
  overlap, so every chunk holds whole rows and no row is embedded twice.
- ``markdown``: one chunk per heading section (split the same way when too
  long), the heading path written at the top of the chunk, and sections too
  small to be useful merged into their neighbours.

Counting with the model's tokenizer (not characters) is what guarantees a
chunk is never silently truncated by the embedder.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from core.rag.loaders import BLOCK_CHARS, Section, blocks

__all__ = ["MAX_CHUNK_CHARS", "STRATEGIES", "Chunk", "chunk_sections", "iter_chunks"]

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
    #: How far through the file this chunk's section ends (0–1), for progress.
    pos: float = 0.0


#: The hard cap on characters per chunk, whatever the tokenizer counts: a
#: 1 MB "word" or zalgo text is one or two tokens but must not be one chunk.
MAX_CHUNK_CHARS = 3000


def chunk_sections(
    sections: Iterable[Section],
    tokenizer: Any,
    *,
    strategy: str = "recursive",
    size: int = 200,
    overlap: int = 30,
    min_tokens: int = 40,
    max_chars: int = MAX_CHUNK_CHARS,
) -> list[Chunk]:
    """Chunks of at most `size` tokens (by `tokenizer`, a Hugging Face fast tokenizer)."""
    return list(iter_chunks(sections, tokenizer, strategy=strategy, size=size, overlap=overlap,
                            min_tokens=min_tokens, max_chars=max_chars))


def iter_chunks(
    sections: Iterable[Section],
    tokenizer: Any,
    *,
    strategy: str = "recursive",
    size: int = 200,
    overlap: int = 30,
    min_tokens: int = 40,
    max_chars: int = MAX_CHUNK_CHARS,
) -> Iterator[Chunk]:
    """`chunk_sections`, produced as the sections are read (one block in memory at a time)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown chunking '{strategy}'; choose one of {', '.join(STRATEGIES)}.")
    if size < 16:
        raise ValueError("Chunk size must be at least 16 tokens.")
    max_chars = max(int(max_chars), 100)
    overlap = max(0, min(overlap, size // 2))
    if strategy == "markdown":
        pieces = _merge_small(_by_heading(sections, tokenizer, size, overlap, max_chars),
                              size, min_tokens, max_chars)
    else:
        pieces = _by_page(sections, tokenizer, size, overlap, max_chars)
    i = 0
    for p in pieces:
        if p.text.strip():
            p.index = i
            i += 1
            yield p


def _by_page(sections: Iterable[Section], tokenizer: Any, size: int, overlap: int,
             max_chars: int) -> Iterator[Chunk]:
    """Sections of one page joined (in blocks), headings kept inline, then windowed."""
    parts: list[str] = []
    starts: list[int] = []
    heads: list[str | None] = []
    length = 0
    page: Any = _NO_PAGE
    pos = 0.0
    records = True  # every section in `parts` is one record per line (no overlap then)

    def flush() -> Iterator[Chunk]:
        text = "".join(parts)
        step = 0 if records else overlap
        for start, end, tokens in _windows(text, tokenizer, size, step, max_chars):
            heading = heads[max(bisect_right(starts, start) - 1, 0)]
            yield Chunk(text[start:end], 0, tokens, page, heading, pos)

    for s in sections:
        if parts and (s.page != page or s.records != records):
            yield from flush()
            parts, starts, heads, length = [], [], [], 0
        if not parts:
            records = s.records
        page = s.page
        head = s.heading.rsplit(" > ", 1)[-1] + "\n" if s.heading else ""
        first = True
        for _, piece in blocks(s.text):
            if parts and length + len(piece) + len(head) > BLOCK_CHARS:
                yield from flush()
                parts, starts, heads, length = [], [], [], 0
            if parts:
                parts.append("\n\n")
                length += 2
            starts.append(length)
            heads.append(s.heading)
            lead = head if first else ""
            parts.append(lead + piece)
            length += len(lead) + len(piece)
            first = False
        pos = s.pos
    if parts:
        yield from flush()


_NO_PAGE = object()


def _by_heading(sections: Iterable[Section], tokenizer: Any, size: int, overlap: int,
                max_chars: int) -> Iterator[Chunk]:
    for s in sections:
        prefix = f"{s.heading}\n" if s.heading else ""
        budget = size - (_count(tokenizer, prefix) if prefix else 0)
        if budget < size // 2 or len(prefix) > max_chars // 2:
            # an absurdly long heading: don't let it eat the chunk
            prefix, budget = "", size
        step = 0 if s.records else overlap
        for _, piece in blocks(s.text):
            for start, end, tokens in _windows(piece, tokenizer, budget, step,
                                               max_chars - len(prefix)):
                text = prefix + piece[start:end]
                yield Chunk(text, 0, tokens + size - budget, s.page, s.heading, s.pos)


def _merge_small(pieces: Iterable[Chunk], size: int, min_tokens: int,
                 max_chars: int) -> Iterator[Chunk]:
    last: Chunk | None = None
    for p in pieces:
        if (
            last is not None
            and (last.tokens < min_tokens or p.tokens < min_tokens)
            and last.tokens + p.tokens <= size
            and len(last.text) + len(p.text) + 2 <= max_chars
            and last.page == p.page
        ):
            last.text = f"{last.text}\n\n{p.text}"
            last.tokens += p.tokens
            last.pos = p.pos
        else:
            if last is not None:
                yield last
            last = Chunk(p.text, 0, p.tokens, p.page, p.heading, p.pos)
    if last is not None:
        yield last


def _count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _windows(
    text: str, tokenizer: Any, size: int, overlap: int, max_chars: int = MAX_CHUNK_CHARS
) -> list[tuple[int, int, int]]:
    """(start char, end char, tokens) of each window over `text`; no window is longer
    than `max_chars` characters, however few tokens it holds."""
    # verbose=False: windows longer than the model limit are the point here.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = [(a, b) for a, b in enc["offset_mapping"] if b > a]
    del enc
    n = len(offsets)
    if n == 0:
        return []
    starts = [a for a, _ in offsets]
    if n <= size:
        return _capped(text, [(offsets[0][0], offsets[-1][1], n)], starts, max_chars)
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
    return _capped(text, out, starts, max_chars)


def _capped(text: str, windows: list[tuple[int, int, int]], starts: list[int],
            max_chars: int) -> list[tuple[int, int, int]]:
    """Windows longer than `max_chars` cut into pieces at a space where there is one
    in the second half (a hard cut otherwise); tokens counted by where they start."""
    if all(b - a <= max_chars for a, b, _ in windows):
        return windows
    out = []
    for a, b, tokens in windows:
        if b - a <= max_chars:
            out.append((a, b, tokens))
            continue
        while a < b:
            end = min(a + max_chars, b)
            if end < b:
                at = max(text.rfind(" ", a + max_chars // 2, end),
                         text.rfind("\n", a + max_chars // 2, end))
                if at > a:
                    end = at + 1
            if text[a:end].strip():
                count = bisect_left(starts, end) - bisect_left(starts, a)
                out.append((a, end, max(count, 1)))
            a = end
    return out
