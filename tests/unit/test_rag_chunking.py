"""Chunking sized in the embedding model's own tokens (its tokenizer only, no weights)."""

from __future__ import annotations

import pytest

from core.rag.chunking import chunk_sections
from core.rag.loaders import Section


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from core.rag.embeddings import default_model_path

    return AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)


def _count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _paragraphs(n: int) -> str:
    return "\n\n".join(
        f"Paragraph {i} explains rule number {i} of the expense policy in a few words. "
        f"Claims under rule {i} are paid monthly."
        for i in range(n)
    )


def test_recursive_chunks_respect_size_and_overlap(tokenizer) -> None:
    text = _paragraphs(40)
    chunks = chunk_sections([Section(text, page=3)], tokenizer, size=64, overlap=16)
    assert len(chunks) > 5
    for c in chunks:
        assert _count(tokenizer, c.text) <= 64
        assert c.page == 3
        assert c.text in text  # cut from the source, never rewritten
    # Consecutive windows share text (the overlap) and together cover everything.
    assert any(a.text[-20:] in b.text for a, b in zip(chunks, chunks[1:], strict=False))
    assert chunks[0].text.startswith("Paragraph 0") and chunks[-1].text.endswith("monthly.")


def test_recursive_cuts_at_paragraph_boundaries_when_it_can(tokenizer) -> None:
    chunks = chunk_sections([Section(_paragraphs(12))], tokenizer, size=80, overlap=0)
    assert all(c.text.endswith("monthly.") for c in chunks)


def test_an_unbroken_run_is_still_split(tokenizer) -> None:
    text = "ab-" * 2000  # many tokens, none of the separators
    chunks = chunk_sections([Section(text)], tokenizer, size=50, overlap=0)
    assert len(chunks) > 1 and all(_count(tokenizer, c.text) <= 50 for c in chunks)


def test_pages_never_share_a_chunk(tokenizer) -> None:
    chunks = chunk_sections(
        [Section("Page one text.", page=1), Section("Page two text.", page=2)],
        tokenizer, size=200, overlap=20,
    )
    assert [(c.page, c.text) for c in chunks] == [(1, "Page one text."), (2, "Page two text.")]


def test_markdown_strategy_prefixes_headings_and_merges_small_sections(tokenizer) -> None:
    sections = [
        Section("Tiny.", heading="Guide > A"),
        Section("Also tiny.", heading="Guide > B"),
        Section(_paragraphs(10), heading="Guide > C"),
    ]
    chunks = chunk_sections(sections, tokenizer, strategy="markdown", size=200, overlap=0,
                            min_tokens=20)
    assert chunks[0].text.startswith("Guide > A\nTiny.")
    assert "Guide > B\nAlso tiny." in chunks[0].text  # merged: too small alone
    assert chunks[0].heading == "Guide > A"
    assert any(c.heading == "Guide > C" for c in chunks)
    assert all(_count(tokenizer, c.text) <= 200 for c in chunks)


def test_unknown_strategy_is_refused(tokenizer) -> None:
    with pytest.raises(ValueError, match="Unknown chunking"):
        chunk_sections([Section("x")], tokenizer, strategy="semantic")


@pytest.mark.parametrize("strategy", ["recursive", "markdown"])
def test_csv_chunks_hold_whole_rows_without_overlap(tokenizer, strategy) -> None:
    from core.rag.loaders import load_document

    rows = "\n".join(f"{1000 + i},customer {i},Berlin,{i * 7}.50,paid" for i in range(300))
    sections = load_document("orders.csv", f"order,customer,city,amount,status\n{rows}".encode())
    assert all(s.records for s in sections)
    chunks = chunk_sections(sections, tokenizer, strategy=strategy, size=64, overlap=16)
    assert len(chunks) > 5
    lines = [line for c in chunks for line in c.text.splitlines()]
    # Every chunk starts and ends on a row; each row is embedded exactly once.
    assert all(line.startswith("order: ") and line.endswith("status: paid") for line in lines)
    assert len(lines) == len(set(lines)) == 300


def test_text_next_to_records_keeps_its_overlap(tokenizer) -> None:
    text = _paragraphs(40)
    chunks = chunk_sections([Section("order: 1; city: Rome", records=True), Section(text)],
                            tokenizer, size=64, overlap=16)
    assert chunks[0].text == "order: 1; city: Rome"
    assert any(a.text[-20:] in b.text for a, b in zip(chunks[1:], chunks[2:], strict=False))
