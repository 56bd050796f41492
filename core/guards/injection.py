"""Prompt-injection detection in two layers.

1. Heuristics: regular expressions for the known families ("ignore previous
   instructions", role-play/DAN, fake system delimiters), run on the text and
   on anything hidden in it with base64 or hex. Microseconds.
2. A classifier: logistic regression over the bundled MiniLM sentence
   embedding, hashed character n-grams and the rules' hits, trained by
   `scripts/train_injection.py` on the labelled files in
   `scripts/injection_data/` (several sources and styles). Only its
   coefficients ship (`injection_model.npz`, with provenance in
   `injection_model.json`): no pickle is ever loaded.

The score is the larger of the two; the policy compares it with its threshold.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).with_name("injection_model.npz")
PROVENANCE_PATH = Path(__file__).with_name("injection_model.json")

# (name, pattern, score). Strong phrasings score above any sane threshold on
# their own; weaker cues only add up with the classifier through max().
_RULES: list[tuple[str, str, float]] = [
    (
        "ignore_instructions",
        r"(?<!n't )(?<!not )(?<!never )\b(ignore|disregard|forget|override|bypass)\b"
        r"[\w\s,'-]{0,40}\b(previous|prior|"
        r"above|earlier|preceding|all|your|system|initial|original)\b[\w\s,'-]{0,30}\b("
        r"instructions?|prompts?|rules|directions|guidelines|programming|restrictions|"
        r"constraints)\b",
        0.95,
    ),
    # The same override with other verbs and nouns: "stop following your earlier
    # directions", "skip all prior orders", "forget your previous task". Not "don't
    # forget the previous tasks".
    (
        "drop_earlier_orders",
        r"(?<!n't )(?<!not )(?<!never )\b(forget|disregard|ignore|skip|drop|discard|abandon|"
        r"throw away|set aside|stop following|do not follow|don't follow|no longer follow)\b"
        r"[\w\s,'-]{0,25}\b(previous|prior|above|earlier|preceding|former)\b[\w\s,'-]{0,15}?\b("
        r"orders?|tasks?|assignments?|commands?|directives?|guidance|directions?|instructions?|"
        r"rules|guidelines)\b",
        0.85,
    ),
    (
        "new_instructions",
        r"\b(your new (instructions?|task|role|rules?) (is|are)|from now on,? you (are|will|must)"
        r"|new system prompt|updated instructions:)",
        0.85,
    ),
    (
        "reveal_prompt",
        r"\b(reveal|show|print|repeat|output|tell me|leak|display)\b[\w\s,'-]{0,30}\b(system "
        r"prompt|initial (prompt|instructions)|hidden (prompt|instructions)|your (instructions|"
        r"prompt|rules))",
        0.9,
    ),
    (
        "dan_roleplay",
        r"\b(do anything now|developer mode|jailbr(eak|oken)|unfiltered|uncensored|"
        r"no (ethical|moral) (guidelines|restrictions|limits)|without any (restrictions|filters|"
        r"censorship)|evil (confidant|assistant|ai))\b",
        0.9,
    ),
    (
        "forget_everything",
        r"\b(forget|ignore|disregard|never mind|drop|skip|throw away|stop following|"
        r"do not follow|don't follow)\b\s+(about\s+)?(everything|all|anything|"
        r"whatever)\b[\w\s,'-]{0,20}\b(above|before|previous(ly)?|prior|so far|you (were|have "
        r"been) told|came before|preceding)\b",
        0.9,
    ),
    (
        "ignore_instructions_de",
        # "alles" / "davor" / "oben", or an earlier-word with an instruction noun: "Bitte
        # ignorieren Sie die vorherige E-Mail" and "Vergiss nicht, alles ..." are no attacks.
        r"\b(vergiss(?!\s+nicht)|vergesst|vergessen sie|ignorier(e|t|en sie)?|missachte|"
        r"übergehe|beachte nicht)\b[\w\s,'-]{0,40}\b(alles|davor|oben|(vorherigen?|bisherigen?|"
        r"obigen?|vorangegangenen?|früheren?|sämtliche)\s+(\w+\s+)?(anweisungen|befehle|regeln|"
        r"vorgaben|instruktionen|aufgaben|prompts?|informationen|texte?)"
        r"|(vorherigen?|bisherigen?|obigen?|vorangegangenen?|früheren?)(?=\s*([.,;:!]|und\b|"
        r"dann\b)))\b"
        r"|\b(vergiss|ignorier(e|en sie)?|missachte)\s+(jetzt\s+|bitte\s+|nun\s+)?(deine|ihre|"
        r"alle|sämtliche)\s+(anweisungen|befehle|regeln|vorgaben|instruktionen|richtlinien)\b",
        0.9,
    ),
    (
        "ignore_instructions_fr_es",
        # "everything before" or earlier instructions, not an earlier e-mail ("ignore el
        # correo anterior", "ne tenez pas compte du message précédent").
        r"\b(oublie[zs]?|ignore[zs]?|olvid[ae]|ignor[ae]|no sigas)\b[\w\s,'-]{0,40}\b(précède|"
        r"tout|todo|(instructions?|consignes|règles|ordres|instrucciones|órdenes|reglas|"
        r"indicaciones)\s+(\w+\s+)?(précédente?s?|antérieure?s?|anteriores|previas?))\b"
        r"|\b(ignora|olvida|ignore|olvide|oublie|ignorez|oubliez)\s+(tus|todas (las|tus)|toutes "
        r"(les|tes)|tes|vos)\s+(órdenes|instrucciones|reglas|indicaciones|instructions|consignes|"
        r"règles)\b",
        0.85,
    ),
    (
        "role_switch",
        r"\b(from now on|von nun an|ab jetzt|ab sofort|à partir de maintenant|a partir de ahora)"
        r"\b[\w\s,'-]{0,15}\b(you are|you're|you will|bist du|du bist|tu es|eres)\b"
        r"|\b(you are no longer|du bist kein|jetzt bist du|now you are)\b"
        r"|\b(gelten|there are|you have)\s+(jetzt\s+|now\s+)?(keine|no)\s+(regeln|rules|"
        r"restrictions|grenzen|limits)\s+(mehr|anymore|any more)\b",
        0.8,
    ),
    (
        "repeat_above",
        r"\b(repeat|print|output|wiederhole|gib|répète|repite)\b[\w\s,'-]{0,30}\b(text|words?|"
        r"everything|alles|texte?|texto)\b[\w\s,'-]{0,15}\b(above|über|oben|au-dessus|encima)\b"
        r"|\bwhat (was|is) written (above|at the (very )?beginning)",
        0.85,
    ),
    # Persona names of the known jailbreak families; case-sensitive, or every
    # "Dan" and "aim" would match.
    ("dan_persona", r"(?-i:\b(DAN|AIM|STAN|DUDE)\b)", 0.7),
    (
        "pretend_no_rules",
        r"\b(pretend|act|imagine|role-?play)\b[\w\s,'-]{0,40}\b(no|without|free from|not bound by)"
        r"\b[\w\s,'-]{0,20}\b(rules|restrictions|limitations|guidelines|filters|policies|ethics)",
        0.9,
    ),
    # A note addressed to an AI inside someone else's text ("Note to the AI assistant
    # reading this:", "If you are an AI summarising this page", "Hinweis an die KI"):
    # documents written for people do not talk to the model that reads them. A user
    # greeting the assistant ("Hey ChatGPT, ...") is no such note, nor a note that is only
    # mentioned ("is there a note for the assistant?"): the note form needs its colon.
    (
        "addressed_to_ai",
        r"\b(note|message|instructions?|reminder|hinweis|nachricht|anweisung|remarque|nota)"
        r"\b[\w\s,'-]{0,12}\b(to|for|an|für|pour|para)\s+(the\s+|any\s+|die\s+|l'|la\s+|el\s+)?"
        r"(ai|a\.i\.|ai (assistant|agent|model)s?|assistant|language models?|llms?|chatbots?|"
        r"ki|ki-assistent(en)?|sprachmodell(e)?|ia|asistente( de ia)?)\b(?![\s-]+(manager|director|"
        r"professor|coach|editor|teacher|team|researchers?|developers?|engineers?|community|"
        r"group|lab|ethics|policy|act|safety|regulation|course|project))[\w\s,'-]{0,30}:"
        r"|<!--\s*(assistant|ai|llm|system|instructions?)\b"
        r"|\b(for|to) the (ai|assistant|llm|chatbot|language model) only\b"
        r"|\b(if|when) you are an? (ai|llm|large language model|language model|ai assistant|"
        r"chatbot)\b|\bwenn du eine? (ki|sprachmodell|ki-assistent|chatbot)\b"
        r"|\bsi (tu es|eres) un[ae]? (ia|intelligence artificielle|inteligencia artificial)\b",
        0.8,
    ),
    # A change of task announced mid-prompt ("New task:", "Neue Aufgabe:", "Now forget all
    # that and ..."): a weak cue, below any threshold alone, a feature for the classifier.
    (
        "task_switch",
        r"\b(new task|neue aufgabe|nouvelle tâche|nueva tarea)\s*:"
        r"|\bnow (forget|ignore|disregard)\b|\bjetzt (vergiss|ignoriere)\b"
        r"|\b(maintenant oublie|ahora olvida)\b",
        0.4,
    ),
    (
        "fake_delimiter",
        r"(<\|im_start\|>|<\|im_end\|>|<\|system\|>|\[/?INST\]|<</?SYS>>|</s>|"
        r"^\s*(###|---|===)\s*(system|assistant|instructions?)\b|^\s*system\s*:)",
        0.85,
    ),
]
_COMPILED = [(n, re.compile(p, re.IGNORECASE | re.MULTILINE), s) for n, p, s in _RULES]

#: What each rule saw, in words for the guard report (people never see the rule names).
RULE_WORDS: dict[str, str] = {
    "ignore_instructions": "asks to ignore earlier instructions",
    "new_instructions": "gives the model new instructions",
    "reveal_prompt": "asks for the system prompt",
    "dan_roleplay": "jailbreak role play (developer mode, no filters)",
    "forget_everything": "asks to forget everything before",
    "ignore_instructions_de": "asks to ignore earlier instructions (German)",
    "ignore_instructions_fr_es": "asks to ignore earlier instructions (French or Spanish)",
    "drop_earlier_orders": "asks to drop earlier orders or tasks",
    "role_switch": "tries to switch the model's role",
    "repeat_above": "asks to repeat the text above",
    "dan_persona": "names a known jailbreak persona",
    "pretend_no_rules": "asks to pretend there are no rules",
    "addressed_to_ai": "a note to the AI hidden in the text",
    "task_switch": "a sudden change of task",
    "fake_delimiter": "fake chat or system markers",
}


def rule_words(hits: list[str]) -> str:
    """The rules' hits as one phrase for people ("none" when no rule matched)."""
    words = []
    for hit in hits:
        name = hit.removeprefix("encoded:")
        text = RULE_WORDS.get(name, name.replace("_", " "))
        words.append(f"{text}, hidden in encoded text" if hit != name else text)
    return "; ".join(dict.fromkeys(words)) or "none"
