"""Guard policies and guard reports in words a non-engineer reads.

Entity codes (US_SSN, IBAN_CODE) become names ("US Social Security numbers",
"bank account numbers (IBAN)"), thresholds become how sure the detector must
be, and actions become sentences. Pages and the chat's guard report only
render what this module says, so the Guardrails page and the report always
describe a policy the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.guards.policy import GuardPolicy

#: Entity code -> (one, several), for a person who has never seen the code.
ENTITY_NAMES: dict[str, tuple[str, str]] = {
    "PERSON": ("person's name", "people's names"),
    "EMAIL_ADDRESS": ("email address", "email addresses"),
    "PHONE_NUMBER": ("phone number", "phone numbers"),
    "CREDIT_CARD": ("payment card number", "payment card numbers"),
    "US_SSN": ("US Social Security number", "US Social Security numbers"),
    "IBAN_CODE": ("bank account number (IBAN)", "bank account numbers (IBAN)"),
    "IP_ADDRESS": ("IP address (a computer's network address)",
                   "IP addresses (computers' network addresses)"),
    "LOCATION": (
        "place or street address (city, country, region, street, building)",
        "places and addresses (towns, countries, streets, buildings)",
    ),
    "STREET_ADDRESS": ("street address", "street addresses"),
    "ADDRESS": ("street address", "street addresses"),
    "DATE_TIME": ("date or time", "dates and times"),
    "URL": ("web address", "web addresses"),
    "NRP": ("nationality, religion or political group",
            "nationalities, religions and political groups"),
    "US_BANK_NUMBER": ("US bank account number", "US bank account numbers"),
    "US_DRIVER_LICENSE": ("US driver's licence number", "US driver's licence numbers"),
    "US_PASSPORT": ("US passport number", "US passport numbers"),
    "US_ITIN": ("US taxpayer number (ITIN)", "US taxpayer numbers (ITIN)"),
    "UK_NHS": ("UK NHS number", "UK NHS numbers"),
    "MEDICAL_LICENSE": ("medical licence number", "medical licence numbers"),
    "CRYPTO": ("crypto wallet address", "crypto wallet addresses"),
}

#: Provider code -> where its calls go.
PROVIDER_NAMES: dict[str, str] = {
    "local": "the model built into Trellis (it runs on this machine)",
    "compat": "your own model server (OpenAI-compatible)",
    "openai": "OpenAI",
    "anthropic": "Anthropic",
}


def _custom(code: str) -> str:
    return code.replace("_", " ").lower()


#: Provider code -> a short name for a list or a selector.
PROVIDER_SHORT: dict[str, str] = {
    "local": "Built-in local model",
    "compat": "Your own model server",
    "openai": "OpenAI",
    "anthropic": "Anthropic",
}


def entity_name(code: str) -> str:
    """"US Social Security numbers" for US_SSN; a custom recognizer's code reads
    as words ("EMPLOYEE_ID" -> "employee id values")."""
    return ENTITY_NAMES[code][1] if code in ENTITY_NAMES else f"{_custom(code)} values"


def entity_one(code: str) -> str:
    """The singular: "US Social Security number"."""
    return ENTITY_NAMES[code][0] if code in ENTITY_NAMES else f"{_custom(code)} value"


def count_words(code: str, count: int) -> str:
    """"1 email address", "3 people's names"."""
    return f"1 {entity_one(code)}" if count == 1 else f"{count:,} {entity_name(code)}"


def threshold_words(threshold: float) -> str:
    """How sure the detector must be: the detectors score each finding from 0 to 1."""
    if threshold <= 0.35:
        how = "even when it is unsure (catches more, and may hide some ordinary words too)"
    elif threshold <= 0.55:
        how = "when it is fairly sure"
    elif threshold <= 0.8:
        how = "only when it is quite sure"
    else:
        how = "only when it is almost certain"
    return f"{how}: a match scored {threshold:.2f} or more, on a scale from 0 to 1"


def provider_list(codes: list[str]) -> str:
    names = [PROVIDER_NAMES.get(c, c) for c in codes]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True, slots=True)
class EntityRule:
    """One entity type of a policy, in words."""

    code: str
    name: str
    threshold: float
    when: str


def entity_rules(policy: GuardPolicy) -> list[EntityRule]:
    return [
        EntityRule(code, entity_name(code), t, threshold_words(t))
        for code, t in sorted(policy.entities.items(),
                              key=lambda kv: entity_name(kv[0]).lower())
    ]


def pii_input_sentence(policy: GuardPolicy) -> str:
    if policy.pii_input == "off":
        return "Messages are not checked for personal data before they go to a model."
    if policy.pii_input == "flag":
        return ("Messages are checked for the personal data below and the guard report "
                "says what was found, but the model receives the message unchanged.")
    text = ("Before a message goes to a model, the personal data below is replaced by "
            "placeholders such as <PERSON_1>, so the model never sees the real values.")
    if policy.exempt_providers:
        text += (f" Exception: {provider_list(policy.exempt_providers)} receive"
                 f"{'s' if len(policy.exempt_providers) == 1 else ''} the original text.")
    return text


def policy_sentences(policy: GuardPolicy) -> list[str]:
    """What the policy does, one sentence per guard."""
    out = [pii_input_sentence(policy)]
    if policy.pii_input == "redact" and policy.deanonymize:
        out.append("The person's own values are put back into the answer they read.")
    out.append({
        "redact": "Personal data the model writes in its answer that the person did not "
                  "send is hidden from the answer.",
        "flag": "Personal data the model writes in its answer is reported, not hidden.",
        "off": "Answers are not checked for personal data.",
    }[policy.pii_output])
    inj = f"{policy.injection_threshold:.2f}"
    out.append({
        "block": f"A message that tries to override the instructions (prompt injection) is "
                 f"refused when the detector scores it {inj} or more, from 0 to 1.",
        "flag": f"A message that tries to override the instructions (prompt injection) is "
                f"reported when the detector scores it {inj} or more, and still answered.",
        "allow": "Messages are not checked for prompt injection.",
    }[policy.injection])
    leak = f"{policy.leak_threshold:.2f}"
    out.append({
        "block": f"An answer that repeats the hidden system prompt (score {leak} or more) "
                 "is withheld.",
        "flag": f"An answer that repeats the hidden system prompt (score {leak} or more) is "
                "reported.",
        "off": "Answers are not checked for repeating the system prompt.",
    }[policy.leak])
    out.append("Whatever the policy, text stored in the log has personal data replaced.")
    return out


# -- the guard report of one call ---------------------------------------------

_INPUT_ACTIONS = {
    "redacted": "Personal data in the message was replaced by placeholders before the model "
                "saw it.",
    "flagged": "Personal data was found in the message and reported; the policy lets the "
               "message go to the model unchanged.",
    "exempt": "The message went to the model unchanged: this policy lets this provider see "
              "personal data (it runs on this machine or is trusted), so nothing was "
              "replaced. The stored copy is still redacted.",
    "none": "No personal data was found in the message.",
    "off": "This policy does not check messages for personal data.",
    "error": "The personal-data check could not run for this message.",
}

_OUTPUT_ACTIONS = {
    "redacted": "Personal data the model wrote was hidden from the answer.",
    "flagged": "The answer contains personal data the person did not send; it is reported, "
               "not hidden.",
    "none": "No new personal data in the answer.",
    "off": "This policy does not check answers for personal data.",
    "error": "The answer's personal-data check could not run.",
}


def report_sentences(report: Mapping[str, Any]) -> list[str]:
    """The guard report of one call as sentences (counts only, never values)."""
    out: list[str] = []
    pii = report.get("pii") or {}
    action = pii.get("action")
    found = pii.get("input") or {}
    if action in _INPUT_ACTIONS:
        sentence = _INPUT_ACTIONS[action]
        if found and action in ("redacted", "flagged", "exempt"):
            sentence += " Found: " + ", ".join(
                count_words(k, v) for k, v in sorted(found.items())) + "."
        out.append(sentence)
    context = pii.get("context") or {}
    if context:
        out.append("In the documents added as context: " + ", ".join(
            count_words(k, v) for k, v in sorted(context.items()))
            + (" replaced by placeholders." if pii.get("context_action") == "redacted"
               else " found."))
    out_action = pii.get("output_action")
    if out_action in _OUTPUT_ACTIONS and out_action != "none":
        sentence = _OUTPUT_ACTIONS[out_action]
        if pii.get("output"):
            sentence += " Found: " + ", ".join(
                count_words(k, v) for k, v in sorted(pii["output"].items())) + "."
        out.append(sentence)
    if pii.get("deanonymized"):
        out.append("The person's own values were put back into the answer; the model only "
                   "saw placeholders.")
    inj = report.get("injection") or {}
    decision = inj.get("decision")
    if decision == "block":
        out.append(f"The message was refused: it looks like an attempt to override the "
                   f"instructions (score {inj.get('score', 0):.2f}, the policy refuses at "
                   f"{inj.get('threshold', 0):.2f} or more).")
    elif decision == "flag":
        out.append(f"The message may be an attempt to override the instructions (score "
                   f"{inj.get('score', 0):.2f}, reported at {inj.get('threshold', 0):.2f} or "
                   "more); it was still answered.")
    elif decision == "error":
        out.append("The prompt-injection check could not run for this message.")
    leak = report.get("leak") or {}
    if leak.get("decision") == "block":
        out.append("The answer was withheld: it repeats the hidden system prompt.")
    elif leak.get("decision") == "flag":
        out.append("The answer may repeat the hidden system prompt; it is reported.")
    return out
