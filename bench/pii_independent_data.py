"""A second PII evaluation set, made without Faker (never tuned on).

    PYTHONPATH=. python bench/pii_independent_data.py [--n 300] [--show 5]

The Faker sets (bench/pii_eval_data.py) share their name and street-word lists
with the recognizers, so they flatter them. This set takes its values from
other public sources, in bench/data/pii_independent/ (README there):

- names: the CC0 "popular names by country" dataset (github.com/sigpwned/
  popular-names-by-country-dataset, from Wikipedia's lists of most common given
  names and surnames, 106 countries, native scripts and romanised forms);
- street addresses, towns and countries: the MIT test cases of
  github.com/OpenCageData/address-formatting (real addresses of 100 countries
  written in each country's own format, one line each or comma-joined);
- phone numbers: each country's example numbers from `phonenumbers`
  (Google's libphonenumber metadata), last digits varied until the number is
  valid again, written in international, national, E.164 and 00-prefixed form;
- templates written for this set (chat messages, tickets, labels, CRM notes,
  a few in German, French and Spanish), different from the Faker sets'.

Gold types: PERSON, STREET_ADDRESS (the whole address from the house-number
line on), LOCATION (a town or a country on its own), PHONE_NUMBER,
EMAIL_ADDRESS. Order numbers, dates and amounts are distractors. The
recognizers were never developed against this set: it is only measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.pii_eval_data import fill_template  # noqa: E402 - after the path is set

DATA = Path(__file__).resolve().parent / "data" / "pii_independent"
SEED = 4242

TEMPLATES = [
    "Customer {name} wants the order delivered to {street_comma}.",
    "Ticket {ref}: {name} reports that the parcel never reached\n{street_lines}",
    "{name} is based in {city}, {country} and prefers phone calls: {phone}.",
    "New lead from the trade fair: {name}, {phone}, {email}",
    "Shipping label\n{name}\n{street_lines}",
    "Our courier could not find {street_comma}; please call {first} at {phone}.",
    "Passenger list: {name}; {name2}; {name3}",
    "Invoice {ref} for {amount}, billed to {name} at {street_comma}.",
    "{name} flew from {city} to {city2} on {date}.",
    "note from {lname}: running late, start without me",
    "CC: {name} <{email}>",
    "The interview with {name} (born in {city}) is on {date}.",
    "Emergency contact: {name}, tel. {phone}",
    "I moved to {country} last year; my new address is {street_comma}.",
    "Rückruf bitte an {name} unter {phone}.",
    "Merci de livrer le colis chez {name}, {street_comma}.",
    "Call me on {phone} or on my landline {phone2}.",
    "Reminder: {first} from {city} joins the call at {time}.",
    "Profile\nName: {name}\nCity: {city}\nCountry: {country}\nMobile: {phone}",
    "Order {ref} of {date} costs {amount}; the refund reference is {ref2}.",
    "Hola {first}, te esperamos en {street_comma}. Cualquier cosa, llama al {phone}.",
    "Thanks {first}! I'll pass this on to {name2}.",
    "The report covers {count} regions and {count2} warehouses; see page {page}.",
    "Visitors from {country} need a visa; ask {name} at the front desk.",
]


@lru_cache(maxsize=1)
def _names() -> dict[str, dict[str, tuple[list[str], list[str]]]]:
    """country -> {"local"/"roman": (forenames, surnames)}: the names in their own
    script and romanised, kept apart so a person's two names share a script."""
    fore: dict[tuple[str, str], set[str]] = {}
    sur: dict[tuple[str, str], set[str]] = {}
    for path, into in (
        (DATA / "common-forenames-by-country.csv", fore),
        (DATA / "common-surnames-by-country.csv", sur),
    ):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                for key, mode in (("Localized Name", "local"), ("Romanized Name", "roman")):
                    value = (row.get(key) or "").strip()
                    if value and not re.search(r"[\d(),/]", value):
                        into.setdefault((row["Country"], mode), set()).add(value)
    out: dict[str, dict[str, tuple[list[str], list[str]]]] = {}
    for (cc, mode), names in sorted(fore.items()):
        if (cc, mode) in sur:
            out.setdefault(cc, {})[mode] = (sorted(names), sorted(sur[(cc, mode)]))
    return out


@lru_cache(maxsize=1)
def _addresses() -> dict:
    return json.loads((DATA / "addresses.json").read_text(encoding="utf-8"))