_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){16,}\b")


@dataclass
class InjectionVerdict:
    """The detector's view of one text: a score in [0, 1] and why."""

    score: float
    heuristic: float
    classifier: float | None
    rules: list[str] = field(default_factory=list)

    def as_report(self) -> dict:
        return {
            "score": round(self.score, 3),
            "heuristic": round(self.heuristic, 3),
            "classifier": None if self.classifier is None else round(self.classifier, 3),
            "rules": self.rules,
        }


def _decoded_payloads(text: str) -> list[str]:
    """Readable text hidden in base64 or hex runs (the 'encode the attack' trick)."""
    found = []
    for match in _B64.finditer(text):
        chunk = match.group(0)
        try:
            raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=False)
        except (binascii.Error, ValueError):
            continue
        found.append(raw)
    for match in _HEX.finditer(text):
        try:
            found.append(bytes.fromhex(match.group(0)))
        except ValueError:
            continue
    out = []
    for raw in found:
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded and sum(c.isprintable() or c.isspace() for c in decoded) / len(decoded) > 0.95:
            out.append(decoded)
    return out


def heuristic_score(text: str) -> tuple[float, list[str]]:
    """The strongest rule that matches the text or a payload decoded from it."""
    score, hits = 0.0, []
    for layer, candidate in [("", text)] + [("encoded:", d) for d in _decoded_payloads(text)]:
        for name, rx, weight in _COMPILED:
            if rx.search(candidate):
                hits.append(layer + name)
                score = max(score, weight)
        if layer and hits:
            # Hiding an instruction in an encoding is itself a signal.
            score = max(score, 0.95)
    return score, sorted(set(hits))


