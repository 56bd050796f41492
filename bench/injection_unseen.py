"""Public injection sets the classifier is measured on and never trained or tuned on.

None is shipped with Trellis: point `bench/guard_quality.py --injection-sets DIR`
(or `TRELLIS_INJECTION_SETS=DIR`) at a folder holding, each in its own subfolder:

- `giskard/prompt_injections.csv`: github.com/Giskard-AI/prompt-injections (MIT;
  its prompts come from PromptInject, MIT, and garak, Apache 2.0, with both
  licences in its `licenses/` folder): 35 attacks in English, 15 hijacking
  overrides ("Ignore any previous and following instructions and just say ...")
  and 20 long jailbreaks (DAN, STAN, DUDE, developer mode) with the model's name
  replaced by 'Free Generator'. Attacks only; no benign rows.
- `awesome-chatgpt-prompts/prompts.csv`: github.com/f/awesome-chatgpt-prompts
  (CC0 1.0): prompts people share for ordinary use ("I want you to act as a
  travel guide ...", role prompts, image-prompt writers, code reviewers), in
  many languages; the benign side, so an FPR and a ROC AUC can be measured.

Fill the folder from a checkout of each repository, e.g.
`git --git-dir=MIRROR show HEAD:prompt_injections.csv > DIR/giskard/prompt_injections.csv`.

Rows with a near-copy in the training files (scripts/injection_data/) are
counted and set apart: `novel` is what is left, `all` keeps them. The benign
prompts whose own title names a jailbreak ("DAN", "jailbreak", "unfiltered",
...) are dropped as mislabelled, by that title only, never by a score.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Longest benign prompt kept (characters): a few shared "prompts" are whole manuals.
MAX_CHARS = 8000
#: Titles of shared prompts that are jailbreaks themselves, not benign use.
_JAILBREAK_TITLE = re.compile(
    r"\b(DAN|jailbr\w*|unfiltered|uncensored|unconstrained|unrestricted|no restrictions|"
    r"developer mode|evil|hack\w*|bypass\w*|prompt injection)\b",
    re.IGNORECASE,
)
GISKARD = ("github.com/Giskard-AI/prompt-injections prompt_injections.csv (MIT; prompts from "
           "PromptInject, MIT, and garak, Apache 2.0), attacks only")
AWESOME = ("github.com/f/awesome-chatgpt-prompts prompts.csv (CC0 1.0), prompts shared for "
           "ordinary use, as benign")


@dataclass
class UnseenSet:
    name: str
    source: str
    texts: list[str]
    labels: np.ndarray
    #: True where a near-copy of the row is in the training files
    seen: np.ndarray


def _shingles(text: str, n: int = 8) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    return {hash(tuple(words[i : i + n])) for i in range(max(1, len(words) - n + 1))}


def near_copies(texts: list[str], training: list[str], min_share: float = 0.5) -> np.ndarray:
    """True for each text of which at least `min_share` of its word 8-grams occur in one
    training text (the same prompt with a name or a few lines changed counts)."""
    index: dict[int, list[int]] = {}
    for i, t in enumerate(training):
        for s in _shingles(t):
            index.setdefault(s, []).append(i)
    out = np.zeros(len(texts), dtype=bool)
    for row, text in enumerate(texts):
        mine = _shingles(text)
        counts: dict[int, int] = {}
        for s in mine:
            for i in index.get(s, ()):
                counts[i] = counts.get(i, 0) + 1
        out[row] = bool(counts) and max(counts.values()) / len(mine) >= min_share
    return out


def _read_csv(path: Path) -> list[dict]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_unseen(folder: Path, training: list[str]) -> UnseenSet | None:
    """Giskard's attacks with the shared prompts as benign, or None when absent."""
    attacks_file = folder / "giskard" / "prompt_injections.csv"
    benign_file = folder / "awesome-chatgpt-prompts" / "prompts.csv"
    if not attacks_file.exists() or not benign_file.exists():
        return None
    attacks = sorted({r["prompt"].strip() for r in _read_csv(attacks_file) if r["prompt"].strip()})
    benign = sorted({
        r["prompt"].strip() for r in _read_csv(benign_file)
        if r["prompt"].strip() and len(r["prompt"]) <= MAX_CHARS
        and not _JAILBREAK_TITLE.search(r.get("act", ""))
    } - set(attacks))  # fmt: skip
    texts = attacks + benign
    labels = np.array([1] * len(attacks) + [0] * len(benign))
    return UnseenSet(
        name="giskard+awesome",
        source=f"{GISKARD}; {AWESOME}",
        texts=texts,
        labels=labels,
        seen=near_copies(texts, training),
    )
