"""Synthetic PII evaluation sentences from Faker in many locales (dev dependency).

    PYTHONPATH=. python bench/pii_eval_data.py [--split tune|holdout] [--n 400] [--show 5]

Each item is `{"full_text", "spans": [{"entity_type", "start_position",
"end_position", "value"}], "source"}`, the shape of presidio-research's files.
Two splits with disjoint templates and seeds:

- `tune`: the split the recognizers were developed against (looked at, tuned on);
- `holdout`: other templates, another seed, other locales mixed in; never looked
  at while tuning, only measured.

Gold types: PERSON (Latin and non-Latin names, lower-case names, names in lists,
greetings and signatures), STREET_ADDRESS (Faker street and full addresses of
each locale), CREDIT_CARD (every network Faker knows plus UnionPay, Mir, RuPay,
Verve and Troy, Luhn-valid, raw or grouped), PHONE_NUMBER (each locale's
formats), EMAIL_ADDRESS. Distractors that must stay (order numbers, dates,
amounts, postcodes, years, invalid card numbers) are not labelled.

Known bias: the name and street-word lists the recognizers use also come from
Faker, so names and street words here are ones the recognizers know; the
shared presidio-research file and unseen data measure what that hides.
"""

from __future__ import annotations

import argparse
import random
import re
from functools import lru_cache

LOCALES_TUNE = [
    "en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "pt_BR", "nl_NL", "sv_SE", "pl_PL",
    "fi_FI", "da_DK", "ru_RU", "ja_JP", "zh_CN",
]  # fmt: skip
LOCALES_HOLDOUT = LOCALES_TUNE + [
    "en_AU", "en_IN", "de_AT", "fr_CH", "es_MX", "pt_PT", "no_NO", "cs_CZ", "tr_TR", "el_GR",
    "en_CA", "it_CH", "ko_KR", "ro_RO", "hu_HU",
]  # fmt: skip

TEMPLATES = {
    "tune": [
        "Hi, my name is {name} and I live at {address}.",
        "Please update the card on file to {card}; the old one expired.",
        "You can reach {first} on {phone} after 5pm.",
        "Dear {name},\n\nYour order {order} of {date} has shipped to {street}.\n\n"
        "Best regards,\n{sig}",
        "Attendees:\n- {name}\n- {name2}\n- {name3}\n\nRoom booked for {date}.",
        "my name is {lname}, my number is {phone}",
        "Send the invoice to {name}, {address}. Card: {card}.",
        "{name} ({email}) called from {phone} about order #{order}.",
        "Contact: {name}\nPhone: {phone}\nAddress: {street}",
        "Charge {amount} to {card} and email the receipt to {email}.",
        "Thanks,\n{first}",
        "Meeting notes {date}\n\n{name} presented the Q3 figures; {name2} will follow up.",
        "The tenant, {name}, has moved from {street} to {street2}.",
        "Customer {lname} says the card {card} was declined twice.",
        "Can you draft a reply to {first}? She asked about postcode {zip} deliveries.",
        "Ship 3 boxes to {address} by {date}, reference {order}.",
        "{name}\n{street}\n{phone}",
        "Dr. {last} will see the patient at {time}.",
        "The number {badcard} on the form is wrong, please check it.",
        "Our office moved in {year}; call {phone} for directions.",
    ],
    "holdout": [
        "I am writing on behalf of {name}, who lives at {address}.",
        "Card number: {card} (exp {exp})",
        "Signed,\n{name}\n{phone}",
        "Could {first} {last} call me back at {phone}?",
        "Team list for {date}: {name}, {name2} and {name3}.",
        "hello, this is {lname}. I lost my card {card}, please block it.",
        "Delivery address:\n{address}\nRecipient: {name}",
        "Forwarding the complaint from {name} <{email}> about invoice {order}.",
        "{name} moved to {street} last month; her new mobile is {phone}.",
        "Please refund {amount} to the card ending in {card}.",
        "## {name}\n\nRole: account manager\nDesk: {phone}",
        "Regards, {name}",
        "Remind {first} that the parcel to {street} is delayed until {date}.",
        "Employee {name} (ID {order}) changed address to {address}.",
        "Visa {card} was charged twice on {date}.",
        "Ask {lname} whether {zip} is the right postcode.",
        "From: {name}\nTo: {name2}\nSubject: lease for {street}",
        "We met {first} at the conference in {year} and kept in touch.",
        "Tracking number {order}, order date {date}, total {amount}.",
        "Mr. {last} left a message: call {phone}.",
    ],
}

_EXTRA_NETWORKS = [  # (prefix, length) for networks Faker does not generate
    ("62", 16), ("62", 19), ("81", 16), ("2200", 16), ("2204", 16), ("60", 16), ("65", 16),
    ("506099", 16), ("506105", 19), ("9792", 16),
]  # fmt: skip
_FAKER_CARDS = [
    "amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard", "visa13",
    "visa16", "visa19",
]  # fmt: skip


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        from core.guards.recognizers import luhn_ok

        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