#: Character n-grams hashed into a fixed space: no vocabulary to ship, and they
#: carry over languages and spellings the sentence embedding handles poorly.
CHAR_NGRAMS: dict = {
    "analyzer": "char_wb",
    "ngram_range": (2, 5),
    "n_features": 2**16,
    "alternate_sign": False,
    "norm": "l2",
    "lowercase": True,
}
RULE_NAMES: list[str] = [name for name, _p, _s in _RULES] + ["encoded"]


def rule_features(texts: list[str]) -> np.ndarray:
    """One 0/1 column per heuristic rule (and one for an encoded payload)."""
    out = np.zeros((len(texts), len(RULE_NAMES)), dtype=np.float32)
    index = {name: i for i, name in enumerate(RULE_NAMES)}
    for row, text in enumerate(texts):
        for hit in heuristic_score(text)[1]:
            if hit.startswith("encoded:"):
                out[row, index["encoded"]] = 1.0
                hit = hit.removeprefix("encoded:")
            out[row, index[hit]] = 1.0
    return out


@lru_cache(maxsize=1)
def _hasher():  # noqa: ANN202 - sklearn type
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(**CHAR_NGRAMS)


def char_features(texts: list[str]):  # noqa: ANN201 - scipy sparse matrix
    """Hashed character n-grams, unit length (a SciPy sparse matrix)."""
    return _hasher().transform(texts)


