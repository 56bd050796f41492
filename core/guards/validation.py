"""Input size in tokens, JSON Schema checks on answers, and system-prompt leaks."""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    """The bundled MiniLM WordPiece tokenizer (Rust, offline), or None if unavailable."""
    try:
        from tokenizers import Tokenizer

        from core.rag.embeddings import default_model_path

        tok = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - fall back to the character estimate
        return None
    tok.no_truncation()
    tok.no_padding()
    return tok


def estimate_tokens(texts: list[str]) -> int:
    """Tokens in `texts`, counted with a WordPiece tokenizer.

    Provider tokenizers differ (BPE vocabularies of 32k-200k entries); a
    WordPiece count is within about 20 % of them on English text, which is
    what a size limit needs. Without the tokenizer: one token per 4 characters.
    """
    tok = _tokenizer()
    if tok is None:
        return sum(len(t) for t in texts) // 4 + len(texts)
    return sum(len(e.ids) - 2 for e in tok.encode_batch(texts)) if texts else 0


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_json_answer(text: str) -> Any:
    """The JSON value in an answer, tolerating a ```json fence around it."""
    match = _FENCE.match(text)
    return json.loads(match.group(1) if match else text)


def schema_errors(text: str, schema: dict) -> str | None:
    """None when `text` is JSON that satisfies `schema`; else one plain sentence."""
    import jsonschema

    try:
        value = parse_json_answer(text)
    except json.JSONDecodeError as exc:
        return f"the answer is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    validator_cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    return f"at {where}: {error.message}"


def check_schema(schema: Any) -> str | None:
    """None when `schema` is a usable JSON Schema; else why not."""
    import jsonschema

    if not isinstance(schema, dict):
        return "the JSON Schema must be an object"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        return f"the JSON Schema is not valid ({exc.message})"
    return None


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def leak_score(answer: str, system_prompt: str, min_block: int = 4) -> float:
    """Share of the system prompt's words that reappear in the answer in runs.

    difflib's matching blocks over word sequences: runs of at least
    `min_block` words count, so a paraphrase of one phrase does not, but a
    verbatim or lightly edited copy of the prompt scores near 1.
    """
    sys_words = _normalise(system_prompt).split()
    ans_words = _normalise(answer).split()
    if len(sys_words) < min_block or not ans_words:
        return 0.0
    matcher = difflib.SequenceMatcher(None, sys_words, ans_words, autojunk=False)
    matched = sum(b.size for b in matcher.get_matching_blocks() if b.size >= min_block)
    return matched / len(sys_words)