def _format_card(rng: random.Random, digits: str) -> str:
    style = rng.choice(["raw", "raw", "space", "dash"])
    if style == "raw":
        return digits
    sep = " " if style == "space" else "-"
    if len(digits) in (14, 15):
        groups = [digits[:4], digits[4:10], digits[10:]]
    else:
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
        if len(groups[-1]) < 3:
            return digits
    return sep.join(groups)


@lru_cache(maxsize=64)
def _faker(locale: str):
    from faker import Faker

    return Faker(locale)


def _card(rng: random.Random, fake) -> str:
    if rng.random() < 0.35:
        prefix, length = rng.choice(_EXTRA_NETWORKS)
        body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
        digits = _luhn_complete(body)
    else:
        # Card types are the en_US provider's (other locales have their own lists).
        cards = _faker("en_US")
        cards.seed_instance(rng.randrange(1 << 30))
        digits = cards.credit_card_number(card_type=rng.choice(_FAKER_CARDS))
    return _format_card(rng, digits)


def _bad_card(rng: random.Random) -> str:
    from core.guards.recognizers import luhn_ok

    while True:
        digits = "4" + "".join(rng.choice("0123456789") for _ in range(15))
        if not luhn_ok(digits):
            return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def generate(split: str = "tune", n: int = 400) -> list[dict]:
    """`n` labelled texts of one split, the same on every run."""
    seed = {"tune": 1611, "holdout": 90210}[split]
    rng = random.Random(seed)
    locales = LOCALES_TUNE if split == "tune" else LOCALES_HOLDOUT
    templates = TEMPLATES[split]
    out = []
    for i in range(n):
        locale = rng.choice(locales)
        fake = _faker(locale)
        fake.seed_instance(seed * 1000 + i)
        template = templates[i % len(templates)]
        out.append(_fill(template, fake, rng, f"faker:{split}:{locale}"))
    return out


def _fill(template: str, fake, rng: random.Random, source: str) -> dict:
    slots = {
        "name": ("PERSON", fake.name),
        "name2": ("PERSON", fake.name),
        "name3": ("PERSON", fake.name),
        "sig": ("PERSON", lambda: rng.choice([fake.first_name(), fake.name()])),
        "first": ("PERSON", fake.first_name),
        "last": ("PERSON", fake.last_name),
        "lname": ("PERSON", lambda: fake.name().lower()),
        "address": ("STREET_ADDRESS", lambda: re.sub(r"\s*\n\s*", ", ", fake.address())),
        "street": ("STREET_ADDRESS", fake.street_address),
        "street2": ("STREET_ADDRESS", fake.street_address),
        "card": ("CREDIT_CARD", lambda: _card(rng, fake)),
        "phone": ("PHONE_NUMBER", fake.phone_number),
        "email": ("EMAIL_ADDRESS", fake.email),
        "order": (None, lambda: str(rng.randint(10_000_000, 99_999_999_999))),
        "date": (None, lambda: fake.date(pattern=rng.choice(["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y"]))),
        "amount": (None, lambda: f"{rng.randint(5, 9000)}.{rng.randint(0, 99):02d} EUR"),
        "zip": (None, fake.postcode),
        "year": (None, lambda: str(rng.randint(1990, 2025))),
        "time": (None, lambda: f"{rng.randint(8, 17)}:{rng.choice(['00', '15', '30', '45'])}"),
        "exp": (None, lambda: f"{rng.randint(1, 12):02d}/{rng.randint(26, 32)}"),
        "badcard": (None, lambda: _bad_card(rng)),
    }
    text, spans = fill_template(template, slots)
    return {"full_text": text, "spans": spans, "source": source}


def fill_template(template: str, slots: dict) -> tuple[str, list[dict]]:
    """Replace each {slot} with a value from `slots` (slot -> (entity or None,
    maker)); return the text and the gold span of every value with an entity."""
    text, spans, pos = "", [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        text += template[pos : m.start()]
        entity, make = slots[m.group(1)]
        value = str(make())
        if entity:
            spans.append(
                {
                    "entity_type": entity,
                    "start_position": len(text),
                    "end_position": len(text) + len(value),
                    "value": value,
                }
            )
        text += value
        pos = m.end()
    text += template[pos:]
    return text, spans


def show_samples(generate_fn, default_split: str, default_n: int) -> None:  # noqa: ANN001
    """Command line of the data generators: print the first texts of a split and their gold."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default=default_split)
    parser.add_argument("--n", type=int, default=default_n)
    parser.add_argument("--show", type=int, default=5)
    args = parser.parse_args()
    for item in generate_fn(args.split, args.n)[: args.show]:
        print(repr(item["full_text"]))
        print("   ", [(s["entity_type"], s["value"]) for s in item["spans"]])


def main() -> None:
    show_samples(generate, "tune", 400)


if __name__ == "__main__":
    main()