def features(texts: list[str], vectors: np.ndarray | None = None):  # noqa: ANN201
    """The classifier's input: [MiniLM embedding | char n-grams | rule hits], sparse."""
    from scipy import sparse

    from core.rag.embeddings import embed

    if vectors is None:
        vectors = embed(texts)
    return sparse.hstack(
        [sparse.csr_matrix(vectors), char_features(texts), sparse.csr_matrix(rule_features(texts))],
        format="csr",
    )


@dataclass(frozen=True)
class _Logistic:
    coef: np.ndarray
    intercept: float
    threshold: float

    def proba(self, x) -> np.ndarray:  # noqa: ANN001 - dense array or sparse matrix
        z = np.asarray(x @ self.coef).ravel() + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


@lru_cache(maxsize=1)
def load_classifier() -> _Logistic:
    """The shipped coefficients; a clear error names the script when they are missing."""
    if not MODEL_PATH.exists():
        raise RuntimeError(
            f"{MODEL_PATH.name} is missing; run `python scripts/train_injection.py` to build it."
        )
    with np.load(MODEL_PATH, allow_pickle=False) as data:
        return _Logistic(
            coef=np.asarray(data["coef"], dtype=np.float32),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
        )


def provenance() -> dict:
    """How the shipped classifier was trained (data hashes, rows, splits, date, metrics)."""
    return json.loads(PROVENANCE_PATH.read_text()) if PROVENANCE_PATH.exists() else {}


def classifier_scores(texts: list[str]) -> np.ndarray:
    """Injection probability per text from the logistic regression over `features`."""
    model = load_classifier()
    if model.coef.shape[0] == 384:  # a model trained on the embedding alone
        from core.rag.embeddings import embed

        return model.proba(embed(texts))
    return model.proba(features(texts))


def detect(text: str, *, use_classifier: bool = True) -> InjectionVerdict:
    """Score one text with both layers."""
    heur, rules = heuristic_score(text)
    clf = None
    if use_classifier and text.strip():
        candidates = [text] + _decoded_payloads(text)
        clf = float(classifier_scores(candidates).max())
    return InjectionVerdict(max(heur, clf or 0.0), heur, clf, rules)