def _cjk(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith(("CJK", "HANGUL")) for c in text)


def _person(rng: random.Random, cc: str) -> tuple[str, str]:
    """(full name, given name); East Asian names surname first, without a space."""
    modes = _names()[cc]
    forenames, surnames = modes[rng.choice(sorted(modes))]
    first, last = rng.choice(forenames), rng.choice(surnames)
    if _cjk(first) and _cjk(last):
        return last + first, first
    return f"{first} {last}", first


def _phone(rng: random.Random, region: str) -> str:
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    kind = rng.choice([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(
        region
    )
    if example is None:
        example = phonenumbers.example_number("US")
    national = str(example.national_number)
    for _ in range(50):
        tail = "".join(rng.choice("0123456789") for _ in range(min(4, len(national) - 2)))
        candidate = phonenumbers.parse(
            f"+{example.country_code}{national[: len(national) - len(tail)]}{tail}"
        )
        if phonenumbers.is_valid_number(candidate):
            example = candidate
            break
    style = rng.choice(["intl", "intl", "national", "e164", "00"])
    if style == "intl":
        return phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL)
    if style == "national":
        return phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
    if style == "e164":
        return phonenumbers.format_number(example, PhoneNumberFormat.E164)
    return "00" + phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL)[1:]


def _email(rng: random.Random, name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    parts = [p for p in re.split(r"\W+", ascii_name.lower()) if p] or ["user"]
    local = rng.choice([".".join(parts), parts[0] + str(rng.randint(1, 99)), parts[-1]])
    return f"{local}@{rng.choice(['mail.example.com', 'example.org', 'firma.example.de'])}"


def _slots(rng: random.Random, person: list, street: dict, place: dict, place2: dict,
           region: str) -> dict:
    """Template slot -> (gold type or None for a distractor, value maker)."""
    return {
        "name": ("PERSON", lambda: person[0][0]),
        "name2": ("PERSON", lambda: person[1][0]),
        "name3": ("PERSON", lambda: person[2][0]),
        "first": ("PERSON", lambda: person[0][1]),
        "lname": ("PERSON", lambda: person[0][0].lower()),
        "street_comma": ("STREET_ADDRESS", lambda: ", ".join(street["lines"])),
        "street_lines": ("STREET_ADDRESS", lambda: "\n".join(street["lines"])),
        "city": ("LOCATION", lambda: place["city"]),
        "city2": ("LOCATION", lambda: place2["city"]),
        "country": ("LOCATION", lambda: place["country_name"]),
        "phone": ("PHONE_NUMBER", lambda: _phone(rng, region)),
        "phone2": ("PHONE_NUMBER", lambda: _phone(rng, region)),
        "email": ("EMAIL_ADDRESS", lambda: _email(rng, person[0][0])),
        "ref": (None, lambda: rng.choice(["INV-", "#", "T", ""]) + str(rng.randint(10**5, 10**9))),
        "ref2": (None, lambda: str(rng.randint(10**7, 10**11))),
        "amount": (None, lambda: f"{rng.randint(5, 9999)}.{rng.randint(0, 99):02d} EUR"),
        "date": (None, lambda: f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2025"),
        "time": (None, lambda: f"{rng.randint(8, 17)}:{rng.choice(['00', '30'])}"),
        "count": (None, lambda: str(rng.randint(3, 40))),
        "count2": (None, lambda: str(rng.randint(3, 40))),
        "page": (None, lambda: str(rng.randint(2, 300))),
    }


def generate(n: int = 300, seed: int = SEED) -> list[dict]:
    """`n` labelled texts, the same on every run."""
    rng = random.Random(seed)
    names = _names()
    countries = sorted(names)
    addresses = _addresses()
    out = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        cc = rng.choice(countries)
        street = rng.choice(addresses["streets"])
        place, place2 = rng.sample(addresses["places"], 2)
        region = cc if cc != "XK" else "RS"
        person = [_person(rng, rng.choice([cc, cc, rng.choice(countries)])) for _ in range(3)]
        slots = _slots(rng, person, street, place, place2, region)
        text, spans = fill_template(template, slots)
        out.append({"full_text": text, "spans": spans, "source": f"independent:{cc}"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--show", type=int, default=5)
    args = parser.parse_args()
    data = generate(args.n)
    for item in data[: args.show]:
        print(repr(item["full_text"]))
        print("   ", [(s["entity_type"], s["value"]) for s in item["spans"]])


if __name__ == "__main__":
    main()
