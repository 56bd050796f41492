"""Development data for addresses written as parts and single given names (fifth round).

    PYTHONPATH=. python bench/pii_parts_data.py [--split dev|check] [--n 600] [--show 5]

Written for the fifth round of the PII recognizers, so they are tuned on text
that none of the reported sets contains. Values come from Faker (MIT) in every
locale with an address provider of its own; the `dev` split uses half of those
locales, `check` the other half, other templates and another seed. `dev` is
looked at while tuning (`bench/pii_dev.py --show`); `check` is only measured.

Addresses are written as parts inside a sentence, each part its own gold value,
as a generator that fills `{building_number} {street_name}` would label them:
a house number before or after the street name ("lives at 42 Rue X", "Hauptstr.
5 / 10115 Berlin"), a postcode before or after the town, "Town, Region", "Town,
Country" (Faker's towns are often made up, so no list knows them). Names: a
single given name after or before verbs ("met", "told", "asked", "with"), in
greetings, sign-offs and lists. Distractors with rooms, orders, versions,
chapters, gates and years must keep their numbers (precision).

Gold: STREET_ADDRESS (a house number, a street name or a postcode, each on its
own), LOCATION (a town, region or country), PERSON (a given name).
"""

from __future__ import annotations

import random
import sys
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.pii_eval_data import fill_template, show_samples  # noqa: E402 - after the path is set
from bench.pii_places_data import (  # noqa: E402
    MONTHS,
    TEAMS,
    THINGS,
    WEEKDAYS,
    _faker,
    _locales,
    _region,
)

SEEDS = {"dev": 9101, "check": 9202}

TEMPLATES = {
    "dev": [
        "I live at {num} {street} in {city}.",
        "Send it to {street} {num}, {postcode} {city}.",
        "{street} {num} / {postcode} {city}",
        "Our office is at {num}, {street}, {city} {postcode}.",
        "Address: {street} {num}\n{postcode} {city}",
        "The depot is in {postcode} {city}, near the station.",
        "She moved to {street} {num}, {city}.",
        "Pick-up point: {city} {postcode}",
        "{city}, {region} is where the workshop takes place.",
        "Greetings from {city}, {country}!",
        "My flat is on {street}, number {num}.",
        "I met {first} at the {thing} launch.",
        "{first} told me the {thing} is late.",
        "Can you ask {first} about the {thing}?",
        "Lunch with {first} on {weekday}?",
        "Thanks, {first}!",
        "Hi {first},\nthe {thing} is ready.\n{first2}",
        "Attendees: {first}, {first2} and {first3}",
        "I told {first} that the {thing} moved to {weekday}.",
        "Room {small} is free after the {thing} on {weekday}.",
        "Order {order} ships on {weekday}; the {thing} follows in {month}.",
        "Windows 10 and Office 2019 are installed on the {team} laptops.",
        "Chapter {small}, Section {small2} of the {thing} covers {month}.",
        "We sold {small} tickets for the {thing} in {month} {year}.",
        "Version {small}.{small2} of the {thing} is out, see page {small3}.",
        "Gate {small}, Terminal {small2}: boarding at 10:45.",
        "Meet me at {street} {num} tomorrow at 10.",
        "{first} lives at {num} {street}.",
        "Street: {street}\nNo.: {num}\nPostcode: {postcode}\nCity: {city}",
        "We stayed near {street} in {city} last {month}.",
        "{postcode}, {city}",
        "Her new flat: {street} {num}, {city}, {country}",
        "Visiting {first} in {city} on {weekday}.",
        "{first}, can you call me back?",
        "Ask {first} or {first2}.",
    ],
    "check": [
        "Deliver to {num} {street}, {postcode} {city}, {country}.",
        "He is at {street} {num} ({city}) until {month}.",
        "{postcode} {city} - {street} {num}",
        "Our shop: {num} {street}\n{city} {postcode}\n{country}",
        "The meeting is in {city}, {region}.",
        "Weekend in {city}, {country}, then home.",
        "Mail to: {street}, {num} / {postcode} {city}",
        "new place is {street} {num}, {city}",
        "Yesterday I called {first} about the {thing}.",
        "Please remind {first} of the {thing}.",
        "Dinner with {first} and {first2} on {weekday}.",
        "{first} asked whether the {thing} is done.",
        "Cheers,\n{first}",
        "Ticket {order} was closed on {weekday}.",
        "Meet in Room {small}, Building {small2} at 3 pm.",
        "The {team} team shipped the {thing} 2.0 in {month} {year}.",
        "Invoice {order} for {small} licences is due in {month}.",
        "Platform {small}: the 10:45 train to the airport.",
    ],
}


@lru_cache(maxsize=1)
def own_locales() -> list[str]:
    """Faker locales with an address provider of their own (not the English fallback)."""
    return [
        loc for loc in _locales()
        if _faker(loc).provider("faker.providers.address").__module__.endswith(loc)
    ]  # fmt: skip


def generate(split: str = "dev", n: int = 600) -> list[dict]:
    """`n` labelled texts of one split, the same on every run."""
    seed = SEEDS[split]
    rng = random.Random(seed)
    templates = TEMPLATES[split]
    locales = own_locales()[0 if split == "dev" else 1 :: 2]
    out = []
    for i in range(n):
        locale = rng.choice(locales)
        fake = _faker(locale)
        fake.seed_instance(seed * 1000 + i)

        def postcode(fake=fake) -> str:
            try:
                return fake.postcode()
            except AttributeError:  # a provider without postcodes
                return str(rng.randint(10000, 99999))

        slots = {
            "num": ("STREET_ADDRESS", fake.building_number),
            "street": ("STREET_ADDRESS", fake.street_name),
            "postcode": ("STREET_ADDRESS", postcode),
            "city": ("LOCATION", fake.city),
            "region": ("LOCATION", lambda fake=fake: _region(fake, rng)),
            "country": ("LOCATION", fake.country),
            "first": ("PERSON", fake.first_name),
            "first2": ("PERSON", fake.first_name),
            "first3": ("PERSON", fake.first_name),
            "thing": (None, lambda: rng.choice(THINGS)),
            "team": (None, lambda: rng.choice(TEAMS)),
            "weekday": (None, lambda: rng.choice(WEEKDAYS)),
            "month": (None, lambda: rng.choice(MONTHS)),
            "year": (None, lambda: str(rng.randint(1990, 2025))),
            "small": (None, lambda: str(rng.randint(1, 60))),
            "small2": (None, lambda: str(rng.randint(1, 12))),
            "small3": (None, lambda: str(rng.randint(2, 300))),
            "order": (None, lambda: str(rng.randint(10000, 99999999))),
        }  # fmt: skip
        text, spans = fill_template(templates[i % len(templates)], slots)
        out.append({"full_text": text, "spans": spans, "source": f"parts:{split}:{locale}"})
    return out


def main() -> None:
    show_samples(generate, "dev", 600)


if __name__ == "__main__":
    main()
